/*
 * svccomm/lb.h — spreading a client's calls over a service's endpoints,
 * and the resilience around it: retries, hedging, outlier ejection, health
 * checks, circuit breaking.
 *
 * A client made for `svc://NAME` keeps one channel per endpoint its
 * resolver reports (svccomm/discovery.h) and picks one per call with the
 * policy named in svc_lb_opts.policy:
 *
 *   pick_first            the first usable endpoint, in resolver order
 *   round_robin           each usable endpoint in turn (the default)
 *   weighted_round_robin  smooth weighted round robin, as nginx does it
 *   random                uniformly at random
 *   least_request         the less loaded of two random picks (in-flight calls)
 *   peak_ewma             the cheaper of two random picks, cost = peak-sensitive
 *                         EWMA of latency x (in-flight + 1), as Finagle does it
 *   ring_hash, maglev     consistent hashing on svc_call_opts.hash_key
 *
 * An endpoint is usable when its channel is idle, connecting or ready and
 * it is not ejected; when none is, calls fail with SVC_UNAVAILABLE naming
 * the service.
 *
 * Threads: everything here may be called from any thread.
 */
#ifndef SVCCOMM_LB_H
#define SVCCOMM_LB_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One endpoint of a balanced client, as a policy sees it. Owned by the
 * client; valid for a policy from the update() that passed it until the
 * next update() or destroy(). */
typedef struct svc_endpoint svc_endpoint;

SVC_API const char *svc_endpoint_url(const svc_endpoint *e);
SVC_API const char *svc_endpoint_id(const svc_endpoint *e);   /* may be NULL */
SVC_API const char *svc_endpoint_zone(const svc_endpoint *e); /* may be NULL */
SVC_API uint32_t svc_endpoint_weight(const svc_endpoint *e);
/* Calls on it now (atomic read). */
SVC_API int svc_endpoint_inflight(const svc_endpoint *e);
/* Its peak-EWMA latency now, decayed to the present (ns). */
SVC_API int64_t svc_endpoint_latency_ns(const svc_endpoint *e);
/* Idle, connecting or ready, and not ejected. */
SVC_API bool svc_endpoint_usable(const svc_endpoint *e);

/* What a policy may look at to pick. */
typedef struct svc_lb_pick {
    const char *method;
    uint64_t hash;  /* of svc_call_opts.hash_key (64-bit xxh3-style mix) */
    bool has_hash;  /* false: no key given (hashing policies pick at random) */
} svc_lb_pick;

/* A load-balancing policy. The client serialises update() and destroy()
 * against everything else; pick() runs on many threads at once, against
 * one endpoint set, and must neither block nor allocate. */
typedef struct svc_lb_policy_ops {
    const char *name;
    /* `config` is the policy's own string (svc_lb_opts.policy_config, may
     * be NULL). */
    svc_code (*create)(const char *config, void **state);
    /* The new endpoint set, in resolver order (array borrowed for the call;
     * the endpoints stay valid until the next update). n may be 0. */
    svc_code (*update)(void *state, svc_endpoint *const *eps, size_t n);
    /* A usable endpoint, or NULL when there is none. */
    svc_endpoint *(*pick)(void *state, const svc_lb_pick *p);
    void (*destroy)(void *state);
} svc_lb_policy_ops;

/* Adds a policy (ops borrowed; must outlive every client).
 * SVC_ALREADY_EXISTS if the name is taken. */
SVC_API svc_code svc_lb_policy_register(const svc_lb_policy_ops *ops);

/* When to try a call again. The first attempt counts. */
typedef struct svc_retry_policy {
    int max_attempts;            /* 0 or 1 = no retries; at most 5 */
    uint32_t retryable_codes;    /* bit (1u << code); 0 = UNAVAILABLE only */
    int64_t initial_backoff_ms;  /* 0 = 50 */
    int64_t max_backoff_ms;      /* 0 = 2000 */
    double backoff_multiplier;   /* 0 = 2; each wait is random in [0, backoff] */
    int64_t per_try_timeout_ms;  /* 0 = only the call's deadline */
    /* A call that may have reached a handler is retried only when the
     * method is idempotent; one that surely did not (connection refused,
     * stream refused, circuit open) always may be. */
    bool idempotent;
    /* > 0 (idempotent methods only): hedge; if no answer came after this
     * long, send the next attempt without cancelling the first; the first
     * answer wins and the others are cancelled. */
    int64_t hedging_delay_ms;
} svc_retry_policy;

