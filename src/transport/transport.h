/*
 * The transport interface. A backend (inproc, rest, grpc, amqp, nats) fills
 * one svc_transport_ops and is listed in registry.c; core reaches it only
 * through these pointers and it reaches core only through the functions
 * declared here and in core/call.h, core/ccall.h and core/pubsub.h. A NULL
 * pointer means "this transport cannot do that": core answers
 * SVC_UNIMPLEMENTED naming the transport and the feature.
 *
 * Threads: every op may be called from any thread unless it says otherwise;
 * a transport moves work onto its own threads as it needs.
 */
#ifndef SVC_TRANSPORT_H
#define SVC_TRANSPORT_H

#include <svccomm/client.h>
#include <svccomm/pubsub.h>
#include <svccomm/server.h>

#include "core/url.h"

typedef struct svc_transport_ops svc_transport_ops;
typedef struct svc_ccall svc_ccall;

/* One URL a server listens on. Transports embed it as their first member.
 * Core sets ops and server after listen() returns, when calls may already
 * arrive: a transport's threads must not read them (keep the server listen()
 * was given in the transport's own listener struct, set before the listener
 * can be reached). */
typedef struct svc_listener {
    const svc_transport_ops *ops;
    svc_server *server;
    char *url; /* the bound address (real port); set by the transport, freed by core */
} svc_listener;

/* A client's way to one target. Transports embed it as their first member. */
typedef struct svc_channel {
    const svc_transport_ops *ops;
    svc_ctx *ctx;
} svc_channel;

typedef enum svc_settle { SVC_SETTLE_ACK, SVC_SETTLE_NACK, SVC_SETTLE_TERM } svc_settle;

/* One asynchronous publish waiting for its verdict (core/pubsub.h). */
typedef struct svc_pub_confirm svc_pub_confirm;
/* The transport's verdict on an asynchronous publish: exactly once per
 * svc_pub_confirm, from any thread; `message` is copied. */
void svc_publish_done(svc_pub_confirm *pc, svc_code code, const char *message);

struct svc_transport_ops {
    const char *name;           /* "rest": metrics label and messages */
    const char *const *schemes; /* URL schemes served, NULL-terminated */

    /* ---- server side ---- */
    svc_code (*listen)(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                       svc_listener **out);
    /* Stop taking new connections; calls on open ones still arrive (core
     * answers them UNAVAILABLE once the server is closing). Optional. */
    void (*listener_quiesce)(svc_listener *l);
    /* Stop and free. Core has answered every call of the server first
     * (answers may still be on their way out through call_reply on other
     * threads: let them finish). A graceful shutdown waits for calls until
     * their last reference goes, so release a call once its answer is sent. */
    void (*listener_free)(svc_listener *l);
    /* Send the answer of a server call; the status is in `resp`, which this
     * takes. Called exactly once per call, from any thread. resp is NULL
     * only when memory ran out: answer RESOURCE_EXHAUSTED as you can.
     * c->reply_md (the handler's svc_call_reply_md) goes out as the reply's
     * headers, unless a streaming call sent them already; resp's own
     * metadata follows (trailers where the wire has them). */
    void (*call_reply)(svc_call *c, svc_msg *resp);
    /* Free the transport's call (it embeds svc_call) once unreferenced. */
    void (*call_free)(svc_call *c);
    /* Streaming server calls (optional; a transport that opens flows with
     * svc_call_open_flow must have call_send): send one reply message,
     * taken, preceded the first time by the initial metadata
     * (c->reply_md); set the flow not writable while too much is buffered.
     * call_consumed: the handler took `bytes` of request messages. */
    svc_code (*call_send)(svc_call *c, svc_msg *m);
    void (*call_consumed)(svc_call *c, size_t bytes);
    /* The peer's address of a call made without one (formatting it costs
     * more than most requests need). Optional; the string lives as long as
     * the call. */
    const char *(*call_peer)(const svc_call *c);

