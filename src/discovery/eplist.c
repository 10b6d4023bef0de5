/* Owned endpoint lists (eplist.h). */
#include "eplist.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void svc_eplist_init(svc_eplist *l)
{
    memset(l, 0, sizeof *l);
}

static void entry_free(svc_endpoint_info *e)
{
    free((char *)e->url);
    free((char *)e->id);
    free((char *)e->zone);
    if (e->md) {
        for (const char *const *p = e->md; *p; p++)
            free((char *)*p);
        free((void *)e->md);
    }
}

void svc_eplist_clear(svc_eplist *l)
{
    for (size_t i = 0; i < l->n; i++)
        entry_free(&l->v[i]);
    free(l->v);
    svc_eplist_init(l);
}

static bool dup_opt(const char *s, const char **out)
{
    *out = NULL;
    return !s || (*out = strdup(s)) != NULL;
}

static bool dup_md(const char *const *md, const char *const **out)
{
    *out = NULL;
    if (!md)
        return true;
    size_t n = 0;
    while (md[n])
        n++;
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = strdup(md[i]))) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return false;
        }
    *out = (const char *const *)v;
    return true;
}

svc_code svc_eplist_add(svc_eplist *l, const svc_endpoint_info *ep)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        svc_endpoint_info *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return svc_fail_oom();
        l->v = v;
        l->cap = cap;
    }
    svc_endpoint_info *e = &l->v[l->n];
    memset(e, 0, sizeof *e);
    e->weight = ep->weight ? ep->weight : 1;
    if (!dup_opt(ep->url, &e->url) || !dup_opt(ep->id, &e->id) || !dup_opt(ep->zone, &e->zone) ||
        !dup_md(ep->md, &e->md)) {
        entry_free(e);
        return svc_fail_oom();
    }
    l->n++;
    return SVC_OK;
}

static int cmp_opt(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp_entry(const void *pa, const void *pb)
{
    const svc_endpoint_info *a = pa, *b = pb;
    int c = cmp_opt(a->id, b->id);
    return c ? c : cmp_opt(a->url, b->url);
}

void svc_eplist_sort(svc_eplist *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, cmp_entry);
}

static bool md_equal(const char *const *a, const char *const *b)
{
    if (!a || !b)
        return a == b;
    for (; *a && *b; a++, b++)
        if (strcmp(*a, *b) != 0)
            return false;
    return !*a && !*b;
}

bool svc_eplist_equal(const svc_eplist *a, const svc_eplist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const svc_endpoint_info *x = &a->v[i], *y = &b->v[i];
        if (cmp_opt(x->url, y->url) || cmp_opt(x->id, y->id) || cmp_opt(x->zone, y->zone) ||
            x->weight != y->weight || !md_equal(x->md, y->md))
            return false;
    }
    return true;
}

void svc_eplist_move(svc_eplist *to, svc_eplist *from)
{
    svc_eplist_clear(to);
    *to = *from;
    svc_eplist_init(from);
}
