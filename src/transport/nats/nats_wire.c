/*
 * Messages ⇄ NATS messages. Headers are our metadata, except four of our
 * own: Content-Type, Svc-Status and Svc-Message (replies; absent = OK) and
 * Svc-Timeout (the caller's remaining time, grpc-timeout syntax). cnats
 * keeps headers in a hash, so the order of different keys is not kept; the
 * order of one key's values is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/msg.h"
#include "core/topic.h"
#include "nats.h"

/* "NATS/1.0\r\n" and the blank line that ends the block. */
#define HDR_FRAMING 12

static bool add_header(natsMsg *nm, const char *key, const char *value, size_t *size)
{
    *size += strlen(key) + strlen(value) + 4; /* ": " and CRLF */
    return natsMsgHeader_Add(nm, key, value) == NATS_OK;
}

/* Status messages are free text; a header value must stay on one line. */
static void header_safe(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++)
        out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7F ? ' ' : in[i];
    out[i] = '\0';
}

static svc_code add_metadata(natsMsg *nm, const svc_md *md, size_t *size)
{
    for (size_t i = 0; i < md->n; i++) {
        const svc_md_entry *e = &md->v[i];
        if (!svc_md_key_is_bin(e->key, strlen(e->key))) {
            if (!add_header(nm, e->key, e->value, size))
                return svc_fail_oom();
            continue;
        }
        char *enc = malloc(svc_base64_encoded_size(e->value_len));
        if (!enc)
            return svc_fail_oom();
        svc_base64_encode(e->value, e->value_len, enc);
        bool ok = add_header(nm, e->key, enc, size);
        free(enc);
        if (!ok)
            return svc_fail_oom();
    }
    return SVC_OK;
}

static svc_code add_ours(natsMsg *nm, const svc_msg *m, const nats_out *x, size_t *size)
{
    char buf[1024];
    bool ok = true;
    if (m->content_type)
        ok = add_header(nm, SVC_NATS_HDR_CT, m->content_type, size);
    if (ok && x->deadline) {
        int64_t left = x->deadline - svc_now();
        svc_timeout_format(left > 0 ? left : 1, buf);
        ok = add_header(nm, SVC_NATS_HDR_TIMEOUT, buf, size);
    }
    if (ok && x->with_status && m->status != SVC_OK) {
        snprintf(buf, sizeof buf, "%d", (int)m->status);
        ok = add_header(nm, SVC_NATS_HDR_STATUS, buf, size);
        if (ok && m->status_message && *m->status_message) {
            header_safe(m->status_message, buf, sizeof buf);
            ok = add_header(nm, SVC_NATS_HDR_MESSAGE, buf, size);
        }
    }
    if (ok && x->message_id)
        ok = add_header(nm, SVC_NATS_HDR_MSG_ID, x->message_id, size);
    return ok ? SVC_OK : svc_fail_oom();
}

/* Whether add_ours or add_metadata would add anything. */
bool svc_nats_msg_needs_headers(const svc_msg *m, const nats_out *x)
{
    return m->content_type || x->deadline || (x->with_status && m->status != SVC_OK) ||
           x->message_id || m->md.n;
}

