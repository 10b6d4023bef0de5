/*
 * ulfius_hello — benchmark anchor: the "hello" route served by Ulfius 2.7
 * (Debian's libulfius-dev), a REST framework on top of libmicrohttpd.
 *
 *   GET /hello?name=X  ->  200 application/json  {"message":"Hello, X!"}
 *   GET /hello         ->  200 application/json  {"message":"Hello, World!"}
 *   anything else      ->  Ulfius's own 404
 *
 * Usage: ulfius_hello PORT [THREADS]    (THREADS defaults to 2)
 *
 * Listens on 127.0.0.1 only, prints "listening on http://127.0.0.1:PORT"
 * once the socket is open, and stops cleanly on SIGINT/SIGTERM.
 *
 * Threading.  ulfius_start_framework() always runs libmicrohttpd with
 * MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD (one OS
 * thread per client connection, no pool and no epoll), and offers no knob
 * for that.  The only way Ulfius lets you choose is
 * ulfius_start_framework_with_mhd_options(), which hands your own flags and
 * option array to MHD_start_daemon() (the array must carry Ulfius's
 * mhd_request_completed and ulfius_uri_logger callbacks).  That is what
 * THREADS >= 1 uses, in the same mode as bench/bare_mhd.c: an epoll-driven
 * pool of THREADS internal polling threads with MHD_USE_TURBO.  It is by
 * far the faster of the two here: wrk -t2 -c64 -d5s, three interleaved runs
 * each, median 105.0k req/s for the pool against 61.7k for the stock
 * thread-per-connection mode, so it is the default.  THREADS = 0 selects
 * the stock ulfius_start_framework() for comparison.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ulfius.h>

#include "anchor_util.h"

#define POOL_FLAGS (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ERROR_LOG)

/* The route.  Ulfius has already parsed and percent-decoded the query
 * string into request->map_url. */
static int hello(const struct _u_request *request, struct _u_response *response, void *user_data)
{
    (void)user_data;
    const char *name = u_map_get(request->map_url, "name");
    if (name == NULL || *name == '\0')
        name = "World";

    size_t len;
    char *body = hello_body(name, &len);
    if (!body)
        return U_CALLBACK_ERROR;

    /* Ulfius copies the body; the header map is sent as is. */
    int ok = ulfius_set_binary_body_response(response, 200, body, len) == U_OK &&
             u_map_put(response->map_header, "Content-Type", "application/json") == U_OK;
    free(body);
    return ok ? U_CALLBACK_COMPLETE : U_CALLBACK_ERROR;
}

int main(int argc, char **argv)
{
    unsigned long port, threads = 2;
    if (argc < 2 || argc > 3 || parse_uint(argv[1], 1, 65535, &port) != 0 ||
        (argc == 3 && parse_uint(argv[2], 0, 256, &threads) != 0)) {
        fprintf(stderr,
                "usage: %s PORT [THREADS]   (PORT 1-65535, THREADS 1-256, default 2;\n"
                "       THREADS 0 = Ulfius's stock thread-per-connection mode)\n",
                argv[0]);
        return 2;
    }

    sigset_t stop;
    struct sockaddr_in addr;
    if (server_setup(port, &stop, &addr) != 0)
        return 1;

    struct _u_instance inst;
    if (ulfius_init_instance(&inst, (unsigned int)port, &addr, NULL) != U_OK) {
        fprintf(stderr, "ulfius_hello: ulfius_init_instance failed\n");
        return 1;
    }
    if (ulfius_add_endpoint_by_val(&inst, "GET", NULL, "/hello", 0, hello, NULL) != U_OK) {
        fprintf(stderr, "ulfius_hello: ulfius_add_endpoint_by_val failed\n");
        ulfius_clean_instance(&inst);
        return 1;
    }

    int rc;
    if (threads == 0) {
        rc = ulfius_start_framework(&inst);
    } else {
        /* Ulfius requires the first two entries; the socket address has to
         * be passed here too, as this path ignores inst.bind_address.
         * THREADS = 1 means one polling thread and no pool: MHD only accepts
         * a pool of 2 or more, so the pool entry becomes the terminator. */
        struct MHD_OptionItem ops[] = {
            {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
            {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
            {MHD_OPTION_SOCK_ADDR, 0, &addr},
            {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
            {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)threads, NULL},
            {MHD_OPTION_END, 0, NULL},
        };
        rc = ulfius_start_framework_with_mhd_options(&inst, POOL_FLAGS, ops);
    }
    if (rc != U_OK) {
        fprintf(stderr, "ulfius_hello: cannot start Ulfius on 127.0.0.1:%lu\n", port);
        ulfius_clean_instance(&inst);
        return 1;
    }
    printf("listening on http://127.0.0.1:%lu\n", port);
    fflush(stdout);

    int sig = 0;
    rc = sigwait(&stop, &sig);
    if (rc != 0)
        fprintf(stderr, "ulfius_hello: sigwait: %s\n", strerror(rc));
    ulfius_stop_framework(&inst);
    ulfius_clean_instance(&inst);
    return rc == 0 ? 0 : 1;
}
