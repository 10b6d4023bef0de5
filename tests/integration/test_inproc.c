/*
 * The inproc transport end to end: request/reply with metadata, status,
 * deadlines, cancellation, late replies from other threads, many calls in
 * flight, routes, trace propagation; publish/subscribe with wildcards,
 * queue groups, manual acks and slow consumers; and the metrics they leave.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <unistd.h>

#include "../unit/cmocka_all.h"
#include "core/call.h" /* svc_server_each_service */
#include "helloworld.pb-c.h"
#include "test_service.h"

static svc_ctx *ctx;
static svc_server *srv;
static svc_client *cli;

/* ---- handlers beyond the shared test service ---- */

static void order_route(svc_call *c, void *ud)
{
    (void)ud;
    char body[128];
    const char *verbose = svc_call_query(c, "verbose");
    int n = snprintf(body, sizeof body, "{\"id\":\"%s\",\"verbose\":\"%s\"}",
                     svc_call_param(c, "id"), verbose ? verbose : "");
    svc_msg *m;
    svc_msg_new_data(body, (size_t)n, SVC_CT_JSON, &m);
    svc_call_reply(c, m);
}

static char seen_traceparent[64];
static void trace_probe(svc_call *c, void *ud)
{
    (void)ud;
    const char *tp = svc_msg_md_get(svc_call_request(c), "traceparent", NULL);
    snprintf(seen_traceparent, sizeof seen_traceparent, "%s", tp ? tp : "");
    svc_call_reply(c, NULL);
}

static void nested_traced(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(cli, "test.Trace/Probe", NULL, &resp, NULL), SVC_OK);
    svc_msg_free(resp);
    svc_call_reply(c, NULL);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(svc_ctx_new(NULL, &ctx), SVC_OK);
    assert_int_equal(svc_server_new(ctx, &srv), SVC_OK);
    test_service_register(srv);
    assert_int_equal(svc_server_handle(srv, "test.Echo/Echo", trace_probe, NULL), SVC_ALREADY_EXISTS);
    assert_int_equal(svc_server_handle(srv, "no-slash", trace_probe, NULL), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_server_handle(srv, "test.Trace/Probe", trace_probe, NULL), SVC_OK);
    assert_int_equal(svc_server_handle(srv, "test.Trace/Nested", nested_traced, NULL), SVC_OK);
    svc_handler_opts inl = {.dispatch = SVC_DISPATCH_INLINE};
    assert_int_equal(svc_server_route_ex(srv, "GET", "/orders/{id}", order_route, NULL, &inl), SVC_OK);
    assert_int_equal(svc_server_listen(srv, "inproc://test-server"), SVC_OK);
    assert_string_equal(svc_server_listener_url(srv, 0), "inproc://test-server");
    assert_int_equal(svc_client_new(ctx, "inproc://test-server", NULL, &cli), SVC_OK);
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
    assert_int_equal(svc_msg_md_add_bin(req, "x-raw-bin", "\0\1", 2), SVC_OK);
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo", req, &resp, NULL), SVC_OK);
    assert_memory_equal(svc_msg_data(resp), "{\"a\":1}", 7);
    assert_string_equal(svc_msg_content_type(resp), SVC_CT_JSON);
    assert_string_equal(svc_msg_md_get(resp, "x-user", NULL), "ann");
    size_t len;
    assert_memory_equal(svc_msg_md_get(resp, "x-raw-bin", &len), "\0\1", 2);
    assert_int_equal(len, 2);
    assert_string_equal(svc_msg_md_get(resp, "x-echo-method", NULL), "test.Echo/Echo");
    assert_string_equal(svc_msg_md_get(resp, "x-transport", NULL), "inproc");
    assert_string_equal(svc_msg_md_get(resp, "x-reply-md", NULL), "yes");
    /* The request still belongs to the caller and is unchanged. */
    assert_int_equal(svc_msg_md_count(req), 2);
    svc_msg_free(resp);
    svc_msg_free(req);
}

