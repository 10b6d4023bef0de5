#include <pthread.h>
#include <string.h>

#include "lb/policies.h"
#include "lb_fixture.h"

static const char *const all_policies[] = {
    "pick_first",    "round_robin", "weighted_round_robin", "random",
    "least_request", "peak_ewma",   "ring_hash",            "maglev",
};
#define N_POLICIES (sizeof all_policies / sizeof all_policies[0])

static void pick_first_in_order(void **state)
{
    (void)state;
    lb_fx fx = lb_fx_new("pick_first", 3, NULL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(lb_fx_pick(&fx), 0);
    atomic_store(&fx.e[0]->unhealthy, true);
    assert_int_equal(lb_fx_pick(&fx), 1);
    atomic_store(&fx.e[0]->unhealthy, false);
    assert_int_equal(lb_fx_pick(&fx), 0);
    lb_fx_free(&fx);
}

static void round_robin_sequence(void **state)
{
    (void)state;
    lb_fx fx = lb_fx_new("round_robin", 3, NULL);
    /* It starts anywhere, then goes a, b, c, a, b, c... */
    size_t start = lb_fx_pick(&fx);
    for (size_t k = 1; k <= 30; k++)
        assert_int_equal(lb_fx_pick(&fx), (start + k) % 3);
    /* An endpoint that is out gives its turn to the next one. */
    atomic_store(&fx.e[1]->unhealthy, true);
    size_t seen[3] = {0};
    for (int k = 0; k < 30; k++)
        seen[lb_fx_pick(&fx)]++;
    assert_int_equal(seen[1], 0);
    assert_int_equal(seen[0], 10);
    assert_int_equal(seen[2], 20);
    lb_fx_free(&fx);
}

/* 2 x len picks of weighted_round_robin over `weights` must be the nginx
 * cycle `want` ("aabacaa": a = endpoint 0) from some rotation on. */
static void check_wrr_cycle(const uint32_t *weights, size_t n, const char *want)
{
    lb_fx fx = lb_fx_new("weighted_round_robin", n, weights);
    size_t len = strlen(want);
    char got[64] = "";
    for (size_t k = 0; k < 2 * len; k++)
        got[k] = (char)('a' + lb_fx_pick(&fx));
    bool rotation = false;
    for (size_t r = 0; r < len && !rotation; r++) {
        rotation = true;
        for (size_t k = 0; k < 2 * len; k++)
            rotation &= got[k] == want[(r + k) % len];
    }
    if (!rotation)
        fail_msg("weighted_round_robin gave %s, not a rotation of %s", got, want);
    lb_fx_free(&fx);
}

static void smooth_weighted_sequences(void **state)
{
    (void)state;
    /* nginx's own example (ngx_http_upstream_get_peer's comment). */
    check_wrr_cycle((const uint32_t[]){5, 1, 1}, 3, "aabacaa");
    check_wrr_cycle((const uint32_t[]){3, 2, 1}, 3, "abacba");
    /* 4, 2, 2 is 2, 1, 1: the cycle is four long, not eight. */
    check_wrr_cycle((const uint32_t[]){4, 2, 2}, 3, "abca");
    check_wrr_cycle((const uint32_t[]){1, 1, 1, 1}, 4, "abcd");
    check_wrr_cycle((const uint32_t[]){7}, 1, "a");
}

/* Picks `picks` times and checks each endpoint's count against its weight's
 * share within rel x expected + abs. */
static void check_shares(const char *policy, const uint32_t *w, size_t n, size_t picks,
                         double rel, double abs)
{
    lb_fx fx = lb_fx_new(policy, n, w);
    size_t *count = calloc(n, sizeof *count);
    assert_non_null(count);
    for (size_t k = 0; k < picks; k++)
        count[lb_fx_pick(&fx)]++;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += w ? w[i] : 1;
    for (size_t i = 0; i < n; i++) {
        double want = (double)picks * (w ? w[i] : 1) / sum;
        if ((double)count[i] < want - rel * want - abs || (double)count[i] > want + rel * want + abs)
            fail_msg("%s: endpoint %zu got %zu picks, not %.0f", policy, i, count[i], want);
    }
    free(count);
    lb_fx_free(&fx);
}

static void weighted_fallback_shares(void **state)
{
    (void)state;
    /* The cycle would be 4000005 long (x 3 endpoints is past the budget):
     * the alias table serves, and its low-discrepancy sequence keeps each
     * share within a handful of picks. */
    static const uint32_t big[] = {1000003, 2000003, 999999};
    assert_true(3 * (1000003 + 2000003 + 999999) > SVC_LB_WRR_MAX_STEPS);
    check_shares("weighted_round_robin", big, 3, 1000000, 0.0005, 5);
    /* 2000 endpoints of weights 1 to 7 (cycle 8000, x 2000 past it). */
    uint32_t *w = malloc(2000 * sizeof *w);
    assert_non_null(w);
    for (size_t i = 0; i < 2000; i++)
        w[i] = (uint32_t)(i % 7 + 1);
    check_shares("weighted_round_robin", w, 2000, 1600000, 0.05, 5);
    /* Below the budget the cycle gives the shares exactly, every cycle. */
    size_t cycle = 0;
    for (size_t i = 0; i < 500; i++)
        cycle += w[i];
    check_shares("weighted_round_robin", w, 500, 10 * cycle, 0, 0);
    free(w);
}

static void random_distribution(void **state)
{
    (void)state;
    /* 200k picks over 10: 20000 each, sd 134; 1000 is over 7 sd. */
    check_shares("random", NULL, 10, 200000, 0.05, 0);
}

static void least_request_distribution(void **state)
{
    (void)state;
    lb_fx fx = lb_fx_new("least_request", 10, NULL);
    for (int i = 0; i < 10; i++)
        atomic_store(&fx.e[i]->inflight, i * 3);
    /* Endpoint k wins each of the pairs it makes with the 9 - k busier
     * ones: (9 - k) / 45 of the picks; the busiest never. */
    size_t count[10] = {0}, picks = 200000;
    for (size_t k = 0; k < picks; k++)
        count[lb_fx_pick(&fx)]++;
    assert_int_equal(count[9], 0);
    for (int k = 0; k < 9; k++) {
        double share = (double)count[k] / (double)picks, want = (9 - k) / 45.0;
        if (share < want - 0.01 || share > want + 0.01) /* sd <= 0.0009 */
            fail_msg("least_request: endpoint %d got %.4f, not %.4f", k, share, want);
    }
    /* Equal loads: a fair coin between the two. */
    for (int i = 0; i < 10; i++)
        atomic_store(&fx.e[i]->inflight, 0);
    memset(count, 0, sizeof count);
    for (size_t k = 0; k < picks; k++)
        count[lb_fx_pick(&fx)]++;
    for (int k = 0; k < 10; k++)
        assert_true(count[k] > 19000 && count[k] < 21000);
    lb_fx_free(&fx);
}

static void peak_ewma_avoids_slow_endpoint(void **state)
{
    (void)state;
    lb_fx fx = lb_fx_new("peak_ewma", 3, NULL);
    /* One instant for all, so the decays are equal and a, b tie. */
    svc_time now = svc_now();
    svc_peak_ewma_observe(&fx.e[0]->ewma, 1 * SVC_NSEC_PER_MSEC, now);
    svc_peak_ewma_observe(&fx.e[1]->ewma, 1 * SVC_NSEC_PER_MSEC, now);
    svc_peak_ewma_observe(&fx.e[2]->ewma, 10 * SVC_NSEC_PER_MSEC, now);
    size_t count[3] = {0}, picks = 30000;
    for (size_t k = 0; k < picks; k++)
        count[lb_fx_pick(&fx)]++;
    /* The slow one loses every pair it is in. */
    assert_int_equal(count[2], 0);
    assert_true(count[0] > 14000 && count[1] > 14000);
    /* 20 calls in flight make a cost 21 ms: now it loses to both. */
    atomic_store(&fx.e[0]->inflight, 20);
    memset(count, 0, sizeof count);
    for (size_t k = 0; k < picks; k++)
        count[lb_fx_pick(&fx)]++;
    assert_int_equal(count[0], 0);
    assert_true(count[1] > 19000 && count[1] < 21000); /* 2/3 */
    assert_true(count[2] > 9000 && count[2] < 11000);  /* 1/3 */
    /* A new endpoint (no latency yet) with a call in flight waits for its
     * first answer rather than drawing every call. */
    atomic_store(&fx.e[0]->inflight, 0);
    svc_peak_ewma_init(&fx.e[1]->ewma, 0, now);
    atomic_store(&fx.e[1]->inflight, 1);
    memset(count, 0, sizeof count);
    for (size_t k = 0; k < picks; k++)
        count[lb_fx_pick(&fx)]++;
    assert_int_equal(count[1], 0);
    lb_fx_free(&fx);
}

/* Every policy, keyed or not, over 5 endpoints of which `out` are out. */
static void check_skips(const char *policy, const bool out[5])
{
    lb_fx fx = lb_fx_new(policy, 5, (const uint32_t[]){1, 2, 3, 2, 1});
    bool any = false;
    for (int i = 0; i < 5; i++) {
        atomic_store(&fx.e[i]->unhealthy, out[i]);
        any |= !out[i];
    }
    for (uint64_t k = 0; k < 2000; k++) {
        svc_lb_pick p = k % 2 ? lb_fx_key(k) : (svc_lb_pick){0};
        svc_endpoint *e = fx.ops->pick(fx.st, &p);
        if (!any) {
            assert_null(e);
            continue;
        }
        if (out[lb_fx_index(&fx, e)])
            fail_msg("%s picked endpoint %zu, which is out", policy, lb_fx_index(&fx, e));
    }
    lb_fx_free(&fx);
}

static void unusable_endpoints_skipped(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_POLICIES; i++) {
        check_skips(all_policies[i], (const bool[]){false, true, false, true, false});
        check_skips(all_policies[i], (const bool[]){true, true, true, true, false});
        check_skips(all_policies[i], (const bool[]){true, true, true, true, true});
    }
}

