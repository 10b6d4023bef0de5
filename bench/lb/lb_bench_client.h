/*
 * What the load-balancing benchmarks share: a svc:// client over a static
 * list of greeter instances, and per-call records kept by the svc_driver
 * observe hook (when each call ended, how long it took, whether it
 * succeeded, which instance answered).
 */
#ifndef SVC_BENCH_LB_CLIENT_H
#define SVC_BENCH_LB_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "../svc_driver.h"
#include "instances.h"

#define LB_BENCH_MAX_RECORDS 4000000

typedef struct lb_record {
    int64_t end_ns, latency_ns;
    bool ok;
    char server; /* last character of x-server-id, 0 when none */
} lb_record;

typedef struct lb_records {
    pthread_mutex_t mu;
    lb_record *r;
    size_t n;
} lb_records;

static inline void lb_records_observe(void *arg, int64_t start_ns, int64_t end_ns, bool ok,
                                      const svc_msg *resp)
{
    lb_records *rs = arg;
    size_t len = 0;
    const char *id = resp ? svc_msg_md_get(resp, "x-server-id", &len) : NULL;
    pthread_mutex_lock(&rs->mu);
    if (rs->n < LB_BENCH_MAX_RECORDS)
        rs->r[rs->n++] = (lb_record){end_ns, end_ns - start_ns, ok, id && len ? id[len - 1] : 0};
    pthread_mutex_unlock(&rs->mu);
}

static inline void lb_records_init(lb_records *rs)
{
    pthread_mutex_init(&rs->mu, NULL);
    rs->r = malloc(LB_BENCH_MAX_RECORDS * sizeof *rs->r);
    rs->n = 0;
    if (!rs->r)
        exit(1);
}

static inline void lb_records_fini(lb_records *rs)
{
    pthread_mutex_destroy(&rs->mu);
    free(rs->r);
}

static int lb_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of the latencies of records [from, to), in µs. */
static inline double lb_records_quantile_us(const lb_records *rs, size_t from, size_t to, double q)
{
    if (to <= from)
        return 0;
    int64_t *v = malloc((to - from) * sizeof *v);
    if (!v)
        exit(1);
    for (size_t i = from; i < to; i++)
        v[i - from] = rs->r[i].latency_ns;
    qsort(v, to - from, sizeof *v, lb_cmp_i64);
    double us = (double)v[(size_t)((double)(to - from - 1) * q)] / 1000.0;
    free(v);
    return us;
}

static int lb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double lb_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, lb_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A svc://bench client over the instances' URLs (id = ids[i]) with `lb`. */
static inline svc_client *lb_bench_client(svc_ctx *ctx, const bench_instance *in,
                                          const char *const *ids, int n, const svc_lb_opts *lb)
{
    char resolver[1024] = "static:";
    for (int i = 0; i < n; i++) {
        size_t used = strlen(resolver);
        snprintf(resolver + used, sizeof resolver - used, "%s%s;id=%s", i ? "," : "", in[i].url,
                 ids[i]);
    }
    svc_client_opts o;
    svc_client_opts_init(&o);
    o.resolver = resolver;
    o.lb = lb;
    svc_client *c = NULL;
    if (svc_client_new(ctx, "svc://bench", &o, &c) != SVC_OK) {
        fprintf(stderr, "svc://bench: %s\n", svc_last_error());
        exit(1);
    }
    return c;
}

#endif
