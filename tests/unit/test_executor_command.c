/* The command executor's pure parts (executor/command.c, included to reach
 * it: the executor is a program, not a library). */
#include "../../executor/command.c"

#include "test.h"

TEST(exit_messages)
{
    char msg[128];
    ag_cmd_exit_message(0, msg, sizeof(msg)); /* exit 0 */
    ASSERT_STREQ(msg, "Command exited with status 0");
    ag_cmd_exit_message(3 << 8, msg, sizeof(msg)); /* exit 3 */
    ASSERT_STREQ(msg, "Command exited with status 3");
    ag_cmd_exit_message(SIGKILL, msg, sizeof(msg));
    ASSERT_STREQ(msg, "Command terminated with signal Killed");
    ag_cmd_exit_message(SIGTERM, msg, sizeof(msg));
    ASSERT_STREQ(msg, "Command terminated with signal Terminated");
}

TEST(terminal_states)
{
    ASSERT_EQ(ag_cmd_terminal_state(0, false), AG_TASK_FINISHED);
    ASSERT_EQ(ag_cmd_terminal_state(1 << 8, false), AG_TASK_FAILED);
    ASSERT_EQ(ag_cmd_terminal_state(SIGSEGV, false), AG_TASK_FAILED);
    ASSERT_EQ(ag_cmd_terminal_state(SIGTERM, true), AG_TASK_KILLED);
    ASSERT_EQ(ag_cmd_terminal_state(0, true), AG_TASK_KILLED); /* exited on SIGTERM cleanly */
}

TEST(kill_grace_precedence)
{
    json_t *task = json_pack("{s:{s:{s:I}}}", "kill_policy", "grace_period", "nanoseconds",
                             (json_int_t)7000000000);
    json_t *kill = json_pack("{s:{s:I}}", "grace_period", "nanoseconds", (json_int_t)500000000);
    json_t *bare = json_object();
    ASSERT_NEAR(ag_cmd_kill_grace(kill, task), 0.5, 1e-9);
    ASSERT_NEAR(ag_cmd_kill_grace(NULL, task), 7, 1e-9);
    ASSERT_NEAR(ag_cmd_kill_grace(bare, task), 7, 1e-9);
    ASSERT_NEAR(ag_cmd_kill_grace(NULL, bare), 3, 1e-9);
    ASSERT_NEAR(ag_cmd_kill_grace(NULL, NULL), 3, 1e-9);
    json_decref(task);
    json_decref(kill);
    json_decref(bare);
}

TEST(argv_forms)
{
    char err[128] = "";
    const char *file = NULL;
    json_t *cmd = json_pack("{s:s}", "value", "echo $HOME");
    char **argv = ag_cmd_argv(cmd, &file, err, sizeof(err));
    ASSERT_NOT_NULL(argv);
    ASSERT_STREQ(file, "/bin/sh");
    ASSERT_STREQ(argv[2], "echo $HOME");
    ag_cmd_argv_free(argv);
    json_decref(cmd);
    cmd =
        json_pack("{s:b,s:s,s:[s,s]}", "shell", 0, "value", "printf", "arguments", "printf", "%s");
    argv = ag_cmd_argv(cmd, &file, err, sizeof(err));
    ASSERT_NOT_NULL(argv);
    ASSERT_STREQ(file, "printf");
    ASSERT_STREQ(argv[0], "printf");
    ASSERT_STREQ(argv[1], "%s");
    ASSERT_NULL(argv[2]);
    ag_cmd_argv_free(argv);
    json_decref(cmd);
    cmd = json_pack("{s:b}", "shell", 0);
    ASSERT_NULL(ag_cmd_argv(cmd, &file, err, sizeof(err)));
    ASSERT_NOT_NULL(strstr(err, "value"));
    json_decref(cmd);
    cmd = json_pack("{s:b,s:s,s:s}", "shell", 0, "value", "x", "arguments", "notarray");
    ASSERT_NULL(ag_cmd_argv(cmd, &file, err, sizeof(err)));
    json_decref(cmd);
}

