/* Servers: handler and route tables, listeners, and shutdown. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "ctx.h"
#include "dlist.h"
#include "error.h"
#include "msg.h"
#include "services/health.h"
#include "strmap.h"

#define INFLIGHT_SHARDS 16

typedef struct handler {
    char *name; /* "pkg.Service/Method" or "VERB /pattern" */
    svc_handler_fn fn;
    void *ud;
    svc_handler_opts opts;
    /* Per-transport metrics series, filled on first use; never changes
     * once set, so readers need no lock. */
    _Atomic(svc_call_stats *) stats[SVC_MAX_TRANSPORTS];
    struct handler *next; /* all handlers, for freeing */
} handler;

/* What handlers read until the server's last call (svc_server_keep). */
typedef struct kept {
    void *p;
    void (*free_fn)(void *);
    struct kept *next;
} kept;

struct svc_server {
    svc_ctx *ctx;
    /* The owner's reference, plus one per call in flight: a handler may
     * answer after svc_server_free(), so the memory stays until the last
     * such call is released. */
    atomic_int refs;
    pthread_rwlock_t table_lock; /* methods, router, handlers */
    svc_strmap methods;
    svc_router *router;
    handler *handlers;

    pthread_mutex_t mu; /* listeners, closing, closed; idle_cv waits on it */
    pthread_cond_t idle_cv; /* nothing in flight any more, or shutdown ended */
    svc_listener **listeners;
    size_t n_listeners;
    bool closed;
    /* Dispatched calls not answered yet, for shutdown to fail. Sharded by
     * call address so that transport threads answering different calls
     * rarely share a lock. */
    struct {
        pthread_mutex_t mu;
        svc_call *head;
    } shards[INFLIGHT_SHARDS];
    atomic_size_t n_inflight; /* dispatched calls not released yet */
    atomic_bool closing;
    svc_health *health; /* set once under mu */
    struct svc_registration **regs; /* under mu */
    size_t n_regs;
    kept *kept; /* under mu */
};

svc_code svc_server_attach_health(svc_server *s, svc_health *h)
{
    pthread_mutex_lock(&s->mu);
    bool taken = s->health != NULL;
    if (!taken)
        s->health = h;
    pthread_mutex_unlock(&s->mu);
    return taken ? svc_fail(SVC_ALREADY_EXISTS, "the server serves health already") : SVC_OK;
}

svc_code svc_server_keep_registration(svc_server *s, struct svc_registration *r)
{
    pthread_mutex_lock(&s->mu);
    struct svc_registration **v = atomic_load(&s->closing)
                                      ? NULL
                                      : realloc(s->regs, (s->n_regs + 1) * sizeof *v);
    if (v) {
        s->regs = v;
        s->regs[s->n_regs++] = r;
    }
    pthread_mutex_unlock(&s->mu);
    if (!v)
        return atomic_load(&s->closing) ? svc_fail(SVC_UNAVAILABLE, "the server is shutting down")
                                        : svc_fail_oom();
    return SVC_OK;
}

svc_code svc_server_keep(svc_server *s, void *p, void (*free_fn)(void *))
{
    kept *k = malloc(sizeof *k);
    if (!k)
        return svc_fail_oom();
    pthread_mutex_lock(&s->mu);
    *k = (kept){p, free_fn, s->kept};
    s->kept = k;
    pthread_mutex_unlock(&s->mu);
    return SVC_OK;
}

svc_health *svc_server_health(svc_server *s)
{
    pthread_mutex_lock(&s->mu);
    svc_health *h = s->health;
    pthread_mutex_unlock(&s->mu);
    return h;
}

svc_ctx *svc_server_ctx(const svc_server *s)
{
    return s->ctx;
}

