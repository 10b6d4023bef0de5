/*
 * interop_server — grpc.testing.TestService as gRPC's interop test
 * descriptions (doc/interop-test-descriptions.md) ask of a server, plus
 * grpc.health.v1.Health and server reflection; real gRPC clients run their
 * test cases against it.
 *
 *   interop_server --port=N [--use_tls=true --tls_cert_file=F --tls_key_file=F]
 *
 * The flags are those of gRPC's own interop servers (port 0 picks a free
 * one); the certificate flags are ours, as gRPC's servers embed test
 * certificates. Prints "listening on <url>" once up; stops on SIGINT or
 * SIGTERM. Handlers are written against the common API (svc_call_recv,
 * svc_call_send), so this is also an example of streaming handlers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <unistd.h>

#include "args.h"
#include "grpc/testing/empty.pb-c.h"
#include "grpc/testing/test.pb-c.h"
#include "svc_interop_files.h"

#define ECHO_INITIAL "x-grpc-test-echo-initial"
#define ECHO_TRAILING "x-grpc-test-echo-trailing-bin"

/* ---- messages ---- */

/* Decodes `m` as `d`; NULL after failing the call with the reason. */
static void *decode(svc_call *c, const svc_msg *m, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *pb = NULL;
    if (svc_msg_unpack(m, d, &pb) != SVC_OK) {
        svc_call_fail(c, SVC_INVALID_ARGUMENT, svc_last_error());
        return NULL;
    }
    return pb;
}

static svc_msg *encode(const ProtobufCMessage *pb, bool compress)
{
    svc_msg *m = NULL;
    if (svc_msg_new(&m) != SVC_OK || svc_msg_pack(m, pb, SVC_CT_PROTO) != SVC_OK ||
        svc_msg_set_compress(m, compress) != SVC_OK) {
        svc_msg_free(m);
        return NULL;
    }
    return m;
}

/* A COMPRESSABLE payload of `size` zero bytes (size is the peer's number:
 * bounded by the message limit when sent). */
static uint8_t *zeros(int size, Grpc__Testing__Payload *p)
{
    *p = (Grpc__Testing__Payload)GRPC__TESTING__PAYLOAD__INIT;
    p->type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
    p->body.len = size > 0 ? (size_t)size : 0;
    p->body.data = calloc(1, p->body.len + 1);
    return p->body.data;
}

static bool wanted(const Grpc__Testing__BoolValue *b)
{
    return b && b->value;
}

/* ---- metadata and status, as the test cases check them ---- */

/* custom_metadata: the initial value comes back in the response headers. */
static void echo_initial(svc_call *c)
{
    const char *v = svc_msg_md_get(svc_call_request(c), ECHO_INITIAL, NULL);
    if (v)
        svc_call_reply_md(c, ECHO_INITIAL, v);
}

