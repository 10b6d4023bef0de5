/* The dns resolver against a real DNS server (dnsmasq, fixture dns_main):
 * SRV priority, weights and ports with their targets' A/AAAA records, the
 * A/AAAA fallback, names that do not exist, the resolve_now() rate limit
 * and TTLs (counted in the server's own query log), and bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <unistd.h>

#include "../../unit/cmocka_all.h"
#include "../../unit/disc_recorder.h"
#include "discovery/resolver.h"

static char server[64]; /* "dns://127.0.0.1:PORT" */
static svc_ctx *ctx;
static const svc_resolver_ops *ops;

static const char *dir(void)
{
    const char *d = getenv("DISC_DIR");
    if (!d)
        fail_msg("DISC_DIR is not set: run the test through ctest");
    return d;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(server, sizeof server, "dns://127.0.0.1:%d", disc_fixture_port("dns_main"));
    svc_ctx_config cfg;
    svc_ctx_config_init(&cfg);
    ops = svc_resolver_find(server);
    return !ops || svc_ctx_new(&cfg, &ctx) != SVC_OK;
}

static int group_teardown(void **state)
{
    (void)state;
    svc_ctx_free(ctx);
    return 0;
}

static void *start(const char *query, const char *name, disc_recorder *rec)
{
    char url[160];
    snprintf(url, sizeof url, "%s%s", server, query);
    void *st = NULL;
    assert_int_equal(ops->start(ctx, url, name, disc_recorder_update, rec, &st), SVC_OK);
    return st;
}

static const size_t one = 1, two = 2, three = 3;

static void check_greeter(disc_recorder *rec)
{
    /* Priority 0: host1 (weight 10) and host2 (weight 30, A and AAAA);
     * host3 has priority 1 and is left out. */
    assert_true(disc_recorder_wait(rec, 3000, disc_has_n, &three));
    const svc_endpoint_info *e = disc_find(rec, "grpc://127.0.0.1:5001");
    assert_non_null(e);
    assert_int_equal(e->weight, 10);
    assert_string_equal(e->id, "127.0.0.1:5001");
    assert_int_equal(disc_find(rec, "grpc://127.0.0.2:5002")->weight, 30);
    assert_int_equal(disc_find(rec, "grpc://[::2]:5002")->weight, 30);
    assert_null(disc_find(rec, "grpc://127.0.0.3:5003"));
}

static void srv_records(void **state)
{
    (void)state;
    disc_recorder rec;
    disc_recorder_init(&rec);
    void *st = start("", "greeter.svc.test", &rec);
    check_greeter(&rec);
    ops->stop(st);
    disc_recorder_free(&rec);

    /* The SRV name itself, and a trailing dot. */
    disc_recorder_init(&rec);
    st = start("", "_grpc._tcp.greeter.svc.test.", &rec);
    check_greeter(&rec);
    ops->stop(st);
    disc_recorder_free(&rec);

    /* scheme= picks the SRV service label and the URL scheme; a weight of
     * 0 counts as 1. */
    disc_recorder_init(&rec);
    st = start("/?scheme=http", "greeter.svc.test", &rec);
    assert_true(disc_recorder_wait(&rec, 3000, disc_has_n, &one));
    assert_int_equal(disc_find(&rec, "http://127.0.0.1:8080")->weight, 1);
    ops->stop(st);
    disc_recorder_free(&rec);
}

static void missing_names(void **state)
{
    (void)state;
    const char *names[] = {"nosuch.svc.test", "_grpc._tcp.nosuch.svc.test",
                           "orphan.svc.test" /* SRV target without addresses */};
    for (size_t i = 0; i < 3; i++) {
        disc_recorder rec;
        disc_recorder_init(&rec);
        void *st = start("", names[i], &rec);
        assert_true(disc_recorder_wait(&rec, 3000, disc_failed, NULL));
        assert_int_equal(rec.code, SVC_NOT_FOUND);
        printf("# %s: \"%s\"\n", names[i], rec.msg);
        assert_non_null(strstr(rec.msg, strchr(names[i], '.') + 1));
        ops->stop(st);
        disc_recorder_free(&rec);
    }
    /* No server there at all. */
    disc_recorder rec;
    disc_recorder_init(&rec);
    void *st = NULL;
    assert_int_equal(ops->start(ctx, "dns://127.0.0.1:9", "greeter.svc.test",
                                disc_recorder_update, &rec, &st),
                     SVC_OK);
    assert_true(disc_recorder_wait(&rec, 5000, disc_failed, NULL));
    assert_int_equal(rec.code, SVC_UNAVAILABLE);
    printf("# no server: \"%s\"\n", rec.msg);
    assert_non_null(strstr(rec.msg, "_grpc._tcp.greeter.svc.test"));
    ops->stop(st);
    disc_recorder_free(&rec);
}

