/*
 * The gRPC backend: gRPC over HTTP/2 with nghttp2, on the context's
 * libevent loops, cleartext (grpc://, prior knowledge) or TLS (grpcs://,
 * OpenSSL, ALPN h2).
 *
 * Threads: a connection and its streams belong to one I/O loop; every
 * nghttp2 call happens on that loop's thread. Application threads (handlers
 * replying, clients sending on streams) post tasks to the loop; a caller
 * that already is on the loop acts at once.
 */
#ifndef SVC_GRPC_H
#define SVC_GRPC_H

#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "core/call.h"
#include "core/ccall.h"
#include "core/ctx.h"
#include "core/flow.h"
#include "grpc_mem.h"
#include "grpc_wire.h"

extern const svc_transport_ops svc_grpc_transport;

typedef struct grpc_conn grpc_conn;

/* ---- streams: what both roles keep per HTTP/2 stream ---- */

#define GRPC_SMALL_OUT 64 /* bytes of framed messages a stream holds itself */

/* Wire sizes of received messages not yet consumed by the application, in
 * order: HTTP/2 window is handed back only as each is consumed. */
typedef struct grpc_credits {
    size_t *v; /* `small` until more are queued: a unary call has one */
    size_t head, len, cap;
    size_t small[4];
} grpc_credits;

typedef struct grpc_stream {
    struct grpc_stream *prev, *next; /* the connection's streams */
    grpc_conn *conn;                 /* NULL once the connection is gone */
    int32_t id;                      /* -1 before submission */
    uint8_t small[GRPC_SMALL_OUT];   /* framed messages not yet sent that
                                      * were small and came while `out` was
                                      * empty: a unary reply needs no
                                      * evbuffer, whose smallest chain is a
                                      * 1 KiB malloc */
    size_t small_off, small_len;
    struct evbuffer *out;            /* framed messages after those in
                                      * `small`; made on first use */
    bool deferred;                   /* nghttp2 waits for more data */
    bool out_end;                    /* end after `out` drains */
    bool peer_gzip;                  /* the peer accepts gzip */
    char in_unsupported[32];         /* the request's grpc-encoding, when it is
                                      * one we lack (server only) */
    svc_flow *gate;                  /* the application's send gate */
    atomic_int in_transit;           /* sends posted, not yet appended */
    atomic_llong in_transit_bytes;   /* ... their payload bytes */
    atomic_llong out_len;            /* `out`'s length, for other threads */
    atomic_bool out_high;            /* unsent bytes (in transit or in `out`)
                                      * went past GRPC_OUT_HIGH */
    svc_grpc_deframer in;
    size_t in_wire;                  /* wire bytes of the message being read */
    grpc_credits credits;
    bool closed;                     /* nghttp2 closed the stream */
} grpc_stream;

void svc_grpc_stream_init(grpc_stream *s, grpc_conn *c, size_t max_in, svc_flow *gate);
void svc_grpc_stream_destroy(grpc_stream *s);
/* An application thread is about to post a send of `len` bytes: the gate
 * closes past GRPC_IN_TRANSIT messages in flight to the loop, or past
 * GRPC_OUT_HIGH bytes not yet sent (in flight or in `out`). */
void svc_grpc_stream_posted(grpc_stream *s, size_t len);
/* Frames `m`'s payload onto the stream, gzip'd when asked and accepted,
 * and resumes nghttp2 if it waited. The caller keeps `m`: the bytes are
 * copied, or a large payload's buffer is referenced until sent. `posted`: it came through
 * svc_grpc_stream_posted. The gate closes while the bytes not yet sent are past
 * GRPC_OUT_HIGH, and opens when they are back under GRPC_OUT_LOW. */
svc_code svc_grpc_stream_send(grpc_stream *s, const svc_msg *m, bool posted);
/* nghttp2's data source read callback body: copies from `small`, then `out`. */
ssize_t svc_grpc_stream_read(grpc_stream *s, uint8_t *buf, size_t len, uint32_t *flags);
/* Where a stream's received messages go. */
typedef struct grpc_sink {
    bool gunzip_ok;  /* grpc-encoding gzip was announced */
    const char *ct;  /* the messages' content type */
    svc_msg *into;   /* not NULL: the next message's payload goes into this
                      * one (a unary request: no message of its own) */
    svc_code (*deliver)(void *ud, svc_msg *m);
    void *ud;
} grpc_sink;

/* Called for each DATA chunk: deframes, and for each message calls
 * to->deliver(ud, msg) with its payload (decompressed), in `to->into`
 * for the first if given, else in a new message of content type `ct`. */
svc_code svc_grpc_stream_data(grpc_stream *s, const uint8_t *p, size_t n, const grpc_sink *to);
/* The application consumed the oldest delivered message: give back its
 * window. With `all`, every delivered message's (unary calls, whose one
 * message is bounded by the size limit anyway). */
