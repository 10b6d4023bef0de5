/* Clients: targets, blocking and async calls, cancellation, shutdown. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "ccall.h"
#include "client_internal.h"
#include "clock.h"
#include "ctx.h"
#include "dlist.h"
#include "error.h"
#include "msg.h"
#include "pubsub.h"
#include "strmap.h"

/* Blocking calls spin before they sleep when this client's calls are quick
 * (cross-CPU wake-ups cost tens of microseconds on virtual machines): for
 * twice the recent latency, at most SPIN_MAX_NS, and not at all once calls
 * take longer than SPIN_IF_UNDER_NS (the spin would mostly be wasted), nor
 * over a transport whose replies need every CPU on their way back
 * (ops->wait_without_spin: on 2 cores, spinning doubled NATS' p50). */
#define SPIN_MAX_NS (200 * 1000)
#define SPIN_IF_UNDER_NS (200 * 1000)

struct svc_cancel {
    pthread_mutex_t mu;
    atomic_int refs; /* the user's, plus one per attached call */
    bool fired;
    svc_ccall *head;
};

void svc_client_opts_init(svc_client_opts *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 5000;
}

svc_code svc_client_new(svc_ctx *ctx, const char *target, const svc_client_opts *o,
                        svc_client **out)
{
    if (!ctx || !target || !out)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_client_new: missing argument");
    svc_url *u;
    svc_code rc = svc_url_parse(target, &u);
    if (rc)
        return rc;
    const svc_transport_ops *ops = svc_transport_find(u->scheme);
    if (!ops || !ops->channel_new) {
        rc = svc_fail(SVC_UNIMPLEMENTED, "no transport serves %s:// targets", u->scheme);
        svc_url_free(u);
        return rc;
    }
    svc_client_opts defaults;
    svc_client_opts_init(&defaults);
    svc_client *c = calloc(1, sizeof *c);
    if (!c || !(c->target = strdup(target))) {
        free(c);
        svc_url_free(u);
        return svc_fail_oom();
    }
    c->ctx = ctx;
    c->ops = ops;
    c->max_reply = o && o->max_message_size ? o->max_message_size : ctx->max_message_size;
    rc = ops->channel_new(ctx, u, o ? o : &defaults, &c->chan);
    svc_url_free(u);
    if (rc) {
        free(c->target);
        free(c);
        return rc;
    }
    c->chan->ops = ops;
    c->chan->ctx = ctx;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->idle_cv, NULL);
    pthread_rwlock_init(&c->stats_lock, NULL);
    svc_strmap_init(&c->stats);
    *out = c;
    return SVC_OK;
}

/* ---- the life of a call ---- */

static void ccall_unref(svc_ccall *cc)
{
    if (atomic_fetch_sub_explicit(&cc->refs, 1, memory_order_acq_rel) != 1)
        return;
    svc_client *c = cc->client;
    svc_timer_free(cc->timer);
    if (cc->flow) {
        svc_flow_destroy(cc->flow);
        free(cc->flow);
    }
    svc_msg_free(cc->req);
    free(cc->method);
    free(cc->hash_key);
    if (cc->cancel && atomic_fetch_sub(&cc->cancel->refs, 1) == 1) {
        pthread_mutex_destroy(&cc->cancel->mu);
        free(cc->cancel);
    }
    free(cc);
    pthread_mutex_lock(&c->mu);
    if (--c->live == 0)
        pthread_cond_broadcast(&c->idle_cv);
    pthread_mutex_unlock(&c->mu);
}

void svc_ccall_release(svc_ccall *cc)
{
    ccall_unref(cc);
}

void svc_ccall_hold(svc_ccall *cc)
{
    atomic_fetch_add(&cc->refs, 1);
}

bool svc_ccall_done(const svc_ccall *cc)
{
    return atomic_load_explicit(&cc->done, memory_order_acquire);
}

size_t svc_ccall_max_reply(const svc_ccall *cc)
{
    return cc->client->max_reply;
}

static void deliver(void *arg)
{
    svc_ccall *cc = arg;
    cc->fn(cc->code, cc->resp, cc->ud);
    ccall_unref(cc); /* core's reference */
}

