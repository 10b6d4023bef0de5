#include "router.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "url.h"

/* ---- params ---- */

svc_code svc_params_add(svc_params *p, char *name, char *value)
{
    if (!name || !value)
        goto oom;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        svc_param *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            goto oom;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = (svc_param){name, value};
    return SVC_OK;
oom:
    free(name);
    free(value);
    return svc_fail_oom();
}

const char *svc_params_get(const svc_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, name) == 0)
            return p->v[i].value;
    return NULL;
}

void svc_params_clear(svc_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].name);
        free(p->v[i].value);
    }
    free(p->v);
    memset(p, 0, sizeof *p);
}

svc_code svc_params_parse_query(svc_params *p, const char *query, size_t len)
{
    const char *s = query, *end = query + len;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        size_t n = amp ? (size_t)(amp - s) : (size_t)(end - s);
        if (n) {
            const char *eq = memchr(s, '=', n);
            size_t key_len = eq ? (size_t)(eq - s) : n;
            char *key = svc_pct_decode(s, key_len, true);
            char *val = eq ? svc_pct_decode(eq + 1, n - key_len - 1, true) : strdup("");
            if (!key || !val) {
                free(key);
                free(val);
                return svc_fail(SVC_INVALID_ARGUMENT, "bad escape in query string");
            }
            svc_code rc = svc_params_add(p, key, val);
            if (rc)
                return rc;
        }
        s += n + 1;
    }
    return SVC_OK;
}

/* ---- router ---- */

typedef enum seg_kind { SEG_LITERAL, SEG_PARAM, SEG_REST } seg_kind;

typedef struct segment {
    seg_kind kind;
    char *text; /* literal text or parameter name */
    size_t len;
} segment;

typedef struct route {
    char *verb;
    char *pattern;
    segment *segs;
    size_t n_segs;
    size_t n_literal;
    void *value;
} route;

struct svc_router {
    route *routes;
    size_t n, cap;
};

svc_code svc_router_new(svc_router **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? SVC_OK : svc_fail_oom();
}

static void route_clear(route *r)
{
    for (size_t i = 0; i < r->n_segs; i++)
        free(r->segs[i].text);
    free(r->segs);
    free(r->verb);
    free(r->pattern);
}

void svc_router_free(svc_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        route_clear(&r->routes[i]);
    free(r->routes);
    free(r);
}

static bool param_name_valid(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

static svc_code parse_segment(const char *s, size_t n, bool last, segment *seg)
{
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
        const char *name = s + 1;
        size_t name_len = n - 2;
        seg->kind = SEG_PARAM;
        if (name_len && name[name_len - 1] == '*') {
            if (!last)
                return svc_fail(SVC_INVALID_ARGUMENT, "'{name*}' must be the last segment");
            seg->kind = SEG_REST;
            name_len--;
        }
        if (!param_name_valid(name, name_len))
            return svc_fail(SVC_INVALID_ARGUMENT, "bad parameter name '%.*s'", (int)n, s);
        s = name;
        n = name_len;
    } else {
        if (n == 0 && !last)
            return svc_fail(SVC_INVALID_ARGUMENT, "empty segment in route pattern");
        for (size_t i = 0; i < n; i++)
            if (s[i] == '{' || s[i] == '}' || s[i] == '?' || s[i] == '#' || (unsigned char)s[i] <= ' ')
                return svc_fail(SVC_INVALID_ARGUMENT, "bad character in route segment '%.*s'",
                                (int)n, s);
        seg->kind = SEG_LITERAL;
    }
    seg->text = strndup(s, n);
    seg->len = n;
    return seg->text ? SVC_OK : svc_fail_oom();
}

static svc_code parse_pattern(const char *pattern, route *r)
{
    if (pattern[0] != '/')
        return svc_fail(SVC_INVALID_ARGUMENT, "route pattern '%s' must start with '/'", pattern);
    size_t count = 0;
    for (const char *p = pattern; *p; p++)
        count += *p == '/';
    r->segs = calloc(count, sizeof *r->segs);
    if (!r->segs)
        return svc_fail_oom();
    const char *p = pattern + 1;
    for (size_t i = 0; i < count; i++) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        svc_code rc = parse_segment(p, n, i + 1 == count, &r->segs[i]);
        r->n_segs = i + (rc == SVC_OK);
        if (rc)
            return rc;
        r->n_literal += r->segs[i].kind == SEG_LITERAL;
        p += n + 1;
    }
    return SVC_OK;
}

