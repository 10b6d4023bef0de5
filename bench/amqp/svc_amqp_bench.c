/*
 * libsvccomm's AMQP transport doing what raw_amqp_bench.c does with bare
 * librabbitmq: pipelined confirmed persistent publishes, transient
 * publishes, consuming with a manual ack per message (prefetch 500), and
 * request/reply latency (our server and client, direct reply-to).
 *   svc_amqp_bench PORT confirm|transient|consume|rpc N
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <time.h>

static atomic_long got, want;
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;

/* The last event wakes the timer: no polling loop competes for the CPU. */
static void on_event(svc_event *ev, void *ud)
{
    (void)ud;
    svc_event_ack(ev);
    if (atomic_fetch_add(&got, 1) + 1 == atomic_load(&want)) {
        pthread_mutex_lock(&done_mu);
        pthread_cond_signal(&done_cv);
        pthread_mutex_unlock(&done_mu);
    }
}

static void hello(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *m;
    svc_msg_clone(svc_call_request(c), &m);
    svc_call_reply(c, m);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double secs(svc_time t)
{
    return (double)t / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    char url[128];
    snprintf(url, sizeof url, "amqp://guest:guest@127.0.0.1:%s/%%2f", argv[1]);
    const char *mode = argv[2];
    long n = atol(argv[3]);
    svc_ctx *ctx;
    svc_client *c;
    svc_ctx_new(NULL, &ctx);
    if (svc_client_new(ctx, url, NULL, &c) != SVC_OK)
        return 1;
    svc_msg *m;
    svc_msg_new_data("{\"name\":\"bench\"}", 16, SVC_CT_JSON, &m);
    svc_pub_opts confirm = {.confirm = true};
    svc_time t0 = 0, t1 = 0;
    if (strcmp(mode, "confirm") == 0 || strcmp(mode, "transient") == 0) {
        bool persistent = mode[0] == 'c';
        const char *q = persistent ? "/bench.svc.confirm" : "/bench.svc.transient";
        svc_sub *sub; /* declares the queue */
        svc_subscribe(c, q + 1, &(svc_sub_opts){.prefetch = 1}, on_event, NULL, &sub);
        svc_sub_free(sub);
        svc_publish(c, q, m, &confirm); /* connection and exchange warm */
        svc_pub_opts po = {.persistent = persistent};
        t0 = svc_now();
        for (long i = 0; i < n; i++) {
            svc_code rc = persistent ? svc_publish_async(c, q, m, &po, NULL, NULL) : svc_publish(c, q, m, &po);
            if (rc)
                return 1;
        }
        if (persistent ? svc_publish_flush(c, 60000) : svc_publish(c, q, m, &confirm))
            return 1;
        t1 = svc_now();
    } else if (strcmp(mode, "consume") == 0) {
        svc_sub *sub;
        svc_subscribe(c, "bench.svc.consume", &(svc_sub_opts){.prefetch = 1}, on_event, NULL, &sub);
        svc_sub_free(sub);
        for (long i = 0; i < n; i++)
            svc_publish(c, "/bench.svc.consume", m, NULL);
        svc_publish(c, "/bench.svc.consume", m, &confirm);
        atomic_store(&got, 0);
        atomic_store(&want, n);
        t0 = svc_now();
        /* Handled on the reading thread, as the raw anchor does (and as the RPC
         * server below): the pool hop is core's dispatch, not the transport. */
        svc_sub_opts so = {.manual_ack = true, .prefetch = 500, .dispatch = SVC_DISPATCH_INLINE};
        svc_subscribe(c, "bench.svc.consume", &so, on_event, NULL, &sub);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 60;
        pthread_mutex_lock(&done_mu);
        while (atomic_load(&got) < n && pthread_cond_timedwait(&done_cv, &done_mu, &until) == 0)
            ;
        pthread_mutex_unlock(&done_mu);
        t1 = svc_now();
        svc_sub_free(sub);
    } else {
        svc_server *srv;
        svc_server_new(ctx, &srv);
        svc_handler_opts ho = {.dispatch = SVC_DISPATCH_INLINE};
        svc_server_handle_ex(srv, "bench.Svc/Hello", hello, NULL, &ho);
        if (svc_server_listen(srv, url))
            return 1;
        double *lat = malloc((size_t)n * sizeof *lat);
        svc_msg *resp;
        svc_client_call(c, "bench.Svc/Hello", m, &resp, NULL); /* warm */
        svc_msg_free(resp);
        t0 = svc_now();
        for (long i = 0; i < n; i++) {
            svc_time s = svc_now();
            if (svc_client_call(c, "bench.Svc/Hello", m, &resp, NULL))
                return 1;
            svc_msg_free(resp);
            lat[i] = (double)(svc_now() - s) / 1e3;
        }
        t1 = svc_now();
        qsort(lat, (size_t)n, sizeof *lat, cmp);
        printf("msgs_s=%.0f p50_us=%.1f p99_us=%.1f\n", (double)n / secs(t1 - t0), lat[n / 2], lat[n * 99 / 100]);
        free(lat);
        svc_server_free(srv);
        svc_msg_free(m);
        svc_client_free(c);
        svc_ctx_free(ctx);
        return 0;
    }
    printf("msgs_s=%.0f\n", (double)n / secs(t1 - t0));
    svc_msg_free(m);
    svc_client_free(c);
    svc_ctx_free(ctx);
    return 0;
}
