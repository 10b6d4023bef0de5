/*
 * The dns resolver, on c-ares: registry URL "dns://HOST:PORT" (that
 * server) or "dns:" (the system's, from /etc/resolv.conf), with optional
 * query parameters scheme= (default grpc), port= (default 443, for A/AAAA
 * answers) and min_interval= (seconds, default 30). For service NAME it
 * asks for SRV records of "_<scheme>._tcp.NAME" (of NAME itself when it
 * starts with '_'), uses the lowest priority's targets with their SRV
 * weights and ports, and resolves each target's A/AAAA records unless the
 * answer carried them; without SRV records it takes NAME's own A/AAAA
 * records. It looks again when the smallest TTL runs out, but never sooner
 * than min_interval after the last look, also when a client asks through
 * resolve_now().
 *
 * Each resolver has a thread of its own that drives its c-ares channel
 * with poll(): lookups are rare, and a blocking thread keeps c-ares off
 * the I/O loops, whose callbacks must never wait on a slow DNS server.
 */
#include <ares.h>
#include <ctype.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/error.h"
#include "core/url.h"
#include "dns_answer.h"
#include "notify.h"
#include "resolver_impl.h"
#include "worker.h"

#define DEFAULT_PORT 443
#define DEFAULT_MIN_INTERVAL_S 30
#define QUERY_TIMEOUT_MS 1000
#define POLL_SLICE_MS 100 /* how soon a stop is noticed during a lookup */

typedef struct dns_res {
    svc_disc_worker w;
    svc_disc_notify nt;
    svc_ctx *ctx;
    ares_channel ch;
    char *scheme;
    int port;
    int64_t min_interval_ns;
    char *srv_name; /* what SRV records are asked for */
    char *host;     /* whose A/AAAA records stand in for them; NULL for "_..." names */
    atomic_bool wanted; /* resolve_now() was called */
} dns_res;

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status;

static void ares_setup(void)
{
    ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* ---- one query, driven to its end ---- */

typedef struct query_state {
    bool done;
    int status;
    svc_dns_answer *answer;
    svc_code parse_rc;
    char parse_err[256];
} query_state;

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    query_state *q = arg;
    q->done = true;
    q->status = status;
    if (status == ARES_SUCCESS && abuf) {
        q->parse_rc = svc_dns_answer_parse(abuf, (size_t)alen, q->answer);
        if (q->parse_rc != SVC_OK)
            snprintf(q->parse_err, sizeof q->parse_err, "%s", svc_last_error());
    }
}

/* Runs the channel until the query is answered; false when stopping
 * (the query is then cancelled). */
