/*
 * nested: containers nested in an executor's container, made through the
 * operator calls LAUNCH_CONTAINER, WAIT_CONTAINER, KILL_CONTAINER and
 * REMOVE_CONTAINER (agent.proto, §6). The default executor runs each task
 * of a task group as one of them.
 *
 * A nested container's ContainerID has a `parent`: the container id of a
 * live executor on this agent (nesting deeper is refused). Its sandbox is
 * <executor sandbox>/containers/<id>; its cgroups are children of the
 * executor's with the limits of its own resources; it joins the
 * executor's namespaces (ag_cz_launch_nested). Its stdout/stderr go
 * through the rotating loggers like an executor's.
 *
 * Who may act on a nested container: a request bearing an executor's
 * token ("Authorization: Bearer <MESOS_EXECUTOR_AUTHENTICATION_TOKEN>")
 * only in that executor's own container (403 otherwise); a request
 * without one is an operator's, as for every other call of the agent's
 * operator API, which has no authentication yet.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/internal.h"
#include "agent/sandboxes.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"

extern char **environ;

#define MAX_ID 64

struct ag_agent_nested {
    struct ag_agent_list node; /* in the parent executor's `nested` list */
    struct ag_agent_executor *parent;
    char id[MAX_ID];
    char *directory;
    pid_t pid; /* the helper (or the task itself), > 0 while it lives */
    struct ag_cz_container *container;
    double cpus, mem;
    bool exited;
    int status; /* wait status once exited */
    char *reason, *message;
    json_t *limitation;
    struct ag_http_req **waiters; /* WAIT_CONTAINER calls held open */
    size_t n_waiters;
    /* While its CommandInfo.uris are fetched: the LAUNCH_CONTAINER call
     * held open, and what to start once they are there. */
    struct ag_http_req *launch_req;
    json_t *command;
    char *user;
    bool killed_early; /* KILL_CONTAINER during the fetch */
    /* Recovery: the process start time (pid reuse), and for a container
     * re-adopted by a restarted agent (not its child) a pidfd watch. */
    unsigned long long start_time;
    int pidfd;
    struct event *pidfd_ev;
};

bool ag_agent_nested_handles(const char *type)
{
    return strcmp(type, "LAUNCH_CONTAINER") == 0 || strcmp(type, "WAIT_CONTAINER") == 0 ||
           strcmp(type, "KILL_CONTAINER") == 0 || strcmp(type, "REMOVE_CONTAINER") == 0;
}

/* --- lookups --- */

static struct ag_agent_executor *executor_by_container(struct ag_agent *agent, const char *cid)
{
    struct ag_agent_list *fpos, *epos;
    for (fpos = agent->frameworks.next; fpos != &agent->frameworks; fpos = fpos->next) {
        struct ag_agent_framework *fw = ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        for (epos = fw->executors.next; epos != &fw->executors; epos = epos->next) {
            struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            if (strcmp(ex->container_id, cid) == 0)
                return ex;
        }
    }
    return NULL;
}

static struct ag_agent_nested *nested_in(struct ag_agent_executor *ex, const char *id)
{
    struct ag_agent_list *pos;
    for (pos = ex->nested.next; pos != &ex->nested; pos = pos->next) {
        struct ag_agent_nested *n = ag_agent_list_entry(pos, struct ag_agent_nested, node);
        if (strcmp(n->id, id) == 0)
            return n;
    }
    return NULL;
}

/* Calls fn for every nested container of every live executor until it
 * returns true; that one is returned. */
static struct ag_agent_nested *nested_find_if(struct ag_agent *agent,
                                              bool (*fn)(struct ag_agent_nested *, const void *),
                                              const void *key)
{
    struct ag_agent_list *fpos, *epos, *npos;
    for (fpos = agent->frameworks.next; fpos != &agent->frameworks; fpos = fpos->next) {
        struct ag_agent_framework *fw = ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        for (epos = fw->executors.next; epos != &fw->executors; epos = epos->next) {
            struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            for (npos = ex->nested.next; npos != &ex->nested; npos = npos->next) {
                struct ag_agent_nested *n = ag_agent_list_entry(npos, struct ag_agent_nested, node);
                if (fn(n, key))
                    return n;
            }
        }
    }
    return NULL;
}

