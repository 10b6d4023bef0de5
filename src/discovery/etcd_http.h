/*
 * HTTP to etcd's v3 JSON gateway with one libcurl easy handle, used by one
 * thread (a resolver's or a registration's). Another thread may abort it:
 * the socket in use is shut down and every later request fails at once,
 * so stopping never waits for a watch that may stay silent for hours.
 */
#ifndef SVC_DISCOVERY_ETCD_HTTP_H
#define SVC_DISCOVERY_ETCD_HTTP_H

#include <pthread.h>
#include <stdatomic.h>
#include <svccomm/common.h>

#include "core/strbuf.h"
#include "core/url.h"

typedef struct svc_etcd_http {
    void *curl;
    svc_url *url;   /* etcd://host:port[,host:port...] */
    size_t current; /* the member tried first; moves on after a failure */
    pthread_mutex_t mu;
    int fd; /* the socket curl uses, -1 when none; under mu */
    atomic_bool aborted;
    char errbuf[256];
} svc_etcd_http;

/* Parses the registry URL; SVC_INVALID_ARGUMENT when it is malformed. */
svc_code svc_etcd_http_init(svc_etcd_http *h, const char *registry_url);
void svc_etcd_http_free(svc_etcd_http *h);
/* POSTs `body` to `path` on a member of the cluster and reads the whole
 * answer into `out` within timeout_ms. SVC_UNAVAILABLE when no member
 * answers, or for an HTTP error (the message is etcd's). */
svc_code svc_etcd_post(svc_etcd_http *h, const char *path, const char *body, long timeout_ms,
                       svc_strbuf *out);
/* POSTs and hands the answer to `sink` as it arrives, until the server
 * closes it, the sink fails (its code is returned) or the handle is
 * aborted (SVC_CANCELLED). */
svc_code svc_etcd_post_stream(svc_etcd_http *h, const char *path, const char *body,
                              svc_code (*sink)(void *ud, const char *p, size_t n), void *ud);
/* Any thread. */
void svc_etcd_http_abort(svc_etcd_http *h);
/* Makes an aborted handle usable again, once the thread that used it is
 * gone (a registration's last request, the lease revocation). */
void svc_etcd_http_resume(svc_etcd_http *h);

#endif
