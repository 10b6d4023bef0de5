/*
 * Logging: every component logs through svc_log(), which formats once and
 * hands the line to the context's sink (the user's callback, or stderr for
 * WARN and ERROR). Levels above the configured one cost a compare.
 */
#ifndef SVC_CORE_LOG_H
#define SVC_CORE_LOG_H

#include <svccomm/ctx.h>

typedef struct svc_logger {
    svc_log_fn fn; /* NULL = stderr */
    void *ud;
    svc_log_level level;
} svc_logger;

void svc_logger_init(svc_logger *lg, const svc_ctx_config *cfg);

/* `lg` may be NULL (early failures): stderr, WARN and above. */
void svc_logf(const svc_logger *lg, svc_log_level level, const char *component,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
