/*
 * etcd registrations: the endpoint's value is put under /svc/<service>/<id>
 * with a lease of ttl_s seconds, kept alive every ttl_s/3 by the
 * registration's own thread. A keepalive that finds the lease gone (etcd
 * lost its data, or could not be reached for longer than the TTL) grants
 * a new lease and puts the value again; while etcd is unreachable the
 * thread retries every second. Deregistering revokes the lease, which
 * deletes the key at once; a crashed process's key goes when its lease
 * expires.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/error.h"
#include "etcd.h"
#include "etcd_http.h"
#include "etcd_json.h"
#include "worker.h"

#define REQUEST_TIMEOUT_MS 1000L
#define RETRY_NS SVC_NSEC_PER_SEC

typedef struct etcd_reg {
    svc_disc_worker w;
    svc_ctx *ctx;
    svc_etcd_http http;
    char *key, *value;
    int ttl_s;
    int64_t lease; /* 0 = none; only the registration's thread touches it once started */
    bool failing;  /* the last attempt failed (logged once per outage) */
} etcd_reg;

/* POSTs a JSON object; the answer (checked for an error object) goes to
 * *out when wanted. */
static svc_code post(etcd_reg *g, const char *path, cJSON *body, svc_strbuf *out)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text)
        return svc_fail_oom();
    svc_strbuf buf;
    svc_strbuf_init(&buf);
    svc_code rc = svc_etcd_post(&g->http, path, text, REQUEST_TIMEOUT_MS, &buf);
    free(text);
    if (rc == SVC_OK)
        rc = svc_etcd_check(buf.data, buf.len);
    if (rc == SVC_OK && out)
        *out = buf;
    else
        svc_strbuf_free(&buf);
    return rc;
}

