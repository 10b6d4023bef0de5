/*
 * What a JetStream publish's reply says, read from the network bytes
 * without cnats: the token at the end of its subject (which publish it
 * answers) and its JSON body, the stream's PubAck
 *   {"stream":"ORDERS","seq":42,"duplicate":true}
 * or an API error
 *   {"error":{"code":503,"err_code":10077,"description":"..."},"stream":"ORDERS","seq":0}
 * cnats parses the whole body into a JSON tree for its ack handler (and
 * frees it again), several allocations per publish; this reads it in one
 * pass with nats_json.c (strict JSON: anything malformed is refused).
 */
#include <stdint.h>

#include "nats.h"

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

/* ---- the PubAck ---- */

static bool error_member(nats_json *r, nats_json_key k, void *ud, int depth)
{
    nats_puback *pa = ud;
    uint64_t v;
    if (svc_nats_json_key_is(k, "code")) {
        if (!svc_nats_json_uint(r, 999, &v))
            return false;
        pa->code = (int)v;
        return true;
    }
    if (svc_nats_json_key_is(k, "err_code")) {
        if (!svc_nats_json_uint(r, UINT16_MAX, &v))
            return false;
        pa->err_code = (int)v;
        return true;
    }
    if (svc_nats_json_key_is(k, "description")) {
        size_t len;
        bool cut;
        return svc_nats_json_string(r, pa->description, sizeof pa->description, &len, &cut);
    }
    return svc_nats_json_skip(r, depth + 1);
}

static bool ack_member(nats_json *r, nats_json_key k, void *ud, int depth)
{
    nats_puback *pa = ud;
    if (svc_nats_json_key_is(k, "stream")) {
        char name[8]; /* only whether there is one */
        size_t len;
        bool cut;
        if (!svc_nats_json_string(r, name, sizeof name, &len, &cut))
            return false;
        pa->has_stream = len > 0 || cut;
        return true;
    }
    if (svc_nats_json_key_is(k, "seq"))
        return svc_nats_json_uint(r, UINT64_MAX, &pa->seq);
    if (svc_nats_json_key_is(k, "duplicate"))
        return svc_nats_json_bool(r, &pa->duplicate);
    if (svc_nats_json_key_is(k, "error")) {
        pa->is_error = true;
        return svc_nats_json_object(r, error_member, pa, depth + 1);
    }
    return svc_nats_json_skip(r, depth + 1);
}

bool svc_nats_puback_parse(const char *data, size_t len, nats_puback *out)
{
    /* Not the whole description: the members set what they read. */
    out->has_stream = out->duplicate = out->is_error = false;
    out->seq = 0;
    out->code = out->err_code = 0;
    out->description[0] = '\0';
    nats_json r = {data, data + len};
    if (!svc_nats_json_object(&r, ack_member, out, 0) || !svc_nats_json_end(&r))
        return false;
    return out->is_error || out->has_stream;
}