static void status_and_errors(void **state)
{
    (void)state;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(cli, "test.Echo/Fail", NULL, &resp, NULL), SVC_NOT_FOUND);
    assert_string_equal(svc_msg_status_message(resp), "as you asked");
    assert_string_equal(svc_last_error(), "as you asked");
    svc_msg_free(resp);
    assert_int_equal(svc_client_call(cli, "test.Echo/Nope", NULL, &resp, NULL), SVC_UNIMPLEMENTED);
    assert_non_null(strstr(svc_msg_status_message(resp), "test.Echo/Nope"));
    svc_msg_free(resp);
    assert_int_equal(svc_client_call(cli, "GET /nowhere", NULL, &resp, NULL), SVC_NOT_FOUND);
    svc_msg_free(resp);
    assert_int_equal(svc_client_call(cli, "PUT /orders/1", NULL, &resp, NULL), SVC_UNIMPLEMENTED);
    svc_msg_free(resp);

    svc_client *nobody;
    assert_int_equal(svc_client_new(ctx, "inproc://nobody-here", NULL, &nobody), SVC_OK);
    assert_int_equal(svc_client_call(nobody, "test.Echo/Echo", NULL, &resp, NULL), SVC_UNAVAILABLE);
    assert_non_null(strstr(svc_msg_status_message(resp), "nobody-here"));
    svc_msg_free(resp);
    svc_client_free(nobody);

    svc_client *bad;
    assert_int_equal(svc_client_new(ctx, "bogus://x", NULL, &bad), SVC_UNIMPLEMENTED);
    /* A service with no resolver named and none in the environment. */
    unsetenv("SVC_RESOLVER");
    unsetenv("SVC_ENDPOINTS_ORDERS");
    assert_int_equal(svc_client_new(ctx, "svc://orders", NULL, &bad), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "SVC_ENDPOINTS_ORDERS"));
    assert_int_equal(svc_client_new(ctx, "not a url", NULL, &bad), SVC_INVALID_ARGUMENT);
    /* A stream to a unary handler ends at once, saying why. */
    svc_stream *st;
    assert_int_equal(svc_client_stream(cli, "test.Echo/Echo", NULL, &st), SVC_OK);
    svc_msg *trailers = NULL;
    assert_int_equal(svc_stream_finish(st, &trailers), SVC_UNIMPLEMENTED);
    assert_non_null(strstr(svc_msg_status_message(trailers), "streaming handler"));
    svc_msg_free(trailers);
    svc_stream_free(st);
    assert_int_equal(svc_server_listen(srv, "inproc://test-server"), SVC_ALREADY_EXISTS);
}

static void deadline_expires(void **state)
{
    (void)state;
    svc_call_opts o = {.timeout_ms = 50};
    svc_msg *resp = NULL;
    test_service_reset();
    svc_time start = svc_now();
    assert_int_equal(svc_client_call(cli, "test.Echo/Slow", NULL, &resp, &o), SVC_DEADLINE_EXCEEDED);
    svc_time took = svc_now() - start;
    assert_true(took >= 50 * SVC_NSEC_PER_MSEC);
    assert_true(took < 500 * SVC_NSEC_PER_MSEC);
    svc_msg_free(resp);
    assert_true(test_service_saw_cancel()); /* the handler saw its call cancelled */

    /* A deadline already past never reaches the server. */
    o = (svc_call_opts){.deadline = svc_now() - 1};
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo", NULL, &resp, &o), SVC_DEADLINE_EXCEEDED);
    svc_msg_free(resp);
}

typedef struct async_result {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok;
    svc_code last;
} async_result;

static void on_async(svc_code code, svc_msg *resp, void *ud)
{
    async_result *r = ud;
    pthread_mutex_lock(&r->mu);
    r->done++;
    r->ok += code == SVC_OK;
    r->last = code;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    svc_msg_free(resp);
}

