/* etcd's JSON gateway messages, our endpoint values, and the watch stream
 * splitter fed in chunks cut at every position. */
#include "cmocka_all.h"

#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "discovery/etcd.h"
#include "discovery/etcd_json.h"
#include "discovery/etcd_stream.h"

static svc_code value(const char *key, const char *json, svc_eplist *l)
{
    svc_eplist_init(l);
    return svc_etcd_value_parse(key, strlen(key), json, strlen(json), l);
}

static void values(void **state)
{
    (void)state;
    svc_eplist l;
    assert_int_equal(value("/svc/greeter/g1",
                           "{\"url\":\"grpc://10.0.0.5:50051\",\"id\":\"g1\",\"zone\":\"eu-1\","
                           "\"weight\":2,\"metadata\":{\"version\":\"1.4\",\"tier\":\"gold\"}}",
                           &l),
                     SVC_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].url, "grpc://10.0.0.5:50051");
    assert_string_equal(l.v[0].id, "g1");
    assert_string_equal(l.v[0].zone, "eu-1");
    assert_int_equal(l.v[0].weight, 2);
    assert_string_equal(l.v[0].md[0], "version");
    assert_string_equal(l.v[0].md[3], "gold");
    assert_null(l.v[0].md[4]);
    svc_eplist_clear(&l);
    /* Only the URL: the id comes from the key, the weight is 1. */
    assert_int_equal(value("/svc/greeter/from-key", "{\"url\":\"http://h:1\",\"zone\":null}", &l),
                     SVC_OK);
    assert_string_equal(l.v[0].id, "from-key");
    assert_null(l.v[0].zone);
    assert_null(l.v[0].md);
    assert_int_equal(l.v[0].weight, 1);
    svc_eplist_clear(&l);
    assert_int_equal(value("/svc/greeter/big", "{\"url\":\"h:1\",\"weight\":4294967295}", &l), SVC_OK);
    assert_int_equal(l.v[0].weight, 4294967295u);
    svc_eplist_clear(&l);

    /* Our own format reads back the same. */
    static const char *const md[] = {"k", "v \"quoted\"", NULL};
    svc_endpoint_info ep = {.url = "grpc://127.0.0.1:1", .id = "x", .zone = "z", .weight = 7,
                            .md = md};
    char *text = svc_etcd_value_format(&ep);
    assert_non_null(text);
    assert_int_equal(value("/svc/s/other", text, &l), SVC_OK);
    free(text);
    assert_string_equal(l.v[0].id, "x");
    assert_int_equal(l.v[0].weight, 7);
    assert_string_equal(l.v[0].md[1], "v \"quoted\"");
    svc_eplist_clear(&l);
}

static void bad_values(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"not json", "not a JSON object"},
        {"[1,2]", "not a JSON object"},
        {"\"grpc://h:1\"", "not a JSON object"},
        {"{}", "no \"url\" string"},
        {"{\"url\":42}", "no \"url\" string"},
        {"{\"url\":\"\"}", "no \"url\" string"},
        {"{\"url\":\"h:1\",\"id\":\"\"}", "\"id\" or \"zone\""},
        {"{\"url\":\"h:1\",\"zone\":3}", "\"id\" or \"zone\""},
        {"{\"url\":\"h:1\",\"weight\":0}", "\"weight\""},
        {"{\"url\":\"h:1\",\"weight\":-3}", "\"weight\""},
        {"{\"url\":\"h:1\",\"weight\":1.5}", "\"weight\""},
        {"{\"url\":\"h:1\",\"weight\":\"2\"}", "\"weight\""},
        {"{\"url\":\"h:1\",\"weight\":4294967296}", "\"weight\""},
        {"{\"url\":\"h:1\",\"weight\":1e300}", "\"weight\""},
        {"{\"url\":\"h:1\",\"metadata\":[]}", "\"metadata\" is not an object"},
        {"{\"url\":\"h:1\",\"metadata\":{\"a\":1}}", "metadata value is not a string"},
        {"{\"url\":\"h:1\"", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        svc_eplist l;
        svc_code rc = value("/svc/s/k1", bad[i][0], &l);
        assert_int_equal(l.n, 0);
        if (rc != SVC_INVALID_ARGUMENT || !strstr(svc_last_error(), bad[i][1]) ||
            !strstr(svc_last_error(), "/svc/s/k1"))
            fail_msg("%s: %d \"%s\"", bad[i][0], rc, svc_last_error());
    }
    svc_eplist l;
    svc_eplist_init(&l);
    assert_int_equal(svc_etcd_value_parse("/svc/a\0b", 8, "{\"url\":\"h:1\"}", 13, &l),
                     SVC_INVALID_ARGUMENT);
    assert_int_equal(l.n, 0);
}

