#include "grpc_nv.h"

#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "grpc_wire.h"

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*v, c * size);
    if (!p)
        return false;
    *v = p;
    *cap = c;
    return true;
}

/* Entries live in the list itself until they outnumber it: a unary
 * call's headers and trailers then cost no allocation. */
static bool grow_entries(grpc_nv *l)
{
    if (!l->v) {
        l->v = l->small;
        l->cap = GRPC_NV_INLINE;
    }
    if (l->n < l->cap)
        return true;
    nghttp2_nv *v = malloc(l->cap * 2 * sizeof *v);
    if (!v)
        return false;
    memcpy(v, l->v, l->n * sizeof *v);
    if (l->v != l->small)
        free(l->v);
    l->v = v;
    l->cap *= 2;
    return true;
}

void svc_grpc_nv_add(grpc_nv *l, const char *name, const char *value)
{
    if (l->oom || !grow_entries(l)) {
        l->oom = true;
        return;
    }
    l->v[l->n++] = (nghttp2_nv){(uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value,
                                strlen(name), strlen(value), NGHTTP2_NV_FLAG_NONE};
}

void svc_grpc_nv_own(grpc_nv *l, const char *name, char *value)
{
    if (!value || !grow((void **)&l->owned, &l->cap_owned, l->n_owned, sizeof *l->owned)) {
        free(value);
        l->oom = true;
        return;
    }
    l->owned[l->n_owned++] = value;
    svc_grpc_nv_add(l, name, value);
}

/* gRPC implementations send "-bin" values unpadded and accept padding; we
 * send them padded, which all of them accept. */
void svc_grpc_nv_metadata(grpc_nv *l, const svc_md *md)
{
    for (size_t i = 0; i < md->n; i++) {
        const svc_md_entry *e = &md->v[i];
        size_t klen = strlen(e->key);
        if (svc_grpc_header_reserved(e->key, klen))
            continue;
        if (svc_md_key_is_bin(e->key, klen)) {
            char *b64 = malloc(svc_base64_encoded_size(e->value_len));
            if (b64)
                svc_base64_encode(e->value, e->value_len, b64);
            svc_grpc_nv_own(l, e->key, b64);
        } else {
            svc_grpc_nv_add(l, e->key, e->value);
        }
    }
}

void svc_grpc_nv_free(grpc_nv *l)
{
    for (size_t i = 0; i < l->n_owned; i++)
        free(l->owned[i]);
    free(l->owned);
    if (l->v != l->small)
        free(l->v);
}
