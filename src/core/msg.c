#include "msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* The payload right after the header, NUL-terminated: one allocation. */
static svc_buf *buf_new(size_t len)
{
    svc_buf *b = malloc(sizeof *b + len + 1);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->data = b + 1;
    b->len = len;
    b->free_fn = NULL;
    b->owner = NULL;
    ((char *)b->data)[len] = '\0';
    return b;
}

void svc_buf_ref(svc_buf *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void svc_buf_unref(svc_buf *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (b->free_fn)
        b->free_fn(b->owner);
    free(b);
}

/* malloc and a zeroed struct rather than calloc: glibc's calloc (2.36)
 * skips the per-thread cache, which costs a few hundred instructions on
 * every message of every transport. */
static svc_msg *msg_alloc(void)
{
    svc_msg *m = malloc(sizeof *m);
    if (m)
        *m = (svc_msg){0};
    return m;
}

/* Nearly every message has one of these: they are pointed to, not copied
 * (a unary gRPC call set four content types, each a malloc and a free). */
static const char *const common_types[] = {SVC_CT_PROTO, SVC_CT_JSON};

#define N_COMMON (sizeof common_types / sizeof common_types[0])

static void free_type(const char *ct)
{
    for (size_t i = 0; i < N_COMMON; i++)
        if (ct == common_types[i])
            return;
    free((char *)(uintptr_t)ct);
}

svc_code svc_msg_new(svc_msg **out)
{
    svc_msg *m = msg_alloc();
    if (!m)
        return svc_fail_oom();
    *out = m;
    return SVC_OK;
}

svc_code svc_msg_new_data(const void *data, size_t len, const char *content_type, svc_msg **out)
{
    svc_code rc = svc_msg_new(out);
    if (rc == SVC_OK)
        rc = svc_msg_set_data(*out, data, len);
    if (rc == SVC_OK)
        rc = svc_msg_set_content_type(*out, content_type);
    if (rc != SVC_OK) {
        svc_msg_free(*out);
        *out = NULL;
    }
    return rc;
}

svc_msg *svc_msg_new_status(svc_code code, const char *message)
{
    svc_msg *m = NULL;
    if (svc_msg_new(&m) != SVC_OK)
        return NULL;
    if (svc_msg_set_status(m, code, message) != SVC_OK) {
        svc_msg_free(m);
        return NULL;
    }
    return m;
}

svc_msg *svc_msg_new_unprocessed(svc_code code, const char *message)
{
    svc_msg *m = svc_msg_new_status(code, message);
    if (m)
        m->unprocessed = true;
    return m;
}

void svc_msg_free(svc_msg *m)
{
    if (!m)
        return;
    svc_buf_unref(m->buf);
    free_type(m->content_type);
    free(m->status_message);
    svc_md_clear(&m->md);
    free(m);
}

svc_code svc_msg_clone(const svc_msg *m, svc_msg **out)
{
    svc_msg *c = msg_alloc();
    if (!c)
        return svc_fail_oom();
    c->status = m->status;
    c->compress = m->compress;
    c->was_compressed = m->was_compressed;
    if (svc_msg_set_content_type(c, m->content_type) != SVC_OK ||
        (m->status_message && !(c->status_message = strdup(m->status_message))) ||
        svc_md_copy(&c->md, &m->md) != SVC_OK) {
        svc_msg_free(c);
        return svc_fail_oom();
    }
    if (m->buf) {
        svc_buf_ref(m->buf);
        c->buf = m->buf;
    }
    *out = c;
    return SVC_OK;
}

svc_code svc_msg_alloc_data(svc_msg *m, size_t len, void **data)
{
    svc_buf *b = buf_new(len);
    if (!b)
        return svc_fail_oom();
    svc_buf_unref(m->buf);
    m->buf = b;
    *data = b->data;
    return SVC_OK;
}

svc_code svc_msg_set_data(svc_msg *m, const void *data, size_t len)
{
    void *p = NULL;
    svc_code rc = svc_msg_alloc_data(m, len, &p);
    if (rc == SVC_OK && len)
        memcpy(p, data, len);
    return rc;
}

svc_code svc_msg_set_data_borrowed(svc_msg *m, const void *data, size_t len,
                                   void (*release)(void *), void *owner)
{
    svc_buf *b = malloc(sizeof *b);
    if (!b) {
        release(owner);
        return svc_fail_oom();
    }
    atomic_init(&b->refs, 1);
    b->data = (void *)data; /* read-only from here on, like every payload */
    b->len = len;
    b->free_fn = release;
    b->owner = owner;
    svc_buf_unref(m->buf);
    m->buf = b;
    return SVC_OK;
}

svc_code svc_msg_set_data_owned(svc_msg *m, void *data, size_t len, void (*free_fn)(void *))
{
    return svc_msg_set_data_borrowed(m, data, len, free_fn ? free_fn : free, data);
}

const void *svc_msg_data(const svc_msg *m)
{
    return m->buf ? m->buf->data : "";
}

size_t svc_msg_len(const svc_msg *m)
{
    return m->buf ? m->buf->len : 0;
}

svc_code svc_msg_set_content_type(svc_msg *m, const char *ct)
{
    const char *copy = NULL;
    for (size_t i = 0; ct && !copy && i < N_COMMON; i++)
        if (strcmp(ct, common_types[i]) == 0)
            copy = common_types[i];
    if (ct && !copy && !(copy = strdup(ct)))
        return svc_fail_oom();
    free_type(m->content_type);
    m->content_type = copy;
    return SVC_OK;
}

const char *svc_msg_content_type(const svc_msg *m)
{
    return m->content_type;
}

svc_code svc_msg_md_add(svc_msg *m, const char *key, const char *value)
{
    return svc_md_add_checked(&m->md, key, value, value ? strlen(value) : 0, false);
}

svc_code svc_msg_md_add_bin(svc_msg *m, const char *key, const void *value, size_t len)
{
    return svc_md_add_checked(&m->md, key, value, len, true);
}

svc_code svc_msg_md_set(svc_msg *m, const char *key, const char *value)
{
    svc_md_remove(&m->md, key);
    return svc_msg_md_add(m, key, value);
}

const char *svc_msg_md_get(const svc_msg *m, const char *key, size_t *len)
{
    const svc_md_entry *e = svc_md_find(&m->md, key);
    if (!e)
        return NULL;
    if (len)
        *len = e->value_len;
    return e->value;
}

size_t svc_msg_md_remove(svc_msg *m, const char *key)
{
    return svc_md_remove(&m->md, key);
}

size_t svc_msg_md_count(const svc_msg *m)
{
    return m->md.n;
}

svc_code svc_msg_md_at(const svc_msg *m, size_t i, const char **key, const char **value,
                       size_t *len)
{
    if (i >= m->md.n)
        return svc_fail(SVC_OUT_OF_RANGE, "metadata index %zu past %zu entries", i, m->md.n);
    if (key)
        *key = m->md.v[i].key;
    if (value)
        *value = m->md.v[i].value;
    if (len)
        *len = m->md.v[i].value_len;
    return SVC_OK;
}

svc_code svc_msg_status(const svc_msg *m)
{
    return m->status;
}

const char *svc_msg_status_message(const svc_msg *m)
{
    return m->status_message ? m->status_message : "";
}

svc_code svc_msg_set_status(svc_msg *m, svc_code code, const char *message)
{
    char *copy = NULL;
    if (message && *message && !(copy = strdup(message)))
        return svc_fail_oom();
    free(m->status_message);
    m->status_message = copy;
    m->status = code;
    return SVC_OK;
}

svc_code svc_msg_set_compress(svc_msg *m, bool compress)
{
    m->compress = compress;
    return SVC_OK;
}

bool svc_msg_was_compressed(const svc_msg *m)
{
    return m->was_compressed;
}
