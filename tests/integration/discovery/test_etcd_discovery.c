/* Discovery through a real etcd (fixture etcd_main): registrations seen by
 * the resolver's list and watch, a SIGKILLed process dropping out with its
 * lease, malformed values skipped, svc_server_register. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../unit/cmocka_all.h"
#include "../../unit/disc_recorder.h"
#include "discovery/resolver.h"
#include "etcd_test_util.h"

extern char **environ;

static char registry[64];
static svc_ctx *ctx;
static const svc_resolver_ops *ops;

static int group_setup(void **state)
{
    (void)state;
    etcd_registry_url("etcd_main", registry, sizeof registry);
    svc_ctx_config cfg;
    svc_ctx_config_init(&cfg);
    ops = svc_resolver_find(registry);
    return !ops || svc_ctx_new(&cfg, &ctx) != SVC_OK;
}

static int group_teardown(void **state)
{
    (void)state;
    svc_ctx_free(ctx);
    return 0;
}

static void *reg(const char *service, const char *id, const char *url, uint32_t weight,
                 int ttl_s)
{
    static const char *const md[] = {"version", "1.4", NULL};
    svc_endpoint_info ep = {.url = url, .id = id, .zone = "z1", .weight = weight, .md = md};
    void *r = NULL;
    assert_int_equal(ops->register_endpoint(ctx, registry, service, &ep, ttl_s, &r), SVC_OK);
    assert_non_null(r);
    return r;
}

static void *watch(const char *service, disc_recorder *rec)
{
    void *st = NULL;
    assert_int_equal(ops->start(ctx, registry, service, disc_recorder_update, rec, &st), SVC_OK);
    return st;
}

static const size_t zero = 0, one = 1, two = 2;

static void register_list_watch(void **state)
{
    (void)state;
    void *a = reg("orders", "a", "grpc://127.0.0.1:1001", 3, 5);
    void *b = reg("orders", "b", "http://127.0.0.1:1002", 1, 5);
    /* Another service's instance is not listed. */
    void *other = reg("ordersx", "x", "grpc://127.0.0.1:1009", 1, 5);
    disc_recorder rec;
    disc_recorder_init(&rec);
    void *st = watch("orders", &rec);
    assert_true(disc_recorder_wait(&rec, 3000, disc_has_n, &two));
    const svc_endpoint_info *e = disc_find(&rec, "grpc://127.0.0.1:1001");
    assert_non_null(e);
    assert_string_equal(e->id, "a");
    assert_string_equal(e->zone, "z1");
    assert_int_equal(e->weight, 3);
    assert_string_equal(e->md[0], "version");
    assert_string_equal(e->md[1], "1.4");
    assert_null(e->md[2]);

    /* A new instance, then a deregistered one: each seen within a second. */
    svc_time t0 = svc_now();
    void *c = reg("orders", "c", "grpc://127.0.0.1:1003", 1, 5);
    assert_true(disc_recorder_wait(&rec, 1000, disc_has_url, "grpc://127.0.0.1:1003"));
    printf("# new instance seen after %lld ms\n", (long long)ms_since(t0));
    t0 = svc_now();
    ops->deregister(b);
    assert_true(disc_recorder_wait(&rec, 1000, disc_lacks_url, "http://127.0.0.1:1002"));
    printf("# deregistered instance gone after %lld ms\n", (long long)ms_since(t0));
    assert_int_equal(rec.list.n, 2);
    assert_int_equal(rec.failures, 0);

    /* Re-registering an id replaces its entry. */
    ops->deregister(c);
    c = reg("orders", "a", "grpc://127.0.0.1:2001", 1, 5);
    assert_true(disc_recorder_wait(&rec, 1000, disc_has_url, "grpc://127.0.0.1:2001"));
    assert_true(disc_recorder_wait(&rec, 1000, disc_has_n, &one));

    ops->stop(st);
    disc_recorder_free(&rec);
    ops->deregister(a);
    ops->deregister(c);
    ops->deregister(other);
}

