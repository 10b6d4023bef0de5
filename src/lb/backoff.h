/* Retry backoff: full jitter over an exponential bound. */
#ifndef SVC_LB_BACKOFF_H
#define SVC_LB_BACKOFF_H

#include <stdint.h>
#include <svccomm/lb.h>

/* The wait before retry number `retry` (1 = the first retry), in ms:
 * uniform in [0, min(initial x multiplier^(retry-1), max)], defaults of
 * svc_retry_policy filled in. `rng` is the caller's xorshift state. */
int64_t svc_backoff_ms(const svc_retry_policy *p, int retry, uint64_t *rng);
/* A fast per-thread random number (xorshift64*), never 0 state. */
uint64_t svc_lb_rand(void);

#endif
