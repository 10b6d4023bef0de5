/*
 * grpc.reflection.v1 (and v1alpha) ServerReflectionInfo over the common API,
 * so every transport with bidirectional streams serves it.
 *
 * The stream is a loop on a worker: one response for each request, in
 * order, until the client half-closes. The index of .proto files is built
 * once and only read afterwards, so streams share it without a lock; the
 * server frees it when it is destroyed, after its last call.
 */
#include <stdlib.h>
#include <string.h>
#include <svccomm/codec.h>
#include <svccomm/reflection.h>

#include "core/call.h"
#include "core/error.h"
#include "pb_files.h"
#include "reflection_answer.h"
#include "svc_builtin_files.h"

/* A stream waiting for a request holds a worker: one that sends none for
 * this long gives it back (tools send their requests at once). */
#define IDLE_NS (60 * SVC_NSEC_PER_SEC)

static void server_services(void *src, void (*fn)(const char *service, void *ud), void *ud)
{
    svc_server_each_service(src, fn, ud);
}

/* Answers the request `m` (taken) on the stream. */
static svc_code answer(svc_call *c, const svc_pb_index *ix, svc_msg *m)
{
    const char *ct = svc_msg_content_type(m);
    ct = ct && strcmp(ct, SVC_CT_JSON) == 0 ? SVC_CT_JSON : SVC_CT_PROTO;
    ProtobufCMessage *pb = NULL;
    svc_code rc = svc_msg_unpack(m, &svc_reflection__server_reflection_request__descriptor, &pb);
    svc_msg_free(m);
    if (rc != SVC_OK)
        return rc;
    svc_reflection_answer a;
    svc_msg *out = NULL;
    rc = svc_reflection_answer_make(ix, (SvcReflection__ServerReflectionRequest *)pb,
                                    server_services, c->server, &a);
    if (rc == SVC_OK)
        rc = svc_msg_new(&out);
    if (rc == SVC_OK)
        rc = svc_msg_pack(out, &a.resp.base, ct);
    svc_reflection_answer_clear(&a);
    protobuf_c_message_free_unpacked(pb, NULL);
    if (rc != SVC_OK) {
        svc_msg_free(out);
        return rc;
    }
    return svc_call_send(c, out);
}

static void reflection_info(svc_call *c, void *ud)
{
    const svc_pb_index *ix = ud;
    for (;;) {
        svc_msg *m = NULL;
        svc_code rc = svc_flow_recv(c->flow, &m, svc_now() + IDLE_NS);
        if (rc == SVC_DEADLINE_EXCEEDED && !svc_call_cancelled(c)) {
            svc_call_fail(c, SVC_UNAVAILABLE, "reflection stream idle for 60 s");
            return;
        }
        if (rc == SVC_OK && !m) { /* the client is done */
            svc_call_reply(c, NULL);
            return;
        }
        if (rc == SVC_OK)
            rc = answer(c, ix, m);
        if (rc != SVC_OK) { /* a bad request, or the call ended */
            svc_call_fail(c, rc, svc_last_error());
            return;
        }
    }
}

static void free_index(void *ix)
{
    svc_pb_index_free(ix);
}

svc_code svc_server_serve_reflection(svc_server *s, const svc_pb_files *sets, size_t n_sets)
{
    if (!s || (n_sets && !sets))
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_server_serve_reflection: missing argument");
    /* The application's sets first: where names clash, its files win. */
    svc_pb_files *all = malloc((n_sets + 1) * sizeof *all);
    if (!all)
        return svc_fail_oom();
    if (n_sets)
        memcpy(all, sets, n_sets * sizeof *all);
    all[n_sets] = svc_builtin_files;
    svc_pb_index *ix = NULL;
    svc_code rc = svc_pb_index_new(all, n_sets + 1, &ix);
    free(all);
    if (rc != SVC_OK)
        return rc;
    rc = svc_server_keep(s, ix, free_index);
    if (rc != SVC_OK) {
        svc_pb_index_free(ix);
        return rc;
    }
    svc_handler_opts bidi = {.kind = SVC_BIDI_STREAMING};
    rc = svc_server_handle_ex(s, "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                              reflection_info, ix, &bidi);
    if (rc == SVC_OK)
        rc = svc_server_handle_ex(s,
                                  "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                  reflection_info, ix, &bidi);
    return rc;
}
