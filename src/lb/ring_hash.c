/*
 * ring_hash: consistent hashing on a ring of points hash(name, replica),
 * name = the endpoint's id, else its URL; a key goes to the first point at
 * or after its hash, wrapping. Options: "min_ring_size=N,max_ring_size=N"
 * (gRPC's and Envoy's names, defaults 1024 and 8M, 8M at most).
 *
 * Each endpoint gets weight x R points, R the smallest power of two that
 * brings the ring to min_ring_size (halved again while the ring would pass
 * max_ring_size). gRPC and Envoy scale the points to the exact ring size
 * instead, which moves keys between endpoints that stay whenever the set
 * changes; with a power of two an endpoint keeps its points while the
 * total weight stays within a factor of two, so only the keys of the
 * endpoints that came or went move. Past max_ring_size (a total weight
 * above it) the weights are scaled down, at least one point each.
 *
 * Without a key (has_hash false) the pick is random.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "lb/config.h"
#include "lb/eps.h"
#include "lb/hash.h"
#include "lb/policies.h"

#define RING_CAP (UINT64_C(8) << 20)

typedef struct point {
    uint64_t hash;
    uint32_t ep;
} point;

typedef struct ring {
    svc_lb_eps eps;
    uint64_t min_size, max_size;
    uint64_t *hash; /* sorted; searched apart from the owners for the cache */
    uint32_t *owner;
    size_t len;
    /* The first point of each of the 2^bits ranges of hashes (and len at
     * the end): a lookup searches one range, a few points, instead of the
     * whole ring, so its cost stays flat as the ring grows. */
    uint32_t *first;
    unsigned bits;
} ring;

#define MAX_INDEX_BITS 20 /* 4 MiB of index; up to 8 points a range at 8M */

static svc_code create(const char *config, void **state)
{
    ring *r = calloc(1, sizeof *r);
    if (!r)
        return svc_fail_oom();
    r->min_size = 1024;
    r->max_size = RING_CAP;
    const svc_lb_option opts[] = {
        {"min_ring_size", &r->min_size, 1, RING_CAP},
        {"max_ring_size", &r->max_size, 1, RING_CAP},
    };
    svc_code rc = svc_lb_options_parse("ring_hash", config, opts, 2);
    if (rc == SVC_OK && r->min_size > r->max_size)
        rc = svc_fail(SVC_INVALID_ARGUMENT,
                      "ring_hash: min_ring_size (%llu) is above max_ring_size (%llu)",
                      (unsigned long long)r->min_size, (unsigned long long)r->max_size);
    if (rc != SVC_OK) {
        free(r);
        return rc;
    }
    *state = r;
    return SVC_OK;
}

static int by_hash(const void *a, const void *b)
{
    const point *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return (x->ep > y->ep) - (x->ep < y->ep);
}

/* Points of an endpoint of weight w (total weight sum, R per weight). */
static uint64_t points_of(uint64_t w, uint64_t sum, uint64_t per_weight, uint64_t max)
{
    if (per_weight)
        return w * per_weight;
    uint64_t k = w * max / sum;
    return k ? k : 1;
}

static svc_code build_index(ring *r)
{
    r->bits = 1;
    while (r->bits < MAX_INDEX_BITS && ((size_t)1 << r->bits) < r->len)
        r->bits++;
    size_t ranges = (size_t)1 << r->bits;
    if (!(r->first = malloc((ranges + 1) * sizeof *r->first)))
        return svc_fail_oom();
    size_t at = 0;
    for (size_t b = 0; b < ranges; b++) {
        while (at < r->len && r->hash[at] >> (64 - r->bits) < b)
            at++;
        r->first[b] = (uint32_t)at;
    }
    r->first[ranges] = (uint32_t)r->len;
    return SVC_OK;
}

static svc_code build(ring *r)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < r->eps.n; i++)
        sum += svc_endpoint_weight(r->eps.v[i]);
    uint64_t per_weight = 0; /* 0 = scale the weights down */
    if (sum <= r->max_size) {
        per_weight = 1;
        while (sum * per_weight < r->min_size)
            per_weight *= 2;
        if (sum * per_weight > r->max_size)
            per_weight /= 2;
    }
    size_t len = 0;
    for (size_t i = 0; i < r->eps.n; i++)
        len += points_of(svc_endpoint_weight(r->eps.v[i]), sum, per_weight, r->max_size);
    point *pts = malloc(len * sizeof *pts);
    r->hash = malloc(len * sizeof *r->hash);
    r->owner = malloc(len * sizeof *r->owner);
    if (!pts || !r->hash || !r->owner) {
        free(pts);
        return svc_fail_oom();
    }
    size_t k = 0;
    for (size_t i = 0; i < r->eps.n; i++) {
        const char *name = svc_lb_eps_name(r->eps.v[i]);
        size_t name_len = strlen(name);
        uint64_t m = points_of(svc_endpoint_weight(r->eps.v[i]), sum, per_weight, r->max_size);
        for (uint64_t j = 0; j < m; j++)
            pts[k++] = (point){svc_lb_hash(name, name_len, j), (uint32_t)i};
    }
    qsort(pts, len, sizeof *pts, by_hash);
    for (size_t i = 0; i < len; i++) {
        r->hash[i] = pts[i].hash;
        r->owner[i] = pts[i].ep;
    }
    free(pts);
    r->len = len;
    return build_index(r);
}

static void drop_ring(ring *r)
{
    free(r->hash);
    free(r->owner);
    free(r->first);
    r->hash = NULL;
    r->owner = NULL;
    r->first = NULL;
    r->len = 0;
}

static svc_code update(void *state, svc_endpoint *const *eps, size_t n)
{
    ring *r = state;
    drop_ring(r);
    svc_code rc = svc_lb_eps_set(&r->eps, eps, n);
    if (rc == SVC_OK && n && (rc = build(r)) != SVC_OK) {
        drop_ring(r);
        svc_lb_eps_clear(&r->eps);
    }
    return rc;
}

/* The first of v[0..len) at or after h (len when none). */
static size_t lower_bound(const uint64_t *v, size_t len, uint64_t h)
{
    size_t lo = 0;
    while (len > 0) {
        size_t half = len / 2;
        if (v[lo + half] < h) {
            lo += half + 1;
            len -= half + 1;
        } else {
            len = half;
        }
    }
    return lo;
}

static svc_endpoint *pick(void *state, const svc_lb_pick *p)
{
    ring *r = state;
    if (!p->has_hash)
        return svc_lb_eps_random(&r->eps);
    if (!r->len)
        return NULL;
    size_t b = (size_t)(p->hash >> (64 - r->bits));
    size_t lo = r->first[b], hi = r->first[b + 1];
    size_t at = lo + lower_bound(r->hash + lo, hi - lo, p->hash);
    /* Walking on from an endpoint that is out: its keys spread over the
     * next points' owners, as if it had left. */
    for (size_t k = 0; k < r->len; k++) {
        svc_endpoint *e = r->eps.v[r->owner[(at + k) % r->len]];
        if (svc_endpoint_usable(e))
            return e;
    }
    return NULL;
}

static void destroy(void *state)
{
    ring *r = state;
    drop_ring(r);
    svc_lb_eps_clear(&r->eps);
    free(r);
}

const svc_lb_policy_ops svc_lb_ring_hash = {
    .name = "ring_hash",
    .create = create,
    .update = update,
    .pick = pick,
    .destroy = destroy,
};
