/*
 * The NATS transport against a real nats-server: request/reply (metadata,
 * status, deadlines, no responders, load balancing over queue groups,
 * graceful shutdown), events (wildcards, queue groups, headers, slow
 * consumers), bad input, TLS with a test CA, authentication, and the
 * connectivity metrics.
 */
#include <stdatomic.h>
#include <unistd.h>

#include "../../unit/cmocka_all.h"
#include "helloworld.pb-c.h"
#include "nats_test_util.h"

static svc_ctx *ctx;
static svc_server *srv;
static svc_client *cli;
static char url[256];

/* ---- handlers ---- */

static void echo(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *resp;
    assert_int_equal(svc_msg_clone(svc_call_request(c), &resp), SVC_OK);
    svc_msg_md_remove(resp, "traceparent");
    svc_msg_md_add(resp, "x-transport", svc_call_transport(c));
    svc_msg_md_add(resp, "x-method", svc_call_method(c));
    svc_call_reply_md(c, "x-reply-md", "yes");
    svc_call_reply(c, resp);
}

static void fail_not_found(svc_call *c, void *ud)
{
    (void)ud;
    svc_call_fail(c, SVC_NOT_FOUND, "no such order\r\nsecond line");
}

static atomic_bool slow_saw_cancel;
static atomic_llong slow_deadline_left_ms;

static void slow(svc_call *c, void *ud)
{
    (void)ud;
    atomic_store(&slow_deadline_left_ms,
                 (long long)((svc_call_deadline(c) - svc_now()) / SVC_NSEC_PER_MSEC));
    for (int i = 0; i < 400 && !svc_call_cancelled(c); i++)
        sleep_ms(5);
    atomic_store(&slow_saw_cancel, svc_call_cancelled(c));
    svc_call_reply(c, NULL);
}

static void greeter_say_hello(Helloworld__Greeter_Service *s, const Helloworld__HelloRequest *in,
                              Helloworld__HelloReply_Closure closure, void *data)
{
    (void)s;
    char text[128];
    snprintf(text, sizeof text, "Hello %s", in->name);
    Helloworld__HelloReply out = HELLOWORLD__HELLO_REPLY__INIT;
    out.message = text;
    closure(&out, data);
}
static Helloworld__Greeter_Service greeter = HELLOWORLD__GREETER__INIT(greeter_);

