#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"

/* Upper bounds of the latency buckets, in nanoseconds: 100 µs to 10 s, the
 * range that matters for calls between services. */
static const int64_t bucket_ns[] = {
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000,
    10000000000,
};
#define N_BUCKETS (sizeof bucket_ns / sizeof bucket_ns[0])

struct svc_call_stats {
    svc_call_stats *next;
    svc_role role;
    char *labels; /* 'transport="rest",method="a.B/C"' */
    atomic_uint_fast64_t codes[SVC_CODE_COUNT];
    atomic_uint_fast64_t buckets[N_BUCKETS + 1]; /* last: +Inf */
    atomic_uint_fast64_t sum_ns;
};

struct svc_counter {
    svc_counter *next;
    char *name;
    char *help;
    char *labels;
    bool gauge;
    atomic_int_fast64_t value;
};

struct svc_metrics {
    pthread_rwlock_t lock; /* guards the two lists; values are atomics */
    svc_call_stats *calls;
    svc_counter *counters;
};

svc_code svc_metrics_new(svc_metrics **out)
{
    svc_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return svc_fail_oom();
    pthread_rwlock_init(&m->lock, NULL);
    *out = m;
    return SVC_OK;
}

void svc_metrics_free(svc_metrics *m)
{
    if (!m)
        return;
    for (svc_call_stats *s = m->calls, *n; s; s = n) {
        n = s->next;
        free(s->labels);
        free(s);
    }
    for (svc_counter *c = m->counters, *n; c; c = n) {
        n = c->next;
        free(c->name);
        free(c->help);
        free(c->labels);
        free(c);
    }
    pthread_rwlock_destroy(&m->lock);
    free(m);
}

/* Appends name="value" with the escapes the exposition format asks for. */
static void put_label(svc_strbuf *b, const char *name, const char *value)
{
    if (b->len)
        svc_strbuf_putc(b, ',');
    svc_strbuf_puts(b, name);
    svc_strbuf_puts(b, "=\"");
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            svc_strbuf_putc(b, '\\');
        if (*p == '\n')
            svc_strbuf_puts(b, "\\n");
        else
            svc_strbuf_putc(b, *p);
    }
    svc_strbuf_putc(b, '"');
}

svc_call_stats *svc_metrics_call_stats(svc_metrics *m, svc_role role,
                                       const char *transport, const char *method)
{
    svc_strbuf b;
    svc_strbuf_init(&b);
    put_label(&b, "transport", transport);
    put_label(&b, "method", method);
    char *labels = svc_strbuf_take(&b, NULL);
    if (!labels)
        return NULL;

    svc_call_stats *s;
    pthread_rwlock_rdlock(&m->lock);
    for (s = m->calls; s; s = s->next)
        if (s->role == role && strcmp(s->labels, labels) == 0)
            break;
    pthread_rwlock_unlock(&m->lock);
    if (s) {
        free(labels);
        return s;
    }
    pthread_rwlock_wrlock(&m->lock);
    for (s = m->calls; s; s = s->next)
        if (s->role == role && strcmp(s->labels, labels) == 0)
            break;
    if (!s && (s = calloc(1, sizeof *s)) != NULL) {
        s->role = role;
        s->labels = labels;
        labels = NULL;
        s->next = m->calls;
        m->calls = s;
    }
    pthread_rwlock_unlock(&m->lock);
    free(labels);
    return s;
}

void svc_call_stats_record(svc_call_stats *s, svc_code code, int64_t latency_ns)
{
    if (!s)
        return;
    if ((unsigned)code >= SVC_CODE_COUNT)
        code = SVC_UNKNOWN;
    size_t i = 0;
    while (i < N_BUCKETS && latency_ns > bucket_ns[i])
        i++;
    atomic_fetch_add_explicit(&s->codes[code], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_ns, (uint64_t)(latency_ns > 0 ? latency_ns : 0),
                              memory_order_relaxed);
}

uint64_t svc_call_stats_count(const svc_call_stats *s, svc_code code)
{
    return (unsigned)code < SVC_CODE_COUNT ? atomic_load(&s->codes[code]) : 0;
}

