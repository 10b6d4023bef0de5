/*
 * svccomm/discovery.h — where a service's instances are.
 *
 * A resolver turns a service name into endpoints (each with its own
 * transport URL, so one service may mix gRPC, REST, NATS, AMQP and inproc
 * instances) and reports every change. A client made for `svc://NAME` asks
 * the resolver named by svc_client_opts.resolver, a registry URL:
 *
 *   static:grpc://127.0.0.1:50051,http://127.0.0.1:8080   the list itself
 *   static:@/etc/orders.endpoints                          a file, re-read on change
 *   static:$ORDERS_ENDPOINTS                               an environment variable
 *   dns://127.0.0.1:5353   or  dns:                        SRV, then A/AAAA records
 *   etcd://127.0.0.1:2379                                  etcd v3, watched
 *
 * static: each endpoint is URL[;weight=N][;zone=Z][;id=I][;md.KEY=VALUE]...
 * (weight 1..4294967295, default 1); the inline and $VAR forms separate
 * endpoints with ',', a file puts one per line ('#' starts a comment line),
 * so a URL holding a comma (a NATS cluster) needs a file. Bad input fails
 * start() (inline, $VAR) or is reported as an update naming the endpoint
 * and line (file). The file is checked once a second.
 *
 * dns: options as query parameters: scheme= (URL scheme of the endpoints,
 * default grpc), port= (for A/AAAA answers, default 443), min_interval=
 * (seconds, default 30). For service NAME: SRV records of
 * _<scheme>._tcp.NAME (of NAME itself when it starts with '_'), lowest
 * priority only, SRV weight (0 counts as 1) and port; else NAME's A/AAAA
 * records. Looked up again when the smallest TTL ends, or on resolve_now(),
 * never twice within min_interval.
 *
 * etcd: etcd://host:port[,host:port...]; instance ID of service S is the
 * key /svc/S/ID holding {"url":..., "id":..., "zone":..., "weight":N,
 * "metadata":{"k":"v"}} (url required). Malformed values are skipped with
 * a warning. See docs/discovery.md.
 *
 * Servers put themselves in a registry with svc_server_register().
 *
 * Threads: every function here may be called from any thread.
 */
#ifndef SVCCOMM_DISCOVERY_H
#define SVCCOMM_DISCOVERY_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One instance of a service. All pointers are borrowed for the duration of
 * the call they are passed to. */
typedef struct svc_endpoint_info {
    const char *url;       /* transport URL: "grpc://127.0.0.1:50051" */
    const char *id;        /* instance id, unique within the service; NULL = none */
    const char *zone;      /* locality; NULL = none */
    uint32_t weight;       /* relative share of calls, >= 1 */
    const char *const *md; /* metadata: key, value, key, value, ..., NULL; NULL = none */
} svc_endpoint_info;

/* A resolver's report: the complete current list (borrowed for the call),
 * or code != SVC_OK with a message and n == 0 when it cannot tell right now
 * (registry down, malformed answer); clients then keep their last list. */
typedef void (*svc_resolver_update_fn)(void *ud, svc_code code, const char *message,
                                       const svc_endpoint_info *eps, size_t n);

/* A discovery back end, found by the scheme of the registry URL. */
typedef struct svc_resolver_ops {
    const char *scheme; /* "etcd" serves etcd://... registry URLs */
    /* Starts following `service` in the registry at `url` (both borrowed).
     * `update` runs on the resolver's own thread: first once the first
     * answer (or failure) is known, then on every change; never after
     * stop() returned. *state is the resolver's. */
    svc_code (*start)(svc_ctx *ctx, const char *url, const char *service,
                      svc_resolver_update_fn update, void *ud, void **state);
    /* A hint from a client that an endpoint failed: look again soon (the
     * resolver bounds how often). Optional; any thread. */
    void (*resolve_now)(void *state);
    /* Stops and frees; waits for a running update to return. */
    void (*stop)(void *state);
    /* Registration (optional: without it svc_server_register answers
     * SVC_UNIMPLEMENTED). Keeps `ep` listed under `service` until
     * deregister(); a lease of ttl_s seconds makes a crashed process drop
     * out. Blocks for the first attempt at most a couple of seconds: if the
     * registry cannot be reached it answers SVC_UNAVAILABLE, but *reg is
     * set and the registration is retried in the background all the
     * same. */
    svc_code (*register_endpoint)(svc_ctx *ctx, const char *url, const char *service,
                                  const svc_endpoint_info *ep, int ttl_s, void **reg);
    /* Removes the registration (revokes the lease) and frees it. */
    void (*deregister)(void *reg);
} svc_resolver_ops;

/* Adds a resolver for ops->scheme (ops borrowed: it must outlive every
 * context). SVC_ALREADY_EXISTS if the scheme is taken. */
SVC_API svc_code svc_resolver_register(const svc_resolver_ops *ops);

typedef struct svc_register_opts {
    const char *id;        /* NULL = "<hostname>-<pid>-<n>" */
    const char *zone;      /* NULL = none */
    uint32_t weight;       /* 0 = 1 */
    const char *const *md; /* key, value, ..., NULL; NULL = none */
    int ttl_s;             /* lease; 0 = 10 */
} svc_register_opts;

/* Registers every URL `s` listens on (call it after svc_server_listen; a
 * port 0 is registered as the real one) as instances of `service` in the
 * registry at `registry_url`. The registrations live until
 * svc_server_shutdown() or svc_server_free(), which remove them. Arguments
 * are borrowed. SVC_UNAVAILABLE when the registry is down (registration
 * goes on being retried in the background), SVC_INVALID_ARGUMENT for a
 * malformed URL, SVC_UNIMPLEMENTED for a scheme no resolver serves or one
 * that cannot register. */
SVC_API svc_code svc_server_register(svc_server *s, const char *registry_url,
                                     const char *service, const svc_register_opts *o);

#ifdef __cplusplus
}
#endif
#endif
