/*
 * JetStream stores (streams) and publishing with acknowledgement.
 *
 * Asynchronous publishes go through js_PublishMsgAsync; cnats reports each
 * acknowledgement (or error) to on_pub_ack, which finds the publish by its
 * message's address. An attempt that failed for a passing reason (timeout,
 * no responders while the server restarts, disconnection) is published
 * again after a short backoff, with the same Nats-Msg-Id so the stream
 * drops a duplicate, until the publish's own timeout (svc_pub_opts
 * .timeout_ms, 10 s by default) runs out.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/error.h"
#include "core/msg.h"
#include "nats.h"

#define DEFAULT_TIMEOUT_MS 10000
#define ATTEMPT_WAIT_MS 5000
#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 1000
/* cnats keeps at most 4000 publishes unacknowledged; a publisher beyond
 * that waits this long for room (backpressure) before the attempt fails. */
#define STALL_WAIT_MS 10000
#define CLOSED_MSG "client freed before the publish was confirmed"

typedef struct async_pub {
    nats_channel *ch;
    svc_pub_confirm *pc;
    natsMsg *nm;
    svc_time deadline;
    int attempts;
    /* An accepted attempt ends when both its publisher (once
     * js_PublishMsgAsync no longer reads the message) and the verdict (ack
     * handler or channel close) let go; the last one acts on the verdict.
     * The ack really comes later, through the server and back, but that
     * order is one ThreadSanitizer cannot see, and the release/acquire
     * pair costs less than a lock per publish. */
    atomic_int holders;
    bool closed;          /* the verdict: taken back by svc_nats_js_close */
    natsStatus status;    /* else cnats' */
    jsErrCode err;
} async_pub;

static void on_pub_ack(jsCtx *js, natsMsg *nm, jsPubAck *pa, jsPubAckErr *pae, void *ud);

svc_code svc_nats_js_get(nats_channel *ch, jsCtx **out)
{
    /* Every JetStream publish comes here: no lock once the context exists. */
    jsCtx *js = atomic_load_explicit(&ch->js, memory_order_acquire);
    if (js) {
        *out = js;
        return SVC_OK;
    }
    natsConnection *nc = NULL;
    svc_code rc = svc_nats_link_get(&ch->events, &nc);
    if (rc)
        return rc;
    pthread_mutex_lock(&ch->js_mu);
    js = atomic_load_explicit(&ch->js, memory_order_acquire);
    if (!js) {
        jsOptions o;
        jsOptions_Init(&o);
        o.PublishAsync.AckHandler = on_pub_ack;
        o.PublishAsync.AckHandlerClosure = ch;
        o.PublishAsync.StallWait = STALL_WAIT_MS;
        natsStatus s = natsConnection_JetStream(&js, nc, &o);
        if (s == NATS_OK)
            atomic_store_explicit(&ch->js, js, memory_order_release);
        else {
            js = NULL;
            rc = svc_nats_fail(s, "JetStream");
        }
    }
    *out = js;
    pthread_mutex_unlock(&ch->js_mu);
    return rc;
}

/* ---- stores ---- */

svc_code svc_nats_store_ensure(svc_channel *base, const svc_store_opts *o)
{
    nats_channel *ch = (nats_channel *)base;
    if (!svc_nats_name_valid(o->name))
        return svc_fail(SVC_INVALID_ARGUMENT, "bad stream name '%s': printable, no spaces, dots or wildcards",
                        o->name);
    jsCtx *js = NULL;
    svc_code rc = svc_nats_js_get(ch, &js);
    if (rc)
        return rc;
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = o->name;
    int n = 0;
    while (o->subjects && o->subjects[n])
        n++;
    cfg.Subjects = (const char **)o->subjects;
    cfg.SubjectsLen = n;
    cfg.Retention = o->retention == SVC_RETAIN_INTEREST    ? js_InterestPolicy
                    : o->retention == SVC_RETAIN_WORKQUEUE ? js_WorkQueuePolicy
                                                           : js_LimitsPolicy;
    cfg.Storage = o->memory ? js_MemoryStorage : js_FileStorage;
    cfg.MaxAge = o->max_age_ms * SVC_NSEC_PER_MSEC;
    cfg.MaxBytes = o->max_bytes > 0 ? o->max_bytes : -1;
    cfg.MaxMsgs = o->max_msgs > 0 ? o->max_msgs : -1;
    cfg.Replicas = o->replicas > 0 ? o->replicas : 1;
    cfg.Duplicates = o->duplicate_window_ms * SVC_NSEC_PER_MSEC;
    jsStreamInfo *si = NULL;
    jsErrCode err = 0;
    natsStatus s = js_AddStream(&si, js, &cfg, NULL, &err);
    if (s != NATS_OK && err == JSStreamNameExistErr) {
        err = 0;
        s = js_UpdateStream(&si, js, &cfg, NULL, &err);
    }
    jsStreamInfo_Destroy(si);
    if (s == NATS_OK)
        return SVC_OK;
    char what[300];
    snprintf(what, sizeof what, "cannot create or update stream '%.200s'", o->name);
    return svc_nats_js_fail(s, err, what);
}

