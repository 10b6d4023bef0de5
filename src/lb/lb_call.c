/*
 * A balanced unary call: attempts on picked endpoints, retries with backoff
 * inside the call's deadline, hedging, and circuit breaking.
 *
 * Core owns the call (deadline, cancellation, the one answer); each attempt
 * is an ordinary call on an endpoint's client, with the call's deadline
 * (or the per-try timeout) and a cancellation token of its own so that
 * ending the call, or a winning hedge, stops the others.
 *
 * Lifetime: an lb_call is referenced by the call itself (until it is
 * answered), by every attempt in flight, and by its timer while armed; the
 * last reference releases core's svc_ccall, so nothing here touches the
 * balancer after that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ctx.h"
#include "core/error.h"
#include "core/msg.h"
#include "lb/backoff.h"
#include "lb/balancer.h"
#include "lb/hash.h"

#define MAX_ATTEMPTS 5
/* Failures no server saw are retried (elsewhere) this often by default,
 * whatever the policy says: what gRPC calls transparent retries. */
#define TRANSPARENT_ATTEMPTS 3

typedef struct lb_call lb_call;

typedef struct attempt {
    lb_call *call;
    svc_endpoint *ep;
    svc_cancel *cancel;
    svc_time start;
    bool running;
    bool warm; /* the endpoint was connected: its latency is the server's */
} attempt;

struct lb_call {
    svc_balancer *b;
    svc_ccall *cc;
    atomic_int refs;
    pthread_mutex_t mu;
    svc_retry_policy policy;
    svc_lb_pick pick;
    int started;         /* attempts so far */
    int running;         /* attempts in flight */
    bool answered;       /* the call has its answer (ours or core's) */
    bool timer_pending;  /* the timer is armed and holds a reference */
    bool hedging;
    svc_timer *timer;    /* backoff before a retry, or the next hedge */
    svc_endpoint *last;  /* where the last attempt went */
    svc_msg *last_failure;
    attempt att[MAX_ATTEMPTS];
};

static void call_unref(lb_call *lc)
{
    if (atomic_fetch_sub_explicit(&lc->refs, 1, memory_order_acq_rel) != 1)
        return;
    svc_timer_free(lc->timer);
    for (int i = 0; i < lc->started; i++)
        svc_cancel_free(lc->att[i].cancel);
    svc_msg_free(lc->last_failure);
    atomic_fetch_sub_explicit(&lc->b->inflight, 1, memory_order_relaxed);
    pthread_mutex_destroy(&lc->mu);
    svc_ccall *cc = lc->cc;
    free(lc);
    svc_ccall_release(cc); /* last: the client (and balancer) may go now */
}

/* Gives the call its answer (once) and stops attempts still running (the
 * losers of a hedge). Called without lc->mu. */
static void answer(lb_call *lc, svc_msg *resp)
{
    svc_cancel *stop[MAX_ATTEMPTS];
    int n = 0;
    pthread_mutex_lock(&lc->mu);
    bool first = !lc->answered;
    lc->answered = true;
    for (int i = 0; first && i < lc->started; i++)
        if (lc->att[i].running)
            stop[n++] = lc->att[i].cancel;
    pthread_mutex_unlock(&lc->mu);
    if (!first) {
        svc_msg_free(resp);
        return;
    }
    svc_ccall_complete(lc->cc, resp);
    for (int i = 0; i < n; i++)
        svc_cancel_fire(stop[i]);
    call_unref(lc); /* the call's own reference */
}

static void fail_call(lb_call *lc, svc_code code, const char *message)
{
    answer(lc, svc_msg_new_unprocessed(code, message));
}

static void attempt_done(svc_code code, svc_msg *resp, void *ud);

/* Arms the timer (made on first use) for `at`; the armed timer holds a
 * reference. Called with lc->mu held. */
static bool arm_timer(lb_call *lc, svc_time at);

/* Starts one attempt on a freshly picked endpoint. False (and no attempt)
 * when there is nothing to pick or a breaker is open; *why says which. */
