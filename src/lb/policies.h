/* The built-in load-balancing policies, one file each. */
#ifndef SVC_LB_POLICIES_H
#define SVC_LB_POLICIES_H

#include <svccomm/lb.h>

extern const svc_lb_policy_ops svc_lb_pick_first;
extern const svc_lb_policy_ops svc_lb_round_robin;
extern const svc_lb_policy_ops svc_lb_weighted_round_robin;
extern const svc_lb_policy_ops svc_lb_random;
extern const svc_lb_policy_ops svc_lb_least_request;
extern const svc_lb_policy_ops svc_lb_peak_ewma;
extern const svc_lb_policy_ops svc_lb_ring_hash;
extern const svc_lb_policy_ops svc_lb_maglev;

/* weighted_round_robin precomputes nginx's sequence while one cycle costs
 * (endpoints x cycle length) at most this many steps to build. */
#define SVC_LB_WRR_MAX_STEPS (4u << 20)

#endif
