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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strand_in_order),
        cmocka_unit_test(strand_bounded),
        cmocka_unit_test(loops_and_timers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
