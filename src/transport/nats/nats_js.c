/*
 * JetStream through cnats: the context, stores (streams), and publishing
 * with a wait for the stream's ack (js_PublishMsg). Asynchronous
 * publishes do without cnats' JetStream layer (nats_js_pub.c).
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

svc_code svc_nats_js_lazy(nats_channel *ch, _Atomic(void *) *slot,
                          svc_code (*make)(nats_channel *ch, natsConnection *nc, void **out),
                          void **out)
{
    void *p = atomic_load_explicit(slot, memory_order_acquire);
    if (p) {
        *out = p;
        return SVC_OK;
    }
    natsConnection *nc = NULL;
    svc_code rc = svc_nats_link_get(&ch->events, &nc);
    if (rc)
        return rc;
    pthread_mutex_lock(&ch->js_mu);
    p = atomic_load_explicit(slot, memory_order_acquire);
    if (!p && (rc = make(ch, nc, &p)) == SVC_OK)
        atomic_store_explicit(slot, p, memory_order_release);
    pthread_mutex_unlock(&ch->js_mu);
    *out = rc ? NULL : p;
    return rc;
}

static svc_code js_make(nats_channel *ch, natsConnection *nc, void **out)
{
    (void)ch;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_JetStream(&js, nc, NULL);
    *out = js;
    return s == NATS_OK ? SVC_OK : svc_nats_fail(s, "JetStream");
}

svc_code svc_nats_js_get(nats_channel *ch, jsCtx **out)
{
    void *js = NULL;
    svc_code rc = svc_nats_js_lazy(ch, &ch->js, js_make, &js);
    *out = js;
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

void svc_nats_js_close(nats_channel *ch)
{
    jsCtx *js = atomic_exchange(&ch->js, NULL);
    if (js)
        jsCtx_Destroy(js);
}
