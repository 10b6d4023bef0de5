/*
 * Lifetimes across threads, over inproc: calls cancelled while they start,
 * servers freed or shut down while handlers answer, cancellation tokens
 * fired while calls finish, blocking calls nested in pool handlers,
 * subscriptions freed while events are redelivered or queued, clients and
 * contexts freed with work still around.
 *
 * Several are races: each loops for a bounded time and catches the bug in
 * most runs rather than every run (under ASan or TSan, which see a use of
 * freed memory or a race the moment it happens, nearly always); the others
 * are deterministic. A hang is how some of these bugs show, so a watchdog
 * ends the process with a message instead of waiting for ctest's timeout.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <unistd.h>

#include "../unit/cmocka_all.h"

#if defined(__SANITIZE_ADDRESS__)
/* Freed memory filled with garbage: libevent is not instrumented, so a use
 * of a freed event_base inside it shows only as a crash on garbage. */
__attribute__((visibility("default"))) const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "max_free_fill_size=65536:free_fill_byte=190";
}
#endif

/* ---- helpers ---- */

static atomic_int watch_gen;
typedef struct watch {
    int gen, ms;
    const char *what;
} watch;

static void *watch_main(void *arg)
{
    watch *w = arg;
    for (int waited = 0; waited < w->ms; waited += 10) {
        usleep(10000);
        if (atomic_load(&watch_gen) != w->gen) {
            free(w);
            return NULL;
        }
    }
    fprintf(stderr, "HANG: %s did not finish within %d ms\n", w->what, w->ms);
    _exit(1);
}

/* Fails the test (ends the process) if watch_end() is not reached in time. */
static void watch_begin(int ms, const char *what)
{
    watch *w = malloc(sizeof *w);
    *w = (watch){atomic_fetch_add(&watch_gen, 1) + 1, ms, what};
    pthread_t t;
    pthread_create(&t, NULL, watch_main, w);
    pthread_detach(t);
}

static void watch_end(void)
{
    atomic_fetch_add(&watch_gen, 1);
}

static bool time_left(svc_time until)
{
    return svc_now() < until;
}

static svc_time ms_from_now(int ms)
{
    return svc_now() + ms * SVC_NSEC_PER_MSEC;
}

static void reply_now(svc_call *c, void *ud)
{
    (void)ud;
    svc_call_reply(c, NULL);
}

static atomic_int replies;
static void count_reply(svc_code code, svc_msg *resp, void *ud)
{
    (void)code;
    (void)ud;
    svc_msg_free(resp);
    atomic_fetch_add(&replies, 1);
}

static void wait_replies(int n)
{
    watch_begin(3000, "waiting for the callbacks");
    while (atomic_load(&replies) < n)
        usleep(100);
    watch_end();
}

/* A context with `workers` pool threads (0: the default). */
static svc_ctx *new_ctx(unsigned workers)
{
    svc_ctx_config cfg;
    svc_ctx_config_init(&cfg);
    cfg.workers = workers;
    svc_ctx *ctx;
    assert_int_equal(svc_ctx_new(&cfg, &ctx), SVC_OK);
    return ctx;
}

static svc_client *new_client(svc_ctx *ctx, const char *url)
{
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    return c;
}

static svc_sub *subscribe(svc_client *c, const char *pattern, const svc_sub_opts *o,
                          svc_event_fn fn, void *ud)
{
    svc_sub *sub;
    assert_int_equal(svc_subscribe(c, pattern, o, fn, ud, &sub), SVC_OK);
    return sub;
}

static svc_server *serve(svc_ctx *ctx, const char *url, const char *method, svc_handler_fn fn,
                         svc_dispatch dispatch)
{
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    svc_handler_opts o = {.dispatch = dispatch};
    assert_int_equal(svc_server_handle_ex(s, method, fn, NULL, &o), SVC_OK);
    assert_int_equal(svc_server_listen(s, url), SVC_OK);
    return s;
}

static void publish_text(svc_client *c, const char *topic)
{
    svc_msg *m;
    assert_int_equal(svc_msg_new_data("x", 1, NULL, &m), SVC_OK);
    assert_int_equal(svc_publish(c, topic, m, NULL), SVC_OK);
    svc_msg_free(m);
}

/* ---- server calls ---- */

