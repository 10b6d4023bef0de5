/*
 * Active health checks of a balanced client's endpoints: every interval,
 * grpc.health.v1.Health/Check on gRPC endpoints and an HTTP GET on REST
 * ones, each on the endpoint's own client. An endpoint whose check fails
 * (or answers NOT_SERVING) is marked unhealthy, so policies skip it, until
 * a check passes. Other transports have no check of their own and are
 * left to outlier detection.
 *
 * The timer is re-armed once a round has been sent, so rounds start every
 * interval whatever the checks take (each is bounded by timeout_ms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <svccomm/codec.h>

#include "core/clock.h"
#include "core/ctx.h"
#include "core/error.h"
#include "core/msg.h"
#include "lb/balancer.h"
#include "svc_health.pb-c.h"

struct svc_health_checker {
    svc_balancer *b;
    svc_timer *timer;
    char *http_method; /* "GET /healthz" */
    svc_msg *grpc_request;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int outstanding; /* checks in flight */
    bool stopping;
};

typedef struct check {
    svc_health_checker *h;
    svc_endpoint *e;
    bool grpc;
} check;

static bool is_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

static bool serving(svc_code code, const svc_msg *resp, bool grpc)
{
    if (code != SVC_OK)
        return false;
    if (!grpc)
        return true; /* a 2xx */
    ProtobufCMessage *pb;
    if (svc_msg_unpack(resp, &svc_health__health_check_response__descriptor, &pb) != SVC_OK)
        return false;
    bool ok = ((SvcHealth__HealthCheckResponse *)pb)->status ==
              SVC_HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    protobuf_c_message_free_unpacked(pb, NULL);
    return ok;
}

static void check_done(svc_code code, svc_msg *resp, void *ud)
{
    check *k = ud;
    svc_health_checker *h = k->h;
    bool ok = serving(code, resp, k->grpc);
    bool was = !atomic_exchange(&k->e->unhealthy, !ok);
    if (was != ok)
        svc_log_warn(h->b->ctx, "lb", "service %s: %s is %s (health check: %s)", h->b->service,
                     k->e->url, ok ? "healthy again" : "unhealthy",
                     ok ? "serving" : code ? svc_msg_status_message(resp) : "not serving");
    svc_msg_free(resp);
    svc_balancer_unref_later(h->b, k->e);
    free(k);
    pthread_mutex_lock(&h->mu);
    if (--h->outstanding == 0)
        pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void check_one(svc_health_checker *h, svc_endpoint *e)
{
    const svc_health_check_opts *o = &h->b->opts.health;
    bool grpc = is_scheme(e->url, "grpc") || is_scheme(e->url, "grpcs");
    bool http = is_scheme(e->url, "http") || is_scheme(e->url, "https");
    check *k = (grpc || http) ? malloc(sizeof *k) : NULL;
    svc_msg *req = NULL;
    if (!k || (grpc && svc_msg_clone(h->grpc_request, &req) != SVC_OK)) {
        free(k);
        svc_balancer_unref_later(h->b, e);
        return;
    }
    *k = (check){h, e, grpc};
    pthread_mutex_lock(&h->mu);
    h->outstanding++;
    pthread_mutex_unlock(&h->mu);
    svc_call_opts co = {.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 1000,
                        .dispatch = SVC_DISPATCH_INLINE};
    const char *method = grpc ? "grpc.health.v1.Health/Check" : h->http_method;
    if (svc_client_call_async(e->client, method, req, &co, check_done, k) != SVC_OK)
        check_done(SVC_UNAVAILABLE, svc_msg_new_status(SVC_UNAVAILABLE, svc_last_error()), k);
}

static void round_due(void *arg)
{
    svc_health_checker *h = arg;
    size_t n;
    svc_endpoint **eps = svc_balancer_snapshot(h->b, &n);
    for (size_t i = 0; i < n; i++)
        check_one(h, eps[i]); /* takes the reference */
    free(eps);
    pthread_mutex_lock(&h->mu);
    if (!h->stopping)
        svc_timer_arm(h->timer, svc_now() + h->b->opts.health.interval_ms * SVC_NSEC_PER_MSEC);
    pthread_mutex_unlock(&h->mu);
}

svc_code svc_health_checker_new(svc_balancer *b, svc_health_checker **out)
{
    const svc_health_check_opts *o = &b->opts.health;
    svc_health_checker *h = calloc(1, sizeof *h);
    const char *path = o->http_path ? o->http_path : "/healthz";
    SvcHealth__HealthCheckRequest req = SVC_HEALTH__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)(o->grpc_service ? o->grpc_service : "");
    if (!h || !(h->http_method = malloc(strlen(path) + 5)) ||
        svc_msg_new(&h->grpc_request) != SVC_OK ||
        svc_msg_pack(h->grpc_request, &req.base, SVC_CT_PROTO) != SVC_OK ||
        svc_timer_new(svc_ctx_loop(b->ctx), round_due, h, &h->timer) != SVC_OK) {
        if (h) {
            svc_msg_free(h->grpc_request);
            free(h->http_method);
        }
        free(h);
        return svc_fail_oom();
    }
    sprintf(h->http_method, "GET %s", path);
    h->b = b;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    svc_timer_arm(h->timer, svc_now()); /* the first round at once */
    *out = h;
    return SVC_OK;
}

void svc_health_checker_free(svc_health_checker *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_mutex_unlock(&h->mu);
    svc_timer_free(h->timer); /* waits for a round being sent */
    pthread_mutex_lock(&h->mu);
    while (h->outstanding > 0)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    svc_msg_free(h->grpc_request);
    free(h->http_method);
    free(h);
}
