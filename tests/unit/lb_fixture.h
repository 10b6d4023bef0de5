/* Endpoints without clients and a policy over them, for the lb tests. */
#ifndef SVC_TEST_LB_FIXTURE_H
#define SVC_TEST_LB_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "cmocka_all.h"
#include "lb/endpoint.h"
#include "lb/eps.h"
#include "lb/hash.h"
#include "lb/policy.h"

typedef struct lb_fx {
    svc_endpoint **e;
    size_t n;
    const svc_lb_policy_ops *ops;
    void *st;
} lb_fx;

/* n endpoints "ep-<i>" at inproc://ep-<i>, weights[i] (NULL = all 1). */
static inline void lb_fx_endpoints(lb_fx *fx, size_t n, const uint32_t *weights)
{
    fx->e = calloc(n ? n : 1, sizeof *fx->e);
    assert_non_null(fx->e);
    fx->n = n;
    for (size_t i = 0; i < n; i++) {
        char id[32], url[48];
        snprintf(id, sizeof id, "ep-%zu", i);
        snprintf(url, sizeof url, "inproc://%s", id);
        svc_endpoint_info info = {.url = url, .id = id, .weight = weights ? weights[i] : 1};
        assert_int_equal(svc_endpoint_new(&info, &fx->e[i]), SVC_OK);
    }
}

/* The policy `name` over all the endpoints. */
static inline void lb_fx_policy(lb_fx *fx, const char *name, const char *config)
{
    fx->ops = svc_lb_policy_find(name);
    assert_non_null(fx->ops);
    assert_int_equal(fx->ops->create(config, &fx->st), SVC_OK);
    assert_int_equal(fx->ops->update(fx->st, fx->e, fx->n), SVC_OK);
}

static inline lb_fx lb_fx_new(const char *policy, size_t n, const uint32_t *weights)
{
    lb_fx fx = {0};
    lb_fx_endpoints(&fx, n, weights);
    lb_fx_policy(&fx, policy, NULL);
    return fx;
}

static inline void lb_fx_free(lb_fx *fx)
{
    if (fx->st)
        fx->ops->destroy(fx->st);
    for (size_t i = 0; i < fx->n; i++)
        svc_endpoint_unref(fx->e[i]);
    free(fx->e);
}

/* The index of a pick (fails the test on NULL or a stranger). */
static inline size_t lb_fx_index(const lb_fx *fx, const svc_endpoint *e)
{
    assert_non_null(e);
    size_t i = strtoul(svc_endpoint_id(e) + 3, NULL, 10);
    assert_true(i < fx->n && fx->e[i] == e);
    return i;
}

static inline svc_lb_pick lb_fx_key(uint64_t k)
{
    char key[32];
    int len = snprintf(key, sizeof key, "key-%llu", (unsigned long long)k);
    return (svc_lb_pick){.hash = svc_lb_hash(key, (size_t)len, 0), .has_hash = true};
}

/* Index of the endpoint picked for key number k. */
static inline size_t lb_fx_pick_key(const lb_fx *fx, uint64_t k)
{
    svc_lb_pick p = lb_fx_key(k);
    return lb_fx_index(fx, fx->ops->pick(fx->st, &p));
}

static inline size_t lb_fx_pick(const lb_fx *fx)
{
    svc_lb_pick p = {0};
    return lb_fx_index(fx, fx->ops->pick(fx->st, &p));
}

#endif
