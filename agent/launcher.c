/*
 * launcher: sandboxes and executor processes.
 *
 * Executors are started with posix_spawn (never a fork of the agent, whose
 * size makes fork slow) in a session of their own, so that the executor
 * and everything it starts can be found again and killed: by process group
 * for the executor, and by session id for tasks the executor put in groups
 * of their own (the command executor does).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/internal.h"
#include "agent/sandboxes.h" /* logs: ag_agent_logs_open */
#include "core/flags.h"
#include "core/json.h"

/* --- sandboxes --- */

int ag_agent_mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    size_t len = strlen(path);
    char *slashes[256];
    size_t n = 0;

    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    /* Usually only the last components are new (a sandbox under an
     * existing framework directory): try the whole path, then climb to the
     * deepest parent that exists and make the rest downwards, instead of a
     * mkdir (and a path walk) per component from the root every time. */
    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -errno;
    memcpy(buf, path, len + 1);
    for (;;) {
        char *slash = strrchr(buf, '/');
        if (!slash || slash == buf || n == sizeof(slashes) / sizeof(slashes[0]))
            return -ENOENT;
        *slash = '\0';
        slashes[n++] = slash;
        if (mkdir(buf, mode) == 0 || errno == EEXIST)
            break;
        if (errno != ENOENT)
            return -errno;
    }
    while (n > 0) {
        *slashes[--n] = '/';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
    }
    return 0;
}

/* An id used as a path component must not climb out of its directory. */
static bool safe_component(const char *s)
{
    return s && *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') &&
           strlen(s) < 256;
}

int ag_agent_sandbox_create(const char *work_dir, const char *agent_id, const char *framework_id,
                            const char *executor_id, const char *container_id, char **ret_path,
                            char *err, size_t errlen)
{
    char runs[4096], path[4096], latest[4200];
    int rc;

    if (!safe_component(agent_id) || !safe_component(framework_id) ||
        !safe_component(executor_id) || !safe_component(container_id)) {
        snprintf(err, errlen, "an id contains '/' or is empty, '.' or '..'");
        return -EINVAL;
    }
    if ((size_t)snprintf(runs, sizeof(runs), "%s/slaves/%s/frameworks/%s/executors/%s/runs",
                         work_dir, agent_id, framework_id, executor_id) >= sizeof(runs) ||
        (size_t)snprintf(path, sizeof(path), "%s/%s", runs, container_id) >= sizeof(path)) {
        snprintf(err, errlen, "sandbox path too long");
        return -ENAMETOOLONG;
    }
    rc = ag_agent_mkdirs(path, 0755);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create sandbox '%s': %s", path, strerror(-rc));
        return rc;
    }
    snprintf(latest, sizeof(latest), "%s/latest", runs);
    if (unlink(latest) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot replace '%s': %s", latest, strerror(errno));
        return -errno;
    }
    if (symlink(container_id, latest) < 0) {
        snprintf(err, errlen, "cannot link '%s': %s", latest, strerror(errno));
        return -errno;
    }
    *ret_path = strdup(path);
    return *ret_path ? 0 : -ENOMEM;
}

/* --- environment --- */

void ag_agent_env_init(struct ag_agent_env *env)
{
    memset(env, 0, sizeof(*env));
}

void ag_agent_env_release(struct ag_agent_env *env)
{
    for (size_t i = 0; i < env->n; i++)
        free(env->vars[i]);
    free(env->vars);
    memset(env, 0, sizeof(*env));
}

static ssize_t env_index(const struct ag_agent_env *env, const char *name, size_t name_len)
{
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->vars[i], name, name_len) == 0 && env->vars[i][name_len] == '=')
            return (ssize_t)i;
    return -1;
}

