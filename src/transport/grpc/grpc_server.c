/*
 * The gRPC server: accepts connections (spread over the I/O loops), turns
 * each HTTP/2 request into a server call, and sends answers as headers,
 * length-prefixed messages and trailers (or Trailers-Only for an early
 * error), per gRPC's PROTOCOL-HTTP2.
 *
 * A request becomes an svc_call once its headers are in. Unary calls are
 * dispatched at END_STREAM with their one message; streaming calls at once,
 * with a flow their messages are pushed into as they arrive.
 */
#include <arpa/inet.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/msg.h"
#include "grpc.h"
#include "grpc_nv.h"

typedef struct grpc_listener {
    svc_listener base;
    svc_server *server;
    svc_ctx *ctx;
    svc_loop *loop; /* the accepting loop */
    struct evconnlistener *lev;
    SSL_CTX *ssl_ctx;
    size_t max_msg;
    int64_t handshake_ns; /* for TLS, the preface and SETTINGS */
    pthread_mutex_t mu; /* conns: they live on every loop */
    pthread_cond_t cv;
    grpc_conn *conns;
    size_t n_conns;
    size_t n_tasks; /* each_conn's tasks not yet run: they read the listener */
    svc_counter *accepted;
} grpc_listener;

typedef struct grpc_sstream {
    svc_call base; /* first: core's view of the call */
    grpc_stream s;
    grpc_listener *l;
    svc_loop *loop; /* the connection's: where answers are sent from */
    svc_msg *req;   /* request metadata, until the call takes it */
    nghttp2_rcbuf *path; /* :path, nghttp2's bytes held until the call is made */
    bool post, ct_ok, json, req_gzip;
    int64_t timeout_ns;        /* grpc-timeout, when has_timeout */
    bool has_timeout, bad_timeout;
    size_t header_bytes;
    bool call_made, dispatched, failed;
    svc_timer *request_deadline; /* a unary call's, until its request ends */
    int messages;
    bool headers_sent;
    svc_msg *trailers; /* the answer: sent once `out` drained */
    struct sockaddr_storage peer_addr;
    char peer[INET6_ADDRSTRLEN + 10]; /* formatted on first svc_call_peer() */
} grpc_sstream;

#define SSTREAM(p) ((grpc_sstream *)((char *)(p) - offsetof(grpc_sstream, s)))

static grpc_role server_role;

/* ---- call objects, recycled per loop thread ---- */

/* A batch of requests allocates dozens of these (1.2 KiB each) at once and
 * frees them at once when the answers are out: more than glibc's
 * per-thread cache keeps, and larger than it takes, so each was a trip
 * through malloc's slow path (callgrind: about 600 instructions a calloc).
 * Objects freed on a loop's thread wait there for its next requests, up to
 * SPARE_MAX; ASan builds do not recycle, so a use after free still shows. */
#define SPARE_MAX 128
#if defined(__SANITIZE_ADDRESS__)
#define RECYCLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RECYCLE 0
#endif
#endif
#ifndef RECYCLE
#define RECYCLE 1
#endif

typedef struct spare_list {
    grpc_stream *head; /* the spares' streams, linked through next */
    unsigned n;
    bool keyed; /* spare_key holds it: drained when the thread ends */
} spare_list;

static _Thread_local spare_list spares;
static pthread_key_t spare_key;
static bool spare_key_ok;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void spares_drain(void *arg)
{
    spare_list *l = arg;
    while (l->head) {
        grpc_sstream *st = SSTREAM(l->head);
        l->head = l->head->next;
        free(st);
    }
    l->n = 0;
}

static void spare_key_make(void)
{
    spare_key_ok = pthread_key_create(&spare_key, spares_drain) == 0;
}

static grpc_sstream *sstream_new(void)
{
    if (!spares.head)
        return calloc(1, sizeof(grpc_sstream));
    grpc_sstream *st = SSTREAM(spares.head);
    spares.head = spares.head->next;
    spares.n--;
    memset(st, 0, sizeof *st);
    return st;
}

