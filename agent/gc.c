/*
 * gc: removes the sandboxes of terminated executors.
 *
 * A round (every gc_delay/2, between 0.5 and 10 seconds) walks
 * <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<run>, and
 * every run directory that no live executor uses (nor a running fetch) is
 * eligible; its age counts from its last change (the newest mtime of the
 * directory and of its entries, i.e. the last output of the executor).
 * Eligible sandboxes older than --gc_delay are removed; when the free
 * space of the work dir's filesystem is below --gc_disk_headroom, eligible
 * sandboxes are removed oldest first whatever their age, until there is
 * room again. Sandboxes left by an earlier run of the agent are found the
 * same way.
 *
 * Removal is `rm -rf --one-file-system` in a child process, so that a
 * large sandbox never stalls the loop and a volume mounted inside a
 * sandbox is never followed. Executor and framework directories left
 * empty are removed after it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/internal.h"
#include "agent/sandboxes.h"
#include "core/log.h"
#include "core/loop.h"

extern char **environ;

struct removal {
    struct removal *next;
    char *path;
};

static struct removal *removals; /* in flight */
static uint64_t n_removed, n_remove_failed, n_pending;

void ag__agent_gc_metrics(uint64_t *ret_succeeded, uint64_t *ret_failed, uint64_t *ret_pending)
{
    size_t in_flight = 0;
    for (struct removal *r = removals; r; r = r->next)
        in_flight++;
    *ret_succeeded = n_removed;
    *ret_failed = n_remove_failed;
    *ret_pending = n_pending + in_flight;
}

/* --- pure parts --- */

static int cmp_age(const void *a, const void *b)
{
    const struct ag_agent_gc_entry *x = a, *y = b;
    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    return strcmp(x->path, y->path);
}

size_t ag_agent_gc_plan(struct ag_agent_gc_entry *entries, size_t n, double now, double delay,
                        bool pressure)
{
    size_t k = 0;
    if (n == 0)
        return 0;
    qsort(entries, n, sizeof(*entries), cmp_age);
    if (pressure)
        return n;
    while (k < n && now - entries[k].mtime >= delay)
        k++;
    return k;
}

bool ag_agent_gc_pressure(uint64_t free_bytes, uint64_t total_bytes, double headroom)
{
    if (headroom <= 0 || total_bytes == 0)
        return false;
    return (double)free_bytes < headroom * (double)total_bytes;
}

/* --- the walk --- */

struct list {
    struct ag_agent_gc_entry *items;
    size_t n, cap;
};

static void list_add(struct list *l, const char *path, double mtime)
{
    char *copy;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct ag_agent_gc_entry *e = realloc(l->items, cap * sizeof(*e));
        if (!e)
            return;
        l->items = e;
        l->cap = cap;
    }
    copy = strdup(path);
    if (!copy)
        return;
    l->items[l->n++] = (struct ag_agent_gc_entry){.path = copy, .mtime = mtime};
}

static void list_release(struct list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].path);
    free(l->items);
}

static double mtime_of(const struct stat *sb)
{
    return (double)sb->st_mtim.tv_sec + (double)sb->st_mtim.tv_nsec / 1e9;
}

/* The newest mtime of a directory and its entries. */
static double last_change(const char *dir, const struct stat *dir_st)
{
    double newest = mtime_of(dir_st);
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return newest;
    while ((e = readdir(d)) != NULL) {
        struct stat sb;
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && mtime_of(&sb) > newest)
            newest = mtime_of(&sb);
    }
    closedir(d);
    return newest;
}

static bool in_use(struct ag_agent *agent, const char *path)
{
    const struct ag_agent_list *fpos, *epos;
    for (struct removal *r = removals; r; r = r->next)
        if (strcmp(r->path, path) == 0)
            return true;
    if (ag_agent_fetch_busy(path))
        return true;
    for (fpos = agent->frameworks.next; fpos != &agent->frameworks; fpos = fpos->next) {
        const struct ag_agent_framework *fw =
            ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        for (epos = fw->executors.next; epos != &fw->executors; epos = epos->next) {
            const struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            if (ex->state != AG_AGENT_EXECUTOR_TERMINATED && ex->directory &&
                strcmp(ex->directory, path) == 0)
                return true;
        }
    }
    return false;
}

/* Calls fn for each subdirectory (not symlinks) of dir/<name>. */
static void each_subdir(const char *dir, void (*fn)(const char *path, void *arg), void *arg)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat sb;
        if (e->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
            continue;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            fn(path, arg);
    }
    closedir(d);
}

struct walk {
    struct ag_agent *agent;
    struct list *list;
};

static void on_run(const char *path, void *arg)
{
    struct walk *w = arg;
    struct stat sb;
    if (in_use(w->agent, path) || lstat(path, &sb) < 0)
        return;
    list_add(w->list, path, last_change(path, &sb));
}

