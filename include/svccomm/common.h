/*
 * svccomm/common.h — status codes, time, errors and the types every other
 * header shares.
 *
 * Conventions used by every libsvccomm header:
 *  - every function that can fail returns an svc_code; SVC_OK is 0;
 *  - objects are opaque, made by svc_x_new(..., &out) and ended by svc_x_free();
 *  - "takes" a pointer means ownership moves to the library, "borrowed" means
 *    the caller keeps it and it must stay valid for the duration stated;
 *  - unless a function says otherwise it may be called from any thread.
 */
#ifndef SVCCOMM_COMMON_H
#define SVCCOMM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SVC_API __attribute__((visibility("default")))
#else
#define SVC_API
#endif

/* The 17 status codes of gRPC, with the same numbers, for every transport. */
typedef enum svc_code {
    SVC_OK = 0,
    SVC_CANCELLED = 1,
    SVC_UNKNOWN = 2,
    SVC_INVALID_ARGUMENT = 3,
    SVC_DEADLINE_EXCEEDED = 4,
    SVC_NOT_FOUND = 5,
    SVC_ALREADY_EXISTS = 6,
    SVC_PERMISSION_DENIED = 7,
    SVC_RESOURCE_EXHAUSTED = 8,
    SVC_FAILED_PRECONDITION = 9,
    SVC_ABORTED = 10,
    SVC_OUT_OF_RANGE = 11,
    SVC_UNIMPLEMENTED = 12,
    SVC_INTERNAL = 13,
    SVC_UNAVAILABLE = 14,
    SVC_DATA_LOSS = 15,
    SVC_UNAUTHENTICATED = 16,
} svc_code;

#define SVC_CODE_COUNT 17

/* "NOT_FOUND" for SVC_NOT_FOUND; "UNKNOWN" for a number outside 0..16.
 * The string is static. */
SVC_API const char *svc_code_name(svc_code code);

/* Parses a code name ("NOT_FOUND", any case) or a decimal number ("5").
 * Returns SVC_INVALID_ARGUMENT when it is neither. */
SVC_API svc_code svc_code_parse(const char *text, svc_code *out);

/* The message of the last failure returned by a libsvccomm function on the
 * calling thread ("" if none). Thread-local; valid until the next call into
 * the library on this thread. */
SVC_API const char *svc_last_error(void);

/* Frees memory the library returned with "free with svc_free()". */
SVC_API void svc_free(void *p);

/* ---- time ----
 * Deadlines are absolute times on the monotonic clock, in nanoseconds, as
 * returned by svc_now(). 0 means "no deadline". They travel between
 * processes as a remaining time. */
typedef int64_t svc_time;

#define SVC_NSEC_PER_MSEC INT64_C(1000000)
#define SVC_NSEC_PER_SEC INT64_C(1000000000)

SVC_API svc_time svc_now(void);

/* Parses a duration such as "250ms", "2s", "1.5s", "1m", "100us" or a bare
 * number of milliseconds; the result is in nanoseconds. */
SVC_API svc_code svc_duration_parse(const char *text, int64_t *out_ns);

/* ---- TLS settings shared by servers and clients ----
 * All strings are borrowed file paths and are read when the listener or the
 * client is created. */
typedef struct svc_tls_opts {
    const char *cert_file;  /* PEM certificate chain presented to the peer */
    const char *key_file;   /* PEM private key of cert_file */
    const char *ca_file;    /* PEM CA bundle used to verify the peer */
    bool verify_peer;       /* server: require and verify a client certificate
                             * signed by ca_file (mutual TLS). client: ignored
                             * (clients always verify unless insecure) */
    bool insecure;          /* client only: do not verify the server at all */
    const char *server_name; /* client only: name to verify instead of the
                              * URL's host (SNI and certificate check) */
} svc_tls_opts;

typedef struct svc_ctx svc_ctx;
typedef struct svc_msg svc_msg;
typedef struct svc_server svc_server;
typedef struct svc_call svc_call;
typedef struct svc_client svc_client;
typedef struct svc_stream svc_stream;
typedef struct svc_sub svc_sub;
typedef struct svc_event svc_event;
typedef struct svc_cancel svc_cancel;

/* Where a handler or callback runs (DESIGN §4). */
typedef enum svc_dispatch {
    SVC_DISPATCH_POOL = 0,   /* on the context's worker pool (default) */
    SVC_DISPATCH_INLINE = 1, /* on the transport's I/O thread: never block */
} svc_dispatch;

#ifdef __cplusplus
}
#endif
#endif
