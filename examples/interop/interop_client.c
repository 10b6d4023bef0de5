/*
 * interop_client — gRPC's interop test cases (doc/interop-test-descriptions.md)
 * through libsvccomm's client, to run against real gRPC servers.
 *
 *   interop_client --server_port=N [--server_host=127.0.0.1]
 *       [--use_tls=true --ca_file=F --server_host_override=NAME]
 *       [--test_case=all|name[,name...]]
 *
 * The flags are those of gRPC's own interop clients, except --ca_file
 * (theirs embed a test CA). Prints "ok"/"FAIL" per case; exits 1 if any
 * failed.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "args.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/testing/empty.pb-c.h"
#include "grpc/testing/test.pb-c.h"

#define ZEROS 271828
#define LARGE 314159
#define SPECIAL "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP \xf0\x9f\x98\x88\t\n"
#define INITIAL_KEY "x-grpc-test-echo-initial"
#define INITIAL_VALUE "test_initial_metadata_value"
#define TRAILING_KEY "x-grpc-test-echo-trailing-bin"
#define TRAILING_VALUE "\xab\xab\xab"
#define SVC "grpc.testing.TestService/"

static svc_client *cli;
static char failure[512];

/* Records why the case failed (the first reason) and returns false. */
__attribute__((format(printf, 1, 2))) static bool fail(const char *fmt, ...)
{
    if (!*failure) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(failure, sizeof failure, fmt, ap);
        va_end(ap);
    }
    return false;
}
#define EXPECT(cond, ...) ((cond) ? true : fail(__VA_ARGS__))
#define EXPECT_CODE(got, want)                                                                 \
    EXPECT((got) == (want), "status %s (%d), wanted %s", svc_code_name(got), (int)(got),       \
           svc_code_name(want))

/* ---- messages ---- */

static uint8_t zero_bytes[LARGE];

static Grpc__Testing__Payload payload_of(int size)
{
    Grpc__Testing__Payload p = GRPC__TESTING__PAYLOAD__INIT;
    p.type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
    p.body.len = (size_t)size;
    p.body.data = zero_bytes;
    return p;
}

static bool payload_is(const Grpc__Testing__Payload *p, int size)
{
    if (!p)
        return fail("no payload");
    if (p->body.len != (size_t)size || memcmp(p->body.data, zero_bytes, p->body.len) != 0)
        return fail("payload of %zu bytes, wanted %d", p->body.len, size);
    return true;
}

static svc_msg *pack(const ProtobufCMessage *pb)
{
    svc_msg *m = NULL;
    if (svc_msg_new(&m) != SVC_OK || svc_msg_pack(m, pb, SVC_CT_PROTO) != SVC_OK) {
        svc_msg_free(m);
        return NULL;
    }
    return m;
}

static void *unpack(const svc_msg *m, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *pb = NULL;
    if (!m || svc_msg_unpack(m, d, &pb) != SVC_OK)
        fail("cannot decode a response: %s", svc_last_error());
    return pb;
}

static void unpacked_free(void *pb)
{
    if (pb)
        protobuf_c_message_free_unpacked(pb, NULL);
}

/* A SimpleRequest for LARGE bytes back, carrying ZEROS bytes. */
static Grpc__Testing__SimpleRequest large_request(Grpc__Testing__Payload *p)
{
    Grpc__Testing__SimpleRequest r = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    *p = payload_of(ZEROS);
    r.response_type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
    r.response_size = LARGE;
    r.payload = p;
    return r;
}

/* Calls UnaryCall with `req`; *resp gets the reply message (yours). */
static svc_code unary(const Grpc__Testing__SimpleRequest *req, bool compress, const svc_msg *md,
                      svc_msg **resp)
{
    svc_msg *m = pack(&req->base);
    if (!m)
        return SVC_RESOURCE_EXHAUSTED;
    svc_msg_set_compress(m, compress);
    svc_call_opts o = {.metadata = md};
    svc_code rc = svc_client_call(cli, SVC "UnaryCall", m, resp, &o);
    svc_msg_free(m);
    return rc;
}

