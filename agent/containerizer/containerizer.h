/*
 * containerizer: runs each executor in a container made of isolators.
 *
 * A container is one executor's process tree: a cgroup per controller in
 * use (under --cgroups_root at the hierarchy roots), namespaces, and the
 * limits taken from the executor's resources. The processes are started
 * through agora-container-init (agent/init/main.c), a small helper the
 * agent posix_spawns: it joins the cgroups, enters new namespaces, becomes
 * (through one fork of a small process) PID 1 of the new PID namespace,
 * prepares the mounts, and runs the executor as its child. The agent never
 * forks itself.
 *
 * Isolators are ops tables (isolator.h), one file each under
 * agent/isolators/. The containerizer owns the containers and reports
 * limitations (OOM, disk over quota) through a callback; the agent turns
 * those into terminal status updates. With --isolation=posix nothing is
 * isolated and executors are plain processes, as before.
 */
#ifndef AG_AGENT_CONTAINERIZER_H
#define AG_AGENT_CONTAINERIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/containerizer/cgroups.h"

struct ag_loop;
struct ag_flag;
struct ag_cz;
struct ag_cz_container;

/* The isolation flags (values set by the agent's flag parser). */
struct ag_cz_config {
    char *isolation;    /* --isolation: comma list, "posix" = none */
    char *cgroups_root; /* --cgroups_root */
    bool cgroups_enable_cfs;
    int cgroups_pids_limit; /* 0 = no limit */
    bool switch_user;
    double container_disk_watch_interval;
    bool enforce_container_disk_quota;
};

#define AG_CZ_MAX_FLAGS 8

/* Sets defaults and writes up to `max` flag descriptions (pointing into
 * `cfg`) to `out`. The number written. */
size_t ag_cz_config_flags(struct ag_cz_config *cfg, struct ag_flag *out, size_t max);

/* The default --isolation: the cgroup isolators and the PID and mount
 * (unless "/" is not a mount point), UTS and IPC namespaces as root when
 * cgroups are writable, "posix" otherwise. Static string. */
const char *ag_cz_default_isolation(void);
/* Why the default leaves an isolator out that it normally has (for the
 * agent's log), or NULL. Static string. */
const char *ag_cz_default_isolation_note(void);
/* Whether "/" is a mount point here (not inside a plain chroot): mount
 * namespaces need it. */
bool ag_cz_root_is_mount_point(void);
/* Whether /proc/self/mountinfo text lists a mount at "/". */
bool ag_cz_mountinfo_has_root(const char *text);

/* A resource limit a container hit. */
enum ag_cz_limit {
    AG_CZ_LIMIT_MEMORY = 0,
    AG_CZ_LIMIT_DISK = 1,
};

struct ag_cz_callbacks {
    /* The container exceeded a limit and is being killed. `reason` is a
     * TaskStatus reason name, `message` says the limit, `limitation` is a
     * TaskStatus.limitation object (borrowed). */
    void (*limited)(void *arg, struct ag_cz_container *c, const char *reason, const char *message,
                    const json_t *limitation);
};

/* Creates the containerizer: parses --isolation, detects the cgroup
 * layout and creates <hierarchy>/<cgroups_root> where needed. `init_path`
 * is the agora-container-init binary. -EINVAL with a message naming the
 * bad part. */
int ag_cz_new(struct ag_loop *loop, const struct ag_cz_config *cfg, const char *init_path,
              const struct ag_cz_callbacks *cb, void *arg, struct ag_cz **ret, char *err,
              size_t errlen);
/* Kills every container left, removes their cgroups (and the root ones
 * if empty). NULL is fine. */
void ag_cz_free(struct ag_cz *cz);
/* Whether any isolator is active (else executors are plain processes). */
bool ag_cz_isolating(const struct ag_cz *cz);
/* Whether the mount namespace is on (MESOS_SANDBOX is then the mount). */
bool ag_cz_mounts_sandbox(const struct ag_cz *cz);
bool ag_cz_switch_user(const struct ag_cz *cz);
/* Whether containers get a network namespace of their own (only lo; the
 * agent is reached through a relay on 127.0.0.1:<agent port> inside). */
bool ag_cz_net_isolated(const struct ag_cz *cz);
/* The isolation in effect, e.g. "cgroups/cpu,cgroups/mem" or "posix". */
const char *ag_cz_isolation(const struct ag_cz *cz);
enum ag_cgroup_version ag_cz_cgroup_version(const struct ag_cz *cz);

#define AG_CZ_SANDBOX_MOUNT "/mnt/mesos/sandbox"

/* What a container is launched with. */
struct ag_cz_launch {
    const char *container_id;
    const char *sandbox;  /* host path */
    const char *work_dir; /* the agent's (kept reachable under a private /tmp) */
    double cpus;          /* limits: 0 = none */
    double mem_mb;
    double disk_mb;
    const char *hostname; /* ContainerInfo.hostname, may be NULL */
    const char *user;     /* run-as user (already checked), NULL = agent's */
    const char *path;     /* executable */
    char *const *argv;
    char *const *envp;
    int out_fd, err_fd;         /* the executor's stdout/stderr */
    const char *agent_endpoint; /* "ip:port", relayed into a network namespace */
    void *owner;                /* given back by ag_cz_container_owner */
    const char *status_file;    /* the init writes the executor's exit here */
};

