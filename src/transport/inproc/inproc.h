/*
 * The in-process transport: servers and buses registered under a name in
 * one process-wide table, calls handed over without copying payloads.
 */
#ifndef SVC_INPROC_H
#define SVC_INPROC_H

#include "transport/transport.h"

extern const svc_transport_ops svc_inproc_transport;

typedef struct inproc_channel {
    svc_channel base;
    char *name;
} inproc_channel;

/* inproc://name/more → "name/more" (malloc'd). */
char *svc_inproc_name(const svc_url *url);

/* inproc_rpc.c */
svc_code svc_inproc_listen(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                           svc_listener **out);
void svc_inproc_listener_free(svc_listener *l);
void svc_inproc_call_start(svc_channel *ch, svc_ccall *cc);
void svc_inproc_call_cancel(svc_channel *ch, svc_ccall *cc);
void svc_inproc_call_reply(svc_call *c, svc_msg *resp);
void svc_inproc_call_free(svc_call *c);
void svc_inproc_stream_start(svc_channel *ch, svc_ccall *cc);
svc_code svc_inproc_stream_send(svc_channel *ch, svc_ccall *cc, svc_msg *m);
svc_code svc_inproc_stream_close_send(svc_channel *ch, svc_ccall *cc);
void svc_inproc_stream_consumed(svc_channel *ch, svc_ccall *cc, size_t bytes);
svc_code svc_inproc_call_send(svc_call *c, svc_msg *m);
void svc_inproc_call_consumed(svc_call *c, size_t bytes);

/* inproc_pubsub.c */
svc_code svc_inproc_publish(svc_channel *ch, const char *topic, const svc_msg *m,
                            const svc_pub_opts *o);
svc_code svc_inproc_publish_async(svc_channel *ch, const char *topic, const svc_msg *m,
                                  const svc_pub_opts *o, svc_pub_confirm *pc);
svc_code svc_inproc_subscribe(svc_channel *ch, svc_sub *sub);
void svc_inproc_unsubscribe(svc_channel *ch, svc_sub *sub);
svc_code svc_inproc_event_settle(svc_event *ev, svc_settle how, int64_t delay_ms);

#endif
