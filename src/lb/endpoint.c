/* Endpoints: what a balanced client knows about one instance. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "lb/endpoint.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void free_md(char **md)
{
    for (char **p = md; p && *p; p++)
        free(*p);
    free(md);
}

static char **copy_md(const char *const *md, bool *ok)
{
    *ok = true;
    if (!md)
        return NULL;
    size_t n = 0;
    while (md[n])
        n++;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(md[i]))) {
            free_md(out);
            out = NULL;
        }
    *ok = out != NULL;
    return out;
}

svc_code svc_endpoint_new(const svc_endpoint_info *info, svc_endpoint **out)
{
    if (!info || !info->url)
        return svc_fail(SVC_INVALID_ARGUMENT, "an endpoint needs a URL");
    svc_endpoint *e = calloc(1, sizeof *e);
    bool md_ok = false;
    if (!e || !(e->url = strdup(info->url)) || (info->id && !(e->id = strdup(info->id))) ||
        (info->zone && !(e->zone = dup_or_null(info->zone))) ||
        (e->md = copy_md(info->md, &md_ok), !md_ok)) {
        if (e) {
            free(e->url);
            free(e->id);
            free(e->zone);
        }
        free(e);
        return svc_fail_oom();
    }
    atomic_init(&e->refs, 1);
    e->weight = info->weight ? info->weight : 1;
    svc_peak_ewma_init(&e->ewma, 0, svc_now());
    *out = e;
    return SVC_OK;
}

void svc_endpoint_ref(svc_endpoint *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void svc_endpoint_unref(svc_endpoint *e)
{
    if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (e->outlier)
        svc_outlier_forget(e->outlier, &e->ejection);
    svc_client_free(e->client);
    free_md(e->md);
    free(e->url);
    free(e->id);
    free(e->zone);
    free(e);
}

const char *svc_endpoint_url(const svc_endpoint *e)
{
    return e->url;
}

const char *svc_endpoint_id(const svc_endpoint *e)
{
    return e->id;
}

const char *svc_endpoint_zone(const svc_endpoint *e)
{
    return e->zone;
}

uint32_t svc_endpoint_weight(const svc_endpoint *e)
{
    return e->weight;
}

int svc_endpoint_inflight(const svc_endpoint *e)
{
    return atomic_load_explicit(&e->inflight, memory_order_relaxed);
}

int64_t svc_endpoint_latency_ns(const svc_endpoint *e)
{
    return svc_peak_ewma_get(&e->ewma, svc_now());
}

bool svc_endpoint_usable(const svc_endpoint *e)
{
    if (atomic_load_explicit(&e->unhealthy, memory_order_relaxed))
        return false;
    /* Only an endpoint with a live ejection pays for the clock read. */
    if (e->outlier && atomic_load_explicit(&e->ejection.ejected_until, memory_order_relaxed) &&
        svc_outlier_ejected(e->outlier, (svc_outlier_ep *)&e->ejection, svc_now()))
        return false;
    if (!e->client)
        return true;
    svc_conn_state s = svc_client_state(e->client);
    return s == SVC_CONN_IDLE || s == SVC_CONN_CONNECTING || s == SVC_CONN_READY;
}
