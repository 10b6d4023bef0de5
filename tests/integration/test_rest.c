/*
 * The REST transport over real loopback HTTP: our libmicrohttpd server and
 * our curl-multi client, plus raw sockets for misbehaving peers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../unit/cmocka_all.h"
#include "helloworld.pb-c.h"

static svc_ctx *ctx;
static svc_server *srv;
static svc_client *cli;
static char base_url[128];
static char certs[512];

static void greeter_say_hello(Helloworld__Greeter_Service *s, const Helloworld__HelloRequest *in,
                      Helloworld__HelloReply_Closure closure, void *data)
{
    (void)s;
    svc_call_reply_md(svc_pb_closure_call(data), "x-server-id", "s1");
    char text[128];
    snprintf(text, sizeof text, "Hello %s", in->name);
    Helloworld__HelloReply out = HELLOWORLD__HELLO_REPLY__INIT;
    out.message = text;
    closure(&out, data);
}
static Helloworld__Greeter_Service greeter = HELLOWORLD__GREETER__INIT(greeter_);

static void hello_route(svc_call *c, void *ud)
{
    (void)ud;
    const char *name = svc_call_query(c, "name");
    char body[128];
    int n = snprintf(body, sizeof body, "{\"message\":\"Hello, %s!\"}", name ? name : "World");
    svc_msg *m;
    svc_msg_new_data(body, (size_t)n, SVC_CT_JSON, &m);
    svc_call_reply(c, m);
}

static void item_route(svc_call *c, void *ud)
{
    (void)ud;
    const svc_msg *req = svc_call_request(c);
    char body[256];
    size_t len = svc_msg_len(req);
    int n = snprintf(body, sizeof body, "{\"id\":\"%s\",\"body\":%.*s}", svc_call_param(c, "id"),
                     len ? (int)len : 4, len ? (const char *)svc_msg_data(req) : "null");
    svc_msg *m;
    svc_msg_new_data(body, (size_t)n, SVC_CT_JSON, &m);
    svc_call_reply(c, m);
}

/* Echoes request metadata back and answers with the status asked for. */
static void status_echo(svc_call *c, void *ud)
{
    (void)ud;
    const svc_msg *req = svc_call_request(c);
    svc_msg *m;
    svc_msg_clone(req, &m);
    svc_msg_md_remove(m, "user-agent");
    svc_msg_md_remove(m, "accept");
    const char *want = svc_msg_md_get(req, "x-want-code", NULL);
    if (want)
        svc_msg_set_status(m, (svc_code)atoi(want), "as you asked");
    svc_call_reply(c, m);
}

static atomic_bool sleeper_cancelled;
static void sleeper(svc_call *c, void *ud)
{
    (void)ud;
    int ms = atoi(svc_msg_md_get(svc_call_request(c), "x-sleep-ms", NULL) ?: "20");
    for (int i = 0; i < ms && !svc_call_cancelled(c); i++)
        usleep(1000);
    atomic_store(&sleeper_cancelled, svc_call_cancelled(c));
    svc_call_reply(c, NULL);
}

static void *late(void *arg)
{
    usleep(30000);
    svc_msg *m;
    svc_msg_new_data("\"late\"", 6, SVC_CT_JSON, &m);
    svc_call_reply(arg, m);
    return NULL;
}

static void reply_later(svc_call *c, void *ud)
{
    (void)ud;
    pthread_t t;
    pthread_create(&t, NULL, late, c);
    pthread_detach(t);
}

/* Answers after 20 ms with many headers, so that building the response
 * takes a moment: a graceful shutdown once stopped the server in it. */
static atomic_bool slow_started;
static void slow_many_headers(svc_call *c, void *ud)
{
    (void)ud;
    atomic_store(&slow_started, true);
    usleep(20000);
    svc_msg *m;
    svc_msg_new_data("{}", 2, SVC_CT_JSON, &m);
    for (int i = 0; i < 100; i++) {
        char k[32];
        snprintf(k, sizeof k, "x-h%d", i);
        svc_msg_md_add(m, k, "some value here");
    }
    svc_call_reply(c, m);
}

