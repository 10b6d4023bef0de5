/*
 * svc_pb_to_json: a protobuf-c message printed as compact proto3 JSON, fields
 * in descriptor order.
 *
 * Presence follows protobuf_c_message_pack, so the JSON carries what the
 * binary form would: oneof members by their case, optional (proto2 or proto3
 * `optional`) scalars by has_, strings and messages by a pointer that is
 * neither NULL nor the descriptor default, LABEL_NONE fields when not zero.
 * Unknown fields kept from a binary parse have no JSON form and are dropped.
 * Well-known types (google.protobuf.Timestamp, Duration, Struct, wrappers...)
 * get no special form: they print as the ordinary messages they are.
 */
#include "codec/pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/error.h"
#include "core/strbuf.h"

typedef struct enc {
    svc_strbuf out;
    unsigned flags;
    locale_t c_locale;
} enc;

static svc_code enc_message(enc *e, const ProtobufCMessage *m, const svc_pbjson_path *path,
                            int depth);

/* Map keys are JSON strings whatever their type, and 64-bit integers are
 * strings everywhere because JSON readers commonly hold numbers in doubles. */
static void put_int(svc_strbuf *b, const svc_pbjson_int_kind *k, const void *p, bool as_key)
{
    char text[24];
    svc_pbjson_int_text(k, p, text);
    if (as_key || k->size == 8)
        svc_strbuf_printf(b, "\"%s\"", text);
    else
        svc_strbuf_puts(b, text);
}

static bool reads_back(const char *text, double v, bool single, locale_t loc)
{
    if (single)
        return strtof_l(text, NULL, loc) == (float)v;
    return strtod_l(text, NULL, loc) == v;
}

/* The first %g form, from 6 (float) or 15 (double) significant digits up,
 * that reads back as the same value: short for short values, exact for all.
 * Printed in the C locale whatever the process's LC_NUMERIC is. */
static void put_real(enc *e, double v, bool single)
{
    if (isnan(v)) {
        svc_strbuf_puts(&e->out, "\"NaN\"");
        return;
    }
    if (isinf(v)) {
        svc_strbuf_puts(&e->out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    char text[40];
    int max = single ? 9 : 17;
    locale_t old = uselocale(e->c_locale);
    for (int prec = single ? 6 : 15;; prec++) {
        snprintf(text, sizeof text, "%.*g", prec, v);
        if (prec == max || reads_back(text, v, single, e->c_locale))
            break;
    }
    uselocale(old);
    svc_strbuf_puts(&e->out, text);
}

static svc_code put_string(enc *e, const char *s, const svc_pbjson_path *path)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    /* svc_strbuf_json_string would silently turn bad bytes into U+FFFD. */
    if (!svc_pbjson_utf8_valid(s, n))
        return svc_pbjson_fail(path, "string is not valid UTF-8");
    svc_strbuf_json_string(&e->out, s, n);
    return SVC_OK;
}

static void put_bytes(svc_strbuf *b, const ProtobufCBinaryData *bd)
{
    svc_strbuf_putc(b, '"');
    svc_strbuf_reserve(b, svc_base64_encoded_size(bd->len));
    if (b->oom)
        return;
    b->len += svc_base64_encode(bd->data, bd->len, b->data + b->len);
    svc_strbuf_putc(b, '"');
}

static void put_enum(svc_strbuf *b, const ProtobufCEnumDescriptor *ed, int32_t v)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
    /* Proto3 enums are open: a number with no name prints as the number. */
    if (ev)
        svc_strbuf_printf(b, "\"%s\"", ev->name);
    else
        svc_strbuf_printf(b, "%" PRId32, v);
}

/* One value of field `f` stored at `p`: a singular member or an element. */
static svc_code enc_value(enc *e, const ProtobufCFieldDescriptor *f, const void *p,
                          const svc_pbjson_path *path, int depth)
{
    const svc_pbjson_int_kind *k = svc_pbjson_int_kind_of(f->type);
    if (k) {
        put_int(&e->out, k, p, false);
        return SVC_OK;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT: put_real(e, *(const float *)p, true); break;
    case PROTOBUF_C_TYPE_DOUBLE: put_real(e, *(const double *)p, false); break;
    case PROTOBUF_C_TYPE_BOOL:
        svc_strbuf_puts(&e->out, *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM: put_enum(&e->out, f->descriptor, *(const int32_t *)p); break;
    case PROTOBUF_C_TYPE_STRING: return put_string(e, *(char *const *)p, path);
    case PROTOBUF_C_TYPE_BYTES: put_bytes(&e->out, p); break;
    default: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        /* A map value message left NULL is the empty message. */
        if (!sub) {
            svc_strbuf_puts(&e->out, "{}");
            break;
        }
        return enc_message(e, sub, path, depth);
    }
    }
    return SVC_OK;
}

static svc_code enc_map_key(enc *e, const ProtobufCFieldDescriptor *kf, const void *p,
                            const svc_pbjson_path *path)
{
    const svc_pbjson_int_kind *k = svc_pbjson_int_kind_of(kf->type);
    if (k)
        put_int(&e->out, k, p, true);
    else if (kf->type == PROTOBUF_C_TYPE_BOOL)
        svc_strbuf_puts(&e->out, *(const protobuf_c_boolean *)p ? "\"true\"" : "\"false\"");
    else
        return put_string(e, *(char *const *)p, path);
    return SVC_OK;
}