static bool launch(lb_call *lc, svc_code *why, char *msg, size_t msg_len)
{
    svc_balancer *b = lc->b;
    svc_endpoint *e = svc_balancer_pick(b, &lc->pick, lc->last);
    int limit = b->opts.breaker.max_inflight_per_endpoint;
    if (e && limit > 0 && svc_endpoint_inflight(e) >= limit) {
        svc_endpoint *other = svc_balancer_pick(b, &lc->pick, e);
        if (other && svc_endpoint_inflight(other) < limit) {
            svc_balancer_unref_later(b, e);
            e = other;
        } else {
            svc_counter_add(e->breaker_trips, 1);
            snprintf(msg, msg_len, "circuit breaker open: %s has %d calls in flight (limit %d)",
                     e->url, svc_endpoint_inflight(e), limit);
            if (other)
                svc_balancer_unref_later(b, other);
            svc_balancer_unref_later(b, e);
            *why = SVC_RESOURCE_EXHAUSTED;
            return false;
        }
    }
    if (!e) {
        svc_balancer_describe_none(b, msg, msg_len);
        *why = SVC_UNAVAILABLE;
        return false;
    }
    svc_msg *req = NULL;
    svc_cancel *token = NULL;
    if (svc_msg_clone(lc->cc->req, &req) != SVC_OK || svc_cancel_new(&token) != SVC_OK) {
        svc_msg_free(req);
        svc_balancer_unref_later(b, e);
        snprintf(msg, msg_len, "out of memory");
        *why = SVC_RESOURCE_EXHAUSTED;
        return false;
    }
    svc_time now = svc_now();
    pthread_mutex_lock(&lc->mu);
    if (lc->started == MAX_ATTEMPTS) { /* a hedge and a retry raced for the last one */
        pthread_mutex_unlock(&lc->mu);
        svc_msg_free(req);
        svc_cancel_free(token);
        svc_balancer_unref_later(b, e);
        snprintf(msg, msg_len, "no attempts left");
        *why = SVC_UNAVAILABLE;
        return false;
    }
    attempt *a = &lc->att[lc->started];
    *a = (attempt){.call = lc, .ep = e, .cancel = token, .start = now, .running = true,
                   .warm = svc_client_state(e->client) == SVC_CONN_READY};
    if (lc->started++ > 0)
        svc_counter_add(e->retries, 1);
    lc->running++;
    lc->last = e;
    atomic_fetch_add_explicit(&lc->refs, 1, memory_order_relaxed);
    bool stopped = lc->answered || svc_ccall_done(lc->cc);
    pthread_mutex_unlock(&lc->mu);
    svc_counter_add(e->picks, 1);
    atomic_fetch_add_explicit(&e->inflight, 1, memory_order_relaxed);

    svc_time deadline = lc->cc->deadline;
    if (lc->policy.per_try_timeout_ms > 0)
        deadline = svc_deadline_min(
            deadline, svc_deadline_after(lc->policy.per_try_timeout_ms * SVC_NSEC_PER_MSEC));
    svc_call_opts o = {.deadline = deadline, .cancel = token, .dispatch = SVC_DISPATCH_INLINE};
    if (stopped)
        svc_cancel_fire(token);
    if (svc_client_call_async(e->client, lc->cc->method, req, &o, attempt_done, a) != SVC_OK) {
        /* The endpoint's client is closing: as if the server refused. */
        char why_msg[300];
        snprintf(why_msg, sizeof why_msg, "%s: %s", e->url, svc_last_error());
        attempt_done(SVC_UNAVAILABLE, svc_msg_new_unprocessed(SVC_UNAVAILABLE, why_msg), a);
    }
    return true;
}

/* Starts the next attempt, or answers with `failure` (taken; NULL = make
 * one from the pick's failure) when none can start. */
static void launch_or_answer(lb_call *lc, svc_msg *failure)
{
    char msg[400];
    svc_code why;
    if (launch(lc, &why, msg, sizeof msg)) {
        svc_msg_free(failure);
        return;
    }
    if (failure)
        answer(lc, failure);
    else
        fail_call(lc, why, msg);
}

