#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void svc_strbuf_init(svc_strbuf *b)
{
    memset(b, 0, sizeof *b);
}

void svc_strbuf_free(svc_strbuf *b)
{
    free(b->data);
    svc_strbuf_init(b);
}

void svc_strbuf_reserve(svc_strbuf *b, size_t extra)
{
    if (b->oom)
        return;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = true;
        return;
    }
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->data = p;
    b->cap = cap;
}

void svc_strbuf_append(svc_strbuf *b, const void *p, size_t n)
{
    svc_strbuf_reserve(b, n);
    if (b->oom)
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void svc_strbuf_puts(svc_strbuf *b, const char *s)
{
    svc_strbuf_append(b, s, strlen(s));
}

void svc_strbuf_putc(svc_strbuf *b, char c)
{
    svc_strbuf_append(b, &c, 1);
}

void svc_strbuf_printf(svc_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    svc_strbuf_reserve(b, (size_t)n);
    if (b->oom)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    /* Reject overlong forms, surrogates and code points past U+10FFFF. */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void svc_strbuf_json_string(svc_strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    svc_strbuf_reserve(b, n + 2);
    svc_strbuf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq_len(p + i, n - i);
            if (l) {
                i += l;
                continue;
            }
        }
        svc_strbuf_append(b, s + run, i - run);
        switch (c) {
        case '"': svc_strbuf_append(b, "\\\"", 2); break;
        case '\\': svc_strbuf_append(b, "\\\\", 2); break;
        case '\n': svc_strbuf_append(b, "\\n", 2); break;
        case '\r': svc_strbuf_append(b, "\\r", 2); break;
        case '\t': svc_strbuf_append(b, "\\t", 2); break;
        case '\b': svc_strbuf_append(b, "\\b", 2); break;
        case '\f': svc_strbuf_append(b, "\\f", 2); break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                svc_strbuf_append(b, esc, 6);
            } else {
                svc_strbuf_append(b, "\xEF\xBF\xBD", 3); /* invalid UTF-8 */
            }
        }
        i++;
        run = i;
    }
    svc_strbuf_append(b, s + run, n - run);
    svc_strbuf_putc(b, '"');
}

char *svc_strbuf_take(svc_strbuf *b, size_t *len)
{
    if (b->oom) {
        svc_strbuf_free(b);
        return NULL;
    }
    if (!b->data)
        svc_strbuf_reserve(b, 0);
    if (b->oom)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    svc_strbuf_init(b);
    return p;
}