/* `resp` is read after `rc` was computed (arguments have no order). */
static bool large_reply(svc_code rc, svc_msg *const *resp)
{
    if (!EXPECT_CODE(rc, SVC_OK))
        return false;
    Grpc__Testing__SimpleResponse *r = unpack(*resp, &grpc__testing__simple_response__descriptor);
    bool ok = r && payload_is(r->payload, LARGE);
    unpacked_free(r);
    return ok;
}

/* UnaryCall expecting the LARGE payload back. */
static bool large_call(const Grpc__Testing__SimpleRequest *req, bool compress)
{
    svc_msg *resp = NULL;
    svc_code rc = unary(req, compress, NULL, &resp);
    bool ok = large_reply(rc, &resp);
    svc_msg_free(resp);
    return ok;
}

/* A StreamingOutputCallRequest asking for responses of `sizes` (0-ended),
 * carrying `payload` bytes; *params and *p are its storage. */
static Grpc__Testing__StreamingOutputCallRequest out_request(const int *sizes,
                                                             Grpc__Testing__ResponseParameters *params,
                                                             Grpc__Testing__ResponseParameters **ptrs,
                                                             Grpc__Testing__Payload *p, int payload)
{
    Grpc__Testing__StreamingOutputCallRequest r = GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
    for (; sizes && sizes[r.n_response_parameters]; r.n_response_parameters++) {
        Grpc__Testing__ResponseParameters one = GRPC__TESTING__RESPONSE_PARAMETERS__INIT;
        one.size = sizes[r.n_response_parameters];
        params[r.n_response_parameters] = one;
        ptrs[r.n_response_parameters] = &params[r.n_response_parameters];
    }
    r.response_parameters = ptrs;
    r.response_type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
    *p = payload_of(payload);
    r.payload = p;
    return r;
}

static bool send_pb(svc_stream *st, const ProtobufCMessage *pb)
{
    svc_msg *m = pack(pb);
    svc_code rc = m ? svc_stream_send(st, m) : SVC_RESOURCE_EXHAUSTED;
    return EXPECT(rc == SVC_OK, "sending failed: %s", svc_code_name(rc));
}

/* Sends a request for one response of `size`, carrying `payload`. */
static bool send_out_request(svc_stream *st, int size, int payload)
{
    int sizes[] = {size, 0};
    Grpc__Testing__ResponseParameters params[1], *ptrs[1];
    Grpc__Testing__Payload p;
    Grpc__Testing__StreamingOutputCallRequest r = out_request(sizes, params, ptrs, &p, payload);
    return send_pb(st, &r.base);
}

/* Receives one StreamingOutputCallResponse and checks its size. */
static bool recv_response(svc_stream *st, int size)
{
    svc_msg *m = NULL;
    svc_code rc = svc_stream_recv(st, &m);
    if (!EXPECT_CODE(rc, SVC_OK) || !EXPECT(m != NULL, "the stream ended early"))
        return false;
    Grpc__Testing__StreamingOutputCallResponse *r =
        unpack(m, &grpc__testing__streaming_output_call_response__descriptor);
    svc_msg_free(m);
    bool ok = r && payload_is(r->payload, size);
    unpacked_free(r);
    return ok;
}

/* The stream has no more messages and ends with `want`. */
static bool ends_with(svc_stream *st, svc_code want, const char *message, svc_msg **trailers)
{
    svc_msg *m = NULL;
    svc_code rc = svc_stream_recv(st, &m);
    bool ok = want == SVC_OK ? EXPECT(rc == SVC_OK && !m, "more than expected: %s",
                                      svc_code_name(rc))
                             : true;
    svc_msg_free(m);
    svc_msg *end = NULL;
    rc = svc_stream_finish(st, &end);
    ok = EXPECT_CODE(rc, want) && ok;
    if (ok && message)
        ok = EXPECT(strcmp(svc_msg_status_message(end), message) == 0,
                    "status message '%s'", svc_msg_status_message(end));
    if (trailers)
        *trailers = end;
    else
        svc_msg_free(end);
    return ok;
}

