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
/* Refuses new jobs, runs what is queued (and what those jobs run inline
 * because the pool refuses them), then joins the threads. Not from a
 * worker. */
void svc_executor_stop(svc_executor *ex);
/* Stops the pool if needed and frees it. */
void svc_executor_free(svc_executor *ex);
/* Queues fn(ud). SVC_UNAVAILABLE once the pool is stopping: the caller
 * then runs fn itself, as every caller in the library does. */
svc_code svc_executor_post(svc_executor *ex, svc_task_fn fn, void *ud);

/* Bracket a wait on one of the pool's threads for something that may need
 * the pool itself (a blocking call whose handler is queued behind the
 * caller). While threads wait, the pool starts spare threads so that as
 * many as it has workers can still run jobs; spares leave once the waits
 * end. The number of spares is bounded (see executor.c), so deep enough
 * nesting can still make jobs wait. begin returns the thread's pool (NULL
 * off the pool: nothing to do), to pass to end. */
svc_executor *svc_executor_block_begin(void);
void svc_executor_block_end(svc_executor *ex);

typedef struct svc_strand svc_strand;

/* `concurrency` tasks at most run at once (0 = 1). */
svc_code svc_strand_new(svc_executor *ex, unsigned concurrency, svc_strand **out);
/* Queues fn(ud). Fails only when out of memory. Once the pool is stopping
 * the queued tasks run on the caller's thread. */
svc_code svc_strand_post(svc_strand *s, svc_task_fn fn, void *ud);
/* Tasks queued and not started yet. */
size_t svc_strand_pending(svc_strand *s);
/* Waits until every queued task ran and none is running, then frees. Tasks
 * posted meanwhile also run. Not from one of the strand's own tasks. */
void svc_strand_free(svc_strand *s);

#endif
