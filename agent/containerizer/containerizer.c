/*
 * containerizer: containers made of isolators (see containerizer.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/containerizer/containerizer.h"
#include "agent/isolators/isolator.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/loop.h"

#define TICK_INTERVAL 1.0

static const struct ag_isolator_ops *const all_isolators[] = {
    &ag_isolator_cgroups_cpu, &ag_isolator_cgroups_mem, &ag_isolator_cgroups_pids,
    &ag_isolator_ns_pid,      &ag_isolator_ns_mount,    &ag_isolator_ns_uts,
    &ag_isolator_ns_ipc,      &ag_isolator_ns_net,      &ag_isolator_disk_du,
};
#define N_ALL (sizeof(all_isolators) / sizeof(all_isolators[0]))

/* Names Mesos accepts that isolate nothing here (the posix launcher). */
static const char *const noop_isolators[] = {"posix", "posix/cpu", "posix/mem", "filesystem/posix",
                                             "posix/disk"};

size_t ag_cz_config_flags(struct ag_cz_config *cfg, struct ag_flag *out, size_t max)
{
    const struct ag_flag table[] = {
        {"isolation", AG_FLAG_STRING, &cfg->isolation,
         "isolators, comma-separated: cgroups/cpu, cgroups/mem, cgroups/pids, namespaces/pid, "
         "namespaces/mount, namespaces/uts, namespaces/ipc, namespaces/net, disk/du; \"posix\" "
         "isolates nothing (default as root with writable cgroups: cgroups/cpu, cgroups/mem, "
         "cgroups/pids, namespaces/pid, namespaces/mount, namespaces/uts, namespaces/ipc, "
         "disk/du; else posix)",
         false},
        {"cgroups_root", AG_FLAG_STRING, &cfg->cgroups_root,
         "name of the cgroup under each hierarchy's root that holds the containers", false},
        {"cgroups_enable_cfs", AG_FLAG_BOOL, &cfg->cgroups_enable_cfs,
         "hard-limit each container's CPU to its cpus with the CFS quota", false},
        {"cgroups_pids_limit", AG_FLAG_INT, &cfg->cgroups_pids_limit,
         "most processes a container may hold (cgroups/pids; 0 = no limit)", false},
        {"switch_user", AG_FLAG_BOOL, &cfg->switch_user,
         "run executors and tasks as CommandInfo.user or the framework's user (else as the "
         "agent's user)",
         false},
        {"container_disk_watch_interval", AG_FLAG_DURATION, &cfg->container_disk_watch_interval,
         "how often disk/du measures each sandbox", false},
        {"enforce_container_disk_quota", AG_FLAG_BOOL, &cfg->enforce_container_disk_quota,
         "kill a container whose sandbox grows beyond its disk (with disk/du)", false},
    };
    size_t n = sizeof(table) / sizeof(table[0]);

    cfg->isolation = NULL;
    cfg->cgroups_root = (char *)"agora";
    cfg->cgroups_enable_cfs = false;
    cfg->cgroups_pids_limit = 0;
    cfg->switch_user = true;
    cfg->container_disk_watch_interval = 15;
    cfg->enforce_container_disk_quota = false;
    if (n > max)
        n = max;
    memcpy(out, table, n * sizeof(*out));
    return n;
}

bool ag_cz_mountinfo_has_root(const char *text)
{
    char mp[4096];
    for (const char *line = text; line && *line;) {
        /* "id parent major:minor root mount-point options ..." */
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, "/") == 0)
            return true;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

/* Inside a plain chroot "/" is not a mount point (the kernel lists only
 * mounts reachable from the root), and a new mount namespace cannot then
 * make "/" private: mount(2) answers EINVAL and every container would fail
 * to start. */
bool ag_cz_root_is_mount_point(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    bool found = false;

    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f))
        found = ag_cz_mountinfo_has_root(line);
    fclose(f);
    return found;
}

const char *ag_cz_default_isolation(void)
{
    struct ag_cgroup_layout l;
    const char *probe;

    if (geteuid() != 0 || ag_cgroup_layout_detect(&l) < 0)
        return "posix";
    probe = l.version == AG_CGROUP_V1 ? l.mount[AG_CG_MEMORY] : l.v2_mount;
    if (l.version == AG_CGROUP_NONE || !ag_cgroup_layout_has(&l, AG_CG_MEMORY) ||
        !ag_cgroup_layout_has(&l, AG_CG_CPU) || access(probe, W_OK) < 0)
        return "posix";
    /* namespaces/pid needs namespaces/mount, to mount the /proc of the
     * new PID namespace without touching the host's: inside a plain chroot
     * both stay out (ag_cz_default_isolation_note says why). */
    bool pids = ag_cgroup_layout_has(&l, AG_CG_PIDS);
    if (!ag_cz_root_is_mount_point())
        return pids ? "cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/uts,namespaces/ipc,disk/du"
                    : "cgroups/cpu,cgroups/mem,namespaces/uts,namespaces/ipc,disk/du";
    if (!pids)
        return "cgroups/cpu,cgroups/mem,namespaces/pid,namespaces/mount,namespaces/uts,"
               "namespaces/ipc,disk/du";
    return "cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,namespaces/mount,namespaces/uts,"
           "namespaces/ipc,disk/du";
}

