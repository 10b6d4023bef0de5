/* Unit tests for the proto3 JSON transcoder (svc_pb_to_json / svc_pb_from_json). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* codec.h uses svc_call_opts from client.h without including it. */
#include <svccomm/client.h>
#include <svccomm/codec.h>

#include "pbjson_test.pb-c.h"
#include "pbjson_test2.pb-c.h"

#define ALL_D (&pbjsontest__all__descriptor)
#define LEGACY_D (&pbjsontest2__legacy__descriptor)

/* ---- helpers ---- */

static ProtobufCMessage *parse_ok(const ProtobufCMessageDescriptor *d, const char *json,
                                  unsigned flags)
{
    ProtobufCMessage *m = NULL;
    svc_code rc = svc_pb_from_json(d, json, strlen(json), flags, &m);
    if (rc != SVC_OK)
        fail_msg("parsing %s failed: %s", json, svc_last_error());
    assert_non_null(m);
    return m;
}

static Pbjsontest__All *parse_all(const char *json)
{
    return (Pbjsontest__All *)parse_ok(ALL_D, json, 0);
}

static char *to_json(const ProtobufCMessage *m, unsigned flags)
{
    char *out = NULL;
    size_t len = 0;
    svc_code rc = svc_pb_to_json(m, flags, &out, &len);
    if (rc != SVC_OK)
        fail_msg("encoding failed: %s", svc_last_error());
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void assert_json(const void *m, unsigned flags, const char *expected)
{
    char *s = to_json(m, flags);
    assert_string_equal(s, expected);
    free(s);
}

static void assert_parse_fails_n(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
                                 unsigned flags, const char *needle)
{
    ProtobufCMessage *m = (ProtobufCMessage *)&m; /* must be reset to NULL */
    svc_code rc = svc_pb_from_json(d, json, len, flags, &m);
    if (rc != SVC_INVALID_ARGUMENT)
        fail_msg("parsing %.*s gave %d (%s), not INVALID_ARGUMENT", (int)len, json, rc,
                 svc_last_error());
    assert_null(m);
    if (needle && !strstr(svc_last_error(), needle))
        fail_msg("error for %.*s is \"%s\", without \"%s\"", (int)len, json, svc_last_error(),
                 needle);
}

static void assert_parse_fails(const char *json, const char *needle)
{
    assert_parse_fails_n(ALL_D, json, strlen(json), 0, needle);
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

static void assert_same_pack(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la, lb;
    uint8_t *pa = pack(a, &la), *pb = pack(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(pa, pb, la);
    free(pa);
    free(pb);
}

/* message -> JSON -> message packs to the same bytes. */
static void assert_round_trip(const ProtobufCMessage *m, unsigned flags)
{
    char *s = to_json(m, flags);
    ProtobufCMessage *back = parse_ok(m->descriptor, s, 0);
    assert_same_pack(m, back);
    protobuf_c_message_free_unpacked(back, NULL);
    free(s);
}

/* JSON in canonical form reads and prints back unchanged. */
static void assert_canonical(const char *json)
{
    Pbjsontest__All *m = parse_all(json);
    assert_json(m, 0, json);
    for (unsigned flags = 0; flags < 4; flags++)
        assert_round_trip(&m->base, flags);
    protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void free_all(Pbjsontest__All *m)
{
    protobuf_c_message_free_unpacked(&m->base, NULL);
}

/* ---- encoding ---- */

static void test_empty(void **state)
{
    (void)state;
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    assert_json(&a, 0, "{}");
    Pbjsontest__All *m = parse_all(" \t\r\n{ \n} \n");
    assert_same_pack(&a.base, &m->base);
    free_all(m);
}

static void test_scalars_exact(void **state)
{
    (void)state;
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    uint8_t bytes[] = {0x00, 0xff, 0x10};
    a.f_int32 = -5;
    a.f_int64 = 1234567890123;
    a.f_uint32 = 4000000000u;
    a.f_uint64 = UINT64_MAX;
    a.f_sint32 = -7;
    a.f_sint64 = -8;
    a.f_fixed32 = 9;
    a.f_fixed64 = 10;
    a.f_sfixed32 = -11;
    a.f_sfixed64 = -12;
    a.f_float = 1.5f;
    a.f_double = 0.1;
    a.f_bool = 1;
    a.f_string = "h\xc3\xa9llo \"q\"\n";
    a.f_bytes.data = bytes;
    a.f_bytes.len = sizeof bytes;
    a.color = PBJSONTEST__COLOR__GREEN;
    const char *expected =
        "{\"fInt32\":-5,\"fInt64\":\"1234567890123\",\"fUint32\":4000000000,"
        "\"fUint64\":\"18446744073709551615\",\"fSint32\":-7,\"fSint64\":\"-8\","
        "\"fFixed32\":9,\"fFixed64\":\"10\",\"fSfixed32\":-11,\"fSfixed64\":\"-12\","
        "\"fFloat\":1.5,\"fDouble\":0.1,\"fBool\":true,\"fString\":\"h\xc3\xa9llo \\\"q\\\"\\n\","
        "\"fBytes\":\"AP8Q\",\"color\":\"GREEN\"}";
    assert_json(&a, 0, expected);
    assert_round_trip(&a.base, 0);
    assert_canonical(expected);
}

static void test_names(void **state)
{
    (void)state;
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    a.foo_bar_2baz = 3;
    a.f_int32 = 1;
    assert_json(&a, 0, "{\"fInt32\":1,\"fooBar2baz\":3}");
    assert_json(&a, SVC_JSON_ORIGINAL_NAMES, "{\"f_int32\":1,\"foo_bar_2baz\":3}");

    Pbjsontest__All *m = parse_all("{\"foo_bar_2baz\":4,\"fInt32\":2}");
    assert_int_equal(m->foo_bar_2baz, 4);
    assert_int_equal(m->f_int32, 2);
    free_all(m);
    m = parse_all("{\"fooBar2baz\":5,\"f_int32\":6}");
    assert_int_equal(m->foo_bar_2baz, 5);
    assert_int_equal(m->f_int32, 6);
    free_all(m);

    assert_parse_fails("{\"fooBar2baz\":1,\"foo_bar_2baz\":2}", "foo_bar_2baz': duplicate");
    assert_parse_fails("{\"fInt32\":1,\"fInt32\":1}", "fInt32': duplicate field");
    /* Neither protoc's name nor the original: case matters. */
    assert_parse_fails("{\"FooBar2baz\":1}", "FooBar2baz': unknown field");
    assert_parse_fails("{\"fooBar2Baz\":1}", "fooBar2Baz': unknown field");
}

static void test_emit_defaults(void **state)
{
    (void)state;
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    const char *expected =
        "{\"fInt32\":0,\"fInt64\":\"0\",\"fUint32\":0,\"fUint64\":\"0\",\"fSint32\":0,"
        "\"fSint64\":\"0\",\"fFixed32\":0,\"fFixed64\":\"0\",\"fSfixed32\":0,\"fSfixed64\":\"0\","
        "\"fFloat\":0,\"fDouble\":0,\"fBool\":false,\"fString\":\"\",\"fBytes\":\"\","
        "\"color\":\"COLOR_UNSPECIFIED\",\"rInt32\":[],\"rInt64\":[],\"rUint64\":[],"
        "\"rSint32\":[],\"rFixed64\":[],\"rFloat\":[],\"rDouble\":[],\"rBool\":[],\"rColor\":[],"
        "\"rString\":[],\"rBytes\":[],\"items\":[],\"strToInt\":{},\"intToItem\":{},"
        "\"boolToStr\":{},\"uintToColor\":{},\"sintToBytes\":{},\"fixedToDouble\":{},"
        "\"intToAll\":{},\"fooBar2baz\":0,\"children\":[]}";
    assert_json(&a, SVC_JSON_EMIT_DEFAULTS, expected);
    Pbjsontest__All *m = parse_all(expected);
    assert_same_pack(&a.base, &m->base);
    free_all(m);

    Pbjsontest__Item item = PBJSONTEST__ITEM__INIT;
    assert_json(&item, SVC_JSON_EMIT_DEFAULTS | SVC_JSON_ORIGINAL_NAMES,
                "{\"name\":\"\",\"price\":\"0\",\"tags\":[]}");
    a.item = &item;
    a.f_int32 = 9;
    assert_json(&a, 0, "{\"fInt32\":9,\"item\":{}}");
}

/* ---- integers ---- */

static void test_int64_extremes(void **state)
{
    (void)state;
    const char *canonical =
        "{\"fInt64\":\"-9223372036854775808\",\"fUint64\":\"18446744073709551615\","
        "\"fSint64\":\"9223372036854775807\",\"fFixed64\":\"18446744073709551615\","
        "\"fSfixed64\":\"-9223372036854775808\",\"rInt64\":[\"-9223372036854775808\","
        "\"9223372036854775807\",\"-1\"],\"rUint64\":[\"18446744073709551615\",\"1\"]}";
    assert_canonical(canonical);

    Pbjsontest__All *m =
        parse_all("{\"fInt64\":-9223372036854775808,\"fUint64\":18446744073709551615,"
                  "\"fSint64\":9223372036854775807,\"fFixed64\":1.8446744073709551615e19,"
                  "\"fSfixed64\":\"-9223372036854775808\",\"rInt64\":[-9223372036854775808,"
                  "\"9223372036854775807\",-1],\"rUint64\":[\"18446744073709551615\",1e0]}");
    assert_true(m->f_int64 == INT64_MIN);
    assert_true(m->f_uint64 == UINT64_MAX);
    assert_true(m->f_sint64 == INT64_MAX);
    assert_true(m->f_fixed64 == UINT64_MAX);
    assert_true(m->f_sfixed64 == INT64_MIN);
    assert_json(m, 0, canonical);
    free_all(m);

    /* Values a double cannot hold exactly. */
    m = parse_all("{\"fInt64\":9007199254740993,\"fUint64\":\"18446744073709551614\"}");
    assert_true(m->f_int64 == INT64_C(9007199254740993));
    assert_true(m->f_uint64 == UINT64_MAX - 1);
    free_all(m);
    m = parse_all("{\"fUint64\":1e19,\"fInt64\":\"-922337203685477580.8e1\"}");
    assert_true(m->f_uint64 == UINT64_C(10000000000000000000));
    assert_true(m->f_int64 == INT64_MIN);
    free_all(m);

    assert_parse_fails("{\"fInt64\":9223372036854775808}", "fInt64': 9223372036854775808 is out");
    assert_parse_fails("{\"fInt64\":\"-9223372036854775809\"}", "out of range for a 64-bit signed");
    assert_parse_fails("{\"fUint64\":18446744073709551616}", "out of range for a 64-bit unsigned");
    assert_parse_fails("{\"fUint64\":\"-1\"}", "fUint64': -1 is out of range");
    assert_parse_fails("{\"fFixed64\":1e20}", "out of range");
    assert_parse_fails("{\"fSfixed64\":99999999999999999999999999}", "out of range");
    assert_parse_fails("{\"fInt64\":1e999999999999}", "out of range");
    assert_parse_fails("{\"fInt64\":\"1.5\"}", "fInt64': 1.5 is not an integer");
    assert_parse_fails("{\"fInt64\":\"0x10\"}", "fInt64': expected an integer");
    assert_parse_fails("{\"fInt64\":\" 1\"}", "expected an integer");
    assert_parse_fails("{\"fInt64\":\"\"}", "expected an integer");
}

static void test_int32_range(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int64_t value;
    } ok[] = {
        {"{\"fInt32\":2147483647}", 2147483647},
        {"{\"fInt32\":-2147483648}", -2147483648LL},
        {"{\"fInt32\":\"123\"}", 123},
        {"{\"fInt32\":1.0}", 1},
        {"{\"fInt32\":1e2}", 100},
        {"{\"fInt32\":1E+2}", 100},
        {"{\"fInt32\":0.5e1}", 5},
        {"{\"fInt32\":-0}", 0},
        {"{\"fInt32\":0.000}", 0},
        {"{\"fInt32\":1000e-3}", 1},
        {"{\"fInt32\":-12.50e1}", -125},
        {"{\"fInt32\":0e999999999}", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        Pbjsontest__All *m = parse_all(ok[i].json);
        assert_int_equal(m->f_int32, ok[i].value);
        free_all(m);
    }
    Pbjsontest__All *m = parse_all("{\"fUint32\":4294967295,\"fFixed32\":\"4294967295\","
                                   "\"fSint32\":-2147483648,\"fSfixed32\":2147483647}");
    assert_int_equal(m->f_uint32, 4294967295u);
    assert_int_equal(m->f_fixed32, 4294967295u);
    assert_int_equal(m->f_sint32, INT32_MIN);
    assert_int_equal(m->f_sfixed32, INT32_MAX);
    assert_json(m, 0,
                "{\"fUint32\":4294967295,\"fSint32\":-2147483648,\"fFixed32\":4294967295,"
                "\"fSfixed32\":2147483647}");
    free_all(m);

    assert_parse_fails("{\"fInt32\":2147483648}",
                       "fInt32': 2147483648 is out of range for a 32-bit");
    assert_parse_fails("{\"fInt32\":-2147483649}", "out of range");
    assert_parse_fails("{\"fUint32\":4294967296}", "fUint32': 4294967296 is out of range");
    assert_parse_fails("{\"fFixed32\":-1}", "out of range");
    assert_parse_fails("{\"fSint32\":1.5}", "fSint32': 1.5 is not an integer");
    assert_parse_fails("{\"fInt32\":1e-2}", "not an integer");
    assert_parse_fails("{\"fInt32\":1e400}", "out of range");
    assert_parse_fails("{\"fInt32\":\"abc\"}", "fInt32': expected an integer");
    assert_parse_fails("{\"fInt32\":true}", "expected an integer");
    assert_parse_fails("{\"fInt32\":\"NaN\"}", "expected an integer");
}

/* ---- floating point ---- */

static void test_floats(void **state)
{
    (void)state;
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    a.f_float = NAN;
    a.f_double = -INFINITY;
    assert_json(&a, 0, "{\"fFloat\":\"NaN\",\"fDouble\":\"-Infinity\"}");
    a.f_float = INFINITY;
    a.f_double = NAN;
    assert_json(&a, 0, "{\"fFloat\":\"Infinity\",\"fDouble\":\"NaN\"}");
    a.f_float = 0.1f;
    a.f_double = 1e21;
    assert_json(&a, 0, "{\"fFloat\":0.1,\"fDouble\":1e+21}");
    a.f_float = 3.4028235e38f;
    a.f_double = 123456789.125;
    assert_json(&a, 0, "{\"fFloat\":3.4028235e+38,\"fDouble\":123456789.125}");
    assert_round_trip(&a.base, 0);
    a.f_float = 1e-45f;
    a.f_double = 5e-324;
    assert_round_trip(&a.base, 0);

    Pbjsontest__All *m = parse_all("{\"fFloat\":\"NaN\",\"fDouble\":\"Infinity\","
                                   "\"rDouble\":[\"-Infinity\",1.5e3,\"2.5\",-0.0,1E-2]}");
    assert_true(isnan(m->f_float));
    assert_true(isinf(m->f_double) && m->f_double > 0);
    assert_int_equal(m->n_r_double, 5);
    assert_true(isinf(m->r_double[0]) && m->r_double[0] < 0);
    assert_true(m->r_double[1] == 1500.0);
    assert_true(m->r_double[2] == 2.5);
    assert_true(m->r_double[3] == 0 && signbit(m->r_double[3]));
    assert_true(m->r_double[4] == 0.01);
    assert_json(m, 0,
                "{\"fFloat\":\"NaN\",\"fDouble\":\"Infinity\","
                "\"rDouble\":[\"-Infinity\",1500,2.5,-0,0.01]}");
    free_all(m);

    m = parse_all("{\"fFloat\":3.4028235e38,\"fDouble\":1e308,\"rFloat\":[1,-2.5,\"1e-3\"]}");
    assert_true(m->f_float == 3.4028235e38f);
    assert_true(m->r_float[2] == 1e-3f);
    free_all(m);

    assert_parse_fails("{\"fFloat\":1e39}", "fFloat': number out of range for a float");
    assert_parse_fails("{\"fDouble\":1e400}", "fDouble': number out of range for a double");
    assert_parse_fails("{\"fDouble\":\"nan\"}", "fDouble': expected a number");
    assert_parse_fails("{\"fDouble\":\"inf\"}", "expected a number");
    assert_parse_fails("{\"fDouble\":\"0x1p3\"}", "expected a number");
    assert_parse_fails("{\"fDouble\":true}", "expected a number");
    assert_parse_fails("{\"fDouble\":NaN}", "expected a value");
    assert_parse_fails("{\"rFloat\":[1,\"x\"]}", "rFloat[1]': expected a number");
}

static void test_bool(void **state)
{
    (void)state;
    Pbjsontest__All *m = parse_all("{\"fBool\":true,\"rBool\":[false,true]}");
    assert_true(m->f_bool);
    assert_int_equal(m->n_r_bool, 2);
    assert_false(m->r_bool[0]);
    assert_true(m->r_bool[1]);
    assert_json(m, 0, "{\"fBool\":true,\"rBool\":[false,true]}");
    free_all(m);
    assert_parse_fails("{\"fBool\":\"true\"}", "fBool': expected true or false");
    assert_parse_fails("{\"fBool\":1}", "expected true or false");
    assert_parse_fails("{\"fBool\":True}", "expected a value");
}

/* ---- strings and bytes ---- */

static void test_strings(void **state)
{
    (void)state;
    Pbjsontest__All *m = parse_all(
        "{\"fString\":\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\\b\\f\\r\\u0001\\u20AC\"}");
    assert_string_equal(m->f_string, "\xc3\xa9\xf0\x9f\x98\x80\n\t\"\\/\b\f\r\x01\xe2\x82\xac");
    assert_json(m, 0,
                "{\"fString\":\"\xc3\xa9\xf0\x9f\x98\x80\\n\\t\\\"\\\\/\\b\\f\\r\\u0001"
                "\xe2\x82\xac\"}");
    free_all(m);

    m = parse_all("{\"rString\":[\"\",\"\xe4\xb8\xad\",\"x\"]}");
    assert_int_equal(m->n_r_string, 3);
    assert_string_equal(m->r_string[0], "");
    assert_string_equal(m->r_string[1], "\xe4\xb8\xad");
    free_all(m);

    assert_parse_fails("{\"fString\":\"\\ud83d\"}", "fString': invalid escape");
    assert_parse_fails("{\"fString\":\"\\ud83dx\"}", "invalid escape");
    assert_parse_fails("{\"fString\":\"\\ude00\"}", "invalid escape");
    assert_parse_fails("{\"fString\":\"\\ud83d\\u0041\"}", "invalid escape");
    assert_parse_fails("{\"fString\":\"\\x41\"}", "fString': invalid escape");
    assert_parse_fails("{\"fString\":\"\\u12g4\"}", "invalid escape");
    assert_parse_fails("{\"fString\":\"a\xc3\x28\"}", "fString': string is not valid UTF-8");
    assert_parse_fails("{\"fString\":\"\xc0\xaf\"}", "not valid UTF-8");
    assert_parse_fails("{\"fString\":\"\xed\xa0\x80\"}", "not valid UTF-8");
    assert_parse_fails("{\"fString\":\"\xf4\x90\x80\x80\"}", "not valid UTF-8");
    assert_parse_fails("{\"rString\":[\"ok\",\"\xff\"]}", "rString[1]': string is not valid");
    assert_parse_fails("{\"fString\":\"a\nb\"}", "fString': control character");
    assert_parse_fails("{\"fString\":\"a\\u0000b\"}", "fString': string contains U+0000");
    assert_parse_fails("{\"fString\":1}", "fString': expected a string");
    assert_parse_fails("{\"f\xff\":1}", "not valid UTF-8");

    /* The encoder refuses what the decoder would refuse. */
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    char *out = (char *)&a;
    a.f_string = "bad\xff";
    assert_int_equal(svc_pb_to_json(&a.base, 0, &out, NULL), SVC_INVALID_ARGUMENT);
    assert_null(out);
    assert_non_null(strstr(svc_last_error(), "field 'f_string': string is not valid UTF-8"));
    char *strings[] = {"ok", "\xc3"};
    a.f_string = "";
    a.n_r_string = 2;
    a.r_string = strings;
    assert_int_equal(svc_pb_to_json(&a.base, 0, &out, NULL), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "field 'r_string[1]'"));
}

static void test_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *data;
        size_t len;
    } ok[] = {
        {"{\"fBytes\":\"AP8Q\"}", "\x00\xff\x10", 3},
        {"{\"fBytes\":\"+/8=\"}", "\xfb\xff", 2},
        {"{\"fBytes\":\"-_8\"}", "\xfb\xff", 2},
        {"{\"fBytes\":\"-_8=\"}", "\xfb\xff", 2},
        {"{\"fBytes\":\"+/8\"}", "\xfb\xff", 2},
        {"{\"fBytes\":\"AA==\"}", "\x00", 1},
        {"{\"fBytes\":\"AA\"}", "\x00", 1},
        {"{\"fBytes\":\"aGVsbG8=\"}", "hello", 5},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        Pbjsontest__All *m = parse_all(ok[i].json);
        assert_int_equal(m->f_bytes.len, ok[i].len);
        assert_memory_equal(m->f_bytes.data, ok[i].data, ok[i].len);
        free_all(m);
    }
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    ProtobufCBinaryData list[] = {{1, (uint8_t *)"\x00"}, {2, (uint8_t *)"\xfb\xff"}, {0, NULL}};
    a.n_r_bytes = 3;
    a.r_bytes = list;
    a.f_bytes = list[1];
    assert_json(&a, 0, "{\"fBytes\":\"+/8=\",\"rBytes\":[\"AA==\",\"+/8=\",\"\"]}");
    assert_round_trip(&a.base, 0);

    assert_parse_fails("{\"fBytes\":\"A\"}", "fBytes': invalid base64");
    assert_parse_fails("{\"fBytes\":\"@@@@\"}", "invalid base64");
    assert_parse_fails("{\"fBytes\":\"AA=A\"}", "invalid base64");
    assert_parse_fails("{\"fBytes\":\"AP8Q \"}", "invalid base64");
    assert_parse_fails("{\"rBytes\":[\"AA==\",12]}", "rBytes[1]': expected a base64 string");
}

/* ---- enums ---- */

static void test_enums(void **state)
{
    (void)state;
    Pbjsontest__All *m =
        parse_all("{\"color\":\"CRIMSON\",\"rColor\":[\"GREEN\",1,\"INFRARED\",-1,7]}");
    assert_int_equal(m->color, PBJSONTEST__COLOR__RED);
    assert_int_equal(m->n_r_color, 5);
    assert_int_equal(m->r_color[2], PBJSONTEST__COLOR__INFRARED);
    assert_int_equal(m->r_color[4], 7);
    /* Aliases print as the first name; unknown numbers as numbers. */
    assert_json(m, 0,
                "{\"color\":\"RED\",\"rColor\":[\"GREEN\",\"RED\",\"INFRARED\",\"INFRARED\",7]}");
    free_all(m);

    assert_parse_fails("{\"color\":\"PURPLE\"}",
                       "field 'color': unknown value \"PURPLE\" for enum pbjsontest.Color");
    assert_parse_fails("{\"rColor\":[\"RED\",\"red\"]}", "rColor[1]': unknown value \"red\"");
    assert_parse_fails("{\"color\":1.5}", "color': 1.5 is not an integer");
    assert_parse_fails("{\"color\":2147483648}", "out of range");
    assert_parse_fails("{\"color\":true}", "color': expected an enum name or number");
    assert_parse_fails("{\"color\":\"1\"}", "unknown value \"1\"");

    m = (Pbjsontest__All *)parse_ok(
        ALL_D,
        "{\"color\":\"PURPLE\",\"fInt32\":4,\"rColor\":[\"RED\",\"PURPLE\",\"GREEN\"],"
        "\"cColor\":\"PURPLE\",\"cId\":3,\"uintToColor\":{\"1\":\"RED\",\"2\":\"PURPLE\"}}",
        SVC_JSON_IGNORE_UNKNOWN);
    assert_int_equal(m->color, 0);
    assert_int_equal(m->f_int32, 4);
    assert_int_equal(m->n_r_color, 2);
    assert_int_equal(m->r_color[1], PBJSONTEST__COLOR__GREEN);
    assert_int_equal(m->choice_case, PBJSONTEST__ALL__CHOICE_C_ID);
    assert_int_equal(m->n_uint_to_color, 1);
    assert_json(m, 0,
                "{\"fInt32\":4,\"rColor\":[\"RED\",\"GREEN\"],\"uintToColor\":{\"1\":\"RED\"},"
                "\"cId\":3}");
    free_all(m);
}

/* ---- repeated ---- */

static void test_repeated(void **state)
{
    (void)state;
    assert_canonical("{\"rInt32\":[1,-2,3],\"rInt64\":[\"1\",\"-2\"],\"rUint64\":[\"0\"],"
                     "\"rSint32\":[-1,0],\"rFixed64\":[\"5\"],\"rFloat\":[0.5],"
                     "\"rDouble\":[1e-300],\"rBool\":[true],\"rColor\":[\"COLOR_UNSPECIFIED\"],"
                     "\"rString\":[\"a\",\"\"],\"rBytes\":[\"AQ==\"],"
                     "\"items\":[{\"name\":\"x\",\"tags\":[\"t1\",\"t2\"]},{}]}");

    Pbjsontest__All *m = parse_all("{\"rInt32\":null,\"items\":null,\"rString\":[]}");
    assert_int_equal(m->n_r_int32, 0);
    assert_int_equal(m->n_items, 0);
    assert_int_equal(m->n_r_string, 0);
    assert_json(m, 0, "{}");
    free_all(m);

    /* Packed (r_int32) and unpacked (r_int64) encodings both come through. */
    int32_t i32[100];
    int64_t i64[100];
    for (int i = 0; i < 100; i++) {
        i32[i] = i * 1000 - 50000;
        i64[i] = (int64_t)i << 56;
    }
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    a.n_r_int32 = 100;
    a.r_int32 = i32;
    a.n_r_int64 = 100;
    a.r_int64 = i64;
    assert_round_trip(&a.base, 0);

    assert_parse_fails("{\"rInt32\":[1,null]}", "rInt32[1]': null is not allowed in an array");
    assert_parse_fails("{\"rInt32\":5}", "rInt32': expected an array, found '5'");
    assert_parse_fails("{\"items\":[{},{},{\"price\":\"x\"}]}",
                       "field 'items[2].price': expected an integer");
    assert_parse_fails("{\"items\":[{},3]}", "items[1]': expected an object");
    assert_parse_fails("{\"rString\":[\"a\" \"b\"]}", "rString': expected ',' or ']'");
}

/* ---- maps ---- */

static void test_maps_parse(void **state)
{
    (void)state;
    const char *canonical =
        "{\"strToInt\":{\"b\":-2,\"a\":1,\"\":0},"
        "\"intToItem\":{\"-5\":{\"name\":\"n\"},\"9223372036854775807\":{}},"
        "\"boolToStr\":{\"true\":\"yes\",\"false\":\"no\"},"
        "\"uintToColor\":{\"4294967295\":\"GREEN\",\"0\":\"COLOR_UNSPECIFIED\"},"
        "\"sintToBytes\":{\"-1\":\"AQI=\"},\"fixedToDouble\":{\"7\":1.5},"
        "\"intToAll\":{\"1\":{\"fInt32\":3,\"intToAll\":{\"2\":{}}}}}";
    assert_canonical(canonical);

    Pbjsontest__All *m = parse_all(canonical);
    assert_int_equal(m->n_str_to_int, 3);
    assert_string_equal(m->str_to_int[0]->key, "b");
    assert_int_equal(m->str_to_int[0]->value, -2);
    assert_true(m->int_to_item[1]->key == INT64_MAX);
    assert_string_equal(m->int_to_item[0]->value->name, "n");
    assert_true(m->bool_to_str[0]->key);
    assert_false(m->bool_to_str[1]->key);
    assert_int_equal(m->uint_to_color[0]->key, UINT32_MAX);
    assert_true(m->sint_to_bytes[0]->key == -1);
    assert_int_equal(m->sint_to_bytes[0]->value.len, 2);
    assert_int_equal(m->fixed_to_double[0]->key, 7);
    assert_int_equal(m->int_to_all[0]->value->n_int_to_all, 1);
    free_all(m);

    m = parse_all("{\"intToItem\":{\"1e2\":{}},\"strToInt\":null,\"boolToStr\":{}}");
    assert_true(m->int_to_item[0]->key == 100);
    assert_json(m, SVC_JSON_ORIGINAL_NAMES, "{\"int_to_item\":{\"100\":{}}}");
    free_all(m);

    assert_parse_fails("{\"intToItem\":{\"x\":{}}}", "field 'intToItem[x]': expected an integer");
    assert_parse_fails("{\"intToItem\":{\"1.5\":{}}}", "intToItem[1.5]': 1.5 is not an integer");
    assert_parse_fails("{\"uintToColor\":{\"-1\":1}}", "uintToColor[-1]': -1 is out of range");
    assert_parse_fails("{\"boolToStr\":{\"yes\":\"\"}}", "boolToStr[yes]': a bool map key must be");
    assert_parse_fails("{\"boolToStr\":{\"True\":\"\"}}", "a bool map key must be");
    assert_parse_fails("{\"strToInt\":{\"a\":1,\"a\":2}}", "strToInt': duplicate map key \"a\"");
    assert_parse_fails("{\"intToItem\":{\"1\":{},\"1e0\":{}}}",
                       "intToItem': duplicate map key \"1\"");
    assert_parse_fails("{\"boolToStr\":{\"true\":\"\",\"false\":\"\",\"true\":\"\"}}",
                       "duplicate map key \"true\"");
    assert_parse_fails("{\"strToInt\":{\"a\":null}}", "strToInt[a]': a map value cannot be null");
    assert_parse_fails("{\"strToInt\":{\"a\":\"q\"}}", "strToInt[a]': expected an integer");
    assert_parse_fails("{\"strToInt\":[1]}", "strToInt': expected an object");
    assert_parse_fails("{\"strToInt\":{1:2}}", "strToInt': expected a string");
    assert_parse_fails("{\"strToInt\":{\"a\\u0000\":2}}", "string contains U+0000");
    assert_parse_fails("{\"intToAll\":{\"5\":{\"fInt32\":\"q\"}}}", "field 'intToAll[5].fInt32'");
}

static void test_maps_encode(void **state)
{
    (void)state;
    Pbjsontest__All__StrToIntEntry s1 = PBJSONTEST__ALL__STR_TO_INT_ENTRY__INIT,
                                   s2 = PBJSONTEST__ALL__STR_TO_INT_ENTRY__INIT;
    Pbjsontest__All__StrToIntEntry *str_entries[] = {&s1, &s2};
    s1.key = "k\"1";
    s1.value = 5;
    s2.value = -1; /* key left at the default "" */
    Pbjsontest__All__BoolToStrEntry b1 = PBJSONTEST__ALL__BOOL_TO_STR_ENTRY__INIT;
    Pbjsontest__All__BoolToStrEntry *bool_entries[] = {&b1};
    b1.key = 1;
    Pbjsontest__All__IntToItemEntry i1 = PBJSONTEST__ALL__INT_TO_ITEM_ENTRY__INIT;
    Pbjsontest__All__IntToItemEntry *item_entries[] = {&i1};
    i1.key = INT64_MIN; /* value left NULL: the empty message */
    Pbjsontest__All__UintToColorEntry c1 = PBJSONTEST__ALL__UINT_TO_COLOR_ENTRY__INIT;
    Pbjsontest__All__UintToColorEntry *color_entries[] = {&c1};
    c1.key = 3;
    c1.value = PBJSONTEST__COLOR__GREEN;

    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    a.n_str_to_int = 2;
    a.str_to_int = str_entries;
    a.n_bool_to_str = 1;
    a.bool_to_str = bool_entries;
    a.n_int_to_item = 1;
    a.int_to_item = item_entries;
    a.n_uint_to_color = 1;
    a.uint_to_color = color_entries;
    assert_json(&a, 0,
                "{\"strToInt\":{\"k\\\"1\":5,\"\":-1},"
                "\"intToItem\":{\"-9223372036854775808\":{}},\"boolToStr\":{\"true\":\"\"},"
                "\"uintToColor\":{\"3\":\"GREEN\"}}");
    char *s = to_json(&a.base, 0);
    Pbjsontest__All *back = parse_all(s);
    free(s);
    assert_int_equal(back->n_int_to_item, 1);
    assert_true(back->int_to_item[0]->key == INT64_MIN);
    assert_non_null(back->int_to_item[0]->value);
    free_all(back);

    s1.key = "\xfe";
    char *out;
    assert_int_equal(svc_pb_to_json(&a.base, 0, &out, NULL), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "str_to_int[0]"));
}

