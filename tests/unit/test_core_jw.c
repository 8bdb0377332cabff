/* Unit tests for lib/core/jw.c: the streaming writer prints what jansson
 * prints for the same values (strings, numbers, nesting), and reports
 * misuse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "test.h"

/* Writes v with the writer and checks it equals jansson's compact dump. */
static void same_as_jansson(const json_t *v)
{
    struct ag_jw w;
    ag_jw_init(&w);
    ag_jw_json(&w, v);
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    ASSERT_NOT_NULL(want);
    ASSERT_FALSE(w.bad);
    ASSERT_STREQ(w.buf, want);
    free(want);
    ag_jw_release(&w);
}

TEST(scalars_match_jansson)
{
    static const double reals[] = {0.0,
                                   -0.0,
                                   1.0,
                                   2.5,
                                   0.1,
                                   1e100,
                                   1e-7,
                                   -3.25e5,
                                   123456789,
                                   1.5e300,
                                   1e21,
                                   1e16,
                                   5e-324,
                                   1732458078.123456,
                                   0.30000000000000004};
    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        json_t *r = json_real(reals[i]);
        same_as_jansson(r);
        json_decref(r);
    }
    static const long long ints[] = {0, 1, -1, 9007199254740993LL, -9223372036854775807LL - 1};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        json_t *n = json_integer(ints[i]);
        same_as_jansson(n);
        json_decref(n);
    }
    json_t *b = json_pack("[b, b, n]", 1, 0);
    same_as_jansson(b);
    json_decref(b);
}

TEST(strings_escape_like_jansson)
{
    char all[40];
    for (int i = 0; i < 32; i++)
        all[i] = (char)(i + 1 < 32 ? i + 1 : 'x');
    all[31] = '"';
    all[32] = '\\';
    all[33] = '/';
    all[34] = 0x7f;
    all[35] = '\0';
    json_t *s = json_string(all);
    ASSERT_NOT_NULL(s);
    same_as_jansson(s);
    json_decref(s);
    s = json_string("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"); /* é € emoji kept */
    same_as_jansson(s);
    json_decref(s);
    /* an embedded NUL */
    s = json_stringn("a\0b", 3);
    same_as_jansson(s);
    json_decref(s);
}

TEST(invalid_utf8_becomes_replacement)
{
    struct ag_jw w;
    ag_jw_init(&w);
    ag_jw_str(&w, "a\xff"
                  "b\xc0\xaf"
                  "c\xed\xa0\x80");
    ASSERT_STREQ(w.buf, "\"a\xef\xbf\xbd"
                        "b\xef\xbf\xbd\xef\xbf\xbd"
                        "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    ag_jw_release(&w);
}

TEST(nesting_matches_jansson)
{
    json_t *v = json_pack("{s:[], s:{}, s:[{s:i, s:[i, i, {}]}, [], s], s:{s:{s:f}}, s:n}", "a",
                          "b", "c", "x", 1, "y", 2, 3, "str", "d", "e", "f", 0.5, "z");
    ASSERT_NOT_NULL(v);
    same_as_jansson(v);
    json_decref(v);
}

TEST(hand_written_document)
{
    struct ag_jw w;
    ag_jw_init(&w);
    ag_jw_obj_begin(&w);
    ag_jw_key_str(&w, "id", "x\"y");
    ag_jw_key_int(&w, "n", -5);
    ag_jw_key_real(&w, "t", 2);
    ag_jw_key_bool(&w, "ok", true);
    ag_jw_key_id(&w, "task_id", "t1");
    ag_jw_key(&w, "list");
    ag_jw_arr_begin(&w);
    ag_jw_raw(&w, "{\"pre\":1}", 9);
    ag_jw_str(&w, NULL);
    ag_jw_arr_end(&w);
    ag_jw_obj_end(&w);
    ASSERT_FALSE(w.bad);
    ASSERT_FALSE(w.oom);
    ASSERT_STREQ(w.buf, "{\"id\":\"x\\\"y\",\"n\":-5,\"t\":2.0,\"ok\":true,\"task_id\":{\"value\":"
                        "\"t1\"},\"list\":[{\"pre\":1},\"\"]}");
    ag_jw_release(&w);
}

TEST(clear_keeps_nesting_between_pieces)
{
    struct ag_jw w;
    ag_jw_init(&w);
    ag_jw_arr_begin(&w);
    ag_jw_int(&w, 1);
    ASSERT_STREQ(w.buf, "[1");
    ag_jw_clear(&w);
    ag_jw_int(&w, 2);
    ag_jw_arr_end(&w);
    ASSERT_STREQ(w.buf, ",2]");
    ASSERT_EQ(w.depth, 0);
    ag_jw_release(&w);
}

/* The real fast path (format_g17) against jansson, on the values the
 * master prints (resource amounts in thousandths, timestamps) and on
 * random doubles of every magnitude, both signs, and exact ties. */
static uint64_t rand_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
    rand_state ^= rand_state << 13;
    rand_state ^= rand_state >> 7;
    rand_state ^= rand_state << 17;
    return rand_state;
}

