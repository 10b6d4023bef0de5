/*
 * The gRPC client: a channel per target keeps HTTP/2 connections on one I/O
 * loop (another opens when the peer's MAX_CONCURRENT_STREAMS is reached),
 * reconnects with gRPC's exponential backoff and jitter, and tracks the
 * connectivity state (idle, connecting, ready, transient failure) the load
 * balancer reads. Calls waiting for a connection are queued; in transient
 * failure they fail at once with UNAVAILABLE, as gRPC does by default.
 */
#include <event2/event.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <svccomm/svccomm.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/msg.h"
#include "grpc.h"
#include "grpc_nv.h"
#include "observe/trace.h"

/* gRPC's connection backoff (doc/connection-backoff.md). */
#define BACKOFF_INITIAL_NS (1 * SVC_NSEC_PER_SEC)
#define BACKOFF_MAX_NS (120 * SVC_NSEC_PER_SEC)
#define BACKOFF_MULTIPLIER 1.6
#define BACKOFF_JITTER 0.2
#define MAX_CONNS 16 /* per channel, when streams run out */


typedef struct grpc_cstream grpc_cstream;

typedef struct grpc_channel {
    svc_channel base;
    svc_ctx *ctx;
    svc_loop *loop;
    char *scheme;      /* "http" or "https" (the :scheme) */
    char *authority;   /* host:port */
    char *tls_name;    /* what the certificate must name */
    bool verify_name;
    SSL_CTX *ssl_ctx;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char *user_agent;
    size_t max_msg;
    /* The rest belongs to the loop thread. */
    grpc_conn *conns;
    size_t n_conns;
    grpc_cstream *pending, *pending_tail; /* waiting for a connection */
    atomic_int state;  /* svc_conn_state; read from any thread */
    char why[256];     /* the last connection failure */
    int64_t backoff_ns;
    struct event *retry;
    svc_counter *transitions[SVC_CONN_STATES];
} grpc_channel;

struct grpc_cstream {
    grpc_stream s;
    svc_ccall *cc;
    grpc_channel *ch;
    grpc_cstream *next_pending;
    bool unary;
    svc_msg *headers;  /* response headers as metadata */
    svc_msg *trailers; /* trailing metadata */
    svc_msg *reply;    /* unary: the one message */
    int messages;
    int http_status;
    bool got_status;
    svc_code status;
    char *status_msg;
    bool resp_gzip, resp_json, in_trailers;
    svc_code failed;   /* a transport-detected error, or SVC_OK */
    char failed_msg[320];
    bool never_sent;   /* failed before it reached a connection */
};

#define CSTREAM(p) ((grpc_cstream *)((char *)(p) - offsetof(grpc_cstream, s)))

static grpc_role client_role;

static void set_state(grpc_channel *ch, svc_conn_state st)
{
    svc_conn_state was = (svc_conn_state)atomic_exchange(&ch->state, (int)st);
    if (was == st)
        return;
    svc_log_info(ch->ctx, "grpc", "%s: %s -> %s", ch->authority, svc_conn_state_name(was),
                 svc_conn_state_name(st));
    svc_counter_add(ch->transitions[st], 1);
}

svc_conn_state svc_grpc_channel_state(const svc_channel *base)
{
    return (svc_conn_state)atomic_load(&((const grpc_channel *)base)->state);
}

/* ---- ending calls ---- */

static void cstream_free(grpc_cstream *cs)
{
    svc_grpc_stream_destroy(&cs->s);
    svc_msg_free(cs->headers);
    svc_msg_free(cs->trailers);
    svc_msg_free(cs->reply);
    free(cs->status_msg);
    free(cs);
}

/* The final answer from what arrived (PROTOCOL-HTTP2: grpc-status wins,
 * then the HTTP status, then the RST_STREAM code). */
