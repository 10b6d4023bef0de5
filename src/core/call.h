/*
 * Server-side calls. A transport allocates its own call struct with an
 * svc_call as first member, fills it with svc_call_init(), and hands it to
 * core with svc_call_dispatch(). Core resolves the handler, runs it where it
 * asked to run, enforces the deadline, records metrics and trace context,
 * and passes the one answer back through ops->call_reply().
 *
 * References: the transport holds one from init; dispatch gives the handler
 * another, which svc_call_reply()/svc_call_fail() consume. When the last
 * goes, core frees its fields and calls ops->call_free().
 *
 * A dispatched call counts as in flight for the server until its last
 * reference goes (the transport released it, after sending the answer), so
 * that a graceful shutdown waits for answers to leave, not just to be made.
 *
 * Threads: a transport that lets another thread reach a call before it has
 * dispatched it (inproc: the caller cancels from its own thread) must hold
 * a reference of its own across svc_call_dispatch(), and must have resolved
 * the call (svc_call_resolve, and svc_call_open_flow for streams) before:
 * an answer from that thread reads what resolving writes.
 */
#ifndef SVC_CORE_CALL_H
#define SVC_CORE_CALL_H

#include <stdatomic.h>

#include "flow.h"
#include "loop.h"
#include "metadata.h"
#include "observe/metrics.h"
#include "observe/trace.h"
#include "router.h"
#include "transport/transport.h"

struct svc_call {
    const svc_transport_ops *ops;
    svc_server *server;
    atomic_int refs;
    atomic_bool answered;
    atomic_bool cancelled;
    atomic_int hook_state;     /* svc_call_on_done: none, set, ran */
    svc_call_done_fn on_done;
    void *on_done_ud;
    svc_route_result route;    /* how the method resolved, for transports
                                * that answer "not found" their own way */
    bool resolved;
    svc_flow *flow;            /* streaming calls: request messages in, the
                                * send gate; NULL for unary calls */
    char *method;              /* as received: "pkg.S/M" or "GET /path?q";
                                * method_small when it fits */
    char method_small[64];     /* most methods: no allocation per call */
    svc_handler_fn fn;         /* copied from the handler at dispatch, so a */
    void *ud;                  /* call never points into a freed server */
    svc_handler_opts opts;
    svc_call_stats *stats;
    svc_msg *req;
    svc_params params;         /* path parameters */
    svc_params query;
    svc_md reply_md;
    char *peer;                /* NULL: ask ops->call_peer when wanted */
    svc_time deadline;
    svc_time start;
    svc_timer *deadline_timer;
    svc_trace_ctx trace;       /* this call's own span, if traced */
    char traceparent[SVC_TRACEPARENT_LEN + 1];
    svc_call *prev, *next;     /* the server's list of unanswered calls */
    bool tracked;              /* dispatched: in flight until released */
};

typedef struct svc_call_args {
    const char *method;   /* copied */
    size_t method_len;
    svc_msg *req;         /* taken; NULL = empty */
    svc_time deadline;    /* 0 = none */
    const char *peer;     /* copied; NULL = the transport formats it on
                           * demand with ops->call_peer (hot paths) */
} svc_call_args;

/* Fills `c` (zeroed by the caller), including the deadline's timer, which
 * then exists before any thread can answer the call. Takes a->req even on
 * failure; on failure nothing needs undoing. */
svc_code svc_call_init(svc_call *c, const svc_transport_ops *ops, svc_server *s,
                       const svc_call_args *a);
/* Adds a query-string parameter (decoded name and value, copied). */
svc_code svc_call_add_query(svc_call *c, const char *name, const char *value);
/* Finds the handler (once; later calls return the same). With
 * SVC_ROUTE_FOUND, c->opts.kind tells a streaming transport whether to
 * dispatch at once with a flow (streaming kinds) or after the one request
 * message (unary). */
svc_route_result svc_call_resolve(svc_call *c);
/* Gives a streaming call its flow, before dispatch: the transport then
 * pushes request messages with svc_flow_push(c->flow, m) and ends them with
 * svc_flow_half_close(c->flow). The flow ends when the call is answered. */
svc_code svc_call_open_flow(svc_call *c);
/* The call ended early (the caller went away, the deadline passed, the
 * server stops): svc_call_cancelled() turns true and the handler's done
 * hook runs. */
void svc_call_mark_cancelled(svc_call *c);
/* Runs the handler (or answers UNIMPLEMENTED / NOT_FOUND / UNAVAILABLE). */
void svc_call_dispatch(svc_call *c);
/* Answers without running the handler: the transport refuses the request
 * (body too large, bad content type, no client certificate). The call is
 * still resolved, so it counts under its method. */
void svc_call_refuse(svc_call *c, svc_code code, const char *message);
/* The peer went away: the call counts as CANCELLED and no answer is sent
 * through the transport. */
void svc_call_abandon(svc_call *c);
void svc_call_ref(svc_call *c);
void svc_call_unref(svc_call *c);

/* The call whose handler runs on this thread, or NULL. */
const svc_call *svc_call_current(void);

/* Server internals the call needs. resolve fills fn, ud, opts, stats,
 * params and query. track lists a call about to run its handler (refused
 * once the server is closing, or the call was answered meanwhile) and
 * counts it in flight, holding the server's memory for it; untrack takes it
 * off the list when it is answered; release ends its count when its last
 * reference goes. */
svc_route_result svc_server_resolve(svc_server *s, svc_call *c);
svc_code svc_server_track(svc_server *s, svc_call *c);
void svc_server_untrack(svc_server *s, svc_call *c);
void svc_server_release(svc_server *s);
svc_ctx *svc_server_ctx(const svc_server *s);

/* Calls fn once for each distinct service ("pkg.Service") among the RPC
 * methods registered so far, for transports that route by service (a queue
 * or subject per service). Routes are not services. Not under any lock the
 * caller may hold; fn must not register handlers. */
void svc_server_each_service(svc_server *s, void (*fn)(const char *service, void *ud), void *ud);

/* The server's health service state (services/health.h): attached once
 * (SVC_ALREADY_EXISTS after), released by svc_server_free, told about the
 * shutdown before the server waits for its calls. */
struct svc_health;
svc_code svc_server_attach_health(svc_server *s, struct svc_health *h);
struct svc_health *svc_server_health(svc_server *s);

/* Keeps `p` until the server is destroyed, after its last call, then
 * calls free_fn(p): for what handlers registered on the server read (the
 * reflection service's index). */
svc_code svc_server_keep(svc_server *s, void *p, void (*free_fn)(void *));

/* The server's entries in service registries (discovery/register.c): kept
 * until shutdown, which removes them with svc_registration_free() first,
 * so that clients stop picking the server while it finishes its calls.
 * SVC_UNAVAILABLE once the server is shutting down (r stays the caller's). */
struct svc_registration;
svc_code svc_server_keep_registration(svc_server *s, struct svc_registration *r);
void svc_registration_free(struct svc_registration *r);

#endif
