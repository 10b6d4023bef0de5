/*
 * Core NATS events on the channel's events connection (buffered: cnats'
 * flusher batches small publishes). Persistent or confirmed publishes and
 * subscriptions to a store go to JetStream (nats_js*.c).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/msg.h"
#include "core/pubsub.h"
#include "core/topic.h"
#include "nats.h"

/* cnats' own default byte limit per subscription; the message limit is the
 * subscription's max_pending. */
#define PENDING_BYTES (64 * 1024 * 1024)
/* How often a subscription asks cnats whether it dropped anything (it also
 * says so by itself, once per slow-consumer episode). */
#define DROP_CHECK_EVERY 64

static svc_code bad_topic(const char *topic)
{
    return svc_fail(SVC_INVALID_ARGUMENT,
                    "bad subject '%s': dot-separated non-empty tokens, no spaces or wildcards", topic);
}

static svc_code publish_status(natsStatus s, natsConnection *nc, const char *topic)
{
    if (s == NATS_OK)
        return SVC_OK;
    char what[300];
    snprintf(what, sizeof what, "cannot publish on '%.200s'", topic);
    /* While reconnecting, a full reconnect buffer means "not now". */
    if (s == NATS_INSUFFICIENT_BUFFER && natsConnection_IsReconnecting(nc))
        return svc_fail(SVC_UNAVAILABLE, "%s: disconnected and the reconnect buffer is full", what);
    return svc_nats_fail(s, what);
}

svc_code svc_nats_publish(svc_channel *base, const char *topic, const svc_msg *m,
                          const svc_pub_opts *o)
{
    nats_channel *ch = (nats_channel *)base;
    if (!svc_topic_valid(topic))
        return bad_topic(topic);
    if (o->persistent || o->confirm)
        return svc_nats_js_publish(ch, topic, m, o);
    natsConnection *nc = NULL;
    svc_code rc = svc_nats_link_get(&ch->events, &nc);
    if (rc)
        return rc;
    natsMsg *nm = NULL;
    nats_out x = {.message_id = o->message_id};
    rc = svc_nats_msg_out(topic, m, &x, svc_nats_link_max_payload(&ch->events), &nm);
    if (rc)
        return rc;
    natsStatus s = svc_nats_msg_publish(nc, topic, m, &x, nm);
    if (s == NATS_MAX_PAYLOAD) /* a server we just reconnected to, with a lower limit */
        return svc_fail(SVC_RESOURCE_EXHAUSTED,
                        "payload of %zu bytes is over the server's max_payload of %lld",
                        svc_msg_len(m), (long long)natsConnection_GetMaxPayload(nc));
    return publish_status(s, nc, topic);
}

svc_code svc_nats_publish_async(svc_channel *base, const char *topic, const svc_msg *m,
                                const svc_pub_opts *o, svc_pub_confirm *pc)
{
    nats_channel *ch = (nats_channel *)base;
    if (o->persistent || o->confirm) {
        if (!svc_topic_valid(topic))
            return bad_topic(topic);
        return svc_nats_js_publish_async(ch, topic, m, o, pc);
    }
    /* Core NATS has no confirmation: handed to the connection is the verdict. */
    svc_code rc = svc_nats_publish(base, topic, m, o);
    if (rc == SVC_OK)
        svc_publish_done(pc, SVC_OK, NULL);
    return rc;
}

svc_code svc_nats_publish_flush(svc_channel *base, int64_t timeout_ms)
{
    nats_channel *ch = (nats_channel *)base;
    struct timespec until;
    svc_nats_abstime(timeout_ms, &until);
    pthread_mutex_lock(&ch->async_mu);
    int err = 0;
    while (atomic_load(&ch->async_pending) > 0 && err == 0)
        err = timeout_ms > 0 ? pthread_cond_timedwait(&ch->async_cv, &ch->async_mu, &until)
                             : pthread_cond_wait(&ch->async_cv, &ch->async_mu);
    size_t left = atomic_load(&ch->async_pending);
    pthread_mutex_unlock(&ch->async_mu);
    natsConnection *nc = atomic_load(&ch->events.nc);
    /* Core NATS publishes are confirmed by a round trip to the server. */
    if (left == 0 && nc && !natsConnection_IsReconnecting(nc)) {
        natsStatus s = natsConnection_FlushTimeout(nc, timeout_ms > 0 ? timeout_ms : 60000);
        if (s != NATS_OK)
            return svc_nats_fail(s, "flush");
    }
    if (left)
        return svc_fail(SVC_DEADLINE_EXCEEDED, "%zu publishes still unconfirmed after %lld ms", left,
                        (long long)timeout_ms);
    return SVC_OK;
}

