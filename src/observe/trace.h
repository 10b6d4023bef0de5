/*
 * W3C Trace Context (traceparent). A server call that arrives with a valid
 * traceparent opens a child span of it; client calls made inside the handler
 * carry the same trace id with a fresh span id of their own, plus the
 * caller's tracestate unchanged.
 */
#ifndef SVC_OBSERVE_TRACE_H
#define SVC_OBSERVE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SVC_TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

typedef struct svc_trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t flags;
    bool valid;
} svc_trace_ctx;

/* Parses a traceparent header; false (and !out->valid) when malformed. */
bool svc_trace_parse(const char *text, size_t len, svc_trace_ctx *out);
/* Same trace and flags as `parent`, new random span id. */
void svc_trace_child(const svc_trace_ctx *parent, svc_trace_ctx *child);
/* Writes the header value and a NUL into out. */
void svc_trace_format(const svc_trace_ctx *t, char out[SVC_TRACEPARENT_LEN + 1]);

/* Random 64-bit values from a per-thread generator seeded by the kernel:
 * span ids, jitter. Not for secrets. */
uint64_t svc_random_u64(void);

#endif