static void big_reply(svc_call *c, void *ud)
{
    (void)ud;
    size_t n = 100000;
    char *p = malloc(n);
    memset(p, 'x', n);
    svc_msg *m;
    svc_msg_new(&m);
    svc_msg_set_data_owned(m, p, n, free);
    svc_call_reply(c, m);
}

static int setup(void **state)
{
    (void)state;
    snprintf(certs, sizeof certs, "%s/certs", getenv("SVC_TEST_DIR") ?: ".");
    assert_int_equal(svc_ctx_new(NULL, &ctx), SVC_OK);
    assert_int_equal(svc_server_new(ctx, &srv), SVC_OK);
    svc_handler_opts inl = {.dispatch = SVC_DISPATCH_INLINE};
    assert_int_equal(svc_server_handle_pb(srv, &greeter.base), SVC_OK);
    assert_int_equal(svc_server_route_ex(srv, "GET", "/hello", hello_route, NULL, &inl), SVC_OK);
    assert_int_equal(svc_server_route(srv, "PUT", "/items/{id}", item_route, NULL), SVC_OK);
    assert_int_equal(svc_server_route(srv, "GET", "/items/{id}", item_route, NULL), SVC_OK);
    assert_int_equal(svc_server_handle(srv, "test.Rest/Status", status_echo, NULL), SVC_OK);
    assert_int_equal(svc_server_handle(srv, "test.Rest/Sleep", sleeper, NULL), SVC_OK);
    assert_int_equal(svc_server_handle(srv, "test.Rest/Later", reply_later, NULL), SVC_OK);
    assert_int_equal(svc_server_handle(srv, "test.Rest/Big", big_reply, NULL), SVC_OK);
    assert_int_equal(svc_server_serve_metrics(srv, "/metrics"), SVC_OK);
    svc_listen_opts lo = {.max_body = 1024};
    assert_int_equal(svc_server_listen_ex(srv, "http://127.0.0.1:0", &lo), SVC_OK);
    snprintf(base_url, sizeof base_url, "%s", svc_server_listener_url(srv, 0));
    assert_int_equal(strncmp(base_url, "http://127.0.0.1:", 17), 0);
    assert_int_not_equal(atoi(base_url + 17), 0);
    svc_client_opts co;
    svc_client_opts_init(&co);
    co.max_message_size = 50000;
    assert_int_equal(svc_client_new(ctx, base_url, &co, &cli), SVC_OK);
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

static svc_code call_json(svc_client *c, const char *method, const char *json, svc_msg **resp)
{
    svc_msg *req;
    assert_int_equal(svc_msg_new_data(json, strlen(json), *json ? SVC_CT_JSON : NULL, &req), SVC_OK);
    svc_code rc = svc_client_call(c, method, req, resp, NULL);
    svc_msg_free(req);
    return rc;
}

static void rpc_json_and_proto(void **state)
{
    (void)state;
    svc_msg *resp = NULL;
    assert_int_equal(call_json(cli, "helloworld.Greeter/SayHello", "{\"name\":\"John\"}", &resp), SVC_OK);
    assert_string_equal(svc_msg_data(resp), "{\"message\":\"Hello John\"}");
    assert_string_equal(svc_msg_content_type(resp), "application/json");
    assert_string_equal(svc_msg_md_get(resp, "x-server-id", NULL), "s1");
    svc_msg_free(resp);

    Helloworld__HelloRequest in = HELLOWORLD__HELLO_REQUEST__INIT;
    in.name = "Proto";
    ProtobufCMessage *out = NULL;
    assert_int_equal(svc_client_call_pb(cli, "helloworld.Greeter/SayHello", &in.base,
                                        &helloworld__hello_reply__descriptor, &out, NULL), SVC_OK);
    assert_string_equal(((Helloworld__HelloReply *)out)->message, "Hello Proto");
    protobuf_c_message_free_unpacked(out, NULL);
}

static void routes(void **state)
{
    (void)state;
    svc_msg *resp = NULL;
    assert_int_equal(call_json(cli, "GET /hello?name=J%C3%B6rg", "", &resp), SVC_OK);
    assert_string_equal(svc_msg_data(resp), "{\"message\":\"Hello, J\xc3\xb6rg!\"}");
    svc_msg_free(resp);
    assert_int_equal(call_json(cli, "GET /hello", "", &resp), SVC_OK);
    assert_string_equal(svc_msg_data(resp), "{\"message\":\"Hello, World!\"}");
    svc_msg_free(resp);
    assert_int_equal(call_json(cli, "PUT /items/a%2Fb", "{\"n\":1}", &resp), SVC_OK);
    assert_string_equal(svc_msg_data(resp), "{\"id\":\"a/b\",\"body\":{\"n\":1}}");
    svc_msg_free(resp);
    assert_int_equal(call_json(cli, "GET /items/7", "", &resp), SVC_OK);
    assert_string_equal(svc_msg_data(resp), "{\"id\":\"7\",\"body\":null}");
    svc_msg_free(resp);
    assert_int_equal(call_json(cli, "GET /nowhere", "", &resp), SVC_NOT_FOUND);
    assert_non_null(strstr(svc_msg_status_message(resp), "no route"));
    svc_msg_free(resp);
    assert_int_equal(call_json(cli, "DELETE /items/7", "", &resp), SVC_UNIMPLEMENTED);
    svc_msg_free(resp);
    assert_int_equal(call_json(cli, "test.Rest/Nope", "{}", &resp), SVC_UNIMPLEMENTED);
    assert_non_null(strstr(svc_msg_status_message(resp), "test.Rest/Nope"));
    svc_msg_free(resp);
}

static void metadata_and_status(void **state)
{
    (void)state;
    for (int code = 0; code < SVC_CODE_COUNT; code++) {
        svc_msg *req, *resp = NULL;
        char want[8];
        snprintf(want, sizeof want, "%d", code);
        svc_msg_new_data("{}", 2, SVC_CT_JSON, &req);
        svc_msg_md_add(req, "x-want-code", want);
        svc_msg_md_add(req, "x-user", "ann");
        svc_msg_md_add_bin(req, "x-raw-bin", "\0\xff\x10", 3);
        assert_int_equal(svc_client_call(cli, "test.Rest/Status", req, &resp, NULL), code);
        if (code) {
            assert_string_equal(svc_msg_status_message(resp), "as you asked");
        } else {
            size_t len;
            assert_string_equal(svc_msg_md_get(resp, "x-user", NULL), "ann");
            assert_memory_equal(svc_msg_md_get(resp, "x-raw-bin", &len), "\0\xff\x10", 3);
            assert_int_equal(len, 3);
            assert_string_equal(svc_msg_data(resp), "{}");
        }
        svc_msg_free(req);
        svc_msg_free(resp);
    }
}

static int64_t metric_value(const char *series)
{
    char *text;
    assert_int_equal(svc_metrics_prometheus(ctx, &text, NULL), SVC_OK);
    const char *p = strstr(text, series);
    int64_t v = p ? atoll(p + strlen(series)) : -1;
    svc_free(text);
    return v;
}

static void keep_alive(void **state)
{
    (void)state;
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, base_url, NULL, &c), SVC_OK);
    char server_series[256], client_series[256];
    snprintf(server_series, sizeof server_series, "svc_rest_connections_total{listener=\"%s\"} ", base_url);
    snprintf(client_series, sizeof client_series, "svc_rest_client_connections_total{target=\"%s\"} ", base_url);
    int64_t server_before = metric_value(server_series);
    int64_t client_before = metric_value(client_series);
    for (int i = 0; i < 25; i++) {
        svc_msg *resp = NULL;
        assert_int_equal(call_json(c, "helloworld.Greeter/SayHello", "{\"name\":\"k\"}", &resp), SVC_OK);
        svc_msg_free(resp);
    }
    /* 25 calls, one new connection on each side. */
    assert_int_equal(metric_value(server_series) - server_before, 1);
    assert_int_equal(metric_value(client_series) - client_before, 1);
    svc_client_free(c);
}

