/*
 * The life of a cnats subscription on our side. cnats may still be inside
 * a message callback when Unsubscribe returns, so stopping waits for its
 * "complete" notice (the last callback has returned) before anything the
 * callback touches goes. JetStream events keep the subscription (and so the
 * natsSubscription their acks go through) until they are settled.
 *
 * Slow consumers: cnats drops messages beyond a subscription's pending
 * limit and says so through the connection's error handler; the count it
 * keeps is reported through core (metric, on_dropped, warning).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctx.h"
#include "core/pubsub.h"
#include "nats.h"

#define STOP_WAIT_S 10
/* The round trip that lets cnats's read loop finish with a stopped
 * subscription (svc_nats_sub_stop). */
#define FLUSH_AFTER_STOP_MS 2000

nats_sub *svc_nats_sub_new(svc_sub *sub, void *owner, nats_link *l, bool js)
{
    nats_sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->sub = sub;
    s->owner = owner;
    s->link = l;
    s->js = js;
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
}

static void on_complete(void *ud)
{
    nats_sub *s = ud;
    pthread_mutex_lock(&s->mu);
    s->complete = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

svc_code svc_nats_sub_started(nats_sub *s)
{
    if (!s->has_puller) {
        natsStatus st = natsSubscription_SetOnCompleteCB(s->ns, on_complete, s);
        if (st != NATS_OK)
            return svc_nats_fail(st, "subscription");
    }
    pthread_mutex_lock(&s->link->subs_mu);
    s->next = s->link->subs;
    s->link->subs = s;
    pthread_mutex_unlock(&s->link->subs_mu);
    return SVC_OK;
}

svc_code svc_nats_sub_open(nats_sub *s, natsConnection *nc, const char *subject, const char *group,
                           natsMsgHandler cb, int max_msgs, int max_bytes, const char *what)
{
    natsStatus st = group ? natsConnection_QueueSubscribe(&s->ns, nc, subject, group, cb, s)
                          : natsConnection_Subscribe(&s->ns, nc, subject, cb, s);
    if (st != NATS_OK) {
        s->ns = NULL;
        svc_code rc = svc_nats_fail(st, what);
        svc_nats_sub_unref(s);
        return rc;
    }
    natsSubscription_SetPendingLimits(s->ns, max_msgs, max_bytes);
    svc_code rc = svc_nats_sub_started(s);
    if (rc)
        svc_nats_sub_stop(s);
    return rc;
}

void svc_nats_abstime(int64_t ms, struct timespec *out)
{
    clock_gettime(CLOCK_REALTIME, out);
    out->tv_sec += ms / 1000;
    out->tv_nsec += (ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

static void unlink_sub(nats_sub *s)
{
    pthread_mutex_lock(&s->link->subs_mu);
    for (nats_sub **p = &s->link->subs; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&s->link->subs_mu);
}

void svc_nats_sub_stop(nats_sub *s)
{
    atomic_store(&s->closing, true);
    unlink_sub(s);
    if (s->has_puller) /* it sees `closing` within one fetch; no callbacks */
        pthread_join(s->puller, NULL);
    else if (s->ns) {
        pthread_mutex_lock(&s->mu);
        bool complete = s->complete;
        pthread_mutex_unlock(&s->mu);
        /* Draining (a quiescing listener) ends by itself; otherwise stop now. */
        if (!complete && !atomic_load(&s->draining))
            natsSubscription_Unsubscribe(s->ns);
        struct timespec until;
        svc_nats_abstime(STOP_WAIT_S * 1000, &until);
        pthread_mutex_lock(&s->mu);
        while (!s->complete && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
            ;
        pthread_mutex_unlock(&s->mu);
        /* cnats 3.4's read loop finds a message's subscription under the
         * connection lock and locks it after letting go (nats.c issue
         * 637, fixed in 3.6): one still doing so when the subscription is
         * destroyed crashes. It reads in order, so once a PONG sent now
         * is back, no message that came before is still on its way in. */
        natsConnection *nc = atomic_load(&s->link->nc);
        if (nc && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED)
            natsConnection_FlushTimeout(nc, FLUSH_AFTER_STOP_MS);
    }
    if (s->sub && s->ns)
        svc_nats_sub_check_drops(s);
    svc_nats_sub_unref(s);
}

void svc_nats_sub_unref(nats_sub *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->ns)
        natsSubscription_Destroy(s->ns);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

void svc_nats_sub_check_drops(nats_sub *s)
{
    int64_t dropped = 0;
    if (!s->sub || natsSubscription_GetDropped(s->ns, &dropped) != NATS_OK || dropped <= 0)
        return;
    uint_fast64_t seen = atomic_load(&s->dropped_seen);
    while (seen < (uint64_t)dropped &&
           !atomic_compare_exchange_weak(&s->dropped_seen, &seen, (uint64_t)dropped))
        ;
    if (seen < (uint64_t)dropped)
        svc_sub_report_dropped(s->sub, (uint64_t)dropped - seen);
}

void svc_nats_on_async_error(natsConnection *nc, natsSubscription *ns, natsStatus err, void *ud)
{
    (void)nc;
    nats_link *l = ud;
    if (err != NATS_SLOW_CONSUMER || !ns) {
        if (err != NATS_SLOW_CONSUMER)
            svc_log_warn(l->ctx, "nats", "%s connection to %s: %s", l->role, l->cfg->label,
                         natsStatus_GetText(err));
        return;
    }
    pthread_mutex_lock(&l->subs_mu);
    nats_sub *s = l->subs;
    while (s && s->ns != ns)
        s = s->next;
    if (s)
        atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&l->subs_mu);
    if (!s)
        return;
    svc_nats_sub_check_drops(s);
    svc_nats_sub_unref(s);
}
