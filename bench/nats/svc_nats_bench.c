/*
 * libsvccomm over NATS doing what raw_nats_bench does, with default
 * options everywhere (the user sets nothing):
 *   pub     svc_publish of 128 B events, no subscriber
 *   pubsub  svc_publish to an svc_subscribe on another client (inline
 *           handler, as the raw callback); the rate is what it received
 *   reqrep  sequential svc_client_call to a server on the same broker; the
 *           handler runs inline on the transport's thread, as the anchor's
 *           responder runs in its cnats callback
 *   jspub   svc_publish_async persistent (JetStream acks), then flush
 */
#include <stdatomic.h>
#include <svccomm/svccomm.h>

#include "bench_common.h"

static atomic_long received;

static void on_event(svc_event *ev, void *ud)
{
    (void)ev;
    (void)ud;
    atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
}

static void echo(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *m = NULL;
    svc_msg_clone(svc_call_request(c), &m);
    svc_call_reply(c, m);
}

static long publish_for(svc_client *c, const char *topic, const svc_msg *m, int64_t end)
{
    long n = 0;
    while (n < MAX_MSGS && ((n & 1023) || bench_now() < end)) {
        if (svc_publish(c, topic, m, NULL) != SVC_OK)
            break;
        n++;
    }
    svc_publish_flush(c, 30000);
    return n;
}

int main(int argc, char **argv)
{
    bench_args a = bench_parse(argc, argv, "svc_nats_bench");
    char payload[MSG_SIZE];
    memset(payload, 'x', sizeof payload);
    svc_ctx *ctx = NULL;
    svc_client *cli = NULL;
    svc_msg *m = NULL;
    if (svc_ctx_new(NULL, &ctx) || svc_client_new(ctx, a.url, NULL, &cli) ||
        svc_msg_new_data(payload, sizeof payload, NULL, &m)) {
        fprintf(stderr, "setup: %s\n", svc_last_error());
        return 1;
    }
    int64_t start = bench_now(), end = start + (int64_t)(a.secs * 1e9);
    if (strcmp(a.mode, "pub") == 0) {
        long n = publish_for(cli, "bench.pub", m, end);
        throughput_report(a.mode, n, bench_now() - start, 0);
    } else if (strcmp(a.mode, "pubsub") == 0) {
        svc_client *sc = NULL;
        svc_sub *sub = NULL;
        svc_sub_opts so = {.dispatch = SVC_DISPATCH_INLINE};
        if (svc_client_new(ctx, a.url, NULL, &sc) ||
            svc_subscribe(sc, "bench.ps", &so, on_event, NULL, &sub)) {
            fprintf(stderr, "subscribe: %s\n", svc_last_error());
            return 1;
        }
        start = bench_now();
        long n = publish_for(cli, "bench.ps", m, start + (int64_t)(a.secs * 1e9));
        long got = wait_received(&received, n);
        throughput_report(a.mode, got, bench_now() - start, n - got);
        svc_sub_free(sub);
        svc_client_free(sc);
    } else if (strcmp(a.mode, "reqrep") == 0) {
        svc_server *srv = NULL;
        svc_handler_opts ho = {.dispatch = SVC_DISPATCH_INLINE};
        if (svc_server_new(ctx, &srv) ||
            svc_server_handle_ex(srv, "bench.Echo/Echo", echo, NULL, &ho) ||
            svc_server_listen(srv, a.url)) {
            fprintf(stderr, "server: %s\n", svc_last_error());
            return 1;
        }
        bench_samples s = {0};
        long failures = 0;
        start = bench_now();
        for (long i = 0; i < BENCH_MAX_CALLS && bench_now() < end; i++) {
            svc_msg *resp = NULL;
            int64_t t0 = bench_now();
            failures += svc_client_call(cli, "bench.Echo/Echo", m, &resp, NULL) != SVC_OK;
            bench_add(&s, bench_now() - t0);
            svc_msg_free(resp);
        }
        bench_report(a.mode, &s, (double)(bench_now() - start) / 1e9, failures);
        svc_server_free(srv);
    } else if (strcmp(a.mode, "jspub") == 0) {
        /* No per-event callback, like the anchor: flush says whether all
         * were confirmed. */
        svc_pub_opts po = {.persistent = true, .timeout_ms = 60000};
        long n = 0, failed = 0;
        while (n < MAX_MSGS && ((n & 1023) || bench_now() < end)) {
            failed += svc_publish_async(cli, "bench.js", m, &po, NULL, NULL) != SVC_OK;
            n++;
        }
        failed += svc_publish_flush(cli, 60000) != SVC_OK;
        throughput_report(a.mode, n, bench_now() - start, failed);
    }
    svc_msg_free(m);
    svc_client_free(cli);
    svc_ctx_free(ctx);
    return 0;
}