/* Starts the registrant and waits for its "registered". */
static pid_t spawn_registrant(const char *service, const char *id, const char *url, int ttl)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    char ttl_s[12];
    snprintf(ttl_s, sizeof ttl_s, "%d", ttl);
    char *argv[] = {(char *)getenv("ETCD_REGISTRANT"), registry, (char *)service, (char *)id,
                    (char *)url, ttl_s, NULL};
    assert_non_null(argv[0]);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    char line[32] = "";
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    assert_true(read(p[0], line, sizeof line - 1) > 0);
    close(p[0]);
    assert_non_null(strstr(line, "registered"));
    return pid;
}

static void killed_process_drops_out(void **state)
{
    (void)state;
    disc_recorder rec;
    disc_recorder_init(&rec);
    void *st = watch("killed", &rec);
    const int ttl = 2;
    pid_t pid = spawn_registrant("killed", "k1", "grpc://127.0.0.1:3001", ttl);
    assert_true(disc_recorder_wait(&rec, 2000, disc_has_url, "grpc://127.0.0.1:3001"));
    svc_time t0 = svc_now();
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    /* Gone once the lease expires: within the TTL and etcd's lease check
     * (it sweeps every 500 ms). */
    assert_true(disc_recorder_wait(&rec, ttl * 1000 + 1500, disc_has_n, &zero));
    int64_t ms = ms_since(t0);
    printf("# SIGKILLed registrant gone after %lld ms (TTL %d s)\n", (long long)ms, ttl);
    assert_true(ms >= 500); /* the lease, not a revoke, removed it */
    ops->stop(st);
    disc_recorder_free(&rec);
}

static void malformed_values_skipped(void **state)
{
    (void)state;
    etcd_raw_put(registry, "/svc/mal/bad1", "not json");
    etcd_raw_put(registry, "/svc/mal/bad2", "{\"url\":\"grpc://127.0.0.1:1\",\"weight\":0}");
    etcd_raw_put(registry, "/svc/mal/bad3", "[\"url\"]");
    etcd_raw_put(registry, "/svc/mal/good", "{\"url\":\"grpc://127.0.0.1:7\"}");
    disc_recorder rec;
    disc_recorder_init(&rec);
    void *st = watch("mal", &rec);
    assert_true(disc_recorder_wait(&rec, 3000, disc_has_n, &one));
    const svc_endpoint_info *e = disc_find(&rec, "grpc://127.0.0.1:7");
    assert_non_null(e);
    assert_string_equal(e->id, "good"); /* from the key */
    assert_int_equal(e->weight, 1);
    /* Through the watch too. */
    etcd_raw_put(registry, "/svc/mal/bad4", "{\"weight\":2}");
    etcd_raw_put(registry, "/svc/mal/bad5", "{\"url\":\"grpc://127.0.0.1:8\",\"weight\":-1}");
    etcd_raw_put(registry, "/svc/mal/good2", "{\"url\":\"grpc://127.0.0.1:9\",\"weight\":4}");
    assert_true(disc_recorder_wait(&rec, 1000, disc_has_n, &two));
    assert_int_equal(disc_find(&rec, "grpc://127.0.0.1:9")->weight, 4);
    /* A good value overwritten with a bad one leaves the list. */
    etcd_raw_put(registry, "/svc/mal/good", "{\"url\":42}");
    assert_true(disc_recorder_wait(&rec, 1000, disc_lacks_url, "grpc://127.0.0.1:7"));
    assert_int_equal(rec.failures, 0);
    ops->stop(st);
    disc_recorder_free(&rec);
}

