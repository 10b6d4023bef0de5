/*
 * JetStream consumers: at-least-once delivery from a store, explicit acks.
 *
 * A durable consumer is created (or found) by us and then bound, so that
 * unsubscribing leaves it on the server and a later subscriber with the
 * same durable_name resumes where it stopped; push consumers deliver to
 * "_SVC.deliver.<stream>.<durable>" (the same for every process, so queue
 * groups of several processes share one consumer). Without durable_name
 * cnats makes an ephemeral consumer that goes with the subscription. Pull
 * consumers need a durable name; a thread per subscription fetches batches
 * and hands them on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/pubsub.h"
#include "core/topic.h"
#include "nats.h"

#define FETCH_WAIT_MS 500
#define FETCH_BATCH_MAX 256
#define DEFAULT_BATCH 64

static void on_js_event(natsConnection *nc, natsSubscription *ns, natsMsg *nm, void *ud)
{
    (void)nc;
    (void)ns;
    svc_nats_deliver(ud, nm);
}

static void *pull_loop(void *arg)
{
    nats_sub *s = arg;
    unsigned prefetch = s->sub->opts.prefetch;
    int batch = prefetch ? (int)(prefetch < FETCH_BATCH_MAX ? prefetch : FETCH_BATCH_MAX)
                         : DEFAULT_BATCH;
    while (!atomic_load(&s->closing)) {
        natsMsgList list = {0};
        jsErrCode err = 0;
        natsStatus st = natsSubscription_Fetch(&list, s->ns, batch, FETCH_WAIT_MS, &err);
        if (st == NATS_OK) {
            for (int i = 0; i < list.Count; i++) {
                svc_nats_deliver(s, list.Msgs[i]); /* takes it */
                list.Msgs[i] = NULL;
            }
            natsMsgList_Destroy(&list);
        } else if (st != NATS_TIMEOUT) {
            /* Disconnected or the server is restarting: try again shortly. */
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void consumer_config(const svc_sub *sub, jsConsumerConfig *cc, char *deliver, size_t cap)
{
    jsConsumerConfig_Init(cc);
    cc->AckPolicy = js_AckExplicit;
    cc->AckWait = sub->opts.ack_wait_ms * SVC_NSEC_PER_MSEC;
    cc->MaxDeliver = sub->opts.max_deliver > 0 ? sub->opts.max_deliver : -1;
    cc->MaxAckPending = sub->opts.prefetch;
    if (strcmp(sub->pattern, ">") != 0)
        cc->FilterSubject = sub->pattern;
    cc->Durable = sub->opts.durable_name;
    if (sub->opts.durable_name && !sub->opts.pull) {
        snprintf(deliver, cap, "_SVC.deliver.%s.%s", sub->opts.store, sub->opts.durable_name);
        cc->DeliverSubject = deliver;
        cc->DeliverGroup = sub->group;
    }
}

/* Finds the durable consumer or creates it. */
static svc_code ensure_durable(jsCtx *js, const svc_sub *sub, jsConsumerConfig *cc)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode err = 0;
    const char *stream = sub->opts.store, *name = sub->opts.durable_name;
    natsStatus s = js_GetConsumerInfo(&ci, js, stream, name, NULL, &err);
    if (s == NATS_NOT_FOUND && err == JSConsumerNotFoundErr) {
        err = 0;
        s = js_AddConsumer(&ci, js, stream, cc, NULL, &err);
    }
    jsConsumerInfo_Destroy(ci);
    if (s == NATS_OK)
        return SVC_OK;
    char what[400];
    snprintf(what, sizeof what, "consumer '%.150s' on stream '%.150s'", name, stream);
    return svc_nats_js_fail(s, err, what);
}

