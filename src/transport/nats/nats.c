/* The NATS transport's ops table. */
#include "nats.h"

static const char *const schemes[] = {"nats", "tls", NULL};

const svc_transport_ops svc_nats_transport = {
    .name = "nats",
    .schemes = schemes,
    .listen = svc_nats_listen,
    .listener_quiesce = svc_nats_listener_quiesce,
    .listener_free = svc_nats_listener_free,
    .call_reply = svc_nats_call_reply,
    .call_free = svc_nats_call_free,
    .call_peer = svc_nats_call_peer,
    .channel_new = svc_nats_channel_new,
    .channel_free = svc_nats_channel_free,
    .channel_state = svc_nats_channel_state,
    /* A reply crosses nats-server and cnats' reader and delivery threads
     * on both sides: a caller spinning on one of 2 CPUs doubled the p50. */
    .wait_without_spin = true,
    .call_start = svc_nats_call_start,
    .call_cancel = svc_nats_call_cancel,
    .publish = svc_nats_publish,
    .publish_async = svc_nats_publish_async,
    .publish_flush = svc_nats_publish_flush,
    .store_ensure = svc_nats_store_ensure,
    .store_delete = svc_nats_store_delete,
    .subscribe = svc_nats_subscribe,
    .unsubscribe = svc_nats_unsubscribe,
    .event_settle = svc_nats_event_settle,
    .event_in_progress = svc_nats_event_in_progress,
};
