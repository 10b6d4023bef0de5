#include "grpc_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <svccomm/msg.h>
#include <zlib.h>

#include "core/base64.h"
#include "core/error.h"

/* ---- messages ---- */

void svc_grpc_deframer_init(svc_grpc_deframer *d, size_t max)
{
    memset(d, 0, sizeof *d);
    d->max = max;
}

void svc_grpc_deframer_free(svc_grpc_deframer *d)
{
    free(d->body);
    d->body = NULL;
}

bool svc_grpc_deframer_idle(const svc_grpc_deframer *d)
{
    return d->prefix_len == 0;
}

void svc_grpc_prefix(uint8_t out[SVC_GRPC_PREFIX], size_t len, bool compressed)
{
    out[0] = compressed ? 1 : 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

/* The prefix is complete: check it and get ready for the body. */
static svc_code start_body(svc_grpc_deframer *d)
{
    if (d->prefix[0] > 1)
        return svc_fail(SVC_INTERNAL, "bad compressed flag %u in a message prefix", d->prefix[0]);
    d->compressed = d->prefix[0] == 1;
    d->body_len = (size_t)d->prefix[1] << 24 | (size_t)d->prefix[2] << 16 |
                  (size_t)d->prefix[3] << 8 | d->prefix[4];
    if (d->body_len > d->max)
        return svc_fail(SVC_RESOURCE_EXHAUSTED,
                        "received message larger than max (%zu vs. %zu)", d->body_len, d->max);
    d->body_got = 0;
    return SVC_OK;
}

/* Room for `need` bytes of the body. It grows as bytes arrive (doubling, up
 * to the announced length): a prefix alone costs nothing, whatever size it
 * announces. */
static bool body_room(svc_grpc_deframer *d, size_t need)
{
    if (d->body && need <= d->body_cap)
        return true;
    size_t cap = d->body_cap * 2 > 16384 ? d->body_cap * 2 : 16384;
    cap = cap < d->body_len ? cap : d->body_len;
    cap = cap > need ? cap : need;
    uint8_t *grown = realloc(d->body, cap ? cap : 1);
    if (!grown)
        return false;
    d->body = grown;
    d->body_cap = cap;
    return true;
}

svc_code svc_grpc_deframe(svc_grpc_deframer *d, const uint8_t *p, size_t n, svc_grpc_message_fn fn,
                          void *ud)
{
    while (n > 0) {
        if (d->prefix_len < SVC_GRPC_PREFIX) {
            size_t take = SVC_GRPC_PREFIX - d->prefix_len;
            take = take < n ? take : n;
            memcpy(d->prefix + d->prefix_len, p, take);
            d->prefix_len += take;
            p += take;
            n -= take;
            if (d->prefix_len < SVC_GRPC_PREFIX)
                return SVC_OK;
            svc_code rc = start_body(d);
            if (rc)
                return rc;
        }
        size_t take = d->body_len - d->body_got;
        take = take < n ? take : n;
        if (take || d->body_len == 0) {
            if (!body_room(d, d->body_got + take))
                return svc_fail_oom();
            memcpy(d->body + d->body_got, p, take);
        }
        d->body_got += take;
        p += take;
        n -= take;
        if (d->body_got < d->body_len)
            return SVC_OK;
        uint8_t *body = d->body;
        d->body = NULL;
        d->body_cap = 0;
        d->prefix_len = 0;
        svc_code rc = fn(ud, body, d->body_len, d->compressed);
        if (rc)
            return rc;
    }
    return SVC_OK;
}

svc_code svc_grpc_gzip(const uint8_t *in, size_t n, uint8_t **out, size_t *out_len)
{
    z_stream z = {0};
    /* 15 window bits + 16: a gzip wrapper, not a zlib one. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return svc_fail_oom();
    size_t cap = deflateBound(&z, (uLong)n);
    uint8_t *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return svc_fail_oom();
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(buf);
        return svc_fail(SVC_INTERNAL, "gzip failed");
    }
    *out = buf;
    return SVC_OK;
}

svc_code svc_grpc_gunzip(const uint8_t *in, size_t n, size_t max, uint8_t **out, size_t *out_len)
{
    z_stream z = {0};
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return svc_fail_oom();
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    size_t cap = n * 4 < max ? (n * 4 > 256 ? n * 4 : 256) : max + 1;
    uint8_t *buf = NULL;
    svc_code rc = SVC_OK;
    for (;;) {
        uint8_t *grown = realloc(buf, cap ? cap : 1);
        if (!grown) {
            rc = svc_fail_oom();
            break;
        }
        buf = grown;
        z.next_out = buf + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out);
        int zr = inflate(&z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END && z.avail_in == 0)
            break;
        if (z.total_out > max) {
            rc = svc_fail(SVC_RESOURCE_EXHAUSTED,
                          "decompressed message larger than max (%zu)", max);
            break;
        }
        if (zr == Z_STREAM_END || (zr != Z_OK && zr != Z_BUF_ERROR) ||
            (zr == Z_BUF_ERROR && z.avail_in == 0 && z.avail_out > 0)) {
            rc = svc_fail(SVC_INTERNAL, "corrupt gzip message");
            break;
        }
        if (z.avail_out == 0)
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
    }
    *out_len = z.total_out;
    inflateEnd(&z);
    if (rc == SVC_OK && *out_len > max)
        rc = svc_fail(SVC_RESOURCE_EXHAUSTED, "decompressed message larger than max (%zu)", max);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return SVC_OK;
}

/* ---- headers ---- */

bool svc_grpc_content_type_ok(const char *v, size_t n)
{
    static const char base[] = "application/grpc";
    size_t b = sizeof base - 1;
    return n >= b && strncasecmp(v, base, b) == 0 && (n == b || v[b] == '+' || v[b] == ';');
}

const char *svc_grpc_payload_type(const char *v, size_t n)
{
    static const char json[] = "application/grpc+json";
    size_t j = sizeof json - 1;
    if (n >= j && strncasecmp(v, json, j) == 0 && (n == j || v[j] == ';'))
        return SVC_CT_JSON;
    return SVC_CT_PROTO;
}

const char *svc_grpc_content_type(const char *payload_ct)
{
    return payload_ct && strncasecmp(payload_ct, SVC_CT_JSON, strlen(SVC_CT_JSON)) == 0
               ? "application/grpc+json"
               : "application/grpc";
}

#define NAME(s) {s, sizeof s - 1}
static const struct {
    const char *name;
    size_t len;
} reserved[] = {
    NAME("content-type"), NAME("te"), NAME("grpc-timeout"), NAME("grpc-encoding"),
    NAME("grpc-accept-encoding"), NAME("grpc-status"), NAME("grpc-message"),
    NAME("content-length"), NAME("host"), NAME("connection"), NAME("keep-alive"),
    NAME("proxy-connection"), NAME("transfer-encoding"), NAME("upgrade"),
};
#undef NAME

bool svc_grpc_header_reserved(const char *name, size_t n)
{
    if (n > 0 && name[0] == ':')
        return true;
    /* Every request header passes here: lengths first, the compare only
     * when one matches, and case-sensitive: names are lower case (HTTP/2
     * requires it of received ones, svc_md folds its keys). */
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (reserved[i].len == n && memcmp(reserved[i].name, name, n) == 0)
            return true;
    return false;
}

svc_code svc_grpc_header_to_md(svc_md *md, const char *name, size_t nlen, const char *value,
                               size_t vlen)
{
    if (svc_grpc_header_reserved(name, nlen) || !svc_md_key_valid(name, nlen))
        return SVC_OK;
    if (!svc_md_key_is_bin(name, nlen)) {
        if (!svc_md_text_valid(value, vlen))
            return SVC_OK; /* not representable as text metadata */
        return svc_md_append(md, name, nlen, value, vlen);
    }
    unsigned char *bytes = malloc(vlen / 4 * 3 + 3);
    if (!bytes)
        return svc_fail_oom();
    /* Repeated "-bin" headers may arrive joined with ",", which PROTOCOL-HTTP2
     * says to split before decoding: each piece is one value. */
    const char *p = value, *end = value + vlen, *comma;
    svc_code rc = SVC_OK;
    do {
        comma = memchr(p, ',', (size_t)(end - p));
        const char *a = p, *b = comma ? comma : end;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        size_t len;
        rc = svc_base64_decode(a, (size_t)(b - a), bytes, &len)
                 ? svc_md_append(md, name, nlen, (const char *)bytes, len)
                 : svc_fail(SVC_INTERNAL, "metadata '%.*s' is not base64", (int)nlen, name);
        p = comma ? comma + 1 : end;
    } while (rc == SVC_OK && comma);
    free(bytes);
    return rc;
}

char *svc_grpc_message_encode(const char *msg)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(msg);
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p < 0x20 || *p > 0x7E || *p == '%') {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *svc_grpc_message_decode(const char *v, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        /* %00 stays as written: it would end the C string. */
        if (v[i] == '%' && n - i >= 3 && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0 &&
            (hexval(v[i + 1]) | hexval(v[i + 2])) != 0) {
            *o++ = (char)(hexval(v[i + 1]) << 4 | hexval(v[i + 2]));
            i += 2;
        } else {
            *o++ = v[i];
        }
    }
    *o = '\0';
    return out;
}

bool svc_grpc_status_parse(const char *v, size_t n, svc_code *out)
{
    if (n == 0 || n > 2)
        return false;
    int code = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        code = code * 10 + (v[i] - '0');
    }
    if (code >= SVC_CODE_COUNT)
        return false;
    *out = (svc_code)code;
    return true;
}

svc_code svc_grpc_code_from_http(int s)
{
    switch (s) {
    case 400: return SVC_INTERNAL;
    case 401: return SVC_UNAUTHENTICATED;
    case 403: return SVC_PERMISSION_DENIED;
    case 404: return SVC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504: return SVC_UNAVAILABLE;
    default: return SVC_UNKNOWN;
    }
}

svc_code svc_grpc_code_from_rst(uint32_t e)
{
    switch (e) {
    case 0x7: return SVC_UNAVAILABLE;        /* REFUSED_STREAM: never processed */
    case 0x8: return SVC_CANCELLED;          /* CANCEL */
    case 0xb: return SVC_RESOURCE_EXHAUSTED; /* ENHANCE_YOUR_CALM */
    case 0xc: return SVC_PERMISSION_DENIED;  /* INADEQUATE_SECURITY */
    default: return SVC_INTERNAL;
    }
}

bool svc_grpc_accepts_gzip(const char *v, size_t n)
{
    const char *p = v, *end = v + n;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *t = p;
        while (p < end && *p != ',' && *p != ' ')
            p++;
        if (p - t == 4 && strncasecmp(t, "gzip", 4) == 0)
            return true;
    }
    return false;
}
