/*
 * No message lost across a broker restart: 100,000 persistent events are
 * published with pipelined confirms while the broker is stopped and started
 * again mid-stream, and consumed from a durable queue with manual acks.
 * Every id must arrive at least once, and a second arrival must say it is
 * a redelivery.
 */
#include <stdatomic.h>
#include <unistd.h>

#include "../../unit/cmocka_all.h"
#include "amqp_test_util.h"

#define TOTAL 100000
#define RESTART_AT 20000

static svc_ctx *ctx;
static char url[256], queue[64];
static unsigned char seen[TOTAL];
static atomic_long unique, dupes, bad_dupes, failed;
static counter published = COUNTER_INIT;

static void on_event(svc_event *ev, void *ud)
{
    (void)ud;
    const svc_msg *m = svc_event_msg(ev);
    char buf[16];
    snprintf(buf, sizeof buf, "%.*s", (int)svc_msg_len(m), (const char *)svc_msg_data(m));
    long n = atol(buf);
    if (n >= 0 && n < TOTAL) { /* one handler at a time: no lock needed */
        if (seen[n]++ == 0)
            atomic_fetch_add(&unique, 1);
        else if (atomic_fetch_add(&dupes, 1), !svc_event_redelivered(ev))
            atomic_fetch_add(&bad_dupes, 1);
    }
    svc_event_ack(ev);
}

/* Ids the broker could not route (mandatory): while it boots, a durable
 * queue may not be back yet. An at-least-once publisher sends them again. */
static pthread_mutex_t retry_mu = PTHREAD_MUTEX_INITIALIZER;
static long retry[TOTAL], n_retry;

static void on_verdict(svc_code code, const char *message, void *ud)
{
    if (code == SVC_NOT_FOUND) {
        pthread_mutex_lock(&retry_mu);
        retry[n_retry++] = (long)(intptr_t)ud;
        pthread_mutex_unlock(&retry_mu);
    } else if (code != SVC_OK && atomic_fetch_add(&failed, 1) < 5) {
        fprintf(stderr, "publish failed: %s: %s\n", svc_code_name(code), message);
    }
}

static void publish_one(svc_client *pub, const char *topic, const svc_pub_opts *po, long i)
{
    char body[16];
    int n = snprintf(body, sizeof body, "%ld", i);
    svc_msg *m;
    svc_msg_new_data(body, (size_t)n, NULL, &m);
    assert_int_equal(svc_publish_async(pub, topic, m, po, on_verdict, (void *)(intptr_t)i), SVC_OK);
    svc_msg_free(m);
}

static void *restart_broker(void *arg)
{
    (void)arg;
    counter_wait(&published, RESTART_AT, 60000);
    char cmd[1024];
    const char *ctl = getenv("AMQP_BROKER_CTL");
    snprintf(cmd, sizeof cmd, "%s stop-broker %s/amqp_broker && %s start-broker %s/amqp_broker",
             ctl, getenv("SVC_TEST_DIR"), ctl, getenv("SVC_TEST_DIR"));
    fprintf(stderr, "restarting the broker after %ld publishes\n", counter_get(&published));
    int rc = system(cmd);
    if (rc != 0) { /* fail now, not after every publish timed out */
        fprintf(stderr, "FAIL: the broker did not come back (%d)\n", rc);
        _exit(1);
    }
    fprintf(stderr, "broker back\n");
    return NULL;
}

static void restart_loses_nothing(void **state)
{
    (void)state;
    assert_non_null(getenv("AMQP_BROKER_CTL"));
    snprintf(url, sizeof url, "amqp://guest:guest@127.0.0.1:%d/%%2f", broker_port("AMQP_PORT"));
    snprintf(queue, sizeof queue, "t.restart.%d", (int)getpid());
    assert_int_equal(svc_ctx_new(NULL, &ctx), SVC_OK);
    svc_client *pub, *con;
    assert_int_equal(svc_client_new(ctx, url, NULL, &pub), SVC_OK);
    assert_int_equal(svc_client_new(ctx, url, NULL, &con), SVC_OK);
    svc_sub_opts so = {.manual_ack = true, .durable = true, .prefetch = 500};
    svc_sub *sub;
    assert_int_equal(svc_subscribe(con, queue, &so, on_event, NULL, &sub), SVC_OK);

    pthread_t restarter;
    pthread_create(&restarter, NULL, restart_broker, NULL);
    svc_pub_opts po = {.persistent = true, .mandatory = true, .timeout_ms = 90000};
    char topic[80];
    snprintf(topic, sizeof topic, "/%s", queue);
    svc_time start = svc_now();
    for (long i = 0; i < TOTAL; i++) {
        publish_one(pub, topic, &po, i);
        counter_add(&published, 1);
    }
    assert_int_equal(svc_publish_flush(pub, 90000), SVC_OK);
    long resent = 0;
    for (int round = 0; round < 20; round++) {
        pthread_mutex_lock(&retry_mu);
        long n = n_retry, *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
        memcpy(ids, retry, (size_t)n * sizeof *ids);
        n_retry = 0;
        pthread_mutex_unlock(&retry_mu);
        for (long k = 0; k < n; k++)
            publish_one(pub, topic, &po, ids[k]);
        free(ids);
        resent += n;
        assert_int_equal(svc_publish_flush(pub, 90000), SVC_OK);
        if (!n)
            break;
        sleep_ms(200);
    }
    fprintf(stderr, "%ld returned while the queue was not back, sent again\n", resent);
    fprintf(stderr, "published and confirmed %d in %.1f s\n", TOTAL,
            (double)(svc_now() - start) / 1e9);
    pthread_join(restarter, NULL);
    for (int i = 0; i < 900 && atomic_load(&unique) < TOTAL; i++)
        sleep_ms(100);
    fprintf(stderr, "consumed: %ld unique, %ld duplicates (%ld not marked redelivered), %ld "
                    "publish failures\n",
            atomic_load(&unique), atomic_load(&dupes), atomic_load(&bad_dupes), atomic_load(&failed));
    svc_sub_free(sub);
    svc_client_free(con);
    svc_client_free(pub);
    svc_ctx_free(ctx);
    assert_int_equal(atomic_load(&failed), 0);
    assert_int_equal(atomic_load(&unique), TOTAL);
    assert_int_equal(atomic_load(&bad_dupes), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(restart_loses_nothing)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
