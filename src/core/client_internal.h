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

#endif
