/*
 * Streaming throughput of the libsvccomm gRPC client against a server of
 * bench.Stream (stream_bench.proto): svc_grpc_bench_server, or the gRPC C++
 * anchor, which serves the same service.
 *
 *   svc_grpc_stream_bench URL down|up SIZE SECONDS
 *
 * down: server streaming. Asks for Chunks of SIZE bytes without end, reads
 *       (and unpacks) them for SECONDS, then cancels.
 * up:   client streaming. Sends Chunks of SIZE bytes for SECONDS, closes its
 *       side and waits for the server's Tally, which must count them all;
 *       the time runs until the Tally is in.
 * Prints "mode=down-SIZE messages=N seconds=S msgs_per_sec=R MB_per_sec=M
 * failures=F" (MB = 10^6 bytes of Chunk payload).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "latency.h"
#include "stream_bench.pb-c.h"

#define MAX_MESSAGES 100000000L /* bound on the messages of one run */

static svc_msg *packed(const ProtobufCMessage *pb)
{
    svc_msg *m = NULL;
    if (svc_msg_new(&m) != SVC_OK || svc_msg_pack(m, pb, SVC_CT_PROTO) != SVC_OK) {
        svc_msg_free(m);
        return NULL;
    }
    return m;
}

/* Reads chunks for `secs`; returns how many, *failures counts bad ones. */
static long run_down(svc_client *cl, size_t size, double secs, long *failures, double *elapsed)
{
    svc_call_opts o = {.timeout_ms = (int64_t)(secs * 1000) + 10000};
    svc_stream *st = NULL;
    Bench__Ask ask = BENCH__ASK__INIT;
    ask.size = (uint32_t)size;
    ask.count = 0; /* until cancelled */
    svc_msg *m = packed(&ask.base);
    int64_t start = bench_now(), end = start + (int64_t)(secs * 1e9);
    if (!m || svc_client_stream(cl, "bench.Stream/Down", &o, &st) != SVC_OK ||
        svc_stream_send(st, m) != SVC_OK || svc_stream_close_send(st) != SVC_OK) {
        fprintf(stderr, "down: cannot start: %s\n", svc_last_error());
        svc_stream_free(st);
        (*failures)++;
        return 0;
    }
    long n = 0;
    while (n < MAX_MESSAGES && bench_now() < end) {
        svc_msg *in = NULL;
        if (svc_stream_recv(st, &in) != SVC_OK || !in) {
            fprintf(stderr, "down: the stream ended early: %s\n", svc_last_error());
            (*failures)++;
            break;
        }
        Bench__Chunk *chunk = NULL;
        if (svc_msg_unpack(in, &bench__chunk__descriptor, (ProtobufCMessage **)&chunk) != SVC_OK ||
            chunk->data.len != size)
            (*failures)++;
        if (chunk)
            bench__chunk__free_unpacked(chunk, NULL);
        svc_msg_free(in);
        n++;
    }
    *elapsed = (double)(bench_now() - start) / 1e9;
    svc_stream_cancel(st);
    svc_stream_free(st);
    return n;
}

static long run_up(svc_client *cl, size_t size, double secs, long *failures, double *elapsed)
{
    svc_call_opts o = {.timeout_ms = (int64_t)(secs * 1000) + 10000};
    svc_stream *st = NULL;
    uint8_t *fill = malloc(size ? size : 1);
    if (!fill || svc_client_stream(cl, "bench.Stream/Up", &o, &st) != SVC_OK) {
        fprintf(stderr, "up: cannot start: %s\n", svc_last_error());
        free(fill);
        (*failures)++;
        return 0;
    }
    memset(fill, 'x', size);
    Bench__Chunk chunk = BENCH__CHUNK__INIT;
    chunk.data.data = fill;
    chunk.data.len = size;
    int64_t start = bench_now(), end = start + (int64_t)(secs * 1e9);
    long n = 0;
    while (n < MAX_MESSAGES && bench_now() < end) {
        svc_msg *m = packed(&chunk.base);
        if (!m || svc_stream_send(st, m) != SVC_OK) { /* send takes m */
            fprintf(stderr, "up: send failed: %s\n", svc_last_error());
            (*failures)++;
            break;
        }
        n++;
    }
    free(fill);
    svc_msg *reply = NULL;
    Bench__Tally *tally = NULL;
    svc_code rc = svc_stream_close_send(st);
    if (rc == SVC_OK)
        rc = svc_stream_recv(st, &reply);
    if (rc == SVC_OK && reply)
        rc = svc_msg_unpack(reply, &bench__tally__descriptor, (ProtobufCMessage **)&tally);
    *elapsed = (double)(bench_now() - start) / 1e9;
    svc_msg *trailers = NULL;
    svc_code end_rc = svc_stream_finish(st, &trailers);
    if (rc != SVC_OK || !tally || end_rc != SVC_OK || tally->messages != (uint64_t)n ||
        tally->bytes != (uint64_t)n * size) {
        fprintf(stderr, "up: sent %ld, the server counted %lld (status %d %s)\n", n,
                tally ? (long long)tally->messages : -1LL, (int)end_rc,
                trailers ? svc_msg_status_message(trailers) : "");
        (*failures)++;
    }
    if (tally)
        bench__tally__free_unpacked(tally, NULL);
    svc_msg_free(reply);
    svc_msg_free(trailers);
    svc_stream_free(st);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[2], "down") != 0 && strcmp(argv[2], "up") != 0)) {
        fprintf(stderr, "usage: svc_grpc_stream_bench URL down|up SIZE SECONDS\n");
        return 2;
    }
    long size = atol(argv[3]);
    double secs = atof(argv[4]);
    if (size < 0 || size > (3L << 20) || secs <= 0 || secs > 3600) {
        fprintf(stderr, "svc_grpc_stream_bench: SIZE up to 3 MiB, SECONDS in (0, 3600]\n");
        return 2;
    }
    svc_ctx *ctx;
    svc_client *cl;
    if (svc_ctx_new(NULL, &ctx) != SVC_OK || svc_client_new(ctx, argv[1], NULL, &cl) != SVC_OK) {
        fprintf(stderr, "setup: %s\n", svc_last_error());
        return 1;
    }
    long failures = 0;
    double elapsed = 0;
    bool is_down = strcmp(argv[2], "down") == 0;
    long n = is_down ? run_down(cl, (size_t)size, secs, &failures, &elapsed)
                     : run_up(cl, (size_t)size, secs, &failures, &elapsed);
    if (elapsed <= 0)
        elapsed = 1e-9;
    printf("mode=%s-%ld messages=%ld seconds=%.2f msgs_per_sec=%.0f MB_per_sec=%.1f failures=%ld\n",
           argv[2], size, n, elapsed, (double)n / elapsed, (double)n * (double)size / elapsed / 1e6,
           failures);
    svc_client_free(cl);
    svc_ctx_free(ctx);
    return failures ? 1 : 0;
}
