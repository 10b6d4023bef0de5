/*
 * Building header lists for nghttp2: names and values are borrowed unless
 * added with svc_grpc_nv_own (then freed with the list). Both roles use it.
 * A list starts as {0} and must not be moved once entries are added.
 */
#ifndef SVC_GRPC_NV_H
#define SVC_GRPC_NV_H

#include <nghttp2/nghttp2.h>

#include "core/metadata.h"

/* Entries a response's headers or trailers usually fit in. */
#define GRPC_NV_INLINE 8

typedef struct grpc_nv {
    nghttp2_nv *v; /* `small` until the list outgrows it */
    size_t n, cap;
    nghttp2_nv small[GRPC_NV_INLINE];
    char **owned;
    size_t n_owned, cap_owned;
    bool oom;
} grpc_nv;

void svc_grpc_nv_add(grpc_nv *l, const char *name, const char *value);
/* Takes `value` (NULL marks the list out of memory). */
void svc_grpc_nv_own(grpc_nv *l, const char *name, char *value);
/* Metadata as headers; "-bin" values base64-encoded. */
void svc_grpc_nv_metadata(grpc_nv *l, const svc_md *md);
void svc_grpc_nv_free(grpc_nv *l);

#endif