const char *ag_cz_default_isolation_note(void)
{
    const char *d = ag_cz_default_isolation();
    if (strcmp(d, "posix") == 0 || strstr(d, "namespaces/pid"))
        return NULL;
    return "namespaces/pid and namespaces/mount are left out of the default isolation: '/' is "
           "not a mount point here (a plain chroot?), so no mount namespace can hold the /proc "
           "of a PID namespace of its own";
}

static const struct ag_isolator_ops *isolator_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_ALL; i++)
        if (strlen(all_isolators[i]->name) == len &&
            strncmp(all_isolators[i]->name, name, len) == 0)
            return all_isolators[i];
    return NULL;
}

static bool is_noop(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(noop_isolators) / sizeof(noop_isolators[0]); i++)
        if (strlen(noop_isolators[i]) == len && strncmp(noop_isolators[i], name, len) == 0)
            return true;
    return false;
}

/* Fills cz->iso from the --isolation text. */
static int parse_isolation(struct ag_cz *cz, const char *text, char *err, size_t errlen)
{
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, ",");
        const struct ag_isolator_ops *ops;
        bool dup = false;

        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        if (n == 0) {
            p += *p ? 1 : 0;
            continue;
        }
        ops = isolator_find(p, n);
        if (!ops && !is_noop(p, n)) {
            snprintf(err, errlen,
                     "--isolation: unknown isolator '%.*s' (known: posix, cgroups/cpu, "
                     "cgroups/mem, cgroups/pids, namespaces/pid, namespaces/mount, "
                     "namespaces/uts, namespaces/ipc, namespaces/net, disk/du)",
                     (int)n, p);
            return -EINVAL;
        }
        for (size_t i = 0; ops && i < cz->n_iso; i++)
            dup = dup || cz->iso[i] == ops;
        if (ops && !dup && cz->n_iso < AG_CZ_MAX_ISOLATORS)
            cz->iso[cz->n_iso++] = ops;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int mkdir_one(const char *path)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Whether a controller's cgroup is made for each container. */
static bool ctrl_used(const struct ag_cz *cz, int ctrl)
{
    if (!cz->use_cgroups || !ag_cgroup_layout_has(&cz->layout, (enum ag_cgroup_ctrl)ctrl))
        return false;
    if (cz->layout.version == AG_CGROUP_V2)
        return true;
    /* v1: the freezer always (to kill a container atomically), cpuacct
     * with cpu (its statistics), and whatever an isolator asks for. */
    if (ctrl == AG_CG_FREEZER)
        return true;
    for (size_t i = 0; i < cz->n_iso; i++)
        if (cz->iso[i]->ctrl == ctrl || (ctrl == AG_CG_CPUACCT && cz->iso[i]->ctrl == AG_CG_CPU))
            return true;
    return false;
}

static int make_roots(struct ag_cz *cz, char *err, size_t errlen)
{
    char path[AG_CGROUP_PATH_MAX * 2];
    int rc;

    if (cz->layout.version == AG_CGROUP_V2) {
        /* Controllers must be enabled down the path for child cgroups to
         * have their files. */
        static const char *const enable[] = {"+cpu", "+memory", "+pids"};
        snprintf(path, sizeof(path), "%s/%s", cz->layout.v2_mount, cz->root);
        rc = mkdir_one(path);
        /* One at a time: a write naming a missing controller enables none. */
        for (size_t i = 0; rc == 0 && i < sizeof(enable) / sizeof(enable[0]); i++) {
            ag_cgroup_write(cz->layout.v2_mount, "cgroup.subtree_control", enable[i]);
            ag_cgroup_write(path, "cgroup.subtree_control", enable[i]);
        }
        if (rc < 0) {
            snprintf(err, errlen, "cannot create the cgroup '%s': %s", path, strerror(-rc));
            return rc;
        }
        return 0;
    }
    for (int c = 0; c < AG_CG_N; c++) {
        if (!ctrl_used(cz, c))
            continue;
        snprintf(path, sizeof(path), "%s/%s", cz->layout.mount[c], cz->root);
        rc = mkdir_one(path);
        if (rc < 0) {
            snprintf(err, errlen, "cannot create the cgroup '%s': %s", path, strerror(-rc));
            return rc;
        }
        /* Limits of the containers below count their descendants. */
        if (c == AG_CG_MEMORY)
            ag_cgroup_write(path, "memory.use_hierarchy", "1");
    }
    return 0;
}

static void tick(void *arg);

