/*
 * Unit tests for the pure parts of the agora command: option parsing,
 * table formatting, exit codes from task statuses, and the JSON views
 * (tables, sandbox lookup, agent addresses). The CLI is a program, not a
 * library, so its sources are included here.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../../cli/args.c"
#include "../../cli/status.c"
#include "../../cli/table.c"
#include "../../cli/views.c"
#include "test.h"

/* argv strings are writable char * in C; literals are not (-Wwrite-strings). */
#define S(x) ((char *)(x))

/* --- options --- */

struct run_opts {
    const char *master;
    double cpus;
    int count;
    bool example;
    struct ag_cli_list env;
};

static int parse(struct run_opts *o, int argc, char **argv, int *next, char *err, size_t errlen)
{
    struct ag_cli_opt opts[] = {
        {"master", AG_CLI_STR, &o->master, ""}, {"cpus", AG_CLI_DOUBLE, &o->cpus, ""},
        {"count", AG_CLI_INT, &o->count, ""},   {"example", AG_CLI_BOOL, &o->example, ""},
        {"env", AG_CLI_LIST, &o->env, ""},
    };
    return ag_cli_parse(opts, 5, argc, argv, next, err, errlen);
}

TEST(parse_forms_and_command)
{
    char *argv[] = {S("run"),   S("--master=h:1"), S("--cpus"),    S("0.5"),
                    S("--env"), S("A=1"),          S("--env=B=2"), S("--no-example"),
                    S("--"),    S("echo"),         S("--cpus"),    NULL};
    struct run_opts o = {.cpus = 0.1, .example = true};
    int next = -1;
    char err[128];
    ASSERT_EQ(parse(&o, 11, argv, &next, err, sizeof(err)), 0);
    ASSERT_STREQ(o.master, "h:1");
    ASSERT_NEAR(o.cpus, 0.5, 1e-12);
    ASSERT_FALSE(o.example);
    ASSERT_EQ(o.env.n, 2);
    ASSERT_STREQ(o.env.items[0], "A=1");
    ASSERT_STREQ(o.env.items[1], "B=2");
    ASSERT_NULL(o.env.items[2]);
    /* Everything after "--" is the command, even what looks like options. */
    ASSERT_EQ(next, 9);
    ASSERT_STREQ(argv[next], "echo");
    ag_cli_list_release(&o.env);
}

TEST(parse_stops_at_first_word)
{
    char *argv[] = {S("run"), S("--example"), S("sh"), S("-c"), S("exit 3"), NULL};
    struct run_opts o = {0};
    int next = -1;
    char err[128];
    ASSERT_EQ(parse(&o, 5, argv, &next, err, sizeof(err)), 0);
    ASSERT_TRUE(o.example);
    ASSERT_EQ(next, 2);
    char *bools[] = {S("x"), S("--example=false"), NULL};
    ASSERT_EQ(parse(&o, 2, bools, &next, err, sizeof(err)), 0);
    ASSERT_FALSE(o.example);
}

