/* Unit tests for lib/core/id.c: UUID shape and uniqueness, strict Base64. */
#include <ctype.h>
#include <stdlib.h>

#include "core/id.h"
#include "test.h"

TEST(uuid_string_shape)
{
    char a[AG_UUID_STR_LEN], b[AG_UUID_STR_LEN];
    ag_uuid_string(a);
    ag_uuid_string(b);
    ASSERT_EQ(strlen(a), 36);
    ASSERT_TRUE(strcmp(a, b) != 0);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ASSERT_EQ(a[i], '-');
        else
            ASSERT_TRUE(isxdigit((unsigned char)a[i]) && !isupper((unsigned char)a[i]));
    }
    ASSERT_EQ(a[14], '4');                      /* version 4 */
    ASSERT_TRUE(strchr("89ab", a[19]) != NULL); /* RFC 4122 variant */
}

TEST(uuid_bytes_and_status_uuid)
{
    uint8_t x[16], y[16];
    ag_uuid_bytes(x);
    ag_uuid_bytes(y);
    ASSERT_TRUE(memcmp(x, y, 16) != 0);
    ASSERT_EQ(x[6] >> 4, 4);

    char s[25];
    ag_status_uuid(s);
    ASSERT_EQ(strlen(s), 24);
    size_t n = 0;
    uint8_t *d = ag_base64_decode(s, &n);
    ASSERT_NOT_NULL(d);
    ASSERT_EQ(n, 16);
    free(d);
}

TEST(base64_vectors)
{
    /* RFC 4648 section 10. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = ag_base64_encode((const uint8_t *)plain[i], strlen(plain[i]));
        ASSERT_STREQ(e, coded[i]);
        free(e);
        size_t n = 99;
        uint8_t *d = ag_base64_decode(coded[i], &n);
        ASSERT_NOT_NULL(d);
        ASSERT_EQ(n, strlen(plain[i]));
        ASSERT_STREQ((char *)d, plain[i]);
        free(d);
    }
}

TEST(base64_binary_roundtrip)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (size_t len = 0; len <= 256; len += 17) {
        char *e = ag_base64_encode(all, len);
        size_t n;
        uint8_t *d = ag_base64_decode(e, &n);
        ASSERT_NOT_NULL(d);
        ASSERT_EQ(n, len);
        ASSERT_TRUE(len == 0 || memcmp(d, all, len) == 0);
        free(e);
        free(d);
    }
}

TEST(base64_strict)
{
    static const char *const bad[] = {
        "Zg",       /* padding missing */
        "Zg=",      /* length not a multiple of 4 */
        "Zm9v\n",   /* whitespace */
        "Zm 9v",    /* whitespace inside */
        "Zm9v!A==", /* not in the alphabet */
        "Z===",     /* too much padding */
        "=Zm9",     /* padding first */
        "Zg==Zg==", /* data after padding */
        "Zm=v",     /* padding in the middle */
        "Zm9-",     /* URL-safe alphabet is not standard Base64 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = 1234;
        uint8_t *d = ag_base64_decode(bad[i], &n);
        if (d)
            AG_TEST_FAIL("'%s' should be refused", bad[i]);
        ASSERT_EQ(n, 1234);
    }
    ASSERT_NULL(ag_base64_decode(NULL, NULL));
}

TEST_MAIN(TEST_CASE(uuid_string_shape), TEST_CASE(uuid_bytes_and_status_uuid),
          TEST_CASE(base64_vectors), TEST_CASE(base64_binary_roundtrip), TEST_CASE(base64_strict))