/* What etcd 3.4 sent in a session of ours (headers shortened). */
static const char RANGE[] =
    "{\"header\":{\"cluster_id\":\"1\",\"revision\":\"12\"},\"kvs\":[{\"key\":\"L3N2Yy9nL2E=\","
    "\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":"
    "\"eyJ1cmwiOiJncnBjOi8veDoxIn0=\",\"lease\":\"4111\"}],\"count\":\"1\"}";

static void range_answers(void **state)
{
    (void)state;
    svc_etcd_msg m;
    assert_int_equal(svc_etcd_range_parse(RANGE, strlen(RANGE), &m), SVC_OK);
    assert_int_equal(m.revision, 12);
    assert_int_equal(m.n, 1);
    assert_memory_equal(m.kvs[0].key, "/svc/g/a", 8);
    assert_int_equal(m.kvs[0].key_len, 8);
    assert_memory_equal(m.kvs[0].value, "{\"url\":\"grpc://x:1\"}", 20);
    svc_etcd_msg_free(&m);
    const char *empty = "{\"header\":{\"revision\":\"5\"}}";
    assert_int_equal(svc_etcd_range_parse(empty, strlen(empty), &m), SVC_OK);
    assert_int_equal(m.n, 0);
    assert_int_equal(m.revision, 5);
    svc_etcd_msg_free(&m);

    const char *bad[][2] = {
        {"{\"error\":\"etcdserver: too many requests\",\"message\":\"etcdserver: too many "
         "requests\",\"code\":8}", "too many requests"},
        {"{\"kvs\":[]}", "no header revision"},
        {"{\"header\":{\"revision\":\"x\"}}", "no header revision"},
        {"{\"header\":{\"revision\":\"-1\"}}", "no header revision"},
        {"{\"header\":{\"revision\":\"1\"},\"kvs\":{}}", "not an array"},
        {"{\"header\":{\"revision\":\"1\"},\"kvs\":[1]}", "not an object"},
        {"{\"header\":{\"revision\":\"1\"},\"kvs\":[{\"key\":\"!!\"}]}", "base64"},
        {"{\"header\":{\"revision\":\"1\"},\"kvs\":[{\"value\":\"YQ==\"}]}", "base64"},
        {"{\"header\":{\"revision\":\"1\"},\"kvs\":[{\"key\":\"YQ==\",\"value\":7}]}", "base64"},
        {"<html>", "not a JSON object"},
        {"", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        svc_code rc = svc_etcd_range_parse(bad[i][0], strlen(bad[i][0]), &m);
        if (rc == SVC_OK || !strstr(svc_last_error(), bad[i][1]))
            fail_msg("%s: %d \"%s\"", bad[i][0], rc, svc_last_error());
        assert_int_equal(m.n, 0);
        assert_null(m.kvs);
    }
}

static const char WATCH[] =
    "{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":true}}\n"
    "{\"result\":{\"header\":{\"revision\":\"3\"},\"events\":[{\"kv\":{\"key\":\"L3N2Yy9nL2E=\","
    "\"mod_revision\":\"3\",\"value\":\"eyJ1cmwiOiJncnBjOi8veDoxIn0=\"}}]}}\n"
    "{\"result\":{\"header\":{\"revision\":\"4\"},\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":"
    "\"L3N2Yy9nL2E=\",\"mod_revision\":\"4\"}},{\"type\":\"PUT\",\"kv\":{\"key\":\"L3N2Yy9nL2I=\","
    "\"value\":\"eyJ1cmwiOiJ7fVtdXFwiIn0=\"}}]}}\n"
    "{\"result\":{\"header\":{\"revision\":\"9\"},\"canceled\":true,\"compact_revision\":\"7\","
    "\"cancel_reason\":\"mvcc: \\\"required revision\\\" {has been compacted}\"}}\n";

