/*
 * The gRPC backend end to end over loopback: our client against our server,
 * cleartext and TLS. Unary and the three stream kinds, metadata (binary
 * too), every status, deadlines and cancellation seen by the handler, large
 * and many messages, back-pressure from a reader that does not read, gzip,
 * size limits, TLS and mutual TLS, graceful shutdown, reconnection and the
 * metrics left behind. Interoperability with the real gRPC stack is
 * test_grpc_interop's job.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../unit/cmocka_all.h"
#include "health.pb-c.h"
#include "helloworld.pb-c.h"
#include "test_service.h"

#define BIG (20u << 20) /* the big listener's and client's message limit */

static svc_ctx *ctx;
static svc_server *srv;
static svc_client *cli; /* cleartext, to the big listener */
static char url_big[128], url_tls[128], url_mtls[128], url_small[128];
static char certs[512];

static const char *cert(const char *name)
{
    static char path[4][600];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", certs, name);
    return p;
}

/* A status message with bytes gRPC must percent-encode. */
#define WEIRD_MESSAGE "t\xc3\xa4st\t100% \"odd\"\r\n~"
static void weird_fail(svc_call *c, void *ud)
{
    (void)ud;
    svc_call_fail(c, SVC_FAILED_PRECONDITION, WEIRD_MESSAGE);
}

static void listen_at(svc_server *s, const char *url, const svc_listen_opts *o, char *out)
{
    assert_int_equal(svc_server_listen_ex(s, url, o), SVC_OK);
    snprintf(out, 128, "%s", svc_server_listener_url(s, svc_server_listener_count(s) - 1));
}

