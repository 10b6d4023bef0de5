/* Resolver reports (notify.h). */
#include "notify.h"

#include <stdlib.h>
#include <string.h>

void svc_disc_notify_init(svc_disc_notify *n, svc_resolver_update_fn fn, void *ud)
{
    memset(n, 0, sizeof *n);
    n->fn = fn;
    n->ud = ud;
    svc_eplist_init(&n->last);
}

void svc_disc_notify_free(svc_disc_notify *n)
{
    svc_eplist_clear(&n->last);
    free(n->last_msg);
    n->last_msg = NULL;
}

void svc_disc_notify_list(svc_disc_notify *n, svc_eplist *l)
{
    svc_eplist_sort(l);
    if (n->sent && n->last_ok && svc_eplist_equal(&n->last, l)) {
        svc_eplist_clear(l);
        return;
    }
    svc_eplist_move(&n->last, l);
    n->sent = n->last_ok = true;
    n->fn(n->ud, SVC_OK, NULL, n->last.v, n->last.n);
}

bool svc_disc_notify_fail(svc_disc_notify *n, svc_code code, const char *msg)
{
    if (!msg)
        msg = "";
    if (n->sent && !n->last_ok && n->last_code == code && n->last_msg &&
        strcmp(n->last_msg, msg) == 0)
        return false;
    free(n->last_msg);
    n->last_msg = strdup(msg); /* NULL only means the next repeat is sent too */
    n->last_code = code;
    n->sent = true;
    n->last_ok = false;
    n->fn(n->ud, code, msg, NULL, 0);
    return true;
}
