/*
 * The message flow of one stream, between the transport's thread (which
 * pushes what arrives, and says when more may be sent) and the
 * application's threads (which receive, send and wait for the end).
 *
 * A flow holds what arrived and has not been received, bounded by the
 * transport: it tells the transport through `consumed` when the application
 * took bytes, so HTTP/2 window (or an inproc credit) is granted only as fast
 * as the reader reads. Sending waits while the transport says the stream is
 * not writable.
 *
 * Threads: every function is thread-safe. The waits take an absolute
 * deadline (0 = none) and end early when the flow ends.
 */
#ifndef SVC_CORE_FLOW_H
#define SVC_CORE_FLOW_H

#include <pthread.h>
#include <stdbool.h>
#include <svccomm/msg.h>

typedef struct svc_flow_item {
    struct svc_flow_item *next;
    svc_msg *msg;
} svc_flow_item;

typedef struct svc_flow {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    svc_flow_item *head, *tail; /* arrived, not yet received */
    bool half_closed;           /* the peer sends no more */
    bool writable;              /* the transport takes another message */
    svc_msg *headers;           /* the peer's initial metadata, once seen */
    bool headers_seen;
    svc_msg *end;               /* final status + trailers, once ended */
    /* Told (outside the lock) how many payload bytes the application
     * received, so the transport can let the peer send that much more. */
    void (*consumed)(void *owner, size_t bytes);
    void *owner;
} svc_flow;

void svc_flow_init(svc_flow *f, void (*consumed)(void *owner, size_t bytes), void *owner);
void svc_flow_destroy(svc_flow *f);

/* ---- the transport's side ---- */
void svc_flow_push(svc_flow *f, svc_msg *m); /* takes m; dropped once ended */
void svc_flow_half_close(svc_flow *f);
/* Takes `headers` (NULL = none); later calls are ignored. */
void svc_flow_set_headers(svc_flow *f, svc_msg *headers);
void svc_flow_set_writable(svc_flow *f, bool writable);
/* Ends the flow with `status` (taken: status, message, trailers). The first
 * end wins; waiters wake. Messages still queued stay receivable. */
void svc_flow_end(svc_flow *f, svc_msg *status);
bool svc_flow_ended(svc_flow *f);

/* ---- the application's side ---- */
/* The next message (yours) or *m = NULL once the peer half-closed or the
 * stream ended with everything received. SVC_DEADLINE_EXCEEDED when the
 * deadline passes first; after an abnormal end, that end's status. */
svc_code svc_flow_recv(svc_flow *f, svc_msg **m, svc_time deadline);
/* Waits until a send may proceed: SVC_OK, or the end's status. */
svc_code svc_flow_wait_writable(svc_flow *f, svc_time deadline);
/* Waits for the end; *end (if not NULL) gets a copy (yours). */
svc_code svc_flow_wait_end(svc_flow *f, svc_msg **end, svc_time deadline);
/* Waits for the peer's headers (or the end); borrowed until destroy. */
svc_code svc_flow_wait_headers(svc_flow *f, const svc_msg **headers, svc_time deadline);

#endif