static int setup(void **state)
{
    (void)state;
    snprintf(certs, sizeof certs, "%s/certs", getenv("SVC_TEST_DIR") ?: ".");
    assert_int_equal(svc_ctx_new(NULL, &ctx), SVC_OK);
    assert_int_equal(svc_server_new(ctx, &srv), SVC_OK);
    test_service_register(srv);
    assert_int_equal(svc_server_handle(srv, "test.Grpc/Weird", weird_fail, NULL), SVC_OK);
    assert_int_equal(svc_server_serve_health(srv), SVC_OK);
    assert_int_equal(svc_server_serve_health(srv), SVC_ALREADY_EXISTS);

    svc_listen_opts big = {.max_body = BIG};
    listen_at(srv, "grpc://127.0.0.1:0", &big, url_big);
    assert_int_equal(strncmp(url_big, "grpc://127.0.0.1:", 17), 0);
    assert_int_not_equal(atoi(url_big + 17), 0);
    svc_listen_opts tls = {.tls = {.cert_file = cert("server.pem"), .key_file = cert("server.key")}};
    listen_at(srv, "grpcs://127.0.0.1:0", &tls, url_tls);
    svc_listen_opts mtls = tls;
    mtls.tls.ca_file = cert("ca.pem");
    mtls.tls.verify_peer = true;
    listen_at(srv, "grpcs://127.0.0.1:0", &mtls, url_mtls);
    listen_at(srv, "grpc://127.0.0.1:0", NULL, url_small);

    svc_client_opts co;
    svc_client_opts_init(&co);
    co.max_message_size = BIG;
    assert_int_equal(svc_client_new(ctx, url_big, &co, &cli), SVC_OK);
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

static svc_msg *json(const char *text)
{
    svc_msg *m;
    assert_int_equal(svc_msg_new_data(text, strlen(text), SVC_CT_JSON, &m), SVC_OK);
    return m;
}

static void call_ok(svc_client *c, const char *text)
{
    svc_msg *req = test_text(text), *resp = NULL;
    svc_code rc = svc_client_call(c, "test.Echo/Echo", req, &resp, NULL);
    if (rc != SVC_OK)
        fail_msg("%s: %s", svc_code_name(rc), svc_last_error());
    assert_memory_equal(svc_msg_data(resp), text, strlen(text));
    assert_string_equal(svc_msg_md_get(resp, "x-transport", NULL), "grpc");
    svc_msg_free(resp);
    svc_msg_free(req);
}

/* ---- unary ---- */

static void unary_roundtrip(void **state)
{
    (void)state;
    svc_msg *req = json("{\"a\":1}"), *resp = NULL;
    assert_int_equal(svc_msg_md_add(req, "x-user", "ann"), SVC_OK);
    assert_int_equal(svc_msg_md_add(req, "x-multi", "one"), SVC_OK);
    assert_int_equal(svc_msg_md_add(req, "x-multi", "two"), SVC_OK);
    static const char raw[] = {0, 1, (char)0xff, '\n'};
    assert_int_equal(svc_msg_md_add_bin(req, "x-raw-bin", raw, sizeof raw), SVC_OK);
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo", req, &resp, NULL), SVC_OK);
    assert_memory_equal(svc_msg_data(resp), "{\"a\":1}", 7);
    assert_string_equal(svc_msg_content_type(resp), SVC_CT_JSON);
    assert_string_equal(svc_msg_md_get(resp, "x-user", NULL), "ann");
    size_t len = 0;
    assert_memory_equal(svc_msg_md_get(resp, "x-raw-bin", &len), raw, sizeof raw);
    assert_int_equal(len, sizeof raw);
    assert_string_equal(svc_msg_md_get(resp, "x-echo-method", NULL), "test.Echo/Echo");
    assert_string_equal(svc_msg_md_get(resp, "x-transport", NULL), "grpc");
    assert_string_equal(svc_msg_md_get(resp, "x-reply-md", NULL), "yes"); /* a header */
    int multi = 0;
    for (size_t i = 0; i < svc_msg_md_count(resp); i++) {
        const char *k, *v;
        svc_msg_md_at(resp, i, &k, &v, NULL);
        multi += strcmp(k, "x-multi") == 0;
    }
    assert_int_equal(multi, 2); /* repeated keys stay repeated */
    svc_msg_free(resp);
    svc_msg_free(req);

    /* An empty request and an empty reply are messages too. */
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo", NULL, &resp, NULL), SVC_OK);
    assert_int_equal(svc_msg_len(resp), 0);
    svc_msg_free(resp);
}

static void on_reply(const Helloworld__HelloReply *r, void *d)
{
    snprintf(d, 64, "%s", r ? r->message : "(null)");
}

/* Both ends turn Nagle off: HTTP/2's small frames (a request's HEADERS then
 * DATA) otherwise wait for the peer's delayed ACK, up to 40 ms a call.
 * Client and server are in this process, so their sockets are ours to
 * inspect: every TCP socket to or from the listener's port. */
static void both_ends_send_at_once(void **state)
{
    (void)state;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo", NULL, &resp, NULL), SVC_OK);
    svc_msg_free(resp);
    int port = atoi(strrchr(url_big, ':') + 1);
    int client_side = 0, server_side = 0;
    for (int fd = 0; fd < 4096; fd++) {
        struct sockaddr_in me, peer;
        socklen_t me_len = sizeof me, peer_len = sizeof peer;
        int type = 0;
        socklen_t type_len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM ||
            getsockname(fd, (struct sockaddr *)&me, &me_len) != 0 || me.sin_family != AF_INET ||
            getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0)
            continue;
        bool to_server = ntohs(peer.sin_port) == port, from_client = ntohs(me.sin_port) == port;
        if (!to_server && !from_client)
            continue;
        int nodelay = 0;
        socklen_t len = sizeof nodelay;
        assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
        assert_int_not_equal(nodelay, 0);
        client_side += to_server;
        server_side += from_client;
    }
    assert_true(client_side >= 1);
    assert_true(server_side >= 1);
}

static void protobuf_and_json(void **state)
{
    (void)state;
    Helloworld__HelloRequest in = HELLOWORLD__HELLO_REQUEST__INIT;
    in.name = "Ann";
    ProtobufCMessage *out = NULL;
    assert_int_equal(svc_client_call_pb(cli, "helloworld.Greeter/SayHello", &in.base,
                                        &helloworld__hello_reply__descriptor, &out, NULL), SVC_OK);
    assert_string_equal(((Helloworld__HelloReply *)out)->message, "Hello Ann");
    protobuf_c_message_free_unpacked(out, NULL);

    /* application/grpc+json: the same handler answers in JSON. */
    svc_msg *req = json("{\"name\":\"Bob\"}"), *resp = NULL;
    assert_int_equal(svc_client_call(cli, "helloworld.Greeter/SayHello", req, &resp, NULL), SVC_OK);
    assert_string_equal(svc_msg_content_type(resp), SVC_CT_JSON);
    assert_memory_equal(svc_msg_data(resp), "{\"message\":\"Hello Bob\"}", 23);
    svc_msg_free(resp);
    svc_msg_free(req);

    /* A request the handler cannot decode. */
    svc_msg_new_data("\xff\xff\xff", 3, SVC_CT_PROTO, &req);
    assert_int_equal(svc_client_call(cli, "helloworld.Greeter/SayHello", req, &resp, NULL),
                     SVC_INVALID_ARGUMENT);
    svc_msg_free(resp);
    svc_msg_free(req);

    ProtobufCService *svc;
    assert_int_equal(svc_pb_client_service(cli, &helloworld__greeter__descriptor, &svc), SVC_OK);
    in.name = "Cy";
    char got[64] = "";
    helloworld__greeter__say_hello(svc, &in, on_reply, got);
    assert_string_equal(got, "Hello Cy");
    svc->destroy(svc);
}

