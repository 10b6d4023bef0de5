/*
 * Answers to ServerReflectionInfo requests (reflection_answer.h), shaped as
 * gRPC C++'s ProtoServerReflection shapes them, since tools are tested
 * against it: the same error codes and messages, the file before its
 * imports, each file once per response.
 */
#include "reflection_answer.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define REQ(kind) SVC_REFLECTION__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##kind
#define RESP(kind) SVC_REFLECTION__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##kind

static void fail(svc_reflection_answer *a, svc_code code, const char *message)
{
    a->error.error_code = (int32_t)code;
    a->error.error_message = (char *)message;
    a->resp.message_response_case = RESP(ERROR_RESPONSE);
    a->resp.error_response = &a->error;
}

/* Appends `f` and, depth first, what it imports, skipping files already
 * there (imports may share files, or, in a hostile set, loop). */
static svc_code add_file(svc_reflection_answer *a, const svc_pb_file *f)
{
    for (size_t i = 0; i < a->files.n_file_descriptor_proto; i++)
        if (a->files.file_descriptor_proto[i].data == f->data)
            return SVC_OK;
    size_t n = a->files.n_file_descriptor_proto;
    ProtobufCBinaryData *v = realloc(a->files.file_descriptor_proto, (n + 1) * sizeof *v);
    if (!v)
        return svc_fail_oom();
    v[n] = (ProtobufCBinaryData){.len = f->len, .data = (uint8_t *)f->data};
    a->files.file_descriptor_proto = v;
    a->files.n_file_descriptor_proto = n + 1;
    svc_code rc = SVC_OK;
    for (size_t i = 0; rc == SVC_OK && i < f->n_deps; i++)
        rc = add_file(a, f->deps[i]);
    return rc;
}

static svc_code answer_file(svc_reflection_answer *a, const svc_pb_file *f, const char *missing)
{
    if (!f) {
        fail(a, SVC_NOT_FOUND, missing);
        return SVC_OK;
    }
    a->resp.message_response_case = RESP(FILE_DESCRIPTOR_RESPONSE);
    a->resp.file_descriptor_response = &a->files;
    return add_file(a, f);
}

static svc_code answer_extension(svc_reflection_answer *a, const svc_pb_index *ix,
                                 const SvcReflection__ExtensionRequest *e)
{
    if (!e || !svc_pb_index_is_message(ix, e->containing_type)) {
        fail(a, SVC_NOT_FOUND, "Type not found.");
        return SVC_OK;
    }
    return answer_file(a, svc_pb_index_extension(ix, e->containing_type, e->extension_number),
                       "Extension not found.");
}

static svc_code answer_numbers(svc_reflection_answer *a, const svc_pb_index *ix,
                               const char *type)
{
    if (!svc_pb_index_is_message(ix, type)) {
        fail(a, SVC_NOT_FOUND, "Type not found.");
        return SVC_OK;
    }
    size_t n = svc_pb_index_extension_numbers(ix, type, NULL, 0);
    if (n && !(a->numbers.extension_number = calloc(n, sizeof(int32_t))))
        return svc_fail_oom();
    a->numbers.n_extension_number = svc_pb_index_extension_numbers(
        ix, type, a->numbers.extension_number, n);
    a->numbers.base_type_name = (char *)type;
    a->resp.message_response_case = RESP(ALL_EXTENSION_NUMBERS_RESPONSE);
    a->resp.all_extension_numbers_response = &a->numbers;
    return SVC_OK;
}

typedef struct names {
    char **v;
    size_t n;
    bool oom;
} names;

static void collect(const char *service, void *ud)
{
    names *ns = ud;
    char **v = ns->oom ? NULL : realloc(ns->v, (ns->n + 1) * sizeof *v);
    char *copy = v ? strdup(service) : NULL;
    if (v)
        ns->v = v;
    if (!copy) {
        ns->oom = true;
        return;
    }
    ns->v[ns->n++] = copy;
}

static int by_name(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static svc_code answer_services(svc_reflection_answer *a, svc_reflection_services_fn services,
                                void *src)
{
    names ns = {0};
    services(src, collect, &ns);
    a->names = ns.v;
    a->list.n_service = ns.n; /* what clear frees, even after an OOM */
    if (ns.oom)
        return svc_fail_oom();
    qsort(ns.v, ns.n, sizeof *ns.v, by_name);
    a->services = calloc(ns.n + 1, sizeof *a->services);
    a->list.service = calloc(ns.n + 1, sizeof *a->list.service);
    if (!a->services || !a->list.service)
        return svc_fail_oom();
    for (size_t i = 0; i < ns.n; i++) {
        svc_reflection__service_response__init(&a->services[i]);
        a->services[i].name = ns.v[i];
        a->list.service[i] = &a->services[i];
    }
    a->resp.message_response_case = RESP(LIST_SERVICES_RESPONSE);
    a->resp.list_services_response = &a->list;
    return SVC_OK;
}

/* protobuf-c keeps a field numbered 0 (its tag in two bytes) as unknown,
 * and would pack it into original_request, which no client could read. */
static bool has_field_zero(const ProtobufCMessage *m)
{
    for (unsigned i = 0; m && i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return true;
    return false;
}

svc_code svc_reflection_answer_make(const svc_pb_index *ix,
                                    const SvcReflection__ServerReflectionRequest *req,
                                    svc_reflection_services_fn services, void *src,
                                    svc_reflection_answer *a)
{
    memset(a, 0, sizeof *a);
    svc_reflection__server_reflection_response__init(&a->resp);
    svc_reflection__file_descriptor_response__init(&a->files);
    svc_reflection__extension_number_response__init(&a->numbers);
    svc_reflection__list_service_response__init(&a->list);
    svc_reflection__error_response__init(&a->error);
    if (has_field_zero(&req->base) ||
        (req->message_request_case == REQ(FILE_CONTAINING_EXTENSION) &&
         has_field_zero((const ProtobufCMessage *)req->file_containing_extension)))
        return svc_fail(SVC_INVALID_ARGUMENT, "a request with a field numbered 0");
    a->resp.valid_host = req->host;
    a->resp.original_request = (SvcReflection__ServerReflectionRequest *)req;
    switch (req->message_request_case) {
    case REQ(FILE_BY_FILENAME):
        return answer_file(a, svc_pb_index_file(ix, req->file_by_filename), "File not found.");
    case REQ(FILE_CONTAINING_SYMBOL):
        return answer_file(a, svc_pb_index_symbol(ix, req->file_containing_symbol),
                           "Symbol not found.");
    case REQ(FILE_CONTAINING_EXTENSION):
        return answer_extension(a, ix, req->file_containing_extension);
    case REQ(ALL_EXTENSION_NUMBERS_OF_TYPE):
        return answer_numbers(a, ix, req->all_extension_numbers_of_type);
    case REQ(LIST_SERVICES):
        return answer_services(a, services, src);
    default: /* none set, or one from a later version of the protocol */
        fail(a, SVC_UNIMPLEMENTED, "");
        return SVC_OK;
    }
}

void svc_reflection_answer_clear(svc_reflection_answer *a)
{
    for (size_t i = 0; i < a->list.n_service; i++)
        free(a->names[i]);
    free(a->names);
    free(a->services);
    free(a->list.service);
    free(a->files.file_descriptor_proto);
    free(a->numbers.extension_number);
    memset(a, 0, sizeof *a);
}