/* out = a "/" b; false (out unusable) if it does not fit. */
static bool path_join(char *out, size_t len, const char *a, const char *b)
{
    int n = snprintf(out, len, "%s/%s", a, b);
    return n >= 0 && (size_t)n < len;
}

static void on_executor(const char *path, void *arg)
{
    char runs[PATH_MAX];
    if (!path_join(runs, sizeof(runs), path, "runs"))
        return; /* longer than PATH_MAX: not a sandbox of ours */
    each_subdir(runs, on_run, arg);
}

static void on_framework(const char *path, void *arg)
{
    char executors[PATH_MAX];
    if (!path_join(executors, sizeof(executors), path, "executors"))
        return; /* longer than PATH_MAX: not a sandbox of ours */
    each_subdir(executors, on_executor, arg);
}

static void on_agent(const char *path, void *arg)
{
    char frameworks[PATH_MAX];
    if (!path_join(frameworks, sizeof(frameworks), path, "frameworks"))
        return; /* longer than PATH_MAX: not a sandbox of ours */
    each_subdir(frameworks, on_framework, arg);
}

/* --- removal --- */

/* Removes dir if it holds nothing but dangling "latest" links. */
static bool rmdir_if_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = true;
    char latest[PATH_MAX + 16];
    if (!d)
        return false;
    while ((e = readdir(d)) != NULL) {
        struct stat sb;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (strcmp(e->d_name, "latest") == 0 && fstatat(dirfd(d), "latest", &sb, 0) < 0)
            continue; /* dangling */
        empty = false;
    }
    closedir(d);
    if (!empty)
        return false;
    snprintf(latest, sizeof(latest), "%s/latest", dir);
    unlink(latest);
    return rmdir(dir) == 0;
}

/* After runs/<run> is gone: runs, the executor dir, executors, the
 * framework dir, while each is empty. */
static void prune_parents(const char *run_path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", run_path);
    for (int level = 0; level < 4; level++) {
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            return;
        *slash = '\0';
        if (!rmdir_if_empty(dir))
            return;
    }
}

static void removal_done(struct ag_agent *agent, pid_t pid, int status, void *arg)
{
    struct removal *r = arg, **pp;
    (void)pid;
    for (pp = &removals; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    if (!agent) { /* stopping: the rm goes on by itself */
        free(r->path);
        free(r);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && access(r->path, F_OK) < 0) {
        n_removed++;
        ag_info("gc: removed sandbox '%s'", r->path);
        prune_parents(r->path);
    } else {
        n_remove_failed++;
        ag_warn("gc: could not remove sandbox '%s' entirely (wait status %d)", r->path, status);
    }
    free(r->path);
    free(r);
}

static void remove_path(const char *path)
{
    char *argv[] = {(char *)"rm", (char *)"-rf", (char *)"--one-file-system",
                    (char *)"--", (char *)path,  NULL};
    posix_spawn_file_actions_t fa;
    struct removal *r = calloc(1, sizeof(*r));
    pid_t pid;
    int rc;

    if (!r || !(r->path = strdup(path))) {
        free(r);
        return;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    rc = posix_spawn(&pid, "/bin/rm", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0 || ag_agent_child_watch(pid, removal_done, r) < 0) {
        if (rc == 0)
            waitpid(pid, NULL, 0);
        ag_warn("gc: cannot start removing '%s': %s", path, strerror(rc ? rc : ENOMEM));
        n_remove_failed++;
        free(r->path);
        free(r);
        return;
    }
    r->next = removals;
    removals = r;
}

static bool disk_pressure(const char *work_dir, double headroom)
{
    struct statvfs vfs;
    if (headroom <= 0 || statvfs(work_dir, &vfs) < 0)
        return false;
    return ag_agent_gc_pressure((uint64_t)vfs.f_bavail * vfs.f_frsize,
                                (uint64_t)vfs.f_blocks * vfs.f_frsize, headroom);
}

void ag_agent_gc_run(struct ag_agent *agent)
{
    const struct ag_agent_sandbox_config *c = &ag_agent_sandbox_cfg;
    struct list list = {0};
    struct walk w = {.agent = agent, .list = &list};
    char slaves[PATH_MAX];
    bool pressure;
    size_t k;

    if (agent->stopping)
        return;
    snprintf(slaves, sizeof(slaves), "%s/slaves", agent->work_dir);
    each_subdir(slaves, on_agent, &w);
    pressure = disk_pressure(agent->work_dir, c->gc_disk_headroom);
    k = ag_agent_gc_plan(list.items, list.n, ag_now(), c->gc_delay, pressure);
    if (pressure && k > 0)
        ag_warn("gc: free space on '%s' is below %.0f%%: removing %zu terminated sandbox%s",
                agent->work_dir, c->gc_disk_headroom * 100, k, k == 1 ? "" : "es");
    for (size_t i = 0; i < k; i++)
        remove_path(list.items[i].path);
    n_pending = list.n - k;
    list_release(&list);
}
