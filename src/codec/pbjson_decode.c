/*
 * svc_pb_from_json: proto3 JSON read straight into a protobuf-c message by a
 * small recursive-descent reader, with no DOM in between.
 *
 * cJSON is not used because it holds every number in a double, and 64-bit
 * integers must come through exactly. Every string, bytes buffer, repeated
 * array and sub-message is malloc'd and linked into the message as soon as
 * it exists, so that on any error protobuf_c_message_free_unpacked(m, NULL)
 * on the root frees all of it. Nesting depth is bounded, so hostile input
 * cannot overflow the stack.
 *
 * Well-known types (google.protobuf.Timestamp, Duration, Struct, wrappers...)
 * are read in their ordinary message form, not their special JSON forms.
 */
#include "codec/pbjson.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/error.h"

typedef struct dec {
    const char *p, *end, *start;
    unsigned flags;
    locale_t c_locale;
} dec;

/* A scalar JSON value: strings are decoded (and owned until taken), numbers
 * point into the input. TOK_OTHER is an object, array or null, left unread. */
typedef enum tok_kind { TOK_STRING, TOK_NUMBER, TOK_TRUE, TOK_FALSE, TOK_OTHER } tok_kind;

typedef struct token {
    tok_kind kind;
    const char *text;
    size_t len;
    char *owned;
} token;

static svc_code parse_message(dec *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage *m,
                              const svc_pbjson_path *path, int depth);