/* Bidi: reads until the caller closes its side or the call ends. */
static void drain_then_reply(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *m;
    while (svc_call_recv(c, &m) == SVC_OK && m)
        svc_msg_free(m);
    svc_call_reply(c, NULL);
}

/* A deadline (or any cancellation) landing while the inproc transport
 * starts a call once left the server call freed, or answered and still
 * listed as in flight for ever. Race. */
static void cancel_while_call_starts(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    svc_server *s = serve(ctx, "inproc://lt-cancel", "t.S/M", reply_now, SVC_DISPATCH_INLINE);
    assert_int_equal(svc_server_handle(s, "t.S/P", reply_now, NULL), SVC_OK);
    svc_handler_opts bidi = {.kind = SVC_BIDI_STREAMING};
    assert_int_equal(svc_server_handle_ex(s, "t.S/B", drain_then_reply, NULL, &bidi), SVC_OK);
    svc_client *cli = new_client(ctx, "inproc://lt-cancel");
    atomic_store(&replies, 0);
    unsigned seed = 1;
    int n = 0;
    for (svc_time until = ms_from_now(1500); time_left(until); n++) {
        svc_call_opts o = {.deadline = svc_now() + 2000 + rand_r(&seed) % 60000,
                           .dispatch = SVC_DISPATCH_INLINE};
        if (n % 4 == 3) { /* a stream, which starts the same way */
            svc_stream *st;
            assert_int_equal(svc_client_stream(cli, "t.S/B", &o, &st), SVC_OK);
            svc_stream_free(st);
            atomic_fetch_add(&replies, 1);
            continue;
        }
        assert_int_equal(svc_client_call_async(cli, n & 1 ? "t.S/M" : "t.S/P", NULL, &o,
                                               count_reply, NULL),
                         SVC_OK);
        while (n - atomic_load(&replies) > 64)
            ;
    }
    wait_replies(n);
    svc_client_free(cli);
    /* Every call was released: nothing is in flight, nothing to wait for. */
    svc_time start = svc_now();
    assert_int_equal(svc_server_shutdown(s, 2000), SVC_OK);
    assert_true(svc_now() - start < 500 * SVC_NSEC_PER_MSEC);
    svc_server_free(s);
    svc_ctx_free(ctx);
}

/* svc_server_free() while pool handlers answer: answering touched the
 * server after the last moment svc_server_free waited for. Race. */
static atomic_int round_ready;
static atomic_bool callers_stop;
static svc_ctx *shared_ctx;

static void *call_each_round(void *arg)
{
    (void)arg;
    svc_client *cli[16] = {0};
    while (!atomic_load(&callers_stop)) {
        int r = atomic_load(&round_ready);
        if (r < 0)
            continue;
        if (!cli[r % 16]) {
            char url[64];
            snprintf(url, sizeof url, "inproc://lt-free%d", r % 16);
            svc_client_new(shared_ctx, url, NULL, &cli[r % 16]);
        }
        svc_client_call_async(cli[r % 16], "t.S/M", NULL, NULL, count_reply, NULL);
    }
    for (int i = 0; i < 16; i++)
        svc_client_free(cli[i]);
    return NULL;
}

static void free_server_while_handlers_answer(void **state)
{
    (void)state;
    shared_ctx = new_ctx(0);
    atomic_store(&round_ready, -1);
    atomic_store(&callers_stop, false);
    pthread_t t;
    pthread_create(&t, NULL, call_each_round, NULL);
    svc_time until = ms_from_now(1500);
    for (int i = 0; time_left(until); i++) {
        char url[64];
        snprintf(url, sizeof url, "inproc://lt-free%d", i % 16);
        svc_server *s = serve(shared_ctx, url, "t.S/M", reply_now, SVC_DISPATCH_POOL);
        atomic_store(&round_ready, i);
        usleep((unsigned)(rand() % 100));
        atomic_store(&round_ready, -1);
        svc_server_free(s);
    }
    atomic_store(&callers_stop, true);
    pthread_join(t, NULL);
    svc_ctx_free(shared_ctx);
}

/* A caller reaching an inproc name the moment it is registered found a
 * listener that did not know its server yet. Race. */
static atomic_int listen_round;

