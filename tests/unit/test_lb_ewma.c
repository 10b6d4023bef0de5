#include <math.h>

#include "cmocka_all.h"
#include "lb/ewma.h"

#define MS SVC_NSEC_PER_MSEC
#define T0 (1000 * SVC_NSEC_PER_SEC)

static void unknown_is_zero(void **state)
{
    (void)state;
    svc_peak_ewma e;
    svc_peak_ewma_init(&e, 0, T0);
    assert_int_equal(svc_peak_ewma_get(&e, T0), 0);
    assert_int_equal(svc_peak_ewma_get(&e, T0 + 60 * SVC_NSEC_PER_SEC), 0);
    svc_peak_ewma_init(&e, 5 * MS, T0);
    assert_int_equal(svc_peak_ewma_get(&e, T0), 5 * MS);
}

static void peaks_count_at_once(void **state)
{
    (void)state;
    svc_peak_ewma e;
    svc_peak_ewma_init(&e, 10 * MS, T0);
    svc_peak_ewma_observe(&e, 300 * MS, T0 + 1);
    assert_int_equal(svc_peak_ewma_get(&e, T0 + 1), 300 * MS);
    /* A smaller sample at the same instant weighs nothing (w = 1). */
    svc_peak_ewma_observe(&e, 1 * MS, T0 + 1);
    assert_int_equal(svc_peak_ewma_get(&e, T0 + 1), 300 * MS);
}

static void smaller_samples_average_in(void **state)
{
    (void)state;
    svc_peak_ewma e;
    svc_peak_ewma_init(&e, 0, T0);
    svc_peak_ewma_observe(&e, 100 * MS, T0);
    /* One tau later: w = 1/e, cost = 100 ms / e + 10 ms (1 - 1/e). */
    svc_peak_ewma_observe(&e, 10 * MS, T0 + SVC_EWMA_TAU_NS);
    double want = 100e6 * exp(-1) + 10e6 * (1 - exp(-1));
    assert_true(fabs((double)svc_peak_ewma_get(&e, T0 + SVC_EWMA_TAU_NS) - want) < 2);
    /* Many fast samples pull a slow estimate down toward them. */
    for (int i = 1; i <= 100; i++)
        svc_peak_ewma_observe(&e, 10 * MS, T0 + SVC_EWMA_TAU_NS + i * SVC_NSEC_PER_SEC);
    int64_t got = svc_peak_ewma_get(&e, T0 + SVC_EWMA_TAU_NS + 100 * SVC_NSEC_PER_SEC);
    assert_true(got >= 10 * MS - 1 && got < 11 * MS);
}

static void reads_decay_toward_zero(void **state)
{
    (void)state;
    svc_peak_ewma e;
    svc_peak_ewma_init(&e, 0, T0);
    svc_peak_ewma_observe(&e, 100 * MS, T0);
    double one_tau = 100e6 * exp(-1);
    assert_true(fabs((double)svc_peak_ewma_get(&e, T0 + SVC_EWMA_TAU_NS) - one_tau) < 2);
    assert_true(svc_peak_ewma_get(&e, T0 + 10 * SVC_EWMA_TAU_NS) < 5000);
    /* Reading does not change the estimate. */
    assert_int_equal(svc_peak_ewma_get(&e, T0), 100 * MS);
    /* A clock read before the stamp (another thread's older now) is no decay. */
    assert_int_equal(svc_peak_ewma_get(&e, T0 - SVC_NSEC_PER_SEC), 100 * MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_is_zero),
        cmocka_unit_test(peaks_count_at_once),
        cmocka_unit_test(smaller_samples_average_in),
        cmocka_unit_test(reads_decay_toward_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
