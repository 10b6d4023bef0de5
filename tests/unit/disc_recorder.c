/* Resolver update recorder for the discovery tests (disc_recorder.h). */
#include "disc_recorder.h"

#include "cmocka_all.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void disc_recorder_init(disc_recorder *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    svc_eplist_init(&r->list);
}

void disc_recorder_free(disc_recorder *r)
{
    svc_eplist_clear(&r->list);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

void disc_recorder_update(void *ud, svc_code code, const char *message,
                          const svc_endpoint_info *eps, size_t n)
{
    disc_recorder *r = ud;
    pthread_mutex_lock(&r->mu);
    r->updates++;
    r->code = code;
    snprintf(r->msg, sizeof r->msg, "%s", message ? message : "");
    if (code != SVC_OK) {
        r->failures++;
    } else {
        svc_eplist_clear(&r->list);
        for (size_t i = 0; i < n; i++)
            svc_eplist_add(&r->list, &eps[i]);
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

bool disc_recorder_wait(disc_recorder *r, int timeout_ms,
                        bool (*pred)(disc_recorder *r, const void *arg), const void *arg)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&r->mu);
    bool ok;
    while (!(ok = pred(r, arg)) && pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

bool disc_has_n(disc_recorder *r, const void *n)
{
    return r->updates > 0 && r->code == SVC_OK && r->list.n == *(const size_t *)n;
}

static const svc_endpoint_info *find_locked(disc_recorder *r, const char *url)
{
    for (size_t i = 0; i < r->list.n; i++)
        if (strcmp(r->list.v[i].url, url) == 0)
            return &r->list.v[i];
    return NULL;
}

bool disc_has_url(disc_recorder *r, const void *url)
{
    return r->code == SVC_OK && find_locked(r, url) != NULL;
}

bool disc_lacks_url(disc_recorder *r, const void *url)
{
    return r->updates > 0 && r->code == SVC_OK && find_locked(r, url) == NULL;
}

bool disc_failed(disc_recorder *r, const void *unused)
{
    (void)unused;
    return r->updates > 0 && r->code != SVC_OK;
}

bool disc_updates_over(disc_recorder *r, const void *n)
{
    return r->updates > *(const int *)n;
}

const svc_endpoint_info *disc_find(disc_recorder *r, const char *url)
{
    pthread_mutex_lock(&r->mu);
    const svc_endpoint_info *e = find_locked(r, url);
    pthread_mutex_unlock(&r->mu);
    return e;
}

void disc_write_file(const char *path, const char *text)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

int disc_fixture_port(const char *name)
{
    const char *dir = getenv("DISC_DIR");
    if (!dir)
        fail_msg("DISC_DIR is not set: run the test through ctest");
    char path[512];
    snprintf(path, sizeof path, "%s/%s.port", dir, name);
    FILE *f = fopen(path, "r");
    int port = 0;
    if (!f || fscanf(f, "%d", &port) != 1)
        fail_msg("no %s fixture: %s is missing (is its server installed?)", name, path);
    fclose(f);
    return port;
}
