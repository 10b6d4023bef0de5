/*
 * Server reflection (svccomm/reflection.h) end to end, over inproc and gRPC
 * on 127.0.0.1, under both of its names (v1 and v1alpha): which services
 * are listed, which file each kind of name is found in and which imports
 * come with it, NOT_FOUND for unknown names, extensions, requests of no
 * kind, bad bytes on the stream, JSON, and the refusals of
 * svc_server_serve_reflection itself. The descriptor set is
 * tests/integration/proto/reflection_test.proto's (with helloworld.proto).
 * gRPC C++'s own reflection client is run against real servers in
 * tests/interop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "../unit/cmocka_all.h"
#include "codec/pb_wire.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "svc_test_reflection_files.h"
#include "test_service.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest request;
typedef Grpc__Reflection__V1__ServerReflectionResponse response;
#define REQ(kind) GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##kind
#define RESP(kind) GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##kind

static const char *const methods[] = {
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
};

static svc_ctx *ctx;
static svc_server *srv;
static svc_client *clients[2]; /* inproc, then gRPC */
static size_t n_clients;

static int setup(void **state)
{
    (void)state;
    assert_int_equal(svc_ctx_new(NULL, &ctx), SVC_OK);
    assert_int_equal(svc_server_new(ctx, &srv), SVC_OK);
    test_service_register(srv);
    assert_int_equal(svc_server_serve_health(srv), SVC_OK);
    assert_int_equal(svc_server_serve_reflection(srv, &svc_test_reflection_files, 1), SVC_OK);
    assert_int_equal(svc_server_listen(srv, "inproc://reflection"), SVC_OK);
    assert_int_equal(svc_client_new(ctx, "inproc://reflection", NULL, &clients[n_clients++]),
                     SVC_OK);
    if (svc_server_listen(srv, "grpc://127.0.0.1:0") == SVC_OK) /* a build without gRPC */
        assert_int_equal(svc_client_new(ctx, svc_server_listener_url(srv, 1), NULL,
                                        &clients[n_clients++]),
                         SVC_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_clients; i++)
        svc_client_free(clients[i]);
    svc_server_free(srv);
    svc_ctx_free(ctx);
    return 0;
}

static svc_msg *packed(const request *r)
{
    svc_msg *m;
    assert_int_equal(svc_msg_new(&m), SVC_OK);
    assert_int_equal(svc_msg_pack(m, &r->base, NULL), SVC_OK);
    return m;
}

/* Sends the requests on one stream, then half-closes; returns the
 * responses (free each with protobuf_c_message_free_unpacked) and checks
 * that the stream ends OK. */
