/*
 * The slots of the asynchronous JetStream window and their states
 * (nats_js_window.h draws them): taking one, verdicts, retries after a
 * backoff, the timer that ends attempts which waited too long and starts
 * retries that are due, and the close that answers what is left.
 */
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/error.h"
#include "nats_js_window.h"

#define ATTEMPT_WAIT_MS 5000
#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 1000
/* The timer fires at most this often (a timeout may be that late). */
#define SWEEP_GAP_MS 10
/* Verdicts and retries the timer or the close handle per lock. */
#define BATCH 64
/* A publisher waiting for room is woken once this many slots are free,
 * not at each one: acks come in bursts, and a wake-up per slot cost a
 * futex round trip per publish once the window was full. */
#define ROOM_BATCH 64
/* It also looks again this often, in case fewer ever come free (the
 * others held by long retries). */
#define ROOM_RECHECK_MS 5
/* A slot keeps its buffer for the next publish up to this size: at most
 * 2 MiB for a full window, no allocation per small publish. */
#define KEEP_MAX 512

/* ---- under the lock ---- */

static void arm_if_earlier(nats_js_window *w, svc_time due)
{
    /* Re-arming from another thread wakes the loop: only when needed. */
    if (w->closing || (w->armed_at && w->armed_at <= due))
        return;
    w->armed_at = due;
    svc_timer_arm(w->timer, due);
}

/* The attempt starting now, held by its sender and by its verdict. */
static void start_attempt(nats_js_window *w, nats_js_slot *sl, svc_time now)
{
    int64_t left = sl->deadline - now, wait = ATTEMPT_WAIT_MS * SVC_NSEC_PER_MSEC;
    sl->state = NATS_JS_SENT;
    sl->decided = false;
    sl->attempts++;
    sl->due = now + (left < wait ? (left > 0 ? left : 0) : wait);
    atomic_store_explicit(&sl->holders, 2, memory_order_relaxed);
    arm_if_earlier(w, sl->due);
}

static void release_slot(nats_js_window *w, nats_js_slot *sl)
{
    sl->state = NATS_JS_FREE;
    sl->pc = NULL;
    sl->nm = NULL;
    sl->detail = NULL;
    w->free[w->n_free++] = (uint16_t)(sl - w->slots);
    if (w->waiting && w->n_free >= ROOM_BATCH)
        pthread_cond_signal(&w->room);
}

static void take_out(nats_js_window *w, nats_js_slot *sl, nats_js_done *d)
{
    *d = (nats_js_done){
        .pc = sl->pc,
        .nm = sl->nm,
        .detail = sl->detail,
        .status = sl->status,
        .err_code = sl->err_code,
        .code = sl->code,
        .attempts = sl->attempts,
        .closed = w->closing && sl->status != NATS_OK,
    };
    /* The buffer stays with the slot: a failure's message needs a copy. */
    if (!sl->nm && sl->status != NATS_OK && !d->closed)
        d->topic = strdup(sl->buf);
    if (sl->cap > KEEP_MAX) {
        d->spare = sl->buf;
        sl->buf = NULL;
        sl->cap = 0;
    }
    release_slot(w, sl);
}

static bool retryable(natsStatus s)
{
    return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_IO_ERROR ||
           s == NATS_CONNECTION_DISCONNECTED || s == NATS_NOT_YET_CONNECTED ||
           s == NATS_INSUFFICIENT_BUFFER;
}

/* Acts on the verdict of an attempt nobody holds any more: the end of the
 * publish (true: *d is to be run) or a retry after a backoff. */
static bool finalize(nats_js_window *w, nats_js_slot *sl, nats_js_done *d)
{
    svc_time now = sl->status == NATS_OK ? 0 : svc_now();
    if (sl->status != NATS_OK && retryable(sl->status) && !w->closing && now < sl->deadline) {
        int64_t ms = (int64_t)RETRY_MIN_MS << (sl->attempts < 5 ? sl->attempts : 5);
        sl->state = NATS_JS_BACKOFF;
        sl->due = now + (ms < RETRY_MAX_MS ? ms : RETRY_MAX_MS) * SVC_NSEC_PER_MSEC;
        arm_if_earlier(w, sl->due);
        return false;
    }
    take_out(w, sl, d);
    return true;
}

bool svc_nats_js_decide(nats_js_window *w, nats_js_slot *sl, natsStatus status, int err_code,
                        int code, char *detail, nats_js_done *d)
{
    if (sl->decided) {
        free(detail);
        return false;
    }
    sl->decided = true;
    sl->status = status;
    sl->err_code = err_code;
    sl->code = code;
    free(sl->detail);
    sl->detail = detail;
    if (atomic_fetch_sub_explicit(&sl->holders, 1, memory_order_acq_rel) != 1)
        return false; /* its sender acts on it */
    return finalize(w, sl, d);
}