static void wait_done(async_result *r, int n)
{
    pthread_mutex_lock(&r->mu);
    while (r->done < n)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static void cancellation(void **state)
{
    (void)state;
    async_result r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, SVC_OK};
    svc_cancel *tok;
    assert_int_equal(svc_cancel_new(&tok), SVC_OK);
    svc_call_opts o = {.cancel = tok};
    test_service_reset();
    assert_int_equal(svc_client_call_async(cli, "test.Echo/Slow", NULL, &o, on_async, &r), SVC_OK);
    usleep(20000);
    svc_cancel_fire(tok);
    wait_done(&r, 1);
    assert_int_equal(r.last, SVC_CANCELLED);
    /* Calls made with a fired token end at once. */
    assert_int_equal(svc_client_call_async(cli, "test.Echo/Echo", NULL, &o, on_async, &r), SVC_OK);
    wait_done(&r, 2);
    assert_int_equal(r.last, SVC_CANCELLED);
    svc_cancel_free(tok);
    assert_true(test_service_saw_cancel());
}

static void late_reply_and_many_in_flight(void **state)
{
    (void)state;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(cli, "test.Echo/Later", NULL, &resp, NULL), SVC_OK);
    assert_memory_equal(svc_msg_data(resp), "later", 5);
    svc_msg_free(resp);

    async_result r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, SVC_OK};
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        const char *m = i % 3 == 0 ? "test.Echo/Later" : "test.Echo/Echo";
        assert_int_equal(svc_client_call_async(cli, m, NULL, NULL, on_async, &r), SVC_OK);
    }
    wait_done(&r, N);
    assert_int_equal(r.ok, N);
}

static void on_reply(const Helloworld__HelloReply *r, void *d)
{
    snprintf(d, 64, "%s", r ? r->message : "(null)");
}

static void routes_and_protobuf(void **state)
{
    (void)state;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(cli, "GET /orders/a%2Fb?verbose=yes+please", NULL, &resp, NULL),
                     SVC_OK);
    assert_string_equal(svc_msg_data(resp), "{\"id\":\"a/b\",\"verbose\":\"yes please\"}");
    svc_msg_free(resp);

    /* The same protobuf handler answers binary and JSON. */
    Helloworld__HelloRequest in = HELLOWORLD__HELLO_REQUEST__INIT;
    in.name = "Ann";
    ProtobufCMessage *out = NULL;
    assert_int_equal(svc_client_call_pb(cli, "helloworld.Greeter/SayHello", &in.base,
                                        &helloworld__hello_reply__descriptor, &out, NULL), SVC_OK);
    assert_string_equal(((Helloworld__HelloReply *)out)->message, "Hello Ann");
    protobuf_c_message_free_unpacked(out, NULL);

    svc_msg *req;
    svc_msg_new_data("{\"name\":\"Bob\"}", 14, SVC_CT_JSON, &req);
    assert_int_equal(svc_client_call(cli, "helloworld.Greeter/SayHello", req, &resp, NULL), SVC_OK);
    assert_string_equal(svc_msg_data(resp), "{\"message\":\"Hello Bob\"}");
    assert_string_equal(svc_msg_content_type(resp), SVC_CT_JSON);
    svc_msg_free(resp);
    svc_msg_free(req);

    svc_msg_new_data("{\"name\":", 8, SVC_CT_JSON, &req);
    assert_int_equal(svc_client_call(cli, "helloworld.Greeter/SayHello", req, &resp, NULL),
                     SVC_INVALID_ARGUMENT);
    svc_msg_free(resp);
    svc_msg_free(req);

    /* protobuf-c's generated stub, through svc_pb_client_service. */
    ProtobufCService *svc;
    assert_int_equal(svc_pb_client_service(cli, &helloworld__greeter__descriptor, &svc), SVC_OK);
    in.name = "Cy";
    char got[64] = "";
    helloworld__greeter__say_hello(svc, &in, on_reply, got);
    assert_string_equal(got, "Hello Cy");
    svc->destroy(svc);
}