static svc_code dec_fail(const dec *r, const svc_pbjson_path *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static svc_code dec_fail(const dec *r, const svc_pbjson_path *path, const char *fmt, ...)
{
    char detail[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return svc_pbjson_fail(path, "%s at offset %zu", detail, (size_t)(r->p - r->start));
}

/* ---- lexing ---- */

/* The next character after whitespace, -1 at the end of the input. */
static int peek(dec *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
    return r->p < r->end ? (unsigned char)*r->p : -1;
}

static svc_code unexpected(const dec *r, const svc_pbjson_path *path, const char *wanted)
{
    if (r->p >= r->end)
        return dec_fail(r, path, "truncated input: expected %s", wanted);
    unsigned char c = (unsigned char)*r->p;
    if (c >= 0x20 && c < 0x7f)
        return dec_fail(r, path, "expected %s, found '%c'", wanted, c);
    return dec_fail(r, path, "expected %s, found byte 0x%02x", wanted, c);
}

static bool take_literal(dec *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

static bool take_null(dec *r)
{
    return peek(r) == 'n' && take_literal(r, "null");
}

static svc_code expect(dec *r, const svc_pbjson_path *path, char c, const char *wanted)
{
    if (peek(r) != c)
        return unexpected(r, path, wanted);
    r->p++;
    return SVC_OK;
}

/* Consumes the opening bracket of a container at nesting level `depth`, and
 * the closing one too when it is empty; *more says whether items follow. */
static svc_code open_container(dec *r, const svc_pbjson_path *path, int depth, char open,
                               bool *more)
{
    char close = open == '{' ? '}' : ']';
    svc_code rc = expect(r, path, open, open == '{' ? "an object" : "an array");
    if (rc)
        return rc;
    if (depth > SVC_PBJSON_MAX_DEPTH)
        return dec_fail(r, path, "nesting deeper than %d levels", SVC_PBJSON_MAX_DEPTH);
    *more = peek(r) != close;
    if (!*more)
        r->p++;
    return SVC_OK;
}

/* After an item: ',' means another follows, `close` ends the container. */
static svc_code next_item(dec *r, const svc_pbjson_path *path, char close, bool *more)
{
    int c = peek(r);
    if (c != ',' && c != close)
        return unexpected(r, path, close == '}' ? "',' or '}'" : "',' or ']'");
    r->p++;
    *more = c == ',';
    return SVC_OK;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const char *skip_digits(const char *p, const char *end)
{
    while (p < end && is_digit(*p))
        p++;
    return p;
}

/* Length of the RFC 8259 number at s, 0 if there is none. */
static size_t scan_number(const char *s, const char *end)
{
    const char *p = s, *d;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        p = skip_digits(p, end);
    else
        return 0;
    if (p < end && *p == '.') {
        d = skip_digits(++p, end);
        if (d == p)
            return 0;
        p = d;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        d = skip_digits(p, end);
        if (d == p)
            return 0;
        p = d;
    }
    return (size_t)(p - s);
}

static int hex_value(char c)
{
    if (is_digit(c))
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* The 4 hex digits after "\u" at p; -1 if they are not there. */
static long read_u_escape(const char *p, const char *end)
{
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape at *pc (a backslash, before `end`) into out; returns
 * the bytes written, 0 for a bad escape or an unpaired surrogate. */
static size_t unescape(const char **pc, const char *end, char *out)
{
    static const char names[] = "\"\\/bfnrt", values[] = "\"\\/\b\f\n\r\t";
    const char *c = *pc;
    const char *hit = c + 1 < end && c[1] ? strchr(names, c[1]) : NULL;
    if (hit) {
        *pc = c + 2;
        *out = values[hit - names];
        return 1;
    }
    long cp = read_u_escape(c, end);
    if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return 0;
    c += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = read_u_escape(c, end);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return 0;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        c += 6;
    }
    *pc = c;
    return put_utf8(out, (unsigned long)cp);
}

/* Reads a JSON string into a new NUL-terminated buffer; escapes only ever
 * shrink, so the raw length bounds the decoded one. */
static svc_code read_string(dec *r, const svc_pbjson_path *path, char **out, size_t *out_len)
{
    *out = NULL;
    if (peek(r) != '"')
        return unexpected(r, path, "a string");
    const char *s = r->p + 1, *q = s;
    while (q < r->end && *q != '"')
        q += *q == '\\' && q + 1 < r->end ? 2 : 1;
    if (q >= r->end) {
        r->p = r->end;
        return dec_fail(r, path, "truncated input: unterminated string");
    }
    if (!svc_pbjson_utf8_valid(s, (size_t)(q - s)))
        return dec_fail(r, path, "string is not valid UTF-8");
    char *buf = malloc((size_t)(q - s) + 1);
    if (!buf)
        return svc_fail_oom();
    size_t n = 0;
    for (const char *c = s; c < q;) {
        size_t w = 1;
        if ((unsigned char)*c < 0x20)
            w = 0;
        else if (*c == '\\')
            w = unescape(&c, q, buf + n);
        else
            buf[n] = *c++;
        if (w == 0) {
            free(buf);
            r->p = c;
            return dec_fail(r, path, (unsigned char)*c < 0x20 ? "control character in string"
                                                              : "invalid escape in string");
        }
        n += w;
    }
    buf[n] = '\0';
    r->p = q + 1;
    *out = buf;
    *out_len = n;
    return SVC_OK;
}

static svc_code read_token(dec *r, const svc_pbjson_path *path, token *t)
{
    int c = peek(r);
    *t = (token){.kind = TOK_OTHER};
    if (c == '"') {
        t->kind = TOK_STRING;
        svc_code rc = read_string(r, path, &t->owned, &t->len);
        t->text = t->owned;
        return rc;
    }
    if (c == '-' || is_digit((char)c)) {
        size_t n = scan_number(r->p, r->end);
        if (n == 0)
            return dec_fail(r, path, "malformed number");
        *t = (token){.kind = TOK_NUMBER, .text = r->p, .len = n};
        r->p += n;
        return SVC_OK;
    }
    if (take_literal(r, "true"))
        t->kind = TOK_TRUE;
    else if (take_literal(r, "false"))
        t->kind = TOK_FALSE;
    else if (c != '{' && c != '[' && c != 'n')
        return unexpected(r, path, "a value");
    return SVC_OK;
}

/* Skips one JSON value of an ignored field, checking its syntax all the same. */
static svc_code skip_value(dec *r, const svc_pbjson_path *path, int depth)
{
    int c = peek(r);
    bool more;
    svc_code rc;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        rc = open_container(r, path, depth + 1, (char)c, &more);
        while (!rc && more) {
            if (close == '}') {
                char *key;
                size_t len;
                rc = read_string(r, path, &key, &len);
                free(key);
                if (!rc)
                    rc = expect(r, path, ':', "':'");
            }
            if (!rc)
                rc = skip_value(r, path, depth + 1);
            if (!rc)
                rc = next_item(r, path, close, &more);
        }
        return rc;
    }
    if (take_null(r))
        return SVC_OK;
    token t;
    rc = read_token(r, path, &t);
    free(t.owned);
    if (!rc && t.kind == TOK_OTHER)
        rc = unexpected(r, path, "a value");
    return rc;
}

/* ---- scalar conversion ---- */

static const char *expected_text(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: return "a number";
    case PROTOBUF_C_TYPE_BOOL: return "true or false";
    case PROTOBUF_C_TYPE_ENUM: return "an enum name or number";
    case PROTOBUF_C_TYPE_STRING: return "a string";
    case PROTOBUF_C_TYPE_BYTES: return "a base64 string";
    default: return "an integer";
    }
}

static svc_code wrong_type(const dec *r, const svc_pbjson_path *path, ProtobufCType t)
{
    return dec_fail(r, path, "expected %s", expected_text(t));
}

typedef enum int_result { INT_OK, INT_FRACTION, INT_TOO_BIG } int_result;

static char digit_at(const char *ip, size_t ilen, const char *fp, size_t k)
{
    return k < ilen ? ip[k] : fp[k - ilen];
}

static bool mul_add(uint64_t *v, unsigned d)
{
    if (*v > (UINT64_MAX - d) / 10)
        return false;
    *v = *v * 10 + d;
    return true;
}

/* The exact value of a valid JSON number that must be an integer ("1e3" and
 * "2.0" are): its significant digits are scaled by the net exponent in
 * integer arithmetic, never through a double. */
static int_result number_as_integer(const char *s, size_t n, bool *neg, uint64_t *mag)
{
    const char *end = s + n, *ip = s + (*s == '-'), *fp;
    *neg = *s == '-';
    const char *p = skip_digits(ip, end);
    size_t ilen = (size_t)(p - ip), flen = 0;
    fp = p;
    if (p < end && *p == '.') {
        fp = ++p;
        p = skip_digits(p, end);
        flen = (size_t)(p - fp);
    }
    int64_t exp = 0;
    if (p < end) {
        bool eneg = *++p == '-';
        for (p += *p == '-' || *p == '+'; p < end; p++) {
            if (exp < 1000000) /* saturates: anything this large is out of range anyway */
                exp = exp * 10 + (*p - '0');
        }
        exp = eneg ? -exp : exp;
    }
    size_t first = 0, count = ilen + flen;
    while (first < count && digit_at(ip, ilen, fp, first) == '0')
        first++;
    while (count > first && digit_at(ip, ilen, fp, count - 1) == '0') {
        count--;
        exp++;
    }
    *mag = 0;
    if (first == count)
        return INT_OK;
    int64_t scale = exp - (int64_t)flen;
    if (scale < 0)
        return INT_FRACTION;
    if ((int64_t)(count - first) + scale > 20)
        return INT_TOO_BIG;
    for (size_t i = first; i < count; i++) {
        if (!mul_add(mag, (unsigned)(digit_at(ip, ilen, fp, i) - '0')))
            return INT_TOO_BIG;
    }
    for (; scale > 0; scale--) {
        if (!mul_add(mag, 0))
            return INT_TOO_BIG;
    }
    return INT_OK;
}

static bool is_number_text(const token *t)
{
    if (t->kind == TOK_NUMBER)
        return true;
    return t->kind == TOK_STRING && t->len > 0 && scan_number(t->text, t->text + t->len) == t->len;
}

/* Integers of every width and signedness, range-checked by their kind. */
static svc_code to_int(const dec *r, const token *t, const svc_pbjson_int_kind *k,
                       ProtobufCType type, void *dst, const svc_pbjson_path *path)
{
    if (!is_number_text(t))
        return wrong_type(r, path, type);
    bool neg;
    uint64_t mag;
    int_result res = number_as_integer(t->text, t->len, &neg, &mag);
    if (res == INT_FRACTION)
        return dec_fail(r, path, "%.*s is not an integer", (int)(t->len > 40 ? 40 : t->len),
                        t->text);
    uint64_t top = k->size == 8 ? UINT64_MAX : UINT32_MAX;
    uint64_t limit = k->is_signed ? top / 2 + neg : neg ? 0 : top;
    if (res == INT_TOO_BIG || mag > limit)
        return dec_fail(r, path, "%.*s is out of range for a %d-bit %s integer",
                        (int)(t->len > 40 ? 40 : t->len), t->text, k->size * 8,
                        k->is_signed ? "signed" : "unsigned");
    uint64_t v = neg ? 0 - mag : mag;
    if (k->size == 4) {
        uint32_t v32 = (uint32_t)v;
        memcpy(dst, &v32, sizeof v32);
    } else {
        memcpy(dst, &v, sizeof v);
    }
    return SVC_OK;
}

/* The strings proto3 JSON uses for the values JSON numbers cannot spell. */
static bool special_real(const token *t, double *v)
{
    static const struct {
        const char *name;
        double value;
    } specials[] = {{"NaN", NAN}, {"Infinity", INFINITY}, {"-Infinity", -INFINITY}};
    for (size_t i = 0; t->kind == TOK_STRING && i < sizeof specials / sizeof specials[0]; i++) {
        if (strcmp(t->text, specials[i].name) == 0 && strlen(t->text) == t->len) {
            *v = specials[i].value;
            return true;
        }
    }
    return false;
}

/* Floats are read with strtof, not rounded a second time through a double. */
static svc_code to_real(const dec *r, const token *t, ProtobufCType type, void *dst,
                        const svc_pbjson_path *path)
{
    bool single = type == PROTOBUF_C_TYPE_FLOAT;
    double v;
    if (!special_real(t, &v)) {
        if (!is_number_text(t))
            return wrong_type(r, path, type);
        char *text = strndup(t->text, t->len);
        if (!text)
            return svc_fail_oom();
        v = single ? strtof_l(text, NULL, r->c_locale) : strtod_l(text, NULL, r->c_locale);
        free(text);
        if (!isfinite(v))
            return dec_fail(r, path, "number out of range for a %s", single ? "float" : "double");
    }
    if (single)
        *(float *)dst = (float)v;
    else
        *(double *)dst = v;
    return SVC_OK;
}

static svc_code to_bool(const dec *r, const token *t, void *dst, const svc_pbjson_path *path)
{
    if (t->kind != TOK_TRUE && t->kind != TOK_FALSE)
        return wrong_type(r, path, PROTOBUF_C_TYPE_BOOL);
    *(protobuf_c_boolean *)dst = t->kind == TOK_TRUE;
    return SVC_OK;
}

static svc_code to_enum(const dec *r, const token *t, const ProtobufCEnumDescriptor *ed,
                        void *dst, const svc_pbjson_path *path, bool *ignored)
{
    if (t->kind == TOK_NUMBER)
        return to_int(r, t, svc_pbjson_int_kind_of(PROTOBUF_C_TYPE_INT32), PROTOBUF_C_TYPE_ENUM,
                      dst, path);
    if (t->kind != TOK_STRING)
        return wrong_type(r, path, PROTOBUF_C_TYPE_ENUM);
    const ProtobufCEnumValue *ev = strlen(t->text) == t->len
                                       ? protobuf_c_enum_descriptor_get_value_by_name(ed, t->text)
                                       : NULL;
    if (ev) {
        *(int32_t *)dst = ev->value;
        return SVC_OK;
    }
    if (r->flags & SVC_JSON_IGNORE_UNKNOWN) {
        *ignored = true;
        return SVC_OK;
    }
    return dec_fail(r, path, "unknown value \"%.40s\" for enum %s", t->text, ed->name);
}

static svc_code to_string(const dec *r, token *t, void *dst, const svc_pbjson_path *path)
{
    if (t->kind != TOK_STRING)
        return wrong_type(r, path, PROTOBUF_C_TYPE_STRING);
    /* protobuf-c strings are NUL-terminated: a NUL would cut them short. */
    if (strlen(t->owned) != t->len)
        return dec_fail(r, path, "string contains U+0000, which protobuf-c cannot hold");
    *(char **)dst = t->owned;
    t->owned = NULL;
    return SVC_OK;
}

static svc_code to_bytes(const dec *r, const token *t, void *dst, const svc_pbjson_path *path)
{
    if (t->kind != TOK_STRING)
        return wrong_type(r, path, PROTOBUF_C_TYPE_BYTES);
    ProtobufCBinaryData *bd = dst;
    bd->len = 0;
    bd->data = NULL;
    if (t->len == 0)
        return SVC_OK;
    /* At least len * 3 / 4 + 3 bytes, as svc_base64_decode wants. */
    unsigned char *buf = malloc(t->len / 4 * 3 + 6);
    if (!buf)
        return svc_fail_oom();
    size_t n;
    if (!svc_base64_decode(t->text, t->len, buf, &n)) {
        free(buf);
        return dec_fail(r, path, "invalid base64");
    }
    bd->data = buf;
    bd->len = n;
    return SVC_OK;
}

/* Stores the scalar `t` as a value of field `f` at `dst`. *ignored is set
 * when the value is skipped (an unknown enum name under IGNORE_UNKNOWN). */
static svc_code convert(const dec *r, const ProtobufCFieldDescriptor *f, token *t, void *dst,
                        const svc_pbjson_path *path, bool *ignored)
{
    const svc_pbjson_int_kind *k = svc_pbjson_int_kind_of(f->type);
    if (k)
        return to_int(r, t, k, f->type, dst, path);
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: return to_real(r, t, f->type, dst, path);
    case PROTOBUF_C_TYPE_BOOL: return to_bool(r, t, dst, path);
    case PROTOBUF_C_TYPE_ENUM: return to_enum(r, t, f->descriptor, dst, path, ignored);
    case PROTOBUF_C_TYPE_STRING: return to_string(r, t, dst, path);
    default: return to_bytes(r, t, dst, path); /* messages are parsed, not converted */
    }
}

/* ---- fields ---- */

static svc_code new_message(const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);
    if (!m)
        return svc_fail_oom();
    d->message_init(m);
    *out = m;
    return SVC_OK;
}

/* One value of field `f` into `dst` (a member or an array element) inside a
 * container at nesting level `depth`. */
static svc_code parse_value(dec *r, const ProtobufCFieldDescriptor *f, void *dst,
                            const svc_pbjson_path *path, int depth, bool *ignored)
{
    *ignored = false;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage **slot = dst;
        svc_code rc = new_message(f->descriptor, slot);
        return rc ? rc : parse_message(r, f->descriptor, *slot, path, depth + 1);
    }
    token t;
    svc_code rc = read_token(r, path, &t);
    if (!rc)
        rc = convert(r, f, &t, dst, path, ignored);
    free(t.owned);
    return rc;
}