static int setup(void **state)
{
    (void)state;
    fixture_url("nats", NULL, "main", url, sizeof url);
    assert_int_equal(svc_ctx_new(NULL, &ctx), SVC_OK);
    assert_int_equal(svc_server_new(ctx, &srv), SVC_OK);
    assert_int_equal(svc_server_handle(srv, "test.Echo/Echo", echo, NULL), SVC_OK);
    assert_int_equal(svc_server_handle(srv, "test.Echo/Fail", fail_not_found, NULL), SVC_OK);
    assert_int_equal(svc_server_handle(srv, "test.Echo/Slow", slow, NULL), SVC_OK);
    assert_int_equal(svc_server_handle_pb(srv, &greeter.base), SVC_OK);
    assert_int_equal(svc_server_listen(srv, url), SVC_OK);
    char want[300];
    snprintf(want, sizeof want, "%s/svc", url);
    assert_string_equal(svc_server_listener_url(srv, 0), want);
    assert_int_equal(svc_client_new(ctx, url, NULL, &cli), SVC_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    svc_client_free(cli);
    svc_server_free(srv);
    svc_ctx_free(ctx);
    return 0;
}

/* ---- request/reply ---- */

static void unary_roundtrip(void **state)
{
    (void)state;
    svc_msg *req, *resp = NULL;
    assert_int_equal(svc_msg_new_data("{\"a\":1}", 7, SVC_CT_JSON, &req), SVC_OK);
    assert_int_equal(svc_msg_md_add(req, "x-user", "ann"), SVC_OK);
    assert_int_equal(svc_msg_md_add(req, "x-user", "bob"), SVC_OK);
    assert_int_equal(svc_msg_md_add_bin(req, "x-raw-bin", "\0\1\xff", 3), SVC_OK);
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo", req, &resp, NULL), SVC_OK);
    assert_int_equal(svc_msg_len(resp), 7);
    assert_memory_equal(svc_msg_data(resp), "{\"a\":1}", 7);
    assert_string_equal(svc_msg_content_type(resp), SVC_CT_JSON);
    size_t len;
    assert_memory_equal(svc_msg_md_get(resp, "x-raw-bin", &len), "\0\1\xff", 3);
    assert_int_equal(len, 3);
    assert_string_equal(svc_msg_md_get(resp, "x-transport", NULL), "nats");
    assert_string_equal(svc_msg_md_get(resp, "x-method", NULL), "test.Echo/Echo");
    assert_string_equal(svc_msg_md_get(resp, "x-reply-md", NULL), "yes");
    /* Both values of a repeated key, in order. */
    int users = 0;
    for (size_t i = 0; i < svc_msg_md_count(resp); i++) {
        const char *k, *v;
        svc_msg_md_at(resp, i, &k, &v, NULL);
        if (strcmp(k, "x-user") == 0)
            assert_string_equal(v, users++ ? "bob" : "ann");
    }
    assert_int_equal(users, 2);
    svc_msg_free(resp);
    svc_msg_free(req);
}

static void status_and_protobuf(void **state)
{
    (void)state;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(cli, "test.Echo/Fail", NULL, &resp, NULL), SVC_NOT_FOUND);
    assert_string_equal(svc_msg_status_message(resp), "no such order  second line");
    svc_msg_free(resp);
    assert_int_equal(svc_client_call(cli, "test.Echo/Nope", NULL, &resp, NULL), SVC_UNIMPLEMENTED);
    svc_msg_free(resp);
    /* A JSON body without a content type (what a plain NATS client sends). */
    svc_msg *req;
    svc_msg_new_data("{\"name\":\"John\"}", 15, NULL, &req);
    assert_int_equal(svc_client_call(cli, "helloworld.Greeter/SayHello", req, &resp, NULL), SVC_OK);
    assert_string_equal(svc_msg_content_type(resp), SVC_CT_JSON);
    assert_memory_equal(svc_msg_data(resp), "{\"message\":\"Hello John\"}", svc_msg_len(resp));
    svc_msg_free(resp);
    svc_msg_free(req);
    /* protobuf-c's generated stub over NATS. */
    Helloworld__HelloRequest in = HELLOWORLD__HELLO_REQUEST__INIT;
    in.name = "Ann";
    Helloworld__HelloReply *out = NULL;
    assert_int_equal(svc_client_call_pb(cli, "helloworld.Greeter/SayHello", &in.base,
                                        &helloworld__hello_reply__descriptor,
                                        (ProtobufCMessage **)&out, NULL),
                     SVC_OK);
    assert_string_equal(out->message, "Hello Ann");
    protobuf_c_message_free_unpacked(&out->base, NULL);
    assert_int_equal(svc_client_call(cli, "GET /orders/1", NULL, &resp, NULL), SVC_UNIMPLEMENTED);
    svc_msg_free(resp);
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo.x", NULL, &resp, NULL),
                     SVC_INVALID_ARGUMENT);
    svc_msg_free(resp);
}

static void no_responders(void **state)
{
    (void)state;
    svc_msg *resp = NULL;
    svc_call_opts o = {.timeout_ms = 5000};
    svc_time start = svc_now();
    assert_int_equal(svc_client_call(cli, "nobody.Here/Call", NULL, &resp, &o), SVC_UNAVAILABLE);
    assert_true(svc_now() - start < 1000 * SVC_NSEC_PER_MSEC); /* at once, not at the deadline */
    assert_non_null(strstr(svc_msg_status_message(resp), "no responders"));
    svc_msg_free(resp);
}

