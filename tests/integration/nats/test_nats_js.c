/*
 * JetStream through the common API against a real nats-server: stores,
 * acknowledged and asynchronous publishes, Nats-Msg-Id de-duplication,
 * durable push and pull consumers, explicit ack, nak with delay, term,
 * in-progress, max deliver, delivery counts, the errors for stores and
 * subjects that do not exist, publishes nothing answers, publishes
 * retried until a stream captures them, a full window and a client freed
 * with publishes unconfirmed.
 */
#include <stdatomic.h>

#include "../../unit/cmocka_all.h"
#include "nats_test_util.h"

static svc_ctx *ctx;
static svc_client *cli;

static int setup(void **state)
{
    (void)state;
    char url[256];
    fixture_url("nats", NULL, "js", url, sizeof url);
    assert_int_equal(svc_ctx_new(NULL, &ctx), SVC_OK);
    assert_int_equal(svc_client_new(ctx, url, NULL, &cli), SVC_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    svc_client_free(cli);
    svc_ctx_free(ctx);
    return 0;
}

static void make_store(const char *name, const char *subject)
{
    const char *subjects[] = {subject, NULL};
    svc_store_opts so = {.name = name, .subjects = subjects, .max_age_ms = 3600 * 1000,
                         .duplicate_window_ms = 60 * 1000};
    assert_int_equal(svc_store_ensure(cli, &so), SVC_OK);
    so.max_msgs = 100000; /* an update of an existing store */
    assert_int_equal(svc_store_ensure(cli, &so), SVC_OK);
}

static svc_code publish_id(const char *topic, const char *text, const char *id)
{
    svc_msg *m;
    svc_msg_new_data(text, strlen(text), NULL, &m);
    svc_msg_md_add(m, "x-kind", "test");
    svc_pub_opts po = {.persistent = true, .message_id = id};
    svc_code rc = svc_publish(cli, topic, m, &po);
    svc_msg_free(m);
    return rc;
}

static void stores_and_dedup(void **state)
{
    (void)state;
    make_store("ORDERS", "orders.>");
    assert_int_equal(publish_id("orders.created", "one", "id-1"), SVC_OK);
    assert_int_equal(publish_id("orders.created", "one again", "id-1"), SVC_OK); /* dropped */
    assert_int_equal(publish_id("orders.paid", "two", "id-2"), SVC_OK);
    collector c = COLLECTOR_INIT;
    svc_sub *s;
    svc_sub_opts o = {.store = "ORDERS", .durable_name = "dedup"};
    assert_int_equal(svc_subscribe(cli, "orders.>", &o, collect, &c, &s), SVC_OK);
    assert_int_equal(collector_wait(&c, 2, 5000), 2);
    sleep_ms(300);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.last_data, "two");
    assert_string_equal(svc_msg_md_get(c.last, "x-kind", NULL), "test");
    assert_string_equal(svc_msg_md_get(c.last, "nats-msg-id", NULL), "id-2");
    svc_sub_free(s);
    collector_clear(&c);

    /* The durable resumes where it stopped: only what came after. */
    assert_int_equal(publish_id("orders.shipped", "three", NULL), SVC_OK);
    assert_int_equal(svc_subscribe(cli, "orders.>", &o, collect, &c, &s), SVC_OK);
    assert_int_equal(collector_wait(&c, 1, 5000), 1);
    sleep_ms(300);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.last_data, "three");
    svc_sub_free(s);
    collector_clear(&c);
}

typedef struct settler {
    collector c;
    atomic_int nacks, terms;
} settler;

/* "nack-me" is nacked once with a delay, "term-me" terminated, the rest
 * acked after an in-progress. */
static void settle_by_body(svc_event *ev, void *ud)
{
    settler *st = ud;
    const svc_msg *m = svc_event_msg(ev);
    collector_add(&st->c, ev);
    if (svc_msg_len(m) == 7 && memcmp(svc_msg_data(m), "nack-me", 7) == 0 &&
        svc_event_delivery_count(ev) == 1) {
        atomic_fetch_add(&st->nacks, 1);
        assert_int_equal(svc_event_nack(ev, 200), SVC_OK);
    } else if (svc_msg_len(m) == 7 && memcmp(svc_msg_data(m), "term-me", 7) == 0) {
        atomic_fetch_add(&st->terms, 1);
        assert_int_equal(svc_event_term(ev), SVC_OK);
    } else {
        assert_int_equal(svc_event_in_progress(ev), SVC_OK);
        assert_int_equal(svc_event_ack(ev), SVC_OK);
    }
}

