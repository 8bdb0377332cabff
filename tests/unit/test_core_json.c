/* Unit tests for lib/core/json.c: the Mesos JSON conventions (null as
 * absent, {"value"} ids, numbers and booleans as strings) and messages. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "core/json.h"
#include "test.h"

static char err[256];

static json_t *parse(const char *s)
{
    json_t *j = ag_json_parse(s, strlen(s), err, sizeof(err));
    if (!j)
        AG_TEST_FAIL("parse: %s", err);
    return j;
}

TEST(parse_and_dump)
{
    json_t *j = parse("{ \"a\" : [1, 2.5, \"x\"], \"b\": {\"c\": null} }");
    size_t n = 0;
    char *d = ag_json_dump(j, &n);
    ASSERT_STREQ(d, "{\"a\":[1,2.5,\"x\"],\"b\":{\"c\":null}}");
    ASSERT_EQ(n, strlen(d));
    free(d);
    json_decref(j);

    /* Reals print in their short form. */
    j = json_pack("{s:f,s:f,s:f}", "x", 0.1, "y", 2.0, "t", 1732458078.123456);
    d = ag_json_dump(j, NULL);
    ASSERT_STREQ(d, "{\"x\":0.1,\"y\":2.0,\"t\":1732458078.123456}");
    free(d);
    json_decref(j);

    /* Scalars at top level are accepted too. */
    j = parse("\"s\"");
    ASSERT_TRUE(json_is_string(j));
    json_decref(j);
}

TEST(parse_errors)
{
    const char *text = "{\"a\": 1,\n \"b\": }";
    json_t *j = ag_json_parse(text, strlen(text), err, sizeof(err));
    ASSERT_NULL(j);
    ASSERT_TRUE(strncmp(err, "invalid JSON at line 2 column", 29) == 0);

    /* len bounds the input: a valid prefix of a longer buffer parses. */
    j = ag_json_parse("{}garbage", 2, err, sizeof(err));
    ASSERT_NOT_NULL(j);
    json_decref(j);
    ASSERT_NULL(ag_json_parse("", 0, err, sizeof(err)));
    ASSERT_NULL(ag_json_parse("{\"a\":\"\\u0000\"}", 13, err, sizeof(err)));
}

TEST(get_null_is_absent)
{
    json_t *j = parse("{\"a\":null,\"b\":1}");
    ASSERT_NULL(ag_json_get(j, "a"));
    ASSERT_NULL(ag_json_get(j, "missing"));
    ASSERT_NOT_NULL(ag_json_get(j, "b"));
    ASSERT_NULL(ag_json_get(json_array_get(j, 0), "b"));
    json_t *arr = parse("[1]");
    ASSERT_NULL(ag_json_get(arr, "b"));
    json_decref(arr);
    json_decref(j);
}

TEST(get_id)
{
    json_t *j =
        parse("{\"framework_id\":{\"value\":\"f-1\"},\"bad\":\"f-1\",\"bad2\":{\"value\":3},"
              "\"nul\":null}");
    strcpy(err, "stale");
    ASSERT_STREQ(ag_json_get_id(j, "framework_id", true, err, sizeof(err)), "f-1");
    ASSERT_STREQ(err, "stale"); /* untouched on success */

    ASSERT_NULL(ag_json_get_id(j, "agent_id", false, err, sizeof(err)));
    ASSERT_EQ(err[0], '\0'); /* absent and optional: not an error */
    ASSERT_NULL(ag_json_get_id(j, "nul", false, err, sizeof(err)));
    ASSERT_EQ(err[0], '\0');

    ASSERT_NULL(ag_json_get_id(j, "agent_id", true, err, sizeof(err)));
    ASSERT_STREQ(err, "missing 'agent_id'");
    ASSERT_NULL(ag_json_get_id(j, "bad", false, err, sizeof(err)));
    ASSERT_STREQ(err, "'bad' must be {\"value\": string}");
    err[0] = '\0';
    ASSERT_NULL(ag_json_get_id(j, "bad2", false, err, sizeof(err)));
    ASSERT_STREQ(err, "'bad2' must be {\"value\": string}");
    json_decref(j);
}

TEST(get_string)
{
    json_t *j = parse("{\"s\":\"x\",\"n\":1}");
    ASSERT_STREQ(ag_json_get_string(j, "s", true, err, sizeof(err)), "x");
    ASSERT_NULL(ag_json_get_string(j, "n", false, err, sizeof(err)));
    ASSERT_STREQ(err, "'n' must be a string");
    ASSERT_NULL(ag_json_get_string(j, "z", true, err, sizeof(err)));
    ASSERT_STREQ(err, "missing 'z'");
    json_decref(j);
}

