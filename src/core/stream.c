/*
 * Client streams: a call with a flow (core/flow.h). The call's deadline,
 * cancellation token, metrics and shutdown work as for unary calls; the
 * transport feeds the flow and ends the call with its final status.
 */
#include <stdlib.h>
#include <svccomm/client.h>

#include "client_internal.h"
#include "error.h"
#include "msg.h"

struct svc_stream {
    svc_ccall *cc; /* our own reference */
};

svc_code svc_client_stream(svc_client *c, const char *method, const svc_call_opts *o,
                           svc_stream **out)
{
    if (out)
        *out = NULL;
    if (!out)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_client_stream: no output");
    if (c && c->ops->stream_open)
        return c->ops->stream_open(c->chan, method, o, out);
    svc_stream *st = calloc(1, sizeof *st);
    if (!st)
        return svc_fail_oom();
    svc_code rc = svc_client_open_stream(c, method, o, &st->cc);
    if (rc) {
        free(st);
        return rc;
    }
    *out = st;
    return SVC_OK;
}

svc_code svc_stream_send(svc_stream *st, svc_msg *m)
{
    if (!st || !m) {
        svc_msg_free(m);
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_stream_send: no stream or message");
    }
    svc_ccall *cc = st->cc;
    svc_code rc = svc_flow_wait_writable(cc->flow, 0); /* the deadline ends the flow */
    if (rc) {
        svc_msg_free(m);
        return rc;
    }
    return cc->chan->ops->stream_send(cc->chan, cc, m);
}

svc_code svc_stream_close_send(svc_stream *st)
{
    if (!st)
        return svc_fail(SVC_INVALID_ARGUMENT, "no stream");
    if (svc_flow_ended(st->cc->flow))
        return SVC_OK; /* nothing left to close */
    return st->cc->chan->ops->stream_close_send(st->cc->chan, st->cc);
}

svc_code svc_stream_recv(svc_stream *st, svc_msg **m)
{
    if (!st || !m)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_stream_recv: no stream or output");
    return svc_flow_recv(st->cc->flow, m, 0);
}

svc_code svc_stream_headers(svc_stream *st, const svc_msg **headers)
{
    if (!st || !headers)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_stream_headers: no stream or output");
    return svc_flow_wait_headers(st->cc->flow, headers, 0);
}

svc_code svc_stream_finish(svc_stream *st, svc_msg **trailers)
{
    if (!st)
        return svc_fail(SVC_INVALID_ARGUMENT, "no stream");
    return svc_flow_wait_end(st->cc->flow, trailers, 0);
}

void svc_stream_cancel(svc_stream *st)
{
    if (st)
        svc_ccall_abort(st->cc, SVC_CANCELLED, "cancelled by the caller");
}

void svc_stream_free(svc_stream *st)
{
    if (!st)
        return;
    svc_stream_cancel(st); /* a no-op once the stream ended */
    svc_ccall_release(st->cc);
    free(st);
}
