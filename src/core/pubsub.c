/* Publishing, subscriptions and the life of an event. */
#include "pubsub.h"

#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "ctx.h"
#include "dlist.h"
#include "error.h"
#include "msg.h"

#define DEFAULT_MAX_PENDING 65536

svc_code svc_publish(svc_client *c, const char *topic, const svc_msg *m, const svc_pub_opts *o)
{
    if (!c || !topic || !m)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_publish: missing argument");
    if (!c->ops->publish)
        return svc_fail(SVC_UNIMPLEMENTED, "the %s transport cannot publish events", c->ops->name);
    svc_pub_opts defaults = {0};
    return c->ops->publish(c->chan, topic, m, o ? o : &defaults);
}

/* ---- asynchronous publishes ---- */

struct svc_pub_confirm {
    svc_ctx *ctx;
    svc_publish_fn fn;
    void *ud;
    svc_code code;
    char *message;
};

static void run_confirm(void *arg)
{
    svc_pub_confirm *pc = arg;
    pc->fn(pc->code, pc->message ? pc->message : "", pc->ud);
    free(pc->message);
    free(pc);
}

void svc_publish_done(svc_pub_confirm *pc, svc_code code, const char *message)
{
    if (!pc->fn) {
        free(pc);
        return;
    }
    pc->code = code;
    pc->message = message && *message ? strdup(message) : NULL;
    /* Verdicts arrive on transport threads; callbacks run on the pool. */
    if (svc_executor_post(pc->ctx->exec, run_confirm, pc) != SVC_OK)
        run_confirm(pc);
}

svc_code svc_publish_async(svc_client *c, const char *topic, const svc_msg *m,
                           const svc_pub_opts *o, svc_publish_fn fn, void *ud)
{
    if (!c || !topic || !m)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_publish_async: missing argument");
    if (!c->ops->publish_async)
        return svc_fail(SVC_UNIMPLEMENTED, "the %s transport cannot publish asynchronously",
                        c->ops->name);
    svc_pub_confirm *pc = malloc(sizeof *pc); /* not calloc: msg.c says why */
    if (!pc)
        return svc_fail_oom();
    *pc = (svc_pub_confirm){.ctx = c->ctx, .fn = fn, .ud = ud};
    svc_pub_opts defaults = {0};
    svc_code rc = c->ops->publish_async(c->chan, topic, m, o ? o : &defaults, pc);
    if (rc)
        free(pc);
    return rc;
}

svc_code svc_publish_flush(svc_client *c, int64_t timeout_ms)
{
    if (!c)
        return svc_fail(SVC_INVALID_ARGUMENT, "no client");
    if (!c->ops->publish_flush)
        return SVC_OK; /* nothing is ever pending on this transport */
    return c->ops->publish_flush(c->chan, timeout_ms);
}

svc_code svc_store_ensure(svc_client *c, const svc_store_opts *o)
{
    if (!c || !o || !o->name)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_store_ensure: missing argument");
    if (!c->ops->store_ensure)
        return svc_fail(SVC_UNIMPLEMENTED, "the %s transport has no event stores", c->ops->name);
    return c->ops->store_ensure(c->chan, o);
}

svc_code svc_store_delete(svc_client *c, const char *name)
{
    if (!c || !name)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_store_delete: missing argument");
    if (!c->ops->store_delete)
        return svc_fail(SVC_UNIMPLEMENTED, "the %s transport has no event stores", c->ops->name);
    return c->ops->store_delete(c->chan, name);
}

/* ---- subscriptions and events ---- */

