/* The balancer: endpoint sets from the resolver, picks, and the "svc"
 * transport ops that core calls. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/client_internal.h"
#include "core/clock.h"
#include "core/ctx.h"
#include "core/error.h"
#include "core/url.h"
#include "discovery/resolver.h"
#include "lb/backoff.h"
#include "lb/balancer.h"
#include "lb/policy.h"

/* How long svc_client_new waits for the first resolver answer when the
 * client options do not say (connect_timeout_ms). */
#define FIRST_ANSWER_MS 5000

void svc_lb_opts_init(svc_lb_opts *o)
{
    memset(o, 0, sizeof *o);
}

static void fill_defaults(svc_lb_opts *o)
{
    if (!o->policy)
        o->policy = "round_robin";
    svc_outlier_opts *od = &o->outlier;
    if (!od->consecutive_failures)
        od->consecutive_failures = 5;
    if (!od->consecutive_gateway_failures)
        od->consecutive_gateway_failures = 3;
    if (!od->base_ejection_ms)
        od->base_ejection_ms = 10000;
    if (!od->max_ejection_ms)
        od->max_ejection_ms = 300000;
    if (!od->max_ejection_percent)
        od->max_ejection_percent = 50;
}

/* ---- the endpoint set ---- */

/* The policy's pick in one group (called with the set lock held). */
static svc_endpoint *pick_in(svc_balancer *b, void *state, const svc_lb_pick *p,
                             const svc_endpoint *avoid)
{
    svc_endpoint *e = b->policy->pick(state, p);
    /* One more draw for a retry that landed where the last try failed;
     * deterministic policies (pick_first, hashing) answer the same, which
     * is then what they mean. */
    if (e && e == avoid && b->n_eps > 1) {
        svc_endpoint *other = b->policy->pick(state, p);
        if (other)
            e = other;
    }
    return e;
}

svc_endpoint *svc_balancer_pick(svc_balancer *b, const svc_lb_pick *p, const svc_endpoint *avoid)
{
    pthread_rwlock_rdlock(&b->set_lock);
    svc_endpoint *e = b->local_state ? pick_in(b, b->local_state, p, avoid) : NULL;
    if (!e)
        e = pick_in(b, b->policy_state, p, avoid);
    if (e)
        svc_endpoint_ref(e);
    pthread_rwlock_unlock(&b->set_lock);
    return e;
}

/* The local zone's endpoints among eps (a new array; NULL when none or
 * out of memory, which then only loses the preference). */
static svc_endpoint **local_endpoints(const svc_balancer *b, svc_endpoint *const *eps, size_t n,
                                      size_t *k)
{
    *k = 0;
    svc_endpoint **out = b->local_zone && n ? malloc(n * sizeof *out) : NULL;
    for (size_t i = 0; out && i < n; i++)
        if (eps[i]->zone && strcmp(eps[i]->zone, b->local_zone) == 0)
            out[(*k)++] = eps[i];
    return out;
}

svc_endpoint **svc_balancer_snapshot(svc_balancer *b, size_t *n)
{
    pthread_rwlock_rdlock(&b->set_lock);
    svc_endpoint **out = b->n_eps ? malloc(b->n_eps * sizeof *out) : NULL;
    *n = out ? b->n_eps : 0;
    for (size_t i = 0; i < *n; i++) {
        out[i] = b->eps[i];
        svc_endpoint_ref(out[i]);
    }
    pthread_rwlock_unlock(&b->set_lock);
    return out;
}

typedef struct unref_job {
    svc_balancer *b;
    svc_endpoint *e;
} unref_job;

