/* AMQP reply codes as svc status codes. */
#include "amqp.h"

svc_code svc_amqp_code_from_reply(unsigned reply_code)
{
    switch (reply_code) {
    case 200:
        return SVC_OK;
    case 311: /* content-too-large */
        return SVC_RESOURCE_EXHAUSTED;
    case 312: /* no-route: a mandatory message nobody took */
    case 404:
        return SVC_NOT_FOUND;
    case 313: /* no-consumers */
    case 320: /* connection-forced: the broker is going down */
        return SVC_UNAVAILABLE;
    case 403:
        return SVC_PERMISSION_DENIED;
    case 405: /* resource-locked: an exclusive queue of another connection */
        return SVC_ABORTED;
    case 406:
        return SVC_FAILED_PRECONDITION;
    case 402: /* invalid-path */
    case 502: /* syntax-error */
        return SVC_INVALID_ARGUMENT;
    case 506: /* resource-error */
        return SVC_RESOURCE_EXHAUSTED;
    case 530: /* not-allowed */
        return SVC_PERMISSION_DENIED;
    case 540:
        return SVC_UNIMPLEMENTED;
    default: /* 501, 503, 504, 505, 541: protocol and internal errors */
        return SVC_INTERNAL;
    }
}