svc_code svc_server_new(svc_ctx *ctx, svc_server **out)
{
    if (!ctx || !out)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_server_new: no context");
    svc_server *s = calloc(1, sizeof *s);
    if (!s || svc_router_new(&s->router) != SVC_OK) {
        free(s);
        return svc_fail_oom();
    }
    s->ctx = ctx;
    atomic_init(&s->refs, 1);
    svc_strmap_init(&s->methods);
    pthread_rwlock_init(&s->table_lock, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    for (int i = 0; i < INFLIGHT_SHARDS; i++)
        pthread_mutex_init(&s->shards[i].mu, NULL);
    *out = s;
    return SVC_OK;
}

/* ---- registration ---- */

static bool method_name_valid(const char *m)
{
    const char *slash = strchr(m, '/');
    if (!slash || slash == m || !slash[1] || strchr(slash + 1, '/'))
        return false;
    for (const char *p = m; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || (unsigned char)*p >= 0x7F)
            return false;
    return true;
}

static handler *handler_new(const char *name, svc_handler_fn fn, void *ud,
                            const svc_handler_opts *o)
{
    handler *h = calloc(1, sizeof *h);
    if (!h || !(h->name = strdup(name))) {
        free(h);
        return NULL;
    }
    h->fn = fn;
    h->ud = ud;
    if (o)
        h->opts = *o;
    return h;
}

static void handler_free(handler *h)
{
    free(h->name);
    free(h);
}

svc_code svc_server_handle_ex(svc_server *s, const char *method, svc_handler_fn fn, void *ud,
                              const svc_handler_opts *o)
{
    if (!s || !method || !fn)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_server_handle: missing argument");
    if (!method_name_valid(method))
        return svc_fail(SVC_INVALID_ARGUMENT, "method '%s' is not of the form pkg.Service/Method",
                        method);
    handler *h = handler_new(method, fn, ud, o);
    if (!h)
        return svc_fail_oom();
    pthread_rwlock_wrlock(&s->table_lock);
    svc_code rc = svc_strmap_put(&s->methods, method, h);
    if (rc == SVC_OK) {
        h->next = s->handlers;
        s->handlers = h;
    }
    pthread_rwlock_unlock(&s->table_lock);
    if (rc)
        handler_free(h);
    return rc;
}

svc_code svc_server_handle(svc_server *s, const char *method, svc_handler_fn fn, void *ud)
{
    return svc_server_handle_ex(s, method, fn, ud, NULL);
}

svc_code svc_server_route_ex(svc_server *s, const char *verb, const char *pattern,
                             svc_handler_fn fn, void *ud, const svc_handler_opts *o)
{
    if (!s || !verb || !pattern || !fn)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_server_route: missing argument");
    char name[512];
    if ((size_t)snprintf(name, sizeof name, "%s %s", verb, pattern) >= sizeof name)
        return svc_fail(SVC_INVALID_ARGUMENT, "route pattern too long");
    handler *h = handler_new(name, fn, ud, o);
    if (!h)
        return svc_fail_oom();
    pthread_rwlock_wrlock(&s->table_lock);
    svc_code rc = svc_router_add(s->router, verb, pattern, h);
    if (rc == SVC_OK) {
        h->next = s->handlers;
        s->handlers = h;
    }
    pthread_rwlock_unlock(&s->table_lock);
    if (rc)
        handler_free(h);
    return rc;
}

svc_code svc_server_route(svc_server *s, const char *verb, const char *pattern,
                          svc_handler_fn fn, void *ud)
{
    return svc_server_route_ex(s, verb, pattern, fn, ud, NULL);
}

static void serve_metrics(svc_call *c, void *ud)
{
    svc_ctx *ctx = ud;
    svc_msg *m = NULL;
    size_t len;
    char *text = svc_metrics_render(ctx->metrics, &len);
    if (!text || svc_msg_new(&m) != SVC_OK ||
        svc_msg_set_data_owned(m, text, len, free) != SVC_OK ||
        svc_msg_set_content_type(m, "text/plain; version=0.0.4; charset=utf-8") != SVC_OK) {
        if (!m)
            free(text);
        svc_msg_free(m);
        svc_call_fail(c, SVC_RESOURCE_EXHAUSTED, "out of memory rendering metrics");
        return;
    }
    svc_call_reply(c, m);
}

svc_code svc_server_serve_metrics(svc_server *s, const char *path)
{
    svc_handler_opts o = {.dispatch = SVC_DISPATCH_INLINE};
    return svc_server_route_ex(s, "GET", path ? path : "/metrics", serve_metrics, s->ctx, &o);
}

void svc_server_each_service(svc_server *s, void (*fn)(const char *service, void *ud), void *ud)
{
    pthread_rwlock_rdlock(&s->table_lock);
    for (handler *h = s->handlers; h; h = h->next) {
        const char *slash = strchr(h->name, '/');
        if (!slash || strchr(h->name, ' '))
            continue; /* a route, not a method */
        size_t n = (size_t)(slash - h->name);
        bool seen = false; /* services are few: a quadratic scan is fine */
        for (handler *g = s->handlers; g != h && !seen; g = g->next)
            seen = !strchr(g->name, ' ') && strncmp(g->name, h->name, n + 1) == 0;
        if (!seen) {
            char service[256];
            snprintf(service, sizeof service, "%.*s", (int)n, h->name);
            fn(service, ud);
        }
    }
    pthread_rwlock_unlock(&s->table_lock);
}

/* ---- resolution (called by core for every call) ---- */

static svc_call_stats *handler_stats(svc_server *s, handler *h, const svc_transport_ops *ops)
{
    unsigned i = svc_transport_index(ops);
    svc_call_stats *st = atomic_load_explicit(&h->stats[i], memory_order_acquire);
    if (!st) {
        /* Two threads may race here; both get the same series back. */
        st = svc_metrics_call_stats(s->ctx->metrics, SVC_ROLE_SERVER, ops->name, h->name);
        atomic_store_explicit(&h->stats[i], st, memory_order_release);
    }
    return st;
}

/* "/pkg.Service/Method": an RPC reached through an HTTP path. */
static bool rpc_shaped(const char *path, size_t len)
{
    if (len < 4 || path[0] != '/')
        return false;
    const char *slash = memchr(path + 1, '/', len - 1);
    return slash && slash > path + 1 && slash < path + len - 1 &&
           !memchr(slash + 1, '/', (size_t)(path + len - slash - 1));
}

static svc_route_result resolve_locked(svc_server *s, svc_call *c, handler **out)
{
    const char *m = c->method;
    const char *space = strchr(m, ' ');
    if (!space) {
        *out = svc_strmap_get(&s->methods, m, strlen(m));
        return *out ? SVC_ROUTE_FOUND : SVC_ROUTE_NO_METHOD;
    }
    const char *path = space + 1;
    size_t path_len = strcspn(path, "?");
    void *value = NULL;
    svc_route_result r = svc_router_match(s->router, m, (size_t)(space - m), path, path_len,
                                          &value, &c->params);
    if (r == SVC_ROUTE_NO_PATH && space - m == 4 && memcmp(m, "POST", 4) == 0 &&
        rpc_shaped(path, path_len)) {
        value = svc_strmap_get(&s->methods, path + 1, path_len - 1);
        r = value ? SVC_ROUTE_FOUND : SVC_ROUTE_NO_METHOD;
    }
    if (r == SVC_ROUTE_FOUND && path[path_len] == '?' &&
        svc_params_parse_query(&c->query, path + path_len + 1, strlen(path + path_len + 1)) != SVC_OK)
        r = SVC_ROUTE_NO_PATH;
    *out = value;
    return r;
}

svc_route_result svc_server_resolve(svc_server *s, svc_call *c)
{
    handler *h = NULL;
    pthread_rwlock_rdlock(&s->table_lock);
    svc_route_result r = resolve_locked(s, c, &h);
    if (h) {
        c->fn = h->fn;
        c->ud = h->ud;
        c->opts = h->opts;
        c->stats = handler_stats(s, h, c->ops);
    }
    pthread_rwlock_unlock(&s->table_lock);
    if (!h) /* unknown methods share one series: names from the wire are unbounded */
        c->stats = svc_metrics_call_stats(s->ctx->metrics, SVC_ROLE_SERVER, c->ops->name,
                                          "unknown");
    return r;
}

/* ---- in-flight calls ---- */

static unsigned shard_of(const svc_call *c)
{
    return (unsigned)(((uintptr_t)c >> 6) % INFLIGHT_SHARDS);
}

svc_code svc_server_track(svc_server *s, svc_call *c)
{
    unsigned i = shard_of(c);
    pthread_mutex_lock(&s->shards[i].mu);
    /* Both checked under the shard lock: fail_inflight() takes every shard
     * lock after setting closing, and an answer (settle) sets answered
     * before it takes this lock to untrack, so no call slips in behind
     * either, to stay listed for ever. */
    bool ok = !atomic_load(&s->closing) && !atomic_load(&c->answered);
    if (ok) {
        SVC_DLIST_PUSH(s->shards[i].head, c, prev, next);
        c->tracked = true;
        atomic_fetch_add(&s->n_inflight, 1);
        atomic_fetch_add(&s->refs, 1);
    }
    pthread_mutex_unlock(&s->shards[i].mu);
    return ok ? SVC_OK : SVC_UNAVAILABLE;
}

void svc_server_untrack(svc_server *s, svc_call *c)
{
    unsigned i = shard_of(c);
    pthread_mutex_lock(&s->shards[i].mu);
    SVC_DLIST_REMOVE(s->shards[i].head, c, prev, next);
    pthread_mutex_unlock(&s->shards[i].mu);
}

static void server_destroy(svc_server *s)
{
    svc_health_release(s->health);
    for (kept *k = s->kept, *next; k; k = next) {
        next = k->next;
        k->free_fn(k->p);
        free(k);
    }
    svc_strmap_clear(&s->methods); /* handlers are freed from s->handlers */
    svc_router_free(s->router);
    for (handler *h = s->handlers, *next; h; h = next) {
        next = h->next;
        handler_free(h);
    }
    pthread_rwlock_destroy(&s->table_lock);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->idle_cv);
    for (int i = 0; i < INFLIGHT_SHARDS; i++)
        pthread_mutex_destroy(&s->shards[i].mu);
    free(s);
}

