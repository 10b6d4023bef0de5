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

/*
 * Topics by transport:
 *   inproc, NATS: a subject, "order.created".
 *   AMQP: "exchange/routing-key" to publish ("/key" or "key" alone = the
 *         default exchange); to subscribe, "queue" or "exchange/binding-key"
 *         (a queue is then declared and bound, see svc_sub_opts.queue).
 */

typedef struct svc_pub_opts {
    bool persistent;            /* ask the broker to store the event: AMQP
                                 * delivery mode 2; NATS: publish to
                                 * JetStream (a stream must capture the
                                 * subject) and wait for its ack */
    bool confirm;               /* return only once the broker confirmed the
                                 * event (AMQP publisher confirms; JetStream
                                 * ack, implied by persistent on NATS) */
    bool mandatory;             /* AMQP: an event no queue takes comes back:
                                 * SVC_NOT_FOUND (confirmed publishes) or the
                                 * callback of svc_publish_async */
    const char *message_id;     /* AMQP message-id; NATS Nats-Msg-Id, which
                                 * JetStream uses to drop duplicates */
    const char *correlation_id; /* AMQP correlation-id */
    const char *app_id;         /* AMQP app-id */
    const char *exchange_type;  /* AMQP: declare the exchange first ("direct",
                                 * "topic", "fanout", "headers"; durable);
                                 * NULL = it must exist */
    int64_t timeout_ms;         /* longest wait for a confirmation; 0 = 10 s */
} svc_pub_opts;

/* Publishes `m` (borrowed; a copy is sent) on `topic` (borrowed) through the
 * client's target. `o` (borrowed) may be NULL. Returns once the transport
 * accepted the event, or with confirm/persistent once the broker confirmed
 * it. Invalid topics → SVC_INVALID_ARGUMENT. The metadata of `m` travels as
 * headers (AMQP headers table, NATS headers), traceparent included. */
SVC_API svc_code svc_publish(svc_client *c, const char *topic, const svc_msg *m,
                             const svc_pub_opts *o);

/* The verdict on one asynchronous publish: SVC_OK once confirmed (or, for
 * transports without confirms, once written), or why not: SVC_NOT_FOUND for
 * a mandatory event nobody took, SVC_UNAVAILABLE when the broker nacked it
 * or the connection failed for good, SVC_DEADLINE_EXCEEDED. `message` is
 * borrowed for the call. */
typedef void (*svc_publish_fn)(svc_code code, const char *message, void *ud);

/* Publishes without waiting for the confirmation: many publishes pipeline on
 * one connection and `fn` (may be NULL) reports each one's verdict, in any
 * order, from a library thread (worker pool). Unconfirmed events survive a
 * reconnection: they are published again. If this returns SVC_OK, fn is
 * called exactly once; otherwise never. */
SVC_API svc_code svc_publish_async(svc_client *c, const char *topic, const svc_msg *m,
                                   const svc_pub_opts *o, svc_publish_fn fn, void *ud);

/* Waits until every asynchronous publish made on `c` so far has its verdict,
 * at most `timeout_ms` (0 = no limit). */
SVC_API svc_code svc_publish_flush(svc_client *c, int64_t timeout_ms);

/* A durable, replayable store of events (a JetStream stream): created or
 * updated to match these settings. Transports without one answer
 * SVC_UNIMPLEMENTED (AMQP stores events in durable queues; see
 * svc_sub_opts). All strings are borrowed. */
typedef enum svc_retention {
    SVC_RETAIN_LIMITS = 0,   /* keep until the limits below */
    SVC_RETAIN_INTEREST = 1, /* keep while a consumer still needs them */
    SVC_RETAIN_WORKQUEUE = 2 /* keep until one consumer acked them */
} svc_retention;

typedef struct svc_store_opts {
    const char *name;
    const char *const *subjects; /* NULL-terminated patterns it captures */
    svc_retention retention;
    bool memory;                 /* memory instead of file storage */
    int64_t max_age_ms;          /* 0 = unlimited */
    int64_t max_bytes;           /* 0 = unlimited */
    int64_t max_msgs;            /* 0 = unlimited */
    int replicas;                /* 0 = 1 */
    int64_t duplicate_window_ms; /* message-id de-duplication window; 0 = 2 min */
} svc_store_opts;

