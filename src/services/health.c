/*
 * grpc.health.v1.Health over the common API, so every transport serves it.
 *
 * A Watch is a server-streaming call that stays open: its handler registers
 * a watcher and returns without answering. Who ends the call: whoever takes
 * the watcher off the list (the call's done hook when the caller goes away,
 * or the shutdown), so it is answered exactly once. The done hook runs
 * exactly once per watch whichever way it ends, and frees the watcher.
 * Senders (svc_server_set_health, a new watch's first status) take send_mu
 * so that a watcher sees the statuses in the order they were set; they hold
 * a call reference of their own while sending, never the list lock, since
 * a send may wait for the peer and the done hook takes the list lock on an
 * I/O thread.
 */
#include "health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/codec.h>
#include <svccomm/health.h>

#include "core/call.h"
#include "core/error.h"
#include "core/strmap.h"
#include "svc_health.pb-c.h"

#define SERVICE_UNKNOWN SVC_HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

typedef struct watcher {
    struct watcher *prev, *next;
    svc_call *call;  /* its handler's reference is the watch's */
    char *service;
    const char *ct;  /* the caller's encoding: proto or JSON */
    svc_health *h;
    bool listed;
} watcher;

struct svc_health {
    atomic_int refs;         /* the server's and one per watcher */
    pthread_mutex_t mu;      /* statuses, watchers, shut */
    pthread_mutex_t send_mu; /* one sender at a time */
    svc_strmap statuses;     /* service → status + 1 (NULL: unknown) */
    watcher *watchers;
    bool shut;
};

static void health_unref(svc_health *h)
{
    if (atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    svc_strmap_clear(&h->statuses);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->send_mu);
    free(h);
}

/* Under mu. */
static int status_of(const svc_health *h, const char *service, int unknown)
{
    void *v = svc_strmap_get(&h->statuses, service, strlen(service));
    return v ? (int)(intptr_t)v - 1 : unknown;
}

static void unlink_watcher(svc_health *h, watcher *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        h->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->listed = false;
}

static svc_code send_status(svc_call *c, int status, const char *ct)
{
    SvcHealth__HealthCheckResponse r = SVC_HEALTH__HEALTH_CHECK_RESPONSE__INIT;
    r.status = (SvcHealth__HealthCheckResponse__ServingStatus)status;
    svc_msg *m;
    svc_code rc = svc_msg_new(&m);
    if (rc == SVC_OK)
        rc = svc_msg_pack(m, &r.base, ct);
    if (rc != SVC_OK) {
        svc_msg_free(m);
        return rc;
    }
    return svc_call_send(c, m);
}

/* ---- Check ---- */

/* The service asked about (yours to free), or NULL after answering the
 * call with what was wrong. */
