/* The inproc transport's ops table and channels. */
#include "inproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

char *svc_inproc_name(const svc_url *url)
{
    size_t n = strlen(url->host) + strlen(url->path) + 1;
    char *name = malloc(n);
    if (name)
        snprintf(name, n, "%s%s", url->host, url->path);
    return name;
}

static svc_code channel_new(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                            svc_channel **out)
{
    (void)ctx;
    (void)o;
    inproc_channel *ch = calloc(1, sizeof *ch);
    if (!ch || !(ch->name = svc_inproc_name(url))) {
        free(ch);
        return svc_fail_oom();
    }
    *out = &ch->base;
    return SVC_OK;
}

static void channel_free(svc_channel *base)
{
    inproc_channel *ch = (inproc_channel *)base;
    free(ch->name);
    free(ch);
}

static const char *const schemes[] = {"inproc", NULL};

const svc_transport_ops svc_inproc_transport = {
    .name = "inproc",
    .schemes = schemes,
    .listen = svc_inproc_listen,
    .listener_free = svc_inproc_listener_free,
    .call_reply = svc_inproc_call_reply,
    .call_free = svc_inproc_call_free,
    .call_send = svc_inproc_call_send,
    .call_consumed = svc_inproc_call_consumed,
    .channel_new = channel_new,
    .channel_free = channel_free,
    .call_start = svc_inproc_call_start,
    .call_cancel = svc_inproc_call_cancel,
    .stream_start = svc_inproc_stream_start,
    .stream_send = svc_inproc_stream_send,
    .stream_close_send = svc_inproc_stream_close_send,
    .stream_consumed = svc_inproc_stream_consumed,
    .publish = svc_inproc_publish,
    .publish_async = svc_inproc_publish_async,
    .subscribe = svc_inproc_subscribe,
    .unsubscribe = svc_inproc_unsubscribe,
    .event_settle = svc_inproc_event_settle,
};
