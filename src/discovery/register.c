/*
 * svc_server_register(): one registry entry per URL the server listens on,
 * kept on the server (core/call.h) and removed at its shutdown. With one
 * URL the instance id is the given one; with several, "<id>-1", "<id>-2",
 * ... in listening order, so that every entry's id is unique.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/call.h"
#include "core/error.h"
#include "resolver.h"

#define DEFAULT_TTL_S 10

struct svc_registration {
    const svc_resolver_ops *ops;
    void *reg;
};

void svc_registration_free(struct svc_registration *r)
{
    if (!r)
        return;
    r->ops->deregister(r->reg);
    free(r);
}

/* "<hostname>-<pid>-<n>": unique across the hosts and processes sharing a
 * registry, and across the servers of one process. */
static void default_id(char *out, size_t size)
{
    static atomic_uint counter;
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = '\0';
    snprintf(out, size, "%s-%ld-%u", host, (long)getpid(), atomic_fetch_add(&counter, 1) + 1);
}

static svc_code find_registrar(const char *url, const svc_resolver_ops **out)
{
    const svc_resolver_ops *ops = svc_resolver_find(url);
    if (!ops) {
        const char *colon = strchr(url, ':');
        if (!colon || colon == url)
            return svc_fail(SVC_INVALID_ARGUMENT,
                            "svc_server_register: \"%s\" is not a registry URL", url);
        return svc_fail(SVC_UNIMPLEMENTED, "svc_server_register: no resolver serves \"%.*s:\"",
                        (int)(colon - url), url);
    }
    if (!ops->register_endpoint || !ops->deregister)
        return svc_fail(SVC_UNIMPLEMENTED, "svc_server_register: the %s resolver cannot register",
                        ops->scheme);
    *out = ops;
    return SVC_OK;
}

/* Registers listener i; SVC_UNAVAILABLE still yields a registration that
 * goes on trying. */
static svc_code register_one(svc_server *s, const svc_resolver_ops *ops, const char *registry,
                             const char *service, const svc_register_opts *o, const char *id,
                             size_t i, struct svc_registration **out)
{
    char *url = NULL;
    const char *l = svc_server_listener_url(s, i);
    if (!l || !(url = strdup(l)))
        return l ? svc_fail_oom() : svc_fail(SVC_FAILED_PRECONDITION, "the server stopped listening");
    struct svc_registration *r = calloc(1, sizeof *r);
    if (!r) {
        free(url);
        return svc_fail_oom();
    }
    r->ops = ops;
    svc_endpoint_info ep = {.url = url, .id = id, .zone = o ? o->zone : NULL,
                            .weight = o && o->weight ? o->weight : 1, .md = o ? o->md : NULL};
    int ttl = o && o->ttl_s > 0 ? o->ttl_s : DEFAULT_TTL_S;
    svc_code rc = ops->register_endpoint(svc_server_ctx(s), registry, service, &ep, ttl, &r->reg);
    free(url);
    if (rc != SVC_OK && !(rc == SVC_UNAVAILABLE && r->reg)) {
        free(r);
        return rc;
    }
    *out = r;
    return rc;
}

svc_code svc_server_register(svc_server *s, const char *registry_url, const char *service,
                             const svc_register_opts *o)
{
    if (!s || !registry_url || !service || !*service)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_server_register: missing argument");
    if (o && o->ttl_s < 0)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_server_register: negative ttl_s");
    const svc_resolver_ops *ops = NULL;
    svc_code rc0 = find_registrar(registry_url, &ops);
    if (rc0 != SVC_OK)
        return rc0;
    size_t n = svc_server_listener_count(s);
    if (n == 0)
        return svc_fail(SVC_FAILED_PRECONDITION,
                        "svc_server_register: the server listens on nothing yet");
    char base[300];
    if (o && o->id && *o->id)
        snprintf(base, sizeof base, "%s", o->id);
    else
        default_id(base, sizeof base);
    svc_code result = SVC_OK;
    char saved[512] = "";
    for (size_t i = 0; i < n; i++) {
        char id[340];
        if (n == 1)
            snprintf(id, sizeof id, "%s", base);
        else
            snprintf(id, sizeof id, "%s-%zu", base, i + 1);
        struct svc_registration *r = NULL;
        svc_code rc = register_one(s, ops, registry_url, service, o, id, i, &r);
        if (r && svc_server_keep_registration(s, r) != SVC_OK) {
            svc_registration_free(r);
            return SVC_UNAVAILABLE; /* the server is going: nothing to keep */
        }
        if (rc != SVC_OK && result == SVC_OK) {
            result = rc;
            snprintf(saved, sizeof saved, "%s", svc_last_error());
        }
        if (rc != SVC_OK && !r)
            break;
    }
    return result == SVC_OK ? SVC_OK : svc_fail(result, "%s", saved);
}
