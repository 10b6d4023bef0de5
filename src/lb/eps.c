/* The endpoint set every policy keeps, and the fallbacks of a pick. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "lb/backoff.h"
#include "lb/eps.h"
#include "lb/rand.h"

svc_code svc_lb_eps_set(svc_lb_eps *s, svc_endpoint *const *eps, size_t n)
{
    svc_endpoint **v = NULL;
    if (n && !(v = malloc(n * sizeof *v)))
        return svc_fail_oom();
    if (n)
        memcpy(v, eps, n * sizeof *v);
    free(s->v);
    s->v = v;
    s->n = n;
    return SVC_OK;
}

void svc_lb_eps_clear(svc_lb_eps *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

svc_endpoint *svc_lb_eps_scan(const svc_lb_eps *s, size_t start)
{
    for (size_t k = 0; k < s->n; k++) {
        svc_endpoint *e = s->v[(start + k) % s->n];
        if (svc_endpoint_usable(e))
            return e;
    }
    return NULL;
}

svc_endpoint *svc_lb_eps_random(const svc_lb_eps *s)
{
    if (!s->n)
        return NULL;
    size_t i = 0;
    for (int t = 0; t < SVC_LB_TRIES; t++) {
        i = (size_t)svc_lb_below(svc_lb_rand(), s->n);
        if (svc_endpoint_usable(s->v[i]))
            return s->v[i];
    }
    /* Most are out: the next usable one after the last draw is still a
     * random choice among them (weighted by the gaps before each). */
    return svc_lb_eps_scan(s, i);
}

const char *svc_lb_eps_name(const svc_endpoint *e)
{
    const char *id = svc_endpoint_id(e);
    return id ? id : svc_endpoint_url(e);
}

svc_code svc_lb_eps_create(const char *config, void **state)
{
    (void)config;
    svc_lb_eps *s = calloc(1, sizeof *s);
    if (!s)
        return svc_fail_oom();
    *state = s;
    return SVC_OK;
}

svc_code svc_lb_eps_update(void *state, svc_endpoint *const *eps, size_t n)
{
    return svc_lb_eps_set(state, eps, n);
}

void svc_lb_eps_destroy(void *state)
{
    svc_lb_eps *s = state;
    if (s)
        svc_lb_eps_clear(s);
    free(s);
}
