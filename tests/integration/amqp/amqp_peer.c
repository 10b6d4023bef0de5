/*
 * A plain AMQP client on bare librabbitmq, for the interop test: what
 * another client (pika, amqplib, the rabbitmq-c tools) would see of our
 * messages, and send to us.
 *   amqp_peer PORT declare QUEUE            a durable queue, empty
 *   amqp_peer PORT get QUEUE MS             one message from QUEUE (waiting
 *                                           up to MS): its properties and
 *                                           headers, one "name: value" a line
 *   amqp_peer PORT publish EXCHANGE KEY BODY
 *                                           a persistent message with every
 *                                           property and a headers table of
 *                                           every kind, tables and arrays too
 * Exits 1 on any failure, saying why.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static amqp_connection_state_t conn;

static void check(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    fprintf(stderr, "amqp_peer: %s failed (reply type %d, library error %s)\n", what,
            (int)r.reply_type,
            r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? amqp_error_string2(r.library_error) : "-");
    exit(1);
}

static void connect_to(int port)
{
    conn = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(conn);
    if (!s || amqp_socket_open(s, "127.0.0.1", port)) {
        fprintf(stderr, "amqp_peer: cannot connect to 127.0.0.1:%d\n", port);
        exit(1);
    }
    check(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn, 1);
    check(amqp_get_rpc_reply(conn), "channel.open");
}

static void print_bytes(const char *name, amqp_bytes_t b)
{
    printf("%s: %.*s\n", name, (int)b.len, (const char *)b.bytes);
}

static void print_header(const amqp_table_entry_t *e)
{
    printf("header %.*s: ", (int)e->key.len, (const char *)e->key.bytes);
    switch (e->value.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        printf("%s %.*s\n", e->value.kind == AMQP_FIELD_KIND_UTF8 ? "S" : "x",
               (int)e->value.value.bytes.len, (const char *)e->value.value.bytes.bytes);
        break;
    case AMQP_FIELD_KIND_I64:
        printf("l %" PRId64 "\n", e->value.value.i64);
        break;
    default:
        printf("kind %c\n", (char)e->value.kind);
        break;
    }
}

static int get(const char *queue, long ms)
{
    /* basic.get in a bounded loop: the message may still be on its way. */
    for (long waited = 0; waited <= ms; waited += 20) {
        amqp_rpc_reply_t r = amqp_basic_get(conn, 1, amqp_cstring_bytes(queue), 1);
        check(r, "basic.get");
        if (r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
            amqp_message_t m;
            check(amqp_read_message(conn, 1, &m, 0), "reading the message");
            const amqp_basic_properties_t *p = &m.properties;
            if (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
                print_bytes("content-type", p->content_type);
            if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
                print_bytes("message-id", p->message_id);
            if (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG)
                print_bytes("correlation-id", p->correlation_id);
            if (p->_flags & AMQP_BASIC_APP_ID_FLAG)
                print_bytes("app-id", p->app_id);
            if (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
                printf("delivery-mode: %u\n", p->delivery_mode);
            if (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG) {
                long age = (long)time(NULL) - (long)p->timestamp;
                printf("timestamp: %s\n", age >= 0 && age < 600 ? "recent" : "wrong");
            }
            for (int i = 0; (p->_flags & AMQP_BASIC_HEADERS_FLAG) && i < p->headers.num_entries; i++)
                print_header(&p->headers.entries[i]);
            print_bytes("body", m.body);
            amqp_destroy_message(&m);
            return 0;
        }
        amqp_maybe_release_buffers(conn);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "amqp_peer: no message in %s after %ld ms\n", queue, ms);
    return 1;
}

static amqp_table_entry_t str_entry(const char *key, const char *value, char kind)
{
    amqp_table_entry_t e = {.key = amqp_cstring_bytes(key)};
    e.value.kind = (uint8_t)kind;
    e.value.value.bytes = amqp_cstring_bytes(value);
    return e;
}

static int publish(const char *exchange, const char *key, const char *body)
{
    amqp_table_entry_t inner[] = {str_entry("a", "b", AMQP_FIELD_KIND_UTF8)};
    amqp_field_value_t items[] = {{.kind = AMQP_FIELD_KIND_I32, .value.i32 = 1}};
    amqp_table_entry_t h[9] = {
        str_entry("x-str", "hello peer", AMQP_FIELD_KIND_UTF8),
        str_entry("x-raw-bin", "\x01\x02", AMQP_FIELD_KIND_BYTES),
        {.key = amqp_cstring_bytes("x-int"), .value = {.kind = AMQP_FIELD_KIND_I32, .value.i32 = -42}},
        {.key = amqp_cstring_bytes("x-long"), .value = {.kind = AMQP_FIELD_KIND_I64, .value.i64 = 1LL << 40}},
        {.key = amqp_cstring_bytes("x-bool"), .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}},
        {.key = amqp_cstring_bytes("x-double"), .value = {.kind = AMQP_FIELD_KIND_F64, .value.f64 = 2.5}},
        {.key = amqp_cstring_bytes("x-table"),
         .value = {.kind = AMQP_FIELD_KIND_TABLE, .value.table = {1, inner}}},
        {.key = amqp_cstring_bytes("x-array"),
         .value = {.kind = AMQP_FIELD_KIND_ARRAY, .value.array = {1, items}}},
        {.key = amqp_cstring_bytes("x-void"), .value = {.kind = AMQP_FIELD_KIND_VOID}},
    };
    amqp_basic_properties_t p = {0};
    p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
               AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_TYPE_FLAG |
               AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG;
    p.content_type = amqp_cstring_bytes("text/plain");
    p.message_id = amqp_cstring_bytes("peer-1");
    p.correlation_id = amqp_cstring_bytes("peer-corr");
    p.app_id = amqp_cstring_bytes("raw-peer");
    p.type = amqp_cstring_bytes("peer.test");
    p.timestamp = 1700000000;
    p.delivery_mode = 2;
    p.headers = (amqp_table_t){9, h};
    amqp_confirm_select(conn, 1);
    check(amqp_get_rpc_reply(conn), "confirm.select");
    if (amqp_basic_publish(conn, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes(key), 1, 0, &p,
                           amqp_cstring_bytes(body)) != AMQP_STATUS_OK) {
        fprintf(stderr, "amqp_peer: basic.publish failed\n");
        return 1;
    }
    /* The broker's verdict: a return (no queue) comes before the ack. */
    struct timeval tv = {10, 0};
    for (int i = 0; i < 10; i++) {
        amqp_frame_t f;
        if (amqp_simple_wait_frame_noblock(conn, &f, &tv) != AMQP_STATUS_OK)
            break;
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        if (f.payload.method.id == AMQP_BASIC_RETURN_METHOD) {
            fprintf(stderr, "amqp_peer: no queue took the message\n");
            return 1;
        }
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD)
            return 0;
    }
    fprintf(stderr, "amqp_peer: no confirmation\n");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: amqp_peer PORT declare|get|publish ARGS...\n");
        return 2;
    }
    connect_to(atoi(argv[1]));
    int rc = 2;
    if (strcmp(argv[2], "declare") == 0) {
        amqp_queue_declare(conn, 1, amqp_cstring_bytes(argv[3]), 0, 1, 0, 0, amqp_empty_table);
        check(amqp_get_rpc_reply(conn), "queue.declare");
        amqp_queue_purge(conn, 1, amqp_cstring_bytes(argv[3]));
        check(amqp_get_rpc_reply(conn), "queue.purge");
        rc = 0;
    } else if (strcmp(argv[2], "get") == 0 && argc == 5) {
        rc = get(argv[3], atol(argv[4]));
    } else if (strcmp(argv[2], "publish") == 0 && argc == 6) {
        rc = publish(argv[3], argv[4], argv[5]);
    }
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return rc;
}