int ag_cz_new(struct ag_loop *loop, const struct ag_cz_config *cfg, const char *init_path,
              const struct ag_cz_callbacks *cb, void *arg, struct ag_cz **ret, char *err,
              size_t errlen)
{
    struct ag_cz *cz = calloc(1, sizeof(*cz));
    const char *isolation =
        cfg->isolation && *cfg->isolation ? cfg->isolation : ag_cz_default_isolation();
    int rc;

    if (!cz)
        return -ENOMEM;
    cz->loop = loop;
    cz->cfg = *cfg;
    cz->cb = *cb;
    cz->arg = arg;
    cz->head.next = cz->head.prev = &cz->head;
    cz->root = strdup(cfg->cgroups_root && *cfg->cgroups_root ? cfg->cgroups_root : "agora");
    cz->init_path = strdup(init_path);
    if (!cz->root || !cz->init_path) {
        ag_cz_free(cz);
        return -ENOMEM;
    }
    if (strchr(cz->root, '/') || strcmp(cz->root, ".") == 0 || strcmp(cz->root, "..") == 0) {
        snprintf(err, errlen, "--cgroups_root: '%s' must be a single directory name", cz->root);
        ag_cz_free(cz);
        return -EINVAL;
    }
    if (cfg->cgroups_pids_limit < 0) {
        snprintf(err, errlen, "--cgroups_pids_limit: %d is negative", cfg->cgroups_pids_limit);
        ag_cz_free(cz);
        return -EINVAL;
    }
    if (!(cfg->container_disk_watch_interval > 0)) {
        snprintf(err, errlen, "--container_disk_watch_interval must be positive");
        ag_cz_free(cz);
        return -EINVAL;
    }
    rc = parse_isolation(cz, isolation, err, errlen);
    if (rc < 0) {
        ag_cz_free(cz);
        return rc;
    }
    for (size_t i = 0; i < cz->n_iso; i++) {
        const struct ag_isolator_ops *ops = cz->iso[i];
        if ((ops->ns_flag || ops->ctrl >= 0) && geteuid() != 0) {
            snprintf(err, errlen, "--isolation: '%s' needs the agent to run as root", ops->name);
            ag_cz_free(cz);
            return -EPERM;
        }
        if ((ops->ns_flag & CLONE_NEWNS) && !ag_cz_root_is_mount_point()) {
            snprintf(err, errlen,
                     "--isolation: '%s' needs '/' to be a mount point, and it is not here (a "
                     "plain chroot?)",
                     ops->name);
            ag_cz_free(cz);
            return -EINVAL;
        }
        cz->ns_flags |= ops->ns_flag;
        if (ops->ctrl >= 0)
            cz->use_cgroups = true;
    }
    if (cz->use_cgroups) {
        ag_cgroup_layout_detect(&cz->layout);
        for (size_t i = 0; i < cz->n_iso; i++) {
            int c = cz->iso[i]->ctrl;
            if (c >= 0 && !ag_cgroup_layout_has(&cz->layout, (enum ag_cgroup_ctrl)c)) {
                snprintf(err, errlen,
                         "--isolation: '%s' needs the '%s' cgroup controller, which this host "
                         "does not offer",
                         cz->iso[i]->name, ag_cgroup_ctrl_name((enum ag_cgroup_ctrl)c));
                ag_cz_free(cz);
                return -EINVAL;
            }
        }
        rc = make_roots(cz, err, errlen);
        if (rc < 0) {
            ag_cz_free(cz);
            return rc;
        }
    }
    for (size_t i = 0; i < cz->n_iso; i++) {
        if (cz->iso[i]->setup && (rc = cz->iso[i]->setup(cz, err, errlen)) < 0) {
            ag_cz_free(cz);
            return rc;
        }
    }
    cz->isolation[0] = '\0';
    for (size_t i = 0; i < cz->n_iso; i++) {
        size_t len = strlen(cz->isolation);
        snprintf(cz->isolation + len, sizeof(cz->isolation) - len, "%s%s", len ? "," : "",
                 cz->iso[i]->name);
    }
    if (cz->n_iso == 0)
        snprintf(cz->isolation, sizeof(cz->isolation), "posix");
    if (cz->n_iso > 0 && access(cz->init_path, X_OK) < 0) {
        snprintf(err, errlen, "the container helper '%s' is not executable: %s", cz->init_path,
                 strerror(errno));
        ag_cz_free(cz);
        return -ENOENT;
    }
    cz->tick = ag_timer_new(loop, tick, cz);
    if (!cz->tick) {
        ag_cz_free(cz);
        return -ENOMEM;
    }
    ag_timer_start_periodic(cz->tick, TICK_INTERVAL);
    *ret = cz;
    return 0;
}

bool ag_cz_isolating(const struct ag_cz *cz)
{
    return cz && cz->n_iso > 0;
}

bool ag_cz_mounts_sandbox(const struct ag_cz *cz)
{
    return cz && (cz->ns_flags & CLONE_NEWNS);
}

