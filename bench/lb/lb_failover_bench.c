/*
 * lb_failover_bench: three greeter instances behind a round_robin svc://
 * client with 8 calls in flight; one second in, one instance is killed
 * with SIGKILL (a crash: no GOAWAY, connections reset). Measured, without
 * and with retries (3 attempts, SayHello marked idempotent):
 *   lost        calls that failed;
 *   recover_ms  from the kill to the last call that failed or took more
 *               than ten times the p99 before the kill (at least 2 ms);
 *   calls/s     before and after the kill.
 * Fresh instances every round; medians of the rounds are printed.
 *
 *   lb_failover_bench GREETER [rounds, default 5]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lb_bench_client.h"

#define IN_FLIGHT 8
#define RUN_SECONDS 3.0
#define KILL_AFTER_NS INT64_C(1000000000)
#define MAX_ROUNDS 20

typedef struct killer {
    bench_instance *victim;
    int64_t at_ns, killed_ns;
} killer;

static void *kill_later(void *arg)
{
    killer *k = arg;
    int64_t wait = k->at_ns - bench_now();
    if (wait > 0)
        nanosleep(&(struct timespec){wait / 1000000000, wait % 1000000000}, NULL);
    k->killed_ns = bench_now();
    bench_instance_stop(k->victim, SIGKILL);
    return NULL;
}

typedef struct outcome {
    double lost, recover_ms, before_per_s, after_per_s;
} outcome;

static outcome measure(const lb_records *rs, int64_t start_ns, int64_t killed_ns, int64_t end_ns)
{
    outcome o = {0};
    size_t before = 0, warm = 0;
    while (before < rs->n && rs->r[before].end_ns < killed_ns) {
        /* the first 300 ms hold the connection set-up */
        if (rs->r[before].end_ns < start_ns + 300000000)
            warm = before + 1;
        before++;
    }
    double p99 = lb_records_quantile_us(rs, warm, before, 0.99) * 1000;
    double slow_ns = p99 * 10 > 2e6 ? p99 * 10 : 2e6;
    int64_t last_bad = killed_ns;
    for (size_t i = 0; i < rs->n; i++) {
        o.lost += !rs->r[i].ok;
        if ((!rs->r[i].ok || (double)rs->r[i].latency_ns > slow_ns) && rs->r[i].end_ns > last_bad)
            last_bad = rs->r[i].end_ns;
    }
    o.recover_ms = (double)(last_bad - killed_ns) / 1e6;
    o.before_per_s = (double)(before - warm) / ((double)(killed_ns - start_ns) / 1e9 - 0.3);
    o.after_per_s = (double)(rs->n - before) / ((double)(end_ns - killed_ns) / 1e9);
    return o;
}

static outcome one_round(svc_ctx *ctx, const char *greeter, bool retries, lb_records *rs)
{
    const char *const ids[] = {"g1", "g2", "g3"};
    bench_instance in[3];
    for (int i = 0; i < 3; i++)
        bench_instance_start(&in[i], greeter, ids[i], 0);
    svc_lb_opts lb;
    svc_lb_opts_init(&lb);
    lb.policy = "round_robin";
    if (retries) {
        lb.retry.max_attempts = 3;
        lb.retry.idempotent = true;
    }
    svc_client *c = lb_bench_client(ctx, in, ids, 3, &lb);
    rs->n = 0;
    bench_target t = {.client = c,
                      .method = "helloworld.Greeter/SayHello",
                      .observe = lb_records_observe,
                      .observe_arg = rs};
    int64_t start = bench_now();
    killer k = {.victim = &in[1], .at_ns = start + KILL_AFTER_NS};
    pthread_t th;
    if (pthread_create(&th, NULL, kill_later, &k) != 0)
        exit(1);
    bench_drive(&t, retries ? "failover/retries" : "failover/no-retries", RUN_SECONDS, IN_FLIGHT);
    int64_t end = bench_now();
    pthread_join(th, NULL);
    svc_client_free(c);
    for (int i = 0; i < 3; i++)
        bench_instance_stop(&in[i], SIGTERM);
    return measure(rs, start, k.killed_ns, end);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: lb_failover_bench GREETER [rounds]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "lb_failover_bench: 1 <= rounds <= %d\n", MAX_ROUNDS);
        return 2;
    }
    svc_ctx *ctx = NULL;
    if (svc_ctx_new(NULL, &ctx) != SVC_OK)
        return 1;
    lb_records rs;
    lb_records_init(&rs);
    double v[2][4][MAX_ROUNDS];
    for (int round = 0; round < rounds; round++)
        for (int retries = 0; retries < 2; retries++) {
            outcome o = one_round(ctx, argv[1], retries, &rs);
            v[retries][0][round] = o.lost;
            v[retries][1][round] = o.recover_ms;
            v[retries][2][round] = o.before_per_s;
            v[retries][3][round] = o.after_per_s;
        }
    printf("\none of three instances killed (SIGKILL) 1 s into a %.0f s run, round_robin, %d in flight, "
           "medians of %d rounds\n",
           RUN_SECONDS, IN_FLIGHT, rounds);
    printf("%-12s %8s %12s %16s %16s\n", "retries", "lost", "recover_ms", "calls/s_before",
           "calls/s_after");
    for (int retries = 0; retries < 2; retries++)
        printf("%-12s %8.0f %12.1f %16.0f %16.0f\n", retries ? "3 attempts" : "none",
               lb_median(v[retries][0], rounds), lb_median(v[retries][1], rounds),
               lb_median(v[retries][2], rounds), lb_median(v[retries][3], rounds));
    lb_records_fini(&rs);
    svc_ctx_free(ctx);
    return 0;
}