svc_counter *svc_metrics_counter(svc_metrics *m, const char *name, const char *help,
                                 svc_metric_type type, ...)
{
    svc_strbuf b;
    svc_strbuf_init(&b);
    va_list ap;
    va_start(ap, type);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;)
        put_label(&b, k, va_arg(ap, const char *));
    va_end(ap);
    char *labels = svc_strbuf_take(&b, NULL);
    if (!labels)
        return NULL;

    svc_counter *c;
    pthread_rwlock_wrlock(&m->lock);
    for (c = m->counters; c; c = c->next)
        if (strcmp(c->name, name) == 0 && strcmp(c->labels, labels) == 0)
            break;
    if (!c && (c = calloc(1, sizeof *c)) != NULL) {
        c->name = strdup(name);
        c->help = strdup(help);
        c->labels = labels;
        c->gauge = type == SVC_METRIC_GAUGE;
        labels = NULL;
        if (!c->name || !c->help) {
            free(c->name);
            free(c->help);
            free(c->labels);
            free(c);
            c = NULL;
        } else {
            c->next = m->counters;
            m->counters = c;
        }
    }
    pthread_rwlock_unlock(&m->lock);
    free(labels);
    return c;
}

void svc_counter_add(svc_counter *c, int64_t delta)
{
    if (c)
        atomic_fetch_add_explicit(&c->value, delta, memory_order_relaxed);
}

int64_t svc_counter_value(const svc_counter *c)
{
    return c ? atomic_load(&c->value) : 0;
}

static void render_calls(svc_strbuf *b, const svc_metrics *m, svc_role role)
{
    const char *who = role == SVC_ROLE_SERVER ? "server" : "client";
    bool any = false;
    for (const svc_call_stats *s = m->calls; s && !any; s = s->next)
        any = s->role == role;
    if (!any)
        return;
    svc_strbuf_printf(b, "# HELP svc_%s_handled_total Calls completed by the %s, by status code.\n"
                         "# TYPE svc_%s_handled_total counter\n", who, who, who);
    for (const svc_call_stats *s = m->calls; s; s = s->next) {
        if (s->role != role)
            continue;
        for (int c = 0; c < SVC_CODE_COUNT; c++) {
            uint64_t n = atomic_load(&s->codes[c]);
            if (n)
                svc_strbuf_printf(b, "svc_%s_handled_total{%s,code=\"%s\"} %llu\n", who,
                                  s->labels, svc_code_name((svc_code)c), (unsigned long long)n);
        }
    }
    svc_strbuf_printf(b, "# HELP svc_%s_handling_seconds Latency of completed calls.\n"
                         "# TYPE svc_%s_handling_seconds histogram\n", who, who);
    for (const svc_call_stats *s = m->calls; s; s = s->next) {
        if (s->role != role)
            continue;
        uint64_t cum = 0;
        for (size_t i = 0; i <= N_BUCKETS; i++) {
            cum += atomic_load(&s->buckets[i]);
            if (i < N_BUCKETS)
                svc_strbuf_printf(b, "svc_%s_handling_seconds_bucket{%s,le=\"%g\"} %llu\n", who,
                                  s->labels, (double)bucket_ns[i] / 1e9, (unsigned long long)cum);
            else
                svc_strbuf_printf(b, "svc_%s_handling_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
                                  who, s->labels, (unsigned long long)cum);
        }
        svc_strbuf_printf(b, "svc_%s_handling_seconds_sum{%s} %.9f\n", who, s->labels,
                          (double)atomic_load(&s->sum_ns) / 1e9);
        svc_strbuf_printf(b, "svc_%s_handling_seconds_count{%s} %llu\n", who, s->labels,
                          (unsigned long long)cum);
    }
}

/* Counters are kept newest first; the exposition format wants each family's
 * lines together, so print family by family in first-seen order. */
static void render_counters(svc_strbuf *b, const svc_metrics *m)
{
    for (const svc_counter *c = m->counters; c; c = c->next) {
        bool oldest = true;
        for (const svc_counter *d = c->next; d && oldest; d = d->next)
            oldest = strcmp(d->name, c->name) != 0;
        if (!oldest)
            continue; /* printed with the oldest series of its family */
        svc_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", c->name, c->help, c->name,
                          c->gauge ? "gauge" : "counter");
        for (const svc_counter *d = m->counters; d; d = d->next)
            if (strcmp(d->name, c->name) == 0)
                svc_strbuf_printf(b, "%s%s%s%s %lld\n", d->name, *d->labels ? "{" : "",
                                  d->labels, *d->labels ? "}" : "",
                                  (long long)atomic_load(&d->value));
    }
}

char *svc_metrics_render(svc_metrics *m, size_t *len)
{
    svc_strbuf b;
    svc_strbuf_init(&b);
    pthread_rwlock_rdlock(&m->lock);
    render_calls(&b, m, SVC_ROLE_SERVER);
    render_calls(&b, m, SVC_ROLE_CLIENT);
    render_counters(&b, m);
    pthread_rwlock_unlock(&m->lock);
    return svc_strbuf_take(&b, len);
}
