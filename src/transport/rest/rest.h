/*
 * The REST backend: a libmicrohttpd server and a libcurl-multi client for
 * http:// and https://. RPC style is POST /pkg.Service/Method with a JSON or
 * protobuf body; resource routes are any verb and path. Status travels as the
 * HTTP status (google.rpc mapping) plus a JSON error body
 * {"code": N, "status": "NAME", "message": "..."}; metadata as headers, "-bin"
 * values base64; the deadline as a grpc-timeout header.
 */
#ifndef SVC_REST_H
#define SVC_REST_H

#include <stdbool.h>

#include "core/metadata.h"
#include "transport/transport.h"

extern const svc_transport_ops svc_rest_transport;

/* rest_status.c: HTTP status ⇄ svc_code. */
unsigned svc_rest_http_status(svc_code code);
svc_code svc_rest_code_from_http(long http_status);
/* The JSON error body; malloc'd, NULL when out of memory. */
char *svc_rest_error_body(svc_code code, const char *message, size_t *len);
/* Reads code and message from an error body (ours or grpc-gateway's);
 * false if it is not one. *message is malloc'd. */
bool svc_rest_parse_error_body(const char *body, size_t len, svc_code *code, char **message);

/* rest_headers.c: headers ⇄ metadata. */
/* True for headers that describe the HTTP exchange itself and so are not
 * metadata (hop-by-hop, framing, content type, our own deadline). */
bool svc_rest_header_reserved(const char *name, size_t len);
/* Adds header `name: value` to md when it is valid metadata ("-bin" values
 * are base64-decoded); silently skips what is not. */
svc_code svc_rest_header_to_md(svc_md *md, const char *name, size_t name_len,
                               const char *value, size_t value_len);
/* Calls emit(name, value, ud) for each metadata entry in header form. */
svc_code svc_rest_md_to_headers(const svc_md *md,
                                svc_code (*emit)(const char *name, const char *value, void *ud),
                                void *ud);

/* rest_server.c and rest_client.c */
svc_code svc_rest_listen(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                         svc_listener **out);
void svc_rest_listener_quiesce(svc_listener *l);
void svc_rest_listener_free(svc_listener *l);
void svc_rest_call_reply(svc_call *c, svc_msg *resp);
void svc_rest_call_free(svc_call *c);
const char *svc_rest_call_peer(const svc_call *c);
svc_code svc_rest_channel_new(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                              svc_channel **out);
void svc_rest_channel_free(svc_channel *ch);
void svc_rest_call_start(svc_channel *ch, svc_ccall *cc);
void svc_rest_call_cancel(svc_channel *ch, svc_ccall *cc);

#endif