bool ag_cz_net_isolated(const struct ag_cz *cz)
{
    return cz && (cz->ns_flags & CLONE_NEWNET);
}

bool ag_cz_switch_user(const struct ag_cz *cz)
{
    return !cz || cz->cfg.switch_user;
}

const char *ag_cz_isolation(const struct ag_cz *cz)
{
    return cz ? cz->isolation : "posix";
}

enum ag_cgroup_version ag_cz_cgroup_version(const struct ag_cz *cz)
{
    return cz && cz->use_cgroups ? cz->layout.version : AG_CGROUP_NONE;
}

void *ag_cz_container_owner(const struct ag_cz_container *c)
{
    return c->owner;
}

const char *ag_cz_container_id(const struct ag_cz_container *c)
{
    return c->id;
}

/* --- cgroup removal, retried while the last processes exit --- */

static void rm_queue(struct ag_cz *cz, const char *dir)
{
    char *copy;
    if (rmdir(dir) == 0 || errno == ENOENT)
        return;
    for (size_t i = 0; i < cz->n_rm; i++)
        if (strcmp(cz->rm[i], dir) == 0)
            return;
    if (cz->n_rm == cz->cap_rm) {
        size_t cap = cz->cap_rm ? cz->cap_rm * 2 : 16;
        char **rm = realloc(cz->rm, cap * sizeof(*rm));
        unsigned *tries;
        if (!rm)
            return;
        cz->rm = rm;
        tries = realloc(cz->rm_tries, cap * sizeof(*tries));
        if (!tries)
            return;
        cz->rm_tries = tries;
        cz->cap_rm = cap;
    }
    copy = strdup(dir);
    if (copy) {
        cz->rm_tries[cz->n_rm] = 0;
        cz->rm[cz->n_rm++] = copy;
    }
}

uint64_t ag_cz_destroy_errors(const struct ag_cz *cz)
{
    return cz ? cz->destroy_errors : 0;
}

/* Seconds of ticks after which a cgroup that will not go is given up. */
#define RM_MAX_TRIES 60

static void rm_retry(struct ag_cz *cz)
{
    size_t j = 0;
    for (size_t i = 0; i < cz->n_rm; i++) {
        if (rmdir(cz->rm[i]) == 0 || errno == ENOENT) {
            free(cz->rm[i]);
            continue;
        }
        if (++cz->rm_tries[i] > RM_MAX_TRIES) {
            ag_error("cannot remove the cgroup '%s': %s; giving up", cz->rm[i], strerror(errno));
            cz->destroy_errors++;
            free(cz->rm[i]);
            continue;
        }
        /* Stragglers (a process that joined late) go now. */
        ag_cgroup_kill_all(cz->rm[i], NULL);
        cz->rm_tries[j] = cz->rm_tries[i];
        cz->rm[j++] = cz->rm[i];
    }
    cz->n_rm = j;
}

/* Calls fn for each child cgroup (subdirectory) of `dir`: the cgroups of
 * nested containers that this agent may not know (an executor swept after
 * a restart, its nested containers never checkpointed). */
static void each_child_cgroup(struct ag_cz *cz, const char *dir,
                              void (*fn)(struct ag_cz *cz, const char *path))
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[AG_CGROUP_PATH_MAX * 2];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR)
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
            fn(cz, path);
    }
    closedir(d);
}

static void kill_child(struct ag_cz *cz, const char *path)
{
    (void)cz;
    ag_cgroup_kill_all(path, NULL);
}

static void container_cgroups_remove(struct ag_cz *cz, struct ag_cz_container *c)
{
    for (int i = 0; i < AG_CG_N; i++) {
        bool seen = false;
        if (!c->cg[i])
            continue;
        for (int j = 0; j < i; j++)
            seen = seen || (c->cg[j] && strcmp(c->cg[j], c->cg[i]) == 0);
        if (seen)
            continue;
        each_child_cgroup(cz, c->cg[i], rm_queue); /* a parent goes after its children */
        rm_queue(cz, c->cg[i]);
    }
}

static void container_free(struct ag_cz_container *c)
{
    if (!c)
        return;
    for (int i = 0; i < AG_CG_N; i++)
        free(c->cg[i]);
    free(c->sandbox);
    free(c);
}

/* The directory to kill through: the freezer's (v1) or the one cgroup. */
static const char *kill_dir(const struct ag_cz_container *c)
{
    for (int i = 0; i < AG_CG_N; i++)
        if (c->cg[i])
            return c->cg[i];
    return NULL;
}

void ag_cz_set_parent(struct ag_cz_container *c, struct ag_cz_container *parent)
{
    if (c)
        c->parent = parent;
}

struct ag_cz_container *ag_cz_container_parent(const struct ag_cz_container *c)
{
    return c->parent;
}

bool ag_cz_holds_all(const struct ag_cz *cz, const struct ag_cz_container *c)
{
    return c && (kill_dir(c) || (cz->ns_flags & CLONE_NEWPID));
}