static void deadlines(void **state)
{
    (void)state;
    svc_call_opts o = {.timeout_ms = 200};
    svc_msg *resp = NULL;
    atomic_store(&slow_saw_cancel, false);
    svc_time start = svc_now();
    assert_int_equal(svc_client_call(cli, "test.Echo/Slow", NULL, &resp, &o), SVC_DEADLINE_EXCEEDED);
    svc_time took = svc_now() - start;
    assert_true(took >= 200 * SVC_NSEC_PER_MSEC && took < 1000 * SVC_NSEC_PER_MSEC);
    svc_msg_free(resp);
    for (int i = 0; i < 200 && !atomic_load(&slow_saw_cancel); i++)
        sleep_ms(5);
    /* The deadline crossed the wire: the handler saw it and was cancelled. */
    assert_true(atomic_load(&slow_saw_cancel));
    long long left = atomic_load(&slow_deadline_left_ms);
    assert_true(left > 0 && left <= 200);
}

typedef struct async_count {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok;
} async_count;

static void on_async(svc_code code, svc_msg *resp, void *ud)
{
    async_count *a = ud;
    svc_msg_free(resp);
    pthread_mutex_lock(&a->mu);
    a->done++;
    a->ok += code == SVC_OK;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void many_in_flight(void **state)
{
    (void)state;
    async_count a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        svc_msg *m;
        svc_msg_new_data("x", 1, NULL, &m);
        svc_call_opts o = {.timeout_ms = 10000};
        assert_int_equal(svc_client_call_async(cli, "test.Echo/Echo", m, &o, on_async, &a), SVC_OK);
    }
    pthread_mutex_lock(&a.mu);
    while (a.done < N)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(a.ok, N);
}

static void server_id(svc_call *c, void *ud)
{
    svc_msg *m;
    svc_msg_new_data(ud, strlen(ud), NULL, &m);
    svc_call_reply(c, m);
}

/* Two servers of one service share a queue group: calls spread over both. */
static void queue_group_balancing(void **state)
{
    (void)state;
    svc_server *a, *b;
    assert_int_equal(svc_server_new(ctx, &a), SVC_OK);
    assert_int_equal(svc_server_new(ctx, &b), SVC_OK);
    assert_int_equal(svc_server_handle(a, "lb.Who/Am", server_id, "a"), SVC_OK);
    assert_int_equal(svc_server_handle(b, "lb.Who/Am", server_id, "b"), SVC_OK);
    assert_int_equal(svc_server_listen(a, url), SVC_OK);
    assert_int_equal(svc_server_listen(b, url), SVC_OK);
    int seen_a = 0, seen_b = 0;
    for (int i = 0; i < 100; i++) {
        svc_msg *resp = NULL;
        assert_int_equal(svc_client_call(cli, "lb.Who/Am", NULL, &resp, NULL), SVC_OK);
        seen_a += *(const char *)svc_msg_data(resp) == 'a';
        seen_b += *(const char *)svc_msg_data(resp) == 'b';
        svc_msg_free(resp);
    }
    assert_int_equal(seen_a + seen_b, 100);
    assert_true(seen_a > 10 && seen_b > 10);
    svc_server_free(a);
    svc_server_free(b);
}

static void *delayed_reply(void *arg)
{
    sleep_ms(200);
    svc_call_reply(arg, NULL);
    return NULL;
}

static atomic_bool later_started;

static void reply_later(svc_call *c, void *ud)
{
    (void)ud;
    atomic_store(&later_started, true);
    pthread_t t;
    pthread_create(&t, NULL, delayed_reply, c);
    pthread_detach(t);
}

/* A graceful shutdown lets the call in flight finish. */
static void graceful_shutdown(void **state)
{
    (void)state;
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_handle(s, "drain.Me/Later", reply_later, NULL), SVC_OK);
    assert_int_equal(svc_server_listen(s, url), SVC_OK);
    async_count a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    svc_call_opts o = {.timeout_ms = 5000};
    assert_int_equal(svc_client_call_async(cli, "drain.Me/Later", NULL, &o, on_async, &a), SVC_OK);
    for (int i = 0; i < 500 && !atomic_load(&later_started); i++)
        sleep_ms(10); /* until the call is in the handler */
    assert_int_equal(svc_server_shutdown(s, 3000), SVC_OK);
    svc_server_free(s);
    pthread_mutex_lock(&a.mu);
    while (a.done < 1)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(a.ok, 1);
    /* Nobody serves it any more. */
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(cli, "drain.Me/Later", NULL, &resp, &o), SVC_UNAVAILABLE);
    svc_msg_free(resp);
}

