/*
 * The static resolver: endpoints written in the registry URL itself, in an
 * environment variable, or in a file. A file is watched by polling its
 * status once a second (size, mtime with nanoseconds, ctime, inode): that
 * sees in-place writes and rename-over replacements alike, and works on
 * every file system, which inotify does not (NFS, bind mounts, a file
 * whose directory is replaced). The list is re-read on any change and
 * reported only when it differs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ctx.h"
#include "core/error.h"
#include "core/file.h"
#include "notify.h"
#include "resolver_impl.h"
#include "static_parse.h"
#include "worker.h"

#define POLL_NS SVC_NSEC_PER_SEC

typedef struct static_res {
    svc_disc_worker w;
    svc_disc_notify nt;
    svc_ctx *ctx;
    char *path;       /* the file form; NULL for a fixed list */
    svc_eplist fixed; /* the inline and $VAR forms, parsed by start() */
    struct stat seen;
    bool have_seen;
} static_res;

static bool stat_same(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void read_list(static_res *r)
{
    char *text = NULL;
    size_t len = 0;
    svc_eplist l;
    svc_eplist_init(&l);
    svc_code rc = svc_read_file(r->path, &text, &len);
    if (rc == SVC_OK)
        rc = svc_static_parse(text, len, true, &l);
    free(text);
    if (rc == SVC_OK) {
        svc_disc_notify_list(&r->nt, &l);
        return;
    }
    svc_eplist_clear(&l);
    char msg[600];
    snprintf(msg, sizeof msg, "%s: %s", r->path, svc_last_error());
    svc_log_warn(r->ctx, "discovery", "%s", msg);
    svc_disc_notify_fail(&r->nt, rc, msg);
}

static void watch_file(static_res *r)
{
    do {
        struct stat st;
        if (stat(r->path, &st) != 0) {
            /* Reported through the read, which says why. */
            r->have_seen = false;
            read_list(r);
        } else if (!r->have_seen || !stat_same(&st, &r->seen)) {
            r->seen = st;
            r->have_seen = true;
            read_list(r);
        }
    } while (svc_disc_worker_sleep(&r->w, POLL_NS));
}

static void body(void *ud)
{
    static_res *r = ud;
    if (r->path) {
        watch_file(r);
        return;
    }
    svc_disc_notify_list(&r->nt, &r->fixed);
    while (svc_disc_worker_sleep(&r->w, 3600 * SVC_NSEC_PER_SEC))
        ;
}

static void res_free(static_res *r)
{
    svc_disc_notify_free(&r->nt);
    svc_eplist_clear(&r->fixed);
    free(r->path);
    free(r);
}

static svc_code parse_fixed(static_res *r, const char *spec)
{
    if (spec[0] != '$')
        return svc_static_parse(spec, strlen(spec), false, &r->fixed);
    const char *val = getenv(spec + 1);
    if (!spec[1])
        return svc_fail(SVC_INVALID_ARGUMENT, "static: no variable name after '$'");
    if (!val)
        return svc_fail(SVC_INVALID_ARGUMENT, "static: environment variable %s is not set",
                        spec + 1);
    svc_code rc = svc_static_parse(val, strlen(val), false, &r->fixed);
    if (rc != SVC_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", svc_last_error());
        return svc_fail(rc, "%s (in $%s)", why, spec + 1);
    }
    return SVC_OK;
}

static svc_code static_start(svc_ctx *ctx, const char *url, const char *service,
                             svc_resolver_update_fn update, void *ud, void **state)
{
    (void)service; /* the list is the service's */
    if (!url || strncmp(url, "static:", 7) != 0)
        return svc_fail(SVC_INVALID_ARGUMENT, "static: \"%s\" is not a static: URL",
                        url ? url : "(null)");
    const char *spec = url + 7;
    static_res *r = calloc(1, sizeof *r);
    if (!r)
        return svc_fail_oom();
    r->ctx = ctx;
    svc_eplist_init(&r->fixed);
    svc_disc_notify_init(&r->nt, update, ud);
    svc_code rc = SVC_OK;
    if (spec[0] == '@') {
        if (!spec[1])
            rc = svc_fail(SVC_INVALID_ARGUMENT, "static: no file name after '@'");
        else if (!(r->path = strdup(spec + 1)))
            rc = svc_fail_oom();
    } else {
        rc = parse_fixed(r, spec);
    }
    if (rc == SVC_OK)
        rc = svc_disc_worker_start(&r->w, body, r, NULL);
    if (rc != SVC_OK) {
        res_free(r);
        return rc;
    }
    *state = r;
    return SVC_OK;
}

static void static_resolve_now(void *state)
{
    static_res *r = state;
    svc_disc_worker_kick(&r->w); /* a file is looked at again at once */
}

static void static_stop(void *state)
{
    static_res *r = state;
    svc_disc_worker_stop(&r->w);
    res_free(r);
}

const svc_resolver_ops svc_static_resolver = {
    .scheme = "static",
    .start = static_start,
    .resolve_now = static_resolve_now,
    .stop = static_stop,
};
