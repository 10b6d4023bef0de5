/*
 * The anchor: raw librabbitmq doing what bench/amqp/svc_amqp_bench.c does
 * through libsvccomm — the same messages (properties included), window,
 * prefetch, ack pattern and timed span — one thread per connection as
 * librabbitmq expects.
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

#define WINDOW 8192 /* our transport's publishes in flight */
#define RPC_EXCHANGE "bench.raw.rpc.x"

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

/* Exactly the properties our transport sends: content type, delivery mode
 * and timestamp; a request adds correlation id, reply-to and type (the
 * method) and is mandatory; a reply carries the svc-status header. */
static void publish(amqp_connection_state_t c, amqp_channel_t ch, const char *q, int mode,
                    const char *corr, const char *reply_to, amqp_bytes_t body)
{
    amqp_basic_properties_t p = {0};
    p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
               AMQP_BASIC_TIMESTAMP_FLAG;
    p.content_type = amqp_cstring_bytes("application/json");
    p.delivery_mode = (uint8_t)mode;
    p.timestamp = (uint64_t)time(NULL);
    amqp_table_entry_t status = {.key = amqp_cstring_bytes("svc-status"),
                                 .value = {.kind = AMQP_FIELD_KIND_I64, .value.i64 = 0}};
    if (corr) {
        p._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        p.correlation_id = amqp_cstring_bytes(corr);
    }
    if (reply_to) {
        p._flags |= AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_TYPE_FLAG;
        p.reply_to = amqp_cstring_bytes(reply_to);
        p.type = amqp_cstring_bytes("bench.Svc/Hello");
    } else if (corr) {
        p._flags |= AMQP_BASIC_HEADERS_FLAG;
        p.headers = (amqp_table_t){1, &status};
    }
    /* Requests go through a topic exchange, as ours do (svc.rpc). */
    amqp_bytes_t exchange = reply_to ? amqp_cstring_bytes(RPC_EXCHANGE) : amqp_empty_bytes;
    amqp_basic_publish(c, ch, exchange, amqp_cstring_bytes(q), reply_to != NULL, 0, &p, body);
}

static amqp_bytes_t hello(void)
{
    return amqp_cstring_bytes("{\"name\":\"bench\"}");
}

/* Reads frames until `want` is acked, or only what has arrived when
 * `block` is false; returns the highest delivery tag acked so far. */
static uint64_t read_acks(amqp_connection_state_t c, uint64_t acked, uint64_t want, int block)
{
    while (acked < want) {
        struct timeval zero = {0, 0};
        amqp_frame_t f;
        int st = amqp_simple_wait_frame_noblock(c, &f, block ? NULL : &zero);
        if (st == AMQP_STATUS_TIMEOUT)
            break;
        if (st != AMQP_STATUS_OK)
            exit(1);
        if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD)
            acked = ((amqp_basic_ack_t *)f.payload.method.decoded)->delivery_tag;
    }
    return acked;
}

static void consume_from(amqp_connection_state_t c, const char *q, uint16_t prefetch, int no_ack)
{
    if (prefetch)
        amqp_basic_qos(c, 1, 0, prefetch, 0);
    amqp_basic_consume(c, 1, amqp_cstring_bytes(q), amqp_empty_bytes, 0, no_ack, 0, amqp_empty_table);
    amqp_get_rpc_reply(c);
}

/* The next delivery (0), or -1 when the connection failed. */
static int next_message(amqp_connection_state_t c, amqp_envelope_t *e)
{
    amqp_maybe_release_buffers(c);
    return amqp_consume_message(c, e, NULL, 0).reply_type == AMQP_RESPONSE_NORMAL ? 0 : -1;
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
    amqp_exchange_declare(c, 1, amqp_cstring_bytes(RPC_EXCHANGE), amqp_cstring_bytes("topic"), 0, 0,
                          0, 0, amqp_empty_table);
    amqp_queue_bind(c, 1, amqp_cstring_bytes("bench.raw.rpc"), amqp_cstring_bytes(RPC_EXCHANGE),
                    amqp_cstring_bytes("bench.Svc.*"), amqp_empty_table);
    amqp_get_rpc_reply(c);
    consume_from(c, "bench.raw.rpc", 256, 0); /* as our server: prefetch 256, ack after the reply */
    for (long i = 0; i < n; i++) {
        amqp_envelope_t e;
        if (next_message(c, &e))
            break;
        char corr[64], to[256];
        snprintf(corr, sizeof corr, "%.*s", (int)e.message.properties.correlation_id.len, (char *)e.message.properties.correlation_id.bytes);
        snprintf(to, sizeof to, "%.*s", (int)e.message.properties.reply_to.len, (char *)e.message.properties.reply_to.bytes);
        publish(c, 1, to, 1, corr, NULL, e.message.body);
        amqp_basic_ack(c, 1, e.delivery_tag, 0);
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
        /* Pipelined as ours: up to WINDOW unconfirmed, acks read as they
         * come (every 64 publishes without waiting, or waiting when the
         * window is full), until the last one is acked. */
        declare(c, "bench.raw.confirm");
        amqp_confirm_select(c, 1);
        amqp_get_rpc_reply(c);
        t0 = now_s();
        uint64_t acked = 0, sent = 0;
        while (sent < (uint64_t)n) {
            publish(c, 1, "bench.raw.confirm", 2, NULL, NULL, hello());
            sent++;
            if (sent - acked >= WINDOW)
                acked = read_acks(c, acked, sent - WINDOW + 1, 1);
            else if (sent % 64 == 0)
                acked = read_acks(c, acked, sent, 0);
            amqp_maybe_release_buffers(c);
        }
        read_acks(c, acked, sent, 1);
        t1 = now_s();
    } else if (strcmp(mode, "transient") == 0) {
        /* Ends, as ours, with one confirmed publish on another channel. */
        declare(c, "bench.raw.transient");
        amqp_channel_open(c, 2);
        amqp_confirm_select(c, 2);
        amqp_get_rpc_reply(c);
        t0 = now_s();
        for (long i = 0; i < n; i++)
            publish(c, 1, "bench.raw.transient", 1, NULL, NULL, hello());
        publish(c, 2, "bench.raw.transient", 1, NULL, NULL, hello());
        read_acks(c, 0, 1, 1);
        t1 = now_s();
    } else if (strcmp(mode, "consume") == 0) {
        /* As ours: prefetch 500, one ack per message, timed from asking
         * for the consumer to the last ack. */
        declare(c, "bench.raw.consume");
        for (long i = 0; i < n; i++)
            publish(c, 1, "bench.raw.consume", 1, NULL, NULL, hello());
        amqp_queue_declare(c, 1, amqp_cstring_bytes("bench.raw.consume"), 0, 0, 0, 0, amqp_empty_table);
        amqp_get_rpc_reply(c); /* all n are in the queue */
        t0 = now_s();
        consume_from(c, "bench.raw.consume", 500, 0);
        for (long i = 0; i < n; i++) {
            amqp_envelope_t e;
            if (next_message(c, &e))
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
        consume_from(c, "amq.rabbitmq.reply-to", 0, 1);
        double *lat = malloc((size_t)n * sizeof *lat);
        t0 = now_s();
        for (long i = 0; i < n; i++) {
            char corr[32];
            snprintf(corr, sizeof corr, "%ld", i);
            double s = now_s();
            publish(c, 1, "bench.Svc.Hello", 1, corr, "amq.rabbitmq.reply-to", hello());
            amqp_envelope_t e;
            if (next_message(c, &e))
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