static void run_unref(void *arg)
{
    unref_job *j = arg;
    svc_balancer *b = j->b;
    svc_endpoint_unref(j->e);
    free(j);
    pthread_mutex_lock(&b->mu);
    if (--b->queued_frees == 0)
        pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void svc_balancer_unref_later(svc_balancer *b, svc_endpoint *e)
{
    /* Not the last reference (the usual case): nothing to free here. */
    int refs = atomic_load_explicit(&e->refs, memory_order_relaxed);
    while (refs > 1)
        if (atomic_compare_exchange_weak(&e->refs, &refs, refs - 1))
            return;
    unref_job *j = malloc(sizeof *j);
    if (j) {
        *j = (unref_job){b, e};
        pthread_mutex_lock(&b->mu);
        b->queued_frees++;
        pthread_mutex_unlock(&b->mu);
        if (svc_executor_post(b->ctx->exec, run_unref, j) == SVC_OK)
            return;
        pthread_mutex_lock(&b->mu);
        b->queued_frees--;
        pthread_mutex_unlock(&b->mu);
        free(j);
    }
    svc_endpoint_unref(e); /* out of memory: better a wait here than a leak */
}

void svc_balancer_release_all(svc_balancer *b, svc_endpoint **eps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        svc_balancer_unref_later(b, eps[i]);
    free(eps);
}

static bool same_str(const char *a, const char *b)
{
    return !a == !b && (!a || strcmp(a, b) == 0);
}

/* The endpoint of eps that info describes: an endpoint whose URL, id,
 * weight or zone changed is a new one (policies read those once). */
static svc_endpoint *find_endpoint(svc_endpoint **eps, size_t n, const svc_endpoint_info *info)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(eps[i]->url, info->url) == 0 && same_str(eps[i]->id, info->id) &&
            same_str(eps[i]->zone, info->zone) &&
            eps[i]->weight == (info->weight ? info->weight : 1))
            return eps[i];
    return NULL;
}

static svc_counter *endpoint_counter(svc_balancer *b, const char *name, const char *help,
                                     const svc_endpoint *e)
{
    return svc_metrics_counter(b->ctx->metrics, name, help, SVC_METRIC_COUNTER, "service",
                               b->service, "endpoint", e->url, NULL);
}

/* A new endpoint with a client of its own; NULL (logged) when its URL is
 * one no transport serves. */
static svc_endpoint *make_endpoint(svc_balancer *b, const svc_endpoint_info *info)
{
    svc_endpoint *e;
    if (svc_endpoint_new(info, &e) != SVC_OK)
        return NULL;
    if (svc_client_new(b->ctx, info->url, &b->inner_opts, &e->client) != SVC_OK) {
        svc_log_warn(b->ctx, "lb", "service %s: skipping endpoint %s: %s", b->service, info->url,
                     svc_last_error());
        svc_endpoint_unref(e);
        return NULL;
    }
    e->outlier = &b->outlier;
    e->picks = endpoint_counter(b, "svc_lb_picks_total", "Calls sent to an endpoint", e);
    e->retries = endpoint_counter(b, "svc_lb_retries_total",
                                  "Retries and hedges sent to an endpoint", e);
    e->ejections = endpoint_counter(b, "svc_lb_ejections_total",
                                    "Times outlier detection ejected an endpoint", e);
    e->breaker_trips = endpoint_counter(b, "svc_lb_breaker_trips_total",
                                        "Calls refused by a circuit breaker", e);
    return e;
}

static void signal_resolved(svc_balancer *b)
{
    pthread_mutex_lock(&b->mu);
    b->resolved = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* The resolver's report: the new set keeps the endpoints (and their
 * connections and statistics) that are still listed. */
static void on_update(void *ud, svc_code code, const char *message, const svc_endpoint_info *infos,
                      size_t n)
{
    svc_balancer *b = ud;
    if (code != SVC_OK) {
        pthread_rwlock_wrlock(&b->set_lock);
        snprintf(b->last_error, sizeof b->last_error, "%s", message ? message : "");
        pthread_rwlock_unlock(&b->set_lock);
        svc_log_warn(b->ctx, "lb", "service %s: resolver %s: %s (keeping %s)", b->service,
                     b->resolver_url, message ? message : svc_code_name(code),
                     "the last known endpoints");
        signal_resolved(b);
        return;
    }
    svc_endpoint **fresh = n ? calloc(n, sizeof *fresh) : NULL;
    if (n && !fresh) {
        svc_log_warn(b->ctx, "lb", "service %s: out of memory for %zu endpoints", b->service, n);
        return;
    }
    /* Existing endpoints are read without the lock: only this thread
     * changes the set. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (find_endpoint(fresh, k, &infos[i]))
            continue; /* listed twice */
        svc_endpoint *e = find_endpoint(b->eps, b->n_eps, &infos[i]);
        if (e)
            svc_endpoint_ref(e);
        else
            e = make_endpoint(b, &infos[i]);
        if (e)
            fresh[k++] = e;
    }
    size_t k_local;
    svc_endpoint **local = local_endpoints(b, fresh, k, &k_local);
    pthread_rwlock_wrlock(&b->set_lock);
    svc_code rc = b->policy->update(b->policy_state, fresh, k);
    /* The full set is in: a failure here (memory) only costs the zone
     * preference until the next update, never the set. */
    if (rc == SVC_OK && b->local_state &&
        b->policy->update(b->local_state, local, k_local) != SVC_OK)
        b->policy->update(b->local_state, NULL, 0);
    svc_endpoint **old = b->eps;
    size_t n_old = b->n_eps;
    if (rc == SVC_OK) {
        b->eps = fresh;
        b->n_eps = k;
        atomic_store_explicit(&b->n_eps_now, k, memory_order_relaxed);
        b->last_error[0] = '\0';
    } else {
        snprintf(b->last_error, sizeof b->last_error, "policy %s: %s", b->policy->name,
                 svc_last_error());
    }
    pthread_rwlock_unlock(&b->set_lock);
    free(local);
    if (rc == SVC_OK)
        svc_log_info(b->ctx, "lb", "service %s: %zu endpoint(s)", b->service, k);
    else
        old = fresh, n_old = k;
    for (size_t i = 0; i < n_old; i++)
        svc_endpoint_unref(old[i]);
    free(old);
    signal_resolved(b);
}

