/*
 * isolator: the ops table every isolator implements, and the container and
 * containerizer state the isolators share with the containerizer.
 *
 * An isolator either asks for a namespace (ns_flag), or needs a cgroup
 * controller (ctrl) and sets its limits in `prepare`, before the
 * container's first process joins; `check` looks for a limit hit (e.g.
 * the OOM counter) and reports it with ag_cz_report_limit; `usage` adds
 * its part of the ResourceStatistics; `cleanup` releases what `prepare`
 * made (the containerizer removes the cgroup directories itself).
 */
#ifndef AG_AGENT_ISOLATOR_H
#define AG_AGENT_ISOLATOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/containerizer/cgroups.h"
#include "agent/containerizer/containerizer.h"

struct ag_timer;
struct event;

struct ag_isolator_ops {
    const char *name; /* as written in --isolation, e.g. "cgroups/mem" */
    int ns_flag;      /* CLONE_NEW* asked for, 0 if none */
    int ctrl;         /* enum ag_cgroup_ctrl needed, -1 if none */
    /* At agent start: whether the host can do it. May be NULL. */
    int (*setup)(struct ag_cz *cz, char *err, size_t errlen);
    /* Before the container's process starts: limits. May be NULL. */
    int (*prepare)(struct ag_cz *cz, struct ag_cz_container *c, const struct ag_cz_launch *l,
                   char *err, size_t errlen);
    /* New limits for a running container (more tasks for its executor).
     * May be NULL. */
    int (*update)(struct ag_cz *cz, struct ag_cz_container *c, double cpus, double mem_mb);
    /* Looks for a limit hit now. May be NULL. */
    void (*check)(struct ag_cz *cz, struct ag_cz_container *c);
    /* Adds statistics to `stats`. May be NULL. */
    void (*usage)(struct ag_cz *cz, struct ag_cz_container *c, json_t *stats);
    /* A container re-adopted after an agent restart (its cgroups and
     * limits exist): set up what prepare would have in this process (e.g.
     * the OOM watch). May be NULL. */
    int (*recover)(struct ag_cz *cz, struct ag_cz_container *c);
    /* Releases what prepare made. May be NULL. */
    void (*cleanup)(struct ag_cz *cz, struct ag_cz_container *c);
};

struct ag_cz_container {
    struct ag_cz_container *prev, *next; /* in cz->containers */
    struct ag_cz *cz;
    struct ag_cz_container *parent; /* nested: the executor's container; else NULL */
    char id[64];
    char *sandbox;
    void *owner;
    pid_t pid; /* the helper's pid */
    double cpus, mem_mb, disk_mb;
    uint64_t mem_limit; /* bytes, 0 = none */
    char *cg[AG_CG_N];  /* cgroup directory per controller, NULL if unused */
    bool limited;       /* a limitation was reported (once only) */
    /* cgroups/mem */
    int oom_efd;
    struct event *oom_ev;
    /* disk/du */
    uint64_t disk_used;
    double disk_checked; /* monotonic time of the last du */
};

#define AG_CZ_MAX_ISOLATORS 16

struct ag_cz {
    struct ag_loop *loop;
    struct ag_cz_config cfg;
    char *root; /* --cgroups_root */
    char *init_path;
    char isolation[512];
    struct ag_cgroup_layout layout;
    const struct ag_isolator_ops *iso[AG_CZ_MAX_ISOLATORS];
    size_t n_iso;
    int ns_flags;
    bool use_cgroups; /* some isolator needs cgroups */
    struct ag_cz_callbacks cb;
    void *arg;
    struct ag_cz_container head; /* list of live containers */
    char **rm;                   /* cgroup directories still to remove */
    unsigned *rm_tries;          /* attempts per directory */
    size_t n_rm, cap_rm;
    uint64_t destroy_errors; /* cgroups given up on */
    struct ag_timer *tick;
};

/* Reports a limitation once: calls the agent back, then kills the
 * container. `resource` names the resource ("mem", "disk") and `amount`
 * its limit in MB, for TaskStatus.limitation. */
void ag_cz_report_limit(struct ag_cz *cz, struct ag_cz_container *c, const char *reason,
                        const char *message, const char *resource, double amount);

extern const struct ag_isolator_ops ag_isolator_cgroups_cpu;
extern const struct ag_isolator_ops ag_isolator_cgroups_mem;
extern const struct ag_isolator_ops ag_isolator_cgroups_pids;
extern const struct ag_isolator_ops ag_isolator_ns_pid;
extern const struct ag_isolator_ops ag_isolator_ns_mount;
extern const struct ag_isolator_ops ag_isolator_ns_uts;
extern const struct ag_isolator_ops ag_isolator_ns_ipc;
extern const struct ag_isolator_ops ag_isolator_ns_net;
extern const struct ag_isolator_ops ag_isolator_disk_du;

#endif
