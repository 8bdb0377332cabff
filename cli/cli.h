/*
 * cli: the `agora` command's internal interfaces.
 *
 * The pure parts (option parsing, tables, exit codes, JSON-to-table views,
 * URL encoding) live in args.c, table.c, status.c and views.c, which use
 * no network and no libcurl, so unit tests include them directly
 * (tests/unit/test_cli_*.c). Subcommands live in one file each.
 */
#ifndef AG_CLI_CLI_H
#define AG_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* --- options (args.c) --- */

enum ag_cli_opt_type {
    AG_CLI_STR = 0,    /* const char ** (points into argv) */
    AG_CLI_INT = 1,    /* int * */
    AG_CLI_DOUBLE = 2, /* double * */
    AG_CLI_BOOL = 3,   /* bool *: --name, --no-name, --name=true|false */
    AG_CLI_LIST = 4,   /* struct ag_cli_list *: repeatable, each value appended */
};

struct ag_cli_list {
    const char **items; /* malloc'd array of pointers into argv, NULL-terminated */
    size_t n;
};

struct ag_cli_opt {
    const char *name; /* without dashes */
    enum ag_cli_opt_type type;
    void *ptr;
    const char *help;
};

/*
 * Parses options from argv[1..argc) (argv[0] is the subcommand). Accepts
 * --name=value and --name value. Stops at "--" (consumed) or at the first
 * argument that does not start with "--"; *ret_next is the index of the
 * first argument not consumed. Returns 0; 1 for --help/-h; -EINVAL with a
 * message naming the option in err for an unknown option, a missing value
 * or a value of the wrong type; -ENOMEM.
 */
int ag_cli_parse(const struct ag_cli_opt *opts, size_t n, int argc, char **argv, int *ret_next,
                 char *err, size_t errlen);
/* Frees the array of a list option (not the strings). */
void ag_cli_list_release(struct ag_cli_list *list);
/* Prints "usage" and the option table to stdout. */
void ag_cli_print_options(const struct ag_cli_opt *opts, size_t n);

/* --- tables (table.c) --- */

struct ag_cli_table {
    size_t ncols;
    char **cells; /* nrows+1 rows (header first) of ncols malloc'd strings */
    size_t nrows, cap;
    bool *right; /* per column: right-align (numbers) */
};

/* 0 or -ENOMEM. headers: ncols strings. */
int ag_cli_table_init(struct ag_cli_table *t, const char *const *headers, size_t ncols);
/* Sets column `col` to be right-aligned. */
void ag_cli_table_align_right(struct ag_cli_table *t, size_t col);
/* Appends a row of ncols strings (NULL prints as "-"); copied. */
int ag_cli_table_add(struct ag_cli_table *t, const char *const *row);
/* The table as text: columns padded to their widest cell and separated by
 * two spaces, no trailing spaces, one line per row, '\n'-terminated.
 * malloc'd; NULL on OOM. */
char *ag_cli_table_render(const struct ag_cli_table *t);
void ag_cli_table_release(struct ag_cli_table *t);

/* --- exit codes (status.c) --- */

/* The exit code `agora run` ends with for a terminal task state and its
 * status message: 0 for TASK_FINISHED; N for "Command exited with status
 * N"; 128+signal for "Command terminated with signal X" (X a name such as
 * "Killed" or "SIGKILL", or a number); 1 otherwise. */
int ag_cli_exit_code(const char *state, const char *message);
/* Whether a TaskState name is terminal. */
bool ag_cli_state_terminal(const char *state);

/* --- views (views.c): master JSON to tables --- */

/* From /master/tasks ({"tasks":[...]}). -EINVAL if the shape is wrong. */
int ag_cli_tasks_table(const json_t *doc, struct ag_cli_table *ret);
/* From /master/slaves ({"slaves":[...]}). */
int ag_cli_agents_table(const json_t *doc, struct ag_cli_table *ret);
/* From /master/frameworks ({"frameworks":[...],"completed_frameworks":[...]}). */
int ag_cli_frameworks_table(const json_t *doc, struct ag_cli_table *ret);
/* Percent-encodes everything but unreserved characters and '/'; malloc'd. */
char *ag_cli_urlencode(const char *text);
/* The sandbox directory of executor/task `task_id` of framework `fid` in
 * an agent /state document, or NULL (borrowed from doc). */
const char *ag_cli_sandbox_dir(const json_t *agent_state, const char *fid, const char *task_id);
/* "http://ip:port" of the agent an Offer comes from (its `url`), malloc'd,
 * or NULL. */
char *ag_cli_offer_agent_url(const json_t *offer);
/* "http://ip:port" of agent `agent_id` from /master/slaves (its pid, else
 * hostname and port), malloc'd, or NULL. */
char *ag_cli_agent_url_from_slaves(const json_t *doc, const char *agent_id);

/* --- HTTP for the operator commands (fetch.c, libcurl) --- */

/* GETs base+path and parses JSON. 0, or -errno with a message in err. */
int ag_cli_get_json(const char *base, const char *path, json_t **ret, char *err, size_t errlen);
/* The master base URL from --master / $AGORA_MASTER / 127.0.0.1:5050,
 * malloc'd; NULL with a message in err if the address is bad. */
char *ag_cli_master_base(const char *flag, char *err, size_t errlen);

/* --- the example workload of `agora local` (example.c) --- */

struct ag_loop;
struct ag_cli_example;
/* Called once: `finished` of `total` tasks ended TASK_FINISHED; error is
 * NULL, or why the example stopped early. */
typedef void (*ag_cli_example_done_cb)(size_t finished, size_t total, const char *error, void *arg);
/* Starts a framework on `loop` that runs `ntasks` echo tasks and prints
 * what happens. NULL on failure. */
struct ag_cli_example *ag_cli_example_start(struct ag_loop *loop, const char *master, size_t ntasks,
                                            ag_cli_example_done_cb done, void *arg);
/* Stops the example without reporting (the cluster is going away). */
void ag_cli_example_abort(struct ag_cli_example *ex);
/* Whether no request of the example is in flight (it may then be freed). */
bool ag_cli_example_idle(const struct ag_cli_example *ex);
void ag_cli_example_free(struct ag_cli_example *ex);

/* --- subcommands --- */

int ag_cli_run_main(int argc, char **argv);
int ag_cli_local_main(int argc, char **argv);
int ag_cli_tasks_main(int argc, char **argv);
int ag_cli_agents_main(int argc, char **argv);
int ag_cli_frameworks_main(int argc, char **argv);
int ag_cli_state_main(int argc, char **argv);

#endif