static bool has_pid(struct ag_agent_nested *n, const void *key)
{
    return n->pid > 0 && n->pid == *(const pid_t *)key;
}

static bool has_container(struct ag_agent_nested *n, const void *key)
{
    return n->container && n->container == key;
}

/* --- checkpoint (checkpointing frameworks only) --- */

/* <executor run dir>/nested/<id>/<file>; -ENOENT when not checkpointed. */
static int ckpt_path(const struct ag_agent_nested *n, const char *file, char *out, size_t outlen)
{
    char rel[MAX_ID + 64];
    snprintf(rel, sizeof(rel), "nested/%s%s%s", n->id, file ? "/" : "", file ? file : "");
    return ag_agent_ckpt_run_path(n->parent, rel, out, outlen);
}

/* {pid, start_time, directory, cpus, mem, cgroups} and, once it ended,
 * {exited, status, reason, message}: what a restarted agent needs to
 * re-adopt it or to answer WAIT_CONTAINER for it. */
static void ckpt_nested(const struct ag_agent_nested *n)
{
    char path[PATH_MAX];
    json_t *obj;
    if (ckpt_path(n, "container.info", path, sizeof(path)) < 0)
        return;
    obj = json_pack("{s:i,s:I,s:s,s:f,s:f,s:b,s:i}", "pid", (int)n->pid, "start_time",
                    (json_int_t)n->start_time, "directory", n->directory ? n->directory : "",
                    "cpus", n->cpus, "mem", n->mem, "exited", n->exited, "status", n->status);
    if (!obj)
        return;
    if (n->container)
        json_object_set_new(obj, "cgroups", ag_cz_container_cgroups(n->container));
    if (n->reason)
        json_object_set_new(obj, "reason", json_string(n->reason));
    if (n->message)
        json_object_set_new(obj, "message", json_string(n->message));
    if (ag_ckpt_write_json(path, obj) < 0)
        ag_error("cannot checkpoint nested container '%s'", n->id);
    json_decref(obj);
}

static void ckpt_nested_remove(const struct ag_agent_nested *n)
{
    char path[PATH_MAX];
    if (ckpt_path(n, NULL, path, sizeof(path)) == 0 && ag_ckpt_remove_tree(path) < 0 &&
        errno != ENOENT)
        ag_warn("cannot remove the checkpoint '%s': %s", path, strerror(errno));
}

static void unwatch(struct ag_agent_nested *n)
{
    if (n->pidfd_ev) {
        event_free(n->pidfd_ev);
        n->pidfd_ev = NULL;
    }
    if (n->pidfd > 0) {
        close(n->pidfd);
        n->pidfd = 0;
    }
}

/* --- lifetime --- */

static json_t *wait_answer(const struct ag_agent_nested *n)
{
    json_t *w = json_pack("{s:i}", "exit_status", n->status);
    if (n->reason) {
        json_object_set_new(w, "state", json_string("TASK_FAILED"));
        json_object_set_new(w, "reason", json_string(n->reason));
    }
    if (n->message)
        json_object_set_new(w, "message", json_string(n->message));
    if (n->limitation)
        json_object_set(w, "limitation", n->limitation);
    return json_pack("{s:s,s:o}", "type", "WAIT_CONTAINER", "wait_container", w);
}

static void answer_waiters(struct ag_agent_nested *n)
{
    for (size_t i = 0; i < n->n_waiters; i++)
        ag_http_reply_json(n->waiters[i], 200, wait_answer(n));
    free(n->waiters);
    n->waiters = NULL;
    n->n_waiters = 0;
}

/* The container's process ended (or it is given up): checks the limits
 * one last time (an OOM kill is reported as such), removes the cgroups,
 * answers the waiters. */
