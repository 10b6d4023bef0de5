/*
 * At-least-once across a server restart: 100,000 JetStream events are
 * published asynchronously (each with its own Nats-Msg-Id) and consumed by
 * a durable push consumer with explicit acks, while the nats-server is
 * stopped and started again mid-stream (same port, same store). Every
 * publish must be confirmed and every id seen at least once.
 */
#include <stdatomic.h>

#include "../../unit/cmocka_all.h"
#include "nats_test_util.h"

enum { N = 100000, RESTART_AT = N / 3 };

static atomic_uchar seen[N];
static atomic_int distinct, deliveries, confirmed, failed;

static void on_event(svc_event *ev, void *ud)
{
    (void)ud;
    const svc_msg *m = svc_event_msg(ev);
    char text[32];
    size_t len = svc_msg_len(m) < sizeof text - 1 ? svc_msg_len(m) : sizeof text - 1;
    memcpy(text, svc_msg_data(m), len);
    text[len] = '\0';
    long id = strtol(text + 2, NULL, 10); /* "e-<id>" */
    atomic_fetch_add(&deliveries, 1);
    if (id >= 0 && id < N && atomic_exchange(&seen[id], 1) == 0)
        atomic_fetch_add(&distinct, 1);
    svc_event_ack(ev);
}

static void on_verdict(svc_code code, const char *message, void *ud)
{
    (void)ud;
    if (code == SVC_OK) {
        atomic_fetch_add(&confirmed, 1);
    } else if (atomic_fetch_add(&failed, 1) < 5) {
        fprintf(stderr, "publish failed: %s: %s\n", svc_code_name(code), message);
    }
}

static void restart_server(void)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s restart restart %s/nats", getenv("NATS_CTL"),
             getenv("SVC_TEST_DIR"));
    fprintf(stderr, "restarting nats-server after %d publishes\n", RESTART_AT);
    assert_int_equal(system(cmd), 0);
}

static void survives_restart(void **state)
{
    (void)state;
    assert_non_null(getenv("NATS_CTL"));
    char url[256];
    fixture_url("nats", NULL, "restart", url, sizeof url);
    svc_ctx *ctx;
    svc_client *pub, *con;
    assert_int_equal(svc_ctx_new(NULL, &ctx), SVC_OK);
    assert_int_equal(svc_client_new(ctx, url, NULL, &pub), SVC_OK);
    assert_int_equal(svc_client_new(ctx, url, NULL, &con), SVC_OK);
    const char *subjects[] = {"rs.>", NULL};
    svc_store_opts so = {.name = "RESTART", .subjects = subjects};
    assert_int_equal(svc_store_ensure(pub, &so), SVC_OK);
    svc_sub *sub;
    svc_sub_opts o = {.store = "RESTART", .durable_name = "restart", .manual_ack = true,
                      .ack_wait_ms = 2000, .prefetch = 20000, .max_pending = N};
    assert_int_equal(svc_subscribe(con, "rs.>", &o, on_event, NULL, &sub), SVC_OK);

    svc_pub_opts po = {.persistent = true, .timeout_ms = 60000};
    svc_time start = svc_now();
    for (int i = 0; i < N; i++) {
        if (i == RESTART_AT)
            restart_server();
        char body[32], id[32];
        int n = snprintf(body, sizeof body, "e-%d", i);
        snprintf(id, sizeof id, "id-%d", i);
        po.message_id = id;
        svc_msg *m;
        assert_int_equal(svc_msg_new_data(body, (size_t)n, NULL, &m), SVC_OK);
        assert_int_equal(svc_publish_async(pub, "rs.event", m, &po, on_verdict, NULL), SVC_OK);
        svc_msg_free(m);
    }
    assert_int_equal(svc_publish_flush(pub, 90000), SVC_OK);
    for (int i = 0; i < 9000 && atomic_load(&distinct) < N; i++)
        sleep_ms(10);
    fprintf(stderr, "%.1f s: %d confirmed, %d failed, %d distinct ids seen in %d deliveries\n",
            (double)(svc_now() - start) / 1e9, atomic_load(&confirmed), atomic_load(&failed),
            atomic_load(&distinct), atomic_load(&deliveries));
    assert_int_equal(atomic_load(&failed), 0);
    assert_int_equal(atomic_load(&confirmed), N);
    assert_int_equal(atomic_load(&distinct), N);
    svc_sub_free(sub);
    svc_client_free(con);
    svc_client_free(pub);
    svc_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(survives_restart)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
