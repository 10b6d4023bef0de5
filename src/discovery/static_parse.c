/* The static resolver's endpoint syntax (static_parse.h). */
#include "static_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define MAX_MD 32 /* metadata pairs per item */

typedef struct span {
    const char *p;
    size_t n;
} span;

static span trim(const char *p, size_t n)
{
    while (n && isspace((unsigned char)*p))
        p++, n--;
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    return (span){p, n};
}

static bool span_is(span s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* A URL here is "scheme:" followed by something, with no blanks or NULs;
 * whether a transport serves the scheme is for the client to say. */
static bool url_valid(span u)
{
    size_t i = 0;
    if (!u.n || !isalpha((unsigned char)u.p[0]))
        return false;
    while (i < u.n && (isalnum((unsigned char)u.p[i]) || strchr("+.-", u.p[i])))
        i++;
    if (i >= u.n || u.p[i] != ':' || i + 1 == u.n)
        return false;
    for (size_t j = 0; j < u.n; j++)
        if ((unsigned char)u.p[j] <= ' ' || u.p[j] == 0x7F)
            return false;
    return true;
}

static bool parse_weight(span v, uint32_t *out)
{
    if (!v.n || v.n > 10)
        return false;
    uint64_t w = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (!isdigit((unsigned char)v.p[i]))
            return false;
        w = w * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (w == 0 || w > UINT32_MAX)
        return false;
    *out = (uint32_t)w;
    return true;
}

typedef struct item {
    char *url, *id, *zone;
    char *md[2 * MAX_MD + 1];
    size_t n_md;
    uint32_t weight;
    bool has_weight;
} item;

static void item_free(item *it)
{
    free(it->url);
    free(it->id);
    free(it->zone);
    for (size_t i = 0; i < it->n_md; i++)
        free(it->md[i]);
}

#define ITEM_FAIL(it, fmt, ...)                                                                  \
    svc_fail(SVC_INVALID_ARGUMENT, "static: endpoint \"%.*s\": " fmt, (int)(it).n, (it).p,      \
             __VA_ARGS__)

static svc_code set_once(char **slot, span whole, span key, span v)
{
    if (*slot)
        return ITEM_FAIL(whole, "\"%.*s\" given twice", (int)key.n, key.p);
    if (!v.n)
        return ITEM_FAIL(whole, "empty %.*s", (int)key.n, key.p);
    return (*slot = strndup(v.p, v.n)) ? SVC_OK : svc_fail_oom();
}

static svc_code parse_attr(item *it, span whole, span attr)
{
    const char *eq = memchr(attr.p, '=', attr.n);
    if (!eq)
        return ITEM_FAIL(whole, "\"%.*s\" is not key=value", (int)attr.n, attr.p);
    span key = trim(attr.p, (size_t)(eq - attr.p));
    span v = trim(eq + 1, attr.n - (size_t)(eq + 1 - attr.p));
    if (span_is(key, "weight")) {
        if (it->has_weight)
            return ITEM_FAIL(whole, "%s given twice", "weight");
        if (!parse_weight(v, &it->weight))
            return ITEM_FAIL(whole, "weight \"%.*s\" is not an integer from 1 to 4294967295",
                             (int)v.n, v.p);
        it->has_weight = true;
        return SVC_OK;
    }
    if (span_is(key, "zone"))
        return set_once(&it->zone, whole, key, v);
    if (span_is(key, "id"))
        return set_once(&it->id, whole, key, v);
    if (key.n > 3 && memcmp(key.p, "md.", 3) == 0) {
        if (it->n_md == 2 * MAX_MD)
            return ITEM_FAIL(whole, "more than %d metadata entries", MAX_MD);
        if (!(it->md[it->n_md] = strndup(key.p + 3, key.n - 3)))
            return svc_fail_oom();
        it->n_md++;
        if (!(it->md[it->n_md] = strndup(v.p, v.n)))
            return svc_fail_oom();
        it->n_md++;
        return SVC_OK;
    }
    return ITEM_FAIL(whole, "unknown attribute \"%.*s\" (weight, zone, id, md.NAME)", (int)key.n,
                     key.p);
}

svc_code svc_static_parse_item(const char *text, size_t len, svc_eplist *out)
{
    span whole = trim(text, len);
    if (!whole.n)
        return svc_fail(SVC_INVALID_ARGUMENT, "static: empty endpoint");
    if (memchr(whole.p, '\0', whole.n))
        return svc_fail(SVC_INVALID_ARGUMENT, "static: endpoint contains a NUL byte");
    item it = {0};
    const char *end = whole.p + whole.n;
    const char *semi = memchr(whole.p, ';', whole.n);
    span url = trim(whole.p, (size_t)((semi ? semi : end) - whole.p));
    svc_code rc = SVC_OK;
    if (!url_valid(url))
        rc = ITEM_FAIL(whole, "\"%.*s\" is not a URL (scheme:...)", (int)url.n, url.p);
    else if (!(it.url = strndup(url.p, url.n)))
        rc = svc_fail_oom();
    while (rc == SVC_OK && semi) {
        const char *start = semi + 1;
        semi = memchr(start, ';', (size_t)(end - start));
        rc = parse_attr(&it, whole, trim(start, (size_t)((semi ? semi : end) - start)));
    }
    if (rc == SVC_OK) {
        svc_endpoint_info ep = {.url = it.url, .id = it.id, .zone = it.zone,
                                .weight = it.has_weight ? it.weight : 1,
                                .md = it.n_md ? (const char *const *)it.md : NULL};
        rc = svc_eplist_add(out, &ep);
    }
    item_free(&it);
    return rc;
}

svc_code svc_static_parse(const char *text, size_t len, bool file, svc_eplist *out)
{
    const char sep = file ? '\n' : ',';
    const char *p = text, *end = text + len;
    size_t before = out->n, no = 0;
    if (!file && !trim(text, len).n)
        return svc_fail(SVC_INVALID_ARGUMENT, "static: empty endpoint list");
    while (p <= end) {
        const char *next = memchr(p, sep, (size_t)(end - p));
        if (!next)
            next = end;
        span s = trim(p, (size_t)(next - p));
        no++;
        if (!file && !s.n)
            return svc_fail(SVC_INVALID_ARGUMENT, "static: endpoint %zu of the list is empty", no);
        if (s.n && !(file && s.p[0] == '#')) {
            svc_code rc = svc_static_parse_item(s.p, s.n, out);
            if (rc != SVC_OK) {
                if (!file)
                    return rc;
                char why[512];
                snprintf(why, sizeof why, "%s", svc_last_error());
                return svc_fail(rc, "%s (line %zu)", why, no);
            }
        }
        p = next + 1;
    }
    if (out->n == before)
        return svc_fail(SVC_INVALID_ARGUMENT, "static: empty endpoint list");
    return SVC_OK;
}
