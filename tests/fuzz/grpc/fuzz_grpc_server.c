// fuzz-protos: proto/helloworld.proto
/*
 * The gRPC server's whole input path: the fuzzer's bytes are what a client
 * sends on a connection (nghttp2, then our callbacks: headers, deframing,
 * gzip, metadata, routing, calls and their answers), written to a real
 * listener on 127.0.0.1. Per input: connect, write, half-close, read until
 * the server closes. The server must close (a hang aborts) and never crash
 * or leak; one server serves every input, and a connection is gone, with
 * its streams and calls, by the time it closes.
 *
 * Input: byte 0 < 0xf0 puts the HTTP/2 client preface in front of the rest
 * (most inputs, so the fuzzer starts past it), and with bit 0x40 an empty
 * SETTINGS frame after it; from 0xf0 the rest goes as it is. The seed corpus
 * (tests/fuzz/corpus/grpc_server) is nghttp2's own client output for gRPC
 * calls, made by gen_grpc_corpus.c.
 *
 * Handlers run inline on the I/O thread and never block, so a connection's
 * calls are all answered or abandoned while it closes: nothing of one input
 * is left running into the next.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* codec.h uses svc_call_opts from client.h without including it. */
#include <svccomm/svccomm.h>

#include "helloworld.pb-c.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int port;

static void quiet(svc_log_level level, const char *component, const char *message, void *ud)
{
    (void)level;
    (void)component;
    (void)message;
    (void)ud;
}

static void echo(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *resp = NULL;
    if (svc_msg_clone(svc_call_request(c), &resp) != SVC_OK) {
        svc_call_fail(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    svc_call_reply_md(c, "x-reply", "yes");
    svc_msg_set_compress(resp, svc_msg_was_compressed(svc_call_request(c)));
    svc_call_reply(c, resp);
}

static void fail(svc_call *c, void *ud)
{
    (void)ud;
    svc_call_fail(c, SVC_FAILED_PRECONDITION, "failed \xe2\x9c\x97 100%");
}

/* Streaming, inline: it must not wait for messages, so it answers at once
 * with two small ones (the flow drops what arrives after). */
static void stream(svc_call *c, void *ud)
{
    (void)ud;
    svc_call_reply_md(c, "x-initial", "hi");
    for (int i = 0; i < 2; i++) {
        svc_msg *m = NULL;
        if (svc_msg_new_data("pong", 4, NULL, &m) != SVC_OK || svc_call_send(c, m) != SVC_OK)
            break;
    }
    svc_call_reply(c, NULL);
}

static void say_hello(svc_call *c, void *ud)
{
    (void)ud;
    ProtobufCMessage *in = NULL;
    svc_code rc = svc_call_request_pb(c, &helloworld__hello_request__descriptor, &in);
    if (rc != SVC_OK) {
        svc_call_fail(c, rc, "bad request");
        return;
    }
    Helloworld__HelloReply out = HELLOWORLD__HELLO_REPLY__INIT;
    out.message = ((Helloworld__HelloRequest *)in)->name;
    svc_call_reply_pb(c, &out.base);
    protobuf_c_message_free_unpacked(in, NULL);
}

static void setup(void)
{
    svc_ctx_config cfg;
    svc_ctx_config_init(&cfg);
    cfg.log_fn = quiet;
    svc_ctx *ctx;
    svc_server *srv;
    if (svc_ctx_new(&cfg, &ctx) != SVC_OK || svc_server_new(ctx, &srv) != SVC_OK)
        abort();
    svc_handler_opts unary = {.dispatch = SVC_DISPATCH_INLINE};
    svc_handler_opts bidi = {.dispatch = SVC_DISPATCH_INLINE, .kind = SVC_BIDI_STREAMING};
    svc_handler_opts client = {.dispatch = SVC_DISPATCH_INLINE, .kind = SVC_CLIENT_STREAMING};
    svc_listen_opts lo = {.max_body = 64 << 10}; /* limits within reach of small inputs */
    if (svc_server_handle_ex(srv, "test.Echo/Echo", echo, NULL, &unary) != SVC_OK ||
        svc_server_handle_ex(srv, "test.Echo/Fail", fail, NULL, &unary) != SVC_OK ||
        svc_server_handle_ex(srv, "test.Stream/Echo", stream, NULL, &bidi) != SVC_OK ||
        svc_server_handle_ex(srv, "test.Stream/Sum", stream, NULL, &client) != SVC_OK ||
        svc_server_handle_ex(srv, "helloworld.Greeter/SayHello", say_hello, NULL, &unary) !=
            SVC_OK ||
        svc_server_listen_ex(srv, "grpc://127.0.0.1:0", &lo) != SVC_OK)
        abort();
    const char *url = svc_server_listener_url(srv, 0);
    port = atoi(strrchr(url, ':') + 1);
    /* The context and server live as long as the process. */
}

/* libFuzzer's -timeout watchdog is a SIGALRM every timeout/2 + 1 seconds,
 * and poll() is never restarted after a signal: EINTR is no answer from the
 * server, only a reason to ask again. */
static void write_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the server closed first: it may, after a GOAWAY */
        b += w;
        n -= (size_t)w;
    }
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A connect() a signal interrupted goes on without us: wait for it. */
static bool connect_to(int fd, const struct sockaddr_in *to)
{
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) == 0)
        return true;
    if (errno != EINTR)
        return false;
    struct pollfd p = {fd, POLLOUT, 0};
    while (poll(&p, 1, 20000) < 0 && errno == EINTR)
        ;
    int err = -1;
    socklen_t len = sizeof err;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

/* Reads until the server closes; false if it has not within 20 s. */
static bool until_closed(int fd)
{
    char buf[65536];
    int64_t end = now_ms() + 20000;
    for (int64_t left; (left = end - now_ms()) > 0;) {
        struct pollfd p = {fd, POLLIN, 0};
        int ready = poll(&p, 1, (int)left);
        if (ready < 0 && errno != EINTR)
            return false;
        if (ready <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EINTR))
            return true; /* closed, or reset: it may, with our bytes unread */
    }
    return false;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    static const unsigned char settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    if (!port)
        setup();
    if (size < 1)
        return 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        abort();
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    /* Thousands of connections a second would use up the ephemeral ports
     * of one address pair in TIME_WAIT: each comes from its own address in
     * 127/8 and ends with a reset (below). */
    static uint32_t next;
    struct sockaddr_in from = {.sin_family = AF_INET};
    from.sin_addr.s_addr = htonl(0x7f000000u | (1 + next++ % 0xfffffe));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0 ||
        !connect_to(fd, &a)) {
        perror("fuzz_grpc_server: connect");
        abort();
    }
    if (data[0] < 0xf0) {
        write_all(fd, preface, sizeof preface - 1);
        if (data[0] & 0x40)
            write_all(fd, settings, sizeof settings);
    }
    write_all(fd, data + 1, size - 1);
    shutdown(fd, SHUT_WR);
    /* The server answers what it can and closes once it saw our end. */
    if (!until_closed(fd)) {
        fprintf(stderr, "fuzz_grpc_server: the server did not close the connection\n");
        abort();
    }
    struct linger reset = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(fd);
    return 0;
}
