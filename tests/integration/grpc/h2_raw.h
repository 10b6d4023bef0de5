/*
 * A raw HTTP/2 client for tests that must send what a well-behaved client
 * never would: frames are written by hand over a blocking TCP socket, only
 * HPACK comes from nghttp2. It records what the server answers per stream
 * (:status, grpc-status, grpc-message, other headers, DATA, RST_STREAM) and
 * per connection (SETTINGS, GOAWAY, end of the connection).
 *
 * It answers the server's SETTINGS and PINGs and hands DATA window back as
 * it arrives (unless asked not to), but keeps no send window of its own:
 * tests send less than the server's initial windows (1 MiB per stream).
 * Every wait is bounded; failures fail the cmocka test.
 */
#ifndef H2_RAW_H
#define H2_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H2_MAX_STREAMS 1100 /* client stream ids 1 .. 2 * H2_MAX_STREAMS - 1 */

enum {
    H2_DATA = 0x0,
    H2_HEADERS = 0x1,
    H2_RST_STREAM = 0x3,
    H2_SETTINGS = 0x4,
    H2_PING = 0x6,
    H2_GOAWAY = 0x7,
    H2_WINDOW_UPDATE = 0x8,
    H2_CONTINUATION = 0x9,
};
enum { H2_END_STREAM = 0x1, H2_ACK = 0x1, H2_END_HEADERS = 0x4, H2_PADDED = 0x8, H2_PRIORITY = 0x20 };

/* h2_open flags. */
enum {
    H2_NO_PREFACE = 1,   /* connect only: the test writes what it likes, and
                          * nothing is written for it (no ACKs) */
    H2_NO_ACK = 2,       /* leave the server's SETTINGS unacknowledged */
    H2_NO_WINDOW = 4,    /* never send WINDOW_UPDATE (a reader that does not read) */
};

typedef struct h2_stream {
    int http_status;       /* :status; 0 = none */
    int grpc_status;       /* -1 = none */
    char grpc_message[256];
    char headers[4096];    /* every other header, "name: value\n" */
    int header_blocks;
    bool trailers_only;    /* the first header block ended the stream */
    int rst;               /* RST_STREAM error code; -1 = none */
    bool ended;            /* END_STREAM or RST_STREAM seen */
    size_t data_len;       /* DATA payload bytes */
    uint8_t data[256];     /* the first of them */
} h2_stream;

typedef struct h2 h2;

/* Connects to 127.0.0.1:port; unless H2_NO_PREFACE, sends the client
 * preface and SETTINGS and waits for the server's SETTINGS. */
h2 *h2_open(int port, int flags);
void h2_close(h2 *c);
/* Ends our direction of the TCP connection (FIN); the server may still
 * write. */
void h2_shutdown_write(h2 *c);
/* Closes with a TCP reset (RST) instead of FIN, as a crashed client does. */
void h2_reset(h2 *c);

/* Raw bytes and raw frames. */
void h2_write(h2 *c, const void *p, size_t n);
void h2_frame(h2 *c, uint8_t type, uint8_t flags, int32_t id, const void *p, size_t n);

/* Takes the next client stream id, for frames written by hand. */
int32_t h2_new_id(h2 *c);
/* A header block (name, value, ..., NULL) on stream `id` (0 = the next new
 * one), split into HEADERS + CONTINUATION frames; returns the stream id. */
int32_t h2_headers(h2 *c, int32_t id, const char *const *nv, bool end);
/* The headers of a normal gRPC request for `path`, then `extra`
 * (name, value, ..., NULL; may be NULL). */
int32_t h2_call(h2 *c, const char *path, const char *const *extra, bool end);
/* DATA frames of at most 16 KiB. */
void h2_data(h2 *c, int32_t id, const void *p, size_t n, bool end);
/* One length-prefixed gRPC message with compressed flag `flag`. */
void h2_message(h2 *c, int32_t id, uint8_t flag, const void *p, size_t n, bool end);

/* Reads and handles frames until `done(c, arg)` or `ms` pass or the
 * connection ends; returns whether done held. */
bool h2_wait(h2 *c, int ms, bool (*done)(h2 *c, void *arg), void *arg);
/* Until stream `id` ended. */
bool h2_wait_end(h2 *c, int32_t id, int ms);
/* Until the server closed the connection. */
bool h2_wait_closed(h2 *c, int ms);
/* A PING round trip: the server has handled everything sent before. */
bool h2_ping(h2 *c, int ms);

h2_stream *h2_result(h2 *c, int32_t id);
bool h2_is_closed(const h2 *c);
int h2_goaway(const h2 *c);                /* GOAWAY error code; -1 = none */
uint32_t h2_max_streams(const h2 *c);      /* the server's SETTINGS_MAX_CONCURRENT_STREAMS */

#endif
