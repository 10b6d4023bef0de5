/*
 * RPC calls over AMQP. A request goes to the topic exchange svc.rpc with the
 * method as routing key ('/' made '.'), mandatory (no queue for the service:
 * it comes back, UNAVAILABLE), the method also in `type`, replies to direct
 * reply-to (amq.rabbitmq.reply-to, consumed without acks on channel 4) and
 * a correlation id per call. The deadline travels twice: as `expiration`,
 * so the broker drops a request that waited too long in the queue, and as
 * a svc-timeout header, so the server enforces what is left from its own
 * arrival. The reply's status and message come in svc-status and
 * svc-message headers.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "amqp_client.h"
#include "core/ccall.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/msg.h"

#define REPLY_TO "amq.rabbitmq.reply-to"

typedef struct rpc_call {
    ajob base;     /* sending it; then completing it (svc_amqp_later) */
    amqp_chan *ch;
    svc_ccall *cc;
    svc_msg *resp; /* the answer, while its completion waits */
    char corr[24];
} rpc_call;

typedef struct cancel_job {
    ajob base;
    svc_ccall *cc;
} cancel_job;

static svc_code rpc_setup(amqp_chan *ch)
{
    if (ch->rpc_ready)
        return SVC_OK;
    aconn *c = ch->conn;
    svc_code rc = svc_amqp_ensure_exchange(ch, SVC_AMQP_RPC_EXCHANGE, "topic");
    if (!rc)
        rc = svc_amqp_channel_open(c, AMQP_CH_RPC);
    if (rc)
        return rc;
    amqp_basic_consume(c->conn, AMQP_CH_RPC, svc_amqp_str(REPLY_TO), amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    if ((rc = svc_amqp_rpc_status(c, AMQP_CH_RPC, "basic.consume (direct reply-to)", false)) != SVC_OK)
        return rc;
    ch->rpc_ready = true;
    return SVC_OK;
}

svc_code svc_amqp_rpc_ready(amqp_chan *ch)
{
    return ch->rpc_wanted ? rpc_setup(ch) : SVC_OK;
}

static void deliver(rpc_call *rc, svc_msg *resp)
{
    svc_ccall_complete(rc->cc, resp);
    svc_ccall_release(rc->cc);
    free(rc);
}

static void end_call(rpc_call *rc, svc_msg *resp)
{
    rc->cc->tdata = NULL;
    deliver(rc, resp);
}

static void fail_call(rpc_call *rc, svc_code code, const char *message)
{
    end_call(rc, svc_msg_new_status(code, message));
}

typedef struct lost_ctx {
    char message[300];
} lost_ctx;

static void fail_each(const char *key, void *value, void *ud)
{
    (void)key;
    fail_call(value, SVC_UNAVAILABLE, ((lost_ctx *)ud)->message);
}

void svc_amqp_rpc_lost(amqp_chan *ch, svc_code code, const char *message)
{
    (void)code;
    ch->rpc_ready = false;
    lost_ctx lc;
    snprintf(lc.message, sizeof lc.message,
             "AMQP connection lost before the reply (the request may have been served): %.200s",
             message);
    svc_strmap_each(&ch->calls, fail_each, &lc);
    svc_strmap_clear(&ch->calls);
}

/* "pkg.Service/Method" → "pkg.Service.Method"; false for routes. */
static bool routing_key(const char *method, char *out, size_t cap)
{
    const char *slash = strrchr(method, '/');
    if (!slash || slash == method || strchr(method, ' ') || strlen(method) >= cap)
        return false;
    memcpy(out, method, strlen(method) + 1);
    out[slash - method] = '.';
    return true;
}

static svc_code write_request(amqp_chan *ch, rpc_call *rc, const char *key)
{
    svc_ccall *cc = rc->cc;
    amqp_out out;
    svc_code code = svc_amqp_out_init(&out, cc->req, NULL, 1);
    amqp_basic_properties_t *p = &out.props;
    p->_flags |= AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_TYPE_FLAG;
    p->reply_to = svc_amqp_str(REPLY_TO);
    p->correlation_id = svc_amqp_str(rc->corr);
    p->type = svc_amqp_str(cc->method);
    if (!code && cc->deadline) {
        int64_t left = cc->deadline - svc_now();
        if (left <= 0)
            code = svc_fail(SVC_DEADLINE_EXCEEDED, "deadline exceeded before sending");
        svc_timeout_format(left > 0 ? left : 1, out.timeout);
        svc_amqp_out_header(&out, "svc-timeout", out.timeout);
        snprintf(out.expiration, sizeof out.expiration, "%" PRId64,
                 (left + SVC_NSEC_PER_MSEC - 1) / SVC_NSEC_PER_MSEC);
        p->_flags |= AMQP_BASIC_EXPIRATION_FLAG;
        p->expiration = svc_amqp_str(out.expiration);
    }
    if (!code)
        code = svc_amqp_out_check_size(&out, ch->conn->frame_max);
    if (!code) {
        amqp_bytes_t body = {svc_msg_len(cc->req), (void *)svc_msg_data(cc->req)};
        int st = amqp_basic_publish(ch->conn->conn, AMQP_CH_RPC, svc_amqp_str(SVC_AMQP_RPC_EXCHANGE),
                                    svc_amqp_str(key), 1, 0, p, body);
        code = svc_amqp_write_status(ch->conn, st, "basic.publish (request)");
    }
    svc_amqp_out_free(&out);
    return code;
}

static void send_call(amqp_chan *ch, rpc_call *rc)
{
    svc_ccall *cc = rc->cc;
    if (svc_ccall_done(cc)) { /* cancelled before it was sent */
        svc_ccall_release(cc);
        free(rc);
        return;
    }
    char key[512];
    if (!routing_key(cc->method, key, sizeof key)) {
        fail_call(rc, SVC_UNIMPLEMENTED,
                  "AMQP carries RPC methods (pkg.Service/Method), not HTTP routes");
        return;
    }
    ch->rpc_wanted = true;
    svc_code code = rpc_setup(ch);
    if (!code) {
        snprintf(rc->corr, sizeof rc->corr, "%" PRIx64, ++ch->next_corr);
        code = write_request(ch, rc, key);
    }
    if (!code)
        code = svc_strmap_put(&ch->calls, rc->corr, rc);
    if (code) {
        fail_call(rc, code, svc_last_error());
        return;
    }
    cc->tdata = rc;
}

static void call_run(aconn *c, ajob *base)
{
    send_call(c->owner, (rpc_call *)base);
}

static void call_drop(ajob *base, svc_code code, const char *message)
{
    fail_call((rpc_call *)base, code, message);
}

static rpc_call *take_call(amqp_chan *ch, const amqp_basic_properties_t *p)
{
    if (!(p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) || p->correlation_id.len >= 24)
        return NULL;
    char corr[24];
    snprintf(corr, sizeof corr, "%.*s", (int)p->correlation_id.len,
             (const char *)p->correlation_id.bytes);
    return svc_strmap_remove(&ch->calls, corr);
}

static svc_msg *reply_of(rpc_call *rc, amqp_message_t *m)
{
    if (m->body.len > svc_ccall_max_reply(rc->cc)) {
        char text[96];
        snprintf(text, sizeof text, "reply of %zu bytes, more than the %zu accepted", m->body.len,
                 svc_ccall_max_reply(rc->cc));
        return svc_msg_new_status(SVC_RESOURCE_EXHAUSTED, text);
    }
    size_t skipped = 0;
    svc_msg *resp = svc_amqp_msg_from(&m->properties, m->body, false, &skipped);
    if (!resp)
        return NULL;
    m->body = amqp_empty_bytes;
    char status[32], message[1024];
    const char *s = svc_amqp_header(&m->properties, "svc-status", status, sizeof status);
    svc_code code = SVC_OK;
    if (s && svc_code_parse(s, &code) != SVC_OK)
        code = SVC_UNKNOWN;
    const char *text = svc_amqp_header(&m->properties, "svc-message", message, sizeof message);
    if (code != SVC_OK || text)
        svc_msg_set_status(resp, code, text);
    return resp;
}

static void complete_run(aconn *c, ajob *base)
{
    (void)c;
    rpc_call *rc = (rpc_call *)base;
    deliver(rc, rc->resp);
}

/* Completes `rc` once the owner let go of the connection (see amqp.h). */
static void complete_later(rpc_call *rc, svc_msg *resp)
{
    rc->cc->tdata = NULL; /* a cancel from now on finds nothing to stop */
    rc->resp = resp;
    rc->base.run = complete_run;
    svc_amqp_later(rc->ch->conn, &rc->base);
}

void svc_amqp_rpc_method(amqp_chan *ch, amqp_frame_t *f)
{
    amqp_method_number_t id = f->payload.method.id;
    if (id != AMQP_BASIC_DELIVER_METHOD && id != AMQP_BASIC_RETURN_METHOD)
        return;
    amqp_message_t m;
    if (!svc_amqp_read_content(ch->conn, AMQP_CH_RPC, &m))
        return;
    rpc_call *rc = take_call(ch, &m.properties);
    if (rc && id == AMQP_BASIC_RETURN_METHOD) {
        char text[400];
        snprintf(text, sizeof text, "no server serves %.*s on %s", (int)(strrchr(rc->cc->method, '/') - rc->cc->method),
                 rc->cc->method, ch->conn->target);
        complete_later(rc, svc_msg_new_status(SVC_UNAVAILABLE, text));
    } else if (rc) {
        complete_later(rc, reply_of(rc, &m));
    } /* else a late reply to a call that ended: dropped */
    amqp_destroy_message(&m);
}

void svc_amqp_call_start(svc_channel *base, svc_ccall *cc)
{
    amqp_chan *ch = (amqp_chan *)base;
    rpc_call *rc = calloc(1, sizeof *rc);
    if (!rc) {
        svc_ccall_fail(cc, SVC_RESOURCE_EXHAUSTED, "out of memory");
        svc_ccall_release(cc);
        return;
    }
    rc->ch = ch;
    rc->cc = cc;
    rc->base.run = call_run;
    rc->base.drop = call_drop;
    rc->base.deadline = cc->deadline;
    svc_amqp_run_or_submit(ch->conn, &rc->base);
}

static void cancel_run(aconn *c, ajob *base)
{
    cancel_job *j = (cancel_job *)base;
    amqp_chan *ch = c->owner;
    rpc_call *rc = j->cc->tdata;
    if (rc) { /* sent, no reply yet */
        svc_strmap_remove(&ch->calls, rc->corr);
        j->cc->tdata = NULL;
        svc_ccall_release(rc->cc);
        free(rc);
    }
    svc_ccall_release(j->cc); /* the hold of svc_amqp_call_cancel */
    free(j);
}

static void cancel_drop(ajob *base, svc_code code, const char *message)
{
    (void)code;
    (void)message;
    cancel_job *j = (cancel_job *)base;
    svc_ccall_release(j->cc); /* the call itself was ended by on_lost */
    free(j);
}

void svc_amqp_call_cancel(svc_channel *base, svc_ccall *cc)
{
    amqp_chan *ch = (amqp_chan *)base;
    cancel_job *j = calloc(1, sizeof *j);
    if (!j)
        return; /* the reply, when it comes, finds the call done */
    svc_ccall_hold(cc);
    j->cc = cc;
    j->base.run = cancel_run;
    j->base.drop = cancel_drop;
    j->base.offline = true;
    svc_amqp_submit(ch->conn, &j->base);
}