static void trace_propagation(void **state)
{
    (void)state;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    svc_msg *req, *resp = NULL;
    svc_msg_new(&req);
    svc_msg_md_add(req, "traceparent", tp);
    seen_traceparent[0] = '\0';
    assert_int_equal(svc_client_call(cli, "test.Trace/Nested", req, &resp, NULL), SVC_OK);
    svc_msg_free(resp);
    svc_msg_free(req);
    /* The inner call carried the same trace id with a new span id. */
    assert_int_equal(strlen(seen_traceparent), 55);
    assert_memory_equal(seen_traceparent, tp, 36);
    assert_memory_not_equal(seen_traceparent + 36, tp + 36, 16);

    /* Without an incoming trace nothing is invented. */
    seen_traceparent[0] = 'x';
    assert_int_equal(svc_client_call(cli, "test.Trace/Nested", NULL, &resp, NULL), SVC_OK);
    svc_msg_free(resp);
    assert_string_equal(seen_traceparent, "");
}

/* ---- streams ---- */

static void stream_bidi(void **state)
{
    (void)state;
    svc_msg *hdr;
    svc_msg_new(&hdr);
    svc_msg_md_add(hdr, "x-user", "ann");
    svc_call_opts o = {.metadata = hdr};
    svc_stream *st;
    assert_int_equal(svc_client_stream(cli, "test.Stream/Echo", &o, &st), SVC_OK);
    svc_msg_free(hdr);
    assert_int_equal(svc_stream_send(st, test_text("a")), SVC_OK);
    test_expect_text(st, "1:a");
    const svc_msg *h;
    assert_int_equal(svc_stream_headers(st, &h), SVC_OK);
    assert_string_equal(svc_msg_md_get(h, "x-initial", NULL), "hi");
    assert_int_equal(svc_stream_send(st, test_text("b")), SVC_OK);
    test_expect_text(st, "2:b");
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    svc_msg *m = (svc_msg *)1;
    assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
    assert_null(m); /* the end */
    svc_msg *trailers = NULL;
    assert_int_equal(svc_stream_finish(st, &trailers), SVC_OK);
    assert_string_equal(svc_msg_md_get(trailers, "x-trailer", NULL), "bye");
    assert_null(svc_msg_md_get(trailers, "x-initial", NULL)); /* headers are not trailers */
    svc_msg_free(trailers);
    assert_int_equal(svc_stream_send(st, test_text("late")), SVC_FAILED_PRECONDITION);
    svc_stream_free(st);
}

static void stream_server_and_client(void **state)
{
    (void)state;
    svc_stream *st;
    /* Server streaming with back-pressure: 500 messages, more than the
     * credit, read slowly at first. */
    assert_int_equal(svc_client_stream(cli, "test.Stream/Count", NULL, &st), SVC_OK);
    assert_int_equal(svc_stream_send(st, test_text("500")), SVC_OK);
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    usleep(20000);
    for (int i = 0; i < 500; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        test_expect_text(st, want);
    }
    svc_msg *m;
    assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
    assert_null(m);
    assert_int_equal(svc_stream_finish(st, NULL), SVC_OK);
    svc_stream_free(st);

    /* An error status after some messages: received, then the status. */
    assert_int_equal(svc_client_stream(cli, "test.Stream/Count", NULL, &st), SVC_OK);
    assert_int_equal(svc_stream_send(st, test_text("2")), SVC_OK);
    test_expect_text(st, "0");
    test_expect_text(st, "1");
    assert_int_equal(svc_stream_recv(st, &m), SVC_OUT_OF_RANGE);
    svc_msg *trailers;
    assert_int_equal(svc_stream_finish(st, &trailers), SVC_OUT_OF_RANGE);
    assert_string_equal(svc_msg_status_message(trailers), "too few");
    svc_msg_free(trailers);
    svc_stream_free(st);

    /* Client streaming: 1000 numbers up, one sum down. */
    assert_int_equal(svc_client_stream(cli, "test.Stream/Sum", NULL, &st), SVC_OK);
    for (int i = 1; i <= 1000; i++) {
        char text[16];
        snprintf(text, sizeof text, "%d", i);
        assert_int_equal(svc_stream_send(st, test_text(text)), SVC_OK);
    }
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    test_expect_text(st, "500500");
    assert_int_equal(svc_stream_finish(st, NULL), SVC_OK);
    svc_stream_free(st);
}