static svc_msg *final_answer(grpc_cstream *cs, uint32_t rst)
{
    svc_code code = SVC_INTERNAL;
    char buf[100];
    const char *msg = buf;
    if (cs->failed) {
        code = cs->failed;
        msg = cs->failed_msg;
    } else if (cs->got_status) {
        code = cs->status;
        msg = cs->status_msg ? cs->status_msg : "";
    } else if (cs->http_status && cs->http_status != 200) {
        code = svc_grpc_code_from_http(cs->http_status);
        snprintf(buf, sizeof buf, "HTTP status %d from the server", cs->http_status);
    } else if (rst) {
        code = svc_grpc_code_from_rst(rst);
        snprintf(buf, sizeof buf, "stream reset by the server (HTTP/2 error %u)", rst);
    } else {
        msg = "the server ended the stream without a status";
    }
    if (code == SVC_OK && !svc_grpc_deframer_idle(&cs->s.in)) {
        code = SVC_INTERNAL;
        msg = "the response ended inside a message";
    } else if (code == SVC_OK && cs->unary && cs->messages != 1) {
        code = SVC_INTERNAL;
        snprintf(buf, sizeof buf, "a unary response needs one message, got %d", cs->messages);
        msg = buf;
    }
    svc_msg *m = cs->unary && cs->reply && code == SVC_OK ? cs->reply : NULL;
    if (m)
        cs->reply = NULL;
    else if (svc_msg_new(&m) != SVC_OK)
        return NULL;
    /* A unary reply carries all metadata; a stream's headers went ahead. */
    if ((cs->unary && cs->headers && svc_md_copy(&m->md, &cs->headers->md) != SVC_OK) ||
        (cs->trailers && svc_md_copy(&m->md, &cs->trailers->md) != SVC_OK) ||
        svc_msg_set_status(m, code, msg) != SVC_OK) {
        svc_msg_free(m);
        return NULL;
    }
    /* A stream the server refused (REFUSED_STREAM, or above a GOAWAY's
     * last stream id, which nghttp2 closes the same way) was never seen by
     * a handler. */
    m->unprocessed = cs->never_sent || (!cs->failed && !cs->got_status && !cs->headers &&
                                        rst == NGHTTP2_REFUSED_STREAM);
    return m;
}

/* Answers the call and lets go of it and of the stream. */
static void finish(grpc_cstream *cs, uint32_t rst)
{
    svc_ccall *cc = cs->cc;
    if (cs->s.conn) {
        svc_grpc_conn_unlink(cs->s.conn, &cs->s);
        if (cs->s.id > 0 && !cs->s.closed)
            nghttp2_session_set_stream_user_data(cs->s.conn->h2, cs->s.id, NULL);
    }
    svc_ccall_complete(cc, final_answer(cs, rst)); /* ends a stream's flow too */
    cc->tdata = NULL;
    svc_ccall_release(cc);
    cstream_free(cs);
}

static void fail(grpc_cstream *cs, svc_code code, const char *why)
{
    cs->failed = code;
    snprintf(cs->failed_msg, sizeof cs->failed_msg, "%s", why);
    finish(cs, 0);
}

static void fail_pending(grpc_channel *ch, const char *why)
{
    char msg[300];
    snprintf(msg, sizeof msg, "%s: %s", ch->authority, why);
    grpc_cstream *cs;
    while ((cs = ch->pending) != NULL) {
        ch->pending = cs->next_pending;
        cs->never_sent = true;
        fail(cs, SVC_UNAVAILABLE, msg);
    }
    ch->pending_tail = NULL;
}

/* ---- sending a request ---- */

static ssize_t read_request(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)h2;
    (void)id;
    (void)ud;
    return svc_grpc_stream_read(src->ptr, buf, len, flags);
}

