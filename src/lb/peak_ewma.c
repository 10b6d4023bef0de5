/*
 * peak_ewma: the cheaper of two random endpoints, cost = peak EWMA of
 * latency x (in flight + 1), as Finagle's and Linkerd's balancers weigh
 * them. Like Finagle, an endpoint with no latency yet but calls in flight
 * costs a large penalty, so a new endpoint gets one call at a time until
 * its first answer rather than every call at once.
 */
#include <time.h>

#include "lb/endpoint.h"
#include "lb/p2c.h"
#include "lb/policies.h"

/* Finagle's Penalty: Long.MaxValue >> 16, in nanoseconds. */
#define PENALTY_NS ((double)(INT64_MAX >> 16))

static double cost(const svc_endpoint *e, svc_time now)
{
    int64_t latency = svc_peak_ewma_get(&e->ewma, now);
    int inflight = svc_endpoint_inflight(e);
    if (!latency && inflight)
        return PENALTY_NS + inflight;
    return (double)latency * (inflight + 1);
}

/* The svc_now() clock at its tick (1 to 4 ms): a fifth of the cost of a
 * precise read, and plenty for a decay over 10 s. Being a tick behind a
 * sample's stamp only means no decay for that sample. */
static svc_time coarse_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (svc_time)ts.tv_sec * SVC_NSEC_PER_SEC + ts.tv_nsec;
}

static svc_endpoint *pick(void *state, const svc_lb_pick *p)
{
    (void)p;
    /* One clock read for both candidates. */
    return svc_lb_p2c(state, cost, coarse_now());
}

const svc_lb_policy_ops svc_lb_peak_ewma = {
    .name = "peak_ewma",
    .create = svc_lb_eps_create,
    .update = svc_lb_eps_update,
    .pick = pick,
    .destroy = svc_lb_eps_destroy,
};
