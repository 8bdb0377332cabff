/* Unit tests for lib/core/resources.c: parsing, JSON in both formats, and
 * the resource math (exact scalars, range splitting, sets, identities). */
#include <errno.h>
#include <stdlib.h>

#include "core/json.h"
#include "core/resources.h"
#include "test.h"

static char err[512];

static struct ag_resources parse_ok(const char *text, const char *role)
{
    struct ag_resources r;
    err[0] = '\0';
    int rc = ag_resources_parse(text, role, &r, err, sizeof(err));
    if (rc != 0)
        AG_TEST_FAIL("parse '%s' failed: %d %s", text, rc, err);
    return r;
}

/* Asserts the text form, then frees the string. */
#define ASSERT_RES_STR(r, expected)                                                                \
    do {                                                                                           \
        char *s_ = ag_resources_string(r);                                                         \
        ASSERT_NOT_NULL(s_);                                                                       \
        int eq_ = strcmp(s_, expected) == 0;                                                       \
        if (!eq_)                                                                                  \
            fprintf(stderr, "  got \"%s\"\n", s_);                                                 \
        free(s_);                                                                                  \
        ASSERT_TRUE(eq_);                                                                          \
    } while (0)

static json_t *json_of(const char *text)
{
    json_t *j = ag_json_parse(text, strlen(text), err, sizeof(err));
    if (!j)
        AG_TEST_FAIL("bad test JSON: %s", err);
    return j;
}

TEST(parse_basic)
{
    struct ag_resources r = parse_ok("cpus:2;mem:1024;disk:4096;ports:[31000-32000]", "*");
    ASSERT_EQ(r.n, 4);
    ASSERT_EQ(ag_resources_scalar_milli(&r, "cpus"), 2000);
    ASSERT_NEAR(ag_resources_scalar(&r, "mem"), 1024, 1e-9);
    ASSERT_EQ(ag_resources_scalar_milli(&r, "disk"), 4096000);
    ASSERT_EQ(r.items[3].type, AG_VALUE_RANGES);
    ASSERT_EQ(r.items[3].n_ranges, 1);
    ASSERT_EQ(r.items[3].ranges[0].begin, 31000);
    ASSERT_EQ(r.items[3].ranges[0].end, 32000);
    for (size_t i = 0; i < r.n; i++)
        ASSERT_FALSE(ag_resource_is_reserved(&r.items[i]));
    ASSERT_RES_STR(&r, "cpus:2;mem:1024;disk:4096;ports:[31000-32000]");
    ag_resources_release(&r);
}

TEST(parse_roles_sets_spaces)
{
    struct ag_resources r =
        parse_ok(" cpus:4 ; cpus(ads):8;mem(ads):4096;zones:{b, a,b};ports:[5-6, 1-2,3-4];", NULL);
    ASSERT_EQ(r.n, 5);
    ASSERT_EQ(ag_resources_scalar_milli(&r, "cpus"), 12000);
    ASSERT_FALSE(ag_resource_is_reserved(&r.items[0]));
    ASSERT_TRUE(ag_resource_is_reserved(&r.items[1]));
    ASSERT_EQ(r.items[1].reservations[0].type, AG_RESERVATION_STATIC);
    ASSERT_STREQ(ag_resource_reserved_role(&r.items[1]), "ads");
    ASSERT_EQ(r.items[3].n_items, 2); /* duplicates dropped, sorted */
    ASSERT_STREQ(r.items[3].items[0], "a");
    ASSERT_EQ(r.items[4].n_ranges, 1); /* adjacent ranges coalesced */
    ASSERT_EQ(r.items[4].ranges[0].begin, 1);
    ASSERT_EQ(r.items[4].ranges[0].end, 6);
    ASSERT_RES_STR(&r, "cpus:4;cpus(ads):8;mem(ads):4096;zones:{a,b};ports:[1-6]");
    ag_resources_release(&r);
}

TEST(parse_default_role_and_merging)
{
    struct ag_resources r = parse_ok("cpus:1;cpus:2.5;cpus(*):1", "eng");
    /* cpus:1 and cpus:2.5 get the default role and merge; cpus(*) stays apart. */
    ASSERT_EQ(r.n, 2);
    ASSERT_STREQ(ag_resource_reserved_role(&r.items[0]), "eng");
    ASSERT_EQ(r.items[0].scalar_milli, 3500);
    ASSERT_STREQ(ag_resource_reserved_role(&r.items[1]), "*");
    ag_resources_release(&r);

    /* Zero values are empty and not kept. */
    r = parse_ok("cpus:0;mem:0.0001", "*");
    ASSERT_EQ(r.n, 0);
    ASSERT_TRUE(ag_resources_empty(&r));
    ag_resources_release(&r);
}

