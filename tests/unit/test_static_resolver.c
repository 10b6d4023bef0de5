/* The static resolver: its endpoint syntax, every bad input, the inline,
 * $VAR and watched-file forms, and the resolver registry. */
#include "cmocka_all.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <unistd.h>

#include "disc_recorder.h"
#include "discovery/resolver.h"
#include "discovery/static_parse.h"

static svc_code parse(const char *text, bool file, svc_eplist *l)
{
    svc_eplist_init(l);
    return svc_static_parse(text, strlen(text), file, l);
}

static void one_and_many(void **state)
{
    (void)state;
    svc_eplist l;
    assert_int_equal(parse("grpc://127.0.0.1:50051", false, &l), SVC_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].url, "grpc://127.0.0.1:50051");
    assert_null(l.v[0].id);
    assert_null(l.v[0].zone);
    assert_null(l.v[0].md);
    assert_int_equal(l.v[0].weight, 1);
    svc_eplist_clear(&l);

    assert_int_equal(parse(" grpc://a:1 ; weight = 3 ;zone=eu-1;id=a1;md.version=2 , "
                           "http://b:2;md.x=y;md.empty=,inproc://c",
                           false, &l),
                     SVC_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].url, "grpc://a:1");
    assert_int_equal(l.v[0].weight, 3);
    assert_string_equal(l.v[0].zone, "eu-1");
    assert_string_equal(l.v[0].id, "a1");
    assert_string_equal(l.v[0].md[0], "version");
    assert_string_equal(l.v[0].md[1], "2");
    assert_null(l.v[0].md[2]);
    assert_string_equal(l.v[1].url, "http://b:2");
    assert_string_equal(l.v[1].md[2], "empty");
    assert_string_equal(l.v[1].md[3], "");
    assert_null(l.v[1].md[4]);
    assert_string_equal(l.v[2].url, "inproc://c");
    /* A scheme no transport serves is the client's to report. */
    svc_eplist_clear(&l);
    assert_int_equal(parse("carrier-pigeon://loft", false, &l), SVC_OK);
    svc_eplist_clear(&l);
    /* The largest weight. */
    assert_int_equal(parse("grpc://a:1;weight=4294967295", false, &l), SVC_OK);
    assert_int_equal(l.v[0].weight, 4294967295u);
    svc_eplist_clear(&l);
}

static void expect_bad(const char *text, bool file, const char *needle)
{
    svc_eplist l;
    svc_code rc = parse(text, file, &l);
    svc_eplist_clear(&l);
    if (rc != SVC_INVALID_ARGUMENT || !strstr(svc_last_error(), needle))
        fail_msg("\"%s\": code %d, message \"%s\" (wanted \"%s\")", text, rc, svc_last_error(),
                 needle);
}

static void bad_items(void **state)
{
    (void)state;
    expect_bad("", false, "empty endpoint list");
    expect_bad("   ", false, "empty endpoint list");
    expect_bad("grpc://a:1,,grpc://b:2", false, "endpoint 2 of the list is empty");
    expect_bad("grpc://a:1,", false, "endpoint 2 of the list is empty");
    expect_bad(",grpc://a:1", false, "endpoint 1 of the list is empty");
    expect_bad("grpc://a:1;weight=0", false, "grpc://a:1;weight=0\": weight \"0\"");
    expect_bad("grpc://a:1;weight=-2", false, "weight \"-2\" is not an integer");
    expect_bad("grpc://a:1;weight=abc", false, "weight \"abc\"");
    expect_bad("grpc://a:1;weight=", false, "weight \"\"");
    expect_bad("grpc://a:1;weight=4294967296", false, "weight \"4294967296\"");
    expect_bad("grpc://a:1;weight=99999999999999999999", false, "is not an integer");
    expect_bad("grpc://a:1;weight=1.5", false, "weight \"1.5\"");
    expect_bad("grpc://a:1;weight=2;weight=3", false, "weight given twice");
    expect_bad("grpc://a:1;id=x;id=y", false, "\"id\" given twice");
    expect_bad("grpc://a:1;zone=", false, "empty zone");
    expect_bad("grpc://a:1;colour=red", false, "unknown attribute \"colour\"");
    expect_bad("grpc://a:1;md.=x", false, "unknown attribute \"md.\"");
    expect_bad("grpc://a:1;weight", false, "\"weight\" is not key=value");
    expect_bad("grpc://a:1;", false, "\"\" is not key=value");
    expect_bad("127.0.0.1:50051", false, "\"127.0.0.1:50051\" is not a URL");
    expect_bad("localhost", false, "\"localhost\" is not a URL");
    expect_bad("grpc:", false, "is not a URL");
    expect_bad(";weight=2", false, "\"\" is not a URL");
    expect_bad("grpc://a b:1", false, "is not a URL");
    expect_bad("grpc://a:1,http://b:2;weight=x", false, "\"http://b:2;weight=x\"");
    svc_eplist l;
    svc_eplist_init(&l);
    assert_int_equal(svc_static_parse("grpc://a:1\0x", 12, false, &l), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "NUL"));
    svc_eplist_clear(&l);
    char many[2048] = "grpc://a:1";
    for (int i = 0; i < 33; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), ";md.k%d=v", i);
    expect_bad(many, false, "more than 32 metadata entries");
}