/* ---- oneof ---- */

static void test_oneof(void **state)
{
    (void)state;
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    a.choice_case = PBJSONTEST__ALL__CHOICE_C_ID;
    a.c_id = 0; /* set to zero still prints: the case says it is set */
    assert_json(&a, 0, "{\"cId\":0}");
    assert_round_trip(&a.base, 0);
    a.choice_case = PBJSONTEST__ALL__CHOICE_C_NAME;
    a.c_name = "n";
    assert_json(
        &a, SVC_JSON_EMIT_DEFAULTS | SVC_JSON_ORIGINAL_NAMES,
        "{\"f_int32\":0,\"f_int64\":\"0\",\"f_uint32\":0,\"f_uint64\":\"0\","
        "\"f_sint32\":0,\"f_sint64\":\"0\",\"f_fixed32\":0,\"f_fixed64\":\"0\","
        "\"f_sfixed32\":0,\"f_sfixed64\":\"0\",\"f_float\":0,\"f_double\":0,"
        "\"f_bool\":false,\"f_string\":\"\",\"f_bytes\":\"\",\"color\":\"COLOR_UNSPECIFIED\","
        "\"r_int32\":[],\"r_int64\":[],\"r_uint64\":[],\"r_sint32\":[],\"r_fixed64\":[],"
        "\"r_float\":[],\"r_double\":[],\"r_bool\":[],\"r_color\":[],\"r_string\":[],"
        "\"r_bytes\":[],\"items\":[],\"str_to_int\":{},\"int_to_item\":{},"
        "\"bool_to_str\":{},\"uint_to_color\":{},\"sint_to_bytes\":{},"
        "\"fixed_to_double\":{},\"int_to_all\":{},\"c_name\":\"n\",\"foo_bar_2baz\":0,"
        "\"children\":[]}");

    /* Like protobuf_c_message_pack, a selected member whose pointer is NULL or
     * the descriptor default counts as unset. */
    a.c_name = (char *)protobuf_c_empty_string;
    assert_json(&a, 0, "{}");
    assert_round_trip(&a.base, 0);
    a.choice_case = PBJSONTEST__ALL__CHOICE_C_ITEM;
    a.c_item = NULL;
    assert_json(&a, 0, "{}");
    assert_round_trip(&a.base, 0);

    assert_canonical("{\"cName\":\"\"}");
    assert_canonical("{\"cItem\":{}}");
    assert_canonical("{\"cColor\":\"COLOR_UNSPECIFIED\"}");
    assert_canonical("{\"cBlob\":\"AQID\"}");

    Pbjsontest__All *m = parse_all("{\"cName\":null,\"cItem\":{\"price\":\"3\"}}");
    assert_int_equal(m->choice_case, PBJSONTEST__ALL__CHOICE_C_ITEM);
    assert_true(m->c_item->price == 3);
    free_all(m);
    m = parse_all("{\"cBlob\":\"\"}");
    assert_int_equal(m->choice_case, PBJSONTEST__ALL__CHOICE_C_BLOB);
    assert_json(m, 0, "{\"cBlob\":\"\"}");
    free_all(m);

    assert_parse_fails("{\"cName\":\"a\",\"cId\":1}",
                       "field 'cId': its oneof already has 'c_name' set");
    assert_parse_fails("{\"cItem\":{},\"c_blob\":\"\"}", "c_blob': its oneof already has 'c_item'");
    /* A failing sub-message in a oneof is freed with the message. */
    assert_parse_fails("{\"cItem\":{\"name\":\"a\",\"price\":1.5}}", "cItem.price': 1.5 is not");
}