/* ---- the test cases ---- */

static bool empty_unary(void)
{
    Grpc__Testing__Empty e = GRPC__TESTING__EMPTY__INIT;
    ProtobufCMessage *out = NULL;
    svc_code rc = svc_client_call_pb(cli, SVC "EmptyCall", &e.base,
                                     &grpc__testing__empty__descriptor, &out, NULL);
    unpacked_free(out);
    return EXPECT_CODE(rc, SVC_OK);
}

static bool large_unary(void)
{
    Grpc__Testing__Payload p;
    Grpc__Testing__SimpleRequest req = large_request(&p);
    return large_call(&req, false);
}

static bool client_compressed_unary(void)
{
    Grpc__Testing__Payload p;
    Grpc__Testing__SimpleRequest req = large_request(&p);
    Grpc__Testing__BoolValue yes = GRPC__TESTING__BOOL_VALUE__INIT, no = yes;
    yes.value = true;
    req.expect_compressed = &yes;
    svc_msg *resp = NULL;
    /* The probe: a server that checks refuses an uncompressed request. */
    svc_code rc = unary(&req, false, NULL, &resp);
    svc_msg_free(resp);
    if (!EXPECT_CODE(rc, SVC_INVALID_ARGUMENT))
        return false;
    if (!large_call(&req, true))
        return false;
    req.expect_compressed = &no;
    return large_call(&req, false);
}

static bool server_compressed_unary(void)
{
    bool ok = true;
    for (int compressed = 1; ok && compressed >= 0; compressed--) {
        Grpc__Testing__Payload p;
        Grpc__Testing__SimpleRequest req = large_request(&p);
        Grpc__Testing__BoolValue flag = GRPC__TESTING__BOOL_VALUE__INIT;
        flag.value = compressed;
        req.response_compressed = &flag;
        svc_msg *resp = NULL;
        ok = large_reply(unary(&req, false, NULL, &resp), &resp) &&
             EXPECT(svc_msg_was_compressed(resp) == compressed,
                    "response compressed: %d, wanted %d", svc_msg_was_compressed(resp),
                    compressed);
        svc_msg_free(resp);
    }
    return ok;
}

static bool client_streaming(void)
{
    static const int sizes[] = {27182, 8, 1828, 45904};
    svc_stream *st;
    if (!EXPECT_CODE(svc_client_stream(cli, SVC "StreamingInputCall", NULL, &st), SVC_OK))
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < 4; i++) {
        Grpc__Testing__StreamingInputCallRequest r =
            GRPC__TESTING__STREAMING_INPUT_CALL_REQUEST__INIT;
        Grpc__Testing__Payload p = payload_of(sizes[i]);
        r.payload = &p;
        ok = send_pb(st, &r.base);
    }
    svc_stream_close_send(st);
    svc_msg *m = NULL;
    ok = ok && EXPECT_CODE(svc_stream_recv(st, &m), SVC_OK);
    Grpc__Testing__StreamingInputCallResponse *r =
        ok ? unpack(m, &grpc__testing__streaming_input_call_response__descriptor) : NULL;
    ok = ok && r && EXPECT(r->aggregated_payload_size == 74922, "sum %d",
                           (int)r->aggregated_payload_size);
    unpacked_free(r);
    svc_msg_free(m);
    ok = ends_with(st, SVC_OK, NULL, NULL) && ok;
    svc_stream_free(st);
    return ok;
}

