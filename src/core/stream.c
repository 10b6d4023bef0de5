/*
 * Streams. No transport of this build carries streams yet (the gRPC backend
 * brings them), so opening one answers SVC_UNIMPLEMENTED naming the
 * transport, and no svc_stream can exist for the other functions to act on.
 */
#include <svccomm/client.h>

#include "client_internal.h"
#include "error.h"
#include "msg.h"

svc_code svc_client_stream(svc_client *c, const char *method, const svc_call_opts *o,
                           svc_stream **out)
{
    (void)o;
    if (out)
        *out = NULL;
    if (!c || !method || !out)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_client_stream: missing argument");
    return svc_fail(SVC_UNIMPLEMENTED, "the %s transport has no streams (method '%s')",
                    c->ops->name, method);
}

static svc_code no_stream(void)
{
    return svc_fail(SVC_INVALID_ARGUMENT, "no such stream");
}

svc_code svc_stream_send(svc_stream *st, svc_msg *m)
{
    (void)st;
    svc_msg_free(m);
    return no_stream();
}

svc_code svc_stream_close_send(svc_stream *st)
{
    (void)st;
    return no_stream();
}

svc_code svc_stream_recv(svc_stream *st, svc_msg **m)
{
    (void)st;
    if (m)
        *m = NULL;
    return no_stream();
}

svc_code svc_stream_finish(svc_stream *st, svc_msg **trailers)
{
    (void)st;
    if (trailers)
        *trailers = NULL;
    return no_stream();
}

void svc_stream_cancel(svc_stream *st)
{
    (void)st;
}

void svc_stream_free(svc_stream *st)
{
    (void)st;
}