static void cancel_detach(svc_ccall *cc)
{
    svc_cancel *t = cc->cancel;
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    /* Once fired, the list belongs to the firing thread, which walks it
     * outside the lock holding every call on it: unlinking here would
     * change the links under its feet. */
    if (!t->fired)
        SVC_DLIST_REMOVE(t->head, cc, cancel_prev, cancel_next);
    pthread_mutex_unlock(&t->mu);
}

/* The one place a call ends, whoever ends it. False if it had ended. */
static bool finish(svc_ccall *cc, svc_msg *resp)
{
    if (atomic_exchange_explicit(&cc->done, true, memory_order_acq_rel)) {
        svc_msg_free(resp);
        return false;
    }
    if (cc->timer)
        svc_timer_disarm(cc->timer);
    cancel_detach(cc);
    if (!resp)
        resp = svc_msg_new_status(SVC_RESOURCE_EXHAUSTED, "out of memory");
    cc->code = resp ? resp->status : SVC_RESOURCE_EXHAUSTED;
    cc->resp = resp;
    int64_t latency = svc_now() - cc->start;
    svc_call_stats_record(cc->stats, cc->code, latency);

    svc_client *c = cc->client;
    /* A moving average (1/8 weight) of latency; racing updates may lose
     * one sample, which an estimate can afford. */
    int64_t avg = atomic_load_explicit(&c->latency_ewma_ns, memory_order_relaxed);
    atomic_store_explicit(&c->latency_ewma_ns, avg + (latency - avg) / 8, memory_order_relaxed);
    pthread_mutex_lock(&c->mu);
    SVC_DLIST_REMOVE(c->inflight, cc, prev, next);
    pthread_mutex_unlock(&c->mu);

    if (cc->dispatch == SVC_DISPATCH_INLINE ||
        svc_executor_post(c->ctx->exec, deliver, cc) != SVC_OK)
        deliver(cc);
    return true;
}

void svc_ccall_complete(svc_ccall *cc, svc_msg *resp)
{
    finish(cc, resp);
}

void svc_ccall_fail(svc_ccall *cc, svc_code code, const char *message)
{
    finish(cc, svc_msg_new_status(code, message));
}

/* Core ends a call the transport is still working on, then tells it. The
 * extra reference keeps `cc` alive for call_cancel: delivery may drop core's
 * reference and the transport its own in between. */
static void abort_call(svc_ccall *cc, svc_code code, const char *message)
{
    svc_channel *ch = cc->chan;
    atomic_fetch_add(&cc->refs, 1);
    if (finish(cc, svc_msg_new_status(code, message)) && ch->ops->call_cancel)
        ch->ops->call_cancel(ch, cc);
    ccall_unref(cc);
}

static void deadline_fired(void *arg)
{
    abort_call(arg, SVC_DEADLINE_EXCEEDED, "deadline exceeded");
}

static bool cancel_attach(svc_cancel *t, svc_ccall *cc)
{
    pthread_mutex_lock(&t->mu);
    bool fired = t->fired;
    atomic_fetch_add(&t->refs, 1);
    cc->cancel = t;
    if (!fired)
        SVC_DLIST_PUSH(t->head, cc, cancel_prev, cancel_next);
    pthread_mutex_unlock(&t->mu);
    return !fired;
}

static svc_call_stats *client_stats(svc_client *c, const char *method)
{
    size_t len = strlen(method);
    pthread_rwlock_rdlock(&c->stats_lock);
    svc_call_stats *st = svc_strmap_get(&c->stats, method, len);
    pthread_rwlock_unlock(&c->stats_lock);
    if (st)
        return st;
    st = svc_metrics_call_stats(c->ctx->metrics, SVC_ROLE_CLIENT, c->ops->name, method);
    pthread_rwlock_wrlock(&c->stats_lock);
    if (st)
        svc_strmap_put(&c->stats, method, st); /* a racing insert wins; same series */
    pthread_rwlock_unlock(&c->stats_lock);
    return st;
}

/* Carries the parent's trace (a fresh span id, the same trace id) and its
 * tracestate onto the outgoing request. */