/* Waits until a slot is free; the caller formats the failure. */
static svc_code wait_room(nats_js_window *w, svc_time deadline)
{
    while (!w->n_free && !w->closing) {
        int64_t left = deadline - svc_now();
        if (left <= 0)
            return SVC_DEADLINE_EXCEEDED;
        /* Rounded up: never give up early. */
        int64_t ms = (left + SVC_NSEC_PER_MSEC - 1) / SVC_NSEC_PER_MSEC;
        struct timespec until;
        svc_nats_abstime(ms < ROOM_RECHECK_MS ? ms : ROOM_RECHECK_MS, &until);
        w->waiting++;
        pthread_cond_timedwait(&w->room, &w->mu, &until);
        w->waiting--;
    }
    return w->closing ? SVC_UNAVAILABLE : SVC_OK;
}

static uint32_t pop_free(nats_js_window *w)
{
    uint32_t idx = w->free[--w->n_free];
    w->slots[idx].gen++;
    w->slots[idx].state = NATS_JS_RESERVED;
    return idx;
}

/* ---- each takes the lock ---- */

static svc_code no_room(svc_code rc)
{
    if (rc == SVC_RESOURCE_EXHAUSTED)
        return svc_fail_oom();
    if (rc == SVC_UNAVAILABLE)
        return svc_fail(rc, "the client is being freed");
    return svc_fail(rc, "no room among %d unconfirmed JetStream publishes within the timeout",
                    SVC_NATS_JS_WINDOW);
}

svc_code svc_nats_js_reserve(nats_js_window *w, svc_time deadline, uint32_t *idx, uint32_t *gen)
{
    pthread_mutex_lock(&w->mu);
    svc_code rc = wait_room(w, deadline);
    if (rc == SVC_OK) {
        *idx = pop_free(w);
        *gen = w->slots[*idx].gen;
    }
    pthread_mutex_unlock(&w->mu);
    return rc ? no_room(rc) : SVC_OK;
}

void svc_nats_js_unreserve(nats_js_window *w, uint32_t idx)
{
    pthread_mutex_lock(&w->mu);
    release_slot(w, &w->slots[idx]);
    pthread_mutex_unlock(&w->mu);
}

/* Room for a plain message in the slot's buffer (rarely grown: it keeps
 * the largest up to KEEP_MAX). */
static bool fit(nats_js_slot *sl, size_t need)
{
    if (sl->cap >= need)
        return true;
    char *buf = malloc(need);
    if (!buf)
        return false;
    free(sl->buf);
    sl->buf = buf;
    sl->cap = need;
    return true;
}

svc_code svc_nats_js_begin(nats_js_window *w, const nats_js_start *st, uint32_t idx,
                           nats_js_slot **out)
{
    pthread_mutex_lock(&w->mu);
    svc_code rc = SVC_OK;
    if (idx == SVC_NATS_JS_ANY_SLOT) {
        rc = wait_room(w, st->deadline);
        if (rc == SVC_OK)
            idx = pop_free(w);
    } else if (w->closing) {
        release_slot(w, &w->slots[idx]);
        rc = SVC_UNAVAILABLE;
    }
    nats_js_slot *sl = rc ? NULL : &w->slots[idx];
    if (sl && !st->nm && !fit(sl, st->need)) {
        release_slot(w, sl);
        rc = SVC_RESOURCE_EXHAUSTED;
    } else if (sl) {
        sl->attempts = 0;
        sl->confirmed = false;
        sl->status = NATS_OK;
        sl->err_code = sl->code = 0;
        sl->pc = st->pc;
        sl->nm = st->nm;
        sl->deadline = st->deadline;
        start_attempt(w, sl, svc_now());
        /* Counted before anyone can answer it. */
        atomic_fetch_add_explicit(&w->ch->async_pending, 1, memory_order_relaxed);
        *out = sl;
    }
    pthread_mutex_unlock(&w->mu);
    return rc ? no_room(rc) : SVC_OK;
}

void svc_nats_js_let_go(nats_js_window *w, nats_js_slot *sl)
{
    if (atomic_fetch_sub_explicit(&sl->holders, 1, memory_order_acq_rel) != 1)
        return;
    nats_js_done d;
    pthread_mutex_lock(&w->mu);
    bool have = finalize(w, sl, &d);
    pthread_mutex_unlock(&w->mu);
    if (have)
        svc_nats_js_done_run(w->ch, &d);
}

void svc_nats_js_reply(nats_js_window *w, uint32_t idx, uint32_t gen, const nats_js_verdict *v)
{
    char *detail = v->detail ? strdup(v->detail) : NULL; /* errors only */
    nats_js_done d;
    bool have = false;
    pthread_mutex_lock(&w->mu);
    nats_js_slot *sl = &w->slots[idx];
    if (sl->gen == gen && sl->state == NATS_JS_SENT) {
        have = svc_nats_js_decide(w, sl, v->status, v->err_code, v->code, detail, &d);
        detail = NULL;
    } else if (sl->gen == gen && v->status == NATS_OK) {
        /* A PubAck of an earlier attempt: the publish is stored. */
        if (sl->state == NATS_JS_BACKOFF) {
            sl->status = NATS_OK;
            take_out(w, sl, &d);
            have = true;
        } else if (sl->state == NATS_JS_RESENDING) {
            sl->confirmed = true;
        }
    }
    pthread_mutex_unlock(&w->mu);
    free(detail);
    if (have)
        svc_nats_js_done_run(w->ch, &d);
}