static void submit(grpc_cstream *cs, grpc_conn *c)
{
    svc_ccall *cc = cs->cc;
    grpc_channel *ch = cs->ch;
    char path[1024], timeout[16];
    snprintf(path, sizeof path, "/%s", cc->method);
    grpc_nv l = {0};
    svc_grpc_nv_add(&l, ":method", "POST");
    svc_grpc_nv_add(&l, ":scheme", ch->scheme);
    svc_grpc_nv_add(&l, ":path", path);
    svc_grpc_nv_add(&l, ":authority", ch->authority);
    svc_grpc_nv_add(&l, "content-type", svc_grpc_content_type(svc_msg_content_type(cc->req)));
    svc_grpc_nv_add(&l, "te", "trailers");
    svc_grpc_nv_add(&l, "user-agent", ch->user_agent);
    svc_grpc_nv_add(&l, "grpc-accept-encoding", "identity,gzip");
    if (cc->req->compress)
        svc_grpc_nv_add(&l, "grpc-encoding", "gzip");
    if (cc->deadline) {
        svc_timeout_format(cc->deadline - svc_now(), timeout);
        svc_grpc_nv_add(&l, "grpc-timeout", timeout);
    }
    svc_grpc_nv_metadata(&l, &cc->req->md);
    cs->s.conn = c;
    nghttp2_data_provider prd = {.source.ptr = &cs->s, .read_callback = read_request};
    int32_t id = l.oom ? -1 : nghttp2_submit_request(c->h2, NULL, l.v, l.n, &prd, cs);
    svc_grpc_nv_free(&l);
    if (id < 0) {
        cs->s.conn = NULL;
        fail(cs, SVC_INTERNAL, l.oom ? "out of memory" : nghttp2_strerror(id));
        return;
    }
    cs->s.id = id;
    svc_grpc_conn_link(c, &cs->s);
    svc_grpc_conn_flush(c);
}

/* A ready connection with room for another stream, or NULL. */
static grpc_conn *pick_conn(grpc_channel *ch)
{
    for (grpc_conn *c = ch->conns; c; c = c->next) {
        if (!c->is_ready || c->dead || c->goaway_received)
            continue;
        uint32_t max = nghttp2_session_get_remote_settings(c->h2,
                                                           NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        if (c->n_streams < max)
            return c;
    }
    return NULL;
}

static bool connecting(const grpc_channel *ch)
{
    for (const grpc_conn *c = ch->conns; c; c = c->next)
        if (!c->is_ready && !c->dead)
            return true;
    return false;
}

static void connect_now(grpc_channel *ch)
{
    if (ch->n_conns >= MAX_CONNS)
        return; /* the calls wait for room on the ones there are */
    SSL *ssl = NULL;
    if (ch->ssl_ctx &&
        !(ssl = svc_grpc_tls_client_ssl(ch->ssl_ctx, ch->tls_name, ch->verify_name))) {
        fail_pending(ch, "cannot set up TLS");
        return;
    }
    grpc_conn *c = svc_grpc_conn_new(ch->ctx, ch->loop, &client_role, ch, false, -1, ssl,
                                 (struct sockaddr *)&ch->addr, ch->addr_len);
    if (!c) {
        fail_pending(ch, "out of resources for a connection");
        return;
    }
    c->next = ch->conns;
    if (ch->conns)
        ch->conns->prev = c;
    ch->conns = c;
    ch->n_conns++;
    if (ch->state != SVC_CONN_READY)
        set_state(ch, SVC_CONN_CONNECTING);
    if (c->connect_failed)
        svc_grpc_conn_close(c, "connect failed");
}

static void enqueue(grpc_channel *ch, grpc_cstream *cs)
{
    cs->next_pending = NULL;
    if (ch->pending_tail)
        ch->pending_tail->next_pending = cs;
    else
        ch->pending = cs;
    ch->pending_tail = cs;
}

static void start(void *arg)
{
    grpc_cstream *cs = arg;
    grpc_channel *ch = cs->ch;
    if (svc_ccall_done(cs->cc)) { /* cancelled on its way here */
        cs->cc->tdata = NULL;
        svc_ccall_release(cs->cc);
        cstream_free(cs);
        return;
    }
    grpc_conn *c = pick_conn(ch);
    if (c) {
        submit(cs, c);
    } else if (ch->state == SVC_CONN_TRANSIENT_FAILURE) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s: %s", ch->authority, ch->why);
        cs->never_sent = true;
        fail(cs, SVC_UNAVAILABLE, msg);
    } else {
        enqueue(ch, cs);
        if (!connecting(ch))
            connect_now(ch);
    }
}

