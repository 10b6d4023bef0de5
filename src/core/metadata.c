#include "metadata.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

void svc_md_init(svc_md *md)
{
    md->v = NULL;
    md->n = md->cap = md->text_used = 0;
}

static void free_text(svc_md *md, char *key)
{
    if (key < md->text || key >= md->text + SVC_MD_TEXT)
        free(key);
}

void svc_md_clear(svc_md *md)
{
    for (size_t i = 0; i < md->n; i++)
        free_text(md, md->v[i].key);
    if (md->v != md->small)
        free(md->v);
    svc_md_init(md);
}

static bool grow(svc_md *md)
{
    if (md->cap == 0) {
        md->v = md->small;
        md->cap = SVC_MD_SMALL;
        return true;
    }
    size_t cap = md->cap * 2;
    svc_md_entry *v = md->v == md->small ? malloc(cap * sizeof *v)
                                         : realloc(md->v, cap * sizeof *v);
    if (!v)
        return false;
    if (md->v == md->small)
        memcpy(v, md->small, md->n * sizeof *v);
    md->v = v;
    md->cap = cap;
    return true;
}

/* [a-zA-Z0-9-_.] in ASCII, not isalnum()/tolower(): those consult the
 * locale, per byte of every header of every call. */
static bool key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

bool svc_md_key_valid(const char *key, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!key_char((unsigned char)key[i]))
            return false;
    return true;
}

bool svc_md_key_is_bin(const char *key, size_t len)
{
    return len >= 4 && strncasecmp(key + len - 4, "-bin", 4) == 0;
}

bool svc_md_text_valid(const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7E)
            return false;
    return true;
}

svc_code svc_md_append(svc_md *md, const char *key, size_t key_len,
                       const char *value, size_t value_len)
{
    if (md->n == md->cap && !grow(md))
        return svc_fail_oom();
    size_t need = key_len + value_len + 2;
    char *block;
    if (need <= SVC_MD_TEXT - md->text_used) {
        block = md->text + md->text_used;
        md->text_used += need;
    } else if (!(block = malloc(need))) {
        return svc_fail_oom();
    }
    for (size_t i = 0; i < key_len; i++)
        block[i] = key[i] >= 'A' && key[i] <= 'Z' ? (char)(key[i] + ('a' - 'A')) : key[i];
    block[key_len] = '\0';
    if (value_len)
        memcpy(block + key_len + 1, value, value_len);
    block[key_len + 1 + value_len] = '\0';
    md->v[md->n++] = (svc_md_entry){block, block + key_len + 1, value_len};
    return SVC_OK;
}

svc_code svc_md_add_checked(svc_md *md, const char *key, const char *value,
                            size_t value_len, bool binary)
{
    if (!key || (!value && value_len))
        return svc_fail(SVC_INVALID_ARGUMENT, "metadata key or value missing");
    size_t key_len = strlen(key);
    if (!svc_md_key_valid(key, key_len))
        return svc_fail(SVC_INVALID_ARGUMENT, "bad metadata key '%s'", key);
    if (svc_md_key_is_bin(key, key_len) != binary)
        return svc_fail(SVC_INVALID_ARGUMENT,
                        binary ? "binary metadata key '%s' must end in -bin"
                               : "text metadata key '%s' must not end in -bin",
                        key);
    if (!binary && !svc_md_text_valid(value, value_len))
        return svc_fail(SVC_INVALID_ARGUMENT, "metadata '%s' has a non-printable value", key);
    return svc_md_append(md, key, key_len, value ? value : "", value_len);
}

svc_code svc_md_copy(svc_md *dst, const svc_md *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const svc_md_entry *e = &src->v[i];
        svc_code rc = svc_md_append(dst, e->key, strlen(e->key), e->value, e->value_len);
        if (rc)
            return rc;
    }
    return SVC_OK;
}

const svc_md_entry *svc_md_find(const svc_md *md, const char *key)
{
    for (size_t i = 0; i < md->n; i++)
        if (strcasecmp(md->v[i].key, key) == 0)
            return &md->v[i];
    return NULL;
}

size_t svc_md_remove(svc_md *md, const char *key)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < md->n; i++) {
        if (strcasecmp(md->v[i].key, key) == 0) {
            free_text(md, md->v[i].key); /* its room in `text` stays used */
            removed++;
        } else {
            md->v[kept++] = md->v[i];
        }
    }
    md->n = kept;
    return removed;
}
