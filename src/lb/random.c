/* random: a usable endpoint uniformly at random. */
#include "lb/eps.h"
#include "lb/policies.h"

static svc_endpoint *pick(void *state, const svc_lb_pick *p)
{
    (void)p;
    return svc_lb_eps_random(state);
}

const svc_lb_policy_ops svc_lb_random = {
    .name = "random",
    .create = svc_lb_eps_create,
    .update = svc_lb_eps_update,
    .pick = pick,
    .destroy = svc_lb_eps_destroy,
};