void ag_cz_kill(struct ag_cz *cz, struct ag_cz_container *c)
{
    const char *dir, *freezer;
    if (!c)
        return;
    /* v1 lists only a cgroup's own processes: nested ones go first. */
    for (struct ag_cz_container *n = cz->head.next; n && n != &cz->head; n = n->next)
        if (n->parent == c)
            ag_cz_kill(cz, n);
    if (!kill_dir(c)) {
        /* No cgroup: with a PID namespace, its init (in the helper's
         * process group) takes every process of the namespace with it. */
        if ((cz->ns_flags & CLONE_NEWPID) && c->pid > 1)
            kill(-c->pid, SIGKILL);
        return;
    }
    freezer = cz->layout.version == AG_CGROUP_V1 ? c->cg[AG_CG_FREEZER] : NULL;
    dir = freezer ? freezer : kill_dir(c);
    each_child_cgroup(cz, dir, kill_child); /* nested ones it does not list */
    ag_cgroup_kill_all(dir, freezer);
}

void ag_cz_signal(struct ag_cz *cz, struct ag_cz_container *c, int signo)
{
    if (!c)
        return;
    if (signo == SIGKILL) {
        ag_cz_kill(cz, c);
        return;
    }
    if (kill_dir(c))
        ag_cgroup_signal_all(kill_dir(c), signo);
    else if (c->pid > 1)
        kill(-c->pid, signo);
}

void ag_cz_destroy(struct ag_cz *cz, struct ag_cz_container *c)
{
    if (!c)
        return;
    ag_cz_kill(cz, c);
    for (size_t i = 0; i < cz->n_iso; i++)
        if (cz->iso[i]->cleanup)
            cz->iso[i]->cleanup(cz, c);
    container_cgroups_remove(cz, c);
    if (c->next) {
        c->prev->next = c->next;
        c->next->prev = c->prev;
    }
    container_free(c);
}

void ag_cz_release(struct ag_cz *cz, struct ag_cz_container *c)
{
    (void)cz;
    if (!c)
        return;
    /* The agent's own handles only (the OOM watch), not the isolators'
     * cleanup: that would undo what the container still uses. */
    if (c->oom_ev)
        event_free(c->oom_ev);
    if (c->oom_efd >= 0)
        close(c->oom_efd);
    if (c->next) {
        c->prev->next = c->next;
        c->next->prev = c->prev;
    }
    container_free(c);
}

int ag_cz_update(struct ag_cz *cz, struct ag_cz_container *c, double cpus, double mem_mb)
{
    int rc = 0;
    if (!c)
        return 0;
    for (size_t i = 0; rc == 0 && i < cz->n_iso; i++)
        if (cz->iso[i]->update)
            rc = cz->iso[i]->update(cz, c, cpus, mem_mb);
    if (rc == 0) {
        c->cpus = cpus;
        if (mem_mb > c->mem_mb)
            c->mem_mb = mem_mb;
    }
    return rc;
}

void ag_cz_check(struct ag_cz *cz, struct ag_cz_container *c)
{
    for (size_t i = 0; c && !c->limited && i < cz->n_iso; i++)
        if (cz->iso[i]->check)
            cz->iso[i]->check(cz, c);
}

static void tick(void *arg)
{
    struct ag_cz *cz = arg;
    struct ag_cz_container *c, *next;
    rm_retry(cz);
    for (c = cz->head.next; c != &cz->head; c = next) {
        next = c->next;
        ag_cz_check(cz, c);
    }
}

void ag_cz_report_limit(struct ag_cz *cz, struct ag_cz_container *c, const char *reason,
                        const char *message, const char *resource, double amount)
{
    json_t *limitation;
    if (c->limited)
        return;
    c->limited = true;
    ag_warn("container '%s': %s", c->id, message);
    limitation = json_pack("{s:[{s:s,s:s,s:{s:f}}]}", "resources", "name", resource, "type",
                           "SCALAR", "scalar", "value", amount);
    if (cz->cb.limited)
        cz->cb.limited(cz->arg, c, reason, message, limitation);
    json_decref(limitation);
    ag_cz_kill(cz, c);
}

