/*
 * TLS connections through an OpenSSL bufferevent, which does the handshake,
 * the record layer and the waiting for the socket; a flush hands it all its
 * frames in one bufferevent_write.
 */
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "grpc.h"

static void tls_write(grpc_conn *c)
{
    if (bufferevent_write(c->bev, c->out + c->out_off, c->out_len - c->out_off) != 0) {
        svc_grpc_conn_close(c, "out of memory");
        return;
    }
    svc_grpc_conn_out_taken(c);
}

static size_t tls_queued(const grpc_conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static void on_read(struct bufferevent *bev, void *arg)
{
    grpc_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_iovec v[16];
    svc_grpc_conn_recv_begin(c);
    while (!c->dead && evbuffer_get_length(in) > 0) {
        int n = evbuffer_peek(in, -1, NULL, v, 16);
        size_t total = 0;
        for (int i = 0; i < n && i < 16; i++) {
            if (!svc_grpc_conn_recv(c, v[i].iov_base, v[i].iov_len))
                return;
            total += v[i].iov_len;
        }
        evbuffer_drain(in, total);
    }
    svc_grpc_conn_recv_end(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    svc_grpc_conn_flush_now(arg); /* the output drained below the low-water mark */
}

/* The peer chose HTTP/2, as gRPC requires. */
static bool alpn_is_h2(struct bufferevent *bev)
{
    const unsigned char *proto = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &proto, &len);
    return len == 2 && memcmp(proto, "h2", 2) == 0;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    grpc_conn *c = arg;
    char why[256];
    if (what & BEV_EVENT_CONNECTED) {
        if (alpn_is_h2(bev))
            svc_grpc_conn_connected(c);
        else
            svc_grpc_conn_close(c, "the peer did not negotiate HTTP/2 (ALPN h2)");
    } else if (what & BEV_EVENT_EOF) {
        svc_grpc_conn_close(c, "the peer closed the connection");
    } else if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        svc_grpc_tls_error(bev, why, sizeof why);
        svc_grpc_conn_close(c, why);
    }
}

static bool tls_open(grpc_conn *c, int fd, SSL *ssl, const struct sockaddr *to, socklen_t to_len)
{
    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    c->bev = bufferevent_openssl_socket_new(
        svc_loop_base(c->loop), fd, ssl,
        c->server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING, opts);
    if (!c->bev) {
        SSL_free(ssl);
        return false;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, GRPC_CONN_OUT_HIGH / 4, 0);
    /* libevent reads and writes at most 16 KiB per callback by default:
     * a 1 MiB message took 64 trips round the loop (epoll_wait, a timer
     * reset, nghttp2, a flush) on each side. */
    bufferevent_set_max_single_read(c->bev, GRPC_MAX_SINGLE_IO);
    bufferevent_set_max_single_write(c->bev, GRPC_MAX_SINGLE_IO);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (fd < 0 && bufferevent_socket_connect(c->bev, to, (int)to_len) != 0)
        c->connect_failed = true; /* refused at once: reported like any later failure */
    /* As on plain sockets (grpc_io_plain.c): small frames go at once. */
    int one = 1;
    evutil_socket_t sock = bufferevent_getfd(c->bev);
    if (sock >= 0)
        setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return true;
}

static void tls_stop(grpc_conn *c)
{
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
}

static void tls_free(grpc_conn *c)
{
    bufferevent_free(c->bev); /* closes the socket, frees the SSL */
}

const grpc_io_ops svc_grpc_io_tls = {
    .open = tls_open,
    .write = tls_write,
    .queued = tls_queued,
    .stop = tls_stop,
    .free = tls_free,
};
