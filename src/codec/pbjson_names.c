/* Helpers shared by the proto3 JSON encoder and decoder (see pbjson.h). */
#include "codec/pbjson.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

char svc_pbjson_camel_next(const char **p)
{
    const char *s = *p;
    bool upper = false;
    while (*s == '_') {
        upper = true;
        s++;
    }
    if (*s == '\0') {
        *p = s;
        return '\0';
    }
    *p = s + 1;
    /* protoc upper-cases ASCII letters only; a digit after '_' stays. */
    return upper && *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
}

static bool camel_equals(const char *name, const char *key)
{
    char c;
    while ((c = svc_pbjson_camel_next(&name)) != '\0') {
        if (c != *key++)
            return false;
    }
    return *key == '\0';
}

const ProtobufCFieldDescriptor *svc_pbjson_find_field(const ProtobufCMessageDescriptor *d,
                                                      const char *key, size_t len)
{
    /* A key with an embedded NUL would match a prefix of a field name. */
    if (memchr(key, '\0', len))
        return NULL;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
    for (unsigned i = 0; !f && i < d->n_fields; i++) {
        if (camel_equals(d->fields[i].name, key))
            f = &d->fields[i];
    }
    return f;
}

static bool is_map_key_type(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_STRING || t == PROTOBUF_C_TYPE_BOOL ||
           svc_pbjson_int_kind_of(t) != NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* protobuf-c has no map flag: a map<K,V> is generated as a repeated nested
 * message "<Field>Entry" { K key = 1; V value = 2; }, so recognise that. */
bool svc_pbjson_is_map(const ProtobufCMessageDescriptor *parent,
                       const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    if (e->n_fields != 2 || !ends_with(e->short_name, "Entry"))
        return false;
    const ProtobufCFieldDescriptor *k = &e->fields[0], *v = &e->fields[1];
    if (k->id != 1 || strcmp(k->name, "key") != 0 || v->id != 2 ||
        strcmp(v->name, "value") != 0 || !is_map_key_type(k->type) ||
        k->label == PROTOBUF_C_LABEL_REPEATED || v->label == PROTOBUF_C_LABEL_REPEATED)
        return false;
    size_t plen = strlen(parent->name);
    return strncmp(e->name, parent->name, plen) == 0 && e->name[plen] == '.' &&
           strcmp(e->name + plen + 1, e->short_name) == 0;
}

bool svc_pbjson_has_flag(const ProtobufCFieldDescriptor *f)
{
    /* Strings and messages of optional fields use NULL/default pointers as
     * presence and oneof members the case member, as protobuf-c's packer. */
    return f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
           f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

static const svc_pbjson_int_kind int_kinds[] = {
    [PROTOBUF_C_TYPE_INT32] = {4, true},    [PROTOBUF_C_TYPE_SINT32] = {4, true},
    [PROTOBUF_C_TYPE_SFIXED32] = {4, true}, [PROTOBUF_C_TYPE_INT64] = {8, true},
    [PROTOBUF_C_TYPE_SINT64] = {8, true},   [PROTOBUF_C_TYPE_SFIXED64] = {8, true},
    [PROTOBUF_C_TYPE_UINT32] = {4, false},  [PROTOBUF_C_TYPE_FIXED32] = {4, false},
    [PROTOBUF_C_TYPE_UINT64] = {8, false},  [PROTOBUF_C_TYPE_FIXED64] = {8, false},
};

const svc_pbjson_int_kind *svc_pbjson_int_kind_of(ProtobufCType t)
{
    if ((unsigned)t >= sizeof int_kinds / sizeof int_kinds[0] || int_kinds[t].size == 0)
        return NULL;
    return &int_kinds[t];
}

void svc_pbjson_int_text(const svc_pbjson_int_kind *k, const void *p, char buf[24])
{
    if (k->is_signed)
        snprintf(buf, 24, "%" PRId64, k->size == 4 ? *(const int32_t *)p : *(const int64_t *)p);
    else
        snprintf(buf, 24, "%" PRIu64, k->size == 4 ? *(const uint32_t *)p : *(const uint64_t *)p);
}

size_t svc_pbjson_elt_size(ProtobufCType t)
{
    const svc_pbjson_int_kind *k = svc_pbjson_int_kind_of(t);
    if (k)
        return k->size;
    switch (t) {
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int32_t); /* C enums, int-sized */
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    default: return sizeof(ProtobufCMessage *);
    }
}

static size_t utf8_len(const unsigned char *s, size_t n)
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
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool svc_pbjson_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(p + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

locale_t svc_pbjson_c_locale(void)
{
    pthread_once(&c_locale_once, make_c_locale);
    return c_locale;
}

/* Writes the path from the root down; returns the length it wanted. */
static size_t format_path(const svc_pbjson_path *p, char *buf, size_t cap)
{
    size_t n = p->up ? format_path(p->up, buf, cap) : 0;
    if (n >= cap)
        return n;
    /* Map keys and unknown field names come from the input: keep them short. */
    int name_len = p->name_len > 40 ? 40 : (int)p->name_len;
    int w;
    switch (p->step) {
    case SVC_PBJSON_INDEX:
        w = snprintf(buf + n, cap - n, "[%zu]", p->index);
        break;
    case SVC_PBJSON_KEY:
        w = snprintf(buf + n, cap - n, "[%.*s]", name_len, p->name);
        break;
    default:
        w = snprintf(buf + n, cap - n, "%s%.*s", n ? "." : "", name_len, p->name);
        break;
    }
    return w < 0 ? n : n + (size_t)w;
}

svc_code svc_pbjson_fail(const svc_pbjson_path *path, const char *fmt, ...)
{
    char detail[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (!path)
        return svc_fail(SVC_INVALID_ARGUMENT, "%s", detail);
    char where[96] = "";
    format_path(path, where, sizeof where);
    return svc_fail(SVC_INVALID_ARGUMENT, "field '%s': %s", where, detail);
}