static svc_code propagate_trace(svc_msg *req, const svc_call *parent)
{
    if (!parent || !parent->trace.valid)
        return SVC_OK;
    svc_trace_ctx child;
    char tp[SVC_TRACEPARENT_LEN + 1];
    svc_trace_child(&parent->trace, &child);
    svc_trace_format(&child, tp);
    svc_code rc = svc_msg_md_set(req, "traceparent", tp);
    const char *state = svc_msg_md_get(parent->req, "tracestate", NULL);
    if (rc == SVC_OK && state && !svc_msg_md_get(req, "tracestate", NULL))
        rc = svc_md_append(&req->md, "tracestate", 10, state, strlen(state));
    return rc;
}

static svc_time call_deadline(const svc_call_opts *o, const svc_call *parent)
{
    svc_time d = 0;
    if (o && o->timeout_ms > 0 && o->timeout_ms <= INT64_MAX / SVC_NSEC_PER_MSEC)
        d = svc_deadline_after(o->timeout_ms * SVC_NSEC_PER_MSEC); /* else: too far to matter */
    if (o)
        d = svc_deadline_min(d, o->deadline);
    if (parent)
        d = svc_deadline_min(d, parent->deadline);
    return d;
}

static void flow_consumed(void *owner, size_t bytes)
{
    svc_ccall *cc = owner;
    if (cc->chan->ops->stream_consumed)
        cc->chan->ops->stream_consumed(cc->chan, cc, bytes);
}

/* A stream's end is its flow's end; nothing waits on a callback. */
static void stream_ended(svc_code code, svc_msg *resp, void *ud)
{
    (void)code;
    svc_ccall *cc = ud;
    svc_flow_end(cc->flow, resp);
}

/* The request headers a call sends: the request's metadata, then the
 * options' metadata, then the trace context. */
static svc_code prepare_request(svc_msg *req, const svc_call_opts *o, const svc_call *parent)
{
    svc_code rc = SVC_OK;
    if (o && o->metadata) {
        rc = svc_md_copy(&req->md, &o->metadata->md);
        /* A stream's encoding comes with its headers. */
        if (rc == SVC_OK && !req->content_type && o->metadata->content_type)
            rc = svc_msg_set_content_type(req, o->metadata->content_type);
    }
    return rc ? rc : propagate_trace(req, parent);
}

/* Starts a call; takes `req`. On SVC_OK `fn` runs exactly once. A stream
 * (stream_out not NULL) gets a flow, ends through it instead of `fn`, and
 * *stream_out gets a reference of its own. */
