#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "cmocka_all.h"

static void order_and_case(void **state)
{
    (void)state;
    svc_msg *m;
    assert_int_equal(svc_msg_new(&m), SVC_OK);
    assert_int_equal(svc_msg_md_add(m, "X-Trace", "a"), SVC_OK);
    assert_int_equal(svc_msg_md_add(m, "accept", "json"), SVC_OK);
    assert_int_equal(svc_msg_md_add(m, "x-trace", "b"), SVC_OK);
    assert_int_equal(svc_msg_md_count(m), 3);
    size_t len;
    assert_string_equal(svc_msg_md_get(m, "X-TRACE", &len), "a"); /* first value */
    assert_int_equal(len, 1);
    const char *k, *v;
    assert_int_equal(svc_msg_md_at(m, 0, &k, &v, NULL), SVC_OK);
    assert_string_equal(k, "x-trace"); /* stored lower case */
    assert_int_equal(svc_msg_md_at(m, 2, &k, &v, NULL), SVC_OK);
    assert_string_equal(v, "b");
    assert_int_equal(svc_msg_md_at(m, 3, &k, &v, NULL), SVC_OUT_OF_RANGE);
    assert_int_equal(svc_msg_md_remove(m, "X-trace"), 2);
    assert_null(svc_msg_md_get(m, "x-trace", NULL));
    assert_int_equal(svc_msg_md_count(m), 1);
    assert_int_equal(svc_msg_md_set(m, "accept", "proto"), SVC_OK);
    assert_int_equal(svc_msg_md_count(m), 1);
    assert_string_equal(svc_msg_md_get(m, "accept", NULL), "proto");
    svc_msg_free(m);
}

static void binary_values(void **state)
{
    (void)state;
    svc_msg *m;
    assert_int_equal(svc_msg_new(&m), SVC_OK);
    const unsigned char bytes[] = {0, 1, 0xff, '\n', 0};
    assert_int_equal(svc_msg_md_add_bin(m, "blob-bin", bytes, sizeof bytes), SVC_OK);
    size_t len;
    const char *v = svc_msg_md_get(m, "blob-bin", &len);
    assert_int_equal(len, sizeof bytes);
    assert_memory_equal(v, bytes, sizeof bytes);
    assert_int_equal(v[len], '\0');
    /* text keys cannot hold bytes, binary keys must say so */
    assert_int_equal(svc_msg_md_add_bin(m, "blob", bytes, 2), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_msg_md_add(m, "text-bin", "x"), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_msg_md_add(m, "text", "a\nb"), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_msg_md_add(m, "text", "caf\xc3\xa9"), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_msg_md_add(m, "bad key", "x"), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_msg_md_add(m, ":path", "x"), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_msg_md_add(m, "", "x"), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "key"));
    assert_int_equal(svc_msg_md_add(m, "empty", ""), SVC_OK);
    assert_string_equal(svc_msg_md_get(m, "empty", &len), "");
    assert_int_equal(len, 0);
    svc_msg_free(m);
}

static int freed;
static void count_free(void *p)
{
    freed++;
    free(p);
}

static void payload_and_clone(void **state)
{
    (void)state;
    svc_msg *m, *c;
    assert_int_equal(svc_msg_new_data("hello", 5, SVC_CT_JSON, &m), SVC_OK);
    assert_int_equal(svc_msg_len(m), 5);
    assert_memory_equal(svc_msg_data(m), "hello", 5);
    assert_string_equal(svc_msg_content_type(m), "application/json");
    assert_int_equal(svc_msg_md_add(m, "k", "v"), SVC_OK);
    assert_int_equal(svc_msg_set_status(m, SVC_NOT_FOUND, "gone"), SVC_OK);
    assert_int_equal(svc_msg_clone(m, &c), SVC_OK);
    svc_msg_free(m); /* the clone stands on its own */
    assert_memory_equal(svc_msg_data(c), "hello", 5);
    assert_string_equal(svc_msg_md_get(c, "k", NULL), "v");
    assert_int_equal(svc_msg_status(c), SVC_NOT_FOUND);
    assert_string_equal(svc_msg_status_message(c), "gone");
    svc_msg_free(c);

    /* Owned payloads are released once, when the last clone goes. */
    freed = 0;
    assert_int_equal(svc_msg_new(&m), SVC_OK);
    assert_string_equal(svc_msg_status_message(m), "");
    assert_null(svc_msg_content_type(m));
    assert_int_equal(svc_msg_len(m), 0);
    assert_int_equal(svc_msg_set_data_owned(m, strdup("abc"), 3, count_free), SVC_OK);
    assert_int_equal(svc_msg_clone(m, &c), SVC_OK);
    svc_msg_free(m);
    assert_int_equal(freed, 0);
    assert_memory_equal(svc_msg_data(c), "abc", 3);
    svc_msg_free(c);
    assert_int_equal(freed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_and_case),
        cmocka_unit_test(binary_values),
        cmocka_unit_test(payload_and_clone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