static void empty_set(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_POLICIES; i++) {
        lb_fx fx = lb_fx_new(all_policies[i], 0, NULL);
        svc_lb_pick keyed = lb_fx_key(1), plain = {0};
        assert_null(fx.ops->pick(fx.st, &keyed));
        assert_null(fx.ops->pick(fx.st, &plain));
        /* And back: a set after an empty one. */
        lb_fx more = {0};
        lb_fx_endpoints(&more, 2, NULL);
        assert_int_equal(fx.ops->update(fx.st, more.e, 2), SVC_OK);
        assert_non_null(fx.ops->pick(fx.st, &keyed));
        assert_int_equal(fx.ops->update(fx.st, NULL, 0), SVC_OK);
        lb_fx_free(&more);
        lb_fx_free(&fx);
    }
}

/* A user policy: always the last usable endpoint. */
static svc_endpoint *last_pick(void *st, const svc_lb_pick *p)
{
    (void)p;
    svc_lb_eps *s = st;
    for (size_t i = s->n; i-- > 0;)
        if (svc_endpoint_usable(s->v[i]))
            return s->v[i];
    return NULL;
}

static const svc_lb_policy_ops last_policy = {
    .name = "test_last",
    .create = svc_lb_eps_create,
    .update = svc_lb_eps_update,
    .pick = last_pick,
    .destroy = svc_lb_eps_destroy,
};

