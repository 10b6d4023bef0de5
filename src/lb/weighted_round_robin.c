/*
 * weighted_round_robin: nginx's smooth weighted round robin
 * (ngx_http_upstream_get_peer): each endpoint's current weight grows by
 * its weight, the largest (the first of equals) is chosen and loses the
 * total. The sequence repeats after sum(w / gcd) picks, so update() plays
 * one cycle and pick() is an atomic counter into it.
 *
 * When one cycle would cost more than SVC_LB_WRR_MAX_STEPS to build
 * (endpoints x cycle length), pick() instead walks a Weyl sequence
 * (k x 2^64/phi) through a Vose alias table of the weights. That keeps
 * pick O(1) and lock-free, and the golden-ratio sequence is equidistributed
 * with low discrepancy, so each endpoint's share over N picks is its
 * weight's share within O(log N) picks, with picks of one endpoint spread
 * out. (An EDF scheduler needs a heap under a lock; gRPC's static stride
 * scheduler loops about n x max / sum(w) times a pick when weights are
 * skewed.)
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "core/error.h"
#include "lb/backoff.h"
#include "lb/eps.h"
#include "lb/policies.h"
#include "lb/rand.h"

#define PHI64 UINT64_C(0x9E3779B97F4A7C15)
#define ALWAYS (UINT64_C(1) << 32) /* an alias column that never defers */

typedef struct wrr {
    svc_lb_eps eps;
    _Atomic uint64_t next;
    uint32_t *cycle; /* endpoint indexes, one nginx cycle; NULL = alias mode */
    size_t cycle_len;
    uint64_t *keep;  /* alias mode: column i keeps i when the fraction < keep[i] / 2^32 */
    uint32_t *alias; /* ... and gives alias[i] otherwise */
} wrr;

static svc_code create(const char *config, void **state)
{
    (void)config;
    wrr *w = calloc(1, sizeof *w);
    if (!w)
        return svc_fail_oom();
    atomic_init(&w->next, svc_lb_rand() >> 32);
    *state = w;
    return SVC_OK;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* One cycle of nginx's sequence for the weights divided by their gcd g. */
static svc_code build_cycle(wrr *w, size_t len, uint64_t g)
{
    size_t n = w->eps.n;
    int64_t *current = calloc(n, sizeof *current);
    uint32_t *cycle = malloc(len * sizeof *cycle);
    if (!current || !cycle) {
        free(current);
        free(cycle);
        return svc_fail_oom();
    }
    int64_t total = (int64_t)len;
    for (size_t k = 0; k < len; k++) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            current[i] += (int64_t)(svc_endpoint_weight(w->eps.v[i]) / g);
            if (current[i] > current[best])
                best = i;
        }
        current[best] -= total;
        cycle[k] = (uint32_t)best;
    }
    free(current);
    w->cycle = cycle;
    w->cycle_len = len;
    return SVC_OK;
}

/* Vose's alias method in exact integers: column i holds n w_i / W of an
 * endpoint's share, compared against W, the average column. */
static svc_code build_alias(wrr *w, uint64_t sum)
{
    size_t n = w->eps.n;
    unsigned __int128 *mass = malloc(n * sizeof *mass);
    uint32_t *stack = malloc(n * sizeof *stack); /* small from the bottom, large from the top */
    w->keep = malloc(n * sizeof *w->keep);
    w->alias = malloc(n * sizeof *w->alias);
    if (!mass || !stack || !w->keep || !w->alias) {
        free(mass);
        free(stack);
        return svc_fail_oom();
    }
    size_t small = 0, large = n;
    for (size_t i = 0; i < n; i++) {
        mass[i] = (unsigned __int128)svc_endpoint_weight(w->eps.v[i]) * n;
        w->keep[i] = ALWAYS;
        w->alias[i] = (uint32_t)i;
        if (mass[i] < sum)
            stack[small++] = (uint32_t)i;
        else
            stack[--large] = (uint32_t)i;
    }
    while (small && large < n) {
        uint32_t s = stack[--small], l = stack[large++];
        w->keep[s] = (uint64_t)((mass[s] << 32) / sum);
        w->alias[s] = l;
        mass[l] -= sum - mass[s];
        if (mass[l] < sum)
            stack[small++] = l;
        else
            stack[--large] = l;
    }
    free(mass);
    free(stack);
    return SVC_OK;
}

static void drop_tables(wrr *w)
{
    free(w->cycle);
    free(w->keep);
    free(w->alias);
    w->cycle = NULL;
    w->keep = NULL;
    w->alias = NULL;
    w->cycle_len = 0;
}

static svc_code update(void *state, svc_endpoint *const *eps, size_t n)
{
    wrr *w = state;
    drop_tables(w);
    svc_code rc = svc_lb_eps_set(&w->eps, eps, n);
    if (rc != SVC_OK || !n)
        return rc;
    uint64_t g = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        g = gcd(svc_endpoint_weight(eps[i]), g);
        sum += svc_endpoint_weight(eps[i]);
    }
    if (sum / g <= SVC_LB_WRR_MAX_STEPS / n)
        rc = build_cycle(w, (size_t)(sum / g), g);
    else
        rc = build_alias(w, sum);
    if (rc != SVC_OK) {
        drop_tables(w);
        svc_lb_eps_clear(&w->eps);
    }
    return rc;
}

/* The endpoint index of pick number k. */
static size_t slot(const wrr *w, uint64_t k)
{
    if (w->cycle)
        return w->cycle[k % w->cycle_len];
    unsigned __int128 x = (unsigned __int128)(k * PHI64) * w->eps.n;
    size_t col = (size_t)(x >> 64);
    uint64_t frac = (uint64_t)x >> 32;
    return frac < w->keep[col] ? col : w->alias[col];
}

static svc_endpoint *pick(void *state, const svc_lb_pick *p)
{
    (void)p;
    wrr *w = state;
    if (!w->eps.n)
        return NULL;
    uint64_t k = atomic_fetch_add_explicit(&w->next, 1, memory_order_relaxed);
    size_t i = 0;
    /* An endpoint that is out: its turn goes to the following slots, so
     * the others keep their proportions. */
    for (int t = 0; t < SVC_LB_TRIES; t++) {
        i = slot(w, k + (uint64_t)t);
        if (svc_endpoint_usable(w->eps.v[i]))
            return w->eps.v[i];
    }
    return svc_lb_eps_scan(&w->eps, i + 1);
}

static void destroy(void *state)
{
    wrr *w = state;
    drop_tables(w);
    svc_lb_eps_clear(&w->eps);
    free(w);
}

const svc_lb_policy_ops svc_lb_weighted_round_robin = {
    .name = "weighted_round_robin",
    .create = create,
    .update = update,
    .pick = pick,
    .destroy = destroy,
};
