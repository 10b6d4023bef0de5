/* etcd v3 JSON gateway messages and our endpoint values (etcd_json.h). */
#include "etcd_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

#include "core/base64.h"
#include "core/error.h"

#define MAX_MD 64 /* metadata pairs per value */

void svc_etcd_msg_free(svc_etcd_msg *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->kvs[i].key);
        free(m->kvs[i].value);
    }
    free(m->kvs);
    memset(m, 0, sizeof *m);
}

/* etcd writes int64s as strings; plain numbers are accepted too. */
static bool get_int64(const cJSON *o, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v)
        return false;
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble < -9.2e18 || v->valuedouble > 9.2e18)
            return false;
        *out = (int64_t)v->valuedouble;
        return true;
    }
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(v->valuestring, &end, 10);
    if (errno || *end)
        return false;
    *out = x;
    return true;
}

static bool b64_field(const cJSON *o, const char *name, char **out, size_t *len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    *len = 0;
    if (!v) /* proto3 JSON leaves empty bytes out */
        return (*out = calloc(1, 1)) != NULL;
    if (!cJSON_IsString(v))
        return false;
    size_t n = strlen(v->valuestring);
    unsigned char *buf = malloc(n * 3 / 4 + 4);
    if (!buf || !svc_base64_decode(v->valuestring, n, buf, len)) {
        free(buf);
        return false;
    }
    buf[*len] = '\0';
    *out = (char *)buf;
    return true;
}

/* Fills out->kvs from an array of {"key","value"} (range) or of
 * {"type","kv":{...}} (watch events). */
static svc_code parse_kvs(const cJSON *arr, bool events, svc_etcd_msg *out)
{
    if (!arr)
        return SVC_OK;
    if (!cJSON_IsArray(arr))
        return svc_fail(SVC_INTERNAL, "etcd: \"%s\" is not an array", events ? "events" : "kvs");
    int n = cJSON_GetArraySize(arr);
    if (n == 0)
        return SVC_OK;
    if (!(out->kvs = calloc((size_t)n, sizeof *out->kvs)))
        return svc_fail_oom();
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        svc_etcd_kv *kv = &out->kvs[out->n];
        const cJSON *src = it;
        if (events) {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
            /* PUT is proto3's default value, so the gateway leaves it out. */
            if (type && (!cJSON_IsString(type) ||
                         (strcmp(type->valuestring, "PUT") && strcmp(type->valuestring, "DELETE"))))
                return svc_fail(SVC_INTERNAL, "etcd: unknown watch event type");
            kv->del = type && strcmp(type->valuestring, "DELETE") == 0;
            src = cJSON_GetObjectItemCaseSensitive(it, "kv");
        }
        if (!cJSON_IsObject(src))
            return svc_fail(SVC_INTERNAL, "etcd: a key-value entry is not an object");
        char *value = NULL;
        size_t value_len = 0;
        bool ok = b64_field(src, "key", &kv->key, &kv->key_len) && kv->key_len > 0 &&
                  (kv->del || b64_field(src, "value", &value, &value_len));
        kv->value = value;
        kv->value_len = value_len;
        out->n++; /* freed with the message even when half filled */
        if (!ok)
            return svc_fail(SVC_INTERNAL, "etcd: a key or value is not valid base64");
    }
    return SVC_OK;
}

/* {"error":"...","message":"...","code":N} or stream {"error":{"message":...}} */
static svc_code error_object(const cJSON *root)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (!err)
        return SVC_OK;
    const cJSON *msg = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message")
                                           : cJSON_GetObjectItemCaseSensitive(root, "message");
    if (!cJSON_IsString(msg))
        msg = cJSON_IsString(err) ? err : NULL;
    return svc_fail(SVC_UNAVAILABLE, "etcd: %s", msg ? msg->valuestring : "error without a message");
}

static svc_code parse_root(const char *json, size_t len, cJSON **out)
{
    *out = cJSON_ParseWithLength(json, len);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return svc_fail(SVC_INTERNAL, "etcd: the answer is not a JSON object");
    }
    svc_code rc = error_object(*out);
    if (rc != SVC_OK) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return rc;
}

