/* svc_client internals shared by calls (client.c) and events (pubsub.c). */
#ifndef SVC_CORE_CLIENT_INTERNAL_H
#define SVC_CORE_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "ccall.h"
#include "strmap.h"

struct svc_client {
    svc_ctx *ctx;
    const svc_transport_ops *ops;
    svc_channel *chan;
    char *target;
    size_t max_reply;
    pthread_mutex_t mu; /* inflight, live, closing */
    pthread_cond_t idle_cv;
    svc_ccall *inflight;
    size_t live; /* calls not yet freed, and subscriptions not yet freed */
    bool closing;
    atomic_int_fast64_t latency_ewma_ns; /* recent call latency (spin or sleep) */
    pthread_rwlock_t stats_lock;
    svc_strmap stats; /* method → svc_call_stats */
};

/* Opens a stream: a call with a flow, started on the transport. *out holds
 * a reference for the stream handle (drop it with svc_ccall_release). */
svc_code svc_client_open_stream(svc_client *c, const char *method, const svc_call_opts *o,
                                svc_ccall **out);
/* Ends a call from core's side (CANCELLED, say) and tells the transport. */
void svc_ccall_abort(svc_ccall *cc, svc_code code, const char *message);

#endif