static void nested_ended(struct ag_agent *agent, struct ag_agent_nested *n, int status)
{
    char how[96];
    unwatch(n);
    n->exited = true;
    n->status = status;
    n->pid = 0;
    if (n->container) {
        ag_cz_check(agent->cz, n->container);
        ag_cz_destroy(agent->cz, n->container);
        n->container = NULL;
    }
    if (WIFEXITED(status))
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "was terminated by signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof(how), "ended with wait status %d", status);
    ag_info("nested container '%s' of executor '%s' %s", n->id, n->parent->id, how);
    ckpt_nested(n); /* before the answer: a restart still knows it */
    answer_waiters(n);
}

static void nested_free(struct ag_agent_nested *n)
{
    unwatch(n);
    ag_agent_list_del(&n->node);
    free(n->directory);
    free(n->reason);
    free(n->message);
    json_decref(n->limitation);
    free(n->waiters);
    json_decref(n->command);
    free(n->user);
    free(n);
}

static void child_exited(struct ag_agent *agent, pid_t pid, int status, void *arg)
{
    struct ag_agent_nested *n = nested_find_if(agent, has_pid, &pid);
    (void)arg;
    if (n)
        nested_ended(agent, n, status);
}

void ag_agent_nested_executor_gone(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    struct ag_agent_list *pos, *tmp;
    if (!ex->nested.next)
        return;
    ag_agent_list_for_each(pos, tmp, &ex->nested)
    {
        struct ag_agent_nested *n = ag_agent_list_entry(pos, struct ag_agent_nested, node);
        if (n->launch_req) {
            ag_http_reply_error(n->launch_req, 500, "the parent container '%s' ended",
                                ex->container_id);
            n->launch_req = NULL;
        }
        if (!n->exited) {
            ag_agent_kill_executor(agent->cz, n->container, n->pid, SIGKILL);
            /* The helper is still reaped by the child watch; the
             * container is reported killed now. */
            if (!n->message)
                n->message = ag_agent_strdup("The parent container ended");
            nested_ended(agent, n, SIGKILL);
        }
        nested_free(n);
    }
}

void ag_agent_nested_release(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    struct ag_agent_list *pos, *tmp;
    if (!ex->nested.next)
        return;
    ag_agent_list_for_each(pos, tmp, &ex->nested)
    {
        struct ag_agent_nested *n = ag_agent_list_entry(pos, struct ag_agent_nested, node);
        if (n->launch_req) {
            ag_http_reply_error(n->launch_req, 503, "the agent is restarting");
            n->launch_req = NULL;
        }
        /* Not an answer: the executor asks again the next agent. */
        for (size_t i = 0; i < n->n_waiters; i++)
            ag_http_reply_error(n->waiters[i], 503,
                                "the agent is restarting; wait for container '%s' again", n->id);
        n->n_waiters = 0;
        ag_cz_release(agent->cz, n->container);
        n->container = NULL;
        nested_free(n);
    }
}

void ag_agent_nested_limited(struct ag_agent *agent, struct ag_cz_container *c, const char *reason,
                             const char *message, const json_t *limitation)
{
    struct ag_agent_nested *n = nested_find_if(agent, has_container, c);
    if (!n || n->reason)
        return;
    n->reason = ag_agent_strdup(reason);
    free(n->message);
    n->message = ag_agent_strdup(message);
    n->limitation = json_deep_copy(limitation);
}

void ag_agent_nested_containers(struct ag_agent *agent, struct ag_agent_executor *ex, json_t *out)
{
    struct ag_agent_list *pos;
    if (!ex->nested.next)
        return;
    for (pos = ex->nested.next; pos != &ex->nested; pos = pos->next) {
        struct ag_agent_nested *n = ag_agent_list_entry(pos, struct ag_agent_nested, node);
        json_t *cid =
            json_pack("{s:s,s:{s:s}}", "value", n->id, "parent", "value", ex->container_id);
        json_t *c = json_pack("{s:{s:s},s:{s:s},s:O}", "framework_id", "value", ex->framework->id,
                              "executor_id", "value", ex->id, "container_id", cid);
        json_t *status = json_pack("{s:O}", "container_id", cid);
        if (n->pid > 0)
            json_object_set_new(status, "executor_pid", json_integer(n->pid));
        json_object_set_new(c, "container_status", status);
        if (n->container)
            json_object_set_new(c, "resource_statistics",
                                ag_cz_statistics(agent->cz, n->container));
        json_decref(cid);
        json_array_append_new(out, c);
    }
}

