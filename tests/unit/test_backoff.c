#include <stdlib.h>

#include "cmocka_all.h"
#include "lb/backoff.h"

#define DRAWS 20000

/* Draws DRAWS waits for `retry` and checks they fill [0, bound]: none
 * above, some in the bottom and top tenth, the mean near bound / 2. */
static void check_bound(const svc_retry_policy *p, int retry, int64_t bound)
{
    uint64_t rng = 0;
    int64_t lo = bound, hi = 0;
    double sum = 0;
    for (int i = 0; i < DRAWS; i++) {
        int64_t w = svc_backoff_ms(p, retry, &rng);
        assert_true(w >= 0 && w <= bound);
        lo = w < lo ? w : lo;
        hi = w > hi ? w : hi;
        sum += (double)w;
    }
    assert_true(lo <= bound / 10);
    assert_true(hi >= bound - bound / 10);
    double mean = sum / DRAWS;
    /* The sd of the mean is bound / sqrt(12 DRAWS) < 0.003 bound. */
    assert_true(mean > 0.47 * (double)bound && mean < 0.53 * (double)bound);
}

static void defaults_grow_and_stop(void **state)
{
    (void)state;
    svc_retry_policy p = {0};
    check_bound(&p, 1, 50);
    check_bound(&p, 2, 100);
    check_bound(&p, 3, 200);
    check_bound(&p, 6, 1600);
    check_bound(&p, 7, 2000); /* 3200 capped */
    check_bound(&p, 60, 2000);
    check_bound(&p, 5000, 2000); /* pow() overflows to inf: still the cap */
}

static void custom_policy(void **state)
{
    (void)state;
    svc_retry_policy p = {.initial_backoff_ms = 100, .max_backoff_ms = 1000,
                          .backoff_multiplier = 1.5};
    check_bound(&p, 1, 100);
    check_bound(&p, 3, 225);
    check_bound(&p, 7, 1000); /* 1139 capped */
    /* A multiplier below 1 shrinks the bound. */
    p.backoff_multiplier = 0.5;
    check_bound(&p, 3, 25);
}

static void rand_is_spread(void **state)
{
    (void)state;
    /* Each of the 64 bits is set about half the time. */
    int ones[64] = {0};
    for (int i = 0; i < 4096; i++) {
        uint64_t r = svc_lb_rand();
        for (int b = 0; b < 64; b++)
            ones[b] += (int)((r >> b) & 1);
    }
    for (int b = 0; b < 64; b++)
        assert_true(ones[b] > 1748 && ones[b] < 2348); /* 2048 +- 6.6 sd */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_grow_and_stop),
        cmocka_unit_test(custom_policy),
        cmocka_unit_test(rand_is_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