void svc_nats_deliver(nats_sub *s, natsMsg *nm)
{
    svc_msg *m = NULL;
    nats_in in;
    uint32_t count = 1;
    if (s->js) {
        jsMsgMetaData *meta = NULL;
        if (natsMsg_GetMetaData(&meta, nm) == NATS_OK) {
            count = meta->NumDelivered > UINT32_MAX ? UINT32_MAX : (uint32_t)meta->NumDelivered;
            jsMsgMetaData_Destroy(meta);
        }
        atomic_fetch_add(&s->refs, 1); /* the event's, given back when settled */
    }
    /* Core NATS events borrow nm's payload rather than copy it (nm goes
     * with the event's message); JetStream ones copy it, their nm being
     * acknowledged and destroyed when they are settled. The subject stays
     * valid: core copies it before it can let go of the message. */
    const char *subject = natsMsg_GetSubject(nm);
    svc_code rc = SVC_CANCELLED;
    if (!atomic_load(&s->closing))
        rc = svc_nats_msg_in(nm, !s->js, &in, &m);
    else if (!s->js)
        natsMsg_Destroy(nm);
    if (rc == SVC_OK)
        rc = svc_sub_deliver(s->sub, subject, m, count, s->js ? nm : NULL);
    if (s->js && rc != SVC_OK) {
        natsMsg_Nak(nm, NULL); /* not taken (closing, slow, out of memory): redeliver */
        natsMsg_Destroy(nm);
        svc_nats_sub_unref(s);
    }
    if (atomic_fetch_add(&s->delivered, 1) % DROP_CHECK_EVERY == DROP_CHECK_EVERY - 1)
        svc_nats_sub_check_drops(s);
}

static void on_event(natsConnection *nc, natsSubscription *ns, natsMsg *nm, void *ud)
{
    (void)nc;
    (void)ns;
    svc_nats_deliver(ud, nm);
}

svc_code svc_nats_subscribe(svc_channel *base, svc_sub *sub)
{
    nats_channel *ch = (nats_channel *)base;
    if (sub->opts.store)
        return svc_nats_js_subscribe(ch, sub);
    if (!svc_topic_pattern_valid(sub->pattern))
        return svc_fail(SVC_INVALID_ARGUMENT,
                        "bad pattern '%s': dot-separated tokens, '*' for one, '>' last for the rest",
                        sub->pattern);
    natsConnection *nc = NULL;
    svc_code rc = svc_nats_link_get(&ch->events, &nc);
    if (rc)
        return rc;
    nats_sub *s = svc_nats_sub_new(sub, NULL, &ch->events, false);
    if (!s)
        return svc_fail_oom();
    rc = svc_nats_sub_open(s, nc, sub->pattern, sub->group, on_event,
                           (int)(sub->opts.max_pending > INT32_MAX ? INT32_MAX : sub->opts.max_pending),
                           PENDING_BYTES, "cannot subscribe");
    if (rc)
        return rc;
    /* The interest reaches the server before subscribe returns, so an
     * event published right after is not missed. */
    natsStatus st = natsConnection_FlushTimeout(nc, 5000);
    if (st != NATS_OK) {
        rc = svc_nats_fail(st, "subscription not confirmed by the server");
        svc_nats_sub_stop(s);
        return rc;
    }
    sub->tdata = s;
    return SVC_OK;
}

void svc_nats_unsubscribe(svc_channel *ch, svc_sub *sub)
{
    (void)ch;
    if (sub->tdata)
        svc_nats_sub_stop(sub->tdata);
}