/* --- the calls --- */

/* A ContainerID {value, parent: {value}} naming a nested container of a
 * live executor. 0 with *ret_ex, *ret_id; else an HTTP code and message. */
static int parse_container_id(struct ag_agent *agent, const json_t *payload, const char *what,
                              struct ag_agent_executor **ret_ex, const char **ret_id, char *err,
                              size_t errlen)
{
    json_t *cid = ag_json_get(payload, "container_id");
    const char *value = json_string_value(ag_json_get(cid, "value"));
    json_t *parent = ag_json_get(cid, "parent");
    const char *pvalue = json_string_value(ag_json_get(parent, "value"));
    if (!json_is_object(cid) || !value) {
        snprintf(err, errlen, "'%s.container_id' must be {\"value\": string, \"parent\": ...}",
                 what);
        return 400;
    }
    if (!parent) {
        snprintf(err, errlen,
                 "'%s.container_id' has no 'parent': only nested containers (in an executor's "
                 "container) can be managed here",
                 what);
        return 400;
    }
    if (!pvalue) {
        snprintf(err, errlen, "'%s.container_id.parent' must be {\"value\": string}", what);
        return 400;
    }
    if (ag_json_get(parent, "parent")) {
        snprintf(err, errlen, "container '%s' is nested more than one level deep", value);
        return 400;
    }
    size_t len = strlen(value);
    if (len == 0 || len >= MAX_ID || strcmp(value, ".") == 0 || strcmp(value, "..") == 0 ||
        strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != len) {
        snprintf(err, errlen,
                 "container id '%s' must be 1 to %d characters among letters, digits, '-', '_' "
                 "and '.'",
                 value, MAX_ID - 1);
        return 400;
    }
    *ret_ex = executor_by_container(agent, pvalue);
    if (!*ret_ex || (*ret_ex)->pid <= 0) {
        snprintf(err, errlen, "parent container '%s' is not the container of a running executor",
                 pvalue);
        return 400;
    }
    *ret_id = value;
    return 0;
}

/* An executor's token may act in its own container only. */
static int authorize(struct ag_http_req *req, const struct ag_agent_executor *ex, char *err,
                     size_t errlen)
{
    const char *auth = ag_http_req_header(req, "Authorization");
    if (!auth)
        return 0;
    if (strncmp(auth, "Bearer ", 7) == 0 && ex->token[0] && strcmp(auth + 7, ex->token) == 0)
        return 0;
    snprintf(err, errlen,
             "the credentials given do not belong to the executor of container '%s' (an "
             "executor may manage nested containers in its own container only)",
             ex->container_id);
    return 403;
}

/* The user a nested container runs as: its CommandInfo.user, else the
 * framework's (none with --switch_user=false or without isolation). */
static const char *nested_user(struct ag_agent *agent, const struct ag_agent_executor *ex,
                               const json_t *command)
{
    const char *user;
    if (!ag_cz_switch_user(agent->cz) || !ag_cz_isolating(agent->cz))
        return NULL;
    user = json_string_value(ag_json_get(command, "user"));
    return user ? user : json_string_value(ag_json_get(ex->framework->info, "user"));
}

static int make_sandbox(const struct ag_agent_executor *ex, const char *id, const char *user,
                        char **ret, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct passwd *pw;
    snprintf(path, sizeof(path), "%s/containers", ex->directory);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/containers/%s", ex->directory, id);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the sandbox '%.700s': %s", path, strerror(errno));
        return -errno;
    }
    pw = user && geteuid() == 0 ? getpwnam(user) : NULL;
    if (pw && pw->pw_uid != 0 && chown(path, pw->pw_uid, pw->pw_gid) < 0)
        ag_warn("cannot give sandbox '%s' to user '%s': %s", path, user, strerror(errno));
    *ret = ag_agent_strdup(path);
    return 0;
}