static svc_code header_revision(const cJSON *o, svc_etcd_msg *out)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "header");
    if (!cJSON_IsObject(h) || !get_int64(h, "revision", &out->revision) || out->revision < 0)
        return svc_fail(SVC_INTERNAL, "etcd: the answer has no header revision");
    return SVC_OK;
}

svc_code svc_etcd_range_parse(const char *json, size_t len, svc_etcd_msg *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root;
    svc_code rc = parse_root(json, len, &root);
    if (rc == SVC_OK)
        rc = header_revision(root, out);
    if (rc == SVC_OK)
        rc = parse_kvs(cJSON_GetObjectItemCaseSensitive(root, "kvs"), false, out);
    cJSON_Delete(root);
    if (rc != SVC_OK)
        svc_etcd_msg_free(out);
    return rc;
}

svc_code svc_etcd_watch_parse(const char *json, size_t len, svc_etcd_msg *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root;
    svc_code rc = parse_root(json, len, &root);
    if (rc != SVC_OK)
        return rc;
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");
    if (!cJSON_IsObject(res))
        rc = svc_fail(SVC_INTERNAL, "etcd: a watch message without a result");
    if (rc == SVC_OK)
        rc = header_revision(res, out);
    if (rc == SVC_OK) {
        out->created = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "created"));
        out->canceled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "canceled"));
        get_int64(res, "compact_revision", &out->compact_revision);
        rc = parse_kvs(cJSON_GetObjectItemCaseSensitive(res, "events"), true, out);
    }
    cJSON_Delete(root);
    if (rc != SVC_OK)
        svc_etcd_msg_free(out);
    return rc;
}

/* ---- our values ---- */

static svc_code value_fail(const char *key, size_t key_len, const char *why)
{
    return svc_fail(SVC_INVALID_ARGUMENT, "etcd: value under \"%.*s\": %s",
                    (int)(key_len > 200 ? 200 : key_len), key, why);
}

static bool opt_string(const cJSON *o, const char *name, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return false;
    *out = v->valuestring;
    return true;
}

static svc_code value_weight(const cJSON *o, uint32_t *out)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "weight");
    *out = 1;
    if (!w)
        return SVC_OK;
    if (!cJSON_IsNumber(w) || w->valuedouble < 1 || w->valuedouble > 4294967295.0 ||
        w->valuedouble != (double)(uint32_t)w->valuedouble)
        return SVC_INVALID_ARGUMENT;
    *out = (uint32_t)w->valuedouble;
    return SVC_OK;
}

static svc_code value_md(const char *key, size_t key_len, const cJSON *o, const char **md)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    size_t n = 0;
    if (!m || cJSON_IsNull(m)) {
        md[0] = NULL;
        return SVC_OK;
    }
    if (!cJSON_IsObject(m))
        return value_fail(key, key_len, "\"metadata\" is not an object");
    const cJSON *it;
    cJSON_ArrayForEach(it, m)
    {
        if (!cJSON_IsString(it))
            return value_fail(key, key_len, "a metadata value is not a string");
        if (n == 2 * MAX_MD)
            return value_fail(key, key_len, "too many metadata entries");
        md[n++] = it->string;
        md[n++] = it->valuestring;
    }
    md[n] = NULL;
    return SVC_OK;
}

static bool has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

svc_code svc_etcd_value_parse(const char *key, size_t key_len, const char *value, size_t len,
                              svc_eplist *out)
{
    if (has_nul(key, key_len))
        return value_fail("(binary)", 8, "the key contains a NUL byte");
    cJSON *o = cJSON_ParseWithLength(value, len);
    svc_code rc = SVC_OK;
    const char *md[2 * MAX_MD + 1];
    svc_endpoint_info ep = {0};
    char *id = NULL;
    if (!cJSON_IsObject(o))
        rc = value_fail(key, key_len, "not a JSON object");
    else if (!opt_string(o, "url", &ep.url) || !ep.url)
        rc = value_fail(key, key_len, "no \"url\" string");
    else if (!opt_string(o, "id", &ep.id) || !opt_string(o, "zone", &ep.zone))
        rc = value_fail(key, key_len, "\"id\" or \"zone\" is not a non-empty string");
    else if (value_weight(o, &ep.weight) != SVC_OK)
        rc = value_fail(key, key_len, "\"weight\" is not an integer from 1 to 4294967295");
    else
        rc = value_md(key, key_len, o, md);
    if (rc == SVC_OK && !ep.id) {
        const char *slash = memrchr(key, '/', key_len);
        const char *start = slash ? slash + 1 : key;
        size_t n = key_len - (size_t)(start - key);
        if (n && !(ep.id = id = strndup(start, n)))
            rc = svc_fail_oom();
    }
    if (rc == SVC_OK) {
        ep.md = md[0] ? md : NULL;
        rc = svc_eplist_add(out, &ep);
    }
    free(id);
    cJSON_Delete(o);
    return rc;
}

