/*
 * svc-sub — subscribes through any transport that has events and prints one
 * JSON line per event:
 *   {"topic":"order.created","headers":{"k":"v"},"data":"...","redelivered":false,"delivery_count":1}
 *
 *   svc-sub [--group G] [--count N] [--timeout 10s] [--ack] [--prefetch N]
 *           [--queue Q] [--durable-queue] [--exchange-type TYPE]
 *           [--stream NAME] [--durable NAME] [--pull]
 *           TARGET PATTERN
 *
 * PATTERN is a subject with * and > wildcards (NATS, inproc), or for AMQP a
 * queue name or "exchange/binding-key" (then --queue names the queue to
 * declare and bind, --durable-queue makes it durable). --stream and
 * --durable consume a JetStream stream with a durable consumer. --ack
 * acknowledges each event by hand after printing it. Exits 0 after --count
 * events, or with DEADLINE_EXCEEDED (4) when --timeout passes first.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "args.h"

typedef struct state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long seen, want;
    bool ack;
} state;

static void print_event(const svc_event *ev)
{
    const svc_msg *m = svc_event_msg(ev);
    printf("{\"topic\":\"");
    json_escape_to(stdout, svc_event_topic(ev), strlen(svc_event_topic(ev)));
    printf("\",\"headers\":{");
    for (size_t i = 0; i < svc_msg_md_count(m); i++) {
        const char *k, *v;
        size_t len;
        svc_msg_md_at(m, i, &k, &v, &len);
        printf("%s\"", i ? "," : "");
        json_escape_to(stdout, k, strlen(k));
        printf("\":\"");
        json_escape_to(stdout, v, len);
        printf("\"");
    }
    printf("},\"data\":\"");
    json_escape_to(stdout, svc_msg_data(m), svc_msg_len(m));
    printf("\",\"redelivered\":%s,\"delivery_count\":%u}\n",
           svc_event_redelivered(ev) ? "true" : "false", svc_event_delivery_count(ev));
    fflush(stdout);
}

static void on_event(svc_event *ev, void *ud)
{
    state *st = ud;
    print_event(ev);
    if (st->ack)
        svc_event_ack(ev);
    pthread_mutex_lock(&st->mu);
    st->seen++;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: svc-sub [--group G] [--count N] [--timeout 10s] [--ack] [--prefetch N]\n"
            "               [--queue Q] [--durable-queue] [--exchange-type TYPE]\n"
            "               [--stream NAME] [--durable NAME] [--pull] TARGET PATTERN\n"
            "  PATTERN: a subject with * and > (NATS, inproc); a queue or\n"
            "           exchange/binding-key (AMQP)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *pos[2], *v, *timeout = NULL;
    size_t n_pos = 0;
    state st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false};
    svc_sub_opts so = {0};
    for (int i = 1; i < argc; i++) {
        if (arg_value(argc, argv, &i, "--group", &v))
            so.queue_group = v;
        else if (arg_value(argc, argv, &i, "--count", &v))
            st.want = atol(v);
        else if (arg_value(argc, argv, &i, "--timeout", &v))
            timeout = v;
        else if (arg_value(argc, argv, &i, "--prefetch", &v))
            so.prefetch = (unsigned)atoi(v);
        else if (arg_value(argc, argv, &i, "--queue", &v))
            so.queue = v;
        else if (arg_value(argc, argv, &i, "--exchange-type", &v))
            so.exchange_type = v;
        else if (arg_value(argc, argv, &i, "--stream", &v))
            so.store = v;
        else if (arg_value(argc, argv, &i, "--durable", &v))
            so.durable_name = v;
        else if (strcmp(argv[i], "--durable-queue") == 0)
            so.durable = true;
        else if (strcmp(argv[i], "--pull") == 0)
            so.pull = true;
        else if (strcmp(argv[i], "--ack") == 0)
            st.ack = so.manual_ack = true;
        else if (argv[i][0] == '-' || n_pos == 2)
            usage();
        else
            pos[n_pos++] = argv[i];
    }
    if (n_pos != 2)
        usage();
    int64_t timeout_ns = 0;
    if (timeout && svc_duration_parse(timeout, &timeout_ns) != SVC_OK) {
        fprintf(stderr, "svc-sub: %s\n", svc_last_error());
        return 2;
    }

    svc_ctx *ctx = NULL;
    svc_client *c = NULL;
    svc_sub *sub = NULL;
    svc_code rc = svc_ctx_new(NULL, &ctx);
    if (rc == SVC_OK)
        rc = svc_client_new(ctx, pos[0], NULL, &c);
    if (rc == SVC_OK)
        rc = svc_subscribe(c, pos[1], &so, on_event, &st, &sub);
    if (rc == SVC_OK) {
        fprintf(stderr, "svc-sub: subscribed to %s on %s\n", pos[1], pos[0]);
        svc_time until = timeout_ns ? svc_now() + timeout_ns : 0;
        pthread_mutex_lock(&st.mu);
        while ((!st.want || st.seen < st.want) && (!until || svc_now() < until)) {
            pthread_mutex_unlock(&st.mu);
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&st.mu);
        }
        if (st.want && st.seen < st.want)
            rc = SVC_DEADLINE_EXCEEDED;
        pthread_mutex_unlock(&st.mu);
    } else {
        fprintf(stderr, "svc-sub: %s\n", svc_last_error());
    }
    svc_sub_free(sub);
    svc_client_free(c);
    svc_ctx_free(ctx);
    return (int)rc;
}
