/* The registry of resolvers: static, dns, etcd, and those users add with
 * svc_resolver_register(). */
#ifndef SVC_DISCOVERY_RESOLVER_H
#define SVC_DISCOVERY_RESOLVER_H

#include <svccomm/discovery.h>

/* The resolver for the scheme of registry URL `url` ("etcd" for
 * "etcd://host:port", "static" for "static:..."), or NULL. Any thread. */
const svc_resolver_ops *svc_resolver_find(const char *url);

#endif
