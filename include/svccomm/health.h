/*
 * The standard health service, grpc.health.v1.Health, served by a
 * svc_server on every transport it listens on: Check (unary: also over REST
 * as POST /grpc.health.v1.Health/Check with JSON) and Watch (server
 * streaming: gRPC and inproc). Load balancers, Kubernetes' gRPC probes and
 * grpc_health_probe speak it.
 */
#ifndef SVCCOMM_HEALTH_H
#define SVCCOMM_HEALTH_H

#include <svccomm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The values of grpc.health.v1.HealthCheckResponse.ServingStatus. */
typedef enum svc_health_status {
    SVC_HEALTH_UNKNOWN = 0,
    SVC_HEALTH_SERVING = 1,
    SVC_HEALTH_NOT_SERVING = 2,
} svc_health_status;

/* Serves grpc.health.v1.Health on `s`. The server as a whole (service "")
 * starts SERVING; other services are unknown (Check: NOT_FOUND; Watch:
 * SERVICE_UNKNOWN) until set. When the server shuts down, every status
 * turns NOT_SERVING, watchers are told, and their calls end UNAVAILABLE.
 * Call before svc_server_listen; once per server (SVC_ALREADY_EXISTS). */
SVC_API svc_code svc_server_serve_health(svc_server *s);

/* Sets the status of `service` (copied; "" = the server as a whole) and
 * tells its watchers. Any thread except a transport's I/O thread (an
 * inline handler): telling a watcher whose stream is full waits for it.
 * SVC_FAILED_PRECONDITION before svc_server_serve_health. */
SVC_API svc_code svc_server_set_health(svc_server *s, const char *service, svc_health_status st);

#ifdef __cplusplus
}
#endif
#endif
