/*
 * fetch: runs agora-fetcher for an executor's sandbox before the executor
 * starts, without ever blocking the agent's loop.
 *
 * The agent writes the fetcher's input to <work_dir>/fetch/<container>.json
 * and spawns it with its stdout and stderr appended to the sandbox's files
 * (the user sees what was fetched, as with Mesos). The fetcher's exit is
 * seen by the child reaping of sandboxes.c; its cause of failure comes
 * from <work_dir>/fetch/<container>.result. A fetch that outlives its
 * deadline is killed. The executor is found again by ids on completion, so
 * a fetch never holds a pointer to an executor that may be gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/internal.h"
#include "agent/sandboxes.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"

extern char **environ;

#define URI_TIMEOUT  600.0 /* seconds per URI, as the fetcher's total timeout */
#define DEADLINE_PAD 30.0
#define RESULT_MAX   2048

struct fetch {
    struct fetch *next;
    char *framework_id, *executor_id, *directory;
    char container_id[AG_UUID_STR_LEN];
    char input[PATH_MAX], result[PATH_MAX];
    pid_t pid;
    struct ag_timer *deadline;
    bool timed_out;
    ag_agent_fetch_done_cb done;
    /* A nested container's fetch: its id (container_id is the parent's). */
    char *nested_id;
    ag_agent_fetch_nested_cb done_nested;
};

static struct fetch *fetches;
static uint64_t n_succeeded, n_failed;

void ag__agent_fetch_metrics(uint64_t *ret_succeeded, uint64_t *ret_failed)
{
    *ret_succeeded = n_succeeded;
    *ret_failed = n_failed;
}

bool ag_agent_fetch_busy(const char *directory)
{
    for (struct fetch *f = fetches; f; f = f->next)
        if (strcmp(f->directory, directory) == 0)
            return true;
    return false;
}

static void append_uris(json_t *out, const json_t *command)
{
    json_t *uris = ag_json_get(command, "uris");
    json_t *u;
    size_t i;
    json_array_foreach(uris, i, u)
    {
        if (json_is_object(u))
            json_array_append(out, u);
    }
}

json_t *ag_agent_fetch_uris(const json_t *executor_info, const json_t *task_info)
{
    json_t *out = json_array();
    const json_t *ex_cmd = ag_json_get(executor_info, "command");
    const json_t *task_cmd = ag_json_get(task_info, "command");
    if (!out)
        return NULL;
    append_uris(out, ex_cmd);
    if (task_cmd && task_cmd != ex_cmd)
        append_uris(out, task_cmd);
    return out;
}