/* Ends the call with `code`/`message` and the trailing metadata echoed. */
static void finish(svc_call *c, svc_code code, const char *message)
{
    svc_msg *end = NULL;
    if (svc_msg_new(&end) != SVC_OK || svc_msg_set_status(end, code, message) != SVC_OK) {
        svc_msg_free(end);
        svc_call_fail(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    size_t len;
    const char *v = svc_msg_md_get(svc_call_request(c), ECHO_TRAILING, &len);
    if (v)
        svc_msg_md_add_bin(end, ECHO_TRAILING, v, len);
    svc_call_reply(c, end);
}

/* status_code_and_message: a request may ask for the status it gets. */
static bool echo_status(svc_call *c, const Grpc__Testing__EchoStatus *st)
{
    if (!st || st->code == 0)
        return false;
    finish(c, (svc_code)st->code, st->message);
    return true;
}

/* client_compressed_unary: a request says whether it should have come
 * compressed; the server checks, so that a client not compressing is
 * caught (INVALID_ARGUMENT, the probe the test case starts with). */
static bool compression_as_expected(svc_call *c, const svc_msg *m,
                                    const Grpc__Testing__BoolValue *expect)
{
    if (!expect || expect->value == svc_msg_was_compressed(m))
        return true;
    svc_call_fail(c, SVC_INVALID_ARGUMENT,
                  expect->value ? "expected a compressed request" : "expected no compression");
    return false;
}

/* Sends the responses a StreamingOutputCallRequest asks for. */
static bool send_responses(svc_call *c, const Grpc__Testing__StreamingOutputCallRequest *req)
{
    for (size_t i = 0; i < req->n_response_parameters; i++) {
        const Grpc__Testing__ResponseParameters *p = req->response_parameters[i];
        if (p->interval_us > 0)
            usleep((useconds_t)p->interval_us);
        Grpc__Testing__StreamingOutputCallResponse out =
            GRPC__TESTING__STREAMING_OUTPUT_CALL_RESPONSE__INIT;
        Grpc__Testing__Payload payload;
        uint8_t *body = zeros(p->size, &payload);
        out.payload = &payload;
        svc_msg *m = body ? encode(&out.base, wanted(p->compressed)) : NULL;
        free(body);
        svc_code rc = m ? svc_call_send(c, m) : SVC_RESOURCE_EXHAUSTED;
        if (rc != SVC_OK) {
            svc_call_fail(c, rc, "sending a response failed");
            return false;
        }
    }
    return true;
}

/* ---- TestService ---- */

static void empty_call(svc_call *c, void *ud)
{
    (void)ud;
    echo_initial(c);
    finish(c, SVC_OK, NULL);
}

static void unary_call(svc_call *c, void *ud)
{
    (void)ud;
    const svc_msg *m = svc_call_request(c);
    Grpc__Testing__SimpleRequest *req = decode(c, m, &grpc__testing__simple_request__descriptor);
    if (!req)
        return;
    echo_initial(c);
    if (compression_as_expected(c, m, req->expect_compressed) &&
        !echo_status(c, req->response_status)) {
        Grpc__Testing__SimpleResponse out = GRPC__TESTING__SIMPLE_RESPONSE__INIT;
        Grpc__Testing__Payload payload;
        uint8_t *body = zeros(req->response_size, &payload);
        out.payload = &payload;
        svc_msg *resp = body ? encode(&out.base, wanted(req->response_compressed)) : NULL;
        free(body);
        size_t len;
        const char *v = svc_msg_md_get(m, ECHO_TRAILING, &len);
        if (resp && v)
            svc_msg_md_add_bin(resp, ECHO_TRAILING, v, len);
        if (resp)
            svc_call_reply(c, resp);
        else
            svc_call_fail(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
}

static void streaming_output_call(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *m = NULL;
    svc_code rc = svc_call_recv(c, &m);
    if (rc != SVC_OK || !m) {
        svc_call_fail(c, rc ? rc : SVC_INVALID_ARGUMENT, "no request");
        return;
    }
    Grpc__Testing__StreamingOutputCallRequest *req =
        decode(c, m, &grpc__testing__streaming_output_call_request__descriptor);
    svc_msg_free(m);
    if (!req)
        return;
    echo_initial(c);
    if (!echo_status(c, req->response_status) && send_responses(c, req))
        finish(c, SVC_OK, NULL);
    protobuf_c_message_free_unpacked(&req->base, NULL);
}

static void streaming_input_call(svc_call *c, void *ud)
{
    (void)ud;
    echo_initial(c);
    int32_t total = 0;
    svc_msg *m = NULL;
    svc_code rc;
    while ((rc = svc_call_recv(c, &m)) == SVC_OK && m) {
        Grpc__Testing__StreamingInputCallRequest *req =
            decode(c, m, &grpc__testing__streaming_input_call_request__descriptor);
        bool ok = req && compression_as_expected(c, m, req->expect_compressed);
        if (ok && req->payload)
            total += (int32_t)req->payload->body.len;
        if (req)
            protobuf_c_message_free_unpacked(&req->base, NULL);
        svc_msg_free(m);
        if (!ok)
            return;
    }
    if (rc != SVC_OK) {
        svc_call_fail(c, rc, "the client went away");
        return;
    }
    Grpc__Testing__StreamingInputCallResponse out =
        GRPC__TESTING__STREAMING_INPUT_CALL_RESPONSE__INIT;
    out.aggregated_payload_size = total;
    svc_msg *resp = encode(&out.base, false);
    if (resp)
        svc_call_reply(c, resp); /* a client-streaming reply: the one message */
    else
        svc_call_fail(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
}

/* Answers one StreamingOutputCallRequest (taken); false once the call
 * has been answered. */
static bool respond(svc_call *c, Grpc__Testing__StreamingOutputCallRequest *req)
{
    bool ok = !echo_status(c, req->response_status) && send_responses(c, req);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return ok;
}

/* Full duplex answers each request as it comes; half duplex (`ud` set)
 * reads them all first. */
static void duplex_call(svc_call *c, void *ud)
{
    bool half = ud != NULL;
    echo_initial(c);
    Grpc__Testing__StreamingOutputCallRequest **held = NULL;
    size_t n_held = 0;
    svc_msg *m = NULL;
    svc_code rc;
    bool ok = true;
    while (ok && (rc = svc_call_recv(c, &m)) == SVC_OK && m) {
        Grpc__Testing__StreamingOutputCallRequest *req =
            decode(c, m, &grpc__testing__streaming_output_call_request__descriptor);
        svc_msg_free(m);
        if (!req) {
            ok = false; /* answered by decode */
        } else if (!half) {
            ok = respond(c, req);
        } else {
            void *more = realloc(held, (n_held + 1) * sizeof *held);
            if (more) {
                held = more;
                held[n_held++] = req;
            } else {
                protobuf_c_message_free_unpacked(&req->base, NULL);
                svc_call_fail(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
                ok = false;
            }
        }
    }
    for (size_t i = 0; i < n_held; i++) {
        if (ok)
            ok = respond(c, held[i]);
        else
            protobuf_c_message_free_unpacked(&held[i]->base, NULL);
    }
    free(held);
    if (ok && rc != SVC_OK)
        svc_call_fail(c, rc, "the client went away");
    else if (ok)
        finish(c, SVC_OK, NULL);
}

static int serve(int port, const svc_listen_opts *lo)
{
    svc_ctx *ctx = NULL;
    svc_server *srv = NULL;
    svc_handler_opts server_streaming = {.kind = SVC_SERVER_STREAMING};
    svc_handler_opts client_streaming = {.kind = SVC_CLIENT_STREAMING};
    svc_handler_opts bidi = {.kind = SVC_BIDI_STREAMING};
    svc_code rc = svc_ctx_new(NULL, &ctx);
    if (rc == SVC_OK)
        rc = svc_server_new(ctx, &srv);
#define HANDLE(method, fn, ud, opts)                                                           \
    if (rc == SVC_OK)                                                                          \
    rc = svc_server_handle_ex(srv, "grpc.testing.TestService/" method, fn, ud, opts)
    HANDLE("EmptyCall", empty_call, NULL, NULL);
    HANDLE("UnaryCall", unary_call, NULL, NULL);
    HANDLE("StreamingOutputCall", streaming_output_call, NULL, &server_streaming);
    HANDLE("StreamingInputCall", streaming_input_call, NULL, &client_streaming);
    HANDLE("FullDuplexCall", duplex_call, NULL, &bidi);
    HANDLE("HalfDuplexCall", duplex_call, "half", &bidi);
#undef HANDLE
    if (rc == SVC_OK)
        rc = svc_server_serve_health(srv);
    if (rc == SVC_OK)
        rc = svc_server_serve_reflection(srv, &svc_interop_files, 1);
    char url[64];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", lo->tls.cert_file ? "grpcs" : "grpc", port);
    if (rc == SVC_OK)
        rc = svc_server_listen_ex(srv, url, lo);
    if (rc == SVC_OK) {
        printf("listening on %s\n", svc_server_listener_url(srv, 0));
        fflush(stdout);
        wait_for_signal();
        svc_server_shutdown(srv, 2000);
    } else {
        fprintf(stderr, "interop_server: %s\n", svc_last_error());
    }
    svc_server_free(srv);
    svc_ctx_free(ctx);
    return rc == SVC_OK ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: interop_server --port=N [--use_tls=true --tls_cert_file=F "
                    "--tls_key_file=F]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int port = 0;
    bool tls = false;
    svc_listen_opts lo = {0};
    const char *v;
    for (int i = 1; i < argc; i++) {
        if (arg_value(argc, argv, &i, "--port", &v))
            port = atoi(v);
        else if (arg_value(argc, argv, &i, "--use_tls", &v))
            tls = strcmp(v, "true") == 0;
        else if (arg_value(argc, argv, &i, "--tls_cert_file", &v))
            lo.tls.cert_file = v;
        else if (arg_value(argc, argv, &i, "--tls_key_file", &v))
            lo.tls.key_file = v;
        else
            usage();
    }
    if (tls != (lo.tls.cert_file && lo.tls.key_file))
        usage();
    block_signals();
    return serve(port, &lo);
}
