/*
 * etcd: the key layout shared by the resolver and registrations. Instances
 * of service S live under /svc/S/<id>; a service name is one path segment
 * (no '/', no NUL, not empty).
 */
#ifndef SVC_DISCOVERY_ETCD_H
#define SVC_DISCOVERY_ETCD_H

#include <stdint.h>
#include <svccomm/discovery.h>

/* SVC_INVALID_ARGUMENT unless `service` can be one key segment. */
svc_code svc_etcd_service_valid(const char *service);
/* "/svc/<service>/" (malloc'd). */
char *svc_etcd_prefix(const char *service);
/* The body of a range request for every key under `prefix` or, with
 * `wrap` ("create_request"), of a watch request from `start_revision`. */
char *svc_etcd_prefix_body(const char *prefix, const char *wrap, int64_t start_revision);

/* svc_resolver_ops.register_endpoint and deregister (etcd_register.c). */
svc_code svc_etcd_register(svc_ctx *ctx, const char *url, const char *service,
                           const svc_endpoint_info *ep, int ttl_s, void **reg);
void svc_etcd_deregister(void *reg);

#endif
