/*
 * command: the built-in command executor (see command.h).
 *
 * The task runs in a process group of its own (so that a kill reaches
 * everything it started) but stays in the executor's session, which is
 * how the agent finds it if the executor itself dies. It is started with
 * vfork + exec: the executor is small, but vfork keeps the cost flat and
 * lets the child switch user with raw syscalls before exec (the user's
 * groups are looked up in the parent, never in the child).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agora/executor.h"
#include "agora/health.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "executor/command.h"

extern char **environ;

#define DEFAULT_KILL_GRACE 3.0
#define ACK_WAIT_MAX       60.0 /* after the terminal update, exit at the latest then */
#define IDLE_POLL          0.01
#define IDLE_POLLS_MAX     200

/* ------------------------------------------------------------------ */
/* pure helpers                                                        */

void ag_cmd_exit_message(int wait_status, char *out, size_t outlen)
{
    if (WIFEXITED(wait_status))
        snprintf(out, outlen, "Command exited with status %d", WEXITSTATUS(wait_status));
    else if (WIFSIGNALED(wait_status))
        snprintf(out, outlen, "Command terminated with signal %s",
                 strsignal(WTERMSIG(wait_status)));
    else
        snprintf(out, outlen, "Command ended with wait status %d", wait_status);
}

enum ag_task_state ag_cmd_terminal_state(int wait_status, bool kill_requested)
{
    if (kill_requested)
        return AG_TASK_KILLED;
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
        return AG_TASK_FINISHED;
    return AG_TASK_FAILED;
}

static double policy_grace(const json_t *policy)
{
    double ns;
    char err[64];
    json_t *gp = ag_json_get(policy, "grace_period");
    if (!json_is_object(gp) ||
        ag_json_get_number(gp, "nanoseconds", true, &ns, err, sizeof(err)) < 0 || ns < 0)
        return -1;
    return ns / 1e9;
}

double ag_cmd_kill_grace(const json_t *kill_policy, const json_t *task)
{
    double g = policy_grace(kill_policy);
    if (g >= 0)
        return g;
    g = policy_grace(ag_json_get(task, "kill_policy"));
    return g >= 0 ? g : DEFAULT_KILL_GRACE;
}

void ag_cmd_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

char **ag_cmd_argv(const json_t *command, const char **ret_file, char *err, size_t errlen)
{
    const char *value = json_string_value(ag_json_get(command, "value"));
    json_t *shell_j = ag_json_get(command, "shell");
    json_t *args = ag_json_get(command, "arguments"), *a;
    bool shell = !shell_j || json_is_true(shell_j) ||
                 (json_is_string(shell_j) && strcmp(json_string_value(shell_j), "true") == 0);
    char **argv;
    size_t i, n = 0;

    if (!value || !*value) {
        snprintf(err, errlen, "the task's command has no 'value' to run");
        return NULL;
    }
    if (shell) {
        argv = calloc(4, sizeof(*argv));
        if (!argv)
            goto oom;
        argv[0] = strdup("sh");
        argv[1] = strdup("-c");
        argv[2] = strdup(value);
        if (!argv[0] || !argv[1] || !argv[2]) {
            ag_cmd_argv_free(argv);
            goto oom;
        }
        *ret_file = "/bin/sh";
        return argv;
    }
    if (args && !json_is_array(args)) {
        snprintf(err, errlen, "the task's command 'arguments' must be an array");
        return NULL;
    }
    argv = calloc(json_array_size(args) + 2, sizeof(*argv));
    if (!argv)
        goto oom;
    json_array_foreach(args, i, a)
    {
        if (!json_is_string(a)) {
            ag_cmd_argv_free(argv);
            snprintf(err, errlen, "the task's command 'arguments' must be strings");
            return NULL;
        }
        argv[n] = strdup(json_string_value(a));
        if (!argv[n++]) {
            ag_cmd_argv_free(argv);
            goto oom;
        }
    }
    if (n == 0) {
        argv[0] = strdup(value);
        if (!argv[0]) {
            free(argv);
            goto oom;
        }
    }
    *ret_file = value;
    return argv;
oom:
    snprintf(err, errlen, "out of memory");
    return NULL;
}

