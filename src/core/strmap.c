#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct svc_strmap_node {
    svc_strmap_node *next;
    void *value;
    size_t key_len;
    char key[]; /* NUL-terminated */
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void svc_strmap_init(svc_strmap *m)
{
    memset(m, 0, sizeof *m);
}

void svc_strmap_clear(svc_strmap *m)
{
    for (size_t i = 0; i < m->n_buckets; i++) {
        for (svc_strmap_node *n = m->buckets[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    }
    free(m->buckets);
    svc_strmap_init(m);
}

void *svc_strmap_get(const svc_strmap *m, const char *key, size_t key_len)
{
    if (!m->n_buckets)
        return NULL;
    size_t b = fnv1a(key, key_len) & (m->n_buckets - 1);
    for (svc_strmap_node *n = m->buckets[b]; n; n = n->next)
        if (n->key_len == key_len && memcmp(n->key, key, key_len) == 0)
            return n->value;
    return NULL;
}

static svc_code grow(svc_strmap *m)
{
    size_t nb = m->n_buckets ? m->n_buckets * 2 : 16;
    svc_strmap_node **buckets = calloc(nb, sizeof *buckets);
    if (!buckets)
        return svc_fail_oom();
    for (size_t i = 0; i < m->n_buckets; i++) {
        for (svc_strmap_node *n = m->buckets[i], *next; n; n = next) {
            next = n->next;
            size_t b = fnv1a(n->key, n->key_len) & (nb - 1);
            n->next = buckets[b];
            buckets[b] = n;
        }
    }
    free(m->buckets);
    m->buckets = buckets;
    m->n_buckets = nb;
    return SVC_OK;
}

svc_code svc_strmap_put(svc_strmap *m, const char *key, void *value)
{
    size_t len = strlen(key);
    if (svc_strmap_get(m, key, len))
        return svc_fail(SVC_ALREADY_EXISTS, "'%s' is already registered", key);
    if (m->count >= m->n_buckets) {
        svc_code rc = grow(m);
        if (rc)
            return rc;
    }
    svc_strmap_node *n = malloc(sizeof *n + len + 1);
    if (!n)
        return svc_fail_oom();
    memcpy(n->key, key, len + 1);
    n->key_len = len;
    n->value = value;
    size_t b = fnv1a(key, len) & (m->n_buckets - 1);
    n->next = m->buckets[b];
    m->buckets[b] = n;
    m->count++;
    return SVC_OK;
}

void *svc_strmap_remove(svc_strmap *m, const char *key)
{
    if (!m->n_buckets)
        return NULL;
    size_t len = strlen(key);
    svc_strmap_node **pp = &m->buckets[fnv1a(key, len) & (m->n_buckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        svc_strmap_node *n = *pp;
        if (n->key_len == len && memcmp(n->key, key, len) == 0) {
            void *v = n->value;
            *pp = n->next;
            free(n);
            m->count--;
            return v;
        }
    }
    return NULL;
}

void svc_strmap_each(const svc_strmap *m, void (*fn)(const char *key, void *value, void *ud),
                     void *ud)
{
    for (size_t i = 0; i < m->n_buckets; i++)
        for (svc_strmap_node *n = m->buckets[i]; n; n = n->next)
            fn(n->key, n->value, ud);
}