static void every_status(void **state)
{
    (void)state;
    for (int code = 1; code <= 16; code++) {
        svc_msg *req, *resp = NULL;
        svc_msg_new(&req);
        char v[8];
        snprintf(v, sizeof v, "%d", code);
        svc_msg_md_add(req, "x-want-code", v);
        assert_int_equal(svc_client_call(cli, "test.Echo/Fail", req, &resp, NULL), code);
        assert_int_equal(svc_msg_status(resp), code);
        assert_string_equal(svc_msg_status_message(resp), "as you asked");
        svc_msg_free(resp);
        svc_msg_free(req);
    }
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(cli, "test.Grpc/Weird", NULL, &resp, NULL),
                     SVC_FAILED_PRECONDITION);
    assert_string_equal(svc_msg_status_message(resp), WEIRD_MESSAGE);
    svc_msg_free(resp);

    assert_int_equal(svc_client_call(cli, "test.Echo/Nope", NULL, &resp, NULL), SVC_UNIMPLEMENTED);
    assert_non_null(strstr(svc_msg_status_message(resp), "test.Echo/Nope"));
    svc_msg_free(resp);
    assert_int_equal(svc_client_call(cli, "no.Such/Service", NULL, &resp, NULL), SVC_UNIMPLEMENTED);
    svc_msg_free(resp);
}

