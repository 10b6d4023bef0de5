/* Helpers the NATS integration tests share: fixture URLs, collecting
 * events, bounded waits. */
#ifndef SVC_NATS_TEST_UTIL_H
#define SVC_NATS_TEST_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <time.h>

/* "nats://127.0.0.1:PORT" of the fixture server `name` (its port file in
 * ${SVC_TEST_DIR}/nats); exits loudly when the fixture is not running. */
static inline void fixture_url(const char *scheme, const char *creds, const char *name, char *out,
                               size_t cap)
{
    const char *dir = getenv("SVC_TEST_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/nats/%s.port", dir ? dir : ".", name);
    FILE *f = fopen(path, "r");
    int port = 0;
    if (!f || fscanf(f, "%d", &port) != 1) {
        fprintf(stderr, "FATAL: nats-server fixture '%s' is not running (no %s)\n", name, path);
        exit(1);
    }
    fclose(f);
    snprintf(out, cap, "%s://%s127.0.0.1:%d", scheme, creds ? creds : "", port);
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Events received by a subscription, with what the test looks at. */
typedef struct collector {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    char last_data[256];
    char last_topic[128];
    svc_msg *last; /* a copy of the last event's message */
    uint32_t last_count;
} collector;

#define COLLECTOR_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, "", "", NULL, 0}

static inline void collector_add(collector *c, const svc_event *ev)
{
    const svc_msg *m = svc_event_msg(ev);
    pthread_mutex_lock(&c->mu);
    c->n++;
    size_t len = svc_msg_len(m) < sizeof c->last_data - 1 ? svc_msg_len(m) : sizeof c->last_data - 1;
    memcpy(c->last_data, svc_msg_data(m), len);
    c->last_data[len] = '\0';
    snprintf(c->last_topic, sizeof c->last_topic, "%s", svc_event_topic(ev));
    svc_msg_free(c->last);
    c->last = NULL;
    svc_msg_clone(m, &c->last);
    c->last_count = svc_event_delivery_count(ev);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static inline void collect(svc_event *ev, void *ud)
{
    collector_add(ud, ev);
}

/* Waits until c has at least `n` events, at most `ms`; returns the count. */
static inline int collector_wait(collector *c, int n, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while (c->n < n && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
        ;
    int got = c->n;
    pthread_mutex_unlock(&c->mu);
    return got;
}

/* The count so far, read under the lock: handlers may still be adding. */
static inline int collector_count(collector *c)
{
    return collector_wait(c, 0, 0);
}

static inline void collector_clear(collector *c)
{
    pthread_mutex_lock(&c->mu);
    svc_msg_free(c->last);
    c->last = NULL;
    c->n = 0;
    pthread_mutex_unlock(&c->mu);
}

static inline svc_code publish_text(svc_client *c, const char *topic, const char *text)
{
    svc_msg *m = NULL;
    svc_code rc = svc_msg_new_data(text, strlen(text), NULL, &m);
    if (rc == SVC_OK)
        rc = svc_publish(c, topic, m, NULL);
    svc_msg_free(m);
    return rc;
}

#endif
