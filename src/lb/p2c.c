/* Power of two choices (Mitzenmacher): two random draws, the cheaper. */
#include "lb/backoff.h"
#include "lb/p2c.h"
#include "lb/rand.h"

svc_endpoint *svc_lb_p2c(const svc_lb_eps *s, svc_lb_cost_fn cost, svc_time now)
{
    if (s->n < 2)
        return svc_lb_eps_scan(s, 0);
    uint64_t r1 = svc_lb_rand(), r2 = svc_lb_rand();
    size_t i = (size_t)svc_lb_below(r1, s->n);
    size_t j = (size_t)svc_lb_below(r2, s->n - 1);
    j += j >= i; /* distinct from i, uniform over the rest */
    svc_endpoint *a = s->v[i], *b = s->v[j];
    bool ua = svc_endpoint_usable(a), ub = svc_endpoint_usable(b);
    if (ua && ub) {
        double ca = cost(a, now), cb = cost(b, now);
        if (ca != cb)
            return ca < cb ? a : b;
        return (r2 & 1) ? a : b;
    }
    if (ua || ub)
        return ua ? a : b;
    return svc_lb_eps_random(s);
}