void ag_cz_free(struct ag_cz *cz)
{
    if (!cz)
        return;
    while (cz->head.next && cz->head.next != &cz->head)
        ag_cz_destroy(cz, cz->head.next);
    /* Processes killed a moment ago leave their cgroups within a few
     * milliseconds once reaped; wait for them a little. */
    for (int i = 0; i < 100 && cz->n_rm > 0; i++) {
        rm_retry(cz);
        if (cz->n_rm > 0)
            usleep(20000);
    }
    for (size_t i = 0; i < cz->n_rm; i++) {
        ag_warn("cannot remove the cgroup '%s': %s", cz->rm[i], strerror(EBUSY));
        free(cz->rm[i]);
    }
    free(cz->rm);
    free(cz->rm_tries);
    if (cz->use_cgroups && cz->root) {
        char path[AG_CGROUP_PATH_MAX * 2];
        for (int c = 0; c < AG_CG_N; c++) {
            bool seen = false;
            if (!ag_cgroup_layout_has(&cz->layout, (enum ag_cgroup_ctrl)c))
                continue;
            for (int j = 0; j < c; j++)
                seen = seen || (ag_cgroup_layout_has(&cz->layout, (enum ag_cgroup_ctrl)j) &&
                                strcmp(cz->layout.mount[j], cz->layout.mount[c]) == 0);
            if (seen)
                continue;
            snprintf(path, sizeof(path), "%s/%s", cz->layout.mount[c], cz->root);
            /* Only if empty: another agent may share the root. */
            rmdir(path);
        }
    }
    ag_timer_free(cz->tick);
    free(cz->root);
    free(cz->init_path);
    free(cz);
}

/* --- launching --- */

static int container_cgroups_create(struct ag_cz *cz, struct ag_cz_container *c, char *err,
                                    size_t errlen)
{
    char path[AG_CGROUP_PATH_MAX * 2];
    /* The roots were made at start (ag_cz_new); remaking them for every
     * container cost a mkdir and a write per hierarchy per launch. */
    for (int i = 0; i < AG_CG_N; i++) {
        if (!ctrl_used(cz, i))
            continue;
        snprintf(path, sizeof(path), "%s/%s/%s", cz->layout.mount[i], cz->root, c->id);
        /* Another agent sharing --cgroups_root may have just removed the
         * (then empty) root: make it again once. */
        int e = mkdir(path, 0755) == 0 ? 0 : errno;
        if (e == ENOENT && make_roots(cz, err, errlen) == 0)
            e = mkdir(path, 0755) == 0 ? 0 : errno;
        if (e != 0 && e != EEXIST) {
            snprintf(err, errlen, "cannot create the cgroup '%s': %s", path, strerror(e));
            return -e;
        }
        c->cg[i] = strdup(path);
        if (!c->cg[i]) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    return 0;
}

/* A growable argv for the helper. */
struct argv_buf {
    char **v;
    size_t n, cap;
    bool oom;
};

static void argv_add(struct argv_buf *a, const char *fmt, const char *value)
{
    char *s = NULL;
    if (a->oom)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **v = realloc(a->v, cap * sizeof(*v));
        if (!v) {
            a->oom = true;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    if (asprintf(&s, fmt, value) < 0) {
        a->oom = true;
        return;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void argv_release(struct argv_buf *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
}

/* The start every agora-container-init command line shares: its name, a
 * --cgroup per distinct cgroup directory of `c`, and in `ns` the list of
 * namespaces in use ("pid,mount,..."; empty when none). */
static void init_argv_head(struct ag_cz *cz, struct ag_cz_container *c, struct argv_buf *a,
                           char ns[128])
{
    static const struct {
        int flag;
        const char *name;
    } names[] = {{CLONE_NEWPID, "pid"},
                 {CLONE_NEWNS, "mount"},
                 {CLONE_NEWUTS, "uts"},
                 {CLONE_NEWIPC, "ipc"},
                 {CLONE_NEWNET, "net"}};

    ns[0] = '\0';
    argv_add(a, "%s", "agora-container-init");
    for (int i = 0; i < AG_CG_N; i++) {
        bool seen = false;
        if (!c->cg[i])
            continue;
        for (int j = 0; j < i; j++)
            seen = seen || (c->cg[j] && strcmp(c->cg[j], c->cg[i]) == 0);
        if (!seen)
            argv_add(a, "--cgroup=%s", c->cg[i]);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (cz->ns_flags & names[i].flag) {
            size_t len = strlen(ns);
            snprintf(ns + len, 128 - len, "%s%s", len ? "," : "", names[i].name);
        }
    }
}

static void helper_argv(struct ag_cz *cz, struct ag_cz_container *c, const struct ag_cz_launch *l,
                        struct argv_buf *a)
{
    char ns[128] = "";
    init_argv_head(cz, c, a, ns);
    if (ns[0])
        argv_add(a, "--ns=%s", ns);
    if ((cz->ns_flags & CLONE_NEWUTS) && l->hostname && *l->hostname)
        argv_add(a, "--hostname=%s", l->hostname);
    if (cz->ns_flags & CLONE_NEWNS)
        argv_add(a, "--sandbox=%s", l->sandbox);
    if ((cz->ns_flags & CLONE_NEWNS) && l->work_dir)
        argv_add(a, "--work_dir=%s", l->work_dir);
    if (l->user && *l->user)
        argv_add(a, "--user=%s", l->user);
    if ((cz->ns_flags & CLONE_NEWNET) && l->agent_endpoint)
        argv_add(a, "--relay=%s", l->agent_endpoint);
    /* Only the init of a PID namespace outlives the executor to see it. */
    if ((cz->ns_flags & CLONE_NEWPID) && l->status_file)
        argv_add(a, "--status_file=%s", l->status_file);
    argv_add(a, "%s", "--");
    argv_add(a, "%s", l->path);
    for (size_t i = 0; l->argv && l->argv[i]; i++)
        argv_add(a, "%s", l->argv[i]);
}

static int helper_spawn(struct ag_cz *cz, char *const argv[], const struct ag_cz_launch *l,
                        pid_t *ret_pid, char *err, size_t errlen)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    pid_t pid;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, l->out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, l->err_fd, 2);
    posix_spawn_file_actions_addchdir_np(&fa, l->sandbox);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&pid, cz->init_path, &fa, &attr, argv, l->envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start '%s': %s", cz->init_path, strerror(rc));
        return -rc;
    }
    *ret_pid = pid;
    return 0;
}

/* --- nested containers --- */

/* The process whose namespaces a nested container joins: the parent's
 * helper has exec'd the executor, unless the parent has a PID namespace;
 * then the helper stayed outside and any other process of the parent's
 * cgroup (its PID 1, the executor) is inside. */
static pid_t ns_holder(struct ag_cz *cz, const struct ag_cz_container *parent)
{
    char buf[16384];
    if (!(cz->ns_flags & CLONE_NEWPID) || !kill_dir(parent) ||
        ag_cgroup_read(kill_dir(parent), "cgroup.procs", buf, sizeof(buf)) < 0)
        return parent->pid;
    for (char *p = buf; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 1 && pid != parent->pid)
            return (pid_t)pid;
        p = end;
        while (*p == '\n')
            p++;
    }
    return parent->pid;
}