static void sstream_free(grpc_sstream *st)
{
    if (RECYCLE && spares.n < SPARE_MAX && svc_loop_in_thread(st->loop)) {
        if (!spares.keyed) {
            pthread_once(&spare_once, spare_key_make);
            spares.keyed = spare_key_ok && pthread_setspecific(spare_key, &spares) == 0;
        }
        if (spares.keyed) {
            st->s.next = spares.head;
            spares.head = &st->s;
            spares.n++;
            return;
        }
    }
    free(st);
}

/* ---- the life of a stream ---- */

/* The transport lets go of a stream nghttp2 closed (or whose connection
 * went): an unanswered call was abandoned by its caller. */
static void stream_gone(grpc_sstream *st)
{
    if (st->s.conn)
        svc_grpc_conn_unlink(st->s.conn, &st->s);
    st->s.closed = true;
    svc_timer_free(st->request_deadline);
    st->request_deadline = NULL;
    if (st->call_made) {
        svc_call_abandon(&st->base);
        svc_call_unref(&st->base);
    } else {
        svc_grpc_stream_destroy(&st->s);
        svc_msg_free(st->req);
        if (st->path)
            nghttp2_rcbuf_decref(st->path);
        sstream_free(st);
    }
}

void svc_grpc_call_free(svc_call *c)
{
    grpc_sstream *st = (grpc_sstream *)c;
    svc_grpc_stream_destroy(&st->s);
    svc_msg_free(st->trailers);
    sstream_free(st);
}

const char *svc_grpc_call_peer(const svc_call *c)
{
    grpc_sstream *st = (grpc_sstream *)(uintptr_t)c;
    if (!st->peer[0]) {
        char host[INET6_ADDRSTRLEN] = "?";
        const struct sockaddr_storage *a = &st->peer_addr;
        bool v6 = a->ss_family == AF_INET6;
        const void *ip = v6 ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
                            : (const void *)&((const struct sockaddr_in *)a)->sin_addr;
        unsigned port = ntohs(v6 ? ((const struct sockaddr_in6 *)a)->sin6_port
                                 : ((const struct sockaddr_in *)a)->sin_port);
        inet_ntop(a->ss_family, ip, host, sizeof host);
        snprintf(st->peer, sizeof st->peer, v6 ? "[%s]:%u" : "%s:%u", host, port);
    }
    return st->peer;
}

/* ---- answers (on the loop thread) ---- */

static void nv_status(grpc_nv *l, const svc_msg *resp)
{
    /* Spelled out, not formatted into a copy: one allocation less a call. */
    static const char *const codes[] = {"0", "1", "2",  "3",  "4",  "5",  "6",  "7", "8",
                                        "9", "10", "11", "12", "13", "14", "15", "16"};
    unsigned code = resp ? (unsigned)resp->status : SVC_RESOURCE_EXHAUSTED;
    if (code < sizeof codes / sizeof codes[0]) {
        svc_grpc_nv_add(l, "grpc-status", codes[code]);
    } else {
        char text[12];
        snprintf(text, sizeof text, "%u", code);
        svc_grpc_nv_own(l, "grpc-status", strdup(text));
    }
    const char *msg = resp ? svc_msg_status_message(resp) : "out of memory";
    if (*msg)
        svc_grpc_nv_own(l, "grpc-message", svc_grpc_message_encode(msg));
    if (resp)
        svc_grpc_nv_metadata(l, &resp->md);
}

static void nv_response_head(grpc_nv *l, grpc_sstream *st)
{
    svc_grpc_nv_add(l, ":status", "200");
    svc_grpc_nv_add(l, "content-type", st->json ? "application/grpc+json" : "application/grpc");
    if (st->s.peer_gzip)
        svc_grpc_nv_add(l, "grpc-encoding", "gzip");
    svc_grpc_nv_add(l, "grpc-accept-encoding", "identity,gzip");
}

static ssize_t read_response(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
                             uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)h2;
    (void)ud;
    grpc_sstream *st = src->ptr;
    ssize_t n = svc_grpc_stream_read(&st->s, buf, len, flags);
    if (n >= 0 && (*flags & NGHTTP2_DATA_FLAG_EOF)) {
        /* The messages are out: the status follows as trailers. */
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        grpc_nv l = {0};
        nv_status(&l, st->trailers);
        nghttp2_submit_trailer(st->s.conn->h2, id, l.v, l.n);
        svc_grpc_nv_free(&l);
    }
    return n;
}