TEST(parse_errors_name_the_option)
{
    struct {
        char *argv[4];
        int argc;
        const char *needle;
    } cases[] = {
        {{S("x"), S("--bogus=1")}, 2, "--bogus"},
        {{S("x"), S("--cpus")}, 2, "--cpus"},
        {{S("x"), S("--cpus=abc")}, 2, "--cpus"},
        {{S("x"), S("--count=1.5")}, 2, "--count"},
        {{S("x"), S("--count=99999999999")}, 2, "--count"},
        {{S("x"), S("--example=maybe")}, 2, "--example"},
        {{S("x"), S("-v")}, 2, "-v"},
        {{S("x"), S("--no-master")}, 2, "--no-master"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run_opts o = {0};
        int next = -1;
        char err[128] = "";
        int r = parse(&o, cases[i].argc, cases[i].argv, &next, err, sizeof(err));
        if (r != -EINVAL || !strstr(err, cases[i].needle))
            AG_TEST_FAIL("case %zu: r=%d err=\"%s\"", i, r, err);
        ag_cli_list_release(&o.env);
    }
    char *help[] = {S("x"), S("--cpus=1"), S("--help"), NULL};
    struct run_opts o = {0};
    int next;
    char err[128];
    ASSERT_EQ(parse(&o, 3, help, &next, err, sizeof(err)), 1);
}

TEST(master_base)
{
    char err[128];
    unsetenv("AGORA_MASTER");
    char *b = ag_cli_master_base(NULL, err, sizeof(err));
    ASSERT_STREQ(b, "http://127.0.0.1:5050");
    free(b);
    setenv("AGORA_MASTER", "127.0.0.1:6060", 1);
    b = ag_cli_master_base(NULL, err, sizeof(err));
    ASSERT_STREQ(b, "http://127.0.0.1:6060");
    free(b);
    b = ag_cli_master_base("http://10.0.0.1:7070", err, sizeof(err));
    ASSERT_STREQ(b, "http://10.0.0.1:7070");
    free(b);
    unsetenv("AGORA_MASTER");
    ASSERT_NULL(ag_cli_master_base("zk://x:2181/m", err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "zk://x:2181/m") != NULL);
}

/* --- tables --- */

TEST(table_alignment)
{
    static const char *const headers[] = {"ID", "NAME", "CPUS"};
    struct ag_cli_table t;
    ASSERT_EQ(ag_cli_table_init(&t, headers, 3), 0);
    ag_cli_table_align_right(&t, 2);
    const char *r1[] = {"a-long-id", "x", "0.5"};
    const char *r2[] = {"b", NULL, "12"};
    ASSERT_EQ(ag_cli_table_add(&t, r1), 0);
    ASSERT_EQ(ag_cli_table_add(&t, r2), 0);
    char *text = ag_cli_table_render(&t);
    ASSERT_STREQ(text, "ID         NAME  CPUS\n"
                       "a-long-id  x      0.5\n"
                       "b          -       12\n");
    free(text);
    ag_cli_table_release(&t);
}

TEST(table_grows_and_trims)
{
    static const char *const headers[] = {"A", "LAST"};
    struct ag_cli_table t;
    ASSERT_EQ(ag_cli_table_init(&t, headers, 2), 0);
    for (int i = 0; i < 100; i++) {
        const char *row[] = {"x", i == 50 ? "wide-cell" : ""};
        ASSERT_EQ(ag_cli_table_add(&t, row), 0);
    }
    char *text = ag_cli_table_render(&t);
    /* 101 lines, none ending in a space. */
    size_t lines = 0;
    for (char *p = text; *p; p++) {
        if (*p == '\n') {
            lines++;
            ASSERT_TRUE(p == text || p[-1] != ' ');
        }
    }
    ASSERT_EQ(lines, 101);
    ASSERT_TRUE(strncmp(text, "A  LAST\n", 8) == 0);
    free(text);
    ag_cli_table_release(&t);
}

/* --- exit codes --- */

TEST(exit_codes)
{
    ASSERT_EQ(ag_cli_exit_code("TASK_FINISHED", NULL), 0);
    ASSERT_EQ(ag_cli_exit_code("TASK_FINISHED", "Command exited with status 0"), 0);
    ASSERT_EQ(ag_cli_exit_code("TASK_FAILED", "Command exited with status 3"), 3);
    ASSERT_EQ(ag_cli_exit_code("TASK_FAILED", "Command exited with status 255"), 255);
    ASSERT_EQ(ag_cli_exit_code("TASK_FAILED", "Command exited with status 0"), 1);
    ASSERT_EQ(ag_cli_exit_code("TASK_FAILED", "Command exited with status x"), 1);
    ASSERT_EQ(ag_cli_exit_code("TASK_KILLED", "Command terminated with signal Killed"),
              128 + SIGKILL);
    ASSERT_EQ(ag_cli_exit_code("TASK_FAILED", "Command terminated with signal Terminated"),
              128 + SIGTERM);
    ASSERT_EQ(ag_cli_exit_code("TASK_FAILED", "Command terminated with signal SIGSEGV"),
              128 + SIGSEGV);
    ASSERT_EQ(ag_cli_exit_code("TASK_FAILED", "Command terminated with signal 9"), 128 + 9);
    ASSERT_EQ(ag_cli_exit_code("TASK_FAILED", "Command terminated with signal Nonsense"), 1);
    ASSERT_EQ(ag_cli_exit_code("TASK_LOST", "Agent removed"), 1);
    ASSERT_EQ(ag_cli_exit_code("TASK_ERROR", NULL), 1);
    ASSERT_EQ(ag_cli_exit_code(NULL, NULL), 1);
}

TEST(terminal_states)
{
    ASSERT_TRUE(ag_cli_state_terminal("TASK_FINISHED"));
    ASSERT_TRUE(ag_cli_state_terminal("TASK_GONE_BY_OPERATOR"));
    ASSERT_FALSE(ag_cli_state_terminal("TASK_RUNNING"));
    ASSERT_FALSE(ag_cli_state_terminal("TASK_UNREACHABLE"));
    ASSERT_FALSE(ag_cli_state_terminal(NULL));
}

/* --- views --- */

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        AG_TEST_FAIL("bad fixture: %s", e.text);
    return v;
}