static cJSON *lease_body(int64_t id)
{
    cJSON *o = cJSON_CreateObject();
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)id);
    if (o && !cJSON_AddStringToObject(o, "ID", s)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static svc_code grant_and_put(etcd_reg *g)
{
    cJSON *grant = cJSON_CreateObject();
    if (grant && !cJSON_AddNumberToObject(grant, "TTL", g->ttl_s)) {
        cJSON_Delete(grant);
        grant = NULL;
    }
    svc_strbuf ans;
    svc_code rc = post(g, "/v3/lease/grant", grant, &ans);
    if (rc != SVC_OK)
        return rc;
    int64_t id = 0, ttl = 0;
    rc = svc_etcd_lease_parse(ans.data, ans.len, &id, &ttl);
    svc_strbuf_free(&ans);
    if (rc == SVC_OK && (id == 0 || ttl <= 0))
        rc = svc_fail(SVC_UNAVAILABLE, "etcd: the lease grant gave no lease");
    if (rc != SVC_OK)
        return rc;
    char lease[24];
    snprintf(lease, sizeof lease, "%lld", (long long)id);
    cJSON *put = cJSON_CreateObject();
    if (put && !(svc_etcd_add_b64(put, "key", g->key, strlen(g->key)) &&
                 svc_etcd_add_b64(put, "value", g->value, strlen(g->value)) &&
                 cJSON_AddStringToObject(put, "lease", lease))) {
        cJSON_Delete(put);
        put = NULL;
    }
    rc = post(g, "/v3/kv/put", put, NULL);
    if (rc == SVC_OK)
        g->lease = id;
    else /* the unused lease expires by itself */
        svc_log_debug(g->ctx, "discovery", "etcd: put of %s failed: %s", g->key, svc_last_error());
    return rc;
}

/* SVC_OK with *alive false when etcd no longer has the lease. */
static svc_code keepalive(etcd_reg *g, bool *alive)
{
    svc_strbuf ans;
    svc_code rc = post(g, "/v3/lease/keepalive", lease_body(g->lease), &ans);
    if (rc != SVC_OK)
        return rc;
    int64_t id = 0, ttl = 0;
    rc = svc_etcd_lease_parse(ans.data, ans.len, &id, &ttl);
    svc_strbuf_free(&ans);
    *alive = ttl > 0;
    return rc;
}

static void note(etcd_reg *g, svc_code rc)
{
    if (rc == SVC_OK && g->failing)
        svc_log_info(g->ctx, "discovery", "etcd: %s registered again", g->key);
    else if (rc != SVC_OK && !g->failing)
        svc_log_warn(g->ctx, "discovery", "etcd: cannot keep %s registered: %s; retrying",
                     g->key, svc_last_error());
    g->failing = rc != SVC_OK;
}

static void body(void *ud)
{
    etcd_reg *g = ud;
    const int64_t period = (int64_t)g->ttl_s * SVC_NSEC_PER_SEC / 3;
    int64_t wait = g->lease ? period : RETRY_NS;
    while (svc_disc_worker_sleep(&g->w, wait)) {
        svc_code rc;
        bool alive = true;
        if (g->lease) {
            rc = keepalive(g, &alive);
            if (rc == SVC_OK && !alive) {
                svc_log_info(g->ctx, "discovery", "etcd: the lease of %s is gone; registering again",
                             g->key);
                g->lease = 0;
                rc = grant_and_put(g);
            }
        } else {
            rc = grant_and_put(g);
        }
        if (rc == SVC_CANCELLED)
            break;
        note(g, rc);
        wait = rc == SVC_OK ? period : RETRY_NS;
    }
}

static void on_stop(void *ud)
{
    svc_etcd_http_abort(&((etcd_reg *)ud)->http);
}

static void reg_free(etcd_reg *g)
{
    svc_etcd_http_free(&g->http);
    free(g->key);
    free(g->value);
    free(g);
}

svc_code svc_etcd_register(svc_ctx *ctx, const char *url, const char *service,
                           const svc_endpoint_info *ep, int ttl_s, void **reg)
{
    svc_code rc = svc_etcd_service_valid(service);
    if (rc != SVC_OK)
        return rc;
    if (!ep || !ep->url || !ep->id || !*ep->id || strchr(ep->id, '/'))
        return svc_fail(SVC_INVALID_ARGUMENT, "etcd: an endpoint needs a URL and an id without '/'");
    if (ttl_s < 1)
        return svc_fail(SVC_INVALID_ARGUMENT, "etcd: a lease needs a TTL of a second or more");
    etcd_reg *g = calloc(1, sizeof *g);
    if (!g)
        return svc_fail_oom();
    g->ctx = ctx;
    g->ttl_s = ttl_s;
    rc = svc_etcd_http_init(&g->http, url);
    if (rc != SVC_OK) {
        free(g);
        return rc;
    }
    char *prefix = svc_etcd_prefix(service);
    if (!prefix || asprintf(&g->key, "%s%s", prefix, ep->id) < 0)
        g->key = NULL;
    free(prefix);
    if (!g->key || !(g->value = svc_etcd_value_format(ep))) {
        reg_free(g);
        return svc_fail_oom();
    }
    svc_code first = grant_and_put(g);
    char why[512];
    snprintf(why, sizeof why, "%s", svc_last_error());
    g->failing = first != SVC_OK;
    rc = svc_disc_worker_start(&g->w, body, g, on_stop);
    if (rc != SVC_OK) {
        reg_free(g); /* a lease granted meanwhile expires by itself */
        return rc;
    }
    *reg = g;
    if (first != SVC_OK) {
        svc_log_warn(ctx, "discovery", "etcd: cannot register %s yet: %s; retrying", g->key, why);
        return svc_fail(SVC_UNAVAILABLE, "%s; retrying in the background", why);
    }
    return SVC_OK;
}

void svc_etcd_deregister(void *reg)
{
    etcd_reg *g = reg;
    if (!g)
        return;
    svc_disc_worker_stop(&g->w);
    svc_etcd_http_resume(&g->http);
    if (g->lease) {
        svc_code rc = post(g, "/v3/lease/revoke", lease_body(g->lease), NULL);
        if (rc != SVC_OK)
            svc_log_warn(g->ctx, "discovery",
                         "etcd: cannot revoke the lease of %s (%s); it goes when the lease expires",
                         g->key, svc_last_error());
    }
    reg_free(g);
}
