/* Resolver and registration threads (worker.h). */
#include "worker.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

static void *trampoline(void *arg)
{
    svc_disc_worker *w = arg;
    w->body(w->ud);
    return NULL;
}

svc_code svc_disc_worker_start(svc_disc_worker *w, void (*body)(void *), void *ud,
                               void (*on_stop)(void *))
{
    memset(w, 0, sizeof *w);
    w->body = body;
    w->ud = ud;
    w->on_stop = on_stop;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&w->thread, NULL, trampoline, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return svc_fail(SVC_RESOURCE_EXHAUSTED, "discovery: cannot start a thread: %s",
                        strerror(rc));
    }
    return SVC_OK;
}

bool svc_disc_worker_sleep(svc_disc_worker *w, int64_t ns)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (ns < 0)
        ns = 0;
    until.tv_sec += ns / 1000000000;
    until.tv_nsec += ns % 1000000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->stopping && !w->kicked &&
           pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT)
        ;
    w->kicked = false;
    bool go_on = !w->stopping;
    pthread_mutex_unlock(&w->mu);
    return go_on;
}

bool svc_disc_worker_stopping(svc_disc_worker *w)
{
    pthread_mutex_lock(&w->mu);
    bool s = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return s;
}

void svc_disc_worker_kick(svc_disc_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->kicked = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void svc_disc_worker_stop(svc_disc_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    if (w->on_stop)
        w->on_stop(w->ud);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}