/* ---- events ---- */

static void wildcards_and_headers(void **state)
{
    (void)state;
    collector star = COLLECTOR_INIT, all = COLLECTOR_INIT, exact = COLLECTOR_INIT;
    svc_sub *s1, *s2, *s3;
    assert_int_equal(svc_subscribe(cli, "order.*", NULL, collect, &star, &s1), SVC_OK);
    assert_int_equal(svc_subscribe(cli, "order.>", NULL, collect, &all, &s2), SVC_OK);
    assert_int_equal(svc_subscribe(cli, "order.created", NULL, collect, &exact, &s3), SVC_OK);
    svc_msg *m;
    assert_int_equal(svc_msg_new_data("{\"id\":7}", 8, SVC_CT_JSON, &m), SVC_OK);
    assert_int_equal(svc_msg_md_add(m, "traceparent",
                                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                     SVC_OK);
    assert_int_equal(svc_msg_md_add_bin(m, "x-sig-bin", "\xde\xad", 2), SVC_OK);
    assert_int_equal(svc_publish(cli, "order.created", m, NULL), SVC_OK);
    svc_msg_free(m);
    assert_int_equal(publish_text(cli, "order.eu.shipped", "eu"), SVC_OK);
    assert_int_equal(collector_wait(&all, 2, 5000), 2);
    assert_int_equal(collector_wait(&star, 1, 5000), 1);
    assert_int_equal(collector_wait(&exact, 1, 5000), 1);
    sleep_ms(100);
    assert_int_equal(collector_count(&star), 1); /* "*" is one token: not order.eu.shipped */
    assert_string_equal(exact.last_topic, "order.created");
    assert_string_equal(exact.last_data, "{\"id\":7}");
    assert_string_equal(svc_msg_content_type(exact.last), SVC_CT_JSON);
    assert_string_equal(svc_msg_md_get(exact.last, "traceparent", NULL),
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    size_t len;
    assert_memory_equal(svc_msg_md_get(exact.last, "x-sig-bin", &len), "\xde\xad", 2);
    assert_int_equal(len, 2);
    assert_int_equal(exact.last_count, 1);
    svc_sub_free(s1);
    svc_sub_free(s2);
    svc_sub_free(s3);
    collector_clear(&star);
    collector_clear(&all);
    collector_clear(&exact);
}

static void queue_groups(void **state)
{
    (void)state;
    collector members[3] = {COLLECTOR_INIT, COLLECTOR_INIT, COLLECTOR_INIT}, solo = COLLECTOR_INIT;
    svc_sub *subs[4];
    svc_sub_opts o = {.queue_group = "workers"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(svc_subscribe(cli, "job.*", &o, collect, &members[i], &subs[i]), SVC_OK);
    assert_int_equal(svc_subscribe(cli, "job.*", NULL, collect, &solo, &subs[3]), SVC_OK);
    enum { N = 600 };
    for (int i = 0; i < N; i++)
        assert_int_equal(publish_text(cli, "job.run", "j"), SVC_OK);
    assert_int_equal(collector_wait(&solo, N, 10000), N);
    int total = 0;
    for (int i = 0; i < 3; i++)
        total += collector_wait(&members[i], 1, 5000) ? collector_count(&members[i]) : 0;
    for (int i = 0; i < 50 && total < N; i++) {
        sleep_ms(20);
        total = collector_count(&members[0]) + collector_count(&members[1]) +
                collector_count(&members[2]);
    }
    assert_int_equal(total, N); /* each event to exactly one member */
    for (int i = 0; i < 3; i++) {
        assert_true(collector_count(&members[i]) > N / 10); /* and all of them take a share */
        svc_sub_free(subs[i]);
        collector_clear(&members[i]);
    }
    svc_sub_free(subs[3]);
    collector_clear(&solo);
}

static atomic_ullong dropped_reported;

static void on_dropped(svc_sub *sub, uint64_t total, void *ud)
{
    (void)sub;
    (void)ud;
    atomic_store(&dropped_reported, total);
}

static void sluggish(svc_event *ev, void *ud)
{
    (void)ev;
    (void)ud;
    sleep_ms(2);
}

/* An inline handler that falls behind: cnats' pending limit (max_pending)
 * overflows and the drops are reported, not silent. */
static void slow_consumer(void **state)
{
    (void)state;
    svc_sub *s;
    svc_sub_opts o = {.max_pending = 20, .dispatch = SVC_DISPATCH_INLINE, .on_dropped = on_dropped};
    assert_int_equal(svc_subscribe(cli, "flood", &o, sluggish, NULL, &s), SVC_OK);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(publish_text(cli, "flood", "x"), SVC_OK);
    assert_int_equal(svc_publish_flush(cli, 5000), SVC_OK);
    for (int i = 0; i < 300 && svc_sub_dropped(s) == 0; i++)
        sleep_ms(10);
    uint64_t dropped = svc_sub_dropped(s);
    svc_sub_free(s);
    assert_true(dropped > 0);
}

static void metrics(void **state)
{
    (void)state;
    char *text = NULL;
    assert_int_equal(svc_metrics_prometheus(ctx, &text, NULL), SVC_OK);
    assert_non_null(strstr(text, "svc_nats_connection_state{"));
    assert_non_null(strstr(text, "svc_nats_connection_changes_total{"));
    assert_non_null(strstr(text, "state=\"ready\""));
    assert_non_null(strstr(text, "svc_events_dropped_total{transport=\"nats\",pattern=\"flood\"}"));
    assert_non_null(strstr(text, "svc_server_handled_total{transport=\"nats\""));
    svc_free(text);
    assert_true(atomic_load(&dropped_reported) > 0);
}

/* ---- bad input ---- */

static void bad_input(void **state)
{
    (void)state;
    svc_msg *m;
    svc_msg_new_data("x", 1, NULL, &m);
    assert_int_equal(svc_publish(cli, "has space", m, NULL), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_publish(cli, "a..b", m, NULL), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_publish(cli, "", m, NULL), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_publish(cli, "a.*", m, NULL), SVC_INVALID_ARGUMENT);
    svc_sub *s = NULL;
    collector c = COLLECTOR_INIT;
    assert_int_equal(svc_subscribe(cli, "a.>.b", NULL, collect, &c, &s), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_subscribe(cli, "a. b", NULL, collect, &c, &s), SVC_INVALID_ARGUMENT);
    svc_sub_opts bad_group = {.queue_group = "has space"};
    assert_int_equal(svc_subscribe(cli, "ok", &bad_group, collect, &c, &s), SVC_INVALID_ARGUMENT);

    /* The fixture's max_payload is 64 KiB. */
    size_t big = 70 * 1024;
    char *data = calloc(1, big);
    svc_msg *large;
    svc_msg_new_data(data, big, NULL, &large);
    assert_int_equal(svc_publish(cli, "big", large, NULL), SVC_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(svc_last_error(), "max_payload"));
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo", large, &resp, NULL), SVC_RESOURCE_EXHAUSTED);
    svc_msg_free(resp);
    svc_msg_free(large);
    memset(data, 'h', 8000);
    data[8000] = '\0';
    for (int i = 0; i < 10; i++) {
        char key[16];
        snprintf(key, sizeof key, "x-big-%d", i);
        svc_msg_md_add(m, key, data);
    }
    assert_int_equal(svc_publish(cli, "headers", m, NULL), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "headers"));
    free(data);
    svc_msg_free(m);

    /* A server that is not there: reported at first use. */
    svc_client *nobody;
    assert_int_equal(svc_client_new(ctx, "nats://127.0.0.1:1", NULL, &nobody), SVC_OK);
    assert_int_equal(svc_client_call(nobody, "test.Echo/Echo", NULL, &resp, NULL), SVC_UNAVAILABLE);
    svc_msg_free(resp);
    assert_int_equal(publish_text(nobody, "x", "y"), SVC_UNAVAILABLE);
    svc_client_free(nobody);
    svc_server *nosrv;
    assert_int_equal(svc_server_new(ctx, &nosrv), SVC_OK);
    assert_int_equal(svc_server_listen(nosrv, "nats://127.0.0.1:1"), SVC_UNAVAILABLE);
    svc_server_free(nosrv);
    assert_int_equal(svc_client_new(ctx, "nats://127.0.0.1:1/a b", NULL, &nobody),
                     SVC_INVALID_ARGUMENT);
}

/* ---- TLS and authentication ---- */

static void tls(void **state)
{
    (void)state;
    char tls_url[256], certs[512], ca[600], cert[600], key[600];
    fixture_url("tls", NULL, "tls", tls_url, sizeof tls_url);
    snprintf(certs, sizeof certs, "%s/certs", getenv("SVC_TEST_DIR"));
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    snprintf(cert, sizeof cert, "%s/client.pem", certs);
    snprintf(key, sizeof key, "%s/client.key", certs);
    svc_listen_opts lo = {.tls = {.ca_file = ca, .cert_file = cert, .key_file = key}};
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_handle(s, "tls.Echo/Echo", echo, NULL), SVC_OK);
    assert_int_equal(svc_server_listen_ex(s, tls_url, &lo), SVC_OK);
    svc_client_opts co;
    svc_client_opts_init(&co);
    co.tls = lo.tls;
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, tls_url, &co, &c), SVC_OK);
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(c, "tls.Echo/Echo", NULL, &resp, NULL), SVC_OK);
    svc_msg_free(resp);
    svc_client_free(c);
    /* No client certificate: the server (verify on) refuses us. */
    svc_client_opts_init(&co);
    co.tls.ca_file = ca;
    assert_int_equal(svc_client_new(ctx, tls_url, &co, &c), SVC_OK);
    assert_int_not_equal(svc_client_call(c, "tls.Echo/Echo", NULL, &resp, NULL), SVC_OK);
    svc_msg_free(resp);
    svc_client_free(c);
    /* Not trusting the test CA: the server is not verified. */
    svc_client_opts_init(&co);
    co.tls.cert_file = cert;
    co.tls.key_file = key;
    assert_int_equal(svc_client_new(ctx, tls_url, &co, &c), SVC_OK);
    assert_int_equal(svc_client_call(c, "tls.Echo/Echo", NULL, &resp, NULL), SVC_UNAVAILABLE);
    svc_msg_free(resp);
    svc_client_free(c);
    svc_server_free(s);
}

