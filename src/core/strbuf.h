/*
 * A growable byte string for building text (JSON, Prometheus, headers).
 * Appends never fail loudly: an allocation failure sets `oom`, later appends
 * do nothing, and svc_strbuf_take() returns NULL, so callers check once.
 */
#ifndef SVC_CORE_STRBUF_H
#define SVC_CORE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct svc_strbuf {
    char *data; /* always NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
    bool oom;
} svc_strbuf;

void svc_strbuf_init(svc_strbuf *b);
void svc_strbuf_free(svc_strbuf *b);
void svc_strbuf_reserve(svc_strbuf *b, size_t extra);
void svc_strbuf_append(svc_strbuf *b, const void *p, size_t n);
void svc_strbuf_puts(svc_strbuf *b, const char *s);
void svc_strbuf_putc(svc_strbuf *b, char c);
void svc_strbuf_printf(svc_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` (`n` bytes) as a quoted JSON string, escaping what RFC 8259
 * requires; bytes that are not valid UTF-8 become U+FFFD. */
void svc_strbuf_json_string(svc_strbuf *b, const char *s, size_t n);
/* Hands over the buffer (NUL-terminated; free with free()); NULL after an
 * allocation failure. The strbuf is empty afterwards. */
char *svc_strbuf_take(svc_strbuf *b, size_t *len);

#endif