static void send_headers(grpc_sstream *st)
{
    if (st->headers_sent)
        return;
    st->headers_sent = true;
    grpc_nv l = {0};
    nv_response_head(&l, st);
    svc_grpc_nv_metadata(&l, &st->base.reply_md);
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_response};
    nghttp2_submit_response(st->s.conn->h2, st->s.id, l.v, l.n, &prd);
    svc_grpc_nv_free(&l);
}

/* An answer before any message: one HEADERS frame ending the stream. */
static void send_trailers_only(grpc_sstream *st, const svc_msg *resp)
{
    st->headers_sent = true;
    grpc_nv l = {0};
    nv_response_head(&l, st);
    svc_grpc_nv_metadata(&l, &st->base.reply_md);
    nv_status(&l, resp);
    nghttp2_submit_response(st->s.conn->h2, st->s.id, l.v, l.n, NULL);
    svc_grpc_nv_free(&l);
}

typedef struct answer_task {
    grpc_sstream *st; /* holds a call reference */
    svc_msg *msg;
    enum { TASK_REPLY, TASK_SEND, TASK_CONSUMED } kind;
} answer_task;

static void answer_now(answer_task *t)
{
    grpc_sstream *st = t->st;
    svc_msg *m = t->msg;
    if (st->s.closed || !st->s.conn) {
        if (t->kind == TASK_REPLY)
            st->trailers = m; /* freed with the call */
        else
            svc_msg_free(m);
    } else if (t->kind == TASK_CONSUMED) {
        svc_grpc_stream_consumed(&st->s, false);
    } else if (t->kind == TASK_SEND) {
        send_headers(st);
        svc_grpc_stream_send(&st->s, m, true);
        svc_msg_free(m);
    } else if (!st->headers_sent && (!m || m->status != SVC_OK)) {
        send_trailers_only(st, m);
        st->trailers = m;
        svc_grpc_conn_flush(st->s.conn);
    } else {
        send_headers(st);
        /* The unary reply, or a streaming call's final payload, is the last
         * message before the status. */
        if (m && m->status == SVC_OK && (svc_msg_len(m) || !st->base.flow))
            svc_grpc_stream_send(&st->s, m, false);
        st->trailers = m;
        st->s.out_end = true;
        svc_grpc_stream_resume(&st->s);
    }
    svc_call_unref(&st->base);
}

static void run_answer(void *arg)
{
    answer_now(arg);
    free(arg);
}

static svc_code post_answer(svc_call *c, svc_msg *m, int kind)
{
    grpc_sstream *st = (grpc_sstream *)c;
    svc_call_ref(c);
    if (svc_loop_in_thread(st->loop)) {
        /* An inline handler: no task to allocate. */
        answer_now(&(answer_task){st, m, kind});
        return SVC_OK;
    }
    answer_task *t = malloc(sizeof *t);
    if (!t) {
        svc_call_unref(c);
        svc_msg_free(m);
        return svc_fail_oom();
    }
    *t = (answer_task){st, m, kind};
    svc_grpc_on_loop(st->loop, run_answer, t);
    return SVC_OK;
}

void svc_grpc_call_reply(svc_call *c, svc_msg *resp)
{
    post_answer(c, resp, TASK_REPLY);
}

svc_code svc_grpc_call_send(svc_call *c, svc_msg *m)
{
    svc_grpc_stream_posted(&((grpc_sstream *)c)->s, svc_msg_len(m));
    return post_answer(c, m, TASK_SEND);
}

void svc_grpc_call_consumed(svc_call *c, size_t bytes)
{
    (void)bytes; /* the stream knows each message's wire size */
    post_answer(c, NULL, TASK_CONSUMED);
}

/* ---- requests (on the loop thread) ---- */