void svc_balancer_outcome(svc_balancer *b, svc_endpoint *e, svc_code code, bool unprocessed,
                          int64_t latency_ns)
{
    svc_time now = svc_now();
    /* A first call's latency includes connecting: as a peak it would
     * stick to the endpoint for seconds. */
    if (code != SVC_CANCELLED && latency_ns >= 0)
        svc_peak_ewma_observe(&e->ewma, latency_ns, now);
    /* A request no server saw loaded no server: it neither takes a token
     * nor needs one to go elsewhere (gRPC's transparent retries). */
    if (code == SVC_OK)
        svc_retry_tokens_success(&b->tokens);
    else if (!unprocessed && (code == SVC_UNAVAILABLE || code == SVC_DEADLINE_EXCEEDED ||
                              code == SVC_RESOURCE_EXHAUSTED || code == SVC_INTERNAL))
        svc_retry_tokens_failure(&b->tokens);
    size_t n = atomic_load_explicit(&b->n_eps_now, memory_order_relaxed);
    if (svc_outlier_record(&b->outlier, &e->ejection, code, n, now)) {
        svc_counter_add(e->ejections, 1);
        svc_log_warn(b->ctx, "lb", "service %s: ejected %s after failures in a row (%s)",
                     b->service, e->url, svc_code_name(code));
    }
    if (code == SVC_UNAVAILABLE && unprocessed && b->resolver->resolve_now)
        b->resolver->resolve_now(b->resolver_state);
}

/* ---- retry policies ---- */

static void retry_defaults(svc_retry_policy *p)
{
    if (p->max_attempts > 5)
        p->max_attempts = 5;
    if (!p->retryable_codes)
        p->retryable_codes = 1u << SVC_UNAVAILABLE;
}

void svc_balancer_retry_policy(svc_balancer *b, const char *method, svc_retry_policy *out)
{
    *out = b->opts.retry;
    if (atomic_load_explicit(&b->any_method_retry, memory_order_acquire)) {
        pthread_rwlock_rdlock(&b->set_lock);
        const svc_retry_policy *p = svc_strmap_get(&b->method_retry, method, strlen(method));
        if (p)
            *out = *p;
        pthread_rwlock_unlock(&b->set_lock);
    }
    retry_defaults(out);
}

svc_code svc_client_set_retry(svc_client *c, const char *method, const svc_retry_policy *p)
{
    svc_channel *ch = c ? c->chan : NULL;
    if (!ch || !method || !p)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_client_set_retry: missing argument");
    if (ch->ops != &svc_balancer_transport)
        return svc_fail(SVC_FAILED_PRECONDITION,
                        "retry policies need a balanced client (a svc:// target)");
    svc_balancer *b = (svc_balancer *)ch;
    svc_retry_policy *copy = malloc(sizeof *copy);
    if (!copy)
        return svc_fail_oom();
    *copy = *p;
    pthread_rwlock_wrlock(&b->set_lock);
    free(svc_strmap_remove(&b->method_retry, method));
    svc_code rc = svc_strmap_put(&b->method_retry, method, copy);
    if (rc == SVC_OK)
        atomic_store_explicit(&b->any_method_retry, true, memory_order_release);
    pthread_rwlock_unlock(&b->set_lock);
    if (rc)
        free(copy);
    return rc ? svc_fail_oom() : SVC_OK;
}

