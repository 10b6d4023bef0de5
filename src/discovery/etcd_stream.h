/*
 * Splits a streamed HTTP body of concatenated JSON objects (what etcd's
 * /v3/watch sends: one object per event batch, newline-separated, cut into
 * chunks anywhere) into whole objects. It tracks only brace depth and
 * strings; the objects themselves are parsed by the caller.
 */
#ifndef SVC_DISCOVERY_ETCD_STREAM_H
#define SVC_DISCOVERY_ETCD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <svccomm/common.h>

#define SVC_JSON_STREAM_MAX (4u << 20) /* bytes in one object */

typedef struct svc_json_stream {
    char *buf;
    size_t len, cap;
    size_t scanned; /* bytes of buf already scanned */
    int depth;      /* of braces and brackets */
    bool in_string, escape;
} svc_json_stream;

typedef svc_code (*svc_json_object_fn)(void *ud, const char *obj, size_t len);

void svc_json_stream_init(svc_json_stream *s);
void svc_json_stream_free(svc_json_stream *s);
/* Feeds `n` bytes; calls fn for each object completed by them. Errors:
 * SVC_INTERNAL for text outside an object or an object over
 * SVC_JSON_STREAM_MAX, else the first error fn returns. The stream is
 * unusable after an error. */
svc_code svc_json_stream_feed(svc_json_stream *s, const char *p, size_t n,
                              svc_json_object_fn fn, void *ud);

#endif
