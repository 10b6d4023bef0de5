#include <stdlib.h>
#include <string.h>

#include "cmocka_all.h"
#include "transport/rest/rest.h"

static void code_names(void **state)
{
    (void)state;
    static const char *names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    for (int i = 0; i < SVC_CODE_COUNT; i++) {
        assert_string_equal(svc_code_name((svc_code)i), names[i]);
        svc_code c;
        assert_int_equal(svc_code_parse(names[i], &c), SVC_OK);
        assert_int_equal(c, i);
    }
    assert_string_equal(svc_code_name((svc_code)17), "UNKNOWN");
    assert_string_equal(svc_code_name((svc_code)-1), "UNKNOWN");
    svc_code c;
    assert_int_equal(svc_code_parse("not_found", &c), SVC_OK);
    assert_int_equal(c, SVC_NOT_FOUND);
    assert_int_equal(svc_code_parse("14", &c), SVC_OK);
    assert_int_equal(c, SVC_UNAVAILABLE);
    assert_int_equal(svc_code_parse("17", &c), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_code_parse("NOPE", &c), SVC_INVALID_ARGUMENT);
}

static void http_mapping(void **state)
{
    (void)state;
    /* google.rpc code.proto's table */
    static const unsigned want[SVC_CODE_COUNT] = {200, 499, 500, 400, 504, 404, 409, 403,
                                                  429, 400, 409, 400, 501, 500, 503, 500, 401};
    for (int i = 0; i < SVC_CODE_COUNT; i++)
        assert_int_equal(svc_rest_http_status((svc_code)i), want[i]);
    /* Where the table is one to one, HTTP maps back to the same code. */
    static const svc_code unique[] = {SVC_OK, SVC_CANCELLED, SVC_INVALID_ARGUMENT,
                                      SVC_DEADLINE_EXCEEDED, SVC_NOT_FOUND,
                                      SVC_PERMISSION_DENIED, SVC_RESOURCE_EXHAUSTED,
                                      SVC_UNIMPLEMENTED, SVC_UNAVAILABLE, SVC_UNAUTHENTICATED};
    for (size_t i = 0; i < sizeof unique / sizeof unique[0]; i++)
        assert_int_equal(svc_rest_code_from_http(svc_rest_http_status(unique[i])), unique[i]);
    assert_int_equal(svc_rest_code_from_http(413), SVC_RESOURCE_EXHAUSTED);
    assert_int_equal(svc_rest_code_from_http(415), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_rest_code_from_http(502), SVC_UNAVAILABLE);
    assert_int_equal(svc_rest_code_from_http(204), SVC_OK);
    assert_int_equal(svc_rest_code_from_http(418), SVC_FAILED_PRECONDITION);
    assert_int_equal(svc_rest_code_from_http(599), SVC_INTERNAL);
    assert_int_equal(svc_rest_code_from_http(302), SVC_UNKNOWN);
}

static void error_bodies(void **state)
{
    (void)state;
    size_t len;
    char *body = svc_rest_error_body(SVC_NOT_FOUND, "order \"7\" not\nfound", &len);
    assert_string_equal(body,
        "{\"code\":5,\"status\":\"NOT_FOUND\",\"message\":\"order \\\"7\\\" not\\nfound\"}");
    svc_code code;
    char *msg;
    assert_true(svc_rest_parse_error_body(body, len, &code, &msg));
    assert_int_equal(code, SVC_NOT_FOUND);
    assert_string_equal(msg, "order \"7\" not\nfound");
    free(msg);
    free(body);
    /* grpc-gateway style (numeric code only) and Google API style. */
    const char *gw = "{\"code\":3,\"message\":\"bad\",\"details\":[]}";
    assert_true(svc_rest_parse_error_body(gw, strlen(gw), &code, &msg));
    assert_int_equal(code, SVC_INVALID_ARGUMENT);
    free(msg);
    const char *g = "{\"error\":{\"code\":403,\"message\":\"no\",\"status\":\"PERMISSION_DENIED\"}}";
    assert_true(svc_rest_parse_error_body(g, strlen(g), &code, &msg));
    assert_int_equal(code, SVC_PERMISSION_DENIED);
    assert_string_equal(msg, "no");
    free(msg);
    assert_false(svc_rest_parse_error_body("<html>", 6, &code, &msg));
    assert_false(svc_rest_parse_error_body("{\"code\":99}", 11, &code, &msg));
    assert_false(svc_rest_parse_error_body("{\"code\":1.5}", 12, &code, &msg));
}

static void header_metadata(void **state)
{
    (void)state;
    svc_md md;
    svc_md_init(&md);
    assert_int_equal(svc_rest_header_to_md(&md, "X-User", 6, "ann", 3), SVC_OK);
    assert_int_equal(svc_rest_header_to_md(&md, "Content-Length", 14, "3", 1), SVC_OK);
    assert_int_equal(svc_rest_header_to_md(&md, "grpc-timeout", 12, "1S", 2), SVC_OK);
    assert_int_equal(svc_rest_header_to_md(&md, "x-blob-bin", 10, "AP/+", 4), SVC_OK);
    assert_int_equal(svc_rest_header_to_md(&md, "x-bad-bin", 9, "!!", 2), SVC_OK);
    assert_int_equal(svc_rest_header_to_md(&md, "x-utf8", 6, "\xc3\xa9", 2), SVC_OK);
    assert_int_equal(md.n, 2);
    assert_string_equal(md.v[0].key, "x-user");
    assert_int_equal(md.v[1].value_len, 3);
    assert_memory_equal(md.v[1].value, "\x00\xff\xfe", 3);
    svc_md_clear(&md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(code_names),
        cmocka_unit_test(http_mapping),
        cmocka_unit_test(error_bodies),
        cmocka_unit_test(header_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
