#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void svc_logger_init(svc_logger *lg, const svc_ctx_config *cfg)
{
    lg->fn = cfg->log_fn;
    lg->ud = cfg->log_ud;
    lg->level = cfg->log_fn ? cfg->log_level : SVC_LOG_WARN;
}

void svc_logf(const svc_logger *lg, svc_log_level level, const char *component,
              const char *fmt, ...)
{
    svc_log_level max = lg ? lg->level : SVC_LOG_WARN;
    if (level > max)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (lg && lg->fn)
        lg->fn(level, component, line, lg->ud);
    else
        fprintf(stderr, "svccomm %s [%s] %s\n", level_names[level], component, line);
}