/* Starts the container's process. */
static int nested_start(struct ag_agent *agent, struct ag_agent_nested *n, const json_t *command,
                        const char *user, char *err, size_t errlen)
{
    struct ag_agent_executor *ex = n->parent;
    struct ag_agent_env env;
    struct ag_cz_launch l;
    char *path = NULL, **argv, status_file[PATH_MAX], dir[PATH_MAX];
    int rc, out_fd = -1, err_fd = -1;

    argv = ag_agent_command_argv(command, &path, err, errlen);
    if (!argv)
        return -EINVAL;
    ag_agent_env_init(&env);
    rc = ag_agent_env_merge(&env, environ);
    if (rc == 0)
        rc = ag_agent_env_set(&env, "MESOS_SANDBOX", n->directory);
    if (rc == 0)
        rc = ag_agent_env_set(&env, "MESOS_DIRECTORY", n->directory);
    if (rc == 0)
        rc = ag_agent_env_merge_json(&env, ag_json_get(command, "environment"));
    if (rc < 0) {
        snprintf(err, errlen, "cannot build the environment: %s", strerror(-rc));
        goto out;
    }
    if (!ag_cz_isolating(agent->cz) || !ex->container) {
        rc = ag_agent_spawn(path, argv, env.vars, n->directory, &n->pid, err, errlen);
        goto out;
    }
    rc = ag_agent_launch_io(n->directory, &out_fd, &err_fd, err, errlen);
    if (rc < 0)
        goto out;
    memset(&l, 0, sizeof(l));
    l.container_id = n->id;
    l.sandbox = n->directory;
    l.cpus = n->cpus;
    l.mem_mb = n->mem;
    l.user = user;
    l.path = path;
    l.argv = argv;
    l.envp = env.vars;
    l.out_fd = out_fd;
    l.err_fd = err_fd;
    l.owner = n;
    if (ckpt_path(n, "exit_status", status_file, sizeof(status_file)) == 0 &&
        ckpt_path(n, NULL, dir, sizeof(dir)) == 0 && ag_agent_mkdirs(dir, 0755) == 0)
        l.status_file = status_file;
    rc = ag_cz_launch_nested(agent->cz, ex->container, &l, &n->container, &n->pid, err, errlen);
    close(out_fd);
    close(err_fd);
out:
    ag_agent_env_release(&env);
    ag_agent_argv_free(argv);
    free(path);
    return rc;
}

static int check_container_info(const json_t *payload, char *err, size_t errlen)
{
    json_t *ci = ag_json_get(payload, "container");
    const char *type = json_string_value(ag_json_get(ci, "type"));
    if (!ci)
        return 0;
    if ((type && strcmp(type, "MESOS") != 0) || ag_json_get(ag_json_get(ci, "mesos"), "image")) {
        snprintf(err, errlen,
                 "'launch_container.container': only a MESOS container without an image is "
                 "supported");
        return 400;
    }
    return 0;
}

static void launched(struct ag_agent_nested *n)
{
    if (ag_agent_child_watch(n->pid, child_exited, NULL) < 0)
        ag_warn("cannot watch nested container '%s' (pid %d)", n->id, (int)n->pid);
    n->start_time = ag_ckpt_proc_start_time(n->pid);
    ckpt_nested(n);
    ag_info("launched nested container '%s' in executor '%s' (pid %d, cpus %g, mem %g MB) in '%s'",
            n->id, n->parent->id, (int)n->pid, n->cpus, n->mem, n->directory);
}

/* The fetch of a nested container's URIs ended: start it, or end it with
 * the fetcher's message; the held LAUNCH_CONTAINER is answered now. */
static void fetched(struct ag_agent *agent, const char *parent_cid, const char *nested_id,
                    const char *error)
{
    struct ag_agent_executor *ex = executor_by_container(agent, parent_cid);
    struct ag_agent_nested *n = ex ? nested_in(ex, nested_id) : NULL;
    struct ag_http_req *req;
    char err[1024];
    if (!n || !n->launch_req)
        return;
    req = n->launch_req;
    n->launch_req = NULL;
    if (n->killed_early)
        error = "The container was killed while its URIs were fetched";
    if (!error && nested_start(agent, n, n->command, n->user, err, sizeof(err)) < 0)
        error = err;
    if (error) {
        ag_warn("cannot launch nested container '%s' in executor '%s': %s", n->id, ex->id, error);
        n->message = ag_agent_strdup(error);
        nested_ended(agent, n, n->killed_early ? SIGKILL : 127 << 8);
        ag_http_reply_error(req, 500, "%s", error);
        return;
    }
    launched(n);
    ag_http_reply(req, 200, NULL, NULL, 0);
}

