/*
 * etcd v3 JSON gateway messages, and the value this library stores under
 * /svc/<service>/<id>:
 *   {"url":"grpc://10.0.0.5:50051", "id":"g1", "zone":"eu-1", "weight":2,
 *    "metadata":{"version":"1.4"}}
 * Only "url" is required; "id" defaults to the key's last segment, weight
 * to 1. Keys and values travel base64-encoded, int64s as decimal strings.
 * Nothing here does I/O, so the fuzzer and the unit tests drive it alone.
 */
#ifndef SVC_DISCOVERY_ETCD_JSON_H
#define SVC_DISCOVERY_ETCD_JSON_H

#include <stdint.h>

struct cJSON;

#include "eplist.h"

/* One key-value pair of a range answer, or one watch event. key and value
 * are decoded (not NUL-terminated; value NULL for a delete). */
typedef struct svc_etcd_kv {
    bool del;
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
} svc_etcd_kv;

/* A range answer or one message of a watch stream. */
typedef struct svc_etcd_msg {
    int64_t revision; /* header.revision */
    svc_etcd_kv *kvs; /* range: kvs; watch: events */
    size_t n;
    bool created;              /* watch: the watch is set up */
    bool canceled;             /* watch: etcd ended it (compaction, error) */
    int64_t compact_revision;  /* watch: why it was canceled, if so */
} svc_etcd_msg;

void svc_etcd_msg_free(svc_etcd_msg *m);
/* A /v3/kv/range answer. SVC_UNAVAILABLE for an error object, SVC_INTERNAL
 * for anything malformed; svc_last_error() says what. */
svc_code svc_etcd_range_parse(const char *json, size_t len, svc_etcd_msg *out);
/* One object of a /v3/watch stream: {"result":{...}} or {"error":{...}}. */
svc_code svc_etcd_watch_parse(const char *json, size_t len, svc_etcd_msg *out);

/* Our value under key `key`: appends the endpoint to `out`.
 * SVC_INVALID_ARGUMENT with a message naming the key when malformed. */
svc_code svc_etcd_value_parse(const char *key, size_t key_len, const char *value, size_t len,
                              svc_eplist *out);
/* The value for `ep` (malloc'd JSON text), or NULL when out of memory. */
char *svc_etcd_value_format(const svc_endpoint_info *ep);

/* A lease grant or keepalive answer: its ID and the TTL left (0 = the
 * lease is gone). */
svc_code svc_etcd_lease_parse(const char *json, size_t len, int64_t *id, int64_t *ttl);

/* SVC_OK for any JSON object that is not an error answer. */
svc_code svc_etcd_check(const char *json, size_t len);

/* Adds name: base64(data) to JSON object `o` (keys and values travel so). */
bool svc_etcd_add_b64(struct cJSON *o, const char *name, const char *data, size_t len);

#endif
