/*
 * The balancer: what a `svc://NAME` client is underneath. It plugs into
 * core as the transport of the "svc" scheme (so core's deadlines,
 * cancellation, metrics and trace propagation cover a balanced call as a
 * whole) and, under it, keeps one ordinary client per endpoint its resolver
 * reports. Each call becomes one or more attempts on endpoints the policy
 * picks (lb_call.c); health checks (health_check.c) and outlier detection
 * decide which endpoints may be picked.
 *
 * Locking: `set_lock` guards the endpoint set and the policy. Picks take it
 * for reading (a short read lock, nothing allocated); resolver updates and
 * per-method settings take it for writing.
 */
#ifndef SVC_LB_BALANCER_H
#define SVC_LB_BALANCER_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/ccall.h"
#include "core/strmap.h"
#include "lb/endpoint.h"
#include "lb/outlier.h"
#include "lb/retry_budget.h"
#include "transport/transport.h"

typedef struct svc_health_checker svc_health_checker;

typedef struct svc_balancer {
    svc_channel base; /* first: core sees a channel */
    svc_ctx *ctx;
    char *service;
    char *resolver_url;
    const svc_resolver_ops *resolver;
    void *resolver_state;
    svc_client_opts inner_opts; /* the endpoints' clients (no svc:// parts) */

    pthread_rwlock_t set_lock;
    const svc_lb_policy_ops *policy;
    void *policy_state;
    /* With opts.local_zone: a second instance of the policy over the
     * endpoints of that zone, asked first (NULL without a zone). */
    char *local_zone;
    void *local_state;
    svc_endpoint **eps; /* the current set, one reference each */
    size_t n_eps;
    svc_strmap method_retry; /* method -> svc_retry_policy (copy) */
    /* Read without the lock by every call: n_eps as of the last update
     * (for outlier detection's percentages), and whether method_retry
     * holds anything (most clients never set a per-method policy). */
    atomic_size_t n_eps_now;
    atomic_bool any_method_retry;

    /* The first resolver answer, which svc_client_new waits for, and
     * endpoint frees queued on the pool, which svc_client_free waits for
     * (an endpoint's last reference goes with the outlier detector). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool resolved;
    int queued_frees;
    char last_error[256]; /* the resolver's last failure, for messages */

    svc_lb_opts opts; /* defaults filled in */
    svc_outlier outlier;
    svc_retry_tokens tokens;
    atomic_int inflight; /* calls, for the client-wide breaker */
    svc_health_checker *health;
} svc_balancer;

/* The transport ops of the "svc" scheme (registry.c lists them). */
extern const svc_transport_ops svc_balancer_transport;

/* The policy's pick among the current set, with a reference for the
 * caller; `avoid` is skipped when another usable endpoint exists (a retry
 * goes elsewhere). NULL when none is usable. */
svc_endpoint *svc_balancer_pick(svc_balancer *b, const svc_lb_pick *p, const svc_endpoint *avoid);
/* Why svc_balancer_pick found nothing, for the caller. */
void svc_balancer_describe_none(svc_balancer *b, char *buf, size_t len);
/* The retry policy for `method` (defaults filled in). */
void svc_balancer_retry_policy(svc_balancer *b, const char *method, svc_retry_policy *out);
/* A reference to every endpoint now (for health checks); *n set. Free the
 * array with svc_balancer_release_all. */
svc_endpoint **svc_balancer_snapshot(svc_balancer *b, size_t *n);
void svc_balancer_release_all(svc_balancer *b, svc_endpoint **eps, size_t n);
/* Drops an endpoint reference from a thread that may be one of the
 * endpoint's own client callbacks: the last one is freed on the pool. */
void svc_balancer_unref_later(svc_balancer *b, svc_endpoint *e);
/* An attempt on `e` ended with `code` after latency_ns (< 0: not a
 * measure of the server, leave the EWMA alone): outlier detection, retry
 * tokens, and a hint to the resolver when the endpoint looks gone. */
void svc_balancer_outcome(svc_balancer *b, svc_endpoint *e, svc_code code, bool unprocessed,
                          int64_t latency_ns);

/* lb_call.c: the transport ops of a balanced unary call. */
void svc_lb_call_start(svc_channel *ch, svc_ccall *cc);
void svc_lb_call_cancel(svc_channel *ch, svc_ccall *cc);

/* health_check.c: periodic checks of every endpoint, marking it unhealthy
 * while a check fails. NULL when checks are off. */
svc_code svc_health_checker_new(svc_balancer *b, svc_health_checker **out);
void svc_health_checker_free(svc_health_checker *h);

#endif
