/* DNS records and the endpoints they stand for (dns_answer.h). */
#include "dns_answer.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

void svc_dns_answer_init(svc_dns_answer *a)
{
    memset(a, 0, sizeof *a);
}

void svc_dns_answer_free(svc_dns_answer *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->rr[i].name);
        free(a->rr[i].target);
    }
    free(a->rr);
    svc_dns_answer_init(a);
}

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Expands the name at p (compression followed) into *out (malloc'd), and
 * sets *enclen to its length in place. */
static svc_code expand(const unsigned char *p, const unsigned char *msg, size_t len, char **out,
                       long *enclen)
{
    char *s = NULL;
    if (ares_expand_name(p, msg, (int)len, &s, enclen) != ARES_SUCCESS)
        return svc_fail(SVC_INTERNAL, "dns: malformed answer (a bad name)");
    lower(s);
    *out = s;
    return SVC_OK;
}

static svc_code push(svc_dns_answer *a, svc_dns_rr *rr)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        svc_dns_rr *v = realloc(a->rr, cap * sizeof *v);
        if (!v)
            return svc_fail_oom();
        a->rr = v;
        a->cap = cap;
    }
    a->rr[a->n++] = *rr;
    return SVC_OK;
}

/* The data of one record of a type we use. */
static svc_code rdata(const unsigned char *msg, size_t len, const unsigned char *d, size_t dlen,
                      svc_dns_rr *rr)
{
    char addr[INET6_ADDRSTRLEN];
    if (rr->type == SVC_DNS_T_A || rr->type == SVC_DNS_T_AAAA) {
        int af = rr->type == SVC_DNS_T_A ? AF_INET : AF_INET6;
        if (dlen != (af == AF_INET ? 4u : 16u) || !inet_ntop(af, d, addr, sizeof addr))
            return svc_fail(SVC_INTERNAL, "dns: malformed answer (an address of %zu bytes)", dlen);
        return (rr->target = strdup(addr)) ? SVC_OK : svc_fail_oom();
    }
    if (dlen < 7)
        return svc_fail(SVC_INTERNAL, "dns: malformed answer (a short SRV record)");
    rr->priority = get16(d);
    rr->weight = get16(d + 2);
    rr->port = get16(d + 4);
    long n;
    svc_code rc = expand(d + 6, msg, len, &rr->target, &n);
    if (rc == SVC_OK && (size_t)n != dlen - 6)
        rc = svc_fail(SVC_INTERNAL, "dns: malformed answer (SRV record length)");
    return rc;
}

svc_code svc_dns_answer_parse(const unsigned char *msg, size_t len, svc_dns_answer *a)
{
    if (len < 12)
        return svc_fail(SVC_INTERNAL, "dns: malformed answer (%zu bytes)", len);
    a->rcode = msg[3] & 0x0F;
    size_t qd = get16(msg + 4);
    size_t records = (size_t)get16(msg + 6) + get16(msg + 8) + get16(msg + 10);
    const unsigned char *p = msg + 12, *end = msg + len;
    for (size_t i = 0; i < qd + records; i++) {
        char *name = NULL;
        long n;
        svc_code rc = expand(p, msg, len, &name, &n);
        if (rc != SVC_OK)
            return rc;
        p += n;
        size_t fixed = i < qd ? 4 : 10;
        if ((size_t)(end - p) < fixed) {
            free(name);
            return svc_fail(SVC_INTERNAL, "dns: malformed answer (truncated record)");
        }
        if (i < qd) {
            free(name);
            p += fixed;
            continue;
        }
        svc_dns_rr rr = {.type = get16(p), .ttl = get32(p + 4), .name = name};
        uint16_t cls = get16(p + 2);
        size_t dlen = get16(p + 8);
        p += fixed;
        if ((size_t)(end - p) < dlen) {
            free(name);
            return svc_fail(SVC_INTERNAL, "dns: malformed answer (truncated record data)");
        }
        bool wanted = cls == 1 && (rr.type == SVC_DNS_T_A || rr.type == SVC_DNS_T_AAAA ||
                                   rr.type == SVC_DNS_T_SRV);
        if (rr.ttl > INT32_MAX) /* RFC 2181: such a TTL means zero */
            rr.ttl = 0;
        if (wanted) {
            rc = rdata(msg, len, p, dlen, &rr);
            if (rc == SVC_OK)
                rc = push(a, &rr);
            if (rc != SVC_OK) {
                free(name);
                free(rr.target);
                return rc;
            }
        } else {
            free(name);
        }
        p += dlen;
    }
    return SVC_OK;
}

static svc_code add_addresses(const svc_dns_answer *a, const char *host, const char *scheme,
                              int port, uint32_t weight, svc_eplist *out, uint32_t *min_ttl)
{
    for (size_t i = 0; i < a->n; i++) {
        const svc_dns_rr *r = &a->rr[i];
        if (r->type == SVC_DNS_T_SRV || strcasecmp(r->name, host) != 0)
            continue;
        char url[128], id[96];
        bool v6 = r->type == SVC_DNS_T_AAAA;
        snprintf(id, sizeof id, "%s%s%s:%d", v6 ? "[" : "", r->target, v6 ? "]" : "", port);
        snprintf(url, sizeof url, "%s://%s", scheme, id);
        /* One address reached through two SRV records counts once. */
        bool seen = false;
        for (size_t j = 0; j < out->n && !seen; j++)
            seen = strcmp(out->v[j].id, id) == 0;
        if (seen)
            continue;
        svc_endpoint_info ep = {.url = url, .id = id, .weight = weight};
        svc_code rc = svc_eplist_add(out, &ep);
        if (rc != SVC_OK)
            return rc;
        if (r->ttl < *min_ttl)
            *min_ttl = r->ttl;
    }
    return SVC_OK;
}

svc_code svc_dns_endpoints(const svc_dns_answer *a, const char *srv_name, const char *host,
                           const char *scheme, int port, svc_eplist *out, uint32_t *min_ttl)
{
    *min_ttl = UINT32_MAX;
    int best = -1;
    for (size_t i = 0; i < a->n; i++)
        if (a->rr[i].type == SVC_DNS_T_SRV && strcasecmp(a->rr[i].name, srv_name) == 0 &&
            (best < 0 || a->rr[i].priority < best))
            best = a->rr[i].priority;
    if (best < 0)
        return host ? add_addresses(a, host, scheme, port, 1, out, min_ttl) : SVC_OK;
    for (size_t i = 0; i < a->n; i++) {
        const svc_dns_rr *r = &a->rr[i];
        if (r->type != SVC_DNS_T_SRV || r->priority != best || strcasecmp(r->name, srv_name))
            continue;
        if (r->ttl < *min_ttl)
            *min_ttl = r->ttl;
        /* "." means the service is decidedly not available here */
        if (!r->target[0] || strcmp(r->target, ".") == 0)
            continue;
        svc_code rc = add_addresses(a, r->target, scheme, r->port, r->weight ? r->weight : 1,
                                    out, min_ttl);
        if (rc != SVC_OK)
            return rc;
    }
    return SVC_OK;
}
