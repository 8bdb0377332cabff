/* The agent's side of fetching (agent/fetch.c): which URIs a launch
 * fetches, in which order. */
#include <string.h>

#include <jansson.h>

#include "agent/sandboxes.h"
#include "test.h"

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    ASSERT_NOT_NULL(j);
    return j;
}

TEST(executor_then_task_uris)
{
    json_t *ex = parse("{\"command\":{\"value\":\"x\",\"uris\":[{\"value\":\"http://h/e.tgz\"}]}}");
    json_t *task = parse("{\"command\":{\"value\":\"y\",\"uris\":[{\"value\":\"/a\"},"
                         "{\"value\":\"file:///b\",\"executable\":true}]}}");
    json_t *uris = ag_agent_fetch_uris(ex, task);
    ASSERT_NOT_NULL(uris);
    ASSERT_EQ(json_array_size(uris), 3);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(uris, 0), "value")),
                 "http://h/e.tgz");
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(uris, 2), "value")), "file:///b");
    ASSERT_TRUE(json_is_true(json_object_get(json_array_get(uris, 2), "executable")));
    json_decref(uris);
    json_decref(ex);
    json_decref(task);
}

TEST(nothing_to_fetch)
{
    json_t *ex = parse("{\"command\":{\"value\":\"x\"}}");
    json_t *task = parse("{\"command\":{\"value\":\"y\",\"uris\":[]}}");
    json_t *uris = ag_agent_fetch_uris(ex, task);
    ASSERT_EQ(json_array_size(uris), 0);
    json_decref(uris);
    uris = ag_agent_fetch_uris(ex, NULL);
    ASSERT_EQ(json_array_size(uris), 0);
    json_decref(uris);
    json_decref(ex);
    json_decref(task);
}

TEST(bad_entries_skipped)
{
    /* uris that is not an array, and entries that are not objects. */
    json_t *ex = parse("{\"command\":{\"value\":\"x\",\"uris\":\"http://h/x\"}}");
    json_t *task = parse("{\"command\":{\"value\":\"y\",\"uris\":[\"/a\",7,{\"value\":\"/b\"}]}}");
    json_t *uris = ag_agent_fetch_uris(ex, task);
    ASSERT_EQ(json_array_size(uris), 1);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(uris, 0), "value")), "/b");
    json_decref(uris);
    json_decref(ex);
    json_decref(task);
}

TEST_MAIN(TEST_CASE(executor_then_task_uris), TEST_CASE(nothing_to_fetch),
          TEST_CASE(bad_entries_skipped))
