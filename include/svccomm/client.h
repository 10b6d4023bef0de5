/*
 * svccomm/client.h — calling methods on a target, blocking or async, and
 * streams.
 *
 * A client is made for one target URL; the scheme picks the transport
 * (inproc://name, http://host:port, https://host:port, ...). A `svc://name`
 * target is a service: the resolver of svc_client_opts.resolver lists its
 * endpoints (svccomm/discovery.h) and each call goes to one of them, picked
 * by the policy of svc_client_opts.lb (svccomm/lb.h).
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
    /* svc:// targets only (both borrowed for svc_client_new): */
    const char *resolver;      /* registry URL (svccomm/discovery.h); NULL =
                                * $SVC_RESOLVER, else static:$SVC_ENDPOINTS_<NAME> */
    const struct svc_lb_opts *lb; /* NULL = round_robin, no retries, outlier
                                   * detection on (svc_lb_opts_init) */
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
 * waits for those callbacks to return, and frees the client. Subscriptions
 * of the client still open are freed too, as svc_sub_free() would (do not
 * free them again). Manual-ack events nobody settled yet go back to the
 * transport unsettled (a broker redelivers them to other consumers; inproc
 * to the rest of a queue group, else they are dropped); each must still be
 * given back with svc_event_ack/nack/term, which then only frees it and
 * returns SVC_FAILED_PRECONDITION. Must not be called from one of its own
 * callbacks or event handlers. NULL is fine. */
SVC_API void svc_client_free(svc_client *c);

/* A client's connectivity to its target, in gRPC's terms, for load
 * balancers and health displays. IDLE: not connected yet (connections are
 * made on first use); TRANSIENT_FAILURE: lost or refused, retrying with
 * backoff (calls meanwhile fail fast with SVC_UNAVAILABLE); SHUTDOWN: gone
 * for good. Transports without connections of their own (inproc; REST,
 * whose connections are curl's pool) are always READY. */
typedef enum svc_conn_state {
    SVC_CONN_IDLE = 0,
    SVC_CONN_CONNECTING = 1,
    SVC_CONN_READY = 2,
    SVC_CONN_TRANSIENT_FAILURE = 3,
    SVC_CONN_SHUTDOWN = 4,
} svc_conn_state;
#define SVC_CONN_STATES 5

/* The state now. Any thread. */
SVC_API svc_conn_state svc_client_state(const svc_client *c);
/* "idle", "connecting", "ready", "transient_failure", "shutdown". */
SVC_API const char *svc_conn_state_name(svc_conn_state s);

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
    const char *hash_key;    /* borrowed: svc:// clients with ring_hash or
                              * maglev send calls with the same key to the
                              * same endpoint; NULL = none */
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
 * request headers, and its content type (svc_msg_set_content_type) says
 * how the stream's messages are encoded, for transports that say it once
 * per stream (gRPC: SVC_CT_JSON → application/grpc+json; none → binary
 * protobuf). A transport without streams answers SVC_UNIMPLEMENTED.
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