static void ask_all(svc_client *cli, const char *method, const request *const *reqs, size_t n,
                    response **out)
{
    svc_stream *st;
    svc_call_opts o = {.timeout_ms = 10000};
    assert_int_equal(svc_client_stream(cli, method, &o, &st), SVC_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(svc_stream_send(st, packed(reqs[i])), SVC_OK);
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    for (size_t i = 0; i < n; i++) {
        svc_msg *m = NULL;
        assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
        assert_non_null(m);
        ProtobufCMessage *pb;
        assert_int_equal(svc_msg_unpack(m, &grpc__reflection__v1__server_reflection_response__descriptor,
                                        &pb),
                         SVC_OK);
        out[i] = (response *)pb;
        svc_msg_free(m);
    }
    svc_msg *m = NULL;
    assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
    assert_null(m);
    assert_int_equal(svc_stream_finish(st, NULL), SVC_OK);
    svc_stream_free(st);
}

/* Whether the response's original_request is `req`, byte for byte. */
static void assert_echoed(const response *r, const request *req)
{
    assert_non_null(r->original_request);
    size_t n = protobuf_c_message_get_packed_size(&req->base);
    assert_int_equal(protobuf_c_message_get_packed_size(&r->original_request->base), n);
    uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
    protobuf_c_message_pack(&req->base, a);
    protobuf_c_message_pack(&r->original_request->base, b);
    assert_memory_equal(a, b, n);
    free(a);
    free(b);
}

/* Runs `check` on the answer to `req` over every transport and name. */
static void for_each_answer(const request *req, void (*check)(const response *r, void *ud),
                            void *ud)
{
    for (size_t c = 0; c < n_clients; c++) {
        for (size_t v = 0; v < 2; v++) {
            response *r;
            ask_all(clients[c], methods[v], &req, 1, &r);
            assert_string_equal(r->valid_host, req->host);
            assert_echoed(r, req);
            check(r, ud);
            protobuf_c_message_free_unpacked(&r->base, NULL);
        }
    }
}

/* The name (field 1) of a FileDescriptorProto. */
static char *file_name(ProtobufCBinaryData b)
{
    svc_pb_reader rd = {b.data, b.data + b.len};
    svc_pb_field f;
    static char name[256];
    name[0] = '\0';
    while (svc_pb_read(&rd, &f) > 0)
        if (f.number == 1 && f.wire == SVC_PB_BYTES)
            snprintf(name, sizeof name, "%.*s", (int)f.len, (const char *)f.data);
    return name;
}

/* ud: the file names wanted, NULL-terminated, in order. */
static void expect_files(const response *r, void *ud)
{
    const char *const *want = ud;
    assert_int_equal(r->message_response_case, RESP(FILE_DESCRIPTOR_RESPONSE));
    size_t n = 0;
    while (want[n])
        n++;
    assert_int_equal(r->file_descriptor_response->n_file_descriptor_proto, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(file_name(r->file_descriptor_response->file_descriptor_proto[i]),
                            want[i]);
}

typedef struct error_want {
    int code;
    const char *message;
} error_want;

static void expect_error(const response *r, void *ud)
{
    const error_want *w = ud;
    assert_int_equal(r->message_response_case, RESP(ERROR_RESPONSE));
    assert_int_equal(r->error_response->error_code, w->code);
    assert_string_equal(r->error_response->error_message, w->message);
}

static request symbol_request(const char *symbol)
{
    request r = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    r.host = "localhost:50051";
    r.message_request_case = REQ(FILE_CONTAINING_SYMBOL);
    r.file_containing_symbol = (char *)symbol;
    return r;
}

static request file_request(const char *name)
{
    request r = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    r.message_request_case = REQ(FILE_BY_FILENAME);
    r.file_by_filename = (char *)name;
    return r;
}

/* ---- list_services ---- */

static void expect_services(const response *r, void *ud)
{
    const char *const *want = ud;
    assert_int_equal(r->message_response_case, RESP(LIST_SERVICES_RESPONSE));
    const Grpc__Reflection__V1__ListServiceResponse *l = r->list_services_response;
    size_t n = 0;
    for (; want[n]; n++) {
        assert_true(n < l->n_service);
        assert_string_equal(l->service[n]->name, want[n]); /* sorted */
    }
    assert_int_equal(l->n_service, n);
}

static void never_called(svc_call *c, void *ud)
{
    (void)ud;
    svc_call_fail(c, SVC_INTERNAL, "not for calling");
}

static void test_list_services(void **state)
{
    (void)state;
    request req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.host = "example.test";
    req.message_request_case = REQ(LIST_SERVICES);
    req.list_services = "*";
    const char *want[] = {"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                          "grpc.reflection.v1alpha.ServerReflection", "helloworld.Greeter",
                          "test.Echo", "test.Stream", NULL};
    for_each_answer(&req, expect_services, want);
    /* A service added while serving is listed from then on. */
    assert_int_equal(svc_server_handle(srv, "late.Added/Do", never_called, NULL), SVC_OK);
    const char *later[] = {"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                           "grpc.reflection.v1alpha.ServerReflection", "helloworld.Greeter",
                           "late.Added", "test.Echo", "test.Stream", NULL};
    for_each_answer(&req, expect_services, later);
}

/* ---- file_containing_symbol and file_by_filename ---- */

static void test_symbols(void **state)
{
    (void)state;
    const char *reftest[] = {"reflection_test.proto", "helloworld.proto", NULL};
    /* Every kind of name, scoped as protobuf scopes it. */
    const char *symbols[] = {
        "svc.reftest.Outer",          "svc.reftest.Outer.Inner",
        "svc.reftest.Outer.Inner.Color", "svc.reftest.Outer.Inner.RED",
        "svc.reftest.Outer.Inner.color", "svc.reftest.Outer.inner",
        "svc.reftest.Outer.choice",   "svc.reftest.Outer.text",
        "svc.reftest.Outer.nested_ext", "svc.reftest.Level",
        "svc.reftest.HIGH",           "svc.reftest.file_ext",
        "svc.reftest.Echo",           "svc.reftest.Echo.Say",
    };
    for (size_t i = 0; i < sizeof symbols / sizeof *symbols; i++) {
        request req = symbol_request(symbols[i]);
        for_each_answer(&req, expect_files, reftest);
    }
    const char *hello[] = {"helloworld.proto", NULL};
    request req = symbol_request("helloworld.Greeter.SayHello");
    for_each_answer(&req, expect_files, hello);
    /* The library's own services are described too. */
    const char *health[] = {"grpc/health/v1/health.proto", NULL};
    req = symbol_request("grpc.health.v1.Health");
    for_each_answer(&req, expect_files, health);
    const char *alpha[] = {"grpc/reflection/v1alpha/reflection.proto", NULL};
    req = symbol_request("grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo");
    for_each_answer(&req, expect_files, alpha);
}

static void test_files(void **state)
{
    (void)state;
    const char *reftest[] = {"reflection_test.proto", "helloworld.proto", NULL};
    request req = file_request("reflection_test.proto");
    for_each_answer(&req, expect_files, reftest);
    const char *v1[] = {"grpc/reflection/v1/reflection.proto", NULL};
    req = file_request("grpc/reflection/v1/reflection.proto");
    for_each_answer(&req, expect_files, v1);
}

static void test_not_found(void **state)
{
    (void)state;
    error_want symbol = {SVC_NOT_FOUND, "Symbol not found."};
    /* Unknown, unqualified, with protoc's leading dot, a package, empty. */
    const char *unknown[] = {"no.such.Symbol", "Outer", ".svc.reftest.Outer", "svc.reftest",
                             "svc.reftest.Outer.Inner.Color.RED", ""};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        request req = symbol_request(unknown[i]);
        for_each_answer(&req, expect_error, &symbol);
    }
    error_want file = {SVC_NOT_FOUND, "File not found."};
    request req = file_request("nope.proto");
    for_each_answer(&req, expect_error, &file);
}

/* ---- extensions ---- */

static void expect_numbers(const response *r, void *ud)
{
    const char *type = ud;
    assert_int_equal(r->message_response_case, RESP(ALL_EXTENSION_NUMBERS_RESPONSE));
    const Grpc__Reflection__V1__ExtensionNumberResponse *e = r->all_extension_numbers_response;
    assert_string_equal(e->base_type_name, type);
    int sum = 0;
    for (size_t i = 0; i < e->n_extension_number; i++)
        sum += e->extension_number[i];
    assert_int_equal(sum, strcmp(type, "svc.reftest.Outer") == 0 ? 100 + 101 : 0);
}

static void test_extensions(void **state)
{
    (void)state;
    request req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case = REQ(ALL_EXTENSION_NUMBERS_OF_TYPE);
    req.all_extension_numbers_of_type = "svc.reftest.Outer";
    for_each_answer(&req, expect_numbers, req.all_extension_numbers_of_type);
    /* A type without extensions: a proto3 message, as gRPC C++ answers. */
    req.all_extension_numbers_of_type = "helloworld.HelloRequest";
    for_each_answer(&req, expect_numbers, req.all_extension_numbers_of_type);
    error_want type = {SVC_NOT_FOUND, "Type not found."};
    req.all_extension_numbers_of_type = "svc.reftest.Echo"; /* a service */
    for_each_answer(&req, expect_error, &type);

    Grpc__Reflection__V1__ExtensionRequest ext = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
    req.message_request_case = REQ(FILE_CONTAINING_EXTENSION);
    req.file_containing_extension = &ext;
    ext.containing_type = "svc.reftest.Outer";
    const char *reftest[] = {"reflection_test.proto", "helloworld.proto", NULL};
    for (int32_t n = 100; n <= 101; n++) {
        ext.extension_number = n;
        for_each_answer(&req, expect_files, reftest);
    }
    error_want none = {SVC_NOT_FOUND, "Extension not found."};
    ext.extension_number = 150;
    for_each_answer(&req, expect_error, &none);
    ext.containing_type = "no.Such";
    for_each_answer(&req, expect_error, &type);
}

/* ---- requests of no kind, several on one stream, bad bytes, JSON ---- */

static void test_no_kind(void **state)
{
    (void)state;
    request req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    error_want unimplemented = {SVC_UNIMPLEMENTED, ""};
    for_each_answer(&req, expect_error, &unimplemented);
}

static void test_one_stream(void **state)
{
    (void)state;
    request a = symbol_request("helloworld.HelloReply");
    request b = symbol_request("nope");
    request c = file_request("helloworld.proto");
    const request *reqs[] = {&a, &b, &c};
    for (size_t i = 0; i < n_clients; i++) {
        response *r[3];
        ask_all(clients[i], methods[0], reqs, 3, r);
        for (size_t k = 0; k < 3; k++) /* answered in order */
            assert_echoed(r[k], reqs[k]);
        assert_int_equal(r[0]->message_response_case, RESP(FILE_DESCRIPTOR_RESPONSE));
        assert_int_equal(r[1]->message_response_case, RESP(ERROR_RESPONSE));
        assert_int_equal(r[2]->message_response_case, RESP(FILE_DESCRIPTOR_RESPONSE));
        for (size_t k = 0; k < 3; k++)
            protobuf_c_message_free_unpacked(&r[k]->base, NULL);
    }
}

static void test_bad_bytes(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_clients; i++) {
        svc_stream *st;
        svc_call_opts o = {.timeout_ms = 10000};
        assert_int_equal(svc_client_stream(clients[i], methods[1], &o, &st), SVC_OK);
        svc_msg *m;
        assert_int_equal(svc_msg_new_data("\xff\xff\xff", 3, NULL, &m), SVC_OK);
        assert_int_equal(svc_stream_send(st, m), SVC_OK);
        svc_stream_close_send(st);
        m = NULL;
        svc_stream_recv(st, &m);
        assert_null(m);
        assert_int_equal(svc_stream_finish(st, NULL), SVC_INVALID_ARGUMENT);
        svc_stream_free(st);
    }
}