static void mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (svc_pbjson_has_flag(f))
        *(protobuf_c_boolean *)svc_pbjson_at(m, f->quantifier_offset) = 1;
}

static svc_code parse_singular(dec *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                               const svc_pbjson_path *path, int depth, bool *ignored)
{
    uint32_t *oneof_case = NULL;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        oneof_case = svc_pbjson_at(m, f->quantifier_offset);
        const ProtobufCFieldDescriptor *set =
            protobuf_c_message_descriptor_get_field(m->descriptor, *oneof_case);
        if (set)
            return dec_fail(r, path, "its oneof already has '%s' set", set->name);
        /* Selected before parsing so that free_unpacked sees (and frees) a
         * sub-message this allocates, should parsing it fail. */
        *oneof_case = f->id;
    }
    svc_code rc = parse_value(r, f, svc_pbjson_at(m, f->offset), path, depth, ignored);
    if (rc)
        return rc;
    if (*ignored && oneof_case)
        *oneof_case = 0;
    else if (!*ignored)
        mark_present(m, f);
    return SVC_OK;
}

/* Appends a zeroed element to a protobuf-c repeated array and counts it at
 * once, so that free_unpacked frees whatever parsing puts there. */
static svc_code push_elt(void **arr, size_t *n, size_t *cap, size_t size, void **slot)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        if (ncap > SIZE_MAX / size)
            return svc_fail_oom();
        void *p = realloc(*arr, ncap * size);
        if (!p)
            return svc_fail_oom();
        *arr = p;
        *cap = ncap;
    }
    *slot = (char *)*arr + *n * size;
    memset(*slot, 0, size);
    (*n)++;
    return SVC_OK;
}

