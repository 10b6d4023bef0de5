/*
 * The client channel: one connection whose owner thread routes frames to
 * publishing, consuming and RPC calls by channel number.
 */
#include <stdlib.h>

#include "amqp_client.h"
#include "core/error.h"
#include "core/url.h"

static svc_code on_ready(aconn *c)
{
    amqp_chan *ch = c->owner;
    svc_code rc = svc_amqp_pub_ready(ch);
    if (!rc)
        rc = svc_amqp_rpc_ready(ch);
    if (!rc)
        rc = svc_amqp_sub_ready(ch);
    return rc;
}

static void on_lost(aconn *c, svc_code code, const char *message)
{
    amqp_chan *ch = c->owner;
    svc_amqp_pub_lost(ch);
    svc_amqp_rpc_lost(ch, code, message);
    svc_amqp_sub_lost(ch);
}

static void on_method(aconn *c, amqp_frame_t *f)
{
    amqp_chan *ch = c->owner;
    if (f->channel == AMQP_CH_PUB || f->channel == AMQP_CH_CONFIRM)
        svc_amqp_pub_method(ch, f);
    else if (f->channel == AMQP_CH_RPC)
        svc_amqp_rpc_method(ch, f);
    else if (f->channel >= AMQP_CH_FIRST_SUB)
        svc_amqp_sub_method(ch, f);
}

static void on_channel_closed(aconn *c, amqp_channel_t n, svc_code code, const char *text)
{
    amqp_chan *ch = c->owner;
    svc_log_warn(c->ctx, "amqp", "%s: the broker closed channel %u: %s (%s)", c->target, n, text,
                 svc_code_name(code));
    if (n == AMQP_CH_PUB || n == AMQP_CH_CONFIRM)
        svc_amqp_pub_channel_closed(ch, n, code, text);
    else if (n == AMQP_CH_RPC)
        svc_amqp_rpc_lost(ch, code, text); /* reopened by the next call */
    else if (n >= AMQP_CH_FIRST_SUB)
        svc_amqp_sub_channel_closed(ch, n, code, text);
    else if (n == AMQP_CH_CONTROL)
        svc_amqp_channel_open(c, n);
}

static void on_tick(aconn *c, svc_time now)
{
    svc_amqp_pub_tick(c->owner, now);
    svc_amqp_sub_tick(c->owner, now);
}

static const aconn_ops client_ops = {
    .on_ready = on_ready,
    .on_lost = on_lost,
    .on_method = on_method,
    .on_channel_closed = on_channel_closed,
    .on_tick = on_tick,
};

bool svc_amqp_read_content(aconn *c, amqp_channel_t n, amqp_message_t *out)
{
    amqp_rpc_reply_t r = amqp_read_message(c->conn, n, out, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return true;
    svc_amqp_broken(c, r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? r.library_error
                                                                       : AMQP_STATUS_UNEXPECTED_STATE,
                    "reading a message");
    return false;
}

static void chan_destroy(amqp_chan *ch)
{
    svc_strmap_clear(&ch->exchanges);
    svc_strmap_clear(&ch->calls);
    pthread_mutex_destroy(&ch->ex_mu);
    pthread_mutex_destroy(&ch->flush_mu);
    pthread_cond_destroy(&ch->flush_cv);
    free(ch);
}

svc_code svc_amqp_channel_new(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                              svc_channel **out)
{
    amqp_chan *ch = calloc(1, sizeof *ch);
    if (!ch)
        return svc_fail_oom();
    pthread_mutex_init(&ch->ex_mu, NULL);
    pthread_mutex_init(&ch->flush_mu, NULL);
    pthread_cond_init(&ch->flush_cv, NULL);
    svc_strmap_init(&ch->exchanges);
    svc_strmap_init(&ch->calls);
    char *wait = url->query ? svc_query_get(url->query, "wait_for_ready") : NULL;
    aconn_config cfg = {
        .url = url,
        .tls = &o->tls,
        .connect_timeout_ms = o->connect_timeout_ms,
        .wait_for_ready = wait && (strcmp(wait, "1") == 0 || strcmp(wait, "true") == 0),
        .ops = &client_ops,
        .owner = ch,
    };
    free(wait);
    svc_code rc = svc_amqp_conn_new(ctx, &cfg, &ch->conn);
    if (rc) {
        chan_destroy(ch);
        return rc;
    }
    *out = &ch->base;
    return SVC_OK;
}

void svc_amqp_channel_free(svc_channel *base)
{
    amqp_chan *ch = (amqp_chan *)base;
    svc_amqp_conn_free(ch->conn); /* fails what is still pending */
    chan_destroy(ch);
}
