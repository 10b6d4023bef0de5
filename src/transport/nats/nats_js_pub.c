/*
 * Asynchronous JetStream publishes, on the wire as JetStream defines them:
 * each message goes out with a reply subject "<inbox>.<token>" on the
 * channel's events connection, one wildcard subscription "<inbox>.*" takes
 * the stream's replies (a PubAck, an API error, or the server's "no
 * responders" status when no stream captures the subject), and
 * nats_js_ack.c reads them. cnats' js_PublishMsgAsync did the same with a
 * natsMsg per publish, a string-keyed map and, for an ack handler, a JSON
 * tree per ack; here a plain message goes out as a plain PUB with its
 * reply subject (a natsMsg only when it has headers).
 *
 * The window: at most SVC_NATS_JS_WINDOW (4000) publishes without a
 * verdict; each holds a slot from acceptance to verdict, retries
 * included, and the token names the slot and its generation, so a reply
 * finds its publish without a lookup and a reply for a slot's earlier user
 * is ignored. A publisher beyond the window waits for room, at most until
 * its own timeout (backpressure).
 *
 * Each attempt waits 5 s at most; one failed for a passing reason
 * (timeout, no responders while the server restarts, disconnection) is
 * sent again after a short backoff, with the same Nats-Msg-Id so the
 * stream drops a duplicate, until the publish's own timeout
 * (svc_pub_opts.timeout_ms, 10 s by default) runs out. All attempts of a
 * publish share its token: a late PubAck of an earlier attempt confirms
 * it too. One timer per channel (nats_js_window.c) ends attempts that
 * timed out and starts retries that are due.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/error.h"
#include "core/msg.h"
#include "nats_js_window.h"

#define DEFAULT_TIMEOUT_MS 10000

void svc_nats_async_done(nats_channel *ch, svc_pub_confirm *pc, svc_code code, const char *msg)
{
    svc_publish_done(pc, code, msg);
    /* Waiters check the count under async_mu: taking it before the wake-up
     * means none is between its check and its wait. */
    if (atomic_fetch_sub_explicit(&ch->async_pending, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_lock(&ch->async_mu);
        pthread_cond_broadcast(&ch->async_cv);
        pthread_mutex_unlock(&ch->async_mu);
    }
}

/* ---- verdicts ---- */

static svc_code verdict_fail(const nats_js_done *d, const char *topic)
{
    switch ((int)d->status) {
    case NATS_TIMEOUT:
        return svc_fail(SVC_DEADLINE_EXCEEDED,
                        "JetStream publish on '%.200s' not confirmed within its timeout "
                        "(attempts: %d)",
                        topic, d->attempts);
    case NATS_NO_RESPONDERS:
        return svc_fail(SVC_NOT_FOUND, "no stream captures '%.200s' (or JetStream is unavailable)",
                        topic);
    case NATS_ERR: {
        svc_code code = d->err_code      ? svc_nats_js_code(d->err_code)
                        : d->code == 503 ? SVC_UNAVAILABLE
                                         : SVC_FAILED_PRECONDITION;
        return svc_fail(code, "JetStream publish on '%.200s': %s (JetStream error %d, code %d)",
                        topic, d->detail ? d->detail : "", d->err_code, d->code);
    }
    case NATS_PROTOCOL_ERROR:
        return svc_fail(SVC_INTERNAL, "JetStream publish on '%.200s': malformed acknowledgement",
                        topic);
    default: {
        char what[300];
        snprintf(what, sizeof what, "JetStream publish on '%.200s'", topic);
        return svc_nats_fail(d->status, what);
    }
    }
}

void svc_nats_js_done_run(nats_channel *ch, nats_js_done *d)
{
    svc_code code = SVC_OK;
    const char *msg = NULL;
    if (d->closed) {
        code = svc_fail(SVC_UNAVAILABLE, "client freed before the publish was confirmed");
        msg = svc_last_error();
    } else if (d->status != NATS_OK) {
        code = verdict_fail(d, d->nm ? natsMsg_GetSubject(d->nm) : d->topic ? d->topic : "?");
        msg = svc_last_error();
    }
    free(d->detail);
    free(d->topic);
    free(d->spare);
    natsMsg_Destroy(d->nm);
    svc_nats_async_done(ch, d->pc, code, msg); /* the last touch: close may be waiting */
}

