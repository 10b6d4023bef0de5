#include "ctx.h"

#include <stdlib.h>
#include <unistd.h>

#include "error.h"

#define DEFAULT_MAX_MESSAGE (4u << 20)

void svc_ctx_config_init(svc_ctx_config *cfg)
{
    *cfg = (svc_ctx_config){
        .io_threads = 1,
        .workers = 0,
        .log_level = SVC_LOG_WARN,
        .max_message_size = DEFAULT_MAX_MESSAGE,
    };
}

svc_code svc_ctx_new(const svc_ctx_config *cfg_in, svc_ctx **out)
{
    svc_ctx_config cfg;
    if (cfg_in)
        cfg = *cfg_in;
    else
        svc_ctx_config_init(&cfg);
    if (!cfg.io_threads)
        cfg.io_threads = 1;
    if (!cfg.workers) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.workers = n > 2 ? (unsigned)n : 2;
    }
    if (!cfg.max_message_size)
        cfg.max_message_size = DEFAULT_MAX_MESSAGE;

    svc_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx || !(ctx->loops = calloc(cfg.io_threads, sizeof *ctx->loops))) {
        free(ctx);
        return svc_fail_oom();
    }
    svc_logger_init(&ctx->log, &cfg);
    ctx->max_message_size = cfg.max_message_size;
    svc_code rc = svc_metrics_new(&ctx->metrics);
    if (rc == SVC_OK)
        rc = svc_executor_new(cfg.workers, &ctx->exec);
    for (; rc == SVC_OK && ctx->n_loops < cfg.io_threads; ctx->n_loops++)
        rc = svc_loop_start((int)ctx->n_loops, &ctx->loops[ctx->n_loops]);
    if (rc != SVC_OK) {
        svc_ctx_free(ctx);
        return rc;
    }
    *out = ctx;
    return SVC_OK;
}

void svc_ctx_free(svc_ctx *ctx)
{
    if (!ctx)
        return;
    /* The pool first: a handler still running may answer, and answering
     * uses the loops (its deadline timer, a transport's I/O). The loops'
     * last tasks then find the pool refusing work and run it inline, so
     * the pool's memory stays until the loops are done; and every loop
     * stops before any is freed, since one's last task may post to another. */
    if (ctx->exec)
        svc_executor_stop(ctx->exec);
    for (unsigned i = 0; i < ctx->n_loops; i++)
        svc_loop_stop(ctx->loops[i]);
    for (unsigned i = 0; i < ctx->n_loops; i++)
        svc_loop_free(ctx->loops[i]);
    svc_executor_free(ctx->exec);
    svc_metrics_free(ctx->metrics);
    free(ctx->loops);
    free(ctx);
}

svc_loop *svc_ctx_loop(svc_ctx *ctx)
{
    unsigned i = atomic_fetch_add_explicit(&ctx->next_loop, 1, memory_order_relaxed);
    return ctx->loops[i % ctx->n_loops];
}

svc_code svc_metrics_prometheus(svc_ctx *ctx, char **out, size_t *len)
{
    if (!ctx || !out)
        return svc_fail(SVC_INVALID_ARGUMENT, "no context or output");
    *out = svc_metrics_render(ctx->metrics, len);
    return *out ? SVC_OK : svc_fail_oom();
}
