/* Agent resource detection and --attributes parsing (agent/resources.c). */
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "test.h"

#define MB (1024ull * 1024ull)
#define GB (1024ull * MB)

TEST(default_mem_subtracts_a_gigabyte_or_halves)
{
    ASSERT_EQ(ag_agent_default_mem_mb(24 * GB), 23 * 1024);
    ASSERT_EQ(ag_agent_default_mem_mb(2 * GB), 1024);
    ASSERT_EQ(ag_agent_default_mem_mb(1 * GB), 512);
    ASSERT_EQ(ag_agent_default_mem_mb(0), 0);
}

TEST(default_disk_subtracts_five_gigabytes_or_halves)
{
    ASSERT_EQ(ag_agent_default_disk_mb(100 * GB), 95 * 1024);
    ASSERT_EQ(ag_agent_default_disk_mb(10 * GB), 5 * 1024);
    ASSERT_EQ(ag_agent_default_disk_mb(8 * GB), 4 * 1024);
}

TEST(meminfo_total)
{
    ASSERT_EQ(ag_agent_meminfo_total("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
              24576000ull * 1024);
    ASSERT_EQ(ag_agent_meminfo_total("MemFree: 1 kB\n"), 0);
    ASSERT_EQ(ag_agent_meminfo_total("MemTotal: lots\n"), 0);
    ASSERT_EQ(ag_agent_meminfo_total(NULL), 0);
}

TEST(resources_defaults_when_flag_absent)
{
    struct ag_resources r;
    char err[256] = "";
    ag_resources_init(&r);
    ASSERT_EQ(ag_agent_resources_build(NULL, 4, 2048, 10000, &r, err, sizeof(err)), 0);
    ASSERT_NEAR(ag_resources_scalar(&r, "cpus"), 4, 1e-9);
    ASSERT_NEAR(ag_resources_scalar(&r, "mem"), 2048, 1e-9);
    ASSERT_NEAR(ag_resources_scalar(&r, "disk"), 10000, 1e-9);
    {
        char *s = ag_resources_string(&r);
        ASSERT_NOT_NULL(strstr(s, "ports:[31000-32000]"));
        free(s);
    }
    ag_resources_release(&r);
}

TEST(resources_flag_overrides_per_resource)
{
    struct ag_resources r;
    char err[256] = "";
    char *s;
    ag_resources_init(&r);
    ASSERT_EQ(ag_agent_resources_build("cpus:1.5;ports:[5000-5001];gpus:2", 4, 2048, 10000, &r, err,
                                       sizeof(err)),
              0);
    ASSERT_NEAR(ag_resources_scalar(&r, "cpus"), 1.5, 1e-9);
    ASSERT_NEAR(ag_resources_scalar(&r, "mem"), 2048, 1e-9); /* detected */
    ASSERT_NEAR(ag_resources_scalar(&r, "gpus"), 2, 1e-9);
    s = ag_resources_string(&r);
    ASSERT_NOT_NULL(strstr(s, "ports:[5000-5001]"));
    ASSERT_NULL(strstr(s, "31000"));
    free(s);
    ag_resources_release(&r);
}

TEST(resources_bad_flag_is_an_error_with_a_message)
{
    struct ag_resources r;
    char err[256] = "";
    ag_resources_init(&r);
    ASSERT_TRUE(ag_agent_resources_build("cpus:lots", 4, 2048, 10000, &r, err, sizeof(err)) < 0);
    ASSERT_TRUE(err[0] != '\0');
    ag_resources_release(&r);
}

static const json_t *attr(const json_t *attrs, const char *name)
{
    json_t *a;
    size_t i;
    json_array_foreach(attrs, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "name")), name) == 0)
            return a;
    }
    return NULL;
}

TEST(attributes_text_scalar_ranges_set)
{
    char err[256] = "";
    json_t *a = ag_agent_attributes_parse("rack:r1; level:3 ;span:[1-10,20-30];tags:{a,b}", err,
                                          sizeof(err));
    json_t *flat;
    ASSERT_NOT_NULL(a);
    ASSERT_EQ(json_array_size(a), 4);
    ASSERT_STREQ(json_string_value(json_object_get(attr(a, "rack"), "type")), "TEXT");
    ASSERT_STREQ(
        json_string_value(json_object_get(json_object_get(attr(a, "rack"), "text"), "value")),
        "r1");
    ASSERT_STREQ(json_string_value(json_object_get(attr(a, "level"), "type")), "SCALAR");
    ASSERT_STREQ(json_string_value(json_object_get(attr(a, "span"), "type")), "RANGES");
    ASSERT_STREQ(json_string_value(json_object_get(attr(a, "tags"), "type")), "SET");
    flat = ag_agent_attributes_flatten(a);
    ASSERT_STREQ(json_string_value(json_object_get(flat, "rack")), "r1");
    ASSERT_NEAR(json_number_value(json_object_get(flat, "level")), 3, 1e-9);
    ASSERT_STREQ(json_string_value(json_object_get(flat, "span")), "[1-10, 20-30]");
    ASSERT_STREQ(json_string_value(json_object_get(flat, "tags")), "{a, b}");
    json_decref(flat);
    json_decref(a);
}

TEST(attributes_empty_is_an_empty_array)
{
    char err[64] = "";
    json_t *a = ag_agent_attributes_parse(NULL, err, sizeof(err));
    ASSERT_EQ(json_array_size(a), 0);
    json_decref(a);
    a = ag_agent_attributes_parse(" ; ", err, sizeof(err));
    ASSERT_EQ(json_array_size(a), 0);
    json_decref(a);
}

TEST(attributes_errors_name_the_problem)
{
    char err[256] = "";
    ASSERT_NULL(ag_agent_attributes_parse("rack", err, sizeof(err)));
    ASSERT_NOT_NULL(strstr(err, "rack"));
    err[0] = '\0';
    ASSERT_NULL(ag_agent_attributes_parse(":r1", err, sizeof(err)));
    ASSERT_NOT_NULL(strstr(err, "empty name"));
    err[0] = '\0';
    ASSERT_NULL(ag_agent_attributes_parse("span:[9-1]", err, sizeof(err)));
    ASSERT_NOT_NULL(strstr(err, "span"));
}

TEST(attributes_inf_and_nan_are_text)
{
    char err[64] = "";
    json_t *a = ag_agent_attributes_parse("x:inf;y:nan", err, sizeof(err));
    ASSERT_NOT_NULL(a);
    ASSERT_STREQ(json_string_value(json_object_get(attr(a, "x"), "type")), "TEXT");
    ASSERT_STREQ(json_string_value(json_object_get(attr(a, "y"), "type")), "TEXT");
    json_decref(a);
}

TEST_MAIN(TEST_CASE(default_mem_subtracts_a_gigabyte_or_halves),
          TEST_CASE(default_disk_subtracts_five_gigabytes_or_halves), TEST_CASE(meminfo_total),
          TEST_CASE(resources_defaults_when_flag_absent),
          TEST_CASE(resources_flag_overrides_per_resource),
          TEST_CASE(resources_bad_flag_is_an_error_with_a_message),
          TEST_CASE(attributes_text_scalar_ranges_set),
          TEST_CASE(attributes_empty_is_an_empty_array),
          TEST_CASE(attributes_errors_name_the_problem), TEST_CASE(attributes_inf_and_nan_are_text))
