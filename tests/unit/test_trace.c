#include <string.h>

#include "cmocka_all.h"
#include "observe/trace.h"

static const char *sample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static void parse_format(void **state)
{
    (void)state;
    svc_trace_ctx t;
    assert_true(svc_trace_parse(sample, strlen(sample), &t));
    assert_true(t.valid);
    assert_int_equal(t.flags, 1);
    assert_int_equal(t.trace_id[0], 0x4b);
    assert_int_equal(t.span_id[7], 0xb7);
    char out[SVC_TRACEPARENT_LEN + 1];
    svc_trace_format(&t, out);
    assert_string_equal(out, sample);

    /* A later version may append fields; version ff is invalid. */
    const char *v1 = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
    assert_true(svc_trace_parse(v1, strlen(v1), &t));
    const char *bad[] = {
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(svc_trace_parse(bad[i], strlen(bad[i]), &t));
        assert_false(t.valid);
    }
}

static void children(void **state)
{
    (void)state;
    svc_trace_ctx parent, a, b;
    assert_true(svc_trace_parse(sample, strlen(sample), &parent));
    svc_trace_child(&parent, &a);
    svc_trace_child(&parent, &b);
    assert_memory_equal(a.trace_id, parent.trace_id, 16);
    assert_int_equal(a.flags, parent.flags);
    assert_memory_not_equal(a.span_id, parent.span_id, 8);
    assert_memory_not_equal(a.span_id, b.span_id, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_format),
        cmocka_unit_test(children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
