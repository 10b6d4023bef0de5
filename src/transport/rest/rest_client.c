/*
 * The REST client: one curl multi handle per channel, driven by the
 * channel's I/O loop through curl's socket interface (the multi_socket
 * pattern of curl's libevent examples). Every curl call happens on that
 * loop's thread; other threads only post work to it. Connections stay in
 * the multi handle's cache, so calls reuse them (keep-alive); easy handles
 * are recycled so DNS and TLS session caches survive between calls.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ccall.h"
#include "core/clock.h"
#include "core/ctx.h"
#include "core/error.h"
#include "core/msg.h"
#include "core/strbuf.h"
#include "rest.h"

#define IDLE_EASY_MAX 64

typedef struct rest_channel {
    svc_channel base;
    svc_loop *loop;
    CURLM *multi;
    struct event *timer;
    char *base_url;     /* scheme://host:port[/prefix], no trailing slash */
    struct curl_slist *connect_to; /* CURLOPT_CONNECT_TO for a TLS name override */
    char *ca_file, *cert_file, *key_file;
    bool insecure;
    long connect_timeout_ms;
    char *user_agent;
    CURL *idle[IDLE_EASY_MAX]; /* recycled easy handles */
    size_t n_idle;
    svc_counter *connections;
} rest_channel;

typedef struct xfer {
    rest_channel *ch;
    svc_ccall *cc;
    CURL *easy;
    struct curl_slist *headers;
    svc_strbuf body;
    bool too_large;
} xfer;

typedef struct sock_info {
    struct event *ev;
    rest_channel *ch;
} sock_info;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- curl's multi_socket glue ---- */

static void check_done(rest_channel *ch);

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    rest_channel *ch = arg;
    int action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(ch->multi, fd, action, &running);
    check_done(ch);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rest_channel *ch = arg;
    int running;
    curl_multi_socket_action(ch->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(ch);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    rest_channel *ch = userp;
    sock_info *si = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (si) {
            event_free(si->ev);
            free(si);
            curl_multi_assign(ch->multi, s, NULL);
        }
        return 0;
    }
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) |
                         (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
    struct event_base *base = svc_loop_base(ch->loop);
    if (!si) {
        si = calloc(1, sizeof *si);
        if (!si || !(si->ev = event_new(base, s, kind, on_socket_event, ch))) {
            free(si);
            return -1;
        }
        si->ch = ch;
        curl_multi_assign(ch->multi, s, si);
    } else {
        event_del(si->ev);
        event_assign(si->ev, base, s, kind, on_socket_event, ch);
    }
    event_add(si->ev, NULL);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    rest_channel *ch = userp;
    if (timeout_ms < 0) {
        evtimer_del(ch->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(ch->timer, &tv);
    }
    return 0;
}

/* ---- transfers ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    if (x->body.len + len > svc_ccall_max_reply(x->cc)) {
        x->too_large = true;
        return 0; /* aborts the transfer */
    }
    svc_strbuf_append(&x->body, p, len);
    return x->body.oom ? 0 : len;
}

/* The reply's headers as metadata and content type. curl has parsed them
 * already (its header API), so no per-line callback is needed. Only the
 * last response's headers count, after any 100 Continue. */
static svc_code copy_reply_headers(xfer *x, svc_msg *m)
{
    char *ct = NULL;
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
    svc_code rc = ct ? svc_msg_set_content_type(m, ct) : SVC_OK;
    struct curl_header *h = NULL;
    while (rc == SVC_OK && (h = curl_easy_nextheader(x->easy, CURLH_HEADER, -1, h)) != NULL)
        rc = svc_rest_header_to_md(&m->md, h->name, strlen(h->name), h->value, strlen(h->value));
    return rc;
}

static svc_code add_header(const char *name, const char *value, void *ud)
{
    xfer *x = ud;
    char line[8192];
    int n = snprintf(line, sizeof line, "%s: %s", name, value);
    if (n < 0 || (size_t)n >= sizeof line)
        return svc_fail(SVC_INVALID_ARGUMENT, "metadata '%s' too long for a header", name);
    struct curl_slist *l = curl_slist_append(x->headers, line);
    if (!l)
        return svc_fail_oom();
    x->headers = l;
    return SVC_OK;
}

