/*
 * svccomm/msg.h — messages: a payload with its content type, metadata and,
 * on replies, a status.
 *
 * Metadata is an ordered list of key → value pairs. Keys are compared without
 * regard to case and stored in lower case; they may hold a-z 0-9 '-' '_' '.'.
 * Values of keys ending in "-bin" are arbitrary bytes (base64 on text wires);
 * other values are printable ASCII (0x20..0x7E). A key may appear more than
 * once; the order of values is kept.
 *
 * Threads: an svc_msg belongs to one thread at a time. Handing it to the
 * library (a function that "takes" it) hands it over entirely.
 */
#ifndef SVCCOMM_MSG_H
#define SVCCOMM_MSG_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Content types the codecs understand. */
#define SVC_CT_JSON "application/json"
#define SVC_CT_PROTO "application/proto"

/* Creates an empty message. *out is yours; end it with svc_msg_free(). */
SVC_API svc_code svc_msg_new(svc_msg **out);

/* Creates a message holding a copy of `data` (`len` bytes) with the given
 * content type (borrowed; NULL for none). */
SVC_API svc_code svc_msg_new_data(const void *data, size_t len,
                                  const char *content_type, svc_msg **out);

/* Frees a message. NULL is fine. */
SVC_API void svc_msg_free(svc_msg *m);

/* Makes an independent copy (the payload bytes are shared, read-only,
 * so this is cheap). */
SVC_API svc_code svc_msg_clone(const svc_msg *m, svc_msg **out);

/* ---- payload ---- */
/* Replaces the payload with a copy of `data`. */
SVC_API svc_code svc_msg_set_data(svc_msg *m, const void *data, size_t len);
/* Replaces the payload with `data`, which the message takes: it is released
 * with free_fn(data) (NULL = free()) when no message uses it any more. */
SVC_API svc_code svc_msg_set_data_owned(svc_msg *m, void *data, size_t len,
                                        void (*free_fn)(void *));
/* The payload (borrowed, valid until the message changes or is freed). */
SVC_API const void *svc_msg_data(const svc_msg *m);
SVC_API size_t svc_msg_len(const svc_msg *m);
/* `ct` is copied; NULL clears it. */
SVC_API svc_code svc_msg_set_content_type(svc_msg *m, const char *ct);
/* Borrowed; NULL when none was set. */
SVC_API const char *svc_msg_content_type(const svc_msg *m);

/* ---- metadata ---- */
/* Appends a text value. Key and value are copied. SVC_INVALID_ARGUMENT for a
 * bad key, a "-bin" key, or a value with bytes outside 0x20..0x7E. */
SVC_API svc_code svc_msg_md_add(svc_msg *m, const char *key, const char *value);
/* Appends a binary value; the key must end in "-bin". */
SVC_API svc_code svc_msg_md_add_bin(svc_msg *m, const char *key,
                                    const void *value, size_t len);
/* Removes every value of `key`, then adds `value`. */
SVC_API svc_code svc_msg_md_set(svc_msg *m, const char *key, const char *value);
/* The first value of `key`, or NULL. Borrowed until the metadata changes.
 * Always NUL-terminated; *len (if not NULL) gets its length in bytes. */
SVC_API const char *svc_msg_md_get(const svc_msg *m, const char *key, size_t *len);
/* Removes every value of `key`; returns how many were removed. */
SVC_API size_t svc_msg_md_remove(svc_msg *m, const char *key);
SVC_API size_t svc_msg_md_count(const svc_msg *m);
/* The i-th pair in order (borrowed like svc_msg_md_get). */
SVC_API svc_code svc_msg_md_at(const svc_msg *m, size_t i, const char **key,
                               const char **value, size_t *len);

/* ---- compression (transports that compress messages: gRPC) ---- */
/* Asks for this message to be compressed (gzip) when the peer accepts it. */
SVC_API svc_code svc_msg_set_compress(svc_msg *m, bool compress);
/* True when the message arrived compressed (it is given to you inflated). */
SVC_API bool svc_msg_was_compressed(const svc_msg *m);

/* ---- status (meaningful on replies) ----
 * A reply carries the call's status: SVC_OK and no message on success. */
SVC_API svc_code svc_msg_status(const svc_msg *m);
/* Borrowed; "" when none. */
SVC_API const char *svc_msg_status_message(const svc_msg *m);
/* `message` is copied (NULL = none). */
SVC_API svc_code svc_msg_set_status(svc_msg *m, svc_code code, const char *message);

#ifdef __cplusplus
}
#endif
#endif
