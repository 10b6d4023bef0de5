/*
 * Client calls. Each channel subscribes one wildcard inbox "<inbox>.*" on
 * its calls connection; a call publishes its request with the reply
 * subject "<inbox>.<token>" and waits in the pending table under its token
 * until the reply, core's deadline or a cancellation takes it out — exactly
 * one of them, under calls_mu. call_start returns at once. A NATS 2.2+
 * server answers a request nobody subscribes to with a "no responders"
 * status at once: that is UNAVAILABLE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ccall.h"
#include "core/error.h"
#include "core/msg.h"
#include "nats.h"

#define TOKEN_LEN 24

static void token_key(uint64_t token, char out[TOKEN_LEN])
{
    static const char hex[] = "0123456789abcdef";
    char tmp[TOKEN_LEN];
    size_t n = 0;
    do {
        tmp[n++] = hex[token & 15];
        token >>= 4;
    } while (token);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

/* Takes the call out of the pending table; NULL when someone else did. */
static svc_ccall *take(nats_channel *ch, const char *key)
{
    pthread_mutex_lock(&ch->calls_mu);
    svc_ccall *cc = svc_strmap_remove(&ch->pending, key);
    pthread_mutex_unlock(&ch->calls_mu);
    return cc;
}

static void end_call(svc_ccall *cc, svc_code code, const char *message)
{
    svc_ccall_fail(cc, code, message);
    svc_ccall_release(cc);
}

/* The answer in nm, which this takes: the reply borrows its payload. */
static svc_msg *reply_of(natsMsg *nm, svc_ccall *cc, const char *prefix)
{
    char text[700];
    size_t len = (size_t)natsMsg_GetDataLength(nm);
    bool no_responders = natsMsg_IsNoResponders(nm);
    if (no_responders || len > svc_ccall_max_reply(cc))
        natsMsg_Destroy(nm);
    if (no_responders) {
        char subject[600];
        if (!svc_nats_method_to_subject(prefix, cc->method, subject, sizeof subject))
            subject[0] = '\0';
        snprintf(text, sizeof text, "nobody serves %.200s (no responders on %.300s)", cc->method,
                 subject);
        return svc_msg_new_unprocessed(SVC_UNAVAILABLE, text);
    }
    if (len > svc_ccall_max_reply(cc)) {
        snprintf(text, sizeof text, "reply of %zu bytes is over the limit of %zu", len,
                 svc_ccall_max_reply(cc));
        return svc_msg_new_status(SVC_RESOURCE_EXHAUSTED, text);
    }
    nats_in in;
    svc_msg *m = NULL;
    return svc_nats_msg_in(nm, true, &in, &m) == SVC_OK ? m : NULL;
}

static void on_reply(natsConnection *nc, natsSubscription *ns, natsMsg *nm, void *ud)
{
    (void)nc;
    (void)ns;
    nats_sub *s = ud;
    nats_channel *ch = s->owner;
    const char *dot = strrchr(natsMsg_GetSubject(nm), '.');
    svc_ccall *cc = dot ? take(ch, dot + 1) : NULL;
    if (!cc) {
        natsMsg_Destroy(nm); /* a late reply (deadline, cancel) is dropped */
        return;
    }
    svc_ccall_complete(cc, reply_of(nm, cc, ch->cfg.prefix));
    svc_ccall_release(cc);
}

svc_code svc_nats_calls_ready(nats_link *l, natsConnection *nc, void *ud)
{
    (void)l;
    nats_channel *ch = ud;
    svc_nats_inbox_name(ch->inbox, SVC_NATS_INBOX_LEN - 7);
    char pattern[sizeof ch->inbox + 2];
    snprintf(pattern, sizeof pattern, "%s.*", ch->inbox);
    nats_sub *s = svc_nats_sub_new(NULL, ch, &ch->calls, false);
    if (!s)
        return svc_fail_oom();
    /* Replies are never dropped: no pending limit. */
    svc_code rc = svc_nats_sub_open(s, nc, pattern, NULL, on_reply, -1, -1,
                                    "cannot subscribe the reply inbox");
    if (rc)
        return rc;
    ch->inbox_done = s;
    return SVC_OK;
}

void svc_nats_call_start(svc_channel *base, svc_ccall *cc)
{
    nats_channel *ch = (nats_channel *)base;
    char subject[600], reply[sizeof ch->inbox + TOKEN_LEN + 1], key[TOKEN_LEN];
    if (strchr(cc->method, ' ')) {
        snprintf(subject, sizeof subject, "the nats transport cannot call HTTP routes ('%.200s')",
                 cc->method);
        end_call(cc, SVC_UNIMPLEMENTED, subject);
        return;
    }
    if (!svc_nats_method_to_subject(ch->cfg.prefix, cc->method, subject, sizeof subject)) {
        char text[300];
        snprintf(text, sizeof text, "method '%.200s' cannot be a NATS subject", cc->method);
        end_call(cc, SVC_INVALID_ARGUMENT, text);
        return;
    }
    natsConnection *nc = NULL;
    svc_code rc = svc_nats_link_get(&ch->calls, &nc);
    if (rc) {
        end_call(cc, rc, svc_last_error());
        return;
    }
    pthread_mutex_lock(&ch->calls_mu);
    uint64_t token = ++ch->next_token;
    pthread_mutex_unlock(&ch->calls_mu);
    token_key(token, key);
    snprintf(reply, sizeof reply, "%s.%s", ch->inbox, key);
    cc->tdata = (void *)(uintptr_t)token;
    /* Everything that reads cc happens before it is in the table: from
     * then on a reply or a cancellation may end it on another thread. */
    nats_out x = {.reply = reply, .deadline = cc->deadline};
    natsMsg *nm = NULL;
    rc = svc_nats_msg_out(subject, cc->req, &x, svc_nats_link_max_payload(&ch->calls), &nm);
    if (rc) {
        end_call(cc, rc, svc_last_error());
        return;
    }
    svc_ccall_hold(cc); /* cc stays readable below whoever ends it */
    pthread_mutex_lock(&ch->calls_mu);
    rc = svc_strmap_put(&ch->pending, key, cc);
    pthread_mutex_unlock(&ch->calls_mu);
    /* cc->req stays readable: the hold above keeps cc, and cc its request. */
    natsStatus st = rc ? NATS_NO_MEMORY : svc_nats_msg_publish(nc, subject, cc->req, &x, nm);
    if (rc)
        natsMsg_Destroy(nm);
    if (st != NATS_OK && (rc || take(ch, key))) {
        rc = svc_nats_fail(st, "request not sent");
        end_call(cc, rc, svc_last_error());
    } else if (svc_ccall_done(cc) && take(ch, key)) {
        /* Cancelled while we were adding it: call_cancel found nothing to
         * take, so nobody else will. */
        svc_ccall_release(cc);
    }
    svc_ccall_release(cc);
}

void svc_nats_call_cancel(svc_channel *base, svc_ccall *cc)
{
    nats_channel *ch = (nats_channel *)base;
    char key[TOKEN_LEN];
    token_key((uint64_t)(uintptr_t)cc->tdata, key);
    if (take(ch, key))
        svc_ccall_release(cc);
}
