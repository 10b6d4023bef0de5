/*
 * raw_curl_client — benchmark anchor for the client side: plain libcurl,
 * no framework, hammering one URL for a fixed time.
 *
 * Usage: raw_curl_client URL MODE SECONDS [CONCURRENCY]
 *
 *   URL          e.g. http://127.0.0.1:PORT/hello?name=bench
 *   MODE         easy   one easy handle reused in a loop with
 *                       curl_easy_perform(): sequential, keep-alive
 *                multi  one multi handle with CONCURRENCY easy handles in
 *                       flight, each re-added as soon as it finishes, driven
 *                       by curl_multi_perform()/curl_multi_poll(); keep-alive
 *                       (libcurl reuses the idle connections of its cache)
 *   SECONDS      run time, 1-3600; no new request starts after it
 *   CONCURRENCY  multi only, 1-1024, default 64
 *
 * Bounds: no request starts after SECONDS or after MAX_CALLS requests, and
 * every request has a REQUEST_TIMEOUT_MS timeout, so the run ends at most
 * SECONDS + REQUEST_TIMEOUT_MS/1000 after it starts.
 *
 * Output, one line on stdout:
 *   mode=easy calls=N seconds=S calls_per_sec=R p50_us=X p99_us=Y failures=F
 * calls counts every completed request, failed or not; a failure is a
 * transfer error or any status other than 200.  seconds is the measured
 * wall time from the first request to the last completion, calls_per_sec
 * is calls / seconds.  p50/p99 are exact percentiles (nearest rank) of the
 * per-request latency of the successful calls, in microseconds: around
 * curl_easy_perform() in easy mode, and from curl_multi_add_handle() to the
 * CURLMSG_DONE message in multi mode.
 *
 * Caveat for the easy mode on a small VM: a sequential round trip between
 * a client and a server thread on different CPUs pays the idle wake-up of
 * the other CPU.  On the 2-vCPU Debian 12 box it was written on, that was
 * ~8.4k calls/s (p50 119 us) across CPUs against ~35k calls/s (p50 25 us)
 * with both pinned to one CPU (taskset -c 0), so compare easy-mode numbers
 * only between runs with the same CPU placement.
 *
 * Exit status: 0, or 3 when any call failed (the line is printed either
 * way), 2 for bad usage, 1 when libcurl cannot be set up.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "anchor_util.h"

#define MAX_CALLS 10000000UL       /* hard cap on requests per run */
#define REQUEST_TIMEOUT_MS 10000L /* per-request timeout */
#define POLL_TIMEOUT_MS 100       /* longest wait in curl_multi_poll() */

/* ---- time ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- latency samples: one uint32 of nanoseconds per successful call, so
 * at most 40 MB at MAX_CALLS; a call slower than 4.29 s is recorded as
 * 4.29 s, which only matters for a run that is broken anyway ---- */

typedef struct {
    uint32_t *v;
    size_t n, cap;
} samples;

static int samples_add(samples *s, uint64_t ns)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : (size_t)1 << 20;
        uint32_t *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile in microseconds; the samples must be sorted. */
static double percentile_us(const samples *s, double p)
{
    if (s->n == 0)
        return 0.0;
    size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return s->v[rank - 1] / 1000.0;
}

/* ---- run state ---- */

typedef struct {
    const char *url;
    uint64_t deadline_ns; /* no request starts at or after this */
    unsigned long started, calls, failures;
    samples lat;
    int oom;
} run;

static CURL *new_handle(const char *url)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    return h;
}

