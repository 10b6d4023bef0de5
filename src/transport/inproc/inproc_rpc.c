/*
 * inproc request/reply. A client call becomes a server call of the server
 * listening under the name; the reply message moves to the caller as is.
 * Deadlines, cancellation and status behave as on the network transports
 * because core enforces them on both sides.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/call.h"
#include "core/ccall.h"
#include "core/error.h"
#include "core/msg.h"
#include "core/strmap.h"
#include "inproc.h"

typedef struct inproc_listener {
    svc_listener base;
    /* Ours, set before the name is registered: callers reach the listener
     * as soon as it is, while core fills base.server only after listen
     * returns. */
    svc_server *server;
    char *name;
    unsigned pins; /* call_start()s dispatching into the server right now */
} inproc_listener;

typedef struct inproc_call {
    svc_call base;
    svc_ccall *cc; /* the caller, until answered or cancelled (under link_lock) */
    bool headers_sent;
    /* Messages sent and not yet received, each way, for streams: past
     * CREDIT the sender waits, as a full HTTP/2 window would make it. */
    atomic_int up, down;
} inproc_call;

#define CREDIT 64

/* One table for the process, like NNG's inproc: names are global. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t unpinned = PTHREAD_COND_INITIALIZER;
static svc_strmap listeners;

/* Guards the link between a client call and its server call, which either
 * side may cut first (reply vs. deadline/cancel). */
static pthread_mutex_t link_lock = PTHREAD_MUTEX_INITIALIZER;

svc_code svc_inproc_listen(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                           svc_listener **out)
{
    (void)o;
    inproc_listener *l = calloc(1, sizeof *l);
    if (!l || !(l->name = svc_inproc_name(url))) {
        free(l);
        return svc_fail_oom();
    }
    l->server = s;
    size_t n = strlen(l->name) + sizeof "inproc://";
    if (!(l->base.url = malloc(n))) {
        free(l->name);
        free(l);
        return svc_fail_oom();
    }
    snprintf(l->base.url, n, "inproc://%s", l->name);
    pthread_mutex_lock(&registry_lock);
    svc_code rc = svc_strmap_put(&listeners, l->name, l);
    pthread_mutex_unlock(&registry_lock);
    if (rc) {
        rc = svc_fail(SVC_ALREADY_EXISTS, "inproc name '%s' is already in use", l->name);
        free(l->base.url);
        free(l->name);
        free(l);
        return rc;
    }
    *out = &l->base;
    return SVC_OK;
}

void svc_inproc_listener_free(svc_listener *base)
{
    inproc_listener *l = (inproc_listener *)base;
    pthread_mutex_lock(&registry_lock);
    svc_strmap_remove(&listeners, l->name);
    if (listeners.count == 0)
        svc_strmap_clear(&listeners);
    while (l->pins > 0)
        pthread_cond_wait(&unpinned, &registry_lock);
    pthread_mutex_unlock(&registry_lock);
    free(l->name);
    free(l); /* core frees base.url */
}

static void unpin(inproc_listener *l)
{
    pthread_mutex_lock(&registry_lock);
    if (--l->pins == 0)
        pthread_cond_broadcast(&unpinned);
    pthread_mutex_unlock(&registry_lock);
}

/* The server call for client call `cc`, resolved but not linked to it yet,
 * or NULL after failing cc. The listener stays pinned (*pinned) until the
 * caller has dispatched. */
