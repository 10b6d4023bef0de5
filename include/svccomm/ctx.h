/*
 * svccomm/ctx.h — the context: I/O threads, timers, worker pool, logging and
 * metrics shared by every server and client made from it.
 *
 * Threads: an svc_ctx owns `io_threads` event-loop threads (libevent) that
 * drive sockets and timers, and `workers` threads on which handlers and
 * callbacks run unless they ask to run inline. The context is thread-safe.
 */
#ifndef SVCCOMM_CTX_H
#define SVCCOMM_CTX_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum svc_log_level {
    SVC_LOG_ERROR = 0,
    SVC_LOG_WARN = 1,
    SVC_LOG_INFO = 2,
    SVC_LOG_DEBUG = 3,
} svc_log_level;

/* A log sink. `component` ("rest", "inproc", "core", ...) and `message` are
 * borrowed for the duration of the call. Called from any library thread, so
 * it must be thread-safe; it must not call back into the library. */
typedef void (*svc_log_fn)(svc_log_level level, const char *component,
                           const char *message, void *ud);

typedef struct svc_ctx_config {
    unsigned io_threads;     /* event-loop threads; 0 = 1 */
    unsigned workers;        /* worker pool size; 0 = number of CPUs (at least 2) */
    svc_log_fn log_fn;       /* NULL = write WARN and ERROR lines to stderr */
    void *log_ud;
    svc_log_level log_level; /* most verbose level passed to log_fn */
    size_t max_message_size; /* largest request or reply accepted; 0 = 4 MiB */
} svc_ctx_config;

/* Fills `cfg` with the defaults. Use it, then change what you need: fields
 * added later get their default this way. */
SVC_API void svc_ctx_config_init(svc_ctx_config *cfg);

/* Creates a context and starts its threads. `cfg` is borrowed (NULL =
 * defaults). On success *out is yours; end it with svc_ctx_free(). */
SVC_API svc_code svc_ctx_new(const svc_ctx_config *cfg, svc_ctx **out);

/* Stops and joins the threads and frees the context. Free every server and
 * client made from it first. Must not be called from a library thread. */
SVC_API void svc_ctx_free(svc_ctx *ctx);

/* Renders every metric of the context in the Prometheus text exposition
 * format (version 0.0.4). On success *out is a NUL-terminated string to free
 * with svc_free() and *len (if not NULL) its length. */
SVC_API svc_code svc_metrics_prometheus(svc_ctx *ctx, char **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