static void watch_messages(void **state)
{
    (void)state;
    const char *created = "{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":true}}";
    svc_etcd_msg m;
    assert_int_equal(svc_etcd_watch_parse(created, strlen(created), &m), SVC_OK);
    assert_true(m.created);
    assert_false(m.canceled);
    assert_int_equal(m.n, 0);
    svc_etcd_msg_free(&m);
    const char *del = "{\"result\":{\"header\":{\"revision\":\"4\"},\"events\":[{\"type\":\"DELETE\","
                      "\"kv\":{\"key\":\"YQ==\"}},{\"kv\":{\"key\":\"Yg==\",\"value\":\"Yw==\"}}]}}";
    assert_int_equal(svc_etcd_watch_parse(del, strlen(del), &m), SVC_OK);
    assert_int_equal(m.n, 2);
    assert_true(m.kvs[0].del);
    assert_null(m.kvs[0].value);
    assert_false(m.kvs[1].del);
    assert_memory_equal(m.kvs[1].value, "c", 1);
    svc_etcd_msg_free(&m);
    const char *cancel = "{\"result\":{\"header\":{\"revision\":\"9\"},\"canceled\":true,"
                         "\"compact_revision\":\"7\"}}";
    assert_int_equal(svc_etcd_watch_parse(cancel, strlen(cancel), &m), SVC_OK);
    assert_true(m.canceled);
    assert_int_equal(m.compact_revision, 7);
    svc_etcd_msg_free(&m);
    const char *bad[][2] = {
        {"{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\"}}",
         "no leader"},
        {"{\"result\":1}", "without a result"},
        {"{\"result\":{\"header\":{\"revision\":\"1\"},\"events\":[{\"type\":\"EXPIRE\",\"kv\":"
         "{\"key\":\"YQ==\"}}]}}", "unknown watch event type"},
        {"{\"result\":{\"header\":{\"revision\":\"1\"},\"events\":[{\"type\":\"PUT\"}]}}",
         "not an object"},
        {"{\"result\":{\"header\":{\"revision\":\"1\"},\"events\":[{\"kv\":{\"key\":\"\"}}]}}",
         "base64"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        svc_code rc = svc_etcd_watch_parse(bad[i][0], strlen(bad[i][0]), &m);
        if (rc == SVC_OK || !strstr(svc_last_error(), bad[i][1]))
            fail_msg("%s: %d \"%s\"", bad[i][0], rc, svc_last_error());
    }
}

static void leases(void **state)
{
    (void)state;
    int64_t id, ttl;
    const char *grant = "{\"header\":{\"revision\":\"1\"},\"ID\":\"4111120157070652165\",\"TTL\":\"5\"}";
    assert_int_equal(svc_etcd_lease_parse(grant, strlen(grant), &id, &ttl), SVC_OK);
    assert_int_equal(id, 4111120157070652165LL);
    assert_int_equal(ttl, 5);
    const char *alive = "{\"result\":{\"header\":{},\"ID\":\"7\",\"TTL\":\"10\"}}";
    assert_int_equal(svc_etcd_lease_parse(alive, strlen(alive), &id, &ttl), SVC_OK);
    assert_int_equal(ttl, 10);
    const char *gone = "{\"result\":{\"header\":{},\"ID\":\"7\"}}";
    assert_int_equal(svc_etcd_lease_parse(gone, strlen(gone), &id, &ttl), SVC_OK);
    assert_int_equal(ttl, 0);
    const char *err = "{\"error\":\"etcdserver: requested lease not found\",\"code\":5}";
    assert_int_equal(svc_etcd_lease_parse(err, strlen(err), &id, &ttl), SVC_UNAVAILABLE);
    const char *noid = "{\"TTL\":\"5\"}";
    assert_int_equal(svc_etcd_lease_parse(noid, strlen(noid), &id, &ttl), SVC_INTERNAL);
    const char *badttl = "{\"ID\":\"1\",\"TTL\":\"five\"}";
    assert_int_equal(svc_etcd_lease_parse(badttl, strlen(badttl), &id, &ttl), SVC_INTERNAL);
}

static void keys(void **state)
{
    (void)state;
    assert_int_equal(svc_etcd_service_valid("greeter"), SVC_OK);
    assert_int_equal(svc_etcd_service_valid("a/b"), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_etcd_service_valid(""), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_etcd_service_valid(NULL), SVC_INVALID_ARGUMENT);
    char *p = svc_etcd_prefix("greeter");
    assert_string_equal(p, "/svc/greeter/");
    char *body = svc_etcd_prefix_body(p, "create_request", 42);
    /* "/svc/greeter/" and "/svc/greeter0" in base64 */
    assert_string_equal(body, "{\"create_request\":{\"key\":\"L3N2Yy9ncmVldGVyLw==\","
                              "\"range_end\":\"L3N2Yy9ncmVldGVyMA==\",\"start_revision\":\"42\"}}");
    free(body);
    body = svc_etcd_prefix_body(p, NULL, 0);
    assert_string_equal(body, "{\"key\":\"L3N2Yy9ncmVldGVyLw==\",\"range_end\":\"L3N2Yy9ncmVldGVyMA==\"}");
    free(body);
    free(p);
}

