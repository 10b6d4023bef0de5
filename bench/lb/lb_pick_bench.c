/*
 * lb_pick_bench: nanoseconds per pick of every built-in policy over 3, 100
 * and 10,000 endpoints (weights 1 to 5 in turn; no clients, so
 * svc_endpoint_usable reads only the health flag and the ejection stamp),
 * on one thread and on two threads picking at once from one policy. Each
 * cell is the median of 5 rounds; ring_hash and maglev get a different key
 * hash every pick. Cells over 100 ns are flagged.
 *
 *   lb_pick_bench [picks per round per thread, default 2000000]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb/endpoint.h"
#include "lb/policy.h"

#define ROUNDS 5
#define GOAL_NS 100.0

static const char *const policies[] = {
    "pick_first",    "round_robin", "weighted_round_robin", "random",
    "least_request", "peak_ewma",   "ring_hash",            "maglev",
};
static const size_t sizes[] = {3, 100, 10000};

typedef struct job {
    const svc_lb_policy_ops *ops;
    void *st;
    long picks;
    uint64_t seed;
    double ns; /* per pick, out */
    uintptr_t sink;
} job;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *run(void *arg)
{
    job *j = arg;
    svc_lb_pick p = {.method = "/bench", .has_hash = true, .hash = j->seed};
    uintptr_t sink = 0;
    double t0 = now_ns();
    for (long k = 0; k < j->picks; k++) {
        p.hash += UINT64_C(0x9E3779B97F4A7C15);
        sink ^= (uintptr_t)j->ops->pick(j->st, &p);
    }
    j->ns = (now_ns() - t0) / (double)j->picks;
    j->sink = sink;
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median over ROUNDS of the per-pick time seen by each of `threads`. */
static double measure(const svc_lb_policy_ops *ops, void *st, int threads, long picks)
{
    double round_ns[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        job jobs[2];
        pthread_t th[2];
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job){.ops = ops, .st = st, .picks = picks, .seed = (uint64_t)(r * 2 + t)};
            if (pthread_create(&th[t], NULL, run, &jobs[t])) {
                perror("pthread_create");
                exit(1);
            }
        }
        double sum = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(th[t], NULL);
            sum += jobs[t].ns;
        }
        round_ns[r] = sum / threads;
    }
    qsort(round_ns, ROUNDS, sizeof round_ns[0], by_value);
    return round_ns[ROUNDS / 2];
}

static svc_endpoint **make_endpoints(size_t n)
{
    svc_endpoint **e = calloc(n, sizeof *e);
    for (size_t i = 0; e && i < n; i++) {
        char url[64];
        snprintf(url, sizeof url, "grpc://127.0.0.1:%zu", 10000 + i);
        svc_endpoint_info info = {.url = url, .weight = (uint32_t)(i % 5 + 1)};
        if (svc_endpoint_new(&info, &e[i]) != SVC_OK) {
            fprintf(stderr, "endpoint: %s\n", svc_last_error());
            exit(1);
        }
    }
    if (!e) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return e;
}

int main(int argc, char **argv)
{
    long picks = argc > 1 ? atol(argv[1]) : 2000000;
    if (picks <= 0) {
        fprintf(stderr, "usage: %s [picks per round per thread]\n", argv[0]);
        return 2;
    }
    printf("ns per pick, median of %d rounds of %ld picks per thread\n", ROUNDS, picks);
    printf("%-22s %9s %12s %12s\n", "policy", "endpoints", "1 thread", "2 threads");
    int over = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        svc_endpoint **e = make_endpoints(n);
        for (size_t p = 0; p < sizeof policies / sizeof policies[0]; p++) {
            const svc_lb_policy_ops *ops = svc_lb_policy_find(policies[p]);
            void *st = NULL;
            if (!ops || ops->create(NULL, &st) != SVC_OK || ops->update(st, e, n) != SVC_OK) {
                fprintf(stderr, "%s: %s\n", policies[p], svc_last_error());
                return 1;
            }
            double one = measure(ops, st, 1, picks), two = measure(ops, st, 2, picks);
            printf("%-22s %9zu %10.1f%s %10.1f%s\n", policies[p], n, one,
                   one > GOAL_NS ? " !" : "  ", two, two > GOAL_NS ? " !" : "  ");
            over += (one > GOAL_NS) + (two > GOAL_NS);
            ops->destroy(st);
        }
        for (size_t i = 0; i < n; i++)
            svc_endpoint_unref(e[i]);
        free(e);
    }
    printf("%d cell(s) over %.0f ns (marked !)\n", over, GOAL_NS);
    return 0;
}
