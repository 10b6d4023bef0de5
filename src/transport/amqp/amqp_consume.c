/*
 * Consuming. Each subscription is a consumer on its own channel (its
 * basic.qos prefetch and its errors are its own); the queue and its binding
 * are declared from the options and declared again, with the consumer,
 * after every reconnection. Deliveries are always acknowledged by hand at
 * the AMQP level: core settles events of subscriptions without manual_ack
 * when their handler returns. Settling goes to the connection (directly or
 * through the owner's queue) whatever thread it comes from; a settlement
 * from an earlier connection is dropped (the broker requeued the message
 * when that connection went).
 */
#include <ctype.h>
#include <stdlib.h>

#include "amqp_client.h"
#include "core/error.h"
#include "core/loop.h"
#include "core/msg.h"
#include "core/pubsub.h"

struct consumer {
    amqp_chan *ch;
    svc_sub *sub;            /* NULL once unsubscribed */
    amqp_channel_t n;        /* 0 while not consuming */
    unsigned gen;            /* the connection `n` belongs to */
    char *queue;             /* as asked; "" for a server-named one */
    char exchange[256], key[256];
    bool bound;              /* "exchange/binding-key" pattern */
    char tag[256];           /* the consumer tag the broker gave */
    size_t outstanding;      /* delivered, not settled (this connection) */
    svc_time retry_at;       /* not consuming: when to try again (0 = at
                              * the next connection) */
    unsigned refs;           /* the list's, plus one per live delivery */
    consumer *next;
};

/* One delivered event's settlement, made with the event so that settling
 * never allocates. */
typedef struct delivery {
    ajob base;
    consumer *cons;
    uint64_t tag;
    unsigned gen;
    svc_settle how;
    svc_sub *held;           /* a delayed nack keeps the subscription */
} delivery;

static void settle_run(aconn *c, ajob *base);
static void settle_drop(ajob *base, svc_code code, const char *message);

typedef struct sub_job {
    ajob base;
    consumer *cons;
    swait *w;
} sub_job;

/* ---- declarations (io) ---- */

/* "x-message-ttl=60000" → an integer entry; anything else a string. */
static void queue_arg(const char *arg, amqp_table_entry_t *e, char *key, size_t cap)
{
    const char *eq = strchr(arg, '=');
    size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);
    snprintf(key, cap, "%.*s", (int)klen, arg);
    const char *v = eq ? eq + 1 : "";
    e->key = svc_amqp_str(key);
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*v && !*end && (isdigit((unsigned char)*v) || *v == '-')) {
        e->value.kind = AMQP_FIELD_KIND_I64;
        e->value.value.i64 = n;
    } else {
        e->value.kind = AMQP_FIELD_KIND_UTF8;
        e->value.value.bytes = svc_amqp_str(v);
    }
}

static svc_code declare_queue(consumer *cs, char *name, size_t cap)
{
    aconn *c = cs->ch->conn;
    const svc_sub_opts *o = &cs->sub->opts;
    size_t n = 0;
    while (o->queue_args && o->queue_args[n])
        n++;
    amqp_table_entry_t *entries = n ? calloc(n, sizeof *entries) : NULL;
    char(*keys)[256] = n ? calloc(n, sizeof *keys) : NULL;
    if (n && (!entries || !keys)) {
        free(entries);
        free(keys);
        return svc_fail_oom();
    }
    for (size_t i = 0; i < n; i++)
        queue_arg(o->queue_args[i], &entries[i], keys[i], sizeof keys[i]);
    amqp_table_t args = {(int)n, entries};
    bool server_named = !cs->queue[0];
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(c->conn, AMQP_CH_CONTROL, svc_amqp_str(cs->queue), 0,
                           o->durable && !server_named, o->exclusive || server_named,
                           o->auto_delete || server_named, args);
    free(entries);
    free(keys);
    svc_code rc = svc_amqp_rpc_status(c, AMQP_CH_CONTROL, "queue.declare", true);
    if (!rc)
        snprintf(name, cap, "%.*s", (int)ok->queue.len, (const char *)ok->queue.bytes);
    return rc;
}

