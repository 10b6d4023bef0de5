#include "cmocka_all.h"
#include "core/topic.h"

static void validity(void **state)
{
    (void)state;
    assert_true(svc_topic_valid("order.created"));
    assert_true(svc_topic_valid("a"));
    assert_false(svc_topic_valid(""));
    assert_false(svc_topic_valid("a..b"));
    assert_false(svc_topic_valid(".a"));
    assert_false(svc_topic_valid("a."));
    assert_false(svc_topic_valid("a b"));
    assert_false(svc_topic_valid("a\tb"));
    assert_false(svc_topic_valid("a.*"));
    assert_false(svc_topic_valid("a.>"));
    assert_true(svc_topic_pattern_valid("a.*.c"));
    assert_true(svc_topic_pattern_valid(">"));
    assert_true(svc_topic_pattern_valid("a.>"));
    assert_false(svc_topic_pattern_valid("a.>.b"));
    assert_false(svc_topic_pattern_valid("a..b"));
    assert_false(svc_topic_pattern_valid(""));
}

static void matching(void **state)
{
    (void)state;
    assert_true(svc_topic_match("order.created", "order.created"));
    assert_false(svc_topic_match("order.created", "order.cancelled"));
    assert_true(svc_topic_match("order.*", "order.created"));
    assert_false(svc_topic_match("order.*", "order.created.eu"));
    assert_false(svc_topic_match("order.*", "order"));
    assert_true(svc_topic_match("order.>", "order.created.eu"));
    assert_true(svc_topic_match("order.>", "order.x"));
    assert_false(svc_topic_match("order.>", "order"));
    assert_true(svc_topic_match(">", "a.b.c"));
    assert_true(svc_topic_match("*.*.c", "a.b.c"));
    assert_false(svc_topic_match("*.c", "a.b.c"));
    assert_false(svc_topic_match("order", "orders"));
    assert_false(svc_topic_match("orders", "order"));
    assert_false(svc_topic_match("a.b", "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(validity),
        cmocka_unit_test(matching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