/* gRPC's retry throttling: each failure takes a token, each success gives
 * token_ratio back; retries and hedges only while more than half the
 * tokens are left, so retries cannot multiply load in an outage (once
 * throttled, at most token_ratio retries per success). A failure no server
 * saw (connection refused, stream refused) takes none and is retried
 * elsewhere regardless. max_tokens / 2 is how many failures in a burst are
 * retried before throttling starts: when an instance dies, every call in
 * flight on it and those sent before the client sees the connection go
 * fail at once, which with gRPC's usual 10 (5 retried) lost calls in
 * bench/lb/lb_failover_bench at 8 calls in flight; hence 100 here. */
typedef struct svc_retry_budget {
    double max_tokens;  /* 0 = 100 */
    double token_ratio; /* 0 = 0.1 */
} svc_retry_budget;

/* Passive outlier detection: an endpoint failing in a row is ejected (no
 * picks) for base_ejection_ms x the number of times it was ejected, up to
 * max_ejection_ms; never more than max_ejection_percent of the endpoints
 * at once (at least one). Failures are UNAVAILABLE, DEADLINE_EXCEEDED,
 * INTERNAL, UNKNOWN and DATA_LOSS; "gateway" failures are UNAVAILABLE. */
typedef struct svc_outlier_opts {
    int consecutive_failures;         /* 0 = 5; < 0 = off */
    int consecutive_gateway_failures; /* 0 = 3; < 0 = off */
    int64_t base_ejection_ms;         /* 0 = 10000 */
    int64_t max_ejection_ms;          /* 0 = 300000 */
    int max_ejection_percent;         /* 0 = 50 */
} svc_outlier_opts;

/* Active health checks: grpc.health.v1.Health/Check for gRPC endpoints,
 * an HTTP GET of http_path for REST ones (2xx = serving); an endpoint that
 * is not serving is not picked until a check passes again. */
typedef struct svc_health_check_opts {
    int64_t interval_ms;      /* 0 = off */
    int64_t timeout_ms;       /* 0 = 1000 */
    const char *grpc_service; /* borrowed; NULL = "" (the whole server) */
    const char *http_path;    /* borrowed; NULL = "/healthz" */
} svc_health_check_opts;

/* Circuit breaking: calls over a limit fail at once with
 * SVC_RESOURCE_EXHAUSTED instead of queueing. 0 = no limit. */
typedef struct svc_breaker_opts {
    int max_inflight;              /* per client */
    int max_inflight_per_endpoint;
} svc_breaker_opts;

typedef struct svc_lb_opts {
    const char *policy;        /* borrowed; NULL = "round_robin" */
    const char *policy_config; /* borrowed; the policy's own string */
    /* Borrowed (copied by svc_client_new); NULL or "" = no preference.
     * Calls go to the endpoints of this zone (svc_endpoint_info.zone)
     * while any of them is usable, and to the others only when none is:
     * priority failover, as gRPC's priority policy orders localities. The
     * policy balances within each group. */
    const char *local_zone;
    svc_retry_policy retry;    /* default for every method */
    svc_retry_budget budget;
    svc_outlier_opts outlier;
    svc_health_check_opts health;
    svc_breaker_opts breaker;
} svc_lb_opts;

SVC_API void svc_lb_opts_init(svc_lb_opts *o);

/* Overrides the retry policy for one method of a balanced client (copied). */
SVC_API svc_code svc_client_set_retry(svc_client *c, const char *method,
                                      const svc_retry_policy *p);

#ifdef __cplusplus
}
#endif
#endif