static void begin(grpc_channel *ch, svc_ccall *cc, bool unary)
{
    grpc_cstream *cs = calloc(1, sizeof *cs);
    if (!cs) {
        svc_ccall_fail(cc, SVC_RESOURCE_EXHAUSTED, "out of memory");
        svc_ccall_release(cc);
        return;
    }
    svc_grpc_stream_init(&cs->s, NULL, svc_ccall_max_reply(cc), cc->flow);
    cs->cc = cc;
    cs->ch = ch;
    cs->unary = unary;
    /* We compress what the caller asked to; the server accepts gzip if it
     * speaks gRPC at all (and says otherwise with UNIMPLEMENTED). */
    cs->s.peer_gzip = true;
    cc->tdata = cs;
    if (unary) {
        svc_grpc_stream_send(&cs->s, cc->req, false); /* queued until submitted */
        cs->s.out_end = true;
    }
    svc_grpc_on_loop(ch->loop, start, cs);
}

void svc_grpc_ccall_start(svc_channel *base, svc_ccall *cc)
{
    begin((grpc_channel *)base, cc, true);
}

void svc_grpc_cstream_start(svc_channel *base, svc_ccall *cc)
{
    begin((grpc_channel *)base, cc, false);
}

/* ---- responses (on the loop thread) ---- */

static bool is(const uint8_t *name, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(name, want, n) == 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    grpc_cstream *cs = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (!cs)
        return 0;
    const char *v = (const char *)value;
    if (is(name, nlen, ":status")) {
        cs->http_status = atoi(v);
    } else if (is(name, nlen, "content-type")) {
        cs->resp_json = strcmp(svc_grpc_payload_type(v, vlen), SVC_CT_JSON) == 0;
    } else if (is(name, nlen, "grpc-encoding")) {
        cs->resp_gzip = vlen == 4 && strncasecmp(v, "gzip", 4) == 0;
    } else if (is(name, nlen, "grpc-status")) {
        cs->got_status = true;
        if (!svc_grpc_status_parse(v, vlen, &cs->status))
            cs->status = SVC_UNKNOWN;
    } else if (is(name, nlen, "grpc-message")) {
        free(cs->status_msg);
        cs->status_msg = svc_grpc_message_decode(v, vlen);
    } else {
        svc_msg **into = cs->in_trailers ? &cs->trailers : &cs->headers;
        if (!*into && svc_msg_new(into) != SVC_OK)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (svc_grpc_header_to_md(&(*into)->md, (const char *)name, nlen, v, vlen) != SVC_OK &&
            !cs->failed) {
            cs->failed = SVC_INTERNAL;
            snprintf(cs->failed_msg, sizeof cs->failed_msg, "%s", svc_last_error());
        }
    }
    return 0;
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    grpc_cstream *cs = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    /* A second header block on a response is its trailers. */
    if (cs && f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_HEADERS)
        cs->in_trailers = true;
    return 0;
}

static svc_code deliver(void *ud, svc_msg *m)
{
    grpc_cstream *cs = ud;
    cs->messages++;
    if (cs->cc->flow) {
        svc_flow_push(cs->cc->flow, m);
        return SVC_OK;
    }
    if (cs->messages > 1) {
        svc_msg_free(m);
        return svc_fail(SVC_INTERNAL, "a unary response carried more than one message");
    }
    cs->reply = m;
    svc_grpc_stream_consumed(&cs->s, true);
    return SVC_OK;
}

