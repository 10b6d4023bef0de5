#include <string.h>

#include "cmocka_all.h"
#include "lb/outlier.h"

#define SEC SVC_NSEC_PER_SEC
#define T0 (1000 * SEC)

/* Records `n` outcomes of `code` on `ep`; whether the last one ejected. */
static bool record_n(svc_outlier *d, svc_outlier_ep *ep, svc_code code, int n, size_t eps,
                     svc_time now)
{
    bool ejected = false;
    for (int i = 0; i < n; i++)
        ejected = svc_outlier_record(d, ep, code, eps, now);
    return ejected;
}

static void defaults(void **state)
{
    (void)state;
    svc_outlier d;
    svc_outlier_init(&d, NULL);
    assert_int_equal(d.o.consecutive_failures, 5);
    assert_int_equal(d.o.consecutive_gateway_failures, 3);
    assert_int_equal(d.o.base_ejection_ms, 10000);
    assert_int_equal(d.o.max_ejection_ms, 300000);
    assert_int_equal(d.o.max_ejection_percent, 50);
    svc_outlier_init(&d, &(svc_outlier_opts){.max_ejection_percent = 250});
    assert_int_equal(d.o.max_ejection_percent, 100);
}

static void ejection_and_return(void **state)
{
    (void)state;
    svc_outlier d;
    svc_outlier_init(&d, NULL);
    svc_outlier_ep ep = {0};
    for (int i = 0; i < 4; i++)
        assert_false(svc_outlier_record(&d, &ep, SVC_INTERNAL, 4, T0));
    assert_false(svc_outlier_ejected(&d, &ep, T0));
    assert_true(svc_outlier_record(&d, &ep, SVC_DEADLINE_EXCEEDED, 4, T0));
    assert_int_equal(atomic_load(&d.ejected_now), 1);
    assert_true(svc_outlier_ejected(&d, &ep, T0));
    assert_true(svc_outlier_ejected(&d, &ep, T0 + 10 * SEC - 1));
    /* Failures of calls still in flight do not eject it again. */
    assert_false(record_n(&d, &ep, SVC_INTERNAL, 5, 4, T0 + SEC));
    assert_false(svc_outlier_ejected(&d, &ep, T0 + 10 * SEC));
    assert_int_equal(atomic_load(&d.ejected_now), 0);
    assert_int_equal(atomic_load(&ep.ejected_until), 0);
}

static void runs_are_consecutive(void **state)
{
    (void)state;
    svc_outlier d;
    svc_outlier_init(&d, NULL);
    svc_outlier_ep ep = {0};
    /* A success, or an answer that is not a failure, ends the run. */
    assert_false(record_n(&d, &ep, SVC_INTERNAL, 4, 4, T0));
    assert_false(svc_outlier_record(&d, &ep, SVC_OK, 4, T0));
    assert_false(record_n(&d, &ep, SVC_UNKNOWN, 4, 4, T0));
    assert_false(svc_outlier_record(&d, &ep, SVC_NOT_FOUND, 4, T0));
    assert_false(record_n(&d, &ep, SVC_DATA_LOSS, 4, 4, T0));
    assert_false(svc_outlier_ejected(&d, &ep, T0));
    /* Three gateway failures (UNAVAILABLE) in a row are enough... */
    svc_outlier_ep gw = {0};
    assert_true(record_n(&d, &gw, SVC_UNAVAILABLE, 3, 4, T0));
    /* ...but another failure in between restarts the gateway run. */
    svc_outlier_ep mixed = {0};
    assert_false(record_n(&d, &mixed, SVC_UNAVAILABLE, 2, 4, T0));
    assert_false(svc_outlier_record(&d, &mixed, SVC_INTERNAL, 4, T0));
    assert_false(record_n(&d, &mixed, SVC_UNAVAILABLE, 1, 4, T0));
    /* That was the fifth failure in a row of any kind. */
    assert_true(svc_outlier_record(&d, &mixed, SVC_UNAVAILABLE, 4, T0));
}

static void detectors_can_be_off(void **state)
{
    (void)state;
    svc_outlier d;
    svc_outlier_init(&d, &(svc_outlier_opts){.consecutive_failures = -1});
    svc_outlier_ep ep = {0};
    assert_false(record_n(&d, &ep, SVC_INTERNAL, 100, 4, T0));
    assert_true(record_n(&d, &ep, SVC_UNAVAILABLE, 3, 4, T0));
    svc_outlier_init(&d, &(svc_outlier_opts){.consecutive_gateway_failures = -1});
    svc_outlier_ep ep2 = {0};
    assert_false(record_n(&d, &ep2, SVC_UNAVAILABLE, 4, 4, T0));
    assert_true(svc_outlier_record(&d, &ep2, SVC_UNAVAILABLE, 4, T0));
}