svc_code svc_nats_store_delete(svc_channel *base, const char *name)
{
    nats_channel *ch = (nats_channel *)base;
    if (!svc_nats_name_valid(name))
        return svc_fail(SVC_INVALID_ARGUMENT, "bad stream name '%s'", name);
    jsCtx *js = NULL;
    svc_code rc = svc_nats_js_get(ch, &js);
    if (rc)
        return rc;
    jsErrCode err = 0;
    natsStatus s = js_DeleteStream(js, name, NULL, &err);
    if (s == NATS_OK)
        return SVC_OK;
    char what[300];
    snprintf(what, sizeof what, "cannot delete stream '%.200s'", name);
    return svc_nats_js_fail(s, err, what);
}

/* ---- publishing ---- */

static svc_code publish_fail(natsStatus s, jsErrCode err, const char *topic)
{
    char what[300];
    if (s == NATS_NO_RESPONDERS)
        return svc_fail(SVC_NOT_FOUND, "no stream captures '%.200s' (or JetStream is unavailable)",
                        topic);
    snprintf(what, sizeof what, "JetStream publish on '%.200s'", topic);
    return svc_nats_js_fail(s, err, what);
}

static int64_t timeout_of(const svc_pub_opts *o)
{
    return o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
}

static svc_code make_msg(nats_channel *ch, const char *topic, const svc_msg *m, natsMsg **nm)
{
    nats_out x = {.need_msg = true}; /* the message id goes in through jsPubOptions */
    return svc_nats_msg_out(topic, m, &x, svc_nats_link_max_payload(&ch->events), nm);
}

svc_code svc_nats_js_publish(nats_channel *ch, const char *topic, const svc_msg *m,
                             const svc_pub_opts *o)
{
    jsCtx *js = NULL;
    natsMsg *nm = NULL;
    svc_code rc = svc_nats_js_get(ch, &js);
    if (rc == SVC_OK)
        rc = make_msg(ch, topic, m, &nm);
    if (rc)
        return rc;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout_of(o);
    po.MsgId = o->message_id;
    jsPubAck *pa = NULL;
    jsErrCode err = 0;
    natsStatus s = js_PublishMsg(&pa, js, nm, &po, &err);
    natsMsg_Destroy(nm);
    jsPubAck_Destroy(pa);
    return s == NATS_OK ? SVC_OK : publish_fail(s, err, topic);
}

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

static void pub_end(async_pub *ap, svc_code code, const char *msg)
{
    natsMsg_Destroy(ap->nm);
    svc_nats_async_done(ap->ch, ap->pc, code, msg);
    free(ap);
}

static bool retryable(natsStatus s, jsErrCode err)
{
    return err == 0 && (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_IO_ERROR ||
                        s == NATS_CONNECTION_DISCONNECTED || s == NATS_NOT_YET_CONNECTED ||
                        s == NATS_INSUFFICIENT_BUFFER);
}

static void attempt(void *arg);

/* Attempts may wait for room in cnats' window: on the pool, not a loop. */
static void retry_due(void *arg)
{
    async_pub *ap = arg;
    if (svc_executor_post(ap->ch->base.ctx->exec, attempt, ap) != SVC_OK)
        attempt(ap);
}

/* A failed attempt: again after a backoff while time remains, else the end. */
static void pub_failed(async_pub *ap, natsStatus s, jsErrCode err)
{
    int64_t left = ap->deadline - svc_now();
    if (retryable(s, err) && left > 0 && !atomic_load(&ap->ch->closing)) {
        int64_t ms = RETRY_MIN_MS << (ap->attempts < 5 ? ap->attempts : 5);
        ms = ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms;
        if (svc_loop_post_after(svc_ctx_loop(ap->ch->base.ctx), ms * SVC_NSEC_PER_MSEC, retry_due,
                                ap) ==
            SVC_OK)
            return;
    }
    svc_code code = publish_fail(s, err, natsMsg_GetSubject(ap->nm));
    pub_end(ap, atomic_load(&ap->ch->closing) ? SVC_UNAVAILABLE : code, svc_last_error());
}

/* Both parties are done with an accepted attempt: act on its verdict. */
static void settle(async_pub *ap)
{
    if (ap->closed)
        pub_end(ap, SVC_UNAVAILABLE, CLOSED_MSG);
    else if (ap->status == NATS_OK)
        pub_end(ap, SVC_OK, NULL);
    else
        pub_failed(ap, ap->status, ap->err);
}

static void let_go(async_pub *ap)
{
    if (atomic_fetch_sub_explicit(&ap->holders, 1, memory_order_acq_rel) == 1)
        settle(ap);
}