svc_code svc_nats_msg_out(const char *subject, const svc_msg *m, const nats_out *x,
                          int64_t max_payload, natsMsg **out)
{
    size_t len = svc_msg_len(m);
    if (max_payload > 0 && len > (uint64_t)max_payload)
        return svc_fail(SVC_RESOURCE_EXHAUSTED,
                        "payload of %zu bytes is over the server's max_payload of %lld", len,
                        (long long)max_payload);
    /* Without headers no natsMsg is built: destroying one goes through
     * cnats' garbage-collector thread, a wake-up per message that calls
     * and replies would pay on their latency. */
    if (!x->need_msg && !svc_nats_msg_needs_headers(m, x)) {
        *out = NULL;
        return SVC_OK;
    }
    natsMsg *nm = NULL;
    natsStatus s = natsMsg_Create(&nm, subject, x->reply, svc_msg_data(m), (int)len);
    if (s != NATS_OK)
        return svc_nats_fail(s, "bad message");
    size_t hdr = 0;
    svc_code rc = add_ours(nm, m, x, &hdr);
    if (rc == SVC_OK)
        rc = add_metadata(nm, &m->md, &hdr);
    if (hdr)
        hdr += HDR_FRAMING;
    if (rc == SVC_OK && max_payload > 0 && hdr > (uint64_t)max_payload)
        rc = svc_fail(SVC_INVALID_ARGUMENT,
                      "headers of %zu bytes are over the server's max_payload of %lld", hdr,
                      (long long)max_payload);
    else if (rc == SVC_OK && max_payload > 0 && hdr + len > (uint64_t)max_payload)
        rc = svc_fail(SVC_RESOURCE_EXHAUSTED,
                      "message of %zu bytes (headers included) is over the server's "
                      "max_payload of %lld",
                      hdr + len, (long long)max_payload);
    if (rc) {
        natsMsg_Destroy(nm);
        return rc;
    }
    *out = nm;
    return SVC_OK;
}

natsStatus svc_nats_msg_publish(natsConnection *nc, const char *subject, const svc_msg *m,
                                const nats_out *x, natsMsg *nm)
{
    if (nm) {
        natsStatus s = natsConnection_PublishMsg(nc, nm);
        natsMsg_Destroy(nm);
        return s;
    }
    const void *data = svc_msg_data(m);
    int len = (int)svc_msg_len(m);
    return x->reply ? natsConnection_PublishRequest(nc, subject, x->reply, data, len)
                    : natsConnection_Publish(nc, subject, data, len);
}

static svc_code md_from_header(svc_md *md, const char *key, const char *value)
{
    size_t klen = strlen(key), vlen = strlen(value);
    if (!svc_md_key_valid(key, klen))
        return SVC_OK; /* not representable as metadata: skipped */
    if (!svc_md_key_is_bin(key, klen))
        return svc_md_text_valid(value, vlen) ? svc_md_append(md, key, klen, value, vlen) : SVC_OK;
    unsigned char *bytes = malloc(vlen / 4 * 3 + 3);
    if (!bytes)
        return svc_fail_oom();
    size_t n = 0;
    svc_code rc = svc_base64_decode(value, vlen, bytes, &n)
                      ? svc_md_append(md, key, klen, (const char *)bytes, n)
                      : SVC_OK;
    free(bytes);
    return rc;
}

svc_code svc_nats_header_in(svc_msg *m, nats_in *in, const char *key, const char *value)
{
    if (strcasecmp(key, SVC_NATS_HDR_STATUS) == 0) {
        char *end;
        long code = strtol(value, &end, 10);
        in->has_status = true;
        in->status = *value && !*end && code >= 0 && code < SVC_CODE_COUNT ? (svc_code)code
                                                                           : SVC_UNKNOWN;
        return SVC_OK;
    }
    if (strcasecmp(key, SVC_NATS_HDR_MESSAGE) == 0) {
        in->status_message = value;
        return SVC_OK;
    }
    if (strcasecmp(key, SVC_NATS_HDR_TIMEOUT) == 0) {
        int64_t ns;
        if (svc_timeout_parse(value, strlen(value), &ns))
            in->deadline = svc_now() + ns;
        return SVC_OK;
    }
    if (strcasecmp(key, SVC_NATS_HDR_CT) == 0)
        return svc_msg_set_content_type(m, value);
    return md_from_header(&m->md, key, value);
}

svc_code svc_nats_in_finish(svc_msg *m, const nats_in *in)
{
    if (!m->content_type) {
        const char *ct = svc_nats_sniff_ct(svc_msg_data(m), svc_msg_len(m));
        if (ct && svc_msg_set_content_type(m, ct) != SVC_OK)
            return svc_fail_oom();
    }
    if (in->has_status || in->status_message)
        return svc_msg_set_status(m, in->has_status ? in->status : SVC_UNKNOWN,
                                  in->status_message);
    return SVC_OK;
}