static svc_code start(jsCtx *js, nats_sub *s, jsSubOptions *so)
{
    svc_sub *sub = s->sub;
    jsErrCode err = 0;
    natsStatus st;
    if (sub->opts.pull)
        st = js_PullSubscribe(&s->ns, js, sub->pattern, sub->opts.durable_name, NULL, so, &err);
    else
        st = js_Subscribe(&s->ns, js, sub->pattern, on_js_event, s, NULL, so, &err);
    if (st != NATS_OK) {
        s->ns = NULL;
        char what[300];
        snprintf(what, sizeof what, "cannot consume stream '%.200s'", sub->opts.store);
        return svc_nats_js_fail(st, err, what);
    }
    natsSubscription_SetPendingLimits(
        s->ns, (int)(sub->opts.max_pending > INT32_MAX ? INT32_MAX : sub->opts.max_pending),
        64 * 1024 * 1024);
    if (sub->opts.pull) {
        if (pthread_create(&s->puller, NULL, pull_loop, s) != 0)
            return svc_fail(SVC_RESOURCE_EXHAUSTED, "cannot start the fetching thread");
        s->has_puller = true;
    }
    return svc_nats_sub_started(s);
}

svc_code svc_nats_js_subscribe(nats_channel *ch, svc_sub *sub)
{
    if (!svc_topic_pattern_valid(sub->pattern))
        return svc_fail(SVC_INVALID_ARGUMENT,
                        "bad pattern '%s': dot-separated tokens, '*' for one, '>' last for the rest",
                        sub->pattern);
    if (!svc_nats_name_valid(sub->opts.store) ||
        (sub->opts.durable_name && !svc_nats_name_valid(sub->opts.durable_name)))
        return svc_fail(SVC_INVALID_ARGUMENT, "bad stream or durable name ('%s', '%s')",
                        sub->opts.store, sub->opts.durable_name ? sub->opts.durable_name : "");
    if (sub->opts.pull && !sub->opts.durable_name)
        return svc_fail(SVC_INVALID_ARGUMENT, "a pull consumer needs a durable_name");
    jsCtx *js = NULL;
    svc_code rc = svc_nats_js_get(ch, &js);
    if (rc)
        return rc;
    jsConsumerConfig cc;
    char deliver[512];
    consumer_config(sub, &cc, deliver, sizeof deliver);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = sub->opts.store;
    so.ManualAck = true; /* settled through core, whatever manual_ack says */
    if (sub->opts.durable_name) {
        if ((rc = ensure_durable(js, sub, &cc)) != SVC_OK)
            return rc;
        so.Consumer = sub->opts.durable_name;
    } else {
        so.Config = cc;
    }
    if (!sub->opts.pull)
        so.Queue = sub->group;
    nats_sub *s = svc_nats_sub_new(sub, NULL, &ch->events, true);
    if (!s)
        return svc_fail_oom();
    /* Before the first event can arrive: settling one finds its
     * subscription here (svc_nats_event_settle). */
    sub->tdata = s;
    rc = start(js, s, &so);
    if (rc) {
        sub->tdata = NULL;
        svc_nats_sub_stop(s);
    }
    return rc;
}

svc_code svc_nats_event_settle(svc_event *ev, svc_settle how, int64_t delay_ms)
{
    natsMsg *nm = ev->tdata;
    if (!nm)
        return SVC_OK; /* core NATS: nothing to settle */
    natsStatus st;
    switch (how) {
    case SVC_SETTLE_ACK:
        st = natsMsg_Ack(nm, NULL);
        break;
    case SVC_SETTLE_NACK:
        st = delay_ms > 0 ? natsMsg_NakWithDelay(nm, delay_ms, NULL) : natsMsg_Nak(nm, NULL);
        break;
    default:
        st = natsMsg_Term(nm, NULL);
        break;
    }
    natsMsg_Destroy(nm);
    svc_nats_sub_unref(ev->sub->tdata);
    return st == NATS_OK ? SVC_OK : svc_nats_fail(st, "cannot settle the event");
}

svc_code svc_nats_event_in_progress(svc_event *ev)
{
    natsMsg *nm = ev->tdata;
    if (!nm)
        return svc_fail(SVC_FAILED_PRECONDITION, "core NATS events have no acknowledgement");
    natsStatus st = natsMsg_InProgress(nm, NULL);
    return st == NATS_OK ? SVC_OK : svc_nats_fail(st, "in progress");
}
