/*
 * svc_msg ⇄ AMQP message properties.
 *
 * Out: content type, and every metadata entry as a headers-table entry:
 * text values as long strings, "-bin" values as AMQP byte arrays ('x'),
 * which carry bytes as they are (no base64 cost, and other clients read
 * them as bytes, as pika and amqplib do).
 *
 * In: headers become metadata. Long strings and byte arrays keep their
 * bytes: under a "-bin" key, or as text when printable; otherwise (UTF-8
 * text, say) under the key with "-bin" appended, so nothing is lost.
 * Numbers, booleans, decimals and timestamps become their decimal text.
 * Tables, arrays and void have no metadata form: they are skipped, counted,
 * and named in an "amqp-skipped-headers" entry ("x-a,x-b") of events, so
 * the receiver knows. Keys metadata cannot hold are skipped the same way.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "amqp.h"
#include "core/error.h"
#include "core/metadata.h"
#include "core/msg.h"

/* basic.publish's content header: class, weight, body size, flags. */
#define CONTENT_HEADER_FIXED 14
#define FRAME_OVERHEAD 8

static svc_code add_md(amqp_out *out, const svc_md *md)
{
    for (size_t i = 0; md && i < md->n; i++) {
        const svc_md_entry *e = &md->v[i];
        size_t klen = strlen(e->key);
        if (klen > 255)
            return svc_fail(SVC_INVALID_ARGUMENT, "metadata key '%.40s...' is longer than the 255 bytes of an AMQP header name", e->key);
        amqp_table_entry_t *t = &out->entries[out->n_entries++];
        t->key = (amqp_bytes_t){klen, e->key};
        t->value.kind = svc_md_key_is_bin(e->key, klen) ? AMQP_FIELD_KIND_BYTES : AMQP_FIELD_KIND_UTF8;
        t->value.value.bytes = (amqp_bytes_t){e->value_len, (void *)e->value};
    }
    return SVC_OK;
}

svc_code svc_amqp_out_init(amqp_out *out, const svc_msg *m, const svc_md *first,
                           size_t extra_headers)
{
    memset(out, 0, sizeof *out);
    size_t n = svc_msg_md_count(m) + (first ? first->n : 0) + extra_headers;
    if (n && !(out->entries = calloc(n, sizeof *out->entries)))
        return svc_fail_oom();
    svc_code rc = add_md(out, first);
    if (!rc)
        rc = add_md(out, &m->md);
    if (rc)
        return rc;
    const char *ct = svc_msg_content_type(m);
    if (ct) {
        out->props._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
        out->props.content_type = svc_amqp_str(ct);
    }
    out->props.headers.entries = out->entries;
    out->props.headers.num_entries = (int)out->n_entries;
    if (out->n_entries)
        out->props._flags |= AMQP_BASIC_HEADERS_FLAG;
    return SVC_OK;
}

static amqp_table_entry_t *add_entry(amqp_out *out, const char *key)
{
    amqp_table_entry_t *t = &out->entries[out->n_entries++];
    t->key = svc_amqp_str(key);
    out->props.headers.num_entries = (int)out->n_entries;
    out->props._flags |= AMQP_BASIC_HEADERS_FLAG;
    return t;
}

void svc_amqp_out_header(amqp_out *out, const char *key, const char *value)
{
    amqp_table_entry_t *t = add_entry(out, key);
    t->value.kind = AMQP_FIELD_KIND_UTF8;
    t->value.value.bytes = svc_amqp_str(value);
}

void svc_amqp_out_header_int(amqp_out *out, const char *key, int64_t value)
{
    amqp_table_entry_t *t = add_entry(out, key);
    t->value.kind = AMQP_FIELD_KIND_I64;
    t->value.value.i64 = value;
}

void svc_amqp_out_free(amqp_out *out)
{
    free(out->entries);
    out->entries = NULL;
}

static size_t shortstr_size(amqp_flags_t flags, amqp_flags_t flag, amqp_bytes_t b)
{
    return flags & flag ? 1 + b.len : 0;
}

/* The content header must fit in one frame (librabbitmq would send the
 * method first and then fail, which costs the connection), and each short
 * string in 255 bytes. */
