#include "loop.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "dlist.h"
#include "error.h"

typedef struct task {
    struct task *next;
    svc_task_fn fn;
    void *ud;
} task;

/* A svc_loop_post_after() task: its timer event, until it runs. */
typedef struct delayed {
    struct delayed *prev, *next;
    svc_loop *loop;
    struct event *ev;
    svc_task_fn fn;
    void *ud;
} delayed;

struct svc_loop {
    pthread_t thread;
    struct event_base *base;
    struct event *wake;    /* activated to run posted tasks */
    pthread_mutex_t mu;    /* the task queue, delayed tasks, the states */
    task *head, *tail;
    delayed *delayed;      /* post_after tasks waiting for their time */
    bool wake_pending;
    bool stopping;         /* asked to stop: no more delayed tasks */
    bool stopped;          /* the thread ended: nothing is accepted */
    bool joined;
    int index;
};

struct svc_timer {
    struct event *ev;
    svc_task_fn fn;
    void *ud;
};

static _Thread_local const svc_loop *current_loop;
static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;

static void evthread_setup(void)
{
    /* libevent must know about threads before any base exists, so that
     * event_add/event_active/event_del from other threads are safe. */
    evthread_use_pthreads();
}

/* Runs the tasks queued so far; false if there were none. *stopping says
 * whether a stop had been asked when they were taken: read with them, since
 * the stop's wake-up may be the very one being consumed. */
static bool run_queued(svc_loop *loop, bool *stopping)
{
    pthread_mutex_lock(&loop->mu);
    task *t = loop->head;
    loop->head = loop->tail = NULL;
    loop->wake_pending = false;
    *stopping = loop->stopping;
    pthread_mutex_unlock(&loop->mu);
    bool ran = t != NULL;
    while (t) {
        task *next = t->next;
        t->fn(t->ud);
        free(t);
        t = next;
    }
    return ran;
}

static void run_tasks(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    svc_loop *loop = arg;
    bool stopping;
    run_queued(loop, &stopping);
    if (stopping)
        event_base_loopbreak(loop->base);
}

/* On the loop's thread: from the timer (libevent lets a callback free its
 * own event) or from the drain at stop. */
static void run_delayed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    delayed *d = arg;
    svc_loop *loop = d->loop;
    pthread_mutex_lock(&loop->mu);
    SVC_DLIST_REMOVE(loop->delayed, d, prev, next);
    pthread_mutex_unlock(&loop->mu);
    event_free(d->ev);
    d->fn(d->ud);
    free(d);
}

/* The first delayed task still waiting, run now: the loop is stopping and
 * its time will never come, but only fn can release what ud holds. */
static bool run_one_delayed_early(svc_loop *loop)
{
    pthread_mutex_lock(&loop->mu);
    delayed *d = loop->delayed;
    pthread_mutex_unlock(&loop->mu);
    if (d)
        run_delayed(-1, 0, d);
    return d != NULL;
}

/* After the loop broke out: what was posted still runs, including what
 * those tasks post, until nothing is left; only then does the loop refuse
 * posts, decided under the lock so that none slips in between. */
static void drain(svc_loop *loop)
{
    bool stopping, idle = false;
    while (!idle) {
        if (run_queued(loop, &stopping) || run_one_delayed_early(loop))
            continue;
        pthread_mutex_lock(&loop->mu);
        idle = !loop->head && !loop->delayed;
        loop->stopped = idle;
        pthread_mutex_unlock(&loop->mu);
    }
}

static void *loop_main(void *arg)
{
    svc_loop *loop = arg;
    current_loop = loop;
    /* Sockets are written on this thread, by libevent and OpenSSL with
     * write(2), which cannot pass MSG_NOSIGNAL: a write after the peer's
     * reset must fail with EPIPE for the transport to see, not raise a
     * SIGPIPE that ends the application. The signal is the writing
     * thread's own, so blocking it here leaves the application's handling
     * of it everywhere else alone. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
    drain(loop);
    return NULL;
}

svc_code svc_loop_start(int index, svc_loop **out)
{
    pthread_once(&evthread_once, evthread_setup);
    svc_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return svc_fail_oom();
    loop->index = index;
    pthread_mutex_init(&loop->mu, NULL);
    struct event_config *cfg = event_config_new();
    if (cfg) {
        /* Timer accuracy matters more than the syscalls it costs: deadlines
         * of a few milliseconds must fire neither late (precise timer) nor
         * early (a timer armed from another thread while the loop runs
         * callbacks would otherwise start from the loop's stale cached time). */
        event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
        event_config_set_flag(cfg, EVENT_BASE_FLAG_NO_CACHE_TIME);
        loop->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    if (!loop->base || !(loop->wake = event_new(loop->base, -1, 0, run_tasks, loop)))
        goto fail;
    if (pthread_create(&loop->thread, NULL, loop_main, loop) != 0)
        goto fail;
    *out = loop;
    return SVC_OK;
fail:
    if (loop->wake)
        event_free(loop->wake);
    if (loop->base)
        event_base_free(loop->base);
    pthread_mutex_destroy(&loop->mu);
    free(loop);
    return svc_fail(SVC_RESOURCE_EXHAUSTED, "cannot start an I/O thread");
}

