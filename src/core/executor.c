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

struct svc_executor {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_queue q;
    bool stopping;
    unsigned idle;
    unsigned n_threads;
    pthread_t *threads;
};

static _Thread_local bool in_worker;

bool svc_executor_in_worker(void)
{
    return in_worker;
}

static void *worker_main(void *arg)
{
    svc_executor *ex = arg;
    in_worker = true;
    pthread_mutex_lock(&ex->mu);
    for (;;) {
        job *j = queue_pop(&ex->q);
        if (!j) {
            if (ex->stopping)
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
    pthread_mutex_unlock(&ex->mu);
    return NULL;
}

svc_code svc_executor_new(unsigned threads, svc_executor **out)
{
    svc_executor *ex = calloc(1, sizeof *ex);
    if (!ex || !(ex->threads = calloc(threads, sizeof *ex->threads))) {
        free(ex);
        return svc_fail_oom();
    }
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->cv, NULL);
    for (; ex->n_threads < threads; ex->n_threads++) {
        if (pthread_create(&ex->threads[ex->n_threads], NULL, worker_main, ex) != 0) {
            svc_executor_free(ex);
            return svc_fail(SVC_RESOURCE_EXHAUSTED, "cannot start worker threads");
        }
    }
    *out = ex;
    return SVC_OK;
}

void svc_executor_free(svc_executor *ex)
{
    if (!ex)
        return;
    pthread_mutex_lock(&ex->mu);
    ex->stopping = true;
    pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    for (unsigned i = 0; i < ex->n_threads; i++)
        pthread_join(ex->threads[i], NULL);
    pthread_mutex_destroy(&ex->mu);
    pthread_cond_destroy(&ex->cv);
    free(ex->threads);
    free(ex);
}

static void executor_push(svc_executor *ex, job *j)
{
    pthread_mutex_lock(&ex->mu);
    queue_push(&ex->q, j);
    if (ex->idle)
        pthread_cond_signal(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
}

svc_code svc_executor_post(svc_executor *ex, svc_task_fn fn, void *ud)
{
    job *j = job_new(fn, ud);
    if (!j)
        return svc_fail_oom();
    executor_push(ex, j);
    return SVC_OK;
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
    if (start)
        executor_push(s->ex, drain);
    else
        free(drain);
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
