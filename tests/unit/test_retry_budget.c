#include <pthread.h>

#include "cmocka_all.h"
#include "lb/retry_budget.h"

static void fail_n(svc_retry_tokens *t, int n)
{
    for (int i = 0; i < n; i++)
        svc_retry_tokens_failure(t);
}

static void succeed_n(svc_retry_tokens *t, int n)
{
    for (int i = 0; i < n; i++)
        svc_retry_tokens_success(t);
}

static void defaults(void **state)
{
    (void)state;
    svc_retry_tokens t;
    svc_retry_tokens_init(&t, NULL);
    assert_int_equal(t.max_milli, 100000);
    assert_int_equal(t.ratio_milli, 100);
    fail_n(&t, 49); /* 51 tokens > 50 */
    assert_true(svc_retry_tokens_allow(&t));
    fail_n(&t, 1); /* 50 tokens: not more than half */
    assert_false(svc_retry_tokens_allow(&t));
}

/* gRPC's usual service-config values: the arithmetic step by step. */
static const svc_retry_budget grpc_usual = {.max_tokens = 10, .token_ratio = 0.1};

static void half_the_bucket(void **state)
{
    (void)state;
    svc_retry_tokens t;
    svc_retry_tokens_init(&t, &grpc_usual);
    assert_int_equal(t.max_milli, 10000);
    assert_true(svc_retry_tokens_allow(&t));
    fail_n(&t, 4); /* 6 tokens > 5 */
    assert_true(svc_retry_tokens_allow(&t));
    fail_n(&t, 1); /* 5 tokens: not more than half */
    assert_int_equal(atomic_load(&t.milli), 5000);
    assert_false(svc_retry_tokens_allow(&t));
    succeed_n(&t, 1); /* 5.1 */
    assert_int_equal(atomic_load(&t.milli), 5100);
    assert_true(svc_retry_tokens_allow(&t));
}

static void clamped_at_zero_and_max(void **state)
{
    (void)state;
    svc_retry_tokens t;
    svc_retry_tokens_init(&t, &grpc_usual);
    fail_n(&t, 25);
    assert_int_equal(atomic_load(&t.milli), 0);
    succeed_n(&t, 50); /* 5.0 from zero, not from -15 */
    assert_false(svc_retry_tokens_allow(&t));
    succeed_n(&t, 1);
    assert_true(svc_retry_tokens_allow(&t));
    succeed_n(&t, 1000);
    assert_int_equal(atomic_load(&t.milli), 10000);
    fail_n(&t, 5);
    assert_false(svc_retry_tokens_allow(&t));
}

static void custom_budget(void **state)
{
    (void)state;
    svc_retry_tokens t;
    svc_retry_tokens_init(&t, &(svc_retry_budget){.max_tokens = 3, .token_ratio = 0.5});
    fail_n(&t, 1); /* 2 > 1.5 */
    assert_true(svc_retry_tokens_allow(&t));
    fail_n(&t, 1); /* 1 */
    assert_false(svc_retry_tokens_allow(&t));
    succeed_n(&t, 1); /* 1.5: not more than half */
    assert_false(svc_retry_tokens_allow(&t));
    succeed_n(&t, 1); /* 2 */
    assert_true(svc_retry_tokens_allow(&t));
    /* gRPC keeps three decimals of the ratio. */
    svc_retry_tokens_init(&t, &(svc_retry_budget){.max_tokens = 10, .token_ratio = 0.0125});
    assert_int_equal(t.ratio_milli, 13);
}

static void *fail_many(void *arg)
{
    fail_n(arg, 1000);
    return NULL;
}

static void concurrent_updates_not_lost(void **state)
{
    (void)state;
    svc_retry_tokens t;
    svc_retry_tokens_init(&t, &(svc_retry_budget){.max_tokens = 10000});
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, fail_many, &t), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&t.milli), 8000 * 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(half_the_bucket),
        cmocka_unit_test(clamped_at_zero_and_max),
        cmocka_unit_test(custom_budget),
        cmocka_unit_test(concurrent_updates_not_lost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
