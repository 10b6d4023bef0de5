/*
 * I/O threads. Each svc_loop is one thread running a libevent event_base.
 * Work reaches a loop from any thread through svc_loop_post(); sockets and
 * timers of a connection live on one loop, so transports need no locks for
 * their per-connection state.
 */
#ifndef SVC_CORE_LOOP_H
#define SVC_CORE_LOOP_H

#include <stdbool.h>
#include <svccomm/common.h>

struct event_base;
struct timeval;
typedef struct svc_loop svc_loop;
typedef void (*svc_task_fn)(void *ud);

svc_code svc_loop_start(int index, svc_loop **out);
/* Stops the thread once it ran every task posted, also those that tasks
 * post meanwhile, and every svc_loop_post_after() task still waiting (at
 * once, early). Then posts fail, but the loop stays valid until freed, so
 * a thread that posts late gets an error rather than freed memory. Not
 * from the loop's own thread. */
void svc_loop_stop(svc_loop *loop);
/* Stops the loop if needed and frees it. */
void svc_loop_free(svc_loop *loop);

/* Runs fn(ud) on the loop's thread, in posting order. Any thread, including
 * the loop's own (the task then runs after the current callback).
 * SVC_UNAVAILABLE once the loop has stopped: fn will never run. */
svc_code svc_loop_post(svc_loop *loop, svc_task_fn fn, void *ud);
/* Runs fn(ud) on the loop's thread and waits for it to return (at once if
 * this is the loop's thread). For setup and teardown, not hot paths. */
svc_code svc_loop_run_sync(svc_loop *loop, svc_task_fn fn, void *ud);
/* Runs fn(ud) on the loop's thread once `delay_ns` have passed. It cannot be
 * cancelled: fn must cope with whatever changed meanwhile, including
 * running early when the loop stops. SVC_UNAVAILABLE once the loop is
 * stopping. */
svc_code svc_loop_post_after(svc_loop *loop, int64_t delay_ns, svc_task_fn fn, void *ud);

/* The event_base, for transports that add their own events. Only touch it
 * from the loop's thread. */
struct event_base *svc_loop_base(svc_loop *loop);
bool svc_loop_in_thread(const svc_loop *loop);
/* The loop whose thread this is, or NULL. */
const svc_loop *svc_loop_current(void);

/* A duration in nanoseconds as libevent wants it, rounded up to the next
 * microsecond (a timer must not fire early) and never negative. */
void svc_loop_timeval(int64_t ns, struct timeval *out);

/* One-shot timers on a loop. arm/disarm may be called from any thread;
 * disarm (and free) wait for a callback already running on another thread
 * to return, so never call them while holding a lock the callback takes. */
typedef struct svc_timer svc_timer;
svc_code svc_timer_new(svc_loop *loop, svc_task_fn fn, void *ud, svc_timer **out);
/* (Re)arms the timer to fire at `deadline` (svc_now() clock). */
void svc_timer_arm(svc_timer *t, svc_time deadline);
void svc_timer_disarm(svc_timer *t);
void svc_timer_free(svc_timer *t);

#endif