static void test_json(void **state)
{
    (void)state;
    svc_stream *st;
    svc_call_opts o = {.timeout_ms = 10000};
    assert_int_equal(svc_client_stream(clients[0], methods[0], &o, &st), SVC_OK);
    const char *json = "{\"host\":\"h\",\"fileContainingSymbol\":\"nope\"}";
    svc_msg *m;
    assert_int_equal(svc_msg_new_data(json, strlen(json), SVC_CT_JSON, &m), SVC_OK);
    assert_int_equal(svc_stream_send(st, m), SVC_OK);
    assert_int_equal(svc_stream_close_send(st), SVC_OK);
    m = NULL;
    assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
    assert_non_null(m);
    assert_string_equal(svc_msg_content_type(m), SVC_CT_JSON);
    char *text = strndup(svc_msg_data(m), svc_msg_len(m));
    assert_non_null(strstr(text, "\"errorCode\":5"));
    assert_non_null(strstr(text, "\"validHost\":\"h\""));
    free(text);
    svc_msg_free(m);
    assert_int_equal(svc_stream_finish(st, NULL), SVC_OK);
    svc_stream_free(st);
}

/* ---- what svc_server_serve_reflection refuses ---- */

static void test_refusals(void **state)
{
    (void)state;
    assert_int_equal(svc_server_serve_reflection(srv, &svc_test_reflection_files, 1),
                     SVC_ALREADY_EXISTS);
    assert_int_equal(svc_server_serve_reflection(NULL, NULL, 0), SVC_INVALID_ARGUMENT);
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_serve_reflection(s, NULL, 1), SVC_INVALID_ARGUMENT);
    static const uint8_t not_protobuf[] = {0x0a, 0x10, 0x01}; /* a file longer than the set */
    static const uint8_t nameless[] = {0x0a, 0x02, 0x12, 0x00}; /* a file with a package only */
    static const uint8_t nameless_enum[] = {0x0a, 0x0b, 0x0a, 0x03, 'a', '.', 'p', 0x2a, 0x04,
                                        0x12, 0x02, 0x10, 0x01}; /* an enum without a name */
    const svc_pb_files bad[] = {{not_protobuf, sizeof not_protobuf},
                                {nameless, sizeof nameless},
                                {nameless_enum, sizeof nameless_enum}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(svc_server_serve_reflection(s, &bad[i], 1), SVC_INVALID_ARGUMENT);
        assert_true(strlen(svc_last_error()) > 0);
    }
    /* The same set twice: the first of each file is kept, and none fails. */
    const svc_pb_files twice[] = {svc_test_reflection_files, svc_test_reflection_files};
    assert_int_equal(svc_server_serve_reflection(s, twice, 2), SVC_OK);
    svc_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_services), cmocka_unit_test(test_symbols),
        cmocka_unit_test(test_files),         cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_extensions),    cmocka_unit_test(test_no_kind),
        cmocka_unit_test(test_one_stream),    cmocka_unit_test(test_bad_bytes),
        cmocka_unit_test(test_json),          cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