static int env_put(struct ag_agent_env *env, char *var, size_t name_len)
{
    ssize_t i = env_index(env, var, name_len);
    if (i >= 0) {
        free(env->vars[i]);
        env->vars[i] = var;
        return 0;
    }
    if (env->n + 1 >= env->cap) {
        size_t cap = env->cap ? env->cap * 2 : 64;
        char **vars = realloc(env->vars, cap * sizeof(*vars));
        if (!vars) {
            free(var);
            return -ENOMEM;
        }
        env->vars = vars;
        env->cap = cap;
    }
    env->vars[env->n++] = var;
    env->vars[env->n] = NULL;
    return 0;
}

int ag_agent_env_set(struct ag_agent_env *env, const char *name, const char *value)
{
    size_t nlen, vlen;
    char *var;
    if (!name || !*name || strchr(name, '='))
        return -EINVAL;
    if (!value)
        value = "";
    nlen = strlen(name);
    vlen = strlen(value);
    var = malloc(nlen + vlen + 2);
    if (!var)
        return -ENOMEM;
    memcpy(var, name, nlen);
    var[nlen] = '=';
    memcpy(var + nlen + 1, value, vlen + 1);
    return env_put(env, var, nlen);
}

int ag_agent_env_merge(struct ag_agent_env *env, char *const *vars)
{
    for (size_t i = 0; vars && vars[i]; i++) {
        const char *eq = strchr(vars[i], '=');
        char *var;
        int rc;
        if (!eq || eq == vars[i])
            continue;
        var = strdup(vars[i]);
        if (!var)
            return -ENOMEM;
        rc = env_put(env, var, (size_t)(eq - vars[i]));
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ag_agent_env_merge_json(struct ag_agent_env *env, const json_t *environment)
{
    json_t *vars = ag_json_get(environment, "variables");
    json_t *v;
    size_t i;

    json_array_foreach(vars, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *type = json_string_value(json_object_get(v, "type"));
        const char *value = json_string_value(json_object_get(v, "value"));
        int rc;
        if (!name || (type && strcmp(type, "VALUE") != 0))
            continue;
        rc = ag_agent_env_set(env, name, value);
        if (rc == -ENOMEM)
            return rc;
    }
    return 0;
}

const char *ag_agent_env_get(const struct ag_agent_env *env, const char *name)
{
    ssize_t i = env_index(env, name, strlen(name));
    return i >= 0 ? env->vars[i] + strlen(name) + 1 : NULL;
}

int ag_agent_executor_env(struct ag_agent_env *env, char *const *base,
                          const struct ag_agent_exec_env *p)
{
    char grace[32];
    int rc = ag_agent_env_merge(env, base);

    ag_duration_format(p->shutdown_grace, grace, sizeof(grace));
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_FRAMEWORK_ID", p->framework_id);
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_EXECUTOR_ID", p->executor_id);
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_AGENT_ENDPOINT", p->endpoint);
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_SLAVE_ID", p->agent_id);
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_SLAVE_PID", p->agent_pid);
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_DIRECTORY", p->directory);
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_SANDBOX", p->directory);
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_CHECKPOINT", p->checkpoint ? "1" : "0");
    if (rc == 0 && p->checkpoint) {
        char rt[32], bo[32];
        /* How long the executor waits for a restarted agent (§4.7). */
        ag_duration_format(p->recovery_timeout > 0 ? p->recovery_timeout : 15 * 60, rt, sizeof(rt));
        ag_duration_format(p->backoff_max > 0 ? p->backoff_max : 2, bo, sizeof(bo));
        rc = ag_agent_env_set(env, "MESOS_RECOVERY_TIMEOUT", rt);
        if (rc == 0)
            rc = ag_agent_env_set(env, "MESOS_SUBSCRIPTION_BACKOFF_MAX", bo);
    }
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_HTTP_COMMAND_EXECUTOR", "1");
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", grace);
    if (rc == 0)
        rc = ag_agent_env_set(env, "MESOS_ALLOCATION_ROLE", p->role ? p->role : "*");
    if (rc == 0 && p->environment)
        rc = ag_agent_env_merge_json(env, p->environment);
    return rc;
}

/* --- argv --- */

void ag_agent_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

char **ag_agent_command_argv(const json_t *command, char **ret_path, char *err, size_t errlen)
{
    const char *value = json_string_value(json_object_get(command, "value"));
    json_t *shell_j = ag_json_get(command, "shell");
    bool shell = !shell_j || json_is_true(shell_j) ||
                 (json_is_string(shell_j) && strcmp(json_string_value(shell_j), "true") == 0);
    json_t *args = ag_json_get(command, "arguments");
    char **argv;
    size_t n = 0, i;
    json_t *a;

    if (!value || !*value) {
        snprintf(err, errlen, "the CommandInfo has no 'value' to run");
        return NULL;
    }
    if (shell) {
        argv = calloc(4, sizeof(*argv));
        if (!argv)
            goto oom;
        argv[0] = strdup("sh");
        argv[1] = strdup("-c");
        argv[2] = strdup(value);
        *ret_path = strdup("/bin/sh");
        if (!argv[0] || !argv[1] || !argv[2] || !*ret_path) {
            ag_agent_argv_free(argv);
            free(*ret_path);
            goto oom;
        }
        return argv;
    }
    argv = calloc(json_array_size(args) + 2, sizeof(*argv));
    if (!argv)
        goto oom;
    json_array_foreach(args, i, a)
    {
        if (!json_is_string(a)) {
            snprintf(err, errlen, "'arguments' must be strings");
            ag_agent_argv_free(argv);
            return NULL;
        }
        argv[n] = strdup(json_string_value(a));
        if (!argv[n++]) {
            ag_agent_argv_free(argv);
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
    *ret_path = strdup(value);
    if (!*ret_path) {
        ag_agent_argv_free(argv);
        goto oom;
    }
    return argv;
oom:
    snprintf(err, errlen, "out of memory");
    return NULL;
}

/* --- processes --- */

int ag_agent_launch_io(const char *sandbox, int *ret_out, int *ret_err, char *err, size_t errlen)
{
    char out[4200], errf[4200];
    int fo, fe, fds[2];

    /* Logs (agent/sandboxes.h): pipes to size-rotating agora-logger
     * processes when the agent runs them; plain files otherwise. */
    fo = ag_agent_logs_open(sandbox, fds, err, errlen);
    if (fo != -ENOSYS) {
        if (fo == 0) {
            *ret_out = fds[0];
            *ret_err = fds[1];
        }
        return fo;
    }

    snprintf(out, sizeof(out), "%s/stdout", sandbox);
    snprintf(errf, sizeof(errf), "%s/stderr", sandbox);
    fo = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fo < 0) {
        snprintf(err, errlen, "cannot open '%s': %s", out, strerror(errno));
        return -errno;
    }
    fe = open(errf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fe < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open '%s': %s", errf, strerror(e));
        close(fo);
        return -e;
    }
    *ret_out = fo;
    *ret_err = fe;
    return 0;
}

int ag_agent_spawn(const char *path, char *const argv[], char *const envp[], const char *sandbox,
                   pid_t *ret_pid, char *err, size_t errlen)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    pid_t pid;
    int rc, out_fd, err_fd;

    rc = ag_agent_launch_io(sandbox, &out_fd, &err_fd, err, errlen);
    if (rc < 0)
        return rc;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    posix_spawn_file_actions_addchdir_np(&fa, sandbox);
    /* Sockets of the agent must not leak into executors. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);

    /* Signals the agent handles or ignores go back to their defaults, and
     * nothing stays blocked in the child. */
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    rc = strchr(path, '/') ? posix_spawn(&pid, path, &fa, &attr, argv, envp)
                           : posix_spawnp(&pid, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(out_fd);
    close(err_fd);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start '%s': %s", path, strerror(rc));
        return -rc;
    }
    *ret_pid = pid;
    return 0;
}

int ag_agent_user_check(const char *user, char *err, size_t errlen)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int rc;

    if (!user)
        return 0;
    rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
    if (rc == 0 && res)
        return 0;
    snprintf(err, errlen, "Cannot run as user '%s': no such user on this agent%s%s", user,
             rc ? ": " : "", rc ? strerror(rc) : "");
    return -ENOENT;
}

/* The executor's path as execv wants it (the helper does not search PATH). */
static char *exec_path(const char *path)
{
    const char *dirs = getenv("PATH");
    char buf[4200];
    if (strchr(path, '/') || !dirs)
        return strdup(path);
    while (*dirs) {
        size_t n = strcspn(dirs, ":");
        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, dirs, path);
        if (access(buf, X_OK) == 0)
            return strdup(buf);
        dirs += n;
        if (*dirs == ':')
            dirs++;
    }
    return strdup(path);
}

