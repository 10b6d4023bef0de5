/*
 * The AMQP 0-9-1 transport on librabbitmq (rabbitmq-c).
 *
 * Threading model. librabbitmq is blocking and a connection is not
 * thread-safe, so every connection (one per client channel, one per
 * listener) has:
 *   - an owner thread that does all reading: it polls the socket and an
 *     eventfd (after checking amqp_data_in_buffer/amqp_frames_enqueued, which
 *     poll cannot see), decodes frames, dispatches deliveries, confirms,
 *     returns and replies to core, runs timeouts, and reconnects;
 *   - a work queue of jobs (publishes, acks, RPC requests and replies,
 *     subscribes, cancels) that any thread may add to; the owner runs them in
 *     order;
 *   - `io_lock`, held by whoever touches librabbitmq or the connection's
 *     state. The owner holds it except while it sleeps in poll(). A thread
 *     with a write to make (publish, ack, reply) first tries the lock: if it
 *     is free, the connection is ready and the queue is empty, it writes at
 *     once (no thread hop: this is what keeps RPC latency and publish rates
 *     near raw librabbitmq); otherwise it queues the job. Because the queue is
 *     drained only under io_lock, a direct write never overtakes a queued
 *     one. Nothing that core calls ever blocks on io_lock (a deadline timer
 *     may call us while the owner, under io_lock, disarms that timer). The
 *     owner thread itself (an inline handler replying, acking, publishing)
 *     writes at once too: it holds io_lock already.
 *   - RPC replies are completed after the owner let go of io_lock, just
 *     before it sleeps: the caller they wake usually makes its next call at
 *     once, and then finds the connection free to write it.
 * Core's callbacks (svc_call_dispatch, svc_ccall_complete, svc_sub_deliver,
 * svc_publish_done) are called from the owner thread; core then runs the
 * handler where it asked to run (the pool, or inline on the owner thread,
 * where it must not block).
 *
 * Channels of a connection: 1 is the control channel (declarations that may
 * fail: a failure closes only this channel, which is reopened), 2 publishes
 * without confirms, 3 with confirms, 4 takes RPC replies (direct reply-to)
 * or, on a listener, requests; each subscription has its own from 5 on, so
 * its basic.qos and its errors are its own.
 *
 * Recovery: when the connection fails the owner reconnects with backoff,
 * calls on_ready (which re-declares and re-consumes) and re-publishes every
 * confirmed publish that had no verdict yet.
 */
#ifndef SVC_AMQP_H
#define SVC_AMQP_H

#include <amqp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/ctx.h"
#include "core/metadata.h"
#include "transport/transport.h"

#define AMQP_CH_CONTROL 1
#define AMQP_CH_PUB 2
#define AMQP_CH_CONFIRM 3
#define AMQP_CH_RPC 4
#define AMQP_CH_FIRST_SUB 5

/* Connectivity of a connection, as gRPC names it; kept for the load balancer. */
typedef enum svc_amqp_state {
    SVC_AMQP_IDLE,
    SVC_AMQP_CONNECTING,
    SVC_AMQP_READY,
    SVC_AMQP_TRANSIENT_FAILURE,
    SVC_AMQP_STATE_COUNT
} svc_amqp_state;

typedef struct aconn aconn;
typedef struct ajob ajob;

/* A unit of work for the owner thread. */
struct ajob {
    ajob *next;
    /* Runs on the owner thread under io_lock, connection ready (or not, for
     * `offline` jobs); frees the job or keeps it. */
    void (*run)(aconn *c, ajob *j);
    /* The job will never run (deadline, failure, shutdown): answer and free. */
    void (*drop)(ajob *j, svc_code code, const char *message);
    svc_time deadline; /* 0 = none */
    bool offline;      /* also runs while disconnected */
};