/* An error found in the response: reset the stream, answer with it. */
static void reset(grpc_cstream *cs, svc_code code, const char *why)
{
    if (!cs->failed) {
        cs->failed = code;
        snprintf(cs->failed_msg, sizeof cs->failed_msg, "%s", why);
    }
    nghttp2_submit_rst_stream(cs->s.conn->h2, NGHTTP2_FLAG_NONE, cs->s.id, NGHTTP2_CANCEL);
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)flags;
    grpc_conn *c = ud;
    grpc_cstream *cs = nghttp2_session_get_stream_user_data(h2, id);
    if (!cs || cs->failed) {
        nghttp2_session_consume(c->h2, id, len);
        return 0;
    }
    grpc_sink to = {cs->resp_gzip, cs->resp_json ? SVC_CT_JSON : SVC_CT_PROTO, NULL, deliver, cs};
    svc_code rc = svc_grpc_stream_data(&cs->s, data, len, &to);
    if (rc)
        reset(cs, rc, svc_last_error());
    return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    grpc_conn *c = ud;
    svc_grpc_conn_on_frame_recv(c, f);
    if (f->hd.type == NGHTTP2_GOAWAY) {
        c->goaway_received = true; /* new calls go elsewhere */
        return 0;
    }
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_RESPONSE)
        return 0;
    grpc_cstream *cs = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (!cs)
        return 0;
    if (cs->http_status == 200 && cs->cc->flow) {
        svc_msg *h = NULL;
        if (cs->headers)
            svc_msg_clone(cs->headers, &h);
        svc_flow_set_headers(cs->cc->flow, h);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *ud)
{
    (void)ud;
    grpc_cstream *cs = nghttp2_session_get_stream_user_data(h2, id);
    if (cs) {
        cs->s.closed = true;
        finish(cs, error_code);
    }
    return 0;
}

/* ---- connection events ---- */

static void client_ready(grpc_conn *c)
{
    grpc_channel *ch = c->owner;
    set_state(ch, SVC_CONN_READY);
    ch->backoff_ns = 0;
    grpc_cstream *cs = ch->pending;
    ch->pending = ch->pending_tail = NULL;
    while (cs) {
        grpc_cstream *next = cs->next_pending;
        start(cs); /* submits, or queues again when streams run out */
        cs = next;
    }
}

static void retry_now(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    grpc_channel *ch = arg;
    set_state(ch, SVC_CONN_IDLE); /* the next call connects */
}

/* gRPC's backoff: 1 s, times 1.6 each failure, at most 120 s, +-20%. */
static void back_off(grpc_channel *ch)
{
    ch->backoff_ns = ch->backoff_ns ? (int64_t)(ch->backoff_ns * BACKOFF_MULTIPLIER)
                                    : BACKOFF_INITIAL_NS;
    if (ch->backoff_ns > BACKOFF_MAX_NS)
        ch->backoff_ns = BACKOFF_MAX_NS;
    double jitter = 1.0 + BACKOFF_JITTER * (2.0 * (double)(svc_random_u64() >> 11) / 0x1p53 - 1.0);
    int64_t wait = (int64_t)((double)ch->backoff_ns * jitter);
    struct timeval tv;
    svc_loop_timeval(wait, &tv);
    evtimer_add(ch->retry, &tv);
}

static void client_lost(grpc_conn *c, const char *why)
{
    grpc_channel *ch = c->owner;
    char msg[300];
    snprintf(msg, sizeof msg, "%s: connection lost: %s", ch->authority, why);
    while (c->streams) {
        grpc_cstream *cs = CSTREAM(c->streams);
        if (!cs->failed) {
            cs->failed = SVC_UNAVAILABLE;
            snprintf(cs->failed_msg, sizeof cs->failed_msg, "%s", msg);
        }
        finish(cs, 0);
    }
    if (c->is_ready) {
        /* A working connection ended: the next call tries afresh. */
        if (!pick_conn(ch))
            set_state(ch, ch->pending ? SVC_CONN_CONNECTING : SVC_CONN_IDLE);
        if (ch->pending && !connecting(ch))
            connect_now(ch);
    } else if (!pick_conn(ch)) {
        snprintf(ch->why, sizeof ch->why, "%s", why);
        set_state(ch, SVC_CONN_TRANSIENT_FAILURE);
        fail_pending(ch, why);
        back_off(ch);
    }
}