static void fetch_free(struct fetch *f)
{
    struct fetch **pp;
    for (pp = &fetches; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    ag_timer_free(f->deadline);
    unlink(f->input);
    unlink(f->result);
    free(f->framework_id);
    free(f->executor_id);
    free(f->directory);
    free(f->nested_id);
    free(f);
}

static bool result_has_message(const struct fetch *f)
{
    struct stat sb;
    return stat(f->result, &sb) == 0 && sb.st_size > 0;
}

/* The fetcher's one-line message, or a description of how it ended. */
static void read_result(const struct fetch *f, int status, char *out, size_t outlen)
{
    FILE *r = fopen(f->result, "re");
    size_t n = 0;
    if (r) {
        n = fread(out, 1, outlen - 1, r);
        fclose(r);
    }
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    /* "Failed to fetch '<uri>': interrupted" names the URI it was on when
     * it was killed or crashed: say why instead. */
    if (n > 0 && (f->timed_out || !WIFEXITED(status))) {
        char *cause = strstr(out, "': interrupted");
        if (cause && cause[14] == '\0') {
            cause += 3;
            if (f->timed_out)
                snprintf(cause, outlen - (size_t)(cause - out),
                         "the fetcher did not finish in time and was killed");
            else if (WIFSIGNALED(status))
                snprintf(cause, outlen - (size_t)(cause - out),
                         "the fetcher was killed by signal %d", WTERMSIG(status));
        }
    }
    if (n > 0)
        return;
    if (f->timed_out)
        snprintf(out, outlen, "Failed to fetch: the fetcher did not finish in time and was killed");
    else if (WIFEXITED(status))
        snprintf(out, outlen, "Failed to fetch: the fetcher exited with status %d",
                 WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, outlen, "Failed to fetch: the fetcher was killed by signal %d",
                 WTERMSIG(status));
    else
        snprintf(out, outlen, "Failed to fetch: the fetcher ended with wait status %d", status);
}

static void fetcher_exited(struct ag_agent *agent, pid_t pid, int status, void *arg)
{
    struct fetch *f = arg;
    struct ag_agent_executor *ex;
    char msg[RESULT_MAX];
    bool ok;

    (void)pid;
    if (!agent) { /* the agent is stopping */
        kill(f->pid, SIGKILL);
        fetch_free(f);
        return;
    }
    /* The fetcher empties its result file on success: a message left in
     * it means failure whatever the status says (a child reaped by someone
     * else is reported with status 0). */
    read_result(f, status, msg, sizeof(msg));
    ok = !f->timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !result_has_message(f);
    if (ok)
        n_succeeded++;
    else
        n_failed++;
    if (f->done_nested) {
        f->done_nested(agent, f->container_id, f->nested_id, ok ? NULL : msg);
        fetch_free(f);
        return;
    }
    ex = ag_agent_executor_find(ag_agent_framework_find(agent, f->framework_id), f->executor_id);
    if (ex && strcmp(ex->container_id, f->container_id) != 0)
        ex = NULL;
    if (ok)
        ag_info("fetched the URIs of executor '%s' of framework '%s'", f->executor_id,
                f->framework_id);
    else
        ag_warn("executor '%s' of framework '%s': %s", f->executor_id, f->framework_id, msg);
    if (ex)
        f->done(agent, ex, ok ? NULL : msg);
    fetch_free(f);
}

static void deadline_fired(void *arg)
{
    struct fetch *f = arg;
    ag_warn("the fetcher for executor '%s' (pid %d) is taking too long; killing it", f->executor_id,
            (int)f->pid);
    f->timed_out = true;
    kill(f->pid, SIGKILL);
}

static int write_input(struct ag_agent *agent, struct fetch *f, const json_t *uris,
                       const char *user, char *err, size_t errlen)
{
    struct ag_agent_sandbox_config *c = &ag_agent_sandbox_cfg;
    char cache[PATH_MAX + 16];
    json_t *in;
    int rc;

    /* The cache lives with the agent: <work_dir>/fetch-cache. */
    snprintf(cache, sizeof(cache), "%s/fetch-cache", agent->work_dir);
    in =
        json_pack("{s:O,s:s,s:s,s:I,s:f,s:f,s:s}", "uris", uris, "sandbox_directory", f->directory,
                  "cache_directory", cache, "cache_size", (json_int_t)c->cache_bytes, "timeout",
                  URI_TIMEOUT, "stall_timeout", c->fetcher_stall_timeout, "result_file", f->result);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (user)
        json_object_set_new(in, "user", json_string(user));
    rc = json_dump_file(in, f->input, JSON_COMPACT);
    json_decref(in);
    if (rc < 0) {
        snprintf(err, errlen, "cannot write the fetcher's input '%s'", f->input);
        return -EIO;
    }
    return 0;
}

static int spawn_fetcher(struct ag_agent *agent, struct fetch *f, char *err, size_t errlen)
{
    char exe[PATH_MAX + 32], out[PATH_MAX + 16], errf[PATH_MAX + 16];
    char *argv[] = {(char *)"agora-fetcher", f->input, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int rc;

    snprintf(exe, sizeof(exe), "%s/agora-fetcher", agent->launcher_dir);
    snprintf(out, sizeof(out), "%s/stdout", f->directory);
    snprintf(errf, sizeof(errf), "%s/stderr", f->directory);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addchdir_np(&fa, f->directory);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&f->pid, exe, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the fetcher '%s': %s", exe, strerror(rc));
        return -rc;
    }
    return 0;
}

/* Writes the input, spawns the fetcher and watches it; f is freed on
 * failure. */
static int fetch_begin(struct ag_agent *agent, struct fetch *f, const json_t *uris,
                       const char *user, char *err, size_t errlen)
{
    int rc;
    f->next = fetches;
    fetches = f;
    rc = write_input(agent, f, uris, user, err, errlen);
    if (rc == 0)
        rc = spawn_fetcher(agent, f, err, errlen);
    if (rc == 0)
        rc = ag_agent_child_watch(f->pid, fetcher_exited, f);
    if (rc < 0) {
        if (f->pid > 0) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, NULL, 0);
        }
        fetch_free(f);
        n_failed++;
        return rc;
    }
    f->deadline = ag_timer_new(agent->loop, deadline_fired, f);
    if (f->deadline)
        ag_timer_start(f->deadline, URI_TIMEOUT * (double)json_array_size(uris) + DEADLINE_PAD);
    return 0;
}

