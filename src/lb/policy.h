/* The registry of load-balancing policies: the built-in ones and those
 * users add with svc_lb_policy_register(). */
#ifndef SVC_LB_POLICY_H
#define SVC_LB_POLICY_H

#include <svccomm/lb.h>

/* The policy named `name`, or NULL. Any thread. */
const svc_lb_policy_ops *svc_lb_policy_find(const char *name);

#endif