/* Queues t (NULL: none) and wakes the loop; false once it stopped. */
static bool enqueue(svc_loop *loop, task *t, bool stop)
{
    pthread_mutex_lock(&loop->mu);
    bool open = !loop->stopped;
    if (open && t) {
        if (loop->tail)
            loop->tail->next = t;
        else
            loop->head = t;
        loop->tail = t;
    }
    loop->stopping |= stop;
    bool wake = open && !loop->wake_pending;
    loop->wake_pending |= wake;
    pthread_mutex_unlock(&loop->mu);
    if (wake)
        event_active(loop->wake, 0, 0);
    return open;
}

svc_code svc_loop_post(svc_loop *loop, svc_task_fn fn, void *ud)
{
    task *t = malloc(sizeof *t);
    if (!t)
        return svc_fail_oom();
    *t = (task){NULL, fn, ud};
    if (!enqueue(loop, t, false)) {
        free(t);
        return svc_fail(SVC_UNAVAILABLE, "the I/O thread has stopped");
    }
    return SVC_OK;
}

typedef struct sync_task {
    svc_task_fn fn;
    void *ud;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} sync_task;

static void run_sync_task(void *arg)
{
    sync_task *t = arg;
    t->fn(t->ud);
    pthread_mutex_lock(&t->mu);
    t->done = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

svc_code svc_loop_run_sync(svc_loop *loop, svc_task_fn fn, void *ud)
{
    if (svc_loop_in_thread(loop)) {
        fn(ud);
        return SVC_OK;
    }
    sync_task t = {.fn = fn, .ud = ud};
    pthread_mutex_init(&t.mu, NULL);
    pthread_cond_init(&t.cv, NULL);
    svc_code rc = svc_loop_post(loop, run_sync_task, &t);
    if (rc == SVC_OK) {
        pthread_mutex_lock(&t.mu);
        while (!t.done)
            pthread_cond_wait(&t.cv, &t.mu);
        pthread_mutex_unlock(&t.mu);
    }
    pthread_mutex_destroy(&t.mu);
    pthread_cond_destroy(&t.cv);
    return rc;
}

svc_code svc_loop_post_after(svc_loop *loop, int64_t delay_ns, svc_task_fn fn, void *ud)
{
    delayed *d = malloc(sizeof *d);
    if (d)
        *d = (delayed){.loop = loop, .fn = fn, .ud = ud};
    if (!d || !(d->ev = evtimer_new(loop->base, run_delayed, d))) {
        free(d);
        return svc_fail_oom();
    }
    struct timeval tv;
    svc_loop_timeval(delay_ns, &tv);
    /* Listed and armed under the lock: the drain either sees it or the
     * loop refuses it, and it cannot fire before it is listed. */
    pthread_mutex_lock(&loop->mu);
    bool open = !loop->stopping;
    if (open) {
        SVC_DLIST_PUSH(loop->delayed, d, prev, next);
        evtimer_add(d->ev, &tv);
    }
    pthread_mutex_unlock(&loop->mu);
    if (!open) {
        event_free(d->ev);
        free(d);
        return svc_fail(SVC_UNAVAILABLE, "the I/O thread is stopping");
    }
    return SVC_OK;
}

void svc_loop_stop(svc_loop *loop)
{
    if (!loop || loop->joined)
        return;
    enqueue(loop, NULL, true);
    pthread_join(loop->thread, NULL);
    loop->joined = true;
}

void svc_loop_free(svc_loop *loop)
{
    if (!loop)
        return;
    svc_loop_stop(loop);
    event_free(loop->wake);
    event_base_free(loop->base);
    pthread_mutex_destroy(&loop->mu);
    free(loop);
}

struct event_base *svc_loop_base(svc_loop *loop)
{
    return loop->base;
}

bool svc_loop_in_thread(const svc_loop *loop)
{
    return current_loop == loop;
}

const svc_loop *svc_loop_current(void)
{
    return current_loop;
}

static void timer_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    svc_timer *t = arg;
    t->fn(t->ud);
}

svc_code svc_timer_new(svc_loop *loop, svc_task_fn fn, void *ud, svc_timer **out)
{
    svc_timer *t = malloc(sizeof *t);
    if (!t)
        return svc_fail_oom();
    t->fn = fn;
    t->ud = ud;
    t->ev = evtimer_new(loop->base, timer_fired, t);
    if (!t->ev) {
        free(t);
        return svc_fail_oom();
    }
    *out = t;
    return SVC_OK;
}

void svc_timer_arm(svc_timer *t, svc_time deadline)
{
    struct timeval tv;
    svc_loop_timeval(deadline - svc_now(), &tv);
    evtimer_add(t->ev, &tv);
}

void svc_timer_disarm(svc_timer *t)
{
    evtimer_del(t->ev);
}

void svc_timer_free(svc_timer *t)
{
    if (!t)
        return;
    event_free(t->ev); /* event_free deletes first, waiting like disarm */
    free(t);
}

void svc_loop_timeval(int64_t ns, struct timeval *out)
{
    if (ns < 0)
        ns = 0;
    int64_t us = ns / 1000 + (ns % 1000 != 0);
    out->tv_sec = (time_t)(us / 1000000);
    out->tv_usec = (suseconds_t)(us % 1000000);
}
