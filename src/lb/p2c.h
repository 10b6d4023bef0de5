/* The power of two choices that least_request and peak_ewma share. */
#ifndef SVC_LB_P2C_H
#define SVC_LB_P2C_H

#include "lb/eps.h"

/* What an endpoint costs to send one more call to, at `now`. */
typedef double (*svc_lb_cost_fn)(const svc_endpoint *e, svc_time now);

/* Two distinct endpoints drawn at random, the cheaper one (a tie is broken
 * at random); when one is not usable the other, when neither is any
 * usable one at random; NULL when none is. */
svc_endpoint *svc_lb_p2c(const svc_lb_eps *s, svc_lb_cost_fn cost, svc_time now);

#endif
