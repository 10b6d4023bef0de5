/*
 * svccomm/pubsub.h — publishing events to topics and subscribing to them.
 *
 * Topics are dot-separated tokens ("order.created"). A subscription pattern
 * may use "*" for exactly one token and ">" (last) for one or more tokens,
 * as in NATS. Subscriptions that share a queue group compete: each event
 * goes to one member of the group; every other subscription gets its own
 * copy.
 *
 * Threads: thread-safe. Event handlers run on the worker pool (one at a time
 * per subscription, in order, unless `concurrency` says otherwise) or inline
 * on the transport's thread with SVC_DISPATCH_INLINE.
 */
#ifndef SVCCOMM_PUBSUB_H
#define SVCCOMM_PUBSUB_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct svc_pub_opts {
    bool persistent;  /* ask a broker to store the event (AMQP, JetStream) */
} svc_pub_opts;

/* Publishes `m` (borrowed; a copy is sent) on `topic` (borrowed) through the
 * client's target. `o` may be NULL. Returns once the transport accepted the
 * event (for brokers with confirms: once confirmed). Invalid topics (empty
 * tokens, spaces, wildcards) → SVC_INVALID_ARGUMENT. */
SVC_API svc_code svc_publish(svc_client *c, const char *topic, const svc_msg *m,
                             const svc_pub_opts *o);

/* An event handler. `ev` belongs to the library until the handler settles it:
 * with manual_ack the handler (or any thread, later) must call exactly one of
 * svc_event_ack/nack/term; otherwise the event is acknowledged and freed when
 * the handler returns. */
typedef void (*svc_event_fn)(svc_event *ev, void *ud);

typedef struct svc_sub_opts {
    const char *queue_group; /* borrowed; NULL = every subscriber gets a copy */
    bool manual_ack;         /* the handler settles each event itself */
    unsigned max_pending;    /* events queued for the handler before new ones
                              * are dropped and counted; 0 = 65536 */
    unsigned concurrency;    /* handlers running at once; 0 = 1 (in order) */
    svc_dispatch dispatch;   /* SVC_DISPATCH_POOL (default) or _INLINE */
    /* Called (from any thread) each time events are dropped because the
     * handler fell behind; NULL = log a warning. */
    void (*on_dropped)(svc_sub *sub, uint64_t dropped_total, void *ud);
} svc_sub_opts;

/* Subscribes to `pattern` (borrowed). `fn` runs for each event with `ud`.
 * On success *out is yours; end it with svc_sub_free(). */
SVC_API svc_code svc_subscribe(svc_client *c, const char *pattern, const svc_sub_opts *o,
                               svc_event_fn fn, void *ud, svc_sub **out);

/* Unsubscribes, waits for running handlers to return, and frees. Events
 * delivered but not settled yet stay valid until settled. Must not be called
 * from the subscription's own handler. */
SVC_API void svc_sub_free(svc_sub *sub);

/* Events dropped because the handler fell behind (slow consumer). */
SVC_API uint64_t svc_sub_dropped(const svc_sub *sub);

/* ---- the event a handler receives (all borrowed until settled) ---- */
SVC_API const char *svc_event_topic(const svc_event *ev);
SVC_API const svc_msg *svc_event_msg(const svc_event *ev);
/* How many times this event was delivered (1 the first time). */
SVC_API uint32_t svc_event_delivery_count(const svc_event *ev);
SVC_API bool svc_event_redelivered(const svc_event *ev);

/* Settle an event (manual_ack only; each gives the event back, so it must
 * not be used afterwards). ack: done. nack: deliver again after `delay_ms`
 * (0 = at once). term: never deliver again. */
SVC_API svc_code svc_event_ack(svc_event *ev);
SVC_API svc_code svc_event_nack(svc_event *ev, int64_t delay_ms);
SVC_API svc_code svc_event_term(svc_event *ev);

#ifdef __cplusplus
}
#endif
#endif
