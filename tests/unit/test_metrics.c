#include <stdlib.h>
#include <string.h>

#include "cmocka_all.h"
#include "observe/metrics.h"

static void call_stats(void **state)
{
    (void)state;
    svc_metrics *m;
    assert_int_equal(svc_metrics_new(&m), SVC_OK);
    svc_call_stats *s = svc_metrics_call_stats(m, SVC_ROLE_SERVER, "rest", "a.B/C");
    assert_ptr_equal(s, svc_metrics_call_stats(m, SVC_ROLE_SERVER, "rest", "a.B/C"));
    assert_ptr_not_equal(s, svc_metrics_call_stats(m, SVC_ROLE_CLIENT, "rest", "a.B/C"));
    svc_call_stats_record(s, SVC_OK, 50000);       /* 50 µs */
    svc_call_stats_record(s, SVC_OK, 3000000);     /* 3 ms */
    svc_call_stats_record(s, SVC_NOT_FOUND, 20000000000); /* 20 s: only +Inf */
    assert_int_equal(svc_call_stats_count(s, SVC_OK), 2);
    assert_int_equal(svc_call_stats_count(s, SVC_NOT_FOUND), 1);

    svc_counter *c = svc_metrics_counter(m, "x_total", "Some help.", SVC_METRIC_COUNTER, "sub", "o\"k", NULL);
    svc_counter_add(c, 5);
    assert_int_equal(svc_counter_value(c), 5);
    assert_ptr_equal(c, svc_metrics_counter(m, "x_total", "Some help.", SVC_METRIC_COUNTER, "sub", "o\"k", NULL));
    svc_counter_add(svc_metrics_counter(m, "x_total", "Some help.", SVC_METRIC_COUNTER, "sub", "z", NULL), 1);

    size_t len;
    char *text = svc_metrics_render(m, &len);
    assert_int_equal(strlen(text), len);
    const char *expect[] = {
        "# TYPE svc_server_handled_total counter\n",
        "svc_server_handled_total{transport=\"rest\",method=\"a.B/C\",code=\"OK\"} 2\n",
        "svc_server_handled_total{transport=\"rest\",method=\"a.B/C\",code=\"NOT_FOUND\"} 1\n",
        "# TYPE svc_server_handling_seconds histogram\n",
        "svc_server_handling_seconds_bucket{transport=\"rest\",method=\"a.B/C\",le=\"0.0001\"} 1\n",
        "svc_server_handling_seconds_bucket{transport=\"rest\",method=\"a.B/C\",le=\"0.005\"} 2\n",
        "svc_server_handling_seconds_bucket{transport=\"rest\",method=\"a.B/C\",le=\"10\"} 2\n",
        "svc_server_handling_seconds_bucket{transport=\"rest\",method=\"a.B/C\",le=\"+Inf\"} 3\n",
        "svc_server_handling_seconds_count{transport=\"rest\",method=\"a.B/C\"} 3\n",
        "svc_server_handling_seconds_sum{transport=\"rest\",method=\"a.B/C\"} 20.003050000\n",
        "# TYPE x_total counter\n",
        "x_total{sub=\"o\\\"k\"} 5\n",
        "x_total{sub=\"z\"} 1\n",
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        if (!strstr(text, expect[i]))
            fail_msg("missing from the exposition:\n%s\n---\n%s", expect[i], text);
    }
    /* One family header per family, whatever the number of series. */
    assert_ptr_equal(strstr(text, "# TYPE x_total"), strrchr(strstr(text, "# TYPE x_total") , '#'));
    /* No client family without client series. */
    assert_null(strstr(text, "svc_client_handled_total{transport=\"rest\",method=\"a.B/C\",code"));
    free(text);
    svc_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(call_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