TEST(run_as_unknown_user_is_an_error_as_root)
{
    struct run_as r;
    char err[256] = "";
    int rc = run_as_resolve("agora-no-such-user-xyz", &r, err, sizeof(err));
    if (geteuid() == 0) {
        ASSERT_EQ(rc, -ENOENT);
        ASSERT_NOT_NULL(strstr(err, "agora-no-such-user-xyz"));
    } else {
        ASSERT_EQ(rc, 0); /* not root: runs as ourselves */
        ASSERT_FALSE(r.active);
    }
    ASSERT_EQ(run_as_resolve(NULL, &r, err, sizeof(err)), 0);
    ASSERT_FALSE(r.active);
}

TEST(run_as_another_user_resolves_groups)
{
    struct run_as r;
    char err[256] = "";
    if (geteuid() != 0)
        return; /* only root switches users */
    ASSERT_EQ(run_as_resolve("nobody", &r, err, sizeof(err)), 0);
    ASSERT_TRUE(r.active);
    ASSERT_TRUE(r.uid != 0);
    ASSERT_TRUE(r.ngroups >= 1);
    ASSERT_STREQ(r.name, "nobody");
    run_as_release(&r);
    ASSERT_EQ(run_as_resolve("root", &r, err, sizeof(err)), 0); /* ourselves: no switch */
    ASSERT_FALSE(r.active);
}

TEST(env_overrides_and_user_variables)
{
    json_t *cmd = json_pack("{s:{s:[{s:s,s:s},{s:s,s:s,s:s}]}}", "environment", "variables", "name",
                            "AGORA_TEST_VAR", "value", "v1", "name", "SECRET_ONE", "type", "SECRET",
                            "value", "s");
    struct run_as r = {.active = true, .name = (char *)"bob", .home = (char *)"/home/bob"};
    char **env;
    bool var = false, user = false, home = false, secret = false, task = false;
    setenv("AGORA_TEST_VAR", "old", 1);
    env = build_env(cmd, "task-7", &r);
    ASSERT_NOT_NULL(env);
    for (size_t i = 0; env[i]; i++) {
        if (strcmp(env[i], "AGORA_TEST_VAR=v1") == 0)
            var = true;
        if (strcmp(env[i], "AGORA_TEST_VAR=old") == 0)
            ASSERT_TRUE(false);
        if (strcmp(env[i], "USER=bob") == 0)
            user = true;
        if (strcmp(env[i], "HOME=/home/bob") == 0)
            home = true;
        if (strncmp(env[i], "SECRET_ONE=", 11) == 0)
            secret = true;
        if (strcmp(env[i], "MESOS_TASK_ID=task-7") == 0)
            task = true;
    }
    ASSERT_TRUE(var && user && home && task);
    ASSERT_FALSE(secret);
    ag_cmd_argv_free(env);
    json_decref(cmd);
}

TEST(spawn_reports_exec_failure)
{
    char *argv[] = {(char *)"nope", NULL};
    char *envp[] = {NULL};
    struct run_as r = {0};
    pid_t pid = 0;
    ASSERT_EQ(spawn("/nonexistent/agora-nope", argv, envp, &r, &pid), -ENOENT);
    ASSERT_EQ(pid, 0);
}

TEST(spawn_runs_in_its_own_process_group)
{
    char *argv[] = {(char *)"true", NULL};
    char *envp[] = {(char *)"PATH=/usr/bin:/bin", NULL};
    struct run_as r = {0};
    pid_t pid = 0;
    int status;
    ASSERT_EQ(spawn("true", argv, envp, &r, &pid), 0);
    ASSERT_TRUE(pid > 0);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_MAIN(TEST_CASE(exit_messages), TEST_CASE(terminal_states), TEST_CASE(kill_grace_precedence),
          TEST_CASE(argv_forms), TEST_CASE(run_as_unknown_user_is_an_error_as_root),
          TEST_CASE(run_as_another_user_resolves_groups),
          TEST_CASE(env_overrides_and_user_variables), TEST_CASE(spawn_reports_exec_failure),
          TEST_CASE(spawn_runs_in_its_own_process_group))