static void settle_push_and_pull(bool pull)
{
    const char *store = pull ? "PULLS" : "PUSHES";
    const char *subject = pull ? "pulls.x" : "pushes.x";
    make_store(store, pull ? "pulls.>" : "pushes.>");
    settler st = {.c = COLLECTOR_INIT};
    svc_sub *s;
    svc_sub_opts o = {.store = store, .durable_name = "settler", .manual_ack = true,
                      .pull = pull, .ack_wait_ms = 2000, .prefetch = 16};
    assert_int_equal(svc_subscribe(cli, ">", &o, settle_by_body, &st, &s), SVC_OK);
    assert_int_equal(publish_id(subject, "nack-me", NULL), SVC_OK);
    assert_int_equal(publish_id(subject, "term-me", NULL), SVC_OK);
    assert_int_equal(publish_id(subject, "ack-me", NULL), SVC_OK);
    /* nack-me twice (the second is delivery 2), term-me once, ack-me once. */
    assert_int_equal(collector_wait(&st.c, 4, 8000), 4);
    sleep_ms(500);
    assert_int_equal(st.c.n, 4);
    assert_int_equal(atomic_load(&st.nacks), 1);
    assert_int_equal(atomic_load(&st.terms), 1);
    svc_sub_free(s);
    collector_clear(&st.c);
}

static void push_settling(void **state)
{
    (void)state;
    settle_push_and_pull(false);
}

static void pull_settling(void **state)
{
    (void)state;
    settle_push_and_pull(true);
}

static atomic_int redeliveries;

static void always_nack(svc_event *ev, void *ud)
{
    collector_add(ud, ev);
    if (svc_event_delivery_count(ev) > 1)
        atomic_fetch_add(&redeliveries, 1);
    svc_event_nack(ev, 0);
}

static void max_deliver(void **state)
{
    (void)state;
    make_store("POISON", "poison.>");
    collector c = COLLECTOR_INIT;
    svc_sub *s;
    svc_sub_opts o = {.store = "POISON", .durable_name = "twice", .manual_ack = true,
                      .max_deliver = 2};
    assert_int_equal(svc_subscribe(cli, "poison.>", &o, always_nack, &c, &s), SVC_OK);
    assert_int_equal(publish_id("poison.pill", "bad", NULL), SVC_OK);
    assert_int_equal(collector_wait(&c, 2, 5000), 2);
    sleep_ms(500);
    assert_int_equal(c.n, 2); /* given up after two deliveries */
    assert_int_equal(c.last_count, 2);
    assert_int_equal(atomic_load(&redeliveries), 1);
    svc_sub_free(s);
    collector_clear(&c);
}

typedef struct verdicts {
    atomic_int ok, failed;
} verdicts;

static void on_verdict(svc_code code, const char *message, void *ud)
{
    (void)message;
    verdicts *v = ud;
    atomic_fetch_add(code == SVC_OK ? &v->ok : &v->failed, 1);
}

static void async_publishes(void **state)
{
    (void)state;
    make_store("ASYNC", "async.>");
    verdicts v = {0};
    enum { N = 2000 };
    svc_msg *m;
    svc_msg_new_data("payload", 7, NULL, &m);
    svc_pub_opts po = {.persistent = true};
    for (int i = 0; i < N; i++)
        assert_int_equal(svc_publish_async(cli, "async.e", m, &po, on_verdict, &v), SVC_OK);
    assert_int_equal(svc_publish_flush(cli, 20000), SVC_OK);
    for (int i = 0; i < 200 && atomic_load(&v.ok) + atomic_load(&v.failed) < N; i++)
        sleep_ms(10); /* verdict callbacks run on the pool */
    assert_int_equal(atomic_load(&v.ok), N);
    /* Larger than a window slot keeps between publishes. */
    char big[3000];
    memset(big, 'b', sizeof big);
    svc_msg *large;
    svc_msg_new_data(big, sizeof big, NULL, &large);
    verdicts lv = {0};
    for (int i = 0; i < 20; i++)
        assert_int_equal(svc_publish_async(cli, "async.large", large, &po, on_verdict, &lv), SVC_OK);
    assert_int_equal(svc_publish_flush(cli, 20000), SVC_OK);
    for (int i = 0; i < 200 && atomic_load(&lv.ok) < 20; i++)
        sleep_ms(10);
    assert_int_equal(atomic_load(&lv.ok), 20);
    svc_msg_free(large);
    /* Nobody captures this subject: the verdict says so. */
    po.timeout_ms = 500;
    verdicts none = {0};
    assert_int_equal(svc_publish_async(cli, "nowhere.e", m, &po, on_verdict, &none), SVC_OK);
    assert_int_equal(svc_publish_flush(cli, 5000), SVC_OK);
    for (int i = 0; i < 200 && atomic_load(&none.failed) == 0; i++)
        sleep_ms(10);
    assert_int_equal(atomic_load(&none.failed), 1);
    svc_msg_free(m);
}

