#include "grpc_mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SHIFT 6 /* the smallest class holds 64 bytes */
#define LARGE GRPC_MEM_CLASSES

/* Each block starts with its class, so free and realloc know its size;
 * the header keeps the caller's part aligned as malloc's is. */
typedef union header {
    size_t cls;
    max_align_t align;
} header;

static size_t class_size(size_t cls)
{
    return (size_t)1 << (cls + MIN_SHIFT);
}

static size_t class_of(size_t size)
{
    size_t cls = 0;
    while (cls < LARGE && size > class_size(cls))
        cls++;
    return cls;
}

static void *mem_malloc(size_t size, void *ud)
{
    grpc_mem *m = ud;
    size_t cls = class_of(size);
    header *h;
    if (cls < LARGE && m->free_list[cls]) {
        h = m->free_list[cls];
        m->free_list[cls] = *(void **)(h + 1);
        m->n_free[cls]--;
    } else {
        h = malloc(sizeof *h + (cls < LARGE ? class_size(cls) : size));
        if (!h)
            return NULL;
        h->cls = cls;
    }
    return h + 1;
}

static void mem_free(void *p, void *ud)
{
    grpc_mem *m = ud;
    if (!p)
        return;
    header *h = (header *)p - 1;
    size_t cls = h->cls;
    if (cls == LARGE || m->n_free[cls] == GRPC_MEM_KEEP) {
        free(h);
        return;
    }
    *(void **)p = m->free_list[cls];
    m->free_list[cls] = h;
    m->n_free[cls]++;
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = mem_malloc(n * size, ud);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static void *mem_realloc(void *p, size_t size, void *ud)
{
    if (!p)
        return mem_malloc(size, ud);
    header *h = (header *)p - 1;
    if (h->cls == LARGE && class_of(size) == LARGE) {
        header *g = realloc(h, sizeof *h + size);
        return g ? g + 1 : NULL;
    }
    if (h->cls < LARGE && size <= class_size(h->cls))
        return p;
    void *q = mem_malloc(size, ud);
    if (!q)
        return NULL;
    /* A class block grows out of its class; a large one shrinks into one. */
    memcpy(q, p, h->cls < LARGE ? class_size(h->cls) : size);
    mem_free(p, ud);
    return q;
}

void svc_grpc_mem_init(grpc_mem *m)
{
    memset(m, 0, sizeof *m);
    m->mem = (nghttp2_mem){m, mem_malloc, mem_free, mem_calloc, mem_realloc};
}

void svc_grpc_mem_destroy(grpc_mem *m)
{
    for (size_t cls = 0; cls < LARGE; cls++) {
        for (header *h = m->free_list[cls], *next; h; h = next) {
            next = *(void **)(h + 1);
            free(h);
        }
        m->free_list[cls] = NULL;
        m->n_free[cls] = 0;
    }
}