static void *call_while_listening(void *arg)
{
    (void)arg;
    svc_client *cli[16] = {0};
    while (!atomic_load(&callers_stop)) {
        int r = atomic_load(&listen_round);
        if (!cli[r % 16]) {
            char url[64];
            snprintf(url, sizeof url, "inproc://lt-listen%d", r % 16);
            svc_client_new(shared_ctx, url, NULL, &cli[r % 16]);
        }
        svc_call_opts o = {.timeout_ms = 1000};
        svc_client_call(cli[r % 16], "t.S/M", NULL, NULL, &o);
    }
    for (int i = 0; i < 16; i++)
        svc_client_free(cli[i]);
    return NULL;
}

static void call_while_listening_starts(void **state)
{
    (void)state;
    shared_ctx = new_ctx(0);
    atomic_store(&listen_round, 0);
    atomic_store(&callers_stop, false);
    pthread_t t;
    pthread_create(&t, NULL, call_while_listening, NULL);
    svc_time until = ms_from_now(1000);
    for (int i = 0; time_left(until); i++) {
        svc_server *s;
        assert_int_equal(svc_server_new(shared_ctx, &s), SVC_OK);
        assert_int_equal(svc_server_handle(s, "t.S/M", reply_now, NULL), SVC_OK);
        char url[64];
        snprintf(url, sizeof url, "inproc://lt-listen%d", i % 16);
        atomic_store(&listen_round, i);
        usleep((unsigned)(rand() % 20));
        assert_int_equal(svc_server_listen(s, url), SVC_OK);
        usleep((unsigned)(rand() % 50));
        svc_server_free(s);
    }
    atomic_store(&callers_stop, true);
    pthread_join(t, NULL);
    svc_ctx_free(shared_ctx);
}

/* Two threads shutting the same server down (a signal thread and main)
 * freed its listeners twice. Deterministic under ASan. */
static svc_server *shut_twice;
static void *shut_down(void *arg)
{
    (void)arg;
    svc_server_shutdown(shut_twice, 100);
    return NULL;
}

static void concurrent_shutdowns(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    shut_twice = serve(ctx, "inproc://lt-twice", "t.S/M", reply_now, SVC_DISPATCH_POOL);
    assert_int_equal(svc_server_listen(shut_twice, "http://127.0.0.1:0"), SVC_OK);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, shut_down, NULL);
    pthread_create(&t2, NULL, shut_down, NULL);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_int_equal(svc_server_listener_count(shut_twice), 0);
    svc_server_free(shut_twice);
    svc_ctx_free(ctx);
}

/* ---- client calls ---- */

/* svc_cancel_fire() walked its list while calls finishing at the same time
 * unlinked themselves from it: a skipped call kept a reference for ever and
 * svc_client_free() hung. Race. */
static void cancel_fire_while_calls_finish(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(3);
    svc_server *s = serve(ctx, "inproc://lt-skip", "t.S/M", reply_now, SVC_DISPATCH_POOL);
    svc_time until = ms_from_now(1500);
    while (time_left(until)) {
        svc_client *cli = new_client(ctx, "inproc://lt-skip");
        svc_cancel *tok;
        assert_int_equal(svc_cancel_new(&tok), SVC_OK);
        svc_call_opts o = {.cancel = tok};
        atomic_store(&replies, 0);
        for (int i = 0; i < 200; i++)
            assert_int_equal(svc_client_call_async(cli, "t.S/M", NULL, &o, count_reply, NULL),
                             SVC_OK);
        svc_cancel_fire(tok); /* while replies still arrive */
        svc_cancel_free(tok);
        wait_replies(200);
        watch_begin(3000, "svc_client_free after svc_cancel_fire");
        svc_client_free(cli);
        watch_end();
    }
    svc_server_free(s);
    svc_ctx_free(ctx);
}

/* A token fired while svc_client_call_async() is still starting the call
 * ended it before its deadline timer existed; the timer was then armed on
 * an ended call. Race (TSan sees it). */
static _Atomic(svc_cancel *) to_fire;
static atomic_bool fired;

static void *fire_tokens(void *arg)
{
    (void)arg;
    while (!atomic_load(&callers_stop)) {
        svc_cancel *t = atomic_exchange(&to_fire, NULL);
        if (t) {
            svc_cancel_fire(t);
            atomic_store(&fired, true);
        }
    }
    return NULL;
}