int ag_agent_launch_executor(struct ag_cz *cz, const struct ag_agent_launch *l, pid_t *ret_pid,
                             struct ag_cz_container **ret_container, char *err, size_t errlen)
{
    struct ag_cz_launch cl;
    char *path;
    int rc, out_fd, err_fd;

    *ret_container = NULL;
    if (!ag_cz_isolating(cz))
        return ag_agent_spawn(l->path, l->argv, l->env->vars, l->sandbox, ret_pid, err, errlen);
    if (ag_cz_net_isolated(cz) && l->agent_endpoint && strrchr(l->agent_endpoint, ':')) {
        /* Inside, the agent is the relay on the container's loopback. */
        char ep[64];
        snprintf(ep, sizeof(ep), "127.0.0.1%s", strrchr(l->agent_endpoint, ':'));
        if (ag_agent_env_set(l->env, "MESOS_AGENT_ENDPOINT", ep) < 0) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    rc = ag_agent_launch_io(l->sandbox, &out_fd, &err_fd, err, errlen);
    if (rc < 0)
        return rc;
    path = exec_path(l->path);
    memset(&cl, 0, sizeof(cl));
    cl.container_id = l->container_id;
    cl.sandbox = l->sandbox;
    cl.cpus = l->cpus;
    cl.mem_mb = l->mem_mb;
    cl.disk_mb = l->disk_mb;
    cl.hostname = l->hostname;
    cl.user = l->user;
    cl.path = path ? path : l->path;
    cl.argv = l->argv;
    cl.envp = l->env->vars;
    cl.out_fd = out_fd;
    cl.err_fd = err_fd;
    cl.agent_endpoint = l->agent_endpoint;
    cl.work_dir = l->work_dir;
    cl.owner = l->owner;
    cl.status_file = l->status_file;
    rc = ag_cz_launch(cz, &cl, ret_container, ret_pid, err, errlen);
    free(path);
    close(out_fd);
    close(err_fd);
    return rc;
}

pid_t ag_agent_stat_session(const char *stat_line)
{
    /* "pid (comm) state ppid pgrp session ...": comm may hold spaces and
     * parentheses, so parse from the last ')'. */
    const char *p = strrchr(stat_line, ')');
    char state;
    long ppid, pgrp, session;
    if (!p)
        return -1;
    if (sscanf(p + 1, " %c %ld %ld %ld", &state, &ppid, &pgrp, &session) != 4)
        return -1;
    return (pid_t)session;
}

void ag_agent_kill_tree(pid_t pgid, int signo)
{
    DIR *d;
    struct dirent *e;

    if (pgid <= 1)
        return;
    kill(-pgid, signo);
    d = opendir("/proc");
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[300], line[1024];
        ssize_t n;
        int fd;
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 1)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        n = read(fd, line, sizeof(line) - 1);
        close(fd);
        if (n <= 0)
            continue;
        line[n] = '\0';
        if (ag_agent_stat_session(line) == pgid)
            kill(pid, signo);
    }
    closedir(d);
}

void ag_agent_kill_executor(struct ag_cz *cz, struct ag_cz_container *c, pid_t pid, int signo)
{
    /* A container finds its processes through its cgroup or its PID
     * namespace; only uncontained executors (posix) need the /proc scan,
     * which costs a read of every process on the machine. */
    if (ag_cz_holds_all(cz, c)) {
        ag_cz_signal(cz, c, signo);
        return;
    }
    if (pid > 0)
        ag_agent_kill_tree(pid, signo);
}
