/* The life of a server call: dispatch, deadline, answer, release. */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "error.h"
#include "msg.h"

static _Thread_local const svc_call *current_call;

static void deadline_fired(void *arg);

const svc_call *svc_call_current(void)
{
    return current_call;
}

svc_code svc_call_init(svc_call *c, const svc_transport_ops *ops, svc_server *s,
                       const svc_call_args *a)
{
    c->ops = ops;
    c->server = s;
    atomic_init(&c->refs, 1);
    c->deadline = a->deadline;
    c->start = svc_now();
    c->req = a->req;
    if (!c->req && svc_msg_new(&c->req) != SVC_OK)
        return svc_fail_oom();
    c->method = a->method_len < sizeof c->method_small ? c->method_small
                                                        : malloc(a->method_len + 1);
    if (c->method) {
        memcpy(c->method, a->method, a->method_len);
        c->method[a->method_len] = '\0';
    }
    if (!c->method || (a->peer && !(c->peer = strdup(a->peer))))
        return svc_fail_oom();
    if (c->deadline &&
        svc_timer_new(svc_ctx_loop(svc_server_ctx(s)), deadline_fired, c, &c->deadline_timer) != SVC_OK)
        return svc_fail_oom();
    return SVC_OK;
}

svc_code svc_call_add_query(svc_call *c, const char *name, const char *value)
{
    return svc_params_add(&c->query, strdup(name), strdup(value));
}

