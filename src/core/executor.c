#include "executor.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "error.h"

typedef struct job {
    struct job *next;
    svc_task_fn fn;
    void *ud;
} job;

typedef struct job_queue {
    job *head, *tail;
    size_t len;
} job_queue;

static void queue_push(job_queue *q, job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->len++;
}

static job *queue_pop(job_queue *q)
{
    job *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->len--;
    }
    return j;
}

static job *job_new(svc_task_fn fn, void *ud)
{
    job *j = malloc(sizeof *j);
    if (j)
        *j = (job){NULL, fn, ud};
    return j;
}

/* Spare threads a pool may add while its threads wait in blocking calls
 * (svc_executor_block_begin): enough for deep nesting of blocking calls in
 * handlers; beyond it the pool stops growing (threads cost memory and
 * scheduling) and further jobs wait for a thread as they would without
 * spares, until the waits end or their deadlines pass. */
#define MAX_SPARES 64

typedef struct thread_rec {
    struct thread_rec *next;
    pthread_t id;
    svc_executor *ex;
} thread_rec;

struct svc_executor {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* idle threads wait here for jobs */
    pthread_cond_t gone_cv; /* svc_executor_stop waits here for the threads */
    job_queue q;
    bool stopping;
    unsigned workers;   /* threads able to run jobs when none blocks */
    unsigned n_threads; /* alive: the workers plus spares */
    unsigned idle;      /* waiting for a job */
    unsigned blocked;   /* inside svc_executor_block_begin/end */
    thread_rec *ended;  /* threads that returned, to be joined */
};

static _Thread_local svc_executor *current_pool;

/* More threads able to run jobs than the pool's size: a spare is left over
 * from a blocking call that ended. */
static bool surplus_locked(const svc_executor *ex)
{
    return ex->n_threads - ex->blocked > ex->workers;
}

static void *worker_main(void *arg)
{
    thread_rec *self = arg;
    svc_executor *ex = self->ex;
    current_pool = ex;
    pthread_mutex_lock(&ex->mu);
    for (;;) {
        job *j = queue_pop(&ex->q);
        if (!j) {
            if (ex->stopping || surplus_locked(ex))
                break;
            ex->idle++;
            pthread_cond_wait(&ex->cv, &ex->mu);
            ex->idle--;
            continue;
        }
        pthread_mutex_unlock(&ex->mu);
        j->fn(j->ud);
        free(j);
        pthread_mutex_lock(&ex->mu);
    }
    self->next = ex->ended;
    ex->ended = self;
    if (--ex->n_threads == 0)
        pthread_cond_broadcast(&ex->gone_cv);
    pthread_mutex_unlock(&ex->mu);
    return NULL;
}

/* Under ex->mu, which the new thread takes first: its id is stored before
 * it can end and be joined. */
static bool start_thread_locked(svc_executor *ex)
{
    thread_rec *t = malloc(sizeof *t);
    if (!t)
        return false;
    t->ex = ex;
    if (pthread_create(&t->id, NULL, worker_main, t) != 0) {
        free(t);
        return false;
    }
    ex->n_threads++;
    return true;
}

/* Joins threads that have returned (taken off ex->ended under its lock). */
static void join_all(thread_rec *t)
{
    for (thread_rec *next; t; t = next) {
        next = t->next;
        pthread_join(t->id, NULL);
        free(t);
    }
}

svc_code svc_executor_new(unsigned threads, svc_executor **out)
{
    svc_executor *ex = calloc(1, sizeof *ex);
    if (!ex)
        return svc_fail_oom();
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->cv, NULL);
    pthread_cond_init(&ex->gone_cv, NULL);
    ex->workers = threads;
    pthread_mutex_lock(&ex->mu);
    bool ok = true;
    for (unsigned i = 0; ok && i < threads; i++)
        ok = start_thread_locked(ex);
    pthread_mutex_unlock(&ex->mu);
    if (!ok) {
        svc_executor_free(ex);
        return svc_fail(SVC_RESOURCE_EXHAUSTED, "cannot start worker threads");
    }
    *out = ex;
    return SVC_OK;
}

void svc_executor_stop(svc_executor *ex)
{
    pthread_mutex_lock(&ex->mu);
    ex->stopping = true;
    pthread_cond_broadcast(&ex->cv);
    while (ex->n_threads > 0)
        pthread_cond_wait(&ex->gone_cv, &ex->mu);
    thread_rec *ended = ex->ended;
    ex->ended = NULL;
    pthread_mutex_unlock(&ex->mu);
    join_all(ended);
}

