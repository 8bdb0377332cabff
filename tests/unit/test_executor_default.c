/* The default executor's pure parts (executor/default.c, included to reach
 * it: the executor is a program, not a library). */
#include "../../executor/default.c"

#include "test.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fprintf(stderr, "bad test JSON: %s\n", e.text);
    return v;
}

TEST(kill_on_failure_label)
{
    json_t *plain = parse("{\"task_id\":{\"value\":\"t\"}}");
    json_t *off = parse("{\"labels\":{\"labels\":[{\"key\":\"x\",\"value\":\"y\"},"
                        "{\"key\":\"agora.group.kill_on_failure\",\"value\":\"false\"}]}}");
    json_t *on = parse("{\"labels\":{\"labels\":[{\"key\":\"agora.group.kill_on_failure\","
                       "\"value\":\"true\"}]}}");
    json_t *odd = parse("{\"labels\":{\"labels\":[{\"key\":\"agora.group.kill_on_failure\"}]}}");
    ASSERT_TRUE(ag_dex_kill_on_failure(plain));
    ASSERT_FALSE(ag_dex_kill_on_failure(off));
    ASSERT_TRUE(ag_dex_kill_on_failure(on));
    ASSERT_TRUE(ag_dex_kill_on_failure(odd)); /* no value: the default */
    ASSERT_TRUE(ag_dex_kill_on_failure(NULL));
    json_decref(plain);
    json_decref(off);
    json_decref(on);
    json_decref(odd);
}

TEST(terminal_states)
{
    json_t *ok = parse("{\"exit_status\":0}");
    json_t *exit3 = parse("{\"exit_status\":768}");
    json_t *killed = parse("{\"exit_status\":9}");
    json_t *oom = parse("{\"exit_status\":9,\"state\":\"TASK_FAILED\","
                        "\"reason\":\"REASON_CONTAINER_LIMITATION_MEMORY\"}");
    json_t *none = parse("{}");
    ASSERT_EQ(ag_dex_terminal_state(ok, false), AG_TASK_FINISHED);
    ASSERT_EQ(ag_dex_terminal_state(exit3, false), AG_TASK_FAILED);
    ASSERT_EQ(ag_dex_terminal_state(killed, false), AG_TASK_FAILED);
    ASSERT_EQ(ag_dex_terminal_state(killed, true), AG_TASK_KILLED);
    ASSERT_EQ(ag_dex_terminal_state(ok, true), AG_TASK_KILLED);
    ASSERT_EQ(ag_dex_terminal_state(oom, false), AG_TASK_FAILED);
    ASSERT_EQ(ag_dex_terminal_state(none, false), AG_TASK_FAILED); /* no status: not a success */
    json_decref(ok);
    json_decref(exit3);
    json_decref(killed);
    json_decref(oom);
    json_decref(none);
}

TEST(exit_messages)
{
    char msg[128];
    ag_dex_exit_message(3 << 8, msg, sizeof(msg));
    ASSERT_STREQ(msg, "Command exited with status 3");
    ag_dex_exit_message(SIGKILL, msg, sizeof(msg));
    ASSERT_STREQ(msg, "Command terminated with signal Killed");
}

TEST(kill_grace)
{
    json_t *task = parse("{\"kill_policy\":{\"grace_period\":{\"nanoseconds\":2000000000}}}");
    json_t *kill = parse("{\"grace_period\":{\"nanoseconds\":500000000}}");
    ASSERT_NEAR(ag_dex_kill_grace(kill, task), 0.5, 1e-9);
    ASSERT_NEAR(ag_dex_kill_grace(NULL, task), 2, 1e-9);
    ASSERT_NEAR(ag_dex_kill_grace(NULL, NULL), 3, 1e-9);
    json_decref(task);
    json_decref(kill);
}

TEST(launch_call)
{
    json_t *task = parse("{\"task_id\":{\"value\":\"t\"},\"command\":{\"value\":\"echo hi\"},"
                         "\"resources\":[{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":"
                         "{\"value\":32}}]}");
    json_t *call = ag_dex_launch_call("c1", "p1", task);
    json_t *lc = json_object_get(call, "launch_container");
    ASSERT_STREQ(json_string_value(json_object_get(call, "type")), "LAUNCH_CONTAINER");
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(lc, "container_id"), "value")),
                 "c1");
    ASSERT_STREQ(json_string_value(json_object_get(
                     json_object_get(json_object_get(lc, "container_id"), "parent"), "value")),
                 "p1");
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(lc, "command"), "value")),
                 "echo hi");
    ASSERT_EQ(json_array_size(json_object_get(lc, "resources")), 1);
    ASSERT_NULL(json_object_get(lc, "container"));
    json_decref(call);
    json_decref(task);
}

TEST_MAIN(TEST_CASE(kill_on_failure_label), TEST_CASE(terminal_states), TEST_CASE(exit_messages),
          TEST_CASE(kill_grace), TEST_CASE(launch_call))