static grpc_sstream *stream_of(nghttp2_session *h2, int32_t id)
{
    return nghttp2_session_get_stream_user_data(h2, id);
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    grpc_conn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    grpc_listener *l = c->owner;
    grpc_sstream *st = sstream_new();
    if (!st || svc_msg_new(&st->req) != SVC_OK) {
        if (st) {
            st->loop = c->loop;
            sstream_free(st);
        }
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    }
    svc_grpc_stream_init(&st->s, c, l->max_msg, NULL);
    st->s.id = f->hd.stream_id;
    st->l = l;
    st->loop = c->loop;
    st->peer_addr = c->peer;
    svc_grpc_conn_link(c, &st->s);
    nghttp2_session_set_stream_user_data(h2, f->hd.stream_id, st);
    return 0;
}

/* The request headers this transport reads itself. nghttp2 has checked
 * that names are lower case, as HTTP/2 requires: a switch on the length
 * and one memcmp find them. */
typedef enum {
    H_OTHER, H_PATH, H_METHOD, H_CONTENT_TYPE, H_TIMEOUT, H_ENCODING, H_ACCEPT_ENCODING
} header_kind;

static header_kind classify(const uint8_t *name, size_t n)
{
#define IS(s) (n == sizeof s - 1 && memcmp(name, s, sizeof s - 1) == 0)
    switch (n) {
    case 5:
        return IS(":path") ? H_PATH : H_OTHER;
    case 7:
        return IS(":method") ? H_METHOD : H_OTHER;
    case 12:
        return IS("content-type") ? H_CONTENT_TYPE : IS("grpc-timeout") ? H_TIMEOUT : H_OTHER;
    case 13:
        return IS("grpc-encoding") ? H_ENCODING : H_OTHER;
    case 20:
        return IS("grpc-accept-encoding") ? H_ACCEPT_ENCODING : H_OTHER;
    default:
        return H_OTHER;
    }
#undef IS
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, nghttp2_rcbuf *name_buf,
                     nghttp2_rcbuf *value_buf, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    grpc_sstream *st = stream_of(h2, f->hd.stream_id);
    if (!st || st->call_made)
        return 0; /* trailers from a client carry nothing we use */
    nghttp2_vec name_vec = nghttp2_rcbuf_get_buf(name_buf);
    nghttp2_vec value_vec = nghttp2_rcbuf_get_buf(value_buf);
    const uint8_t *name = name_vec.base;
    size_t nlen = name_vec.len, vlen = value_vec.len;
    /* RFC 7541 §4.1 counts 32 bytes of overhead per entry. */
    st->header_bytes += nlen + vlen + 32;
    if (st->header_bytes > GRPC_MAX_HEADER_LIST)
        return 0; /* answered RESOURCE_EXHAUSTED when the block ends */
    const char *v = (const char *)value_vec.base;
    switch (classify(name, nlen)) {
    case H_PATH:
        /* Referenced, not copied: the call makes the one copy it keeps. */
        if (st->path)
            nghttp2_rcbuf_decref(st->path);
        nghttp2_rcbuf_incref(value_buf);
        st->path = value_buf;
        break;
    case H_METHOD:
        st->post = vlen == 4 && memcmp(v, "POST", 4) == 0;
        break;
    case H_CONTENT_TYPE:
        st->ct_ok = svc_grpc_content_type_ok(v, vlen);
        st->json = strcmp(svc_grpc_payload_type(v, vlen), SVC_CT_JSON) == 0;
        break;
    case H_TIMEOUT:
        /* Unreadable fails the call (INTERNAL, as grpc-go and grpc-core
         * answer); zero is a deadline already past, not none. */
        st->has_timeout = svc_timeout_parse(v, vlen, &st->timeout_ns);
        st->bad_timeout = !st->has_timeout;
        break;
    case H_ENCODING: {
        st->req_gzip = vlen == 4 && strncasecmp(v, "gzip", 4) == 0;
        bool identity = vlen == 8 && strncasecmp(v, "identity", 8) == 0;
        snprintf(st->s.in_unsupported, sizeof st->s.in_unsupported, "%.*s",
                 st->req_gzip || identity ? 0 : (int)vlen, v);
        break;
    }
    case H_ACCEPT_ENCODING:
        st->s.peer_gzip = svc_grpc_accepts_gzip(v, vlen);
        break;
    case H_OTHER:
        if (svc_grpc_header_to_md(&st->req->md, (const char *)name, nlen, v, vlen) != SVC_OK)
            st->failed = true; /* a "-bin" value that is not base64 */
        break;
    }
    return 0;
}

