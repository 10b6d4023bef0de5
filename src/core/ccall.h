/*
 * Client-side calls. Core creates an svc_ccall for every call, enforces its
 * deadline and cancellation, records metrics and delivers the one answer to
 * the caller; the transport only starts it and reports its reply.
 *
 * References: one for core (dropped once the caller has its answer) and one
 * for the transport (dropped with svc_ccall_release()). The client waits for
 * every call to be released before it frees the channel.
 */
#ifndef SVC_CORE_CCALL_H
#define SVC_CORE_CCALL_H

#include <stdatomic.h>
#include <svccomm/client.h>

#include "flow.h"
#include "loop.h"
#include "observe/metrics.h"
#include "transport/transport.h"

struct svc_ccall {
    svc_client *client;
    svc_channel *chan;
    atomic_int refs;
    atomic_bool done;
    char *method;
    char *hash_key;        /* svc_call_opts.hash_key (copied), for balancers */
    svc_msg *req;          /* the transport may read it until it releases */
    svc_time deadline;     /* 0 = none */
    svc_time start;
    svc_reply_fn fn;
    void *ud;
    svc_dispatch dispatch;
    svc_timer *timer;
    svc_cancel *cancel;
    svc_ccall *cancel_prev, *cancel_next;
    svc_ccall *prev, *next; /* the client's in-flight list */
    svc_call_stats *stats;
    svc_code code;          /* the answer, while it is being delivered */
    svc_msg *resp;
    void *tdata;            /* the transport's per-call state */
    svc_flow *flow;         /* streams: messages in, send gate, the end */
};

/* The transport's reply (status inside `resp`, which this takes; NULL =
 * out of memory). Only the first answer of a call counts; later ones are
 * freed. Any thread. */
void svc_ccall_complete(svc_ccall *cc, svc_msg *resp);
/* Same, with a status of the transport's making. */
void svc_ccall_fail(svc_ccall *cc, svc_code code, const char *message);
/* Drops the transport's reference. */
void svc_ccall_release(svc_ccall *cc);
/* An extra reference, for work the transport queues for later (a
 * cancellation hop to its own thread); drop it with svc_ccall_release(). */
void svc_ccall_hold(svc_ccall *cc);
/* True once the call was answered (the transport may stop early). */
bool svc_ccall_done(const svc_ccall *cc);
/* The largest reply the caller accepts. */
size_t svc_ccall_max_reply(const svc_ccall *cc);

#endif
