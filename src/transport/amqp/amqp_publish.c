/*
 * Publishing. Unconfirmed events go out on channel 2 and are done once
 * written; confirmed ones (svc_publish with confirm or mandatory, and every
 * svc_publish_async) on channel 3, in confirm mode, where each waits in
 * `pending` (in delivery-tag order) for the broker's ack or nack. Many may
 * be in flight at once, up to MAX_IN_FLIGHT, so throughput is not one round
 * trip per event. A basic.return (mandatory, no queue took it) comes just
 * before the ack of the same event, and returns come in publish order: it
 * belongs to the oldest pending mandatory event with the same exchange and
 * routing key. When the connection or the channel fails, everything pending
 * is published again (at least once) once it is back.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "amqp_client.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/msg.h"

#define DEFAULT_TIMEOUT_MS 10000
#define MAX_IN_FLIGHT 8192
#define LOW_WATER (MAX_IN_FLIGHT * 3 / 4)

struct pub_job {
    ajob base;
    amqp_chan *ch;
    svc_msg *msg;
    char *exchange_type, *message_id, *correlation_id, *app_id;
    char exchange[256], key[256];
    bool persistent, mandatory, confirm;
    bool again;              /* published before without a verdict */
    uint64_t seq;            /* delivery tag once written on the confirm channel */
    bool returned;
    char return_text[256];
    svc_pub_confirm *pc;     /* the verdict of an async publish, or */
    swait *w;                /* of a blocking one, or neither */
    pub_job *next_pending;
};

svc_code svc_amqp_split_topic(const char *topic, char exchange[256], char key[256], bool key_required)
{
    const char *slash = strchr(topic, '/');
    size_t elen = slash ? (size_t)(slash - topic) : 0;
    const char *k = slash ? slash + 1 : topic;
    if (elen > 255 || strlen(k) > 255)
        return svc_fail(SVC_INVALID_ARGUMENT, "'%.60s...': exchange names and keys have at most 255 bytes", topic);
    if (key_required && !*k && !elen)
        return svc_fail(SVC_INVALID_ARGUMENT,
                        "bad AMQP topic '%s': \"exchange/routing-key\", or a queue name for the default exchange",
                        topic);
    memcpy(exchange, topic, elen);
    exchange[elen] = '\0';
    memcpy(key, k, strlen(k) + 1);
    return SVC_OK;
}

svc_code svc_amqp_ensure_exchange(amqp_chan *ch, const char *name, const char *type)
{
    if (!*name)
        return SVC_OK; /* the default exchange */
    pthread_mutex_lock(&ch->ex_mu);
    bool known = svc_strmap_get(&ch->exchanges, name, strlen(name)) != NULL;
    pthread_mutex_unlock(&ch->ex_mu);
    if (known)
        return SVC_OK;
    aconn *c = ch->conn;
    amqp_exchange_declare(c->conn, AMQP_CH_CONTROL, svc_amqp_str(name),
                          svc_amqp_str(type ? type : "direct"), !type, 1, 0, 0, amqp_empty_table);
    svc_code rc = svc_amqp_rpc_status(c, AMQP_CH_CONTROL, "exchange.declare", true);
    if (rc == SVC_NOT_FOUND)
        return svc_fail(SVC_NOT_FOUND, "no exchange '%s' on %s (declare it first, or give its type)",
                        name, c->target);
    if (rc)
        return rc;
    pthread_mutex_lock(&ch->ex_mu);
    svc_strmap_put(&ch->exchanges, name, ch); /* a failed put only costs a later re-check */
    pthread_mutex_unlock(&ch->ex_mu);
    return SVC_OK;
}

static void forget_exchanges(amqp_chan *ch)
{
    pthread_mutex_lock(&ch->ex_mu);
    svc_strmap_clear(&ch->exchanges);
    pthread_mutex_unlock(&ch->ex_mu);
}

/* ---- verdicts ---- */

static void job_free(pub_job *j)
{
    svc_msg_free(j->msg);
    free(j->exchange_type);
    free(j->message_id);
    free(j->correlation_id);
    free(j->app_id);
    free(j);
}

/* Gives the verdict; true for an async publish (its slot is free now). */
static bool report(pub_job *j, svc_code code, const char *message)
{
    bool async = j->pc != NULL;
    if (j->pc)
        svc_publish_done(j->pc, code, message);
    else if (j->w)
        svc_amqp_wait_done(j->w, code, message);
    job_free(j);
    return async;
}

/* `n` async publishes got their verdict. A publisher waiting for room is
 * woken once a quarter of the window is free, not for every verdict: it
 * then writes a burst, as a raw client reading a multiple-ack does. */
