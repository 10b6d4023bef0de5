/* The thread machinery: strands keep order and bound concurrency, loops
 * run posted tasks in order, timers fire on time and can be disarmed. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "cmocka_all.h"
#include "core/executor.h"
#include "core/loop.h"

typedef struct order_log {
    pthread_mutex_t mu;
    int seen[1000];
    int n;
    atomic_int running, max_running;
} order_log;

typedef struct item {
    order_log *log;
    int value;
} item;

static void record(void *arg)
{
    item *it = arg;
    int now = atomic_fetch_add(&it->log->running, 1) + 1;
    int max = atomic_load(&it->log->max_running);
    while (now > max && !atomic_compare_exchange_weak(&it->log->max_running, &max, now))
        ;
    pthread_mutex_lock(&it->log->mu);
    it->log->seen[it->log->n++] = it->value;
    pthread_mutex_unlock(&it->log->mu);
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
    atomic_fetch_sub(&it->log->running, 1);
}

static void run_strand(unsigned concurrency, order_log *log, item *items, int n)
{
    svc_executor *ex;
    svc_strand *s;
    assert_int_equal(svc_executor_new(4, &ex), SVC_OK);
    assert_int_equal(svc_strand_new(ex, concurrency, &s), SVC_OK);
    for (int i = 0; i < n; i++) {
        items[i] = (item){log, i};
        assert_int_equal(svc_strand_post(s, record, &items[i]), SVC_OK);
    }
    svc_strand_free(s); /* waits for all of them */
    svc_executor_free(ex);
}

static void strand_in_order(void **state)
{
    (void)state;
    static order_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    static item items[500];
    run_strand(1, &log, items, 500);
    assert_int_equal(log.n, 500);
    for (int i = 0; i < 500; i++)
        assert_int_equal(log.seen[i], i);
    assert_int_equal(atomic_load(&log.max_running), 1);
}

static void strand_bounded(void **state)
{
    (void)state;
    static order_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    static item items[500];
    run_strand(2, &log, items, 500);
    assert_int_equal(log.n, 500);
    assert_true(atomic_load(&log.max_running) <= 2);
}

typedef struct loop_probe {
    svc_loop *loop;
    atomic_int count;
    atomic_bool on_loop;
    svc_time fired_at;
} loop_probe;

static void on_loop(void *arg)
{
    loop_probe *p = arg;
    atomic_store(&p->on_loop, svc_loop_in_thread(p->loop));
    atomic_fetch_add(&p->count, 1);
}

static void timer_hit(void *arg)
{
    loop_probe *p = arg;
    p->fired_at = svc_now();
    atomic_fetch_add(&p->count, 1);
}

static void loops_and_timers(void **state)
{
    (void)state;
    loop_probe p = {0};
    assert_int_equal(svc_loop_start(0, &p.loop), SVC_OK);
    assert_false(svc_loop_in_thread(p.loop));
    assert_int_equal(svc_loop_run_sync(p.loop, on_loop, &p), SVC_OK);
    assert_int_equal(atomic_load(&p.count), 1);
    assert_true(atomic_load(&p.on_loop));

    svc_timer *t, *never;
    assert_int_equal(svc_timer_new(p.loop, timer_hit, &p, &t), SVC_OK);
    assert_int_equal(svc_timer_new(p.loop, timer_hit, &p, &never), SVC_OK);
    svc_time start = svc_now();
    svc_timer_arm(t, start + 30 * SVC_NSEC_PER_MSEC);
    svc_timer_arm(never, start + 40 * SVC_NSEC_PER_MSEC);
    svc_timer_disarm(never);
    usleep(150000);
    assert_int_equal(atomic_load(&p.count), 2); /* the disarmed one never fired */
    assert_true(p.fired_at - start >= 30 * SVC_NSEC_PER_MSEC);
    assert_true(p.fired_at - start < 120 * SVC_NSEC_PER_MSEC);
    svc_timer_free(t);
    svc_timer_free(never);

    assert_int_equal(svc_loop_post_after(p.loop, 20 * SVC_NSEC_PER_MSEC, on_loop, &p), SVC_OK);
    usleep(100000);
    assert_int_equal(atomic_load(&p.count), 3);
    svc_loop_free(p.loop);
}

