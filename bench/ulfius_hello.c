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

#define POOL_FLAGS (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ERROR_LOG)

/*
 * Appends the JSON string-content escape of `s` to `out` (which must hold at
 * least json_escape(s, NULL) + 1 bytes) and returns the number of bytes
 * written, not counting the terminating NUL.  With out == NULL nothing is
 * written and only the length is returned.  Same rules as bare_mhd.c:
 * '"' and '\\' get a backslash, control characters their short form or
 * \u00XX, valid UTF-8 is copied and any other byte becomes \ufffd.  (Ulfius
 * already drops query values that are not valid UTF-8, as check_utf8 is on
 * by default, so the last rule is only a safety net here.)
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
            /* Rejects overlong forms, surrogates and values above U+10FFFF. */
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

/* The route.  Ulfius has already parsed and percent-decoded the query
 * string into request->map_url. */
static int hello(const struct _u_request *request, struct _u_response *response, void *user_data)
{
    (void)user_data;
    const char *name = u_map_get(request->map_url, "name");
    if (name == NULL || *name == '\0')
        name = "World";

    static const char prefix[] = "{\"message\":\"Hello, ";
    static const char suffix[] = "!\"}";
    size_t esc_len = json_escape(name, NULL);
    size_t len = sizeof prefix - 1 + esc_len + sizeof suffix - 1;
    char *body = malloc(len + 1);
    if (!body)
        return U_CALLBACK_ERROR;
    memcpy(body, prefix, sizeof prefix - 1);
    json_escape(name, body + sizeof prefix - 1);
    memcpy(body + sizeof prefix - 1 + esc_len, suffix, sizeof suffix);

    /* Ulfius copies the body; the header map is sent as is. */
    int ok = ulfius_set_binary_body_response(response, 200, body, len) == U_OK &&
             u_map_put(response->map_header, "Content-Type", "application/json") == U_OK;
    free(body);
    return ok ? U_CALLBACK_COMPLETE : U_CALLBACK_ERROR;
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
        (argc == 3 && parse_uint(argv[2], 0, 256, &threads) != 0)) {
        fprintf(stderr,
                "usage: %s PORT [THREADS]   (PORT 1-65535, THREADS 1-256, default 2;\n"
                "       THREADS 0 = Ulfius's stock thread-per-connection mode)\n",
                argv[0]);
        return 2;
    }

    /* Block the stop signals before any thread exists, so every
     * libmicrohttpd thread inherits the mask and only sigwait() below ever
     * sees them. */
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
