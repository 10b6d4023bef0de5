/*
 * An endpoint of a balanced client: one instance of the service, its own
 * client (channel) to it, and the numbers the policies and the resilience
 * parts read: in-flight calls, peak-EWMA latency, outlier and health state.
 *
 * Endpoints are shared by the balancer's current set, the policy's copy of
 * it and every attempt running on them: refcounted, freed (with their
 * client) by the last unref, which never runs on one of the endpoint's own
 * client callbacks (the balancer hands it to the worker pool).
 */
#ifndef SVC_LB_ENDPOINT_H
#define SVC_LB_ENDPOINT_H

#include <stdatomic.h>
#include <svccomm/client.h>
#include <svccomm/discovery.h>
#include <svccomm/lb.h>

#include "lb/ewma.h"
#include "lb/outlier.h"
#include "observe/metrics.h"

struct svc_endpoint {
    atomic_int refs;
    char *url, *id, *zone;
    uint32_t weight;
    char **md;                 /* key, value, ..., NULL */
    svc_client *client;        /* NULL for endpoints made by unit tests */
    svc_outlier *outlier;      /* the balancer's detector; NULL = never ejected */
    atomic_int inflight;
    svc_peak_ewma ewma;
    svc_outlier_ep ejection;
    atomic_bool unhealthy;     /* the last active health check failed */
    svc_counter *picks, *retries, *ejections, *breaker_trips; /* NULL in tests */
};

/* A new endpoint (copies `info`; weight 0 becomes 1) with no client, one
 * reference. */
svc_code svc_endpoint_new(const svc_endpoint_info *info, svc_endpoint **out);
void svc_endpoint_ref(svc_endpoint *e);
/* Drops a reference; the last one frees the endpoint and its client (so
 * never call it from the client's own callbacks). */
void svc_endpoint_unref(svc_endpoint *e);

#endif
