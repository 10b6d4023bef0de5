/* cnats statuses and JetStream API errors → svc codes with cnats' text. */
#include <string.h>

#include "core/error.h"
#include "nats.h"

svc_code svc_nats_code(natsStatus s)
{
    switch (s) {
    case NATS_OK:
        return SVC_OK;
    case NATS_TIMEOUT:
        return SVC_DEADLINE_EXCEEDED;
    case NATS_CONNECTION_AUTH_FAILED:
        return SVC_UNAUTHENTICATED;
    case NATS_NOT_PERMITTED:
        return SVC_PERMISSION_DENIED;
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_ARG:
    case NATS_INVALID_QUEUE_NAME:
    case NATS_ADDRESS_MISSING:
    case NATS_INVALID_TIMEOUT:
        return SVC_INVALID_ARGUMENT;
    case NATS_MAX_PAYLOAD:
    case NATS_NO_MEMORY:
    case NATS_SLOW_CONSUMER:
    case NATS_INSUFFICIENT_BUFFER:
    case NATS_MAX_DELIVERED_MSGS:
        return SVC_RESOURCE_EXHAUSTED;
    case NATS_NOT_FOUND:
        return SVC_NOT_FOUND;
    case NATS_ILLEGAL_STATE:
    case NATS_INVALID_SUBSCRIPTION:
        return SVC_FAILED_PRECONDITION;
    case NATS_NO_SERVER_SUPPORT:
        return SVC_UNIMPLEMENTED;
    case NATS_NO_SERVER:
    case NATS_IO_ERROR:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_NOT_YET_CONNECTED:
    case NATS_SSL_ERROR:
    case NATS_SECURE_CONNECTION_WANTED:
    case NATS_SECURE_CONNECTION_REQUIRED:
    case NATS_NO_RESPONDERS:
    case NATS_DRAINING:
        return SVC_UNAVAILABLE;
    default:
        return SVC_INTERNAL;
    }
}

static const char *last_text(natsStatus s)
{
    natsStatus last = NATS_OK;
    const char *text = nats_GetLastError(&last);
    return text && *text && last == s ? text : natsStatus_GetText(s);
}

svc_code svc_nats_fail(natsStatus s, const char *what)
{
    return svc_fail(svc_nats_code(s), "%s: %s", what, last_text(s));
}

svc_code svc_nats_js_code(jsErrCode err)
{
    switch ((int)err) {
    case JSStreamNotFoundErr:
    case JSConsumerNotFoundErr:
    case JSNoMessageFoundErr:
        return SVC_NOT_FOUND;
    case JSStreamNameExistErr:
    case JSConsumerNameExistErr:
        return SVC_ALREADY_EXISTS;
    case JSNotEnabledErr:
    case JSNotEnabledForAccountErr:
        return SVC_UNIMPLEMENTED;
    case JSAccountResourcesExceededErr:
    case JSInsufficientResourcesErr:
    case JSMaximumConsumersLimitErr:
    case JSMaximumStreamsLimitErr:
    case JSMemoryResourcesExceededErr:
    case JSStorageResourcesExceededErr:
    case JSStreamMessageExceedsMaximumErr:
        return SVC_RESOURCE_EXHAUSTED;
    case JSClusterNotAvailErr:
    case JSClusterNoPeersErr:
    case JSClusterNotActiveErr:
        return SVC_UNAVAILABLE;
    case JSBadRequestErr:
    case JSStreamInvalidConfig:
    case JSInvalidJSONErr:
    case JSConsumerDurableNameNotSetErr:
        return SVC_INVALID_ARGUMENT;
    default:
        return SVC_FAILED_PRECONDITION; /* the stream's or consumer's state says no */
    }
}

svc_code svc_nats_js_fail(natsStatus s, jsErrCode err, const char *what)
{
    if (err == 0)
        return svc_nats_fail(s, what);
    return svc_fail(svc_nats_js_code(err), "%s: %s (JetStream error %d)", what, last_text(s),
                    (int)err);
}
