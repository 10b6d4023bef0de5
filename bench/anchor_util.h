/*
 * Helpers the anchor programs share (bare_mhd, ulfius_hello,
 * raw_curl_client, raw_curl_socket): argument parsing and the JSON escaping the two hello
 * servers need to answer exactly what libsvccomm's greeter answers.
 */
#ifndef SVC_BENCH_ANCHOR_UTIL_H
#define SVC_BENCH_ANCHOR_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Parses a decimal unsigned number in [lo, hi]; returns 0 on success. */
static inline int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

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
static inline size_t json_escape(const char *s, char *out)
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

/* {"message":"Hello, <name>!"} with the name escaped, as the greeter
 * answers; malloc'd, NULL when out of memory. */
static inline char *hello_body(const char *name, size_t *len)
{
    static const char prefix[] = "{\"message\":\"Hello, ";
    static const char suffix[] = "!\"}";
    size_t esc_len = json_escape(name, NULL);
    *len = sizeof prefix - 1 + esc_len + sizeof suffix - 1;
    char *body = malloc(*len + 1);
    if (body) {
        memcpy(body, prefix, sizeof prefix - 1);
        json_escape(name, body + sizeof prefix - 1);
        memcpy(body + sizeof prefix - 1 + esc_len, suffix, sizeof suffix);
    }
    return body;
}

/* A curl write callback that reads response bodies and drops them. */
static inline size_t discard_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* What a hello server does before it starts threads: block SIGINT and
 * SIGTERM (into *stop) so every thread inherits the mask and only the main
 * thread's sigwait() sees them, and make its address, 127.0.0.1:port (the
 * only address the benchmarks ever use). */
static inline int server_setup(unsigned long port, sigset_t *stop, struct sockaddr_in *addr)
{
    sigemptyset(stop);
    sigaddset(stop, SIGINT);
    sigaddset(stop, SIGTERM);
    if (sigprocmask(SIG_BLOCK, stop, NULL) != 0) {
        perror("sigprocmask");
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return 0;
}

#endif