/* ---- the stream splitter ---- */

typedef struct collected {
    int n;
    char objs[8][600];
} collected;

static svc_code collect(void *ud, const char *obj, size_t len)
{
    collected *c = ud;
    if (c->n == 8 || len >= sizeof c->objs[0])
        return SVC_INTERNAL;
    memcpy(c->objs[c->n], obj, len);
    c->objs[c->n][len] = '\0';
    c->n++;
    return SVC_OK;
}

static void feed_split(const char *text, size_t len, size_t cut, collected *c)
{
    svc_json_stream s;
    svc_json_stream_init(&s);
    memset(c, 0, sizeof *c);
    assert_int_equal(svc_json_stream_feed(&s, text, cut, collect, c), SVC_OK);
    assert_int_equal(svc_json_stream_feed(&s, text + cut, len - cut, collect, c), SVC_OK);
    svc_json_stream_free(&s);
}

static void stream_every_cut(void **state)
{
    (void)state;
    size_t len = strlen(WATCH);
    collected whole;
    feed_split(WATCH, len, len, &whole);
    assert_int_equal(whole.n, 4);
    /* Every object parses, the braces and quotes inside strings included. */
    for (int i = 0; i < whole.n; i++) {
        svc_etcd_msg m;
        assert_int_equal(svc_etcd_watch_parse(whole.objs[i], strlen(whole.objs[i]), &m), SVC_OK);
        svc_etcd_msg_free(&m);
    }
    for (size_t cut = 0; cut <= len; cut++) {
        collected c;
        feed_split(WATCH, len, cut, &c);
        assert_int_equal(c.n, 4);
        for (int i = 0; i < 4; i++)
            assert_string_equal(c.objs[i], whole.objs[i]);
    }
    /* One byte at a time. */
    svc_json_stream s;
    svc_json_stream_init(&s);
    collected c = {0};
    for (size_t i = 0; i < len; i++)
        assert_int_equal(svc_json_stream_feed(&s, WATCH + i, 1, collect, &c), SVC_OK);
    assert_int_equal(c.n, 4);
    assert_int_equal(s.len, 0); /* nothing left over */
    svc_json_stream_free(&s);
}

static void stream_errors(void **state)
{
    (void)state;
    svc_json_stream s;
    collected c = {0};
    svc_json_stream_init(&s);
    assert_int_equal(svc_json_stream_feed(&s, "{\"a\":1} x", 9, collect, &c), SVC_INTERNAL);
    assert_int_equal(c.n, 1);
    svc_json_stream_free(&s);
    svc_json_stream_init(&s);
    assert_int_equal(svc_json_stream_feed(&s, "[1]", 3, collect, &c), SVC_INTERNAL);
    svc_json_stream_free(&s);
    /* Blank keep-alives between objects are not kept. */
    svc_json_stream_init(&s);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(svc_json_stream_feed(&s, "\r\n ", 3, collect, &c), SVC_OK);
    assert_int_equal(s.len, 0);
    svc_json_stream_free(&s);
    /* An object that never ends is cut off at the limit. */
    svc_json_stream_init(&s);
    static char chunk[65536];
    memset(chunk, ' ', sizeof chunk);
    chunk[0] = '{';
    svc_code rc = SVC_OK;
    for (int i = 0; i < 200 && rc == SVC_OK; i++)
        rc = svc_json_stream_feed(&s, chunk, sizeof chunk, collect, &c);
    assert_int_equal(rc, SVC_INTERNAL);
    assert_non_null(strstr(svc_last_error(), "over"));
    svc_json_stream_free(&s);
    /* The sink's error stops the feed. */
    svc_json_stream_init(&s);
    c.n = 8;
    assert_int_equal(svc_json_stream_feed(&s, "{}", 2, collect, &c), SVC_INTERNAL);
    svc_json_stream_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(range_answers),
        cmocka_unit_test(watch_messages),
        cmocka_unit_test(leases),
        cmocka_unit_test(keys),
        cmocka_unit_test(stream_every_cut),
        cmocka_unit_test(stream_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
