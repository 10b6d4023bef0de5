/* Whole JSON objects out of a chunked stream (etcd_stream.h). */
#include "etcd_stream.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void svc_json_stream_init(svc_json_stream *s)
{
    memset(s, 0, sizeof *s);
}

void svc_json_stream_free(svc_json_stream *s)
{
    free(s->buf);
    svc_json_stream_init(s);
}

static svc_code append(svc_json_stream *s, const char *p, size_t n)
{
    if (n == 0)
        return SVC_OK;
    if (s->len + n > SVC_JSON_STREAM_MAX)
        return svc_fail(SVC_INTERNAL, "etcd: a watch message over %u bytes", SVC_JSON_STREAM_MAX);
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return svc_fail_oom();
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return SVC_OK;
}

/* Advances the scanner over one byte of an object; true when it ends it. */
static bool step(svc_json_stream *s, char c)
{
    if (s->in_string) {
        if (s->escape)
            s->escape = false;
        else if (c == '\\')
            s->escape = true;
        else if (c == '"')
            s->in_string = false;
        return false;
    }
    if (c == '"')
        s->in_string = true;
    else if (c == '{' || c == '[')
        s->depth++;
    else if (c == '}' || c == ']')
        return --s->depth == 0;
    return false;
}

svc_code svc_json_stream_feed(svc_json_stream *s, const char *p, size_t n,
                              svc_json_object_fn fn, void *ud)
{
    /* Whitespace between objects is dropped before buffering, so an idle
     * stream's keep-alive newlines never accumulate. */
    while (n && s->len == 0 && strchr(" \t\r\n", *p) && *p)
        p++, n--;
    svc_code rc = append(s, p, n);
    size_t start = 0;
    while (rc == SVC_OK && s->scanned < s->len) {
        char c = s->buf[s->scanned];
        if (s->depth == 0 && s->scanned == start) {
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                start = ++s->scanned;
                continue;
            }
            if (c != '{')
                return svc_fail(SVC_INTERNAL, "etcd: the watch stream holds something other than "
                                              "JSON objects");
        }
        s->scanned++;
        if (step(s, c)) {
            rc = fn(ud, s->buf + start, s->scanned - start);
            start = s->scanned;
        }
    }
    if (rc != SVC_OK)
        return rc;
    if (start)
        memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
    s->scanned -= start;
    return SVC_OK;
}
