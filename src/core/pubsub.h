/*
 * Subscriptions and events, shared by every transport that delivers events.
 * The transport calls svc_sub_deliver() for each message; core queues it on
 * the subscription's strand (bounded: beyond max_pending it is dropped,
 * counted and reported), runs the handler, and settles the event through
 * ops->event_settle().
 */
#ifndef SVC_CORE_PUBSUB_H
#define SVC_CORE_PUBSUB_H

#include <stdatomic.h>
#include <svccomm/pubsub.h>

#include "executor.h"
#include "observe/metrics.h"
#include "transport/transport.h"

struct svc_sub {
    svc_client *client;
    svc_channel *chan;
    char *pattern;
    char *group;            /* NULL = no queue group */
    svc_sub_opts opts;      /* opts.queue_group points at `group` */
    svc_event_fn fn;
    void *ud;
    svc_strand *strand;     /* NULL for inline dispatch */
    atomic_int refs;        /* the user's, plus one per unsettled event */
    atomic_bool closed;
    atomic_uint_fast64_t dropped;
    svc_counter *dropped_metric;
    svc_counter *received_metric;
    void *tdata;            /* the transport's per-subscription state */
};

struct svc_event {
    svc_sub *sub;
    char *topic;
    svc_msg *msg;
    uint32_t delivery_count;
    atomic_bool settled;
    void *tdata;            /* the transport's per-event state */
};

/* Hands one message (taken) to the subscription. SVC_RESOURCE_EXHAUSTED when
 * it was dropped because the handler fell behind, SVC_CANCELLED when the
 * subscription is closing; the transport may then requeue it (tdata is not
 * kept in either case). */
svc_code svc_sub_deliver(svc_sub *sub, const char *topic, svc_msg *msg,
                         uint32_t delivery_count, void *tdata);

/* Counts `n` events dropped before they reached core (a transport's own
 * buffer overflowed) and reports them like core's own drops: metric,
 * on_dropped callback or a bounded warning. */
void svc_sub_report_dropped(svc_sub *sub, uint64_t n);

/* Keeps a subscription's memory alive past svc_sub_free() (a redelivery
 * timer, say); deliveries after it closed are refused with SVC_CANCELLED. */
void svc_sub_hold(svc_sub *sub);
void svc_sub_release(svc_sub *sub);

#endif
