/*
 * Base64 (RFC 4648) for "-bin" metadata on text wires and for proto3 JSON
 * bytes fields. Encoding is standard, padded. Decoding accepts the standard
 * and the URL-safe alphabet, with or without padding, and nothing else.
 */
#ifndef SVC_CORE_BASE64_H
#define SVC_CORE_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes needed to encode `len` bytes, NUL included. */
size_t svc_base64_encoded_size(size_t len);

/* Writes the encoding of `in` and a NUL into `out` (svc_base64_encoded_size
 * bytes); returns the length without the NUL. */
size_t svc_base64_encode(const void *in, size_t len, char *out);

/* Decodes `in` into `out` (at least len * 3 / 4 + 3 bytes); returns false on
 * a character outside the alphabets or a malformed tail. */
bool svc_base64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len);

#endif
