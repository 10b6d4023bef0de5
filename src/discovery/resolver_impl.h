/* The built-in resolvers, for the registry (resolver.c). */
#ifndef SVC_DISCOVERY_RESOLVER_IMPL_H
#define SVC_DISCOVERY_RESOLVER_IMPL_H

#include <svccomm/discovery.h>

extern const svc_resolver_ops svc_static_resolver;
#ifdef SVC_HAVE_DNS
extern const svc_resolver_ops svc_dns_resolver;
#endif
#ifdef SVC_HAVE_ETCD
extern const svc_resolver_ops svc_etcd_resolver;
#endif

#endif