/* Verdicts by code, each with the last message, counted once they ran. */
typedef struct tally {
    atomic_int codes[SVC_CODE_COUNT], total;
    pthread_mutex_t mu;
    char last[256];
} tally;

static void count_verdict(svc_code code, const char *message, void *ud)
{
    tally *t = ud;
    pthread_mutex_lock(&t->mu);
    snprintf(t->last, sizeof t->last, "%s", message);
    pthread_mutex_unlock(&t->mu);
    atomic_fetch_add(&t->codes[code], 1);
    atomic_fetch_add(&t->total, 1);
}

/* Verdict callbacks run on the pool: waits (at most 10 s) until n ran. */
static int tally_wait(tally *t, int n)
{
    for (int i = 0; i < 1000 && atomic_load(&t->total) < n; i++)
        sleep_ms(10);
    return atomic_load(&t->total);
}

/* A publish nothing answers (a core subscriber takes it, no stream
 * captures it) fails with DEADLINE_EXCEEDED once its timeout passed. */
static void unanswered_times_out(void **state)
{
    (void)state;
    collector silent = COLLECTOR_INIT;
    svc_sub *s;
    assert_int_equal(svc_subscribe(cli, "silent.>", NULL, collect, &silent, &s), SVC_OK);
    tally t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    svc_msg *m;
    svc_msg_new_data("x", 1, NULL, &m);
    svc_pub_opts po = {.persistent = true, .timeout_ms = 600};
    svc_time start = svc_now();
    assert_int_equal(svc_publish_async(cli, "silent.t", m, &po, count_verdict, &t), SVC_OK);
    assert_int_equal(tally_wait(&t, 1), 1);
    assert_int_equal(atomic_load(&t.codes[SVC_DEADLINE_EXCEEDED]), 1);
    assert_non_null(strstr(t.last, "not confirmed"));
    assert_true(svc_now() - start >= 600 * SVC_NSEC_PER_MSEC);
    assert_int_equal(collector_wait(&silent, 1, 5000), 1);
    svc_msg_free(m);
    svc_sub_free(s);
    collector_clear(&silent);
}

/* A publish no stream captures yet is retried (the server answers "no
 * responders" at once) until one does, within its timeout. */
static void retried_until_captured(void **state)
{
    (void)state;
    tally t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    svc_msg *m;
    svc_msg_new_data("late", 4, NULL, &m);
    svc_pub_opts po = {.persistent = true, .timeout_ms = 8000, .message_id = "late-1"};
    assert_int_equal(svc_publish_async(cli, "later.e", m, &po, count_verdict, &t), SVC_OK);
    po.message_id = NULL; /* and one without headers */
    assert_int_equal(svc_publish_async(cli, "later.e", m, &po, count_verdict, &t), SVC_OK);
    sleep_ms(400);
    assert_int_equal(atomic_load(&t.total), 0);
    make_store("LATER", "later.>");
    assert_int_equal(tally_wait(&t, 2), 2);
    assert_int_equal(atomic_load(&t.codes[SVC_OK]), 2);
    svc_msg_free(m);
    assert_int_equal(svc_store_delete(cli, "LATER"), SVC_OK);
}

/* Freeing a client while its window is full of unconfirmed publishes:
 * one beyond the window waits for room and gives up at its timeout, and
 * every accepted one gets exactly one verdict, UNAVAILABLE for those
 * still waiting (ASan checks that nothing leaks). "silent.*" has a core
 * subscriber that never replies, so those attempts are surely out and
 * unanswered; nothing captures "nowhere.*", so those wait for a retry. */
