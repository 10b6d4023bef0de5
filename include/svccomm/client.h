/*
 * svccomm/client.h — calling methods on a target, blocking or async, and
 * streams.
 *
 * A client is made for one target URL; the scheme picks the transport
 * (inproc://name, http://host:port, https://host:port, ...). `svc://name`
 * targets are resolved by service discovery (not in this build yet: such a
 * target is refused with SVC_UNIMPLEMENTED).
 *
 * Threads: an svc_client is thread-safe; many calls may be in flight on it
 * from many threads.
 */
#ifndef SVCCOMM_CLIENT_H
#define SVCCOMM_CLIENT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct svc_client_opts {
    svc_tls_opts tls;          /* https:// and other TLS schemes */
    int64_t connect_timeout_ms; /* 0 = 5000 */
    const char *user_agent;    /* borrowed; NULL = the transport's default
                                * (REST: none, which saves curl formatting
                                * it on every request) */
    size_t max_message_size;   /* largest reply accepted; 0 = the context's */
} svc_client_opts;

SVC_API void svc_client_opts_init(svc_client_opts *o);

/* Creates a client for `target` (copied). `ctx` and `o` are borrowed; ctx
 * must outlive the client. Connections are made lazily, so a target that is
 * not there is reported by the first call (SVC_UNAVAILABLE).
 * SVC_INVALID_ARGUMENT for a malformed URL, SVC_UNIMPLEMENTED for a scheme no
 * transport serves; svc_last_error() says which. */
SVC_API svc_code svc_client_new(svc_ctx *ctx, const char *target,
                                const svc_client_opts *o, svc_client **out);

/* Cancels calls still in flight (their callbacks run with SVC_CANCELLED),
 * waits for those callbacks to return, and frees the client. Must not be
 * called from one of its own callbacks. NULL is fine. */
SVC_API void svc_client_free(svc_client *c);

/* A cancellation token: fire it and every call made with it ends at once
 * with SVC_CANCELLED; calls made with it afterwards end the same way. */
SVC_API svc_code svc_cancel_new(svc_cancel **out);
SVC_API void svc_cancel_fire(svc_cancel *t);
/* Frees the token; calls still attached are detached first. */
SVC_API void svc_cancel_free(svc_cancel *t);

typedef struct svc_call_opts {
    int64_t timeout_ms;      /* > 0: deadline = now + timeout */
    svc_time deadline;       /* absolute (svc_now() clock); 0 = none. The
                              * earlier of the two applies. */
    const svc_call *parent;  /* borrowed: trace parent (and its deadline
                              * bounds this call's); NULL = the call whose
                              * handler runs on this thread, if any */
    svc_cancel *cancel;      /* borrowed; NULL = none */
    svc_dispatch dispatch;   /* where an async callback runs */
    const svc_msg *metadata; /* borrowed: its metadata is sent with the call
                              * (the request headers of a stream; added to
                              * a unary request's own); NULL = none */
} svc_call_opts;

/* Calls `method` with `req` (borrowed; the library sends a copy) and waits.
 * Returns the call's status. If `resp` is not NULL, *resp receives the reply
 * (yours to free) whatever the status: on failure it carries the status
 * message and any metadata the server sent. `o` may be NULL. */
SVC_API svc_code svc_client_call(svc_client *c, const char *method, const svc_msg *req,
                                 svc_msg **resp, const svc_call_opts *o);

/* Callback of an async call: `resp` is yours (never NULL; it carries the
 * status message on failure), `code` its status. */
typedef void (*svc_reply_fn)(svc_code code, svc_msg *resp, void *ud);

/* Starts a call and returns at once; takes `req` (NULL = empty). If this
 * returns SVC_OK, `fn` is called exactly once; otherwise never (and req has
 * been freed). */
SVC_API svc_code svc_client_call_async(svc_client *c, const char *method, svc_msg *req,
                                       const svc_call_opts *o, svc_reply_fn fn, void *ud);

/* ---- streams (client, server and bidirectional streaming) ----
 * svc_client_stream opens a stream on `method`; o->metadata carries the
 * request headers. A transport without streams answers SVC_UNIMPLEMENTED.
 * The call's deadline and cancellation token cover the whole stream.
 *
 * send takes `m` and blocks while the peer's flow-control window is full.
 * close_send says no more messages follow. recv gives the next message
 * (yours) or *m = NULL once the server finished sending; an error status
 * ends it early. headers waits for the server's initial metadata (borrowed
 * until the stream is freed). finish waits for the final status and gives
 * the trailing metadata and status message in *trailers (yours; NULL to
 * ignore). cancel ends the stream at once (CANCELLED). free cancels a
 * stream that has not ended, then frees it; free a client's streams before
 * the client.
 *
 * Threads: one thread sends while another receives, if you like; do not
 * send (or receive) from two threads at once. */
SVC_API svc_code svc_client_stream(svc_client *c, const char *method,
                                   const svc_call_opts *o, svc_stream **out);
SVC_API svc_code svc_stream_send(svc_stream *st, svc_msg *m);
SVC_API svc_code svc_stream_close_send(svc_stream *st);
SVC_API svc_code svc_stream_recv(svc_stream *st, svc_msg **m);
SVC_API svc_code svc_stream_headers(svc_stream *st, const svc_msg **headers);
SVC_API svc_code svc_stream_finish(svc_stream *st, svc_msg **trailers);
SVC_API void svc_stream_cancel(svc_stream *st);
SVC_API void svc_stream_free(svc_stream *st);

#ifdef __cplusplus
}
#endif
#endif