svc_code svc_amqp_out_check_size(const amqp_out *out, int frame_max)
{
    const amqp_basic_properties_t *p = &out->props;
    const amqp_bytes_t *shorts[] = {&p->content_type, &p->correlation_id, &p->reply_to,
                                    &p->expiration,   &p->message_id,     &p->type,
                                    &p->app_id};
    for (size_t i = 0; i < sizeof shorts / sizeof shorts[0]; i++)
        if (shorts[i]->len > 255)
            return svc_fail(SVC_INVALID_ARGUMENT, "an AMQP property is longer than 255 bytes: '%.40s...'",
                            (const char *)shorts[i]->bytes);
    size_t size = CONTENT_HEADER_FIXED + FRAME_OVERHEAD + 1 + 8 + 4;
    size += shortstr_size(p->_flags, AMQP_BASIC_CONTENT_TYPE_FLAG, p->content_type) +
            shortstr_size(p->_flags, AMQP_BASIC_CORRELATION_ID_FLAG, p->correlation_id) +
            shortstr_size(p->_flags, AMQP_BASIC_REPLY_TO_FLAG, p->reply_to) +
            shortstr_size(p->_flags, AMQP_BASIC_EXPIRATION_FLAG, p->expiration) +
            shortstr_size(p->_flags, AMQP_BASIC_MESSAGE_ID_FLAG, p->message_id) +
            shortstr_size(p->_flags, AMQP_BASIC_TYPE_FLAG, p->type) +
            shortstr_size(p->_flags, AMQP_BASIC_APP_ID_FLAG, p->app_id);
    for (size_t i = 0; i < out->n_entries; i++)
        size += 1 + out->entries[i].key.len + 1 + 8 + out->entries[i].value.value.bytes.len;
    if (size > (size_t)frame_max)
        return svc_fail(SVC_INVALID_ARGUMENT,
                        "the message's headers and properties take %zu bytes, more than the "
                        "connection's frame_max (%d): send large data in the body",
                        size, frame_max);
    return SVC_OK;
}

/* ---- in ---- */

