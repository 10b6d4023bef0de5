#include <string.h>

#include "cmocka_all.h"
#include "core/clock.h"

static void timeout_format(void **state)
{
    (void)state;
    char out[16];
    svc_timeout_format(1, out);
    assert_string_equal(out, "1n");
    svc_timeout_format(99999999, out);
    assert_string_equal(out, "99999999n");
    svc_timeout_format(100000000, out); /* 100 ms no longer fits in ns */
    assert_string_equal(out, "100000u");
    svc_timeout_format(1500 * SVC_NSEC_PER_MSEC + 1, out); /* rounds up */
    assert_string_equal(out, "1500001u");
    svc_timeout_format(3600 * SVC_NSEC_PER_SEC * 200, out);
    assert_string_equal(out, "720000S");
    svc_timeout_format(INT64_C(3000000000) * SVC_NSEC_PER_SEC, out);
    assert_string_equal(out, "50000000M");
    svc_timeout_format(0, out);
    assert_string_equal(out, "1n");
}

static void timeout_parse(void **state)
{
    (void)state;
    int64_t ns;
    assert_true(svc_timeout_parse("250m", 4, &ns));
    assert_int_equal(ns, 250 * SVC_NSEC_PER_MSEC);
    assert_true(svc_timeout_parse("1H", 2, &ns));
    assert_int_equal(ns, 3600 * SVC_NSEC_PER_SEC);
    assert_true(svc_timeout_parse("99999999H", 9, &ns));
    assert_true(ns > 0); /* clamped, never overflowed */
    assert_false(svc_timeout_parse("100", 3, &ns));
    assert_false(svc_timeout_parse("m", 1, &ns));
    assert_false(svc_timeout_parse("123456789m", 10, &ns)); /* 9 digits */
    assert_false(svc_timeout_parse("1x", 2, &ns));
    assert_false(svc_timeout_parse("-1m", 3, &ns));
    /* Every formatted value parses back to at least the original. */
    for (int64_t v = 1; v < INT64_C(1) << 50; v = v * 3 + 7) {
        char out[16];
        svc_timeout_format(v, out);
        assert_true(svc_timeout_parse(out, strlen(out), &ns));
        assert_true(ns >= v);
    }
}

static void duration_parse(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(svc_duration_parse("2s", &ns), SVC_OK);
    assert_int_equal(ns, 2 * SVC_NSEC_PER_SEC);
    assert_int_equal(svc_duration_parse("250ms", &ns), SVC_OK);
    assert_int_equal(ns, 250 * SVC_NSEC_PER_MSEC);
    assert_int_equal(svc_duration_parse("1.5s", &ns), SVC_OK);
    assert_int_equal(ns, 1500 * SVC_NSEC_PER_MSEC);
    assert_int_equal(svc_duration_parse("100", &ns), SVC_OK); /* bare = ms */
    assert_int_equal(ns, 100 * SVC_NSEC_PER_MSEC);
    assert_int_equal(svc_duration_parse("1m", &ns), SVC_OK);
    assert_int_equal(ns, 60 * SVC_NSEC_PER_SEC);
    assert_int_equal(svc_duration_parse("3 s", &ns), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_duration_parse("-1s", &ns), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_duration_parse("1y", &ns), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "unit"));
    assert_int_equal(svc_duration_parse("abc", &ns), SVC_INVALID_ARGUMENT);
}

static void deadlines(void **state)
{
    (void)state;
    assert_int_equal(svc_deadline_min(0, 0), 0);
    assert_int_equal(svc_deadline_min(0, 5), 5);
    assert_int_equal(svc_deadline_min(7, 0), 7);
    assert_int_equal(svc_deadline_min(7, 5), 5);
    svc_time a = svc_now(), b = svc_now();
    assert_true(b >= a);
    assert_true(svc_wall_now() > INT64_C(1600000000) * SVC_NSEC_PER_SEC);
}

/* A peer's timeout too large for the clock is no deadline, not an overflow
 * into the past (a grpc-timeout of 99999999H once made every such call
 * DEADLINE_EXCEEDED at once). */
static void deadline_after(void **state)
{
    (void)state;
    svc_time before = svc_now();
    svc_time d = svc_deadline_after(SVC_NSEC_PER_SEC);
    assert_true(d >= before + SVC_NSEC_PER_SEC && d <= svc_now() + SVC_NSEC_PER_SEC);
    assert_int_equal(svc_deadline_after(INT64_MAX), 0);
    int64_t huge;
    assert_true(svc_timeout_parse("99999999H", 9, &huge));
    assert_int_equal(svc_deadline_after(huge), 0);
    d = svc_deadline_after(0); /* passed already, but still a deadline */
    assert_true(d != 0 && d <= svc_now());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timeout_format),
        cmocka_unit_test(timeout_parse),
        cmocka_unit_test(duration_parse),
        cmocka_unit_test(deadlines),
        cmocka_unit_test(deadline_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
