/* Executor launch inputs (agent/launcher.c): environment, argv, sandbox
 * paths, /proc stat parsing; and the master address and content checks
 * (agent/master.c, agent/util.c). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/internal.h"
#include "test.h"

TEST(env_set_replaces_by_name)
{
    struct ag_agent_env env;
    char *base[] = {(char *)"PATH=/bin", (char *)"HOME=/root", (char *)"BROKEN", NULL};
    ag_agent_env_init(&env);
    ASSERT_EQ(ag_agent_env_merge(&env, base), 0);
    ASSERT_EQ(env.n, 2);
    ASSERT_EQ(ag_agent_env_set(&env, "HOME", "/home/x"), 0);
    ASSERT_EQ(ag_agent_env_set(&env, "NEW", NULL), 0);
    ASSERT_EQ(ag_agent_env_set(&env, "BAD=NAME", "v"), -EINVAL);
    ASSERT_EQ(ag_agent_env_set(&env, "", "v"), -EINVAL);
    ASSERT_EQ(env.n, 3);
    ASSERT_STREQ(ag_agent_env_get(&env, "HOME"), "/home/x");
    ASSERT_STREQ(ag_agent_env_get(&env, "NEW"), "");
    ASSERT_NULL(ag_agent_env_get(&env, "HOM"));
    ASSERT_NULL(env.vars[env.n]); /* NULL-terminated for exec */
    ag_agent_env_release(&env);
}

TEST(executor_env_has_the_mesos_variables_and_command_env_last)
{
    struct ag_agent_env env;
    char *base[] = {(char *)"PATH=/bin", (char *)"MESOS_CHECKPOINT=1", (char *)"A=base", NULL};
    json_t *cmd_env = json_pack("{s:[{s:s,s:s},{s:s,s:s,s:s},{s:s,s:s}]}", "variables", "name", "A",
                                "value", "task", "name", "S", "type", "SECRET", "value", "x",
                                "name", "MESOS_SANDBOX", "value", "/override");
    struct ag_agent_exec_env p = {
        .framework_id = "F",
        .executor_id = "E",
        .agent_id = "S1",
        .endpoint = "127.0.0.1:5051",
        .agent_pid = "slave(1)@127.0.0.1:5051",
        .directory = "/w/sandbox",
        .role = "eng",
        .shutdown_grace = 5,
        .environment = cmd_env,
    };
    ag_agent_env_init(&env);
    ASSERT_EQ(ag_agent_executor_env(&env, base, &p), 0);
    ASSERT_STREQ(ag_agent_env_get(&env, "PATH"), "/bin");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_FRAMEWORK_ID"), "F");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_EXECUTOR_ID"), "E");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_SLAVE_ID"), "S1");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_AGENT_ENDPOINT"), "127.0.0.1:5051");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_SLAVE_PID"), "slave(1)@127.0.0.1:5051");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_DIRECTORY"), "/w/sandbox");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_CHECKPOINT"), "0"); /* the agent's word wins */
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_HTTP_COMMAND_EXECUTOR"), "1");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"), "5secs");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_ALLOCATION_ROLE"), "eng");
    ASSERT_STREQ(ag_agent_env_get(&env, "A"), "task");                  /* CommandInfo wins */
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_SANDBOX"), "/override"); /* even over ours */
    ASSERT_NULL(ag_agent_env_get(&env, "S"));                           /* secrets skipped */
    ag_agent_env_release(&env);
    json_decref(cmd_env);
}

TEST(command_argv_shell_and_exec_forms)
{
    char err[128] = "", *path = NULL;
    json_t *cmd = json_pack("{s:s}", "value", "echo hi");
    char **argv = ag_agent_command_argv(cmd, &path, err, sizeof(err));
    ASSERT_NOT_NULL(argv);
    ASSERT_STREQ(path, "/bin/sh");
    ASSERT_STREQ(argv[0], "sh");
    ASSERT_STREQ(argv[1], "-c");
    ASSERT_STREQ(argv[2], "echo hi");
    ASSERT_NULL(argv[3]);
    ag_agent_argv_free(argv);
    free(path);
    json_decref(cmd);

    cmd = json_pack("{s:b,s:s,s:[s,s]}", "shell", 0, "value", "/bin/echo", "arguments", "echo",
                    "a b");
    argv = ag_agent_command_argv(cmd, &path, err, sizeof(err));
    ASSERT_NOT_NULL(argv);
    ASSERT_STREQ(path, "/bin/echo");
    ASSERT_STREQ(argv[0], "echo");
    ASSERT_STREQ(argv[1], "a b");
    ASSERT_NULL(argv[2]);
    ag_agent_argv_free(argv);
    free(path);
    json_decref(cmd);

    cmd = json_pack("{s:b,s:s}", "shell", 0, "value", "/bin/true");
    argv = ag_agent_command_argv(cmd, &path, err, sizeof(err));
    ASSERT_STREQ(argv[0], "/bin/true");
    ASSERT_NULL(argv[1]);
    ag_agent_argv_free(argv);
    free(path);
    json_decref(cmd);
}

