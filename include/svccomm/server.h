/*
 * svccomm/server.h — serving methods and routes on one or more URLs.
 *
 * A server holds handlers keyed by method name ("pkg.Service/Method") and,
 * for HTTP-style transports, resource routes ("GET /orders/{id}"). It listens
 * on any number of URLs at once; the URL scheme picks the transport
 * (inproc://name, http://host:port, https://host:port, ...). The same handler
 * serves every transport.
 *
 * Threads: svc_server_* functions are thread-safe. Handlers run on the worker
 * pool unless registered with SVC_DISPATCH_INLINE, in which case they run on
 * the transport's I/O thread and must never block.
 */
#ifndef SVCCOMM_SERVER_H
#define SVCCOMM_SERVER_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A handler. It receives one reference to `call`, which it gives back by
 * answering exactly once with svc_call_reply() or svc_call_fail() — before it
 * returns or later from any thread. `ud` is the pointer given at
 * registration. */
typedef void (*svc_handler_fn)(svc_call *call, void *ud);

typedef enum svc_method_kind {
    SVC_UNARY = 0,
    SVC_CLIENT_STREAMING = 1,
    SVC_SERVER_STREAMING = 2,
    SVC_BIDI_STREAMING = 3,
} svc_method_kind;

typedef struct svc_handler_opts {
    svc_dispatch dispatch; /* SVC_DISPATCH_POOL (default) or _INLINE */
    svc_method_kind kind;  /* SVC_UNARY (default) or a streaming kind */
} svc_handler_opts;

typedef struct svc_listen_opts {
    svc_tls_opts tls;          /* https:// and other TLS schemes */
    size_t max_body;           /* largest request body; 0 = the context's
                                * max_message_size (4 MiB by default) */
    unsigned threads;          /* transports with their own threads
                                * (REST): how many; 0 = 2 */
    unsigned idle_timeout_s;   /* close idle connections after this; 0 = 60 */
} svc_listen_opts;

/* Creates a server on `ctx` (borrowed; must outlive the server). */
SVC_API svc_code svc_server_new(svc_ctx *ctx, svc_server **out);

/* Stops every listener, fails calls still in flight with SVC_UNAVAILABLE and
 * frees the server. A handler may still answer a call it holds afterwards;
 * the answer is dropped. NULL is fine. */
SVC_API void svc_server_free(svc_server *s);

/* Graceful stop: listeners stop accepting new calls at once, calls in flight
 * get up to `grace_ms` to finish, the rest are failed with SVC_UNAVAILABLE.
 * Blocks until done. Then free the server. */
SVC_API svc_code svc_server_shutdown(svc_server *s, int64_t grace_ms);

/* Serves `method` ("pkg.Service/Method", copied) with `fn`. `ud` is borrowed
 * and passed to fn. SVC_ALREADY_EXISTS if the method already has a handler.
 * Handlers may be added while the server listens. */
SVC_API svc_code svc_server_handle(svc_server *s, const char *method,
                                   svc_handler_fn fn, void *ud);
SVC_API svc_code svc_server_handle_ex(svc_server *s, const char *method,
                                      svc_handler_fn fn, void *ud,
                                      const svc_handler_opts *o);

/* Serves an HTTP-style resource route: `verb` ("GET", "POST", ...) and a path
 * `pattern` such as "/orders/{id}" or "/files/{path*}" (a trailing "*"
 * captures the rest of the path). Path parameters are read with
 * svc_call_param(), the query string with svc_call_query(). Routes are
 * reachable over REST and inproc; a client calls them with the method
 * "GET /orders/42". */
SVC_API svc_code svc_server_route(svc_server *s, const char *verb, const char *pattern,
                                  svc_handler_fn fn, void *ud);
SVC_API svc_code svc_server_route_ex(svc_server *s, const char *verb, const char *pattern,
                                     svc_handler_fn fn, void *ud,
                                     const svc_handler_opts *o);

/* Answers GET `path` (e.g. "/metrics") with svc_metrics_prometheus(). */
SVC_API svc_code svc_server_serve_metrics(svc_server *s, const char *path);

