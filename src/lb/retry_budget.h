/*
 * gRPC's retry throttling (svc_retry_budget) as a token bucket in
 * thousandths of a token, lock-free: failures take one token, successes
 * give token_ratio back, retries are allowed while more than half are left.
 */
#ifndef SVC_LB_RETRY_BUDGET_H
#define SVC_LB_RETRY_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <svccomm/lb.h>

typedef struct svc_retry_tokens {
    _Atomic int64_t milli; /* tokens x 1000 */
    int64_t max_milli, ratio_milli;
} svc_retry_tokens;

void svc_retry_tokens_init(svc_retry_tokens *t, const svc_retry_budget *b /* NULL = defaults */);
void svc_retry_tokens_failure(svc_retry_tokens *t);
void svc_retry_tokens_success(svc_retry_tokens *t);
bool svc_retry_tokens_allow(const svc_retry_tokens *t);

#endif