TEST(tasks_view)
{
    json_t *doc = load("{\"tasks\":[{\"id\":\"t1\",\"name\":\"echo\",\"state\":\"TASK_RUNNING\","
                       "\"framework_id\":\"F-0000\",\"slave_id\":\"S0\","
                       "\"resources\":{\"cpus\":0.1,\"mem\":32,\"disk\":0,\"gpus\":0}}]}");
    struct ag_cli_table t;
    ASSERT_EQ(ag_cli_tasks_table(doc, &t), 0);
    char *text = ag_cli_table_render(&t);
    ASSERT_STREQ(text, "ID  NAME  STATE         FRAMEWORK  AGENT  CPUS  MEM\n"
                       "t1  echo  TASK_RUNNING  F-0000     S0      0.1   32\n");
    free(text);
    ag_cli_table_release(&t);
    json_decref(doc);
    json_t *bad = load("{\"tasks\":3}");
    ASSERT_EQ(ag_cli_tasks_table(bad, &t), -EINVAL);
    json_decref(bad);
}

TEST(agents_view)
{
    json_t *doc = load("{\"slaves\":[{\"id\":\"S0\",\"hostname\":\"h\",\"port\":5051,"
                       "\"active\":true,\"resources\":{\"cpus\":2,\"mem\":1024,\"disk\":100},"
                       "\"used_resources\":{\"cpus\":0.5,\"mem\":64,\"disk\":0}}]}");
    struct ag_cli_table t;
    ASSERT_EQ(ag_cli_agents_table(doc, &t), 0);
    char *text = ag_cli_table_render(&t);
    ASSERT_TRUE(strstr(text, "S0  h         5051  yes") != NULL);
    ASSERT_TRUE(strstr(text, "0.5/2") != NULL);
    ASSERT_TRUE(strstr(text, "64/1024") != NULL);
    free(text);
    ag_cli_table_release(&t);
    json_decref(doc);
}