static bool server_streaming(void)
{
    static const int sizes[] = {31415, 9, 2653, 58979, 0};
    Grpc__Testing__ResponseParameters params[4], *ptrs[4];
    Grpc__Testing__Payload p;
    Grpc__Testing__StreamingOutputCallRequest r = out_request(sizes, params, ptrs, &p, 0);
    svc_stream *st;
    if (!EXPECT_CODE(svc_client_stream(cli, SVC "StreamingOutputCall", NULL, &st), SVC_OK))
        return false;
    bool ok = send_pb(st, &r.base);
    svc_stream_close_send(st);
    for (int i = 0; ok && sizes[i]; i++)
        ok = recv_response(st, sizes[i]);
    ok = ok && ends_with(st, SVC_OK, NULL, NULL);
    svc_stream_free(st);
    return ok;
}

static bool ping_pong(void)
{
    static const int out[] = {31415, 9, 2653, 58979}, in[] = {27182, 8, 1828, 45904};
    svc_stream *st;
    if (!EXPECT_CODE(svc_client_stream(cli, SVC "FullDuplexCall", NULL, &st), SVC_OK))
        return false;
    bool ok = true;
    for (int i = 0; ok && i < 4; i++)
        ok = send_out_request(st, out[i], in[i]) && recv_response(st, out[i]);
    svc_stream_close_send(st);
    ok = ok && ends_with(st, SVC_OK, NULL, NULL);
    svc_stream_free(st);
    return ok;
}

static bool empty_stream(void)
{
    svc_stream *st;
    if (!EXPECT_CODE(svc_client_stream(cli, SVC "FullDuplexCall", NULL, &st), SVC_OK))
        return false;
    svc_stream_close_send(st);
    bool ok = ends_with(st, SVC_OK, NULL, NULL);
    svc_stream_free(st);
    return ok;
}

static bool echoed(const svc_msg *initial, const svc_msg *trailing)
{
    const char *v = svc_msg_md_get(initial, INITIAL_KEY, NULL);
    size_t len = 0;
    const char *t = svc_msg_md_get(trailing, TRAILING_KEY, &len);
    return EXPECT(v && strcmp(v, INITIAL_VALUE) == 0, "initial metadata: %s",
                  v ? v : "(none)") &&
           EXPECT(t && len == 3 && memcmp(t, TRAILING_VALUE, 3) == 0,
                  "trailing metadata: %s%zu bytes", t ? "" : "(none) ", len);
}

static bool custom_metadata(void)
{
    svc_msg *md;
    if (svc_msg_new(&md) != SVC_OK)
        return fail("out of memory");
    svc_msg_md_add(md, INITIAL_KEY, INITIAL_VALUE);
    svc_msg_md_add_bin(md, TRAILING_KEY, TRAILING_VALUE, 3);
    Grpc__Testing__Payload p;
    Grpc__Testing__SimpleRequest req = large_request(&p);
    svc_msg *resp = NULL;
    /* A unary reply carries the headers and the trailers. */
    bool ok = large_reply(unary(&req, false, md, &resp), &resp) && echoed(resp, resp);
    svc_msg_free(resp);

    svc_call_opts o = {.metadata = md};
    svc_stream *st;
    ok = ok && EXPECT_CODE(svc_client_stream(cli, SVC "FullDuplexCall", &o, &st), SVC_OK);
    svc_msg_free(md);
    if (!ok)
        return false;
    ok = send_out_request(st, LARGE, ZEROS) && recv_response(st, LARGE);
    svc_stream_close_send(st);
    svc_msg *trailers = NULL;
    const svc_msg *headers = NULL;
    ok = ok && ends_with(st, SVC_OK, NULL, &trailers) &&
         EXPECT_CODE(svc_stream_headers(st, &headers), SVC_OK) && echoed(headers, trailers);
    svc_msg_free(trailers);
    svc_stream_free(st);
    return ok;
}