static void file_syntax(void **state)
{
    (void)state;
    svc_eplist l;
    assert_int_equal(parse("# instances\n\ngrpc://a:1;weight=2\n  # indented comment\r\n"
                           "http://b:2 ; zone=z\r\n\n",
                           true, &l),
                     SVC_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[1].url, "http://b:2");
    assert_string_equal(l.v[1].zone, "z");
    svc_eplist_clear(&l);
    /* In a file, commas belong to the URL (a NATS cluster). */
    assert_int_equal(parse("nats://h1:4222,h2:4222\n", true, &l), SVC_OK);
    assert_string_equal(l.v[0].url, "nats://h1:4222,h2:4222");
    svc_eplist_clear(&l);
    expect_bad("# nothing\n\n", true, "empty endpoint list");
    expect_bad("", true, "empty endpoint list");
    expect_bad("grpc://a:1\n\ngrpc://b:2;weight=0\n", true, "(line 3)");
}

static void canonical_order(void **state)
{
    (void)state;
    svc_eplist a, b;
    assert_int_equal(parse("grpc://b:1;id=2,grpc://a:1;id=1", false, &a), SVC_OK);
    assert_int_equal(parse("grpc://a:1;id=1,grpc://b:1;id=2", false, &b), SVC_OK);
    assert_false(svc_eplist_equal(&a, &b));
    svc_eplist_sort(&a);
    svc_eplist_sort(&b);
    assert_true(svc_eplist_equal(&a, &b));
    svc_eplist_clear(&b);
    assert_int_equal(parse("grpc://a:1;id=1,grpc://b:1;id=2;weight=2", false, &b), SVC_OK);
    assert_false(svc_eplist_equal(&a, &b));
    svc_eplist_clear(&a);
    svc_eplist_clear(&b);
}

/* ---- the resolver ---- */

typedef struct fixture {
    svc_ctx *ctx;
    disc_recorder rec;
    const svc_resolver_ops *ops;
    void *state;
    char path[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    svc_ctx_config cfg;
    svc_ctx_config_init(&cfg);
    if (!f || svc_ctx_new(&cfg, &f->ctx) != SVC_OK)
        return -1;
    disc_recorder_init(&f->rec);
    snprintf(f->path, sizeof f->path, "/tmp/test_static_%ld.endpoints", (long)getpid());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->state)
        f->ops->stop(f->state);
    disc_recorder_free(&f->rec);
    svc_ctx_free(f->ctx);
    unlink(f->path);
    free(f);
    return 0;
}

static svc_code start(fixture *f, const char *url)
{
    f->ops = svc_resolver_find(url);
    assert_non_null(f->ops);
    return f->ops->start(f->ctx, url, "orders", disc_recorder_update, &f->rec, &f->state);
}

static const size_t one = 1, two = 2, three = 3;

static void inline_list(void **state)
{
    fixture *f = *state;
    assert_int_equal(start(f, "static:grpc://127.0.0.1:1;weight=5,http://127.0.0.1:2"), SVC_OK);
    assert_true(disc_recorder_wait(&f->rec, 2000, disc_has_n, &two));
    assert_int_equal(disc_find(&f->rec, "grpc://127.0.0.1:1")->weight, 5);
    f->ops->resolve_now(f->state); /* nothing changes, nothing is sent */
    usleep(100 * 1000);
    assert_int_equal(f->rec.updates, 1);
}

static void inline_bad(void **state)
{
    fixture *f = *state;
    assert_int_equal(start(f, "static:grpc://a:1;weight=0"), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "weight \"0\""));
    assert_null(f->state);
    assert_int_equal(start(f, "static:"), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "empty endpoint list"));
    assert_int_equal(start(f, "static:@"), SVC_INVALID_ARGUMENT);
    assert_int_equal(start(f, "static:$"), SVC_INVALID_ARGUMENT);
    assert_int_equal(f->rec.updates, 0);
}

static void env_var(void **state)
{
    fixture *f = *state;
    assert_int_equal(start(f, "static:$SVC_TEST_NO_SUCH_VAR"), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "SVC_TEST_NO_SUCH_VAR is not set"));
    setenv("SVC_TEST_ENDPOINTS", "grpc://a:1,grpc://b:2;id=b", 1);
    setenv("SVC_TEST_BAD_ENDPOINTS", "grpc://a:1;zone", 1);
    assert_int_equal(start(f, "static:$SVC_TEST_BAD_ENDPOINTS"), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "(in $SVC_TEST_BAD_ENDPOINTS)"));
    assert_int_equal(start(f, "static:$SVC_TEST_ENDPOINTS"), SVC_OK);
    assert_true(disc_recorder_wait(&f->rec, 2000, disc_has_n, &two));
    assert_string_equal(disc_find(&f->rec, "grpc://b:2")->id, "b");
}

