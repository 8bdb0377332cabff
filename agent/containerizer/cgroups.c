/*
 * cgroups: layout detection and cgroupfs file helpers (see cgroups.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/containerizer/cgroups.h"

static const char *const ctrl_names[AG_CG_N] = {"cpu", "cpuacct", "memory", "pids", "freezer"};

const char *ag_cgroup_ctrl_name(enum ag_cgroup_ctrl ctrl)
{
    return ctrl < AG_CG_N ? ctrl_names[ctrl] : "?";
}

/* Whether comma-separated `list` holds `word`. */
static bool list_has(const char *list, const char *word)
{
    size_t wl = strlen(word);
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == wl && strncmp(p, word, wl) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Whether whitespace-separated `list` holds `word`. */
static bool words_has(const char *list, const char *word)
{
    size_t wl = strlen(word);
    const char *p = list;
    while (p && *p) {
        size_t n;
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        n = strcspn(p, " \t\n");
        if (n == wl && strncmp(p, word, wl) == 0)
            return true;
        p += n;
    }
    return false;
}

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNT OPTS [OPTIONAL...] -
 * FSTYPE SOURCE SUPEROPTS". 0 with the fields copied, -EINVAL otherwise. */
static int mountinfo_line(const char *line, char *root, char *mount, char *fstype, char *superopts,
                          size_t len)
{
    char fields[6][AG_CGROUP_PATH_MAX];
    const char *p = line, *sep;
    int i;

    for (i = 0; i < 5; i++) {
        size_t n;
        while (*p == ' ')
            p++;
        n = strcspn(p, " \n");
        if (n == 0 || n >= AG_CGROUP_PATH_MAX)
            return -EINVAL;
        memcpy(fields[i], p, n);
        fields[i][n] = '\0';
        p += n;
    }
    sep = strstr(p, " - ");
    if (!sep)
        return -EINVAL;
    if (sscanf(sep + 3, "%255s %*s %255s", fields[5], fields[0]) != 2)
        return -EINVAL;
    snprintf(root, len, "%s", fields[3]);
    snprintf(mount, len, "%s", fields[4]);
    snprintf(fstype, len, "%s", fields[5]);
    snprintf(superopts, len, "%s", fields[0]);
    return 0;
}

void ag_cgroup_layout_parse(const char *mountinfo, const char *v2_controllers,
                            struct ag_cgroup_layout *ret)
{
    const char *line = mountinfo;
    bool v1_useful = false;

    memset(ret, 0, sizeof(*ret));
    while (line && *line) {
        char root[AG_CGROUP_PATH_MAX], mount[AG_CGROUP_PATH_MAX];
        char fstype[AG_CGROUP_PATH_MAX], opts[AG_CGROUP_PATH_MAX];
        const char *nl = strchr(line, '\n');
        char buf[2048];
        size_t n = nl ? (size_t)(nl - line) : strlen(line);

        if (n < sizeof(buf)) {
            memcpy(buf, line, n);
            buf[n] = '\0';
            if (mountinfo_line(buf, root, mount, fstype, opts, sizeof(root)) == 0 &&
                strcmp(root, "/") == 0) {
                if (strcmp(fstype, "cgroup") == 0) {
                    for (int c = 0; c < AG_CG_N; c++) {
                        if (ret->mount[c][0] == '\0' && list_has(opts, ctrl_names[c])) {
                            snprintf(ret->mount[c], sizeof(ret->mount[c]), "%s", mount);
                            if (c == AG_CG_CPU || c == AG_CG_MEMORY || c == AG_CG_PIDS)
                                v1_useful = true;
                        }
                    }
                } else if (strcmp(fstype, "cgroup2") == 0 && ret->v2_mount[0] == '\0') {
                    snprintf(ret->v2_mount, sizeof(ret->v2_mount), "%s", mount);
                }
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (v1_useful) {
        ret->version = AG_CGROUP_V1;
        return;
    }
    memset(ret->mount, 0, sizeof(ret->mount));
    if (ret->v2_mount[0] == '\0')
        return;
    ret->version = AG_CGROUP_V2;
    /* v2 has no separate cpuacct or freezer: cpu.stat and cgroup.freeze /
     * cgroup.kill live in every cgroup. */
    for (int c = 0; c < AG_CG_N; c++) {
        bool present = c == AG_CG_CPUACCT || c == AG_CG_FREEZER ||
                       (v2_controllers && words_has(v2_controllers, ctrl_names[c]));
        if (present)
            snprintf(ret->mount[c], sizeof(ret->mount[c]), "%s", ret->v2_mount);
    }
}

static char *read_all(const char *path)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (!buf || fd < 0) {
        free(buf);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    for (;;) {
        ssize_t n;
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

int ag_cgroup_layout_detect(struct ag_cgroup_layout *ret)
{
    char *mi = read_all("/proc/self/mountinfo");
    char *ctrls = NULL;
    if (!mi)
        return -errno ? -errno : -ENOMEM;
    ag_cgroup_layout_parse(mi, NULL, ret);
    if (ret->version == AG_CGROUP_V2) {
        char path[AG_CGROUP_PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/cgroup.controllers", ret->v2_mount);
        ctrls = read_all(path);
        ag_cgroup_layout_parse(mi, ctrls ? ctrls : "", ret);
    }
    free(ctrls);
    free(mi);
    return 0;
}

bool ag_cgroup_layout_has(const struct ag_cgroup_layout *l, enum ag_cgroup_ctrl ctrl)
{
    return l->version != AG_CGROUP_NONE && ctrl < AG_CG_N && l->mount[ctrl][0] != '\0';
}

int ag_cgroup_stat_field(const char *text, const char *key, uint64_t *ret)
{
    size_t kl = strlen(key);
    const char *p = text;
    while (p && *p) {
        if (strncmp(p, key, kl) == 0 && (p[kl] == ' ' || p[kl] == '\t')) {
            char *end;
            unsigned long long v = strtoull(p + kl + 1, &end, 10);
            if (end == p + kl + 1)
                return -EINVAL;
            *ret = (uint64_t)v;
            return 0;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -ENOENT;
}

uint64_t ag_cgroup_cpu_shares(double cpus)
{
    double s = cpus * 1024.0;
    if (!(s >= 2.0))
        return 2;
    if (s > 262144.0)
        return 262144;
    return (uint64_t)s;
}

uint64_t ag_cgroup_cpu_weight(double cpus)
{
    /* The mapping systemd and runc use between shares [2, 262144] and
     * weights [1, 10000]. */
    uint64_t shares = ag_cgroup_cpu_shares(cpus);
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t ag_cgroup_cfs_quota(double cpus, uint64_t period_us)
{
    double q = cpus * (double)period_us;
    return q < 1000.0 ? 1000 : (uint64_t)q;
}

uint64_t ag_cgroup_mem_limit(double mem_mb)
{
    const uint64_t mb = 1024 * 1024;
    if (!(mem_mb >= 32.0))
        return 32 * mb;
    return (uint64_t)(mem_mb * (double)mb);
}

int ag_cgroup_read(const char *dir, const char *file, char *buf, size_t len)
{
    char path[AG_CGROUP_PATH_MAX * 2];
    ssize_t n;
    size_t got = 0;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    while (got + 1 < len && (n = read(fd, buf + got, len - got - 1)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    return 0;
}

int ag_cgroup_read_u64(const char *dir, const char *file, uint64_t *ret)
{
    char buf[64], *end;
    int rc = ag_cgroup_read(dir, file, buf, sizeof(buf));
    if (rc < 0)
        return rc;
    if (strncmp(buf, "max", 3) == 0) {
        *ret = UINT64_MAX;
        return 0;
    }
    *ret = (uint64_t)strtoull(buf, &end, 10);
    return end == buf ? -EINVAL : 0;
}

int ag_cgroup_write(const char *dir, const char *file, const char *value)
{
    char path[AG_CGROUP_PATH_MAX * 2];
    size_t len = strlen(value);
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = write(fd, value, len);
    if (n < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    close(fd);
    return (size_t)n == len ? 0 : -EIO;
}

int ag_cgroup_write_u64(const char *dir, const char *file, uint64_t value)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)value);
    return ag_cgroup_write(dir, file, buf);
}

int ag_cgroup_count_procs(const char *dir)
{
    char buf[16384];
    int rc = ag_cgroup_read(dir, "cgroup.procs", buf, sizeof(buf)), n = 0;
    if (rc < 0)
        return rc;
    for (const char *p = buf; *p; p++)
        if (*p == '\n')
            n++;
    return n;
}

/* One pass: `signo` to every pid listed. Number of pids seen. */
static int signal_listed(const char *dir, int signo)
{
    char buf[65536];
    int n = 0;
    if (ag_cgroup_read(dir, "cgroup.procs", buf, sizeof(buf)) < 0)
        return 0;
    for (char *p = buf; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 1) {
            kill((pid_t)pid, signo);
            n++;
        }
        p = end;
        while (*p == '\n')
            p++;
    }
    return n;
}

int ag_cgroup_signal_all(const char *dir, int signo)
{
    return dir ? signal_listed(dir, signo) : 0;
}

/* The v1 freezer's state file says FROZEN (FREEZING is still on its way). */
static bool frozen_now(const char *freezer)
{
    char state[32];
    return ag_cgroup_read(freezer, "freezer.state", state, sizeof(state)) == 0 &&
           strncmp(state, "FROZEN", 6) == 0;
}

void ag_cgroup_kill_all(const char *dir, const char *freezer)
{
    char path[AG_CGROUP_PATH_MAX * 2];

    if (!dir)
        return;
    /* v2 (5.14+): one write kills the whole subtree, atomically. */
    snprintf(path, sizeof(path), "%s/cgroup.kill", dir);
    if (access(path, F_OK) == 0 && ag_cgroup_write(dir, "cgroup.kill", "1") == 0)
        return;
    /* v1: freeze (nothing can fork while the list is walked), signal every
     * pid listed, thaw (a frozen process dies only once thawed), and again
     * while processes are listed. An empty cgroup (the usual case, once an
     * executor's init has reaped its namespace) costs one read. */
    for (int round = 0; round < 16; round++) {
        bool frozen = false;
        if (ag_cgroup_count_procs(dir) <= 0)
            return;
        if (freezer && ag_cgroup_write(freezer, "freezer.state", "FROZEN") == 0) {
            frozen = true;
            /* Freezing is asynchronous: wait (briefly) for it to settle. */
            for (int i = 0; i < 100 && !frozen_now(freezer); i++)
                usleep(100);
        }
        signal_listed(dir, SIGKILL);
        if (frozen)
            ag_cgroup_write(freezer, "freezer.state", "THAWED");
        if (round > 0)
            usleep(1000);
    }
}
