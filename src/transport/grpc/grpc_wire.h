/*
 * What gRPC puts on top of HTTP/2, as pure functions over bytes (no I/O):
 * length-prefixed messages with their compression flag, gzip, the
 * percent-encoded grpc-message, the content type, headers ⇄ metadata and
 * the mappings from HTTP status and RST_STREAM codes to status codes
 * (PROTOCOL-HTTP2 and http-grpc-status-mapping of the gRPC docs).
 * Everything that reads a peer's bytes here is fuzzed
 * (tests/fuzz/grpc/fuzz_grpc_wire.c).
 */
#ifndef SVC_GRPC_WIRE_H
#define SVC_GRPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <svccomm/common.h>

#include "core/metadata.h"

#define SVC_GRPC_PREFIX 5 /* compressed flag + 4-byte big-endian length */

/* ---- messages ---- */

/* Reassembles messages from DATA chunks of one stream. */
typedef struct svc_grpc_deframer {
    uint8_t prefix[SVC_GRPC_PREFIX];
    size_t prefix_len;
    uint8_t *body; /* the message being assembled */
    size_t body_len, body_got, body_cap;
    bool compressed;
    size_t max; /* largest message accepted, compressed or not */
} svc_grpc_deframer;

/* A complete message: `body` (malloc'd, yours) of `len` bytes, still
 * compressed if `compressed`. Return non-OK to stop with that status. */
typedef svc_code (*svc_grpc_message_fn)(void *ud, uint8_t *body, size_t len, bool compressed);

void svc_grpc_deframer_init(svc_grpc_deframer *d, size_t max);
void svc_grpc_deframer_free(svc_grpc_deframer *d);
/* Feeds `n` bytes; calls fn for each message completed. RESOURCE_EXHAUSTED
 * for a message over max, INTERNAL for a flag other than 0 or 1 (the
 * message says which); fn's failures pass through. */
svc_code svc_grpc_deframe(svc_grpc_deframer *d, const uint8_t *p, size_t n, svc_grpc_message_fn fn,
                          void *ud);
/* True when no message is half received (END_STREAM is then clean). */
bool svc_grpc_deframer_idle(const svc_grpc_deframer *d);

/* Writes the 5-byte prefix of a message of `len` bytes. */
void svc_grpc_prefix(uint8_t out[SVC_GRPC_PREFIX], size_t len, bool compressed);

/* gzip (RFC 1952) both ways. Inflating stops with RESOURCE_EXHAUSTED past
 * `max` bytes (a small bomb must not become a large allocation) and
 * INTERNAL for a corrupt stream. Outputs are malloc'd. */
svc_code svc_grpc_gzip(const uint8_t *in, size_t n, uint8_t **out, size_t *out_len);
svc_code svc_grpc_gunzip(const uint8_t *in, size_t n, size_t max, uint8_t **out, size_t *out_len);

/* ---- headers ---- */

/* "application/grpc", optionally "+proto", "+json" or ";params". */
bool svc_grpc_content_type_ok(const char *v, size_t n);
/* The payload content type a gRPC content type carries (SVC_CT_PROTO or
 * SVC_CT_JSON), and back. */
const char *svc_grpc_payload_type(const char *grpc_ct, size_t n);
const char *svc_grpc_content_type(const char *payload_ct);

/* True for headers gRPC itself owns (pseudo-headers, content-type, te,
 * grpc-timeout, grpc-encoding, ...): they are not metadata. `name` is in
 * lower case. */
bool svc_grpc_header_reserved(const char *name, size_t n);
/* Adds a received header to md when it is metadata; "-bin" values are
 * base64-decoded (padded or not), one value per comma-separated piece.
 * INTERNAL for a "-bin" value that is not base64, so the peer's mistake is
 * not silently dropped. */
svc_code svc_grpc_header_to_md(svc_md *md, const char *name, size_t nlen, const char *value,
                               size_t vlen);

/* grpc-message: percent-encodes bytes outside 0x20..0x7E and '%'. The
 * decoder leaves malformed escapes as they are, as the spec asks. Both
 * return malloc'd, NUL-terminated strings (NULL when out of memory). */
char *svc_grpc_message_encode(const char *msg);
char *svc_grpc_message_decode(const char *v, size_t n);

/* grpc-status text → code; false when it is not a number 0..16 (the
 * caller then reports UNKNOWN). */
bool svc_grpc_status_parse(const char *v, size_t n, svc_code *out);

/* Status for a response whose :status is not 200. */
svc_code svc_grpc_code_from_http(int http_status);
/* Status for a stream reset with an HTTP/2 error code. */
svc_code svc_grpc_code_from_rst(uint32_t error_code);

/* "gzip" among the comma-separated grpc-accept-encoding values. */
bool svc_grpc_accepts_gzip(const char *v, size_t n);

#endif
