/*
 * Drives libsvccomm calls for a benchmark: sequential blocking calls, or a
 * fixed number of async calls kept in flight, for a bounded time and count,
 * recording each call's latency. The program supplies how to make one call.
 */
#ifndef SVC_BENCH_DRIVER_H
#define SVC_BENCH_DRIVER_H

#include <pthread.h>
#include <stdbool.h>
#include <svccomm/svccomm.h>

#include "latency.h"

#define BENCH_MAX_CALLS 10000000

typedef struct bench_target {
    svc_client *client;
    const char *method;
    const svc_msg *req; /* NULL = empty request */
} bench_target;

typedef struct bench_run {
    const bench_target *t;
    int64_t end;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bench_samples samples;
    long failures, started;
    int in_flight;
} bench_run;

typedef struct bench_slot {
    bench_run *r;
    int64_t start;
} bench_slot;

static void bench_issue(bench_slot *s);

static void bench_on_reply(svc_code code, svc_msg *resp, void *ud)
{
    bench_slot *s = ud;
    bench_run *r = s->r;
    int64_t now = bench_now();
    svc_msg_free(resp);
    pthread_mutex_lock(&r->mu);
    bench_add(&r->samples, now - s->start);
    r->failures += code != SVC_OK;
    bool again = now < r->end && r->started < BENCH_MAX_CALLS;
    if (again)
        r->started++;
    else if (--r->in_flight == 0)
        pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (again)
        bench_issue(s);
}

static void bench_issue(bench_slot *s)
{
    const bench_target *t = s->r->t;
    svc_msg *m = NULL;
    if (t->req)
        svc_msg_clone(t->req, &m);
    s->start = bench_now();
    /* Inline: the callback only records and issues the next call, as a
     * tight client would. */
    svc_call_opts o = {.dispatch = SVC_DISPATCH_INLINE};
    if (svc_client_call_async(t->client, t->method, m, &o, bench_on_reply, s) != SVC_OK)
        bench_on_reply(SVC_INTERNAL, NULL, s);
}

/* Runs for `secs` seconds: blocking calls when concurrency is 0, else that
 * many async calls in flight. Prints the bench_report line under `mode`. */
static inline void bench_drive(const bench_target *t, const char *mode, double secs,
                               int concurrency)
{
    bench_run r = {.t = t, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    int64_t start = bench_now();
    r.end = start + (int64_t)(secs * 1e9);
    if (concurrency == 0) {
        for (long i = 0; i < BENCH_MAX_CALLS && bench_now() < r.end; i++) {
            svc_msg *resp = NULL;
            int64_t t0 = bench_now();
            r.failures += svc_client_call(t->client, t->method, t->req, &resp, NULL) != SVC_OK;
            bench_add(&r.samples, bench_now() - t0);
            svc_msg_free(resp);
        }
    } else {
        bench_slot *slots = calloc((size_t)concurrency, sizeof *slots);
        r.in_flight = r.started = concurrency;
        for (int i = 0; i < concurrency; i++) {
            slots[i].r = &r;
            bench_issue(&slots[i]);
        }
        pthread_mutex_lock(&r.mu);
        while (r.in_flight > 0)
            pthread_cond_wait(&r.cv, &r.mu);
        pthread_mutex_unlock(&r.mu);
        free(slots);
    }
    bench_report(mode, &r.samples, (double)(bench_now() - start) / 1e9, r.failures);
}

#endif