static void sub_unref(svc_sub *sub)
{
    if (atomic_fetch_sub_explicit(&sub->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&sub->mu);
    pthread_cond_destroy(&sub->cv);
    free(sub->pattern);
    free(sub->group);
    free(sub);
}

void svc_sub_hold(svc_sub *sub)
{
    atomic_fetch_add(&sub->refs, 1);
    svc_client *c = sub->client;
    pthread_mutex_lock(&c->mu);
    c->live++;
    pthread_mutex_unlock(&c->mu);
}

void svc_sub_release(svc_sub *sub)
{
    svc_client *c = sub->client;
    sub_unref(sub);
    pthread_mutex_lock(&c->mu); /* last: the client may go once it is unlocked */
    if (--c->live == 0)
        pthread_cond_broadcast(&c->idle_cv);
    pthread_mutex_unlock(&c->mu);
}

/* The client lets go of a subscription (once, whoever comes first: the
 * subscription's last settle, svc_sub_free, svc_client_free). */
static void unlist(svc_sub *sub)
{
    svc_client *c = sub->client;
    pthread_mutex_lock(&c->mu);
    bool listed = sub->listed;
    if (listed)
        SVC_DLIST_REMOVE(c->subs, sub, prev, next);
    sub->listed = false;
    pthread_mutex_unlock(&c->mu);
    if (listed)
        sub_unref(sub); /* the subscription's own */
}

/* A closed subscription whose events are all settled needs its client no
 * more. Called when either becomes true, with the client still there. */
static void unlist_if_done(svc_sub *sub)
{
    pthread_mutex_lock(&sub->mu);
    bool done = atomic_load(&sub->closed) && !sub->unsettled;
    pthread_mutex_unlock(&sub->mu);
    if (done)
        unlist(sub);
}

static void event_free(svc_event *ev)
{
    svc_sub *sub = ev->sub;
    svc_msg_free(ev->msg);
    free(ev); /* the topic with it */
    sub_unref(sub);
}

/* Brackets a call into the transport for an event: false, without
 * entering, once the client was freed (the event was given back and the
 * channel is gone). svc_client_free waits for those inside. */
static bool transport_enter(svc_sub *sub)
{
    pthread_mutex_lock(&sub->mu);
    while (sub->orphaning)
        pthread_cond_wait(&sub->cv, &sub->mu);
    bool ok = !sub->orphaned;
    if (ok)
        sub->settling++;
    pthread_mutex_unlock(&sub->mu);
    return ok;
}

static void transport_leave(svc_sub *sub)
{
    pthread_mutex_lock(&sub->mu);
    if (--sub->settling == 0)
        pthread_cond_broadcast(&sub->cv);
    pthread_mutex_unlock(&sub->mu);
}

/* A manual-ack event leaves the unsettled list to be settled through the
 * transport; false if the client was freed and gave it back already. */
static bool claim(svc_event *ev)
{
    svc_sub *sub = ev->sub;
    if (!transport_enter(sub))
        return false;
    pthread_mutex_lock(&sub->mu);
    SVC_DLIST_REMOVE(sub->unsettled, ev, prev, next);
    pthread_mutex_unlock(&sub->mu);
    return true;
}

static svc_code settle(svc_event *ev, svc_settle how, int64_t delay_ms)
{
    if (atomic_exchange(&ev->settled, true))
        return svc_fail(SVC_FAILED_PRECONDITION, "event already settled");
    svc_sub *sub = ev->sub;
    bool manual = sub->opts.manual_ack;
    if (manual && !claim(ev)) {
        event_free(ev);
        return svc_fail(SVC_FAILED_PRECONDITION,
                        "the event's client was freed, which gave the event back");
    }
    svc_code rc = SVC_OK;
    if (sub->chan->ops->event_settle)
        rc = sub->chan->ops->event_settle(ev, how, delay_ms);
    if (manual) {
        unlist_if_done(sub); /* while still inside: the client waits for it */
        transport_leave(sub);
    }
    event_free(ev);
    return rc;
}

static svc_code settle_manual(svc_event *ev, svc_settle how, int64_t delay_ms)
{
    if (!ev)
        return svc_fail(SVC_INVALID_ARGUMENT, "no event");
    if (!ev->sub->opts.manual_ack)
        return svc_fail(SVC_FAILED_PRECONDITION,
                        "events of a subscription without manual_ack settle themselves");
    return settle(ev, how, delay_ms);
}

svc_code svc_event_ack(svc_event *ev)
{
    return settle_manual(ev, SVC_SETTLE_ACK, 0);
}

svc_code svc_event_nack(svc_event *ev, int64_t delay_ms)
{
    return settle_manual(ev, SVC_SETTLE_NACK, delay_ms < 0 ? 0 : delay_ms);
}

svc_code svc_event_term(svc_event *ev)
{
    return settle_manual(ev, SVC_SETTLE_TERM, 0);
}

svc_code svc_event_in_progress(svc_event *ev)
{
    if (!ev)
        return svc_fail(SVC_INVALID_ARGUMENT, "no event");
    if (atomic_load(&ev->settled))
        return svc_fail(SVC_FAILED_PRECONDITION, "event already settled");
    svc_sub *sub = ev->sub;
    if (!transport_enter(sub)) /* before the channel is touched */
        return svc_fail(SVC_FAILED_PRECONDITION, "the event's client was freed");
    const svc_transport_ops *ops = sub->chan->ops;
    svc_code rc = ops->event_in_progress
                      ? ops->event_in_progress(ev)
                      : svc_fail(SVC_UNIMPLEMENTED, "the %s transport has no in-progress acks",
                                 ops->name);
    transport_leave(sub);
    return rc;
}

const char *svc_event_topic(const svc_event *ev)
{
    return ev->topic;
}

const svc_msg *svc_event_msg(const svc_event *ev)
{
    return ev->msg;
}

uint32_t svc_event_delivery_count(const svc_event *ev)
{
    return ev->delivery_count;
}

bool svc_event_redelivered(const svc_event *ev)
{
    return ev->delivery_count > 1;
}

static void run_event(void *arg)
{
    svc_event *ev = arg;
    svc_sub *sub = ev->sub;
    if (atomic_load(&sub->closed)) {
        settle(ev, SVC_SETTLE_NACK, 0); /* let another consumer have it */
        return;
    }
    sub->fn(ev, sub->ud);
    if (!sub->opts.manual_ack)
        settle(ev, SVC_SETTLE_ACK, 0);
}

void svc_sub_report_dropped(svc_sub *sub, uint64_t n)
{
    uint64_t total = atomic_fetch_add(&sub->dropped, n) + n;
    svc_counter_add(sub->dropped_metric, (int64_t)n);
    if (sub->opts.on_dropped)
        sub->opts.on_dropped(sub, total, sub->ud);
    else if (((total - n) ^ total) > (total - n)) /* crossed a power of two: loud but bounded */
        svc_log_warn(sub->client->ctx, sub->chan->ops->name,
                     "slow consumer on '%s': %llu events dropped", sub->pattern,
                     (unsigned long long)total);
}

/* svc_sub_deliver() to an open subscription. */
static svc_code deliver_open(svc_sub *sub, const char *topic, svc_msg *msg,
                             uint32_t delivery_count, void *tdata)
{
    if (sub->strand && svc_strand_pending(sub->strand) >= sub->opts.max_pending) {
        svc_msg_free(msg);
        svc_sub_report_dropped(sub, 1);
        return SVC_RESOURCE_EXHAUSTED;
    }
    /* One block for the event and its topic, and malloc rather than
     * calloc (msg.c says why): this runs for every event. */
    size_t tlen = strlen(topic);
    svc_event *ev = malloc(sizeof *ev + tlen + 1);
    if (!ev) {
        svc_msg_free(msg);
        svc_sub_report_dropped(sub, 1);
        return SVC_RESOURCE_EXHAUSTED;
    }
    *ev = (svc_event){
        .sub = sub,
        .topic = memcpy(ev + 1, topic, tlen + 1),
        .msg = msg,
        .delivery_count = delivery_count ? delivery_count : 1,
        .tdata = tdata,
    };
    atomic_fetch_add(&sub->refs, 1);
    if (sub->opts.manual_ack) { /* so that svc_client_free can give it back */
        pthread_mutex_lock(&sub->mu);
        SVC_DLIST_PUSH(sub->unsettled, ev, prev, next);
        pthread_mutex_unlock(&sub->mu);
    }
    svc_counter_add(sub->received_metric, 1);
    if (!sub->strand || svc_strand_post(sub->strand, run_event, ev) != SVC_OK)
        run_event(ev);
    return SVC_OK;
}

svc_code svc_sub_deliver(svc_sub *sub, const char *topic, svc_msg *msg,
                         uint32_t delivery_count, void *tdata)
{
    /* Counted before the check, so that closing (which sets closed, then
     * waits for the count) either is seen here or waits for this. */
    atomic_fetch_add(&sub->delivering, 1);
    svc_code rc = SVC_CANCELLED;
    if (atomic_load(&sub->closed))
        svc_msg_free(msg);
    else
        rc = deliver_open(sub, topic, msg, delivery_count, tdata);
    if (atomic_fetch_sub(&sub->delivering, 1) == 1 && atomic_load(&sub->closed)) {
        pthread_mutex_lock(&sub->mu);
        pthread_cond_broadcast(&sub->cv);
        pthread_mutex_unlock(&sub->mu);
    }
    return rc;
}

/* Closes a subscription (once): no delivery starts any more, the ones in
 * progress (inline handlers among them) and the queued events finish. */
static void sub_close(svc_sub *sub)
{
    if (atomic_exchange(&sub->closed, true))
        return;
    sub->chan->ops->unsubscribe(sub->chan, sub);
    pthread_mutex_lock(&sub->mu);
    while (atomic_load(&sub->delivering) > 0)
        pthread_cond_wait(&sub->cv, &sub->mu);
    pthread_mutex_unlock(&sub->mu);
    svc_strand_free(sub->strand); /* queued events run, see closed, go back */
    sub->strand = NULL;
}

/* The client is going: events nobody settled go back to the transport
 * (NACK: redelivered to other consumers where there are any), and later
 * settles of them only free them. Settles in progress finish first. */
static void orphan_events(svc_sub *sub)
{
    pthread_mutex_lock(&sub->mu);
    sub->orphaning = sub->orphaned = true;
    while (sub->settling > 0)
        pthread_cond_wait(&sub->cv, &sub->mu);
    svc_event *ev = sub->unsettled;
    sub->unsettled = NULL;
    pthread_mutex_unlock(&sub->mu);
    for (; ev; ev = ev->next)
        if (sub->chan->ops->event_settle)
            sub->chan->ops->event_settle(ev, SVC_SETTLE_NACK, 0);
    pthread_mutex_lock(&sub->mu);
    sub->orphaning = false;
    pthread_cond_broadcast(&sub->cv);
    pthread_mutex_unlock(&sub->mu);
}

static svc_code sub_start(svc_client *c, svc_sub *sub)
{
    sub->dropped_metric = svc_metrics_counter(
        c->ctx->metrics, "svc_events_dropped_total",
        "Events dropped because the subscriber fell behind.", SVC_METRIC_COUNTER, "transport",
        c->ops->name, "pattern", sub->pattern, NULL);
    sub->received_metric = svc_metrics_counter(
        c->ctx->metrics, "svc_events_received_total", "Events handed to subscribers.",
        SVC_METRIC_COUNTER, "transport", c->ops->name, "pattern", sub->pattern, NULL);
    svc_code rc = c->ops->subscribe(c->chan, sub);
    if (rc)
        return rc;
    pthread_mutex_lock(&c->mu);
    bool closing = c->closing;
    if (!closing) {
        SVC_DLIST_PUSH(c->subs, sub, prev, next);
        sub->listed = true;
    }
    pthread_mutex_unlock(&c->mu);
    if (closing) { /* as svc_client_free would have, had it been listed */
        sub_close(sub);
        orphan_events(sub);
        return svc_fail(SVC_FAILED_PRECONDITION, "client is being freed");
    }
    return SVC_OK;
}

svc_code svc_subscribe(svc_client *c, const char *pattern, const svc_sub_opts *o,
                       svc_event_fn fn, void *ud, svc_sub **out)
{
    if (!c || !pattern || !fn || !out)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_subscribe: missing argument");
    if (!c->ops->subscribe)
        return svc_fail(SVC_UNIMPLEMENTED, "the %s transport cannot subscribe to events",
                        c->ops->name);
    svc_sub *sub = calloc(1, sizeof *sub);
    if (!sub)
        return svc_fail_oom();
    if (o)
        sub->opts = *o;
    if (!sub->opts.max_pending)
        sub->opts.max_pending = DEFAULT_MAX_PENDING;
    sub->client = c;
    sub->chan = c->chan;
    sub->fn = fn;
    sub->ud = ud;
    atomic_init(&sub->refs, 1);
    pthread_mutex_init(&sub->mu, NULL);
    pthread_cond_init(&sub->cv, NULL);
    sub->pattern = strdup(pattern);
    sub->group = sub->opts.queue_group ? strdup(sub->opts.queue_group) : NULL;
    sub->opts.queue_group = sub->group;
    svc_code rc = SVC_OK;
    if (!sub->pattern || (o && o->queue_group && !sub->group))
        rc = svc_fail_oom();
    if (rc == SVC_OK && sub->opts.dispatch != SVC_DISPATCH_INLINE)
        rc = svc_strand_new(c->ctx->exec, sub->opts.concurrency, &sub->strand);
    if (rc == SVC_OK)
        rc = sub_start(c, sub);
    if (rc) {
        svc_strand_free(sub->strand);
        sub_unref(sub);
        return rc;
    }
    *out = sub;
    return SVC_OK;
}

void svc_sub_free(svc_sub *sub)
{
    if (!sub)
        return;
    /* Referenced while we work: once closed, the last settle may unlist it
     * and drop its own reference at any moment. */
    atomic_fetch_add(&sub->refs, 1);
    sub_close(sub);
    unlist_if_done(sub); /* else its last settle does */
    sub_unref(sub);
}

void svc_client_free_subs(svc_client *c)
{
    pthread_mutex_lock(&c->mu);
    svc_sub *sub = c->subs;
    c->subs = NULL;
    for (svc_sub *s = sub; s; s = s->next)
        s->listed = false;
    pthread_mutex_unlock(&c->mu);
    for (svc_sub *next; sub; sub = next) {
        next = sub->next;
        sub_close(sub);
        orphan_events(sub);
        sub_unref(sub); /* the subscription's own */
    }
}

uint64_t svc_sub_dropped(const svc_sub *sub)
{
    return atomic_load(&sub->dropped);
}
