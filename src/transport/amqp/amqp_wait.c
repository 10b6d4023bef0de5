/* A one-shot rendezvous between a caller and the owner thread. */
#include <stdlib.h>

#include "amqp_client.h"
#include "core/error.h"

void svc_amqp_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ns)
{
    /* Conditions use the realtime clock: callers wait in slices and check
     * the monotonic one themselves. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ns;
    ts.tv_sec += ts.tv_nsec / SVC_NSEC_PER_SEC;
    ts.tv_nsec %= SVC_NSEC_PER_SEC;
    pthread_cond_timedwait(cv, mu, &ts);
}

swait *svc_amqp_wait_new(void)
{
    swait *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    atomic_init(&w->refs, 2); /* the caller's and the job's */
    return w;
}

static void unref(swait *w)
{
    if (atomic_fetch_sub(&w->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

void svc_amqp_wait_done(swait *w, svc_code code, const char *message)
{
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->code = code;
    snprintf(w->message, sizeof w->message, "%s", message ? message : "");
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    unref(w);
}

svc_code svc_amqp_wait(swait *w, svc_time deadline)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        if (!deadline) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        svc_time now = svc_now();
        if (now >= deadline)
            break;
        svc_amqp_cond_wait(&w->cv, &w->mu, deadline - now < 100 * SVC_NSEC_PER_MSEC
                                                ? deadline - now
                                                : 100 * SVC_NSEC_PER_MSEC);
    }
    svc_code rc = w->done ? w->code : SVC_DEADLINE_EXCEEDED;
    char message[256];
    snprintf(message, sizeof message, "%s", w->done ? w->message : "no answer from the AMQP connection in time");
    pthread_mutex_unlock(&w->mu);
    unref(w);
    return rc ? svc_fail(rc, "%s", message) : SVC_OK;
}
