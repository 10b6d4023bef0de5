#include "h2_raw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../unit/cmocka_all.h"

#define MAX_FRAME 16384 /* what the server accepts: it never raises the default */

struct h2 {
    int fd;
    int flags;
    nghttp2_hd_deflater *def;
    nghttp2_hd_inflater *inf;
    uint8_t *in;            /* received, not yet a whole frame */
    size_t in_len, in_cap;
    uint8_t *block;         /* a header block across CONTINUATION frames */
    size_t block_len, block_cap;
    int32_t block_id;
    bool block_end_stream;
    int32_t next_id;
    bool closed;
    bool settings_seen;
    int goaway;
    uint32_t max_streams;
    int pings_acked;
    h2_stream streams[H2_MAX_STREAMS];
};

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

h2_stream *h2_result(h2 *c, int32_t id)
{
    assert_true(id > 0 && (id & 1) && (id - 1) / 2 < H2_MAX_STREAMS);
    return &c->streams[(id - 1) / 2];
}

bool h2_is_closed(const h2 *c)
{
    return c->closed;
}

int h2_goaway(const h2 *c)
{
    return c->goaway;
}

uint32_t h2_max_streams(const h2 *c)
{
    return c->max_streams;
}

void h2_write(h2 *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0 && !c->closed) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* The server closed on us (or stalled past SO_SNDTIMEO, which
             * the test sees as the connection being gone). */
            c->closed = true;
            return;
        }
        b += w;
        n -= (size_t)w;
    }
}

void h2_frame(h2 *c, uint8_t type, uint8_t flags, int32_t id, const void *p, size_t n)
{
    uint8_t hd[9] = {(uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
                     (uint8_t)((uint32_t)id >> 24 & 0x7f), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
                     (uint8_t)id};
    h2_write(c, hd, sizeof hd);
    if (n)
        h2_write(c, p, n);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void window_update(h2 *c, int32_t id, uint32_t n)
{
    uint8_t b[4];
    put32(b, n);
    h2_frame(c, H2_WINDOW_UPDATE, 0, id, b, 4);
}

static bool settings_seen(h2 *c, void *arg)
{
    (void)arg;
    return c->settings_seen;
}

h2 *h2_open(int port, int flags)
{
    h2 *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->flags = flags;
    c->next_id = 1;
    c->goaway = -1;
    for (int i = 0; i < H2_MAX_STREAMS; i++) {
        c->streams[i].grpc_status = -1;
        c->streams[i].rst = -1;
    }
    assert_int_equal(nghttp2_hd_deflate_new(&c->def, 4096), 0);
    assert_int_equal(nghttp2_hd_inflate_new(&c->inf), 0);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct timeval tv = {5, 0}; /* a write the server never reads fails, not hangs */
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    if (flags & H2_NO_PREFACE)
        return c;
    h2_write(c, preface, sizeof preface - 1);
    h2_frame(c, H2_SETTINGS, 0, 0, NULL, 0);
    if (!(flags & H2_NO_WINDOW))
        window_update(c, 0, 16u << 20); /* big responses flow without waiting for us */
    assert_true(h2_wait(c, 5000, settings_seen, NULL));
    return c;
}

void h2_close(h2 *c)
{
    if (!c)
        return;
    close(c->fd);
    nghttp2_hd_deflate_del(c->def);
    nghttp2_hd_inflate_del(c->inf);
    free(c->in);
    free(c->block);
    free(c);
}

void h2_shutdown_write(h2 *c)
{
    assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
}

void h2_reset(h2 *c)
{
    struct linger now = {1, 0};
    assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &now, sizeof now), 0);
    h2_close(c);
}

/* ---- sending requests ---- */

int32_t h2_new_id(h2 *c)
{
    int32_t id = c->next_id;
    c->next_id += 2;
    return id;
}

int32_t h2_headers(h2 *c, int32_t id, const char *const *nv, bool end)
{
    if (id == 0)
        id = h2_new_id(c);
    nghttp2_nv v[256];
    size_t n = 0;
    for (; nv[2 * n]; n++) {
        assert_true(n < 256);
        v[n] = (nghttp2_nv){(uint8_t *)(uintptr_t)nv[2 * n], (uint8_t *)(uintptr_t)nv[2 * n + 1],
                            strlen(nv[2 * n]), strlen(nv[2 * n + 1]), NGHTTP2_NV_FLAG_NONE};
    }
    size_t cap = nghttp2_hd_deflate_bound(c->def, v, n);
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    ssize_t len = nghttp2_hd_deflate_hd(c->def, buf, cap, v, n);
    assert_true(len >= 0);
    size_t off = 0;
    do {
        size_t chunk = (size_t)len - off < MAX_FRAME ? (size_t)len - off : MAX_FRAME;
        uint8_t flags = off + chunk == (size_t)len ? H2_END_HEADERS : 0;
        if (off == 0 && end)
            flags |= H2_END_STREAM;
        h2_frame(c, off == 0 ? H2_HEADERS : H2_CONTINUATION, flags, id, buf + off, chunk);
        off += chunk;
    } while (off < (size_t)len);
    free(buf);
    return id;
}