static void stream_cancel_and_deadline(void **state)
{
    (void)state;
    svc_stream *st;
    assert_int_equal(svc_client_stream(cli, "test.Stream/Echo", NULL, &st), SVC_OK);
    assert_int_equal(svc_stream_send(st, test_text("x")), SVC_OK);
    test_expect_text(st, "1:x");
    svc_stream_cancel(st);
    svc_msg *m;
    assert_int_equal(svc_stream_recv(st, &m), SVC_CANCELLED);
    assert_int_equal(svc_stream_finish(st, NULL), SVC_CANCELLED);
    svc_stream_free(st);

    svc_call_opts o = {.timeout_ms = 50};
    assert_int_equal(svc_client_stream(cli, "test.Stream/Echo", &o, &st), SVC_OK);
    svc_time start = svc_now();
    assert_int_equal(svc_stream_recv(st, &m), SVC_DEADLINE_EXCEEDED);
    assert_true(svc_now() - start < 500 * SVC_NSEC_PER_MSEC);
    svc_stream_free(st);

    /* Freeing a live stream cancels it; the handler sees that. */
    assert_int_equal(svc_client_stream(cli, "test.Stream/Echo", NULL, &st), SVC_OK);
    svc_stream_free(st);
}

/* ---- publish/subscribe ---- */

typedef struct inbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
    char topics[64][64];
    int redelivered;
} inbox;

static void collect(svc_event *ev, void *ud)
{
    inbox *in = ud;
    pthread_mutex_lock(&in->mu);
    if (in->count < 64)
        snprintf(in->topics[in->count], 64, "%s", svc_event_topic(ev));
    in->count++;
    in->redelivered += svc_event_redelivered(ev);
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->mu);
}

static int inbox_count(inbox *in)
{
    pthread_mutex_lock(&in->mu);
    int n = in->count;
    pthread_mutex_unlock(&in->mu);
    return n;
}

static bool wait_count(inbox *in, int n)
{
    svc_time until = svc_now() + 2 * SVC_NSEC_PER_SEC;
    pthread_mutex_lock(&in->mu);
    while (in->count < n && svc_now() < until) {
        pthread_mutex_unlock(&in->mu);
        usleep(1000);
        pthread_mutex_lock(&in->mu);
    }
    bool ok = in->count >= n;
    pthread_mutex_unlock(&in->mu);
    return ok;
}

#define INBOX_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {{0}}, 0}

static void publish(svc_client *c, const char *topic)
{
    svc_msg *m;
    svc_msg_new_data(topic, strlen(topic), NULL, &m);
    assert_int_equal(svc_publish(c, topic, m, NULL), SVC_OK);
    svc_msg_free(m);
}

