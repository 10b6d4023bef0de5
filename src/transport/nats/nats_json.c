/*
 * A strict JSON reader (RFC 8259) for the few replies the NATS backend
 * reads off the network itself (nats_js_ack.c): one pass over the bytes,
 * no tree and no allocation. Anything malformed is refused; members the
 * caller does not know are checked and skipped; nesting is bounded.
 */
#include <stdint.h>
#include <string.h>

#include "nats.h"

/* Deeper than any reply nats-server sends; bounds the recursion. */
#define MAX_DEPTH 16

/* The scanning loops work on locals: a store through a char pointer may
 * alias r->p, which would otherwise be reloaded at every byte. */
static void skip_ws(nats_json *r)
{
    const char *p = r->p, *end = r->end;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    r->p = p;
}

static bool eat(nats_json *r, char c)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static bool literal(nats_json *r, const char *word)
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

static bool read_hex4(nats_json *r, unsigned *out)
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
static bool read_unicode_escape(nats_json *r, sink *s)
{
    unsigned cp;
    if (!read_hex4(r, &cp))
        return false;
    if (cp >= 0xD800 && cp <= 0xDBFF && r->end - r->p >= 6 && r->p[0] == '\\' &&
        r->p[1] == 'u') {
        nats_json peek = {r->p + 2, r->end};
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

static bool read_escape(nats_json *r, sink *s)
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
static bool read_string(nats_json *r, sink *s)
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

static bool digit(const nats_json *r)
{
    return r->p < r->end && *r->p >= '0' && *r->p <= '9';
}

/* A number as JSON writes it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool skip_number(nats_json *r)
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

bool svc_nats_json_uint(nats_json *r, uint64_t max, uint64_t *out)
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

bool svc_nats_json_bool(nats_json *r, bool *out)
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

/* The members of an object whose "{" was read. */
static bool read_members(nats_json *r, nats_json_member_fn member, void *ud, int depth)
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
        /* A key too long for the buffer is none of the caller's. */
        if (!member(r, (nats_json_key){buf, ks.full ? 0 : ks.len}, ud, depth))
            return false;
    } while (eat(r, ','));
    return eat(r, '}');
}

static bool skip_member(nats_json *r, nats_json_key k, void *ud, int depth)
{
    (void)k;
    (void)ud;
    return svc_nats_json_skip(r, depth + 1);
}

bool svc_nats_json_skip(nats_json *r, int depth)
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
            if (!svc_nats_json_skip(r, depth + 1))
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

bool svc_nats_json_object(nats_json *r, nats_json_member_fn member, void *ud, int depth)
{
    return eat(r, '{') && read_members(r, member, ud, depth);
}

bool svc_nats_json_string(nats_json *r, char *buf, size_t cap, size_t *len, bool *cut)
{
    sink s = {buf, cap, 0, false};
    if (!read_string(r, &s))
        return false;
    *len = s.len;
    *cut = s.full;
    return true;
}

bool svc_nats_json_end(nats_json *r)
{
    skip_ws(r);
    return r->p == r->end;
}
