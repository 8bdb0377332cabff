/*
 * logs: an executor's stdout and stderr go through two pipes to one
 * agora-logger process (one per container, not per stream: a process
 * start is the dearest part of a launch), which writes <sandbox>/stdout
 * and <sandbox>/stderr rotated by size (--container_logger_max_size,
 * --container_logger_max_files).
 *
 * The logger runs in a session of its own, outside the container's
 * cgroups, so killing the container leaves it alone: it reads to the end
 * of both pipes (when every process holding a write end is gone) and
 * exits. Its working directory is the sandbox, which tells operators (and
 * the test harness) whose it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/internal.h"
#include "agent/sandboxes.h"
#include "core/log.h"

extern char **environ;

static void logger_exited(struct ag_agent *agent, pid_t pid, int status, void *arg)
{
    (void)agent;
    (void)arg;
    if (status != 0)
        ag_warn("container logger (pid %d) ended with wait status %d", (int)pid, status);
}

/* Spawns the logger: `out_fd` (its stdin) to sandbox/stdout and `err_fd`
 * (its descriptor 3) to sandbox/stderr. */
static int spawn_logger(struct ag_agent *agent, const char *sandbox, int out_fd, int err_fd,
                        char *err, size_t errlen)
{
    const struct ag_agent_sandbox_config *c = &ag_agent_sandbox_cfg;
    char exe[PATH_MAX + 32], path[PATH_MAX + 32], err_path[PATH_MAX + 32], size[64], files[64];
    char *argv[] = {(char *)"agora-logger", path, err_path, size, files, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    pid_t pid;
    int rc;

    snprintf(exe, sizeof(exe), "%s/agora-logger", agent->launcher_dir);
    snprintf(path, sizeof(path), "--path=%s/stdout", sandbox);
    snprintf(err_path, sizeof(err_path), "--err_path=%s/stderr", sandbox);
    snprintf(size, sizeof(size), "--max_size=%llu", (unsigned long long)c->logger_max_bytes);
    snprintf(files, sizeof(files), "--max_files=%d", c->container_logger_max_files);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* Both descriptors are above 3 (above_3): neither dup2 clobbers the
     * other or lands on itself. */
    posix_spawn_file_actions_adddup2(&fa, out_fd, 0);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 3);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    /* The logger's own complaints go to the agent's log. */
    posix_spawn_file_actions_addchdir_np(&fa, sandbox);
    posix_spawn_file_actions_addclosefrom_np(&fa, 4);
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the container logger '%s': %s", exe, strerror(rc));
        return -rc;
    }
    if (ag_agent_child_watch(pid, logger_exited, NULL) < 0)
        ag_warn("cannot watch container logger %d: out of memory", (int)pid);
    return 0;
}

/* Moves `*fd` above 3 (the logger's 0 and 3 are dup2 targets). */
static int above_3(int *fd)
{
    int moved;
    if (*fd > 3)
        return 0;
    moved = fcntl(*fd, F_DUPFD_CLOEXEC, 4);
    if (moved < 0)
        return -errno;
    close(*fd);
    *fd = moved;
    return 0;
}

int ag_agent_logs_start(struct ag_agent *agent, const char *sandbox, int ret_fds[2], char *err,
                        size_t errlen)
{
    static const char *const names[2] = {"stdout", "stderr"};
    int pipes[2][2] = {{-1, -1}, {-1, -1}};
    int rc = 0;

    for (int i = 0; i < 2 && rc == 0; i++) {
        if (pipe2(pipes[i], O_CLOEXEC) < 0 || (rc = above_3(&pipes[i][0])) < 0) {
            rc = rc < 0 ? rc : -errno;
            snprintf(err, errlen, "cannot create a pipe for %s: %s", names[i], strerror(-rc));
        }
    }
    if (rc == 0)
        rc = spawn_logger(agent, sandbox, pipes[0][0], pipes[1][0], err, errlen);
    for (int i = 0; i < 2; i++) {
        /* The read ends belong to the logger now. */
        if (pipes[i][0] >= 0)
            close(pipes[i][0]);
        if (rc < 0 && pipes[i][1] >= 0)
            close(pipes[i][1]);
    }
    if (rc < 0)
        return rc;
    ret_fds[0] = pipes[0][1];
    ret_fds[1] = pipes[1][1];
    return 0;
}

int ag_agent_logs_open(const char *sandbox, int ret_fds[2], char *err, size_t errlen)
{
    static bool warned;
    struct ag_agent *agent = ag__agent_sandboxes_agent();
    char exe[PATH_MAX + 32];

    if (!agent)
        return -ENOSYS;
    /* Without the logger (a partial install), plain files beat failing
     * every launch. */
    snprintf(exe, sizeof(exe), "%s/agora-logger", agent->launcher_dir);
    if (access(exe, X_OK) < 0) {
        if (!warned)
            ag_warn("'%s' is missing (%s): executor output goes to plain files, not rotated", exe,
                    strerror(errno));
        warned = true;
        return -ENOSYS;
    }
    return ag_agent_logs_start(agent, sandbox, ret_fds, err, errlen);
}