TEST(frameworks_view)
{
    json_t *doc = load("{\"frameworks\":[{\"id\":\"F1\",\"name\":\"a\",\"active\":true,"
                       "\"roles\":[\"x\",\"y\"],\"tasks\":[{},{}],\"used_resources\":{\"cpus\":1}},"
                       "{\"id\":\"F2\",\"name\":\"b\",\"active\":false,\"connected\":false,"
                       "\"role\":\"*\"}],"
                       "\"completed_frameworks\":[{\"id\":\"F0\",\"name\":\"old\"}]}");
    struct ag_cli_table t;
    ASSERT_EQ(ag_cli_frameworks_table(doc, &t), 0);
    ASSERT_EQ(t.nrows, 3);
    char *text = ag_cli_table_render(&t);
    ASSERT_TRUE(strstr(text, "F1  a     active") != NULL);
    ASSERT_TRUE(strstr(text, "x,y") != NULL);
    ASSERT_TRUE(strstr(text, "disconnected") != NULL);
    ASSERT_TRUE(strstr(text, "F0  old   completed") != NULL);
    free(text);
    ag_cli_table_release(&t);
    json_decref(doc);
}

TEST(sandbox_lookup)
{
    json_t *doc = load(
        "{\"frameworks\":[{\"id\":\"F1\",\"executors\":[{\"id\":\"other\",\"directory\":\"/d0\"},"
        "{\"id\":\"custom\",\"directory\":\"/d1\",\"tasks\":[{\"id\":\"t-in-custom\"}]}]}],"
        "\"completed_frameworks\":[{\"id\":\"F2\",\"completed_executors\":["
        "{\"id\":\"t9\",\"directory\":\"/d9\"}]}]}");
    ASSERT_STREQ(ag_cli_sandbox_dir(doc, "F1", "other"), "/d0");
    ASSERT_STREQ(ag_cli_sandbox_dir(doc, "F1", "t-in-custom"), "/d1");
    ASSERT_STREQ(ag_cli_sandbox_dir(doc, "F2", "t9"), "/d9");
    ASSERT_NULL(ag_cli_sandbox_dir(doc, "F1", "t9"));
    ASSERT_NULL(ag_cli_sandbox_dir(doc, "F3", "other"));
    json_decref(doc);
}

TEST(agent_addresses)
{
    json_t *offer = load("{\"hostname\":\"h\",\"url\":{\"scheme\":\"http\",\"address\":"
                         "{\"hostname\":\"h\",\"ip\":\"127.0.0.1\",\"port\":5052},"
                         "\"path\":\"/slave(1)\"}}");
    char *url = ag_cli_offer_agent_url(offer);
    ASSERT_STREQ(url, "http://127.0.0.1:5052");
    free(url);
    json_decref(offer);
    json_t *bare = load("{\"agent_id\":{\"value\":\"S\"}}");
    ASSERT_NULL(ag_cli_offer_agent_url(bare));
    json_decref(bare);

    json_t *slaves = load("{\"slaves\":[{\"id\":\"S0\",\"pid\":\"slave(1)@127.0.0.1:5053\"},"
                          "{\"id\":\"S1\",\"hostname\":\"h1\",\"port\":5054}]}");
    url = ag_cli_agent_url_from_slaves(slaves, "S0");
    ASSERT_STREQ(url, "http://127.0.0.1:5053");
    free(url);
    url = ag_cli_agent_url_from_slaves(slaves, "S1");
    ASSERT_STREQ(url, "http://h1:5054");
    free(url);
    ASSERT_NULL(ag_cli_agent_url_from_slaves(slaves, "S2"));
    json_decref(slaves);
}

TEST(urlencode)
{
    char *e = ag_cli_urlencode("/tmp/a b/runs/x&y=%");
    ASSERT_STREQ(e, "/tmp/a%20b/runs/x%26y%3D%25");
    free(e);
}

TEST_MAIN(TEST_CASE(parse_forms_and_command), TEST_CASE(parse_stops_at_first_word),
          TEST_CASE(parse_errors_name_the_option), TEST_CASE(master_base),
          TEST_CASE(table_alignment), TEST_CASE(table_grows_and_trims), TEST_CASE(exit_codes),
          TEST_CASE(terminal_states), TEST_CASE(tasks_view), TEST_CASE(agents_view),
          TEST_CASE(frameworks_view), TEST_CASE(sandbox_lookup), TEST_CASE(agent_addresses),
          TEST_CASE(urlencode))