static int nested_cgroups_create(struct ag_cz_container *parent, struct ag_cz_container *c,
                                 char *err, size_t errlen)
{
    char path[AG_CGROUP_PATH_MAX * 2];
    for (int i = 0; i < AG_CG_N; i++) {
        if (!parent->cg[i])
            continue;
        snprintf(path, sizeof(path), "%s/%s", parent->cg[i], c->id);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create the cgroup '%s': %s", path, strerror(errno));
            return -errno;
        }
        c->cg[i] = strdup(path);
        if (!c->cg[i]) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    return 0;
}

static void nested_argv(struct ag_cz *cz, struct ag_cz_container *c, const struct ag_cz_launch *l,
                        pid_t holder, struct argv_buf *a)
{
    char ns[128] = "", pid[32];
    init_argv_head(cz, c, a, ns);
    snprintf(pid, sizeof(pid), "%d", (int)holder);
    if (ns[0]) {
        argv_add(a, "--join=%s", pid);
        argv_add(a, "--ns=%s", ns);
        argv_add(a, "--cwd=%s", l->sandbox);
    }
    if (l->user && *l->user)
        argv_add(a, "--user=%s", l->user);
    /* Even without a PID namespace: the init then stays as the task's
     * parent to write it (a task's exit status is its result). */
    if (l->status_file)
        argv_add(a, "--status_file=%s", l->status_file);
    argv_add(a, "%s", "--");
    argv_add(a, "%s", l->path);
    for (size_t i = 0; l->argv && l->argv[i]; i++)
        argv_add(a, "%s", l->argv[i]);
}

/* Creates a container (nested in `parent` when not NULL: child cgroups of
 * the parent's, its namespaces joined), prepares every isolator and starts
 * the helper; on failure undoes what was done. */
static int launch(struct ag_cz *cz, struct ag_cz_container *parent, const struct ag_cz_launch *l,
                  struct ag_cz_container **ret, pid_t *ret_pid, char *err, size_t errlen)
{
    struct ag_cz_container *c = calloc(1, sizeof(*c));
    struct argv_buf a = {0};
    size_t prepared = 0;
    int rc;