char *svc_etcd_value_format(const svc_endpoint_info *ep)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *md = o ? cJSON_AddObjectToObject(o, "metadata") : NULL;
    bool ok = md && cJSON_AddStringToObject(o, "url", ep->url) &&
              (!ep->id || cJSON_AddStringToObject(o, "id", ep->id)) &&
              (!ep->zone || cJSON_AddStringToObject(o, "zone", ep->zone)) &&
              cJSON_AddNumberToObject(o, "weight", ep->weight ? ep->weight : 1);
    for (const char *const *p = ep->md; ok && p && p[0] && p[1]; p += 2)
        ok = cJSON_AddStringToObject(md, p[0], p[1]) != NULL;
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

svc_code svc_etcd_lease_parse(const char *json, size_t len, int64_t *id, int64_t *ttl)
{
    cJSON *root;
    svc_code rc = parse_root(json, len, &root);
    if (rc != SVC_OK)
        return rc;
    /* keepalive answers wrap the grant's fields in "result" */
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");
    const cJSON *o = cJSON_IsObject(res) ? res : root;
    *ttl = 0; /* left out when 0: the lease is gone */
    if (!get_int64(o, "ID", id))
        rc = svc_fail(SVC_INTERNAL, "etcd: a lease answer without an ID");
    else if (cJSON_GetObjectItemCaseSensitive(o, "TTL") && !get_int64(o, "TTL", ttl))
        rc = svc_fail(SVC_INTERNAL, "etcd: a lease answer with a malformed TTL");
    cJSON_Delete(root);
    return rc;
}

bool svc_etcd_add_b64(cJSON *o, const char *name, const char *data, size_t len)
{
    char *enc = malloc(svc_base64_encoded_size(len));
    if (!enc)
        return false;
    svc_base64_encode(data, len, enc);
    bool ok = cJSON_AddStringToObject(o, name, enc) != NULL;
    free(enc);
    return ok;
}

/* ---- keys ---- */

svc_code svc_etcd_service_valid(const char *service)
{
    if (!service || !*service || strchr(service, '/'))
        return svc_fail(SVC_INVALID_ARGUMENT,
                        "etcd: service name \"%s\" must be one non-empty key segment (no '/')",
                        service ? service : "(null)");
    return SVC_OK;
}

char *svc_etcd_prefix(const char *service)
{
    char *p = NULL;
    return asprintf(&p, "/svc/%s/", service) < 0 ? NULL : p;
}

char *svc_etcd_prefix_body(const char *prefix, const char *wrap, int64_t start_revision)
{
    /* Every key under the prefix: range_end is the prefix with its last
     * byte ('/') incremented ('0'). */
    size_t n = strlen(prefix);
    char *end = strdup(prefix);
    cJSON *root = cJSON_CreateObject();
    cJSON *o = root && wrap ? cJSON_AddObjectToObject(root, wrap) : root;
    char rev[24];
    snprintf(rev, sizeof rev, "%lld", (long long)start_revision);
    char *text = NULL;
    if (end && o) {
        end[n - 1]++;
        if (svc_etcd_add_b64(o, "key", prefix, n) && svc_etcd_add_b64(o, "range_end", end, n) &&
            (!wrap || cJSON_AddStringToObject(o, "start_revision", rev)))
            text = cJSON_PrintUnformatted(root);
    }
    free(end);
    cJSON_Delete(root);
    return text;
}

svc_code svc_etcd_check(const char *json, size_t len)
{
    cJSON *root;
    svc_code rc = parse_root(json, len, &root);
    cJSON_Delete(root);
    return rc;
}
