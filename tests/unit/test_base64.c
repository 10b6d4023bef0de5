#include <string.h>

#include "cmocka_all.h"
#include "core/base64.h"

static void check_roundtrip(const char *in, size_t len, const char *expected)
{
    char enc[64];
    unsigned char dec[64];
    size_t n;
    assert_int_equal(svc_base64_encode(in, len, enc), strlen(expected));
    assert_string_equal(enc, expected);
    assert_true(svc_base64_decode(enc, strlen(enc), dec, &n));
    assert_int_equal(n, len);
    assert_memory_equal(dec, in, len);
}

static void rfc4648_vectors(void **state)
{
    (void)state;
    check_roundtrip("", 0, "");
    check_roundtrip("f", 1, "Zg==");
    check_roundtrip("fo", 2, "Zm8=");
    check_roundtrip("foo", 3, "Zm9v");
    check_roundtrip("foob", 4, "Zm9vYg==");
    check_roundtrip("fooba", 5, "Zm9vYmE=");
    check_roundtrip("foobar", 6, "Zm9vYmFy");
    check_roundtrip("\x00\xff\xfe", 3, "AP/+");
}

static void decode_variants(void **state)
{
    (void)state;
    unsigned char out[16];
    size_t n;
    assert_true(svc_base64_decode("AP_-", 4, out, &n)); /* URL-safe */
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\x00\xff\xfe", 3);
    assert_true(svc_base64_decode("Zm8", 3, out, &n)); /* unpadded */
    assert_int_equal(n, 2);
    assert_false(svc_base64_decode("Zm9v!", 5, out, &n));
    assert_false(svc_base64_decode("Z", 1, out, &n));
    assert_false(svc_base64_decode("Zm8=Zm8=", 8, out, &n)); /* padding in the middle */
    assert_false(svc_base64_decode("Zh==", 4, out, &n));     /* non-zero leftover bits */
    assert_false(svc_base64_decode("Zm=", 3, out, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors),
        cmocka_unit_test(decode_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
