/*
 * Building header lists for nghttp2: names and values are borrowed unless
 * added with grpc_nv_own (then freed with the list). Both roles use it.
 */
#ifndef SVC_GRPC_NV_H
#define SVC_GRPC_NV_H

#include <nghttp2/nghttp2.h>

#include "core/metadata.h"

typedef struct grpc_nv {
    nghttp2_nv *v;
    size_t n, cap;
    char **owned;
    size_t n_owned, cap_owned;
    bool oom;
} grpc_nv;

void grpc_nv_add(grpc_nv *l, const char *name, const char *value);
/* Takes `value` (NULL marks the list out of memory). */
void grpc_nv_own(grpc_nv *l, const char *name, char *value);
/* Metadata as headers; "-bin" values base64-encoded. */
void grpc_nv_metadata(grpc_nv *l, const svc_md *md);
void grpc_nv_free(grpc_nv *l);

#endif