/* ---- proto2 presence and defaults ---- */

static void test_optional_presence(void **state)
{
    (void)state;
    Pbjsontest2__Legacy l = PBJSONTEST2__LEGACY__INIT;
    /* Unset optionals stay out even with EMIT_DEFAULTS; required ones print. */
    assert_json(&l, 0, "{\"id\":\"0\"}");
    assert_json(&l, SVC_JSON_EMIT_DEFAULTS, "{\"id\":\"0\",\"values\":[]}");
    l.has_count = 1;
    l.count = 0;
    l.has_ratio = 1;
    l.ratio = 0;
    char label[] = "none"; /* equal to the default, but not the default pointer */
    l.label = label;
    assert_json(&l, 0, "{\"count\":0,\"label\":\"none\",\"id\":\"0\",\"ratio\":0}");
    assert_round_trip(&l.base, 0);

    Pbjsontest2__Legacy *m = (Pbjsontest2__Legacy *)parse_ok(
        LEGACY_D,
        "{\"count\":0,\"label\":\"none\",\"blob\":\"\",\"mood\":\"CALM\",\"id\":\"5\","
        "\"plain\":\"p\",\"ratio\":0,\"next\":{\"id\":1,\"next\":{}}}",
        0);
    assert_true(m->has_count && m->count == 0);
    assert_string_equal(m->label, "none");
    assert_true(m->label != pbjsontest2__legacy__descriptor.fields[1].default_value);
    assert_true(m->has_blob && m->blob.len == 0);
    assert_true(m->has_mood && m->mood == PBJSONTEST2__MOOD__CALM);
    assert_true(m->id == 5);
    assert_string_equal(m->plain, "p");
    assert_true(m->has_ratio);
    assert_json(m, 0,
                "{\"count\":0,\"label\":\"none\",\"blob\":\"\",\"mood\":\"CALM\",\"id\":\"5\","
                "\"next\":{\"id\":\"1\",\"next\":{\"id\":\"0\"}},\"plain\":\"p\",\"ratio\":0}");
    protobuf_c_message_free_unpacked(&m->base, NULL);

    /* Fields left out keep protobuf-c's defaults, which free_unpacked must
     * recognise and not free. */
    m = (Pbjsontest2__Legacy *)parse_ok(LEGACY_D, "{\"id\":1,\"label\":null,\"mood\":null}", 0);
    assert_false(m->has_count);
    assert_int_equal(m->count, 7);
    assert_string_equal(m->label, "none");
    assert_true(m->label == pbjsontest2__legacy__descriptor.fields[1].default_value);
    assert_false(m->has_blob);
    assert_memory_equal(m->blob.data, "xy", 2);
    assert_int_equal(m->mood, PBJSONTEST2__MOOD__ANGRY);
    assert_null(m->plain);
    assert_json(m, SVC_JSON_EMIT_DEFAULTS, "{\"id\":\"1\",\"values\":[]}");
    protobuf_c_message_free_unpacked(&m->base, NULL);

    /* proto2 enums are closed, but by number any int32 is accepted. */
    assert_parse_fails_n(LEGACY_D, "{\"mood\":\"HAPPY\"}", 16, 0, "mood': unknown value \"HAPPY\"");
    m = (Pbjsontest2__Legacy *)parse_ok(LEGACY_D, "{\"mood\":\"HAPPY\",\"count\":2}",
                                        SVC_JSON_IGNORE_UNKNOWN);
    assert_false(m->has_mood);
    assert_true(m->has_count);
    protobuf_c_message_free_unpacked(&m->base, NULL);

    /* Nested inside a proto3 message. */
    assert_canonical("{\"legacy\":{\"blob\":\"eHk=\",\"id\":\"0\",\"values\":[1,2]}}");
}