static void expect_parse_error(const char *text, const char *fragment)
{
    struct ag_resources r;
    err[0] = '\0';
    int rc = ag_resources_parse(text, "*", &r, err, sizeof(err));
    if (rc != -EINVAL)
        AG_TEST_FAIL("parse '%s': expected -EINVAL, got %d", text, rc);
    if (r.n != 0)
        AG_TEST_FAIL("parse '%s': ret not empty after error", text);
    if (!strstr(err, fragment))
        AG_TEST_FAIL("parse '%s': error \"%s\" does not name \"%s\"", text, err, fragment);
    ag_resources_release(&r);
}

TEST(parse_errors_name_the_token)
{
    expect_parse_error("cpus:2;mem:abc", "mem:abc");
    expect_parse_error("cpus:2;mem:abc", "'abc'");
    expect_parse_error("cpus:-1", "cpus:-1");
    expect_parse_error("cpus:0x10", "0x10");
    expect_parse_error("cpus:nan", "nan");
    expect_parse_error("cpus:inf", "inf");
    expect_parse_error("cpus:1e300", "1e300");
    expect_parse_error("cpus", "expected 'name:value'");
    expect_parse_error("cpus:", "missing value");
    expect_parse_error(":2", "empty resource name");
    expect_parse_error("ports:[2-1]", "bad range '2-1'");
    expect_parse_error("ports:[1-2,]", "ports:[1-2,]");
    expect_parse_error("ports:[a-b]", "'a-b'");
    expect_parse_error("ports:[1-99999999999999999999999]", "bad range");
    expect_parse_error("ports:[1-2", "must end with ']'");
    expect_parse_error("zones:{a,,b}", "empty set item");
    expect_parse_error("zones:{a", "must end with '}'");
    expect_parse_error("cpus(eng:2", "name(role):value");
    expect_parse_error("cpus(eng)x:2", "name(role):value");
    expect_parse_error("cpus(/eng):2", "'/eng'");
    expect_parse_error("cpus(a//b):2", "'//'");
    expect_parse_error("cpus(a/../b):2", "'..'");
    expect_parse_error("cpus( a b ):2", "whitespace");
    expect_parse_error("ports:5", "'ports' must be ranges");
    expect_parse_error("cpu\xff:1", "not valid UTF-8");
    expect_parse_error("cpus(r\xc3):1", "not valid UTF-8");
    expect_parse_error("s:{a,\xff}", "non-UTF-8 set item");
    expect_parse_error("cpus:[1-2]", "'cpus' must be a scalar");
    expect_parse_error("[{\"name\":\"cpus\"", "invalid resources JSON");

    struct ag_resources r;
    ASSERT_EQ(ag_resources_parse("cpus:1", "-bad", &r, err, sizeof(err)), -EINVAL);
    ASSERT_TRUE(strstr(err, "default role") != NULL);
    ag_resources_release(&r);
}

TEST(scalar_precision)
{
    struct ag_resources a = parse_ok("cpus:0.1", "*");
    struct ag_resources b = parse_ok("cpus:0.2", "*");
    struct ag_resources c = parse_ok("cpus:0.3", "*");
    ASSERT_EQ(ag_resources_add(&a, &b), 0);
    /* 0.1 + 0.2 is exactly 0.3 here, unlike in doubles. */
    ASSERT_EQ(a.items[0].scalar_milli, 300);
    ASSERT_TRUE(ag_resources_equal(&a, &c));
    ASSERT_EQ(ag_resources_subtract(&a, &c), 0);
    ASSERT_TRUE(ag_resources_empty(&a));
    ASSERT_EQ(a.n, 0);
    ag_resources_release(&a);
    ag_resources_release(&b);
    ag_resources_release(&c);

    /* Rounded to thousandths on input. */
    a = parse_ok("cpus:0.0005;mem:1.23449", "*");
    ASSERT_EQ(ag_resources_scalar_milli(&a, "cpus"), 1);
    ASSERT_EQ(ag_resources_scalar_milli(&a, "mem"), 1234);
    ASSERT_RES_STR(&a, "cpus:0.001;mem:1.234");
    ag_resources_release(&a);

    /* Subtracting 0.1 ten times from 1 leaves exactly nothing. */
    a = parse_ok("cpus:1", "*");
    b = parse_ok("cpus:0.1", "*");
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(ag_resources_subtract(&a, &b), 0);
    ASSERT_TRUE(ag_resources_empty(&a));
    ASSERT_EQ(ag_resources_subtract(&a, &b), -ERANGE);
    ag_resources_release(&a);
    ag_resources_release(&b);
}