static CURL *easy_new(rest_channel *ch)
{
    if (ch->n_idle)
        return ch->idle[--ch->n_idle];
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ch->connect_timeout_ms);
    if (ch->user_agent)
        curl_easy_setopt(e, CURLOPT_USERAGENT, ch->user_agent);
    if (ch->connect_to)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, ch->connect_to);
    if (ch->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, ch->ca_file);
    if (ch->cert_file)
        curl_easy_setopt(e, CURLOPT_SSLCERT, ch->cert_file);
    if (ch->key_file)
        curl_easy_setopt(e, CURLOPT_SSLKEY, ch->key_file);
    if (ch->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return e;
}

static void xfer_free(xfer *x)
{
    rest_channel *ch = x->ch;
    if (x->easy) {
        if (ch->n_idle < IDLE_EASY_MAX)
            ch->idle[ch->n_idle++] = x->easy;
        else
            curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    svc_strbuf_free(&x->body);
    free(x);
}

/* Verb, URL and body of a call. "pkg.S/M" is POST <base>/pkg.S/M; a route
 * call "VERB /path?q" is that verb on <base>/path?q. */
static svc_code set_request(xfer *x)
{
    svc_ccall *cc = x->cc;
    CURL *e = x->easy;
    const char *space = strchr(cc->method, ' ');
    char verb[16] = "POST";
    const char *path = cc->method;
    if (space) {
        size_t n = (size_t)(space - cc->method);
        if (n == 0 || n >= sizeof verb)
            return svc_fail(SVC_INVALID_ARGUMENT, "bad verb in '%s'", cc->method);
        memcpy(verb, cc->method, n);
        verb[n] = '\0';
        path = space + 1;
    }
    if (!space && path[0] == '/')
        path++;
    /* base + ("/" for RPC methods) + path, by copy: this runs per call. */
    char url[4096];
    size_t base_len = strlen(x->ch->base_url), path_len = strlen(path), slash = !space;
    if (base_len + slash + path_len >= sizeof url)
        return svc_fail(SVC_INVALID_ARGUMENT, "URL too long");
    memcpy(url, x->ch->base_url, base_len);
    url[base_len] = '/';
    memcpy(url + base_len + slash, path, path_len + 1);
    curl_easy_setopt(e, CURLOPT_URL, url);
    size_t len = svc_msg_len(cc->req);
    bool has_body = len > 0 || strcmp(verb, "POST") == 0 || strcmp(verb, "PUT") == 0 ||
                    strcmp(verb, "PATCH") == 0;
    curl_easy_setopt(e, CURLOPT_NOBODY, (long)(strcmp(verb, "HEAD") == 0));
    if (has_body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, svc_msg_data(cc->req));
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    bool plain = strcmp(verb, has_body ? "POST" : "GET") == 0;
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, plain ? NULL : verb);
    return SVC_OK;
}

static svc_code set_headers(xfer *x)
{
    svc_ccall *cc = x->cc;
    const char *ct = svc_msg_content_type(cc->req);
    /* An RPC-style call is a POST: without a type curl would call its
     * body a form, which the server refuses; no type means protobuf. */
    if (!ct && !strchr(cc->method, ' '))
        ct = SVC_CT_PROTO;
    char line[256];
    svc_code rc = SVC_OK;
    /* No "Expect: 100-continue" round trip before larger bodies. */
    if (svc_msg_len(cc->req) > 1024)
        rc = add_header("Expect", "", x);
    if (rc == SVC_OK && ct)
        rc = add_header("Content-Type", ct, x);
    if (rc == SVC_OK && cc->deadline) {
        svc_timeout_format(cc->deadline - svc_now(), line);
        rc = add_header("grpc-timeout", line, x);
    }
    if (rc == SVC_OK)
        rc = svc_rest_md_to_headers(&cc->req->md, add_header, x);
    if (rc == SVC_OK)
        curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    return rc;
}

static svc_code xfer_start(rest_channel *ch, svc_ccall *cc)
{
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return svc_fail_oom();
    x->ch = ch;
    x->cc = cc;
    svc_code rc = SVC_OK;
    if (!(x->easy = easy_new(ch)))
        rc = svc_fail_oom();
    if (rc == SVC_OK)
        rc = set_request(x);
    if (rc == SVC_OK)
        rc = set_headers(x);
    if (rc == SVC_OK) {
        curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
        curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
        if (curl_multi_add_handle(ch->multi, x->easy) != CURLM_OK)
            rc = svc_fail(SVC_INTERNAL, "curl refused the transfer");
    }
    if (rc) {
        xfer_free(x);
        return rc;
    }
    cc->tdata = x;
    return SVC_OK;
}

