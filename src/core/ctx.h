/* svc_ctx internals: what servers, clients and transports reach through it. */
#ifndef SVC_CORE_CTX_H
#define SVC_CORE_CTX_H

#include <stdatomic.h>
#include <svccomm/ctx.h>

#include "executor.h"
#include "log.h"
#include "loop.h"
#include "observe/metrics.h"

struct svc_ctx {
    svc_logger log;
    svc_loop **loops;
    unsigned n_loops;
    atomic_uint next_loop;
    svc_executor *exec;
    svc_metrics *metrics;
    size_t max_message_size;
};

/* Spreads connections and timers over the I/O threads, round robin. */
svc_loop *svc_ctx_loop(svc_ctx *ctx);

#define svc_log_error(ctx, comp, ...) svc_logf(&(ctx)->log, SVC_LOG_ERROR, comp, __VA_ARGS__)
#define svc_log_warn(ctx, comp, ...) svc_logf(&(ctx)->log, SVC_LOG_WARN, comp, __VA_ARGS__)
#define svc_log_info(ctx, comp, ...) svc_logf(&(ctx)->log, SVC_LOG_INFO, comp, __VA_ARGS__)
#define svc_log_debug(ctx, comp, ...) svc_logf(&(ctx)->log, SVC_LOG_DEBUG, comp, __VA_ARGS__)

#endif
