/*
 * One HTTP/2 connection on one I/O loop: bytes in through nghttp2, frames
 * out gathered into one buffer per flush and handed to the I/O (plain
 * socket or TLS, grpc_io_*.c) with back-pressure, keepalive PINGs,
 * ping-abuse strikes, GOAWAY, and teardown.
 *
 * Closing is two steps: svc_grpc_conn_close() marks the connection dead, stops
 * its I/O and ends its streams at once; the memory goes in a task posted to
 * the loop, after nghttp2 and libevent have left the stack.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "grpc.h"

/* gRPC's defaults: servers ping idle connections every two hours and give
 * up after 20 s without an answer; a peer pinging more often than every 5
 * minutes with no data sent in between strikes, and 2 strikes are allowed. */
#define SERVER_KEEPALIVE_NS (INT64_C(2) * 3600 * SVC_NSEC_PER_SEC)
#define KEEPALIVE_TIMEOUT_NS (INT64_C(20) * SVC_NSEC_PER_SEC)
#define MIN_PING_INTERVAL_NS (INT64_C(5) * 60 * SVC_NSEC_PER_SEC)
#define MAX_PING_STRIKES 2

void svc_grpc_on_loop(svc_loop *loop, svc_task_fn fn, void *ud)
{
    if (svc_loop_in_thread(loop) || svc_loop_post(loop, fn, ud) != SVC_OK)
        fn(ud); /* posting only fails when out of memory */
}

void svc_grpc_conn_link(grpc_conn *c, grpc_stream *s)
{
    s->conn = c;
    s->prev = NULL;
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    c->n_streams++;
}

void svc_grpc_conn_unlink(grpc_conn *c, grpc_stream *s)
{
    if (!s->prev && c->streams != s)
        return; /* not linked */
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    c->n_streams--;
}

static void teardown(void *arg)
{
    grpc_conn *c = arg;
    if (c->keepalive)
        event_free(c->keepalive);
    event_free(c->flush_ev);
    nghttp2_session_del(c->h2);
    svc_grpc_mem_destroy(&c->mem);
    c->io->free(c); /* closes the socket */
    free(c->out);
    c->role->freed(c);
    free(c);
}

void svc_grpc_conn_close(grpc_conn *c, const char *why)
{
    if (c->dead)
        return;
    c->dead = true;
    svc_log_debug(c->ctx, "grpc", "connection closed: %s", why);
    c->io->stop(c);
    event_del(c->flush_ev);
    if (c->keepalive)
        event_del(c->keepalive);
    c->role->lost(c, why);
    if (svc_loop_post(c->loop, teardown, c) != SVC_OK)
        svc_log_error(c->ctx, "grpc", "out of memory: a connection leaks");
}

#define OUT_FIRST (16 << 10) /* a batch of small answers fits */

/* Bytes of frames taken from nghttp2 and not yet on the socket. */
static size_t out_pending(const grpc_conn *c)
{
    return c->out_len - c->out_off + c->io->queued(c);
}

static bool out_add(grpc_conn *c, const uint8_t *p, size_t n)
{
    if (c->out_len + n > c->out_cap && c->out_off > 0) {
        /* A socket that never drains completely must not grow it. */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : OUT_FIRST;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *bigger = realloc(c->out, cap);
        if (!bigger)
            return false;
        c->out = bigger;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return true;
}

void svc_grpc_conn_out_taken(grpc_conn *c)
{
    c->out_off = c->out_len = 0;
    if (c->out_cap > GRPC_MAX_SINGLE_IO || c->n_streams == 0) {
        /* Kept only while calls are open and it is small: ten thousand
         * idle connections hold no buffers, and a burst of large messages
         * does not leave one behind. */
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
}

void svc_grpc_conn_flush(grpc_conn *c)
{
    /* Inside nghttp2_session_mem_recv (an inline handler answering, a
     * callback starting the next call) the flush waits for the end of the
     * input: one write for the whole batch, and only after nghttp2 has
     * seen the END_STREAM being processed, so a stream answered at once is
     * not taken for one with its remote half open. Elsewhere (tasks from
     * other threads: replies from the pool, messages of a stream, calls
     * started) it waits for the end of the loop's current turn, so the
     * tasks of one turn share one write instead of a send() each. */
    if (c->dead || c->in_recv || c->flush_pending)
        return;
    c->flush_pending = true;
    event_active(c->flush_ev, 0, 0);
}

static void on_flush_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    grpc_conn *c = arg;
    c->flush_pending = false;
    svc_grpc_conn_flush_now(c);
}

void svc_grpc_conn_flush_now(grpc_conn *c)
{
    if (c->dead || c->in_recv)
        return;
    /* Frames gathered into one buffer go out in one send() (the plain
     * socket writes at once: no wait for the loop to report it writable).
     * Stopped by the cap, it goes round again once the socket took it all:
     * nothing else would come back for what nghttp2 still has. */
    for (;;) {
        bool capped = false;
        while (!(capped = out_pending(c) >= GRPC_CONN_OUT_HIGH)) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(c->h2, &p);
            if (n < 0) {
                svc_grpc_conn_close(c, nghttp2_strerror((int)n));
                return;
            }
            if (n == 0)
                break;
            if (!out_add(c, p, (size_t)n)) {
                svc_grpc_conn_close(c, "out of memory");
                return;
            }
        }
        if (c->out_len > c->out_off)
            c->io->write(c);
        if (c->dead)
            return;
        if (!capped || out_pending(c) > 0)
            break; /* done, or the I/O flushes again once it has room */
    }
    /* Both sides said goodbye and nothing is left to write: done. */
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) &&
        out_pending(c) == 0)
        svc_grpc_conn_close(c, "finished");
}