TEST(range_subtraction_splits)
{
    struct ag_resources a = parse_ok("ports:[31000-32000]", "*");
    struct ag_resources b = parse_ok("ports:[31100-31199,31500-31500]", "*");
    ASSERT_EQ(ag_resources_subtract(&a, &b), 0);
    ASSERT_EQ(a.n, 1);
    ASSERT_EQ(a.items[0].n_ranges, 3);
    ASSERT_EQ(a.items[0].ranges[0].begin, 31000);
    ASSERT_EQ(a.items[0].ranges[0].end, 31099);
    ASSERT_EQ(a.items[0].ranges[1].begin, 31200);
    ASSERT_EQ(a.items[0].ranges[1].end, 31499);
    ASSERT_EQ(a.items[0].ranges[2].begin, 31501);
    ASSERT_EQ(a.items[0].ranges[2].end, 32000);
    ASSERT_RES_STR(&a, "ports:[31000-31099,31200-31499,31501-32000]");

    /* Adding back coalesces into the original single range. */
    ASSERT_EQ(ag_resources_add(&a, &b), 0);
    ASSERT_EQ(a.items[0].n_ranges, 1);
    struct ag_resources orig = parse_ok("ports:[31000-32000]", "*");
    ASSERT_TRUE(ag_resources_equal(&a, &orig));

    /* Edges: removing the first and last port. */
    struct ag_resources edges = parse_ok("ports:[31000-31000,32000-32000]", "*");
    ASSERT_EQ(ag_resources_subtract(&a, &edges), 0);
    ASSERT_RES_STR(&a, "ports:[31001-31999]");

    /* A range straddling a hole is not contained. */
    struct ag_resources hole = parse_ok("ports:[31000-31001]", "*");
    ASSERT_FALSE(ag_resources_contains(&a, &hole));
    ASSERT_EQ(ag_resources_subtract(&a, &hole), -ERANGE);
    ASSERT_RES_STR(&a, "ports:[31001-31999]");

    /* Removing everything removes the entry. */
    struct ag_resources all = parse_ok("ports:[31001-31999]", "*");
    ASSERT_EQ(ag_resources_subtract(&a, &all), 0);
    ASSERT_EQ(a.n, 0);

    /* Extreme bounds do not overflow. */
    struct ag_resources big = parse_ok("r:[0-18446744073709551615]", "*");
    struct ag_resources mid = parse_ok("r:[0-0,18446744073709551615-18446744073709551615]", "*");
    ASSERT_EQ(ag_resources_subtract(&big, &mid), 0);
    ASSERT_RES_STR(&big, "r:[1-18446744073709551614]");
    ASSERT_EQ(ag_resources_add(&big, &mid), 0);
    ASSERT_RES_STR(&big, "r:[0-18446744073709551615]");

    ag_resources_release(&a);
    ag_resources_release(&b);
    ag_resources_release(&orig);
    ag_resources_release(&edges);
    ag_resources_release(&hole);
    ag_resources_release(&all);
    ag_resources_release(&big);
    ag_resources_release(&mid);
}

TEST(sets)
{
    struct ag_resources a = parse_ok("gpu_ids:{a,b,c}", "*");
    struct ag_resources b = parse_ok("gpu_ids:{c,a}", "*");
    struct ag_resources d = parse_ok("gpu_ids:{d}", "*");
    ASSERT_TRUE(ag_resources_contains(&a, &b));
    ASSERT_FALSE(ag_resources_contains(&a, &d));
    ASSERT_EQ(ag_resources_subtract(&a, &b), 0);
    ASSERT_RES_STR(&a, "gpu_ids:{b}");
    ASSERT_EQ(ag_resources_subtract(&a, &d), -ERANGE);
    ASSERT_EQ(ag_resources_add(&a, &d), 0);
    ASSERT_RES_STR(&a, "gpu_ids:{b,d}");
    ag_resources_release(&a);
    ag_resources_release(&b);
    ag_resources_release(&d);
}