static void client_freed(grpc_conn *c)
{
    grpc_channel *ch = c->owner;
    if (c->prev)
        c->prev->next = c->next;
    else
        ch->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ch->n_conns--;
}

static pthread_once_t callbacks_once = PTHREAD_ONCE_INIT;

static void make_callbacks(void)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return;
    svc_grpc_conn_common_callbacks(cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    client_role.callbacks = cb;
}

static grpc_role client_role = {
    .lost = client_lost,
    .ready = client_ready,
    .freed = client_freed,
};

/* ---- what application threads ask (hops to the loop) ---- */

typedef struct call_task {
    svc_ccall *cc; /* held */
    svc_msg *msg;
    enum { CANCEL, SEND, CLOSE_SEND, CONSUMED } kind;
} call_task;

static void run_call_task(void *arg)
{
    call_task *t = arg;
    grpc_cstream *cs = t->cc->tdata;
    if (!cs) {
        svc_msg_free(t->msg); /* the call already ended */
    } else if (t->kind == CANCEL) {
        if (cs->s.conn && cs->s.id > 0) {
            nghttp2_submit_rst_stream(cs->s.conn->h2, NGHTTP2_FLAG_NONE, cs->s.id, NGHTTP2_CANCEL);
            svc_grpc_conn_flush(cs->s.conn); /* on_stream_close finishes it */
        } else {
            /* Still waiting for a connection: take it out of the queue. */
            grpc_channel *ch = cs->ch;
            grpc_cstream **pp = &ch->pending, *prev = NULL;
            while (*pp && *pp != cs) {
                prev = *pp;
                pp = &(*pp)->next_pending;
            }
            if (*pp) {
                *pp = cs->next_pending;
                if (ch->pending_tail == cs)
                    ch->pending_tail = prev;
            }
            finish(cs, NGHTTP2_CANCEL);
        }
    } else if (t->kind == SEND) {
        svc_grpc_stream_send(&cs->s, t->msg, true);
        svc_msg_free(t->msg);
    } else if (t->kind == CLOSE_SEND) {
        cs->s.out_end = true;
        svc_grpc_stream_resume(&cs->s);
    } else {
        svc_grpc_stream_consumed(&cs->s, false);
    }
    svc_ccall_release(t->cc);
    free(t);
}

static svc_code post_call_task(grpc_channel *ch, svc_ccall *cc, svc_msg *m, int kind)
{
    call_task *t = malloc(sizeof *t);
    if (!t) {
        svc_msg_free(m);
        return svc_fail_oom();
    }
    svc_ccall_hold(cc);
    *t = (call_task){cc, m, kind};
    svc_grpc_on_loop(ch->loop, run_call_task, t);
    return SVC_OK;
}

void svc_grpc_ccall_cancel(svc_channel *base, svc_ccall *cc)
{
    post_call_task((grpc_channel *)base, cc, NULL, CANCEL);
}

svc_code svc_grpc_cstream_send(svc_channel *base, svc_ccall *cc, svc_msg *m)
{
    grpc_cstream *cs = cc->tdata; /* set before the stream was started */
    if (cs)
        svc_grpc_stream_posted(&cs->s, svc_msg_len(m));
    return post_call_task((grpc_channel *)base, cc, m, SEND);
}

svc_code svc_grpc_cstream_close_send(svc_channel *base, svc_ccall *cc)
{
    return post_call_task((grpc_channel *)base, cc, NULL, CLOSE_SEND);
}

void svc_grpc_cstream_consumed(svc_channel *base, svc_ccall *cc, size_t bytes)
{
    (void)bytes; /* the stream knows each message's wire size */
    post_call_task((grpc_channel *)base, cc, NULL, CONSUMED);
}

/* ---- channels ---- */