static bool is_reserved(amqp_bytes_t k)
{
    static const char *const names[] = {"svc-status", "svc-message", "svc-timeout",
                                         "svc-redelivered"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (k.len == strlen(names[i]) && strncasecmp(k.bytes, names[i], k.len) == 0)
            return true;
    return false;
}

/* A scalar header value as decimal text into buf; false for the kinds
 * metadata cannot hold. */
static bool scalar_text(const amqp_field_value_t *v, char *buf, size_t cap)
{
    switch (v->kind) {
    case AMQP_FIELD_KIND_BOOLEAN:
        snprintf(buf, cap, "%s", v->value.boolean ? "true" : "false");
        return true;
    case AMQP_FIELD_KIND_I8:
        snprintf(buf, cap, "%d", v->value.i8);
        return true;
    case AMQP_FIELD_KIND_U8:
        snprintf(buf, cap, "%u", v->value.u8);
        return true;
    case AMQP_FIELD_KIND_I16:
        snprintf(buf, cap, "%d", v->value.i16);
        return true;
    case AMQP_FIELD_KIND_U16:
        snprintf(buf, cap, "%u", v->value.u16);
        return true;
    case AMQP_FIELD_KIND_I32:
        snprintf(buf, cap, "%" PRId32, v->value.i32);
        return true;
    case AMQP_FIELD_KIND_U32:
        snprintf(buf, cap, "%" PRIu32, v->value.u32);
        return true;
    case AMQP_FIELD_KIND_I64:
        snprintf(buf, cap, "%" PRId64, v->value.i64);
        return true;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        snprintf(buf, cap, "%" PRIu64, v->value.u64);
        return true;
    case AMQP_FIELD_KIND_F32:
        snprintf(buf, cap, "%.9g", (double)v->value.f32);
        return true;
    case AMQP_FIELD_KIND_F64:
        snprintf(buf, cap, "%.17g", v->value.f64);
        return true;
    case AMQP_FIELD_KIND_DECIMAL: {
        /* value * 10^-decimals, written without floating point */
        uint32_t val = v->value.decimal.value;
        unsigned d = v->value.decimal.decimals > 9 ? 9 : v->value.decimal.decimals;
        uint32_t scale = 1;
        for (unsigned i = 0; i < d; i++)
            scale *= 10;
        if (d)
            snprintf(buf, cap, "%" PRIu32 ".%0*" PRIu32, val / scale, (int)d, val % scale);
        else
            snprintf(buf, cap, "%" PRIu32, val);
        return true;
    }
    default:
        return false;
    }
}

static svc_code add_bytes(svc_md *md, amqp_bytes_t k, amqp_bytes_t v)
{
    const char *key = k.bytes, *val = v.bytes ? v.bytes : "";
    if (svc_md_key_is_bin(key, k.len) || svc_md_text_valid(val, v.len))
        return svc_md_append(md, key, k.len, val, v.len);
    char bin_key[300];
    int n = snprintf(bin_key, sizeof bin_key, "%.*s-bin", (int)k.len, key);
    return svc_md_append(md, bin_key, (size_t)n, val, v.len);
}

/* Names a header that has no metadata form: "x-a,x-b" (as many as fit). */
static void note_skipped(char *names, size_t cap, amqp_bytes_t key, size_t *skipped)
{
    size_t used = strlen(names);
    if (svc_md_text_valid(key.bytes, key.len) && used + key.len + 2 < cap)
        snprintf(names + used, cap - used, "%s%.*s", used ? "," : "", (int)key.len,
                 (const char *)key.bytes);
    (*skipped)++;
}

static svc_code headers_to_md(svc_md *md, const amqp_table_t *t, char *names, size_t cap,
                              size_t *skipped)
{
    for (int i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        if (!e->key.len || e->key.len > 255 || !svc_md_key_valid(e->key.bytes, e->key.len)) {
            note_skipped(names, cap, e->key, skipped);
            continue;
        }
        if (is_reserved(e->key))
            continue;
        char text[64];
        svc_code rc = SVC_OK;
        if (e->value.kind == AMQP_FIELD_KIND_UTF8 || e->value.kind == AMQP_FIELD_KIND_BYTES)
            rc = add_bytes(md, e->key, e->value.value.bytes);
        else if (scalar_text(&e->value, text, sizeof text) &&
                 !svc_md_key_is_bin(e->key.bytes, e->key.len))
            rc = svc_md_append(md, e->key.bytes, e->key.len, text, strlen(text));
        else
            note_skipped(names, cap, e->key, skipped);
        if (rc)
            return rc;
    }
    return SVC_OK;
}

static svc_code add_prop(svc_md *md, amqp_flags_t flags, amqp_flags_t flag, const char *key,
                         amqp_bytes_t v)
{
    if (!(flags & flag) || !svc_md_text_valid(v.bytes ? v.bytes : "", v.len))
        return SVC_OK;
    return svc_md_append(md, key, strlen(key), v.bytes ? v.bytes : "", v.len);
}

static svc_code props_to_md(svc_md *md, const amqp_basic_properties_t *p)
{
    amqp_flags_t f = p->_flags;
    svc_code rc = add_prop(md, f, AMQP_BASIC_MESSAGE_ID_FLAG, "amqp-message-id", p->message_id);
    if (!rc)
        rc = add_prop(md, f, AMQP_BASIC_CORRELATION_ID_FLAG, "amqp-correlation-id",
                      p->correlation_id);
    if (!rc)
        rc = add_prop(md, f, AMQP_BASIC_APP_ID_FLAG, "amqp-app-id", p->app_id);
    if (!rc)
        rc = add_prop(md, f, AMQP_BASIC_TYPE_FLAG, "amqp-type", p->type);
    if (!rc)
        rc = add_prop(md, f, AMQP_BASIC_REPLY_TO_FLAG, "amqp-reply-to", p->reply_to);
    if (!rc)
        rc = add_prop(md, f, AMQP_BASIC_USER_ID_FLAG, "amqp-user-id", p->user_id);
    if (!rc && (f & AMQP_BASIC_TIMESTAMP_FLAG)) {
        char ts[24];
        int n = snprintf(ts, sizeof ts, "%" PRIu64, p->timestamp);
        rc = svc_md_append(md, "amqp-timestamp", 14, ts, (size_t)n);
    }
    if (!rc && (f & AMQP_BASIC_DELIVERY_MODE_FLAG) && p->delivery_mode == 2)
        rc = svc_md_append(md, "amqp-persistent", 15, "true", 4);
    return rc;
}

svc_msg *svc_amqp_msg_from(const amqp_basic_properties_t *p, amqp_bytes_t body, bool with_props,
                           size_t *skipped)
{
    svc_msg *m = NULL;
    if (svc_msg_new(&m) != SVC_OK)
        return NULL;
    svc_code rc = SVC_OK;
    if ((p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG) && p->content_type.len) {
        char ct[256];
        snprintf(ct, sizeof ct, "%.*s", (int)p->content_type.len, (const char *)p->content_type.bytes);
        rc = svc_msg_set_content_type(m, ct);
    }
    char names[256] = "";
    if (!rc && (p->_flags & AMQP_BASIC_HEADERS_FLAG))
        rc = headers_to_md(&m->md, &p->headers, names, sizeof names, skipped);
    if (!rc && with_props)
        rc = props_to_md(&m->md, p);
    /* The receiver learns what it did not get. */
    if (!rc && with_props && names[0])
        rc = svc_md_append(&m->md, "amqp-skipped-headers", 20, names, strlen(names));
    if (!rc && body.len)
        rc = svc_msg_set_data_owned(m, body.bytes, body.len, free);
    else if (!rc)
        free(body.bytes);
    if (rc) {
        svc_msg_free(m);
        return NULL;
    }
    return m;
}

const char *svc_amqp_header(const amqp_basic_properties_t *p, const char *key, char *buf,
                            size_t cap)
{
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
        return NULL;
    size_t klen = strlen(key);
    for (int i = 0; i < p->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &p->headers.entries[i];
        if (e->key.len != klen || strncasecmp(e->key.bytes, key, klen) != 0)
            continue;
        if (e->value.kind == AMQP_FIELD_KIND_UTF8 || e->value.kind == AMQP_FIELD_KIND_BYTES) {
            amqp_bytes_t v = e->value.value.bytes;
            snprintf(buf, cap, "%.*s", (int)(v.len < cap ? v.len : cap - 1),
                     v.bytes ? (const char *)v.bytes : "");
            return buf;
        }
        return scalar_text(&e->value, buf, cap) ? buf : NULL;
    }
    return NULL;
}
