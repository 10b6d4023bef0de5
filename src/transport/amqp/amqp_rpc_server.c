/*
 * Serving RPC methods over AMQP. At each (re)connection the listener asks
 * the server for its services (svc_server_each_service) and, for each,
 * declares an auto-delete queue named after the service, binds it to the
 * svc.rpc topic exchange with "<service>.*" (so every method of the
 * service, including ones registered later, reaches it) and consumes it on
 * channel 4 with manual acks and a prefetch that bounds the calls in
 * progress. Services registered after listen are picked up at the next
 * reconnection only: listen again (another listener) to serve them at once.
 * Servers listening on the same broker compete for a service's requests.
 *
 * A request is acked once its reply is published (a server that dies with
 * calls in progress leaves them to another server). Its deadline is the
 * svc-timeout header counted from arrival.
 *
 * Graceful shutdown (listener_quiesce): basic.cancel on every request
 * consumer, so the broker sends new requests to the other servers of the
 * service (or, with none left, deletes the auto-delete queue: callers get
 * UNAVAILABLE "no server serves"); calls in progress finish and their
 * replies go out before the connection closes.
 */
#include <stdlib.h>
#include <time.h>

#include "amqp_client.h"
#include "core/call.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/msg.h"

#define SERVER_PREFETCH 256
#define QUIESCE_WAIT_NS (5 * SVC_NSEC_PER_SEC)

typedef struct amqp_listener {
    svc_listener base;
    aconn *conn;
    svc_server *server; /* base.server is core's to write, after listen returns */
    /* Dispatched calls whose reply has not gone out (or been dropped):
     * core untracks a call before it hands us the reply, so a shutdown
     * may reach listener_free while that reply is still on its way. */
    atomic_long replying;
    /* io: */
    char (*tags)[256];  /* the request consumers of this connection */
    size_t n_tags;
    bool quiesced;      /* consumers cancelled: take no new requests */
} amqp_listener;

typedef struct quiesce_job {
    ajob base;
    swait *w;
} quiesce_job;

typedef struct amqp_call {
    svc_call base; /* first: core's view */
    ajob job;      /* the reply's way to the owner thread */
    amqp_listener *l;
    char reply_to[256], corr[256];
    uint64_t tag;
    unsigned gen;
    svc_msg *resp;
} amqp_call;

/* ---- services ---- */

typedef struct services {
    char (*names)[256];
    size_t n, cap;
    bool oom;
} services;

static void add_service(const char *service, void *ud)
{
    services *sv = ud;
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 8;
        void *p = realloc(sv->names, cap * sizeof *sv->names);
        if (!p) {
            sv->oom = true;
            return;
        }
        sv->names = p;
        sv->cap = cap;
    }
    snprintf(sv->names[sv->n++], sizeof *sv->names, "%s", service);
}