static inproc_call *open_server_call(inproc_channel *ch, svc_ccall *cc, inproc_listener **pinned)
{
    pthread_mutex_lock(&registry_lock);
    inproc_listener *l = svc_strmap_get(&listeners, ch->name, strlen(ch->name));
    if (l)
        l->pins++;
    pthread_mutex_unlock(&registry_lock);
    if (!l) {
        char msg[300];
        snprintf(msg, sizeof msg, "no inproc server named '%.250s'", ch->name);
        svc_ccall_complete(cc, svc_msg_new_unprocessed(SVC_UNAVAILABLE, msg));
        svc_ccall_release(cc);
        return NULL;
    }
    inproc_call *ic = calloc(1, sizeof *ic);
    svc_msg *req = NULL;
    svc_call_args args = {
        .method = cc->method,
        .method_len = strlen(cc->method),
        .deadline = cc->deadline,
        .peer = "inproc",
    };
    if (!ic || svc_msg_clone(cc->req, &req) != SVC_OK) {
        free(ic);
        unpin(l);
        svc_ccall_fail(cc, SVC_RESOURCE_EXHAUSTED, "out of memory");
        svc_ccall_release(cc);
        return NULL;
    }
    args.req = req;
    if (svc_call_init(&ic->base, &svc_inproc_transport, l->server, &args) != SVC_OK) {
        svc_call_unref(&ic->base); /* frees what init made */
        unpin(l);
        svc_ccall_fail(cc, SVC_RESOURCE_EXHAUSTED, "out of memory");
        svc_ccall_release(cc);
        return NULL;
    }
    svc_call_resolve(&ic->base);
    *pinned = l;
    return ic;
}

/* Links the calls: from here the caller's cancellation (deadline, token,
 * svc_client_free, on its own thread) reaches the server call and may drop
 * the transport's reference at once, so the starter holds one of its own
 * until it has dispatched (call.h). */
static void link_calls(inproc_call *ic, svc_ccall *cc)
{
    svc_call_ref(&ic->base);
    pthread_mutex_lock(&link_lock);
    ic->cc = cc;
    cc->tdata = ic;
    pthread_mutex_unlock(&link_lock);
}

/* Ends what link_calls() began once the call is dispatched or refused. */
static void started(inproc_call *ic, inproc_listener *l)
{
    svc_call_unref(&ic->base);
    unpin(l);
}

void svc_inproc_call_start(svc_channel *base, svc_ccall *cc)
{
    inproc_listener *l;
    inproc_call *ic = open_server_call((inproc_channel *)base, cc, &l);
    if (ic) {
        link_calls(ic, cc);
        svc_call_dispatch(&ic->base);
        started(ic, l);
    }
}

void svc_inproc_stream_start(svc_channel *base, svc_ccall *cc)
{
    inproc_listener *l;
    inproc_call *ic = open_server_call((inproc_channel *)base, cc, &l);
    if (!ic)
        return;
    /* A unary handler would need the stream's one message before it runs;
     * inproc streams serve streaming handlers, which read as they go. The
     * flow is opened before the link, like resolving. */
    bool unary = ic->base.route == SVC_ROUTE_FOUND && ic->base.opts.kind == SVC_UNARY;
    svc_code rc = unary ? SVC_OK : svc_call_open_flow(&ic->base);
    link_calls(ic, cc);
    if (unary)
        svc_call_refuse(&ic->base, SVC_UNIMPLEMENTED,
                        "inproc streams need a streaming handler; call unary methods unary");
    else if (rc != SVC_OK)
        svc_call_refuse(&ic->base, SVC_RESOURCE_EXHAUSTED, "out of memory");
    else
        svc_call_dispatch(&ic->base);
    started(ic, l);
}

/* The server call linked to `cc` with a reference, or NULL once cut. */
static inproc_call *linked_call(svc_ccall *cc)
{
    pthread_mutex_lock(&link_lock);
    inproc_call *ic = cc->tdata;
    if (ic)
        svc_call_ref(&ic->base);
    pthread_mutex_unlock(&link_lock);
    return ic;
}

svc_code svc_inproc_stream_send(svc_channel *ch, svc_ccall *cc, svc_msg *m)
{
    (void)ch;
    inproc_call *ic = linked_call(cc);
    if (!ic) {
        svc_msg_free(m);
        return svc_fail(SVC_CANCELLED, "the stream has ended");
    }
    if (atomic_fetch_add(&ic->up, 1) + 1 >= CREDIT)
        svc_flow_set_writable(cc->flow, false);
    svc_flow_push(ic->base.flow, m);
    svc_call_unref(&ic->base);
    return SVC_OK;
}

svc_code svc_inproc_stream_close_send(svc_channel *ch, svc_ccall *cc)
{
    (void)ch;
    inproc_call *ic = linked_call(cc);
    if (ic) {
        svc_flow_half_close(ic->base.flow);
        svc_call_unref(&ic->base);
    }
    return SVC_OK;
}