static void deadline_reaches_the_handler(void **state)
{
    (void)state;
    test_service_reset();
    svc_call_opts o = {.timeout_ms = 100};
    svc_msg *resp = NULL;
    svc_time start = svc_now();
    assert_int_equal(svc_client_call(cli, "test.Echo/Slow", NULL, &resp, &o), SVC_DEADLINE_EXCEEDED);
    svc_time took = svc_now() - start;
    assert_true(took >= 100 * SVC_NSEC_PER_MSEC);
    assert_true(took < 1000 * SVC_NSEC_PER_MSEC);
    svc_msg_free(resp);
    /* grpc-timeout told the server: the handler saw its call end. */
    assert_true(test_service_saw_cancel());

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
#define ASYNC_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, SVC_OK}

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

static void cancel_reaches_the_handler(void **state)
{
    (void)state;
    test_service_reset();
    async_result r = ASYNC_INIT;
    svc_cancel *tok;
    assert_int_equal(svc_cancel_new(&tok), SVC_OK);
    svc_call_opts o = {.cancel = tok};
    assert_int_equal(svc_client_call_async(cli, "test.Echo/Slow", NULL, &o, on_async, &r), SVC_OK);
    usleep(50000);
    svc_cancel_fire(tok);
    wait_done(&r, 1);
    assert_int_equal(r.last, SVC_CANCELLED);
    svc_cancel_free(tok);
    assert_true(test_service_saw_cancel()); /* RST_STREAM(CANCEL) arrived */
}

static void many_in_flight(void **state)
{
    (void)state;
    async_result r = ASYNC_INIT;
    enum { N = 2000 }; /* more than one connection's stream limit */
    for (int i = 0; i < N; i++) {
        const char *m = i % 10 == 0 ? "test.Echo/Later" : "test.Echo/Echo";
        assert_int_equal(svc_client_call_async(cli, m, NULL, NULL, on_async, &r), SVC_OK);
    }
    wait_done(&r, N);
    assert_int_equal(r.ok, N);
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
    for (int i = 1; i <= 100; i++) { /* ping-pong */
        char text[16], want[32];
        snprintf(text, sizeof text, "m%d", i);
        snprintf(want, sizeof want, "%d:m%d", i, i);
        assert_int_equal(svc_stream_send(st, test_text(text)), SVC_OK);
        test_expect_text(st, want);
    }
    const svc_msg *h;
    assert_int_equal(svc_stream_headers(st, &h), SVC_OK);
    assert_string_equal(svc_msg_md_get(h, "x-initial", NULL), "hi");
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    svc_msg *m = (svc_msg *)1;
    assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
    assert_null(m);
    svc_msg *trailers = NULL;
    assert_int_equal(svc_stream_finish(st, &trailers), SVC_OK);
    assert_string_equal(svc_msg_md_get(trailers, "x-trailer", NULL), "bye");
    assert_null(svc_msg_md_get(trailers, "x-initial", NULL));
    svc_msg_free(trailers);
    assert_int_equal(svc_stream_send(st, test_text("late")), SVC_FAILED_PRECONDITION);
    svc_stream_free(st);

    /* A stream with no messages either way. */
    assert_int_equal(svc_client_stream(cli, "test.Stream/Echo", NULL, &st), SVC_OK);
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
    assert_null(m);
    assert_int_equal(svc_stream_finish(st, NULL), SVC_OK);
    svc_stream_free(st);
}

static void stream_server_and_client(void **state)
{
    (void)state;
    svc_stream *st;
    /* Thousands of small messages down. */
    assert_int_equal(svc_client_stream(cli, "test.Stream/Count", NULL, &st), SVC_OK);
    assert_int_equal(svc_stream_send(st, test_text("10000")), SVC_OK);
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    for (int i = 0; i < 10000; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        test_expect_text(st, want);
    }
    svc_msg *m;
    assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
    assert_null(m);
    assert_int_equal(svc_stream_finish(st, NULL), SVC_OK);
    svc_stream_free(st);

    /* Messages, then an error status in the trailers. */
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

    /* Thousands of messages up, one reply down. */
    assert_int_equal(svc_client_stream(cli, "test.Stream/Sum", NULL, &st), SVC_OK);
    for (int i = 1; i <= 5000; i++) {
        char text[16];
        snprintf(text, sizeof text, "%d", i);
        assert_int_equal(svc_stream_send(st, test_text(text)), SVC_OK);
    }
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    test_expect_text(st, "12502500");
    assert_int_equal(svc_stream_finish(st, NULL), SVC_OK);
    svc_stream_free(st);

    /* A streaming method called as unary by a client that sends one message. */
    svc_msg *req = test_text("7"), *resp = NULL;
    assert_int_equal(svc_client_call(cli, "test.Stream/Sum", req, &resp, NULL), SVC_OK);
    assert_memory_equal(svc_msg_data(resp), "7", 1);
    svc_msg_free(resp);
    svc_msg_free(req);
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

    svc_call_opts o = {.timeout_ms = 100};
    assert_int_equal(svc_client_stream(cli, "test.Stream/Echo", &o, &st), SVC_OK);
    svc_time start = svc_now();
    assert_int_equal(svc_stream_recv(st, &m), SVC_DEADLINE_EXCEEDED);
    assert_true(svc_now() - start < 1000 * SVC_NSEC_PER_MSEC);
    svc_stream_free(st);

    /* Freeing a live stream cancels it. */
    assert_int_equal(svc_client_stream(cli, "test.Stream/Echo", NULL, &st), SVC_OK);
    assert_int_equal(svc_stream_send(st, test_text("y")), SVC_OK);
    svc_stream_free(st);
    call_ok(cli, "still fine");
}

/* ---- sizes, flow control, compression ---- */

static void large_messages(void **state)
{
    (void)state;
    size_t n = 16u << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i * 7919 % 26);
    svc_msg *req, *resp = NULL;
    assert_int_equal(svc_msg_new_data(big, n, NULL, &req), SVC_OK);
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo", req, &resp, NULL), SVC_OK);
    assert_int_equal(svc_msg_len(resp), n);
    assert_memory_equal(svc_msg_data(resp), big, n);
    svc_msg_free(resp);
    svc_msg_free(req);

    /* 1 MiB messages both ways on one stream. (Written all before reading
     * any, an echo would deadlock here as with any bounded buffers: the
     * handler waits to send, the client to send more.) */
    svc_stream *st;
    assert_int_equal(svc_client_stream(cli, "test.Stream/Echo", NULL, &st), SVC_OK);
    for (int i = 1; i <= 8; i++) {
        svc_msg *m;
        svc_msg_new_data(big, 1u << 20, NULL, &m);
        assert_int_equal(svc_stream_send(st, m), SVC_OK);
        m = NULL;
        assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
        char prefix[8];
        int plen = snprintf(prefix, sizeof prefix, "%d:", i);
        assert_int_equal(svc_msg_len(m), (1u << 20) + (size_t)plen);
        assert_memory_equal(svc_msg_data(m), prefix, (size_t)plen);
        assert_memory_equal((const char *)svc_msg_data(m) + plen, big, 1u << 20);
        svc_msg_free(m);
    }
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    assert_int_equal(svc_stream_finish(st, NULL), SVC_OK);
    svc_stream_free(st);
    free(big);
}