static bool drive(dns_res *r, query_state *q)
{
    while (!q->done) {
        if (svc_disc_worker_stopping(&r->w)) {
            ares_cancel(r->ch);
            return false;
        }
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        /* The bits by hand: c-ares's macros shift a signed 1 into bit 31. */
        unsigned bits = (unsigned)ares_getsock(r->ch, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        nfds_t n = 0;
        for (unsigned i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            short ev = (short)((bits & 1u << i ? POLLIN : 0) |
                               (bits & 1u << (i + ARES_GETSOCK_MAXNUM) ? POLLOUT : 0));
            if (ev)
                pfd[n++] = (struct pollfd){.fd = socks[i], .events = ev};
        }
        struct timeval max = {0, POLL_SLICE_MS * 1000}, tv;
        struct timeval *t = ares_timeout(r->ch, &max, &tv);
        int ms = (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
        int ready = poll(pfd, n, ms);
        if (ready <= 0) {
            ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
            continue;
        }
        for (nfds_t i = 0; i < n; i++)
            if (pfd[i].revents)
                ares_process_fd(r->ch,
                                pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD,
                                pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
    }
    return true;
}

/* Asks for `name`'s records of `type`, adding them to `a`. SVC_OK also for
 * a name without such records; SVC_CANCELLED when stopping. */
static svc_code query(dns_res *r, const char *name, int type, svc_dns_answer *a)
{
    query_state q = {.answer = a};
    ares_query(r->ch, name, 1 /* IN */, type, on_answer, &q);
    if (!drive(r, &q))
        return svc_fail(SVC_CANCELLED, "dns: stopped");
    if (q.status == ARES_SUCCESS) {
        if (q.parse_rc != SVC_OK)
            return svc_fail(SVC_UNAVAILABLE, "%s (for %s)", q.parse_err, name);
        return SVC_OK;
    }
    if (q.status == ARES_ENOTFOUND || q.status == ARES_ENODATA)
        return SVC_OK;
    return svc_fail(SVC_UNAVAILABLE, "dns: looking up %s: %s", name, ares_strerror(q.status));
}

static bool has_address(const svc_dns_answer *a, const char *host)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->rr[i].type != SVC_DNS_T_SRV && strcasecmp(a->rr[i].name, host) == 0)
            return true;
    return false;
}

static svc_code query_addresses(dns_res *r, const char *host, svc_dns_answer *a)
{
    svc_code rc = query(r, host, SVC_DNS_T_A, a);
    return rc == SVC_OK ? query(r, host, SVC_DNS_T_AAAA, a) : rc;
}

/* SRV, then the addresses the answer lacks; *any_srv tells whether there
 * were SRV records. */
static svc_code lookup(dns_res *r, svc_dns_answer *a, bool *any_srv)
{
    svc_code rc = query(r, r->srv_name, SVC_DNS_T_SRV, a);
    size_t n_srv = a->n;
    *any_srv = false;
    for (size_t i = 0; rc == SVC_OK && i < n_srv; i++) {
        if (a->rr[i].type != SVC_DNS_T_SRV || strcasecmp(a->rr[i].name, r->srv_name) != 0)
            continue;
        *any_srv = true;
        char *target = a->rr[i].target; /* stays put: the array may move, not the string */
        if (strcmp(target, ".") != 0 && target[0] && !has_address(a, target))
            rc = query_addresses(r, target, a);
    }
    if (rc == SVC_OK && !*any_srv && r->host)
        rc = query_addresses(r, r->host, a);
    return rc;
}

/* One look; returns when to look again, or -1 when stopping. */
static int64_t resolve(dns_res *r)
{
    svc_dns_answer a;
    svc_dns_answer_init(&a);
    svc_eplist l;
    svc_eplist_init(&l);
    uint32_t ttl = UINT32_MAX;
    bool any_srv;
    svc_code rc = lookup(r, &a, &any_srv);
    if (rc == SVC_OK)
        rc = svc_dns_endpoints(&a, r->srv_name, r->host, r->scheme, r->port, &l, &ttl);
    svc_dns_answer_free(&a);
    if (rc == SVC_OK && l.n == 0 && any_srv)
        rc = svc_fail(SVC_NOT_FOUND, "dns: the targets of the SRV records for %s have no A/AAAA "
                                     "records",
                      r->srv_name);
    else if (rc == SVC_OK && l.n == 0)
        rc = svc_fail(SVC_NOT_FOUND, r->host ? "dns: no SRV records for %s and no A/AAAA records for %s"
                                             : "dns: no SRV records for %s%s",
                      r->srv_name, r->host ? r->host : "");
    if (rc == SVC_CANCELLED) {
        svc_eplist_clear(&l);
        return -1;
    }
    if (rc != SVC_OK) {
        svc_eplist_clear(&l);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", svc_last_error());
        if (svc_disc_notify_fail(&r->nt, rc, msg))
            svc_log_warn(r->ctx, "discovery", "%s", msg);
        return r->min_interval_ns;
    }
    svc_disc_notify_list(&r->nt, &l);
    int64_t next = (int64_t)ttl * SVC_NSEC_PER_SEC;
    return ttl == UINT32_MAX || next < r->min_interval_ns ? r->min_interval_ns : next;
}

static void body(void *ud)
{
    dns_res *r = ud;
    for (;;) {
        svc_time last = svc_now();
        int64_t wait = resolve(r);
        if (wait < 0)
            return;
        svc_time next = last + wait;
        bool wanted = false;
        for (;;) {
            wanted |= atomic_exchange(&r->wanted, false);
            svc_time due = next;
            if (wanted && last + r->min_interval_ns < due)
                due = last + r->min_interval_ns;
            svc_time now = svc_now();
            if (now >= due)
                break;
            if (!svc_disc_worker_sleep(&r->w, due - now))
                return;
        }
    }
}

/* ---- start and stop ---- */

static void res_free(dns_res *r)
{
    if (r->ch)
        ares_destroy(r->ch);
    svc_disc_notify_free(&r->nt);
    free(r->scheme);
    free(r->srv_name);
    free(r->host);
    free(r);
}

static bool int_param(const char *query, const char *name, int lo, int hi, int *out)
{
    char *v = query ? svc_query_get(query, name) : NULL;
    if (!v)
        return true;
    char *end;
    long x = strtol(v, &end, 10);
    bool ok = *v && !*end && x >= lo && x <= hi;
    free(v);
    if (ok)
        *out = (int)x;
    return ok;
}

/* "dns:" [ "//" host [":" port] ] [ "/" ] [ "?" query ] */
static svc_code parse_url(dns_res *r, const char *url, char **server)
{
    const char *p = url + 4, *query = NULL;
    *server = NULL;
    if (strncmp(p, "//", 2) == 0) {
        p += 2;
        size_t n = strcspn(p, "/?");
        if (!n)
            return svc_fail(SVC_INVALID_ARGUMENT, "dns: no server in \"%s\"", url);
        char *text = NULL;
        svc_url *u = NULL;
        svc_code rc = asprintf(&text, "dns://%.*s", (int)n, p) < 0 ? svc_fail_oom()
                                                                   : svc_url_parse(text, &u);
        free(text);
        if (rc != SVC_OK)
            return rc;
        bool v6 = strchr(u->host, ':') != NULL;
        rc = u->n_hosts != 1 ? svc_fail(SVC_INVALID_ARGUMENT, "dns: one server only in \"%s\"", url)
             : asprintf(server, "%s%s%s:%d", v6 ? "[" : "", u->host, v6 ? "]" : "",
                        svc_url_port_or(u, 53)) < 0 ? svc_fail_oom() : SVC_OK;
        svc_url_free(u);
        if (rc != SVC_OK)
            return rc;
        p += n;
    }
    if (*p == '/')
        p++;
    if (*p == '?')
        query = p + 1;
    else if (*p)
        return svc_fail(SVC_INVALID_ARGUMENT, "dns: unexpected \"%s\" in \"%s\"", p, url);
    r->port = DEFAULT_PORT;
    int min_s = DEFAULT_MIN_INTERVAL_S;
    if (!int_param(query, "port", 1, 65535, &r->port) ||
        !int_param(query, "min_interval", 1, 86400, &min_s))
        return svc_fail(SVC_INVALID_ARGUMENT,
                        "dns: port must be 1-65535 and min_interval 1-86400 seconds in \"%s\"", url);
    r->min_interval_ns = min_s * SVC_NSEC_PER_SEC;
    r->scheme = query ? svc_query_get(query, "scheme") : NULL;
    if (!r->scheme && !(r->scheme = strdup("grpc")))
        return svc_fail_oom();
    for (const char *s = r->scheme; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("+.-", *s))
            return svc_fail(SVC_INVALID_ARGUMENT, "dns: \"%s\" is not a URL scheme", r->scheme);
    if (!r->scheme[0])
        return svc_fail(SVC_INVALID_ARGUMENT, "dns: empty scheme= in \"%s\"", url);
    return SVC_OK;
}

static svc_code set_names(dns_res *r, const char *service)
{
    size_t n = service ? strlen(service) : 0;
    if (n && service[n - 1] == '.')
        n--;
    if (!n || n > 253)
        return svc_fail(SVC_INVALID_ARGUMENT, "dns: \"%s\" is not a DNS name", service ? service : "");
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)service[i]) && !strchr("-_.", service[i]))
            return svc_fail(SVC_INVALID_ARGUMENT, "dns: \"%s\" is not a DNS name", service);
    if (service[0] == '_')
        r->srv_name = strndup(service, n);
    else if (!(r->host = strndup(service, n)) ||
             asprintf(&r->srv_name, "_%s._tcp.%.*s", r->scheme, (int)n, service) < 0)
        r->srv_name = NULL;
    if (!r->srv_name)
        return svc_fail_oom();
    for (char *s = r->srv_name; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    return SVC_OK;
}