    if (!c || !(c->sandbox = strdup(l->sandbox))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(c->id, sizeof(c->id), "%s", l->container_id);
    c->owner = l->owner;
    c->cz = cz;
    c->parent = parent;
    c->cpus = l->cpus;
    c->mem_mb = l->mem_mb;
    c->disk_mb = l->disk_mb;
    c->oom_efd = -1;
    rc = parent ? nested_cgroups_create(parent, c, err, errlen)
                : container_cgroups_create(cz, c, err, errlen);
    for (; rc == 0 && prepared < cz->n_iso; prepared++)
        if (cz->iso[prepared]->prepare)
            rc = cz->iso[prepared]->prepare(cz, c, l, err, errlen);
    if (rc == 0) {
        if (parent)
            nested_argv(cz, c, l, ns_holder(cz, parent), &a);
        else
            helper_argv(cz, c, l, &a);
        if (a.oom) {
            snprintf(err, errlen, "out of memory");
            rc = -ENOMEM;
        }
    }
    if (rc == 0)
        rc = helper_spawn(cz, a.v, l, &c->pid, err, errlen);
    argv_release(&a);
    if (rc < 0) {
        for (size_t i = 0; i < prepared; i++)
            if (cz->iso[i]->cleanup)
                cz->iso[i]->cleanup(cz, c);
        container_cgroups_remove(cz, c);
        container_free(c);
        return rc;
    }
    c->next = &cz->head;
    c->prev = cz->head.prev;
    cz->head.prev->next = c;
    cz->head.prev = c;
    *ret = c;
    *ret_pid = c->pid;
    return 0;
}

int ag_cz_launch(struct ag_cz *cz, const struct ag_cz_launch *l, struct ag_cz_container **ret,
                 pid_t *ret_pid, char *err, size_t errlen)
{
    return launch(cz, NULL, l, ret, ret_pid, err, errlen);
}

int ag_cz_launch_nested(struct ag_cz *cz, struct ag_cz_container *parent,
                        const struct ag_cz_launch *l, struct ag_cz_container **ret, pid_t *ret_pid,
                        char *err, size_t errlen)
{
    return launch(cz, parent, l, ret, ret_pid, err, errlen);
}

/* --- statistics --- */

json_t *ag_cz_statistics(struct ag_cz *cz, struct ag_cz_container *c)
{
    json_t *s = json_pack("{s:f}", "timestamp", ag_now());
    if (!s)
        return NULL;
    if (c->cpus > 0)
        json_object_set_new(s, "cpus_limit", json_real(c->cpus));
    if (c->mem_limit > 0)
        json_object_set_new(s, "mem_limit_bytes", json_integer((json_int_t)c->mem_limit));
    for (size_t i = 0; i < cz->n_iso; i++)
        if (cz->iso[i]->usage)
            cz->iso[i]->usage(cz, c, s);
    if (!json_object_get(s, "processes") && kill_dir(c)) {
        int n = ag_cgroup_count_procs(kill_dir(c));
        if (n >= 0)
            json_object_set_new(s, "processes", json_integer(n));
    }
    return s;
}

json_t *ag_cz_container_status(struct ag_cz *cz, struct ag_cz_container *c)
{
    (void)cz;
    return json_pack("{s:{s:s},s:i}", "container_id", "value", c->id, "executor_pid", (int)c->pid);
}

/* --- recovery --- */

json_t *ag_cz_container_cgroups(const struct ag_cz_container *c)
{
    json_t *o = json_object();
    for (int i = 0; o && i < AG_CG_N; i++)
        if (c->cg[i])
            json_object_set_new(o, ag_cgroup_ctrl_name((enum ag_cgroup_ctrl)i),
                                json_string(c->cg[i]));
    return o;
}

static int recover_cgroups(struct ag_cz *cz, struct ag_cz_container *c, const json_t *cgroups,
                           char *err, size_t errlen)
{
    char path[AG_CGROUP_PATH_MAX * 2];
    for (int i = 0; i < AG_CG_N; i++) {
        const char *named = json_string_value(
            json_object_get(cgroups, ag_cgroup_ctrl_name((enum ag_cgroup_ctrl)i)));
        if (!ctrl_used(cz, i))
            continue;
        if (named)
            snprintf(path, sizeof(path), "%s", named);
        else
            snprintf(path, sizeof(path), "%s/%s/%s", cz->layout.mount[i], cz->root, c->id);
        if (access(path, F_OK) < 0) {
            snprintf(err, errlen, "the cgroup '%s' of container '%s' is gone", path, c->id);
            return -ENOENT;
        }
        c->cg[i] = strdup(path);
        if (!c->cg[i]) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    return 0;
}

int ag_cz_recover(struct ag_cz *cz, const char *container_id, const char *sandbox, pid_t pid,
                  double cpus, double mem_mb, double disk_mb, const json_t *cgroups, void *owner,
                  struct ag_cz_container **ret, char *err, size_t errlen)
{
    struct ag_cz_container *c = calloc(1, sizeof(*c));
    int rc;

    if (!c || !(c->sandbox = strdup(sandbox ? sandbox : ""))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(c->id, sizeof(c->id), "%s", container_id);
    c->owner = owner;
    c->cz = cz;
    c->pid = pid;
    c->cpus = cpus;
    c->mem_mb = mem_mb;
    c->disk_mb = disk_mb;
    c->oom_efd = -1;
    rc = recover_cgroups(cz, c, cgroups, err, errlen);
    for (size_t i = 0; rc == 0 && i < cz->n_iso; i++)
        if (cz->iso[i]->recover && cz->iso[i]->recover(cz, c) < 0)
            ag_warn("container '%s': isolator %s could not recover; its limit is not watched",
                    c->id, cz->iso[i]->name);
    if (rc < 0) {
        container_free(c);
        return rc;
    }
    c->next = &cz->head;
    c->prev = cz->head.prev;
    cz->head.prev->next = c;
    cz->head.prev = c;
    *ret = c;
    return 0;
}