static void free_with_unconfirmed(void **state)
{
    (void)state;
    enum { WINDOW = 4000, CONFIRMED = 200, RETRYING = 200, SILENT = WINDOW - RETRYING };
    make_store("FREED", "freed.>");
    collector silent = COLLECTOR_INIT;
    svc_sub *s;
    assert_int_equal(svc_subscribe(cli, "silent.>", NULL, collect, &silent, &s), SVC_OK);
    char url[256];
    fixture_url("nats", NULL, "js", url, sizeof url);
    svc_client *pub;
    assert_int_equal(svc_client_new(ctx, url, NULL, &pub), SVC_OK);
    static tally confirmed = {.mu = PTHREAD_MUTEX_INITIALIZER},
                 retrying = {.mu = PTHREAD_MUTEX_INITIALIZER},
                 unanswered = {.mu = PTHREAD_MUTEX_INITIALIZER},
                 beyond = {.mu = PTHREAD_MUTEX_INITIALIZER};
    svc_msg *m;
    svc_msg_new_data("payload", 7, NULL, &m);
    svc_pub_opts po = {.persistent = true, .timeout_ms = 60000};
    for (int i = 0; i < CONFIRMED; i++)
        assert_int_equal(svc_publish_async(pub, "freed.e", m, &po, count_verdict, &confirmed),
                         SVC_OK);
    assert_int_equal(tally_wait(&confirmed, CONFIRMED), CONFIRMED);
    assert_int_equal(atomic_load(&confirmed.codes[SVC_OK]), CONFIRMED);
    for (int i = 0; i < RETRYING; i++)
        assert_int_equal(svc_publish_async(pub, "nowhere.e", m, &po, count_verdict, &retrying),
                         SVC_OK);
    /* Half with a message id: those go out as a natsMsg with headers. */
    for (int i = 0; i < SILENT; i++) {
        char id[32];
        snprintf(id, sizeof id, "silent-%d", i);
        po.message_id = i % 2 ? id : NULL;
        assert_int_equal(svc_publish_async(pub, "silent.e", m, &po, count_verdict, &unanswered),
                         SVC_OK);
    }
    assert_int_equal(collector_wait(&silent, SILENT, 10000), SILENT);
    po.timeout_ms = 300;
    po.message_id = NULL;
    svc_time start = svc_now();
    assert_int_equal(svc_publish_async(pub, "silent.e", m, &po, count_verdict, &beyond),
                     SVC_DEADLINE_EXCEEDED);
    assert_true(svc_now() - start >= 300 * SVC_NSEC_PER_MSEC);
    svc_client_free(pub);
    assert_int_equal(tally_wait(&unanswered, SILENT), SILENT);
    assert_int_equal(atomic_load(&unanswered.codes[SVC_UNAVAILABLE]), SILENT);
    assert_non_null(strstr(unanswered.last, "freed"));
    assert_int_equal(tally_wait(&retrying, RETRYING), RETRYING);
    assert_int_equal(atomic_load(&retrying.codes[SVC_UNAVAILABLE]), RETRYING);
    sleep_ms(100);
    assert_int_equal(atomic_load(&confirmed.total), CONFIRMED);
    assert_int_equal(atomic_load(&unanswered.total), SILENT);
    assert_int_equal(atomic_load(&beyond.total), 0); /* refused: no verdict */
    svc_msg_free(m);
    svc_sub_free(s);
    collector_clear(&silent);
    assert_int_equal(svc_store_delete(cli, "FREED"), SVC_OK);
}

static void bad_input(void **state)
{
    (void)state;
    collector c = COLLECTOR_INIT;
    svc_sub *s = NULL;
    svc_sub_opts o = {.store = "NOPE", .durable_name = "d"};
    assert_int_equal(svc_subscribe(cli, "x.>", &o, collect, &c, &s), SVC_NOT_FOUND);
    o.durable_name = NULL;
    assert_int_equal(svc_subscribe(cli, "x.>", &o, collect, &c, &s), SVC_NOT_FOUND);
    svc_sub_opts pull = {.store = "ORDERS", .pull = true};
    assert_int_equal(svc_subscribe(cli, "orders.>", &pull, collect, &c, &s), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_store_delete(cli, "NOPE"), SVC_NOT_FOUND);
    assert_int_equal(publish_id("uncaptured.subject", "x", NULL), SVC_NOT_FOUND);
    assert_int_equal(publish_id("bad subject", "x", NULL), SVC_INVALID_ARGUMENT);
    const char *subjects[] = {"fine.>", NULL};
    svc_store_opts so = {.name = "bad name", .subjects = subjects};
    assert_int_equal(svc_store_ensure(cli, &so), SVC_INVALID_ARGUMENT);
    so.name = "OVERLAP";
    so.subjects = (const char *[]){"orders.created", NULL};
    assert_int_not_equal(svc_store_ensure(cli, &so), SVC_OK); /* ORDERS has it */
    assert_int_equal(svc_store_delete(cli, "ASYNC"), SVC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stores_and_dedup),
        cmocka_unit_test(push_settling),
        cmocka_unit_test(pull_settling),
        cmocka_unit_test(max_deliver),
        cmocka_unit_test(async_publishes),
        cmocka_unit_test(unanswered_times_out),
        cmocka_unit_test(retried_until_captured),
        cmocka_unit_test(free_with_unconfirmed),
        cmocka_unit_test(bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