void svc_grpc_conn_goaway(grpc_conn *c, uint32_t error_code, const char *debug)
{
    if (c->dead)
        return;
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                          error_code, (const uint8_t *)debug, debug ? strlen(debug) : 0);
    svc_grpc_conn_flush(c);
}

/* ---- input, from the I/O ---- */

void svc_grpc_conn_recv_begin(grpc_conn *c)
{
    c->in_recv = true;
}

bool svc_grpc_conn_recv(grpc_conn *c, const uint8_t *p, size_t n)
{
    if (c->dead)
        return false;
    /* nghttp2 takes all of it (nothing here pauses it). */
    ssize_t rv = nghttp2_session_mem_recv(c->h2, p, n);
    if (rv < 0) {
        c->in_recv = false;
        svc_grpc_conn_close(c, nghttp2_strerror((int)rv));
        return false;
    }
    return !c->dead;
}

void svc_grpc_conn_recv_end(grpc_conn *c)
{
    c->in_recv = false;
    svc_grpc_conn_flush_now(c);
}

void svc_grpc_conn_connected(grpc_conn *c)
{
    c->is_ready = true;
    c->role->ready(c);
    svc_grpc_conn_flush_now(c);
}

/* ---- keepalive and ping abuse ---- */

static void arm_keepalive(grpc_conn *c, int64_t ns)
{
    struct timeval tv;
    svc_loop_timeval(ns, &tv);
    evtimer_add(c->keepalive, &tv);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    grpc_conn *c = arg;
    if (c->awaiting_settings) {
        svc_grpc_conn_close(c, "no HTTP/2 preface and SETTINGS in time");
        return;
    }
    if (c->ping_outstanding) {
        svc_grpc_conn_close(c, "keepalive PING not answered in time");
        return;
    }
    nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL);
    c->ping_outstanding = true;
    arm_keepalive(c, KEEPALIVE_TIMEOUT_NS);
    svc_grpc_conn_flush(c);
}

void svc_grpc_conn_await_preface(grpc_conn *c, int64_t ns)
{
    c->awaiting_settings = true;
    arm_keepalive(c, ns); /* the keepalive timer serves until then */
}