typedef struct tally {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok;
} tally;

static void on_done(svc_code code, svc_msg *resp, void *ud)
{
    tally *t = ud;
    pthread_mutex_lock(&t->mu);
    t->done++;
    t->ok += code == SVC_OK;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    svc_msg_free(resp);
}

static void tally_wait(tally *t, int n)
{
    pthread_mutex_lock(&t->mu);
    while (t->done < n)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

static void many_in_flight(void **state)
{
    (void)state;
    enum { N = 150 };
    tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    svc_time start = svc_now();
    /* Each call is answered 30 ms later from its own thread: all 150 must be
     * in flight at once, on the client and on the server. */
    for (int i = 0; i < N; i++) {
        svc_msg *req;
        svc_msg_new_data("{}", 2, SVC_CT_JSON, &req);
        assert_int_equal(svc_client_call_async(cli, "test.Rest/Later", req, NULL, on_done, &t), SVC_OK);
    }
    tally_wait(&t, N);
    assert_int_equal(t.ok, N);
    /* 150 × 30 ms one after the other would take 4.5 s. */
    assert_true(svc_now() - start < 2 * SVC_NSEC_PER_SEC);
}

static void deadline_and_late_reply(void **state)
{
    (void)state;
    svc_msg *req, *resp = NULL;
    svc_msg_new_data("{}", 2, SVC_CT_JSON, &req);
    svc_msg_md_add(req, "x-sleep-ms", "3000");
    svc_call_opts o = {.timeout_ms = 150};
    atomic_store(&sleeper_cancelled, false);
    svc_time start = svc_now();
    assert_int_equal(svc_client_call(cli, "test.Rest/Sleep", req, &resp, &o), SVC_DEADLINE_EXCEEDED);
    svc_time took = svc_now() - start;
    assert_true(took >= 150 * SVC_NSEC_PER_MSEC && took < 1000 * SVC_NSEC_PER_MSEC);
    svc_msg_free(resp);
    svc_msg_free(req);
    /* grpc-timeout reached the server, which cancelled the handler's call. */
    for (int i = 0; i < 300 && !atomic_load(&sleeper_cancelled); i++)
        usleep(10000);
    assert_true(atomic_load(&sleeper_cancelled));

    assert_int_equal(call_json(cli, "test.Rest/Later", "{}", &resp), SVC_OK);
    assert_string_equal(svc_msg_data(resp), "\"late\"");
    svc_msg_free(resp);
}

static void bad_input(void **state)
{
    (void)state;
    svc_msg *resp = NULL, *req;
    assert_int_equal(call_json(cli, "helloworld.Greeter/SayHello", "{\"name\":", &resp), SVC_INVALID_ARGUMENT);
    svc_msg_free(resp);
    assert_int_equal(call_json(cli, "helloworld.Greeter/SayHello", "{\"name\":5}", &resp), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_msg_status_message(resp), "name"));
    svc_msg_free(resp);

    char big[2000];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    svc_msg_new_data(big, sizeof big, SVC_CT_JSON, &req);
    assert_int_equal(svc_client_call(cli, "helloworld.Greeter/SayHello", req, &resp, NULL),
                     SVC_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(svc_msg_status_message(resp), "1024"));
    svc_msg_free(resp);
    svc_msg_free(req);

    svc_msg_new_data("<a/>", 4, "text/xml", &req);
    assert_int_equal(svc_client_call(cli, "helloworld.Greeter/SayHello", req, &resp, NULL),
                     SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_msg_status_message(resp), "content type"));
    svc_msg_free(resp);
    svc_msg_free(req);

    /* A reply over the client's limit (50000 here) is refused, not buffered. */
    assert_int_equal(call_json(cli, "test.Rest/Big", "{}", &resp), SVC_RESOURCE_EXHAUSTED);
    svc_msg_free(resp);
}