static svc_code headers_in(natsMsg *nm, svc_msg *m, nats_in *in)
{
    const char **keys = NULL;
    int n = 0;
    natsStatus s = natsMsgHeader_Keys(nm, &keys, &n);
    if (s == NATS_NOT_FOUND)
        return SVC_OK;
    if (s != NATS_OK)
        return svc_nats_fail(s, "bad headers");
    svc_code rc = SVC_OK;
    for (int i = 0; i < n && rc == SVC_OK; i++) {
        const char **values = NULL;
        int nv = 0;
        if (natsMsgHeader_Values(nm, keys[i], &values, &nv) != NATS_OK)
            continue;
        for (int j = 0; j < nv && rc == SVC_OK; j++)
            rc = svc_nats_header_in(m, in, keys[i], values[j]);
        free((void *)values);
    }
    free((void *)keys);
    return rc;
}

static void release_nats_msg(void *nm)
{
    natsMsg_Destroy(nm);
}

/* The payload: borrowed from nm (which it then owns) or copied. */
static svc_code payload_in(natsMsg *nm, bool take, svc_msg *m)
{
    int len = natsMsg_GetDataLength(nm);
    if (take)
        return svc_msg_set_data_borrowed(m, natsMsg_GetData(nm), len > 0 ? (size_t)len : 0,
                                         release_nats_msg, nm);
    return len > 0 ? svc_msg_set_data(m, natsMsg_GetData(nm), (size_t)len) : SVC_OK;
}

svc_code svc_nats_msg_in(natsMsg *nm, bool take, nats_in *in, svc_msg **out)
{
    memset(in, 0, sizeof *in);
    svc_msg *m = NULL;
    svc_code rc = svc_msg_new(&m);
    if (rc == SVC_OK)
        rc = payload_in(nm, take, m);
    else if (take)
        natsMsg_Destroy(nm);
    /* Past this point a taken nm lives as long as m's payload. */
    if (rc == SVC_OK)
        rc = headers_in(nm, m, in);
    /* The status message points into nm: applied while nm is alive. */
    if (rc == SVC_OK)
        rc = svc_nats_in_finish(m, in);
    in->status_message = NULL;
    if (rc) {
        svc_msg_free(m);
        return rc;
    }
    *out = m;
    return SVC_OK;
}

const char *svc_nats_sniff_ct(const void *data, size_t len)
{
    const char *p = data;
    size_t i = 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    /* A protobuf message cannot start with '{' (field 15, wire type 3 is a
     * deprecated group) nor '[' (field 11, wire type 3). */
    return i < len && (p[i] == '{' || p[i] == '[') ? SVC_CT_JSON : NULL;
}

bool svc_nats_subject_to_method(const char *prefix, const char *subject, char *out, size_t cap)
{
    size_t plen = strlen(prefix);
    if (strncmp(subject, prefix, plen) != 0 || subject[plen] != '.')
        return false;
    const char *rest = subject + plen + 1;
    const char *last = strrchr(rest, '.');
    size_t n = strlen(rest);
    if (!last || last == rest || !last[1] || n >= cap)
        return false;
    memcpy(out, rest, n + 1);
    out[last - rest] = '/';
    return true;
}

bool svc_nats_method_to_subject(const char *prefix, const char *method, char *out, size_t cap)
{
    const char *slash = strchr(method, '/');
    if (!slash || slash == method || !slash[1] || strpbrk(slash + 1, "./"))
        return false;
    int n = snprintf(out, cap, "%s.%.*s.%s", prefix, (int)(slash - method), method, slash + 1);
    return n > 0 && (size_t)n < cap && svc_topic_valid(out);
}