/* Records one finished transfer. */
static void finish(run *r, CURL *h, CURLcode res, uint64_t t0, uint64_t t1)
{
    long status = 0;
    r->calls++;
    if (res == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (res != CURLE_OK || status != 200) {
        r->failures++;
        return;
    }
    if (samples_add(&r->lat, t1 - t0) != 0)
        r->oom = 1;
}

static int may_start(const run *r, uint64_t now)
{
    return now < r->deadline_ns && r->started < MAX_CALLS && !r->oom;
}

/* easy: one handle, one connection, one request at a time. */
static int run_easy(run *r)
{
    CURL *h = new_handle(r->url);
    if (!h)
        return -1;
    uint64_t t0;
    while (may_start(r, t0 = now_ns())) {
        r->started++;
        CURLcode res = curl_easy_perform(h);
        finish(r, h, res, t0, now_ns());
    }
    curl_easy_cleanup(h);
    return 0;
}

/* multi: `conc` transfers in flight; each finished handle is re-added at
 * once while time and the request cap allow. */
static int run_multi(run *r, unsigned long conc)
{
    int rc = -1;
    CURLM *m = curl_multi_init();
    CURL **h = calloc(conc, sizeof *h);
    uint64_t *t0 = calloc(conc, sizeof *t0);
    if (!m || !h || !t0)
        goto out;
    /* Keep one cached connection per transfer, no more. */
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conc);

    unsigned long in_flight = 0;
    for (unsigned long i = 0; i < conc; i++) {
        if (!(h[i] = new_handle(r->url)))
            goto out;
        curl_easy_setopt(h[i], CURLOPT_PRIVATE, (void *)(uintptr_t)i);
    }
    for (unsigned long i = 0; i < conc && may_start(r, t0[i] = now_ns()); i++) {
        if (curl_multi_add_handle(m, h[i]) != CURLM_OK)
            goto out;
        r->started++;
        in_flight++;
    }

    while (in_flight > 0) {
        int running = 0;
        if (curl_multi_perform(m, &running) != CURLM_OK)
            goto out;

        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            CURLcode res = msg->data.result; /* read before removing */
            uint64_t t1 = now_ns();
            void *priv = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
            size_t i = (size_t)(uintptr_t)priv;
            finish(r, e, res, t0[i], t1);
            curl_multi_remove_handle(m, e);
            in_flight--;
            if (may_start(r, t0[i] = now_ns())) {
                if (curl_multi_add_handle(m, e) != CURLM_OK)
                    goto out;
                r->started++;
                in_flight++;
            }
        }
        if (in_flight > 0 && curl_multi_poll(m, NULL, 0, POLL_TIMEOUT_MS, NULL) != CURLM_OK)
            goto out;
    }
    rc = 0;
out:
    if (h) {
        for (unsigned long i = 0; i < conc; i++) {
            if (h[i]) {
                curl_multi_remove_handle(m, h[i]); /* harmless if not added */
                curl_easy_cleanup(h[i]);
            }
        }
    }
    if (m)
        curl_multi_cleanup(m);
    free(h);
    free(t0);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long secs, conc = 64;
    int multi = argc >= 3 && strcmp(argv[2], "multi") == 0;
    if (argc < 4 || argc > 5 || (!multi && strcmp(argv[2], "easy") != 0) ||
        parse_uint(argv[3], 1, 3600, &secs) != 0 || (argc == 5 && parse_uint(argv[4], 1, 1024, &conc) != 0)) {
        fprintf(stderr,
                "usage: %s URL easy|multi SECONDS [CONCURRENCY]\n"
                "       SECONDS 1-3600; CONCURRENCY 1-1024 (multi only, default 64)\n",
                argv[0]);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "raw_curl_client: curl_global_init failed\n");
        return 1;
    }

    run r;
    memset(&r, 0, sizeof r);
    r.url = argv[1];
    uint64_t start = now_ns();
    r.deadline_ns = start + (uint64_t)secs * 1000000000u;
    int rc = multi ? run_multi(&r, conc) : run_easy(&r);
    double elapsed = (double)(now_ns() - start) / 1e9;
    curl_global_cleanup();

    if (rc != 0 || r.oom) {
        fprintf(stderr, "raw_curl_client: %s\n", r.oom ? "out of memory for samples" : "libcurl setup failed");
        free(r.lat.v);
        return 1;
    }
    qsort(r.lat.v, r.lat.n, sizeof *r.lat.v, cmp_u32);
    printf("mode=%s calls=%lu seconds=%.3f calls_per_sec=%.1f p50_us=%.1f p99_us=%.1f failures=%lu\n",
           multi ? "multi" : "easy", r.calls, elapsed, elapsed > 0 ? (double)r.calls / elapsed : 0.0,
           percentile_us(&r.lat, 50.0), percentile_us(&r.lat, 99.0), r.failures);
    free(r.lat.v);
    return r.failures == 0 ? 0 : 3;
}