static void watched_file(void **state)
{
    fixture *f = *state;
    char url[96];
    snprintf(url, sizeof url, "static:@%s", f->path);
    /* Missing at first: a failure the client can show, then it appears. */
    assert_int_equal(start(f, url), SVC_OK);
    assert_true(disc_recorder_wait(&f->rec, 2000, disc_failed, NULL));
    assert_int_equal(f->rec.code, SVC_NOT_FOUND);
    assert_non_null(strstr(f->rec.msg, f->path));

    disc_write_file(f->path, "grpc://127.0.0.1:1\n");
    assert_true(disc_recorder_wait(&f->rec, 3000, disc_has_n, &one));
    disc_write_file(f->path, "grpc://127.0.0.1:1\n# another\ngrpc://127.0.0.1:2;weight=4\n"
                        "grpc://127.0.0.1:3\n");
    assert_true(disc_recorder_wait(&f->rec, 3000, disc_has_n, &three));
    assert_int_equal(disc_find(&f->rec, "grpc://127.0.0.1:2")->weight, 4);

    /* Broken: a failure naming the item and line; the list stays. */
    int before = f->rec.updates;
    disc_write_file(f->path, "grpc://127.0.0.1:1\ngrpc://127.0.0.1:2;weight=none\n");
    assert_true(disc_recorder_wait(&f->rec, 3000, disc_failed, NULL));
    assert_int_equal(f->rec.code, SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(f->rec.msg, "grpc://127.0.0.1:2;weight=none"));
    assert_non_null(strstr(f->rec.msg, "line 2"));
    assert_int_equal(f->rec.list.n, 3);
    assert_int_equal(f->rec.updates, before + 1);

    /* Fixed again, to the same list as before the breakage: sent, since
     * the client last heard of a failure. */
    disc_write_file(f->path, "grpc://127.0.0.1:1\ngrpc://127.0.0.1:2;weight=4\ngrpc://127.0.0.1:3\n");
    assert_true(disc_recorder_wait(&f->rec, 3000, disc_has_n, &three));

    /* Rewritten with the same endpoints in another order: nothing sent. */
    before = f->rec.updates;
    disc_write_file(f->path, "grpc://127.0.0.1:3\ngrpc://127.0.0.1:2;weight=4\ngrpc://127.0.0.1:1\n");
    f->ops->resolve_now(f->state);
    assert_false(disc_recorder_wait(&f->rec, 1500, disc_updates_over, &before));
}

/* ---- the registry ---- */

static svc_code user_start(svc_ctx *ctx, const char *url, const char *service,
                           svc_resolver_update_fn update, void *ud, void **state)
{
    (void)ctx, (void)url, (void)service, (void)update, (void)ud, (void)state;
    return SVC_UNIMPLEMENTED;
}

static void user_stop(void *state)
{
    (void)state;
}

static void registry(void **state)
{
    (void)state;
    assert_string_equal(svc_resolver_find("static:grpc://a:1")->scheme, "static");
    assert_string_equal(svc_resolver_find("STATIC:grpc://a:1")->scheme, "static");
    assert_null(svc_resolver_find("consul://127.0.0.1:8500"));
    assert_null(svc_resolver_find("nocolon"));
    assert_null(svc_resolver_find(":x"));
    assert_null(svc_resolver_find(NULL));
    static const svc_resolver_ops consul = {.scheme = "consul", .start = user_start,
                                            .stop = user_stop};
    static const svc_resolver_ops clash = {.scheme = "Static", .start = user_start,
                                           .stop = user_stop};
    static const svc_resolver_ops bad = {.scheme = "no scheme", .start = user_start,
                                         .stop = user_stop};
    static const svc_resolver_ops incomplete = {.scheme = "x"};
    assert_int_equal(svc_resolver_register(&consul), SVC_OK);
    assert_ptr_equal(svc_resolver_find("consul://127.0.0.1:8500"), &consul);
    assert_int_equal(svc_resolver_register(&consul), SVC_ALREADY_EXISTS);
    assert_int_equal(svc_resolver_register(&clash), SVC_ALREADY_EXISTS);
    assert_int_equal(svc_resolver_register(&bad), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_resolver_register(&incomplete), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_resolver_register(NULL), SVC_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_and_many),
        cmocka_unit_test(bad_items),
        cmocka_unit_test(file_syntax),
        cmocka_unit_test(canonical_order),
        cmocka_unit_test_setup_teardown(inline_list, setup, teardown),
        cmocka_unit_test_setup_teardown(inline_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(env_var, setup, teardown),
        cmocka_unit_test_setup_teardown(watched_file, setup, teardown),
        cmocka_unit_test(registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