static svc_code start_call(svc_client *c, const char *method, svc_msg *req,
                           const svc_call_opts *o, svc_dispatch dispatch, svc_reply_fn fn,
                           void *ud, svc_ccall **stream_out)
{
    if (!c || !method || !*method || (!fn && !stream_out)) {
        svc_msg_free(req);
        return svc_fail(SVC_INVALID_ARGUMENT, "call needs a client, a method and a callback");
    }
    if (stream_out && !c->ops->stream_start) {
        svc_msg_free(req);
        return svc_fail(SVC_UNIMPLEMENTED, "the %s transport has no streams (method '%s')",
                        c->ops->name, method);
    }
    if (!req && svc_msg_new(&req) != SVC_OK)
        return svc_fail_oom();
    const svc_call *parent = o && o->parent ? o->parent : svc_call_current();
    svc_ccall *cc = malloc(sizeof *cc); /* not calloc: msg.c says why */
    if (cc)
        *cc = (svc_ccall){0};
    if (!cc || !(cc->method = strdup(method)) || prepare_request(req, o, parent) != SVC_OK ||
        (stream_out && !(cc->flow = malloc(sizeof *cc->flow))) ||
        (o && o->hash_key && !(cc->hash_key = strdup(o->hash_key)))) {
        if (cc) {
            free(cc->method);
            free(cc->flow);
        }
        free(cc);
        svc_msg_free(req);
        return svc_fail_oom();
    }
    atomic_init(&cc->refs, stream_out ? 3 : 2); /* core's, the transport's, the stream's */
    cc->client = c;
    cc->chan = c->chan;
    cc->req = req;
    cc->fn = stream_out ? stream_ended : fn;
    cc->ud = stream_out ? cc : ud;
    cc->dispatch = stream_out ? SVC_DISPATCH_INLINE : dispatch;
    cc->start = svc_now();
    cc->deadline = call_deadline(o, parent);
    cc->stats = client_stats(c, method);
    if (stream_out)
        svc_flow_init(cc->flow, flow_consumed, cc);
    /* The timer exists before anyone else can end the call (a cancellation
     * token, svc_client_free), so that finish() always finds it to disarm. */
    svc_code rc = SVC_OK;
    if (cc->deadline)
        rc = svc_timer_new(svc_ctx_loop(c->ctx), deadline_fired, cc, &cc->timer);

    pthread_mutex_lock(&c->mu);
    bool closing = c->closing;
    if (!closing && rc == SVC_OK) {
        c->live++;
        SVC_DLIST_PUSH(c->inflight, cc, prev, next);
    }
    pthread_mutex_unlock(&c->mu);
    if (closing || rc != SVC_OK) {
        svc_timer_free(cc->timer);
        if (cc->flow) {
            svc_flow_destroy(cc->flow);
            free(cc->flow);
        }
        free(cc->method);
        free(cc->hash_key);
        free(cc);
        svc_msg_free(req);
        return rc ? rc : svc_fail(SVC_FAILED_PRECONDITION, "client is being freed");
    }
    if (stream_out)
        *stream_out = cc;

    /* From here the call always ends through finish(). Ending it before the
     * transport saw it means dropping the transport's reference too. */
    if (o && o->cancel && !cancel_attach(o->cancel, cc)) {
        svc_ccall_fail(cc, SVC_CANCELLED, "cancelled");
        ccall_unref(cc);
        return SVC_OK;
    }
    if (cc->deadline) {
        if (cc->deadline <= svc_now()) {
            svc_ccall_fail(cc, SVC_DEADLINE_EXCEEDED, "deadline exceeded before the call started");
            ccall_unref(cc);
            return SVC_OK;
        }
        svc_timer_arm(cc->timer, cc->deadline);
        /* Ended meanwhile (token fired, client freed): finish() may have
         * disarmed the timer before it was armed. */
        if (svc_ccall_done(cc))
            svc_timer_disarm(cc->timer);
    }
    if (stream_out)
        c->chan->ops->stream_start(c->chan, cc);
    else
        c->chan->ops->call_start(c->chan, cc);
    return SVC_OK;
}

svc_code svc_client_open_stream(svc_client *c, const char *method, const svc_call_opts *o,
                                svc_ccall **out)
{
    return start_call(c, method, NULL, o, SVC_DISPATCH_INLINE, NULL, NULL, out);
}

void svc_ccall_abort(svc_ccall *cc, svc_code code, const char *message)
{
    abort_call(cc, code, message);
}

svc_code svc_client_call_async(svc_client *c, const char *method, svc_msg *req,
                               const svc_call_opts *o, svc_reply_fn fn, void *ud)
{
    return start_call(c, method, req, o, o ? o->dispatch : SVC_DISPATCH_POOL, fn, ud, NULL);
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool done;
    svc_code code;
    svc_msg *resp;
} waiter;

