/*
 * One NATS connection made on first use, and its connectivity state.
 *
 * cnats reconnects by itself; we give it a backoff with jitter (doubling
 * from 100 ms to 2 s, ±25%), no limit on attempts, and a bounded reconnect
 * buffer (8 MiB: publishes beyond it fail with UNAVAILABLE instead of
 * growing memory). Its disconnected / reconnected / closed callbacks drive
 * the state the load balancer reads, which is logged on every change and
 * counted in svc_nats_connection_changes_total{target,role,state} with the
 * current value in the gauge svc_nats_connection_state{target,role}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctx.h"
#include "core/error.h"
#include "nats.h"
#include "observe/trace.h"

#define RECONNECT_BUF (8 * 1024 * 1024)
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* Connection attempts when the creds signature handler refuses a signature
 * (one nonce in 256 each: nats_creds.c). */
#define CONNECT_TRIES 8

void svc_nats_link_init(nats_link *l, svc_ctx *ctx, const nats_config *cfg, const char *role,
                        bool send_asap)
{
    memset(l, 0, sizeof *l);
    l->ctx = ctx;
    l->cfg = cfg;
    l->role = role;
    l->send_asap = send_asap;
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->subs_mu, NULL);
    pthread_cond_init(&l->closed_cv, NULL);
    atomic_init(&l->state, SVC_CONN_IDLE);
    atomic_init(&l->sig_refused, false);
    l->state_gauge = svc_metrics_counter(ctx->metrics, "svc_nats_connection_state",
                                         "NATS connectivity: 0 idle, 1 connecting, 2 ready, "
                                         "3 transient failure, 4 shutdown.",
                                         SVC_METRIC_GAUGE, "target", cfg->label, "role", role, NULL);
    for (int i = 0; i < SVC_CONN_STATES; i++)
        l->changes[i] = svc_metrics_counter(ctx->metrics, "svc_nats_connection_changes_total",
                                            "NATS connectivity state changes, by new state.",
                                            SVC_METRIC_COUNTER, "target", cfg->label, "role", role,
                                            "state", svc_conn_state_name((svc_conn_state)i), NULL);
}

static void set_state(nats_link *l, svc_conn_state to, const char *why)
{
    int from = atomic_exchange(&l->state, (int)to);
    if (from == (int)to)
        return;
    svc_counter_add(l->state_gauge, (int64_t)to - from);
    svc_counter_add(l->changes[to], 1);
    if (to == SVC_CONN_TRANSIENT_FAILURE)
        svc_log_warn(l->ctx, "nats", "%s connection to %s: %s -> %s%s%s", l->role, l->cfg->label,
                     svc_conn_state_name(from), svc_conn_state_name(to), why ? ": " : "", why ? why : "");
    else
        svc_log_info(l->ctx, "nats", "%s connection to %s: %s -> %s", l->role, l->cfg->label,
                     svc_conn_state_name(from), svc_conn_state_name(to));
}

svc_conn_state svc_nats_link_state(const nats_link *l)
{
    return (svc_conn_state)atomic_load(&l->state);
}

static void on_disconnected(natsConnection *nc, void *ud)
{
    (void)nc;
    nats_link *l = ud;
    if (!atomic_load(&l->closing)) /* our own close is no failure */
        set_state(l, SVC_CONN_TRANSIENT_FAILURE, "disconnected, reconnecting");
}

static void on_reconnected(natsConnection *nc, void *ud)
{
    nats_link *l = ud;
    atomic_store(&l->max_payload, natsConnection_GetMaxPayload(nc)); /* maybe another server */
    set_state(l, SVC_CONN_READY, NULL);
}

/* The last callback cnats makes for a connection: link_close waits for it
 * before the link's memory goes. */
static void on_closed(natsConnection *nc, void *ud)
{
    (void)nc;
    nats_link *l = ud;
    set_state(l, SVC_CONN_SHUTDOWN, NULL);
    pthread_mutex_lock(&l->mu);
    l->closed = true;
    pthread_cond_broadcast(&l->closed_cv);
    pthread_mutex_unlock(&l->mu);
}

static int64_t backoff(natsConnection *nc, int attempts, void *ud)
{
    (void)nc;
    (void)ud;
    int64_t d = BACKOFF_MIN_MS;
    for (int i = 1; i < attempts && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    /* ±25% so clients that lost the same server do not come back in step. */
    return d * 3 / 4 + (int64_t)(svc_random_u64() % (uint64_t)(d / 2 + 1));
}

static natsStatus set_tls(natsOptions *o, const nats_config *c)
{
    natsStatus s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && c->ca_file)
        s = natsOptions_LoadCATrustedCertificates(o, c->ca_file);
    if (s == NATS_OK && c->cert_file)
        s = natsOptions_LoadCertificatesChain(o, c->cert_file, c->key_file);
    if (s == NATS_OK && c->server_name)
        s = natsOptions_SetExpectedHostname(o, c->server_name);
    if (s == NATS_OK && c->insecure)
        s = natsOptions_SkipServerVerification(o, true);
    return s;
}

