/*
 * The REST server on libmicrohttpd, in its thread-pool + epoll mode.
 *
 * A request becomes an svc_call as soon as its headers are in (so early
 * refusals such as 413 are counted under their method), collects its body,
 * and is dispatched. If the answer is not there when dispatch returns (a
 * pooled or slow handler), the connection is suspended and resumed by
 * whichever thread answers: MHD allows queueing a response on a suspended
 * connection from any thread. Responses are queued on the access handler's
 * second call at the earliest, because libmicrohttpd 0.9.75 closes the
 * connection after a response queued on the first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/content_type.h"
#include "core/call.h"
#include "core/clock.h"
#include "core/ctx.h"
#include "core/error.h"
#include "core/file.h"
#include "core/msg.h"
#include "core/strbuf.h"
#include "rest.h"

typedef struct rest_listener {
    svc_listener base;
    svc_server *server;
    svc_ctx *ctx;
    struct MHD_Daemon *daemon;
    MHD_socket quiesced_fd;
    size_t max_body;
    char *prefix; /* path prefix from the listen URL, "" for none */
    bool verify_peer;
    char *cert_pem, *key_pem, *ca_pem; /* MHD reads them for its lifetime */
    svc_counter *connections;
} rest_listener;

typedef enum req_state {
    REQ_READING,    /* headers and body arriving */
    REQ_DISPATCHED, /* handler running, access handler still on the stack */
    REQ_SUSPENDED,  /* waiting for an answer from another thread */
    REQ_ANSWERED,   /* response built, to be queued by the access handler */
    REQ_SENT,       /* response queued */
} req_state;

typedef struct rest_req {
    svc_call base; /* first: core's view of the request */
    rest_listener *l;
    struct MHD_Connection *conn;
    pthread_mutex_t mu; /* state and response, between MHD and answerers */
    req_state state;
    struct MHD_Response *response;
    unsigned http_status;
    svc_strbuf body;
    bool too_large;
    unsigned http_override; /* a status chosen before dispatch (413, 415) */
    struct sockaddr_storage peer_addr;
    char peer[INET6_ADDRSTRLEN + 10]; /* formatted on first svc_call_peer() */
} rest_req;

/* ---- responses ---- */

static void free_msg(void *cls)
{
    svc_msg_free(cls);
}

static svc_code add_header(const char *name, const char *value, void *ud)
{
    return MHD_add_response_header(ud, name, value) == MHD_YES ? SVC_OK : svc_fail_oom();
}

static unsigned error_http_status(const rest_req *r, svc_code code)
{
    if (r->http_override)
        return r->http_override;
    switch (r->base.route) {
    case SVC_ROUTE_NO_PATH:
    case SVC_ROUTE_NO_METHOD:
        return 404;
    case SVC_ROUTE_BAD_VERB:
        return 405;
    default:
        return svc_rest_http_status(code);
    }
}

/* Takes resp. NULL when out of memory. */
static struct MHD_Response *build_response(rest_req *r, svc_msg *resp, unsigned *status)
{
    svc_code code = resp ? resp->status : SVC_RESOURCE_EXHAUSTED;
    struct MHD_Response *mr;
    const char *ct;
    if (code == SVC_OK) {
        *status = 200;
        ct = resp->content_type;
        /* MHD takes a non-const pointer but only reads the bytes. */
        mr = MHD_create_response_from_buffer_with_free_callback_cls(
            svc_msg_len(resp), (void *)(uintptr_t)svc_msg_data(resp), free_msg, resp);
        if (!mr)
            svc_msg_free(resp);
    } else {
        *status = error_http_status(r, code);
        ct = "application/json";
        size_t len;
        char *body = svc_rest_error_body(code, resp ? svc_msg_status_message(resp) : "out of memory",
                                         &len);
        mr = body ? MHD_create_response_from_buffer_with_free_callback(len, body, free) : NULL;
        if (!mr)
            free(body);
    }
    if (mr && ((ct && MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, ct) != MHD_YES) ||
               svc_rest_md_to_headers(&r->base.reply_md, add_header, mr) != SVC_OK ||
               (resp && svc_rest_md_to_headers(&resp->md, add_header, mr) != SVC_OK))) {
        MHD_destroy_response(mr);
        mr = NULL;
    }
    if (code != SVC_OK)
        svc_msg_free(resp);
    return mr;
}

static enum MHD_Result queue_answer(rest_req *r)
{
    enum MHD_Result ret = MHD_NO;
    if (r->response) {
        ret = MHD_queue_response(r->conn, r->http_status, r->response);
        MHD_destroy_response(r->response);
        r->response = NULL;
    }
    r->state = REQ_SENT;
    return ret;
}

