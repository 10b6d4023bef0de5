/* Client channels: settings, the two connections, and what they own. */
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/error.h"
#include "nats.h"
#include "observe/trace.h"

svc_code svc_nats_channel_new(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                              svc_channel **out)
{
    nats_channel *ch = calloc(1, sizeof *ch);
    if (!ch)
        return svc_fail_oom();
    svc_code rc = svc_nats_config_parse(url, &o->tls, o->connect_timeout_ms, &ch->cfg);
    if (rc) {
        free(ch);
        return rc;
    }
    svc_nats_link_init(&ch->events, ctx, &ch->cfg, "events", false);
    svc_nats_link_init(&ch->calls, ctx, &ch->cfg, "calls", true);
    ch->calls.on_ready = svc_nats_calls_ready;
    ch->calls.ready_ud = ch;
    pthread_mutex_init(&ch->calls_mu, NULL);
    pthread_mutex_init(&ch->js_mu, NULL);
    pthread_mutex_init(&ch->async_mu, NULL);
    pthread_cond_init(&ch->async_cv, NULL);
    svc_strmap_init(&ch->pending);
    *out = &ch->base;
    return SVC_OK;
}

void svc_nats_channel_free(svc_channel *base)
{
    nats_channel *ch = (nats_channel *)base;
    if (ch->inbox_done)
        svc_nats_sub_stop(ch->inbox_done);
    svc_nats_js_async_close(ch);
    svc_nats_js_close(ch);
    svc_nats_link_close(&ch->calls);
    svc_nats_link_close(&ch->events);
    svc_strmap_clear(&ch->pending);
    pthread_mutex_destroy(&ch->calls_mu);
    pthread_mutex_destroy(&ch->js_mu);
    pthread_mutex_destroy(&ch->async_mu);
    pthread_cond_destroy(&ch->async_cv);
    svc_nats_config_clear(&ch->cfg);
    free(ch);
}

void svc_nats_inbox_name(char *out, int n)
{
    static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    memcpy(out, "_INBOX.", 7);
    for (int i = 0; i < n; i++)
        out[7 + i] = alnum[svc_random_u64() % 62];
    out[7 + n] = '\0';
}

svc_conn_state svc_nats_channel_state(const svc_channel *base)
{
    const nats_channel *ch = (const nats_channel *)base;
    svc_conn_state calls = svc_nats_link_state(&ch->calls);
    return calls != SVC_CONN_IDLE ? calls : svc_nats_link_state(&ch->events);
}
