/*
 * recover: an agent started on a work dir holding a checkpoint (§4.7).
 *
 * Runs once at start, before the event loop and the master link: the
 * agent keeps its id, re-creates the frameworks, executors and tasks of
 * checkpointing frameworks, and puts every unacknowledged status update
 * back in the status update manager (sent once re-registered). A live
 * executor (same pid and start time as checkpointed) is re-adopted: its
 * container, a pidfd to see it exit, and --executor_reregistration_timeout
 * to re-subscribe. One that died while the agent was down has its live
 * tasks failed. With --recover=cleanup the live ones are killed instead.
 * A file that cannot be read is logged (naming it) and skipped; the rest
 * is still recovered.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/internal.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"

/* Calls `fn` for each entry of `dir` that is a directory (not . or ..). */
static void each_subdir(const char *dir, void (*fn)(void *arg, const char *path, const char *name),
                        void *arg)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
            continue;
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
            continue;
        fn(arg, path, e->d_name);
    }
    closedir(d);
}

struct ctx {
    struct ag_agent *agent;
    struct ag_agent_framework *fw;
    struct ag_agent_executor *ex;
    const char *run_dir;
    size_t tasks, executors, live, dead, swept;
};

/* --- tasks --- */

static bool uuid_in(const json_t *uuids, const char *uuid)
{
    json_t *u;
    size_t i;
    json_array_foreach(uuids, i, u)
    {
        if (json_is_string(u) && uuid && strcmp(json_string_value(u), uuid) == 0)
            return true;
    }
    return false;
}

/* The task's updates: its statuses, its state, the unacknowledged ones
 * queued for the master again. Whether they are all acknowledged. */
static bool recover_updates(struct ag_agent *agent, struct ag_agent_task *t, const json_t *stream)
{
    json_t *updates = json_object_get(stream, "updates");
    json_t *acked = json_object_get(stream, "acked");
    json_t *s;
    size_t i;
    bool all_acked = true;

    json_array_foreach(updates, i, s)
    {
        const char *name = json_string_value(json_object_get(s, "state"));
        const char *uuid = json_string_value(json_object_get(s, "uuid"));
        enum ag_task_state state;
        if (!name || ag_task_state_parse(name, &state) < 0)
            continue;
        json_array_append(t->statuses, s);
        t->state = state;
        if (uuid_in(acked, uuid))
            continue;
        all_acked = false;
        if (ag_agent_sum_update(agent->sum, t->executor->framework->id, t->id, s) < 0)
            ag_warn("task '%s': cannot queue a recovered update again", t->id);
    }
    return all_acked;
}

static void recover_task(void *arg, const char *dir, const char *task_id)
{
    struct ctx *c = arg;
    struct ag_agent_executor *ex = c->ex;
    char path[PATH_MAX + 32], err[PATH_MAX + 256];
    json_t *info, *stream;
    struct ag_agent_task *t;
    bool acked;

    snprintf(path, sizeof(path), "%s/task.info", dir);
    info = ag_ckpt_read_json(path, err, sizeof(err));
    if (!info) {
        ag_error("recovery: skipping task '%s': %s", task_id, err);
        return;
    }
    t = ag_agent_task_new(ex, task_id, info);
    json_decref(info);
    if (!t)
        return;
    snprintf(path, sizeof(path), "%s/task.updates", dir);
    stream = NULL;
    if (access(path, F_OK) == 0) {
        stream = ag_ckpt_read_json(path, err, sizeof(err));
        if (!stream)
            ag_error("recovery: task '%s' keeps no updates: %s", task_id, err);
    }
    acked = recover_updates(c->agent, t, stream);
    json_decref(stream);
    c->tasks++;
    /* STAGING: maybe never handed to the executor, which says otherwise
     * in its SUBSCRIBE (unacknowledged_tasks); else launched. */
    if (t->state != AG_TASK_STAGING) {
        ag_agent_list_del(&t->node);
        if (ag_task_state_is_terminal(t->state) && acked) {
            ag_agent_list_add_tail(&ex->completed, &t->node);
            ex->n_completed++;
        } else {
            ag_agent_list_add_tail(&ex->launched, &t->node);
        }
    }
}

