/*
 * bare_mhd — benchmark anchor: the smallest sensible libmicrohttpd server
 * for the "hello" route, with no framework in between.
 *
 *   GET /hello?name=X  ->  200 application/json  {"message":"Hello, X!"}
 *   GET /hello         ->  200 application/json  {"message":"Hello, World!"}
 *   any other path     ->  404
 *   /hello, not GET/HEAD -> 405
 *
 * Usage: bare_mhd PORT [THREADS]      (THREADS defaults to 2)
 *
 * Listens on 127.0.0.1 only, prints "listening on http://127.0.0.1:PORT"
 * once the socket is open, and stops cleanly on SIGINT/SIGTERM.
 *
 * Written against libmicrohttpd 0.9.75 (Debian 12).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

/*
 * Threading mode.  On this machine (2 cores, Linux) the fastest mode is an
 * epoll-driven pool of THREADS internal polling threads sharing one listen
 * socket.  MHD_USE_TURBO ("disables certain calls to shutdown(), enables
 * aggressive non-blocking optimistic reads", mostly under epoll) was
 * measured with and without, wrk -t2 -c64 -d5s, 14 interleaved runs each:
 * median 109.5k req/s with it against 105.9k without (means 111.9k and
 * 110.2k, run-to-run stdev about 16k for both; it won 9 of 14 pairs).
 * That is a tie within the noise with a slight edge to TURBO, so TURBO is
 * kept.
 */
#define SERVER_FLAGS (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ERROR_LOG)

/* Sentinel stored in *con_cls on the first call for a request. */
static int request_seen;

/*
 * Appends the JSON string-content escape of `s` to `out` (which must hold at
 * least json_escape(s, NULL) + 1 bytes) and returns the number of bytes
 * written, not counting the terminating NUL.  With out == NULL nothing is
 * written and only the length is returned.
 *
 * '"' and '\\' get a backslash, control characters get their short form or
 * \u00XX, valid UTF-8 is copied as is and every byte that does not start a
 * valid UTF-8 sequence becomes \ufffd, so the result is always valid JSON.
 */
static size_t json_escape(const char *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;

#define PUT(str, len)                              \
    do {                                           \
        if (out)                                   \
            memcpy(out + n, (str), (size_t)(len)); \
        n += (size_t)(len);                        \
    } while (0)

    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            PUT(e, 2);
            p++;
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            switch (c) {
            case '\b': PUT("\\b", 2); break;
            case '\f': PUT("\\f", 2); break;
            case '\n': PUT("\\n", 2); break;
            case '\r': PUT("\\r", 2); break;
            case '\t': PUT("\\t", 2); break;
            default:   PUT(e, 6); break;
            }
            p++;
        } else if (c < 0x80) {
            PUT(p, 1);
            p++;
        } else {
            /* Length and minimum value of a UTF-8 sequence from its lead byte;
             * rejects overlong forms, surrogates and values above U+10FFFF. */
            size_t len = 0;
            unsigned long cp = 0, min = 0;
            if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; min = 0x80; }
            else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; min = 0x800; }
            else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; min = 0x10000; }
            size_t i = 1;
            for (; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                    break;
                cp = (cp << 6) | (p[i] & 0x3f);
            }
            if (len != 0 && i == len && cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff)) {
                PUT(p, len);
                p += len;
            } else {
                PUT("\\ufffd", 6);
                p++;
            }
        }
    }
#undef PUT
    if (out)
        out[n] = '\0';
    return n;
}

/* Queues a fixed JSON error body with the given status. */
static enum MHD_Result queue_static(struct MHD_Connection *conn, unsigned int status, const char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/*
 * The access handler.  libmicrohttpd calls it at least twice per request:
 * first once the headers are in (con_cls still NULL), then for each chunk
 * of body, then once more with *upload_data_size == 0.
 *
 * The response is queued on the second (or last) call, never on the first:
 * libmicrohttpd 0.9.75 treats a response queued before the request was
 * fully read as an early reply and closes the connection after sending it
 * with "Connection: close", which turns a keep-alive benchmark into a
 * connect-per-request one (measured here: ~20k req/s instead of ~110k).
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;

    if (*con_cls == NULL) { /* first call: headers only */
        *con_cls = &request_seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) { /* a body we do not need: discard it */
        *upload_data_size = 0;
        return MHD_YES;
    }

    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (strcmp(url, "/hello") != 0)
        return queue_static(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
    if (!is_get)
        return queue_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"error\":\"method not allowed\"}");

    /* MHD has already percent-decoded the query argument. */
    const char *name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name");
    if (name == NULL || *name == '\0')
        name = "World";

    static const char prefix[] = "{\"message\":\"Hello, ";
    static const char suffix[] = "!\"}";
    size_t esc_len = json_escape(name, NULL);
    size_t len = sizeof prefix - 1 + esc_len + sizeof suffix - 1;
    char *body = malloc(len + 1);
    if (!body)
        return MHD_NO;
    memcpy(body, prefix, sizeof prefix - 1);
    json_escape(name, body + sizeof prefix - 1);
    memcpy(body + sizeof prefix - 1 + esc_len, suffix, sizeof suffix);

    /* MHD owns `body` from here and free()s it with the response. */
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Parses a decimal unsigned number in [lo, hi]; returns 0 on success. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long port, threads = 2;
    if (argc < 2 || argc > 3 || parse_uint(argv[1], 1, 65535, &port) != 0 ||
        (argc == 3 && parse_uint(argv[2], 1, 256, &threads) != 0)) {
        fprintf(stderr, "usage: %s PORT [THREADS]   (PORT 1-65535, THREADS 1-256, default 2)\n", argv[0]);
        return 2;
    }

    /* Block the stop signals before MHD starts its threads, so they all
     * inherit the mask and only sigwait() below ever sees the signals. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop, NULL) != 0) {
        perror("sigprocmask");
        return 1;
    }

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* THREADS = 1 means one internal polling thread and no pool: MHD only
     * accepts a pool size of 2 or more (it warns about 1), so the pool
     * option, last in the array, is turned into the terminator then. */
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &addr},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
        {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(SERVER_FLAGS, (uint16_t)port, NULL, NULL, on_request, NULL,
                                            MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_mhd: cannot start libmicrohttpd on 127.0.0.1:%lu\n", port);
        return 1;
    }
    printf("listening on http://127.0.0.1:%lu\n", port);
    fflush(stdout);

    int sig = 0, rc = sigwait(&stop, &sig);
    if (rc != 0)
        fprintf(stderr, "bare_mhd: sigwait: %s\n", strerror(rc));
    MHD_stop_daemon(d);
    return rc == 0 ? 0 : 1;
}
