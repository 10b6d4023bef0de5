/*
 * lb_slow_bench: one instance out of three answers ten times slower than
 * the others (greeter --delay-ms 10 against 1, each with workers enough
 * that the delay is latency, not a lack of capacity); how round_robin,
 * least_request and peak_ewma cope. Each run keeps N calls in flight on a
 * svc:// client for a few seconds; the policies take turns round after
 * round (so a noisy moment hurts all of them alike), and the medians of
 * p50, mean, p99 and the slow instance's share are printed with each
 * policy's mean and p99 as ratios of round_robin's.
 *
 *   lb_slow_bench GREETER [seconds per run, default 2] [rounds, default 5]
 *                 [calls in flight, default 4]
 *
 * The more calls in flight, the more a policy weighing in-flight counts
 * sends to the slow instance on purpose (its queue is then no longer than
 * the fast ones'), and once its share passes 1 % the p99 is its latency.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lb_bench_client.h"

#define MAX_ROUNDS 20

static const char *const policies[] = {"round_robin", "least_request", "peak_ewma"};
enum { N_POLICIES = sizeof policies / sizeof *policies };

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: lb_slow_bench GREETER [seconds] [rounds] [in flight]\n");
        return 2;
    }
    double secs = argc > 2 ? atof(argv[2]) : 2.0;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    int in_flight = argc > 4 ? atoi(argv[4]) : 4;
    if (secs <= 0 || secs > 60 || rounds < 1 || rounds > MAX_ROUNDS || in_flight < 1 ||
        in_flight > 64) {
        fprintf(stderr, "lb_slow_bench: 0 < seconds <= 60, 1 <= rounds <= %d, 1 <= in flight <= 64\n",
                MAX_ROUNDS);
        return 2;
    }
    const char *const ids[] = {"fast1", "fast2", "slow3"};
    bench_instance in[3];
    for (int i = 0; i < 3; i++)
        bench_instance_start(&in[i], argv[1], ids[i], i == 2 ? 10 : 1);

    svc_ctx *ctx = NULL;
    if (svc_ctx_new(NULL, &ctx) != SVC_OK)
        return 1;
    double p50[N_POLICIES][MAX_ROUNDS], p99[N_POLICIES][MAX_ROUNDS], slow[N_POLICIES][MAX_ROUNDS],
        mean[N_POLICIES][MAX_ROUNDS];
    lb_records rs;
    lb_records_init(&rs);
    for (int round = 0; round < rounds; round++)
        for (int p = 0; p < N_POLICIES; p++) {
            svc_lb_opts lb;
            svc_lb_opts_init(&lb);
            lb.policy = policies[p];
            svc_client *c = lb_bench_client(ctx, in, ids, 3, &lb);
            rs.n = 0;
            bench_target t = {.client = c,
                              .method = "helloworld.Greeter/SayHello",
                              .observe = lb_records_observe,
                              .observe_arg = &rs};
            char mode[64];
            snprintf(mode, sizeof mode, "%s/round%d", policies[p], round + 1);
            bench_drive(&t, mode, secs, in_flight);
            size_t n_slow = 0;
            double sum_ns = 0;
            for (size_t i = 0; i < rs.n; i++) {
                n_slow += rs.r[i].server == '3';
                sum_ns += (double)rs.r[i].latency_ns;
            }
            mean[p][round] = rs.n ? sum_ns / (double)rs.n / 1000.0 : 0;
            p50[p][round] = lb_records_quantile_us(&rs, 0, rs.n, 0.50);
            p99[p][round] = lb_records_quantile_us(&rs, 0, rs.n, 0.99);
            slow[p][round] = rs.n ? 100.0 * (double)n_slow / (double)rs.n : 0;
            svc_client_free(c);
        }
    printf("\none slow instance of three (10 ms vs 1 ms), %d in flight, medians of %d rounds of %.1f s\n",
           in_flight, rounds, secs);
    printf("%-14s %8s %8s %8s %13s %11s %10s\n", "policy", "p50_ms", "mean_ms", "p99_ms",
           "slow_share_%", "mean_vs_rr", "p99_vs_rr");
    double rr_mean = lb_median(mean[0], rounds), rr_p99 = lb_median(p99[0], rounds);
    for (int p = 0; p < N_POLICIES; p++) {
        double mm = lb_median(mean[p], rounds), m99 = lb_median(p99[p], rounds);
        printf("%-14s %8.2f %8.2f %8.2f %13.1f %11.2f %10.2f\n", policies[p],
               lb_median(p50[p], rounds) / 1000, mm / 1000, m99 / 1000, lb_median(slow[p], rounds),
               rr_mean > 0 ? mm / rr_mean : 0, rr_p99 > 0 ? m99 / rr_p99 : 0);
    }
    lb_records_fini(&rs);
    svc_ctx_free(ctx);
    for (int i = 0; i < 3; i++)
        bench_instance_stop(&in[i], SIGTERM);
    return 0;
}