static void write_hosts(const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/dns_hosts/plain", dir());
    disc_write_file(path, text);
}

/* A queries for plain.svc.test the server has logged so far. */
static int a_queries(void)
{
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/dns_main.log", dir());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "query[A] plain.svc.test ") != NULL;
    fclose(f);
    return n;
}

static void a_fallback_ttl_and_rate_limit(void **state)
{
    (void)state;
    write_hosts("127.0.0.10 plain.svc.test\n");
    disc_recorder rec;
    disc_recorder_init(&rec);
    /* The server's TTL is 60 s; at most one look a second on request. */
    void *st = start("?scheme=http&port=7000&min_interval=1", "plain.svc.test", &rec);
    assert_true(disc_recorder_wait(&rec, 3000, disc_has_url, "http://127.0.0.10:7000"));
    assert_int_equal(disc_find(&rec, "http://127.0.0.10:7000")->weight, 1);

    /* Nothing asked, the TTL not run out: no lookups. */
    usleep(200 * 1000);
    int before = a_queries();
    usleep(2000 * 1000);
    assert_int_equal(a_queries(), before);

    /* 20 requests in 2.5 s: one lookup a second at most. */
    for (int i = 0; i < 20; i++) {
        ops->resolve_now(st);
        usleep(125 * 1000);
    }
    usleep(300 * 1000);
    int looks = a_queries() - before;
    printf("# %d lookups for 20 resolve_now() calls in 2.5 s\n", looks);
    assert_true(looks >= 2 && looks <= 3);

    /* A change is seen on the next requested look. */
    write_hosts("127.0.0.10 plain.svc.test\n127.0.0.11 plain.svc.test\n");
    usleep(300 * 1000); /* dnsmasq re-reads the file when inotify tells it */
    ops->resolve_now(st);
    assert_true(disc_recorder_wait(&rec, 2000, disc_has_n, &two));
    assert_non_null(disc_find(&rec, "http://127.0.0.11:7000"));
    assert_int_equal(rec.failures, 0);
    ops->stop(st);
    disc_recorder_free(&rec);
}

static void bad_input(void **state)
{
    (void)state;
    disc_recorder rec;
    disc_recorder_init(&rec);
    const char *urls[] = {"dns://", "dns:x", "dns://127.0.0.1:53?port=0",
                          "dns://127.0.0.1:53?port=x", "dns://127.0.0.1:53?min_interval=0",
                          "dns://127.0.0.1:53?scheme=a%20b", "dns://127.0.0.1:53?scheme=",
                          "dns://127.0.0.1:53,127.0.0.2:53", "dns://[::1"};
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        void *st = NULL;
        svc_code rc = ops->start(ctx, urls[i], "greeter.svc.test", disc_recorder_update, &rec, &st);
        if (rc != SVC_INVALID_ARGUMENT)
            fail_msg("%s: %d (%s)", urls[i], rc, svc_last_error());
        assert_null(st);
    }
    const char *names[] = {"", "a b.svc.test", "a/b", NULL};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        void *st = NULL;
        assert_int_equal(ops->start(ctx, server, names[i], disc_recorder_update, &rec, &st),
                         SVC_INVALID_ARGUMENT);
    }
    assert_int_equal(rec.updates, 0);
    /* The system's resolver: parsed and started (what it answers depends on
     * the host, so nothing is asked of it here). */
    void *st = NULL;
    assert_ptr_equal(svc_resolver_find("dns:"), ops);
    assert_int_equal(ops->start(ctx, "dns:?min_interval=60", "localhost", disc_recorder_update,
                                &rec, &st),
                     SVC_OK);
    ops->stop(st);
    disc_recorder_free(&rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(srv_records),
        cmocka_unit_test(missing_names),
        cmocka_unit_test(a_fallback_ttl_and_rate_limit),
        cmocka_unit_test(bad_input),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