void svc_executor_free(svc_executor *ex)
{
    if (!ex)
        return;
    svc_executor_stop(ex);
    pthread_mutex_destroy(&ex->mu);
    pthread_cond_destroy(&ex->cv);
    pthread_cond_destroy(&ex->gone_cv);
    free(ex);
}

/* Under ex->mu: jobs wait, no thread is free to take them, and fewer than
 * `workers` threads can run at all because others wait in blocking calls,
 * perhaps for these very jobs: start a spare. */
static void compensate_locked(svc_executor *ex)
{
    if (ex->q.len && !ex->idle && !ex->stopping && ex->n_threads - ex->blocked < ex->workers &&
        ex->n_threads < ex->workers + MAX_SPARES)
        start_thread_locked(ex); /* without it, the jobs wait as before */
}

/* Queues j; false (j not taken) once the pool is stopping. */
static bool executor_push(svc_executor *ex, job *j)
{
    pthread_mutex_lock(&ex->mu);
    bool open = !ex->stopping;
    if (open) {
        queue_push(&ex->q, j);
        if (ex->idle)
            pthread_cond_signal(&ex->cv);
        else
            compensate_locked(ex);
    }
    pthread_mutex_unlock(&ex->mu);
    return open;
}

svc_code svc_executor_post(svc_executor *ex, svc_task_fn fn, void *ud)
{
    job *j = job_new(fn, ud);
    if (!j)
        return svc_fail_oom();
    if (!executor_push(ex, j)) {
        free(j);
        return svc_fail(SVC_UNAVAILABLE, "the worker pool is stopping");
    }
    return SVC_OK;
}

svc_executor *svc_executor_block_begin(void)
{
    svc_executor *ex = current_pool;
    if (!ex)
        return NULL;
    pthread_mutex_lock(&ex->mu);
    ex->blocked++;
    compensate_locked(ex);
    /* Spares that left after earlier waits are joined here, off the hot
     * path of posting; at most MAX_SPARES of them wait for it. */
    thread_rec *ended = ex->ended;
    ex->ended = NULL;
    pthread_mutex_unlock(&ex->mu);
    join_all(ended);
    return ex;
}

void svc_executor_block_end(svc_executor *ex)
{
    if (!ex)
        return;
    pthread_mutex_lock(&ex->mu);
    ex->blocked--;
    if (surplus_locked(ex) && ex->idle)
        pthread_cond_signal(&ex->cv); /* an idle spare may leave now */
    pthread_mutex_unlock(&ex->mu);
}

/* ---- strands ---- */

struct svc_strand {
    svc_executor *ex;
    pthread_mutex_t mu;
    pthread_cond_t idle_cv;
    job_queue q;
    unsigned active;      /* drain jobs scheduled or running */
    unsigned concurrency;
};

/* One drain job runs queued tasks until the queue is empty. Several drain
 * jobs (up to `concurrency`) may run at once; with one, tasks run in order. */
static void strand_drain(void *arg)
{
    svc_strand *s = arg;
    pthread_mutex_lock(&s->mu);
    job *j;
    while ((j = queue_pop(&s->q)) != NULL) {
        pthread_mutex_unlock(&s->mu);
        j->fn(j->ud);
        free(j);
        pthread_mutex_lock(&s->mu);
    }
    if (--s->active == 0)
        pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
}

svc_code svc_strand_new(svc_executor *ex, unsigned concurrency, svc_strand **out)
{
    svc_strand *s = calloc(1, sizeof *s);
    if (!s)
        return svc_fail_oom();
    s->ex = ex;
    s->concurrency = concurrency ? concurrency : 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    *out = s;
    return SVC_OK;
}

svc_code svc_strand_post(svc_strand *s, svc_task_fn fn, void *ud)
{
    /* The drain job is allocated up front so that nothing can fail once the
     * task is queued. */
    job *j = job_new(fn, ud), *drain = job_new(strand_drain, s);
    if (!j || !drain) {
        free(j);
        free(drain);
        return svc_fail_oom();
    }
    pthread_mutex_lock(&s->mu);
    queue_push(&s->q, j);
    bool start = s->active < s->concurrency;
    if (start)
        s->active++;
    pthread_mutex_unlock(&s->mu);
    if (!start) {
        free(drain);
    } else if (!executor_push(s->ex, drain)) {
        free(drain); /* the pool is stopping: drain here, in order all the same */
        strand_drain(s);
    }
    return SVC_OK;
}

size_t svc_strand_pending(svc_strand *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->q.len;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void svc_strand_free(svc_strand *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    while (s->active > 0 || s->q.len > 0)
        pthread_cond_wait(&s->idle_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->idle_cv);
    free(s);
}
