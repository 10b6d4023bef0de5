/*
 * svc_grpc_bench_server — libsvccomm's gRPC server as the benchmarks run it,
 * with the configuration choices a user has:
 *
 *   svc_grpc_bench_server --port PORT [--io-threads N] [--workers N] [--inline]
 *
 *   --io-threads N  event loops of the context (default 1); connections are
 *                   spread over them
 *   --workers N     the worker pool (default: number of CPUs, at least 2)
 *   --inline        SayHello runs on the I/O loop instead of the pool
 *
 * Serves:
 *   helloworld.Greeter/SayHello  "Hello <name>", the work examples/greeter
 *                                does (unpack, format, pack), registered
 *                                with the dispatch asked for
 *   bench.Stream/Down            server streaming: Ask{size, count} → count
 *                                Chunks of size bytes (count 0: until the
 *                                client cancels)
 *   bench.Stream/Up              client streaming: Chunks → Tally
 * (stream_bench.proto; the stream handlers block in send/recv, so they
 * always run on the pool.)
 *
 * Listens on 127.0.0.1 only, prints "listening on grpc://127.0.0.1:PORT",
 * stops on SIGINT/SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "helloworld.pb-c.h"
#include "stream_bench.pb-c.h"

static void say_hello(svc_call *c, void *ud)
{
    (void)ud;
    Helloworld__HelloRequest *req = NULL;
    if (svc_call_request_pb(c, &helloworld__hello_request__descriptor,
                            (ProtobufCMessage **)&req) != SVC_OK) {
        svc_call_fail(c, SVC_INVALID_ARGUMENT, svc_last_error());
        return;
    }
    /* "Hello " + name, as the C++ server's std::string concatenation:
     * any length, no format parsing. */
    size_t n = strlen(req->name);
    char small[256], *text = n < sizeof small - 6 ? small : malloc(n + 7);
    if (!text) {
        helloworld__hello_request__free_unpacked(req, NULL);
        svc_call_fail(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    memcpy(text, "Hello ", 6);
    memcpy(text + 6, req->name, n + 1);
    helloworld__hello_request__free_unpacked(req, NULL);
    Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
    reply.message = text;
    svc_call_reply_pb(c, &reply.base);
    if (text != small)
        free(text);
}

#define MAX_CHUNK (4u << 20)
#define MAX_DOWN UINT64_C(100000000) /* chunks of one Down call, at most */

static void down(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *m = NULL;
    Bench__Ask *ask = NULL;
    if (svc_call_recv(c, &m) != SVC_OK || !m ||
        svc_msg_unpack(m, &bench__ask__descriptor, (ProtobufCMessage **)&ask) != SVC_OK ||
        ask->size > MAX_CHUNK) {
        svc_msg_free(m);
        if (ask)
            bench__ask__free_unpacked(ask, NULL);
        svc_call_fail(c, SVC_INVALID_ARGUMENT, "want an Ask of at most 4 MiB");
        return;
    }
    svc_msg_free(m);
    uint64_t count = ask->count && ask->count < MAX_DOWN ? ask->count : MAX_DOWN;
    size_t size = ask->size;
    bench__ask__free_unpacked(ask, NULL);
    uint8_t *fill = malloc(size ? size : 1);
    if (!fill) {
        svc_call_fail(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    memset(fill, 'x', size);
    Bench__Chunk chunk = BENCH__CHUNK__INIT;
    chunk.data.data = fill;
    chunk.data.len = size;
    for (uint64_t i = 0; i < count; i++) {
        svc_msg *out = NULL;
        svc_code rc = svc_msg_new(&out);
        if (rc == SVC_OK)
            rc = svc_msg_pack(out, &chunk.base, SVC_CT_PROTO);
        if (rc == SVC_OK)
            rc = svc_call_send(c, out); /* takes out; blocks on flow control */
        else
            svc_msg_free(out);
        if (rc != SVC_OK) {
            free(fill);
            svc_call_fail(c, rc, "stopped");
            return;
        }
    }
    free(fill);
    svc_call_reply(c, NULL);
}

static void up(svc_call *c, void *ud)
{
    (void)ud;
    Bench__Tally tally = BENCH__TALLY__INIT;
    for (uint64_t i = 0; i < MAX_DOWN; i++) {
        svc_msg *m = NULL;
        svc_code rc = svc_call_recv(c, &m);
        if (rc != SVC_OK) {
            svc_call_fail(c, rc, "stopped");
            return;
        }
        if (!m)
            break; /* the client closed its side */
        Bench__Chunk *chunk = NULL;
        rc = svc_msg_unpack(m, &bench__chunk__descriptor, (ProtobufCMessage **)&chunk);
        svc_msg_free(m);
        if (rc != SVC_OK) {
            svc_call_fail(c, SVC_INVALID_ARGUMENT, "not a Chunk");
            return;
        }
        tally.messages++;
        tally.bytes += chunk->data.len;
        bench__chunk__free_unpacked(chunk, NULL);
    }
    svc_call_reply_pb(c, &tally.base);
}

int main(int argc, char **argv)
{
    long port = 0, io = 1, workers = 0;
    bool inl = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--io-threads") == 0 && i + 1 < argc)
            io = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
            workers = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--inline") == 0)
            inl = true;
        else
            port = -1;
    }
    if (port <= 0 || port > 65535 || io < 1 || io > 16 || workers < 0 || workers > 64) {
        fprintf(stderr, "usage: svc_grpc_bench_server --port PORT [--io-threads N] "
                        "[--workers N] [--inline]\n");
        return 2;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* inherited by the library's threads */

    svc_ctx_config cfg;
    svc_ctx_config_init(&cfg);
    cfg.io_threads = (unsigned)io;
    cfg.workers = (unsigned)workers;
    svc_ctx *ctx = NULL;
    svc_server *srv = NULL;
    svc_handler_opts hello = {.dispatch = inl ? SVC_DISPATCH_INLINE : SVC_DISPATCH_POOL};
    svc_handler_opts server_streaming = {.kind = SVC_SERVER_STREAMING};
    svc_handler_opts client_streaming = {.kind = SVC_CLIENT_STREAMING};
    char url[64];
    snprintf(url, sizeof url, "grpc://127.0.0.1:%ld", port);
    svc_code rc = svc_ctx_new(&cfg, &ctx);
    if (rc == SVC_OK)
        rc = svc_server_new(ctx, &srv);
    if (rc == SVC_OK)
        rc = svc_server_handle_ex(srv, "helloworld.Greeter/SayHello", say_hello, NULL, &hello);
    if (rc == SVC_OK)
        rc = svc_server_handle_ex(srv, "bench.Stream/Down", down, NULL, &server_streaming);
    if (rc == SVC_OK)
        rc = svc_server_handle_ex(srv, "bench.Stream/Up", up, NULL, &client_streaming);
    if (rc == SVC_OK)
        rc = svc_server_listen(srv, url);
    if (rc != SVC_OK) {
        fprintf(stderr, "svc_grpc_bench_server: %s\n", svc_last_error());
        svc_server_free(srv);
        svc_ctx_free(ctx);
        return 1;
    }
    printf("listening on %s\n", url);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    svc_server_shutdown(srv, 2000);
    svc_server_free(srv);
    svc_ctx_free(ctx);
    return 0;
}