TEST(command_argv_errors)
{
    char err[128] = "", *path = NULL;
    json_t *cmd = json_pack("{s:b}", "shell", 1);
    ASSERT_NULL(ag_agent_command_argv(cmd, &path, err, sizeof(err)));
    ASSERT_NOT_NULL(strstr(err, "value"));
    json_decref(cmd);
    cmd = json_pack("{s:b,s:s,s:[i]}", "shell", 0, "value", "x", "arguments", 3);
    err[0] = '\0';
    ASSERT_NULL(ag_agent_command_argv(cmd, &path, err, sizeof(err)));
    ASSERT_NOT_NULL(strstr(err, "arguments"));
    json_decref(cmd);
}

TEST(sandbox_path_layout_and_latest_link)
{
    char tmpl[] = "/tmp/agora-sandbox-XXXXXX", err[256] = "", link[PATH_MAX], target[64];
    char *dir = mkdtemp(tmpl), *path = NULL, cmd[PATH_MAX];
    ssize_t n;
    struct stat st;
    ASSERT_NOT_NULL(dir);
    ASSERT_EQ(ag_agent_sandbox_create(dir, "S1", "F", "E", "C1", &path, err, sizeof(err)), 0);
    snprintf(link, sizeof(link), "%s/slaves/S1/frameworks/F/executors/E/runs/C1", dir);
    ASSERT_STREQ(path, link);
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_TRUE(S_ISDIR(st.st_mode));
    free(path);
    /* A second run moves runs/latest. */
    ASSERT_EQ(ag_agent_sandbox_create(dir, "S1", "F", "E", "C2", &path, err, sizeof(err)), 0);
    free(path);
    snprintf(link, sizeof(link), "%s/slaves/S1/frameworks/F/executors/E/runs/latest", dir);
    n = readlink(link, target, sizeof(target) - 1);
    ASSERT_TRUE(n > 0);
    target[n] = '\0';
    ASSERT_STREQ(target, "C2");
    /* Ids that would climb out are refused. */
    ASSERT_EQ(ag_agent_sandbox_create(dir, "S1", "..", "E", "C3", &path, err, sizeof(err)),
              -EINVAL);
    ASSERT_EQ(ag_agent_sandbox_create(dir, "S1", "F", "a/b", "C3", &path, err, sizeof(err)),
              -EINVAL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ASSERT_EQ(system(cmd), 0);
}

TEST(stat_session_field)
{
    ASSERT_EQ(ag_agent_stat_session("123 (sleep) S 1 123 456 0 -1 4194560"), 456);
    ASSERT_EQ(ag_agent_stat_session("77 (a) (b) c) R 1 2 3 0"), 3); /* odd comm */
    ASSERT_EQ(ag_agent_stat_session("garbage"), -1);
    ASSERT_EQ(ag_agent_stat_session("1 (x) S 1"), -1);
}

TEST(master_address_forms)
{
    char *base = NULL;
    ASSERT_EQ(ag_agent_master_parse("127.0.0.1:5050", &base), 0);
    ASSERT_STREQ(base, "http://127.0.0.1:5050");
    free(base);
    ASSERT_EQ(ag_agent_master_parse("http://host:1234/", &base), 0);
    ASSERT_STREQ(base, "http://host:1234");
    free(base);
    ASSERT_EQ(ag_agent_master_parse("//host:99/api/v1/agent", &base), 0);
    ASSERT_STREQ(base, "http://host:99");
    free(base);
    ASSERT_EQ(ag_agent_master_parse("host", &base), 0);
    ASSERT_STREQ(base, "http://host:5050");
    free(base);
    ASSERT_EQ(ag_agent_master_parse("", &base), -EINVAL);
    ASSERT_EQ(ag_agent_master_parse("host:0", &base), -EINVAL);
    ASSERT_EQ(ag_agent_master_parse("host:70000", &base), -EINVAL);
    ASSERT_EQ(ag_agent_master_parse("host:x", &base), -EINVAL);
    ASSERT_EQ(ag_agent_master_parse("https://host:1", &base), -EINVAL);
    ASSERT_EQ(ag_agent_master_parse("zk://host:1/mesos", &base), -EINVAL);
}

TEST(redirect_location)
{
    char *base = NULL;
    ASSERT_EQ(ag_agent_master_location("//10.0.0.2:5050/api/v1/agent", &base), 0);
    ASSERT_STREQ(base, "http://10.0.0.2:5050");
    free(base);
    ASSERT_EQ(ag_agent_master_location("http://m2:5051/api/v1/agent", &base), 0);
    ASSERT_STREQ(base, "http://m2:5051");
    free(base);
    ASSERT_EQ(ag_agent_master_location("/api/v1/agent", &base), -EINVAL);
    ASSERT_EQ(ag_agent_master_location(NULL, &base), -EINVAL);
}

TEST(jitter_stays_within_half_and_full_backoff)
{
    ASSERT_NEAR(ag_agent_master_jitter(8, 0), 4, 1e-9);
    ASSERT_TRUE(ag_agent_master_jitter(8, 0.999) <= 8);
    ASSERT_TRUE(ag_agent_master_jitter(8, 0.999) > 7.9);
    ASSERT_NEAR(ag_agent_master_jitter(8, -3), 4, 1e-9);
    ASSERT_TRUE(ag_agent_master_jitter(8, 7) <= 8);
}

TEST(content_type_and_accept)
{
    char err[256];
    ASSERT_EQ(ag_agent_check_content_type("application/json", err, sizeof(err)), 0);
    ASSERT_EQ(ag_agent_check_content_type("Application/JSON; charset=utf-8", err, sizeof(err)), 0);
    ASSERT_EQ(ag_agent_check_content_type(NULL, err, sizeof(err)), 400);
    ASSERT_EQ(ag_agent_check_content_type("application/x-protobuf", err, sizeof(err)), 415);
    ASSERT_EQ(ag_agent_check_content_type("text/plain", err, sizeof(err)), 415);
    ASSERT_NOT_NULL(strstr(err, "text/plain"));
    ASSERT_TRUE(ag_agent_accepts_json(NULL));
    ASSERT_TRUE(ag_agent_accepts_json("*/*"));
    ASSERT_TRUE(ag_agent_accepts_json("text/html, application/json;q=0.9"));
    ASSERT_TRUE(ag_agent_accepts_json("application/*"));
    ASSERT_FALSE(ag_agent_accepts_json("application/x-protobuf"));
    ASSERT_FALSE(ag_agent_accepts_json("application/json;q=0"));
}

TEST(json_duration)
{
    json_t *o = json_pack("{s:{s:I},s:{s:s},s:{s:i}}", "a", "nanoseconds", (json_int_t)2500000000,
                          "b", "nanoseconds", "1000000000", "c", "nanoseconds", -5);
    ASSERT_NEAR(ag_agent_json_duration(o, "a"), 2.5, 1e-9);
    ASSERT_NEAR(ag_agent_json_duration(o, "b"), 1.0, 1e-9);
    ASSERT_NEAR(ag_agent_json_duration(o, "c"), -1, 1e-9);
    ASSERT_NEAR(ag_agent_json_duration(o, "missing"), -1, 1e-9);
    json_decref(o);
}

/* Every missing component is made, from the deepest existing parent down;
 * an existing path is fine; a file in the way is an error, not a loop. */
TEST(mkdirs_makes_the_missing_components)
{
    char base[] = "/var/tmp/agora-mkdirs-XXXXXX", path[512], file[512];
    struct stat st;
    ASSERT_NOT_NULL(mkdtemp(base));
    snprintf(path, sizeof(path), "%s/a/b//c/d/", base);
    ASSERT_EQ(ag_agent_mkdirs(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/a/b/c/d", base);
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_TRUE(S_ISDIR(st.st_mode));
    ASSERT_EQ(ag_agent_mkdirs(path, 0755), 0); /* exists already */
    snprintf(path, sizeof(path), "%s/a/b/e/f", base);
    ASSERT_EQ(ag_agent_mkdirs(path, 0755), 0); /* only the last two new */
    ASSERT_EQ(stat(path, &st), 0);
    snprintf(file, sizeof(file), "%s/a/file", base);
    FILE *f = fopen(file, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/a/file/x/y", base);
    ASSERT_EQ(ag_agent_mkdirs(path, 0755), -ENOTDIR);
    ASSERT_EQ(ag_agent_mkdirs("", 0755), -ENAMETOOLONG);
    snprintf(path, sizeof(path), "rm -rf '%s'", base);
    ASSERT_EQ(system(path), 0);
}

TEST_MAIN(TEST_CASE(env_set_replaces_by_name), TEST_CASE(mkdirs_makes_the_missing_components),
          TEST_CASE(executor_env_has_the_mesos_variables_and_command_env_last),
          TEST_CASE(command_argv_shell_and_exec_forms), TEST_CASE(command_argv_errors),
          TEST_CASE(sandbox_path_layout_and_latest_link), TEST_CASE(stat_session_field),
          TEST_CASE(master_address_forms), TEST_CASE(redirect_location),
          TEST_CASE(jitter_stays_within_half_and_full_backoff), TEST_CASE(content_type_and_accept),
          TEST_CASE(json_duration))