/* ---- null, unknown fields, malformed input ---- */

static void test_null_fields(void **state)
{
    (void)state;
    Pbjsontest__All *m =
        parse_all("{\"item\":null,\"fInt32\":null,\"fString\":null,\"color\":null,"
                  "\"legacy\":null,\"fBytes\":null,\"cItem\":null,\"child\":null}");
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    assert_null(m->item);
    assert_int_equal(m->choice_case, 0);
    assert_same_pack(&a.base, &m->base);
    free_all(m);
    assert_parse_fails("{\"fInt32\":null,\"fInt32\":1}", "duplicate field");
}

static void test_unknown_fields(void **state)
{
    (void)state;
    assert_parse_fails("{\"bogus\":1}",
                       "field 'bogus': unknown field (no such field in pbjsontest.All)");
    assert_parse_fails("{\"item\":{\"name\":\"a\",\"nope\":[1,{\"a\":[]}]}}",
                       "field 'item.nope': unknown field");
    assert_parse_fails("{\"children\":[{},{\"x\":1}]}", "field 'children[1].x': unknown field");

    Pbjsontest__All *m = (Pbjsontest__All *)parse_ok(
        ALL_D,
        "{\"a\":{\"b\":[1,-2.5e3,\"s\\u00e9\",true,false,null,{},[]]},\"fInt32\":7,"
        "\"item\":{\"z\":null,\"name\":\"n\"},\"fInt32x\":\"q\"}",
        SVC_JSON_IGNORE_UNKNOWN);
    assert_int_equal(m->f_int32, 7);
    assert_string_equal(m->item->name, "n");
    free_all(m);

    /* Skipped values must still be well-formed JSON. */
    assert_parse_fails_n(ALL_D, "{\"x\":[1,}", 9, SVC_JSON_IGNORE_UNKNOWN,
                         "field 'x': expected a value");
    assert_parse_fails_n(ALL_D, "{\"x\":{1:2}}", 11, SVC_JSON_IGNORE_UNKNOWN, "expected a string");
    assert_parse_fails_n(ALL_D, "{\"x\":\"\xff\"}", 8, SVC_JSON_IGNORE_UNKNOWN, "not valid UTF-8");
    assert_parse_fails_n(ALL_D, "{\"x\":nul}", 9, SVC_JSON_IGNORE_UNKNOWN, "expected a value");
    assert_parse_fails_n(ALL_D, "{\"x\":01}", 8, SVC_JSON_IGNORE_UNKNOWN, "expected ',' or '}'");
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *needle;
    } bad[] = {
        {"", "truncated input: expected an object"},
        {"   ", "truncated input"},
        {"[]", "expected an object, found '['"},
        {"null", "expected an object"},
        {"1", "expected an object"},
        {"\"s\"", "expected an object"},
        {"{", "truncated input"},
        {"{\"fInt32\"", "field 'fInt32': truncated input: expected ':'"},
        {"{\"fInt32\":", "field 'fInt32': truncated input: expected a value"},
        {"{\"fInt32\":1", "truncated input: expected ',' or '}'"},
        {"{\"fInt32\":1,}", "expected a string, found '}'"},
        {"{,}", "expected a string"},
        {"{\"fInt32\" 1}", "fInt32': expected ':'"},
        {"{\"fInt32\":1}x", "unexpected data after the top-level object"},
        {"{\"fInt32\":1}{}", "unexpected data after"},
        {"{'a':1}", "expected a string, found '''"},
        {"{\"fInt32\":01}", "expected ',' or '}', found '1'"},
        {"{\"fInt32\":+1}", "fInt32': expected a value, found '+'"},
        {"{\"fInt32\":1.}", "fInt32': malformed number"},
        {"{\"fInt32\":.5}", "expected a value"},
        {"{\"fInt32\":1e}", "malformed number"},
        {"{\"fInt32\":-}", "malformed number"},
        {"{\"fInt32\":--1}", "malformed number"},
        {"{\"fBool\":tru}", "fBool': expected a value"},
        {"{\"fString\":\"abc}", "fString': truncated input: unterminated string"},
        {"{\"fString\":\"abc\\\"}", "unterminated string"},
        {"{\"item\":[]}", "field 'item': expected an object, found '['"},
        {"{\"item\":5}", "field 'item': expected an object"},
        {"{\"item\":\"x\"}", "field 'item': expected an object"},
        {"{\"fInt32\":{}}", "fInt32': expected an integer"},
        {"{\"fInt32\":[1]}", "fInt32': expected an integer"},
        {"{\"rInt32\":[1,]}", "rInt32[1]': expected a value"},
        {"{\"rInt32\":[1 2]}", "expected ',' or ']'"},
        {"{\"rInt32\":[}", "expected a value"},
        {"{\"fInt32\":1,,\"fUint32\":2}", "expected a string, found ','"},
        {"{\"fInt32\":1 \"fUint32\":2}", "expected ',' or '}'"},
        {"{\"fInt32\":0x10}", "expected ',' or '}', found 'x'"},
        {"{\"fInt32\":1}\xef\xbb\xbf", "unexpected data"},
        {"\xef\xbb\xbf{}", "found byte 0xef"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_parse_fails(bad[i].json, bad[i].needle);
    /* An embedded NUL is not the end of the input. */
    assert_parse_fails_n(ALL_D, "{}\0", 3, 0, "unexpected data");
    assert_parse_fails_n(ALL_D, "{\"fInt32\":1\0}", 13, 0, "found byte 0x00");
    assert_parse_fails_n(ALL_D, "{\"fString\":\"a\0\"}", 16, 0, "control character");
    assert_parse_fails("{\"fInt32\\u0000\":1}", "unknown field");
}

/* Every proper prefix of a document is an error, never a crash or a leak. */
static void test_truncated_prefixes(void **state)
{
    (void)state;
    const char *doc =
        "{\"fInt32\":-1,\"fString\":\"a\\u00e9\\ud83d\\ude00\",\"fBytes\":\"AQI=\","
        "\"item\":{\"name\":\"n\",\"tags\":[\"x\",\"y\"]},\"rDouble\":[1.5e3,\"NaN\"],"
        "\"items\":[{},{\"price\":\"9\"}],\"strToInt\":{\"a\":1},"
        "\"intToAll\":{\"3\":{\"cItem\":{}}},\"cName\":\"c\",\"legacy\":{\"id\":2},"
        "\"fBool\":false,\"child\":{\"child\":{}}}";
    size_t len = strlen(doc);
    Pbjsontest__All *m = parse_all(doc);
    free_all(m);
    for (size_t n = 0; n < len; n++)
        assert_parse_fails_n(ALL_D, doc, n, 0, NULL);
}

static char *nested_json(int levels, const char *open, const char *inner, const char *close)
{
    size_t lo = strlen(open), lc = strlen(close), li = strlen(inner);
    char *s = malloc((size_t)levels * (lo + lc) + li + 1), *p = s;
    assert_non_null(s);
    for (int i = 0; i < levels; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, inner, li);
    p += li;
    for (int i = 0; i < levels; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return s;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* The top-level object and 63 children: 64 levels, the limit. */
    char *s = nested_json(63, "{\"child\":", "{}", "}");
    Pbjsontest__All *m = parse_all(s);
    char *again = to_json(&m->base, 0);
    assert_string_equal(again, s);
    free(again);
    free(s);

    /* One more level is refused by both sides. */
    Pbjsontest__All top = PBJSONTEST__ALL__INIT;
    top.child = m;
    char *out = (char *)&top;
    assert_int_equal(svc_pb_to_json(&top.base, 0, &out, NULL), SVC_INVALID_ARGUMENT);
    assert_null(out);
    assert_non_null(strstr(svc_last_error(), "nesting deeper than 64 levels"));
    free_all(m);
    s = nested_json(64, "{\"child\":", "{}", "}");
    assert_parse_fails(s, "nesting deeper than 64 levels");
    assert_non_null(strstr(svc_last_error(), "child.child.child"));
    free(s);

    /* Arrays count too: 31 * 2 levels, then an object holding an array. */
    s = nested_json(31, "{\"children\":[", "{\"rInt32\":[1]}", "]}");
    m = parse_all(s);
    again = to_json(&m->base, 0);
    assert_string_equal(again, s);
    free(again);
    free_all(m);
    free(s);
    s = nested_json(32, "{\"children\":[", "{}", "]}");
    assert_parse_fails(s, "nesting deeper than 64 levels");
    free(s);

    /* Far deeper garbage in a skipped field must not exhaust the stack. */
    char *deep = nested_json(200000, "[", "", "]");
    size_t dl = strlen(deep);
    char *doc = malloc(dl + 8);
    assert_non_null(doc);
    memcpy(doc, "{\"x\":", 5);
    memcpy(doc + 5, deep, dl);
    memcpy(doc + 5 + dl, "}", 2);
    assert_parse_fails_n(ALL_D, doc, strlen(doc), SVC_JSON_IGNORE_UNKNOWN,
                         "field 'x': nesting deeper");
    free(doc);
    free(deep);
    deep = nested_json(100000, "{\"child\":", "", "");
    assert_parse_fails(deep, "nesting deeper than 64 levels");
    free(deep);
}

/* ---- round trips ---- */

static void test_round_trip_everything(void **state)
{
    (void)state;
    const char *doc =
        "{\"fInt32\":-2147483648,\"fInt64\":\"-1\",\"fUint32\":4294967295,"
        "\"fUint64\":\"18446744073709551615\",\"fSint32\":2147483647,"
        "\"fSint64\":\"-9223372036854775808\",\"fFixed32\":1,\"fFixed64\":\"2\","
        "\"fSfixed32\":-3,\"fSfixed64\":\"-4\",\"fFloat\":-1.1754944e-38,"
        "\"fDouble\":2.2250738585072014e-308,\"fBool\":true,\"fString\":\"\xe2\x82\xac\","
        "\"fBytes\":\"//79\",\"color\":\"INFRARED\",\"item\":{\"name\":\"i\",\"price\":\"-7\","
        "\"tags\":[\"a\"]},\"rInt32\":[0,-1],\"rInt64\":[\"0\"],\"rUint64\":[\"1\"],"
        "\"rSint32\":[-5],\"rFixed64\":[\"6\"],\"rFloat\":[\"-Infinity\"],"
        "\"rDouble\":[\"NaN\",0.30000000000000004],\"rBool\":[false],\"rColor\":[\"GREEN\",9],"
        "\"rString\":[\"\\u0001\"],\"rBytes\":[\"\"],\"items\":[{\"price\":\"1\"}],"
        "\"strToInt\":{\"z\":26},\"intToItem\":{\"0\":{}},\"boolToStr\":{\"false\":\"f\"},"
        "\"uintToColor\":{\"2\":\"RED\"},\"sintToBytes\":{\"-2\":\"AA==\"},"
        "\"fixedToDouble\":{\"4294967295\":-0.5},\"intToAll\":{\"-1\":{\"cId\":1}},"
        "\"cColor\":\"GREEN\",\"fooBar2baz\":42,\"child\":{\"fString\":\"c\"},"
        "\"children\":[{\"legacy\":{\"id\":\"3\"}},{}],"
        "\"legacy\":{\"count\":1,\"label\":\"l\",\"blob\":\"AQ==\",\"mood\":\"ANGRY\","
        "\"id\":\"-9\",\"next\":{\"id\":\"0\"},\"values\":[3],\"plain\":\"\",\"ratio\":-2.5}}";
    assert_canonical(doc);

    /* Through the binary form: messages protobuf-c itself allocated. */
    Pbjsontest__All *m = parse_all(doc);
    size_t len;
    uint8_t *bin = pack(&m->base, &len);
    ProtobufCMessage *u = protobuf_c_message_unpack(ALL_D, NULL, len, bin);
    assert_non_null(u);
    assert_json(u, 0, doc);
    protobuf_c_message_free_unpacked(u, NULL);
    free(bin);
    free_all(m);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    ProtobufCMessage *m = (ProtobufCMessage *)&m;
    assert_int_equal(svc_pb_from_json(NULL, "{}", 2, 0, &m), SVC_INVALID_ARGUMENT);
    assert_null(m);
    assert_int_equal(svc_pb_from_json(ALL_D, NULL, 2, 0, &m), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_pb_from_json(ALL_D, "{}", 2, 0, NULL), SVC_INVALID_ARGUMENT);
    assert_int_equal(svc_pb_from_json(ALL_D, NULL, 0, 0, &m), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "truncated input"));
    char *out = (char *)&out;
    assert_int_equal(svc_pb_to_json(NULL, 0, &out, NULL), SVC_INVALID_ARGUMENT);
    assert_null(out);
    Pbjsontest__All a = PBJSONTEST__ALL__INIT;
    assert_int_equal(svc_pb_to_json(&a.base, 0, NULL, NULL), SVC_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),          cmocka_unit_test(test_scalars_exact),
        cmocka_unit_test(test_names),          cmocka_unit_test(test_emit_defaults),
        cmocka_unit_test(test_int64_extremes), cmocka_unit_test(test_int32_range),
        cmocka_unit_test(test_floats),         cmocka_unit_test(test_bool),
        cmocka_unit_test(test_strings),        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_enums),          cmocka_unit_test(test_repeated),
        cmocka_unit_test(test_maps_parse),     cmocka_unit_test(test_maps_encode),
        cmocka_unit_test(test_oneof),          cmocka_unit_test(test_optional_presence),
        cmocka_unit_test(test_null_fields),    cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_malformed),      cmocka_unit_test(test_truncated_prefixes),
        cmocka_unit_test(test_deep_nesting),   cmocka_unit_test(test_round_trip_everything),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