void svc_grpc_stream_consumed(grpc_stream *s, bool all);
/* Nudges nghttp2 to send what the stream has queued. */
void svc_grpc_stream_resume(grpc_stream *s);

/* ---- connections ---- */

/* How a connection's bytes meet its socket: cleartext straight through
 * the socket (grpc_io_plain.c), TLS through an OpenSSL bufferevent
 * (grpc_io_tls.c). Both run on the connection's loop. Input goes to
 * svc_grpc_conn_recv() between svc_grpc_conn_recv_begin() and _end();
 * a finished connect (and TLS handshake) to svc_grpc_conn_connected();
 * failures to svc_grpc_conn_close(). */
typedef struct grpc_io_ops {
    /* Starts I/O on the accepted `fd`, or connects to `to` when fd < 0
     * (c->connect_failed when refused at once). Takes `ssl` (TLS only)
     * even when it fails (false: out of resources); takes `fd` only when
     * it succeeds. */
    bool (*open)(grpc_conn *c, int fd, SSL *ssl, const struct sockaddr *to, socklen_t to_len);
    /* Moves what is in c->out towards the socket, as far as it takes
     * now; the rest goes when it can (then svc_grpc_conn_flush_now again). */
    void (*write)(grpc_conn *c);
    /* Bytes taken by write() and not yet on the socket. */
    size_t (*queued)(const grpc_conn *c);
    /* No more reading or writing (the connection is dead). */
    void (*stop)(grpc_conn *c);
    /* Frees the I/O state and closes the socket. */
    void (*free)(grpc_conn *c);
} grpc_io_ops;

extern const grpc_io_ops svc_grpc_io_plain;
extern const grpc_io_ops svc_grpc_io_tls;

typedef struct grpc_role {
    nghttp2_session_callbacks *callbacks;
    /* The connection is gone: end every stream still listed. */
    void (*lost)(grpc_conn *c, const char *why);
    /* TLS and the HTTP/2 preface are done (client: ready for calls). */
    void (*ready)(grpc_conn *c);
    /* The connection is freed; the owner unlinks it. */
    void (*freed)(grpc_conn *c);
} grpc_role;

struct grpc_conn {
    svc_ctx *ctx;
    svc_loop *loop;
    const grpc_role *role;
    void *owner;               /* the listener or the channel */
    grpc_conn *prev, *next;    /* the owner's connections */
    const grpc_io_ops *io;
    int fd;                    /* plain: the socket */
    struct event *rev, *wev;   /* plain: readable; writable (armed while
                                * the socket is full or connecting) */
    bool connecting;           /* plain: connect() not finished */
    bool write_armed;          /* plain: wev is added */
    struct bufferevent *bev;   /* TLS */
    uint8_t *out;              /* frames from nghttp2 gathered for one
                                * write: [out_off, out_len) not yet taken */
    size_t out_off, out_len, out_cap;
    nghttp2_session *h2;
    grpc_mem mem;              /* the session's */
    bool server;
    bool is_ready;             /* connected, TLS done, ALPN h2 */
    bool dead;                 /* closed; the memory goes in a posted task */
    bool connect_failed;       /* the connect failed at once */
    bool goaway_received;
    bool awaiting_settings;    /* server: no preface and SETTINGS yet */
    bool in_recv;              /* on_read is feeding nghttp2: flushes wait
                                * for the end of its input */
    grpc_stream *streams;
    size_t n_streams;
    struct event *keepalive;   /* PING timer */
    struct event *flush_ev;    /* made active by svc_grpc_conn_flush */
    bool flush_pending;
    bool ping_outstanding;
    svc_time last_ping_recv;
    int ping_strikes;
    int64_t keepalive_ns;      /* 0 = none */
    struct sockaddr_storage peer;
    socklen_t peer_len;
};

/* A connection on `loop` over socket `fd` (-1 = connect to `to`), TLS when
 * `ssl` is given (taken). NULL when out of resources; `fd` is then still
 * the caller's to close. */
grpc_conn *svc_grpc_conn_new(svc_ctx *ctx, svc_loop *loop, const grpc_role *role, void *owner,
                         bool server, int fd, SSL *ssl, const struct sockaddr *to,
                         socklen_t to_len);
/* Sends what nghttp2 has queued, at the end of the loop's current turn;
 * closes the connection when it is done. */
void svc_grpc_conn_flush(grpc_conn *c);
/* The same at once: for the I/O, when the socket has room. */
void svc_grpc_conn_flush_now(grpc_conn *c);
/* For the I/O: input arrives (see grpc_io_ops). recv returns false once
 * the connection is closed; end flushes what the input called for. */
