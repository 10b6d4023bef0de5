/*
 * svccomm/svccomm.h — the whole public API of libsvccomm.
 *
 * One API for REST, gRPC, AMQP, NATS and in-process service communication.
 * Start with svc_ctx_new() (ctx.h), then serve with svc_server_* (server.h),
 * call with svc_client_* (client.h), publish and subscribe (pubsub.h), and
 * use protobuf-c messages on any of them (codec.h).
 */
#ifndef SVCCOMM_SVCCOMM_H
#define SVCCOMM_SVCCOMM_H

#include "common.h"
#include "ctx.h"
#include "msg.h"
#include "server.h"
#include "client.h"
#include "pubsub.h"
#include "codec.h"
#include "health.h"
#include "reflection.h"
#include "discovery.h"
#include "lb.h"

#define SVC_VERSION_MAJOR 0
#define SVC_VERSION_MINOR 1
#define SVC_VERSION_PATCH 0
#define SVC_VERSION_STRING "0.1.0"

#endif
