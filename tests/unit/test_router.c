#include <string.h>

#include "cmocka_all.h"
#include "core/router.h"

static int A, B, C, D, E;

static svc_router *make(void)
{
    svc_router *r;
    assert_int_equal(svc_router_new(&r), SVC_OK);
    assert_int_equal(svc_router_add(r, "GET", "/orders/{id}", &A), SVC_OK);
    assert_int_equal(svc_router_add(r, "GET", "/orders/recent", &B), SVC_OK);
    assert_int_equal(svc_router_add(r, "DELETE", "/orders/{id}", &C), SVC_OK);
    assert_int_equal(svc_router_add(r, "GET", "/files/{path*}", &D), SVC_OK);
    assert_int_equal(svc_router_add(r, "GET", "/", &E), SVC_OK);
    return r;
}

static svc_route_result match(svc_router *r, const char *verb, const char *path, void **v,
                              svc_params *p)
{
    return svc_router_match(r, verb, strlen(verb), path, strlen(path), v, p);
}

static void matching(void **state)
{
    (void)state;
    svc_router *r = make();
    svc_params p = {0};
    void *v = NULL;
    assert_int_equal(match(r, "GET", "/orders/42", &v, &p), SVC_ROUTE_FOUND);
    assert_ptr_equal(v, &A);
    assert_string_equal(svc_params_get(&p, "id"), "42");
    svc_params_clear(&p);

    assert_int_equal(match(r, "GET", "/orders/recent", &v, &p), SVC_ROUTE_FOUND);
    assert_ptr_equal(v, &B); /* the literal beats the parameter */
    svc_params_clear(&p);

    assert_int_equal(match(r, "DELETE", "/orders/a%2Fb", &v, &p), SVC_ROUTE_FOUND);
    assert_ptr_equal(v, &C);
    assert_string_equal(svc_params_get(&p, "id"), "a/b"); /* decoded per parameter */
    svc_params_clear(&p);

    assert_int_equal(match(r, "GET", "/files/a/b/c.txt", &v, &p), SVC_ROUTE_FOUND);
    assert_ptr_equal(v, &D);
    assert_string_equal(svc_params_get(&p, "path"), "a/b/c.txt");
    svc_params_clear(&p);

    assert_int_equal(match(r, "GET", "/", &v, &p), SVC_ROUTE_FOUND);
    assert_ptr_equal(v, &E);

    assert_int_equal(match(r, "PUT", "/orders/42", &v, &p), SVC_ROUTE_BAD_VERB);
    assert_int_equal(match(r, "GET", "/orders", &v, &p), SVC_ROUTE_NO_PATH);
    assert_int_equal(match(r, "GET", "/orders/", &v, &p), SVC_ROUTE_NO_PATH);
    assert_int_equal(match(r, "GET", "/orders/1/2", &v, &p), SVC_ROUTE_NO_PATH);
    assert_int_equal(match(r, "GET", "/files/", &v, &p), SVC_ROUTE_NO_PATH);
    assert_int_equal(match(r, "GET", "", &v, &p), SVC_ROUTE_NO_PATH);
    assert_int_equal(match(r, "GET", "orders/1", &v, &p), SVC_ROUTE_NO_PATH);
    assert_int_equal(match(r, "GET", "/orders/%zz", &v, &p), SVC_ROUTE_NO_PATH);
    assert_int_equal(p.n, 0);
    svc_router_free(r);
}

static void bad_patterns(void **state)
{
    (void)state;
    svc_router *r;
    assert_int_equal(svc_router_new(&r), SVC_OK);
    assert_int_equal(svc_router_add(r, "GET", "orders", &A), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_router_add(r, "GET", "/a/{}", &A), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_router_add(r, "GET", "/a/{1x}", &A), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_router_add(r, "GET", "/a/{rest*}/b", &A), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_router_add(r, "GET", "/a//b", &A), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_router_add(r, "GET", "/a/b{c}", &A), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_router_add(r, "get", "/a", &A), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_router_add(r, "GET", "/a", &A), SVC_OK);
    assert_int_equal(svc_router_add(r, "GET", "/a", &B), SVC_ALREADY_EXISTS);
    svc_router_free(r);
}

static void query_strings(void **state)
{
    (void)state;
    svc_params p = {0};
    const char *q = "name=J%C3%B6rg+M&empty=&flag&&x=1";
    assert_int_equal(svc_params_parse_query(&p, q, strlen(q)), SVC_OK);
    assert_string_equal(svc_params_get(&p, "name"), "J\xc3\xb6rg M");
    assert_string_equal(svc_params_get(&p, "empty"), "");
    assert_string_equal(svc_params_get(&p, "flag"), "");
    assert_string_equal(svc_params_get(&p, "x"), "1");
    assert_null(svc_params_get(&p, "y"));
    svc_params_clear(&p);
    assert_int_equal(svc_params_parse_query(&p, "a=%G1", 5), SVC_INVALID_ARGUMENT);
    svc_params_clear(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matching),
        cmocka_unit_test(bad_patterns),
        cmocka_unit_test(query_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