void svc_grpc_conn_recv_begin(grpc_conn *c);
bool svc_grpc_conn_recv(grpc_conn *c, const uint8_t *p, size_t n);
void svc_grpc_conn_recv_end(grpc_conn *c);
/* For the I/O: connected (TLS: handshake done, ALPN h2). */
void svc_grpc_conn_connected(grpc_conn *c);
/* For the I/O: the bytes in c->out are all taken; keeps a large buffer
 * only while it is in use. */
void svc_grpc_conn_out_taken(grpc_conn *c);
/* Closes at once (streams are told through role->lost). */
void svc_grpc_conn_close(grpc_conn *c, const char *why);
/* Server: closes the connection unless the client's preface and SETTINGS
 * (and, first, TLS) are done within `ns`, so that a client that connects
 * and says nothing does not hold it forever. */
void svc_grpc_conn_await_preface(grpc_conn *c, int64_t ns);
/* Graceful: GOAWAY now, close when the last stream ended. */
void svc_grpc_conn_goaway(grpc_conn *c, uint32_t error_code, const char *debug);
void svc_grpc_conn_link(grpc_conn *c, grpc_stream *s);
void svc_grpc_conn_unlink(grpc_conn *c, grpc_stream *s);
/* The nghttp2 callbacks both roles share (sending, strikes reset). */
void svc_grpc_conn_common_callbacks(nghttp2_session_callbacks *cb);
/* What both roles do with PING and GOAWAY frames; roles call it first in
 * their on_frame_recv. */
int svc_grpc_conn_on_frame_recv(grpc_conn *c, const nghttp2_frame *f);

/* ---- TLS ---- */
svc_code svc_grpc_tls_server_ctx(const svc_tls_opts *o, SSL_CTX **out);
svc_code svc_grpc_tls_client_ctx(const svc_tls_opts *o, SSL_CTX **out);
/* A client session for `name` (SNI and, unless insecure, the name the
 * certificate must carry). */
SSL *svc_grpc_tls_client_ssl(SSL_CTX *ctx, const char *name, bool verify_name);
/* Why the handshake failed, for a status message. */
void svc_grpc_tls_error(struct bufferevent *bev, char *out, size_t n);

/* ---- the two roles (grpc_server.c, grpc_client.c) ---- */
svc_code svc_grpc_listen(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                         svc_listener **out);
void svc_grpc_listener_quiesce(svc_listener *l);
void svc_grpc_listener_free(svc_listener *l);
void svc_grpc_call_reply(svc_call *c, svc_msg *resp);
svc_code svc_grpc_call_send(svc_call *c, svc_msg *m);
void svc_grpc_call_consumed(svc_call *c, size_t bytes);
void svc_grpc_call_free(svc_call *c);
const char *svc_grpc_call_peer(const svc_call *c);

svc_code svc_grpc_channel_new(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                              svc_channel **out);
void svc_grpc_channel_free(svc_channel *ch);
svc_conn_state svc_grpc_channel_state(const svc_channel *ch);
void svc_grpc_ccall_start(svc_channel *ch, svc_ccall *cc);
void svc_grpc_ccall_cancel(svc_channel *ch, svc_ccall *cc);
void svc_grpc_cstream_start(svc_channel *ch, svc_ccall *cc);
svc_code svc_grpc_cstream_send(svc_channel *ch, svc_ccall *cc, svc_msg *m);
svc_code svc_grpc_cstream_close_send(svc_channel *ch, svc_ccall *cc);
void svc_grpc_cstream_consumed(svc_channel *ch, svc_ccall *cc, size_t bytes);

/* Runs fn(ud) on `loop`: at once when this is its thread, else posted. */
void svc_grpc_on_loop(svc_loop *loop, svc_task_fn fn, void *ud);

/* Settings both roles announce. */
#define GRPC_STREAM_WINDOW (1 << 20)       /* per stream */
#define GRPC_CONN_WINDOW (16 << 20)        /* per connection */
#define GRPC_OUT_HIGH (1 << 20)            /* a stream's unsent bytes: close the gate */
#define GRPC_OUT_LOW (256 << 10)           /* ... reopen it */
#define GRPC_IN_TRANSIT 32                 /* sends on their way to the loop */
#define GRPC_REF_MIN (16 << 10)            /* messages this large are queued by
                                            * reference, not copied */
#define GRPC_CONN_OUT_HIGH (4 << 20)       /* a connection's unwritten bytes */
#define GRPC_MAX_SINGLE_IO (256 << 10)     /* bytes read or written per callback */
#define GRPC_READ_CHUNK (64 << 10)         /* bytes per read(), on the loop's stack */
#define GRPC_MAX_HEADER_LIST (16 << 10)
#define GRPC_MAX_CONCURRENT_STREAMS 1000   /* a server's, per connection */

#endif