/* ---- sending ---- */

static void reply_subject(const nats_js_window *w, uint32_t idx, uint32_t gen,
                          char out[SVC_NATS_JS_REPLY_MAX])
{
    memcpy(out, w->prefix, SVC_NATS_JS_PREFIX_LEN);
    svc_nats_js_token_format((uint64_t)gen << SVC_NATS_JS_INDEX_BITS | idx,
                             out + SVC_NATS_JS_PREFIX_LEN);
}

/* Sends the slot's attempt; the caller holds it (nats_js_slot.holders), so its
 * message stays. */
static natsStatus send_attempt(nats_js_window *w, nats_js_slot *sl)
{
    natsConnection *nc = atomic_load_explicit(&w->ch->events.nc, memory_order_acquire);
    if (sl->nm)
        return natsConnection_PublishMsg(nc, sl->nm);
    char reply[SVC_NATS_JS_REPLY_MAX];
    reply_subject(w, (uint32_t)(sl - w->slots), sl->gen, reply);
    return natsConnection_PublishRequest(nc, sl->buf, reply, sl->data, sl->len);
}

void svc_nats_js_send(nats_js_window *w, nats_js_slot *sl)
{
    natsStatus s = send_attempt(w, sl);
    if (s != NATS_OK) {
        /* It may have gone out anyway: whichever verdict comes first counts. */
        nats_js_done d;
        pthread_mutex_lock(&w->mu);
        bool have = svc_nats_js_decide(w, sl, s, 0, 0, NULL, &d);
        pthread_mutex_unlock(&w->mu);
        if (have)
            svc_nats_js_done_run(w->ch, &d);
    }
    svc_nats_js_let_go(w, sl);
}

/* ---- the replies ---- */

static void on_ack(natsConnection *nc, natsSubscription *ns, natsMsg *nm, void *ud)
{
    (void)nc;
    (void)ns;
    nats_js_window *w = ((nats_sub *)ud)->owner;
    const char *subject = natsMsg_GetSubject(nm);
    size_t len = strlen(subject);
    uint64_t token = 0;
    /* cnats hands us only subjects under our prefix. */
    if (len <= SVC_NATS_JS_PREFIX_LEN ||
        !svc_nats_js_token_parse(subject + SVC_NATS_JS_PREFIX_LEN, len - SVC_NATS_JS_PREFIX_LEN,
                                 &token) ||
        (token & SVC_NATS_JS_INDEX_MASK) >= SVC_NATS_JS_WINDOW ||
        token >> (32 + SVC_NATS_JS_INDEX_BITS)) {
        natsMsg_Destroy(nm);
        return;
    }
    nats_js_verdict v = {.status = NATS_OK};
    nats_puback pa;
    if (natsMsg_IsNoResponders(nm))
        v.status = NATS_NO_RESPONDERS;
    else if (!svc_nats_puback_parse(natsMsg_GetData(nm), (size_t)natsMsg_GetDataLength(nm), &pa))
        v.status = NATS_PROTOCOL_ERROR;
    else if (pa.is_error)
        v = (nats_js_verdict){NATS_ERR, pa.err_code, pa.code, pa.description};
    natsMsg_Destroy(nm);
    svc_nats_js_reply(w, (uint32_t)(token & SVC_NATS_JS_INDEX_MASK),
                      (uint32_t)(token >> SVC_NATS_JS_INDEX_BITS), &v);
}

/* ---- the window ---- */