int32_t h2_call(h2 *c, const char *path, const char *const *extra, bool end)
{
    const char *nv[2 * 256 + 1] = {":method", "POST", ":scheme", "http", ":path", path,
                                   ":authority", "127.0.0.1", "content-type", "application/grpc",
                                   "te", "trailers"};
    size_t n = 12;
    for (size_t i = 0; extra && extra[i]; i++) {
        assert_true(n < 2 * 256);
        nv[n++] = extra[i];
    }
    nv[n] = NULL;
    return h2_headers(c, 0, nv, end);
}

void h2_data(h2 *c, int32_t id, const void *p, size_t n, bool end)
{
    const uint8_t *b = p;
    do {
        size_t chunk = n < MAX_FRAME ? n : MAX_FRAME;
        h2_frame(c, H2_DATA, chunk == n && end ? H2_END_STREAM : 0, id, b, chunk);
        b += chunk;
        n -= chunk;
    } while (n > 0);
}

void h2_message(h2 *c, int32_t id, uint8_t flag, const void *p, size_t n, bool end)
{
    uint8_t *m = malloc(n + 5);
    assert_non_null(m);
    m[0] = flag;
    put32(m + 1, (uint32_t)n);
    if (n)
        memcpy(m + 5, p, n);
    h2_data(c, id, m, n + 5, end);
    free(m);
}

/* ---- receiving ---- */

static void on_header(h2_stream *s, const nghttp2_nv *nv)
{
    const char *name = (const char *)nv->name;
    if (nv->namelen == 7 && memcmp(name, ":status", 7) == 0) {
        s->http_status = atoi((const char *)nv->value);
    } else if (nv->namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        s->grpc_status = atoi((const char *)nv->value);
    } else if (nv->namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        snprintf(s->grpc_message, sizeof s->grpc_message, "%.*s", (int)nv->valuelen, nv->value);
    } else {
        size_t used = strlen(s->headers);
        snprintf(s->headers + used, sizeof s->headers - used, "%.*s: %.*s\n", (int)nv->namelen,
                 name, (int)nv->valuelen, nv->value);
    }
}

/* Decodes a whole header block: every block goes through the inflater, in
 * order, or its dynamic table would drift from the server's. */
static void header_block(h2 *c)
{
    h2_stream *s = c->block_id > 0 && (c->block_id & 1) && (c->block_id - 1) / 2 < H2_MAX_STREAMS
                       ? h2_result(c, c->block_id)
                       : NULL;
    uint8_t *in = c->block;
    size_t left = c->block_len;
    for (;;) {
        nghttp2_nv nv;
        int fl = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(c->inf, &nv, &fl, in, left, 1);
        assert_true(rv >= 0);
        in += rv;
        left -= (size_t)rv;
        if ((fl & NGHTTP2_HD_INFLATE_EMIT) && s)
            on_header(s, &nv);
        if (fl & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(c->inf);
            break;
        }
        if (!(fl & NGHTTP2_HD_INFLATE_EMIT) && left == 0)
            break;
    }
    if (s) {
        s->header_blocks++;
        if (c->block_end_stream) {
            s->trailers_only = s->header_blocks == 1;
            s->ended = true;
        }
    }
    c->block_len = 0;
}

static void block_append(h2 *c, const uint8_t *p, size_t n)
{
    if (c->block_len + n > c->block_cap) {
        c->block_cap = (c->block_len + n) * 2;
        c->block = realloc(c->block, c->block_cap);
        assert_non_null(c->block);
    }
    memcpy(c->block + c->block_len, p, n);
    c->block_len += n;
}

/* The payload without its padding (and priority fields, for HEADERS). */
static bool unpad(uint8_t type, uint8_t flags, const uint8_t **p, size_t *n)
{
    size_t pad = 0;
    if (flags & H2_PADDED) {
        if (*n < 1)
            return false;
        pad = **p;
        (*p)++;
        (*n)--;
    }
    if (type == H2_HEADERS && (flags & H2_PRIORITY)) {
        if (*n < 5)
            return false;
        *p += 5;
        *n -= 5;
    }
    if (pad > *n)
        return false;
    *n -= pad;
    return true;
}

