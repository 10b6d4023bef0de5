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

#include "anchor_util.h"

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

    size_t len;
    char *body = hello_body(name, &len);
    if (!body)
        return MHD_NO;

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

int main(int argc, char **argv)
{
    unsigned long port, threads = 2;
    if (argc < 2 || argc > 3 || parse_uint(argv[1], 1, 65535, &port) != 0 ||
        (argc == 3 && parse_uint(argv[2], 1, 256, &threads) != 0)) {
        fprintf(stderr, "usage: %s PORT [THREADS]   (PORT 1-65535, THREADS 1-256, default 2)\n", argv[0]);
        return 2;
    }

    sigset_t stop;
    struct sockaddr_in addr;
    if (server_setup(port, &stop, &addr) != 0)
        return 1;

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