static void release_slots(amqp_chan *ch, size_t n)
{
    if (!n)
        return;
    pthread_mutex_lock(&ch->flush_mu);
    ch->async_open -= n;
    if (ch->async_open <= LOW_WATER)
        pthread_cond_broadcast(&ch->flush_cv);
    pthread_mutex_unlock(&ch->flush_mu);
}

static void finish(pub_job *j, svc_code code, const char *message)
{
    amqp_chan *ch = j->ch;
    release_slots(ch, report(j, code, message));
}

static void job_drop(ajob *base, svc_code code, const char *message)
{
    finish((pub_job *)base, code, message);
}

static bool confirmed(pub_job *j, bool ack)
{
    if (!ack)
        return report(j, SVC_UNAVAILABLE, "the broker refused the event (basic.nack)");
    if (j->returned)
        return report(j, SVC_NOT_FOUND, j->return_text);
    return report(j, SVC_OK, NULL);
}

/* ---- writing (io) ---- */

static void add_pending(amqp_chan *ch, pub_job *j)
{
    if (!ch->pending_min_deadline || j->base.deadline < ch->pending_min_deadline)
        ch->pending_min_deadline = j->base.deadline;
    j->next_pending = NULL;
    if (ch->pending_tail)
        ch->pending_tail->next_pending = j;
    else
        ch->pending = j;
    ch->pending_tail = j;
}

static svc_code fill_props(pub_job *j, amqp_out *out)
{
    svc_code rc = svc_amqp_out_init(out, j->msg, NULL, 1);
    if (rc)
        return rc;
    /* A copy may have reached a queue already: our consumers report it
     * as redelivered, like a message the broker delivers again. */
    if (j->again)
        svc_amqp_out_header(out, "svc-redelivered", "true");
    amqp_basic_properties_t *p = &out->props;
    p->_flags |= AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TIMESTAMP_FLAG;
    p->delivery_mode = j->persistent ? 2 : 1;
    p->timestamp = (uint64_t)(svc_wall_now() / SVC_NSEC_PER_SEC);
    if (j->message_id) {
        p->_flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        p->message_id = svc_amqp_str(j->message_id);
    }
    if (j->correlation_id) {
        p->_flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        p->correlation_id = svc_amqp_str(j->correlation_id);
    }
    if (j->app_id) {
        p->_flags |= AMQP_BASIC_APP_ID_FLAG;
        p->app_id = svc_amqp_str(j->app_id);
    }
    return svc_amqp_out_check_size(out, j->ch->conn->frame_max);
}

/* Writes one event; on success a confirmed one waits in `pending`. */
static void write_job(amqp_chan *ch, pub_job *j)
{
    aconn *c = ch->conn;
    svc_code rc = svc_amqp_ensure_exchange(ch, j->exchange, j->exchange_type);
    if (rc) {
        if (c->broken && j->confirm) /* the connection, not the event: try again */
            add_pending(ch, j);
        else
            finish(j, rc, svc_last_error());
        return;
    }
    amqp_out out;
    if ((rc = fill_props(j, &out)) != SVC_OK) {
        svc_amqp_out_free(&out);
        finish(j, rc, svc_last_error());
        return;
    }
    amqp_bytes_t body = {svc_msg_len(j->msg), (void *)svc_msg_data(j->msg)};
    int st = amqp_basic_publish(c->conn, j->confirm ? AMQP_CH_CONFIRM : AMQP_CH_PUB,
                                svc_amqp_str(j->exchange), svc_amqp_str(j->key), j->mandatory, 0,
                                &out.props, body);
    svc_amqp_out_free(&out);
    rc = svc_amqp_write_status(c, st, "basic.publish");
    if (j->confirm) {
        j->seq = rc ? 0 : ch->next_seq++;
        add_pending(ch, j); /* a failed write is published again after reconnecting */
    } else {
        finish(j, rc, rc ? svc_last_error() : NULL);
    }
}

static void job_run(aconn *c, ajob *base)
{
    write_job(c->owner, (pub_job *)base);
}

static void submit(amqp_chan *ch, pub_job *j)
{
    svc_amqp_run_or_submit(ch->conn, &j->base);
}

/* ---- the connection's events (io, owner thread) ---- */

svc_code svc_amqp_pub_ready(amqp_chan *ch)
{
    aconn *c = ch->conn;
    svc_code rc = svc_amqp_channel_open(c, AMQP_CH_PUB);
    if (!rc)
        rc = svc_amqp_channel_open(c, AMQP_CH_CONFIRM);
    if (!rc) {
        amqp_confirm_select(c->conn, AMQP_CH_CONFIRM);
        rc = svc_amqp_rpc_status(c, AMQP_CH_CONFIRM, "confirm.select", false);
    }
    if (rc)
        return rc;
    ch->next_seq = 1;
    /* Everything that had no verdict goes out again, in its order. */
    pub_job *j = ch->pending;
    ch->pending = ch->pending_tail = NULL;
    while (j) {
        pub_job *next = j->next_pending;
        j->returned = false;
        j->again = true;
        write_job(ch, j);
        j = next;
    }
    return SVC_OK;
}

