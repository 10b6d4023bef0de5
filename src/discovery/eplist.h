/*
 * Endpoint lists owned by a resolver: deep copies of svc_endpoint_info, kept
 * in a canonical order (by id, then URL) so that two answers with the same
 * instances compare equal however the registry ordered them.
 */
#ifndef SVC_DISCOVERY_EPLIST_H
#define SVC_DISCOVERY_EPLIST_H

#include <stdbool.h>
#include <svccomm/discovery.h>

typedef struct svc_eplist {
    svc_endpoint_info *v; /* every string and md array is the list's */
    size_t n, cap;
} svc_eplist;

void svc_eplist_init(svc_eplist *l);
/* Frees the entries; the list is empty and reusable afterwards. */
void svc_eplist_clear(svc_eplist *l);
/* Appends a deep copy of `ep` (weight 0 becomes 1). */
svc_code svc_eplist_add(svc_eplist *l, const svc_endpoint_info *ep);
/* Sorts into the canonical order. */
void svc_eplist_sort(svc_eplist *l);
/* Same entries in the same order (both sorted). */
bool svc_eplist_equal(const svc_eplist *a, const svc_eplist *b);
/* Moves `from` into `to` (cleared first); `from` is left empty. */
void svc_eplist_move(svc_eplist *to, svc_eplist *from);

#endif
