/*
 * What every policy keeps: its own copy of the endpoint set (the pointers;
 * the endpoints stay valid until the next update), and the ways to find a
 * usable one when the first choice is not.
 */
#ifndef SVC_LB_EPS_H
#define SVC_LB_EPS_H

#include <stddef.h>
#include <svccomm/lb.h>

typedef struct svc_lb_eps {
    svc_endpoint **v;
    size_t n;
} svc_lb_eps;

/* A draw that lands on an unusable endpoint is tried again this many times
 * before a scan, so a pick stays cheap while a few are out. */
#define SVC_LB_TRIES 8

/* Copies the set (replacing the old one). */
svc_code svc_lb_eps_set(svc_lb_eps *s, svc_endpoint *const *eps, size_t n);
void svc_lb_eps_clear(svc_lb_eps *s);
/* The first usable endpoint at or after `start`, wrapping; NULL if none. */
svc_endpoint *svc_lb_eps_scan(const svc_lb_eps *s, size_t start);
/* A usable endpoint chosen uniformly at random; NULL if none. */
svc_endpoint *svc_lb_eps_random(const svc_lb_eps *s);
/* The name a hashing policy places an endpoint by: its id, else its URL. */
const char *svc_lb_eps_name(const svc_endpoint *e);

/* The ops of a policy whose state is only the set (it ignores its
 * config). */
svc_code svc_lb_eps_create(const char *config, void **state);
svc_code svc_lb_eps_update(void *state, svc_endpoint *const *eps, size_t n);
void svc_lb_eps_destroy(void *state);

#endif