static void attempt(void *arg)
{
    async_pub *ap = arg;
    nats_channel *ch = ap->ch;
    if (atomic_load(&ch->closing)) {
        pub_end(ap, SVC_UNAVAILABLE, CLOSED_MSG);
        return;
    }
    ap->attempts++;
    atomic_store_explicit(&ap->holders, 2, memory_order_relaxed);
    int64_t left_ms = (ap->deadline - svc_now()) / SVC_NSEC_PER_MSEC;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = left_ms < 1 ? 1 : left_ms < ATTEMPT_WAIT_MS ? left_ms : ATTEMPT_WAIT_MS;
    pthread_mutex_lock(&ch->async_mu);
    svc_code rc = svc_nats_ptrmap_put(&ch->async_msgs, ap->nm, ap);
    pthread_mutex_unlock(&ch->async_mu);
    natsMsg *nm = ap->nm;
    natsStatus s = rc ? NATS_NO_MEMORY : js_PublishMsgAsync(atomic_load(&ch->js), &nm, &po);
    if (s == NATS_OK) {
        let_go(ap); /* cnats owns the message until on_pub_ack hands it back */
        return;
    }
    pthread_mutex_lock(&ch->async_mu);
    if (!rc)
        svc_nats_ptrmap_take(&ch->async_msgs, ap->nm);
    pthread_mutex_unlock(&ch->async_mu);
    pub_failed(ap, s, 0);
}

static void on_pub_ack(jsCtx *js, natsMsg *nm, jsPubAck *pa, jsPubAckErr *pae, void *ud)
{
    (void)js;
    nats_channel *ch = ud;
    pthread_mutex_lock(&ch->async_mu);
    async_pub *ap = svc_nats_ptrmap_take(&ch->async_msgs, nm);
    pthread_mutex_unlock(&ch->async_mu);
    if (!ap) { /* taken back by channel_free */
        natsMsg_Destroy(nm);
        return;
    }
    ap->status = pa ? NATS_OK : pae ? pae->Err : NATS_ERR;
    ap->err = pa || !pae ? 0 : pae->ErrCode;
    let_go(ap);
}

svc_code svc_nats_js_publish_async(nats_channel *ch, const char *topic, const svc_msg *m,
                                   const svc_pub_opts *o, svc_pub_confirm *pc)
{
    jsCtx *js = NULL;
    natsMsg *nm = NULL;
    svc_code rc = svc_nats_js_get(ch, &js);
    if (rc == SVC_OK)
        rc = make_msg(ch, topic, m, &nm);
    if (rc == SVC_OK && o->message_id &&
        natsMsgHeader_Set(nm, SVC_NATS_HDR_MSG_ID, o->message_id) != NATS_OK)
        rc = svc_fail_oom();
    async_pub *ap = rc ? NULL : malloc(sizeof *ap); /* not calloc: core/msg.c says why */
    if (!ap) {
        natsMsg_Destroy(nm);
        return rc ? rc : svc_fail_oom();
    }
    *ap = (async_pub){
        .ch = ch,
        .pc = pc,
        .nm = nm,
        .deadline = svc_now() + timeout_of(o) * SVC_NSEC_PER_MSEC,
    };
    atomic_fetch_add_explicit(&ch->async_pending, 1, memory_order_relaxed);
    atomic_store_explicit(&ch->async_used, true, memory_order_relaxed);
    attempt(ap);
    return SVC_OK;
}

void svc_nats_js_close(nats_channel *ch)
{
    atomic_store(&ch->closing, true);
    jsCtx *js = atomic_load(&ch->js);
    if (!js)
        return;
    /* Publishes cnats still waits on are taken back and answered now (cnats
     * 3.4 crashes asking a context that never published asynchronously). */
    natsMsgList pending = {0};
    if (atomic_load(&ch->async_used) && js_PublishAsyncGetPendingList(&pending, js) == NATS_OK) {
        for (int i = 0; i < pending.Count; i++) {
            pthread_mutex_lock(&ch->async_mu);
            async_pub *ap = svc_nats_ptrmap_take(&ch->async_msgs, pending.Msgs[i]);
            pthread_mutex_unlock(&ch->async_mu);
            if (ap) {
                pending.Msgs[i] = NULL; /* ap owns it */
                ap->closed = true;
                let_go(ap);
            }
        }
        natsMsgList_Destroy(&pending);
    }
    /* Retries waiting on a timer see `closing` and end themselves. */
    pthread_mutex_lock(&ch->async_mu);
    while (atomic_load(&ch->async_pending) > 0)
        pthread_cond_wait(&ch->async_cv, &ch->async_mu);
    pthread_mutex_unlock(&ch->async_mu);
    atomic_store(&ch->js, NULL);
    jsCtx_Destroy(js);
}