/* ---- the channel ---- */

/* The registry to ask when the options name none: $SVC_RESOLVER, else the
 * list in $SVC_ENDPOINTS_<NAME> (upper case, other characters as '_'). */
static char *default_resolver(const char *service)
{
    const char *env = getenv("SVC_RESOLVER");
    if (env && *env)
        return strdup(env);
    size_t len = strlen(service);
    char *url = malloc(len + sizeof "static:$SVC_ENDPOINTS_");
    if (!url)
        return NULL;
    char *p = url + sprintf(url, "static:$SVC_ENDPOINTS_");
    for (size_t i = 0; i < len; i++)
        *p++ = isalnum((unsigned char)service[i]) ? (char)toupper((unsigned char)service[i]) : '_';
    *p = '\0';
    return url;
}

static void balancer_free(svc_channel *ch);

static svc_code balancer_new(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                             svc_channel **out)
{
    if (!url->host || !*url->host)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc:// needs a service name (svc://orders)");
    svc_lb_opts lb;
    if (o->lb)
        lb = *o->lb;
    else
        svc_lb_opts_init(&lb);
    fill_defaults(&lb);
    const svc_lb_policy_ops *policy = svc_lb_policy_find(lb.policy);
    if (!policy)
        return svc_fail(SVC_INVALID_ARGUMENT, "no load-balancing policy named '%s'", lb.policy);
    char *resolver_url = o->resolver ? strdup(o->resolver) : default_resolver(url->host);
    if (!resolver_url)
        return svc_fail_oom();
    const svc_resolver_ops *resolver = svc_resolver_find(resolver_url);
    if (!resolver) {
        svc_code rc = svc_fail(SVC_INVALID_ARGUMENT, "no resolver for '%s'", resolver_url);
        free(resolver_url);
        return rc;
    }
    svc_balancer *b = calloc(1, sizeof *b);
    if (!b || !(b->service = strdup(url->host))) {
        free(b);
        free(resolver_url);
        return svc_fail_oom();
    }
    b->ctx = ctx;
    b->resolver_url = resolver_url;
    b->resolver = resolver;
    b->opts = lb;
    b->opts.policy = NULL; /* borrowed strings are not kept */
    b->opts.policy_config = NULL;
    b->opts.local_zone = NULL;
    b->inner_opts = *o;
    b->inner_opts.resolver = NULL;
    b->inner_opts.lb = NULL;
    b->policy = policy;
    pthread_rwlock_init(&b->set_lock, NULL);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    svc_strmap_init(&b->method_retry);
    svc_outlier_init(&b->outlier, &lb.outlier);
    svc_retry_tokens_init(&b->tokens, &lb.budget);

    svc_code rc = policy->create(lb.policy_config, &b->policy_state);
    if (rc == SVC_OK && lb.local_zone && *lb.local_zone) {
        if (!(b->local_zone = strdup(lb.local_zone)))
            rc = svc_fail_oom();
        else
            rc = policy->create(lb.policy_config, &b->local_state);
    }
    if (rc) {
        balancer_free(&b->base);
        return rc;
    }
    rc = resolver->start(ctx, resolver_url, b->service, on_update, b, &b->resolver_state);
    if (rc) {
        b->resolver = NULL;
        balancer_free(&b->base);
        return rc;
    }
    /* Calls made at once should find endpoints: wait for the first answer
     * (a static list answers at once; etcd after one round trip). */
    int64_t wait_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : FIRST_ANSWER_MS;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (wait_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&b->mu);
    while (!b->resolved && pthread_cond_timedwait(&b->cv, &b->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&b->mu);
    if (lb.health.interval_ms > 0 && (rc = svc_health_checker_new(b, &b->health)) != SVC_OK) {
        balancer_free(&b->base);
        return rc;
    }
    *out = &b->base;
    return SVC_OK;
}

static void free_retry(const char *key, void *value, void *ud)
{
    (void)key, (void)ud;
    free(value);
}

static void balancer_free(svc_channel *ch)
{
    svc_balancer *b = (svc_balancer *)ch;
    svc_health_checker_free(b->health);
    pthread_mutex_lock(&b->mu);
    while (b->queued_frees > 0)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    if (b->resolver)
        b->resolver->stop(b->resolver_state); /* no update after this */
    if (b->policy_state)
        b->policy->destroy(b->policy_state);
    if (b->local_state)
        b->policy->destroy(b->local_state);
    free(b->local_zone);
    for (size_t i = 0; i < b->n_eps; i++)
        svc_endpoint_unref(b->eps[i]);
    free(b->eps);
    svc_strmap_each(&b->method_retry, free_retry, NULL);
    svc_strmap_clear(&b->method_retry);
    pthread_rwlock_destroy(&b->set_lock);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b->resolver_url);
    free(b->service);
    free(b);
}