/* --- executors --- */

/* Fails every live task of `ex` (queued ones too). */
static void fail_tasks(struct ag_agent *agent, struct ag_agent_executor *ex, const char *reason,
                       const char *message)
{
    struct ag_agent_list *pos, *tmp;
    ag_agent_list_for_each(pos, tmp, &ex->queued)
    {
        struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
        ag_agent_list_del(&t->node);
        ag_agent_list_add_tail(&ex->launched, &t->node);
    }
    ag_agent_list_for_each(pos, tmp, &ex->launched)
    {
        ag_agent_task_fail(agent, ag_agent_list_entry(pos, struct ag_agent_task, node),
                           AG_TASK_FAILED, reason, message);
    }
}

/* The exit status agora-container-init left in the run directory, or -1. */
static int status_file(const char *run_dir)
{
    char path[PATH_MAX + 128];
    FILE *f;
    int status = -1;
    snprintf(path, sizeof(path), "%s/exit_status", run_dir);
    f = fopen(path, "re");
    if (!f)
        return -1;
    if (fscanf(f, "%d", &status) != 1)
        status = -1;
    fclose(f);
    return status;
}

static void describe_exit(int status, char *out, size_t outlen)
{
    if (status < 0)
        snprintf(out, outlen, "Executor exited while the agent was down");
    else if ((status & 0x7f) == 0)
        snprintf(out, outlen, "Executor exited with status %d while the agent was down",
                 (status >> 8) & 0xff);
    else
        snprintf(out, outlen, "Executor was terminated with signal %s while the agent was down",
                 strsignal(status & 0x7f));
}

/* Its container again (cgroups from run.info). */
static void recover_container(struct ag_agent *agent, struct ag_agent_executor *ex,
                              const json_t *run)
{
    char err[512];
    int rc;
    if (!json_is_true(json_object_get(run, "container")) || !ag_cz_isolating(agent->cz))
        return;
    rc = ag_cz_recover(agent->cz, ex->container_id, ex->directory, ex->pid,
                       json_real_value(json_object_get(run, "cpus")),
                       json_real_value(json_object_get(run, "mem")),
                       json_real_value(json_object_get(run, "disk")),
                       json_object_get(run, "cgroups"), ex, &ex->container, err, sizeof(err));
    if (rc < 0)
        ag_warn("recovery: executor '%s': %s", ex->id, err);
}

/* The executor's process, if it is still the one we started. */
static bool run_alive(const json_t *run, pid_t *ret_pid, unsigned long long *ret_start)
{
    json_int_t pid = json_integer_value(json_object_get(run, "pid"));
    json_int_t start = json_integer_value(json_object_get(run, "start_time"));
    unsigned long long now;
    if (pid <= 0 || start <= 0)
        return false;
    now = ag_ckpt_proc_start_time((pid_t)pid);
    /* A different start time: the pid was reused by another process. */
    if (now == 0 || now != (unsigned long long)start)
        return false;
    *ret_pid = (pid_t)pid;
    *ret_start = now;
    return true;
}

static void adopt_live(struct ctx *c, struct ag_agent_executor *ex, bool cleanup)
{
    struct ag_agent *agent = c->agent;
    ag_agent_reap_watch(agent, ex, false);
    if (cleanup) {
        ag_info("recovery: killing executor '%s' of framework '%s' (pid %d): --recover=cleanup",
                ex->id, ex->framework->id, (int)ex->pid);
        ex->state = AG_AGENT_EXECUTOR_TERMINATING;
        fail_tasks(agent, ex, "REASON_AGENT_RESTARTED",
                   "Killed by --recover=cleanup when the agent restarted");
        ag_agent_executor_kill(ex, SIGKILL);
        return;
    }
    ex->recovered = true;
    ex->state = AG_AGENT_EXECUTOR_RUNNING;
    ag_timer_start(ex->registration_timer, agent->cfg.executor_reregistration_timeout);
    ag_info("recovery: executor '%s' of framework '%s' (pid %d) is alive; waiting %gs for it to "
            "re-subscribe",
            ex->id, ex->framework->id, (int)ex->pid, agent->cfg.executor_reregistration_timeout);
}