static void waiter_done(svc_code code, svc_msg *resp, void *ud)
{
    waiter *w = ud;
    pthread_mutex_lock(&w->mu);
    w->code = code;
    w->resp = resp;
    atomic_store_explicit(&w->done, true, memory_order_release);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Waits for the answer. Spinning a little first means a quick answer from
 * another CPU does not pay for waking this thread from sleep; slow clients
 * do not spin at all, so they waste nothing.
 *
 * A handler on the worker pool that calls a service served by the same
 * pool (orders calling inventory in one process) waits for a job queued
 * behind it: with as many such calls as workers, every worker would wait
 * and nothing would run the inner handlers. So the sleep is a blocking
 * section of the pool, which keeps as many threads able to run jobs as it
 * has workers by starting spares (executor.h). Spares rather than running
 * queued jobs on this thread while it waits: a job run here could be any
 * handler, which would then run under whatever locks this handler holds
 * and on top of its stack, and this call would return only once that job
 * finished, however long it takes. */
static void waiter_wait(waiter *w, const svc_client *c)
{
    int64_t typical_ns = atomic_load_explicit(&c->latency_ewma_ns, memory_order_relaxed);
    int64_t spin = c->ops->wait_without_spin || typical_ns > SPIN_IF_UNDER_NS ? 0
                   : typical_ns * 2 < SPIN_MAX_NS                            ? typical_ns * 2
                                                                             : SPIN_MAX_NS;
    svc_time until = svc_now() + spin;
    while (!atomic_load_explicit(&w->done, memory_order_acquire) && svc_now() < until)
        cpu_relax();
    svc_executor *pool =
        atomic_load_explicit(&w->done, memory_order_acquire) ? NULL : svc_executor_block_begin();
    pthread_mutex_lock(&w->mu); /* also: the answerer has let go of w */
    while (!atomic_load_explicit(&w->done, memory_order_acquire))
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    svc_executor_block_end(pool);
}

svc_code svc_client_call(svc_client *c, const char *method, const svc_msg *req,
                         svc_msg **resp, const svc_call_opts *o)
{
    if (resp)
        *resp = NULL;
    if (svc_loop_current())
        return svc_fail(SVC_FAILED_PRECONDITION,
                        "blocking call from an I/O thread would deadlock; use svc_client_call_async");
    svc_msg *copy = NULL;
    if (req && svc_msg_clone(req, &copy) != SVC_OK)
        return svc_fail_oom();
    waiter w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    svc_code rc = start_call(c, method, copy, o, SVC_DISPATCH_INLINE, waiter_done, &w, NULL);
    if (rc == SVC_OK) {
        waiter_wait(&w, c);
        rc = w.code;
        if (rc != SVC_OK)
            svc_fail(rc, "%s", w.resp ? svc_msg_status_message(w.resp) : "out of memory");
        if (resp)
            *resp = w.resp;
        else
            svc_msg_free(w.resp);
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

/* ---- cancellation tokens ---- */

svc_code svc_cancel_new(svc_cancel **out)
{
    svc_cancel *t = calloc(1, sizeof *t);
    if (!t)
        return svc_fail_oom();
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->refs, 1);
    *out = t;
    return SVC_OK;
}

void svc_cancel_fire(svc_cancel *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->fired = true;
    svc_ccall *list = t->head;
    t->head = NULL;
    /* Hold each call while we end it outside the lock: finish() takes it. */
    for (svc_ccall *cc = list; cc; cc = cc->cancel_next)
        atomic_fetch_add(&cc->refs, 1);
    pthread_mutex_unlock(&t->mu);
    for (svc_ccall *cc = list, *next; cc; cc = next) {
        next = cc->cancel_next;
        cc->cancel_prev = cc->cancel_next = NULL;
        abort_call(cc, SVC_CANCELLED, "cancelled");
        ccall_unref(cc);
    }
}

void svc_cancel_free(svc_cancel *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
        pthread_mutex_destroy(&t->mu);
        free(t);
    }
}

/* ---- shutdown ---- */

svc_conn_state svc_client_state(const svc_client *c)
{
    if (!c)
        return SVC_CONN_SHUTDOWN;
    return c->ops->channel_state ? c->ops->channel_state(c->chan) : SVC_CONN_READY;
}

const char *svc_conn_state_name(svc_conn_state s)
{
    static const char *const names[SVC_CONN_STATES] = {"idle", "connecting", "ready",
                                                       "transient_failure", "shutdown"};
    return (unsigned)s < SVC_CONN_STATES ? names[s] : "unknown";
}

void svc_client_free(svc_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    /* Ending a call unlinks it, so taking the head each time terminates. */
    svc_ccall *cc;
    while ((cc = c->inflight) != NULL) {
        atomic_fetch_add(&cc->refs, 1);
        pthread_mutex_unlock(&c->mu);
        abort_call(cc, SVC_CANCELLED, "client freed");
        ccall_unref(cc);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    svc_client_free_subs(c);
    pthread_mutex_lock(&c->mu);
    while (c->live > 0)
        pthread_cond_wait(&c->idle_cv, &c->mu);
    pthread_mutex_unlock(&c->mu);

    c->ops->channel_free(c->chan);
    svc_strmap_clear(&c->stats);
    pthread_rwlock_destroy(&c->stats_lock);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->idle_cv);
    free(c->target);
    free(c);
}