static void size_limits(void **state)
{
    (void)state;
    /* The server refuses a request over its limit (4 MiB by default). */
    svc_client_opts co;
    svc_client_opts_init(&co);
    co.max_message_size = BIG;
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, url_small, &co, &c), SVC_OK);
    size_t n = 5u << 20;
    char *big = calloc(1, n);
    svc_msg *req, *resp = NULL;
    svc_msg_new_data(big, n, NULL, &req);
    assert_int_equal(svc_client_call(c, "test.Echo/Echo", req, &resp, NULL), SVC_RESOURCE_EXHAUSTED);
    svc_msg_free(resp);
    call_ok(c, "the connection survives");
    svc_client_free(c);

    /* The client refuses a reply over its own limit. */
    co.max_message_size = 1000;
    assert_int_equal(svc_client_new(ctx, url_big, &co, &c), SVC_OK);
    svc_msg_free(req);
    svc_msg_new_data(big, 2000, NULL, &req);
    assert_int_equal(svc_client_call(c, "test.Echo/Echo", req, &resp, NULL), SVC_RESOURCE_EXHAUSTED);
    svc_msg_free(resp);
    call_ok(c, "small is fine");
    svc_client_free(c);
    svc_msg_free(req);
    free(big);
}

static void slow_reader_holds_the_sender_back(void **state)
{
    (void)state;
    test_service_reset();
    enum { COUNT = 1000, SIZE = 64 << 10 }; /* 64 MiB in all */
    svc_stream *st;
    assert_int_equal(svc_client_stream(cli, "test.Stream/Flood", NULL, &st), SVC_OK);
    char ask[32];
    snprintf(ask, sizeof ask, "%d %d", COUNT, SIZE);
    assert_int_equal(svc_stream_send(st, test_text(ask)), SVC_OK);
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    usleep(300000);
    /* HTTP/2 windows plus our send gates bound what is in flight to a few
     * MiB: the handler waits in svc_call_send instead of queueing 64 MiB. */
    int sent = test_service_flood_sent();
    assert_true(sent > 0);
    if (sent >= 200)
        fail_msg("%d of %d messages sent to a reader that reads nothing", sent, COUNT);
    for (int i = 0; i < COUNT; i++) {
        svc_msg *m = NULL;
        assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
        assert_int_equal(svc_msg_len(m), SIZE);
        assert_int_equal(atoi(svc_msg_data(m)), i); /* in order, none lost */
        svc_msg_free(m);
    }
    assert_int_equal(svc_stream_finish(st, NULL), SVC_OK);
    svc_stream_free(st);
    assert_int_equal(test_service_flood_sent(), COUNT);
}

static void gzip_both_ways(void **state)
{
    (void)state;
    size_t n = 100000;
    char *text = malloc(n);
    for (size_t i = 0; i < n; i++)
        text[i] = "compressible "[i % 13];
    svc_msg *req, *resp = NULL;
    svc_msg_new_data(text, n, NULL, &req);
    svc_msg_set_compress(req, true);
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo", req, &resp, NULL), SVC_OK);
    assert_string_equal(svc_msg_md_get(resp, "x-was-compressed", NULL), "yes");
    assert_true(svc_msg_was_compressed(resp));
    assert_int_equal(svc_msg_len(resp), n);
    assert_memory_equal(svc_msg_data(resp), text, n);
    svc_msg_free(resp);
    svc_msg_free(req);

    /* Uncompressed stays uncompressed. */
    svc_msg_new_data(text, 100, NULL, &req);
    assert_int_equal(svc_client_call(cli, "test.Echo/Echo", req, &resp, NULL), SVC_OK);
    assert_null(svc_msg_md_get(resp, "x-was-compressed", NULL));
    assert_false(svc_msg_was_compressed(resp));
    svc_msg_free(resp);
    svc_msg_free(req);
    free(text);
}

/* ---- TLS ---- */

static svc_code tls_call(const char *url, svc_tls_opts tls)
{
    svc_client_opts co;
    svc_client_opts_init(&co);
    co.tls = tls;
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, url, &co, &c), SVC_OK);
    svc_msg *resp = NULL;
    svc_code rc = svc_client_call(c, "test.Echo/Echo", NULL, &resp, NULL);
    if (rc == SVC_OK)
        assert_string_equal(svc_msg_md_get(resp, "x-transport", NULL), "grpc");
    svc_msg_free(resp);
    svc_client_free(c);
    return rc;
}