typedef struct aconn_ops {
    /* Connected and logged in: open channels, declare, consume. A failure
     * (with svc_fail) drops the connection and retries later. */
    svc_code (*on_ready)(aconn *c);
    /* The connection is gone: fail what cannot survive it. */
    void (*on_lost)(aconn *c, svc_code code, const char *message);
    /* An asynchronous method frame (deliver, return, ack, nack, cancel). */
    void (*on_method)(aconn *c, amqp_frame_t *f);
    /* The broker closed channel `ch` (already acknowledged). */
    void (*on_channel_closed)(aconn *c, amqp_channel_t ch, svc_code code, const char *message);
    /* About every 50 ms: timeouts. */
    void (*on_tick)(aconn *c, svc_time now);
} aconn_ops;

typedef struct aconn_config {
    const svc_url *url;
    const svc_tls_opts *tls;
    int64_t connect_timeout_ms;
    bool wait_for_ready; /* queue work while no broker was ever reached */
    const aconn_ops *ops;
    void *owner;
} aconn_config;

struct aconn {
    svc_ctx *ctx;
    const aconn_ops *ops;
    void *owner;
    char *host, *vhost, *user, *password;
    int port;
    bool tls, insecure;
    char *ca_file, *cert_file, *key_file, *server_name;
    int64_t connect_timeout_ms;
    bool wait_for_ready;
    char *target; /* the URL without its password: logs and metrics */

    pthread_mutex_t io_lock; /* librabbitmq and everything below */
    amqp_connection_state_t conn;
    unsigned gen;      /* +1 per connection: stale delivery tags are dropped */
    bool ready, ever_ready, broken;
    ajob *parked, *parked_tail; /* queued work waiting for a connection */
    ajob *later, *later_tail;   /* svc_amqp_later() */
    bool owner_holds;           /* the owner thread holds io_lock (its own) */
    bool running_jobs;          /* the owner is amid a list of queued jobs */
    svc_code last_code;
    char last_error[256];
    int frame_max;

    atomic_int state; /* svc_amqp_state, readable without a lock */
    svc_counter *state_changes[SVC_AMQP_STATE_COUNT];

    pthread_mutex_t q_mu; /* the queue, and the first attempt's outcome */
    pthread_cond_t first_cv;
    bool first_done;
    svc_code first_code;
    char first_error[256];
    ajob *head, *tail;
    bool sleeping, stopping;
    int wake_fd;
    pthread_t thread;
};

/* ---- the connection (amqp_conn.c) ---- */
svc_code svc_amqp_conn_new(svc_ctx *ctx, const aconn_config *cfg, aconn **out);
/* Runs queued work that can still run, closes and frees. Not from the
 * owner thread. */
void svc_amqp_conn_free(aconn *c);
/* The outcome of the first connection attempt (listeners fail at once
 * when the broker is not there or refuses them). */
svc_code svc_amqp_conn_wait_first(aconn *c);
/* Hands `j` to the owner thread (any thread). */
void svc_amqp_submit(aconn *c, ajob *j);
/* Runs `j` at once when the connection is free (see the model above),
 * else hands it to the owner thread (any thread). */
void svc_amqp_run_or_submit(aconn *c, ajob *j);
/* io, owner thread: runs `j` (j->run) once the owner has let go of io_lock,
 * before it sleeps: completions that wake a caller. */
void svc_amqp_later(aconn *c, ajob *j);
bool svc_amqp_on_owner(const aconn *c);
/* The connection failed (a write or read error): the owner reconnects. */
void svc_amqp_broken(aconn *c, int amqp_status, const char *what);
/* The status of the last synchronous librabbitmq RPC on `ch`, as svc_fail()
 * would report it; a channel error acknowledges the close and reopens the
 * channel when `reopen`. */
svc_code svc_amqp_rpc_status(aconn *c, amqp_channel_t ch, const char *what, bool reopen);
svc_code svc_amqp_channel_open(aconn *c, amqp_channel_t ch);
/* A write's status (amqp_basic_publish & co.): marks the connection broken
 * on failure. */