TEST(get_number)
{
    json_t *j =
        parse("{\"i\":5,\"r\":2.5,\"s\":\"1.25\",\"inf\":\"Infinity\",\"ninf\":\"-Infinity\","
              "\"big\":1470820172000000000,\"bad\":\"12abc\",\"nan\":\"nan\",\"hex\":\"0x1\","
              "\"b\":true,\"e\":\"\"}");
    double d;
    ASSERT_EQ(ag_json_get_number(j, "i", true, &d, err, sizeof(err)), 0);
    ASSERT_NEAR(d, 5, 0);
    ASSERT_EQ(ag_json_get_number(j, "r", true, &d, err, sizeof(err)), 0);
    ASSERT_NEAR(d, 2.5, 0);
    ASSERT_EQ(ag_json_get_number(j, "s", true, &d, err, sizeof(err)), 0);
    ASSERT_NEAR(d, 1.25, 0);
    ASSERT_EQ(ag_json_get_number(j, "inf", true, &d, err, sizeof(err)), 0);
    ASSERT_TRUE(isinf(d) && d > 0);
    ASSERT_EQ(ag_json_get_number(j, "ninf", true, &d, err, sizeof(err)), 0);
    ASSERT_TRUE(isinf(d) && d < 0);
    ASSERT_EQ(ag_json_get_number(j, "big", true, &d, err, sizeof(err)), 0);
    ASSERT_NEAR(d, 1470820172e9, 1e3);

    const char *bad[] = {"bad", "nan", "hex", "b", "e"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        d = 7;
        err[0] = '\0';
        ASSERT_EQ(ag_json_get_number(j, bad[i], false, &d, err, sizeof(err)), -EINVAL);
        ASSERT_NEAR(d, 7, 0);
        ASSERT_TRUE(strstr(err, bad[i]) != NULL && strstr(err, "must be a number") != NULL);
    }
    strcpy(err, "keep");
    ASSERT_EQ(ag_json_get_number(j, "zz", false, &d, err, sizeof(err)), -ENOENT);
    ASSERT_STREQ(err, "keep");
    ASSERT_EQ(ag_json_get_number(j, "zz", true, &d, err, sizeof(err)), -ENOENT);
    ASSERT_STREQ(err, "missing 'zz'");
    json_decref(j);
}

TEST(get_bool)
{
    json_t *j =
        parse("{\"t\":true,\"f\":false,\"st\":\"true\",\"sf\":\"false\",\"n\":1,\"s\":\"yes\"}");
    bool b = false;
    ASSERT_EQ(ag_json_get_bool(j, "t", true, &b, err, sizeof(err)), 0);
    ASSERT_TRUE(b);
    ASSERT_EQ(ag_json_get_bool(j, "f", true, &b, err, sizeof(err)), 0);
    ASSERT_FALSE(b);
    ASSERT_EQ(ag_json_get_bool(j, "st", true, &b, err, sizeof(err)), 0);
    ASSERT_TRUE(b);
    ASSERT_EQ(ag_json_get_bool(j, "sf", true, &b, err, sizeof(err)), 0);
    ASSERT_FALSE(b);
    ASSERT_EQ(ag_json_get_bool(j, "n", true, &b, err, sizeof(err)), -EINVAL);
    ASSERT_STREQ(err, "'n' must be a boolean");
    ASSERT_EQ(ag_json_get_bool(j, "s", true, &b, err, sizeof(err)), -EINVAL);
    ASSERT_EQ(ag_json_get_bool(j, "none", false, &b, err, sizeof(err)), -ENOENT);
    json_decref(j);
}

TEST(get_array_object)
{
    json_t *j = parse("{\"a\":[1],\"o\":{},\"x\":3}");
    ASSERT_NOT_NULL(ag_json_get_array(j, "a", true, err, sizeof(err)));
    ASSERT_NULL(ag_json_get_array(j, "o", false, err, sizeof(err)));
    ASSERT_STREQ(err, "'o' must be an array");
    ASSERT_NOT_NULL(ag_json_get_object(j, "o", true, err, sizeof(err)));
    ASSERT_NULL(ag_json_get_object(j, "x", false, err, sizeof(err)));
    ASSERT_STREQ(err, "'x' must be an object");
    ASSERT_NULL(ag_json_get_object(j, "m", true, err, sizeof(err)));
    ASSERT_STREQ(err, "missing 'm'");
    ASSERT_NULL(ag_json_get_array(j, "m", false, err, sizeof(err)));
    ASSERT_EQ(err[0], '\0');
    json_decref(j);
}

