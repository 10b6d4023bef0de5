/*
 * raw_curl_socket — the like-for-like anchor for an event-loop HTTP client:
 * plain libcurl driven through its multi_socket API from a libevent loop,
 * the pattern of curl's own libevent examples and exactly how libsvccomm's
 * REST client drives curl. (raw_curl_client's multi mode uses
 * curl_multi_perform + curl_multi_poll instead, which is cheaper per call
 * but cannot share an event loop with anything else.)
 *
 *   raw_curl_socket URL SECONDS [CONCURRENCY]
 * Keeps CONCURRENCY transfers in flight on kept-alive connections for
 * SECONDS (at most 10 million calls) and prints one bench_report line.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <stdbool.h>

#include "anchor_util.h"
#include "latency.h"

#define MAX_CALLS 10000000L

typedef struct loop {
    struct event_base *base;
    struct event *timer;
    CURLM *multi;
    int64_t end;
    long started, failures;
    int in_flight;
    bench_samples samples;
} loop;

typedef struct transfer {
    CURL *easy;
    int64_t start;
} transfer;

static void start(loop *lp, transfer *t)
{
    lp->started++;
    t->start = bench_now();
    curl_multi_add_handle(lp->multi, t->easy);
}

/* Records finished transfers and restarts each until time is up. */
static void check_done(loop *lp)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(lp->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        transfer *t;
        long code = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        int64_t now = bench_now();
        lp->failures += m->data.result != CURLE_OK || code != 200;
        bench_add(&lp->samples, now - t->start);
        curl_multi_remove_handle(lp->multi, t->easy);
        if (now < lp->end && lp->started < MAX_CALLS)
            start(lp, t);
        else if (--lp->in_flight == 0)
            event_base_loopbreak(lp->base);
    }
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
    loop *lp = arg;
    int running;
    int action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(lp->multi, fd, action, &running);
    check_done(lp);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loop *lp = arg;
    int running;
    curl_multi_socket_action(lp->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(lp);
}

static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    loop *lp = userp;
    struct event *ev = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ev) {
            event_free(ev);
            curl_multi_assign(lp->multi, s, NULL);
        }
        return 0;
    }
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) |
                         (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
    if (!ev) {
        ev = event_new(lp->base, s, kind, on_socket, lp);
        curl_multi_assign(lp->multi, s, ev);
    } else {
        event_del(ev);
        event_assign(ev, lp->base, s, kind, on_socket, lp);
    }
    event_add(ev, NULL);
    return 0;
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
    (void)m;
    loop *lp = userp;
    if (ms < 0) {
        evtimer_del(lp->timer);
    } else {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(lp->timer, &tv);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: raw_curl_socket URL SECONDS [CONCURRENCY]\n");
        return 2;
    }
    int conc = argc > 3 ? atoi(argv[3]) : 64;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    loop lp = {.base = event_base_new(), .multi = curl_multi_init()};
    lp.timer = evtimer_new(lp.base, on_timer, &lp);
    curl_multi_setopt(lp.multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(lp.multi, CURLMOPT_SOCKETDATA, &lp);
    curl_multi_setopt(lp.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(lp.multi, CURLMOPT_TIMERDATA, &lp);
    transfer *ts = calloc((size_t)conc, sizeof *ts);
    int64_t t0 = bench_now();
    lp.end = t0 + (int64_t)(atof(argv[2]) * 1e9);
    for (int i = 0; i < conc; i++) {
        ts[i].easy = curl_easy_init();
        curl_easy_setopt(ts[i].easy, CURLOPT_URL, argv[1]);
        curl_easy_setopt(ts[i].easy, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(ts[i].easy, CURLOPT_PRIVATE, &ts[i]);
        curl_easy_setopt(ts[i].easy, CURLOPT_TIMEOUT_MS, 10000L);
        lp.in_flight++;
        start(&lp, &ts[i]);
    }
    event_base_dispatch(lp.base);
    bench_report("socket", &lp.samples, (double)(bench_now() - t0) / 1e9, lp.failures);
    for (int i = 0; i < conc; i++)
        curl_easy_cleanup(ts[i].easy);
    free(ts);
    curl_multi_cleanup(lp.multi);
    event_free(lp.timer);
    event_base_free(lp.base);
    curl_global_cleanup();
    return 0;
}