/* ------------------------------------------------------------------ */
/* the executor                                                        */

/* A user to run the task as, resolved in the parent. */
struct run_as {
    bool active;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int ngroups;
    char *name, *home;
};

/* The task's health check (HealthCheck) and check (CheckInfo). */
enum { PROBE_HEALTH = 0, PROBE_CHECK = 1, PROBE_KINDS = 2 };

struct cmd {
    struct ag_loop *loop;
    struct ag_executor *exec;
    struct ag_executor_config cfg;
    struct ag_signal *sigchld, *sigterm, *sigint;
    struct ag_timer *escalate_timer, *ack_timer, *idle_timer, *deadline_timer;
    json_t *task;
    char *task_id;
    pid_t pid;           /* the task's process (and group), 0 when none */
    bool kill_requested; /* KILL or SHUTDOWN: the end is TASK_KILLED */
    bool deadline_hit;   /* max_completion_time: the end is TASK_FAILED */
    bool killing;        /* SIGTERM sent */
    double kill_at;      /* monotonic time of the SIGKILL escalation */
    bool terminal_sent;
    char terminal_uuid[25];
    bool shutdown;
    bool exiting;
    int idle_polls;
    struct run_as ras; /* the task's user, kept for COMMAND probes */
    struct ag_health_checker *checker[PROBE_KINDS];
    pid_t probe_pid[PROBE_KINDS]; /* a COMMAND probe's process (and group), 0 when none */
    int healthy;                  /* the last health reported: -1 none yet, 0, 1 */
    bool unhealthy;               /* killed for failing its health check */
};

static void run_as_release(struct run_as *r)
{
    free(r->groups);
    free(r->name);
    free(r->home);
    memset(r, 0, sizeof(*r));
}

/* Whether to switch to `user`: only as root, and only to someone else.
 * -ENOENT with a message when the user does not exist. */
