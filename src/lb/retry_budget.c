/*
 * gRPC's retry throttling (gRFC A6): the bucket starts full; a failure
 * takes one token, a success gives token_ratio back, never beyond
 * max_tokens nor below zero; retries and hedges go out only while the
 * bucket holds more than half. Thousandths keep the arithmetic exact for
 * the three decimals gRPC allows in token_ratio.
 */
#include <math.h>

#include "lb/retry_budget.h"

void svc_retry_tokens_init(svc_retry_tokens *t, const svc_retry_budget *b)
{
    double max = b && b->max_tokens > 0 ? b->max_tokens : 100;
    double ratio = b && b->token_ratio > 0 ? b->token_ratio : 0.1;
    t->max_milli = llround(max * 1000);
    t->ratio_milli = llround(ratio * 1000);
    if (t->ratio_milli < 1)
        t->ratio_milli = 1;
    atomic_init(&t->milli, t->max_milli);
}

/* Adds `delta` (either sign), clamped to [0, max]. */
static void add_clamped(svc_retry_tokens *t, int64_t delta)
{
    int64_t cur = atomic_load_explicit(&t->milli, memory_order_relaxed), next;
    do {
        next = cur + delta;
        if (next < 0)
            next = 0;
        if (next > t->max_milli)
            next = t->max_milli;
    } while (next != cur && !atomic_compare_exchange_weak_explicit(
                                &t->milli, &cur, next, memory_order_relaxed, memory_order_relaxed));
}

void svc_retry_tokens_failure(svc_retry_tokens *t)
{
    add_clamped(t, -1000);
}

void svc_retry_tokens_success(svc_retry_tokens *t)
{
    add_clamped(t, t->ratio_milli);
}

bool svc_retry_tokens_allow(const svc_retry_tokens *t)
{
    return atomic_load_explicit(&t->milli, memory_order_relaxed) > t->max_milli / 2;
}