SVC_API svc_code svc_store_ensure(svc_client *c, const svc_store_opts *o);
/* Deletes a store and its events (tests, tools). */
SVC_API svc_code svc_store_delete(svc_client *c, const char *name);

/* An event handler. `ev` belongs to the library until the handler settles it:
 * with manual_ack the handler (or any thread, later) must call exactly one of
 * svc_event_ack/nack/term; otherwise the event is acknowledged and freed when
 * the handler returns. */
typedef void (*svc_event_fn)(svc_event *ev, void *ud);

typedef struct svc_sub_opts {
    const char *queue_group; /* borrowed; NULL = every subscriber gets a copy.
                              * AMQP: subscribers naming the same queue
                              * compete whatever this says */
    bool manual_ack;         /* the handler settles each event itself */
    unsigned max_pending;    /* events queued for the handler before new ones
                              * are dropped and counted; 0 = 65536 */
    unsigned concurrency;    /* handlers running at once; 0 = 1 (in order) */
    svc_dispatch dispatch;   /* SVC_DISPATCH_POOL (default) or _INLINE */
    /* Called (from any thread) each time events are dropped because the
     * handler fell behind; NULL = log a warning. */
    void (*on_dropped)(svc_sub *sub, uint64_t dropped_total, void *ud);

    /* ---- brokers ---- (all strings borrowed) */
    unsigned prefetch;       /* events delivered but not yet settled, at most
                              * (AMQP basic.qos; JetStream max ack pending);
                              * 0 = the transport's default */
    /* AMQP queue declaration. For "exchange/binding-key" patterns `queue`
     * names the queue to declare and bind (NULL = a server-named, exclusive
     * one); for a plain "queue" pattern it is ignored. */
    const char *queue;
    bool durable;            /* survives a broker restart */
    bool exclusive;          /* this connection only */
    bool auto_delete;        /* goes when its last consumer goes */
    const char *const *queue_args; /* NULL-terminated "key=value" strings:
                              * "x-dead-letter-exchange=dlx",
                              * "x-message-ttl=60000", "x-max-length=1000",
                              * "x-queue-type=quorum"; integer values are
                              * sent as integers */
    const char *exchange_type; /* declare the pattern's exchange first, as in
                              * svc_pub_opts */
    /* JetStream (NATS). With `store` set the subscription consumes the store's
     * events at least once instead of live core-NATS events. */
    const char *store;       /* the store (stream) to consume */
    const char *durable_name; /* durable consumer: resumes where it stopped */
    bool pull;               /* a pull consumer (fetched in batches) rather
                              * than pushed */
    int64_t ack_wait_ms;     /* redeliver if not settled within; 0 = 30 s */
    int max_deliver;         /* give up after this many deliveries; 0 = no
                              * limit */
} svc_sub_opts;

/* Subscribes to `pattern` (borrowed). `fn` runs for each event with `ud`.
 * On success *out is yours; end it with svc_sub_free(). */
SVC_API svc_code svc_subscribe(svc_client *c, const char *pattern, const svc_sub_opts *o,
                               svc_event_fn fn, void *ud, svc_sub **out);

/* Unsubscribes, waits for running handlers to return (inline ones too), and
 * frees. Events still queued for the handler are not run: they go back
 * (inproc: to another member of the queue group, if any). Events delivered
 * but not settled yet stay valid until settled (see svc_client_free for
 * what happens to them when the client goes first). Must not be called
 * from the subscription's own handler; a handler may free another
 * subscription. */
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
/* Still working on it: postpones redelivery by the ack wait (JetStream
 * "+WPI"). Does not settle the event. SVC_UNIMPLEMENTED where the transport
 * has no such thing. */
SVC_API svc_code svc_event_in_progress(svc_event *ev);

#ifdef __cplusplus
}
#endif
#endif
