/* DNS answers: records with their TTLs out of wire-format messages, the
 * endpoint list they stand for, and malformed messages. */
#include "cmocka_all.h"

#include <stdlib.h>
#include <string.h>

#include "discovery/dns_answer.h"

/* A DNS message under construction. */
typedef struct msg {
    unsigned char b[1024];
    size_t n;
} msg;

static void put8(msg *m, unsigned v)
{
    m->b[m->n++] = (unsigned char)v;
}

static void put16(msg *m, unsigned v)
{
    put8(m, v >> 8);
    put8(m, v & 0xFF);
}

static void put32(msg *m, uint32_t v)
{
    put16(m, v >> 16);
    put16(m, v & 0xFFFF);
}

static void put_name(msg *m, const char *name)
{
    if (strcmp(name, ".") == 0)
        name = ""; /* the root: just the terminating label */
    while (*name) {
        size_t l = strcspn(name, ".");
        put8(m, (unsigned)l);
        memcpy(m->b + m->n, name, l);
        m->n += l;
        name += l + (name[l] == '.');
    }
    put8(m, 0);
}

static void header(msg *m, unsigned rcode, unsigned an, unsigned ar)
{
    m->n = 0;
    put16(m, 1);
    put16(m, 0x8180 | rcode);
    put16(m, 1); /* one question */
    put16(m, an);
    put16(m, 0);
    put16(m, ar);
    put_name(m, "_grpc._tcp.svc.test");
    put16(m, 33);
    put16(m, 1);
}

static void srv(msg *m, const char *owner, uint32_t ttl, unsigned prio, unsigned weight,
                unsigned port, const char *target)
{
    put_name(m, owner);
    put16(m, 33);
    put16(m, 1);
    put32(m, ttl);
    size_t len_at = m->n;
    put16(m, 0);
    put16(m, prio);
    put16(m, weight);
    put16(m, port);
    put_name(m, target);
    size_t len = m->n - len_at - 2;
    m->b[len_at] = (unsigned char)(len >> 8);
    m->b[len_at + 1] = (unsigned char)len;
}

static void addr(msg *m, const char *owner, uint32_t ttl, bool v6, const unsigned char *a)
{
    put_name(m, owner);
    put16(m, v6 ? 28 : 1);
    put16(m, 1);
    put32(m, ttl);
    put16(m, v6 ? 16 : 4);
    memcpy(m->b + m->n, a, v6 ? 16 : 4);
    m->n += v6 ? 16 : 4;
}

static const unsigned char A1[4] = {10, 0, 0, 1}, A2[4] = {10, 0, 0, 2}, A3[4] = {10, 0, 0, 3};
static const unsigned char V6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

/* Priority 0: h1 (weight 10), h2 (weight 0 -> 1, an A and an AAAA);
 * priority 5: h3. The addresses ride in the additional section. */
static void build_srv_answer(msg *m)
{
    header(m, 0, 3, 4);
    srv(m, "_grpc._tcp.svc.test", 300, 0, 10, 5001, "h1.svc.test");
    srv(m, "_grpc._tcp.svc.test", 120, 0, 0, 5002, "H2.svc.test");
    srv(m, "_grpc._tcp.svc.test", 5, 5, 50, 5003, "h3.svc.test");
    addr(m, "h1.svc.test", 60, false, A1);
    addr(m, "h2.svc.test", 600, false, A2);
    addr(m, "h2.svc.test", 90, true, V6);
    addr(m, "h3.svc.test", 1, false, A3);
}

static const svc_endpoint_info *find(const svc_eplist *l, const char *url)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].url, url) == 0)
            return &l->v[i];
    return NULL;
}

