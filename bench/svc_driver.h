/*
 * Drives libsvccomm calls for a benchmark: sequential blocking calls, or a
 * fixed number of async calls kept in flight, for a bounded time and count,
 * recording each call's latency. The program supplies how to make one call.
 */
#ifndef SVC_BENCH_DRIVER_H
#define SVC_BENCH_DRIVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <svccomm/svccomm.h>

#include "latency.h"

#define BENCH_MAX_CALLS 10000000

typedef struct bench_target {
    svc_client *client;
    const char *method;
    const svc_msg *req; /* NULL = empty request */
    /* Whether a call succeeded; NULL: its status is OK. */
    bool (*reply_ok)(svc_code code, const svc_msg *resp);
    /* Optional: told of every call as it ends (any thread, before the
     * reply is freed), for benchmarks that look at more than latency. */
    void (*observe)(void *arg, int64_t start_ns, int64_t end_ns, bool ok, const svc_msg *resp);
    void *observe_arg;
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
    svc_client *client; /* NULL: the target's */
    int64_t start;
} bench_slot;

static void bench_issue(bench_slot *s);

static void bench_on_reply(svc_code code, svc_msg *resp, void *ud)
{
    bench_slot *s = ud;
    bench_run *r = s->r;
    int64_t now = bench_now();
    bool ok = r->t->reply_ok ? r->t->reply_ok(code, resp) : code == SVC_OK;
    if (r->t->observe)
        r->t->observe(r->t->observe_arg, s->start, now, ok, resp);
    svc_msg_free(resp);
    pthread_mutex_lock(&r->mu);
    bench_add(&r->samples, now - s->start);
    r->failures += !ok;
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
    svc_client *c = s->client ? s->client : t->client;
    if (svc_client_call_async(c, t->method, m, &o, bench_on_reply, s) != SVC_OK)
        bench_on_reply(SVC_INTERNAL, NULL, s);
}

/* Keeps `n` async calls in flight, one per slot (slots[i].client, or the
 * target's), for `secs` seconds; waits for the last ones (at most 10 s
 * more: a call that never ends exits the program). Prints the bench_report
 * line under `mode` and returns the number of calls. */
static inline size_t bench_drive_slots(const bench_target *t, const char *mode, double secs,
                                       bench_slot *slots, int n)
{
    bench_run r = {.t = t, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    int64_t start = bench_now();
    r.end = start + (int64_t)(secs * 1e9);
    r.in_flight = r.started = n;
    for (int i = 0; i < n; i++)
        slots[i].r = &r;
    for (int i = 0; i < n; i++)
        bench_issue(&slots[i]);
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    int64_t ns = (int64_t)limit.tv_nsec + (int64_t)(secs * 1e9) + INT64_C(10000000000);
    limit.tv_sec += (time_t)(ns / 1000000000);
    limit.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&r.mu);
    int wrc = 0;
    while (r.in_flight > 0 && wrc == 0)
        wrc = pthread_cond_timedwait(&r.cv, &r.mu, &limit);
    int left = r.in_flight;
    pthread_mutex_unlock(&r.mu);
    if (left > 0) {
        fprintf(stderr, "%s: %d calls never ended\n", mode, left);
        _Exit(1);
    }
    size_t calls = r.samples.n;
    bench_report(mode, &r.samples, (double)(bench_now() - start) / 1e9, r.failures);
    return calls;
}

/* Runs for `secs` seconds: blocking calls when concurrency is 0, else that
 * many async calls in flight. Prints the bench_report line under `mode`. */
static inline void bench_drive(const bench_target *t, const char *mode, double secs,
                               int concurrency)
{
    if (concurrency > 0) {
        bench_slot *slots = calloc((size_t)concurrency, sizeof *slots);
        if (slots)
            bench_drive_slots(t, mode, secs, slots, concurrency);
        free(slots);
        return;
    }
    bench_run r = {.t = t};
    int64_t start = bench_now();
    r.end = start + (int64_t)(secs * 1e9);
    for (long i = 0; i < BENCH_MAX_CALLS && bench_now() < r.end; i++) {
        svc_msg *resp = NULL;
        int64_t t0 = bench_now();
        svc_code code = svc_client_call(t->client, t->method, t->req, &resp, NULL);
        r.failures += !(t->reply_ok ? t->reply_ok(code, resp) : code == SVC_OK);
        bench_add(&r.samples, bench_now() - t0);
        svc_msg_free(resp);
    }
    bench_report(mode, &r.samples, (double)(bench_now() - start) / 1e9, r.failures);
}

#endif
