/* pick_first: the first usable endpoint in resolver order. */
#include "lb/eps.h"
#include "lb/policies.h"

static svc_endpoint *pick(void *state, const svc_lb_pick *p)
{
    (void)p;
    return svc_lb_eps_scan(state, 0);
}

const svc_lb_policy_ops svc_lb_pick_first = {
    .name = "pick_first",
    .create = svc_lb_eps_create,
    .update = svc_lb_eps_update,
    .pick = pick,
    .destroy = svc_lb_eps_destroy,
};
