/*
 * checkpoint: what a restarted agent needs to find its frameworks,
 * executors, tasks and unacknowledged status updates again (Mesos §4.7).
 *
 * Every file is one JSON object followed by a newline, written to a
 * temporary file, fsync'd, renamed over the old one, and the directory
 * fsync'd: a reader sees the old or the new content, never a mix. The
 * final newline lets a reader tell a file cut short (a disk that lied, a
 * copy made by hand) from a whole one, since a cut JSON text may still
 * parse (a number losing digits). Only frameworks with
 * FrameworkInfo.checkpoint are written, as in Mesos.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/internal.h"
#include "core/json.h"
#include "core/log.h"

#define CKPT_MAX_BYTES (64u << 20) /* no checkpoint file is anywhere near */

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void fsync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

int ag_ckpt_write_atomic(const char *path, const char *data, size_t len)
{
    return ag_ckpt_write(path, data, len, true);
}

int ag_ckpt_write(const char *path, const char *data, size_t len, bool sync)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 16];
    const char *slash = strrchr(path, '/');
    int fd, rc;

    if (!slash || (size_t)(slash - path) >= sizeof(dir) || strlen(path) >= PATH_MAX)
        return -ENAMETOOLONG;
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    rc = ag_agent_mkdirs(dir, 0755);
    if (rc < 0)
        return rc;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    rc = write_all(fd, data, len);
    if (rc == 0 && sync && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    if (sync)
        fsync_dir(dir);
    return 0;
}

static int write_json(const char *path, const json_t *obj, bool sync)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    size_t len;
    int rc;
    if (!text)
        return -ENOMEM;
    len = strlen(text);
    /* json_dumps leaves room for nothing: make the final newline here. */
    {
        char *t = realloc(text, len + 2);
        if (!t) {
            free(text);
            return -ENOMEM;
        }
        text = t;
    }
    text[len++] = '\n';
    text[len] = '\0';
    rc = ag_ckpt_write(path, text, len, sync);
    free(text);
    return rc;
}

int ag_ckpt_write_json(const char *path, const json_t *obj)
{
    return write_json(path, obj, true);
}

