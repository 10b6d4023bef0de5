/*
 * The anchor: raw librabbitmq doing what bench/amqp/svc_amqp_bench.c does
 * through libsvccomm, one thread per connection as librabbitmq expects.
 *   raw_amqp_bench PORT confirm|transient|consume|rpc N
 * Prints "msgs_s=... p50_us=... p99_us=...".
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int port;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static amqp_connection_state_t open_conn(void)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    if (amqp_socket_open(s, "127.0.0.1", port)) {
        fprintf(stderr, "cannot connect\n");
        exit(1);
    }
    amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    amqp_channel_open(c, 1);
    amqp_get_rpc_reply(c);
    return c;
}

static void declare(amqp_connection_state_t c, const char *q)
{
    amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 0, 0, 0, 0, amqp_empty_table);
    amqp_queue_purge(c, 1, amqp_cstring_bytes(q));
    amqp_get_rpc_reply(c);
}

static void publish(amqp_connection_state_t c, const char *q, int mode, const char *corr,
                    const char *reply_to)
{
    amqp_basic_properties_t p = {0};
    p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.content_type = amqp_cstring_bytes("application/json");
    p.delivery_mode = (uint8_t)mode;
    if (corr) {
        p._flags |= AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_REPLY_TO_FLAG;
        p.correlation_id = amqp_cstring_bytes(corr);
        p.reply_to = amqp_cstring_bytes(reply_to);
    }
    amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(q), 0, 0, &p,
                       amqp_cstring_bytes("{\"name\":\"bench\"}"));
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *rpc_server(void *arg)
{
    long n = (long)arg;
    amqp_connection_state_t c = open_conn();
    declare(c, "bench.raw.rpc");
    amqp_basic_consume(c, 1, amqp_cstring_bytes("bench.raw.rpc"), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
    amqp_get_rpc_reply(c);
    for (long i = 0; i < n; i++) {
        amqp_envelope_t e;
        amqp_maybe_release_buffers(c);
        if (amqp_consume_message(c, &e, NULL, 0).reply_type != AMQP_RESPONSE_NORMAL)
            break;
        char corr[64], to[256];
        snprintf(corr, sizeof corr, "%.*s", (int)e.message.properties.correlation_id.len, (char *)e.message.properties.correlation_id.bytes);
        snprintf(to, sizeof to, "%.*s", (int)e.message.properties.reply_to.len, (char *)e.message.properties.reply_to.bytes);
        amqp_basic_properties_t p = {0};
        p._flags = AMQP_BASIC_CORRELATION_ID_FLAG;
        p.correlation_id = amqp_cstring_bytes(corr);
        amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(to), 0, 0, &p, e.message.body);
        amqp_destroy_envelope(&e);
    }
    amqp_destroy_connection(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    port = atoi(argv[1]);
    const char *mode = argv[2];
    long n = atol(argv[3]);
    amqp_connection_state_t c = open_conn();
    double t0, t1;
    if (strcmp(mode, "confirm") == 0) {
        declare(c, "bench.raw.confirm");
        amqp_confirm_select(c, 1);
        amqp_get_rpc_reply(c);
        t0 = now_s();
        uint64_t acked = 0, sent = 0;
        while (acked < (uint64_t)n) {
            for (int b = 0; b < 1000 && sent < (uint64_t)n; b++, sent++)
                publish(c, "bench.raw.confirm", 2, NULL, NULL);
            while (acked < sent) {
                amqp_frame_t f;
                if (amqp_simple_wait_frame(c, &f) != AMQP_STATUS_OK)
                    return 1;
                if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD)
                    acked = ((amqp_basic_ack_t *)f.payload.method.decoded)->delivery_tag;
            }
            amqp_maybe_release_buffers(c);
        }
        t1 = now_s();
    } else if (strcmp(mode, "transient") == 0) {
        declare(c, "bench.raw.transient");
        t0 = now_s();
        for (long i = 0; i < n; i++)
            publish(c, "bench.raw.transient", 1, NULL, NULL);
        t1 = now_s();
    } else if (strcmp(mode, "consume") == 0) {
        declare(c, "bench.raw.consume");
        for (long i = 0; i < n; i++)
            publish(c, "bench.raw.consume", 1, NULL, NULL);
        amqp_basic_qos(c, 1, 0, 500, 0);
        amqp_basic_consume(c, 1, amqp_cstring_bytes("bench.raw.consume"), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
        amqp_get_rpc_reply(c);
        t0 = now_s();
        for (long i = 0; i < n; i++) {
            amqp_envelope_t e;
            amqp_maybe_release_buffers(c);
            if (amqp_consume_message(c, &e, NULL, 0).reply_type != AMQP_RESPONSE_NORMAL)
                return 1;
            amqp_basic_ack(c, 1, e.delivery_tag, 0);
            amqp_destroy_envelope(&e);
        }
        t1 = now_s();
    } else {
        pthread_t srv;
        pthread_create(&srv, NULL, rpc_server, (void *)n);
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
        amqp_basic_consume(c, 1, amqp_cstring_bytes("amq.rabbitmq.reply-to"), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
        amqp_get_rpc_reply(c);
        double *lat = malloc((size_t)n * sizeof *lat);
        t0 = now_s();
        for (long i = 0; i < n; i++) {
            char corr[32];
            snprintf(corr, sizeof corr, "%ld", i);
            double s = now_s();
            publish(c, "bench.raw.rpc", 1, corr, "amq.rabbitmq.reply-to");
            amqp_envelope_t e;
            amqp_maybe_release_buffers(c);
            if (amqp_consume_message(c, &e, NULL, 0).reply_type != AMQP_RESPONSE_NORMAL)
                return 1;
            amqp_destroy_envelope(&e);
            lat[i] = (now_s() - s) * 1e6;
        }
        t1 = now_s();
        pthread_join(srv, NULL);
        qsort(lat, (size_t)n, sizeof *lat, cmp);
        printf("msgs_s=%.0f p50_us=%.1f p99_us=%.1f\n", (double)n / (t1 - t0), lat[n / 2], lat[n * 99 / 100]);
        free(lat);
        return 0;
    }
    printf("msgs_s=%.0f\n", (double)n / (t1 - t0));
    amqp_destroy_connection(c);
    return 0;
}