static bool status_echo(const char *message)
{
    Grpc__Testing__EchoStatus status = GRPC__TESTING__ECHO_STATUS__INIT;
    status.code = 2;
    status.message = (char *)message;
    Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
    req.response_status = &status;
    svc_msg *resp = NULL;
    svc_code rc = unary(&req, false, NULL, &resp);
    bool ok = EXPECT_CODE(rc, SVC_UNKNOWN) &&
              EXPECT(strcmp(svc_msg_status_message(resp), message) == 0,
                     "status message '%s'", svc_msg_status_message(resp));
    svc_msg_free(resp);

    svc_stream *st;
    if (!ok || !EXPECT_CODE(svc_client_stream(cli, SVC "FullDuplexCall", NULL, &st), SVC_OK))
        return false;
    Grpc__Testing__StreamingOutputCallRequest r = GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
    r.response_status = &status;
    ok = send_pb(st, &r.base);
    svc_stream_close_send(st);
    ok = ok && ends_with(st, SVC_UNKNOWN, message, NULL);
    svc_stream_free(st);
    return ok;
}

static bool status_code_and_message(void)
{
    return status_echo("test status message");
}

static bool special_status_message(void)
{
    return status_echo(SPECIAL);
}

static bool unimplemented(const char *method)
{
    Grpc__Testing__Empty e = GRPC__TESTING__EMPTY__INIT;
    ProtobufCMessage *out = NULL;
    svc_code rc = svc_client_call_pb(cli, method, &e.base, &grpc__testing__empty__descriptor,
                                     &out, NULL);
    unpacked_free(out);
    return EXPECT_CODE(rc, SVC_UNIMPLEMENTED);
}

static bool unimplemented_method(void)
{
    return unimplemented(SVC "UnimplementedCall");
}

static bool unimplemented_service(void)
{
    return unimplemented("grpc.testing.UnimplementedService/UnimplementedCall");
}

static bool cancel_after_begin(void)
{
    svc_stream *st;
    if (!EXPECT_CODE(svc_client_stream(cli, SVC "StreamingInputCall", NULL, &st), SVC_OK))
        return false;
    svc_stream_cancel(st);
    bool ok = ends_with(st, SVC_CANCELLED, NULL, NULL);
    svc_stream_free(st);
    return ok;
}

static bool cancel_after_first_response(void)
{
    svc_stream *st;
    if (!EXPECT_CODE(svc_client_stream(cli, SVC "FullDuplexCall", NULL, &st), SVC_OK))
        return false;
    bool ok = send_out_request(st, 31415, 27182) && recv_response(st, 31415);
    svc_stream_cancel(st);
    ok = ok && ends_with(st, SVC_CANCELLED, NULL, NULL);
    svc_stream_free(st);
    return ok;
}

static bool timeout_on_sleeping_server(void)
{
    svc_call_opts o = {.timeout_ms = 1};
    svc_stream *st;
    if (!EXPECT_CODE(svc_client_stream(cli, SVC "FullDuplexCall", &o, &st), SVC_OK))
        return false;
    send_out_request(st, 0, 27182); /* may fail: the deadline may be past */
    *failure = '\0';
    bool ok = ends_with(st, SVC_DEADLINE_EXCEEDED, NULL, NULL);
    svc_stream_free(st);
    return ok;
}

typedef struct pending {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok;
} pending;