static svc_msg *reply_from_curl(xfer *x, CURLcode res)
{
    char msg[CURL_ERROR_SIZE + 64];
    if (x->too_large) {
        snprintf(msg, sizeof msg, "reply larger than %zu bytes", svc_ccall_max_reply(x->cc));
        return svc_msg_new_status(SVC_RESOURCE_EXHAUSTED, msg);
    }
    if (res != CURLE_OK) {
        snprintf(msg, sizeof msg, "%s: %s", x->ch->base_url, curl_easy_strerror(res));
        if (res == CURLE_OUT_OF_MEMORY)
            return svc_msg_new_status(SVC_RESOURCE_EXHAUSTED, msg);
        /* No connection, so no server saw the request. */
        bool unsent = res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST;
        return unsent ? svc_msg_new_unprocessed(SVC_UNAVAILABLE, msg)
                      : svc_msg_new_status(SVC_UNAVAILABLE, msg);
    }
    long http = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &http);
    svc_msg *m = NULL;
    size_t len;
    char *body = svc_strbuf_take(&x->body, &len);
    if (!body || svc_msg_new(&m) != SVC_OK || copy_reply_headers(x, m) != SVC_OK) {
        free(body);
        svc_msg_free(m);
        return NULL;
    }
    svc_code code = svc_rest_code_from_http(http);
    if (code == SVC_OK) {
        svc_msg_set_data_owned(m, body, len, free);
        return m;
    }
    char *message = NULL;
    if (!svc_rest_parse_error_body(body, len, &code, &message)) {
        snprintf(msg, sizeof msg, "HTTP %ld: %.200s", http, body);
        message = strdup(msg);
    }
    svc_msg_set_status(m, code, message);
    free(message);
    free(body);
    return m;
}

/* Ends a transfer that curl finished or that we abandon (res set). */
static void xfer_end(xfer *x, CURLcode res, bool cancelled)
{
    rest_channel *ch = x->ch;
    svc_ccall *cc = x->cc;
    long connects = 0;
    curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects);
    svc_counter_add(ch->connections, connects);
    curl_multi_remove_handle(ch->multi, x->easy);
    cc->tdata = NULL;
    if (!cancelled) {
        svc_msg *resp = reply_from_curl(x, res);
        svc_ccall_complete(cc, resp);
    }
    xfer_free(x);
    svc_ccall_release(cc);
}

static void check_done(rest_channel *ch)
{
    CURLMsg *cm;
    int left;
    while ((cm = curl_multi_info_read(ch->multi, &left)) != NULL) {
        if (cm->msg != CURLMSG_DONE)
            continue;
        xfer *x = NULL;
        curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode res = cm->data.result; /* cm is invalid once the handle is removed */
        xfer_end(x, res, false);
    }
}

/* ---- the transport's ops ---- */

static void start_task(void *arg)
{
    svc_ccall *cc = arg;
    rest_channel *ch = (rest_channel *)cc->chan;
    if (svc_ccall_done(cc)) { /* cancelled before it reached the loop */
        svc_ccall_release(cc);
        return;
    }
    svc_code rc = xfer_start(ch, cc);
    if (rc) {
        svc_ccall_fail(cc, rc, svc_last_error());
        svc_ccall_release(cc);
    }
}

void svc_rest_call_start(svc_channel *base, svc_ccall *cc)
{
    rest_channel *ch = (rest_channel *)base;
    /* A call made from this loop (an inline callback issuing the next call)
     * starts at once. That is never inside a curl callback: completions are
     * delivered after curl has let go of the transfer. */
    if (svc_loop_in_thread(ch->loop)) {
        start_task(cc);
        return;
    }
    if (svc_loop_post(ch->loop, start_task, cc) != SVC_OK) {
        svc_ccall_fail(cc, SVC_RESOURCE_EXHAUSTED, "out of memory");
        svc_ccall_release(cc);
    }
}

static void cancel_task(void *arg)
{
    svc_ccall *cc = arg;
    xfer *x = cc->tdata;
    if (x)
        xfer_end(x, CURLE_ABORTED_BY_CALLBACK, true);
    svc_ccall_release(cc); /* the hold taken in svc_rest_call_cancel */
}