static void user_policy_registration(void **state)
{
    (void)state;
    assert_null(svc_lb_policy_find("test_last"));
    assert_int_equal(svc_lb_policy_register(&last_policy), SVC_OK);
    assert_ptr_equal(svc_lb_policy_find("test_last"), &last_policy);
    lb_fx fx = lb_fx_new("test_last", 4, NULL);
    assert_int_equal(lb_fx_pick(&fx), 3);
    lb_fx_free(&fx);
    assert_int_equal(svc_lb_policy_register(&last_policy), SVC_ALREADY_EXISTS);
    assert_non_null(strstr(svc_last_error(), "test_last"));
    svc_lb_policy_ops clash = last_policy;
    clash.name = "round_robin";
    assert_int_equal(svc_lb_policy_register(&clash), SVC_ALREADY_EXISTS);
    assert_ptr_equal(svc_lb_policy_find("round_robin"), &svc_lb_round_robin);
    svc_lb_policy_ops partial = last_policy;
    partial.name = "test_partial";
    partial.pick = NULL;
    assert_int_equal(svc_lb_policy_register(&partial), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_lb_policy_register(NULL), SVC_INVALID_ARGUMENT);
    assert_null(svc_lb_policy_find("test_partial"));
    assert_null(svc_lb_policy_find("no_such_policy"));
    assert_null(svc_lb_policy_find(NULL));
    for (size_t i = 0; i < N_POLICIES; i++)
        assert_string_equal(svc_lb_policy_find(all_policies[i])->name, all_policies[i]);
}