static svc_code resolve(grpc_channel *ch, const svc_url *url, int port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    /* Resolved once, here, on the caller's thread: the I/O loop never
     * blocks on DNS. Re-resolution belongs to service discovery. */
    if (getaddrinfo(url->host, service, &hints, &ai) != 0 || !ai)
        return svc_fail(SVC_UNAVAILABLE, "cannot resolve '%s'", url->host);
    memcpy(&ch->addr, ai->ai_addr, ai->ai_addrlen);
    ch->addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return SVC_OK;
}

static void channel_destroy(grpc_channel *ch)
{
    if (ch->retry)
        event_free(ch->retry);
    if (ch->ssl_ctx)
        SSL_CTX_free(ch->ssl_ctx);
    free(ch->scheme);
    free(ch->authority);
    free(ch->tls_name);
    free(ch->user_agent);
    free(ch);
}

svc_code svc_grpc_channel_new(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                              svc_channel **out)
{
    pthread_once(&callbacks_once, make_callbacks);
    if (!client_role.callbacks)
        return svc_fail_oom();
    if (url->n_hosts != 1)
        return svc_fail(SVC_INVALID_ARGUMENT, "a gRPC target names one host (svc:// for more)");
    bool tls = strcmp(url->scheme, "grpcs") == 0;
    int port = svc_url_port_or(url, tls ? 443 : 80);
    grpc_channel *ch = calloc(1, sizeof *ch);
    if (!ch)
        return svc_fail_oom();
    ch->ctx = ctx;
    ch->loop = svc_ctx_loop(ctx);
    ch->max_msg = o->max_message_size ? o->max_message_size : ctx->max_message_size;
    bool v6 = strchr(url->host, ':') != NULL;
    char authority[300], ua[64];
    snprintf(authority, sizeof authority, "%s%s%s:%d", v6 ? "[" : "", url->host, v6 ? "]" : "",
             port);
    snprintf(ua, sizeof ua, "svccomm-c/%s", SVC_VERSION_STRING);
    ch->scheme = strdup(tls ? "https" : "http");
    ch->authority = strdup(authority);
    ch->tls_name = strdup(tls && o->tls.server_name ? o->tls.server_name : url->host);
    ch->user_agent = strdup(o->user_agent ? o->user_agent : ua);
    ch->verify_name = !o->tls.insecure;
    svc_code rc = ch->scheme && ch->authority && ch->tls_name && ch->user_agent ? SVC_OK
                                                                                 : svc_fail_oom();
    if (rc == SVC_OK)
        rc = resolve(ch, url, port);
    if (rc == SVC_OK && tls)
        rc = svc_grpc_tls_client_ctx(&o->tls, &ch->ssl_ctx);
    if (rc == SVC_OK && !(ch->retry = evtimer_new(svc_loop_base(ch->loop), retry_now, ch)))
        rc = svc_fail_oom();
    if (rc) {
        channel_destroy(ch);
        return rc;
    }
    for (int i = 0; i <= SVC_CONN_TRANSIENT_FAILURE; i++) /* a channel is freed, not shut */
        ch->transitions[i] = svc_metrics_counter(ctx->metrics, "svc_grpc_channel_state_total",
                                                 "Connectivity state changes of gRPC channels.",
                                                 SVC_METRIC_COUNTER, "target", authority, "state",
                                                 svc_conn_state_name((svc_conn_state)i), NULL);
    *out = &ch->base;
    return SVC_OK;
}

static void close_all(void *arg)
{
    grpc_channel *ch = arg;
    evtimer_del(ch->retry);
    fail_pending(ch, "channel closed");
    for (grpc_conn *c = ch->conns; c; c = c->next)
        svc_grpc_conn_close(c, "channel closed");
}

static void nothing(void *arg)
{
    (void)arg;
}

void svc_grpc_channel_free(svc_channel *base)
{
    grpc_channel *ch = (grpc_channel *)base;
    svc_loop_run_sync(ch->loop, close_all, ch);
    /* close_all posted each connection's teardown; a task posted after them
     * runs after them, when no connection points at the channel any more. */
    svc_loop_run_sync(ch->loop, nothing, NULL);
    channel_destroy(ch);
}