static bool ends_stream(const nghttp2_frame *f)
{
    return (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
           (f->hd.flags & NGHTTP2_FLAG_END_STREAM);
}

/* The server's END_STREAM ends the call even while the client still has
 * its half open (a server that answers before reading everything, a
 * client that never closed). Either side then resets the stream with
 * NO_ERROR, as RFC 9113 §8.1 allows, so it does not linger half open on a
 * peer that never closes it. */
static void end_exchange(grpc_conn *c, int32_t id)
{
    int open = c->server ? nghttp2_session_get_stream_remote_close(c->h2, id)
                         : nghttp2_session_get_stream_local_close(c->h2, id);
    if (open == 0)
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
}

/* PINGs, GOAWAY: what both roles do with frames that are not a stream's;
 * a server's END_STREAM. */
static int on_frame_recv_common(grpc_conn *c, const nghttp2_frame *f)
{
    if (!c->server && ends_stream(f))
        end_exchange(c, f->hd.stream_id);
    if (f->hd.type == NGHTTP2_SETTINGS && c->awaiting_settings) {
        c->awaiting_settings = false; /* nghttp2 takes nothing else first */
        arm_keepalive(c, c->keepalive_ns);
    }
    if (f->hd.type == NGHTTP2_PING) {
        if (f->hd.flags & NGHTTP2_FLAG_ACK) {
            c->ping_outstanding = false;
            if (c->keepalive_ns)
                arm_keepalive(c, c->keepalive_ns);
            return 0;
        }
        svc_time now = svc_now();
        if (c->server && c->last_ping_recv && now - c->last_ping_recv < MIN_PING_INTERVAL_NS &&
            ++c->ping_strikes > MAX_PING_STRIKES) {
            /* As gRPC does with clients that ping too eagerly. */
            svc_grpc_conn_goaway(c, NGHTTP2_ENHANCE_YOUR_CALM, "too_many_pings");
            return 0;
        }
        c->last_ping_recv = now;
    } else if (f->hd.type == NGHTTP2_GOAWAY) {
        /* Streams past last_stream_id are closed by nghttp2 as refused;
         * the rest finish; no new stream goes here. */
        c->goaway_received = true;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    (void)h2;
    grpc_conn *c = ud;
    /* Data or headers we sent make the peer's next ping legitimate. */
    if (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA)
        c->ping_strikes = 0;
    if (c->server && ends_stream(f))
        end_exchange(c, f->hd.stream_id);
    return 0;
}

int svc_grpc_conn_on_frame_recv(grpc_conn *c, const nghttp2_frame *f)
{
    return on_frame_recv_common(c, f);
}

void svc_grpc_conn_common_callbacks(nghttp2_session_callbacks *cb)
{
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
}

/* ---- creation ---- */

static bool start_session(grpc_conn *c)
{
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return false;
    /* We hand window back as the application consumes, not on arrival. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    svc_grpc_mem_init(&c->mem);
    int rv = c->server
                 ? nghttp2_session_server_new3(&c->h2, c->role->callbacks, c, opt, &c->mem.mem)
                 : nghttp2_session_client_new3(&c->h2, c->role->callbacks, c, opt, &c->mem.mem);
    nghttp2_option_del(opt);
    if (rv != 0)
        return false;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, GRPC_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, GRPC_MAX_HEADER_LIST},
        {c->server ? NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS : NGHTTP2_SETTINGS_ENABLE_PUSH,
         c->server ? GRPC_MAX_CONCURRENT_STREAMS : 0},
    };
    return nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 3) == 0 &&
           nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
                                                 GRPC_CONN_WINDOW) == 0;
}

grpc_conn *svc_grpc_conn_new(svc_ctx *ctx, svc_loop *loop, const grpc_role *role, void *owner,
                         bool server, int fd, SSL *ssl, const struct sockaddr *to,
                         socklen_t to_len)
{
    grpc_conn *c = calloc(1, sizeof *c);
    if (!c) {
        SSL_free(ssl);
        return NULL;
    }
    c->ctx = ctx;
    c->loop = loop;
    c->role = role;
    c->owner = owner;
    c->server = server;
    c->fd = -1;
    c->io = ssl ? &svc_grpc_io_tls : &svc_grpc_io_plain;
    if (to) {
        memcpy(&c->peer, to, to_len);
        c->peer_len = to_len;
    }
    c->keepalive = evtimer_new(svc_loop_base(loop), on_keepalive, c);
    c->flush_ev = event_new(svc_loop_base(loop), -1, 0, on_flush_ev, c);
    if (!c->keepalive || !c->flush_ev || !start_session(c)) {
        if (c->keepalive)
            event_free(c->keepalive);
        if (c->flush_ev)
            event_free(c->flush_ev);
        if (c->h2)
            nghttp2_session_del(c->h2);
        svc_grpc_mem_destroy(&c->mem);
        SSL_free(ssl);
        free(c);
        return NULL;
    }
    if (server) {
        c->keepalive_ns = SERVER_KEEPALIVE_NS;
        arm_keepalive(c, c->keepalive_ns);
    }
    if (!c->io->open(c, fd, ssl, to, to_len)) {
        event_free(c->keepalive);
        event_free(c->flush_ev);
        nghttp2_session_del(c->h2);
        svc_grpc_mem_destroy(&c->mem);
        free(c);
        return NULL;
    }
    return c;
}