static void check_bad_config(const char *policy, const char *config, const char *message)
{
    void *st = NULL;
    assert_int_equal(svc_lb_policy_find(policy)->create(config, &st), SVC_INVALID_ARGUMENT);
    assert_null(st);
    if (!strstr(svc_last_error(), message))
        fail_msg("%s '%s': message '%s' lacks '%s'", policy, config, svc_last_error(), message);
}

static void check_good_config(const char *policy, const char *config)
{
    lb_fx fx = {0};
    lb_fx_endpoints(&fx, 3, NULL);
    lb_fx_policy(&fx, policy, config);
    assert_non_null(fx.ops->pick(fx.st, &(svc_lb_pick){.hash = 42, .has_hash = true}));
    lb_fx_free(&fx);
}

static void policy_configs(void **state)
{
    (void)state;
    check_good_config("ring_hash", "min_ring_size=64,max_ring_size=4096");
    check_good_config("ring_hash", " max_ring_size=2048 ");
    check_good_config("ring_hash", "");
    check_good_config("maglev", "table_size=131071");
    check_good_config("maglev", "table_size=7"); /* grows to 100 x 3 */
    check_good_config("round_robin", "whatever=1");
    check_bad_config("ring_hash", "min_ring_size=abc", "ring_hash: min_ring_size must be");
    check_bad_config("ring_hash", "min_ring_size=-5", "not '-5'");
    check_bad_config("ring_hash", "min_ring_size=0", "from 1 to 8388608");
    check_bad_config("ring_hash", "max_ring_size=99999999999999999999999", "max_ring_size");
    check_bad_config("ring_hash", "min_ring_size=5000,max_ring_size=100", "above max_ring_size");
    check_bad_config("ring_hash", "ring_size=5", "unknown option 'ring_size' (it takes "
                                                "min_ring_size, max_ring_size)");
    check_bad_config("ring_hash", "min_ring_size", "is not name=value");
    check_bad_config("ring_hash", "min_ring_size=10,,", "is not name=value");
    check_bad_config("maglev", "table_size=65536", "table_size must be a prime, not 65536");
    check_bad_config("maglev", "table_size=0", "from 3 to");
    check_bad_config("maglev", "table_size=", "not ''");
    check_bad_config("maglev", "min_ring_size=1024", "unknown option");
}

typedef struct picker {
    lb_fx *fx;
    int picks;
    bool ok;
} picker;

/* Picks on one thread while the test's thread moves the load around. */
static void *pick_many(void *arg)
{
    picker *pk = arg;
    pk->ok = true;
    for (int k = 0; k < pk->picks; k++) {
        svc_lb_pick p = lb_fx_key((uint64_t)k);
        svc_endpoint *e = pk->fx->ops->pick(pk->fx->st, &p);
        pk->ok &= e != NULL;
        if (e) {
            atomic_fetch_add(&e->inflight, 1);
            atomic_fetch_sub(&e->inflight, 1);
        }
    }
    return NULL;
}

static void concurrent_picks(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_POLICIES; i++) {
        lb_fx fx = lb_fx_new(all_policies[i], 50, NULL);
        picker pk[2] = {{&fx, 20000, false}, {&fx, 20000, false}};
        pthread_t th[2];
        for (int t = 0; t < 2; t++)
            assert_int_equal(pthread_create(&th[t], NULL, pick_many, &pk[t]), 0);
        for (int k = 0; k < 2000; k++) {
            svc_endpoint *e = fx.e[k % 50];
            svc_peak_ewma_observe(&e->ewma, (k % 7 + 1) * SVC_NSEC_PER_MSEC, svc_now());
            atomic_store(&e->unhealthy, k % 3 == 0 && e != fx.e[0]); /* one always in */
        }
        for (int t = 0; t < 2; t++) {
            pthread_join(th[t], NULL);
            if (!pk[t].ok)
                fail_msg("%s: a pick found nothing while some were usable", all_policies[i]);
        }
        lb_fx_free(&fx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pick_first_in_order),
        cmocka_unit_test(round_robin_sequence),
        cmocka_unit_test(smooth_weighted_sequences),
        cmocka_unit_test(weighted_fallback_shares),
        cmocka_unit_test(random_distribution),
        cmocka_unit_test(least_request_distribution),
        cmocka_unit_test(peak_ewma_avoids_slow_endpoint),
        cmocka_unit_test(unusable_endpoints_skipped),
        cmocka_unit_test(empty_set),
        cmocka_unit_test(user_policy_registration),
        cmocka_unit_test(policy_configs),
        cmocka_unit_test(concurrent_picks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
