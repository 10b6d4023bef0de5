/*
 * Subscriptions and events, shared by every transport that delivers events.
 * The transport calls svc_sub_deliver() for each message; core queues it on
 * the subscription's strand (bounded: beyond max_pending it is dropped,
 * counted and reported), runs the handler, and settles the event through
 * ops->event_settle().
 */
#ifndef SVC_CORE_PUBSUB_H
#define SVC_CORE_PUBSUB_H

#include <pthread.h>
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
    /* The subscription's own reference (dropped once it is closed and its
     * client let go of it), plus one per event not yet freed, plus the
     * transport's holds. The memory may outlive the client: the last
     * reference frees only the subscription. */
    atomic_int refs;
    atomic_bool closed;
    atomic_uint delivering; /* svc_sub_deliver() calls in progress */
    atomic_uint_fast64_t dropped;
    svc_counter *dropped_metric;
    svc_counter *received_metric;
    void *tdata;            /* the transport's per-subscription state */

    pthread_mutex_t mu;     /* the fields below; cv waits on it */
    pthread_cond_t cv;      /* deliveries ended, settles ended, orphaned */
    svc_event *unsettled;   /* manual-ack events handed out, not settled */
    unsigned settling;      /* settles inside ops->event_settle right now */
    bool orphaning;         /* the client is giving the events back */
    bool orphaned;          /* ...and has: settles only free the event */

    svc_sub *prev, *next;   /* the client's subscriptions (client's mu) */
    bool listed;
};

struct svc_event {
    svc_sub *sub;
    char *topic;
    svc_msg *msg;
    uint32_t delivery_count;
    atomic_bool settled;
    void *tdata;            /* the transport's per-event state */
    svc_event *prev, *next; /* sub->unsettled (manual ack) */
};

/* Hands one message (taken) to the subscription; `topic` is copied before
 * the message can be freed, so it may live in what the message's payload
 * borrows from (svc_msg_set_data_borrowed). SVC_RESOURCE_EXHAUSTED when
 * it was dropped because the handler fell behind, SVC_CANCELLED when the
 * subscription is closing; the transport may then requeue it (tdata is not
 * kept in either case). A transport may call it even after unsubscribe()
 * returned, if it holds the subscription (svc_sub_hold): it is refused. */
svc_code svc_sub_deliver(svc_sub *sub, const char *topic, svc_msg *msg,
                         uint32_t delivery_count, void *tdata);

/* Counts `n` events dropped before they reached core (a transport's own
 * buffer overflowed) and reports them like core's own drops: metric,
 * on_dropped callback or a bounded warning. */
void svc_sub_report_dropped(svc_sub *sub, uint64_t n);

/* Keeps a subscription's memory alive past svc_sub_free() (a redelivery
 * timer, say); deliveries after it closed are refused with SVC_CANCELLED.
 * svc_client_free waits for every hold to be released before it frees the
 * channel, so let go (cancel such timers) when unsubscribed. */
void svc_sub_hold(svc_sub *sub);
void svc_sub_release(svc_sub *sub);

/* svc_client_free(): closes the client's subscriptions still open and gives
 * back, through ops->event_settle (NACK), the manual-ack events nobody
 * settled; settling them later only frees them. Before the channel goes. */
void svc_client_free_subs(svc_client *c);

#endif