static void srv_endpoints(void **state)
{
    (void)state;
    msg m;
    build_srv_answer(&m);
    svc_dns_answer a;
    svc_dns_answer_init(&a);
    assert_int_equal(svc_dns_answer_parse(m.b, m.n, &a), SVC_OK);
    assert_int_equal(a.rcode, 0);
    assert_int_equal(a.n, 7);
    assert_string_equal(a.rr[1].target, "h2.svc.test"); /* lower-cased */
    svc_eplist l;
    svc_eplist_init(&l);
    uint32_t ttl;
    assert_int_equal(svc_dns_endpoints(&a, "_grpc._tcp.svc.test", "svc.test", "grpc", 443, &l, &ttl),
                     SVC_OK);
    assert_int_equal(l.n, 3);
    assert_int_equal(find(&l, "grpc://10.0.0.1:5001")->weight, 10);
    assert_string_equal(find(&l, "grpc://10.0.0.1:5001")->id, "10.0.0.1:5001");
    assert_int_equal(find(&l, "grpc://10.0.0.2:5002")->weight, 1);
    assert_int_equal(find(&l, "grpc://[2001:db8::1]:5002")->weight, 1);
    assert_null(find(&l, "grpc://10.0.0.3:5003"));
    /* The smallest TTL of what was used: h2's AAAA (h3's 1 s is not). */
    assert_int_equal(ttl, 60);
    svc_eplist_clear(&l);

    /* Another name's SRV records are not ours: the A fallback applies. */
    assert_int_equal(svc_dns_endpoints(&a, "_http._tcp.svc.test", "h1.svc.test", "http", 8080, &l,
                                       &ttl),
                     SVC_OK);
    assert_int_equal(l.n, 1);
    assert_non_null(find(&l, "http://10.0.0.1:8080"));
    assert_int_equal(ttl, 60);
    svc_eplist_clear(&l);
    /* ... unless the name is an SRV name, which has no fallback. */
    assert_int_equal(svc_dns_endpoints(&a, "_http._tcp.svc.test", NULL, "http", 8080, &l, &ttl),
                     SVC_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(ttl, UINT32_MAX);
    svc_dns_answer_free(&a);
}

static void merged_answers_and_duplicates(void **state)
{
    (void)state;
    /* SRV in one message, the targets' addresses in others; two SRV
     * records to the same target and port give one endpoint. */
    msg m;
    svc_dns_answer a;
    svc_dns_answer_init(&a);
    header(&m, 0, 3, 0);
    srv(&m, "_grpc._tcp.svc.test", 30, 1, 5, 7000, "h1.svc.test");
    srv(&m, "_grpc._tcp.svc.test", 30, 1, 5, 7000, "h1.svc.test");
    srv(&m, "_grpc._tcp.svc.test", 30, 1, 5, 7000, "."); /* "not here" */
    assert_int_equal(svc_dns_answer_parse(m.b, m.n, &a), SVC_OK);
    header(&m, 0, 1, 0);
    addr(&m, "h1.svc.test", 0xFFFFFFFF, false, A1); /* over 2^31: zero */
    assert_int_equal(svc_dns_answer_parse(m.b, m.n, &a), SVC_OK);
    svc_eplist l;
    svc_eplist_init(&l);
    uint32_t ttl;
    assert_int_equal(svc_dns_endpoints(&a, "_grpc._tcp.svc.test", NULL, "grpc", 1, &l, &ttl), SVC_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].weight, 5);
    assert_int_equal(ttl, 0);
    svc_eplist_clear(&l);
    svc_dns_answer_free(&a);

    /* NXDOMAIN: the rcode, no records. */
    header(&m, 3, 0, 0);
    assert_int_equal(svc_dns_answer_parse(m.b, m.n, &a), SVC_OK);
    assert_int_equal(a.rcode, 3);
    assert_int_equal(a.n, 0);
    svc_dns_answer_free(&a);
}

static void other_types_skipped(void **state)
{
    (void)state;
    msg m;
    header(&m, 0, 2, 0);
    put_name(&m, "svc.test"); /* a CNAME */
    put16(&m, 5);
    put16(&m, 1);
    put32(&m, 10);
    put16(&m, 2);
    put16(&m, 0xC00C); /* a pointer to the question's name */
    addr(&m, "svc.test", 10, false, A1);
    svc_dns_answer a;
    svc_dns_answer_init(&a);
    assert_int_equal(svc_dns_answer_parse(m.b, m.n, &a), SVC_OK);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.rr[0].type, SVC_DNS_T_A);
    svc_dns_answer_free(&a);
}

static void expect_malformed(const unsigned char *b, size_t n, const char *why)
{
    svc_dns_answer a;
    svc_dns_answer_init(&a);
    svc_code rc = svc_dns_answer_parse(b, n, &a);
    svc_dns_answer_free(&a);
    if (rc != SVC_INTERNAL || !strstr(svc_last_error(), why))
        fail_msg("%s: %d \"%s\"", why, rc, svc_last_error());
}

static void malformed(void **state)
{
    (void)state;
    msg m;
    build_srv_answer(&m);
    /* Cut anywhere inside: an error, never a crash or a partial success. */
    for (size_t cut = 0; cut < m.n; cut++) {
        svc_dns_answer a;
        svc_dns_answer_init(&a);
        assert_int_not_equal(svc_dns_answer_parse(m.b, cut, &a), SVC_OK);
        svc_dns_answer_free(&a);
    }
    expect_malformed(m.b, 11, "(11 bytes)");
    /* An A record of 5 bytes. */
    header(&m, 0, 1, 0);
    put_name(&m, "h.test");
    put16(&m, 1);
    put16(&m, 1);
    put32(&m, 1);
    put16(&m, 5);
    put32(&m, 0);
    put8(&m, 0);
    expect_malformed(m.b, m.n, "an address of 5 bytes");
    /* An SRV record whose length disagrees with its target. */
    header(&m, 0, 1, 0);
    srv(&m, "_grpc._tcp.svc.test", 1, 0, 1, 1, "h.test");
    m.b[m.n - 14 - 1]++; /* rdlength (6 + 8 for "h.test") one more, and a byte to cover it */
    put8(&m, 0);
    expect_malformed(m.b, m.n, "SRV record length");
    /* A compression pointer to itself. */
    header(&m, 0, 1, 0);
    size_t here = m.n;
    put16(&m, 0xC000 | (unsigned)here);
    put16(&m, 1);
    put16(&m, 1);
    put32(&m, 1);
    put16(&m, 4);
    put32(&m, 0);
    expect_malformed(m.b, m.n, "a bad name");
    /* A short SRV record. */
    header(&m, 0, 1, 0);
    put_name(&m, "s.test");
    put16(&m, 33);
    put16(&m, 1);
    put32(&m, 1);
    put16(&m, 3);
    put16(&m, 0);
    put8(&m, 0);
    expect_malformed(m.b, m.n, "short SRV record");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(srv_endpoints),
        cmocka_unit_test(merged_answers_and_duplicates),
        cmocka_unit_test(other_types_skipped),
        cmocka_unit_test(malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
