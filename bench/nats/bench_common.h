/* What the NATS benchmark programs share: arguments, the message, the
 * report line. Every loop is bounded by a time and a count. */
#ifndef SVC_NATS_BENCH_COMMON_H
#define SVC_NATS_BENCH_COMMON_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../latency.h"

#define MSG_SIZE 128
#define MAX_MSGS 100000000L
#define BENCH_MAX_CALLS 10000000L

typedef struct bench_args {
    const char *url, *mode;
    double secs;
} bench_args;

static inline bench_args bench_parse(int argc, char **argv, const char *prog)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s URL pub|pubsub|reqrep|jspub SECONDS\n", prog);
        exit(2);
    }
    bench_args a = {argv[1], argv[2], atof(argv[3])};
    return a;
}

/* Waits (at most 3 s) until `received` reaches n or stops growing (the
 * rest was dropped by a slow consumer); returns what arrived. */
static inline long wait_received(atomic_long *received, long n)
{
    for (int i = 0; i < 3000 && atomic_load(received) < n; i++) {
        long before = atomic_load(received);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        if (atomic_load(received) == before && i > 100)
            break;
    }
    return atomic_load(received);
}

static inline void throughput_report(const char *mode, long msgs, int64_t ns, long extra)
{
    double s = (double)ns / 1e9;
    printf("mode=%s msgs=%ld seconds=%.2f msgs_per_sec=%.0f dropped_or_failed=%ld\n", mode, msgs, s,
           (double)msgs / s, extra);
}

#endif