/* The best state of any endpoint: ready if one is, and so on. */
static svc_conn_state balancer_state(const svc_channel *ch)
{
    svc_balancer *b = (svc_balancer *)ch;
    static const int rank[SVC_CONN_STATES] = {
        [SVC_CONN_READY] = 4, [SVC_CONN_CONNECTING] = 3, [SVC_CONN_IDLE] = 2,
        [SVC_CONN_TRANSIENT_FAILURE] = 1, [SVC_CONN_SHUTDOWN] = 0};
    svc_conn_state best = SVC_CONN_TRANSIENT_FAILURE;
    pthread_rwlock_rdlock(&b->set_lock);
    for (size_t i = 0; i < b->n_eps; i++) {
        svc_conn_state s = svc_endpoint_usable(b->eps[i]) ? svc_client_state(b->eps[i]->client)
                                                          : SVC_CONN_TRANSIENT_FAILURE;
        if (rank[s] > rank[best])
            best = s;
    }
    pthread_rwlock_unlock(&b->set_lock);
    return best;
}

void svc_balancer_describe_none(svc_balancer *b, char *buf, size_t len)
{
    pthread_rwlock_rdlock(&b->set_lock);
    if (b->n_eps == 0)
        snprintf(buf, len, "service '%s' has no endpoints (resolver %s%s%s)", b->service,
                 b->resolver_url, b->last_error[0] ? ": " : "", b->last_error);
    else
        snprintf(buf, len, "no usable endpoint for service '%s' (%zu known, all failing, "
                           "ejected or unhealthy)", b->service, b->n_eps);
    pthread_rwlock_unlock(&b->set_lock);
}

static svc_endpoint *pick_for(svc_balancer *b, const char *method, svc_code *why)
{
    svc_lb_pick p = {.method = method};
    svc_endpoint *e = svc_balancer_pick(b, &p, NULL);
    *why = e ? SVC_OK : SVC_UNAVAILABLE;
    if (!e) {
        char msg[400];
        svc_balancer_describe_none(b, msg, sizeof msg);
        svc_fail(SVC_UNAVAILABLE, "%s", msg);
    } else {
        svc_counter_add(e->picks, 1);
    }
    return e;
}

/* Streams are not retried: one endpoint serves the whole stream. */
static svc_code balancer_stream_open(svc_channel *ch, const char *method, const svc_call_opts *o,
                                     svc_stream **out)
{
    svc_balancer *b = (svc_balancer *)ch;
    svc_code rc;
    svc_endpoint *e = pick_for(b, method, &rc);
    if (!e)
        return rc;
    /* The stream lives on the endpoint's client; the set keeps the client
     * until the stream is freed, since freeing a client waits for its
     * streams' calls. */
    rc = svc_client_stream(e->client, method, o, out);
    svc_balancer_unref_later(b, e);
    return rc;
}

static svc_code balancer_publish(svc_channel *ch, const char *topic, const svc_msg *m,
                                 const svc_pub_opts *o)
{
    svc_balancer *b = (svc_balancer *)ch;
    svc_code rc;
    svc_endpoint *e = pick_for(b, topic, &rc);
    if (!e)
        return rc;
    rc = svc_publish(e->client, topic, m, o);
    svc_balancer_unref_later(b, e);
    return rc;
}

static const char *const balancer_schemes[] = {"svc", NULL};

const svc_transport_ops svc_balancer_transport = {
    .name = "svc",
    .schemes = balancer_schemes,
    .channel_new = balancer_new,
    .channel_free = balancer_free,
    .channel_state = balancer_state,
    .call_start = svc_lb_call_start,
    .call_cancel = svc_lb_call_cancel,
    .stream_open = balancer_stream_open,
    .publish = balancer_publish,
};
