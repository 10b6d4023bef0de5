#include "flow.h"

#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "msg.h"

void svc_flow_init(svc_flow *f, void (*consumed)(void *owner, size_t bytes), void *owner)
{
    *f = (svc_flow){.writable = true, .consumed = consumed, .owner = owner};
    pthread_mutex_init(&f->mu, NULL);
    /* Deadlines are on the monotonic clock: wait on it too. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &attr);
    pthread_condattr_destroy(&attr);
}

void svc_flow_destroy(svc_flow *f)
{
    for (svc_flow_item *it = f->head, *next; it; it = next) {
        next = it->next;
        svc_msg_free(it->msg);
        free(it);
    }
    svc_msg_free(f->headers);
    svc_msg_free(f->end);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
}

/* Waits on the flow's condition until `deadline` (0 = forever); false once
 * it passed. Called with f->mu held. */
static bool wait_until(svc_flow *f, svc_time deadline)
{
    if (!deadline) {
        pthread_cond_wait(&f->cv, &f->mu);
        return true;
    }
    if (svc_now() >= deadline)
        return false;
    struct timespec ts = {(time_t)(deadline / SVC_NSEC_PER_SEC),
                          (long)(deadline % SVC_NSEC_PER_SEC)};
    pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    return true;
}

void svc_flow_push(svc_flow *f, svc_msg *m)
{
    svc_flow_item *it = malloc(sizeof *it);
    pthread_mutex_lock(&f->mu);
    bool keep = it && !f->end;
    if (keep) {
        *it = (svc_flow_item){NULL, m};
        if (f->tail)
            f->tail->next = it;
        else
            f->head = it;
        f->tail = it;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    if (!keep) {
        free(it);
        svc_msg_free(m);
    }
}

void svc_flow_half_close(svc_flow *f)
{
    pthread_mutex_lock(&f->mu);
    f->half_closed = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

void svc_flow_set_headers(svc_flow *f, svc_msg *headers)
{
    pthread_mutex_lock(&f->mu);
    bool first = !f->headers_seen;
    if (first) {
        f->headers = headers;
        f->headers_seen = true;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    if (!first)
        svc_msg_free(headers);
}

void svc_flow_set_writable(svc_flow *f, bool writable)
{
    pthread_mutex_lock(&f->mu);
    f->writable = writable;
    if (writable)
        pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

void svc_flow_end(svc_flow *f, svc_msg *status)
{
    pthread_mutex_lock(&f->mu);
    bool first = !f->end;
    if (first) {
        f->end = status ? status : svc_msg_new_status(SVC_RESOURCE_EXHAUSTED, "out of memory");
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    if (!first)
        svc_msg_free(status);
}

bool svc_flow_ended(svc_flow *f)
{
    pthread_mutex_lock(&f->mu);
    bool ended = f->end != NULL;
    pthread_mutex_unlock(&f->mu);
    return ended;
}

/* The end's status as a failure (svc_last_error() says why). */
static svc_code end_status(const svc_flow *f)
{
    svc_code code = f->end ? f->end->status : SVC_RESOURCE_EXHAUSTED;
    return svc_fail(code, "%s", f->end ? svc_msg_status_message(f->end) : "out of memory");
}

svc_code svc_flow_recv(svc_flow *f, svc_msg **m, svc_time deadline)
{
    *m = NULL;
    pthread_mutex_lock(&f->mu);
    while (!f->head && !f->half_closed && !f->end) {
        if (!wait_until(f, deadline)) {
            pthread_mutex_unlock(&f->mu);
            return svc_fail(SVC_DEADLINE_EXCEEDED, "deadline exceeded waiting for a message");
        }
    }
    svc_flow_item *it = f->head;
    if (it) {
        f->head = it->next;
        if (!f->head)
            f->tail = NULL;
    }
    svc_code rc = SVC_OK;
    if (!it && f->end && f->end->status != SVC_OK)
        rc = end_status(f);
    pthread_mutex_unlock(&f->mu);
    if (!it)
        return rc;
    *m = it->msg;
    free(it);
    if (f->consumed)
        f->consumed(f->owner, svc_msg_len(*m));
    return SVC_OK;
}

svc_code svc_flow_wait_writable(svc_flow *f, svc_time deadline)
{
    pthread_mutex_lock(&f->mu);
    while (!f->writable && !f->end) {
        if (!wait_until(f, deadline)) {
            pthread_mutex_unlock(&f->mu);
            return svc_fail(SVC_DEADLINE_EXCEEDED, "deadline exceeded waiting to send");
        }
    }
    svc_code rc = SVC_OK;
    if (f->end)
        rc = f->end->status == SVC_OK
                 ? svc_fail(SVC_FAILED_PRECONDITION, "the stream has already ended")
                 : end_status(f);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

svc_code svc_flow_wait_end(svc_flow *f, svc_msg **end, svc_time deadline)
{
    if (end)
        *end = NULL;
    pthread_mutex_lock(&f->mu);
    while (!f->end) {
        if (!wait_until(f, deadline)) {
            pthread_mutex_unlock(&f->mu);
            return svc_fail(SVC_DEADLINE_EXCEEDED, "deadline exceeded waiting for the status");
        }
    }
    svc_code rc = f->end->status;
    if (rc != SVC_OK)
        end_status(f);
    if (end && svc_msg_clone(f->end, end) != SVC_OK)
        rc = svc_fail_oom();
    pthread_mutex_unlock(&f->mu);
    return rc;
}

svc_code svc_flow_wait_headers(svc_flow *f, const svc_msg **headers, svc_time deadline)
{
    *headers = NULL;
    pthread_mutex_lock(&f->mu);
    while (!f->headers_seen && !f->end) {
        if (!wait_until(f, deadline)) {
            pthread_mutex_unlock(&f->mu);
            return svc_fail(SVC_DEADLINE_EXCEEDED, "deadline exceeded waiting for headers");
        }
    }
    svc_code rc = SVC_OK;
    if (f->headers_seen)
        *headers = f->headers;
    else if (f->end->status != SVC_OK)
        rc = end_status(f);
    pthread_mutex_unlock(&f->mu);
    return rc;
}