/* An HTTP-level refusal (not a gRPC status): wrong method, content type. */
static void refuse_http(grpc_sstream *st, const char *status)
{
    grpc_nv l = {0};
    svc_grpc_nv_add(&l, ":status", status);
    nghttp2_submit_response(st->s.conn->h2, st->s.id, l.v, l.n, NULL);
    svc_grpc_nv_free(&l);
}

/* A unary call is dispatched at the request's END_STREAM and core watches
 * its deadline from then on. Until then the transport does, so that a
 * client that stops mid-request does not hold the stream past it. */
static void request_late(void *arg)
{
    grpc_sstream *st = arg;
    if (!st->dispatched && !st->base.answered) {
        st->failed = true;
        svc_call_refuse(&st->base, SVC_DEADLINE_EXCEEDED, "deadline exceeded");
    }
}

static void make_call(grpc_sstream *st, const char *path, size_t path_len)
{
    if (!st->post) {
        refuse_http(st, "405");
        return;
    }
    if (!st->ct_ok) {
        refuse_http(st, "415");
        return;
    }
    size_t skip = path_len > 0 && path[0] == '/';
    svc_call_args args = {
        .method = path + skip,
        .method_len = path_len - skip,
        .req = st->req,
        .deadline = st->has_timeout ? svc_deadline_after(st->timeout_ns) : 0,
    };
    st->req = NULL;
    svc_msg_set_content_type(args.req, st->json ? SVC_CT_JSON : SVC_CT_PROTO);
    st->call_made = true;
    if (svc_call_init(&st->base, &svc_grpc_transport, st->l->server, &args) != SVC_OK) {
        svc_call_refuse(&st->base, SVC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (st->header_bytes > GRPC_MAX_HEADER_LIST) {
        svc_call_refuse(&st->base, SVC_RESOURCE_EXHAUSTED, "request headers too large");
    } else if (st->failed) {
        svc_call_refuse(&st->base, SVC_INTERNAL, "bad -bin metadata (not base64)");
    } else if (st->bad_timeout) {
        svc_call_refuse(&st->base, SVC_INTERNAL, "malformed grpc-timeout");
    } else if (svc_call_resolve(&st->base) == SVC_ROUTE_FOUND && st->base.opts.kind != SVC_UNARY) {
        st->s.gate = NULL;
        if (svc_call_open_flow(&st->base) != SVC_OK) {
            svc_call_refuse(&st->base, SVC_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        st->s.gate = st->base.flow;
        st->dispatched = true;
        svc_call_dispatch(&st->base);
    } else if (st->base.route != SVC_ROUTE_FOUND) {
        st->dispatched = true;
        svc_call_dispatch(&st->base); /* core answers UNIMPLEMENTED */
    } else if (st->base.deadline &&
               svc_timer_new(st->loop, request_late, st, &st->request_deadline) == SVC_OK) {
        svc_timer_arm(st->request_deadline, st->base.deadline);
    }
}

/* The request's headers are complete: make the call, and give the path
 * back to nghttp2 while its session surely exists. */
static void headers_done(grpc_sstream *st)
{
    nghttp2_rcbuf *path = st->path;
    st->path = NULL;
    nghttp2_vec p = path ? nghttp2_rcbuf_get_buf(path) : (nghttp2_vec){(uint8_t *)"", 0};
    make_call(st, (const char *)p.base, p.len);
    if (path)
        nghttp2_rcbuf_decref(path);
}

/* The client finished sending. */
static void request_done(grpc_sstream *st)
{
    if (st->failed || st->base.answered)
        return;
    if (!svc_grpc_deframer_idle(&st->s.in)) {
        st->failed = true;
        svc_call_refuse(&st->base, SVC_INTERNAL, "truncated message at the end of the request");
    } else if (st->base.flow) {
        svc_flow_half_close(st->base.flow);
    } else if (!st->dispatched) {
        st->dispatched = true;
        if (st->messages == 1)
            svc_call_dispatch(&st->base);
        else
            svc_call_refuse(&st->base, SVC_INTERNAL, "a unary request needs one message");
    }
}

static svc_code deliver(void *ud, svc_msg *m)
{
    grpc_sstream *st = ud;
    if (st->base.flow) {
        svc_flow_push(st->base.flow, m);
        return SVC_OK;
    }
    if (++st->messages > 1) {
        svc_msg_free(m); /* not the request: on_data gives it only for the first */
        return svc_fail(SVC_INTERNAL, "a unary request carried more than one message");
    }
    /* The one message of a unary call was deframed into the request. */
    svc_grpc_stream_consumed(&st->s, true);
    return SVC_OK;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *ud)
{
    (void)flags;
    grpc_conn *c = ud;
    grpc_sstream *st = stream_of(h2, id);
    if (!st || !st->call_made || st->failed || st->base.answered) {
        nghttp2_session_consume(c->h2, id, len); /* dropped, but not held against the window */
        return 0;
    }
    /* A unary call's one message goes straight into its request. */
    grpc_sink to = {st->req_gzip, st->json ? SVC_CT_JSON : SVC_CT_PROTO,
                    !st->base.flow && st->messages == 0 ? st->base.req : NULL, deliver, st};
    svc_code rc = svc_grpc_stream_data(&st->s, data, len, &to);
    if (rc) {
        st->failed = true;
        svc_call_refuse(&st->base, rc, svc_last_error());
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    grpc_conn *c = ud;
    svc_grpc_conn_on_frame_recv(c, f);
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    grpc_sstream *st = stream_of(h2, f->hd.stream_id);
    if (!st)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        headers_done(st);
        /* An answer made at once (UNIMPLEMENTED, a refusal) is sent at once,
         * and may have closed the stream and freed it: look again. */
        if (!(st = stream_of(h2, f->hd.stream_id)))
            return 0;
    }
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && st->call_made)
        request_done(st);
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *ud)
{
    (void)ud;
    (void)error_code;
    grpc_sstream *st = stream_of(h2, id);
    if (st) {
        nghttp2_session_set_stream_user_data(h2, id, NULL);
        stream_gone(st);
    }
    return 0;
}

/* ---- connections ---- */

static void server_lost(grpc_conn *c, const char *why)
{
    (void)why;
    while (c->streams) {
        grpc_sstream *st = SSTREAM(c->streams);
        nghttp2_session_set_stream_user_data(c->h2, st->s.id, NULL);
        stream_gone(st);
    }
}

static void server_ready(grpc_conn *c)
{
    (void)c; /* a server connection serves from its first byte */
}

static void server_freed(grpc_conn *c)
{
    grpc_listener *l = c->owner;
    pthread_mutex_lock(&l->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (--l->n_conns == 0)
        pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static pthread_once_t callbacks_once = PTHREAD_ONCE_INIT;

static void make_callbacks(void)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return; /* svc_grpc_listen reports it */
    svc_grpc_conn_common_callbacks(cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    server_role.callbacks = cb;
}

static grpc_role server_role = {
    .lost = server_lost,
    .ready = server_ready,
    .freed = server_freed,
};

/* ---- accepting ---- */

typedef struct accepted {
    grpc_listener *l;
    svc_loop *loop;
    int fd;
    struct sockaddr_storage addr;
    socklen_t len;
} accepted;

static void start_conn(void *arg)
{
    accepted *a = arg;
    grpc_listener *l = a->l;
    SSL *ssl = l->ssl_ctx ? SSL_new(l->ssl_ctx) : NULL;
    grpc_conn *c = (l->ssl_ctx && !ssl)
                       ? NULL
                       : svc_grpc_conn_new(l->ctx, a->loop, &server_role, l, true, a->fd, ssl,
                                       (struct sockaddr *)&a->addr, a->len);
    if (!c) {
        close(a->fd);
        pthread_mutex_lock(&l->mu);
        if (--l->n_conns == 0)
            pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
    } else {
        pthread_mutex_lock(&l->mu);
        c->next = l->conns;
        if (l->conns)
            l->conns->prev = c;
        l->conns = c;
        pthread_mutex_unlock(&l->mu);
        svc_counter_add(l->accepted, 1);
        svc_grpc_conn_await_preface(c, l->handshake_ns);
        svc_grpc_conn_flush(c); /* our SETTINGS */
    }
    free(a);
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *addr,
                      int len, void *arg)
{
    (void)lev;
    grpc_listener *l = arg;
    accepted *a = malloc(sizeof *a);
    if (!a) {
        close(fd);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    /* Counted now, before the connection exists, so shutdown waits for it. */
    pthread_mutex_lock(&l->mu);
    l->n_conns++;
    pthread_mutex_unlock(&l->mu);
    *a = (accepted){l, svc_ctx_loop(l->ctx), fd, {0}, (socklen_t)len};
    memcpy(&a->addr, addr, (size_t)len);
    svc_grpc_on_loop(a->loop, start_conn, a);
}

/* ---- listeners ---- */

static svc_code bind_socket(const svc_url *url, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char port[8];
    snprintf(port, sizeof port, "%d", svc_url_port_or(url, 443));
    if (getaddrinfo(url->host, port, &hints, &ai) != 0 || !ai)
        return svc_fail(SVC_INVALID_ARGUMENT, "cannot resolve listen host '%s'", url->host);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return SVC_OK;
}

typedef struct listen_task {
    grpc_listener *l;
    struct sockaddr_storage ss;
    socklen_t len;
    svc_code rc;
    char error[256];
} listen_task;

/* evconnlistener belongs to a loop: made and freed on its thread. */
static void start_listening(void *arg)
{
    listen_task *t = arg;
    t->l->lev = evconnlistener_new_bind(svc_loop_base(t->l->loop), on_accept, t->l,
                                        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                            LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
                                        1024, (struct sockaddr *)&t->ss, (int)t->len);
    if (!t->l->lev) {
        snprintf(t->error, sizeof t->error, "%s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        t->rc = SVC_UNAVAILABLE;
    }
}

/* Accepting starts once the listener is complete (its counter, its URL):
 * the loop's accept callback reads them. */
static void start_accepting(void *arg)
{
    grpc_listener *l = arg;
    evconnlistener_enable(l->lev);
}

static void stop_listening(void *arg)
{
    grpc_listener *l = arg;
    if (l->lev)
        evconnlistener_free(l->lev);
    l->lev = NULL;
}

static unsigned bound_port(grpc_listener *l)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(evconnlistener_get_fd(l->lev), (struct sockaddr *)&ss, &len) != 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

static void listener_destroy(grpc_listener *l)
{
    if (l->ssl_ctx)
        SSL_CTX_free(l->ssl_ctx);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

svc_code svc_grpc_listen(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                         svc_listener **out)
{
    pthread_once(&callbacks_once, make_callbacks);
    if (!server_role.callbacks)
        return svc_fail_oom();
    if (url->n_hosts != 1)
        return svc_fail(SVC_INVALID_ARGUMENT, "a gRPC server listens on one host");
    bool tls = strcmp(url->scheme, "grpcs") == 0;
    grpc_listener *l = calloc(1, sizeof *l);
    if (!l)
        return svc_fail_oom();
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->server = s;
    l->ctx = svc_server_ctx(s);
    l->loop = svc_ctx_loop(l->ctx);
    l->max_msg = o->max_body ? o->max_body : l->ctx->max_message_size;
    /* A connection that has not even spoken HTTP/2 yet is idle; gRPC's own
     * servers give the handshake 120 s (GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS). */
    l->handshake_ns = (int64_t)(o->idle_timeout_s ? o->idle_timeout_s : 60) * SVC_NSEC_PER_SEC;
    listen_task t = {.l = l};
    svc_code rc = tls ? svc_grpc_tls_server_ctx(&o->tls, &l->ssl_ctx) : SVC_OK;
    if (rc == SVC_OK)
        rc = bind_socket(url, &t.ss, &t.len);
    if (rc == SVC_OK) {
        svc_loop_run_sync(l->loop, start_listening, &t);
        if (t.rc)
            rc = svc_fail(t.rc, "cannot listen on %s:%d: %s", url->host, svc_url_port_or(url, 443),
                          t.error);
    }
    char bound[300];
    if (rc == SVC_OK) {
        bool v6 = strchr(url->host, ':') != NULL;
        snprintf(bound, sizeof bound, "%s://%s%s%s:%u", url->scheme, v6 ? "[" : "", url->host,
                 v6 ? "]" : "", bound_port(l));
        l->accepted = svc_metrics_counter(l->ctx->metrics, "svc_grpc_connections_total",
                                          "Connections accepted by the gRPC server.",
                                          SVC_METRIC_COUNTER, "listener", bound, NULL);
        if (!(l->base.url = strdup(bound)))
            rc = svc_fail_oom();
    }
    if (rc) {
        svc_loop_run_sync(l->loop, stop_listening, l);
        listener_destroy(l);
        return rc;
    }
    svc_loop_run_sync(l->loop, start_accepting, l);
    *out = &l->base;
    return SVC_OK;
}

static void shutdown_notice(grpc_conn *c)
{
    /* "Finish what you have, start nothing new" (RFC 7540 §6.8). */
    nghttp2_submit_shutdown_notice(c->h2);
    svc_grpc_conn_flush(c);
}

static void final_goaway(grpc_conn *c)
{
    svc_grpc_conn_goaway(c, NGHTTP2_NO_ERROR, NULL);
}

static void force_close(grpc_conn *c)
{
    svc_grpc_conn_close(c, "server stopped");
}

typedef struct conn_task {
    grpc_listener *l;
    grpc_conn *c;
    void (*fn)(grpc_conn *c);
} conn_task;

/* On the connection's loop: act only if it is still listed. Its teardown
 * (which unlists it) runs on this same thread, so it cannot go meanwhile. */
static void run_conn_task(void *arg)
{
    conn_task *t = arg;
    pthread_mutex_lock(&t->l->mu);
    grpc_conn *c = t->l->conns;
    while (c && c != t->c)
        c = c->next;
    pthread_mutex_unlock(&t->l->mu);
    if (c && !c->dead)
        t->fn(c);
    pthread_mutex_lock(&t->l->mu);
    if (--t->l->n_tasks == 0)
        pthread_cond_broadcast(&t->l->cv);
    pthread_mutex_unlock(&t->l->mu);
    free(t);
}

static void each_conn(grpc_listener *l, void (*fn)(grpc_conn *c))
{
    pthread_mutex_lock(&l->mu);
    for (grpc_conn *c = l->conns; c; c = c->next) {
        conn_task *t = malloc(sizeof *t);
        if (t)
            *t = (conn_task){l, c, fn};
        if (!t || svc_loop_post(c->loop, run_conn_task, t) != SVC_OK) {
            free(t);
            svc_log_error(l->ctx, "grpc", "out of memory stopping a connection");
        } else {
            l->n_tasks++;
        }
    }
    pthread_mutex_unlock(&l->mu);
}

void svc_grpc_listener_quiesce(svc_listener *base)
{
    grpc_listener *l = (grpc_listener *)base;
    svc_loop_run_sync(l->loop, stop_listening, l);
    each_conn(l, shutdown_notice);
}

void svc_grpc_listener_free(svc_listener *base)
{
    grpc_listener *l = (grpc_listener *)base;
    svc_loop_run_sync(l->loop, stop_listening, l);
    /* Every call has been answered by now: say goodbye, give the answers a
     * moment to leave, then close what remains. */
    each_conn(l, final_goaway);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&l->mu);
    while (l->n_conns > 0 && pthread_cond_timedwait(&l->cv, &l->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&l->mu);
    each_conn(l, force_close);
    /* A connection can be gone with a task for it still queued on its loop
     * (it closed by itself meanwhile): that task still reads `l`. */
    pthread_mutex_lock(&l->mu);
    while (l->n_conns > 0 || l->n_tasks > 0)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    listener_destroy(l); /* core frees base.url */
}
