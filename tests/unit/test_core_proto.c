/* Unit tests for lib/core/proto.c: state names, terminal states, the
 * partition-aware mapping, reason/source names and TaskStatus. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "core/proto.h"
#include "test.h"

TEST(state_names_roundtrip)
{
    for (int i = 0; i < AG_TASK_STATE_COUNT; i++) {
        const char *name = ag_task_state_name((enum ag_task_state)i);
        ASSERT_TRUE(strncmp(name, "TASK_", 5) == 0);
        enum ag_task_state s;
        ASSERT_EQ(ag_task_state_parse(name, &s), 0);
        ASSERT_EQ(s, i);
    }
    ASSERT_STREQ(ag_task_state_name(AG_TASK_STAGING), "TASK_STAGING");
    ASSERT_STREQ(ag_task_state_name(AG_TASK_GONE_BY_OPERATOR), "TASK_GONE_BY_OPERATOR");
    ASSERT_STREQ(ag_task_state_name((enum ag_task_state)99), "TASK_UNKNOWN");
    ASSERT_STREQ(ag_task_state_name((enum ag_task_state) - 1), "TASK_UNKNOWN");
    enum ag_task_state s = AG_TASK_RUNNING;
    ASSERT_EQ(ag_task_state_parse("TASK_BOGUS", &s), -EINVAL);
    ASSERT_EQ(ag_task_state_parse("task_running", &s), -EINVAL);
    ASSERT_EQ(ag_task_state_parse("1", &s), -EINVAL);
    ASSERT_EQ(ag_task_state_parse(NULL, &s), -EINVAL);
    ASSERT_EQ(s, AG_TASK_RUNNING);
}

TEST(terminal)
{
    const enum ag_task_state terminal[] = {
        AG_TASK_FINISHED, AG_TASK_FAILED,  AG_TASK_KILLED, AG_TASK_ERROR,
        AG_TASK_LOST,     AG_TASK_DROPPED, AG_TASK_GONE,   AG_TASK_GONE_BY_OPERATOR};
    int count = 0;
    for (int i = 0; i < AG_TASK_STATE_COUNT; i++) {
        bool expect = false;
        for (size_t k = 0; k < sizeof(terminal) / sizeof(terminal[0]); k++)
            expect |= terminal[k] == (enum ag_task_state)i;
        ASSERT_EQ(ag_task_state_is_terminal((enum ag_task_state)i), expect);
        count += expect;
    }
    ASSERT_EQ(count, 8);
    ASSERT_FALSE(ag_task_state_is_terminal(AG_TASK_UNREACHABLE));
    ASSERT_FALSE(ag_task_state_is_terminal(AG_TASK_KILLING));
}

TEST(partition_aware_mapping)
{
    for (int i = 0; i < AG_TASK_STATE_COUNT; i++)
        ASSERT_EQ(ag_task_state_for((enum ag_task_state)i, true), i);
    ASSERT_EQ(ag_task_state_for(AG_TASK_DROPPED, false), AG_TASK_LOST);
    ASSERT_EQ(ag_task_state_for(AG_TASK_GONE, false), AG_TASK_LOST);
    ASSERT_EQ(ag_task_state_for(AG_TASK_GONE_BY_OPERATOR, false), AG_TASK_LOST);
    ASSERT_EQ(ag_task_state_for(AG_TASK_UNREACHABLE, false), AG_TASK_LOST);
    ASSERT_EQ(ag_task_state_for(AG_TASK_UNKNOWN, false), AG_TASK_LOST);
    ASSERT_EQ(ag_task_state_for(AG_TASK_RUNNING, false), AG_TASK_RUNNING);
    ASSERT_EQ(ag_task_state_for(AG_TASK_KILLED, false), AG_TASK_KILLED);
    ASSERT_EQ(ag_task_state_for(AG_TASK_LOST, false), AG_TASK_LOST);
}

TEST(reasons_and_sources)
{
    ASSERT_TRUE(ag_task_reason_valid("REASON_TASK_INVALID"));
    ASSERT_TRUE(ag_task_reason_valid("REASON_CONTAINER_LIMITATION_MEMORY"));
    ASSERT_TRUE(ag_task_reason_valid("REASON_AGENT_DRAINING"));
    ASSERT_TRUE(ag_task_reason_valid("REASON_COMMAND_EXECUTOR_FAILED"));
    ASSERT_TRUE(ag_task_reason_valid("REASON_MAX_COMPLETION_TIME_REACHED"));
    ASSERT_FALSE(ag_task_reason_valid("REASON_SLAVE_REMOVED")); /* v0 spelling */
    ASSERT_FALSE(ag_task_reason_valid("REASON_TASK_INVALIDX"));
    ASSERT_FALSE(ag_task_reason_valid(""));
    ASSERT_FALSE(ag_task_reason_valid(NULL));
    ASSERT_TRUE(ag_task_source_valid("SOURCE_MASTER"));
    ASSERT_TRUE(ag_task_source_valid("SOURCE_AGENT"));
    ASSERT_TRUE(ag_task_source_valid("SOURCE_EXECUTOR"));
    ASSERT_FALSE(ag_task_source_valid("SOURCE_SLAVE"));
    ASSERT_FALSE(ag_task_source_valid(NULL));
}

TEST(task_status_new)
{
    double before = (double)time(NULL);
    json_t *st = ag_task_status_new("t1", AG_TASK_FAILED, "SOURCE_AGENT",
                                    "REASON_CONTAINER_LIMITATION_MEMORY", "oom", "a-S1", "e1");
    ASSERT_NOT_NULL(st);
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(st, "task_id"), "value")), "t1");
    ASSERT_STREQ(json_string_value(json_object_get(st, "state")), "TASK_FAILED");
    ASSERT_STREQ(json_string_value(json_object_get(st, "source")), "SOURCE_AGENT");
    ASSERT_STREQ(json_string_value(json_object_get(st, "reason")),
                 "REASON_CONTAINER_LIMITATION_MEMORY");
    ASSERT_STREQ(json_string_value(json_object_get(st, "message")), "oom");
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(st, "agent_id"), "value")),
                 "a-S1");
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(st, "executor_id"), "value")),
                 "e1");
    json_t *ts = json_object_get(st, "timestamp");
    ASSERT_TRUE(json_is_real(ts));
    ASSERT_TRUE(json_real_value(ts) >= before - 1);
    ASSERT_NULL(json_object_get(st, "uuid"));
    json_decref(st);

    st = ag_task_status_new("t2", AG_TASK_LOST, NULL, NULL, NULL, NULL, NULL);
    ASSERT_STREQ(json_string_value(json_object_get(st, "state")), "TASK_LOST");
    ASSERT_NULL(json_object_get(st, "source"));
    ASSERT_NULL(json_object_get(st, "reason"));
    ASSERT_NULL(json_object_get(st, "message"));
    ASSERT_NULL(json_object_get(st, "agent_id"));
    ASSERT_NULL(json_object_get(st, "executor_id"));
    ASSERT_EQ(json_object_size(st), 3);
    json_decref(st);
}

TEST_MAIN(TEST_CASE(state_names_roundtrip), TEST_CASE(terminal), TEST_CASE(partition_aware_mapping),
          TEST_CASE(reasons_and_sources), TEST_CASE(task_status_new))