TEST(contains_across_roles)
{
    struct ag_resources total = parse_ok("cpus:4;cpus(eng):2;mem:100", "*");
    struct ag_resources want = parse_ok("cpus(eng):2", "*");
    struct ag_resources too_much = parse_ok("cpus(eng):3", "*");
    struct ag_resources other = parse_ok("cpus(ops):1", "*");
    struct ag_resources unres5 = parse_ok("cpus:5", "*");
    ASSERT_TRUE(ag_resources_contains(&total, &want));
    /* 6 cpus in all, but only 2 reserved to eng and 4 unreserved: identities
     * are not interchangeable. */
    ASSERT_FALSE(ag_resources_contains(&total, &too_much));
    ASSERT_FALSE(ag_resources_contains(&total, &other));
    ASSERT_FALSE(ag_resources_contains(&total, &unres5));
    ASSERT_EQ(ag_resources_scalar_milli(&total, "cpus"), 6000);

    /* The allocation role is part of identity too. */
    struct ag_resources alloc;
    ag_resources_init(&alloc);
    ASSERT_EQ(ag_resources_copy(&alloc, &want), 0);
    ASSERT_EQ(ag_resources_set_allocation_role(&alloc, "eng/web"), 0);
    ASSERT_FALSE(ag_resources_contains(&total, &alloc));
    ASSERT_FALSE(ag_resources_equal(&alloc, &want));
    ASSERT_EQ(ag_resources_set_allocation_role(&alloc, NULL), 0);
    ASSERT_TRUE(ag_resources_equal(&alloc, &want));

    ag_resources_release(&total);
    ag_resources_release(&want);
    ag_resources_release(&too_much);
    ag_resources_release(&other);
    ag_resources_release(&unres5);
    ag_resources_release(&alloc);
}

TEST(subtract_not_contained_leaves_dst)
{
    struct ag_resources dst = parse_ok("cpus:2;mem:512;ports:[1-10]", "*");
    /* cpus and ports would fit, mem does not: nothing may change. */
    struct ag_resources src = parse_ok("cpus:1;ports:[1-5];mem:513", "*");
    ASSERT_EQ(ag_resources_subtract(&dst, &src), -ERANGE);
    ASSERT_RES_STR(&dst, "cpus:2;mem:512;ports:[1-10]");
    struct ag_resources unknown = parse_ok("disk:1", "*");
    ASSERT_EQ(ag_resources_subtract(&dst, &unknown), -ERANGE);
    ASSERT_RES_STR(&dst, "cpus:2;mem:512;ports:[1-10]");
    ag_resources_release(&dst);
    ag_resources_release(&src);
    ag_resources_release(&unknown);
}

TEST(hand_built_duplicates)
{
    /* A set built by hand with two entries of one identity is summed before
     * comparing, so contains cannot be fooled into counting cpus twice. */
    struct ag_resources have = parse_ok("cpus:1.5", "*");
    struct ag_resources one = parse_ok("cpus:1", "*");
    struct ag_resources two;
    ag_resources_init(&two);
    two.items = calloc(2, sizeof(*two.items));
    two.cap = 2;
    ASSERT_EQ(ag_resource_copy(&two.items[0], &one.items[0]), 0);
    ASSERT_EQ(ag_resource_copy(&two.items[1], &one.items[0]), 0);
    two.n = 2;
    ASSERT_FALSE(ag_resources_contains(&have, &two));
    ASSERT_EQ(ag_resources_subtract(&have, &two), -ERANGE);
    ASSERT_EQ(have.items[0].scalar_milli, 1500);
    ag_resources_release(&have);
    ag_resources_release(&one);
    ag_resources_release(&two);
}

TEST(self_operations)
{
    struct ag_resources a = parse_ok("cpus:1;ports:[1-2]", "*");
    ASSERT_EQ(ag_resources_add(&a, &a), 0);
    ASSERT_RES_STR(&a, "cpus:2;ports:[1-2]");
    ASSERT_EQ(ag_resources_subtract(&a, &a), 0);
    ASSERT_TRUE(ag_resources_empty(&a));
    ag_resources_release(&a);
}