void svc_amqp_pub_lost(amqp_chan *ch)
{
    forget_exchanges(ch); /* a restarted broker may have lost them */
    for (pub_job *j = ch->pending; j; j = j->next_pending)
        j->seq = 0;
}

void svc_amqp_pub_channel_closed(amqp_chan *ch, amqp_channel_t n, svc_code code, const char *text)
{
    (void)code;
    (void)text;
    forget_exchanges(ch); /* most likely one went away: check again */
    aconn *c = ch->conn;
    if (n == AMQP_CH_PUB) {
        svc_amqp_channel_open(c, n);
        return;
    }
    /* Which event the broker objected to is unknown: publish the pending
     * ones again; the exchange checks single out the culprit. */
    if (svc_amqp_channel_open(c, AMQP_CH_PUB) != SVC_OK && !c->broken)
        return;
    svc_amqp_pub_lost(ch);
    if (!c->broken && svc_amqp_pub_ready(ch) != SVC_OK && !c->broken)
        svc_amqp_broken(c, AMQP_STATUS_UNEXPECTED_STATE, "reopening the confirm channel");
}

static void on_ack(amqp_chan *ch, uint64_t tag, bool multiple, bool ack)
{
    /* pending is in tag order (0: not written on this channel yet) */
    pub_job **pp = &ch->pending, *prev = NULL;
    size_t freed = 0;
    while (*pp && (*pp)->seq <= tag) {
        pub_job *j = *pp;
        if (j->seq && (multiple || j->seq == tag)) {
            *pp = j->next_pending;
            if (ch->pending_tail == j)
                ch->pending_tail = prev;
            freed += confirmed(j, ack);
            if (!multiple)
                break;
            continue;
        }
        prev = j;
        pp = &j->next_pending;
    }
    release_slots(ch, freed);
}

static void on_return(amqp_chan *ch, amqp_frame_t *f)
{
    const amqp_basic_return_t *r = f->payload.method.decoded;
    char ex[256], key[256], text[64];
    snprintf(ex, sizeof ex, "%.*s", (int)r->exchange.len, (const char *)r->exchange.bytes);
    snprintf(key, sizeof key, "%.*s", (int)r->routing_key.len, (const char *)r->routing_key.bytes);
    snprintf(text, sizeof text, "%.*s", (int)r->reply_text.len, (const char *)r->reply_text.bytes);
    amqp_message_t m;
    if (!svc_amqp_read_content(ch->conn, f->channel, &m))
        return;
    amqp_destroy_message(&m);
    for (pub_job *j = ch->pending; j; j = j->next_pending) {
        if (j->seq && j->mandatory && !j->returned && strcmp(j->exchange, ex) == 0 &&
            strcmp(j->key, key) == 0) {
            j->returned = true;
            snprintf(j->return_text, sizeof j->return_text,
                     "no queue took the event on exchange '%.60s' with key '%.60s' (%s)", ex, key, text);
            return;
        }
    }
}

void svc_amqp_pub_method(amqp_chan *ch, amqp_frame_t *f)
{
    switch (f->payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = f->payload.method.decoded;
        on_ack(ch, a->delivery_tag, a->multiple, true);
        break;
    }
    case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *n = f->payload.method.decoded;
        on_ack(ch, n->delivery_tag, n->multiple, false);
        break;
    }
    case AMQP_BASIC_RETURN_METHOD:
        on_return(ch, f);
        break;
    default:
        break;
    }
}

void svc_amqp_pub_tick(amqp_chan *ch, svc_time now)
{
    /* pending_min_deadline bounds every pending deadline from below: the
     * list (up to MAX_IN_FLIGHT long) is walked only once one may be due. */
    if (!ch->pending_min_deadline || now < ch->pending_min_deadline)
        return;
    ch->pending_min_deadline = 0;
    pub_job **pp = &ch->pending, *prev = NULL;
    while (*pp) {
        pub_job *j = *pp;
        if (now >= j->base.deadline) {
            *pp = j->next_pending;
            if (ch->pending_tail == j)
                ch->pending_tail = prev;
            finish(j, SVC_DEADLINE_EXCEEDED, "no confirmation from the broker in time");
        } else {
            if (!ch->pending_min_deadline || j->base.deadline < ch->pending_min_deadline)
                ch->pending_min_deadline = j->base.deadline;
            prev = j;
            pp = &j->next_pending;
        }
    }
}

/* ---- the transport's ops ---- */

