#include "loop.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdlib.h>

#include "error.h"

typedef struct task {
    struct task *next;
    svc_task_fn fn;
    void *ud;
} task;

struct svc_loop {
    pthread_t thread;
    struct event_base *base;
    struct event *wake;    /* activated to run posted tasks */
    pthread_mutex_t mu;    /* guards the task queue */
    task *head, *tail;
    bool wake_pending;
    bool stopping;
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

static void run_tasks(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    svc_loop *loop = arg;
    pthread_mutex_lock(&loop->mu);
    task *t = loop->head;
    loop->head = loop->tail = NULL;
    loop->wake_pending = false;
    bool stopping = loop->stopping;
    pthread_mutex_unlock(&loop->mu);
    while (t) {
        task *next = t->next;
        t->fn(t->ud);
        free(t);
        t = next;
    }
    if (stopping)
        event_base_loopbreak(loop->base);
}

static void *loop_main(void *arg)
{
    svc_loop *loop = arg;
    current_loop = loop;
    event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* Tasks posted while we were breaking out still deserve to run. */
    run_tasks(-1, 0, loop);
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

static void enqueue(svc_loop *loop, task *t, bool stop)
{
    pthread_mutex_lock(&loop->mu);
    if (t) {
        if (loop->tail)
            loop->tail->next = t;
        else
            loop->head = t;
        loop->tail = t;
    }
    loop->stopping |= stop;
    bool wake = !loop->wake_pending;
    loop->wake_pending = true;
    pthread_mutex_unlock(&loop->mu);
    if (wake)
        event_active(loop->wake, 0, 0);
}

svc_code svc_loop_post(svc_loop *loop, svc_task_fn fn, void *ud)
{
    task *t = malloc(sizeof *t);
    if (!t)
        return svc_fail_oom();
    *t = (task){NULL, fn, ud};
    enqueue(loop, t, false);
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

typedef struct delayed {
    svc_task_fn fn;
    void *ud;
} delayed;

static void run_delayed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    delayed d = *(delayed *)arg;
    free(arg);
    d.fn(d.ud);
}

svc_code svc_loop_post_after(svc_loop *loop, int64_t delay_ns, svc_task_fn fn, void *ud)
{
    delayed *d = malloc(sizeof *d);
    if (!d)
        return svc_fail_oom();
    *d = (delayed){fn, ud};
    struct timeval tv;
    svc_loop_timeval(delay_ns, &tv);
    /* event_base_once owns the event and frees it after it ran; with
     * threading enabled it may be called from any thread. */
    if (event_base_once(loop->base, -1, EV_TIMEOUT, run_delayed, d, &tv) != 0) {
        free(d);
        return svc_fail(SVC_RESOURCE_EXHAUSTED, "cannot schedule a timer");
    }
    return SVC_OK;
}

void svc_loop_stop(svc_loop *loop)
{
    if (!loop)
        return;
    enqueue(loop, NULL, true);
    pthread_join(loop->thread, NULL);
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
