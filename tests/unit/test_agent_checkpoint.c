/* The checkpoint format (agent/checkpoint.c): atomic JSON files with a
 * final newline, read back whole; truncated or corrupt files are refused
 * with a message naming the file; /proc/<pid>/stat start times. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/internal.h"
#include "test.h"

static char *tmp_dir(void)
{
    char tmpl[] = "/tmp/agora-ckpt-XXXXXX";
    char *d = mkdtemp(tmpl);
    ASSERT_NOT_NULL(d);
    return strdup(d);
}

static void write_raw(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

TEST(round_trip_makes_directories_and_leaves_no_temporary)
{
    char *dir = tmp_dir(), path[PATH_MAX], tmp[PATH_MAX + 8], err[512];
    json_t *obj = json_pack("{s:s,s:i,s:[s,s]}", "id", "task-1", "pid", 42, "acked", "a", "b");
    json_t *back;
    snprintf(path, sizeof(path), "%s/meta/slaves/a1/task.info", dir);
    ASSERT_EQ(ag_ckpt_write_json(path, obj), 0);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    ASSERT_EQ(access(tmp, F_OK), -1);
    back = ag_ckpt_read_json(path, err, sizeof(err));
    ASSERT_NOT_NULL(back);
    ASSERT_TRUE(json_equal(obj, back));
    /* Rewriting replaces the whole content. */
    json_object_set_new(obj, "pid", json_integer(43));
    ASSERT_EQ(ag_ckpt_write_json(path, obj), 0);
    json_decref(back);
    back = ag_ckpt_read_json(path, err, sizeof(err));
    ASSERT_EQ(json_integer_value(json_object_get(back, "pid")), 43);
    json_decref(back);
    json_decref(obj);
    ASSERT_EQ(ag_ckpt_remove_tree(dir), 0);
    ASSERT_EQ(access(dir, F_OK), -1);
    free(dir);
}

TEST(truncated_file_is_refused_naming_it)
{
    char *dir = tmp_dir(), path[PATH_MAX], err[512];
    json_t *obj = json_pack("{s:i}", "pid", 12345);
    struct stat st;
    snprintf(path, sizeof(path), "%s/run.info", dir);
    ASSERT_EQ(ag_ckpt_write_json(path, obj), 0);
    ASSERT_EQ(stat(path, &st), 0);
    /* Cut before the newline: {"pid":1234 would not parse, but {"pid":12345}
     * without its newline would; both are refused. */
    for (off_t cut = st.st_size - 1; cut >= 0; cut--) {
        ASSERT_EQ(truncate(path, cut), 0);
        err[0] = '\0';
        ASSERT_NULL(ag_ckpt_read_json(path, err, sizeof(err)));
        ASSERT_NOT_NULL(strstr(err, path));
    }
    json_decref(obj);
    ag_ckpt_remove_tree(dir);
    free(dir);
}

TEST(corrupt_and_missing_files_are_refused)
{
    char *dir = tmp_dir(), path[PATH_MAX], err[512];
    snprintf(path, sizeof(path), "%s/x.info", dir);
    write_raw(path, "[1,2]\n");
    ASSERT_NULL(ag_ckpt_read_json(path, err, sizeof(err)));
    ASSERT_NOT_NULL(strstr(err, "not a JSON object"));
    write_raw(path, "{\"a\":\n}\n");
    ASSERT_NULL(ag_ckpt_read_json(path, err, sizeof(err)));
    ASSERT_NOT_NULL(strstr(err, "corrupt"));
    write_raw(path, "");
    ASSERT_NULL(ag_ckpt_read_json(path, err, sizeof(err)));
    ASSERT_NOT_NULL(strstr(err, "truncated"));
    snprintf(path, sizeof(path), "%s/missing.info", dir);
    ASSERT_NULL(ag_ckpt_read_json(path, err, sizeof(err)));
    ASSERT_NOT_NULL(strstr(err, "missing.info"));
    ag_ckpt_remove_tree(dir);
    free(dir);
}

TEST(stat_start_time_skips_odd_process_names)
{
    /* comm may hold spaces and parentheses; starttime is field 22. */
    const char *line = "1234 (a b) c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
                       "987654 12345678 100 18446744073709551615\n";
    ASSERT_EQ(ag_ckpt_stat_start_time(line), 987654ULL);
    ASSERT_EQ(ag_ckpt_stat_start_time("1234 (x) S 1 2"), 0ULL);
    ASSERT_EQ(ag_ckpt_stat_start_time("garbage"), 0ULL);
    ASSERT_EQ(ag_ckpt_stat_start_time(NULL), 0ULL);
    /* Our own process has one, and it does not change. */
    ASSERT_NE(ag_ckpt_proc_start_time(getpid()), 0ULL);
    ASSERT_EQ(ag_ckpt_proc_start_time(getpid()), ag_ckpt_proc_start_time(getpid()));
}

TEST(executor_env_of_a_checkpointing_framework)
{
    struct ag_agent_env env;
    char *base[] = {(char *)"PATH=/bin", NULL};
    struct ag_agent_exec_env p = {.framework_id = "f",
                                  .executor_id = "e",
                                  .agent_id = "a",
                                  .endpoint = "127.0.0.1:5051",
                                  .agent_pid = "slave(1)@127.0.0.1:5051",
                                  .directory = "/tmp/s",
                                  .shutdown_grace = 5,
                                  .checkpoint = true,
                                  .recovery_timeout = 420,
                                  .backoff_max = 1};
    ag_agent_env_init(&env);
    ASSERT_EQ(ag_agent_executor_env(&env, base, &p), 0);
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_CHECKPOINT"), "1");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_RECOVERY_TIMEOUT"), "7mins");
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_SUBSCRIPTION_BACKOFF_MAX"), "1secs");
    ag_agent_env_release(&env);
    /* Without checkpointing the executor is told not to wait. */
    p.checkpoint = false;
    ag_agent_env_init(&env);
    ASSERT_EQ(ag_agent_executor_env(&env, base, &p), 0);
    ASSERT_STREQ(ag_agent_env_get(&env, "MESOS_CHECKPOINT"), "0");
    ASSERT_NULL(ag_agent_env_get(&env, "MESOS_RECOVERY_TIMEOUT"));
    ag_agent_env_release(&env);
}

TEST_MAIN(TEST_CASE(round_trip_makes_directories_and_leaves_no_temporary),
          TEST_CASE(truncated_file_is_refused_naming_it),
          TEST_CASE(corrupt_and_missing_files_are_refused),
          TEST_CASE(stat_start_time_skips_odd_process_names),
          TEST_CASE(executor_env_of_a_checkpointing_framework))