static char *requested_service(svc_call *c, const svc_msg *m)
{
    ProtobufCMessage *pb;
    svc_code rc = svc_msg_unpack(m, &svc_health__health_check_request__descriptor, &pb);
    if (rc != SVC_OK) {
        svc_call_fail(c, rc, svc_last_error());
        return NULL;
    }
    char *service = strdup(((SvcHealth__HealthCheckRequest *)pb)->service);
    protobuf_c_message_free_unpacked(pb, NULL);
    if (!service)
        svc_call_fail(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
    return service;
}

static void check(svc_call *c, void *ud)
{
    svc_health *h = ud;
    char *service = requested_service(c, svc_call_request(c));
    if (!service)
        return;
    pthread_mutex_lock(&h->mu);
    int status = status_of(h, service, -1);
    pthread_mutex_unlock(&h->mu);
    free(service);
    if (status < 0) {
        svc_call_fail(c, SVC_NOT_FOUND, "unknown service");
        return;
    }
    SvcHealth__HealthCheckResponse r = SVC_HEALTH__HEALTH_CHECK_RESPONSE__INIT;
    r.status = (SvcHealth__HealthCheckResponse__ServingStatus)status;
    svc_call_reply_pb(c, &r.base);
}

/* ---- Watch ---- */

static void watch_done(svc_call *c, bool cancelled, void *ud)
{
    (void)cancelled;
    watcher *w = ud;
    svc_health *h = w->h;
    pthread_mutex_lock(&h->mu);
    bool mine = w->listed;
    if (mine)
        unlink_watcher(h, w);
    pthread_mutex_unlock(&h->mu);
    if (mine) /* the caller left: give back the handler's reference */
        svc_call_fail(c, SVC_CANCELLED, "watch cancelled");
    free(w->service);
    free(w);
    health_unref(h);
}

static void watch(svc_call *c, void *ud)
{
    svc_health *h = ud;
    svc_msg *req = NULL;
    svc_code rc = svc_call_recv(c, &req);
    if (rc != SVC_OK || !req) {
        svc_call_fail(c, rc ? rc : SVC_INVALID_ARGUMENT, "Watch needs a request");
        return;
    }
    const char *ct = svc_msg_content_type(req);
    ct = ct && strcmp(ct, SVC_CT_JSON) == 0 ? SVC_CT_JSON : SVC_CT_PROTO;
    char *service = requested_service(c, req);
    svc_msg_free(req);
    watcher *w = service ? calloc(1, sizeof *w) : NULL;
    if (!w) {
        if (service)
            svc_call_fail(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
        free(service);
        return;
    }
    *w = (watcher){.call = c, .service = service, .ct = ct, .h = h};
    atomic_fetch_add(&h->refs, 1);
    pthread_mutex_lock(&h->send_mu);
    pthread_mutex_lock(&h->mu);
    bool shut = h->shut;
    int status = status_of(h, service, SERVICE_UNKNOWN);
    if (!shut) {
        w->next = h->watchers;
        if (w->next)
            w->next->prev = w;
        h->watchers = w;
        w->listed = true;
    }
    svc_call_ref(c); /* ours while sending: the hook may end the call */
    pthread_mutex_unlock(&h->mu);
    svc_call_on_done(c, watch_done, w); /* runs at once if already cancelled */
    if (shut)
        svc_call_fail(c, SVC_UNAVAILABLE, "server is shutting down");
    else
        send_status(c, status, ct);
    pthread_mutex_unlock(&h->send_mu);
    svc_call_unref(c);
}

/* ---- setting and shutting down ---- */

typedef struct target {
    svc_call *call;
    const char *ct;
} target;

/* Sets `service` (NULL: every service) to `status` and tells the watchers,
 * ending their calls when `shutdown`. */
static svc_code set_status(svc_health *h, const char *service, int status, bool shutdown)
{
    pthread_mutex_lock(&h->send_mu);
    pthread_mutex_lock(&h->mu);
    svc_code rc = SVC_OK;
    if (service)
        rc = svc_strmap_put(&h->statuses, service, (void *)(intptr_t)(status + 1));
    if (rc == SVC_ALREADY_EXISTS) {
        svc_strmap_remove(&h->statuses, service);
        rc = svc_strmap_put(&h->statuses, service, (void *)(intptr_t)(status + 1));
    }
    size_t n = 0;
    for (watcher *w = h->watchers; w; w = w->next)
        n++;
    target *t = rc == SVC_OK && n ? calloc(n, sizeof *t) : NULL;
    size_t k = 0;
    for (watcher *w = h->watchers, *next; t && w; w = next) {
        next = w->next;
        if (service && strcmp(w->service, service) != 0)
            continue;
        t[k] = (target){w->call, w->ct};
        svc_call_ref(w->call);
        if (shutdown)
            unlink_watcher(h, w); /* we end it below */
        k++;
    }
    if (shutdown)
        h->shut = true;
    pthread_mutex_unlock(&h->mu);
    if (n && !t && rc == SVC_OK)
        rc = svc_fail_oom();
    for (size_t i = 0; i < k; i++) {
        send_status(t[i].call, status, t[i].ct);
        if (shutdown) /* gives back the handler's reference */
            svc_call_fail(t[i].call, SVC_UNAVAILABLE, "server is shutting down");
        svc_call_unref(t[i].call);
    }
    pthread_mutex_unlock(&h->send_mu);
    free(t);
    return rc;
}

static void set_not_serving(const char *key, void *value, void *ud)
{
    (void)value;
    svc_strmap_put(ud, key, (void *)(intptr_t)(SVC_HEALTH_NOT_SERVING + 1));
}

void svc_health_shutdown(svc_health *h)
{
    if (!h)
        return;
    /* Every known service turns NOT_SERVING (rebuilt, as the map cannot
     * change values in place), then every watcher hears it and ends. */
    pthread_mutex_lock(&h->mu);
    svc_strmap fresh;
    svc_strmap_init(&fresh);
    svc_strmap_each(&h->statuses, set_not_serving, &fresh);
    svc_strmap_clear(&h->statuses);
    h->statuses = fresh;
    pthread_mutex_unlock(&h->mu);
    set_status(h, NULL, SVC_HEALTH_NOT_SERVING, true);
}

void svc_health_release(svc_health *h)
{
    if (h)
        health_unref(h);
}

svc_code svc_server_serve_health(svc_server *s)
{
    if (!s)
        return svc_fail(SVC_INVALID_ARGUMENT, "no server");
    svc_health *h = calloc(1, sizeof *h);
    if (!h)
        return svc_fail_oom();
    atomic_init(&h->refs, 1);
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->send_mu, NULL);
    svc_strmap_init(&h->statuses);
    svc_code rc = svc_strmap_put(&h->statuses, "", (void *)(intptr_t)(SVC_HEALTH_SERVING + 1));
    if (rc == SVC_OK)
        rc = svc_server_attach_health(s, h);
    if (rc != SVC_OK) {
        health_unref(h);
        return rc;
    }
    /* Check never blocks: it answers on the transport's thread, so probes
     * are answered even while the pool is busy. */
    svc_handler_opts inline_unary = {.dispatch = SVC_DISPATCH_INLINE};
    svc_handler_opts streaming = {.kind = SVC_SERVER_STREAMING};
    rc = svc_server_handle_ex(s, "grpc.health.v1.Health/Check", check, h, &inline_unary);
    if (rc == SVC_OK)
        rc = svc_server_handle_ex(s, "grpc.health.v1.Health/Watch", watch, h, &streaming);
    return rc;
}

svc_code svc_server_set_health(svc_server *s, const char *service, svc_health_status st)
{
    if (!s || !service || st < SVC_HEALTH_UNKNOWN || st > SVC_HEALTH_NOT_SERVING)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_server_set_health needs a server, a service "
                                              "and a status");
    svc_health *h = svc_server_health(s);
    if (!h)
        return svc_fail(SVC_FAILED_PRECONDITION, "the server does not serve health: call "
                                                 "svc_server_serve_health first");
    return set_status(h, service, (int)st, false);
}
