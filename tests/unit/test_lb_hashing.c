#include <string.h>

#include "lb_fixture.h"

#define KEYS 100000

static int popcount64(uint64_t x)
{
    return __builtin_popcountll(x);
}

static void hash_mixes(void **state)
{
    (void)state;
    assert_int_equal(svc_lb_hash("abc", 3, 0), svc_lb_hash("abc", 3, 0));
    assert_int_not_equal(svc_lb_hash("abc", 3, 0), svc_lb_hash("abc", 3, 1));
    assert_int_not_equal(svc_lb_hash("abc", 3, 0), svc_lb_hash("abd", 3, 0));
    assert_int_not_equal(svc_lb_hash("", 0, 0), svc_lb_hash("\0", 1, 0));
    assert_int_not_equal(svc_lb_hash("\0\0\0\0\0\0\0\0", 8, 0),
                         svc_lb_hash("\0\0\0\0\0\0\0\0\0", 9, 0));
    /* Avalanche: flipping any one input bit flips about half the output
     * bits, for short and long keys (mean of 32 +- 1.5 over many flips). */
    static const size_t lens[] = {3, 8, 13, 40};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        unsigned char key[40];
        long flips = 0, total = 0;
        for (int trial = 0; trial < 200; trial++) {
            for (size_t i = 0; i < lens[l]; i++)
                key[i] = (unsigned char)(trial * 31 + i * 7);
            uint64_t h = svc_lb_hash(key, lens[l], (uint64_t)trial);
            for (size_t bit = 0; bit < lens[l] * 8; bit++) {
                key[bit / 8] ^= (unsigned char)(1u << (bit % 8));
                flips += popcount64(h ^ svc_lb_hash(key, lens[l], (uint64_t)trial));
                total++;
                key[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            }
        }
        double mean = (double)flips / (double)total;
        if (mean < 30.5 || mean > 33.5)
            fail_msg("%zu-byte keys: %.2f bits flip on average", lens[l], mean);
    }
}

/* max / mean of the keys per endpoint over KEYS keys. */
static double imbalance(const lb_fx *fx)
{
    size_t *count = calloc(fx->n, sizeof *count), max = 0;
    assert_non_null(count);
    for (uint64_t k = 0; k < KEYS; k++)
        count[lb_fx_pick_key(fx, k)]++;
    for (size_t i = 0; i < fx->n; i++)
        max = count[i] > max ? count[i] : max;
    free(count);
    return (double)max / ((double)KEYS / (double)fx->n);
}

/* Of the keys not on the endpoint that leaves (number 3 of 10), the share
 * that moves all the same; the keys of the one that left must move. */
static double disruption(const char *policy)
{
    lb_fx fx = lb_fx_new(policy, 10, NULL);
    size_t *before = malloc(KEYS * sizeof *before);
    assert_non_null(before);
    for (uint64_t k = 0; k < KEYS; k++)
        before[k] = lb_fx_pick_key(&fx, k);
    svc_endpoint *nine[9];
    for (size_t i = 0, j = 0; i < 10; i++)
        if (i != 3)
            nine[j++] = fx.e[i];
    assert_int_equal(fx.ops->update(fx.st, nine, 9), SVC_OK);
    size_t stayed = 0, moved = 0;
    for (uint64_t k = 0; k < KEYS; k++) {
        size_t now = lb_fx_pick_key(&fx, k);
        assert_int_not_equal(now, 3);
        if (before[k] != 3) {
            stayed++;
            moved += now != before[k];
        }
    }
    free(before);
    assert_int_equal(fx.ops->update(fx.st, fx.e, 0), SVC_OK);
    lb_fx_free(&fx);
    return (double)moved / (double)stayed;
}

