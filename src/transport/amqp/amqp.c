/* The AMQP transport's ops table (the model is described in amqp.h). */
#include "amqp.h"

static const char *const schemes[] = {"amqp", "amqps", NULL};

const svc_transport_ops svc_amqp_transport = {
    .name = "amqp",
    .schemes = schemes,
    .listen = svc_amqp_listen,
    .listener_quiesce = svc_amqp_listener_quiesce,
    .listener_free = svc_amqp_listener_free,
    .call_reply = svc_amqp_call_reply,
    .call_free = svc_amqp_call_free,
    .call_peer = svc_amqp_call_peer,
    .channel_new = svc_amqp_channel_new,
    .channel_free = svc_amqp_channel_free,
    .call_start = svc_amqp_call_start,
    .call_cancel = svc_amqp_call_cancel,
    .publish = svc_amqp_publish,
    .publish_async = svc_amqp_publish_async,
    .publish_flush = svc_amqp_publish_flush,
    .subscribe = svc_amqp_subscribe,
    .unsubscribe = svc_amqp_unsubscribe,
    .event_settle = svc_amqp_event_settle,
};