static svc_code enc_map(enc *e, const ProtobufCFieldDescriptor *f, size_t n,
                        ProtobufCMessage *const *entries, const svc_pbjson_path *up, int depth)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    svc_strbuf_putc(&e->out, '{');
    for (size_t i = 0; i < n; i++) {
        svc_pbjson_path here = {up, SVC_PBJSON_INDEX, NULL, 0, i};
        if (i)
            svc_strbuf_putc(&e->out, ',');
        svc_code rc = enc_map_key(e, kf, svc_pbjson_at(entries[i], kf->offset), &here);
        if (rc)
            return rc;
        svc_strbuf_putc(&e->out, ':');
        rc = enc_value(e, vf, svc_pbjson_at(entries[i], vf->offset), &here, depth);
        if (rc)
            return rc;
    }
    svc_strbuf_putc(&e->out, '}');
    return SVC_OK;
}

static svc_code enc_repeated(enc *e, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                             const svc_pbjson_path *up, int depth)
{
    if (depth + 1 > SVC_PBJSON_MAX_DEPTH)
        return svc_pbjson_fail(up, "nesting deeper than %d levels", SVC_PBJSON_MAX_DEPTH);
    size_t n = *(const size_t *)svc_pbjson_at(m, f->quantifier_offset);
    const char *arr = *(char *const *)svc_pbjson_at(m, f->offset);
    if (svc_pbjson_is_map(m->descriptor, f))
        return enc_map(e, f, n, (ProtobufCMessage *const *)arr, up, depth + 1);
    size_t size = svc_pbjson_elt_size(f->type);
    svc_strbuf_putc(&e->out, '[');
    for (size_t i = 0; i < n; i++) {
        svc_pbjson_path here = {up, SVC_PBJSON_INDEX, NULL, 0, i};
        if (i)
            svc_strbuf_putc(&e->out, ',');
        svc_code rc = enc_value(e, f, arr + i * size, &here, depth + 1);
        if (rc)
            return rc;
    }
    svc_strbuf_putc(&e->out, ']');
    return SVC_OK;
}

/* Whether a LABEL_NONE field holds its type's zero. == rather than the bits
 * for reals, so -0.0 is left out as protobuf-c's packer leaves it out. */
static bool is_zero(const ProtobufCFieldDescriptor *f, const void *p)
{
    static const char zeros[8];
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_FLOAT: return *(const float *)p == 0;
    case PROTOBUF_C_TYPE_DOUBLE: return *(const double *)p == 0;
    default: return memcmp(p, zeros, svc_pbjson_elt_size(f->type)) == 0;
    }
}

static bool pointer_set(const ProtobufCFieldDescriptor *f, const void *p)
{
    const void *ptr = *(void *const *)p;
    return ptr && ptr != f->default_value;
}

static bool is_printed(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                       unsigned flags)
{
    const void *p = svc_pbjson_at(m, f->offset);
    const void *q = svc_pbjson_at(m, f->quantifier_offset);
    bool defaults = flags & SVC_JSON_EMIT_DEFAULTS;
    bool by_pointer = f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return defaults || *(const size_t *)q > 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)q == f->id && (!by_pointer || pointer_set(f, p));
    if (svc_pbjson_has_flag(f))
        return *(const protobuf_c_boolean *)q;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE ||
        (f->type == PROTOBUF_C_TYPE_STRING && f->label == PROTOBUF_C_LABEL_OPTIONAL))
        return pointer_set(f, p);
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return true;
    return defaults || !is_zero(f, p);
}

static void put_name(enc *e, const char *name)
{
    svc_strbuf_putc(&e->out, '"');
    if (e->flags & SVC_JSON_ORIGINAL_NAMES) {
        svc_strbuf_puts(&e->out, name);
    } else {
        char c;
        while ((c = svc_pbjson_camel_next(&name)) != '\0')
            svc_strbuf_putc(&e->out, c);
    }
    svc_strbuf_puts(&e->out, "\":");
}

static svc_code enc_message(enc *e, const ProtobufCMessage *m, const svc_pbjson_path *path,
                            int depth)
{
    if (depth + 1 > SVC_PBJSON_MAX_DEPTH)
        return svc_pbjson_fail(path, "nesting deeper than %d levels", SVC_PBJSON_MAX_DEPTH);
    const ProtobufCMessageDescriptor *d = m->descriptor;
    bool first = true;
    svc_strbuf_putc(&e->out, '{');
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!is_printed(m, f, e->flags))
            continue;
        svc_pbjson_path here = {path, SVC_PBJSON_FIELD, f->name, strlen(f->name), 0};
        if (!first)
            svc_strbuf_putc(&e->out, ',');
        first = false;
        put_name(e, f->name);
        svc_code rc = f->label == PROTOBUF_C_LABEL_REPEATED
                          ? enc_repeated(e, m, f, &here, depth + 1)
                          : enc_value(e, f, svc_pbjson_at(m, f->offset), &here, depth + 1);
        if (rc)
            return rc;
    }
    svc_strbuf_putc(&e->out, '}');
    return SVC_OK;
}

svc_code svc_pb_to_json(const ProtobufCMessage *m, unsigned flags, char **out, size_t *len)
{
    if (!out)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_pb_to_json: no output pointer");
    *out = NULL;
    if (!m || !m->descriptor)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_pb_to_json: no message");
    enc e = {.flags = flags, .c_locale = svc_pbjson_c_locale()};
    if (!e.c_locale)
        return svc_fail_oom();
    svc_strbuf_init(&e.out);
    svc_code rc = enc_message(&e, m, NULL, 0);
    if (rc) {
        svc_strbuf_free(&e.out);
        return rc;
    }
    *out = svc_strbuf_take(&e.out, len);
    return *out ? SVC_OK : svc_fail_oom();
}
