/* HTTP to etcd's JSON gateway (etcd_http.h). */
#include "etcd_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/error.h"

#define CONNECT_TIMEOUT_MS 1000L

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The socket is recorded so that abort() can shut it down. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    svc_etcd_http *h = ud;
    pthread_mutex_lock(&h->mu);
    int fd = atomic_load(&h->aborted) ? -1 : socket(a->family, a->socktype | SOCK_CLOEXEC,
                                                    a->protocol);
    h->fd = fd;
    pthread_mutex_unlock(&h->mu);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static int close_socket(void *ud, curl_socket_t fd)
{
    svc_etcd_http *h = ud;
    pthread_mutex_lock(&h->mu);
    if (h->fd == fd)
        h->fd = -1;
    close(fd);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

static int progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((svc_etcd_http *)ud)->aborted);
}

svc_code svc_etcd_http_init(svc_etcd_http *h, const char *registry_url)
{
    memset(h, 0, sizeof *h);
    h->fd = -1;
    pthread_mutex_init(&h->mu, NULL);
    atomic_init(&h->aborted, false);
    pthread_once(&curl_once, curl_setup);
    svc_code rc = svc_url_parse(registry_url, &h->url);
    if (rc == SVC_OK && strcmp(h->url->scheme, "etcd") != 0)
        rc = svc_fail(SVC_INVALID_ARGUMENT, "etcd: \"%s\" is not an etcd:// URL", registry_url);
    for (size_t i = 0; rc == SVC_OK && i < h->url->n_hosts; i++)
        if (h->url->hosts[i].port < 0)
            rc = svc_fail(SVC_INVALID_ARGUMENT, "etcd: \"%s\" needs a port for every member",
                          registry_url);
    if (rc == SVC_OK && !(h->curl = curl_easy_init()))
        rc = svc_fail_oom();
    if (rc != SVC_OK) {
        svc_etcd_http_free(h);
        return rc;
    }
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    /* A watch is silent while nothing changes: keepalive probes find a
     * peer that vanished without a FIN (host down, cable pulled). */
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 2L);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, h);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    return SVC_OK;
}

void svc_etcd_http_free(svc_etcd_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    svc_url_free(h->url);
    pthread_mutex_destroy(&h->mu);
    memset(h, 0, sizeof *h);
}

void svc_etcd_http_resume(svc_etcd_http *h)
{
    atomic_store(&h->aborted, false);
}

void svc_etcd_http_abort(svc_etcd_http *h)
{
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->aborted, true);
    if (h->fd >= 0)
        shutdown(h->fd, SHUT_RDWR);
    pthread_mutex_unlock(&h->mu);
}

typedef struct sink_ctx {
    svc_code (*fn)(void *ud, const char *p, size_t n);
    void *ud;
    svc_code rc;
    svc_strbuf *body; /* the answer of a failed (non-2xx) request */
    long status;
    CURL *curl;
} sink_ctx;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    sink_ctx *s = arg;
    if (!s->status)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    n *= size;
    if (s->status < 200 || s->status > 299) {
        svc_strbuf_append(s->body, p, n);
        return s->body->len > 4096 ? 0 : n;
    }
    s->rc = s->fn(s->ud, p, n);
    return s->rc == SVC_OK ? n : 0;
}

static svc_code to_strbuf(void *ud, const char *p, size_t n)
{
    svc_strbuf *b = ud;
    svc_strbuf_append(b, p, n);
    return b->oom ? svc_fail_oom() : SVC_OK;
}

/* One request to one member. */
static svc_code perform(svc_etcd_http *h, const svc_url_host *m, const char *path,
                        const char *body, long timeout_ms, sink_ctx *s)
{
    char url[320];
    bool v6 = strchr(m->host, ':') != NULL;
    snprintf(url, sizeof url, "http://%s%s%s:%d%s", v6 ? "[" : "", m->host, v6 ? "]" : "",
             m->port, path);
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    h->errbuf[0] = '\0';
    CURLcode cc = curl_easy_perform(c);
    if (atomic_load(&h->aborted))
        return svc_fail(SVC_CANCELLED, "etcd: stopped");
    if (s->rc != SVC_OK)
        return s->rc;
    if (!s->status)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
    bool http_error = s->status && (s->status < 200 || s->status > 299);
    if (cc != CURLE_OK && !http_error)
        return svc_fail(SVC_UNAVAILABLE, "etcd at %s:%d: %s", m->host, m->port,
                        h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
    if (http_error)
        return svc_fail(SVC_UNAVAILABLE, "etcd at %s:%d: HTTP %ld: %.*s", m->host, m->port,
                        s->status, (int)(s->body->len > 300 ? 300 : s->body->len),
                        s->body->data ? s->body->data : "");
    return SVC_OK;
}

/* Tries each member once, starting with the one that worked last. */
static svc_code request(svc_etcd_http *h, const char *path, const char *body, long timeout_ms,
                        svc_code (*fn)(void *, const char *, size_t), void *ud)
{
    svc_code rc = SVC_UNAVAILABLE;
    for (size_t i = 0; i < h->url->n_hosts; i++) {
        svc_strbuf err;
        svc_strbuf_init(&err);
        sink_ctx s = {.fn = fn, .ud = ud, .body = &err, .curl = h->curl};
        rc = perform(h, &h->url->hosts[h->current], path, body, timeout_ms, &s);
        svc_strbuf_free(&err);
        if (rc != SVC_UNAVAILABLE || s.status)
            return rc; /* only an unreachable member sends us to the next */
        h->current = (h->current + 1) % h->url->n_hosts;
    }
    return rc;
}

svc_code svc_etcd_post(svc_etcd_http *h, const char *path, const char *body, long timeout_ms,
                       svc_strbuf *out)
{
    svc_code rc = request(h, path, body, timeout_ms, to_strbuf, out);
    if (rc == SVC_OK && !out->data)
        svc_strbuf_puts(out, ""); /* an empty answer is still a string */
    return rc;
}

svc_code svc_etcd_post_stream(svc_etcd_http *h, const char *path, const char *body,
                              svc_code (*sink)(void *ud, const char *p, size_t n), void *ud)
{
    return request(h, path, body, 0, sink, ud);
}