static svc_code job_new(amqp_chan *ch, const char *topic, const svc_msg *m, const svc_pub_opts *o,
                        pub_job **out)
{
    pub_job *j = calloc(1, sizeof *j);
    if (!j)
        return svc_fail_oom();
    svc_code rc = svc_amqp_split_topic(topic, j->exchange, j->key, true);
    if (!rc)
        rc = svc_msg_clone(m, &j->msg);
    if (!rc)
        rc = svc_amqp_dup_opt(o->exchange_type, &j->exchange_type);
    if (!rc)
        rc = svc_amqp_dup_opt(o->message_id, &j->message_id);
    if (!rc)
        rc = svc_amqp_dup_opt(o->correlation_id, &j->correlation_id);
    if (!rc)
        rc = svc_amqp_dup_opt(o->app_id, &j->app_id);
    if (rc) {
        job_free(j);
        return rc;
    }
    j->ch = ch;
    j->base.run = job_run;
    j->base.drop = job_drop;
    j->base.deadline = svc_now() + (o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS) *
                                       SVC_NSEC_PER_MSEC;
    j->persistent = o->persistent;
    j->mandatory = o->mandatory;
    *out = j;
    return SVC_OK;
}

static bool exchange_known(amqp_chan *ch, const char *name)
{
    if (!*name)
        return true;
    pthread_mutex_lock(&ch->ex_mu);
    bool known = svc_strmap_get(&ch->exchanges, name, strlen(name)) != NULL;
    pthread_mutex_unlock(&ch->ex_mu);
    return known;
}

svc_code svc_amqp_publish(svc_channel *base, const char *topic, const svc_msg *m,
                          const svc_pub_opts *o)
{
    amqp_chan *ch = (amqp_chan *)base;
    pub_job *j;
    svc_code rc = job_new(ch, topic, m, o, &j);
    if (rc)
        return rc;
    j->confirm = o->confirm || o->mandatory; /* a return is only known with the ack */
    /* Fire and forget only when nothing can go wrong that we could still
     * report: connected, and the exchange known to exist. */
    if (!j->confirm && svc_amqp_conn_state(ch->conn) == SVC_AMQP_READY &&
        exchange_known(ch, j->exchange)) {
        submit(ch, j);
        return SVC_OK;
    }
    if (svc_amqp_on_owner(ch->conn)) {
        job_free(j);
        return svc_fail(SVC_FAILED_PRECONDITION,
                        "a blocking AMQP publish from an inline handler would block its own "
                        "connection: use svc_publish_async");
    }
    if (!(j->w = svc_amqp_wait_new())) {
        job_free(j);
        return svc_fail_oom();
    }
    swait *w = j->w;
    svc_time deadline = j->base.deadline + SVC_NSEC_PER_SEC; /* the owner answers first */
    submit(ch, j);
    return svc_amqp_wait(w, deadline);
}

svc_code svc_amqp_publish_async(svc_channel *base, const char *topic, const svc_msg *m,
                                const svc_pub_opts *o, svc_pub_confirm *pc)
{
    amqp_chan *ch = (amqp_chan *)base;
    pub_job *j;
    svc_code rc = job_new(ch, topic, m, o, &j);
    if (rc)
        return rc;
    j->confirm = true;
    j->pc = pc;
    /* Bounded memory: wait for room (not on the owner thread, which makes it). */
    pthread_mutex_lock(&ch->flush_mu);
    while (ch->async_open >= MAX_IN_FLIGHT && !svc_amqp_on_owner(ch->conn)) {
        if (svc_now() >= j->base.deadline) {
            pthread_mutex_unlock(&ch->flush_mu);
            job_free(j);
            return svc_fail(SVC_DEADLINE_EXCEEDED, "%d AMQP publishes await their confirmation",
                            MAX_IN_FLIGHT);
        }
        svc_amqp_cond_wait(&ch->flush_cv, &ch->flush_mu, 10 * SVC_NSEC_PER_MSEC);
    }
    ch->async_open++;
    pthread_mutex_unlock(&ch->flush_mu);
    submit(ch, j);
    return SVC_OK;
}

svc_code svc_amqp_publish_flush(svc_channel *base, int64_t timeout_ms)
{
    amqp_chan *ch = (amqp_chan *)base;
    svc_time deadline = timeout_ms > 0 ? svc_now() + timeout_ms * SVC_NSEC_PER_MSEC : 0;
    pthread_mutex_lock(&ch->flush_mu);
    while (ch->async_open > 0 && (!deadline || svc_now() < deadline)) {
        svc_amqp_cond_wait(&ch->flush_cv, &ch->flush_mu, 10 * SVC_NSEC_PER_MSEC);
    }
    size_t left = ch->async_open;
    pthread_mutex_unlock(&ch->flush_mu);
    return left ? svc_fail(SVC_DEADLINE_EXCEEDED, "%zu AMQP publishes still await their confirmation", left)
                : SVC_OK;
}