/* Creates the container (cgroups and limits) and starts its process
 * through agora-container-init. 0 with *ret and *ret_pid (the helper's
 * pid, to be reaped by the caller); -errno with a message, nothing left
 * behind. */
int ag_cz_launch(struct ag_cz *cz, const struct ag_cz_launch *l, struct ag_cz_container **ret,
                 pid_t *ret_pid, char *err, size_t errlen);
/* Launches a container nested in `parent` (a task of a task group under
 * the default executor): cgroups that are children of the parent's (its
 * own limits from l->cpus/l->mem_mb, counted in the parent's too), and
 * the parent's namespaces, joined rather than made (agora-container-init
 * --join). l->sandbox is only the working directory (no mounts are made:
 * the parent's mount namespace already shows the host paths). Limits hit
 * are reported through `limited` like any container's. 0 with *ret and
 * *ret_pid (to be reaped by the caller), or -errno with a message. */
int ag_cz_launch_nested(struct ag_cz *cz, struct ag_cz_container *parent,
                        const struct ag_cz_launch *l, struct ag_cz_container **ret, pid_t *ret_pid,
                        char *err, size_t errlen);
/* The parent of a nested container, else NULL. */
struct ag_cz_container *ag_cz_container_parent(const struct ag_cz_container *c);
/* Raises a running container's limits to `cpus` and `mem_mb` (its
 * executor got another task). Memory is never lowered, as in Mesos: pages
 * in use could not be taken back. 0 or -errno. */
int ag_cz_update(struct ag_cz *cz, struct ag_cz_container *c, double cpus, double mem_mb);
/* SIGKILLs every process of the container and of the containers nested
 * in it (it stays until destroyed): through its cgroup (v2 cgroup.kill; v1
 * freeze, kill, thaw), or, without cgroups, by killing the init of its PID
 * namespace. */
void ag_cz_kill(struct ag_cz *cz, struct ag_cz_container *c);
/* Whether the container can find all its processes by itself (it has a
 * cgroup or a PID namespace), so that nobody needs to scan /proc. */
bool ag_cz_holds_all(const struct ag_cz *cz, const struct ag_cz_container *c);
/* Sends `signo` to the container's processes: SIGKILL as ag_cz_kill,
 * another signal to every process of its cgroup (or, without one, to its
 * helper's process group). */
void ag_cz_signal(struct ag_cz *cz, struct ag_cz_container *c, int signo);
/* Checks the limits now (e.g. before accepting a terminal update from the
 * executor, so that an OOM kill is reported as such): may call `limited`.
 */
void ag_cz_check(struct ag_cz *cz, struct ag_cz_container *c);
/* Kills what is left, removes the cgroups (retried in the background
 * while processes exit) and frees the container. NULL is fine. */
void ag_cz_destroy(struct ag_cz *cz, struct ag_cz_container *c);
/* Forgets the container without touching it: its processes and cgroups
 * stay for the next agent to recover (ag_cz_recover). */
void ag_cz_release(struct ag_cz *cz, struct ag_cz_container *c);

/* {"<controller>": "<cgroup dir>"} of a container, for the checkpoint. */
json_t *ag_cz_container_cgroups(const struct ag_cz_container *c);
/* Re-adopts a container an earlier agent started (agent recovery): its
 * cgroups are `cgroups` (as ag_cz_container_cgroups gave; NULL: the ones
 * a launch with this id makes), its first process `pid`, its limits
 * `cpus` and `mem_mb`. Statistics, the OOM watch, kill and destroy then
 * work as for a container launched here. -ENOENT with a message when a
 * cgroup is gone. */
int ag_cz_recover(struct ag_cz *cz, const char *container_id, const char *sandbox, pid_t pid,
                  double cpus, double mem_mb, double disk_mb, const json_t *cgroups, void *owner,
                  struct ag_cz_container **ret, char *err, size_t errlen);
/* A recovered nested container's parent (kill and destroy go through it). */
void ag_cz_set_parent(struct ag_cz_container *c, struct ag_cz_container *parent);

/* Cgroups that could not be removed (processes that would not die) within
 * a minute: containerizer/mesos/container_destroy_errors. */
uint64_t ag_cz_destroy_errors(const struct ag_cz *cz);

void *ag_cz_container_owner(const struct ag_cz_container *c);
const char *ag_cz_container_id(const struct ag_cz_container *c);
/* ResourceStatistics (Mesos' JSON shape) of the container, new reference. */
json_t *ag_cz_statistics(struct ag_cz *cz, struct ag_cz_container *c);
/* ContainerStatus {container_id, executor_pid, cgroup_info?}, new ref. */
json_t *ag_cz_container_status(struct ag_cz *cz, struct ag_cz_container *c);

#endif