static void cancel_while_call_is_made(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    svc_server *s = serve(ctx, "inproc://lt-cds", "t.S/M", reply_now, SVC_DISPATCH_POOL);
    svc_client *cli = new_client(ctx, "inproc://lt-cds");
    atomic_store(&callers_stop, false);
    atomic_store(&replies, 0);
    pthread_t t;
    pthread_create(&t, NULL, fire_tokens, NULL);
    int n = 0;
    for (svc_time until = ms_from_now(1000); time_left(until); n++) {
        svc_cancel *mine;
        assert_int_equal(svc_cancel_new(&mine), SVC_OK);
        svc_call_opts o = {.timeout_ms = 1000, .cancel = mine};
        atomic_store(&fired, false);
        atomic_store(&to_fire, mine); /* fired while the call starts */
        assert_int_equal(svc_client_call_async(cli, "t.S/M", NULL, &o, count_reply, NULL), SVC_OK);
        while (!atomic_load(&fired))
            ;
        svc_cancel_free(mine);
        while (n + 1 - atomic_load(&replies) > 16)
            ;
    }
    wait_replies(n);
    atomic_store(&callers_stop, true);
    pthread_join(t, NULL);
    svc_client_free(cli);
    svc_server_free(s);
    svc_ctx_free(ctx);
}

/* A pool handler making a blocking call to a handler on the same pool
 * (orders calling inventory): with as many such calls as workers, every
 * worker waited for an inner handler queued behind it. Deterministic. */
static svc_client *inner_cli;

static void outer_handler(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *resp = NULL;
    svc_code rc = svc_client_call(inner_cli, "t.Inner/M", NULL, &resp, NULL); /* no deadline */
    svc_msg_free(resp);
    if (rc)
        svc_call_fail(c, rc, "inner call failed");
    else
        svc_call_reply(c, NULL);
}

static void nested_blocking_calls_on_the_pool(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(2);
    svc_server *s = serve(ctx, "inproc://lt-nested", "t.Outer/M", outer_handler, SVC_DISPATCH_POOL);
    assert_int_equal(svc_server_handle(s, "t.Inner/M", reply_now, NULL), SVC_OK);
    inner_cli = new_client(ctx, "inproc://lt-nested");
    svc_client *cli = new_client(ctx, "inproc://lt-nested");
    for (int round = 0; round < 3; round++) {
        atomic_store(&replies, 0);
        for (int i = 0; i < 16; i++) /* eight times the workers */
            assert_int_equal(svc_client_call_async(cli, "t.Outer/M", NULL, NULL, count_reply, NULL),
                             SVC_OK);
        wait_replies(16);
    }
    svc_client_free(cli);
    svc_client_free(inner_cli);
    svc_server_free(s);
    svc_ctx_free(ctx);
}

/* ---- contexts ---- */

/* A handler still running when the application tears down (client, server,
 * then context) answers after svc_ctx_free() began: its call's deadline
 * timer was freed on a loop already gone. Deterministic under ASan only. */
static void slow_reply(svc_call *c, void *ud)
{
    (void)ud;
    usleep(300000); /* ignores cancellation, as handlers may */
    svc_call_reply(c, NULL);
}

static void ctx_free_while_handler_runs(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    svc_server *s = serve(ctx, "inproc://lt-order", "t.S/Slow", slow_reply, SVC_DISPATCH_POOL);
    svc_client *cli = new_client(ctx, "inproc://lt-order");
    svc_call_opts o = {.timeout_ms = 5000}; /* a deadline: the server call gets a timer */
    atomic_store(&replies, 0);
    assert_int_equal(svc_client_call_async(cli, "t.S/Slow", NULL, &o, count_reply, NULL), SVC_OK);
    usleep(50000);
    svc_client_free(cli);
    svc_server_free(s);
    svc_ctx_free(ctx);
    assert_int_equal(atomic_load(&replies), 1);
}

/* ---- subscriptions ---- */

static void nack_once_then_ack(svc_event *ev, void *ud)
{
    atomic_long *nacked_at = ud;
    if (svc_event_delivery_count(ev) == 1) {
        atomic_store(nacked_at, svc_now());
        svc_event_nack(ev, 1);
    } else {
        svc_event_ack(ev);
    }
}

/* A nack's redelivery firing while svc_sub_free() ran used the strand it
 * had just freed. Race. */
