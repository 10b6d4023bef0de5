/*
 * inproc publish/subscribe: named buses of subscriptions. A publish hands a
 * copy (payload shared) to every matching subscription outside a queue
 * group and to one member, round robin, of each matching group. nack
 * redelivers to the same subscription with the delivery count raised, after
 * the delay. An event that can no longer reach the group member it was
 * meant for (the member left: it was queued there, nacked there, or picked
 * just as it closed) goes to another member of the group, as a broker gives
 * unacknowledged work to the rest of a queue group; with no member left it
 * is dropped.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ctx.h"
#include "core/dlist.h"
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
} inproc_sub;

/* A nacked event waiting for its delay. */
typedef struct redelivery {
    struct redelivery *prev, *next; /* bus->pending */
    bus *bus;                       /* one of its users */
    svc_sub *sub;                   /* held */
    char *topic;
    svc_msg *msg;
    uint32_t count;
    svc_timer *timer;
} redelivery;

struct bus {
    char *name;
    unsigned users; /* subscriptions, publishes and redeliveries holding it (buses_lock) */
    pthread_rwlock_t lock;
    inproc_sub **subs;
    size_t n, cap;
    atomic_uint rr; /* round robin over queue group members */
    pthread_mutex_t pending_mu;
    redelivery *pending; /* whoever takes one off the list frees it */
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
            pthread_mutex_init(&b->pending_mu, NULL);
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
    pthread_mutex_destroy(&b->pending_mu);
    free(b->subs);
    free(b->name);
    free(b);
}

/* True if `other` is an open member of `group` that wants `topic`. */
static bool group_peer(const svc_sub *other, const char *group, const char *topic)
{
    return other->group && strcmp(other->group, group) == 0 && !atomic_load(&other->closed) &&
           svc_topic_match(other->pattern, topic);
}

/* One open member of `group` wanting `topic` among subs[from..], round
 * robin, held; NULL if there is none. Under the read lock. */
static svc_sub *pick_member(bus *b, size_t from, const char *group, const char *topic)
{
    size_t members = 0;
    for (size_t j = from; j < b->n; j++)
        members += group_peer(b->subs[j]->sub, group, topic);
    if (!members)
        return NULL;
    size_t pick = atomic_fetch_add(&b->rr, 1) % members;
    for (size_t j = from; j < b->n; j++) {
        svc_sub *other = b->subs[j]->sub;
        if (group_peer(other, group, topic) && pick-- == 0) {
            svc_sub_hold(other);
            return other;
        }
    }
    return NULL;
}

/* Picks the receivers of `topic` into out[] (room for b->n), each held so
 * that it stays valid after the lock, whatever its handlers do meanwhile
 * (an inline handler may free another receiver). Under the read lock. */
static size_t pick_receivers(bus *b, const char *topic, svc_sub **out)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        svc_sub *sub = b->subs[i]->sub;
        if (!svc_topic_match(sub->pattern, topic) || atomic_load(&sub->closed))
            continue;
        if (!sub->group) {
            svc_sub_hold(sub);
            out[n++] = sub;
            continue;
        }
        bool seen = false; /* the group was handled at its first open member */
        for (size_t j = 0; j < i && !seen; j++)
            seen = group_peer(b->subs[j]->sub, sub->group, topic);
        svc_sub *member = seen ? NULL : pick_member(b, i, sub->group, topic);
        if (member)
            out[n++] = member;
    }
    return n;
}

static void hand_to_group(bus *b, const char *group, const char *topic, svc_msg *msg,
                          uint32_t count);

/* Delivers msg (taken) to sub (held by the caller). A group member that
 * closed since it was picked refuses it: a copy kept for that case goes to
 * the rest of the group. */
static void deliver_to(bus *b, svc_sub *sub, const char *topic, svc_msg *msg, uint32_t count)
{
    svc_msg *spare = NULL;
    if (sub->group && svc_msg_clone(msg, &spare) != SVC_OK)
        spare = NULL; /* out of memory: lost if refused, as a drop would be */
    if (svc_sub_deliver(sub, topic, msg, count, NULL) == SVC_CANCELLED && spare)
        hand_to_group(b, sub->group, topic, spare, count);
    else
        svc_msg_free(spare);
}

/* Gives msg (taken) to one open member of `group`, or drops it when none is
 * left. Members only ever close, so handing on ends. */
