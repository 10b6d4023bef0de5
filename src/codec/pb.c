/* protobuf-c messages in svc_msg payloads, binary or JSON by content type. */
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "content_type.h"
#include "core/call.h"
#include "core/error.h"
#include "core/msg.h"

svc_code svc_msg_pack(svc_msg *m, const ProtobufCMessage *pb, const char *content_type)
{
    if (!m || !pb)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_msg_pack: missing argument");
    svc_ct_kind kind = svc_ct_classify(content_type);
    if (kind == SVC_CT_KIND_OTHER)
        return svc_fail(SVC_INVALID_ARGUMENT, "cannot encode protobuf as '%s'", content_type);
    svc_code rc;
    if (kind == SVC_CT_KIND_JSON) {
        char *data;
        size_t len;
        rc = svc_pb_to_json(pb, 0, &data, &len);
        if (rc == SVC_OK)
            rc = svc_msg_set_data_owned(m, data, len, free);
    } else {
        void *data;
        rc = svc_msg_alloc_data(m, protobuf_c_message_get_packed_size(pb), &data);
        if (rc == SVC_OK)
            protobuf_c_message_pack(pb, data);
        content_type = content_type ? content_type : SVC_CT_PROTO;
    }
    return rc ? rc : svc_msg_set_content_type(m, content_type);
}

svc_code svc_msg_unpack(const svc_msg *m, const ProtobufCMessageDescriptor *d,
                        ProtobufCMessage **out)
{
    if (!m || !d || !out)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_msg_unpack: missing argument");
    *out = NULL;
    const char *data = svc_msg_data(m);
    size_t len = svc_msg_len(m);
    switch (svc_ct_classify(m->content_type)) {
    case SVC_CT_KIND_JSON:
        if (len == 0)
            break; /* an empty JSON body means "all defaults" */
        return svc_pb_from_json(d, data, len, 0, out);
    case SVC_CT_KIND_OTHER:
        return svc_fail(SVC_INVALID_ARGUMENT, "cannot decode %s from content type '%s'", d->name,
                        m->content_type);
    default:
        break;
    }
    *out = protobuf_c_message_unpack(d, NULL, len, (const uint8_t *)data);
    if (!*out)
        return svc_fail(SVC_INVALID_ARGUMENT, "payload is not a valid %s protobuf message", d->name);
    return SVC_OK;
}

svc_code svc_call_request_pb(const svc_call *c, const ProtobufCMessageDescriptor *d,
                             ProtobufCMessage **out)
{
    if (!c)
        return svc_fail(SVC_INVALID_ARGUMENT, "no call");
    return svc_msg_unpack(c->req, d, out);
}

/* Replies speak the request's language: JSON for JSON and for requests
 * without a body (REST GETs), the request's binary type otherwise. */
static const char *reply_content_type(const svc_msg *req)
{
    switch (svc_ct_classify(req->content_type)) {
    case SVC_CT_KIND_PROTO:
        return req->content_type;
    case SVC_CT_KIND_NONE:
        return svc_msg_len(req) ? SVC_CT_PROTO : SVC_CT_JSON;
    default:
        return SVC_CT_JSON;
    }
}

svc_code svc_call_reply_pb(svc_call *c, const ProtobufCMessage *pb)
{
    if (!c)
        return svc_fail(SVC_INVALID_ARGUMENT, "no call");
    svc_msg *m = NULL;
    svc_code rc = svc_msg_new(&m);
    if (rc == SVC_OK)
        rc = svc_msg_pack(m, pb, reply_content_type(c->req));
    if (rc) {
        svc_msg_free(m);
        return svc_call_fail(c, rc == SVC_INVALID_ARGUMENT ? SVC_INTERNAL : rc, svc_last_error());
    }
    return svc_call_reply(c, m);
}

svc_code svc_client_call_pb(svc_client *c, const char *method, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                            const svc_call_opts *o)
{
    if (!req || !resp_desc || !resp)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_client_call_pb: missing argument");
    *resp = NULL;
    svc_msg *m = NULL, *reply = NULL;
    svc_code rc = svc_msg_new(&m);
    if (rc == SVC_OK)
        rc = svc_msg_pack(m, req, SVC_CT_PROTO);
    if (rc == SVC_OK)
        rc = svc_client_call(c, method, m, &reply, o);
    if (rc == SVC_OK)
        rc = svc_msg_unpack(reply, resp_desc, resp);
    svc_msg_free(m);
    svc_msg_free(reply);
    return rc;
}
