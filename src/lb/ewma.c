/*
 * Peak-sensitive EWMA, after Finagle's PeakEwma node and linkerd2-proxy's
 * (tower's) peak_ewma RttEstimate. With w = exp(-(now - stamp) / tau):
 *
 *   observe(rtt):  cost = rtt                        if rtt > cost (a peak)
 *                  cost = cost * w + rtt * (1 - w)   otherwise
 *                  stamp = now
 *   get():         cost * w   (an observation of 0 that is not stored, as
 *                  Finagle's get() and tower's decay() read it)
 *
 * The two fields are separate atomics: a racing reader may pair a new cost
 * with an old stamp, which only shifts the decay by the gap between two
 * samples; a racing writer may lose a sample. Both are tolerable for a
 * load estimate and keep observe() and get() free of locks.
 */
#include <math.h>

#include "lb/ewma.h"

static double decay(int64_t elapsed_ns)
{
    return elapsed_ns <= 0 ? 1.0 : exp(-(double)elapsed_ns / (double)SVC_EWMA_TAU_NS);
}

void svc_peak_ewma_init(svc_peak_ewma *e, int64_t initial_ns, svc_time now)
{
    atomic_init(&e->cost_ns, initial_ns > 0 ? initial_ns : 0);
    atomic_init(&e->stamp_ns, now);
}

void svc_peak_ewma_observe(svc_peak_ewma *e, int64_t rtt_ns, svc_time now)
{
    if (rtt_ns < 0)
        rtt_ns = 0;
    int64_t cost = atomic_load_explicit(&e->cost_ns, memory_order_relaxed);
    if (rtt_ns > cost) {
        atomic_store_explicit(&e->cost_ns, rtt_ns, memory_order_relaxed);
    } else {
        double w = decay(now - atomic_load_explicit(&e->stamp_ns, memory_order_relaxed));
        double next = (double)cost * w + (double)rtt_ns * (1.0 - w);
        atomic_store_explicit(&e->cost_ns, (int64_t)llround(next), memory_order_relaxed);
    }
    atomic_store_explicit(&e->stamp_ns, now, memory_order_relaxed);
}

int64_t svc_peak_ewma_get(const svc_peak_ewma *e, svc_time now)
{
    int64_t cost = atomic_load_explicit(&e->cost_ns, memory_order_relaxed);
    if (!cost)
        return 0;
    double w = decay(now - atomic_load_explicit(&e->stamp_ns, memory_order_relaxed));
    return (int64_t)llround((double)cost * w);
}