static natsStatus make_options(nats_link *l, natsOptions **out)
{
    const nats_config *c = l->cfg;
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, (const char **)c->servers, c->n_servers);
    if (s == NATS_OK)
        s = natsOptions_SetNoRandomize(o, c->n_servers == 1);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, c->connect_timeout_ms);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "libsvccomm");
    if (s == NATS_OK && c->user)
        s = natsOptions_SetUserInfo(o, c->user, c->password);
    if (s == NATS_OK && c->token)
        s = natsOptions_SetToken(o, c->token);
    if (s == NATS_OK && c->creds) /* not cnats' own handlers: nats_creds.c says why */
        s = natsOptions_SetUserCredentialsCallbacks(o, svc_nats_creds_jwt, l,
                                                    svc_nats_creds_sign, l);
    if (s == NATS_OK && c->tls)
        s = set_tls(o, c);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetCustomReconnectDelay(o, backoff, l);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(o, RECONNECT_BUF);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(o, l->send_asap);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, l);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, l);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, l);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, svc_nats_on_async_error, l);
    if (s != NATS_OK)
        natsOptions_Destroy(o);
    else
        *out = o;
    return s;
}

/* The credentials file is read at each connect (nats_creds.c), and one
 * that cannot be opened or holds no seed fails as a bare NATS_ERR naming
 * the file: that is the caller's configuration (INVALID_ARGUMENT, as for
 * bad TLS files), not an internal error. */
static svc_code connect_fail(const nats_config *c, natsStatus s, const char *what)
{
    natsStatus last = NATS_OK;
    const char *text = nats_GetLastError(&last);
    if (c->creds && s == NATS_ERR && last == s && text && strstr(text, c->creds))
        return svc_fail(SVC_INVALID_ARGUMENT, "%s: bad credentials file: %s", what, text);
    return svc_nats_fail(s, what);
}

/* natsConnection_Connect, again (with a new nonce) while the creds
 * signature handler refused the signature. */
static natsStatus connect_creds_retry(nats_link *l, natsOptions *o, natsConnection **nc)
{
    for (int attempt = 1;; attempt++) {
        atomic_store(&l->sig_refused, false);
        natsStatus s = natsConnection_Connect(nc, o);
        if (s == NATS_OK || !atomic_load(&l->sig_refused) || attempt == CONNECT_TRIES)
            return s;
        svc_log_info(l->ctx, "nats", "%s connection to %s: %s", l->role, l->cfg->label,
                     SVC_NATS_SIG_REFUSED);
    }
}

svc_code svc_nats_link_get(nats_link *l, natsConnection **out)
{
    natsConnection *nc = atomic_load_explicit(&l->nc, memory_order_acquire);
    if (nc) {
        *out = nc;
        return SVC_OK;
    }
    pthread_mutex_lock(&l->mu);
    nc = atomic_load_explicit(&l->nc, memory_order_acquire);
    if (nc) {
        pthread_mutex_unlock(&l->mu);
        *out = nc;
        return SVC_OK;
    }
    set_state(l, SVC_CONN_CONNECTING, NULL);
    natsOptions *o = NULL;
    natsStatus s = make_options(l, &o);
    char what[1100];
    snprintf(what, sizeof what, "cannot connect to %s", l->cfg->label);
    svc_code rc = SVC_OK;
    if (s != NATS_OK) {
        rc = svc_nats_fail(s, "bad NATS options (TLS files?)");
        if (rc == SVC_INTERNAL || rc == SVC_NOT_FOUND)
            rc = svc_fail(SVC_INVALID_ARGUMENT, "%s", svc_last_error());
    } else if ((s = connect_creds_retry(l, o, &nc)) != NATS_OK) {
        rc = connect_fail(l->cfg, s, what);
        nc = NULL;
    } else if (l->on_ready && (rc = l->on_ready(l, nc, l->ready_ud)) != SVC_OK) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
        nc = NULL;
    }
    natsOptions_Destroy(o);
    if (nc) {
        atomic_store(&l->max_payload, natsConnection_GetMaxPayload(nc));
        atomic_store_explicit(&l->nc, nc, memory_order_release);
        set_state(l, SVC_CONN_READY, NULL);
    } else {
        set_state(l, SVC_CONN_TRANSIENT_FAILURE, svc_last_error());
    }
    pthread_mutex_unlock(&l->mu);
    *out = nc;
    return rc;
}

int64_t svc_nats_link_max_payload(nats_link *l)
{
    return atomic_load_explicit(&l->max_payload, memory_order_relaxed);
}

void svc_nats_link_close(nats_link *l)
{
    natsConnection *nc = atomic_load(&l->nc);
    if (nc) {
        /* What is still buffered (the last replies, acks) goes out first. */
        if (!natsConnection_IsClosed(nc) && !natsConnection_IsReconnecting(nc))
            natsConnection_FlushTimeout(nc, 1000);
        atomic_store(&l->closing, true);
        natsConnection_Close(nc);
        struct timespec until;
        svc_nats_abstime(10000, &until);
        pthread_mutex_lock(&l->mu);
        while (!l->closed && pthread_cond_timedwait(&l->closed_cv, &l->mu, &until) == 0)
            ;
        pthread_mutex_unlock(&l->mu);
        natsConnection_Destroy(nc);
    }
    set_state(l, SVC_CONN_SHUTDOWN, NULL);
    pthread_cond_destroy(&l->closed_cv);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->subs_mu);
}
