/* etcd going away and coming back (fixture etcd_restart, stopped and
 * restarted by the test): resolvers report the outage once, keep their
 * list and recover; registrations retry, and re-grant their leases when a
 * restarted etcd lost them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../unit/cmocka_all.h"
#include "../../unit/disc_recorder.h"
#include "discovery/resolver.h"
#include "etcd_test_util.h"

static const size_t one = 1, two = 2, zero = 0;

static void outage_and_recovery(void **state)
{
    (void)state;
    char registry[64];
    etcd_registry_url("etcd_restart", registry, sizeof registry);
    svc_ctx_config cfg;
    svc_ctx_config_init(&cfg);
    svc_ctx *ctx;
    assert_int_equal(svc_ctx_new(&cfg, &ctx), SVC_OK);
    const svc_resolver_ops *ops = svc_resolver_find(registry);
    assert_non_null(ops);

    const int ttl = 3;
    svc_endpoint_info ep1 = {.url = "grpc://127.0.0.1:4001", .id = "r1", .weight = 1};
    void *r1 = NULL;
    assert_int_equal(ops->register_endpoint(ctx, registry, "restart", &ep1, ttl, &r1), SVC_OK);
    disc_recorder rec;
    disc_recorder_init(&rec);
    void *st = NULL;
    assert_int_equal(ops->start(ctx, registry, "restart", disc_recorder_update, &rec, &st), SVC_OK);
    assert_true(disc_recorder_wait(&rec, 3000, disc_has_n, &one));

    /* Down: one failed update, the list is kept. */
    etcd_ctl("stop", "etcd_restart", NULL);
    assert_true(disc_recorder_wait(&rec, 3000, disc_failed, NULL));
    assert_int_equal(rec.code, SVC_UNAVAILABLE);
    printf("# while down: \"%s\"\n", rec.msg);
    assert_non_null(strstr(rec.msg, "etcd"));
    assert_int_equal(rec.list.n, 1);

    /* Registering while it is down: UNAVAILABLE after a short attempt,
     * retried in the background. */
    svc_endpoint_info ep2 = {.url = "grpc://127.0.0.1:4002", .id = "r2", .weight = 1};
    void *r2 = NULL;
    svc_time t0 = svc_now();
    assert_int_equal(ops->register_endpoint(ctx, registry, "restart", &ep2, ttl, &r2),
                     SVC_UNAVAILABLE);
    assert_true(ms_since(t0) < 3000);
    assert_non_null(r2);
    assert_non_null(strstr(svc_last_error(), "retrying"));
    /* A second resolver started now hears of the outage first. */
    disc_recorder rec2;
    disc_recorder_init(&rec2);
    void *st2 = NULL;
    assert_int_equal(ops->start(ctx, registry, "restart", disc_recorder_update, &rec2, &st2),
                     SVC_OK);
    assert_true(disc_recorder_wait(&rec2, 3000, disc_failed, NULL));
    /* Failures are not repeated while the outage lasts. */
    int failures = rec.failures;
    usleep(2500 * 1000);
    assert_int_equal(rec.failures, failures);

    /* Back with its data gone: the resolvers recover, r1's keepalive finds
     * its lease gone and registers again, r2 gets in at last. */
    etcd_ctl("restart", "etcd_restart", "--wipe");
    t0 = svc_now();
    assert_true(disc_recorder_wait(&rec, 10000, disc_has_n, &two));
    assert_true(disc_recorder_wait(&rec2, 3000, disc_has_n, &two));
    printf("# both registered again %lld ms after the restart\n", (long long)ms_since(t0));

    /* Back with its data: leases survive, nothing to redo. */
    etcd_ctl("stop", "etcd_restart", NULL);
    assert_true(disc_recorder_wait(&rec, 3000, disc_failed, NULL));
    etcd_ctl("restart", "etcd_restart", NULL);
    assert_true(disc_recorder_wait(&rec, 10000, disc_has_n, &two));

    ops->deregister(r1);
    ops->deregister(r2);
    assert_true(disc_recorder_wait(&rec, 2000, disc_has_n, &zero));
    ops->stop(st);
    ops->stop(st2);
    disc_recorder_free(&rec);
    disc_recorder_free(&rec2);
    svc_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outage_and_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