/* ---- retries ---- */

typedef struct resend_job {
    nats_js_window *w;
    int n;
    uint16_t idx[BATCH];
} resend_job;

static void resend(nats_js_window *w, uint32_t idx)
{
    nats_js_slot *sl = &w->slots[idx];
    nats_js_done d;
    pthread_mutex_lock(&w->mu);
    bool end = w->closing || sl->confirmed;
    if (sl->confirmed)
        sl->status = NATS_OK;
    if (end)
        take_out(w, sl, &d);
    else
        start_attempt(w, sl, svc_now());
    pthread_mutex_unlock(&w->mu);
    if (end)
        svc_nats_js_done_run(w->ch, &d);
    else
        svc_nats_js_send(w, sl);
}

static void resend_all(void *arg)
{
    resend_job *job = arg;
    for (int i = 0; i < job->n; i++)
        resend(job->w, job->idx[i]);
    free(job);
}

/* Sending may wait on the connection: on the pool, not the timer's loop. */
static void post_resends(nats_js_window *w, const uint16_t *idx, int n)
{
    resend_job *job = malloc(sizeof *job);
    if (!job) {
        for (int i = 0; i < n; i++)
            resend(w, idx[i]);
        return;
    }
    job->w = w;
    job->n = n;
    memcpy(job->idx, idx, (size_t)n * sizeof *idx);
    if (svc_executor_post(w->ch->base.ctx->exec, resend_all, job) != SVC_OK)
        resend_all(job);
}

static bool waiting_on_time(const nats_js_slot *sl)
{
    return (sl->state == NATS_JS_SENT && !sl->decided) || sl->state == NATS_JS_BACKOFF;
}

void svc_nats_js_sweep(void *arg)
{
    nats_js_window *w = arg;
    nats_js_done done[BATCH];
    uint16_t retry[BATCH];
    int n_done = 0, n_retry = 0;
    pthread_mutex_lock(&w->mu);
    svc_time now = svc_now(), next = 0;
    bool cut = false;
    for (int i = 0; i < SVC_NATS_JS_WINDOW; i++) {
        if (n_done == BATCH || n_retry == BATCH) {
            cut = true; /* the rest on the next turn, at once */
            break;
        }
        nats_js_slot *sl = &w->slots[i];
        if (sl->state == NATS_JS_SENT && !sl->decided && now >= sl->due)
            n_done += svc_nats_js_decide(w, sl, NATS_TIMEOUT, 0, 0, NULL, &done[n_done]);
        if (sl->state == NATS_JS_BACKOFF && now >= sl->due) {
            if (now >= sl->deadline)
                take_out(w, sl, &done[n_done++]);
            else {
                sl->state = NATS_JS_RESENDING;
                retry[n_retry++] = (uint16_t)i;
            }
        }
        if (waiting_on_time(sl) && (!next || sl->due < next))
            next = sl->due;
    }
    w->armed_at = 0;
    if (cut)
        next = now;
    else if (next && next < now + SWEEP_GAP_MS * SVC_NSEC_PER_MSEC)
        next = now + SWEEP_GAP_MS * SVC_NSEC_PER_MSEC;
    if (next)
        arm_if_earlier(w, next);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < n_done; i++)
        svc_nats_js_done_run(w->ch, &done[i]);
    if (n_retry)
        post_resends(w, retry, n_retry);
}

void svc_nats_js_window_close(nats_js_window *w)
{
    nats_js_done done[BATCH];
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    pthread_cond_broadcast(&w->room);
    for (int i = 0; i < SVC_NATS_JS_WINDOW;) {
        int n = 0;
        for (; i < SVC_NATS_JS_WINDOW && n < BATCH; i++) {
            nats_js_slot *sl = &w->slots[i];
            if (sl->state == NATS_JS_SENT)
                n += svc_nats_js_decide(w, sl, NATS_CONNECTION_CLOSED, 0, 0, NULL, &done[n]);
            else if (sl->state == NATS_JS_BACKOFF)
                take_out(w, sl, &done[n++]);
        }
        pthread_mutex_unlock(&w->mu);
        for (int j = 0; j < n; j++)
            svc_nats_js_done_run(w->ch, &done[j]);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    /* No one arms it once closing is set; this waits for a sweep running. */
    svc_timer_free(w->timer);
    w->timer = NULL;
}

void svc_nats_js_window_free(nats_js_window *w)
{
    for (int i = 0; i < SVC_NATS_JS_WINDOW; i++)
        free(w->slots[i].buf);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->room);
    free(w);
}