static svc_code parse_array(dec *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                            const svc_pbjson_path *up, int depth)
{
    size_t *n = svc_pbjson_at(m, f->quantifier_offset), cap = 0;
    void **arr = svc_pbjson_at(m, f->offset);
    bool more;
    svc_code rc = open_container(r, up, depth + 1, '[', &more);
    for (size_t i = 0; !rc && more; i++) {
        svc_pbjson_path here = {up, SVC_PBJSON_INDEX, NULL, 0, i};
        void *slot = NULL;
        bool ignored = false;
        if (take_null(r))
            rc = dec_fail(r, &here, "null is not allowed in an array");
        if (!rc)
            rc = push_elt(arr, n, &cap, svc_pbjson_elt_size(f->type), &slot);
        if (!rc)
            rc = parse_value(r, f, slot, &here, depth + 1, &ignored);
        if (!rc && ignored)
            (*n)--;
        if (!rc)
            rc = next_item(r, up, ']', &more);
    }
    return rc;
}

/* Map keys arrive as JSON strings whatever the key type. */
static svc_code set_map_key(const dec *r, ProtobufCMessage *entry, token *key,
                            const svc_pbjson_path *path)
{
    const ProtobufCFieldDescriptor *kf = &entry->descriptor->fields[0];
    if (kf->type == PROTOBUF_C_TYPE_BOOL) {
        if (strcmp(key->text, "true") == 0 || strcmp(key->text, "false") == 0)
            key->kind = key->text[0] == 't' ? TOK_TRUE : TOK_FALSE;
        else
            return dec_fail(r, path, "a bool map key must be \"true\" or \"false\"");
    }
    bool ignored;
    svc_code rc = convert(r, kf, key, svc_pbjson_at(entry, kf->offset), path, &ignored);
    if (!rc)
        mark_present(entry, kf);
    return rc;
}