svc_code svc_amqp_write_status(aconn *c, int status, const char *what);
svc_amqp_state svc_amqp_conn_state(const aconn *c);
/* *out = a copy of `in`, or NULL when `in` is NULL. */
svc_code svc_amqp_dup_opt(const char *in, char **out);
const char *svc_amqp_state_name(svc_amqp_state s);

/* ---- status mapping (amqp_status.c) ---- */
/* AMQP reply codes (404, 406, 403, ...) as svc codes. */
svc_code svc_amqp_code_from_reply(unsigned reply_code);

/* ---- messages (amqp_props.c) ---- */
typedef struct amqp_out {
    amqp_basic_properties_t props;
    amqp_table_entry_t *entries; /* the headers table */
    size_t n_entries;
    char expiration[24];
    char timeout[16];
} amqp_out;

/* Fills out->props from `m` (content type, headers from `first` — a
 * reply's svc_call_reply_md, or NULL — then from m's metadata; the strings
 * point into them, which must outlive the publish). Extra headers
 * (svc-status, ...) are added by the caller with svc_amqp_out_header(). */
svc_code svc_amqp_out_init(amqp_out *out, const svc_msg *m, const svc_md *first,
                           size_t extra_headers);
void svc_amqp_out_header(amqp_out *out, const char *key, const char *value);
void svc_amqp_out_header_int(amqp_out *out, const char *key, int64_t value);
void svc_amqp_out_free(amqp_out *out);
svc_code svc_amqp_out_check_size(const amqp_out *out, int frame_max);

/* The svc_msg of a received message: body, content type, headers as
 * metadata (svc-* headers left out), and the main properties as amqp-*
 * metadata when `with_props`. Values of types metadata cannot hold
 * (tables, arrays, void) are skipped and counted in *skipped (and named in
 * "amqp-skipped-headers" when `with_props`). NULL when
 * out of memory. Takes the body (amqp_bytes malloc'd) on success. */
svc_msg *svc_amqp_msg_from(const amqp_basic_properties_t *p, amqp_bytes_t body, bool with_props,
                           size_t *skipped);
/* A header's text value ("svc-status"), NUL-terminated into buf, or NULL. */
const char *svc_amqp_header(const amqp_basic_properties_t *p, const char *key, char *buf,
                            size_t cap);
/* A borrowed amqp_bytes of a NUL-terminated string (not NULL). */
static inline amqp_bytes_t svc_amqp_str(const char *s)
{
    amqp_bytes_t b = {strlen(s), (void *)s};
    return b;
}

/* ---- transport entry points ---- */
extern const svc_transport_ops svc_amqp_transport;
const char *svc_amqp_call_peer(const svc_call *c);
svc_code svc_amqp_listen(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                         svc_listener **out);
void svc_amqp_listener_quiesce(svc_listener *l);
void svc_amqp_listener_free(svc_listener *l);
void svc_amqp_call_reply(svc_call *c, svc_msg *resp);
void svc_amqp_call_free(svc_call *c);

svc_code svc_amqp_channel_new(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                              svc_channel **out);
void svc_amqp_channel_free(svc_channel *ch);
void svc_amqp_call_start(svc_channel *ch, svc_ccall *cc);
void svc_amqp_call_cancel(svc_channel *ch, svc_ccall *cc);
svc_code svc_amqp_publish(svc_channel *ch, const char *topic, const svc_msg *m,
                          const svc_pub_opts *o);
svc_code svc_amqp_publish_async(svc_channel *ch, const char *topic, const svc_msg *m,
                                const svc_pub_opts *o, svc_pub_confirm *pc);
svc_code svc_amqp_publish_flush(svc_channel *ch, int64_t timeout_ms);
svc_code svc_amqp_subscribe(svc_channel *ch, svc_sub *sub);
void svc_amqp_unsubscribe(svc_channel *ch, svc_sub *sub);
svc_code svc_amqp_event_settle(svc_event *ev, svc_settle how, int64_t delay_ms);

#endif
