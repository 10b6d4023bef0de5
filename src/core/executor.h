/*
 * The worker pool where handlers and callbacks run (DESIGN §4), and strands:
 * queues on the pool that run at most N of their tasks at a time, in order
 * when N = 1 (a subscription's events, for instance).
 */
#ifndef SVC_CORE_EXECUTOR_H
#define SVC_CORE_EXECUTOR_H

#include <stddef.h>
#include <svccomm/common.h>

#include "loop.h"

typedef struct svc_executor svc_executor;

svc_code svc_executor_new(unsigned threads, svc_executor **out);
/* Runs what is queued, then joins the threads. Not from a worker. */
void svc_executor_free(svc_executor *ex);
svc_code svc_executor_post(svc_executor *ex, svc_task_fn fn, void *ud);
/* True on one of the pool's threads. */
bool svc_executor_in_worker(void);

typedef struct svc_strand svc_strand;

/* `concurrency` tasks at most run at once (0 = 1). */
svc_code svc_strand_new(svc_executor *ex, unsigned concurrency, svc_strand **out);
/* Queues fn(ud). Fails only when out of memory. */
svc_code svc_strand_post(svc_strand *s, svc_task_fn fn, void *ud);
/* Tasks queued and not started yet. */
size_t svc_strand_pending(svc_strand *s);
/* Waits until every queued task ran and none is running, then frees. Tasks
 * posted meanwhile also run. Not from one of the strand's own tasks. */
void svc_strand_free(svc_strand *s);

#endif