static void bury_dead(struct ctx *c, struct ag_agent_executor *ex, const char *run_dir)
{
    struct ag_agent *agent = c->agent;
    char msg[256];
    describe_exit(status_file(run_dir), msg, sizeof(msg));
    ag_info("recovery: executor '%s' of framework '%s': %s", ex->id, ex->framework->id, msg);
    ag_agent_nested_executor_gone(agent, ex); /* before the parent's cgroups go */
    ex->state = AG_AGENT_EXECUTOR_TERMINATED;
    fail_tasks(agent, ex, "REASON_EXECUTOR_TERMINATED", msg);
    if (ex->container) {
        ag_cz_destroy(agent->cz, ex->container);
        ex->container = NULL;
    }
    ag_agent_executor_maybe_complete(agent, ex);
}

static void recover_executor(void *arg, const char *dir, const char *executor_id)
{
    struct ctx *c = arg;
    struct ag_agent *agent = c->agent;
    char path[PATH_MAX + 128], run_dir[PATH_MAX + 64], err[PATH_MAX + 256];
    json_t *ckpt, *run = NULL;
    const char *cid;
    struct ag_agent_executor *ex;
    pid_t pid = 0;
    unsigned long long start = 0;

    snprintf(path, sizeof(path), "%s/executor.info", dir);
    ckpt = ag_ckpt_read_json(path, err, sizeof(err));
    cid = json_string_value(json_object_get(ckpt, "container_id"));
    if (!ckpt || !cid || strlen(cid) >= AG_UUID_STR_LEN ||
        !json_is_object(json_object_get(ckpt, "info"))) {
        ag_error("recovery: skipping executor '%s': %s", executor_id,
                 ckpt ? "executor.info lacks info or container_id" : err);
        json_decref(ckpt);
        return;
    }
    ex = ag_agent_executor_new(c->fw, executor_id, json_deep_copy(json_object_get(ckpt, "info")),
                               json_is_true(json_object_get(ckpt, "command")));
    if (!ex) {
        json_decref(ckpt);
        return;
    }
    snprintf(ex->container_id, sizeof(ex->container_id), "%s", cid);
    if (json_is_true(json_object_get(ckpt, "default_exec"))) {
        const char *token = json_string_value(json_object_get(ckpt, "token"));
        ex->default_exec = true;
        if (token && strlen(token) < sizeof(ex->token))
            snprintf(ex->token, sizeof(ex->token), "%s", token);
    }
    json_decref(ckpt);
    snprintf(run_dir, sizeof(run_dir), "%s/runs/%s", dir, ex->container_id);
    snprintf(path, sizeof(path), "%s/run.info", run_dir);
    if (access(path, F_OK) < 0) /* the agent died before it started a process */
        ag_info("recovery: executor '%s' never started", executor_id);
    else if (!(run = ag_ckpt_read_json(path, err, sizeof(err))))
        ag_error("recovery: executor '%s' has no usable run: %s", executor_id, err);
    if (run && json_string_length(json_object_get(run, "directory")) > 0)
        ex->directory = ag_agent_strdup(json_string_value(json_object_get(run, "directory")));
    c->ex = ex;
    c->executors++;
    snprintf(path, sizeof(path), "%s/tasks", run_dir);
    each_subdir(path, recover_task, c);
    if (run_alive(run, &pid, &start)) {
        ex->pid = pid;
        ex->start_time = start;
        recover_container(agent, ex, run);
        ag_agent_nested_recover(agent, ex);
        adopt_live(c, ex, strcmp(agent->cfg.recover, "cleanup") == 0);
        c->live++;
    } else {
        recover_container(agent, ex, run); /* to remove its cgroups */
        ag_agent_nested_recover(agent, ex);
        bury_dead(c, ex, run_dir);
        c->dead++;
    }
    json_decref(run);
}

/* --- frameworks --- */