void svc_call_ref(svc_call *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void svc_call_unref(svc_call *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    svc_server *s = c->tracked ? c->server : NULL;
    svc_timer_free(c->deadline_timer);
    if (c->flow) {
        svc_flow_destroy(c->flow);
        free(c->flow);
    }
    svc_msg_free(c->req);
    svc_params_clear(&c->params);
    svc_params_clear(&c->query);
    svc_md_clear(&c->reply_md);
    if (c->method != c->method_small)
        free(c->method);
    free(c->peer);
    c->ops->call_free(c);
    if (s)
        svc_server_release(s); /* last: the server may go with it */
}

/* Everything an answer does except sending it; false if the call was
 * answered already. Must not run under the server's lock (it disarms the
 * deadline timer, whose callback answers too). A streaming handler blocked
 * in recv or send wakes with the status. */
static bool settle(svc_call *c, svc_code code, const char *message)
{
    if (atomic_exchange_explicit(&c->answered, true, memory_order_acq_rel))
        return false;
    if (c->deadline_timer)
        svc_timer_disarm(c->deadline_timer);
    if (c->stats)
        svc_call_stats_record(c->stats, code, svc_now() - c->start);
    svc_server_untrack(c->server, c);
    if (c->flow)
        svc_flow_end(c->flow, svc_msg_new_status(code, message));
    return true;
}

enum { HOOK_NONE, HOOK_SET, HOOK_RAN };

/* Runs the done hook if one is set and has not run. */
static void run_hook(svc_call *c, bool cancelled)
{
    if (atomic_exchange(&c->hook_state, HOOK_RAN) == HOOK_SET)
        c->on_done(c, cancelled, c->on_done_ud);
}

void svc_call_mark_cancelled(svc_call *c)
{
    atomic_store(&c->cancelled, true);
    run_hook(c, true);
}

svc_code svc_call_on_done(svc_call *c, svc_call_done_fn fn, void *ud)
{
    if (!c || !fn)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_call_on_done needs a call and a function");
    int state = atomic_load(&c->hook_state);
    if (state == HOOK_SET)
        return svc_fail(SVC_FAILED_PRECONDITION, "the call has a done hook already");
    if (state == HOOK_NONE) {
        /* Written before the hook is published: whoever swaps it out sees
         * both. */
        c->on_done = fn;
        c->on_done_ud = ud;
        if (atomic_compare_exchange_strong(&c->hook_state, &state, HOOK_SET))
            return SVC_OK;
    }
    /* Cancelled before the hook was set (the handler, which alone sets
     * hooks, has not answered yet). */
    fn(c, true, ud);
    return SVC_OK;
}

static svc_code answer(svc_call *c, svc_msg *resp)
{
    if (!settle(c, resp->status, resp->status_message)) {
        svc_msg_free(resp);
        return svc_fail(SVC_CANCELLED, "call already answered (deadline or cancellation)");
    }
    c->ops->call_reply(c, resp); /* with c->reply_md wherever its wire puts headers */
    return SVC_OK;
}

/* Answers with a status of core's own making (no handler reply). */
static void answer_status(svc_call *c, svc_code code, const char *message)
{
    svc_msg *m = svc_msg_new_status(code, message);
    if (m)
        answer(c, m);
    else if (settle(c, SVC_RESOURCE_EXHAUSTED, NULL))
        c->ops->call_reply(c, NULL); /* out of memory even for the error */
}

svc_code svc_call_reply(svc_call *c, svc_msg *resp)
{
    if (!c) {
        svc_msg_free(resp);
        return svc_fail(SVC_INVALID_ARGUMENT, "no call");
    }
    run_hook(c, false);
    svc_code rc;
    if (!resp && svc_msg_new(&resp) != SVC_OK) {
        answer_status(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
        rc = svc_fail_oom();
    } else {
        rc = answer(c, resp);
    }
    svc_call_unref(c); /* the handler's reference */
    return rc;
}

svc_code svc_call_fail(svc_call *c, svc_code code, const char *message)
{
    if (!c)
        return svc_fail(SVC_INVALID_ARGUMENT, "no call");
    if (code == SVC_OK)
        code = SVC_UNKNOWN; /* failing with OK is a handler bug, not a success */
    svc_msg *m = svc_msg_new_status(code, message);
    if (!m) {
        answer_status(c, code, NULL);
        svc_call_unref(c);
        return svc_fail_oom();
    }
    return svc_call_reply(c, m);
}

void svc_call_abandon(svc_call *c)
{
    svc_call_mark_cancelled(c);
    /* A caller that left because the deadline passed ended the call by its
     * deadline, whichever side's timer noticed first. */
    bool late = c->deadline && svc_now() >= c->deadline;
    settle(c, late ? SVC_DEADLINE_EXCEEDED : SVC_CANCELLED,
           late ? "deadline exceeded" : "the caller cancelled the call");
}

static void deadline_fired(void *arg)
{
    svc_call *c = arg;
    svc_call_mark_cancelled(c);
    answer_status(c, SVC_DEADLINE_EXCEEDED, "deadline exceeded");
}

static void run_handler(void *arg)
{
    svc_call *c = arg;
    if (atomic_load_explicit(&c->answered, memory_order_acquire)) {
        svc_call_unref(c); /* timed out while queued: skip the work */
        return;
    }
    /* Our own reference keeps the call valid for svc_call_current() even
     * after the handler answered. */
    svc_call_ref(c);
    const svc_call *prev = current_call;
    current_call = c;
    c->fn(c, c->ud);
    current_call = prev;
    svc_call_unref(c);
}

static void extract_trace(svc_call *c)
{
    size_t len;
    const char *tp = svc_msg_md_get(c->req, "traceparent", &len);
    svc_trace_ctx parent;
    if (tp && svc_trace_parse(tp, len, &parent)) {
        svc_trace_child(&parent, &c->trace);
        svc_trace_format(&c->trace, c->traceparent);
    }
}

static void route_failure(svc_call *c)
{
    char msg[300];
    const char *space = strchr(c->method, ' ');
    switch (c->route) {
    case SVC_ROUTE_NO_PATH:
        snprintf(msg, sizeof msg, "no route for %.250s", c->method);
        answer_status(c, SVC_NOT_FOUND, msg);
        break;
    case SVC_ROUTE_BAD_VERB:
        snprintf(msg, sizeof msg, "%.*s is not allowed on %.250s",
                 (int)(space - c->method), c->method, space + 1);
        answer_status(c, SVC_UNIMPLEMENTED, msg);
        break;
    default:
        snprintf(msg, sizeof msg, "unknown method '%.250s'", space ? space + 2 : c->method);
        answer_status(c, SVC_UNIMPLEMENTED, msg);
        break;
    }
}

svc_route_result svc_call_resolve(svc_call *c)
{
    if (!c->resolved) {
        c->route = svc_server_resolve(c->server, c);
        c->resolved = true;
    }
    return c->route;
}

static void flow_consumed(void *owner, size_t bytes)
{
    svc_call *c = owner;
    if (c->ops->call_consumed)
        c->ops->call_consumed(c, bytes);
}

svc_code svc_call_open_flow(svc_call *c)
{
    if (!c->flow) {
        if (!(c->flow = malloc(sizeof *c->flow)))
            return svc_fail_oom();
        svc_flow_init(c->flow, flow_consumed, c);
    }
    return SVC_OK;
}

void svc_call_dispatch(svc_call *c)
{
    svc_ctx *ctx = svc_server_ctx(c->server);
    char msg[300];
    svc_call_ref(c); /* the handler's reference */
    extract_trace(c);
    if (svc_call_resolve(c) != SVC_ROUTE_FOUND) {
        route_failure(c);
        svc_call_unref(c);
        return;
    }
    if (c->opts.kind != SVC_UNARY && !c->flow) {
        snprintf(msg, sizeof msg, "the %s transport cannot serve streaming method '%.200s'",
                 c->ops->name, c->method);
        answer_status(c, SVC_UNIMPLEMENTED, msg);
        svc_call_unref(c);
        return;
    }
    if (svc_server_track(c->server, c) != SVC_OK) {
        /* Closing; or answered meanwhile (cancelled from another thread),
         * and then this answer is dropped. */
        answer_status(c, SVC_UNAVAILABLE, "server is shutting down");
        svc_call_unref(c);
        return;
    }
    if (c->deadline) {
        if (c->deadline <= svc_now()) {
            deadline_fired(c);
            svc_call_unref(c);
            return;
        }
        /* If an answer from another thread disarmed the timer before this,
         * it fires for nothing (the call is answered) or goes with the call. */
        svc_timer_arm(c->deadline_timer, c->deadline);
    }
    if (c->opts.dispatch == SVC_DISPATCH_INLINE ||
        svc_executor_post(ctx->exec, run_handler, c) != SVC_OK)
        run_handler(c);
}

void svc_call_refuse(svc_call *c, svc_code code, const char *message)
{
    svc_call_resolve(c);
    answer_status(c, code, message);
}

/* ---- public accessors ---- */

const char *svc_call_method(const svc_call *c)
{
    return c->method;
}

const svc_msg *svc_call_request(const svc_call *c)
{
    return c->req;
}

const char *svc_call_param(const svc_call *c, const char *name)
{
    return svc_params_get(&c->params, name);
}

const char *svc_call_query(const svc_call *c, const char *name)
{
    return svc_params_get(&c->query, name);
}

svc_time svc_call_deadline(const svc_call *c)
{
    return c->deadline;
}

bool svc_call_cancelled(const svc_call *c)
{
    return atomic_load(&c->cancelled);
}

const char *svc_call_transport(const svc_call *c)
{
    return c->ops->name;
}

const char *svc_call_peer(const svc_call *c)
{
    if (c->peer)
        return c->peer;
    return c->ops->call_peer ? c->ops->call_peer(c) : "";
}

const char *svc_call_traceparent(const svc_call *c)
{
    return c->traceparent;
}

svc_code svc_call_reply_md(svc_call *c, const char *key, const char *value)
{
    return svc_md_add_checked(&c->reply_md, key, value, value ? strlen(value) : 0, false);
}

svc_code svc_call_recv(svc_call *c, svc_msg **m)
{
    if (!m)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_call_recv: no output");
    *m = NULL;
    if (!c || !c->flow)
        return svc_fail(SVC_FAILED_PRECONDITION, "svc_call_recv: not a streaming call");
    return svc_flow_recv(c->flow, m, 0); /* the deadline ends the flow */
}

svc_code svc_call_send(svc_call *c, svc_msg *m)
{
    if (!c || !c->flow || !m) {
        svc_msg_free(m);
        return svc_fail(SVC_FAILED_PRECONDITION, "svc_call_send: not a streaming call");
    }
    svc_code rc = svc_flow_wait_writable(c->flow, 0);
    if (rc) {
        svc_msg_free(m);
        return rc;
    }
    return c->ops->call_send(c, m);
}