TEST(json_post_refinement_roundtrip)
{
    json_t *j = json_of(
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1.5},"
        "\"reservations\":[{\"type\":\"STATIC\",\"role\":\"eng\"},"
        "{\"type\":\"DYNAMIC\",\"role\":\"eng/web\",\"principal\":\"ops\","
        "\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"v\"}]}}],"
        "\"allocation_info\":{\"role\":\"eng/web/x\"}},"
        "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":1,\"end\":2},"
        "{\"begin\":\"4\",\"end\":5}]}},"
        "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":\"64\"},"
        "\"disk\":{\"persistence\":{\"id\":\"v1\"}},\"revocable\":{}},"
        "{\"name\":\"zones\",\"type\":\"SET\",\"set\":{\"item\":[\"z\",\"a\"]}}]");
    struct ag_resources r;
    ASSERT_EQ(ag_resources_from_json(j, &r, err, sizeof(err)), 0);
    ASSERT_EQ(r.n, 4);
    ASSERT_EQ(r.items[0].n_reservations, 2);
    ASSERT_EQ(r.items[0].reservations[1].type, AG_RESERVATION_DYNAMIC);
    ASSERT_STREQ(r.items[0].reservations[1].principal, "ops");
    ASSERT_STREQ(ag_resource_reserved_role(&r.items[0]), "eng/web");
    ASSERT_STREQ(r.items[0].allocation_role, "eng/web/x");
    ASSERT_TRUE(r.items[2].revocable);
    ASSERT_NOT_NULL(r.items[2].disk);
    ASSERT_EQ(r.items[2].scalar_milli, 64000);

    json_t *out = ag_resources_to_json(&r, AG_RESOURCES_POST_REFINEMENT);
    ASSERT_NOT_NULL(out);
    json_t *c0 = json_array_get(out, 0);
    ASSERT_NULL(json_object_get(c0, "role"));
    ASSERT_EQ(json_array_size(json_object_get(c0, "reservations")), 2);
    ASSERT_NULL(json_object_get(json_array_get(out, 1), "reservations"));
    struct ag_resources back;
    ASSERT_EQ(ag_resources_from_json(out, &back, err, sizeof(err)), 0);
    ASSERT_TRUE(ag_resources_equal(&r, &back));

    /* Pre-refinement: role is the innermost one; dynamic gets "reservation". */
    json_t *pre = ag_resources_to_json(&r, AG_RESOURCES_PRE_REFINEMENT);
    json_t *p0 = json_array_get(pre, 0);
    ASSERT_STREQ(json_string_value(json_object_get(p0, "role")), "eng/web");
    ASSERT_NULL(json_object_get(p0, "reservations"));
    ASSERT_STREQ(
        json_string_value(json_object_get(json_object_get(p0, "reservation"), "principal")), "ops");
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(pre, 1), "role")), "*");

    char *dump = ag_json_dump(json_array_get(out, 0), NULL);
    ASSERT_TRUE(strstr(dump, "\"scalar\":{\"value\":1.5}") != NULL);
    free(dump);

    json_decref(j);
    json_decref(out);
    json_decref(pre);
    ag_resources_release(&r);
    ag_resources_release(&back);
}

TEST(json_pre_refinement_input)
{
    json_t *j = json_of("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2},"
                        "\"role\":\"ads\"},"
                        "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":64},"
                        "\"role\":\"ads\",\"reservation\":{\"principal\":\"p\"}},"
                        "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32},"
                        "\"role\":\"*\"}]");
    struct ag_resources r;
    ASSERT_EQ(ag_resources_from_json(j, &r, err, sizeof(err)), 0);
    ASSERT_EQ(r.n, 3);
    ASSERT_EQ(r.items[0].reservations[0].type, AG_RESERVATION_STATIC);
    ASSERT_EQ(r.items[1].reservations[0].type, AG_RESERVATION_DYNAMIC);
    ASSERT_STREQ(r.items[1].reservations[0].role, "ads");
    ASSERT_FALSE(ag_resource_is_reserved(&r.items[2]));

    /* Same resources in post-refinement form compare equal. */
    json_t *post = ag_resources_to_json(&r, AG_RESOURCES_POST_REFINEMENT);
    char *d = ag_json_dump(post, NULL);
    ASSERT_TRUE(strstr(d, "{\"type\":\"STATIC\",\"role\":\"ads\"}") != NULL);
    ASSERT_TRUE(strstr(d, "{\"type\":\"DYNAMIC\",\"role\":\"ads\",\"principal\":\"p\"}") != NULL);
    free(d);
    json_t *pre = ag_resources_to_json(&r, AG_RESOURCES_PRE_REFINEMENT);
    json_t *p0 = json_array_get(pre, 0);
    ASSERT_NULL(json_object_get(p0, "reservation")); /* static: no reservation object */
    struct ag_resources back;
    ASSERT_EQ(ag_resources_from_json(pre, &back, err, sizeof(err)), 0);
    ASSERT_TRUE(ag_resources_equal(&r, &back));

    /* The text parser takes a JSON array too, with the default role for
     * entries that say nothing about reservation. */
    struct ag_resources t =
        parse_ok(" [{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}},"
                 "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"role\":\"*\"}]",
                 "eng");
    ASSERT_EQ(t.n, 2);
    ASSERT_STREQ(ag_resource_reserved_role(&t.items[0]), "eng");
    ASSERT_STREQ(ag_resource_reserved_role(&t.items[1]), "*");

    json_decref(j);
    json_decref(post);
    json_decref(pre);
    ag_resources_release(&r);
    ag_resources_release(&back);
    ag_resources_release(&t);
}

