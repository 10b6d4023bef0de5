/*
 * A string-keyed hash map (FNV-1a, chaining) for method tables and name
 * registries. Not thread-safe: owners wrap it in their own lock.
 */
#ifndef SVC_CORE_STRMAP_H
#define SVC_CORE_STRMAP_H

#include <stddef.h>
#include <svccomm/common.h>

typedef struct svc_strmap_node svc_strmap_node;
typedef struct svc_strmap {
    svc_strmap_node **buckets;
    size_t n_buckets; /* power of two */
    size_t count;
} svc_strmap;

void svc_strmap_init(svc_strmap *m);
/* Frees the nodes; values are the caller's (free them first). */
void svc_strmap_clear(svc_strmap *m);
void *svc_strmap_get(const svc_strmap *m, const char *key, size_t key_len);
/* SVC_ALREADY_EXISTS if the key is there. The key is copied. */
svc_code svc_strmap_put(svc_strmap *m, const char *key, void *value);
/* Removes and returns the value, or NULL. */
void *svc_strmap_remove(svc_strmap *m, const char *key);
/* Calls fn for every entry (order unspecified). */
void svc_strmap_each(const svc_strmap *m, void (*fn)(const char *key, void *value, void *ud),
                     void *ud);

#endif