void svc_rest_call_reply(svc_call *c, svc_msg *resp)
{
    rest_req *r = (rest_req *)c;
    unsigned status = 500;
    struct MHD_Response *mr = build_response(r, resp, &status);
    pthread_mutex_lock(&r->mu);
    bool resume = r->state == REQ_SUSPENDED;
    r->response = mr;
    r->http_status = status;
    if (resume)
        queue_answer(r); /* allowed on a suspended connection, from any thread */
    else
        r->state = REQ_ANSWERED; /* the access handler queues it */
    struct MHD_Connection *conn = r->conn;
    pthread_mutex_unlock(&r->mu);
    if (resume)
        MHD_resume_connection(conn);
}

void svc_rest_call_free(svc_call *c)
{
    rest_req *r = (rest_req *)c;
    if (r->response)
        MHD_destroy_response(r->response);
    svc_strbuf_free(&r->body);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* ---- requests ---- */

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    svc_msg *m = cls;
    if (value)
        svc_rest_header_to_md(&m->md, key, key_size, value, value_size);
    return MHD_YES;
}

static enum MHD_Result copy_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    rest_req *r = cls;
    /* MHD gives the raw escapes (see keep_escaped); decode them here. */
    char *k = svc_pct_decode(key, key_size, true);
    char *v = value ? svc_pct_decode(value, value_size, true) : strdup("");
    if (k && v)
        svc_params_add(&r->base.query, k, v);
    else {
        free(k);
        free(v);
    }
    return MHD_YES;
}

/* MHD would unescape the path before we see it, losing the difference
 * between "/" and "%2F" inside a path parameter; the router decodes each
 * parameter itself instead. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

const char *svc_rest_call_peer(const svc_call *c)
{
    rest_req *r = (rest_req *)(uintptr_t)c;
    if (r->peer[0])
        return r->peer;
    char host[INET6_ADDRSTRLEN] = "";
    if (r->peer_addr.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)&r->peer_addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(r->peer, sizeof r->peer, "%s:%u", host, ntohs(in->sin_port));
    } else if (r->peer_addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)&r->peer_addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(r->peer, sizeof r->peer, "[%s]:%u", host, ntohs(in6->sin6_port));
    }
    return r->peer;
}

static void keep_peer_address(rest_req *r, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    size_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                        : sizeof(struct sockaddr_in);
    memcpy(&r->peer_addr, ci->client_addr, len);
}

static bool client_cert_trusted(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    gnutls_session_t session = ci->tls_session;
    unsigned n = 0, status = 0;
    /* MHD asks for a certificate but lets the handshake through without
     * one; whether it is there and trusted is ours to check. */
    return gnutls_certificate_get_peers(session, &n) && n > 0 &&
           gnutls_certificate_verify_peers2(session, &status) == GNUTLS_E_SUCCESS && status == 0;
}

/* Builds the call from the request line and headers (first access-handler
 * call). The path is taken relative to the listener's prefix. */