    /* ---- client side ---- */
    svc_code (*channel_new)(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                            svc_channel **out);
    /* Every call of the channel has been released before this. */
    void (*channel_free)(svc_channel *ch);
    /* Connectivity now, from any thread. Optional: without it READY. */
    svc_conn_state (*channel_state)(const svc_channel *ch);
    /* Replies come back through a broker process and the transport
     * library's own threads, which need the CPUs a spinning caller would
     * hold: blocking calls then sleep at once instead of spinning first
     * (core/client.c). */
    bool wait_without_spin;
    /* Start a unary call. The transport owns one reference to `cc` and must
     * end with svc_ccall_complete() (at most once is enough: core ignores
     * late answers) and svc_ccall_release(). */
    void (*call_start)(svc_channel *ch, svc_ccall *cc);
    /* Core already answered the call (deadline, cancellation): stop work on
     * it as soon as convenient, then release it if not done yet. For a
     * stream this is also how it is reset. */
    void (*call_cancel)(svc_channel *ch, svc_ccall *cc);

    /* ---- client streams (optional: without them svc_client_stream
     * answers SVC_UNIMPLEMENTED) ----
     * stream_start opens a stream: cc->flow is set, cc->req carries the
     * request headers (no payload). Messages that arrive go to the flow
     * (svc_flow_push), the server's headers with svc_flow_set_headers, and
     * the end, as for a unary call, with svc_ccall_complete(cc, status +
     * trailers). stream_send takes `m`; when the transport has too much
     * buffered it sets the flow not writable until it drained.
     * stream_consumed: the application took `bytes`, the peer may send as
     * much more (optional). */
    void (*stream_start)(svc_channel *ch, svc_ccall *cc);
    svc_code (*stream_send)(svc_channel *ch, svc_ccall *cc, svc_msg *m);
    svc_code (*stream_close_send)(svc_channel *ch, svc_ccall *cc);
    void (*stream_consumed)(svc_channel *ch, svc_ccall *cc, size_t bytes);
    /* Instead of the four above: a channel whose streams run on another
     * client (the balancer opens them on an endpoint's) opens the whole
     * stream itself. */
    svc_code (*stream_open)(svc_channel *ch, const char *method, const svc_call_opts *o,
                            svc_stream **out);

    /* ---- events ---- */
    svc_code (*publish)(svc_channel *ch, const char *topic, const svc_msg *m,
                        const svc_pub_opts *o);
    /* Publish and report the verdict later with svc_publish_done(pc),
     * exactly once (only when this returns SVC_OK). Optional, like the
     * three that follow: without it core answers SVC_UNIMPLEMENTED. */
    svc_code (*publish_async)(svc_channel *ch, const char *topic, const svc_msg *m,
                              const svc_pub_opts *o, svc_pub_confirm *pc);
    svc_code (*publish_flush)(svc_channel *ch, int64_t timeout_ms);
    svc_code (*store_ensure)(svc_channel *ch, const svc_store_opts *o);
    svc_code (*store_delete)(svc_channel *ch, const char *name);
    /* Start delivering events to `sub` with svc_sub_deliver(). */
    svc_code (*subscribe)(svc_channel *ch, svc_sub *sub);
    /* Called once sub->closed is set. No svc_sub_deliver() for `sub` may
     * start after this returns, except from a thread holding the
     * subscription (svc_sub_hold), which core then refuses; nothing the
     * transport keeps for the subscription (a redelivery timer) may outlive
     * the channel. */
    void (*unsubscribe)(svc_channel *ch, svc_sub *sub);
    /* Settle an event (optional for transports without acks). Also called
     * after unsubscribe, until channel_free: for events the handler settles
     * late, for events still queued when the subscription closed (NACK: let
     * another consumer have it), and by svc_client_free for manual-ack
     * events nobody settled (NACK). */
    svc_code (*event_settle)(svc_event *ev, svc_settle how, int64_t delay_ms);
    /* Postpone redelivery of an unsettled event (optional). */
    svc_code (*event_in_progress)(svc_event *ev);
};

/* The transport serving `scheme`, or NULL. */
const svc_transport_ops *svc_transport_find(const char *scheme);

/* A small dense number per registered transport (per-transport caches). */
#define SVC_MAX_TRANSPORTS 8
unsigned svc_transport_index(const svc_transport_ops *ops);

#endif