/* Ejects `ep` at `now` with five failures; how long for, in seconds. */
static int64_t eject_secs(svc_outlier *d, svc_outlier_ep *ep, svc_time now)
{
    assert_true(record_n(d, ep, SVC_INTERNAL, 5, 4, now));
    int64_t until = atomic_load(&ep->ejected_until);
    assert_false(svc_outlier_ejected(d, ep, until)); /* it returns */
    return (until - now) / SEC;
}

static void ejection_time_grows_and_heals(void **state)
{
    (void)state;
    svc_outlier d;
    svc_outlier_init(&d, &(svc_outlier_opts){.max_ejection_ms = 35000});
    svc_outlier_ep ep = {0};
    svc_time t = T0;
    assert_int_equal(eject_secs(&d, &ep, t), 10);
    t += 10 * SEC;
    assert_int_equal(eject_secs(&d, &ep, t), 20);
    t += 20 * SEC;
    assert_int_equal(eject_secs(&d, &ep, t), 30);
    t += 30 * SEC;
    assert_int_equal(eject_secs(&d, &ep, t), 35); /* 40 capped */
    t += 35 * SEC;
    assert_int_equal(atomic_load(&ep.times_ejected), 4);
    /* 25 s of health take two off the count: the next one is the third. */
    t += 25 * SEC;
    assert_int_equal(eject_secs(&d, &ep, t), 30);
    /* A long healthy stretch forgives everything. */
    t += 30 * SEC + 3600 * SEC;
    assert_int_equal(eject_secs(&d, &ep, t), 10);
}

static void ejected_percent_is_capped(void **state)
{
    (void)state;
    svc_outlier d;
    svc_outlier_init(&d, NULL);
    svc_outlier_ep ep[10];
    memset(ep, 0, sizeof ep);
    for (int i = 0; i < 5; i++)
        assert_true(record_n(&d, &ep[i], SVC_UNAVAILABLE, 3, 10, T0));
    /* Half of ten are out: the sixth stays in however often it fails. */
    assert_false(record_n(&d, &ep[5], SVC_UNAVAILABLE, 10, 10, T0));
    assert_false(svc_outlier_ejected(&d, &ep[5], T0));
    assert_int_equal(atomic_load(&d.ejected_now), 5);
    /* Once one returns, its next failure ejects it. */
    assert_false(svc_outlier_ejected(&d, &ep[0], T0 + 10 * SEC));
    assert_true(svc_outlier_record(&d, &ep[5], SVC_UNAVAILABLE, 10, T0 + 10 * SEC));
    /* An endpoint that leaves frees its place. */
    svc_outlier_forget(&d, &ep[1]);
    assert_int_equal(atomic_load(&d.ejected_now), 4);
    assert_true(record_n(&d, &ep[6], SVC_UNAVAILABLE, 3, 10, T0 + 10 * SEC));
    assert_false(record_n(&d, &ep[7], SVC_UNAVAILABLE, 3, 10, T0 + 10 * SEC));
}

static void at_least_one_may_go(void **state)
{
    (void)state;
    svc_outlier d;
    svc_outlier_init(&d, &(svc_outlier_opts){.max_ejection_percent = 10});
    svc_outlier_ep ep[3];
    memset(ep, 0, sizeof ep);
    /* 10% of 3 rounds to none; one is allowed all the same. */
    assert_true(record_n(&d, &ep[0], SVC_UNAVAILABLE, 3, 3, T0));
    assert_false(record_n(&d, &ep[1], SVC_UNAVAILABLE, 3, 3, T0));
    svc_outlier_init(&d, NULL);
    svc_outlier_ep alone = {0};
    assert_true(record_n(&d, &alone, SVC_UNAVAILABLE, 3, 1, T0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(ejection_and_return),
        cmocka_unit_test(runs_are_consecutive),
        cmocka_unit_test(detectors_can_be_off),
        cmocka_unit_test(ejection_time_grows_and_heals),
        cmocka_unit_test(ejected_percent_is_capped),
        cmocka_unit_test(at_least_one_may_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
