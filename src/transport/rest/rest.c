/* The REST transport's ops table. */
#include "rest.h"

static const char *const schemes[] = {"http", "https", NULL};

const svc_transport_ops svc_rest_transport = {
    .name = "rest",
    .schemes = schemes,
    .listen = svc_rest_listen,
    .listener_quiesce = svc_rest_listener_quiesce,
    .listener_free = svc_rest_listener_free,
    .call_reply = svc_rest_call_reply,
    .call_free = svc_rest_call_free,
    .call_peer = svc_rest_call_peer,
    .channel_new = svc_rest_channel_new,
    .channel_free = svc_rest_channel_free,
    .call_start = svc_rest_call_start,
    .call_cancel = svc_rest_call_cancel,
};