static void redelivery_while_sub_is_freed(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    svc_client *cli = new_client(ctx, "inproc://lt-rdl");
    unsigned seed = 7;
    static atomic_long nacked_at;
    for (svc_time until = ms_from_now(1500); time_left(until);) {
        svc_sub_opts so = {.manual_ack = true};
        svc_sub *sub = subscribe(cli, "r.x", &so, nack_once_then_ack, &nacked_at);
        atomic_store(&nacked_at, 0);
        publish_text(cli, "r.x");
        while (!atomic_load(&nacked_at))
            ;
        svc_time target = atomic_load(&nacked_at) + 1000000 + (long)(rand_r(&seed) % 200000) - 50000;
        while (svc_now() < target)
            ;
        svc_sub_free(sub);
    }
    svc_client_free(cli);
    svc_ctx_free(ctx);
}

static void ignore_event(svc_event *ev, void *ud)
{
    (void)ev;
    (void)ud;
}

static void nack_later(svc_event *ev, void *ud)
{
    (void)ud;
    svc_event_nack(ev, 4000);
}

/* svc_client_free() waited for ever for a subscription left open.
 * Deterministic. */
static void client_free_with_open_subscription(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    svc_client *cli = new_client(ctx, "inproc://lt-subs");
    subscribe(cli, "a.b", NULL, ignore_event, NULL);
    watch_begin(2000, "svc_client_free with a subscription open");
    svc_client_free(cli); /* frees the subscription too */
    watch_end();
    svc_ctx_free(ctx);
}

/* ...and for a nack's delay after the subscription was freed.
 * Deterministic. */
static void client_free_after_delayed_nack(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    svc_client *cli = new_client(ctx, "inproc://lt-subs");
    svc_sub_opts so = {.manual_ack = true};
    svc_sub *sub = subscribe(cli, "a.b", &so, nack_later, NULL);
    publish_text(cli, "a.b");
    usleep(100000); /* nacked: redelivery in 4 s */
    svc_sub_free(sub);
    svc_time start = svc_now();
    svc_client_free(cli);
    assert_true(svc_now() - start < 1000 * SVC_NSEC_PER_MSEC);
    svc_ctx_free(ctx);
}

/* A manual-ack event its handler kept, unsettled, when its client is
 * freed: svc_client_free does not wait for it; the event goes back (here to
 * the other member of the queue group), and settling it later only frees
 * it. Deterministic. */
static _Atomic(svc_event *) kept;
static void keep_event(svc_event *ev, void *ud)
{
    (void)ud;
    atomic_store(&kept, ev);
}

static atomic_int group_got;
static void ack_and_count(svc_event *ev, void *ud)
{
    (void)ud;
    atomic_fetch_add(&group_got, 1);
    svc_event_ack(ev);
}

static void client_free_gives_unsettled_events_back(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    svc_client *a = new_client(ctx, "inproc://lt-back"), *b = new_client(ctx, "inproc://lt-back");
    svc_sub_opts so = {.manual_ack = true, .queue_group = "g"};
    atomic_store(&kept, NULL);
    atomic_store(&group_got, 0);
    subscribe(a, "job.run", &so, keep_event, NULL); /* freed with a */
    publish_text(a, "job.run"); /* the only member: a gets it and keeps it */
    watch_begin(2000, "waiting for the event");
    while (!atomic_load(&kept))
        usleep(1000);
    watch_end();
    svc_sub *sb = subscribe(b, "job.run", &so, ack_and_count, NULL);
    watch_begin(2000, "svc_client_free with an unsettled event");
    svc_client_free(a);
    watch_end();
    watch_begin(2000, "the event going to the other member");
    while (atomic_load(&group_got) < 1)
        usleep(1000);
    watch_end();
    assert_int_equal(svc_event_ack(atomic_load(&kept)), SVC_FAILED_PRECONDITION);
    svc_sub_free(sb);
    svc_client_free(b);
    svc_ctx_free(ctx);
}

/* An inline subscription's redelivery runs its handler on a loop thread:
 * svc_sub_free() returned while it still ran. Deterministic. */
static atomic_int inline_phase;
static atomic_bool freed_while_running;
static atomic_bool sub_free_returned;

static void nack_then_work(svc_event *ev, void *ud)
{
    (void)ud;
    if (svc_event_delivery_count(ev) == 1) {
        svc_event_nack(ev, 0);
        return;
    }
    atomic_store(&inline_phase, 1);
    usleep(200000);
    if (atomic_load(&sub_free_returned))
        atomic_store(&freed_while_running, true);
    svc_event_ack(ev);
    atomic_store(&inline_phase, 2);
}