static void tls_and_mutual_tls(void **state)
{
    (void)state;
    const char *ca = cert("ca.pem");
    assert_int_equal(tls_call(url_tls, (svc_tls_opts){.ca_file = ca}), SVC_OK);
    assert_int_equal(tls_call(url_tls, (svc_tls_opts){.ca_file = ca, .server_name = "localhost"}),
                     SVC_OK);
    /* The wrong trust anchor, the wrong name: refused, and said so. */
    assert_int_equal(tls_call(url_tls, (svc_tls_opts){.ca_file = cert("server.pem")}),
                     SVC_UNAVAILABLE);
    assert_int_equal(tls_call(url_tls, (svc_tls_opts){.ca_file = ca, .server_name = "other.example"}),
                     SVC_UNAVAILABLE);
    assert_non_null(strstr(svc_last_error(), "certificate"));
    assert_int_equal(tls_call(url_tls, (svc_tls_opts){.insecure = true}), SVC_OK);
    /* Cleartext to a TLS port fails rather than hangs. */
    char plain[128];
    snprintf(plain, sizeof plain, "grpc://%s", url_tls + strlen("grpcs://"));
    assert_int_equal(tls_call(plain, (svc_tls_opts){0}), SVC_UNAVAILABLE);

    /* Mutual TLS: no client certificate, no call. */
    assert_int_equal(tls_call(url_mtls, (svc_tls_opts){.ca_file = ca}), SVC_UNAVAILABLE);
    assert_int_equal(tls_call(url_mtls, (svc_tls_opts){.ca_file = ca,
                                                       .cert_file = cert("client.pem"),
                                                       .key_file = cert("client.key")}),
                     SVC_OK);
    /* A server certificate is not a client certificate. */
    assert_int_equal(tls_call(url_mtls, (svc_tls_opts){.ca_file = ca,
                                                       .cert_file = cert("server.pem"),
                                                       .key_file = cert("server.key")}),
                     SVC_UNAVAILABLE);
}

/* ---- connections ---- */

static int port_of(const char *url)
{
    return atoi(strrchr(url, ':') + 1);
}

static void unreachable_is_unavailable(void **state)
{
    (void)state;
    /* A port nobody listens on: take one, let it go. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "grpc://127.0.0.1:%d", ntohs(a.sin_port));
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    assert_int_equal(svc_client_state(c), SVC_CONN_IDLE); /* connects on first use */
    svc_msg *resp = NULL;
    svc_time start = svc_now();
    assert_int_equal(svc_client_call(c, "test.Echo/Echo", NULL, &resp, NULL), SVC_UNAVAILABLE);
    assert_true(svc_now() - start < SVC_NSEC_PER_SEC);
    svc_msg_free(resp);
    assert_int_equal(svc_client_state(c), SVC_CONN_TRANSIENT_FAILURE);
    assert_string_equal(svc_conn_state_name(svc_client_state(c)), "transient_failure");
    /* While backing off, calls fail fast too. */
    start = svc_now();
    assert_int_equal(svc_client_call(c, "test.Echo/Echo", NULL, &resp, NULL), SVC_UNAVAILABLE);
    assert_true(svc_now() - start < 200 * SVC_NSEC_PER_MSEC);
    svc_msg_free(resp);
    svc_client_free(c);
}

static void *shutdown_thread(void *arg)
{
    assert_int_equal(svc_server_shutdown(arg, 3000), SVC_OK);
    return NULL;
}

static svc_server *serve_at(const char *url, char *out)
{
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    test_service_register(s);
    listen_at(s, url, NULL, out);
    return s;
}

static void graceful_shutdown(void **state)
{
    (void)state;
    char url[128];
    svc_server *s = serve_at("grpc://127.0.0.1:0", url);
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    call_ok(c, "before");
    /* A call in progress when the server shuts down still completes. */
    async_result r = ASYNC_INIT;
    svc_msg *req;
    svc_msg_new(&req);
    svc_msg_md_add(req, "x-sleep-ms", "300");
    assert_int_equal(svc_client_call_async(c, "test.Echo/Slow", req, NULL, on_async, &r), SVC_OK);
    usleep(50000);
    pthread_t t;
    pthread_create(&t, NULL, shutdown_thread, s);
    wait_done(&r, 1);
    assert_int_equal(r.last, SVC_OK);
    pthread_join(t, NULL);
    svc_server_free(s);
    /* Afterwards: nobody there. */
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(c, "test.Echo/Echo", NULL, &resp, NULL), SVC_UNAVAILABLE);
    svc_msg_free(resp);
    svc_client_free(c);
}

