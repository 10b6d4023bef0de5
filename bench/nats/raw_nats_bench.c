/*
 * The anchor: raw cnats 3.4 doing what svc_nats_bench does, with the
 * options a tuned cnats user would pick (SendAsap on the responder, as the
 * cnats documentation advises for reply-only connections).
 *   pub     publish 128 B messages, no subscriber (then flush)
 *   pubsub  publish 128 B messages to a subscriber on another connection;
 *           the rate is what the subscriber received
 *   reqrep  sequential requests to a responder; latency p50/p99
 *   jspub   JetStream js_PublishAsync with acks, each one's fate known
 *           as ours must know it (to retry and to report it): an error
 *           handler reads every ack (without one cnats only counts them)
 *           and a 5 s MaxWait times out a lost one (ours waits that long
 *           per attempt). No window: cnats 3.4's PublishAsync.MaxPending
 *           is 0 (unlimited) unless set, so its publisher never waits for
 *           acks (ours keeps at most 4000 unconfirmed)
 *   jsreset (setup) deletes and creates the stream BENCH on bench.js
 */
#include <nats/nats.h>
#include <stdatomic.h>

#include "bench_common.h"

static atomic_long received;

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *ud)
{
    (void)nc;
    (void)sub;
    (void)ud;
    atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
    natsMsg_Destroy(m);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *ud)
{
    (void)sub;
    (void)ud;
    natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

static atomic_long js_failed;

static void on_js_error(jsCtx *js, jsPubAckErr *pae, void *ud)
{
    (void)js;
    (void)pae;
    (void)ud;
    atomic_fetch_add_explicit(&js_failed, 1, memory_order_relaxed);
}

static natsConnection *connect(const char *url, bool asap)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetSendAsap(o, asap);
    if (natsConnection_Connect(&nc, o) != NATS_OK) {
        fprintf(stderr, "cannot connect to %s\n", url);
        exit(1);
    }
    natsOptions_Destroy(o);
    return nc;
}

static long publish_for(natsConnection *nc, const char *subject, const char *payload, int64_t end)
{
    long n = 0;
    while (n < MAX_MSGS && ((n & 1023) || bench_now() < end)) {
        if (natsConnection_Publish(nc, subject, payload, MSG_SIZE) != NATS_OK)
            break;
        n++;
    }
    natsConnection_FlushTimeout(nc, 30000);
    return n;
}

int main(int argc, char **argv)
{
    bench_args a = bench_parse(argc, argv, "raw_nats_bench");
    char payload[MSG_SIZE];
    memset(payload, 'x', sizeof payload);
    natsConnection *nc = connect(a.url, false);
    int64_t start = bench_now(), end = start + (int64_t)(a.secs * 1e9);
    if (strcmp(a.mode, "pub") == 0) {
        long n = publish_for(nc, "bench.pub", payload, end);
        throughput_report(a.mode, n, bench_now() - start, 0);
    } else if (strcmp(a.mode, "pubsub") == 0) {
        natsConnection *sc = connect(a.url, false);
        natsSubscription *sub = NULL;
        natsConnection_Subscribe(&sub, sc, "bench.ps", on_msg, NULL);
        natsConnection_Flush(sc);
        start = bench_now();
        long n = publish_for(nc, "bench.ps", payload, start + (int64_t)(a.secs * 1e9));
        long got = wait_received(&received, n);
        throughput_report(a.mode, got, bench_now() - start, n - got);
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(sc);
    } else if (strcmp(a.mode, "reqrep") == 0) {
        natsConnection *rc = connect(a.url, true);
        natsSubscription *sub = NULL;
        natsConnection_QueueSubscribe(&sub, rc, "svc.bench.Echo.Echo", "bench.Echo", on_request, NULL);
        natsConnection_Flush(rc);
        bench_samples s = {0};
        long failures = 0;
        start = bench_now();
        for (long i = 0; i < BENCH_MAX_CALLS && bench_now() < end; i++) {
            natsMsg *reply = NULL;
            int64_t t0 = bench_now();
            failures += natsConnection_Request(&reply, nc, "svc.bench.Echo.Echo", payload, MSG_SIZE,
                                               5000) != NATS_OK;
            bench_add(&s, bench_now() - t0);
            natsMsg_Destroy(reply);
        }
        bench_report(a.mode, &s, (double)(bench_now() - start) / 1e9, failures);
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(rc);
    } else if (strcmp(a.mode, "jsreset") == 0) {
        jsCtx *js = NULL;
        natsConnection_JetStream(&js, nc, NULL);
        js_DeleteStream(js, "BENCH", NULL, NULL);
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = "BENCH";
        cfg.Subjects = (const char *[]){"bench.js"};
        cfg.SubjectsLen = 1;
        natsStatus st = js_AddStream(NULL, js, &cfg, NULL, NULL);
        jsCtx_Destroy(js);
        if (st != NATS_OK) {
            fprintf(stderr, "cannot create stream BENCH: %s\n", natsStatus_GetText(st));
            return 1;
        }
    } else if (strcmp(a.mode, "jspub") == 0) {
        jsCtx *js = NULL;
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.PublishAsync.ErrHandler = on_js_error;
        natsConnection_JetStream(&js, nc, &jo);
        jsPubOptions each;
        jsPubOptions_Init(&each);
        each.MaxWait = 5000;
        long n = 0, failed = 0;
        while (n < MAX_MSGS && ((n & 1023) || bench_now() < end)) {
            failed += js_PublishAsync(js, "bench.js", payload, MSG_SIZE, &each) != NATS_OK;
            n++;
        }
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 60000;
        failed += js_PublishAsyncComplete(js, &po) != NATS_OK;
        failed += atomic_load(&js_failed);
        throughput_report(a.mode, n, bench_now() - start, failed);
        jsCtx_Destroy(js);
    }
    natsConnection_Destroy(nc);
    nats_Close();
    return 0;
}