static rest_req *req_new(rest_listener *l, struct MHD_Connection *conn, const char *url,
                         const char *verb)
{
    rest_req *r = calloc(1, sizeof *r);
    svc_msg *m = NULL;
    if (!r || svc_msg_new(&m) != SVC_OK) {
        free(r);
        return NULL;
    }
    r->l = l;
    r->conn = conn;
    pthread_mutex_init(&r->mu, NULL);
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, copy_header, m);
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct && svc_msg_set_content_type(m, ct) != SVC_OK) {
        svc_msg_free(m);
        m = NULL;
    }
    size_t prefix_len = strlen(l->prefix);
    bool in_prefix = strncmp(url, l->prefix, prefix_len) == 0 &&
                     (url[prefix_len] == '/' || (url[prefix_len] == '\0' && prefix_len));
    const char *path = in_prefix ? url + prefix_len : url;
    if (!*path)
        path = "/";
    /* "VERB /path": what core resolves against routes and methods. */
    size_t verb_len = strlen(verb), path_len = strlen(path);
    char method[2048];
    if (verb_len + 1 + path_len >= sizeof method)
        path_len = sizeof method - verb_len - 2; /* an over-long path cannot match */
    memcpy(method, verb, verb_len);
    method[verb_len] = ' ';
    memcpy(method + verb_len + 1, path, path_len);
    keep_peer_address(r, conn);
    svc_time deadline = 0;
    const char *timeout = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "grpc-timeout");
    int64_t timeout_ns;
    if (timeout && svc_timeout_parse(timeout, strlen(timeout), &timeout_ns))
        deadline = svc_now() + timeout_ns;
    svc_call_args args = {
        .method = method,
        .method_len = verb_len + 1 + path_len,
        .req = m,
        .deadline = deadline,
    };
    if (!m || svc_call_init(&r->base, &svc_rest_transport, l->server, &args) != SVC_OK) {
        if (r->base.ops)
            svc_call_unref(&r->base);
        else {
            svc_msg_free(m);
            pthread_mutex_destroy(&r->mu);
            free(r);
        }
        return NULL;
    }
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, copy_query, r);

    /* Refusals decided from the headers alone. */
    const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    svc_ct_kind kind = svc_ct_classify(ct);
    if (l->verify_peer && !client_cert_trusted(conn)) {
        svc_call_refuse(&r->base, SVC_UNAUTHENTICATED, "client certificate missing or not trusted");
    } else if (!in_prefix && prefix_len) {
        svc_call_refuse(&r->base, SVC_NOT_FOUND, "path outside this server's prefix");
    } else if (length && strtoull(length, NULL, 10) > l->max_body) {
        r->http_override = 413;
        char msg[96];
        snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", l->max_body);
        svc_call_refuse(&r->base, SVC_RESOURCE_EXHAUSTED, msg);
    } else if (kind == SVC_CT_KIND_OTHER) {
        r->http_override = 415;
        char msg[200];
        snprintf(msg, sizeof msg, "unsupported content type '%.100s' (use application/json or application/proto)", ct);
        svc_call_refuse(&r->base, SVC_INVALID_ARGUMENT, msg);
    }
    return r;
}

static enum MHD_Result after_dispatch(rest_req *r)
{
    pthread_mutex_lock(&r->mu);
    enum MHD_Result ret = MHD_YES;
    if (r->state == REQ_ANSWERED) {
        ret = queue_answer(r);
    } else {
        MHD_suspend_connection(r->conn);
        r->state = REQ_SUSPENDED;
    }
    pthread_mutex_unlock(&r->mu);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *verb, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    rest_listener *l = cls;
    rest_req *r = *con_cls;
    if (!r) {
        r = req_new(l, conn, url, verb);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        /* A refusal is queued now: the body will not be read, so MHD closes
         * the connection after it, which is what an over-size upload needs. */
        return r->state == REQ_ANSWERED ? queue_answer(r) : MHD_YES;
    }
    if (*upload_size) {
        if (!r->too_large && r->body.len + *upload_size > l->max_body) {
            r->too_large = true; /* chunked bodies have no Content-Length to check */
            svc_strbuf_free(&r->body);
        }
        if (!r->too_large)
            svc_strbuf_append(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->state != REQ_READING)
        return r->state == REQ_ANSWERED ? queue_answer(r) : MHD_YES;

    r->state = REQ_DISPATCHED;
    if (r->too_large || r->body.oom) {
        r->http_override = 413;
        char msg[96];
        snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", l->max_body);
        svc_call_refuse(&r->base, SVC_RESOURCE_EXHAUSTED, msg);
    } else {
        if (r->body.len) {
            size_t len;
            char *data = svc_strbuf_take(&r->body, &len);
            svc_msg_set_data_owned(r->base.req, data, len, free);
        }
        svc_call_dispatch(&r->base);
    }
    return after_dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    rest_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    svc_call_abandon(&r->base); /* counts as CANCELLED if never answered */
    svc_call_unref(&r->base);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)conn;
    (void)socket_ctx;
    rest_listener *l = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        svc_counter_add(l->connections, 1);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    rest_listener *l = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    svc_log_debug(l->ctx, "rest", "libmicrohttpd: %s", line);
}

/* ---- listeners ---- */

/* Binds and listens ourselves, so the real port (for port 0) is known
 * before libmicrohttpd's threads start; MHD takes the socket over. */
static svc_code open_listen_socket(const svc_url *url, int port, int *fd_out, unsigned *bound,
                                   bool *v6)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(url->host, service, &hints, &ai) != 0 || !ai)
        return svc_fail(SVC_INVALID_ARGUMENT, "cannot resolve listen host '%s'", url->host);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
              bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0;
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (ok && getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
        *fd_out = fd;
        return SVC_OK;
    }
    int err = errno;
    if (fd >= 0)
        close(fd);
    return svc_fail(SVC_UNAVAILABLE, "cannot listen on %s:%d: %s", url->host, port, strerror(err));
}

