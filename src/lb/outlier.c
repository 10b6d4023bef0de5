/*
 * Passive outlier detection, as Envoy's consecutive_5xx and
 * consecutive_gateway_failure detectors do it, without a timer: an
 * ejection lasts base x times-ejected (capped at max) and ends the first
 * time someone asks after it ran out; the healthy stretch since then takes
 * one off times-ejected per base interval (Envoy takes one off per
 * detection interval), counted when the next ejection comes.
 */
#include "lb/outlier.h"

static int or_default(int v, int dflt)
{
    return v == 0 ? dflt : v;
}

static int64_t ms_or_default(int64_t v, int64_t dflt)
{
    return v <= 0 ? dflt : v;
}

void svc_outlier_init(svc_outlier *d, const svc_outlier_opts *o)
{
    svc_outlier_opts z = {0};
    if (!o)
        o = &z;
    d->o.consecutive_failures = or_default(o->consecutive_failures, 5);
    d->o.consecutive_gateway_failures = or_default(o->consecutive_gateway_failures, 3);
    d->o.base_ejection_ms = ms_or_default(o->base_ejection_ms, 10000);
    d->o.max_ejection_ms = ms_or_default(o->max_ejection_ms, 300000);
    d->o.max_ejection_percent = o->max_ejection_percent <= 0    ? 50
                                : o->max_ejection_percent > 100 ? 100
                                                                : o->max_ejection_percent;
    atomic_init(&d->ejected_now, 0);
}

static bool is_failure(svc_code code)
{
    return code == SVC_UNAVAILABLE || code == SVC_DEADLINE_EXCEEDED || code == SVC_INTERNAL ||
           code == SVC_UNKNOWN || code == SVC_DATA_LOSS;
}

/* A place under the cap of max_ejection_percent of n (at least one). */
static bool reserve_slot(svc_outlier *d, size_t n_endpoints)
{
    int cap = (int)(n_endpoints * (size_t)d->o.max_ejection_percent / 100);
    if (cap < 1)
        cap = 1;
    int now = atomic_load(&d->ejected_now);
    do {
        if (now >= cap)
            return false;
    } while (!atomic_compare_exchange_weak(&d->ejected_now, &now, now + 1));
    return true;
}

/* times_ejected for a new ejection at `now`: the old count less one per
 * base interval of health since the last ejection ended, plus this one. */
static int next_times(const svc_outlier *d, svc_outlier_ep *ep, svc_time now)
{
    int t = atomic_load(&ep->times_ejected);
    svc_time ended = atomic_load(&ep->ended_at);
    if (t > 0 && ended && now > ended) {
        int64_t healed = (now - ended) / (d->o.base_ejection_ms * SVC_NSEC_PER_MSEC);
        t = healed >= t ? 0 : t - (int)healed;
    }
    return t + 1;
}

static bool eject(svc_outlier *d, svc_outlier_ep *ep, size_t n_endpoints, svc_time now)
{
    if (atomic_load(&ep->ejected_until) || !reserve_slot(d, n_endpoints))
        return false;
    int times = next_times(d, ep, now);
    int64_t ms = d->o.base_ejection_ms * times;
    if (ms > d->o.max_ejection_ms || ms / times != d->o.base_ejection_ms)
        ms = d->o.max_ejection_ms;
    svc_time expected = 0;
    /* Racing failures of one endpoint: one of them ejects it. */
    if (!atomic_compare_exchange_strong(&ep->ejected_until, &expected,
                                        now + ms * SVC_NSEC_PER_MSEC)) {
        atomic_fetch_sub(&d->ejected_now, 1);
        return false;
    }
    atomic_store(&ep->times_ejected, times);
    atomic_store(&ep->failures, 0);
    atomic_store(&ep->gateway_failures, 0);
    return true;
}

bool svc_outlier_record(svc_outlier *d, svc_outlier_ep *ep, svc_code code, size_t n_endpoints,
                        svc_time now)
{
    if (!is_failure(code)) {
        atomic_store_explicit(&ep->failures, 0, memory_order_relaxed);
        atomic_store_explicit(&ep->gateway_failures, 0, memory_order_relaxed);
        return false;
    }
    int f = atomic_fetch_add(&ep->failures, 1) + 1;
    int g = 0;
    if (code == SVC_UNAVAILABLE)
        g = atomic_fetch_add(&ep->gateway_failures, 1) + 1;
    else
        atomic_store(&ep->gateway_failures, 0);
    int cf = d->o.consecutive_failures, cg = d->o.consecutive_gateway_failures;
    /* Still counting while the cap forbids an ejection, so the next failure
     * tries again once a place is free. */
    if ((cf > 0 && f >= cf) || (cg > 0 && g >= cg))
        return eject(d, ep, n_endpoints, now);
    return false;
}

bool svc_outlier_ejected(svc_outlier *d, svc_outlier_ep *ep, svc_time now)
{
    svc_time until = atomic_load(&ep->ejected_until);
    if (!until)
        return false;
    if (now < until)
        return true;
    if (atomic_compare_exchange_strong(&ep->ejected_until, &until, 0)) {
        atomic_store(&ep->ended_at, until);
        atomic_fetch_sub(&d->ejected_now, 1);
    }
    return false;
}

void svc_outlier_forget(svc_outlier *d, svc_outlier_ep *ep)
{
    if (atomic_exchange(&ep->ejected_until, 0))
        atomic_fetch_sub(&d->ejected_now, 1);
}
