/* The gRPC transport's ops table. */
#include "grpc.h"

static const char *const schemes[] = {"grpc", "grpcs", NULL};

const svc_transport_ops svc_grpc_transport = {
    .name = "grpc",
    .schemes = schemes,
    .listen = svc_grpc_listen,
    .listener_quiesce = svc_grpc_listener_quiesce,
    .listener_free = svc_grpc_listener_free,
    .call_reply = svc_grpc_call_reply,
    .call_free = svc_grpc_call_free,
    .call_peer = svc_grpc_call_peer,
    .call_send = svc_grpc_call_send,
    .call_consumed = svc_grpc_call_consumed,
    .channel_new = svc_grpc_channel_new,
    .channel_free = svc_grpc_channel_free,
    .call_start = svc_grpc_call_start,
    .call_cancel = svc_grpc_call_cancel,
    .stream_start = svc_grpc_stream_start,
    .stream_send = svc_grpc_stream_send,
    .stream_close_send = svc_grpc_stream_close_send,
    .stream_consumed = svc_grpc_stream_consumed,
};
