/*
 * The metrics registry of a context. Two kinds of series:
 *  - call statistics, one per (role, transport, method): a count per status
 *    code and a latency histogram, recorded by core for every transport at
 *    the one place a call completes;
 *  - plain counters and gauges with free-form labels for everything else
 *    (dropped events, reconnects, ...).
 * Series are created on first use and live as long as the registry, so the
 * pointers handed out stay valid and updates are lock-free atomics.
 */
#ifndef SVC_OBSERVE_METRICS_H
#define SVC_OBSERVE_METRICS_H

#include <stdint.h>
#include <svccomm/common.h>

typedef struct svc_metrics svc_metrics;
typedef struct svc_call_stats svc_call_stats;
typedef struct svc_counter svc_counter;

typedef enum svc_role { SVC_ROLE_SERVER = 0, SVC_ROLE_CLIENT = 1 } svc_role;

svc_code svc_metrics_new(svc_metrics **out);
void svc_metrics_free(svc_metrics *m);

/* The series for (role, transport, method); NULL only when out of memory. */
svc_call_stats *svc_metrics_call_stats(svc_metrics *m, svc_role role,
                                       const char *transport, const char *method);
void svc_call_stats_record(svc_call_stats *s, svc_code code, int64_t latency_ns);
/* Completed calls with `code` so far (tests, the demo). */
uint64_t svc_call_stats_count(const svc_call_stats *s, svc_code code);

typedef enum svc_metric_type { SVC_METRIC_COUNTER, SVC_METRIC_GAUGE } svc_metric_type;

/* A counter (or gauge) `name` with `labels`, given as pairs of name and
 * value terminated by NULL: svc_metrics_counter(m, "x_total", "help",
 * SVC_METRIC_COUNTER, "sub", "orders", NULL). Values are escaped here. */
svc_counter *svc_metrics_counter(svc_metrics *m, const char *name, const char *help,
                                 svc_metric_type type, ...) __attribute__((sentinel));
void svc_counter_add(svc_counter *c, int64_t delta);
int64_t svc_counter_value(const svc_counter *c);

/* The Prometheus text format of everything; malloc'd, NULL when out of
 * memory. */
char *svc_metrics_render(svc_metrics *m, size_t *len);

#endif