static void server_unref(svc_server *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        server_destroy(s);
}

void svc_server_release(svc_server *s)
{
    if (atomic_fetch_sub(&s->n_inflight, 1) == 1 && atomic_load(&s->closing)) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->idle_cv);
        pthread_mutex_unlock(&s->mu);
    }
    server_unref(s);
}

/* ---- listeners ---- */

svc_code svc_server_listen_ex(svc_server *s, const char *url, const svc_listen_opts *o)
{
    if (!s || !url)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_server_listen: missing argument");
    svc_url *u;
    svc_code rc = svc_url_parse(url, &u);
    if (rc)
        return rc;
    const svc_transport_ops *ops = svc_transport_find(u->scheme);
    if (!ops || !ops->listen) {
        rc = svc_fail(SVC_UNIMPLEMENTED, "no transport can listen on %s:// URLs", u->scheme);
        svc_url_free(u);
        return rc;
    }
    svc_listen_opts defaults = {0};
    svc_listener *l = NULL;
    rc = ops->listen(s, u, o ? o : &defaults, &l);
    svc_url_free(u);
    if (rc)
        return rc;
    l->ops = ops;
    l->server = s;
    pthread_mutex_lock(&s->mu);
    bool closing = atomic_load(&s->closing);
    svc_listener **v = closing ? NULL
                               : realloc(s->listeners, (s->n_listeners + 1) * sizeof *v);
    if (v) {
        s->listeners = v;
        s->listeners[s->n_listeners++] = l;
    }
    pthread_mutex_unlock(&s->mu);
    if (!v) {
        char *bound = l->url;
        ops->listener_free(l);
        free(bound);
        return closing ? svc_fail(SVC_FAILED_PRECONDITION, "server is shutting down")
                       : svc_fail_oom();
    }
    svc_log_info(s->ctx, ops->name, "listening on %s", l->url);
    return SVC_OK;
}