void svc_inproc_stream_consumed(svc_channel *ch, svc_ccall *cc, size_t bytes)
{
    (void)ch;
    (void)bytes;
    inproc_call *ic = linked_call(cc);
    if (ic) {
        if (atomic_fetch_sub(&ic->down, 1) - 1 < CREDIT)
            svc_flow_set_writable(ic->base.flow, true);
        svc_call_unref(&ic->base);
    }
}

void svc_inproc_call_consumed(svc_call *c, size_t bytes)
{
    (void)bytes;
    inproc_call *ic = (inproc_call *)c;
    pthread_mutex_lock(&link_lock);
    if (ic->cc && atomic_fetch_sub(&ic->up, 1) - 1 < CREDIT)
        svc_flow_set_writable(ic->cc->flow, true);
    pthread_mutex_unlock(&link_lock);
}

/* The reply headers, once, before the first message or the end. Called
 * under link_lock with the caller still linked. */
static void send_headers(inproc_call *ic)
{
    if (ic->headers_sent || !ic->cc->flow)
        return;
    ic->headers_sent = true;
    svc_msg *h = NULL;
    if (svc_msg_new(&h) == SVC_OK && svc_md_copy(&h->md, &ic->base.reply_md) != SVC_OK) {
        svc_msg_free(h);
        h = NULL;
    }
    svc_flow_set_headers(ic->cc->flow, h);
}

svc_code svc_inproc_call_send(svc_call *c, svc_msg *m)
{
    inproc_call *ic = (inproc_call *)c;
    pthread_mutex_lock(&link_lock);
    svc_ccall *cc = ic->cc;
    if (cc) {
        send_headers(ic);
        if (atomic_fetch_add(&ic->down, 1) + 1 >= CREDIT)
            svc_flow_set_writable(c->flow, false);
        svc_flow_push(cc->flow, m);
    }
    pthread_mutex_unlock(&link_lock);
    if (!cc) {
        svc_msg_free(m);
        return svc_fail(SVC_CANCELLED, "the caller went away");
    }
    return SVC_OK;
}

/* Cuts the link; returns the side we were linked to, or NULL if the other
 * side cut it first (and so owns the cleanup). */
static svc_ccall *unlink_from_call(inproc_call *ic)
{
    pthread_mutex_lock(&link_lock);
    svc_ccall *cc = ic->cc;
    if (cc) {
        send_headers(ic); /* a stream ending without messages still has them */
        cc->tdata = NULL;
    }
    ic->cc = NULL;
    pthread_mutex_unlock(&link_lock);
    return cc;
}

void svc_inproc_call_reply(svc_call *c, svc_msg *resp)
{
    inproc_call *ic = (inproc_call *)c;
    /* A streaming call's final payload is its last message; a unary reply
     * carries the reply headers itself. */
    svc_msg *last = NULL;
    if (c->flow && resp && svc_msg_len(resp) && svc_msg_clone(resp, &last) == SVC_OK)
        svc_inproc_call_send(c, last);
    else if (!c->flow && resp && c->reply_md.n && svc_md_copy(&resp->md, &c->reply_md) != SVC_OK)
        svc_msg_set_status(resp, SVC_RESOURCE_EXHAUSTED, "out of memory adding reply metadata");
    svc_ccall *cc = unlink_from_call(ic);
    if (!cc) {
        svc_msg_free(resp);
        return;
    }
    if (resp)
        svc_ccall_complete(cc, resp);
    else
        svc_ccall_fail(cc, SVC_RESOURCE_EXHAUSTED, "out of memory");
    svc_ccall_release(cc);
    svc_call_unref(c); /* the transport's reference */
}

void svc_inproc_call_cancel(svc_channel *ch, svc_ccall *cc)
{
    (void)ch;
    pthread_mutex_lock(&link_lock);
    inproc_call *ic = cc->tdata;
    cc->tdata = NULL;
    if (ic)
        ic->cc = NULL;
    pthread_mutex_unlock(&link_lock);
    if (!ic)
        return;
    svc_call_abandon(&ic->base); /* the handler sees svc_call_cancelled() */
    svc_ccall_release(cc);
    svc_call_unref(&ic->base);
}

void svc_inproc_call_free(svc_call *c)
{
    free(c);
}
