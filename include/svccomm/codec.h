/*
 * svccomm/codec.h — protobuf-c messages on the wire: binary protobuf and
 * proto3 JSON, driven by protobuf-c descriptors.
 *
 * JSON follows the proto3 JSON mapping: field names in lowerCamelCase (the
 * original names are accepted when parsing), 64-bit integers as strings
 * (numbers accepted), enums by name (numbers accepted), bytes as base64
 * (standard or URL-safe accepted), repeated fields as arrays, maps
 * (map<K,V> fields) as objects, fields at their default value left out.
 *
 * Every ProtobufCMessage this header returns is yours; free it with
 * protobuf_c_message_free_unpacked(m, NULL).
 */
#ifndef SVCCOMM_CODEC_H
#define SVCCOMM_CODEC_H

#include <protobuf-c/protobuf-c.h>

#include "client.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SVC_JSON_EMIT_DEFAULTS = 1 << 0,  /* also print fields at default values */
    SVC_JSON_ORIGINAL_NAMES = 1 << 1, /* print proto field names, not camelCase */
    SVC_JSON_IGNORE_UNKNOWN = 1 << 2, /* parse: skip unknown fields, not fail */
};

/* Prints `m` as proto3 JSON. *out is a NUL-terminated string to free with
 * svc_free(); *len (if not NULL) gets its length. */
SVC_API svc_code svc_pb_to_json(const ProtobufCMessage *m, unsigned flags,
                                char **out, size_t *len);

/* Parses proto3 JSON (`len` bytes, borrowed) into a new message of type `d`.
 * SVC_INVALID_ARGUMENT with a message naming the field for bad input. */
SVC_API svc_code svc_pb_from_json(const ProtobufCMessageDescriptor *d, const char *json,
                                  size_t len, unsigned flags, ProtobufCMessage **out);

/* Puts `pb` (borrowed) into `m` encoded for `content_type`: SVC_CT_PROTO
 * (also the default for NULL) or SVC_CT_JSON. Sets the message's content
 * type. */
SVC_API svc_code svc_msg_pack(svc_msg *m, const ProtobufCMessage *pb,
                              const char *content_type);

/* Decodes the payload of `m` as a message of type `d`, reading binary or JSON
 * according to its content type (no content type = binary). An empty JSON or
 * binary payload decodes to the default message. */
SVC_API svc_code svc_msg_unpack(const svc_msg *m, const ProtobufCMessageDescriptor *d,
                                ProtobufCMessage **out);

/* svc_msg_unpack() on the call's request. On failure the caller should
 * answer with svc_call_fail(c, code, svc_last_error()). */
SVC_API svc_code svc_call_request_pb(const svc_call *c, const ProtobufCMessageDescriptor *d,
                                     ProtobufCMessage **out);

/* Answers the call with `pb` (borrowed) encoded the way the request was:
 * JSON if it came as JSON (or without a body, as REST GETs do), binary
 * otherwise. Gives back the handler's reference like svc_call_reply(). */
SVC_API svc_code svc_call_reply_pb(svc_call *c, const ProtobufCMessage *pb);

/* Serves every method of a protobuf-c generated service implementation
 * (borrowed; must outlive the server) as "pkg.Service/Method", for every
 * transport, binary or JSON. Each generated method gets closure_data; from
 * it svc_pb_closure_call() gives the svc_call (request metadata, deadline,
 * reply metadata). A method answers by calling the closure once with its
 * reply, or with NULL (→ SVC_INTERNAL), or by calling svc_call_fail() on the
 * call instead of the closure to send another status. */
SVC_API svc_code svc_server_handle_pb(svc_server *s, ProtobufCService *impl);
SVC_API svc_call *svc_pb_closure_call(void *closure_data);

/* Blocking typed call: sends `req` (borrowed) as binary protobuf and decodes
 * the reply as `resp_desc` into *resp (yours) when the status is SVC_OK. */
SVC_API svc_code svc_client_call_pb(svc_client *c, const char *method,
                                    const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *resp_desc,
                                    ProtobufCMessage **resp, const svc_call_opts *o);

/* A ProtobufCService whose invoke() sends each method over `c` (borrowed;
 * must outlive the service), so protobuf-c's generated client stubs
 * (pkg__service__method(service, input, closure, data)) call remote methods.
 * Calls block; on failure the closure gets NULL and svc_last_error() holds
 * the status message. End it with (*out)->destroy(*out). */
SVC_API svc_code svc_pb_client_service(svc_client *c, const ProtobufCServiceDescriptor *d,
                                       ProtobufCService **out);

#ifdef __cplusplus
}
#endif
#endif