static svc_code serve(aconn *c, amqp_listener *l, const char *service)
{
    amqp_queue_declare(c->conn, AMQP_CH_CONTROL, svc_amqp_str(service), 0, 0, 0, 1, amqp_empty_table);
    svc_code rc = svc_amqp_rpc_status(c, AMQP_CH_CONTROL, "queue.declare", true);
    char binding[300];
    snprintf(binding, sizeof binding, "%s.*", service);
    if (!rc) {
        amqp_queue_bind(c->conn, AMQP_CH_CONTROL, svc_amqp_str(service),
                        svc_amqp_str(SVC_AMQP_RPC_EXCHANGE), svc_amqp_str(binding), amqp_empty_table);
        rc = svc_amqp_rpc_status(c, AMQP_CH_CONTROL, "queue.bind", true);
    }
    if (!rc) {
        amqp_basic_consume_ok_t *ok = amqp_basic_consume(
            c->conn, AMQP_CH_RPC, svc_amqp_str(service), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
        rc = svc_amqp_rpc_status(c, AMQP_CH_RPC, "basic.consume", false);
        if (!rc)
            snprintf(l->tags[l->n_tags++], sizeof *l->tags, "%.*s", (int)ok->consumer_tag.len,
                     (const char *)ok->consumer_tag.bytes);
    }
    return rc;
}

static svc_code on_ready(aconn *c)
{
    amqp_listener *l = c->owner;
    amqp_exchange_declare(c->conn, AMQP_CH_CONTROL, svc_amqp_str(SVC_AMQP_RPC_EXCHANGE),
                          svc_amqp_str("topic"), 0, 1, 0, 0, amqp_empty_table);
    svc_code rc = svc_amqp_rpc_status(c, AMQP_CH_CONTROL, "exchange.declare", true);
    if (!rc)
        rc = svc_amqp_channel_open(c, AMQP_CH_RPC);
    if (!rc) {
        amqp_basic_qos(c->conn, AMQP_CH_RPC, 0, SERVER_PREFETCH, 0);
        rc = svc_amqp_rpc_status(c, AMQP_CH_RPC, "basic.qos", false);
    }
    if (rc || l->quiesced) /* shutting down: replies only, no consumers */
        return rc;
    services sv = {0};
    svc_server_each_service(l->server, add_service, &sv);
    if (sv.oom)
        rc = svc_fail_oom();
    free(l->tags);
    l->n_tags = 0;
    l->tags = sv.n ? calloc(sv.n, sizeof *l->tags) : NULL;
    if (!rc && sv.n && !l->tags)
        rc = svc_fail_oom();
    for (size_t i = 0; !rc && i < sv.n; i++)
        rc = serve(c, l, sv.names[i]);
    free(sv.names);
    return rc;
}

/* ---- quiesce: no new requests, the ones in progress finish ---- */

static void quiesce_run(aconn *c, ajob *base)
{
    quiesce_job *j = (quiesce_job *)base;
    amqp_listener *l = c->owner;
    l->quiesced = true;
    /* Cancelled consumers get nothing more; a request already on its way
     * is still dispatched, and core answers it UNAVAILABLE (closing). */
    for (size_t i = 0; i < l->n_tags && c->ready && !c->broken; i++) {
        amqp_basic_cancel(c->conn, AMQP_CH_RPC, svc_amqp_str(l->tags[i]));
        svc_amqp_rpc_status(c, AMQP_CH_RPC, "basic.cancel", false);
    }
    l->n_tags = 0;
    svc_amqp_wait_done(j->w, SVC_OK, NULL);
    free(j);
}

static void quiesce_drop(ajob *base, svc_code code, const char *message)
{
    quiesce_job *j = (quiesce_job *)base;
    svc_amqp_wait_done(j->w, code, message);
    free(j);
}

void svc_amqp_listener_quiesce(svc_listener *base)
{
    amqp_listener *l = (amqp_listener *)base;
    quiesce_job *j = calloc(1, sizeof *j);
    if (!j || !(j->w = svc_amqp_wait_new())) {
        free(j);
        return; /* core still answers new calls UNAVAILABLE */
    }
    j->base.run = quiesce_run;
    j->base.drop = quiesce_drop;
    j->base.offline = true; /* disconnected: only the flag matters */
    swait *w = j->w;
    svc_amqp_submit(l->conn, &j->base);
    svc_amqp_wait(w, svc_now() + QUIESCE_WAIT_NS);
}

/* ---- requests ---- */

static void ack(aconn *c, amqp_call *ac)
{
    if (c->ready && !c->broken && ac->gen == c->gen)
        svc_amqp_write_status(c, amqp_basic_ack(c->conn, AMQP_CH_RPC, ac->tag, 0), "basic.ack");
}

static void reply_dropped(ajob *j, svc_code code, const char *message)
{
    (void)code;
    (void)message;
    amqp_call *ac = (amqp_call *)((char *)j - offsetof(amqp_call, job));
    amqp_listener *l = ac->l;
    svc_msg_free(ac->resp);
    svc_call_unref(&ac->base);
    atomic_fetch_sub(&l->replying, 1);
}

static svc_code write_reply(aconn *c, amqp_call *ac, const svc_msg *resp)
{
    amqp_out out;
    svc_code rc = svc_amqp_out_init(&out, resp, &ac->base.reply_md, 2);
    if (!rc) {
        amqp_basic_properties_t *p = &out.props;
        p->_flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        p->correlation_id = svc_amqp_str(ac->corr);
        svc_amqp_out_header_int(&out, "svc-status", resp->status);
        if (resp->status_message && *resp->status_message)
            svc_amqp_out_header(&out, "svc-message", resp->status_message);
        rc = svc_amqp_out_check_size(&out, c->frame_max);
    }
    if (!rc) {
        amqp_bytes_t body = {svc_msg_len(resp), (void *)svc_msg_data(resp)};
        int st = amqp_basic_publish(c->conn, AMQP_CH_RPC, amqp_empty_bytes, svc_amqp_str(ac->reply_to),
                                    0, 0, &out.props, body);
        rc = svc_amqp_write_status(c, st, "basic.publish (reply)");
    }
    svc_amqp_out_free(&out);
    return rc;
}

static void send_reply(aconn *c, amqp_call *ac)
{
    svc_msg *resp = ac->resp;
    ac->resp = NULL;
    svc_code rc = resp ? write_reply(c, ac, resp) : SVC_RESOURCE_EXHAUSTED;
    if (rc && !c->broken) { /* the reply cannot travel: its status can */
        svc_msg *err = svc_msg_new_status(rc == SVC_INVALID_ARGUMENT ? SVC_INTERNAL : rc,
                                          resp ? svc_last_error() : "out of memory");
        if (err)
            write_reply(c, ac, err);
        svc_msg_free(err);
    }
    svc_msg_free(resp);
    ack(c, ac);
    amqp_listener *l = ac->l;
    svc_call_unref(&ac->base); /* the transport's reference */
    atomic_fetch_sub(&l->replying, 1);
}

static void reply_run(aconn *c, ajob *j)
{
    send_reply(c, (amqp_call *)((char *)j - offsetof(amqp_call, job)));
}

void svc_amqp_call_reply(svc_call *base, svc_msg *resp)
{
    amqp_call *ac = (amqp_call *)base;
    aconn *c = ac->l->conn;
    ac->resp = resp;
    svc_amqp_run_or_submit(c, &ac->job);
}

void svc_amqp_call_free(svc_call *c)
{
    free(c);
}

const char *svc_amqp_call_peer(const svc_call *c)
{
    return ((const amqp_call *)c)->reply_to;
}

static void copy_prop(amqp_flags_t flags, amqp_flags_t flag, amqp_bytes_t b, char *out, size_t cap)
{
    if (flags & flag)
        snprintf(out, cap, "%.*s", (int)(b.len < cap ? b.len : cap - 1), (const char *)b.bytes);
}

static void on_request(aconn *c, amqp_listener *l, amqp_frame_t *f)
{
    const amqp_basic_deliver_t *d = f->payload.method.decoded;
    uint64_t tag = d->delivery_tag;
    char method[512] = "";
    snprintf(method, sizeof method, "%.*s", (int)d->routing_key.len, (const char *)d->routing_key.bytes);
    amqp_message_t m;
    if (!svc_amqp_read_content(c, AMQP_CH_RPC, &m))
        return;
    amqp_basic_properties_t *p = &m.properties;
    amqp_call *ac = calloc(1, sizeof *ac);
    size_t skipped = 0;
    svc_msg *req = ac ? svc_amqp_msg_from(p, m.body, false, &skipped) : NULL;
    if (req)
        m.body = amqp_empty_bytes;
    char *dot = strrchr(method, '.');
    if (dot) /* the routing key has the method with '/' made '.' */
        *dot = '/';
    copy_prop(p->_flags, AMQP_BASIC_TYPE_FLAG, p->type, method, sizeof method);
    char timeout[32];
    int64_t left = 0;
    const char *t = svc_amqp_header(p, "svc-timeout", timeout, sizeof timeout);
    if (t && !svc_timeout_parse(t, strlen(t), &left))
        left = 0;
    if (ac) {
        copy_prop(p->_flags, AMQP_BASIC_REPLY_TO_FLAG, p->reply_to, ac->reply_to, sizeof ac->reply_to);
        copy_prop(p->_flags, AMQP_BASIC_CORRELATION_ID_FLAG, p->correlation_id, ac->corr,
                  sizeof ac->corr);
    }
    amqp_destroy_message(&m);
    if (!ac || !req || !ac->reply_to[0]) {
        svc_log_warn(c->ctx, "amqp", "%s: request for %s dropped: %s", c->target, method,
                     !ac || !req ? "out of memory" : "no reply-to");
        svc_msg_free(req);
        free(ac);
        svc_amqp_write_status(c, amqp_basic_reject(c->conn, AMQP_CH_RPC, tag, 0), "basic.reject");
        return;
    }
    ac->l = l;
    ac->tag = tag;
    ac->gen = c->gen;
    ac->job.run = reply_run;
    ac->job.drop = reply_dropped;
    ac->job.offline = true; /* a reply may go out even after a reconnection */
    svc_call_args args = {
        .method = method,
        .method_len = strlen(method),
        .req = req,
        .deadline = left > 0 ? svc_now() + left : 0,
    };
    if (svc_call_init(&ac->base, &svc_amqp_transport, l->server, &args) != SVC_OK) {
        svc_call_unref(&ac->base);
        svc_amqp_write_status(c, amqp_basic_nack(c->conn, AMQP_CH_RPC, tag, 0, 1), "basic.nack");
        return;
    }
    atomic_fetch_add(&l->replying, 1);
    svc_call_dispatch(&ac->base);
}

static void on_method(aconn *c, amqp_frame_t *f)
{
    if (f->channel == AMQP_CH_RPC && f->payload.method.id == AMQP_BASIC_DELIVER_METHOD)
        on_request(c, c->owner, f);
}

static void on_lost(aconn *c, svc_code code, const char *message)
{
    (void)c;
    (void)code;
    (void)message; /* requests in progress were requeued by the broker */
}

static void on_channel_closed(aconn *c, amqp_channel_t n, svc_code code, const char *text)
{
    (void)code;
    svc_log_warn(c->ctx, "amqp", "%s: the broker closed channel %u: %s", c->target, n, text);
    if (n == AMQP_CH_RPC) /* start over: declarations and consumers */
        svc_amqp_broken(c, AMQP_STATUS_UNEXPECTED_STATE, "request channel closed");
    else
        svc_amqp_channel_open(c, n);
}

static void on_tick(aconn *c, svc_time now)
{
    (void)c;
    (void)now;
}

static const aconn_ops listener_ops = {
    .on_ready = on_ready,
    .on_lost = on_lost,
    .on_method = on_method,
    .on_channel_closed = on_channel_closed,
    .on_tick = on_tick,
};

svc_code svc_amqp_listen(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                         svc_listener **out)
{
    amqp_listener *l = calloc(1, sizeof *l);
    if (!l)
        return svc_fail_oom();
    l->server = s;
    aconn_config cfg = {.url = url, .tls = &o->tls, .ops = &listener_ops, .owner = l};
    svc_code rc = svc_amqp_conn_new(svc_server_ctx(s), &cfg, &l->conn);
    if (!rc)
        rc = svc_amqp_conn_wait_first(l->conn);
    if (!rc && !(l->base.url = strdup(l->conn->target)))
        rc = svc_fail_oom();
    if (rc) {
        if (l->conn)
            svc_amqp_conn_free(l->conn);
        free(l);
        return rc;
    }
    *out = &l->base;
    return SVC_OK;
}

void svc_amqp_listener_free(svc_listener *base)
{
    amqp_listener *l = (amqp_listener *)base;
    /* Every call is answered; the last replies are being handed over. */
    while (atomic_load(&l->replying) > 0)
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    svc_amqp_conn_free(l->conn); /* replies still queued go out first */
    free(l->tags);
    free(l); /* core frees base.url */
}