/* A channel number for a new consumer. Numbers go round rather than the
 * lowest free one being taken again at once: deliveries that arrived for a
 * closed consumer's channel while we waited for its close-ok are still in
 * librabbitmq's queue, and must not look like a new consumer's. */
static amqp_channel_t free_channel(amqp_chan *ch)
{
    int max = amqp_get_channel_max(ch->conn->conn);
    amqp_channel_t last = max > AMQP_CH_FIRST_SUB && max <= 65535 ? (amqp_channel_t)max : 2047;
    for (;;) {
        amqp_channel_t n = ch->next_channel >= AMQP_CH_FIRST_SUB && ch->next_channel <= last
                               ? ch->next_channel
                               : AMQP_CH_FIRST_SUB;
        ch->next_channel = (amqp_channel_t)(n + 1);
        bool used = false;
        for (consumer *cs = ch->consumers; cs && !used; cs = cs->next)
            used = cs->n == n;
        if (!used)
            return n;
    }
}

static svc_code close_channel(aconn *c, amqp_channel_t n)
{
    amqp_channel_close(c->conn, n, AMQP_REPLY_SUCCESS);
    return svc_amqp_rpc_status(c, n, "channel.close", false);
}

/* Declares what the subscription needs and starts consuming. */
static svc_code consumer_start(consumer *cs)
{
    amqp_chan *ch = cs->ch;
    aconn *c = ch->conn;
    const svc_sub_opts *o = &cs->sub->opts;
    char queue[256];
    svc_code rc = SVC_OK;
    if (cs->bound)
        rc = svc_amqp_ensure_exchange(ch, cs->exchange, o->exchange_type);
    if (!rc)
        rc = declare_queue(cs, queue, sizeof queue);
    if (!rc && cs->bound) {
        amqp_queue_bind(c->conn, AMQP_CH_CONTROL, svc_amqp_str(queue), svc_amqp_str(cs->exchange),
                        svc_amqp_str(cs->key), amqp_empty_table);
        rc = svc_amqp_rpc_status(c, AMQP_CH_CONTROL, "queue.bind", true);
    }
    if (rc)
        return rc;
    amqp_channel_t n = free_channel(ch);
    if ((rc = svc_amqp_channel_open(c, n)) != SVC_OK)
        return rc;
    unsigned prefetch = o->prefetch ? o->prefetch : SVC_AMQP_DEFAULT_PREFETCH;
    amqp_basic_qos(c->conn, n, 0, (uint16_t)(prefetch > 65535 ? 65535 : prefetch), 0);
    rc = svc_amqp_rpc_status(c, n, "basic.qos", false);
    if (!rc) {
        amqp_basic_consume_ok_t *ok = amqp_basic_consume(c->conn, n, svc_amqp_str(queue),
                                                         amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
        rc = svc_amqp_rpc_status(c, n, "basic.consume", false);
        if (!rc)
            snprintf(cs->tag, sizeof cs->tag, "%.*s", (int)ok->consumer_tag.len,
                     (const char *)ok->consumer_tag.bytes);
    }
    if (rc) {
        if (!c->broken && amqp_get_rpc_reply(c->conn).reply_type == AMQP_RESPONSE_NORMAL)
            close_channel(c, n);
        return rc;
    }
    cs->n = n;
    cs->gen = c->gen;
    cs->outstanding = 0;
    if (cs->retry_at)
        svc_log_info(c->ctx, "amqp", "%s: consuming '%s' again", c->target, cs->sub->pattern);
    return SVC_OK;
}

static void consumer_unref(consumer *cs)
{
    if (--cs->refs)
        return;
    free(cs->queue);
    free(cs);
}

static void consumer_unlink(consumer *cs)
{
    for (consumer **pp = &cs->ch->consumers; *pp; pp = &(*pp)->next) {
        if (*pp == cs) {
            *pp = cs->next;
            break;
        }
    }
    consumer_unref(cs);
}

/* An unsubscribed consumer goes once its last event is settled. */
static void consumer_maybe_end(consumer *cs)
{
    if (cs->sub || cs->outstanding)
        return;
    aconn *c = cs->ch->conn;
    if (cs->n && c->ready && !c->broken && cs->gen == c->gen)
        close_channel(c, cs->n);
    consumer_unlink(cs);
}

/* ---- the connection's events ---- */

#define RETRY_NS SVC_NSEC_PER_SEC

/* Consumes again; a refusal (a durable queue whose node is still
 * recovering answers 404, say) is tried again every RETRY_NS, so a
 * subscription never silently stops. */
static svc_code restart(consumer *cs, svc_time now)
{
    svc_code rc = consumer_start(cs);
    if (rc == SVC_OK || cs->ch->conn->broken) {
        cs->retry_at = 0;
        return rc;
    }
    if (!cs->retry_at)
        svc_log_warn(cs->ch->conn->ctx, "amqp", "%s: cannot consume '%s' again (trying every "
                     "second): %s", cs->ch->conn->target, cs->sub->pattern, svc_last_error());
    cs->retry_at = now + RETRY_NS;
    return SVC_OK;
}

svc_code svc_amqp_sub_ready(amqp_chan *ch)
{
    svc_time now = svc_now();
    for (consumer *cs = ch->consumers; cs; cs = cs->next) {
        svc_code rc = cs->sub ? restart(cs, now) : SVC_OK;
        if (rc)
            return rc;
    }
    return SVC_OK;
}

void svc_amqp_sub_tick(amqp_chan *ch, svc_time now)
{
    aconn *c = ch->conn;
    for (consumer *cs = ch->consumers; cs && c->ready && !c->broken; cs = cs->next)
        if (cs->sub && !cs->n && cs->retry_at && now >= cs->retry_at)
            restart(cs, now);
}

void svc_amqp_sub_lost(amqp_chan *ch)
{
    consumer *cs = ch->consumers;
    while (cs) {
        consumer *next = cs->next;
        cs->n = 0;
        cs->outstanding = 0; /* the broker requeued them */
        if (!cs->sub)
            consumer_unlink(cs);
        cs = next;
    }
}

static consumer *by_channel(amqp_chan *ch, amqp_channel_t n)
{
    for (consumer *cs = ch->consumers; cs; cs = cs->next)
        if (cs->n == n)
            return cs;
    return NULL;
}

void svc_amqp_sub_channel_closed(amqp_chan *ch, amqp_channel_t n, svc_code code, const char *text)
{
    (void)code;
    (void)text;
    consumer *cs = by_channel(ch, n);
    if (!cs)
        return;
    cs->n = 0; /* consumed again in a moment */
    cs->outstanding = 0;
    cs->retry_at = svc_now() + RETRY_NS;
    consumer_maybe_end(cs);
}

static uint32_t delivery_count(const amqp_basic_properties_t *p, bool redelivered)
{
    char buf[32];
    const char *quorum = svc_amqp_header(p, "x-delivery-count", buf, sizeof buf);
    uint32_t n = quorum ? (uint32_t)strtoul(quorum, NULL, 10) + 1 : redelivered ? 2 : 1;
    if (n < 2 && svc_amqp_header(p, "svc-redelivered", buf, sizeof buf))
        n = 2; /* published again after a lost confirmation */
    return n;
}

static void on_deliver(amqp_chan *ch, amqp_frame_t *f)
{
    aconn *c = ch->conn;
    const amqp_basic_deliver_t *d = f->payload.method.decoded;
    uint64_t tag = d->delivery_tag;
    bool redelivered = d->redelivered;
    char topic[520];
    snprintf(topic, sizeof topic, "%.*s/%.*s", (int)d->exchange.len, (const char *)d->exchange.bytes,
             (int)d->routing_key.len, (const char *)d->routing_key.bytes);
    amqp_message_t m;
    if (!svc_amqp_read_content(c, f->channel, &m))
        return;
    consumer *cs = by_channel(ch, f->channel);
    size_t skipped = 0;
    svc_msg *msg = cs && cs->sub ? svc_amqp_msg_from(&m.properties, m.body, true, &skipped) : NULL;
    uint32_t count = delivery_count(&m.properties, redelivered);
    if (msg)
        m.body = amqp_empty_bytes; /* the message owns it now */
    amqp_destroy_message(&m);
    if (skipped)
        svc_log_debug(c->ctx, "amqp", "%s: %zu header(s) of a message on '%s' have no metadata form",
                      c->target, skipped, topic);
    delivery *dv = msg ? calloc(1, sizeof *dv) : NULL;
    if (dv) {
        dv->base.run = settle_run;
        dv->base.drop = settle_drop;
        dv->base.offline = true; /* a stale one is dropped when it runs */
        dv->cons = cs;
        dv->tag = tag;
        dv->gen = c->gen;
        cs->refs++;
        cs->outstanding++;
        if (svc_sub_deliver(cs->sub, topic, msg, count, dv) == SVC_OK)
            return;
        cs->outstanding--;
        cs->refs--;
        free(dv);
    } else {
        svc_msg_free(msg);
    }
    /* No consumer (its channel is closed: the broker requeued the message
     * already, and a nack on a closed channel would cost the connection). */
    if (!cs)
        return;
    /* Unsubscribed, full or out of memory: let another consumer have it. */
    svc_amqp_write_status(c, amqp_basic_nack(c->conn, f->channel, tag, 0, 1), "basic.nack");
    consumer_maybe_end(cs);
}

void svc_amqp_sub_method(amqp_chan *ch, amqp_frame_t *f)
{
    if (f->payload.method.id == AMQP_BASIC_DELIVER_METHOD) {
        on_deliver(ch, f);
    } else if (f->payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
        consumer *cs = by_channel(ch, f->channel);
        if (cs && cs->sub)
            svc_log_warn(ch->conn->ctx, "amqp", "%s: the broker cancelled the consumer of '%s' "
                         "(queue deleted?)", ch->conn->target, cs->sub->pattern);
    }
}

/* ---- settling ---- */

static void settle_now(aconn *c, delivery *d)
{
    consumer *cs = d->cons;
    if (c->ready && d->gen == c->gen && cs->gen == d->gen && cs->n) {
        int st = d->how == SVC_SETTLE_ACK    ? amqp_basic_ack(c->conn, cs->n, d->tag, 0)
                 : d->how == SVC_SETTLE_NACK ? amqp_basic_nack(c->conn, cs->n, d->tag, 0, 1)
                                             : amqp_basic_reject(c->conn, cs->n, d->tag, 0);
        svc_amqp_write_status(c, st, "settling a delivery");
        cs->outstanding--;
        consumer_maybe_end(cs);
    } /* else from an earlier connection or channel: the broker requeued it */
    free(d);
    consumer_unref(cs);
}

static void settle_run(aconn *c, ajob *base)
{
    settle_now(c, (delivery *)base);
}

static void settle_drop(ajob *base, svc_code code, const char *message)
{
    (void)code;
    (void)message;
    delivery *d = (delivery *)base; /* the connection is closed: nothing to send */
    consumer_unref(d->cons);
    free(d);
}

static void submit_later(void *arg)
{
    delivery *d = arg;
    svc_sub *held = d->held;
    svc_amqp_submit(d->cons->ch->conn, &d->base);
    svc_sub_release(held);
}

svc_code svc_amqp_event_settle(svc_event *ev, svc_settle how, int64_t delay_ms)
{
    delivery *d = ev->tdata;
    aconn *c = d->cons->ch->conn;
    d->how = how;
    if (how == SVC_SETTLE_NACK && delay_ms > 0) {
        /* AMQP has no delayed requeue: keep the message, nack it later. */
        d->held = ev->sub;
        svc_sub_hold(ev->sub);
        if (svc_loop_post_after(svc_ctx_loop(c->ctx), delay_ms * SVC_NSEC_PER_MSEC, submit_later,
                                d) == SVC_OK)
            return SVC_OK;
        d->held = NULL;
        svc_sub_release(ev->sub);
    }
    svc_amqp_run_or_submit(c, &d->base);
    return SVC_OK;
}

/* ---- subscribe and unsubscribe ---- */

static void sub_drop(ajob *base, svc_code code, const char *message)
{
    sub_job *j = (sub_job *)base;
    svc_amqp_wait_done(j->w, code, message);
    free(j);
}

static void subscribe_run(aconn *c, ajob *base)
{
    sub_job *j = (sub_job *)base;
    consumer *cs = j->cons;
    amqp_chan *ch = c->owner;
    cs->next = ch->consumers;
    ch->consumers = cs;
    svc_code rc = consumer_start(cs);
    if (rc) {
        cs->sub = NULL;
        consumer_unlink(cs);
    }
    sub_drop(base, rc, rc ? svc_last_error() : NULL);
}

static void unsubscribe_run(aconn *c, ajob *base)
{
    sub_job *j = (sub_job *)base;
    consumer *cs = j->cons;
    cs->sub = NULL; /* no delivery reaches the subscription from now on */
    if (cs->n && c->ready && !c->broken && cs->gen == c->gen) {
        /* Messages already on their way are nacked as they arrive; the
         * channel closes once every event is settled. */
        amqp_basic_cancel(c->conn, cs->n, svc_amqp_str(cs->tag));
        svc_amqp_rpc_status(c, cs->n, "basic.cancel", false);
    }
    consumer_maybe_end(cs);
    sub_drop(base, SVC_OK, NULL);
}

static sub_job *sub_job_new(consumer *cs, void (*run)(aconn *, ajob *))
{
    sub_job *j = calloc(1, sizeof *j);
    if (!j || !(j->w = svc_amqp_wait_new())) {
        free(j);
        return NULL;
    }
    j->cons = cs;
    j->base.run = run;
    j->base.drop = sub_drop;
    return j;
}

svc_code svc_amqp_subscribe(svc_channel *base, svc_sub *sub)
{
    amqp_chan *ch = (amqp_chan *)base;
    if (svc_amqp_on_owner(ch->conn))
        return svc_fail(SVC_FAILED_PRECONDITION,
                        "subscribing from an inline handler would block its own AMQP connection");
    consumer *cs = calloc(1, sizeof *cs);
    if (!cs)
        return svc_fail_oom();
    cs->ch = ch;
    cs->sub = sub;
    cs->refs = 1;
    const char *pattern = sub->pattern;
    cs->bound = strchr(pattern, '/') != NULL;
    svc_code rc = cs->bound ? svc_amqp_split_topic(pattern, cs->exchange, cs->key, false) : SVC_OK;
    if (!rc && !cs->bound && !*pattern)
        rc = svc_fail(SVC_INVALID_ARGUMENT, "an AMQP subscription names a queue or exchange/binding-key");
    if (!rc && !cs->bound && strlen(pattern) > 255)
        rc = svc_fail(SVC_INVALID_ARGUMENT, "queue names have at most 255 bytes");
    if (!rc && !(cs->queue = strdup(cs->bound ? (sub->opts.queue ? sub->opts.queue : "") : pattern)))
        rc = svc_fail_oom();
    sub_job *j = rc ? NULL : sub_job_new(cs, subscribe_run);
    if (!rc && !j)
        rc = svc_fail_oom();
    if (rc) {
        free(cs->queue);
        free(cs);
        return rc;
    }
    j->base.deadline = svc_now() + ch->conn->connect_timeout_ms * SVC_NSEC_PER_MSEC;
    swait *w = j->w;
    sub->tdata = cs;
    svc_amqp_submit(ch->conn, &j->base);
    rc = svc_amqp_wait(w, 0); /* the owner answers by the job's deadline */
    if (rc)
        sub->tdata = NULL;
    return rc;
}

void svc_amqp_unsubscribe(svc_channel *base, svc_sub *sub)
{
    amqp_chan *ch = (amqp_chan *)base;
    consumer *cs = sub->tdata;
    sub_job *j = sub_job_new(cs, unsubscribe_run);
    if (!j) { /* no memory for the hand-over: take the lock ourselves */
        pthread_mutex_lock(&ch->conn->io_lock);
        cs->sub = NULL;
        pthread_mutex_unlock(&ch->conn->io_lock);
        return;
    }
    j->base.offline = true;
    swait *w = j->w;
    svc_amqp_submit(ch->conn, &j->base);
    svc_amqp_wait(w, 0);
    sub->tdata = NULL;
}
