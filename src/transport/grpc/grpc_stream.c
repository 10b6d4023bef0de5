/*
 * Per-stream machinery both roles share: messages out through nghttp2's
 * data provider, messages in through the deframer, and receive-window
 * accounting so that the peer may send only as fast as the application
 * reads. On the connection's loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/msg.h"
#include "grpc.h"

void svc_grpc_stream_init(grpc_stream *s, grpc_conn *c, size_t max_in, svc_flow *gate)
{
    memset(s, 0, sizeof *s);
    s->conn = c;
    s->id = -1;
    s->gate = gate;
    svc_grpc_deframer_init(&s->in, max_in);
}

void svc_grpc_stream_destroy(grpc_stream *s)
{
    if (s->out)
        evbuffer_free(s->out);
    svc_grpc_deframer_free(&s->in);
    if (s->credits.v != s->credits.small)
        free(s->credits.v);
}

void svc_grpc_stream_resume(grpc_stream *s)
{
    if (s->deferred && s->conn && s->id > 0 && !s->closed) {
        s->deferred = false;
        nghttp2_session_resume_data(s->conn->h2, s->id);
    }
    if (s->conn)
        svc_grpc_conn_flush(s->conn);
}

/* Framed bytes waiting for nghttp2. */
static size_t queued(const grpc_stream *s)
{
    return s->small_len - s->small_off + (s->out ? evbuffer_get_length(s->out) : 0);
}

/* Bytes the application gave that nghttp2 has not taken yet: on their way
 * to the loop, or framed in `out`. Counting those in flight too keeps a
 * sender that outruns the loop from queueing GRPC_IN_TRANSIT messages of
 * any size on top of `out`. Any thread. */
static long long unsent(grpc_stream *s)
{
    return atomic_load(&s->in_transit_bytes) + atomic_load(&s->out_len);
}

/* Opens the gate when no limit holds it shut. Any thread. */
static void maybe_open(grpc_stream *s)
{
    if (s->gate && atomic_load(&s->in_transit) < GRPC_IN_TRANSIT && !atomic_load(&s->out_high) &&
        unsent(s) <= GRPC_OUT_HIGH)
        svc_flow_set_writable(s->gate, true);
}

void svc_grpc_stream_posted(grpc_stream *s, size_t len)
{
    atomic_fetch_add(&s->in_transit_bytes, (long long)len);
    bool full = atomic_fetch_add(&s->in_transit, 1) + 1 >= GRPC_IN_TRANSIT;
    if ((full || unsent(s) > GRPC_OUT_HIGH) && s->gate) {
        svc_flow_set_writable(s->gate, false);
        maybe_open(s); /* the loop may have caught up in between */
    }
}

static void free_ref(const void *data, size_t len, void *ud)
{
    (void)data;
    (void)len;
    free(ud);
}

static void free_buf_ref(const void *data, size_t len, void *ud)
{
    (void)data;
    (void)len;
    svc_buf_unref(ud);
}

svc_code svc_grpc_stream_send(grpc_stream *s, const svc_msg *m, bool posted)
{
    const uint8_t *data = svc_msg_data(m);
    size_t len = svc_msg_len(m);
    if (posted) {
        atomic_fetch_sub(&s->in_transit, 1);
        atomic_fetch_sub(&s->in_transit_bytes, (long long)len);
    }
    uint8_t *zipped = NULL;
    bool gzip = m->compress && s->peer_gzip;
    if (gzip && svc_grpc_gzip(data, len, &zipped, &len) != SVC_OK)
        return svc_fail(SVC_INTERNAL, "cannot compress a message");
    /* Into `small` only while `out` is empty, so that order is kept. */
    bool small = (!s->out || evbuffer_get_length(s->out) == 0) &&
                 SVC_GRPC_PREFIX + len <= sizeof s->small - s->small_len;
    int rc = 0;
    if (small) {
        svc_grpc_prefix(s->small + s->small_len, len, gzip);
        memcpy(s->small + s->small_len + SVC_GRPC_PREFIX, zipped ? zipped : data, len);
        s->small_len += SVC_GRPC_PREFIX + len;
    } else if (!s->out && !(s->out = evbuffer_new())) {
        rc = -1;
    } else if (len >= GRPC_REF_MIN) {
        /* A large message is handed over by reference, freed once sent:
         * copying it into a fresh chain cost a third of a streaming
         * server's CPU (copy and page faults) at 1 MiB. Its prefix goes by
         * reference too: a copy would get a new chain sized after the last
         * one, the message's, so 5 bytes would take a chain as large. */
        uint8_t *prefix = malloc(SVC_GRPC_PREFIX);
        rc = prefix ? 0 : -1;
        if (prefix) {
            svc_grpc_prefix(prefix, len, gzip);
            if ((rc = evbuffer_add_reference(s->out, prefix, SVC_GRPC_PREFIX, free_ref, prefix)))
                free(prefix);
        }
        if (rc == 0 && zipped &&
            (rc = evbuffer_add_reference(s->out, zipped, len, free_ref, zipped)) == 0)
            zipped = NULL;
        else if (rc == 0 && !zipped) {
            svc_buf_ref(m->buf);
            if ((rc = evbuffer_add_reference(s->out, data, len, free_buf_ref, m->buf)))
                svc_buf_unref(m->buf);
        }
    } else {
        uint8_t prefix[SVC_GRPC_PREFIX];
        svc_grpc_prefix(prefix, len, gzip);
        rc = evbuffer_add(s->out, prefix, sizeof prefix) |
             evbuffer_add(s->out, zipped ? zipped : data, len);
    }
    free(zipped);
    atomic_store(&s->out_len, (long long)queued(s));
    if (rc != 0)
        return svc_fail_oom();
    if (unsent(s) > GRPC_OUT_HIGH) {
        atomic_store(&s->out_high, true);
        if (s->gate)
            svc_flow_set_writable(s->gate, false);
    } else if (posted) {
        maybe_open(s);
    }
    svc_grpc_stream_resume(s);
    return SVC_OK;
}