static void on_frame(h2 *c, uint8_t type, uint8_t flags, int32_t id, const uint8_t *p, size_t n)
{
    h2_stream *s = id > 0 && (id & 1) && (id - 1) / 2 < H2_MAX_STREAMS ? h2_result(c, id) : NULL;
    switch (type) {
    case H2_SETTINGS:
        if (flags & H2_ACK)
            break;
        c->settings_seen = true;
        for (size_t i = 0; i + 6 <= n; i += 6)
            if ((p[i] << 8 | p[i + 1]) == 0x3)
                c->max_streams = get32(p + i + 2);
        if (!(c->flags & (H2_NO_ACK | H2_NO_PREFACE)))
            h2_frame(c, H2_SETTINGS, H2_ACK, 0, NULL, 0);
        break;
    case H2_PING:
        if (flags & H2_ACK)
            c->pings_acked++;
        else if (!(c->flags & H2_NO_PREFACE))
            h2_frame(c, H2_PING, H2_ACK, 0, p, n);
        break;
    case H2_GOAWAY:
        if (n >= 8)
            c->goaway = (int)get32(p + 4);
        break;
    case H2_RST_STREAM:
        if (s && n >= 4) {
            s->rst = (int)get32(p);
            s->ended = true;
        }
        break;
    case H2_DATA:
        if (!unpad(type, flags, &p, &n))
            fail_msg("bad padding in a DATA frame from the server");
        if (s) {
            size_t keep = s->data_len < sizeof s->data ? sizeof s->data - s->data_len : 0;
            memcpy(s->data + s->data_len, p, n < keep ? n : keep);
            s->data_len += n;
            s->ended |= flags & H2_END_STREAM;
        }
        if (!(c->flags & (H2_NO_WINDOW | H2_NO_PREFACE)) && n > 0) {
            window_update(c, 0, (uint32_t)n);
            if (s && !s->ended)
                window_update(c, id, (uint32_t)n);
        }
        break;
    case H2_HEADERS:
        if (!unpad(type, flags, &p, &n))
            fail_msg("bad padding in a HEADERS frame from the server");
        c->block_id = id;
        c->block_end_stream = flags & H2_END_STREAM;
        block_append(c, p, n);
        if (flags & H2_END_HEADERS)
            header_block(c);
        break;
    case H2_CONTINUATION:
        block_append(c, p, n);
        if (flags & H2_END_HEADERS)
            header_block(c);
        break;
    default:
        break; /* WINDOW_UPDATE: we keep no send window */
    }
}

/* Handles the whole frames received so far. */
static void drain(h2 *c)
{
    size_t off = 0;
    while (c->in_len - off >= 9) {
        const uint8_t *h = c->in + off;
        size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
        if (c->in_len - off < 9 + len)
            break;
        on_frame(c, h[3], h[4], (int32_t)(get32(h + 5) & 0x7fffffff), h + 9, len);
        off += 9 + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

bool h2_wait(h2 *c, int ms, bool (*done)(h2 *c, void *arg), void *arg)
{
    int64_t until = now_ms() + ms;
    for (;;) {
        if (done && done(c, arg))
            return true;
        int64_t left = until - now_ms();
        if (c->closed || left <= 0)
            return false;
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        if (c->in_cap - c->in_len < 65536) {
            c->in_cap = c->in_len + 65536 * 2;
            c->in = realloc(c->in, c->in_cap);
            assert_non_null(c->in);
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            c->closed = true; /* EOF or reset: the server is done with us */
            return done && done(c, arg);
        }
        c->in_len += (size_t)r;
        drain(c);
    }
}

static bool stream_ended(h2 *c, void *arg)
{
    return h2_result(c, *(int32_t *)arg)->ended;
}

bool h2_wait_end(h2 *c, int32_t id, int ms)
{
    return h2_wait(c, ms, stream_ended, &id);
}

static bool conn_closed(h2 *c, void *arg)
{
    (void)arg;
    return c->closed;
}

bool h2_wait_closed(h2 *c, int ms)
{
    return h2_wait(c, ms, conn_closed, NULL);
}

static bool ping_acked(h2 *c, void *arg)
{
    return c->pings_acked > *(int *)arg;
}

bool h2_ping(h2 *c, int ms)
{
    int before = c->pings_acked;
    static const uint8_t opaque[8] = "svcping";
    h2_frame(c, H2_PING, 0, 0, opaque, sizeof opaque);
    return h2_wait(c, ms, ping_acked, &before);
}
