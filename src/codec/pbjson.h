/*
 * Internals shared by the proto3 JSON encoder (pbjson_encode.c) and decoder
 * (pbjson_decode.c): JSON names, map-entry detection, presence rules, the
 * in-memory layout of protobuf-c members, UTF-8 checks and error messages
 * that name the field path.
 *
 * protobuf-c 1.4 descriptors carry no json_name, so names are derived here
 * the way protoc derives them; both halves must agree on that and on the
 * memory layout, which is why these live in one place.
 */
#ifndef SVC_CODEC_PBJSON_H
#define SVC_CODEC_PBJSON_H

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* codec.h uses svc_call_opts from client.h without including it. */
#include <svccomm/client.h>
#include <svccomm/codec.h>

/* Deepest nesting of JSON objects and arrays either side reads or writes. */
#define SVC_PBJSON_MAX_DEPTH 64

static inline void *svc_pbjson_at(const void *msg, unsigned offset)
{
    return (char *)msg + offset;
}

/* Yields the next character of the lowerCamelCase JSON name of the proto
 * field name at *p (protoc's ToJsonName: drop '_' and upper-case the ASCII
 * letter after it) and advances *p; '\0' at the end. */
char svc_pbjson_camel_next(const char **p);

/* The field `key` (`len` bytes, NUL-terminated) names, by original or
 * lowerCamelCase name; NULL if none. */
const ProtobufCFieldDescriptor *svc_pbjson_find_field(const ProtobufCMessageDescriptor *d,
                                                      const char *key, size_t len);

/* Whether repeated field `f` of message `parent` is a map<K,V>. */
bool svc_pbjson_is_map(const ProtobufCMessageDescriptor *parent,
                       const ProtobufCFieldDescriptor *f);

/* Whether `f` keeps its presence in a protobuf_c_boolean has_ member. */
bool svc_pbjson_has_flag(const ProtobufCFieldDescriptor *f);

/* Size and signedness of the integer types; NULL for every other type. */
typedef struct svc_pbjson_int_kind {
    unsigned char size; /* 4 or 8 bytes */
    bool is_signed;
} svc_pbjson_int_kind;

const svc_pbjson_int_kind *svc_pbjson_int_kind_of(ProtobufCType t);

/* Writes the integer of kind `k` at `p` in decimal into `buf`. */
void svc_pbjson_int_text(const svc_pbjson_int_kind *k, const void *p, char buf[24]);

/* Bytes one value of type `t` takes in a protobuf-c repeated array. */
size_t svc_pbjson_elt_size(ProtobufCType t);

/* Whether `n` bytes at `s` are well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
bool svc_pbjson_utf8_valid(const char *s, size_t n);

/* The "C" locale: JSON numbers must not follow the process's LC_NUMERIC.
 * (locale_t)0 if it cannot be created (out of memory). */
locale_t svc_pbjson_c_locale(void);

/* Where in the message an error happened, as a chain of frames on the stack
 * from the innermost up; formatted only when something fails. */
typedef enum svc_pbjson_step {
    SVC_PBJSON_FIELD, /* .name */
    SVC_PBJSON_INDEX, /* [index] */
    SVC_PBJSON_KEY,   /* [name], a map key */
} svc_pbjson_step;

typedef struct svc_pbjson_path {
    const struct svc_pbjson_path *up;
    svc_pbjson_step step;
    const char *name;
    size_t name_len;
    size_t index;
} svc_pbjson_path;

/* svc_fail(SVC_INVALID_ARGUMENT, ...) with "field 'a.b[2]': " in front of
 * the message when `path` is not NULL. */
svc_code svc_pbjson_fail(const svc_pbjson_path *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
