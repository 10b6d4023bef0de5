/* Latency samples and the one-line report every benchmark program prints. */
#ifndef SVC_BENCH_LATENCY_H
#define SVC_BENCH_LATENCY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BENCH_MAX_SAMPLES 10000000

typedef struct bench_samples {
    int64_t *ns;
    size_t n;
} bench_samples;

static inline int64_t bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bench_add(bench_samples *s, int64_t ns)
{
    if (!s->ns)
        s->ns = malloc(BENCH_MAX_SAMPLES * sizeof *s->ns);
    if (s->ns && s->n < BENCH_MAX_SAMPLES)
        s->ns[s->n++] = ns;
}

static int bench_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Prints "mode=M calls=N seconds=S calls_per_sec=R p50_us=X p99_us=Y failures=F". */
static inline void bench_report(const char *mode, bench_samples *s, double seconds, long failures)
{
    double p50 = 0, p99 = 0;
    if (s->n) {
        qsort(s->ns, s->n, sizeof *s->ns, bench_cmp);
        p50 = (double)s->ns[s->n / 2] / 1000.0;
        p99 = (double)s->ns[s->n * 99 / 100] / 1000.0;
    }
    printf("mode=%s calls=%zu seconds=%.2f calls_per_sec=%.0f p50_us=%.1f p99_us=%.1f failures=%ld\n",
           mode, s->n, seconds, (double)s->n / seconds, p50, p99, failures);
    free(s->ns);
}

#endif