static svc_code load_tls(rest_listener *l, const svc_tls_opts *tls)
{
    if (!tls->cert_file || !tls->key_file)
        return svc_fail(SVC_INVALID_ARGUMENT, "https:// needs a certificate and a key file");
    svc_code rc = svc_read_file(tls->cert_file, &l->cert_pem, NULL);
    if (rc == SVC_OK)
        rc = svc_read_file(tls->key_file, &l->key_pem, NULL);
    if (rc == SVC_OK && tls->verify_peer) {
        if (!tls->ca_file)
            return svc_fail(SVC_INVALID_ARGUMENT, "verifying clients needs a CA file");
        rc = svc_read_file(tls->ca_file, &l->ca_pem, NULL);
        l->verify_peer = true;
    }
    return rc;
}

static void listener_destroy(rest_listener *l)
{
    if (l->daemon)
        MHD_stop_daemon(l->daemon);
    if (l->quiesced_fd != MHD_INVALID_SOCKET)
        close(l->quiesced_fd);
    free(l->cert_pem);
    free(l->key_pem);
    free(l->ca_pem);
    free(l->prefix);
    free(l);
}

static svc_code start_daemon(rest_listener *l, int fd, bool v6, const svc_listen_opts *o,
                             bool tls)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_TURBO;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[16];
    size_t n = 0;
#define OPT(o_, v_, p_) opts[n++] = (struct MHD_OptionItem){(o_), (intptr_t)(v_), (void *)(p_)}
    OPT(MHD_OPTION_LISTEN_SOCKET, fd, NULL);
    OPT(MHD_OPTION_THREAD_POOL_SIZE, o->threads ? o->threads : 2, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s ? o->idle_timeout_s : 60, NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, l);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, l);
    OPT(MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL);
    OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, l);
    if (tls) {
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, l->cert_pem);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, l->key_pem);
        if (l->ca_pem)
            OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, l->ca_pem);
    }
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    l->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l, MHD_OPTION_ARRAY, opts,
                                 MHD_OPTION_END);
    if (!l->daemon) {
        close(fd);
        return svc_fail(SVC_UNAVAILABLE, "libmicrohttpd would not start (bad TLS files?)");
    }
    return SVC_OK;
}

svc_code svc_rest_listen(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                         svc_listener **out)
{
    if (url->n_hosts != 1)
        return svc_fail(SVC_INVALID_ARGUMENT, "a REST server listens on one host");
    bool tls = strcmp(url->scheme, "https") == 0;
    rest_listener *l = calloc(1, sizeof *l);
    if (!l)
        return svc_fail_oom();
    l->server = s;
    l->ctx = svc_server_ctx(s);
    l->quiesced_fd = MHD_INVALID_SOCKET;
    l->max_body = o->max_body ? o->max_body : l->ctx->max_message_size;
    size_t plen = strlen(url->path);
    while (plen && url->path[plen - 1] == '/')
        plen--;
    l->prefix = strndup(url->path, plen);
    svc_code rc = l->prefix ? SVC_OK : svc_fail_oom();
    if (rc == SVC_OK && tls)
        rc = load_tls(l, &o->tls);
    int fd = -1;
    unsigned port = 0;
    bool v6 = false;
    if (rc == SVC_OK)
        rc = open_listen_socket(url, svc_url_port_or(url, tls ? 443 : 80), &fd, &port, &v6);
    char bound[512];
    if (rc == SVC_OK) {
        snprintf(bound, sizeof bound, "%s://%s%s%s:%u%s", url->scheme, v6 ? "[" : "", url->host,
                 v6 ? "]" : "", port, l->prefix);
        l->connections = svc_metrics_counter(l->ctx->metrics, "svc_rest_connections_total",
                                             "Connections accepted by the REST server.", SVC_METRIC_COUNTER,
                                             "listener", bound, NULL);
        if (!(l->base.url = strdup(bound))) {
            close(fd);
            rc = svc_fail_oom();
        }
    }
    if (rc == SVC_OK)
        rc = start_daemon(l, fd, v6, o, tls);
    if (rc) {
        free(l->base.url);
        listener_destroy(l);
        return rc;
    }
    *out = &l->base;
    return SVC_OK;
}
void svc_rest_listener_quiesce(svc_listener *base)
{
    rest_listener *l = (rest_listener *)base;
    l->quiesced_fd = MHD_quiesce_daemon(l->daemon);
}

void svc_rest_listener_free(svc_listener *base)
{
    listener_destroy((rest_listener *)base); /* core frees base.url */
}
