/*
 * inproc publish/subscribe: named buses of subscriptions. A publish hands a
 * copy (payload shared) to every matching subscription outside a queue
 * group and to one member, round robin, of each matching group. nack
 * redelivers to the same subscription with the delivery count raised.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/error.h"
#include "core/msg.h"
#include "core/pubsub.h"
#include "core/strmap.h"
#include "core/topic.h"
#include "inproc.h"

typedef struct bus bus;

typedef struct inproc_sub {
    svc_sub *sub;
    bus *bus;
    unsigned active; /* deliveries in progress (under bus->idle_mu) */
} inproc_sub;

struct bus {
    char *name;
    unsigned users; /* subscriptions and publishes holding it (buses_lock) */
    pthread_rwlock_t lock;
    inproc_sub **subs;
    size_t n, cap;
    atomic_uint rr; /* round robin over queue group members */
    pthread_mutex_t idle_mu;
    pthread_cond_t idle_cv;
};

static pthread_mutex_t buses_lock = PTHREAD_MUTEX_INITIALIZER;
static svc_strmap buses;

static bus *bus_acquire(const char *name, bool create)
{
    pthread_mutex_lock(&buses_lock);
    bus *b = svc_strmap_get(&buses, name, strlen(name));
    if (!b && create && (b = calloc(1, sizeof *b)) != NULL) {
        if (!(b->name = strdup(name)) || svc_strmap_put(&buses, name, b) != SVC_OK) {
            free(b->name);
            free(b);
            b = NULL;
        } else {
            pthread_rwlock_init(&b->lock, NULL);
            pthread_mutex_init(&b->idle_mu, NULL);
            pthread_cond_init(&b->idle_cv, NULL);
        }
    }
    if (b)
        b->users++;
    pthread_mutex_unlock(&buses_lock);
    return b;
}

static void bus_release(bus *b)
{
    pthread_mutex_lock(&buses_lock);
    bool last = --b->users == 0;
    if (last) {
        svc_strmap_remove(&buses, b->name);
        if (buses.count == 0)
            svc_strmap_clear(&buses);
    }
    pthread_mutex_unlock(&buses_lock);
    if (!last)
        return;
    pthread_rwlock_destroy(&b->lock);
    pthread_mutex_destroy(&b->idle_mu);
    pthread_cond_destroy(&b->idle_cv);
    free(b->subs);
    free(b->name);
    free(b);
}

static void delivery_done(inproc_sub *is)
{
    pthread_mutex_lock(&is->bus->idle_mu);
    if (--is->active == 0)
        pthread_cond_broadcast(&is->bus->idle_cv);
    pthread_mutex_unlock(&is->bus->idle_mu);
}

/* True if subscription j of the bus is in is's queue group and wants topic. */
static bool group_peer(const bus *b, size_t j, const inproc_sub *is, const char *topic)
{
    const svc_sub *other = b->subs[j]->sub;
    return other->group && strcmp(other->group, is->sub->group) == 0 &&
           svc_topic_match(other->pattern, topic);
}

/* Picks the receivers of `topic` into out[] (room for b->n) and marks each
 * as active so unsubscribe waits for the hand-over. Under the read lock. */
static size_t pick_receivers(bus *b, const char *topic, inproc_sub **out)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        inproc_sub *is = b->subs[i];
        if (!svc_topic_match(is->sub->pattern, topic))
            continue;
        if (is->sub->group) {
            bool seen = false; /* the group was handled at its first member */
            for (size_t j = 0; j < i && !seen; j++)
                seen = group_peer(b, j, is, topic);
            if (seen)
                continue;
            size_t members = 0;
            for (size_t j = i; j < b->n; j++)
                members += group_peer(b, j, is, topic);
            size_t pick = atomic_fetch_add(&b->rr, 1) % members;
            for (size_t j = i; j < b->n; j++) {
                if (group_peer(b, j, is, topic) && pick-- == 0) {
                    is = b->subs[j];
                    break;
                }
            }
        }
        pthread_mutex_lock(&b->idle_mu);
        is->active++;
        pthread_mutex_unlock(&b->idle_mu);
        out[n++] = is;
    }
    return n;
}

