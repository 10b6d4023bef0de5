/* least_request: the less loaded (fewer calls in flight) of two random
 * endpoints. */
#include "lb/p2c.h"
#include "lb/policies.h"

static double inflight(const svc_endpoint *e, svc_time now)
{
    (void)now;
    return svc_endpoint_inflight(e);
}

static svc_endpoint *pick(void *state, const svc_lb_pick *p)
{
    (void)p;
    return svc_lb_p2c(state, inflight, 0);
}

const svc_lb_policy_ops svc_lb_least_request = {
    .name = "least_request",
    .create = svc_lb_eps_create,
    .update = svc_lb_eps_update,
    .pick = pick,
    .destroy = svc_lb_eps_destroy,
};
