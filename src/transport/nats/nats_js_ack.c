/*
 * What a JetStream publish's reply says, read from the network bytes
 * without cnats: the token at the end of its subject (which publish it
 * answers) and its JSON body, the stream's PubAck
 *   {"stream":"ORDERS","seq":42,"duplicate":true}
 * or an API error
 *   {"error":{"code":503,"err_code":10077,"description":"..."},"stream":"ORDERS","seq":0}
 * cnats parses the whole body into a JSON tree for its ack handler (and
 * frees it again), several allocations per publish; this reads it in one
 * pass. Strict JSON (RFC 8259): anything malformed is refused, unknown
 * members are skipped, nesting is bounded.
 */
#include <stdint.h>
#include <string.h>

#include "nats.h"

/* Deeper than any reply nats-server sends; bounds the recursion. */
#define MAX_DEPTH 16

/* Base 64 with letters, digits, '-' and '_': valid in any subject token,
 * and short (a reply subject's every byte is parsed by cnats and by the
 * server). */
static const char digits64[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

size_t svc_nats_js_token_format(uint64_t token, char out[SVC_NATS_JS_TOKEN_MAX + 1])
{
    char tmp[SVC_NATS_JS_TOKEN_MAX];
    size_t n = 0;
    do {
        tmp[n++] = digits64[token & 63];
        token >>= 6;
    } while (token);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

static int digit64(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 36;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

bool svc_nats_js_token_parse(const char *s, size_t len, uint64_t *out)
{
    /* Exactly what svc_nats_js_token_format writes: no leading zero and
     * no more than 64 bits, so one token has one spelling. */
    if (len == 0 || len > SVC_NATS_JS_TOKEN_MAX || (len > 1 && s[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = digit64(s[i]);
        if (d < 0 || v >> 58)
            return false;
        v = v << 6 | (unsigned)d;
    }
    *out = v;
    return true;
}

/* ---- a strict JSON reader over [p, end) ---- */

typedef struct reader {
    const char *p, *end;
} reader;

/* The scanning loops work on locals: a store through a char pointer may
 * alias r->p, which would otherwise be reloaded at every byte. */
static void skip_ws(reader *r)
{
    const char *p = r->p, *end = r->end;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    r->p = p;
}

static bool eat(reader *r, char c)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static bool literal(reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex4(reader *r, unsigned *out)
{
    if (r->end - r->p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_value(r->p[i]);
        if (d < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    r->p += 4;
    *out = v;
    return true;
}

/* Where a string's decoded bytes go: at most cap - 1 of them, then a NUL
 * (a UTF-8 sequence that does not fit whole is left out). NULL buf: only
 * validated. */
typedef struct sink {
    char *buf;
    size_t cap, len;
    bool full;
} sink;

static void put(sink *s, const char *bytes, size_t n)
{
    if (!s->buf || s->full)
        return;
    if (s->len + n >= s->cap) {
        n = s->cap - 1 - s->len; /* what fits; read_string mends a cut sequence */
        s->full = true;
    }
    memcpy(s->buf + s->len, bytes, n);
    s->len += n;
}

static void put_code_point(sink *s, unsigned cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12);
        b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18);
        b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    put(s, b, n);
}

/* \uXXXX, after the "\u": a surrogate pair is one code point; a lone
 * surrogate (valid JSON, not a character) becomes U+FFFD. */
static bool read_unicode_escape(reader *r, sink *s)
{
    unsigned cp;
    if (!read_hex4(r, &cp))
        return false;
    if (cp >= 0xD800 && cp <= 0xDBFF && r->end - r->p >= 6 && r->p[0] == '\\' &&
        r->p[1] == 'u') {
        reader peek = {r->p + 2, r->end};
        unsigned lo;
        if (!read_hex4(&peek, &lo))
            return false;
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            r->p = peek.p;
            put_code_point(s, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
            return true;
        }
    }
    put_code_point(s, cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp);
    return true;
}

static bool read_escape(reader *r, sink *s)
{
    if (r->p >= r->end)
        return false;
    char c = *r->p++, out;
    switch (c) {
    case '"':
    case '\\':
    case '/':
        out = c;
        break;
    case 'b':
        out = '\b';
        break;
    case 'f':
        out = '\f';
        break;
    case 'n':
        out = '\n';
        break;
    case 'r':
        out = '\r';
        break;
    case 't':
        out = '\t';
        break;
    case 'u':
        return read_unicode_escape(r, s);
    default:
        return false;
    }
    put(s, &out, 1);
    return true;
}

/* Bytes that end a run of a string's plain bytes: its end, an escape,
 * and the control characters JSON does not allow raw. */
static const bool string_stop[256] = {[0 ... 0x1F] = true, ['"'] = true, ['\\'] = true};

/* The length of b[0..n) without a UTF-8 sequence cut short at its end. */
static size_t utf8_whole(const char *b, size_t n)
{
    size_t i = n, cont = 0;
    while (i > 0 && cont < 3 && ((unsigned char)b[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    if (i == 0)
        return n;
    unsigned char lead = (unsigned char)b[i - 1];
    size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    return cont < need ? i - 1 : n;
}

/* A string, the opening quote next (after white space). Raw control
 * characters are refused, as JSON wants; other bytes pass as they are. */
static bool read_string(reader *r, sink *s)
{
    if (!eat(r, '"'))
        return false;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            if (s->buf) {
                if (s->full)
                    s->len = utf8_whole(s->buf, s->len);
                s->buf[s->len] = '\0';
            }
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            r->p++;
            if (!read_escape(r, s))
                return false;
            continue;
        }
        const char *run = r->p, *p = run, *end = r->end;
        while (p < end && !string_stop[(unsigned char)*p])
            p++;
        r->p = p;
        put(s, run, (size_t)(p - run));
    }
    return false;
}

static bool digit(const reader *r)
{
    return r->p < r->end && *r->p >= '0' && *r->p <= '9';
}

/* A number as JSON writes it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool skip_number(reader *r)
{
    if (r->p < r->end && *r->p == '-')
        r->p++;
    if (!digit(r))
        return false;
    if (*r->p++ != '0')
        while (digit(r))
            r->p++;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (!digit(r))
            return false;
        while (digit(r))
            r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (!digit(r))
            return false;
        while (digit(r))
            r->p++;
    }
    return true;
}

/* A non-negative integer no larger than max, written as JSON writes one
 * (the members we read are Go integers: no fraction, no exponent). */
static bool read_uint(reader *r, uint64_t max, uint64_t *out)
{
    skip_ws(r);
    if (!digit(r))
        return false;
    uint64_t v = 0;
    const char *p = r->p, *end = r->end;
    if (*p == '0') {
        p++;
    } else {
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            uint64_t d = (uint64_t)(*p - '0');
            if (v > max / 10 || (v == max / 10 && d > max % 10))
                return false;
            v = v * 10 + d;
        }
    }
    r->p = p;
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
        return false;
    *out = v;
    return true;
}

static bool read_bool(reader *r, bool *out)
{
    skip_ws(r);
    if (literal(r, "true"))
        *out = true;
    else if (literal(r, "false"))
        *out = false;
    else
        return false;
    return true;
}

static bool skip_value(reader *r, int depth);

/* The members of an object whose "{" was read: each key goes to `member`,
 * which reads the value (or skips it) and says whether it was valid. */
typedef struct key {
    const char *s;
    size_t len;
} key;

static bool key_is(key k, const char *name)
{
    size_t n = strlen(name); /* a constant: folded */
    return k.len == n && memcmp(k.s, name, n) == 0;
}

typedef bool (*member_fn)(reader *r, key k, void *ud, int depth);

static bool read_members(reader *r, member_fn member, void *ud, int depth)
{
    if (depth > MAX_DEPTH)
        return false;
    if (eat(r, '}'))
        return true;
    do {
        char buf[32];
        sink ks = {buf, sizeof buf, 0, false};
        if (!read_string(r, &ks) || !eat(r, ':'))
            return false;
        /* A key too long for the buffer is none of ours. */
        if (!member(r, (key){buf, ks.full ? 0 : ks.len}, ud, depth))
            return false;
    } while (eat(r, ','));
    return eat(r, '}');
}

static bool skip_member(reader *r, key k, void *ud, int depth)
{
    (void)k;
    (void)ud;
    return skip_value(r, depth + 1);
}

static bool skip_value(reader *r, int depth)
{
    if (depth > MAX_DEPTH)
        return false;
    skip_ws(r);
    if (r->p >= r->end)
        return false;
    sink none = {0};
    switch (*r->p) {
    case '"':
        return read_string(r, &none);
    case '{':
        r->p++;
        return read_members(r, skip_member, NULL, depth);
    case '[':
        r->p++;
        if (eat(r, ']'))
            return true;
        do {
            if (!skip_value(r, depth + 1))
                return false;
        } while (eat(r, ','));
        return eat(r, ']');
    case 't':
        return literal(r, "true");
    case 'f':
        return literal(r, "false");
    case 'n':
        return literal(r, "null");
    default:
        return skip_number(r);
    }
}

/* ---- the PubAck ---- */

static bool error_member(reader *r, key k, void *ud, int depth)
{
    nats_puback *pa = ud;
    uint64_t v;
    if (key_is(k, "code")) {
        if (!read_uint(r, 999, &v))
            return false;
        pa->code = (int)v;
        return true;
    }
    if (key_is(k, "err_code")) {
        if (!read_uint(r, UINT16_MAX, &v))
            return false;
        pa->err_code = (int)v;
        return true;
    }
    if (key_is(k, "description")) {
        sink s = {pa->description, sizeof pa->description, 0, false};
        return read_string(r, &s);
    }
    return skip_value(r, depth + 1);
}

static bool ack_member(reader *r, key k, void *ud, int depth)
{
    nats_puback *pa = ud;
    if (key_is(k, "stream")) {
        char name[2]; /* only whether there is one */
        sink s = {name, sizeof name, 0, false};
        if (!read_string(r, &s))
            return false;
        pa->has_stream = s.len > 0 || s.full;
        return true;
    }
    if (key_is(k, "seq"))
        return read_uint(r, UINT64_MAX, &pa->seq);
    if (key_is(k, "duplicate"))
        return read_bool(r, &pa->duplicate);
    if (key_is(k, "error")) {
        pa->is_error = true;
        return eat(r, '{') && read_members(r, error_member, pa, depth + 1);
    }
    return skip_value(r, depth + 1);
}

bool svc_nats_puback_parse(const char *data, size_t len, nats_puback *out)
{
    /* Not the whole description: the members set what they read. */
    out->has_stream = out->duplicate = out->is_error = false;
    out->seq = 0;
    out->code = out->err_code = 0;
    out->description[0] = '\0';
    reader r = {data, data + len};
    if (!eat(&r, '{') || !read_members(&r, ack_member, out, 0))
        return false;
    skip_ws(&r);
    if (r.p != r.end)
        return false;
    return out->is_error || out->has_stream;
}