ssize_t svc_grpc_stream_read(grpc_stream *s, uint8_t *buf, size_t len, uint32_t *flags)
{
    size_t n = s->small_len - s->small_off;
    if (n > len)
        n = len;
    memcpy(buf, s->small + s->small_off, n);
    s->small_off += n;
    if (s->small_off == s->small_len)
        s->small_off = s->small_len = 0;
    if (n < len && s->out) {
        int got = evbuffer_remove(s->out, buf + n, len - n);
        if (got < 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        n += (size_t)got;
    }
    size_t left = queued(s);
    atomic_store(&s->out_len, (long long)left);
    if (unsent(s) < GRPC_OUT_LOW && atomic_load(&s->out_high)) {
        atomic_store(&s->out_high, false);
        maybe_open(s);
    }
    if (left == 0 && s->out_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* ---- the receive side ---- */

static bool credits_push(grpc_credits *c, size_t n)
{
    if (!c->v) {
        c->v = c->small;
        c->cap = sizeof c->small / sizeof c->small[0];
    }
    if (c->len == c->cap) {
        size_t cap = c->cap * 2;
        size_t *v = malloc(cap * sizeof *v);
        if (!v)
            return false;
        for (size_t i = 0; i < c->len; i++)
            v[i] = c->v[(c->head + i) % c->cap];
        if (c->v != c->small)
            free(c->v);
        c->v = v;
        c->head = 0;
        c->cap = cap;
    }
    c->v[(c->head + c->len++) % c->cap] = n;
    return true;
}

static void give_back(grpc_stream *s, size_t n)
{
    if (n && s->conn && s->id > 0 && !s->closed) {
        nghttp2_session_consume(s->conn->h2, s->id, n);
        svc_grpc_conn_flush(s->conn);
    }
}

/* A message larger than the window could never arrive if its bytes waited
 * for it to be consumed. So while the application has read everything
 * delivered (it is waiting for this very message), the bytes of the message
 * being assembled go back at once: what is buffered stays bounded by the
 * window plus one message of at most the size limit. */
static void give_back_partial(grpc_stream *s)
{
    if (s->credits.len == 0 && s->in_wire) {
        give_back(s, s->in_wire);
        s->in_wire = 0;
    }
}

void svc_grpc_stream_consumed(grpc_stream *s, bool all)
{
    size_t n = 0;
    do {
        if (s->credits.len == 0)
            break;
        n += s->credits.v[s->credits.head];
        s->credits.head = (s->credits.head + 1) % s->credits.cap;
        s->credits.len--;
    } while (all);
    give_back(s, n);
    give_back_partial(s);
}

typedef struct deliver_ctx {
    grpc_stream *s;
    grpc_sink to; /* `into` cleared once used */
} deliver_ctx;

static svc_code on_message(void *arg, uint8_t *body, size_t len, bool compressed)
{
    deliver_ctx *d = arg;
    size_t wire = d->s->in_wire;
    d->s->in_wire = 0;
    if (compressed) {
        uint8_t *plain = NULL;
        size_t plain_len;
        /* compression.md: a message in an encoding the server lacks is
         * UNIMPLEMENTED; the flag without an encoding is INTERNAL. */
        svc_code rc = d->to.gunzip_ok ? svc_grpc_gunzip(body, len, d->s->in.max, &plain, &plain_len)
                      : d->s->in_unsupported[0]
                          ? svc_fail(SVC_UNIMPLEMENTED,
                                     "grpc-encoding '%s' is not supported (identity, gzip are)",
                                     d->s->in_unsupported)
                          : svc_fail(SVC_INTERNAL, "compressed message without grpc-encoding gzip");
        free(body);
        if (rc)
            return rc;
        body = plain;
        len = plain_len;
    }
    svc_msg *m = d->to.into;
    if (m) {
        d->to.into = NULL;
        if (svc_msg_set_data_owned(m, body, len, free) != SVC_OK ||
            !credits_push(&d->s->credits, wire))
            return svc_fail_oom();
    } else if (svc_msg_new(&m) != SVC_OK || svc_msg_set_data_owned(m, body, len, free) != SVC_OK ||
               svc_msg_set_content_type(m, d->to.ct) != SVC_OK ||
               !credits_push(&d->s->credits, wire)) {
        if (!m)
            free(body);
        svc_msg_free(m);
        return svc_fail_oom();
    }
    m->was_compressed = compressed;
    return d->to.deliver(d->to.ud, m);
}

svc_code svc_grpc_stream_data(grpc_stream *s, const uint8_t *p, size_t n, const grpc_sink *to)
{
    deliver_ctx d = {s, *to};
    /* Window accounting counts wire bytes, which the deframer does not
     * report per message: feed it one phase (prefix, body) at a time, so
     * each message is charged exactly what it took on the wire. */
    while (n > 0) {
        /* Feed up to the end of the current message, so in_wire is exact. */
        size_t need = s->in.prefix_len < SVC_GRPC_PREFIX
                          ? SVC_GRPC_PREFIX - s->in.prefix_len
                          : s->in.body_len - s->in.body_got;
        size_t take = need < n ? need : n;
        s->in_wire += take;
        svc_code rc = svc_grpc_deframe(&s->in, p, take, on_message, &d);
        if (rc)
            return rc;
        p += take;
        n -= take;
    }
    give_back_partial(s);
    return SVC_OK;
}