void svc_rest_call_cancel(svc_channel *base, svc_ccall *cc)
{
    rest_channel *ch = (rest_channel *)base;
    svc_ccall_hold(cc);
    if (svc_loop_post(ch->loop, cancel_task, cc) != SVC_OK)
        svc_ccall_release(cc); /* the transfer then runs to its end unobserved */
}

static svc_code copy_opt(const char *in, char **out)
{
    *out = NULL;
    if (in && !(*out = strdup(in)))
        return svc_fail_oom();
    return SVC_OK;
}

static svc_code channel_setup(rest_channel *ch, const svc_url *url, const svc_client_opts *o)
{
    if (url->n_hosts != 1)
        return svc_fail(SVC_INVALID_ARGUMENT, "a REST target names one host");
    bool tls = strcmp(url->scheme, "https") == 0;
    int port = svc_url_port_or(url, tls ? 443 : 80);
    bool v6 = strchr(url->host, ':') != NULL;
    const char *name = tls && o->tls.server_name ? o->tls.server_name : url->host;
    size_t plen = strlen(url->path);
    while (plen && url->path[plen - 1] == '/')
        plen--;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s://%s%s%s:%d%.*s", url->scheme, v6 ? "[" : "", name,
             v6 ? "]" : "", port, (int)plen, url->path);
    if (!(ch->base_url = strdup(buf)))
        return svc_fail_oom();
    if (name != url->host) {
        /* Connect to the URL's address while verifying the given name. */
        snprintf(buf, sizeof buf, "%s:%d:%s:%d", name, port, url->host, port);
        if (!(ch->connect_to = curl_slist_append(NULL, buf)))
            return svc_fail_oom();
    }
    /* No User-Agent unless asked for: curl formats the header with its own
     * printf on every request, which costs about a tenth of a small call. */
    svc_code rc = copy_opt(o->user_agent, &ch->user_agent);
    if (rc == SVC_OK && tls)
        rc = copy_opt(o->tls.ca_file, &ch->ca_file);
    if (rc == SVC_OK && tls)
        rc = copy_opt(o->tls.cert_file, &ch->cert_file);
    if (rc == SVC_OK && tls)
        rc = copy_opt(o->tls.key_file, &ch->key_file);
    ch->insecure = o->tls.insecure;
    ch->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    return rc;
}

static void channel_destroy(rest_channel *ch)
{
    while (ch->n_idle)
        curl_easy_cleanup(ch->idle[--ch->n_idle]);
    if (ch->multi)
        curl_multi_cleanup(ch->multi);
    if (ch->timer)
        event_free(ch->timer);
    curl_slist_free_all(ch->connect_to);
    free(ch->base_url);
    free(ch->user_agent);
    free(ch->ca_file);
    free(ch->cert_file);
    free(ch->key_file);
    free(ch);
}

svc_code svc_rest_channel_new(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                              svc_channel **out)
{
    pthread_once(&curl_once, curl_setup);
    rest_channel *ch = calloc(1, sizeof *ch);
    if (!ch)
        return svc_fail_oom();
    ch->loop = svc_ctx_loop(ctx);
    svc_code rc = channel_setup(ch, url, o);
    if (rc == SVC_OK && (!(ch->multi = curl_multi_init()) ||
                         !(ch->timer = evtimer_new(svc_loop_base(ch->loop), on_timer, ch))))
        rc = svc_fail_oom();
    if (rc) {
        channel_destroy(ch);
        return rc;
    }
    curl_multi_setopt(ch->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(ch->multi, CURLMOPT_SOCKETDATA, ch);
    curl_multi_setopt(ch->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(ch->multi, CURLMOPT_TIMERDATA, ch);
    ch->connections = svc_metrics_counter(ctx->metrics, "svc_rest_client_connections_total",
                                          "Connections opened by REST clients.", SVC_METRIC_COUNTER,
                                          "target", ch->base_url, NULL);
    *out = &ch->base;
    return SVC_OK;
}

static void destroy_task(void *arg)
{
    channel_destroy(arg);
}

void svc_rest_channel_free(svc_channel *base)
{
    rest_channel *ch = (rest_channel *)base;
    /* curl and the events belong to the loop's thread. */
    if (svc_loop_run_sync(ch->loop, destroy_task, ch) != SVC_OK)
        channel_destroy(ch);
}
