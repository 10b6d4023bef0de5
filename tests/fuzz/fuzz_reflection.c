/*
 * libFuzzer target for server reflection's request handling: the bytes a
 * client sends on a ServerReflectionInfo stream, decoded and answered as
 * services/reflection.c answers them (svc_reflection_answer_make over the
 * library's built-in files), and the index over descriptor sets that the
 * answers walk (pb_files.c), fed a set of the fuzzer's.
 *
 * Input: byte 0 even: the rest is requests, each one length byte then that
 * many bytes (a stream's messages). Byte 0 odd: two bytes of set length,
 * that many bytes of FileDescriptorSet, the rest a name asked for every way
 * (file, symbol, extension, extension numbers).
 *
 * Every answer must pack, unpack again, echo the request, and carry each
 * file once and of the right kind; abort() marks a finding. The seeds in
 * tests/fuzz/corpus/reflection are requests of every kind and the built-in
 * set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/pb_files.h"
#include "services/reflection_answer.h"
#include "svc_builtin_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_reflection: %s\n", what);
    abort();
}

static void services(void *src, void (*fn)(const char *service, void *ud), void *ud)
{
    (void)src;
    fn("grpc.reflection.v1.ServerReflection", ud);
    fn("helloworld.Greeter", ud);
    fn("grpc.health.v1.Health", ud);
}

static void check(const svc_reflection_answer *a, const SvcReflection__ServerReflectionRequest *req)
{
    size_t n = protobuf_c_message_get_packed_size(&a->resp.base);
    uint8_t *buf = malloc(n + 1);
    if (!buf || protobuf_c_message_pack(&a->resp.base, buf) != n)
        die("the answer does not pack");
    SvcReflection__ServerReflectionResponse *back =
        svc_reflection__server_reflection_response__unpack(NULL, n, buf);
    if (!back || !back->original_request ||
        back->original_request->message_request_case != req->message_request_case)
        die("the answer does not unpack to one that echoes the request");
    if (back->message_response_case ==
        SVC_REFLECTION__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE) {
        const SvcReflection__FileDescriptorResponse *f = back->file_descriptor_response;
        if (f->n_file_descriptor_proto == 0)
            die("a file answer without files");
        for (size_t i = 0; i < f->n_file_descriptor_proto; i++)
            for (size_t k = 0; k < i; k++)
                if (f->file_descriptor_proto[i].len == f->file_descriptor_proto[k].len &&
                    memcmp(f->file_descriptor_proto[i].data, f->file_descriptor_proto[k].data,
                           f->file_descriptor_proto[i].len) == 0)
                    die("a file twice in one answer");
    }
    if (back->message_response_case == 0)
        die("an answer of no kind");
    svc_reflection__server_reflection_response__free_unpacked(back, NULL);
    free(buf);
}

static void answer(const svc_pb_index *ix, const SvcReflection__ServerReflectionRequest *req)
{
    svc_reflection_answer a;
    if (svc_reflection_answer_make(ix, req, services, NULL, &a) == SVC_OK)
        check(&a, req);
    svc_reflection_answer_clear(&a);
}

static void requests(const svc_pb_index *ix, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t len = p[0] < n - 1 ? p[0] : n - 1;
        SvcReflection__ServerReflectionRequest *req =
            svc_reflection__server_reflection_request__unpack(NULL, len, p + 1);
        if (req) {
            answer(ix, req);
            svc_reflection__server_reflection_request__free_unpacked(req, NULL);
        }
        p += 1 + len;
        n -= 1 + len;
    }
}

/* The name asked for every way, in a set of the fuzzer's. */
static void lookups(const uint8_t *p, size_t n)
{
    if (n < 2)
        return;
    size_t set_len = (size_t)p[0] << 8 | p[1];
    p += 2;
    n -= 2;
    if (set_len > n)
        set_len = n;
    svc_pb_files set = {p, set_len};
    svc_pb_index *ix;
    if (svc_pb_index_new(&set, 1, &ix) != SVC_OK)
        return;
    char *name = strndup((const char *)p + set_len, n - set_len);
    if (!name)
        die("out of memory");
    SvcReflection__ServerReflectionRequest req = SVC_REFLECTION__SERVER_REFLECTION_REQUEST__INIT;
    SvcReflection__ExtensionRequest ext = SVC_REFLECTION__EXTENSION_REQUEST__INIT;
    ext.containing_type = name;
    ext.extension_number = 100;
    req.message_request_case = SVC_REFLECTION__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = name;
    answer(ix, &req);
    req.message_request_case =
        SVC_REFLECTION__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = name;
    answer(ix, &req);
    req.message_request_case =
        SVC_REFLECTION__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
    req.file_containing_extension = &ext;
    answer(ix, &req);
    req.message_request_case =
        SVC_REFLECTION__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
    req.all_extension_numbers_of_type = name;
    answer(ix, &req);
    free(name);
    svc_pb_index_free(ix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static svc_pb_index *builtin;
    if (!builtin && svc_pb_index_new(&svc_builtin_files, 1, &builtin) != SVC_OK)
        die("the built-in set does not index");
    if (size == 0)
        return 0;
    if (data[0] & 1)
        lookups(data + 1, size - 1);
    else
        requests(builtin, data + 1, size - 1);
    return 0;
}