static void reconnects_after_restart(void **state)
{
    (void)state;
    char url[128], again[128];
    svc_server *s = serve_at("grpc://127.0.0.1:0", url);
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    call_ok(c, "first life");
    svc_server_free(s);
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(c, "test.Echo/Echo", NULL, &resp, NULL), SVC_UNAVAILABLE);
    svc_msg_free(resp);

    char same[64];
    snprintf(same, sizeof same, "grpc://127.0.0.1:%d", port_of(url));
    s = serve_at(same, again);
    assert_string_equal(again, url);
    /* The channel comes back on its own within its backoff (1 s ± 20 %
     * after the first failure). */
    svc_code rc = SVC_UNAVAILABLE;
    svc_time until = svc_now() + 5 * SVC_NSEC_PER_SEC;
    while (rc == SVC_UNAVAILABLE && svc_now() < until) {
        rc = svc_client_call(c, "test.Echo/Echo", NULL, &resp, NULL);
        svc_msg_free(resp);
        resp = NULL;
        if (rc == SVC_UNAVAILABLE)
            usleep(50000);
    }
    assert_int_equal(rc, SVC_OK);
    assert_int_equal(svc_client_state(c), SVC_CONN_READY);
    call_ok(c, "second life");
    svc_client_free(c);
    svc_server_free(s);
}

/* ---- grpc.health.v1 (compiled here from grpc's own health.proto) ---- */

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus serving;
#define H(x) GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__##x

