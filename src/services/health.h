/*
 * The state behind grpc.health.v1.Health (include/svccomm/health.h): the
 * status of each service and the Watch calls waiting for changes. The
 * server holds one reference and each watch another, so a watch that ends
 * on a transport thread after the server is gone still finds it.
 */
#ifndef SVC_SERVICES_HEALTH_H
#define SVC_SERVICES_HEALTH_H

typedef struct svc_health svc_health;

/* Every status turns NOT_SERVING, watchers are told and their calls end;
 * new watches are refused. For the server's shutdown, before it waits for
 * calls in flight (a watch never ends by itself). */
void svc_health_shutdown(svc_health *h);
/* The server's reference. */
void svc_health_release(svc_health *h);

#endif
