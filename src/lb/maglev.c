/*
 * maglev: Google's Maglev consistent hashing (Eisenbud et al., NSDI 2016).
 * Each endpoint has a permutation of the M slots of a lookup table
 * (offset = h1(name) mod M, skip = h2(name) mod (M - 1) + 1, M prime, so
 * every skip walks all slots); endpoints take turns claiming their next
 * free preferred slot until the table is full. Weights as Envoy does them:
 * an endpoint of weight w takes a turn in w / max(w) of the rounds. A key
 * goes to table[hash mod M]. Option "table_size=N" (a prime; default
 * 65537); the table grows to the next prime above 100 x endpoints when
 * that is larger, which keeps each endpoint's share within about 1% (the
 * paper's guidance).
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

#define TABLE_CAP UINT64_C(16777213) /* the largest prime below 2^24 */

typedef struct maglev {
    svc_lb_eps eps;
    uint64_t size_opt;
    uint32_t *table; /* endpoint indexes */
    uint64_t m;
} maglev;

static bool is_prime(uint64_t n)
{
    if (n < 2)
        return false;
    for (uint64_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return false;
    return true;
}

static svc_code create(const char *config, void **state)
{
    maglev *g = calloc(1, sizeof *g);
    if (!g)
        return svc_fail_oom();
    g->size_opt = 65537;
    const svc_lb_option opt = {"table_size", &g->size_opt, 3, TABLE_CAP};
    svc_code rc = svc_lb_options_parse("maglev", config, &opt, 1);
    if (rc == SVC_OK && !is_prime(g->size_opt))
        rc = svc_fail(SVC_INVALID_ARGUMENT, "maglev: table_size must be a prime, not %llu",
                      (unsigned long long)g->size_opt);
    if (rc != SVC_OK) {
        free(g);
        return rc;
    }
    *state = g;
    return SVC_OK;
}

static uint64_t table_size(const maglev *g, size_t n)
{
    uint64_t want = (uint64_t)n * 100;
    if (want <= g->size_opt)
        return g->size_opt;
    if (want > TABLE_CAP)
        want = n > TABLE_CAP ? n : TABLE_CAP;
    while (!is_prime(want))
        want++;
    return want;
}

typedef struct perm {
    uint64_t offset, skip, next; /* next: how far along its permutation */
    uint64_t weight, due;        /* takes a turn once round x weight >= due */
    const char *name;
    uint32_t ep;
} perm;

/* Turns go in name order, not resolver order, so that clients whose
 * resolvers list the endpoints differently build the same table. */
static int by_name(const void *a, const void *b)
{
    return strcmp(((const perm *)a)->name, ((const perm *)b)->name);
}

static void fill(maglev *g, perm *pm, uint64_t max_weight)
{
    size_t n = g->eps.n;
    uint64_t m = g->m, filled = 0;
    memset(g->table, 0xff, m * sizeof *g->table);
    for (uint64_t round = 1; filled < m; round++) {
        for (size_t i = 0; i < n && filled < m; i++) {
            perm *p = &pm[i];
            if (round * p->weight < p->due)
                continue;
            p->due += max_weight;
            uint64_t c;
            do
                c = (p->offset + p->next++ * p->skip) % m;
            while (g->table[c] != UINT32_MAX);
            g->table[c] = p->ep;
            filled++;
        }
    }
}

static svc_code build(maglev *g)
{
    size_t n = g->eps.n;
    g->m = table_size(g, n);
    uint64_t max_weight = 0;
    perm *pm = calloc(n, sizeof *pm);
    g->table = malloc(g->m * sizeof *g->table);
    if (!pm || !g->table) {
        free(pm);
        return svc_fail_oom();
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = svc_lb_eps_name(g->eps.v[i]);
        size_t len = strlen(name);
        pm[i].name = name;
        pm[i].ep = (uint32_t)i;
        pm[i].offset = svc_lb_hash(name, len, 0xd1b54a32d192ed03u) % g->m;
        pm[i].skip = svc_lb_hash(name, len, 0x8cb92ba72f3d8dd7u) % (g->m - 1) + 1;
        pm[i].weight = svc_endpoint_weight(g->eps.v[i]);
        if (pm[i].weight > max_weight)
            max_weight = pm[i].weight;
    }
    qsort(pm, n, sizeof *pm, by_name);
    fill(g, pm, max_weight);
    free(pm);
    return SVC_OK;
}

static void drop_table(maglev *g)
{
    free(g->table);
    g->table = NULL;
    g->m = 0;
}

static svc_code update(void *state, svc_endpoint *const *eps, size_t n)
{
    maglev *g = state;
    drop_table(g);
    svc_code rc = svc_lb_eps_set(&g->eps, eps, n);
    if (rc == SVC_OK && n && (rc = build(g)) != SVC_OK) {
        drop_table(g);
        svc_lb_eps_clear(&g->eps);
    }
    return rc;
}

static svc_endpoint *pick(void *state, const svc_lb_pick *p)
{
    maglev *g = state;
    if (!p->has_hash)
        return svc_lb_eps_random(&g->eps);
    if (!g->m)
        return NULL;
    uint64_t at = p->hash % g->m;
    /* Walking on from an endpoint that is out: the next slots belong to
     * endpoints in about their shares. */
    for (uint64_t k = 0; k < g->m; k++) {
        svc_endpoint *e = g->eps.v[g->table[(at + k) % g->m]];
        if (svc_endpoint_usable(e))
            return e;
    }
    return NULL;
}

static void destroy(void *state)
{
    maglev *g = state;
    drop_table(g);
    svc_lb_eps_clear(&g->eps);
    free(g);
}

const svc_lb_policy_ops svc_lb_maglev = {
    .name = "maglev",
    .create = create,
    .update = update,
    .pick = pick,
    .destroy = destroy,
};