svc_code svc_router_add(svc_router *r, const char *verb, const char *pattern, void *value)
{
    if (!verb || !*verb || !pattern)
        return svc_fail(SVC_INVALID_ARGUMENT, "route needs a verb and a pattern");
    for (const char *v = verb; *v; v++)
        if (!isupper((unsigned char)*v))
            return svc_fail(SVC_INVALID_ARGUMENT, "route verb '%s' must be upper case", verb);
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->routes[i].verb, verb) == 0 && strcmp(r->routes[i].pattern, pattern) == 0)
            return svc_fail(SVC_ALREADY_EXISTS, "route %s %s already exists", verb, pattern);
    route rt = {.value = value};
    svc_code rc = parse_pattern(pattern, &rt);
    if (rc == SVC_OK && (!(rt.verb = strdup(verb)) || !(rt.pattern = strdup(pattern))))
        rc = svc_fail_oom();
    if (rc == SVC_OK && r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        route *v = realloc(r->routes, cap * sizeof *v);
        if (v) {
            r->routes = v;
            r->cap = cap;
        } else {
            rc = svc_fail_oom();
        }
    }
    if (rc) {
        route_clear(&rt);
        return rc;
    }
    r->routes[r->n++] = rt;
    return SVC_OK;
}

/* True if `rt` matches the path given as segments. */
static bool route_matches(const route *rt, const char *path, size_t path_len)
{
    const char *p = path + 1, *end = path + path_len;
    for (size_t i = 0; i < rt->n_segs; i++) {
        const segment *sg = &rt->segs[i];
        if (p > end)
            return false;
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
        switch (sg->kind) {
        case SEG_REST:
            return end > p;
        case SEG_PARAM:
            if (n == 0)
                return false;
            break;
        case SEG_LITERAL:
            if (n != sg->len || memcmp(p, sg->text, n) != 0)
                return false;
            break;
        }
        p += n + 1;
    }
    return p == end + 1;
}

static svc_code capture_params(const route *rt, const char *path, size_t path_len,
                               svc_params *params)
{
    const char *p = path + 1, *end = path + path_len;
    for (size_t i = 0; i < rt->n_segs; i++) {
        const segment *sg = &rt->segs[i];
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = sg->kind == SEG_REST || !slash ? (size_t)(end - p) : (size_t)(slash - p);
        if (sg->kind != SEG_LITERAL) {
            char *value = svc_pct_decode(p, n, false);
            if (!value)
                return svc_fail(SVC_INVALID_ARGUMENT, "bad escape in path parameter '%s'",
                                sg->text);
            svc_code rc = svc_params_add(params, strdup(sg->text), value);
            if (rc)
                return rc;
        }
        p += n + 1;
    }
    return SVC_OK;
}

/* Higher is more specific: literal segments first, a closed pattern second. */
static size_t specificity(const route *rt)
{
    bool rest = rt->n_segs && rt->segs[rt->n_segs - 1].kind == SEG_REST;
    return rt->n_literal * 2 + !rest;
}

svc_route_result svc_router_match(const svc_router *r, const char *verb, size_t verb_len,
                                  const char *path, size_t path_len, void **value,
                                  svc_params *params)
{
    const route *best = NULL;
    bool path_seen = false;
    if (path_len == 0 || path[0] != '/')
        return SVC_ROUTE_NO_PATH;
    for (size_t i = 0; i < r->n; i++) {
        const route *rt = &r->routes[i];
        if (!route_matches(rt, path, path_len))
            continue;
        path_seen = true;
        if (strlen(rt->verb) != verb_len || memcmp(rt->verb, verb, verb_len) != 0)
            continue;
        if (!best || specificity(rt) > specificity(best))
            best = rt;
    }
    if (!best)
        return path_seen ? SVC_ROUTE_BAD_VERB : SVC_ROUTE_NO_PATH;
    if (capture_params(best, path, path_len, params) != SVC_OK)
        return SVC_ROUTE_NO_PATH;
    *value = best->value;
    return SVC_ROUTE_FOUND;
}
