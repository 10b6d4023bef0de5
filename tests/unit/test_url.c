#include <stdlib.h>
#include <string.h>

#include "cmocka_all.h"
#include "core/url.h"

static svc_url *parse_ok(const char *text)
{
    svc_url *u = NULL;
    assert_int_equal(svc_url_parse(text, &u), SVC_OK);
    assert_non_null(u);
    return u;
}

static void basic_forms(void **state)
{
    (void)state;
    svc_url *u = parse_ok("HTTP://127.0.0.1:8080/api/v1?x=1&y=%20");
    assert_string_equal(u->scheme, "http");
    assert_string_equal(u->host, "127.0.0.1");
    assert_int_equal(u->port, 8080);
    assert_string_equal(u->path, "/api/v1");
    assert_string_equal(u->query, "x=1&y=%20");
    assert_null(u->user);
    svc_url_free(u);

    u = parse_ok("inproc://orders");
    assert_string_equal(u->host, "orders");
    assert_int_equal(u->port, -1);
    assert_int_equal(svc_url_port_or(u, 42), 42);
    assert_string_equal(u->path, "");
    assert_null(u->query);
    svc_url_free(u);

    u = parse_ok("amqp://guest:p%40ss%3Aw@127.0.0.1:5672/%2f");
    assert_string_equal(u->user, "guest");
    assert_string_equal(u->password, "p@ss:w");
    assert_string_equal(u->path, "//");
    svc_url_free(u);

    u = parse_ok("https://[::1]:8443");
    assert_string_equal(u->host, "::1");
    assert_int_equal(u->port, 8443);
    svc_url_free(u);

    u = parse_ok("nats://a:4222,b:4223,[::1]");
    assert_int_equal(u->n_hosts, 3);
    assert_string_equal(u->hosts[1].host, "b");
    assert_int_equal(u->hosts[1].port, 4223);
    assert_string_equal(u->hosts[2].host, "::1");
    assert_int_equal(u->hosts[2].port, -1);
    svc_url_free(u);

    u = parse_ok("grpc://127.0.0.1:0");
    assert_int_equal(u->port, 0);
    svc_url_free(u);
}

static void rejects(void **state)
{
    (void)state;
    static const char *bad[] = {
        "", "nourl", "://x", "1http://x", "http://", "http://:80", "http://h:",
        "http://h:65536", "http://h:8o", "http://[::1", "http://[::1]x", "http://[zz]:1",
        "http://h p", "http://a,,b", "http://h/%zz", "http://u%2@h", "http://h\x01",
        "http://h/\xc3\xa9", "http://h/a%00b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        svc_url *u = (svc_url *)1;
        assert_int_equal(svc_url_parse(bad[i], &u), SVC_INVALID_ARGUMENT);
        assert_null(u);
        assert_true(strlen(svc_last_error()) > 0);
    }
}

static void decoding(void **state)
{
    (void)state;
    char *s = svc_pct_decode("a%2Fb+c", 7, false);
    assert_string_equal(s, "a/b+c");
    free(s);
    s = svc_pct_decode("a%2fb+c", 7, true);
    assert_string_equal(s, "a/b c");
    free(s);
    assert_null(svc_pct_decode("%", 1, false));
    assert_null(svc_pct_decode("%4", 2, false));
    assert_null(svc_pct_decode("%00", 3, false));
    s = svc_query_get("name=J%C3%B6rg&flag&x=1", "name");
    assert_string_equal(s, "J\xc3\xb6rg");
    free(s);
    s = svc_query_get("name=a&flag&x=1", "flag");
    assert_string_equal(s, "");
    free(s);
    assert_null(svc_query_get("name=a", "nam"));
    assert_null(svc_query_get(NULL, "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic_forms),
        cmocka_unit_test(rejects),
        cmocka_unit_test(decoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
