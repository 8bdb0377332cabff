/*
 * cgroups: the control-group layout of the host and the file operations the
 * cgroup isolators share.
 *
 * Two layouts exist: cgroup v2 (one unified hierarchy, controllers enabled
 * per subtree) on modern hosts, and cgroup v1 (one hierarchy mounted per
 * controller, /sys/fs/cgroup/<controller>) on older or hybrid hosts such
 * as this one, where a cgroup2 mount may exist without useful controllers.
 * The layout is detected once, at agent start, from /proc/self/mountinfo.
 *
 * The parsing and arithmetic here are pure (no I/O) so that unit tests can
 * feed them text; the file helpers do plain open/read/write on cgroupfs.
 */
#ifndef AG_AGENT_CGROUPS_H
#define AG_AGENT_CGROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ag_cgroup_version {
    AG_CGROUP_NONE = 0, /* no usable cgroup filesystem */
    AG_CGROUP_V1 = 1,   /* a hierarchy per controller */
    AG_CGROUP_V2 = 2,   /* the unified hierarchy */
};

enum ag_cgroup_ctrl {
    AG_CG_CPU = 0,
    AG_CG_CPUACCT = 1,
    AG_CG_MEMORY = 2,
    AG_CG_PIDS = 3,
    AG_CG_FREEZER = 4,
    AG_CG_N = 5,
};

#define AG_CGROUP_PATH_MAX 512

struct ag_cgroup_layout {
    enum ag_cgroup_version version;
    /* v1: the mount point of each controller's hierarchy ("" if absent).
     * v2: every present controller holds the unified mount point. */
    char mount[AG_CG_N][AG_CGROUP_PATH_MAX];
    char v2_mount[AG_CGROUP_PATH_MAX]; /* the cgroup2 mount, "" if none */
};

/* The controller's name as the kernel spells it ("cpu", "memory"...). */
const char *ag_cgroup_ctrl_name(enum ag_cgroup_ctrl ctrl);

/* Parses /proc/self/mountinfo text. v1 wins when any v1 hierarchy carries
 * cpu, memory or pids (a hybrid host keeps its controllers there);
 * otherwise a cgroup2 mount gives v2, with the controllers listed in
 * `v2_controllers` (the text of its cgroup.controllers; NULL = none known).
 * Only mounts of a hierarchy's root ("/") count. Never fails: a host
 * without cgroups gives AG_CGROUP_NONE. */
void ag_cgroup_layout_parse(const char *mountinfo, const char *v2_controllers,
                            struct ag_cgroup_layout *ret);
/* Reads /proc/self/mountinfo (and the cgroup2 root's cgroup.controllers). */
int ag_cgroup_layout_detect(struct ag_cgroup_layout *ret);
/* Whether `ctrl` can be used. */
bool ag_cgroup_layout_has(const struct ag_cgroup_layout *l, enum ag_cgroup_ctrl ctrl);

/* The value of `key` in "key value" lines (memory.stat, cpu.stat,
 * cpuacct.stat, memory.events, memory.oom_control). 0 or -ENOENT. */
int ag_cgroup_stat_field(const char *text, const char *key, uint64_t *ret);

/* cpu.shares for `cpus` (v1): 1024 per cpu, at least 2 (as Mesos). */
uint64_t ag_cgroup_cpu_shares(double cpus);
/* cpu.weight (v2) for the same share: 1..10000, 100 = one cpu's 1024. */
uint64_t ag_cgroup_cpu_weight(double cpus);
/* CFS quota in microseconds per `period_us` for `cpus`, at least 1 ms. */
uint64_t ag_cgroup_cfs_quota(double cpus, uint64_t period_us);
/* Memory limit in bytes for `mem_mb`, at least 32 MB (as Mesos). */
uint64_t ag_cgroup_mem_limit(double mem_mb);

/* Reads a cgroup file into buf (NUL-terminated). 0 or -errno. */
int ag_cgroup_read(const char *dir, const char *file, char *buf, size_t len);
/* Reads a file holding one number ("max" reads as UINT64_MAX). */
int ag_cgroup_read_u64(const char *dir, const char *file, uint64_t *ret);
/* Writes `value` to dir/file. 0 or -errno. */
int ag_cgroup_write(const char *dir, const char *file, const char *value);
int ag_cgroup_write_u64(const char *dir, const char *file, uint64_t value);
/* Number of processes in the cgroup (lines of cgroup.procs), or -errno. */
int ag_cgroup_count_procs(const char *dir);
/* SIGKILLs every process of the cgroup: cgroup.kill on v2 when the kernel
 * has it; otherwise rounds of (freeze when `freezer`, a v1 freezer cgroup
 * holding the same processes, is given; SIGKILL every pid in
 * cgroup.procs; thaw) until the cgroup is empty, at most 16. */
void ag_cgroup_kill_all(const char *dir, const char *freezer);
/* Sends `signo` to every process listed in dir/cgroup.procs (once, no
 * freezing: for the polite signals). The number signalled. */
int ag_cgroup_signal_all(const char *dir, int signo);

#endif