static svc_code parse_map_entry(dec *r, const ProtobufCMessageDescriptor *ed, void **arr,
                                size_t *n, size_t *cap, const svc_pbjson_path *up, int depth)
{
    token key = {.kind = TOK_STRING};
    svc_code rc = read_string(r, up, &key.owned, &key.len);
    if (rc)
        return rc;
    key.text = key.owned;
    svc_pbjson_path here = {up, SVC_PBJSON_KEY, key.text, key.len, 0};
    void *slot = NULL;
    bool ignored = false;
    rc = expect(r, &here, ':', "':'");
    if (!rc && take_null(r))
        rc = dec_fail(r, &here, "a map value cannot be null");
    if (!rc)
        rc = push_elt(arr, n, cap, sizeof(ProtobufCMessage *), &slot);
    if (!rc)
        rc = new_message(ed, slot);
    if (!rc)
        rc = set_map_key(r, *(ProtobufCMessage **)slot, &key, &here);
    if (!rc)
        rc = parse_singular(r, *(ProtobufCMessage **)slot, &ed->fields[1], &here, depth, &ignored);
    if (!rc && ignored) {
        protobuf_c_message_free_unpacked(*(ProtobufCMessage **)slot, NULL);
        (*n)--;
    }
    free(key.owned);
    return rc;
}