static void recover_framework(void *arg, const char *dir, const char *framework_id)
{
    struct ctx *c = arg;
    char path[PATH_MAX + 32], err[PATH_MAX + 256];
    json_t *info;

    snprintf(path, sizeof(path), "%s/framework.info", dir);
    info = ag_ckpt_read_json(path, err, sizeof(err));
    if (!info) {
        ag_error("recovery: skipping framework '%s': %s", framework_id, err);
        return;
    }
    c->fw = ag_agent_framework_get(c->agent, framework_id, info);
    json_decref(info);
    if (!c->fw)
        return;
    snprintf(path, sizeof(path), "%s/executors", dir);
    each_subdir(path, recover_executor, c);
    ag_agent_framework_maybe_complete(c->agent, c->fw);
}

/* --- executors of frameworks that do not checkpoint --- */

/* Killed, as in Mesos: nobody is left to report their tasks to. */
static void sweep_container(void *arg, const char *path, const char *cid)
{
    struct ctx *c = arg;
    struct ag_agent *agent = c->agent;
    char err[PATH_MAX + 256];
    json_t *run = ag_ckpt_read_json(path, err, sizeof(err));
    pid_t pid = 0;
    unsigned long long start = 0;
    struct ag_cz_container *cont = NULL;

    if (!run) {
        ag_error("recovery: %s", err);
        unlink(path);
        return;
    }
    if (json_is_true(json_object_get(run, "container")) && ag_cz_isolating(agent->cz) &&
        strlen(cid) < AG_UUID_STR_LEN &&
        ag_cz_recover(agent->cz, cid, json_string_value(json_object_get(run, "directory")), 0, 0, 0,
                      0, json_object_get(run, "cgroups"), NULL, &cont, err, sizeof(err)) < 0)
        cont = NULL;
    if (run_alive(run, &pid, &start)) {
        ag_info("recovery: killing executor '%s' of framework '%s' (pid %d): its framework does "
                "not checkpoint",
                json_string_value(json_object_get(run, "executor_id")),
                json_string_value(json_object_get(run, "framework_id")), (int)pid);
        ag_agent_kill_executor(agent->cz, cont, pid, SIGKILL);
        c->swept++;
    }
    ag_cz_destroy(agent->cz, cont); /* kills the rest, removes the cgroups */
    json_decref(run);
    unlink(path);
}

/* Files (not directories) of `dir`. */
static void each_file(const char *dir, void (*fn)(void *arg, const char *path, const char *name),
                      void *arg)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp"))
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
            continue;
        fn(arg, path, e->d_name);
    }
    closedir(d);
}

static bool id_ok(const char *id)
{
    return *id && strcmp(id, ".") != 0 && strcmp(id, "..") != 0 && !strchr(id, '/');
}

int ag_agent_recover(struct ag_agent *agent, char *err, size_t errlen)
{
    char link[PATH_MAX], id[256], dir[PATH_MAX + 300];
    struct ctx c;
    ssize_t n;

    snprintf(link, sizeof(link), "%s/meta/slaves/latest", agent->work_dir);
    n = readlink(link, id, sizeof(id) - 1);
    if (n < 0) {
        if (errno == ENOENT)
            return 0; /* a new agent */
        snprintf(err, errlen, "checkpoint '%s': %s", link, strerror(errno));
        return -errno;
    }
    id[n] = '\0';
    if (!id_ok(id)) {
        snprintf(err, errlen, "checkpoint '%s' does not name an agent id ('%s')", link, id);
        return -EINVAL;
    }
    agent->recovering = true;
    free(agent->id);
    agent->id = ag_agent_strdup(id);
    memset(&c, 0, sizeof(c));
    c.agent = agent;
    snprintf(dir, sizeof(dir), "%s/meta/slaves/%s/frameworks", agent->work_dir, id);
    each_subdir(dir, recover_framework, &c);
    snprintf(dir, sizeof(dir), "%s/meta/slaves/%s/containers", agent->work_dir, id);
    each_file(dir, sweep_container, &c);
    agent->recovering = false;
    ag_info("recovered agent '%s' (--recover=%s): %zu executors (%zu alive, %zu gone), %zu tasks; "
            "%zu executors of frameworks without checkpointing killed",
            id, agent->cfg.recover, c.executors, c.live, c.dead, c.tasks, c.swept);
    return 0;
}