TEST(setters)
{
    json_t *o = json_object();
    ag_json_set_id(o, "task_id", "t1");
    ag_json_set_id(o, "agent_id", NULL);
    ag_json_set_string(o, "state", "TASK_RUNNING");
    ag_json_set_string(o, "message", NULL);
    json_t *id = ag_json_id("x");
    json_object_set_new(o, "other", id);
    char *d = ag_json_dump(o, NULL);
    ASSERT_STREQ(d, "{\"task_id\":{\"value\":\"t1\"},\"state\":\"TASK_RUNNING\","
                    "\"other\":{\"value\":\"x\"}}");
    free(d);
    json_decref(o);
}

TEST(null_error_buffer_is_safe)
{
    json_t *j = parse("{\"a\":1}");
    ASSERT_NULL(ag_json_get_id(j, "a", true, NULL, 0));
    ASSERT_NULL(ag_json_get_string(j, "b", true, NULL, 0));
    double d;
    ASSERT_EQ(ag_json_get_number(j, "b", true, &d, NULL, 0), -ENOENT);
    ASSERT_NULL(ag_json_parse("{", 1, NULL, 0));
    json_decref(j);
}

static int lean(const char *text, struct ag_json_lean_field *f, size_t n)
{
    return ag_json_lean_read(text, strlen(text), f, n);
}

TEST(lean_reader_takes_the_usual_shape)
{
    struct ag_json_lean_field f[] = {{.path = "type"}, {.path = "a.id.value"}, {.path = "a.u"}};
    ASSERT_EQ(lean("{\"type\":\"ACK\",\"a\":{\"id\":{\"value\":\"t-1\"},\"u\":\"x=\"}}", f, 3), 0);
    ASSERT_EQ(f[0].len, 3);
    ASSERT_TRUE(memcmp(f[0].value, "ACK", 3) == 0);
    ASSERT_EQ(f[1].len, 3);
    ASSERT_TRUE(memcmp(f[1].value, "t-1", 3) == 0);
    ASSERT_TRUE(memcmp(f[2].value, "x=", 2) == 0);
    /* any member order and whitespace; absent fields stay NULL */
    ASSERT_EQ(lean(" { \"a\" : { \"u\" : \"\" } ,\n\"type\":\"B\" } \r\n", f, 3), 0);
    ASSERT_TRUE(memcmp(f[0].value, "B", 1) == 0);
    ASSERT_NULL(f[1].value);
    ASSERT_NOT_NULL(f[2].value);
    ASSERT_EQ(f[2].len, 0);
    ASSERT_EQ(lean("{}", f, 3), 0);
    ASSERT_NULL(f[0].value);
}

TEST(lean_reader_leaves_the_rest_to_the_parser)
{
    struct ag_json_lean_field f[] = {{.path = "type"}, {.path = "a.id.value"}, {.path = "a.u"}};
    static const char *const refused[] = {
        "",
        "[]",
        "\"type\"",
        "{\"type\":\"A\\\"\"}",                       /* an escape */
        "{\"type\":\"\xc3\xa9\"}",                    /* not ASCII */
        "{\"type\":5}",                               /* a number */
        "{\"type\":null}",                            /* null */
        "{\"type\":[\"A\"]}",                         /* an array */
        "{\"other\":\"A\"}",                          /* an unknown member */
        "{\"type\":\"A\",\"type\":\"B\"}",            /* repeated */
        "{\"a\":\"A\"}",                              /* an object expected */
        "{\"type\":\"A\"",                            /* truncated */
        "{\"type\":\"A\"} x",                         /* trailing bytes */
        "{\"type\":\"A\",}",                          /* trailing comma */
        "{\"type\" \"A\"}",                           /* no colon */
        "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{}}}}}}", /* too deep */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (lean(refused[i], f, 3) != -1)
            AG_TEST_FAIL("accepted: %s", refused[i]);
    }
    /* an embedded NUL is not whitespace */
    ASSERT_EQ(ag_json_lean_read("{}\0", 3, f, 3), -1);
    ASSERT_EQ(ag_json_lean_read(NULL, 0, f, 3), -1);
}

TEST_MAIN(TEST_CASE(parse_and_dump), TEST_CASE(parse_errors), TEST_CASE(get_null_is_absent),
          TEST_CASE(get_id), TEST_CASE(get_string), TEST_CASE(get_number), TEST_CASE(get_bool),
          TEST_CASE(get_array_object), TEST_CASE(setters), TEST_CASE(null_error_buffer_is_safe),
          TEST_CASE(lean_reader_takes_the_usual_shape),
          TEST_CASE(lean_reader_leaves_the_rest_to_the_parser))
