/*
 * Peak-sensitive EWMA of latency, as Finagle's and Linkerd's peak_ewma
 * balancers keep it: a sample above the current cost replaces it at once
 * (peaks count immediately), smaller ones are averaged in with a weight
 * that decays with the time since the last sample (tau), and a read decays
 * the cost toward zero the same way, so an endpoint that was slow once is
 * tried again after a while. Lock-free; racing updates may lose a sample.
 */
#ifndef SVC_LB_EWMA_H
#define SVC_LB_EWMA_H

#include <stdatomic.h>
#include <stdint.h>
#include <svccomm/common.h>

#define SVC_EWMA_TAU_NS (10LL * 1000 * 1000 * 1000) /* Finagle's default decay: 10 s */

typedef struct svc_peak_ewma {
    _Atomic int64_t cost_ns;  /* the estimate at stamp_ns */
    _Atomic int64_t stamp_ns; /* svc_now() of the last sample */
} svc_peak_ewma;

/* Starts at `initial_ns` (0: unknown, so new endpoints get tried). */
void svc_peak_ewma_init(svc_peak_ewma *e, int64_t initial_ns, svc_time now);
void svc_peak_ewma_observe(svc_peak_ewma *e, int64_t rtt_ns, svc_time now);
/* The estimate decayed to `now`. */
int64_t svc_peak_ewma_get(const svc_peak_ewma *e, svc_time now);

#endif