static void expect_json_error(const char *text, const char *fragment)
{
    json_t *j = json_of(text);
    struct ag_resources r;
    err[0] = '\0';
    int rc = ag_resources_from_json(j, &r, err, sizeof(err));
    json_decref(j);
    if (rc != -EINVAL)
        AG_TEST_FAIL("from_json %s: expected -EINVAL, got %d", text, rc);
    if (r.n != 0)
        AG_TEST_FAIL("from_json %s: ret not empty", text);
    if (!strstr(err, fragment))
        AG_TEST_FAIL("from_json %s: error \"%s\" lacks \"%s\"", text, err, fragment);
    ag_resources_release(&r);
}

TEST(json_errors)
{
    expect_json_error("{}", "must be a JSON array");
    expect_json_error("[1]", "resources[0] must be an object");
    expect_json_error("[{\"type\":\"SCALAR\"}]", "resources[0].name");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"TEXT\"}]", "resources[0].type");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\"}]", "resources[0].scalar.value");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":-1}}]",
                      "non-negative");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":\"x\"}}]",
                      "scalar.value");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}},"
                      "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":"
                      "[{\"begin\":5,\"end\":4}]}}]",
                      "resources[1].ranges.range[0]: begin 5 is after end 4");
    expect_json_error("[{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":"
                      "[{\"begin\":-1,\"end\":4}]}}]",
                      "resources[0].ranges.range[0]");
    expect_json_error("[{\"name\":\"ports\",\"type\":\"RANGES\"}]", "resources[0].ranges");
    expect_json_error("[{\"name\":\"s\",\"type\":\"SET\",\"set\":{\"item\":[1]}}]",
                      "resources[0].set.item[0]");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                      "\"role\":\"a//b\"}]",
                      "resources[0].role");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                      "\"reservations\":[{\"type\":\"STATIC\",\"role\":\"*\"}]}]",
                      "reserved for '*'");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                      "\"reservations\":[{\"type\":\"STATIC\",\"role\":\"a\"},"
                      "{\"type\":\"DYNAMIC\",\"role\":\"b\"}]}]",
                      "reservations[1].role 'b' must be a child of 'a'");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                      "\"reservations\":[{\"type\":\"WEIRD\",\"role\":\"a\"}]}]",
                      "reservations[0].type");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                      "\"role\":\"x\",\"reservations\":[{\"type\":\"STATIC\",\"role\":\"a\"}]}]",
                      "does not match");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                      "\"reservation\":{\"principal\":\"p\"}}]",
                      "needs a 'role'");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                      "\"allocation_info\":{\"role\":7}}]",
                      "allocation_info");
    expect_json_error("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                      "\"disk\":3}]",
                      "resources[0].disk");
    expect_json_error("[{\"name\":\"ports\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]",
                      "'ports' must be ranges");
}

