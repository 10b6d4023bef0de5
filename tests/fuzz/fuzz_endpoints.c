/* The discovery parsers on arbitrary bytes. The first byte picks one:
 *   0 static list, 1 static file, 2 etcd value, 3 etcd range answer,
 *   4 etcd watch stream (split where the second byte says), 5 DNS answer
 * and the endpoints it stands for. Checks that what parses is whole. */
#include <stdlib.h>
#include <string.h>

#include "discovery/dns_answer.h"
#include "discovery/etcd_json.h"
#include "discovery/etcd_stream.h"
#include "discovery/static_parse.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void check_list(const svc_eplist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (!l->v[i].url || !l->v[i].url[0] || l->v[i].weight == 0)
            abort();
        for (const char *const *p = l->v[i].md; p && *p; p += 2)
            if (!p[1])
                abort(); /* metadata comes in pairs */
    }
}

static void static_list(const char *s, size_t n, bool file)
{
    svc_eplist l;
    svc_eplist_init(&l);
    if (svc_static_parse(s, n, file, &l) == SVC_OK && l.n == 0)
        abort();
    check_list(&l);
    svc_eplist_clear(&l);
}

static void etcd_value(const char *s, size_t n)
{
    svc_eplist l;
    svc_eplist_init(&l);
    svc_code rc = svc_etcd_value_parse("/svc/f/k", 8, s, n, &l);
    if ((rc == SVC_OK) != (l.n == 1))
        abort();
    check_list(&l);
    svc_eplist_clear(&l);
}

static svc_code watch_msg(void *ud, const char *obj, size_t len)
{
    (void)ud;
    if (len < 2 || obj[0] != '{')
        abort();
    svc_etcd_msg m;
    if (svc_etcd_watch_parse(obj, len, &m) == SVC_OK) {
        for (size_t i = 0; i < m.n; i++)
            if (!m.kvs[i].key || (!m.kvs[i].del && !m.kvs[i].value))
                abort();
        svc_etcd_msg_free(&m);
    }
    return SVC_OK;
}

static void watch_stream(const char *s, size_t n)
{
    if (n < 1)
        return;
    size_t cut = (unsigned char)s[0] % n;
    s++, n--;
    if (cut > n)
        cut = n;
    svc_json_stream st;
    svc_json_stream_init(&st);
    if (svc_json_stream_feed(&st, s, cut, watch_msg, NULL) == SVC_OK)
        svc_json_stream_feed(&st, s + cut, n - cut, watch_msg, NULL);
    svc_json_stream_free(&st);
}

static void dns(const unsigned char *b, size_t n)
{
    svc_dns_answer a;
    svc_dns_answer_init(&a);
    svc_dns_answer_parse(b, n, &a); /* records before an error are kept */
    svc_eplist l;
    svc_eplist_init(&l);
    uint32_t ttl;
    for (size_t i = 0; i < a.n; i++)
        if (a.rr[i].type == SVC_DNS_T_SRV && svc_dns_endpoints(&a, a.rr[i].name, "x", "grpc", 1, &l,
                                                               &ttl) == SVC_OK) {
            check_list(&l);
            svc_eplist_clear(&l);
        }
    svc_dns_answer_free(&a);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 6) {
    case 0:
        static_list(s, n, false);
        break;
    case 1:
        static_list(s, n, true);
        break;
    case 2:
        etcd_value(s, n);
        break;
    case 3: {
        svc_etcd_msg m;
        if (svc_etcd_range_parse(s, n, &m) == SVC_OK)
            svc_etcd_msg_free(&m);
        break;
    }
    case 4:
        watch_stream(s, n);
        break;
    default:
        dns(data + 1, n);
        break;
    }
    return 0;
}