static void timer_fired(void *arg)
{
    lb_call *lc = arg;
    pthread_mutex_lock(&lc->mu);
    bool mine = lc->timer_pending;
    lc->timer_pending = false;
    bool go = mine && !lc->answered && lc->started < lc->policy.max_attempts;
    bool hedge = lc->hedging;
    svc_msg *failure = go && !hedge ? lc->last_failure : NULL;
    if (failure)
        lc->last_failure = NULL;
    /* The next hedge, unless this was the last one. */
    if (go && hedge && lc->started + 1 < lc->policy.max_attempts)
        arm_timer(lc, svc_now() + lc->policy.hedging_delay_ms * SVC_NSEC_PER_MSEC);
    pthread_mutex_unlock(&lc->mu);
    if (!mine)
        return;
    if (go && (!hedge || svc_retry_tokens_allow(&lc->b->tokens))) {
        if (hedge) {
            char msg[400];
            svc_code why;
            launch(lc, &why, msg, sizeof msg); /* nothing to pick: the running ones go on */
        } else {
            launch_or_answer(lc, failure);
        }
    } else {
        svc_msg_free(failure);
    }
    call_unref(lc); /* the timer's reference */
}

static bool arm_timer(lb_call *lc, svc_time at)
{
    if (!lc->timer && svc_timer_new(svc_ctx_loop(lc->b->ctx), timer_fired, lc, &lc->timer))
        return false;
    if (!lc->timer_pending)
        atomic_fetch_add_explicit(&lc->refs, 1, memory_order_relaxed);
    lc->timer_pending = true;
    svc_timer_arm(lc->timer, at);
    return true;
}

static bool retryable(const lb_call *lc, svc_code code, const svc_msg *resp)
{
    if (resp->unprocessed)
        return code == SVC_UNAVAILABLE &&
               lc->started < (lc->policy.max_attempts > TRANSPARENT_ATTEMPTS
                                  ? lc->policy.max_attempts
                                  : TRANSPARENT_ATTEMPTS);
    return lc->policy.idempotent && (lc->policy.retryable_codes & (1u << code)) &&
           lc->started < lc->policy.max_attempts;
}

static void attempt_done(svc_code code, svc_msg *resp, void *ud)
{
    attempt *a = ud;
    lb_call *lc = a->call;
    svc_balancer *b = lc->b;
    svc_time now = svc_now();
    atomic_fetch_sub_explicit(&a->ep->inflight, 1, memory_order_relaxed);
    pthread_mutex_lock(&lc->mu);
    a->running = false;
    lc->running--;
    bool answered = lc->answered;
    pthread_mutex_unlock(&lc->mu);
    /* An attempt we stopped says nothing about its endpoint. */
    if (!(answered && code == SVC_CANCELLED))
        svc_balancer_outcome(b, a->ep, code, resp && resp->unprocessed,
                             a->warm ? now - a->start : -1);
    svc_balancer_unref_later(b, a->ep);

    if (answered || !resp || code == SVC_OK || !retryable(lc, code, resp) ||
        (!resp->unprocessed && !svc_retry_tokens_allow(&b->tokens))) {
        answer(lc, resp); /* a hedge that failed for good ends the call too */
        call_unref(lc);   /* the attempt's */
        return;
    }
    pthread_mutex_lock(&lc->mu);
    if (lc->hedging) {
        /* A hedge that failed in a retryable way: the next one at once;
         * with none left, the last one to fail answers. */
        bool next = lc->started < lc->policy.max_attempts;
        bool last = !next && lc->running == 0;
        pthread_mutex_unlock(&lc->mu);
        if (next)
            launch_or_answer(lc, resp);
        else if (last)
            answer(lc, resp);
        else
            svc_msg_free(resp);
        call_unref(lc);
        return;
    }
    /* A retry: at once when no server saw the request (another endpoint
     * is the fix), else after a backoff that must end before the deadline. */
    uint64_t rng = svc_lb_rand();
    int64_t wait_ms = resp->unprocessed ? 0 : svc_backoff_ms(&lc->policy, lc->started, &rng);
    svc_time at = now + wait_ms * SVC_NSEC_PER_MSEC;
    bool in_time = !lc->cc->deadline || at < lc->cc->deadline;
    bool later = in_time && wait_ms > 0;
    if (later) {
        svc_msg_free(lc->last_failure);
        lc->last_failure = resp;
        later = arm_timer(lc, at);
        if (!later)
            lc->last_failure = NULL;
    }
    pthread_mutex_unlock(&lc->mu);
    if (!in_time)
        answer(lc, resp);
    else if (!later)
        launch_or_answer(lc, resp);
    call_unref(lc);
}