svc_code svc_server_listen(svc_server *s, const char *url)
{
    return svc_server_listen_ex(s, url, NULL);
}

size_t svc_server_listener_count(svc_server *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n_listeners;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const char *svc_server_listener_url(svc_server *s, size_t i)
{
    pthread_mutex_lock(&s->mu);
    const char *url = i < s->n_listeners ? s->listeners[i]->url : NULL;
    pthread_mutex_unlock(&s->mu);
    return url;
}

/* ---- shutdown ---- */

/* Fails every call still in flight. Answering unlinks a call, so taking
 * a shard's head each time terminates. */
static void fail_inflight(svc_server *s)
{
    for (int i = 0; i < INFLIGHT_SHARDS; i++) {
        pthread_mutex_lock(&s->shards[i].mu);
        svc_call *c;
        while ((c = s->shards[i].head) != NULL) {
            svc_call_ref(c); /* svc_call_fail consumes it */
            pthread_mutex_unlock(&s->shards[i].mu);
            svc_call_mark_cancelled(c); /* the handler should stop */
            svc_call_fail(c, SVC_UNAVAILABLE, "server is shutting down");
            pthread_mutex_lock(&s->shards[i].mu);
        }
        pthread_mutex_unlock(&s->shards[i].mu);
    }
}

/* Waits up to grace_ms for every call in flight to be released. */
static void wait_idle(svc_server *s, int64_t grace_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += grace_ms / 1000;
    until.tv_nsec += (grace_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->mu);
    while (atomic_load(&s->n_inflight) > 0 &&
           pthread_cond_timedwait(&s->idle_cv, &s->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&s->mu);
}

svc_code svc_server_shutdown(svc_server *s, int64_t grace_ms)
{
    if (!s)
        return svc_fail(SVC_INVALID_ARGUMENT, "no server");
    pthread_mutex_lock(&s->mu);
    bool first = !atomic_exchange(&s->closing, true);
    /* Another thread is shutting down (a signal handler's thread and main,
     * say): wait until it is done rather than free the listeners twice. */
    while (!first && !s->closed)
        pthread_cond_wait(&s->idle_cv, &s->mu);
    svc_health *health = s->health;
    struct svc_registration **regs = s->regs;
    size_t n_regs = s->n_regs;
    s->regs = NULL;
    s->n_regs = 0;
    pthread_mutex_unlock(&s->mu);
    if (!first)
        return SVC_OK;
    for (size_t i = 0; i < n_regs; i++)
        svc_registration_free(regs[i]);
    free(regs);
    svc_health_shutdown(health); /* watches would hold the grace period */

    for (size_t i = 0; i < s->n_listeners; i++)
        if (s->listeners[i]->ops->listener_quiesce)
            s->listeners[i]->ops->listener_quiesce(s->listeners[i]);
    if (grace_ms > 0)
        wait_idle(s, grace_ms);
    fail_inflight(s);

    for (size_t i = 0; i < s->n_listeners; i++) {
        svc_listener *l = s->listeners[i];
        char *url = l->url;
        l->ops->listener_free(l);
        free(url);
    }
    pthread_mutex_lock(&s->mu);
    free(s->listeners);
    s->listeners = NULL;
    s->n_listeners = 0;
    s->closed = true;
    pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
    return SVC_OK;
}

void svc_server_free(svc_server *s)
{
    if (!s)
        return;
    svc_server_shutdown(s, 0);
    server_unref(s); /* the owner's: calls still held keep the rest */
}