static void ring_hash_balance_and_disruption(void **state)
{
    (void)state;
    lb_fx fx = lb_fx_new("ring_hash", 10, NULL);
    double r = imbalance(&fx);
    print_message("ring_hash: max/mean %.3f over 10 endpoints (128 points each)\n", r);
    assert_true(r <= 1.15);
    lb_fx_free(&fx);
    /* More points, better balance. */
    fx = (lb_fx){0};
    lb_fx_endpoints(&fx, 10, NULL);
    lb_fx_policy(&fx, "ring_hash", "min_ring_size=65536");
    r = imbalance(&fx);
    print_message("ring_hash: max/mean %.3f with min_ring_size=65536\n", r);
    assert_true(r <= 1.06);
    lb_fx_free(&fx);
    /* Only the keys of the endpoint that left move. */
    assert_true(disruption("ring_hash") == 0.0);
}

static void maglev_balance_and_disruption(void **state)
{
    (void)state;
    lb_fx fx = lb_fx_new("maglev", 10, NULL);
    double r = imbalance(&fx);
    print_message("maglev: max/mean %.3f over 10 endpoints\n", r);
    assert_true(r <= 1.05);
    lb_fx_free(&fx);
    double moved = disruption("maglev");
    print_message("maglev: %.2f%% of the other keys moved\n", 100 * moved);
    assert_true(moved <= 0.01);
}

/* Shares of keys by weight (1, 2, 3, 4) within `tol` of w / 10. */
static void check_weighted(const char *policy, double tol)
{
    lb_fx fx = lb_fx_new(policy, 4, (const uint32_t[]){1, 2, 3, 4});
    size_t count[4] = {0};
    for (uint64_t k = 0; k < KEYS; k++)
        count[lb_fx_pick_key(&fx, k)]++;
    for (size_t i = 0; i < 4; i++) {
        double share = (double)count[i] / KEYS, want = (double)(i + 1) / 10;
        if (share < want * (1 - tol) || share > want * (1 + tol))
            fail_msg("%s: weight %zu got %.3f of the keys", policy, i + 1, share);
    }
    lb_fx_free(&fx);
}

static void weights_respected(void **state)
{
    (void)state;
    check_weighted("ring_hash", 0.25);
    check_weighted("maglev", 0.03);
}

static void same_key_same_endpoint(void **state)
{
    (void)state;
    static const char *const policies[] = {"ring_hash", "maglev"};
    for (size_t p = 0; p < 2; p++) {
        lb_fx fx = lb_fx_new(policies[p], 100, NULL);
        for (uint64_t k = 0; k < 1000; k++)
            assert_int_equal(lb_fx_pick_key(&fx, k), lb_fx_pick_key(&fx, k));
        /* A set in another order places the keys the same. */
        lb_fx shuffled = {.e = fx.e, .n = fx.n};
        svc_endpoint **rev = malloc(100 * sizeof *rev);
        assert_non_null(rev);
        for (size_t i = 0; i < 100; i++)
            rev[i] = fx.e[99 - i];
        lb_fx_policy(&shuffled, policies[p], NULL);
        assert_int_equal(shuffled.ops->update(shuffled.st, rev, 100), SVC_OK);
        for (uint64_t k = 0; k < 1000; k++)
            if (lb_fx_pick_key(&shuffled, k) != lb_fx_pick_key(&fx, k))
                fail_msg("%s: key %llu placed by the endpoints' order", policies[p],
                         (unsigned long long)k);
        shuffled.ops->destroy(shuffled.st);
        free(rev);
        /* Without a key: random, every endpoint reached. */
        bool seen[100] = {false};
        size_t distinct = 0;
        for (int k = 0; k < 5000; k++) {
            size_t i = lb_fx_pick(&fx);
            distinct += !seen[i];
            seen[i] = true;
        }
        assert_int_equal(distinct, 100);
        lb_fx_free(&fx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_mixes),
        cmocka_unit_test(ring_hash_balance_and_disruption),
        cmocka_unit_test(maglev_balance_and_disruption),
        cmocka_unit_test(weights_respected),
        cmocka_unit_test(same_key_same_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