static char *read_file(const char *path, size_t *ret_len, int *ret_errno)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (fd < 0) {
        *ret_errno = errno;
        return NULL;
    }
    for (;;) {
        ssize_t n;
        if (len + 4096 + 1 > cap) {
            char *b;
            cap = cap ? cap * 2 : 8192;
            if (cap > CKPT_MAX_BYTES) {
                *ret_errno = EFBIG;
                goto fail;
            }
            b = realloc(buf, cap);
            if (!b) {
                *ret_errno = ENOMEM;
                goto fail;
            }
            buf = b;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *ret_errno = errno;
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *ret_len = len;
    return buf;
fail:
    close(fd);
    free(buf);
    return NULL;
}

json_t *ag_ckpt_read_json(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    int e = 0;
    char *text = read_file(path, &len, &e);
    char jerr[256];
    json_t *obj;

    if (!text) {
        snprintf(err, errlen, "checkpoint file '%s': %s", path, strerror(e));
        return NULL;
    }
    if (len == 0 || text[len - 1] != '\n') {
        snprintf(err, errlen, "checkpoint file '%s' is truncated (%zu bytes, no final newline)",
                 path, len);
        free(text);
        return NULL;
    }
    obj = ag_json_parse(text, len, jerr, sizeof(jerr));
    free(text);
    if (!obj) {
        snprintf(err, errlen, "checkpoint file '%s' is corrupt: %s", path, jerr);
        return NULL;
    }
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "checkpoint file '%s' is corrupt: not a JSON object", path);
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int ag_ckpt_remove_tree(const char *path)
{
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

unsigned long long ag_ckpt_stat_start_time(const char *line)
{
    /* "pid (comm) S ppid ...": fields after the last ')' start at 3. */
    const char *p = line ? strrchr(line, ')') : NULL;
    int field = 2;
    if (!p)
        return 0;
    p++;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (++field == 22) {
            char *end;
            unsigned long long v = strtoull(p, &end, 10);
            return end != p ? v : 0;
        }
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}

unsigned long long ag_ckpt_proc_start_time(pid_t pid)
{
    char path[64], line[1024];
    FILE *f;
    size_t n;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return 0;
    n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    /* A zombie has exited already (its new parent has not reaped it). */
    {
        const char *p = strrchr(line, ')');
        if (p && (p[1] == ' ') && (p[2] == 'Z' || p[2] == 'X'))
            return 0;
    }
    return ag_ckpt_stat_start_time(line);
}

/* ------------------------------------------------------------------ */
/* the agent's objects                                                 */

bool ag_agent_framework_checkpoints(const struct ag_agent_framework *fw)
{
    return fw && json_is_true(json_object_get(fw->info, "checkpoint"));
}

static int agent_dir(const struct ag_agent *agent, char *out, size_t outlen)
{
    if (!agent->id)
        return -ENOENT;
    if ((size_t)snprintf(out, outlen, "%s/meta/slaves/%s", agent->work_dir, agent->id) >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

static int framework_dir(const struct ag_agent_framework *fw, char *out, size_t outlen)
{
    char a[PATH_MAX];
    int rc = agent_dir(fw->agent, a, sizeof(a));
    if (rc < 0)
        return rc;
    if ((size_t)snprintf(out, outlen, "%s/frameworks/%s", a, fw->id) >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

static int executor_dir(const struct ag_agent_executor *ex, char *out, size_t outlen)
{
    char f[PATH_MAX];
    int rc = framework_dir(ex->framework, f, sizeof(f));
    if (rc < 0)
        return rc;
    if ((size_t)snprintf(out, outlen, "%s/executors/%s", f, ex->id) >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

static int task_dir(const struct ag_agent_task *t, char *out, size_t outlen)
{
    char e[PATH_MAX];
    int rc = executor_dir(t->executor, e, sizeof(e));
    if (rc < 0)
        return rc;
    if ((size_t)snprintf(out, outlen, "%s/runs/%s/tasks/%s", e, t->executor->container_id, t->id) >=
        outlen)
        return -ENAMETOOLONG;
    return 0;
}

static void write_logged(const char *path, const json_t *obj, bool sync)
{
    int rc = obj ? write_json(path, obj, sync) : -ENOMEM;
    if (rc < 0)
        ag_error("cannot checkpoint '%s': %s", path, strerror(-rc));
}

void ag_agent_ckpt_agent(struct ag_agent *agent)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], link[PATH_MAX + 32], tmp[PATH_MAX + 48];
    json_t *info;

    if (agent_dir(agent, dir, sizeof(dir)) < 0)
        return;
    info = ag_agent_info_json(agent);
    snprintf(path, sizeof(path), "%s/agent.info", dir);
    write_logged(path, info, true);
    json_decref(info);
    /* slaves/latest → <id>, replaced atomically (symlink + rename). */
    snprintf(link, sizeof(link), "%s/meta/slaves/latest", agent->work_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", link);
    unlink(tmp);
    if (symlink(agent->id, tmp) < 0 || rename(tmp, link) < 0) {
        ag_error("cannot checkpoint '%s': %s", link, strerror(errno));
        unlink(tmp);
        return;
    }
    snprintf(path, sizeof(path), "%s/meta/slaves", agent->work_dir);
    fsync_dir(path);
}

void ag_agent_ckpt_rename(struct ag_agent *agent, const char *new_id)
{
    char from[PATH_MAX], to[PATH_MAX + 300];
    if (agent_dir(agent, from, sizeof(from)) < 0 || access(from, F_OK) < 0)
        return;
    snprintf(to, sizeof(to), "%s/meta/slaves/%s", agent->work_dir, new_id);
    if (rename(from, to) < 0)
        ag_error("cannot move the checkpoint '%s' to '%s': %s", from, to, strerror(errno));
}

void ag_agent_ckpt_clear(struct ag_agent *agent)
{
    char dir[PATH_MAX];
    if (agent_dir(agent, dir, sizeof(dir)) == 0 && ag_ckpt_remove_tree(dir) < 0)
        ag_warn("cannot remove the checkpoint '%s': %s", dir, strerror(errno));
}

void ag_agent_ckpt_forget(struct ag_agent *agent)
{
    char link[PATH_MAX + 32];
    snprintf(link, sizeof(link), "%s/meta/slaves/latest", agent->work_dir);
    if (unlink(link) == 0)
        ag_info("clean shutdown: the next start registers as a new agent");
}

void ag_agent_ckpt_framework(struct ag_agent *agent, struct ag_agent_framework *fw)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    (void)agent;
    if (!ag_agent_framework_checkpoints(fw) || framework_dir(fw, dir, sizeof(dir)) < 0)
        return;
    snprintf(path, sizeof(path), "%s/framework.info", dir);
    /* Every LAUNCH carries the FrameworkInfo: write it only when it changed. */
    if (access(path, F_OK) == 0) {
        char err[PATH_MAX + 128];
        json_t *old = ag_ckpt_read_json(path, err, sizeof(err));
        bool same = old && json_equal(old, fw->info);
        json_decref(old);
        if (same)
            return;
    }
    write_logged(path, fw->info, true);
}

/* {pid, start_time, directory, cgroups, cpus, mem, disk} of the run. */
static json_t *run_json(const struct ag_agent_executor *ex)
{
    double cpus, mem, disk;
    json_t *run;
    ag_agent_container_limits(ex, &cpus, &mem, &disk);
    run = json_pack("{s:i,s:I,s:s,s:b,s:f,s:f,s:f}", "pid", (int)ex->pid, "start_time",
                    (json_int_t)ex->start_time, "directory", ex->directory ? ex->directory : "",
                    "container", ex->container != NULL, "cpus", cpus, "mem", mem, "disk", disk);
    if (run && ex->container)
        json_object_set_new(run, "cgroups", ag_cz_container_cgroups(ex->container));
    return run;
}

/* <agent dir>/containers/<cid>: the executors of frameworks that do not
 * checkpoint, so that a restarted agent can kill what is left of them. */
static int container_path(const struct ag_agent_executor *ex, char *out, size_t outlen)
{
    char a[PATH_MAX];
    int rc = agent_dir(ex->framework->agent, a, sizeof(a));
    if (rc < 0)
        return rc;
    if ((size_t)snprintf(out, outlen, "%s/containers/%s", a, ex->container_id) >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

static void ckpt_container(struct ag_agent_executor *ex)
{
    char path[PATH_MAX + 64];
    json_t *obj;
    if (container_path(ex, path, sizeof(path)) < 0)
        return;
    obj = run_json(ex);
    if (obj) {
        json_object_set_new(obj, "framework_id", json_string(ex->framework->id));
        json_object_set_new(obj, "executor_id", json_string(ex->id));
    }
    /* No fsync: this only matters after a crash of the agent, not of the
     * machine (whose processes are gone with it), and it is on the launch
     * path of every task. */
    write_logged(path, obj, false);
    json_decref(obj);
}

void ag_agent_ckpt_executor_exited(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    char path[PATH_MAX + 64];
    (void)agent;
    if (!ag_agent_framework_checkpoints(ex->framework) &&
        container_path(ex, path, sizeof(path)) == 0)
        unlink(path);
}

void ag_agent_ckpt_executor(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    json_t *obj;
    (void)agent;
    if (!ag_agent_framework_checkpoints(ex->framework)) {
        if (ex->pid > 0)
            ckpt_container(ex);
        return;
    }
    if (executor_dir(ex, dir, sizeof(dir)) < 0)
        return;
    /* The info once (it does not change), the run once there is a process. */
    snprintf(path, sizeof(path), "%s/executor.info", dir);
    if (access(path, F_OK) < 0) {
        obj = json_pack("{s:O,s:b,s:s}", "info", ex->info, "command", ex->command, "container_id",
                        ex->container_id);
        /* The default executor keeps its token across a restart: it is in
         * its environment, and it is how it reaches its nested containers. */
        if (obj && ex->default_exec) {
            json_object_set_new(obj, "default_exec", json_true());
            json_object_set_new(obj, "token", json_string(ex->token));
        }
        write_logged(path, obj, true);
        json_decref(obj);
    }
    if (ex->pid <= 0)
        return;
    obj = run_json(ex);
    snprintf(path, sizeof(path), "%s/runs/%s/run.info", dir, ex->container_id);
    write_logged(path, obj, true);
    json_decref(obj);
}

void ag_agent_ckpt_task(struct ag_agent *agent, struct ag_agent_task *task)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    (void)agent;
    if (!ag_agent_framework_checkpoints(task->executor->framework) ||
        task_dir(task, dir, sizeof(dir)) < 0)
        return;
    snprintf(path, sizeof(path), "%s/task.info", dir);
    write_logged(path, task->info, true);
}

void ag_agent_ckpt_updates(struct ag_agent *agent, struct ag_agent_task *task,
                           const char *acked_uuid)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], err[PATH_MAX + 128];
    json_t *old, *acked, *obj;
    (void)agent;
    if (!ag_agent_framework_checkpoints(task->executor->framework) ||
        task_dir(task, dir, sizeof(dir)) < 0)
        return;
    snprintf(path, sizeof(path), "%s/task.updates", dir);
    /* The acknowledged uuids so far: kept in the file only. */
    old = access(path, F_OK) == 0 ? ag_ckpt_read_json(path, err, sizeof(err)) : NULL;
    acked = json_incref(json_object_get(old, "acked"));
    json_decref(old);
    if (!json_is_array(acked)) {
        json_decref(acked);
        acked = json_array();
    }
    if (acked_uuid)
        json_array_append_new(acked, json_string(acked_uuid));
    obj = json_pack("{s:O,s:o}", "updates", task->statuses, "acked", acked);
    /* An update is made durable before it is acknowledged to the executor
     * (fsync); an acknowledgement is not: after a machine crash losing one
     * the update is only sent again, which the protocol allows. */
    write_logged(path, obj, acked_uuid == NULL);
    json_decref(obj);
}

int ag_agent_ckpt_run_path(const struct ag_agent_executor *ex, const char *file, char *out,
                           size_t outlen)
{
    char dir[PATH_MAX];
    int rc;
    if (!ag_agent_framework_checkpoints(ex->framework))
        return -ENOENT;
    rc = executor_dir(ex, dir, sizeof(dir));
    if (rc < 0)
        return rc;
    if ((size_t)snprintf(out, outlen, "%s/runs/%s/%s", dir, ex->container_id, file) >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

void ag_agent_ckpt_executor_done(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    char dir[PATH_MAX];
    (void)agent;
    if (!ag_agent_framework_checkpoints(ex->framework) || executor_dir(ex, dir, sizeof(dir)) < 0)
        return;
    if (ag_ckpt_remove_tree(dir) < 0)
        ag_warn("cannot remove the checkpoint '%s': %s", dir, strerror(errno));
}
