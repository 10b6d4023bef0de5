/*
 * nghttp2's memory for one connection: small blocks are kept on free lists
 * and reused. Per stream nghttp2 allocates and frees its stream, outbound
 * items, header-list copies and HPACK strings; with a hundred streams in
 * flight a batch of frees overflows malloc's per-thread cache, and
 * malloc/free became a quarter of a unary server's instructions.
 *
 * Not thread-safe, and need not be: a connection and every nghttp2 call on
 * its session stay on one loop thread.
 */
#ifndef SVC_GRPC_MEM_H
#define SVC_GRPC_MEM_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>

#define GRPC_MEM_CLASSES 5   /* blocks of 64, 128, 256, 512, 1024 bytes */
#define GRPC_MEM_KEEP 128    /* free blocks kept per class */

typedef struct grpc_mem {
    nghttp2_mem mem; /* for nghttp2_session_*_new3; points back here */
    void *free_list[GRPC_MEM_CLASSES];
    unsigned n_free[GRPC_MEM_CLASSES];
} grpc_mem;

void svc_grpc_mem_init(grpc_mem *m);
/* After the session is deleted: returns the kept blocks to malloc. */
void svc_grpc_mem_destroy(grpc_mem *m);

#endif
