/* Shared by the AMQP tests: the fixture broker's URLs and small waits. */
#ifndef AMQP_TEST_UTIL_H
#define AMQP_TEST_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <time.h>

/* Reads PORT_NAME from the fixture's broker.env; fails loudly without it. */
static inline int broker_port(const char *name)
{
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/amqp_broker/broker.env", getenv("SVC_TEST_DIR") ?: ".");
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "no broker: %s is missing (the amqp_broker fixture did not run)\n", path);
        exit(1);
    }
    int port = 0;
    while (!port && fgets(line, sizeof line, f)) {
        char *at = strstr(line, name);
        if (at && at[strlen(name)] == '=')
            port = atoi(at + strlen(name) + 1);
    }
    fclose(f);
    if (!port) {
        fprintf(stderr, "no %s in %s\n", name, path);
        exit(1);
    }
    return port;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A counter a test waits on. */
typedef struct counter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long n;
} counter;

#define COUNTER_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0}

static inline void counter_add(counter *c, long d)
{
    pthread_mutex_lock(&c->mu);
    c->n += d;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static inline long counter_get(counter *c)
{
    pthread_mutex_lock(&c->mu);
    long n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Waits until the counter reaches `want` or `ms` pass; returns its value. */
static inline long counter_wait(counter *c, long want, long ms)
{
    svc_time until = svc_now() + ms * SVC_NSEC_PER_MSEC;
    pthread_mutex_lock(&c->mu);
    while (c->n < want && svc_now() < until) {
        pthread_mutex_unlock(&c->mu);
        sleep_ms(5);
        pthread_mutex_lock(&c->mu);
    }
    long n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

#endif
