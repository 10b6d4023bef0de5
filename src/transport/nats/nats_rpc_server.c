/*
 * The request/reply server. Listening on nats://host:port[/prefix]
 * subscribes "<prefix>.<service>.*" for every service registered so far,
 * each in a queue group named after the service, so instances share the
 * load. Services registered after listen are not subscribed (listen again
 * on the same URL to add them). A request becomes a server call; the reply
 * goes to the request's reply subject on the listener's connection, which
 * sends at once rather than waiting for cnats' flusher.
 *
 * Core answers a call (and may let the server shut down) before our
 * call_reply runs, so replies take the listener's close lock to use the
 * connection, and each call keeps the listener's memory until it is freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/call.h"
#include "core/ctx.h"
#include "core/error.h"
#include "core/msg.h"
#include "nats.h"

typedef struct nats_listener {
    svc_listener base;
    atomic_int refs;            /* ours and one per call */
    pthread_rwlock_t close_lock;
    bool closed;                /* the connection is gone */
    svc_ctx *ctx;
    svc_server *server;
    nats_config cfg;
    nats_link link;
    size_t max_body;
    nats_sub **subs; /* one per service */
    size_t n_subs, cap_subs;
    svc_code sub_rc;
    char *peer;      /* "nats://host:port": the broker is all we know of a caller */
} nats_listener;

typedef struct nats_call {
    svc_call base; /* first: core's view */
    nats_listener *l;
    char reply[]; /* the requester's reply subject */
} nats_call;

static void on_request(natsConnection *nc, natsSubscription *ns, natsMsg *nm, void *ud)
{
    (void)nc;
    (void)ns;
    nats_sub *s = ud;
    nats_listener *l = s->owner;
    const char *reply = natsMsg_GetReply(nm);
    char method[512];
    if (!reply || !*reply ||
        !svc_nats_subject_to_method(l->cfg.prefix, natsMsg_GetSubject(nm), method, sizeof method)) {
        natsMsg_Destroy(nm); /* an event on our subject, not a request: nobody to answer */
        return;
    }
    size_t rlen = strlen(reply);
    nats_call *c = malloc(sizeof *c + rlen + 1); /* not calloc: core/msg.c says why */
    if (c)
        *c = (nats_call){0};
    nats_in in;
    svc_msg *req = NULL;
    size_t body = (size_t)natsMsg_GetDataLength(nm);
    bool too_large = body > l->max_body;
    if (c)
        memcpy(c->reply, reply, rlen + 1); /* reply points into nm */
    svc_code rc = SVC_RESOURCE_EXHAUSTED;
    if (c) /* the request borrows nm's payload, and nm goes with it */
        rc = svc_nats_msg_in(nm, true, &in, &req);
    else
        natsMsg_Destroy(nm);
    if (rc) {
        free(c);
        return; /* out of memory: the caller's deadline answers it */
    }
    atomic_fetch_add(&l->refs, 1);
    c->l = l;
    svc_call_args args = {
        .method = method,
        .method_len = strlen(method),
        .req = req,
        .deadline = in.deadline,
    };
    if (svc_call_init(&c->base, &svc_nats_transport, l->server, &args) != SVC_OK) {
        svc_call_unref(&c->base);
        return;
    }
    if (too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", l->max_body);
        svc_call_refuse(&c->base, SVC_RESOURCE_EXHAUSTED, msg);
    } else
        svc_call_dispatch(&c->base);
}

void svc_nats_call_reply(svc_call *base, svc_msg *resp)
{
    nats_call *c = (nats_call *)base;
    nats_listener *l = c->l;
    pthread_rwlock_rdlock(&l->close_lock);
    natsConnection *nc = l->closed ? NULL : atomic_load(&l->link.nc);
    /* NATS has no separate headers frame: reply metadata set with
     * svc_call_reply_md travels with the reply's own. */
    if (resp && base->reply_md.n && svc_md_copy(&resp->md, &base->reply_md) != SVC_OK) {
        svc_msg_free(resp);
        resp = NULL;
    }
    svc_msg *fallback = resp ? NULL : svc_msg_new_status(SVC_RESOURCE_EXHAUSTED, "out of memory");
    const svc_msg *m = resp ? resp : fallback;
    nats_out x = {.with_status = true};
    natsMsg *nm = NULL;
    svc_code rc = !nc  ? SVC_UNAVAILABLE /* the server shut down meanwhile */
                  : m ? svc_nats_msg_out(c->reply, m, &x, svc_nats_link_max_payload(&l->link), &nm)
                      : SVC_RESOURCE_EXHAUSTED;
    if (rc != SVC_OK && nc && m) {
        /* The reply itself cannot travel (too large): its status can. */
        svc_msg *err = svc_msg_new_status(rc, svc_last_error());
        if (err)
            rc = svc_nats_msg_out(c->reply, err, &x, 0, &nm);
        svc_msg_free(err);
    }
    if (rc == SVC_OK) {
        natsStatus s = svc_nats_msg_publish(nc, c->reply, m, &x, nm);
        if (s != NATS_OK)
            svc_log_debug(l->ctx, "nats", "reply to %s lost: %s", c->reply, natsStatus_GetText(s));
    }
    pthread_rwlock_unlock(&l->close_lock);
    svc_msg_free(resp);
    svc_msg_free(fallback);
    svc_call_unref(base); /* the transport's reference: nothing more to send */
}