static svc_code window_new(nats_channel *ch, natsConnection *nc, void **out)
{
    nats_js_window *w = calloc(1, sizeof *w);
    if (!w)
        return svc_fail_oom();
    w->ch = ch;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->room, NULL);
    for (int i = 0; i < SVC_NATS_JS_WINDOW; i++)
        w->free[i] = (uint16_t)(SVC_NATS_JS_WINDOW - 1 - i);
    w->n_free = SVC_NATS_JS_WINDOW;
    svc_nats_inbox_name(w->prefix, SVC_NATS_JS_INBOX_RANDOM);
    w->prefix[SVC_NATS_JS_PREFIX_LEN - 1] = '.';
    w->prefix[SVC_NATS_JS_PREFIX_LEN] = '\0';
    char pattern[SVC_NATS_JS_PREFIX_LEN + 2];
    snprintf(pattern, sizeof pattern, "%s*", w->prefix);
    svc_code rc = svc_timer_new(svc_ctx_loop(ch->base.ctx), svc_nats_js_sweep, w, &w->timer);
    nats_sub *s = rc ? NULL : svc_nats_sub_new(NULL, w, &ch->events, false);
    if (!rc && !s)
        rc = svc_fail_oom();
    /* Replies are never dropped: no pending limit. The subscription goes
     * out before the first publish on the same connection, so the server
     * has it when the first reply comes. */
    if (!rc)
        rc = svc_nats_sub_open(s, nc, pattern, NULL, on_ack, -1, -1,
                               "cannot subscribe the JetStream reply inbox");
    if (rc) {
        svc_timer_free(w->timer);
        svc_nats_js_window_free(w);
        return rc;
    }
    w->acks = s;
    *out = w;
    return SVC_OK;
}

static svc_code window_get(nats_channel *ch, nats_js_window **out)
{
    void *w = NULL;
    svc_code rc = svc_nats_js_lazy(ch, &ch->jsw, window_new, &w);
    *out = w;
    return rc;
}

/* A plain message's subject and payload in its slot, to send it and, if
 * need be, again (the caller's message is only borrowed). The slot is
 * held by its sender: nobody else reads the buffer meanwhile. */
static void fill_plain(nats_js_slot *sl, const char *topic, size_t tlen, const svc_msg *m)
{
    size_t len = svc_msg_len(m);
    memcpy(sl->buf, topic, tlen);
    if (len)
        memcpy(sl->buf + tlen, svc_msg_data(m), len);
    sl->data = sl->buf + tlen;
    sl->len = (int)len;
}

svc_code svc_nats_js_publish_async(nats_channel *ch, const char *topic, const svc_msg *m,
                                   const svc_pub_opts *o, svc_pub_confirm *pc)
{
    nats_js_window *w = NULL;
    svc_code rc = window_get(ch, &w);
    if (rc)
        return rc;
    int64_t timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    nats_js_start st = {.pc = pc, .deadline = svc_now() + timeout_ms * SVC_NSEC_PER_MSEC};
    nats_out x = {.message_id = o->message_id};
    int64_t max_payload = svc_nats_link_max_payload(&ch->events);
    uint32_t idx = SVC_NATS_JS_ANY_SLOT, gen;
    size_t tlen = strlen(topic) + 1;
    if (!svc_nats_msg_needs_headers(m, &x)) {
        natsMsg *none = NULL; /* without headers only the size is checked */
        rc = svc_nats_msg_out(topic, m, &x, max_payload, &none);
        if (rc)
            return rc;
        st.need = tlen + svc_msg_len(m);
    } else {
        /* A natsMsg has its reply subject from its creation on: the slot
         * (and so the token) first. */
        rc = svc_nats_js_reserve(w, st.deadline, &idx, &gen);
        if (rc)
            return rc;
        char reply[SVC_NATS_JS_REPLY_MAX];
        reply_subject(w, idx, gen, reply);
        x.reply = reply;
        rc = svc_nats_msg_out(topic, m, &x, max_payload, &st.nm);
        if (rc) {
            svc_nats_js_unreserve(w, idx);
            return rc;
        }
    }
    nats_js_slot *sl = NULL;
    rc = svc_nats_js_begin(w, &st, idx, &sl);
    if (rc) {
        natsMsg_Destroy(st.nm);
        return rc;
    }
    if (!st.nm)
        fill_plain(sl, topic, tlen, m);
    svc_nats_js_send(w, sl);
    return SVC_OK;
}

void svc_nats_js_async_close(nats_channel *ch)
{
    nats_js_window *w = atomic_load(&ch->jsw);
    if (!w)
        return;
    svc_nats_js_window_close(w);
    /* Attempts being sent and retries queued on the pool see `closing`
     * and end themselves. */
    pthread_mutex_lock(&ch->async_mu);
    while (atomic_load(&ch->async_pending) > 0)
        pthread_cond_wait(&ch->async_cv, &ch->async_mu);
    pthread_mutex_unlock(&ch->async_mu);
    svc_nats_sub_stop(w->acks); /* no reply reads the window after this */
    atomic_store(&ch->jsw, NULL);
    svc_nats_js_window_free(w);
}
