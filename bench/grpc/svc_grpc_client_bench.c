/*
 * The libsvccomm gRPC client calling helloworld.Greeter/SayHello, driven
 * the way grpc_cpp_greeter_client drives gRPC C++, so the two compare in
 * one run: CLIENTS clients (each its own channel, hence its own HTTP/2
 * connection) with INFLIGHT async calls in flight on each, for SECONDS
 * seconds, through bench/svc_driver.h like our other client benchmarks.
 * Each call sends a copy of HelloRequest{name: "world"} (packed once with
 * protobuf-c) and unpacks its reply; the reply callback runs inline on the
 * I/O loop, records the latency and issues the next call.
 *
 *   svc_grpc_client_bench URL SECONDS CLIENTS INFLIGHT [IO_THREADS]
 *
 * URL is grpc://127.0.0.1:PORT; IO_THREADS is the context's event loops
 * (default 1; the clients' connections are spread over them).
 * Prints the bench_report line (bench/latency.h), then
 * "client_cpu_us_per_call=X": the process's CPU time (all threads, user +
 * system) over the run per call. A call fails unless its status is OK and
 * its reply is "Hello world".
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <svccomm/svccomm.h>

#include "helloworld.pb-c.h"
#include "svc_driver.h"

/* CPU time of the whole process (every thread), user + system. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static bool reply_ok(svc_code code, const svc_msg *resp)
{
    if (code != SVC_OK)
        return false;
    Helloworld__HelloReply *reply = NULL;
    if (svc_msg_unpack(resp, &helloworld__hello_reply__descriptor, (ProtobufCMessage **)&reply))
        return false;
    bool ok = reply->message && strcmp(reply->message, "Hello world") == 0;
    helloworld__hello_reply__free_unpacked(reply, NULL);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: svc_grpc_client_bench URL SECONDS CLIENTS INFLIGHT [IO_THREADS]\n");
        return 2;
    }
    double secs = atof(argv[2]);
    int n_clients = atoi(argv[3]), in_flight = atoi(argv[4]);
    int io = argc > 5 ? atoi(argv[5]) : 1;
    if (secs <= 0 || secs > 3600 || n_clients < 1 || n_clients > 64 || in_flight < 1 ||
        in_flight > 1000 || io < 1 || io > 16) {
        fprintf(stderr, "svc_grpc_client_bench: bad arguments\n");
        return 2;
    }
    svc_ctx_config cfg;
    svc_ctx_config_init(&cfg);
    cfg.io_threads = (unsigned)io;
    svc_ctx *ctx;
    if (svc_ctx_new(&cfg, &ctx) != SVC_OK) {
        fprintf(stderr, "setup: %s\n", svc_last_error());
        return 1;
    }
    /* The request is packed once; each call sends a copy, as bench_issue
     * does for every driver. */
    Helloworld__HelloRequest hello = HELLOWORLD__HELLO_REQUEST__INIT;
    hello.name = "world";
    svc_msg *req = NULL;
    if (svc_msg_new(&req) != SVC_OK || svc_msg_pack(req, &hello.base, SVC_CT_PROTO) != SVC_OK)
        return 1;
    bench_target t = {.method = "helloworld.Greeter/SayHello", .req = req, .reply_ok = reply_ok};
    svc_client *clients[64];
    for (int i = 0; i < n_clients; i++) {
        if (svc_client_new(ctx, argv[1], NULL, &clients[i]) != SVC_OK) {
            fprintf(stderr, "setup: %s\n", svc_last_error());
            return 1;
        }
        /* Connect before the clock starts, as the C++ anchor does. */
        svc_msg *resp = NULL;
        svc_call_opts o = {.timeout_ms = 5000};
        svc_code rc = svc_client_call(clients[i], t.method, req, &resp, &o);
        if (!reply_ok(rc, resp)) {
            fprintf(stderr, "svc_grpc_client_bench: first call to %s failed: %s\n", argv[1],
                    resp ? svc_msg_status_message(resp) : svc_last_error());
            return 1;
        }
        svc_msg_free(resp);
    }

    int n = n_clients * in_flight;
    bench_slot *slots = calloc((size_t)n, sizeof *slots);
    if (!slots)
        return 1;
    for (int i = 0; i < n; i++)
        slots[i].client = clients[i % n_clients];
    char mode[64];
    snprintf(mode, sizeof mode, "svc-%dx%d-io%d", n_clients, in_flight, io);
    double cpu0 = cpu_seconds();
    size_t calls = bench_drive_slots(&t, mode, secs, slots, n);
    double cpu = cpu_seconds() - cpu0;
    printf("client_cpu_us_per_call=%.2f\n", calls ? cpu * 1e6 / (double)calls : 0.0);
    svc_msg_free(req);
    for (int i = 0; i < n_clients; i++)
        svc_client_free(clients[i]);
    svc_ctx_free(ctx);
    free(slots);
    return 0;
}