/* Starts listening on `url` (borrowed). May be called several times with
 * different URLs. Port 0 picks a free port: read the real address back with
 * svc_server_listener_url(). */
SVC_API svc_code svc_server_listen(svc_server *s, const char *url);
SVC_API svc_code svc_server_listen_ex(svc_server *s, const char *url,
                                      const svc_listen_opts *o);
SVC_API size_t svc_server_listener_count(svc_server *s);
/* The i-th listener's address with its real port (borrowed, valid until the
 * server is freed), or NULL. */
SVC_API const char *svc_server_listener_url(svc_server *s, size_t i);

/* ---- the call a handler receives ----
 * Everything returned is borrowed and valid until the call is answered. */
SVC_API const char *svc_call_method(const svc_call *c);
/* The request of a unary call (its payload, content type and metadata). */
SVC_API const svc_msg *svc_call_request(const svc_call *c);
/* A path parameter of a route ("id" in "/orders/{id}"), or NULL. */
SVC_API const char *svc_call_param(const svc_call *c, const char *name);
/* A query-string parameter (decoded), or NULL. */
SVC_API const char *svc_call_query(const svc_call *c, const char *name);
/* The call's deadline (svc_now() clock), 0 if the caller set none. When it
 * passes, the caller has been answered DEADLINE_EXCEEDED and the call counts
 * as cancelled. */
SVC_API svc_time svc_call_deadline(const svc_call *c);
/* True once the caller went away or the deadline passed: stop working. */
SVC_API bool svc_call_cancelled(const svc_call *c);
/* The transport's name ("rest", "inproc", ...) and the peer's address. */
SVC_API const char *svc_call_transport(const svc_call *c);
SVC_API const char *svc_call_peer(const svc_call *c);
/* The W3C traceparent of this call's span ("" when the caller sent none).
 * Client calls made from inside the handler on its thread carry it on as
 * their parent; from other threads pass the call in svc_call_opts.parent. */
SVC_API const char *svc_call_traceparent(const svc_call *c);

/* Adds initial metadata to the reply (HTTP/2 headers on gRPC, headers on
 * REST), sent before the first message. Metadata on the message given to
 * svc_call_reply travels after it (gRPC trailers; REST headers too). Must be
 * called before the first svc_call_send. Copied. */
SVC_API svc_code svc_call_reply_md(svc_call *c, const char *key, const char *value);

/* Answers the call with `resp`, which it takes (NULL = empty OK reply). The
 * status is the one set on resp (SVC_OK by default). Gives back the handler's
 * reference: `c` must not be used afterwards. Any thread. Returns
 * SVC_CANCELLED (and frees resp) if the call was already answered, for
 * instance because its deadline passed. */
SVC_API svc_code svc_call_reply(svc_call *c, svc_msg *resp);
/* Answers the call with an error status and message (copied). */
SVC_API svc_code svc_call_fail(svc_call *c, svc_code code, const char *message);

/* ---- streaming handlers ----
 * A handler registered with a streaming kind (svc_handler_opts.kind) reads
 * the request messages with svc_call_recv — the next message (yours), or
 * *m = NULL once the client closed its side — and sends reply messages with
 * svc_call_send (takes m; blocks while the peer's flow-control window is
 * full), then ends the call with svc_call_reply/svc_call_fail, whose
 * message carries the final status and trailing metadata; its payload, if
 * any, goes out as one last message (the reply of a client-streaming
 * method, say). recv and send return the
 * call's end status (CANCELLED, DEADLINE_EXCEEDED) once it ended early.
 * On a unary call they answer SVC_FAILED_PRECONDITION; transports without
 * streams never dispatch a streaming handler (the caller gets
 * SVC_UNIMPLEMENTED). Only the handler's reference holder may call them. */
SVC_API svc_code svc_call_recv(svc_call *c, svc_msg **m);
SVC_API svc_code svc_call_send(svc_call *c, svc_msg *m);

#ifdef __cplusplus
}
#endif
#endif
