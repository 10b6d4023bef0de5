/*
 * Metadata storage: an ordered vector of key/value entries. Keys are kept in
 * lower case so every lookup is a plain compare; each entry's text is
 * "key\0value\0", in the md's own `text` while it has room, else one
 * allocation. The first entries live in `small`: most messages carry a
 * few short headers (a user-agent), and pay no allocation for them. An md
 * points into itself, so it is never moved by value (a zeroed one is a
 * valid empty one).
 */
#ifndef SVC_CORE_METADATA_H
#define SVC_CORE_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <svccomm/common.h>

typedef struct svc_md_entry {
    char *key;         /* lower case, NUL-terminated; owns the allocation */
    const char *value; /* points into the same allocation, NUL-terminated */
    size_t value_len;
} svc_md_entry;

#define SVC_MD_SMALL 4
#define SVC_MD_TEXT 128

typedef struct svc_md {
    svc_md_entry *v; /* `small`, or allocated once it outgrew it */
    size_t n, cap;
    size_t text_used;
    svc_md_entry small[SVC_MD_SMALL];
    char text[SVC_MD_TEXT];
} svc_md;

void svc_md_init(svc_md *md);
void svc_md_clear(svc_md *md);
svc_code svc_md_copy(svc_md *dst, const svc_md *src);

/* True for a key of [a-zA-Z0-9-_.]+ (upper case is folded on add). */
bool svc_md_key_valid(const char *key, size_t len);
bool svc_md_key_is_bin(const char *key, size_t len);
/* True for a text value: printable ASCII 0x20..0x7E. */
bool svc_md_text_valid(const char *value, size_t len);

/* Appends without validating; `key` is folded to lower case. Transports use
 * it after their own checks. */
svc_code svc_md_append(svc_md *md, const char *key, size_t key_len,
                       const char *value, size_t value_len);
/* Validates key and value as the public API promises, then appends. */
svc_code svc_md_add_checked(svc_md *md, const char *key, const char *value,
                            size_t value_len, bool binary);
const svc_md_entry *svc_md_find(const svc_md *md, const char *key);
size_t svc_md_remove(svc_md *md, const char *key);

#endif
