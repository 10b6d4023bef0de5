/*
 * Everything grpc_wire.c reads from a peer, as pure functions: the message
 * deframer (fed whole and in random chunks, which must agree), gunzip under
 * a size limit, header → metadata (base64 "-bin" values), the grpc-message
 * decoder, grpc-status and grpc-timeout parsing, content types and
 * grpc-accept-encoding. abort() marks a finding.
 *
 * Input: byte 0 sets the message limit (2^(b0 % 21)), byte 1 seeds the
 * chunking, byte 2 where header name and value split; the rest is the data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <svccomm/msg.h>

#include "core/clock.h"
#include "core/metadata.h"
#include "transport/grpc/grpc_wire.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_grpc_wire: %s\n", what);
    abort();
}

/* ---- the deframer, whole and chunked ---- */

#define MAX_SEEN 64

typedef struct seen {
    size_t max;
    size_t n;
    size_t len[MAX_SEEN];
    uint64_t hash[MAX_SEEN];
} seen;

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211u;
    return h;
}

static svc_code on_message(void *ud, uint8_t *body, size_t len, bool compressed)
{
    seen *s = ud;
    if (len > s->max)
        die("a message over the limit was delivered");
    if (s->n < MAX_SEEN) {
        s->len[s->n] = len;
        s->hash[s->n] = fnv(body, len) ^ compressed;
    }
    s->n++;
    svc_code rc = SVC_OK;
    if (compressed) {
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        rc = svc_grpc_gunzip(body, len, s->max, &plain, &plain_len);
        if (rc == SVC_OK && plain_len > s->max)
            die("gunzip went past its limit");
        free(plain);
    }
    free(body);
    return rc;
}

static svc_code deframe(const uint8_t *p, size_t n, size_t max, unsigned seed, seen *s, bool *idle)
{
    svc_grpc_deframer d;
    svc_grpc_deframer_init(&d, max);
    *s = (seen){.max = max};
    svc_code rc = SVC_OK;
    while (n > 0 && rc == SVC_OK) {
        size_t take = n;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            take = 1 + (seed >> 8) % (n < 64 ? n : 64);
        }
        rc = svc_grpc_deframe(&d, p, take, on_message, s);
        p += take;
        n -= take;
    }
    *idle = svc_grpc_deframer_idle(&d);
    svc_grpc_deframer_free(&d);
    return rc;
}

static void check_deframer(const uint8_t *p, size_t n, size_t max, unsigned seed)
{
    seen whole, chunked;
    bool idle_whole, idle_chunked;
    svc_code a = deframe(p, n, max, 0, &whole, &idle_whole);
    svc_code b = deframe(p, n, max, seed | 1, &chunked, &idle_chunked);
    if (a != b || whole.n != chunked.n)
        die("chunking changed the outcome");
    for (size_t i = 0; i < whole.n && i < MAX_SEEN; i++)
        if (whole.len[i] != chunked.len[i] || whole.hash[i] != chunked.hash[i])
            die("chunking changed a message");
    if (a == SVC_OK && idle_whole != idle_chunked)
        die("chunking changed where the deframer stopped");
}

/* ---- gzip ---- */

static void check_gzip(const uint8_t *p, size_t n, size_t max)
{
    uint8_t *out = NULL;
    size_t len = 0;
    if (svc_grpc_gunzip(p, n, max, &out, &len) == SVC_OK && len > max)
        die("gunzip went past its limit");
    free(out);
    /* What we compress comes back, within a limit of its own size. */
    uint8_t *z = NULL;
    size_t zlen = 0;
    if (svc_grpc_gzip(p, n, &z, &zlen) != SVC_OK)
        return;
    if (svc_grpc_gunzip(z, zlen, n, &out, &len) != SVC_OK || len != n ||
        (n && memcmp(out, p, n) != 0))
        die("gzip did not round-trip");
    free(out);
    if (n > 0 && svc_grpc_gunzip(z, zlen, n - 1, &out, &len) != SVC_RESOURCE_EXHAUSTED)
        die("gunzip ignored a limit one byte short");
    free(z);
}

/* ---- headers ---- */

static void check_header(const char *name, size_t nlen, const char *value, size_t vlen)
{
    svc_md md;
    svc_md_init(&md);
    svc_code rc = svc_grpc_header_to_md(&md, name, nlen, value, vlen);
    if (rc != SVC_OK && rc != SVC_INTERNAL)
        die("header_to_md failed other than INTERNAL");
    for (size_t i = 0; i < md.n; i++) {
        if (md.v[i].value[md.v[i].value_len] != '\0')
            die("a metadata value is not NUL-terminated");
        if (!svc_md_key_valid(md.v[i].key, strlen(md.v[i].key)))
            die("an invalid metadata key was added");
        if (svc_grpc_header_reserved(md.v[i].key, strlen(md.v[i].key)))
            die("a reserved header became metadata");
    }
    svc_md_clear(&md);
}

static void check_message(const char *v, size_t n)
{
    char *d = svc_grpc_message_decode(v, n);
    if (d && strlen(d) > n)
        die("grpc-message decoded longer than its text");
    free(d);
    /* Whatever we encode reads back the same, in 0x20..0x7E only. */
    char *text = strndup(v, n);
    if (!text)
        return;
    char *e = svc_grpc_message_encode(text);
    if (e) {
        for (const char *c = e; *c; c++)
            if (*c < 0x20 || *c > 0x7e)
                die("grpc-message encoded a byte it must escape");
        char *back = svc_grpc_message_decode(e, strlen(e));
        if (back && strcmp(back, text) != 0)
            die("grpc-message did not round-trip");
        free(back);
        free(e);
    }
    free(text);
}

static void check_values(const char *v, size_t n)
{
    svc_code code;
    if (svc_grpc_status_parse(v, n, &code)) {
        if ((unsigned)code >= SVC_CODE_COUNT || n > 2)
            die("grpc-status parsed out of range");
    }
    int64_t ns;
    if (svc_timeout_parse(v, n, &ns)) {
        if (ns < 0)
            die("grpc-timeout parsed negative");
        /* Our own rendering of it never reads back shorter (rounding up),
         * short of the clamp near INT64_MAX. */
        char text[16];
        int64_t back;
        svc_timeout_format(ns, text);
        if (ns > 0 && ns < INT64_MAX / 2 &&
            (!svc_timeout_parse(text, strlen(text), &back) || back < ns))
            die("grpc-timeout did not round-trip");
    }
    const char *pt = svc_grpc_payload_type(v, n);
    if (strcmp(pt, SVC_CT_PROTO) != 0 && strcmp(pt, SVC_CT_JSON) != 0)
        die("a payload type other than proto or JSON");
    if (svc_grpc_content_type_ok(v, n) && (n < 16 || strncasecmp(v, "application/grpc", 16) != 0))
        die("a content type not starting with application/grpc was accepted");
    svc_grpc_accepts_gzip(v, n);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t max = (size_t)1 << (data[0] % 21);
    unsigned seed = data[1];
    const uint8_t *p = data + 3;
    size_t n = size - 3;
    size_t cut = n ? data[2] % (n + 1) : 0;

    check_deframer(p, n, max, seed);
    check_gzip(p, n, max);
    check_header((const char *)p, cut, (const char *)p + cut, n - cut);
    check_message((const char *)p, n);
    check_values((const char *)p, n);
    return 0;
}