void svc_lb_call_start(svc_channel *ch, svc_ccall *cc)
{
    svc_balancer *b = (svc_balancer *)ch;
    int inflight = atomic_fetch_add_explicit(&b->inflight, 1, memory_order_relaxed) + 1;
    lb_call *lc = calloc(1, sizeof *lc);
    if (!lc) {
        atomic_fetch_sub_explicit(&b->inflight, 1, memory_order_relaxed);
        svc_ccall_fail(cc, SVC_RESOURCE_EXHAUSTED, "out of memory");
        svc_ccall_release(cc);
        return;
    }
    lc->b = b;
    lc->cc = cc;
    atomic_init(&lc->refs, 1);
    pthread_mutex_init(&lc->mu, NULL);
    svc_balancer_retry_policy(b, cc->method, &lc->policy);
    if (lc->policy.max_attempts < 1)
        lc->policy.max_attempts = 1;
    lc->hedging = lc->policy.idempotent && lc->policy.hedging_delay_ms > 0 &&
                  lc->policy.max_attempts > 1;
    lc->pick.method = cc->method;
    if (cc->hash_key) {
        lc->pick.hash = svc_lb_hash(cc->hash_key, strlen(cc->hash_key), 0);
        lc->pick.has_hash = true;
    }
    /* Core may have answered already (a deadline in the past, a fired
     * token) and looked for us in vain: see call_cancel. */
    __atomic_store_n(&cc->tdata, lc, __ATOMIC_SEQ_CST);
    if (svc_ccall_done(cc)) {
        answer(lc, NULL);
        return;
    }

    int limit = b->opts.breaker.max_inflight;
    if (limit > 0 && inflight > limit) {
        char msg[200];
        snprintf(msg, sizeof msg, "circuit breaker open: %d calls in flight to service '%s' "
                                  "(limit %d)", inflight - 1, b->service, limit);
        fail_call(lc, SVC_RESOURCE_EXHAUSTED, msg);
        return;
    }
    if (lc->hedging) {
        pthread_mutex_lock(&lc->mu);
        arm_timer(lc, svc_now() + lc->policy.hedging_delay_ms * SVC_NSEC_PER_MSEC);
        pthread_mutex_unlock(&lc->mu);
    }
    launch_or_answer(lc, NULL);
}

/* Core answered the call (deadline, cancellation, client freed): stop the
 * attempts and the timer. */
void svc_lb_call_cancel(svc_channel *ch, svc_ccall *cc)
{
    (void)ch;
    lb_call *lc = __atomic_load_n(&cc->tdata, __ATOMIC_SEQ_CST);
    if (!lc)
        return; /* not started yet: call_start sees the call is done */
    atomic_fetch_add_explicit(&lc->refs, 1, memory_order_relaxed);
    pthread_mutex_lock(&lc->mu);
    bool timer_ref = lc->timer_pending;
    lc->timer_pending = false;
    pthread_mutex_unlock(&lc->mu);
    if (timer_ref) {
        svc_timer_disarm(lc->timer);
        call_unref(lc);
    }
    answer(lc, NULL); /* ignored by core, which has answered */
    call_unref(lc);
}