static svc_code open_channel(dns_res *r, const char *server)
{
    pthread_once(&ares_once, ares_setup);
    if (ares_init_status != ARES_SUCCESS)
        return svc_fail(SVC_INTERNAL, "dns: c-ares: %s", ares_strerror(ares_init_status));
    struct ares_options o = {.timeout = QUERY_TIMEOUT_MS, .tries = 2};
    int st = ares_init_options(&r->ch, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (st == ARES_SUCCESS && server)
        st = ares_set_servers_ports_csv(r->ch, server);
    if (st != ARES_SUCCESS)
        return svc_fail(st == ARES_ENOMEM ? SVC_RESOURCE_EXHAUSTED : SVC_INVALID_ARGUMENT,
                        "dns: c-ares: %s%s%s", ares_strerror(st), server ? " for " : "",
                        server ? server : "");
    return SVC_OK;
}

static svc_code dns_start(svc_ctx *ctx, const char *url, const char *service,
                          svc_resolver_update_fn update, void *ud, void **state)
{
    if (!url || strncasecmp(url, "dns:", 4) != 0)
        return svc_fail(SVC_INVALID_ARGUMENT, "dns: \"%s\" is not a dns: URL", url ? url : "");
    dns_res *r = calloc(1, sizeof *r);
    if (!r)
        return svc_fail_oom();
    r->ctx = ctx;
    atomic_init(&r->wanted, false);
    svc_disc_notify_init(&r->nt, update, ud);
    char *server = NULL;
    svc_code rc = parse_url(r, url, &server);
    if (rc == SVC_OK)
        rc = set_names(r, service);
    if (rc == SVC_OK)
        rc = open_channel(r, server);
    free(server);
    if (rc == SVC_OK)
        rc = svc_disc_worker_start(&r->w, body, r, NULL);
    if (rc != SVC_OK) {
        res_free(r);
        return rc;
    }
    *state = r;
    return SVC_OK;
}

static void dns_resolve_now(void *state)
{
    dns_res *r = state;
    atomic_store(&r->wanted, true);
    svc_disc_worker_kick(&r->w);
}

static void dns_stop(void *state)
{
    dns_res *r = state;
    svc_disc_worker_stop(&r->w);
    res_free(r);
}

const svc_resolver_ops svc_dns_resolver = {
    .scheme = "dns",
    .start = dns_start,
    .resolve_now = dns_resolve_now,
    .stop = dns_stop,
};
