/* Unit tests for lib/core/jw.c: the streaming writer prints what jansson
 * prints for the same values (strings, numbers, nesting), and reports
 * misuse. */
#include <stdlib.h>

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
          TEST_CASE(misuse_is_reported))
