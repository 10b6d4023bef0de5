/*
 * The etcd resolver: lists /svc/<service>/ with a range request, then
 * follows a watch from the next revision, so that an instance that comes
 * or goes is seen as soon as etcd commits it. Each change sends the whole
 * new list. When etcd cannot be reached the client hears of it once and
 * keeps its last list; the resolver reconnects with backoff (100 ms,
 * doubling to 2 s) and lists again. All of it on one thread per resolver,
 * blocking on a libcurl easy handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/error.h"
#include "core/strmap.h"
#include "etcd_http.h"
#include "etcd_json.h"
#include "etcd.h"
#include "etcd_stream.h"
#include "notify.h"
#include "resolver_impl.h"
#include "worker.h"

#define BACKOFF_MIN_NS (100 * SVC_NSEC_PER_MSEC)
#define BACKOFF_MAX_NS (2 * SVC_NSEC_PER_SEC)
#define RANGE_TIMEOUT_MS 2000L

typedef struct etcd_res {
    svc_disc_worker w;
    svc_disc_notify nt;
    svc_ctx *ctx;
    svc_etcd_http http;
    char *prefix;
    svc_strmap set;     /* key -> svc_eplist of one endpoint */
    size_t malformed;   /* values skipped since the start */
    int64_t revision;   /* the last one seen */
    svc_json_stream stream;
} etcd_res;

static void entry_free(const char *key, void *value, void *ud)
{
    (void)key, (void)ud;
    svc_eplist_clear(value);
    free(value);
}

static void set_clear(etcd_res *r)
{
    svc_strmap_each(&r->set, entry_free, NULL);
    svc_strmap_clear(&r->set);
    svc_strmap_init(&r->set);
}

/* Applies one put or delete; true when the set changed. A malformed value
 * removes whatever the key held and is logged. */
static bool apply(etcd_res *r, const svc_etcd_kv *kv)
{
    if (memchr(kv->key, '\0', kv->key_len)) {
        r->malformed++;
        svc_log_warn(r->ctx, "discovery", "etcd: skipping a key with a NUL byte (%zu skipped)",
                     r->malformed);
        return false;
    }
    svc_eplist *old = svc_strmap_remove(&r->set, kv->key);
    if (old)
        entry_free(NULL, old, NULL);
    if (kv->del)
        return old != NULL;
    svc_eplist *l = malloc(sizeof *l);
    if (!l)
        return old != NULL;
    svc_eplist_init(l);
    if (svc_etcd_value_parse(kv->key, kv->key_len, kv->value, kv->value_len, l) != SVC_OK) {
        r->malformed++;
        svc_log_warn(r->ctx, "discovery", "%s; skipped (%zu malformed values so far)",
                     svc_last_error(), r->malformed);
        free(l);
        return old != NULL;
    }
    if (svc_strmap_put(&r->set, kv->key, l) != SVC_OK) {
        entry_free(NULL, l, NULL);
        return old != NULL;
    }
    return true;
}

static void collect(const char *key, void *value, void *ud)
{
    (void)key;
    svc_eplist *from = value;
    svc_eplist_add(ud, &from->v[0]);
}

static void publish(etcd_res *r)
{
    svc_eplist l;
    svc_eplist_init(&l);
    svc_strmap_each(&r->set, collect, &l);
    svc_disc_notify_list(&r->nt, &l);
}

static svc_code range(etcd_res *r)
{
    char *body = svc_etcd_prefix_body(r->prefix, NULL, 0);
    if (!body)
        return svc_fail_oom();
    svc_strbuf out;
    svc_strbuf_init(&out);
    svc_code rc = svc_etcd_post(&r->http, "/v3/kv/range", body, RANGE_TIMEOUT_MS, &out);
    free(body);
    svc_etcd_msg m;
    if (rc == SVC_OK)
        rc = svc_etcd_range_parse(out.data, out.len, &m);
    svc_strbuf_free(&out);
    if (rc != SVC_OK)
        return rc;
    set_clear(r);
    for (size_t i = 0; i < m.n; i++)
        apply(r, &m.kvs[i]);
    r->revision = m.revision;
    svc_etcd_msg_free(&m);
    publish(r);
    return SVC_OK;
}