static void pubsub_wildcards(void **state)
{
    (void)state;
    svc_client *bus;
    assert_int_equal(svc_client_new(ctx, "inproc://bus1", NULL, &bus), SVC_OK);
    static inbox star = INBOX_INIT, all = INBOX_INIT, exact = INBOX_INIT;
    svc_sub *s1, *s2, *s3;
    assert_int_equal(svc_subscribe(bus, "order.*", NULL, collect, &star, &s1), SVC_OK);
    assert_int_equal(svc_subscribe(bus, "order.>", NULL, collect, &all, &s2), SVC_OK);
    assert_int_equal(svc_subscribe(bus, "order.created", NULL, collect, &exact, &s3), SVC_OK);
    publish(bus, "order.created");
    publish(bus, "order.created.eu");
    publish(bus, "invoice.created");
    assert_true(wait_count(&all, 2));
    usleep(20000);
    assert_int_equal(inbox_count(&star), 1);
    assert_int_equal(inbox_count(&all), 2);
    assert_int_equal(inbox_count(&exact), 1);
    assert_string_equal(all.topics[0], "order.created"); /* in order */
    assert_string_equal(all.topics[1], "order.created.eu");

    svc_msg *m;
    svc_msg_new(&m);
    assert_int_equal(svc_publish(bus, "order.*", m, NULL), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_publish(bus, "bad topic", m, NULL), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_publish(bus, "a..b", m, NULL), SVC_INVALID_ARGUMENT);
    svc_sub *bad;
    assert_int_equal(svc_subscribe(bus, "a.>.b", NULL, collect, &all, &bad), SVC_INVALID_ARGUMENT);
    svc_msg_free(m);

    svc_sub_free(s1);
    publish(bus, "order.paid");
    assert_true(wait_count(&all, 3));
    usleep(20000);
    assert_int_equal(inbox_count(&star), 1); /* unsubscribed */
    svc_sub_free(s2);
    svc_sub_free(s3);
    svc_client_free(bus);
}