TEST(flatten)
{
    struct ag_resources r = parse_ok(
        "cpus:2;cpus(eng):0.5;mem:1024;ports:[31000-31099];ports(eng):[31200-32000];zones:{b,a}",
        "*");
    json_t *j = json_of("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                        "\"revocable\":{}}]");
    struct ag_resources rev;
    ASSERT_EQ(ag_resources_from_json(j, &rev, err, sizeof(err)), 0);
    ASSERT_EQ(ag_resources_add(&r, &rev), 0);

    json_t *f = ag_resources_flatten(&r);
    char *d = ag_json_dump(f, NULL);
    ASSERT_STREQ(d, "{\"cpus\":2.5,\"gpus\":0.0,\"mem\":1024.0,\"disk\":0.0,"
                    "\"ports\":\"[31000-31099, 31200-32000]\",\"zones\":\"{a, b}\","
                    "\"cpus_revocable\":1.0}");
    free(d);
    json_decref(f);

    struct ag_resources empty;
    ag_resources_init(&empty);
    f = ag_resources_flatten(&empty);
    d = ag_json_dump(f, NULL);
    ASSERT_STREQ(d, "{\"cpus\":0.0,\"gpus\":0.0,\"mem\":0.0,\"disk\":0.0}");
    free(d);
    json_decref(f);
    json_decref(j);
    ag_resources_release(&r);
    ag_resources_release(&rev);
}

TEST(role_validation)
{
    const char *good[] = {"*", "eng", "eng/backend/db", "a.b", "a-b", "x..y", "_"};
    const char *bad[] = {"",   "/a",   "a/",  "a//b", ".",    "..",  "a/./b", "a/../b",
                         "-a", "a/-b", "a b", "a\tb", "a\bb", "a/*", "*/a"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (ag_role_validate(good[i], err, sizeof(err)) != 0)
            AG_TEST_FAIL("role '%s' should be valid: %s", good[i], err);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (ag_role_validate(bad[i], err, sizeof(err)) != -EINVAL)
            AG_TEST_FAIL("role '%s' should be invalid", bad[i]);
        ASSERT_TRUE(err[0] != '\0');
    }
}

TEST(allocatable_to)
{
    struct ag_resources r = parse_ok("cpus:1;cpus(eng):1;cpus(eng/web):1", "*");
    ASSERT_TRUE(ag_resource_allocatable_to(&r.items[0], "anyone"));
    ASSERT_TRUE(ag_resource_allocatable_to(&r.items[1], "eng"));
    ASSERT_TRUE(ag_resource_allocatable_to(&r.items[1], "eng/web"));
    ASSERT_FALSE(ag_resource_allocatable_to(&r.items[1], "engineering"));
    ASSERT_FALSE(ag_resource_allocatable_to(&r.items[1], "ops"));
    ASSERT_FALSE(ag_resource_allocatable_to(&r.items[2], "eng"));
    ASSERT_TRUE(ag_resource_allocatable_to(&r.items[2], "eng/web/x"));
    ag_resources_release(&r);
}

static bool keep_reserved(const struct ag_resource *res, void *arg)
{
    (void)arg;
    return ag_resource_is_reserved(res);
}

TEST(filter_copy_clear)
{
    struct ag_resources r = parse_ok("cpus:1;cpus(eng):2;mem(eng):3", "*");
    struct ag_resources f;
    ASSERT_EQ(ag_resources_filter(&r, keep_reserved, NULL, &f), 0);
    ASSERT_RES_STR(&f, "cpus(eng):2;mem(eng):3");
    struct ag_resources c;
    ag_resources_init(&c);
    ASSERT_EQ(ag_resources_copy(&c, &r), 0);
    ASSERT_TRUE(ag_resources_equal(&c, &r));
    ASSERT_EQ(ag_resources_copy(&c, &f), 0); /* replaces previous contents */
    ASSERT_TRUE(ag_resources_equal(&c, &f));
    ag_resources_clear(&c);
    ASSERT_TRUE(ag_resources_empty(&c));
    ag_resources_release(&r);
    ag_resources_release(&f);
    ag_resources_release(&c);
}

TEST_MAIN(TEST_CASE(parse_basic), TEST_CASE(parse_roles_sets_spaces),
          TEST_CASE(parse_default_role_and_merging), TEST_CASE(parse_errors_name_the_token),
          TEST_CASE(scalar_precision), TEST_CASE(range_subtraction_splits), TEST_CASE(sets),
          TEST_CASE(contains_across_roles), TEST_CASE(subtract_not_contained_leaves_dst),
          TEST_CASE(hand_built_duplicates), TEST_CASE(self_operations),
          TEST_CASE(json_post_refinement_roundtrip), TEST_CASE(json_pre_refinement_input),
          TEST_CASE(json_errors), TEST_CASE(flatten), TEST_CASE(role_validation),
          TEST_CASE(allocatable_to), TEST_CASE(filter_copy_clear))