static void sub_free_waits_for_inline_redelivery(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    svc_client *cli = new_client(ctx, "inproc://lt-inl");
    svc_sub_opts so = {.manual_ack = true, .dispatch = SVC_DISPATCH_INLINE};
    svc_sub *sub = subscribe(cli, "a.b", &so, nack_then_work, NULL);
    publish_text(cli, "a.b");
    watch_begin(2000, "the redelivery");
    while (atomic_load(&inline_phase) != 1)
        usleep(1000);
    watch_end();
    svc_sub_free(sub);
    atomic_store(&sub_free_returned, true);
    assert_int_equal(atomic_load(&inline_phase), 2);
    assert_false(atomic_load(&freed_while_running));
    svc_client_free(cli);
    svc_ctx_free(ctx);
}

/* Events queued on a queue group member that leaves went nowhere; they go
 * to the rest of the group. Deterministic in effect: the slow member has
 * most of its share still queued when it leaves. */
static atomic_int handled_a, handled_b;
static void slow_member(svc_event *ev, void *ud)
{
    (void)ev;
    (void)ud;
    usleep(2000);
    atomic_fetch_add(&handled_a, 1);
}

static void fast_member(svc_event *ev, void *ud)
{
    (void)ev;
    (void)ud;
    atomic_fetch_add(&handled_b, 1);
}

static void leaving_group_member_hands_events_on(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    svc_client *cli = new_client(ctx, "inproc://lt-grp");
    svc_sub_opts so = {.queue_group = "workers"};
    svc_sub *a = subscribe(cli, "job.*", &so, slow_member, NULL);
    svc_sub *b = subscribe(cli, "job.*", &so, fast_member, NULL);
    for (int i = 0; i < 200; i++)
        publish_text(cli, "job.run");
    usleep(20000);
    svc_sub_free(a); /* with most of its 100 still queued */
    watch_begin(2000, "the group handling every event");
    while (atomic_load(&handled_a) + atomic_load(&handled_b) < 200)
        usleep(1000);
    watch_end();
    assert_true(atomic_load(&handled_a) < 100);
    svc_sub_free(b);
    svc_client_free(cli);
    svc_ctx_free(ctx);
}

/* An inline handler freeing another subscription of the same bus while a
 * publish was about to deliver to it waited for that very publish. */
static svc_sub *sibling;
static void free_sibling(svc_event *ev, void *ud)
{
    (void)ev;
    (void)ud;
    svc_sub *s = sibling;
    sibling = NULL;
    svc_sub_free(s);
}

static void inline_handler_frees_sibling(void **state)
{
    (void)state;
    svc_ctx *ctx = new_ctx(0);
    svc_client *cli = new_client(ctx, "inproc://lt-sib");
    svc_sub_opts so = {.dispatch = SVC_DISPATCH_INLINE};
    /* first subscribed first: a publish hands to it first, then to sibling */
    svc_sub *first = subscribe(cli, "a.b", &so, free_sibling, NULL);
    sibling = subscribe(cli, "a.b", &so, ignore_event, NULL);
    watch_begin(2000, "a publish whose inline handler frees the next receiver");
    publish_text(cli, "a.b");
    watch_end();
    assert_null(sibling);
    svc_sub_free(first);
    svc_client_free(cli);
    svc_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* one test (or a pattern): a crash ends the rest */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cancel_while_call_starts),
        cmocka_unit_test(free_server_while_handlers_answer),
        cmocka_unit_test(call_while_listening_starts),
        cmocka_unit_test(concurrent_shutdowns),
        cmocka_unit_test(cancel_fire_while_calls_finish),
        cmocka_unit_test(cancel_while_call_is_made),
        cmocka_unit_test(nested_blocking_calls_on_the_pool),
        cmocka_unit_test(ctx_free_while_handler_runs),
        cmocka_unit_test(redelivery_while_sub_is_freed),
        cmocka_unit_test(client_free_with_open_subscription),
        cmocka_unit_test(client_free_after_delayed_nack),
        cmocka_unit_test(client_free_gives_unsettled_events_back),
        cmocka_unit_test(sub_free_waits_for_inline_redelivery),
        cmocka_unit_test(leaving_group_member_hands_events_on),
        cmocka_unit_test(inline_handler_frees_sibling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