static void listener_unref(nats_listener *l)
{
    if (atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    pthread_rwlock_destroy(&l->close_lock);
    svc_nats_config_clear(&l->cfg);
    free(l->subs);
    free(l->peer);
    free(l);
}

void svc_nats_call_free(svc_call *c)
{
    nats_listener *l = ((nats_call *)c)->l;
    free(c);
    if (l)
        listener_unref(l);
}

const char *svc_nats_call_peer(const svc_call *c)
{
    return ((const nats_call *)c)->l->peer;
}

static void subscribe_service(const char *service, void *ud)
{
    nats_listener *l = ud;
    if (l->sub_rc)
        return;
    char subject[600];
    if (snprintf(subject, sizeof subject, "%s.%s.*", l->cfg.prefix, service) >= (int)sizeof subject) {
        l->sub_rc = svc_fail(SVC_INVALID_ARGUMENT, "service name too long: %.100s", service);
        return;
    }
    if (l->n_subs == l->cap_subs) {
        size_t cap = l->cap_subs ? l->cap_subs * 2 : 8;
        nats_sub **v = realloc(l->subs, cap * sizeof *v);
        if (!v) {
            l->sub_rc = svc_fail_oom();
            return;
        }
        l->subs = v;
        l->cap_subs = cap;
    }
    nats_sub *s = svc_nats_sub_new(NULL, l, &l->link, false);
    if (!s) {
        l->sub_rc = svc_fail_oom();
        return;
    }
    /* Requests queue in cnats, not in core: no per-subscription limit. */
    l->sub_rc = svc_nats_sub_open(s, atomic_load(&l->link.nc), subject, service, on_request, -1, -1,
                                  "cannot subscribe to requests");
    if (l->sub_rc)
        return;
    l->subs[l->n_subs++] = s;
    svc_log_info(l->ctx, "nats", "serving %s in queue group %s", subject, service);
}

static void listener_destroy(nats_listener *l)
{
    for (size_t i = 0; i < l->n_subs; i++)
        svc_nats_sub_stop(l->subs[i]);
    pthread_rwlock_wrlock(&l->close_lock);
    l->closed = true;
    pthread_rwlock_unlock(&l->close_lock);
    svc_nats_link_close(&l->link);
    listener_unref(l);
}

svc_code svc_nats_listen(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                         svc_listener **out)
{
    nats_listener *l = calloc(1, sizeof *l);
    if (!l)
        return svc_fail_oom();
    atomic_init(&l->refs, 1);
    pthread_rwlock_init(&l->close_lock, NULL);
    l->ctx = svc_server_ctx(s);
    l->server = s;
    l->max_body = o->max_body ? o->max_body : l->ctx->max_message_size;
    svc_code rc = svc_nats_config_parse(url, &o->tls, 0, &l->cfg);
    if (rc) {
        listener_unref(l);
        return rc;
    }
    svc_nats_link_init(&l->link, l->ctx, &l->cfg, "server", true);
    char bound[1200];
    snprintf(bound, sizeof bound, "%s/%s", l->cfg.label, l->cfg.prefix);
    if (!(l->peer = strdup(l->cfg.label)) || !(l->base.url = strdup(bound)))
        rc = svc_fail_oom();
    natsConnection *nc = NULL;
    if (rc == SVC_OK)
        rc = svc_nats_link_get(&l->link, &nc);
    if (rc == SVC_OK) {
        svc_server_each_service(s, subscribe_service, l);
        rc = l->sub_rc;
    }
    /* The subscriptions reach the server before listen returns, so a
     * caller told "listening" finds them. */
    if (rc == SVC_OK) {
        natsStatus st = natsConnection_FlushTimeout(nc, 5000);
        if (st != NATS_OK)
            rc = svc_nats_fail(st, "subscriptions not confirmed by the server");
    }
    if (rc) {
        free(l->base.url);
        listener_destroy(l);
        return rc;
    }
    *out = &l->base;
    return SVC_OK;
}

void svc_nats_listener_quiesce(svc_listener *base)
{
    nats_listener *l = (nats_listener *)base;
    /* Requests already queued are still served; no new ones are taken. */
    for (size_t i = 0; i < l->n_subs; i++)
        if (natsSubscription_Drain(l->subs[i]->ns) == NATS_OK)
            atomic_store(&l->subs[i]->draining, true);
}

void svc_nats_listener_free(svc_listener *base)
{
    listener_destroy((nats_listener *)base); /* core frees base.url */
}