static int compare_keys(const void *a, const void *b)
{
    const ProtobufCMessage *x = *(ProtobufCMessage *const *)a, *y = *(ProtobufCMessage *const *)b;
    const ProtobufCFieldDescriptor *kf = &x->descriptor->fields[0];
    const void *px = svc_pbjson_at(x, kf->offset), *py = svc_pbjson_at(y, kf->offset);
    if (kf->type == PROTOBUF_C_TYPE_STRING)
        return strcmp(*(char *const *)px, *(char *const *)py);
    /* Only equality matters here, so the byte order of integers does not. */
    return memcmp(px, py, svc_pbjson_elt_size(kf->type));
}

/* Different JSON keys can name one map key ("1" and "1e0"): compare values. */
static svc_code check_unique_keys(const dec *r, ProtobufCMessage *const *entries, size_t n,
                                  const svc_pbjson_path *path)
{
    if (n < 2)
        return SVC_OK;
    ProtobufCMessage **sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return svc_fail_oom();
    memcpy(sorted, entries, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_keys);
    svc_code rc = SVC_OK;
    for (size_t i = 1; i < n && !rc; i++) {
        if (compare_keys(&sorted[i - 1], &sorted[i]) != 0)
            continue;
        const ProtobufCFieldDescriptor *kf = &sorted[i]->descriptor->fields[0];
        const void *p = svc_pbjson_at(sorted[i], kf->offset);
        const svc_pbjson_int_kind *k = svc_pbjson_int_kind_of(kf->type);
        char text[24];
        if (k)
            svc_pbjson_int_text(k, p, text);
        else if (kf->type == PROTOBUF_C_TYPE_BOOL)
            snprintf(text, sizeof text, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
        rc = dec_fail(r, path, "duplicate map key \"%.40s\"",
                      kf->type == PROTOBUF_C_TYPE_STRING ? *(char *const *)p : text);
    }
    free(sorted);
    return rc;
}

static svc_code parse_map(dec *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                          const svc_pbjson_path *up, int depth)
{
    size_t *n = svc_pbjson_at(m, f->quantifier_offset), cap = 0;
    void **arr = svc_pbjson_at(m, f->offset);
    bool more;
    svc_code rc = open_container(r, up, depth + 1, '{', &more);
    while (!rc && more) {
        rc = parse_map_entry(r, f->descriptor, arr, n, &cap, up, depth + 1);
        if (!rc)
            rc = next_item(r, up, '}', &more);
    }
    return rc ? rc : check_unique_keys(r, *arr, *n, up);
}

/* A field's value; `null` leaves a singular field unset and a repeated one
 * empty. */
static svc_code parse_field(dec *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                            const svc_pbjson_path *path, int depth)
{
    bool ignored;
    if (take_null(r))
        return SVC_OK;
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return parse_singular(r, m, f, path, depth, &ignored);
    if (svc_pbjson_is_map(m->descriptor, f))
        return parse_map(r, m, f, path, depth);
    return parse_array(r, m, f, path, depth);
}

/* The value of member `f` (NULL: a key naming no field) of message `m`. */
static svc_code parse_member_value(dec *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                                   unsigned char *seen, const svc_pbjson_path *path, int depth)
{
    if (!f && (r->flags & SVC_JSON_IGNORE_UNKNOWN))
        return skip_value(r, path, depth);
    if (!f)
        return dec_fail(r, path, "unknown field (no such field in %s)", m->descriptor->name);
    size_t i = (size_t)(f - m->descriptor->fields);
    unsigned char bit = (unsigned char)(1u << i % 8);
    if (seen[i / 8] & bit)
        return dec_fail(r, path, "duplicate field");
    seen[i / 8] |= bit;
    return parse_field(r, m, f, path, depth);
}

static svc_code parse_member(dec *r, ProtobufCMessage *m, unsigned char *seen,
                             const svc_pbjson_path *up, int depth)
{
    char *key;
    size_t len;
    svc_code rc = read_string(r, up, &key, &len);
    if (rc)
        return rc;
    svc_pbjson_path here = {up, SVC_PBJSON_FIELD, key, len, 0};
    rc = expect(r, &here, ':', "':'");
    if (!rc)
        rc = parse_member_value(r, m, svc_pbjson_find_field(m->descriptor, key, len), seen, &here,
                                depth);
    free(key);
    return rc;
}

/* The object of message `d` into `m`, as a container at level `depth`. */
static svc_code parse_message(dec *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage *m,
                              const svc_pbjson_path *path, int depth)
{
    bool more;
    svc_code rc = open_container(r, path, depth, '{', &more);
    if (rc || !more)
        return rc;
    /* A field may appear once, under either of its names. */
    unsigned char *seen = calloc(d->n_fields / 8 + 1, 1);
    if (!seen)
        return svc_fail_oom();
    while (!rc && more) {
        rc = parse_member(r, m, seen, path, depth);
        if (!rc)
            rc = next_item(r, path, '}', &more);
    }
    free(seen);
    return rc;
}

svc_code svc_pb_from_json(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
                          unsigned flags, ProtobufCMessage **out)
{
    if (!out)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_pb_from_json: no output pointer");
    *out = NULL;
    if (!d || (!json && len))
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_pb_from_json: no descriptor or input");
    if (!json)
        json = "";
    dec r = {json, json + len, json, flags, svc_pbjson_c_locale()};
    if (!r.c_locale)
        return svc_fail_oom();
    ProtobufCMessage *m = NULL;
    svc_code rc = new_message(d, &m);
    if (rc)
        return rc;
    rc = parse_message(&r, d, m, NULL, 1);
    if (!rc && peek(&r) != -1)
        rc = dec_fail(&r, NULL, "unexpected data after the top-level object");
    if (rc) {
        protobuf_c_message_free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return SVC_OK;
}