static int call_launch(struct ag_agent *agent, struct ag_http_req *req, const json_t *payload,
                       char *err, size_t errlen)
{
    struct ag_agent_executor *ex;
    struct ag_agent_nested *n;
    struct ag_resources res;
    const json_t *command = ag_json_get(payload, "command");
    const char *id, *user;
    char e[256];
    int code;

    if (!json_is_object(payload)) {
        snprintf(err, errlen, "'launch_container' must be an object");
        return 400;
    }
    if ((code = parse_container_id(agent, payload, "launch_container", &ex, &id, err, errlen)) ||
        (code = authorize(req, ex, err, errlen)) ||
        (code = check_container_info(payload, err, errlen)))
        return code;
    if (nested_in(ex, id)) {
        ag_http_reply(req, 202, NULL, NULL, 0);
        return 0;
    }
    if (ex->state == AG_AGENT_EXECUTOR_TERMINATING || ex->state == AG_AGENT_EXECUTOR_TERMINATED) {
        snprintf(err, errlen, "executor '%s' is terminating", ex->id);
        return 400;
    }
    if (!json_is_object(command)) {
        snprintf(err, errlen, "'launch_container.command' must be a CommandInfo object");
        return 400;
    }
    ag_resources_init(&res);
    if (ag_json_get(payload, "resources") &&
        ag_resources_from_json(ag_json_get(payload, "resources"), &res, e, sizeof(e)) < 0) {
        snprintf(err, errlen, "'launch_container.resources': %s", e);
        return 400;
    }
    user = nested_user(agent, ex, command);
    if (ag_agent_user_check(user, err, errlen) < 0) {
        ag_resources_release(&res);
        return 400;
    }
    n = calloc(1, sizeof(*n));
    if (!n) {
        ag_resources_release(&res);
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    snprintf(n->id, sizeof(n->id), "%s", id);
    n->parent = ex;
    n->cpus = ag_resources_scalar(&res, "cpus");
    n->mem = ag_resources_scalar(&res, "mem");
    ag_resources_release(&res);
    int rc = make_sandbox(ex, id, user, &n->directory, err, errlen);
    if (rc == 0)
        rc = ag_agent_fetch_nested(agent, n->directory, ex->container_id, id, command, user,
                                   fetched, err, errlen);
    if (rc == 0) {
        /* Launched once the URIs are there (fetched), answered then. */
        n->command = json_deep_copy(command);
        n->user = user ? ag_agent_strdup(user) : NULL;
        n->launch_req = req;
        ag_agent_list_add_tail(&ex->nested, &n->node);
        return 0;
    }
    if (rc == 1)
        rc = nested_start(agent, n, command, user, err, errlen);
    if (rc < 0) {
        ag_warn("cannot launch nested container '%s' in executor '%s': %s", id, ex->id, err);
        free(n->directory);
        free(n);
        return 500;
    }
    ag_agent_list_add_tail(&ex->nested, &n->node);
    launched(n);
    ag_http_reply(req, 200, NULL, NULL, 0);
    return 0;
}

/* The nested container a WAIT/KILL/REMOVE names: 0, or 400/403/404. */
static int find_named(struct ag_agent *agent, struct ag_http_req *req, const json_t *payload,
                      const char *what, struct ag_agent_nested **ret, char *err, size_t errlen)
{
    struct ag_agent_executor *ex;
    const char *id;
    int code;
    if (!json_is_object(payload)) {
        snprintf(err, errlen, "'%s' must be an object", what);
        return 400;
    }
    if ((code = parse_container_id(agent, payload, what, &ex, &id, err, errlen)) ||
        (code = authorize(req, ex, err, errlen)))
        return code;
    *ret = nested_in(ex, id);
    if (!*ret) {
        snprintf(err, errlen, "container '%s' not found in executor '%s'", id, ex->id);
        return 404;
    }
    return 0;
}

static int call_wait(struct ag_agent *agent, struct ag_http_req *req, const json_t *payload,
                     char *err, size_t errlen)
{
    struct ag_agent_nested *n;
    int code = find_named(agent, req, payload, "wait_container", &n, err, errlen);
    if (code)
        return code;
    if (n->exited) {
        ag_http_reply_json(req, 200, wait_answer(n));
        return 0;
    }
    struct ag_http_req **w = realloc(n->waiters, (n->n_waiters + 1) * sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    n->waiters = w;
    n->waiters[n->n_waiters++] = req;
    return 0;
}

static int call_kill(struct ag_agent *agent, struct ag_http_req *req, const json_t *payload,
                     char *err, size_t errlen)
{
    struct ag_agent_nested *n;
    json_t *sig = ag_json_get(payload, "signal");
    int signo = SIGKILL;
    int code = find_named(agent, req, payload, "kill_container", &n, err, errlen);
    if (code)
        return code;
    if (sig) {
        if (!json_is_integer(sig) || json_integer_value(sig) < 1 ||
            json_integer_value(sig) >= NSIG) {
            snprintf(err, errlen, "'kill_container.signal' must be a signal number (1-%d)",
                     NSIG - 1);
            return 400;
        }
        signo = (int)json_integer_value(sig);
    }
    if (n->launch_req)
        n->killed_early = true;
    if (!n->exited && n->pid > 0) {
        ag_info("signalling nested container '%s' with %s", n->id, strsignal(signo));
        /* By process group, not a snapshot of the cgroup: a task its
         * init is still forking would miss a signal other than SIGKILL
         * (which freezes the cgroup first). */
        ag_agent_kill_tree(n->pid, signo);
        if (signo == SIGKILL && n->container)
            ag_cz_kill(agent->cz, n->container);
    }
    ag_http_reply(req, 200, NULL, NULL, 0);
    return 0;
}

static int call_remove(struct ag_agent *agent, struct ag_http_req *req, const json_t *payload,
                       char *err, size_t errlen)
{
    struct ag_agent_nested *n;
    int code = find_named(agent, req, payload, "remove_container", &n, err, errlen);
    if (code)
        return code;
    if (!n->exited) {
        snprintf(err, errlen, "container '%s' is still running (kill it first)", n->id);
        return 400;
    }
    ckpt_nested_remove(n);
    nested_free(n);
    ag_http_reply(req, 200, NULL, NULL, 0);
    return 0;
}

void ag_agent_nested_call(struct ag_agent *agent, struct ag_http_req *req, const char *type,
                          const json_t *call)
{
    char err[1024] = "";
    int code;
    if (strcmp(type, "LAUNCH_CONTAINER") == 0)
        code = call_launch(agent, req, ag_json_get(call, "launch_container"), err, sizeof(err));
    else if (strcmp(type, "WAIT_CONTAINER") == 0)
        code = call_wait(agent, req, ag_json_get(call, "wait_container"), err, sizeof(err));
    else if (strcmp(type, "KILL_CONTAINER") == 0)
        code = call_kill(agent, req, ag_json_get(call, "kill_container"), err, sizeof(err));
    else
        code = call_remove(agent, req, ag_json_get(call, "remove_container"), err, sizeof(err));
    if (code)
        ag_http_reply_error(req, code, "%s", err);
}

/* --- recovery --- */

/* The wait status agora-container-init left, or -1. */
static int read_status(const struct ag_agent_nested *n)
{
    char path[PATH_MAX];
    int status = -1;
    FILE *f;
    if (ckpt_path(n, "exit_status", path, sizeof(path)) < 0 || !(f = fopen(path, "re")))
        return -1;
    if (fscanf(f, "%d", &status) != 1)
        status = -1;
    fclose(f);
    return status;
}

/* A re-adopted container ended: its status is in its status file (it is
 * not our child). */
static void ended_unknown(struct ag_agent *agent, struct ag_agent_nested *n, const char *when)
{
    int status = read_status(n);
    if (status < 0) {
        free(n->message);
        n->message = ag_agent_strdup(when);
        status = SIGKILL; /* unknown: reported as killed, with why */
    }
    nested_ended(agent, n, status);
}

static void on_pidfd(evutil_socket_t fd, short what, void *arg)
{
    struct ag_agent_nested *n = arg;
    (void)fd;
    (void)what;
    ended_unknown(n->parent->framework->agent, n,
                  "The container ended after an agent restart; its exit status is unknown");
}

static void watch_recovered(struct ag_agent *agent, struct ag_agent_nested *n)
{
#ifdef SYS_pidfd_open
    n->pidfd = (int)syscall(SYS_pidfd_open, n->pid, 0);
#else
    n->pidfd = -1;
#endif
    if (n->pidfd <= 0) {
        n->pidfd = 0;
        ag_warn("cannot watch recovered nested container '%s' (pid %d): %s", n->id, (int)n->pid,
                strerror(errno));
        return;
    }
    n->pidfd_ev = event_new(ag_loop_base(agent->loop), n->pidfd, EV_READ, on_pidfd, n);
    if (!n->pidfd_ev || event_add(n->pidfd_ev, NULL) < 0)
        ag_warn("cannot watch recovered nested container '%s'", n->id);
}

static void recover_one(struct ag_agent *agent, struct ag_agent_executor *ex, const char *dir,
                        const char *id)
{
    char path[2 * PATH_MAX + 64], err[PATH_MAX + 256];
    struct ag_agent_nested *n;
    json_t *info;
    json_int_t pid;

    snprintf(path, sizeof(path), "%s/container.info", dir);
    info = ag_ckpt_read_json(path, err, sizeof(err));
    if (!info || strlen(id) >= MAX_ID) {
        ag_error("recovery: skipping nested container '%s': %s", id, info ? "bad id" : err);
        json_decref(info);
        return;
    }
    n = calloc(1, sizeof(*n));
    if (!n) {
        json_decref(info);
        return;
    }
    snprintf(n->id, sizeof(n->id), "%s", id);
    n->parent = ex;
    n->directory = ag_agent_strdup(json_string_value(json_object_get(info, "directory")));
    n->cpus = json_real_value(json_object_get(info, "cpus"));
    n->mem = json_real_value(json_object_get(info, "mem"));
    ag_agent_list_add_tail(&ex->nested, &n->node);
    if (json_is_true(json_object_get(info, "exited"))) {
        const char *r = json_string_value(json_object_get(info, "reason"));
        const char *m = json_string_value(json_object_get(info, "message"));
        n->exited = true;
        n->status = (int)json_integer_value(json_object_get(info, "status"));
        n->reason = r ? ag_agent_strdup(r) : NULL;
        n->message = m ? ag_agent_strdup(m) : NULL;
        json_decref(info);
        return;
    }
    pid = json_integer_value(json_object_get(info, "pid"));
    n->start_time = (unsigned long long)json_integer_value(json_object_get(info, "start_time"));
    if (ex->container && json_object_get(info, "cgroups") &&
        ag_cz_recover(agent->cz, n->id, n->directory, (pid_t)pid, n->cpus, n->mem, 0,
                      json_object_get(info, "cgroups"), n, &n->container, err, sizeof(err)) == 0)
        ag_cz_set_parent(n->container, ex->container);
    json_decref(info);
    if (pid > 0 && n->start_time && ag_ckpt_proc_start_time((pid_t)pid) == n->start_time) {
        n->pid = (pid_t)pid;
        watch_recovered(agent, n);
        ag_info("recovery: nested container '%s' of executor '%s' (pid %d) is alive", n->id, ex->id,
                (int)n->pid);
        return;
    }
    ended_unknown(agent, n, "The container ended while the agent was down");
}

void ag_agent_nested_recover(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    char dir[PATH_MAX], path[PATH_MAX + 300];
    DIR *d;
    struct dirent *e;
    if (ag_agent_ckpt_run_path(ex, "nested", dir, sizeof(dir)) < 0 || !(d = opendir(dir)))
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        recover_one(agent, ex, path, e->d_name);
    }
    closedir(d);
}