static void queue_groups(void **state)
{
    (void)state;
    svc_client *bus;
    assert_int_equal(svc_client_new(ctx, "inproc://bus2", NULL, &bus), SVC_OK);
    static inbox members[3] = {INBOX_INIT, INBOX_INIT, INBOX_INIT}, solo = INBOX_INIT;
    svc_sub *subs[4];
    svc_sub_opts o = {.queue_group = "workers"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(svc_subscribe(bus, "job.*", &o, collect, &members[i], &subs[i]), SVC_OK);
    assert_int_equal(svc_subscribe(bus, "job.*", NULL, collect, &solo, &subs[3]), SVC_OK);
    for (int i = 0; i < 30; i++)
        publish(bus, "job.run");
    assert_true(wait_count(&solo, 30));
    usleep(30000);
    int total = 0;
    for (int i = 0; i < 3; i++) {
        total += inbox_count(&members[i]);
        assert_int_equal(inbox_count(&members[i]), 10); /* round robin within the group */
    }
    assert_int_equal(total, 30);
    for (int i = 0; i < 4; i++)
        svc_sub_free(subs[i]);
    svc_client_free(bus);
}

static void nack_twice(svc_event *ev, void *ud)
{
    collect(ev, ud);
    if (svc_event_delivery_count(ev) < 3)
        assert_int_equal(svc_event_nack(ev, 10), SVC_OK);
    else
        assert_int_equal(svc_event_ack(ev), SVC_OK);
}

static void manual_ack(void **state)
{
    (void)state;
    svc_client *bus;
    assert_int_equal(svc_client_new(ctx, "inproc://bus3", NULL, &bus), SVC_OK);
    static inbox in = INBOX_INIT;
    svc_sub *s;
    svc_sub_opts o = {.manual_ack = true};
    assert_int_equal(svc_subscribe(bus, "retry.me", &o, nack_twice, &in, &s), SVC_OK);
    publish(bus, "retry.me");
    assert_true(wait_count(&in, 3));
    pthread_mutex_lock(&in.mu);
    assert_int_equal(in.redelivered, 2);
    pthread_mutex_unlock(&in.mu);
    svc_sub_free(s);
    svc_client_free(bus);
}

static atomic_int blocked_seen;
static atomic_bool release_blocked;
static void blocker(svc_event *ev, void *ud)
{
    (void)ev;
    (void)ud;
    atomic_fetch_add(&blocked_seen, 1);
    while (!atomic_load(&release_blocked))
        usleep(1000);
}

static atomic_uint_fast64_t dropped_reported;
static void on_dropped(svc_sub *sub, uint64_t total, void *ud)
{
    (void)sub;
    (void)ud;
    atomic_store(&dropped_reported, total);
}

static void slow_consumer(void **state)
{
    (void)state;
    svc_client *bus;
    assert_int_equal(svc_client_new(ctx, "inproc://bus4", NULL, &bus), SVC_OK);
    svc_sub *s;
    svc_sub_opts o = {.max_pending = 5, .on_dropped = on_dropped};
    assert_int_equal(svc_subscribe(bus, "flood", &o, blocker, NULL, &s), SVC_OK);
    publish(bus, "flood");
    while (atomic_load(&blocked_seen) == 0)
        usleep(1000);
    for (int i = 0; i < 20; i++)
        publish(bus, "flood");
    assert_int_equal(svc_sub_dropped(s), 15); /* 5 queue behind the blocked one */
    assert_int_equal(atomic_load(&dropped_reported), 15);
    atomic_store(&release_blocked, true);
    svc_sub_free(s); /* unsubscribing drops what is still queued, as NATS does */
    assert_int_equal(atomic_load(&blocked_seen), 1);

    char *text;
    assert_int_equal(svc_metrics_prometheus(ctx, &text, NULL), SVC_OK);
    assert_non_null(strstr(text, "svc_events_dropped_total{transport=\"inproc\",pattern=\"flood\"} 15"));
    svc_free(text);
    svc_client_free(bus);
}

static void collect_service(const char *service, void *ud)
{
    char *out = ud;
    strcat(out, service);
    strcat(out, ";");
}

/* What message-routing transports (AMQP, NATS) ask of the server. */
static void services_listed(void **state)
{
    (void)state;
    char seen[512] = "";
    svc_server_each_service(srv, collect_service, seen);
    /* Handlers are kept newest first; each service once, routes left out. */
    assert_string_equal(seen, "test.Trace;helloworld.Greeter;test.Stream;test.Echo;");
}

static void metrics_counted(void **state)
{
    (void)state;
    char *text;
    assert_int_equal(svc_metrics_prometheus(ctx, &text, NULL), SVC_OK);
    assert_non_null(strstr(text, "svc_server_handled_total{transport=\"inproc\",method=\"test.Echo/Fail\",code=\"NOT_FOUND\"} 1"));
    assert_non_null(strstr(text, "svc_client_handled_total{transport=\"inproc\",method=\"test.Echo/Fail\",code=\"NOT_FOUND\"} 1"));
    assert_non_null(strstr(text, "svc_server_handled_total{transport=\"inproc\",method=\"unknown\",code=\"UNIMPLEMENTED\"}"));
    assert_non_null(strstr(text, "svc_server_handled_total{transport=\"inproc\",method=\"test.Echo/Slow\",code=\"DEADLINE_EXCEEDED\"} 1"));
    assert_non_null(strstr(text, "svc_server_handling_seconds_bucket{transport=\"inproc\",method=\"test.Echo/Echo\",le=\"+Inf\"}"));
    svc_free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unary_roundtrip),
        cmocka_unit_test(status_and_errors),
        cmocka_unit_test(deadline_expires),
        cmocka_unit_test(cancellation),
        cmocka_unit_test(late_reply_and_many_in_flight),
        cmocka_unit_test(routes_and_protobuf),
        cmocka_unit_test(trace_propagation),
        cmocka_unit_test(stream_bidi),
        cmocka_unit_test(stream_server_and_client),
        cmocka_unit_test(stream_cancel_and_deadline),
        cmocka_unit_test(pubsub_wildcards),
        cmocka_unit_test(queue_groups),
        cmocka_unit_test(manual_ack),
        cmocka_unit_test(slow_consumer),
        cmocka_unit_test(services_listed),
        cmocka_unit_test(metrics_counted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
