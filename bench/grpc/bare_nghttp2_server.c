/*
 * bare_nghttp2_server — benchmark anchor and ceiling: one thread, epoll
 * and nghttp2, no gRPC library. Every request, once its END_STREAM is in,
 * is answered with a canned unary gRPC response:
 *
 *   HEADERS  :status 200, content-type application/grpc
 *   DATA     the gRPC-framed HelloReply{message: "Hello world"}
 *   HEADERS  grpc-status 0 (trailers, END_STREAM)
 *
 * which is exactly what libsvccomm's greeter sends for SayHello("world"),
 * less its grpc-accept-encoding header. The request itself is not parsed.
 *
 *   bare_nghttp2_server PORT
 *
 * Listens on 127.0.0.1 only, prints "listening on grpc://127.0.0.1:PORT"
 * once the socket is open, and stops on SIGINT/SIGTERM (taken through a
 * signalfd in the same epoll set).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../anchor_util.h"

#define MAX_EVENTS 64
#define OUT_CAP (256 << 10) /* per connection: bytes nghttp2 gave, unwritten */
#define READ_CHUNK (64 << 10)

/* 5-byte gRPC prefix + HelloReply{1: "Hello world"} */
static const uint8_t canned_reply[] = {0, 0, 0, 0, 13, 0x0a, 11, 'H', 'e', 'l', 'l',
                                       'o', ' ', 'w', 'o', 'r', 'l', 'd'};

typedef struct conn {
    int fd;
    nghttp2_session *h2;
    uint8_t *out; /* bytes from nghttp2_session_mem_send not yet written */
    size_t out_off, out_len;
    bool want_out; /* EPOLLOUT armed */
} conn;

static int epfd;

#define NV(n, v)                                                                          \
    {                                                                                     \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,                     \
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE                  \
    }

static nghttp2_nv resp_headers[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
static nghttp2_nv resp_trailers[] = {NV("grpc-status", "0")};

/* The data source: the canned reply in one DATA frame, then trailers. */
static ssize_t read_canned(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)src;
    (void)ud;
    if (len < sizeof canned_reply)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* never: frames are >= 16 KiB */
    memcpy(buf, canned_reply, sizeof canned_reply);
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    if (nghttp2_submit_trailer(h2, id, resp_trailers, 1) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return sizeof canned_reply;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        nghttp2_data_provider prd = {.read_callback = read_canned};
        if (nghttp2_submit_response(h2, f->hd.stream_id, resp_headers, 2, &prd) != 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static nghttp2_session_callbacks *callbacks;

static void conn_free(conn *c)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    nghttp2_session_del(c->h2);
    free(c->out);
    free(c);
}

static void set_out_interest(conn *c, bool want)
{
    if (c->want_out == want)
        return;
    c->want_out = want;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is buffered, then what nghttp2 has; false when the
 * connection must close. Stops (EPOLLOUT armed) when the socket is full. */
static bool conn_flush(conn *c)
{
    for (int guard = 0; guard < 1 << 20; guard++) {
        while (c->out_off < c->out_len) {
            ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                set_out_interest(c, true);
                return true;
            }
            if (n <= 0)
                return false;
            c->out_off += (size_t)n;
        }
        c->out_off = c->out_len = 0;
        /* Gather what nghttp2 has into one buffer, so one send() covers
         * many frames. */
        while (c->out_len < OUT_CAP) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(c->h2, &p);
            if (n < 0)
                return false;
            if (n == 0)
                break;
            if (c->out_len + (size_t)n > OUT_CAP) {
                uint8_t *bigger = realloc(c->out, c->out_len + (size_t)n);
                if (!bigger)
                    return false;
                c->out = bigger;
            }
            memcpy(c->out + c->out_len, p, (size_t)n);
            c->out_len += (size_t)n;
        }
        if (c->out_len == 0) {
            set_out_interest(c, false);
            return nghttp2_session_want_read(c->h2) || nghttp2_session_want_write(c->h2);
        }
    }
    return false;
}

static bool conn_read(conn *c)
{
    static uint8_t buf[READ_CHUNK];
    for (int guard = 0; guard < 1 << 20; guard++) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0)
            return false;
        if (nghttp2_session_mem_recv(c->h2, buf, (size_t)n) < 0)
            return false;
        if (n < (ssize_t)sizeof buf)
            return true; /* drained: answer before reading more */
    }
    return true;
}

static void on_accept(int lfd)
{
    for (int guard = 0; guard < 1024; guard++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = calloc(1, sizeof *c);
        if (!c || !(c->out = malloc(OUT_CAP)) ||
            nghttp2_session_server_new(&c->h2, callbacks, c) != 0) {
            if (c)
                free(c->out);
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        /* The same settings libsvccomm's server announces. */
        nghttp2_settings_entry iv[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
        };
        nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 || !conn_flush(c))
            conn_free(c);
    }
}

int main(int argc, char **argv)
{
    unsigned long port;
    if (argc != 2 || parse_uint(argv[1], 1, 65535, &port) != 0) {
        fprintf(stderr, "usage: bare_nghttp2_server PORT\n");
        return 2;
    }
    sigset_t stop;
    struct sockaddr_in addr;
    if (server_setup(port, &stop, &addr) != 0)
        return 1;
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sfd < 0 || lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(lfd, 1024) != 0) {
        perror("bare_nghttp2_server: listen");
        return 1;
    }
    if (nghttp2_session_callbacks_new(&callbacks) != 0)
        return 1;
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    /* data.ptr NULL = the listener; &sfd = the signal */
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &sfd};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) != 0 ||
        epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &sev) != 0) {
        perror("bare_nghttp2_server: epoll");
        return 1;
    }
    printf("listening on grpc://127.0.0.1:%lu\n", port);
    fflush(stdout);
    bool running = true;
    while (running) {
        struct epoll_event evs[MAX_EVENTS];
        int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                on_accept(lfd);
            } else if (evs[i].data.ptr == &sfd) {
                running = false;
            } else {
                conn *c = evs[i].data.ptr;
                bool ok = true;
                if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                    ok = conn_read(c);
                if (ok)
                    ok = conn_flush(c);
                if (!ok)
                    conn_free(c);
            }
        }
    }
    /* Connections still open are closed by the exit. */
    close(lfd);
    close(sfd);
    close(epfd);
    nghttp2_session_callbacks_del(callbacks);
    return 0;
}