static int port_of(const char *url)
{
    return atoi(strrchr(url, ':') + 1);
}

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Sends `request` on a fresh connection and reads the answer (at most n-1
 * bytes, until the server closes or 3 s pass) into reply. */
static void raw_exchange(int port, const char *request, char *reply, size_t n)
{
    int fd = raw_connect(port);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t)strlen(request));
    size_t len = 0;
    ssize_t got;
    while (len + 1 < n && (got = recv(fd, reply + len, n - 1 - len, 0)) > 0)
        len += (size_t)got;
    reply[len] = '\0';
    close(fd);
}

/* A request method of thousands of bytes once overflowed the buffer the
 * call's method is built in: refused now, and the server lives on. */
static void long_request_method(void **state)
{
    (void)state;
    static char request[4000];
    memset(request, 'X', 3000);
    strcpy(request + 3000, " /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    char reply[512];
    raw_exchange(port_of(base_url), request, reply, sizeof reply);
    assert_int_equal(strncmp(reply, "HTTP/1.1 501", 12), 0);
    svc_msg *resp = NULL;
    assert_int_equal(call_json(cli, "GET /hello", "", &resp), SVC_OK);
    svc_msg_free(resp);
}

/* grpc-timeout: 99999999H is longer than the clock can count: no deadline,
 * rather than one that overflowed into the past. */
static void huge_peer_timeout(void **state)
{
    (void)state;
    char reply[512];
    raw_exchange(port_of(base_url),
                 "GET /hello HTTP/1.1\r\nHost: x\r\ngrpc-timeout: 99999999H\r\n"
                 "Connection: close\r\n\r\n",
                 reply, sizeof reply);
    assert_int_equal(strncmp(reply, "HTTP/1.1 200", 12), 0);
    assert_non_null(strstr(reply, "Hello, World!"));
}

static atomic_bool trickle_stop;
static void *trickle(void *arg)
{
    int fd = raw_connect(*(int *)arg);
    const char *req = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for (const char *p = req; *p && !atomic_load(&trickle_stop); p++) {
        if (send(fd, p, 1, MSG_NOSIGNAL) != 1)
            break;
        usleep(20000);
    }
    close(fd);
    return NULL;
}

static void slow_header_client(void **state)
{
    (void)state;
    int port = port_of(base_url);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, trickle, &port);
    usleep(50000);
    for (int i = 0; i < 30; i++) {
        svc_msg *resp = NULL;
        svc_time start = svc_now();
        assert_int_equal(call_json(cli, "GET /hello", "", &resp), SVC_OK);
        assert_true(svc_now() - start < 300 * SVC_NSEC_PER_MSEC);
        svc_msg_free(resp);
        usleep(10000);
    }
    atomic_store(&trickle_stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

static void unreachable(void **state)
{
    (void)state;
    /* A closed port: refused at once. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    int closed_port = ntohs(a.sin_port);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port);
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    svc_msg *resp = NULL;
    svc_call_opts o = {.timeout_ms = 2000};
    svc_time start = svc_now();
    assert_int_equal(svc_client_call(c, "a.B/C", NULL, &resp, &o), SVC_UNAVAILABLE);
    assert_true(svc_now() - start < 1000 * SVC_NSEC_PER_MSEC);
    svc_msg_free(resp);
    svc_client_free(c);

    /* A listener that never answers: the deadline ends the call. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = 0;
    len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    assert_int_equal(listen(fd, 8), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    o.timeout_ms = 200;
    start = svc_now();
    assert_int_equal(svc_client_call(c, "a.B/C", NULL, &resp, &o), SVC_DEADLINE_EXCEEDED);
    svc_time took = svc_now() - start;
    if (took < 200 * SVC_NSEC_PER_MSEC || took >= 800 * SVC_NSEC_PER_MSEC)
        fail_msg("took %lld ms", (long long)(took / SVC_NSEC_PER_MSEC));
    svc_msg_free(resp);
    svc_client_free(c);
    close(fd);
}

static void cert_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", certs, name);
}

static void https_and_mtls(void **state)
{
    (void)state;
    char ca[600], cert[600], key[600], ccert[600], ckey[600];
    cert_path(ca, sizeof ca, "ca.pem");
    cert_path(cert, sizeof cert, "server.pem");
    cert_path(key, sizeof key, "server.key");
    cert_path(ccert, sizeof ccert, "client.pem");
    cert_path(ckey, sizeof ckey, "client.key");
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_handle_pb(s, &greeter.base), SVC_OK);
    svc_listen_opts lo = {.tls = {.cert_file = cert, .key_file = key}};
    assert_int_equal(svc_server_listen_ex(s, "https://127.0.0.1:0", &lo), SVC_OK);
    lo.tls.ca_file = ca;
    lo.tls.verify_peer = true;
    assert_int_equal(svc_server_listen_ex(s, "https://127.0.0.1:0", &lo), SVC_OK);
    const char *tls_url = svc_server_listener_url(s, 0), *mtls_url = svc_server_listener_url(s, 1);
    assert_int_equal(strncmp(tls_url, "https://127.0.0.1:", 18), 0);

    svc_client_opts co;
    svc_client_opts_init(&co);
    co.tls.ca_file = ca;
    svc_client *c;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_new(ctx, tls_url, &co, &c), SVC_OK);
    assert_int_equal(call_json(c, "helloworld.Greeter/SayHello", "{\"name\":\"tls\"}", &resp), SVC_OK);
    assert_string_equal(svc_msg_data(resp), "{\"message\":\"Hello tls\"}");
    svc_msg_free(resp);
    svc_client_free(c);

    /* The certificate names "localhost": verifying that name works too. */
    co.tls.server_name = "localhost";
    assert_int_equal(svc_client_new(ctx, tls_url, &co, &c), SVC_OK);
    assert_int_equal(call_json(c, "helloworld.Greeter/SayHello", "{}", &resp), SVC_OK);
    svc_msg_free(resp);
    svc_client_free(c);
    co.tls.server_name = NULL;

    /* Without our CA the server is not trusted. */
    svc_client_opts plain;
    svc_client_opts_init(&plain);
    assert_int_equal(svc_client_new(ctx, tls_url, &plain, &c), SVC_OK);
    assert_int_equal(call_json(c, "helloworld.Greeter/SayHello", "{}", &resp), SVC_UNAVAILABLE);
    svc_msg_free(resp);
    svc_client_free(c);

    /* Mutual TLS: no client certificate, refused; with one, served. */
    assert_int_equal(svc_client_new(ctx, mtls_url, &co, &c), SVC_OK);
    assert_int_equal(call_json(c, "helloworld.Greeter/SayHello", "{}", &resp), SVC_UNAUTHENTICATED);
    svc_msg_free(resp);
    svc_client_free(c);
    co.tls.cert_file = ccert;
    co.tls.key_file = ckey;
    assert_int_equal(svc_client_new(ctx, mtls_url, &co, &c), SVC_OK);
    assert_int_equal(call_json(c, "helloworld.Greeter/SayHello", "{\"name\":\"m\"}", &resp), SVC_OK);
    assert_string_equal(svc_msg_data(resp), "{\"message\":\"Hello m\"}");
    svc_msg_free(resp);
    svc_client_free(c);
    svc_server_free(s);
}

static void metrics_endpoint(void **state)
{
    (void)state;
    svc_msg *resp = NULL;
    assert_int_equal(call_json(cli, "GET /metrics", "", &resp), SVC_OK);
    assert_non_null(strstr(svc_msg_content_type(resp), "text/plain"));
    assert_non_null(strstr(svc_msg_data(resp),
        "svc_server_handled_total{transport=\"rest\",method=\"helloworld.Greeter/SayHello\",code=\"OK\"}"));
    assert_non_null(strstr(svc_msg_data(resp),
        "svc_server_handled_total{transport=\"rest\",method=\"helloworld.Greeter/SayHello\",code=\"RESOURCE_EXHAUSTED\"} 1"));
    assert_non_null(strstr(svc_msg_data(resp),
        "svc_client_handled_total{transport=\"rest\",method=\"test.Rest/Sleep\",code=\"DEADLINE_EXCEEDED\"} 1"));
    svc_msg_free(resp);
}

/* A server of its own serving `method` on a free port, and a client of it. */
static svc_server *own_server(const char *method, svc_handler_fn fn, svc_client **cli_out)
{
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_handle(s, method, fn, NULL), SVC_OK);
    assert_int_equal(svc_server_listen(s, "http://127.0.0.1:0"), SVC_OK);
    assert_int_equal(svc_client_new(ctx, svc_server_listener_url(s, 0), NULL, cli_out), SVC_OK);
    return s;
}

static void shutdown_in_flight(void **state)
{
    (void)state;
    svc_client *c;
    svc_server *s = own_server("test.Rest/Sleep", sleeper, &c);
    tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    svc_msg *req;
    svc_msg_new_data("{}", 2, SVC_CT_JSON, &req);
    svc_msg_md_add(req, "x-sleep-ms", "5000");
    assert_int_equal(svc_client_call_async(c, "test.Rest/Sleep", req, NULL, on_done, &t), SVC_OK);
    usleep(100000);
    svc_time start = svc_now();
    svc_server_free(s); /* answers the call in flight, does not wait 5 s */
    assert_true(svc_now() - start < 2 * SVC_NSEC_PER_SEC);
    tally_wait(&t, 1);
    assert_int_equal(t.ok, 0);
    svc_client_free(c);
}

/* A graceful shutdown waits for answers to leave, not just to be made: the
 * handler answers during the grace period and the caller gets the answer
 * (it once got "server returned nothing", or MHD aborted the process for
 * being stopped with a suspended connection). */
static void graceful_shutdown_sends_answers(void **state)
{
    (void)state;
    svc_time until = svc_now() + 2 * SVC_NSEC_PER_SEC;
    for (int i = 0; i < 10 && svc_now() < until; i++) {
        svc_client *c;
        svc_server *s = own_server("test.Rest/Slow", slow_many_headers, &c);
        tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
        svc_msg *req;
        svc_msg_new_data("{}", 2, SVC_CT_JSON, &req);
        svc_call_opts o = {.timeout_ms = 3000};
        atomic_store(&slow_started, false);
        assert_int_equal(svc_client_call_async(c, "test.Rest/Slow", req, &o, on_done, &t), SVC_OK);
        while (!atomic_load(&slow_started)) /* the call is in flight */
            usleep(1000);
        assert_int_equal(svc_server_shutdown(s, 2000), SVC_OK);
        tally_wait(&t, 1);
        assert_int_equal(t.ok, 1);
        svc_client_free(c);
        svc_server_free(s);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* one test (or a pattern) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rpc_json_and_proto),
        cmocka_unit_test(routes),
        cmocka_unit_test(metadata_and_status),
        cmocka_unit_test(keep_alive),
        cmocka_unit_test(many_in_flight),
        cmocka_unit_test(deadline_and_late_reply),
        cmocka_unit_test(bad_input),
        cmocka_unit_test(slow_header_client),
        cmocka_unit_test(unreachable),
        cmocka_unit_test(https_and_mtls),
        cmocka_unit_test(metrics_endpoint),
        cmocka_unit_test(shutdown_in_flight),
        cmocka_unit_test(long_request_method),
        cmocka_unit_test(huge_peer_timeout),
        cmocka_unit_test(graceful_shutdown_sends_answers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