int ag_agent_fetch_nested(struct ag_agent *agent, const char *directory, const char *parent_cid,
                          const char *nested_id, const json_t *command, const char *user,
                          ag_agent_fetch_nested_cb done, char *err, size_t errlen)
{
    json_t *uris = json_array();
    struct fetch *f;
    int rc;
    if (!uris) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    append_uris(uris, command);
    if (json_array_size(uris) == 0) {
        json_decref(uris);
        return 1;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        json_decref(uris);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    f->directory = ag_agent_strdup(directory);
    f->executor_id = ag_agent_strdup(nested_id); /* for the log lines */
    f->framework_id = ag_agent_strdup(parent_cid);
    f->nested_id = ag_agent_strdup(nested_id);
    snprintf(f->container_id, sizeof(f->container_id), "%s", parent_cid);
    f->done_nested = done;
    snprintf(f->input, sizeof(f->input), "%s/fetch/%s-%s.json", agent->work_dir, parent_cid,
             nested_id);
    snprintf(f->result, sizeof(f->result), "%s/fetch/%s-%s.result", agent->work_dir, parent_cid,
             nested_id);
    rc = fetch_begin(agent, f, uris, user, err, errlen);
    if (rc == 0)
        ag_info("fetching %zu URI%s for nested container '%s' (fetcher pid %d)",
                json_array_size(uris), json_array_size(uris) == 1 ? "" : "s", nested_id,
                (int)f->pid);
    json_decref(uris);
    return rc;
}

int ag_agent_fetch_start(struct ag_agent *agent, struct ag_agent_executor *ex,
                         const json_t *task_info, const char *user, ag_agent_fetch_done_cb done,
                         char *err, size_t errlen)
{
    json_t *uris = ag_agent_fetch_uris(ex->info, task_info);
    struct fetch *f;
    int rc;

    if (!uris) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (json_array_size(uris) == 0) {
        json_decref(uris);
        return 1;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        json_decref(uris);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    f->framework_id = ag_agent_strdup(ex->framework->id);
    f->executor_id = ag_agent_strdup(ex->id);
    f->directory = ag_agent_strdup(ex->directory);
    memcpy(f->container_id, ex->container_id, sizeof(f->container_id));
    f->done = done;
    snprintf(f->input, sizeof(f->input), "%s/fetch/%s.json", agent->work_dir, ex->container_id);
    snprintf(f->result, sizeof(f->result), "%s/fetch/%s.result", agent->work_dir, ex->container_id);
    rc = fetch_begin(agent, f, uris, user, err, errlen);
    if (rc < 0) {
        json_decref(uris);
        return rc;
    }
    ag_info("fetching %zu URI%s for executor '%s' of framework '%s' (fetcher pid %d)",
            json_array_size(uris), json_array_size(uris) == 1 ? "" : "s", ex->id, ex->framework->id,
            (int)f->pid);
    json_decref(uris);
    return 0;
}