static void server_register(void **state)
{
    (void)state;
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_register(s, registry, "srv", NULL), SVC_FAILED_PRECONDITION);
    assert_int_equal(svc_server_listen(s, "grpc://127.0.0.1:0"), SVC_OK);
    assert_int_equal(svc_server_listen(s, "http://127.0.0.1:0"), SVC_OK);
    assert_int_equal(svc_server_register(s, "static:grpc://a:1", "srv", NULL), SVC_UNIMPLEMENTED);
    assert_int_equal(svc_server_register(s, "consul://127.0.0.1:1", "srv", NULL),
                     SVC_UNIMPLEMENTED);
    assert_non_null(strstr(svc_last_error(), "consul"));
    assert_int_equal(svc_server_register(s, "no registry", "srv", NULL), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_server_register(s, "etcd://127.0.0.1", "srv", NULL),
                     SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_server_register(s, registry, "a/b", NULL), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_server_register(s, registry, "", NULL), SVC_INVALID_ARGUMENT);
    svc_register_opts bad = {.ttl_s = -1};
    assert_int_equal(svc_server_register(s, registry, "srv", &bad), SVC_INVALID_ARGUMENT);

    disc_recorder rec;
    disc_recorder_init(&rec);
    void *st = watch("srv", &rec);
    static const char *const md[] = {"region", "test", NULL};
    svc_register_opts o = {.id = "s", .zone = "z2", .weight = 2, .md = md, .ttl_s = 5};
    assert_int_equal(svc_server_register(s, registry, "srv", &o), SVC_OK);
    assert_true(disc_recorder_wait(&rec, 2000, disc_has_n, &two));
    for (size_t i = 0; i < 2; i++) {
        const char *url = svc_server_listener_url(s, i);
        assert_null(strstr(url, ":0")); /* the real port */
        const svc_endpoint_info *e = disc_find(&rec, url);
        assert_non_null(e);
        char id[8];
        snprintf(id, sizeof id, "s-%zu", i + 1);
        assert_string_equal(e->id, id);
        assert_string_equal(e->zone, "z2");
        assert_int_equal(e->weight, 2);
        assert_string_equal(e->md[1], "test");
    }
    /* Shutdown removes them at once (revoke, not the lease). */
    svc_time t0 = svc_now();
    assert_int_equal(svc_server_shutdown(s, 1000), SVC_OK);
    assert_true(disc_recorder_wait(&rec, 1000, disc_has_n, &zero));
    printf("# shut down server's entries gone after %lld ms\n", (long long)ms_since(t0));
    svc_server_free(s);

    /* The default id, and free() without shutdown also deregisters. */
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_listen(s, "grpc://127.0.0.1:0"), SVC_OK);
    assert_int_equal(svc_server_register(s, registry, "srv", NULL), SVC_OK);
    assert_true(disc_recorder_wait(&rec, 2000, disc_has_n, &one));
    char host[256];
    gethostname(host, sizeof host);
    const svc_endpoint_info *e = disc_find(&rec, svc_server_listener_url(s, 0));
    assert_non_null(e);
    assert_int_equal(strncmp(e->id, host, strlen(host)), 0);
    svc_server_free(s);
    assert_true(disc_recorder_wait(&rec, 1000, disc_has_n, &zero));
    ops->stop(st);
    disc_recorder_free(&rec);
}

static void bad_resolver_input(void **state)
{
    (void)state;
    disc_recorder rec;
    disc_recorder_init(&rec);
    void *st = NULL;
    assert_int_equal(ops->start(ctx, registry, "a/b", disc_recorder_update, &rec, &st),
                     SVC_INVALID_ARGUMENT);
    assert_int_equal(ops->start(ctx, "etcd://", "x", disc_recorder_update, &rec, &st),
                     SVC_INVALID_ARGUMENT);
    assert_int_equal(ops->start(ctx, "etcd://127.0.0.1", "x", disc_recorder_update, &rec, &st),
                     SVC_INVALID_ARGUMENT);
    assert_null(st);
    /* An empty service is a list of none, not an error. */
    assert_int_equal(ops->start(ctx, registry, "nobody", disc_recorder_update, &rec, &st),
                     SVC_OK);
    assert_true(disc_recorder_wait(&rec, 2000, disc_has_n, &zero));
    ops->stop(st);
    disc_recorder_free(&rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(register_list_watch),
        cmocka_unit_test(killed_process_drops_out),
        cmocka_unit_test(malformed_values_skipped),
        cmocka_unit_test(server_register),
        cmocka_unit_test(bad_resolver_input),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