static void hand_to_group(bus *b, const char *group, const char *topic, svc_msg *msg,
                          uint32_t count)
{
    pthread_rwlock_rdlock(&b->lock);
    svc_sub *to = pick_member(b, 0, group, topic);
    pthread_rwlock_unlock(&b->lock);
    if (!to) {
        svc_msg_free(msg);
        return;
    }
    deliver_to(b, to, topic, msg, count);
    svc_sub_release(to);
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
    pthread_rwlock_rdlock(&b->lock);
    svc_sub **targets = b->n ? malloc(b->n * sizeof *targets) : NULL;
    bool oom = b->n && !targets;
    size_t n = targets ? pick_receivers(b, topic, targets) : 0;
    pthread_rwlock_unlock(&b->lock);
    svc_code rc = oom ? svc_fail_oom() : SVC_OK;
    for (size_t i = 0; i < n; i++) {
        svc_msg *copy = NULL;
        if (svc_msg_clone(m, &copy) == SVC_OK)
            deliver_to(b, targets[i], topic, copy, 1);
        else
            rc = svc_fail_oom();
        svc_sub_release(targets[i]);
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

/* ---- redelivery ---- */

static void redelivery_free(redelivery *r)
{
    svc_timer_free(r->timer); /* also from its own callback, on its loop */
    svc_msg_free(r->msg);
    free(r->topic);
    svc_sub_release(r->sub);
    bus_release(r->bus);
    free(r);
}

static void redeliver(void *arg)
{
    redelivery *r = arg;
    bus *b = r->bus;
    pthread_mutex_lock(&b->pending_mu);
    bool mine = SVC_DLIST_LINKED(b->pending, r, prev);
    SVC_DLIST_REMOVE(b->pending, r, prev, next);
    pthread_mutex_unlock(&b->pending_mu);
    if (!mine)
        return; /* unsubscribe took it; it waits for this callback to return */
    deliver_to(b, r->sub, r->topic, r->msg, r->count);
    r->msg = NULL;
    redelivery_free(r);
}

/* A nack of an open subscription: `msg` (taken) comes back after delay_ms,
 * unless the subscription leaves first. Takes the caller's use of b. */
static svc_code schedule_redelivery(bus *b, svc_sub *sub, const char *topic, svc_msg *msg,
                                    uint32_t count, int64_t delay_ms)
{
    redelivery *r = calloc(1, sizeof *r);
    if (r) {
        r->bus = b;
        r->msg = msg;
        r->count = count;
    }
    if (!r || !(r->topic = strdup(topic)) ||
        svc_timer_new(svc_ctx_loop(sub->chan->ctx), redeliver, r, &r->timer) != SVC_OK) {
        if (r)
            free(r->topic);
        free(r);
        svc_msg_free(msg);
        bus_release(b);
        return svc_fail_oom();
    }
    r->sub = sub;
    svc_sub_hold(sub);
    int64_t delay_ns = delay_ms < INT64_MAX / SVC_NSEC_PER_MSEC ? delay_ms * SVC_NSEC_PER_MSEC
                                                               : INT64_MAX;
    svc_time at = svc_deadline_after(delay_ns);
    /* Listed unless the subscription closed: its unsubscribe, which runs
     * after it closed, takes the list under this lock, so nothing is left
     * behind to fire after the client is gone. */
    pthread_mutex_lock(&b->pending_mu);
    bool open = !atomic_load(&sub->closed);
    if (open) {
        SVC_DLIST_PUSH(b->pending, r, prev, next);
        svc_timer_arm(r->timer, at ? at : INT64_MAX);
    }
    pthread_mutex_unlock(&b->pending_mu);
    if (!open) {
        if (sub->group) {
            hand_to_group(b, sub->group, topic, r->msg, count);
            r->msg = NULL;
        }
        redelivery_free(r);
    }
    return SVC_OK;
}

svc_code svc_inproc_event_settle(svc_event *ev, svc_settle how, int64_t delay_ms)
{
    if (how != SVC_SETTLE_NACK)
        return SVC_OK; /* ack and term: nothing is kept */
    svc_sub *sub = ev->sub;
    bus *b = bus_acquire(((inproc_channel *)sub->chan)->name, false);
    if (!b)
        return SVC_OK; /* nobody subscribes any more: nobody to redeliver to */
    svc_msg *copy = NULL;
    if (svc_msg_clone(ev->msg, &copy) != SVC_OK) {
        bus_release(b);
        return svc_fail_oom();
    }
    return schedule_redelivery(b, sub, ev->topic, copy, ev->delivery_count + 1, delay_ms);
}

/* The redeliveries waiting for `sub`, off the list. */
static redelivery *take_pending(bus *b, const svc_sub *sub)
{
    redelivery *mine = NULL;
    pthread_mutex_lock(&b->pending_mu);
    for (redelivery *r = b->pending, *next; r; r = next) {
        next = r->next;
        if (r->sub == sub) {
            SVC_DLIST_REMOVE(b->pending, r, prev, next);
            r->next = mine;
            mine = r;
        }
    }
    pthread_mutex_unlock(&b->pending_mu);
    return mine;
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
    /* Its nacked events: not left to fire after the client is gone, but
     * handed to the rest of its queue group now, or dropped. */
    for (redelivery *r = take_pending(b, sub), *next; r; r = next) {
        next = r->next;
        svc_timer_free(r->timer); /* waits for a callback that is running */
        r->timer = NULL;
        if (sub->group) {
            hand_to_group(b, sub->group, r->topic, r->msg, r->count);
            r->msg = NULL;
        }
        redelivery_free(r);
    }
    bus_release(b);
    free(is);
    sub->tdata = NULL;
}
