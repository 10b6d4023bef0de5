/*
 * svc_msg internals. The payload lives in a reference-counted, read-only
 * buffer so cloning a message (one per hop, retry or subscriber) copies
 * no payload bytes.
 */
#ifndef SVC_CORE_MSG_H
#define SVC_CORE_MSG_H

#include <stdatomic.h>
#include <svccomm/msg.h>

#include "metadata.h"

typedef struct svc_buf {
    atomic_uint refs;
    void *data;
    size_t len;
    void (*free_fn)(void *); /* NULL: data is inline after the struct */
    void *owner;             /* what free_fn is given: the data or its holder */
} svc_buf;

struct svc_msg {
    svc_buf *buf; /* NULL = empty payload */
    const char *content_type; /* a common one (msg.c), else our copy */
    svc_md md;
    svc_code status;
    char *status_message;
    bool compress;       /* to be sent compressed */
    bool was_compressed; /* arrived compressed */
    /* A failure the transport knows happened before any server saw the
     * request (connection refused, stream refused, nobody subscribed):
     * safe to retry whatever the method (lb/balancer). */
    bool unprocessed;
};

/* Makes `len` bytes at `data`, which belong to `owner` (a transport's
 * received message, say), the payload without copying them; they must stay
 * unchanged until release(owner), which runs once no message uses them any
 * more, or at once when this fails (out of memory). */
svc_code svc_msg_set_data_borrowed(svc_msg *m, const void *data, size_t len,
                                   void (*release)(void *), void *owner);

/* A payload outlives its message while referenced (NULL: no-op unref). */
void svc_buf_ref(svc_buf *b);
void svc_buf_unref(svc_buf *b);
/* Gives `m` an uninitialised payload of `len` bytes for the caller to
 * write at *data, allocated with its buffer: for code that produces the
 * bytes itself (the protobuf packer), one malloc instead of two. */
svc_code svc_msg_alloc_data(svc_msg *m, size_t len, void **data);
/* A new message with status `code` and `message` (copied; may be NULL), or
 * NULL when out of memory. Used to build error replies. */
svc_msg *svc_msg_new_status(svc_code code, const char *message);
/* The same, for a failure before any server saw the request. */
svc_msg *svc_msg_new_unprocessed(svc_code code, const char *message);

#endif
