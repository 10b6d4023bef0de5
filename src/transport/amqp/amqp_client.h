/*
 * The AMQP client channel (one connection, see amqp.h) and the parts that
 * share it: publishing (amqp_publish.c), consuming (amqp_consume.c) and RPC
 * calls (amqp_rpc_client.c). Fields marked "io" are under the connection's
 * io_lock.
 */
#ifndef SVC_AMQP_CLIENT_H
#define SVC_AMQP_CLIENT_H

#include <stdio.h>

#include "amqp.h"
#include "core/strmap.h"

/* The AMQP exchange RPC requests go through: a topic exchange whose routing
 * keys are the method with '/' made '.' ("helloworld.Greeter.SayHello");
 * each service's queue binds "<service>.*". */
#define SVC_AMQP_RPC_EXCHANGE "svc.rpc"
#define SVC_AMQP_DEFAULT_PREFETCH 512

/* A one-shot rendezvous between a caller and the owner thread. */
typedef struct swait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    svc_code code;
    char message[256];
    atomic_int refs;
} swait;

swait *svc_amqp_wait_new(void);
/* One bounded wait of at most `ns` on `cv` (spurious wake-ups included). */
void svc_amqp_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ns);
void svc_amqp_wait_done(swait *w, svc_code code, const char *message);
/* The answer (through svc_fail), or DEADLINE_EXCEEDED at `deadline`
 * (0 = none). Either way the wait is given back. */
svc_code svc_amqp_wait(swait *w, svc_time deadline);

typedef struct pub_job pub_job;
typedef struct consumer consumer;

typedef struct amqp_chan {
    svc_channel base;
    aconn *conn;

    /* publishing */
    pthread_mutex_t ex_mu;
    svc_strmap exchanges;          /* exchanges known to exist (ex_mu) */
    pub_job *pending, *pending_tail; /* io: confirm-channel publishes awaiting a verdict */
    uint64_t next_seq;             /* io: the confirm channel's next delivery tag */
    svc_time pending_min_deadline; /* io: none of `pending` is due before (0: none) */
    pthread_mutex_t flush_mu;
    pthread_cond_t flush_cv;
    size_t async_open;             /* flush_mu: publishes whose verdict is due */

    /* consuming (io) */
    consumer *consumers;
    amqp_channel_t next_channel;   /* the next consumer's channel, tried first */

    /* RPC calls (io) */
    svc_strmap calls;              /* correlation id → svc_ccall */
    bool rpc_wanted, rpc_ready;
    uint64_t next_corr;
} amqp_chan;

/* Splits "exchange/key" (or "key", "/key": the default exchange) into
 * buffers; INVALID_ARGUMENT when a part is too long or the key is empty. */
svc_code svc_amqp_split_topic(const char *topic, char exchange[256], char key[256], bool key_required);
/* Makes sure `name` exists (declaring it when `type` is set, else a passive
 * check), once per connection. io. */
svc_code svc_amqp_ensure_exchange(amqp_chan *ch, const char *name, const char *type);

svc_code svc_amqp_pub_ready(amqp_chan *ch);
void svc_amqp_pub_lost(amqp_chan *ch);
void svc_amqp_pub_method(amqp_chan *ch, amqp_frame_t *f);
void svc_amqp_pub_channel_closed(amqp_chan *ch, amqp_channel_t n, svc_code code, const char *text);
void svc_amqp_pub_tick(amqp_chan *ch, svc_time now);

svc_code svc_amqp_sub_ready(amqp_chan *ch);
void svc_amqp_sub_lost(amqp_chan *ch);
void svc_amqp_sub_method(amqp_chan *ch, amqp_frame_t *f);
void svc_amqp_sub_channel_closed(amqp_chan *ch, amqp_channel_t n, svc_code code, const char *text);
void svc_amqp_sub_tick(amqp_chan *ch, svc_time now);

svc_code svc_amqp_rpc_ready(amqp_chan *ch);
void svc_amqp_rpc_lost(amqp_chan *ch, svc_code code, const char *message);
void svc_amqp_rpc_method(amqp_chan *ch, amqp_frame_t *f);

/* Reads the content of a deliver/return on channel `n` (io). NULL with the
 * connection marked broken when it cannot. Free with amqp_destroy_message. */
bool svc_amqp_read_content(aconn *c, amqp_channel_t n, amqp_message_t *out);

#endif