static void real_same_as_jansson(double v)
{
    json_t *r = json_real(v);
    ASSERT_NOT_NULL(r);
    same_as_jansson(r);
    json_decref(r);
}

TEST(reals_match_jansson_many)
{
    for (int64_t milli = -2000; milli <= 300000; milli++)
        real_same_as_jansson((double)milli / 1000.0);
    for (int i = 0; i < 100000; i++) {
        real_same_as_jansson(1795540509.0 + (double)(next_rand() % 1000000000) / 1e9);
        real_same_as_jansson((double)(next_rand() >> 11) / 9007199254740992.0); /* [0, 1) */
        uint64_t bits = next_rand();
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (isfinite(d))
            real_same_as_jansson(d); /* any magnitude (jansson has no NaN or inf) */
        /* values near powers of ten, where the exponent guess is off */
        double p = pow(10, (int)(next_rand() % 24) - 6);
        real_same_as_jansson(nextafter(p, 0));
        real_same_as_jansson(nextafter(p, 1e300));
    }
    /* ties at the 18th digit round half to even, as printf does */
    real_same_as_jansson(12345678901234.5625);
    real_same_as_jansson(12345678901234.5675);
    real_same_as_jansson(-0.0001);
    real_same_as_jansson(0.0001);
    real_same_as_jansson(0.00009999999999999999);
    real_same_as_jansson(999999999999999.9);
}

/* Every special byte at every position of short strings: the word-at-a-
 * time scan must not miss one at a word's edge. */
TEST(strings_escape_at_every_position)
{
    static const char *const specials[] = {"\x01", "\x1f", "\"", "\\", "\x7f",    "!",
                                           "#",    "[",    "]",  " ",  "\xc3\xa9"};
    char buf[64];
    for (size_t len = 1; len < 26; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
                size_t sl = strlen(specials[k]), n = 0;
                for (size_t i = 0; i < len; i++) {
                    if (i == pos) {
                        memcpy(buf + n, specials[k], sl);
                        n += sl;
                    } else {
                        buf[n++] = (char)('a' + i % 26);
                    }
                }
                json_t *s = json_stringn(buf, n);
                ASSERT_NOT_NULL(s);
                same_as_jansson(s);
                json_decref(s);
            }
        }
    }
}

TEST(raw_members_take_their_comma)
{
    struct ag_jw w;
    ag_jw_init(&w);
    ag_jw_obj_begin(&w);
    ag_jw_raw_members(&w, "\"a\":1,\"b\":[]", 12);
    ag_jw_raw_members(&w, "", 0); /* nothing, and no comma */
    ag_jw_key_int(&w, "c", 2);
    ag_jw_raw_members(&w, "\"d\":{}", 6);
    ag_jw_obj_end(&w);
    ASSERT_FALSE(w.bad);
    ASSERT_STREQ(w.buf, "{\"a\":1,\"b\":[],\"c\":2,\"d\":{}}");
    ag_jw_release(&w);

    ag_jw_init(&w);
    ag_jw_arr_begin(&w);
    ag_jw_raw_members(&w, "\"a\":1", 5); /* members belong in an object */
    ASSERT_TRUE(w.bad);
    ag_jw_release(&w);
}

TEST(misuse_is_reported)
{
    struct ag_jw w;
    ag_jw_init(&w);
    ag_jw_obj_begin(&w);
    ag_jw_int(&w, 1); /* a value without a key */
    ASSERT_TRUE(w.bad);
    ag_jw_release(&w);

    ag_jw_init(&w);
    ag_jw_arr_begin(&w);
    ag_jw_key(&w, "k"); /* a key inside an array */
    ASSERT_TRUE(w.bad);
    ag_jw_release(&w);

    ag_jw_init(&w);
    ag_jw_arr_begin(&w);
    ag_jw_obj_end(&w); /* mismatched close */
    ASSERT_TRUE(w.bad);
    ag_jw_release(&w);

    ag_jw_init(&w);
    for (int i = 0; i < AG_JW_MAX_DEPTH + 1; i++)
        ag_jw_arr_begin(&w);
    ASSERT_TRUE(w.bad);
    ag_jw_release(&w);
}

TEST_MAIN(TEST_CASE(scalars_match_jansson), TEST_CASE(strings_escape_like_jansson),
          TEST_CASE(invalid_utf8_becomes_replacement), TEST_CASE(nesting_matches_jansson),
          TEST_CASE(hand_written_document), TEST_CASE(clear_keeps_nesting_between_pieces),
          TEST_CASE(misuse_is_reported), TEST_CASE(reals_match_jansson_many),
          TEST_CASE(strings_escape_at_every_position), TEST_CASE(raw_members_take_their_comma))