/* Stopping a loop runs what is posted, also what those tasks post while it
 * stops (once lost), and the delayed tasks still waiting, early (once
 * leaked); later posts fail instead of touching a freed loop. */
typedef struct chain {
    svc_loop *loop;
    atomic_int ran;
    int len;
} chain;

static void chain_link(void *arg)
{
    chain *c = arg;
    int n = atomic_fetch_add(&c->ran, 1) + 1;
    if (n == 1)
        usleep(50000); /* the stop is asked meanwhile */
    if (n < c->len)
        assert_int_equal(svc_loop_post(c->loop, chain_link, c), SVC_OK);
}

static void free_flag(void *arg)
{
    atomic_bool *ran = arg;
    atomic_store(ran, true);
}

static void nothing(void *arg)
{
    (void)arg;
}

static void loop_stop_runs_everything(void **state)
{
    (void)state;
    chain c = {.len = 5};
    atomic_bool delayed_ran = false;
    assert_int_equal(svc_loop_start(0, &c.loop), SVC_OK);
    assert_int_equal(svc_loop_post_after(c.loop, 10 * SVC_NSEC_PER_SEC, free_flag, &delayed_ran),
                     SVC_OK);
    assert_int_equal(svc_loop_post(c.loop, chain_link, &c), SVC_OK);
    svc_time start = svc_now();
    svc_loop_stop(c.loop);
    assert_true(svc_now() - start < 2 * SVC_NSEC_PER_SEC);
    assert_int_equal(atomic_load(&c.ran), 5);
    assert_true(atomic_load(&delayed_ran));
    assert_int_equal(svc_loop_post(c.loop, nothing, NULL), SVC_UNAVAILABLE);
    assert_int_equal(svc_loop_post_after(c.loop, 0, nothing, NULL), SVC_UNAVAILABLE);
    svc_loop_free(c.loop);
}

/* A job that waits (as a blocking call does) for a job queued behind it on
 * a pool of one: the pool starts a spare to run it. */
typedef struct waiting_job {
    svc_executor *ex;
    atomic_bool inner_ran, outer_done;
} waiting_job;

static void inner_job(void *arg)
{
    waiting_job *w = arg;
    atomic_store(&w->inner_ran, true);
}

static void outer_job(void *arg)
{
    waiting_job *w = arg;
    assert_int_equal(svc_executor_post(w->ex, inner_job, w), SVC_OK);
    svc_executor *pool = svc_executor_block_begin();
    assert_ptr_equal(pool, w->ex);
    for (int i = 0; i < 2000 && !atomic_load(&w->inner_ran); i++)
        usleep(1000);
    svc_executor_block_end(pool);
    atomic_store(&w->outer_done, true);
}

static void pool_compensates_blocked_workers(void **state)
{
    (void)state;
    waiting_job w = {0};
    assert_null(svc_executor_block_begin()); /* not on a pool thread */
    assert_int_equal(svc_executor_new(1, &w.ex), SVC_OK);
    assert_int_equal(svc_executor_post(w.ex, outer_job, &w), SVC_OK);
    for (int i = 0; i < 3000 && !atomic_load(&w.outer_done); i++)
        usleep(1000);
    assert_true(atomic_load(&w.inner_ran));
    svc_executor_stop(w.ex);
    /* Stopped: posts are refused (callers run the job themselves), and a
     * strand runs its tasks on the poster's thread. */
    assert_int_equal(svc_executor_post(w.ex, inner_job, &w), SVC_UNAVAILABLE);
    svc_strand *s;
    assert_int_equal(svc_strand_new(w.ex, 1, &s), SVC_OK);
    atomic_store(&w.inner_ran, false);
    assert_int_equal(svc_strand_post(s, inner_job, &w), SVC_OK);
    assert_true(atomic_load(&w.inner_ran));
    svc_strand_free(s);
    svc_executor_free(w.ex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strand_in_order),
        cmocka_unit_test(strand_bounded),
        cmocka_unit_test(loops_and_timers),
        cmocka_unit_test(loop_stop_runs_everything),
        cmocka_unit_test(pool_compensates_blocked_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
