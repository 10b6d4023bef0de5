/*
 * What a resolver tells its client: a new list only when it differs from
 * the last one sent (or when the last report was a failure), and a failure
 * only when it differs from the last failure, so a registry that stays down
 * does not flood the client.
 */
#ifndef SVC_DISCOVERY_NOTIFY_H
#define SVC_DISCOVERY_NOTIFY_H

#include "eplist.h"

typedef struct svc_disc_notify {
    svc_resolver_update_fn fn;
    void *ud;
    svc_eplist last;
    bool sent;    /* anything reported yet */
    bool last_ok; /* the last report was a list */
    svc_code last_code;
    char *last_msg;
} svc_disc_notify;

void svc_disc_notify_init(svc_disc_notify *n, svc_resolver_update_fn fn, void *ud);
void svc_disc_notify_free(svc_disc_notify *n);
/* Sorts `l` and reports it if it changed; takes its entries either way. */
void svc_disc_notify_list(svc_disc_notify *n, svc_eplist *l);
/* Reports a failure (code != SVC_OK) unless it repeats the last report;
 * true when it was sent. */
bool svc_disc_notify_fail(svc_disc_notify *n, svc_code code, const char *msg);

#endif