static svc_code health_check(svc_client *c, const char *service, serving *out)
{
    Grpc__Health__V1__HealthCheckRequest in = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    in.service = (char *)service;
    ProtobufCMessage *resp = NULL;
    svc_code rc = svc_client_call_pb(c, "grpc.health.v1.Health/Check", &in.base,
                                     &grpc__health__v1__health_check_response__descriptor, &resp,
                                     NULL);
    if (rc == SVC_OK) {
        *out = ((Grpc__Health__V1__HealthCheckResponse *)resp)->status;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return rc;
}

static svc_stream *health_watch(svc_client *c, const char *service)
{
    Grpc__Health__V1__HealthCheckRequest in = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    in.service = (char *)service;
    svc_stream *st;
    assert_int_equal(svc_client_stream(c, "grpc.health.v1.Health/Watch", NULL, &st), SVC_OK);
    svc_msg *m;
    svc_msg_new(&m);
    assert_int_equal(svc_msg_pack(m, &in.base, SVC_CT_PROTO), SVC_OK);
    assert_int_equal(svc_stream_send(st, m), SVC_OK);
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    return st;
}

static void expect_status(svc_stream *st, serving want)
{
    svc_msg *m = NULL;
    assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
    assert_non_null(m);
    ProtobufCMessage *pb;
    assert_int_equal(svc_msg_unpack(m, &grpc__health__v1__health_check_response__descriptor, &pb),
                     SVC_OK);
    assert_int_equal(((Grpc__Health__V1__HealthCheckResponse *)pb)->status, want);
    protobuf_c_message_free_unpacked(pb, NULL);
    svc_msg_free(m);
}

static void health_check_and_watch(void **state)
{
    (void)state;
    serving st = H(UNKNOWN);
    assert_int_equal(health_check(cli, "", &st), SVC_OK);
    assert_int_equal(st, H(SERVING));
    assert_int_equal(health_check(cli, "test.Echo", &st), SVC_NOT_FOUND);
    assert_int_equal(svc_server_set_health(srv, "test.Echo", SVC_HEALTH_NOT_SERVING), SVC_OK);
    assert_int_equal(health_check(cli, "test.Echo", &st), SVC_OK);
    assert_int_equal(st, H(NOT_SERVING));

    /* JSON (application/grpc+json) reaches the same service. */
    svc_msg *req = json("{\"service\":\"\"}"), *resp = NULL;
    assert_int_equal(svc_client_call(cli, "grpc.health.v1.Health/Check", req, &resp, NULL), SVC_OK);
    assert_int_equal(svc_msg_len(resp), strlen("{\"status\":\"SERVING\"}"));
    assert_memory_equal(svc_msg_data(resp), "{\"status\":\"SERVING\"}", svc_msg_len(resp));
    svc_msg_free(resp);
    svc_msg_free(req);

    /* Watch: the current status, then each change, of that service only. */
    svc_stream *w = health_watch(cli, "test.Echo");
    svc_stream *unknown = health_watch(cli, "test.Nobody");
    expect_status(w, H(NOT_SERVING));
    expect_status(unknown, H(SERVICE_UNKNOWN));
    assert_int_equal(svc_server_set_health(srv, "test.Other", SVC_HEALTH_SERVING), SVC_OK);
    assert_int_equal(svc_server_set_health(srv, "test.Echo", SVC_HEALTH_SERVING), SVC_OK);
    expect_status(w, H(SERVING)); /* and not test.Other's change first */
    assert_int_equal(svc_server_set_health(srv, "test.Nobody", SVC_HEALTH_NOT_SERVING), SVC_OK);
    expect_status(unknown, H(NOT_SERVING));
    svc_stream_cancel(w);
    svc_stream_free(w);
    svc_stream_free(unknown); /* cancels too */

    /* The server noticed both watches end (each answered once). */
    char *text = NULL;
    const char *want = "svc_server_handled_total{transport=\"grpc\","
                       "method=\"grpc.health.v1.Health/Watch\",code=\"CANCELLED\"} 2";
    for (int i = 0; i < 100; i++) {
        svc_free(text);
        assert_int_equal(svc_metrics_prometheus(ctx, &text, NULL), SVC_OK);
        if (strstr(text, want))
            break;
        usleep(10000);
    }
    if (!strstr(text, want))
        fail_msg("missing from /metrics: %s", want);
    svc_free(text);
    assert_int_equal(svc_server_set_health(srv, "test.Echo", SVC_HEALTH_SERVING), SVC_OK);
    assert_int_equal(svc_server_set_health(srv, "x", 7), SVC_INVALID_ARGUMENT);
}

static void health_ends_watches_on_shutdown(void **state)
{
    (void)state;
    char url[128];
    svc_server *s = serve_at("grpc://127.0.0.1:0", url);
    svc_server *bare;
    assert_int_equal(svc_server_new(ctx, &bare), SVC_OK);
    assert_int_equal(svc_server_set_health(bare, "", SVC_HEALTH_SERVING),
                     SVC_FAILED_PRECONDITION);
    svc_server_free(bare);
    assert_int_equal(svc_server_serve_health(s), SVC_OK);
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    svc_stream *w = health_watch(c, "");
    expect_status(w, H(SERVING));
    /* A watch never ends by itself: shutting down must not wait out the
     * grace period for it. */
    svc_time start = svc_now();
    pthread_t t;
    pthread_create(&t, NULL, shutdown_thread, s);
    expect_status(w, H(NOT_SERVING));
    svc_msg *m;
    assert_int_equal(svc_stream_recv(w, &m), SVC_UNAVAILABLE);
    pthread_join(t, NULL);
    assert_true(svc_now() - start < 2 * SVC_NSEC_PER_SEC);
    svc_stream_free(w);
    svc_server_free(s);
    svc_client_free(c);
}

static void metrics_counted(void **state)
{
    (void)state;
    char *text;
    assert_int_equal(svc_metrics_prometheus(ctx, &text, NULL), SVC_OK);
    const char *want[] = {
        "svc_server_handled_total{transport=\"grpc\",method=\"test.Echo/Fail\",code=\"NOT_FOUND\"} 1",
        "svc_client_handled_total{transport=\"grpc\",method=\"test.Echo/Fail\",code=\"NOT_FOUND\"} 1",
        /* (The deadline test's Slow call counts as DEADLINE_EXCEEDED or as
         * CANCELLED, depending on whether the server's timer or the
         * client's RST_STREAM comes first; the cancel test's is CANCELLED.) */
        "svc_server_handled_total{transport=\"grpc\",method=\"test.Echo/Slow\",code=\"CANCELLED\"}",
        "svc_server_handled_total{transport=\"grpc\",method=\"test.Stream/Count\",code=\"OUT_OF_RANGE\"} 1",
        "svc_server_handling_seconds_bucket{transport=\"grpc\",method=\"test.Echo/Echo\",le=\"+Inf\"}",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(text, want[i]))
            fail_msg("missing from /metrics: %s", want[i]);
    svc_free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unary_roundtrip),
        cmocka_unit_test(both_ends_send_at_once),
        cmocka_unit_test(protobuf_and_json),
        cmocka_unit_test(every_status),
        cmocka_unit_test(deadline_reaches_the_handler),
        cmocka_unit_test(cancel_reaches_the_handler),
        cmocka_unit_test(many_in_flight),
        cmocka_unit_test(stream_bidi),
        cmocka_unit_test(stream_server_and_client),
        cmocka_unit_test(stream_cancel_and_deadline),
        cmocka_unit_test(large_messages),
        cmocka_unit_test(size_limits),
        cmocka_unit_test(slow_reader_holds_the_sender_back),
        cmocka_unit_test(gzip_both_ways),
        cmocka_unit_test(tls_and_mutual_tls),
        cmocka_unit_test(unreachable_is_unavailable),
        cmocka_unit_test(graceful_shutdown),
        cmocka_unit_test(reconnects_after_restart),
        cmocka_unit_test(health_check_and_watch),
        cmocka_unit_test(health_ends_watches_on_shutdown),
        cmocka_unit_test(metrics_counted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
