/*
 * Passive outlier detection (svc_outlier_opts): per-endpoint runs of
 * failures, ejection for base x times-ejected (capped), and a cap on how
 * many endpoints of a client are out at once. Lock-free.
 */
#ifndef SVC_LB_OUTLIER_H
#define SVC_LB_OUTLIER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <svccomm/lb.h>

/* One client's detector: options with defaults filled in, and how many of
 * its endpoints are ejected now. */
typedef struct svc_outlier {
    svc_outlier_opts o;
    atomic_int ejected_now;
} svc_outlier;

/* One endpoint's state. Zero-initialised = healthy, never ejected. */
typedef struct svc_outlier_ep {
    atomic_int failures, gateway_failures; /* in a row */
    _Atomic svc_time ejected_until;        /* 0 = not ejected */
    atomic_int times_ejected;              /* grows with each ejection; a
                                            * healthy stretch shrinks it */
    _Atomic svc_time ended_at;             /* when the last ejection ended
                                            * (0 = never): the start of the
                                            * healthy stretch */
} svc_outlier_ep;

void svc_outlier_init(svc_outlier *d, const svc_outlier_opts *o /* NULL = defaults */);
/* Records a call's outcome on `ep`. True when this ejected it (the caller
 * logs and counts it); false when not, or when the cap of
 * max_ejection_percent of `n_endpoints` (at least one) forbade it. */
bool svc_outlier_record(svc_outlier *d, svc_outlier_ep *ep, svc_code code,
                        size_t n_endpoints, svc_time now);
/* Whether `ep` is ejected at `now`; an ejection that has run out ends
 * here (ejected_now drops). */
bool svc_outlier_ejected(svc_outlier *d, svc_outlier_ep *ep, svc_time now);
/* `ep` leaves the client (so its ejection no longer counts). */
void svc_outlier_forget(svc_outlier *d, svc_outlier_ep *ep);

#endif