static svc_code on_watch_msg(void *ud, const char *json, size_t len)
{
    etcd_res *r = ud;
    svc_etcd_msg m;
    svc_code rc = svc_etcd_watch_parse(json, len, &m);
    if (rc != SVC_OK)
        return rc;
    bool changed = false;
    for (size_t i = 0; i < m.n; i++)
        changed |= apply(r, &m.kvs[i]);
    if (m.revision > r->revision)
        r->revision = m.revision;
    if (m.canceled)
        rc = svc_fail(SVC_ABORTED, "etcd: the watch was canceled (compacted at revision %lld)",
                      (long long)m.compact_revision);
    svc_etcd_msg_free(&m);
    if (changed)
        publish(r);
    return rc;
}

static svc_code on_watch_bytes(void *ud, const char *p, size_t n)
{
    etcd_res *r = ud;
    return svc_json_stream_feed(&r->stream, p, n, on_watch_msg, r);
}

/* Follows changes until the stream breaks; never SVC_OK. */
static svc_code watch(etcd_res *r)
{
    char *body = svc_etcd_prefix_body(r->prefix, "create_request", r->revision + 1);
    if (!body)
        return svc_fail_oom();
    svc_json_stream_init(&r->stream);
    svc_code rc = svc_etcd_post_stream(&r->http, "/v3/watch", body, on_watch_bytes, r);
    svc_json_stream_free(&r->stream);
    free(body);
    return rc == SVC_OK ? svc_fail(SVC_UNAVAILABLE, "etcd: the watch ended") : rc;
}

static void body(void *ud)
{
    etcd_res *r = ud;
    int64_t backoff = BACKOFF_MIN_NS;
    for (;;) {
        svc_code rc = range(r);
        if (rc == SVC_OK) {
            backoff = BACKOFF_MIN_NS;
            rc = watch(r);
            if (rc == SVC_CANCELLED)
                break;
            /* No failure reported yet: the next range says whether etcd
             * is really gone or the watch merely has to start again. */
            svc_log_debug(r->ctx, "discovery", "%s; listing %s again", svc_last_error(),
                          r->prefix);
            if (!svc_disc_worker_sleep(&r->w, BACKOFF_MIN_NS))
                break;
            continue;
        }
        if (rc == SVC_CANCELLED)
            break;
        char msg[512];
        snprintf(msg, sizeof msg, "%s", svc_last_error());
        if (svc_disc_notify_fail(&r->nt, SVC_UNAVAILABLE, msg))
            svc_log_warn(r->ctx, "discovery", "%s (listing %s); keeping the last list", msg,
                         r->prefix);
        if (!svc_disc_worker_sleep(&r->w, backoff))
            break;
        backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff * 2;
    }
}

static void on_stop(void *ud)
{
    svc_etcd_http_abort(&((etcd_res *)ud)->http);
}

static void res_free(etcd_res *r)
{
    set_clear(r);
    svc_strmap_clear(&r->set);
    svc_disc_notify_free(&r->nt);
    svc_etcd_http_free(&r->http);
    free(r->prefix);
    free(r);
}

static svc_code etcd_start(svc_ctx *ctx, const char *url, const char *service,
                           svc_resolver_update_fn update, void *ud, void **state)
{
    svc_code rc = svc_etcd_service_valid(service);
    if (rc != SVC_OK)
        return rc;
    etcd_res *r = calloc(1, sizeof *r);
    if (!r)
        return svc_fail_oom();
    r->ctx = ctx;
    svc_strmap_init(&r->set);
    svc_disc_notify_init(&r->nt, update, ud);
    rc = svc_etcd_http_init(&r->http, url);
    if (rc == SVC_OK && !(r->prefix = svc_etcd_prefix(service)))
        rc = svc_fail_oom();
    if (rc != SVC_OK) {
        free(r->prefix);
        svc_disc_notify_free(&r->nt);
        svc_strmap_clear(&r->set);
        free(r);
        return rc;
    }
    rc = svc_disc_worker_start(&r->w, body, r, on_stop);
    if (rc != SVC_OK) {
        res_free(r);
        return rc;
    }
    *state = r;
    return SVC_OK;
}

static void etcd_stop(void *state)
{
    etcd_res *r = state;
    svc_disc_worker_stop(&r->w);
    res_free(r);
}

const svc_resolver_ops svc_etcd_resolver = {
    .scheme = "etcd",
    .start = etcd_start,
    /* no resolve_now: the watch already reports every change */
    .stop = etcd_stop,
    .register_endpoint = svc_etcd_register,
    .deregister = svc_etcd_deregister,
};
