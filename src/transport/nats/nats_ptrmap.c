/*
 * Pointer → pointer map for the publishes cnats holds (found again by the
 * message's address in its ack handler): open addressing, linear probing,
 * backward-shift deletion, doubling at half full. Not thread-safe.
 */
#include <stdlib.h>

#include "core/error.h"
#include "nats.h"

static size_t slot_of(const void *key, size_t mask)
{
    uintptr_t x = (uintptr_t)key;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x & mask;
}

static svc_code grow(nats_ptrmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    nats_ptrmap_slot *v = calloc(cap, sizeof *v);
    if (!v)
        return svc_fail_oom();
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = slot_of(m->slots[i].key, cap - 1);
        while (v[j].key)
            j = (j + 1) & (cap - 1);
        v[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = v;
    m->cap = cap;
    return SVC_OK;
}

svc_code svc_nats_ptrmap_put(nats_ptrmap *m, const void *key, void *value)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) != SVC_OK)
        return SVC_RESOURCE_EXHAUSTED;
    size_t i = slot_of(key, m->cap - 1);
    while (m->slots[i].key)
        i = (i + 1) & (m->cap - 1);
    m->slots[i].key = key;
    m->slots[i].value = value;
    m->n++;
    return SVC_OK;
}

void *svc_nats_ptrmap_take(nats_ptrmap *m, const void *key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1, i = slot_of(key, mask);
    while (m->slots[i].key && m->slots[i].key != key)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        return NULL;
    void *value = m->slots[i].value;
    /* Move later members of the run back so lookups never stop early. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = slot_of(m->slots[j].key, mask);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = NULL;
    m->slots[i].value = NULL;
    m->n--;
    return value;
}

void svc_nats_ptrmap_clear(nats_ptrmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}