static void on_large(svc_code code, svc_msg *resp, void *ud)
{
    pending *p = ud;
    bool ok = large_reply(code, &resp);
    svc_msg_free(resp);
    pthread_mutex_lock(&p->mu);
    p->done++;
    p->ok += ok;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static bool concurrent_large_unary(void)
{
    enum { N = 100 };
    pending p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    Grpc__Testing__Payload payload;
    Grpc__Testing__SimpleRequest req = large_request(&payload);
    int started = 0;
    for (; started < N; started++) {
        svc_msg *m = pack(&req.base);
        if (!m || svc_client_call_async(cli, SVC "UnaryCall", m, NULL, on_large, &p) != SVC_OK)
            break;
    }
    pthread_mutex_lock(&p.mu);
    while (p.done < started)
        pthread_cond_wait(&p.cv, &p.mu);
    pthread_mutex_unlock(&p.mu);
    return EXPECT(started == N && p.ok == N, "%d of %d calls succeeded", p.ok, N);
}

static bool health_check(void)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "";
    ProtobufCMessage *out = NULL;
    svc_code rc = svc_client_call_pb(cli, "grpc.health.v1.Health/Check", &req.base,
                                     &grpc__health__v1__health_check_response__descriptor, &out,
                                     NULL);
    bool ok = EXPECT_CODE(rc, SVC_OK) &&
              EXPECT(((Grpc__Health__V1__HealthCheckResponse *)out)->status ==
                         GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING,
                     "status %d", (int)((Grpc__Health__V1__HealthCheckResponse *)out)->status);
    unpacked_free(out);
    return ok;
}

static const struct {
    const char *name;
    bool (*run)(void);
} cases[] = {
    {"empty_unary", empty_unary},
    {"large_unary", large_unary},
    {"client_compressed_unary", client_compressed_unary},
    {"server_compressed_unary", server_compressed_unary},
    {"client_streaming", client_streaming},
    {"server_streaming", server_streaming},
    {"ping_pong", ping_pong},
    {"empty_stream", empty_stream},
    {"custom_metadata", custom_metadata},
    {"status_code_and_message", status_code_and_message},
    {"special_status_message", special_status_message},
    {"unimplemented_method", unimplemented_method},
    {"unimplemented_service", unimplemented_service},
    {"cancel_after_begin", cancel_after_begin},
    {"cancel_after_first_response", cancel_after_first_response},
    {"timeout_on_sleeping_server", timeout_on_sleeping_server},
    {"concurrent_large_unary", concurrent_large_unary},
    {"health_check", health_check},
};

static bool selected(const char *list, const char *name)
{
    if (strcmp(list, "all") == 0)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static void usage(void)
{
    fprintf(stderr, "usage: interop_client --server_port=N [--server_host=H] [--use_tls=true "
                    "--ca_file=F [--server_host_override=NAME]] [--test_case=all|a,b,...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = NULL, *test_case = "all", *v;
    bool tls = false;
    svc_client_opts co;
    svc_client_opts_init(&co);
    for (int i = 1; i < argc; i++) {
        if (arg_value(argc, argv, &i, "--server_host", &v))
            host = v;
        else if (arg_value(argc, argv, &i, "--server_port", &v))
            port = v;
        else if (arg_value(argc, argv, &i, "--server_host_override", &v))
            co.tls.server_name = v;
        else if (arg_value(argc, argv, &i, "--use_tls", &v))
            tls = strcmp(v, "true") == 0;
        else if (arg_value(argc, argv, &i, "--ca_file", &v))
            co.tls.ca_file = v;
        else if (arg_value(argc, argv, &i, "--test_case", &v))
            test_case = v;
        else
            usage();
    }
    if (!port)
        usage();
    char target[300];
    snprintf(target, sizeof target, "%s://%s:%s", tls ? "grpcs" : "grpc", host, port);
    svc_ctx *ctx = NULL;
    if (svc_ctx_new(NULL, &ctx) != SVC_OK || svc_client_new(ctx, target, &co, &cli) != SVC_OK) {
        fprintf(stderr, "interop_client: %s\n", svc_last_error());
        return 1;
    }
    int run = 0, failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (!selected(test_case, cases[i].name))
            continue;
        run++;
        *failure = '\0';
        if (cases[i].run()) {
            printf("ok   - %s\n", cases[i].name);
        } else {
            failed++;
            printf("FAIL - %s: %s\n", cases[i].name, failure);
        }
        fflush(stdout);
    }
    printf("%d of %d passed\n", run - failed, run);
    svc_client_free(cli);
    svc_ctx_free(ctx);
    return failed || run == 0 ? 1 : 0;
}
