/*
 * The libsvccomm gRPC client calling helloworld.Greeter/SayHello, driven
 * the way grpc_cpp_greeter_client drives gRPC C++, so the two compare in
 * one run: CLIENTS clients (each its own channel, hence its own HTTP/2
 * connection) with INFLIGHT async calls in flight on each, for SECONDS
 * seconds. Each call packs HelloRequest{name: "world"} with protobuf-c and
 * unpacks its reply; the reply callback runs inline on the I/O loop, records
 * the latency and issues the next call.
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
#include "latency.h"

#define MAX_CALLS 10000000L /* bound on the calls of one run */
#define GRACE_NS (INT64_C(10) * 1000000000) /* for the last calls to end */

typedef struct run {
    int64_t end;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bench_samples samples;
    long failures, started;
    int in_flight;
} run;

typedef struct slot {
    run *r;
    svc_client *client;
    int64_t start;
} slot;

static void issue(slot *s);

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

static void on_reply(svc_code code, svc_msg *resp, void *ud)
{
    slot *s = ud;
    run *r = s->r;
    int64_t now = bench_now();
    bool ok = reply_ok(code, resp);
    svc_msg_free(resp);
    pthread_mutex_lock(&r->mu);
    bench_add(&r->samples, now - s->start);
    r->failures += !ok;
    bool again = now < r->end && r->started < MAX_CALLS;
    if (again)
        r->started++;
    else if (--r->in_flight == 0)
        pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (again)
        issue(s);
}

static void issue(slot *s)
{
    Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
    req.name = "world";
    svc_msg *m = NULL;
    s->start = bench_now();
    if (svc_msg_new(&m) != SVC_OK || svc_msg_pack(m, &req.base, SVC_CT_PROTO) != SVC_OK) {
        svc_msg_free(m);
        on_reply(SVC_INTERNAL, NULL, s);
        return;
    }
    /* Inline: the callback only checks, records and issues the next call,
     * as a tight client would. */
    svc_call_opts o = {.dispatch = SVC_DISPATCH_INLINE};
    if (svc_client_call_async(s->client, "helloworld.Greeter/SayHello", m, &o, on_reply, s) !=
        SVC_OK)
        on_reply(SVC_INTERNAL, NULL, s);
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
    svc_client *clients[64];
    for (int i = 0; i < n_clients; i++) {
        if (svc_client_new(ctx, argv[1], NULL, &clients[i]) != SVC_OK) {
            fprintf(stderr, "setup: %s\n", svc_last_error());
            return 1;
        }
        /* Connect before the clock starts, as the C++ anchor does. */
        Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
        req.name = "world";
        svc_msg *m = NULL;
        svc_msg *resp = NULL;
        svc_code rc = svc_msg_new(&m);
        if (rc == SVC_OK)
            rc = svc_msg_pack(m, &req.base, SVC_CT_PROTO);
        svc_call_opts o = {.timeout_ms = 5000};
        if (rc == SVC_OK)
            rc = svc_client_call(clients[i], "helloworld.Greeter/SayHello", m, &resp, &o);
        if (!reply_ok(rc, resp)) {
            fprintf(stderr, "svc_grpc_client_bench: first call to %s failed: %s\n", argv[1],
                    resp ? svc_msg_status_message(resp) : svc_last_error());
            return 1;
        }
        svc_msg_free(m);
        svc_msg_free(resp);
    }

    run r = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    int n = n_clients * in_flight;
    slot *slots = calloc((size_t)n, sizeof *slots);
    if (!slots)
        return 1;
    double cpu0 = cpu_seconds();
    int64_t start = bench_now();
    r.end = start + (int64_t)(secs * 1e9);
    r.in_flight = r.started = n;
    for (int i = 0; i < n; i++)
        slots[i] = (slot){&r, clients[i % n_clients], 0};
    for (int i = 0; i < n; i++)
        issue(&slots[i]);
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    int64_t ns = (int64_t)limit.tv_nsec + (int64_t)(secs * 1e9) + GRACE_NS;
    limit.tv_sec += (time_t)(ns / 1000000000);
    limit.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&r.mu);
    int wrc = 0;
    while (r.in_flight > 0 && wrc == 0)
        wrc = pthread_cond_timedwait(&r.cv, &r.mu, &limit);
    int left = r.in_flight;
    pthread_mutex_unlock(&r.mu);
    if (left > 0) {
        fprintf(stderr, "svc_grpc_client_bench: %d calls never ended\n", left);
        _Exit(1);
    }
    char mode[64];
    snprintf(mode, sizeof mode, "svc-%dx%d-io%d", n_clients, in_flight, io);
    double cpu = cpu_seconds() - cpu0;
    size_t calls = r.samples.n;
    bench_report(mode, &r.samples, (double)(bench_now() - start) / 1e9, r.failures);
    printf("client_cpu_us_per_call=%.2f\n", calls ? cpu * 1e6 / (double)calls : 0.0);
    for (int i = 0; i < n_clients; i++)
        svc_client_free(clients[i]);
    svc_ctx_free(ctx);
    free(slots);
    return 0;
}
