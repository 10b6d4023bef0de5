/*
 * NATS authentication against real nats-servers: a token
 * (nats://TOKEN@host:port, the fixture "token" started with --auth), and a
 * credentials file (?creds=FILE) on a server in operator mode (decentralized
 * JWT auth, the fixture "jwt"), whose operator, accounts, users and creds
 * files nats_creds_gen made at test time in ${SVC_TEST_DIR}/nats/jwt.
 * The right credentials: a call and an event go through, for a server
 * listener and a client alike. Wrong or missing ones: UNAUTHENTICATED at
 * listen, call and publish, with the server's "Authorization Violation"
 * and no secret in the message. A credentials file that cannot be read or
 * holds no seed: INVALID_ARGUMENT naming the file.
 */
#include "../../unit/cmocka_all.h"
#include "nats_test_util.h"

static svc_ctx *ctx;
static char token_base[256]; /* nats://127.0.0.1:PORT of the token fixture */
static char jwt_base[256];   /* the same for the operator-mode fixture */
static const char *token;

static int setup(void **state)
{
    (void)state;
    token = getenv("NATS_AUTH_TOKEN");
    if (!token || !*token) {
        fprintf(stderr, "FATAL: NATS_AUTH_TOKEN is not set (run through ctest)\n");
        exit(1);
    }
    fixture_url("nats", NULL, "token", token_base, sizeof token_base);
    fixture_url("nats", NULL, "jwt", jwt_base, sizeof jwt_base);
    return svc_ctx_new(NULL, &ctx) == SVC_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    svc_ctx_free(ctx);
    return 0;
}

static void echo(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *resp;
    assert_int_equal(svc_msg_clone(svc_call_request(c), &resp), SVC_OK);
    svc_call_reply(c, resp);
}

/* The token fixture's URL, with `tok` as its token (none when NULL). */
static void url_with_token(const char *tok, char *out, size_t cap)
{
    char userinfo[128] = "";
    if (tok)
        snprintf(userinfo, sizeof userinfo, "%s@", tok);
    fixture_url("nats", userinfo, "token", out, cap);
}

/* The operator-mode fixture's URL with ?creds= one of the generated files. */
static void url_with_creds(const char *file, char *out, size_t cap)
{
    snprintf(out, cap, "%s?creds=%s/nats/jwt/%s", jwt_base, getenv("SVC_TEST_DIR"), file);
}

/* A server listening at `url` answers a call from a client at `url`, and
 * an event published by one client reaches another's subscription. */
static void roundtrip(const char *url, const char *secret)
{
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_handle(s, "auth.Echo/Echo", echo, NULL), SVC_OK);
    assert_int_equal(svc_server_listen(s, url), SVC_OK);
    /* The bound address carries no credentials. */
    assert_null(strstr(svc_server_listener_url(s, 0), secret));

    svc_client *c, *sub_client;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    assert_int_equal(svc_client_new(ctx, url, NULL, &sub_client), SVC_OK);
    svc_msg *req, *resp = NULL;
    assert_int_equal(svc_msg_new_data("ping", 4, NULL, &req), SVC_OK);
    assert_int_equal(svc_client_call(c, "auth.Echo/Echo", req, &resp, NULL), SVC_OK);
    assert_int_equal(svc_msg_len(resp), 4);
    assert_memory_equal(svc_msg_data(resp), "ping", 4);
    svc_msg_free(resp);
    svc_msg_free(req);

    collector got = COLLECTOR_INIT;
    svc_sub *sub;
    assert_int_equal(svc_subscribe(sub_client, "auth.events.>", NULL, collect, &got, &sub), SVC_OK);
    assert_int_equal(publish_text(c, "auth.events.hello", "hi"), SVC_OK);
    assert_int_equal(svc_publish_flush(c, 5000), SVC_OK);
    assert_int_equal(collector_wait(&got, 1, 5000), 1);
    assert_string_equal(got.last_topic, "auth.events.hello");
    assert_string_equal(got.last_data, "hi");
    svc_sub_free(sub);
    collector_clear(&got);
    svc_client_free(sub_client);
    svc_client_free(c);
    svc_server_free(s);
}

/* `what` is in the last error and `secret` (when given) is not. */
static void assert_error_says(const char *what, const char *secret)
{
    const char *err = svc_last_error();
    if (!strstr(err, what) || (secret && strstr(err, secret)))
        fail_msg("last error '%s': want '%s'%s%s", err, what, secret ? ", without " : "",
                 secret ? secret : "");
}

/* Listen, call and publish at `url` all fail with `code`, saying `what`. */
static void refused(const char *url, svc_code code, const char *what, const char *secret)
{
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_handle(s, "auth.Echo/Echo", echo, NULL), SVC_OK);
    assert_int_equal(svc_server_listen(s, url), code);
    assert_error_says(what, secret);
    svc_server_free(s);

    svc_client *c;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    assert_int_equal(svc_client_call(c, "auth.Echo/Echo", NULL, &resp, NULL), code);
    assert_non_null(resp);
    if (!strstr(svc_msg_status_message(resp), what))
        fail_msg("call status message '%s': want '%s'", svc_msg_status_message(resp), what);
    svc_msg_free(resp);
    assert_int_equal(publish_text(c, "auth.events.x", "y"), code);
    assert_error_says(what, secret);
    svc_client_free(c);
}

static void token_roundtrip(void **state)
{
    (void)state;
    char url[256];
    url_with_token(token, url, sizeof url);
    roundtrip(url, token);
}

static void token_wrong_or_missing(void **state)
{
    (void)state;
    char url[256];
    url_with_token("not-the-token", url, sizeof url);
    refused(url, SVC_UNAUTHENTICATED, "Authorization Violation", "not-the-token");
    refused(token_base, SVC_UNAUTHENTICATED, "Authorization Violation", NULL);
    /* The token is the whole userinfo: with a password it is a user. */
    char userpass[128];
    snprintf(userpass, sizeof userpass, "%s:x@", token);
    fixture_url("nats", userpass, "token", url, sizeof url);
    refused(url, SVC_UNAUTHENTICATED, "Authorization Violation", token);
}

static void creds_roundtrip(void **state)
{
    (void)state;
    char url[1200];
    url_with_creds("user.creds", url, sizeof url);
    roundtrip(url, "creds");
}

/* A user the server's accounts did not sign, a seed that is not the JWT's
 * user's, and a JWT whose claims changed after signing: the server says no. */
static void creds_refused(void **state)
{
    (void)state;
    const char *files[] = {"stranger.creds", "wrong_seed.creds", "tampered.creds"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char url[1200];
        url_with_creds(files[i], url, sizeof url);
        refused(url, SVC_UNAUTHENTICATED, "Authorization Violation", NULL);
    }
    /* No credentials at all on an operator-mode server. */
    refused(jwt_base, SVC_UNAUTHENTICATED, "Authorization Violation", NULL);
}

/* Files that are no credentials: the caller's mistake, told before any
 * server sees them, naming the file. */
static void creds_bad_file(void **state)
{
    (void)state;
    const char *files[] = {"garbage.creds", "no-such-file.creds"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char url[1200];
        url_with_creds(files[i], url, sizeof url);
        refused(url, SVC_INVALID_ARGUMENT, files[i], NULL);
        assert_error_says("bad credentials file", NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_roundtrip),
        cmocka_unit_test(token_wrong_or_missing),
        cmocka_unit_test(creds_roundtrip),
        cmocka_unit_test(creds_refused),
        cmocka_unit_test(creds_bad_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