svc_code svc_inproc_publish(svc_channel *base, const char *topic, const svc_msg *m,
                            const svc_pub_opts *o)
{
    (void)o; /* nothing is stored in process memory, persistent or not */
    inproc_channel *ch = (inproc_channel *)base;
    if (!svc_topic_valid(topic))
        return svc_fail(SVC_INVALID_ARGUMENT,
                        "bad topic '%s': dot-separated non-empty tokens, no spaces or wildcards",
                        topic);
    bus *b = bus_acquire(ch->name, false);
    if (!b)
        return SVC_OK; /* nobody listens: an event is fire and forget */
    svc_code rc = SVC_OK;
    pthread_rwlock_rdlock(&b->lock);
    inproc_sub **targets = b->n ? malloc(b->n * sizeof *targets) : NULL;
    size_t n = targets ? pick_receivers(b, topic, targets) : 0;
    pthread_rwlock_unlock(&b->lock);
    if (b->n && !targets)
        rc = svc_fail_oom();
    for (size_t i = 0; i < n; i++) {
        svc_msg *copy = NULL;
        if (svc_msg_clone(m, &copy) == SVC_OK)
            svc_sub_deliver(targets[i]->sub, topic, copy, 1, NULL);
        else
            rc = svc_fail_oom();
        delivery_done(targets[i]);
    }
    free(targets);
    bus_release(b);
    return rc;
}

/* In-process delivery is its own confirmation: the event has been handed to
 * every subscriber (or dropped for want of one) when publish returns. */
svc_code svc_inproc_publish_async(svc_channel *ch, const char *topic, const svc_msg *m,
                                  const svc_pub_opts *o, svc_pub_confirm *pc)
{
    svc_code rc = svc_inproc_publish(ch, topic, m, o);
    if (rc == SVC_OK)
        svc_publish_done(pc, SVC_OK, NULL);
    return rc;
}

svc_code svc_inproc_subscribe(svc_channel *base, svc_sub *sub)
{
    inproc_channel *ch = (inproc_channel *)base;
    if (!svc_topic_pattern_valid(sub->pattern))
        return svc_fail(SVC_INVALID_ARGUMENT,
                        "bad pattern '%s': dot-separated tokens, '*' for one, '>' last for the rest",
                        sub->pattern);
    inproc_sub *is = calloc(1, sizeof *is);
    if (!is)
        return svc_fail_oom();
    is->sub = sub;
    is->bus = bus_acquire(ch->name, true);
    if (!is->bus) {
        free(is);
        return svc_fail_oom();
    }
    bus *b = is->bus;
    pthread_rwlock_wrlock(&b->lock);
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        inproc_sub **v = realloc(b->subs, cap * sizeof *v);
        if (!v) {
            pthread_rwlock_unlock(&b->lock);
            bus_release(b);
            free(is);
            return svc_fail_oom();
        }
        b->subs = v;
        b->cap = cap;
    }
    b->subs[b->n++] = is;
    pthread_rwlock_unlock(&b->lock);
    sub->tdata = is;
    return SVC_OK;
}

void svc_inproc_unsubscribe(svc_channel *ch, svc_sub *sub)
{
    (void)ch;
    inproc_sub *is = sub->tdata;
    bus *b = is->bus;
    pthread_rwlock_wrlock(&b->lock);
    for (size_t i = 0; i < b->n; i++) {
        if (b->subs[i] == is) {
            memmove(&b->subs[i], &b->subs[i + 1], (b->n - i - 1) * sizeof *b->subs);
            b->n--;
            break;
        }
    }
    pthread_rwlock_unlock(&b->lock);
    /* A publisher that picked us before we left may still be handing over. */
    pthread_mutex_lock(&b->idle_mu);
    while (is->active > 0)
        pthread_cond_wait(&b->idle_cv, &b->idle_mu);
    pthread_mutex_unlock(&b->idle_mu);
    bus_release(b);
    free(is);
    sub->tdata = NULL;
}

typedef struct redelivery {
    svc_sub *sub;
    char *topic;
    svc_msg *msg;
    uint32_t count;
} redelivery;

static void redeliver(void *arg)
{
    redelivery *r = arg;
    svc_sub_deliver(r->sub, r->topic, r->msg, r->count, NULL); /* refused once closed */
    svc_sub_release(r->sub);
    free(r->topic);
    free(r);
}

svc_code svc_inproc_event_settle(svc_event *ev, svc_settle how, int64_t delay_ms)
{
    if (how != SVC_SETTLE_NACK || atomic_load(&ev->sub->closed))
        return SVC_OK; /* ack and term: nothing is kept; closed: nobody to redeliver to */
    redelivery *r = calloc(1, sizeof *r);
    if (!r || !(r->topic = strdup(ev->topic)) || svc_msg_clone(ev->msg, &r->msg) != SVC_OK) {
        if (r)
            free(r->topic);
        free(r);
        return svc_fail_oom();
    }
    r->sub = ev->sub;
    r->count = ev->delivery_count + 1;
    svc_sub_hold(r->sub);
    svc_ctx *ctx = ev->sub->chan->ctx;
    svc_code rc = svc_loop_post_after(svc_ctx_loop(ctx), delay_ms * SVC_NSEC_PER_MSEC, redeliver, r);
    if (rc) {
        svc_sub_release(r->sub);
        svc_msg_free(r->msg);
        free(r->topic);
        free(r);
    }
    return rc;
}