static int run_as_resolve(const char *user, struct run_as *r, char *err, size_t errlen)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int n = 32;

    memset(r, 0, sizeof(*r));
    if (!user || !*user || geteuid() != 0)
        return 0;
    if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res) {
        snprintf(err, errlen, "Failed to run the task as user '%s': no such user", user);
        return -ENOENT;
    }
    if (pw.pw_uid == geteuid())
        return 0;
    r->active = true;
    r->uid = pw.pw_uid;
    r->gid = pw.pw_gid;
    r->name = strdup(pw.pw_name);
    r->home = strdup(pw.pw_dir ? pw.pw_dir : "/");
    for (;;) {
        int want = n;
        gid_t *g = realloc(r->groups, (size_t)want * sizeof(*g));
        if (!g)
            break;
        r->groups = g;
        if (getgrouplist(pw.pw_name, pw.pw_gid, r->groups, &n) >= 0) {
            r->ngroups = n;
            break;
        }
        if (n <= want)
            n = want * 2;
    }
    if (!r->name || !r->home || !r->groups) {
        run_as_release(r);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* environ + NAME=VALUE overrides, replacing earlier entries by name. */
static int env_set(char ***env, size_t *n, const char *name, const char *value)
{
    size_t nlen = strlen(name), len = nlen + strlen(value) + 2;
    char *var = malloc(len), **grown;
    if (!var)
        return -ENOMEM;
    snprintf(var, len, "%s=%s", name, value);
    for (size_t i = 0; i < *n; i++) {
        if (strncmp((*env)[i], name, nlen) == 0 && (*env)[i][nlen] == '=') {
            free((*env)[i]);
            (*env)[i] = var;
            return 0;
        }
    }
    grown = realloc(*env, (*n + 2) * sizeof(*grown));
    if (!grown) {
        free(var);
        return -ENOMEM;
    }
    *env = grown;
    (*env)[(*n)++] = var;
    (*env)[*n] = NULL;
    return 0;
}

static void env_apply(char ***env, size_t *n, const json_t *command)
{
    json_t *v;
    size_t i;
    json_array_foreach(ag_json_get(ag_json_get(command, "environment"), "variables"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *type = json_string_value(json_object_get(v, "type"));
        const char *value = json_string_value(json_object_get(v, "value"));
        if (name && *name && !strchr(name, '=') && (!type || strcmp(type, "VALUE") == 0))
            env_set(env, n, name, value ? value : "");
    }
}

/* The task's environment: the executor's own (MESOS_* from the agent),
 * MESOS_TASK_ID (which frameworks such as Marathon's apps rely on), the
 * run-as user's identity, then CommandInfo.environment, which wins; for a
 * check command (`extra`, may be NULL) its own environment on top. */
static char **build_env_with(const json_t *command, const char *task_id, const struct run_as *r,
                             const json_t *extra)
{
    char **env = calloc(1, sizeof(*env));
    size_t n = 0;
    size_t i;

    if (!env)
        return NULL;
    for (i = 0; environ[i]; i++) {
        const char *eq = strchr(environ[i], '=');
        char name[256];
        if (!eq || (size_t)(eq - environ[i]) >= sizeof(name))
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(eq - environ[i]), environ[i]);
        env_set(&env, &n, name, eq + 1);
    }
    if (task_id)
        env_set(&env, &n, "MESOS_TASK_ID", task_id);
    if (r->active) {
        env_set(&env, &n, "USER", r->name);
        env_set(&env, &n, "LOGNAME", r->name);
        env_set(&env, &n, "HOME", r->home);
    }
    env_apply(&env, &n, command);
    if (extra)
        env_apply(&env, &n, extra);
    return env;
}

static char **build_env(const json_t *command, const char *task_id, const struct run_as *r)
{
    return build_env_with(command, task_id, r, NULL);
}

static volatile int child_errno;

/* vfork + exec in a new process group. 0 and *ret_pid, or -errno. */
static int spawn(const char *file, char **argv, char **envp, const struct run_as *r, pid_t *ret_pid)
{
    static const int reset[] = {SIGCHLD, SIGTERM, SIGINT,  SIGPIPE,
                                SIGHUP,  SIGQUIT, SIGUSR1, SIGUSR2};
    sigset_t all, old;
    pid_t pid;

    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    child_errno = 0;
    pid = vfork();
    if (pid == 0) {
        sigset_t none;
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
            sigaction(reset[i], &dfl, NULL);
        setpgid(0, 0);
        if (r->active && (syscall(SYS_setgroups, (size_t)r->ngroups, r->groups) < 0 ||
                          syscall(SYS_setresgid, r->gid, r->gid, r->gid) < 0 ||
                          syscall(SYS_setresuid, r->uid, r->uid, r->uid) < 0)) {
            child_errno = errno;
            _exit(127);
        }
        syscall(SYS_close_range, 3u, ~0u, 0u);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (strchr(file, '/'))
            execve(file, argv, envp);
        else
            execvpe(file, argv, envp);
        child_errno = errno ? errno : ENOEXEC;
        _exit(127);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return -errno;
    if (child_errno) {
        int e = child_errno;
        waitpid(pid, NULL, 0); /* it has already _exited */
        return -e;
    }
    *ret_pid = pid;
    return 0;
}

static void finish(struct cmd *c);

/* Once known, every update carries the last health result (`healthy`) and
 * the last check result (`check_status`), so that the latest status of a
 * running task always says both. */
static void add_health(const struct cmd *c, json_t *status)
{
    const struct ag_health_checker *check = c->checker[PROBE_CHECK];
    const json_t *cs = check ? ag_health_checker_check_status(check) : NULL;
    if (!status)
        return;
    if (c->healthy >= 0)
        json_object_set_new(status, "healthy", json_boolean(c->healthy));
    if (cs) {
        json_object_set_new(status, "check_status", json_deep_copy(cs));
    } else if (check) {
        /* No result yet: Mesos sends the type with an empty result. */
        enum ag_health_type t = ag_health_checker_policy(check)->type;
        json_object_set_new(status, "check_status",
                            json_pack("{s:s,s:{}}", "type", ag_health_type_name(t),
                                      t == AG_HEALTH_COMMAND ? "command"
                                      : t == AG_HEALTH_HTTP  ? "http"
                                                             : "tcp"));
    }
}

static void stop_checks(struct cmd *c)
{
    for (int i = 0; i < PROBE_KINDS; i++)
        ag_health_checker_stop(c->checker[i]);
}

static void send_terminal(struct cmd *c, enum ag_task_state state, const char *reason,
                          const char *message)
{
    json_t *status;
    if (c->terminal_sent)
        return;
    stop_checks(c);
    status = ag_task_status_new(c->task_id, state, "SOURCE_EXECUTOR", reason, message, NULL,
                                ag_executor_executor_id(c->exec));
    /* As in Mesos, the terminal update says healthy:false after a
     * health-check kill, and nothing about health otherwise. */
    c->healthy = c->unhealthy ? 0 : -1;
    add_health(c, status);
    c->terminal_sent = true;
    if (!status || ag_executor_send_status(c->exec, status, c->terminal_uuid) < 0) {
        ag_error("cannot send the terminal update of task '%s'", c->task_id);
        c->terminal_uuid[0] = '\0';
    }
    json_decref(status);
    ag_info("task '%s' is %s: %s", c->task_id, ag_task_state_name(state), message);
    /* Exit when it is acknowledged, or after ACK_WAIT_MAX regardless. */
    ag_timer_start(c->ack_timer, ACK_WAIT_MAX);
    if (!c->terminal_uuid[0])
        finish(c);
}

static void send_state_why(struct cmd *c, enum ag_task_state state, const char *reason,
                           const char *message)
{
    json_t *status = ag_task_status_new(c->task_id, state, "SOURCE_EXECUTOR", reason, message, NULL,
                                        ag_executor_executor_id(c->exec));
    if (!status)
        return;
    add_health(c, status);
    if (state == AG_TASK_RUNNING) {
        json_t *cs = json_pack("{s:i}", "executor_pid", (int)getpid());
        const char *cid = ag_executor_container_id(c->exec);
        if (cs && cid)
            ag_json_set_id(cs, "container_id", cid);
        if (cs)
            json_object_set_new(status, "container_status", cs);
    }
    if (ag_executor_send_status(c->exec, status, NULL) < 0)
        ag_error("cannot send %s for task '%s'", ag_task_state_name(state), c->task_id);
    json_decref(status);
}

static void send_state(struct cmd *c, enum ag_task_state state, const char *message)
{
    send_state_why(c, state, NULL, message);
}

/* Exit once the SDK has delivered its last calls (briefly bounded). */
static void idle_poll(void *arg)
{
    struct cmd *c = arg;
    if (ag_executor_idle(c->exec) || ++c->idle_polls >= IDLE_POLLS_MAX) {
        ag_loop_stop(c->loop);
        return;
    }
    ag_timer_start(c->idle_timer, IDLE_POLL);
}

static void finish(struct cmd *c)
{
    if (c->exiting)
        return;
    c->exiting = true;
    ag_timer_start(c->idle_timer, 0);
}

static void ack_timeout(void *arg)
{
    struct cmd *c = arg;
    ag_warn("no acknowledgement of the terminal update within %gs; exiting", ACK_WAIT_MAX);
    finish(c);
}

static void escalate(void *arg)
{
    struct cmd *c = arg;
    if (c->pid > 0) {
        ag_info("task '%s' did not exit within its grace period; sending SIGKILL", c->task_id);
        kill(-c->pid, SIGKILL);
    }
}

/* SIGTERM now and SIGKILL after `grace`; a later kill with a shorter grace
 * brings the SIGKILL forward. */
static void kill_task(struct cmd *c, double grace)
{
    double at = ag_monotonic() + grace;
    if (c->pid <= 0)
        return;
    /* Mesos pauses checking once a task is being killed. */
    stop_checks(c);
    if (!c->killing) {
        c->killing = true;
        c->kill_at = at;
        kill(-c->pid, SIGTERM);
        ag_timer_start(c->escalate_timer, grace);
    } else if (at < c->kill_at) {
        c->kill_at = at;
        ag_timer_start(c->escalate_timer, grace);
    }
}

static void deadline_fired(void *arg)
{
    struct cmd *c = arg;
    if (c->pid <= 0 || c->terminal_sent)
        return;
    ag_info("task '%s' reached its max_completion_time; killing it", c->task_id);
    c->deadline_hit = true;
    kill_task(c, ag_cmd_kill_grace(NULL, c->task));
}

static void task_exited(struct cmd *c, int status)
{
    char msg[256], full[400];

    kill(-c->pid, SIGKILL); /* whatever it left in its group */
    c->pid = 0;
    ag_timer_stop(c->escalate_timer);
    ag_timer_stop(c->deadline_timer);
    stop_checks(c);
    ag_cmd_exit_message(status, msg, sizeof(msg));
    if (c->unhealthy) {
        int limit = c->checker[PROBE_HEALTH]
                        ? ag_health_checker_policy(c->checker[PROBE_HEALTH])->consecutive_failures
                        : 0;
        snprintf(full, sizeof(full), "%s (killed after failing %d consecutive health checks)", msg,
                 limit);
        send_terminal(c, AG_TASK_KILLED, NULL, full);
    } else if (c->deadline_hit && !c->kill_requested)
        send_terminal(c, AG_TASK_FAILED, "REASON_MAX_COMPLETION_TIME_REACHED", msg);
    else
        send_terminal(c, ag_cmd_terminal_state(status, c->kill_requested), NULL, msg);
}

/* Reaps every child that ended: the task, COMMAND probes, and probes that
 * were abandoned (killed on a timeout), whose results are dropped. */
static void reap(struct cmd *c)
{
    int status;
    pid_t r;

    while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
        if (c->pid > 0 && r == c->pid) {
            task_exited(c, status);
            continue;
        }
        for (int i = 0; i < PROBE_KINDS; i++) {
            if (c->probe_pid[i] != r)
                continue;
            kill(-r, SIGKILL); /* what the probe left behind */
            c->probe_pid[i] = 0;
            if (c->checker[i])
                ag_health_checker_command_done(c->checker[i], status);
        }
    }
}

static void on_sigchld(int signo, void *arg)
{
    (void)signo;
    reap(arg);
}

/* --- health checks and checks --- */

static int probe_index(const struct cmd *c, const struct ag_health_checker *hc)
{
    return hc == c->checker[PROBE_HEALTH] ? PROBE_HEALTH : PROBE_CHECK;
}

/* Runs a COMMAND probe like the task: same user, same environment (plus
 * the probe's own), same sandbox, in a process group of its own so that a
 * timeout kills all of it. */
static int probe_command_start(struct ag_health_checker *hc, const json_t *command, void *arg)
{
    struct cmd *c = arg;
    const char *file = NULL;
    char err[256];
    char **argv, **envp;
    pid_t pid = 0;
    int rc;

    argv = ag_cmd_argv(command, &file, err, sizeof(err));
    if (!argv)
        return -EINVAL;
    envp = build_env_with(ag_json_get(c->task, "command"), c->task_id, &c->ras, command);
    rc = envp ? spawn(file, argv, envp, &c->ras, &pid) : -ENOMEM;
    ag_cmd_argv_free(argv);
    ag_cmd_argv_free(envp);
    if (rc == 0)
        c->probe_pid[probe_index(c, hc)] = pid;
    return rc;
}

static void probe_command_cancel(struct ag_health_checker *hc, void *arg)
{
    struct cmd *c = arg;
    int i = probe_index(c, hc);
    if (c->probe_pid[i] > 0) {
        kill(-c->probe_pid[i], SIGKILL);
        c->probe_pid[i] = 0; /* reaped later, its result dropped */
    }
}

static void on_health(struct ag_health_checker *hc, const struct ag_health_verdict *v,
                      const char *message, void *arg)
{
    struct cmd *c = arg;
    (void)hc;
    if (c->terminal_sent || c->pid <= 0 || c->killing)
        return;
    c->healthy = v->healthy;
    if (v->healthy)
        ag_info("task '%s' is healthy: %s", c->task_id, message);
    else
        ag_warn("task '%s' failed its health check (%d in a row): %s", c->task_id, v->consecutive,
                message);
    send_state_why(c, AG_TASK_RUNNING, "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", message);
    if (!v->kill)
        return;
    ag_warn("task '%s' failed %d consecutive health checks; killing it", c->task_id,
            v->consecutive);
    c->unhealthy = true;
    c->kill_requested = true;
    if (ag_executor_framework_capable(c->exec, "TASK_KILLING_STATE"))
        send_state(c, AG_TASK_KILLING, NULL);
    kill_task(c, ag_cmd_kill_grace(NULL, c->task));
}

static void on_check(struct ag_health_checker *hc, const json_t *check_status, void *arg)
{
    struct cmd *c = arg;
    (void)hc;
    (void)check_status;
    if (c->terminal_sent || c->pid <= 0 || c->killing)
        return;
    send_state_why(c, AG_TASK_RUNNING, "REASON_TASK_CHECK_STATUS_UPDATED", NULL);
}

/* Reads the task's health_check and check into checkers (not started).
 * -EINVAL with a message when either is malformed. */
static int checks_prepare(struct cmd *c, char *err, size_t errlen)
{
    static const struct ag_health_checker_ops ops = {
        .command_start = probe_command_start,
        .command_cancel = probe_command_cancel,
        .health = on_health,
        .check = on_check,
    };
    static const char *const keys[PROBE_KINDS] = {"health_check", "check"};

    for (int i = 0; i < PROBE_KINDS; i++) {
        struct ag_health_policy policy;
        char why[400];
        json_t *j = ag_json_get(c->task, keys[i]);
        int rc;
        if (!j)
            continue;
        rc = ag_health_policy_parse(j, i == PROBE_CHECK, &policy, why, sizeof(why));
        if (rc < 0) {
            snprintf(err, errlen, "Invalid %s: %s", i == PROBE_CHECK ? "check" : "health check",
                     why);
            return rc;
        }
        c->checker[i] = ag_health_checker_new(c->loop, &policy, &ops, c);
        ag_health_policy_release(&policy);
        if (!c->checker[i]) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    return 0;
}

static void launch_task(struct cmd *c)
{
    json_t *command = ag_json_get(c->task, "command");
    const char *user = json_string_value(ag_json_get(command, "user"));
    char err[512] = "", msg[600];
    struct run_as ras;
    const char *file = NULL;
    char **argv, **envp;
    double deadline;
    int rc;

    if (!user)
        user = json_string_value(ag_json_get(ag_executor_framework_info(c->exec), "user"));
    send_state(c, AG_TASK_STARTING, NULL);
    if (!json_is_object(command)) {
        send_terminal(c, AG_TASK_FAILED, NULL, "The task has no command to run");
        return;
    }
    argv = ag_cmd_argv(command, &file, err, sizeof(err));
    if (!argv) {
        send_terminal(c, AG_TASK_FAILED, NULL, err);
        return;
    }
    if (checks_prepare(c, err, sizeof(err)) < 0) {
        ag_cmd_argv_free(argv);
        send_terminal(c, AG_TASK_FAILED, "REASON_TASK_INVALID", err);
        return;
    }
    rc = run_as_resolve(user, &ras, err, sizeof(err));
    if (rc < 0) {
        ag_cmd_argv_free(argv);
        send_terminal(c, AG_TASK_FAILED, NULL, err);
        return;
    }
    envp = build_env(command, ag_json_get_id(c->task, "task_id", false, err, sizeof(err)), &ras);
    rc = envp ? spawn(file, argv, envp, &ras, &c->pid) : -ENOMEM;
    ag_cmd_argv_free(argv);
    ag_cmd_argv_free(envp);
    c->ras = ras; /* COMMAND probes run as the task's user */
    if (rc < 0) {
        snprintf(msg, sizeof(msg), "Failed to launch the command '%s': %s", file, strerror(-rc));
        c->pid = 0;
        send_terminal(c, AG_TASK_FAILED, NULL, msg);
        return;
    }
    ag_info("task '%s' started (pid %d)", c->task_id, (int)c->pid);
    send_state(c, AG_TASK_RUNNING, NULL);
    for (int i = 0; i < PROBE_KINDS; i++) {
        if (c->checker[i])
            ag_health_checker_start(c->checker[i]);
    }
    {
        double ns;
        char e2[64];
        json_t *mct = ag_json_get(c->task, "max_completion_time");
        if (json_is_object(mct) &&
            ag_json_get_number(mct, "nanoseconds", true, &ns, e2, sizeof(e2)) == 0 && ns >= 0) {
            deadline = ns / 1e9;
            ag_timer_start(c->deadline_timer, deadline);
        }
    }
    /* A SHUTDOWN or KILL may have come while we were starting. */
    if (c->kill_requested)
        kill_task(c, ag_cmd_kill_grace(NULL, c->task));
}

/* --- SDK callbacks --- */

static void on_subscribed(struct ag_executor *e, const json_t *sub, void *arg)
{
    (void)e;
    (void)sub;
    (void)arg;
    ag_info("subscribed to the agent");
}

static void on_launch(struct ag_executor *e, const json_t *task, void *arg)
{
    struct cmd *c = arg;
    char err[128];
    const char *id = ag_json_get_id(task, "task_id", true, err, sizeof(err));
    if (!id)
        return;
    if (c->task) {
        ag_executor_update(e, id, "TASK_FAILED", NULL,
                           "Attempted to run multiple tasks using a command executor", NULL);
        return;
    }
    c->task = json_deep_copy(task);
    c->task_id = strdup(id);
    if (!c->task || !c->task_id) {
        ag_error("out of memory");
        finish(c);
        return;
    }
    launch_task(c);
}

static void on_launch_group(struct ag_executor *e, const json_t *group, void *arg)
{
    json_t *t;
    size_t i;
    (void)arg;
    json_array_foreach(ag_json_get(group, "tasks"), i, t)
    {
        char err[128];
        const char *id = ag_json_get_id(t, "task_id", true, err, sizeof(err));
        if (id)
            ag_executor_update(e, id, "TASK_FAILED", NULL,
                               "The command executor cannot run task groups", NULL);
    }
}

static void on_kill(struct ag_executor *e, const char *task_id, const json_t *policy, void *arg)
{
    struct cmd *c = arg;
    if (!c->task_id || strcmp(task_id, c->task_id) != 0 || c->terminal_sent)
        return;
    c->kill_requested = true;
    if (c->pid <= 0)
        return;
    if (!c->killing && ag_executor_framework_capable(e, "TASK_KILLING_STATE"))
        send_state(c, AG_TASK_KILLING, NULL);
    kill_task(c, ag_cmd_kill_grace(policy, c->task));
}

static void on_acknowledged(struct ag_executor *e, const char *task_id, const char *uuid, void *arg)
{
    struct cmd *c = arg;
    (void)e;
    (void)task_id;
    if (c->terminal_sent && strcmp(uuid, c->terminal_uuid) == 0)
        finish(c);
}

static void on_message(struct ag_executor *e, const uint8_t *data, size_t len, void *arg)
{
    (void)e;
    (void)data;
    (void)arg;
    ag_info("ignoring a framework message of %zu bytes", len);
}

static void shutdown_now(struct cmd *c)
{
    /* Mesos leaves the task the shutdown grace period less 2 s (the reap
     * interval and a second to report); with short grace periods keep at
     * least half of it for the task. */
    double grace = c->cfg.shutdown_grace_period - 2.0;
    if (grace < c->cfg.shutdown_grace_period / 2)
        grace = c->cfg.shutdown_grace_period / 2;
    c->shutdown = true;
    c->kill_requested = true;
    if (c->pid > 0) {
        kill_task(c, grace);
        return;
    }
    /* Nothing running: a task that never started is reported killed. */
    if (c->task_id && !c->terminal_sent)
        send_terminal(c, AG_TASK_KILLED, NULL, "Executor shut down before the task started");
    else if (!c->terminal_sent || !c->terminal_uuid[0])
        finish(c);
}

static void on_shutdown(struct ag_executor *e, void *arg)
{
    (void)e;
    ag_info("shutdown requested by the agent");
    shutdown_now(arg);
}

static void on_error(struct ag_executor *e, const char *message, void *arg)
{
    (void)e;
    (void)arg;
    ag_warn("%s", message);
}

static void on_disconnected(struct ag_executor *e, const char *reason, bool final, void *arg)
{
    struct cmd *c = arg;
    (void)e;
    if (!final)
        return;
    ag_warn("lost the agent (%s); killing the task and exiting", reason);
    stop_checks(c);
    if (c->pid > 0) {
        kill(-c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
    ag_loop_stop(c->loop);
}

static void on_stop_signal(int signo, void *arg)
{
    ag_info("received %s", strsignal(signo));
    shutdown_now(arg);
}

int ag_cmd_main(void)
{
    struct cmd c;
    char err[512];
    const struct ag_executor_callbacks cb = {
        .subscribed = on_subscribed,
        .launch = on_launch,
        .launch_group = on_launch_group,
        .kill = on_kill,
        .acknowledged = on_acknowledged,
        .message = on_message,
        .shutdown = on_shutdown,
        .error = on_error,
        .disconnected = on_disconnected,
    };
    int rc = 0;

    memset(&c, 0, sizeof(c));
    c.healthy = -1;
    ag_log_set_tag("executor");
    if (ag_executor_config_from_env(&c.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "agora-executor: %s\n", err);
        return 1;
    }
    c.loop = ag_loop_new();
    if (!c.loop) {
        fprintf(stderr, "agora-executor: cannot create the event loop\n");
        return 1;
    }
    c.exec = ag_executor_new(c.loop, &c.cfg, &cb, &c);
    c.sigchld = ag_signal_new(c.loop, SIGCHLD, on_sigchld, &c);
    c.sigterm = ag_signal_new(c.loop, SIGTERM, on_stop_signal, &c);
    c.sigint = ag_signal_new(c.loop, SIGINT, on_stop_signal, &c);
    c.escalate_timer = ag_timer_new(c.loop, escalate, &c);
    c.ack_timer = ag_timer_new(c.loop, ack_timeout, &c);
    c.idle_timer = ag_timer_new(c.loop, idle_poll, &c);
    c.deadline_timer = ag_timer_new(c.loop, deadline_fired, &c);
    if (!c.exec || !c.sigchld || !c.sigterm || !c.sigint || !c.escalate_timer || !c.ack_timer ||
        !c.idle_timer || !c.deadline_timer) {
        fprintf(stderr, "agora-executor: out of memory\n");
        rc = 1;
        goto out;
    }
    ag_info("executor '%s' of framework '%s' starting; agent %s", c.cfg.executor_id,
            c.cfg.framework_id, c.cfg.agent_endpoint);
    ag_executor_start(c.exec);
    if (ag_loop_run(c.loop) < 0)
        rc = 1;
    if (c.pid > 0) {
        kill(-c.pid, SIGKILL);
        waitpid(c.pid, NULL, 0);
    }
out:
    for (int i = 0; i < PROBE_KINDS; i++)
        ag_health_checker_free(c.checker[i]); /* kills a COMMAND probe still running */
    ag_executor_free(c.exec);
    ag_signal_free(c.sigchld);
    ag_signal_free(c.sigterm);
    ag_signal_free(c.sigint);
    ag_timer_free(c.escalate_timer);
    ag_timer_free(c.ack_timer);
    ag_timer_free(c.idle_timer);
    ag_timer_free(c.deadline_timer);
    ag_loop_free(c.loop);
    json_decref(c.task);
    free(c.task_id);
    run_as_release(&c.ras);
    return rc;
}
