/*
 * round_robin: one atomic counter over the set. Each client starts at a
 * random place (as gRPC's round_robin does) so that clients started
 * together do not all send their first calls to the first endpoint.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "core/error.h"
#include "lb/backoff.h"
#include "lb/eps.h"
#include "lb/policies.h"

typedef struct rr {
    svc_lb_eps eps;
    _Atomic uint64_t next;
} rr;

static svc_code create(const char *config, void **state)
{
    (void)config;
    rr *r = calloc(1, sizeof *r);
    if (!r)
        return svc_fail_oom();
    /* Far from wrapping, where the sequence would skip. */
    atomic_init(&r->next, svc_lb_rand() >> 32);
    *state = r;
    return SVC_OK;
}

static svc_code update(void *state, svc_endpoint *const *eps, size_t n)
{
    return svc_lb_eps_set(&((rr *)state)->eps, eps, n);
}

static svc_endpoint *pick(void *state, const svc_lb_pick *p)
{
    (void)p;
    rr *r = state;
    if (!r->eps.n)
        return NULL;
    size_t i = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed) % r->eps.n;
    svc_endpoint *e = r->eps.v[i];
    return svc_endpoint_usable(e) ? e : svc_lb_eps_scan(&r->eps, i + 1);
}

static void destroy(void *state)
{
    rr *r = state;
    svc_lb_eps_clear(&r->eps);
    free(r);
}

const svc_lb_policy_ops svc_lb_round_robin = {
    .name = "round_robin",
    .create = create,
    .update = update,
    .pick = pick,
    .destroy = destroy,
};