static void auth(void **state)
{
    (void)state;
    char good[256], bad[256];
    fixture_url("nats", "svc:secret@", "auth", good, sizeof good);
    fixture_url("nats", "svc:wrong@", "auth", bad, sizeof bad);
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_handle(s, "auth.Echo/Echo", echo, NULL), SVC_OK);
    assert_int_equal(svc_server_listen(s, bad), SVC_UNAUTHENTICATED);
    assert_int_equal(svc_server_listen(s, good), SVC_OK);
    /* The bound address carries no credentials. */
    assert_null(strstr(svc_server_listener_url(s, 0), "secret"));
    svc_client *c;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_new(ctx, good, NULL, &c), SVC_OK);
    assert_int_equal(svc_client_call(c, "auth.Echo/Echo", NULL, &resp, NULL), SVC_OK);
    svc_msg_free(resp);
    svc_client_free(c);
    assert_int_equal(svc_client_new(ctx, bad, NULL, &c), SVC_OK);
    assert_int_equal(svc_client_call(c, "auth.Echo/Echo", NULL, &resp, NULL), SVC_UNAUTHENTICATED);
    svc_msg_free(resp);
    assert_int_equal(publish_text(c, "x", "y"), SVC_UNAUTHENTICATED);
    svc_client_free(c);
    svc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unary_roundtrip),
        cmocka_unit_test(status_and_protobuf),
        cmocka_unit_test(no_responders),
        cmocka_unit_test(deadlines),
        cmocka_unit_test(many_in_flight),
        cmocka_unit_test(queue_group_balancing),
        cmocka_unit_test(graceful_shutdown),
        cmocka_unit_test(wildcards_and_headers),
        cmocka_unit_test(queue_groups),
        cmocka_unit_test(slow_consumer),
        cmocka_unit_test(metrics),
        cmocka_unit_test(bad_input),
        cmocka_unit_test(tls),
        cmocka_unit_test(auth),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
