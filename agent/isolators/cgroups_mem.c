/*
 * cgroups/mem: a hard memory limit from `mem` (no swap), OOM detection and
 * memory statistics.
 *
 * An OOM kill is learnt three ways, whichever comes first: the v1 OOM
 * eventfd (cgroup.event_control + memory.oom_control) on the event loop;
 * the periodic check of the oom_kill counter (memory.oom_control on v1,
 * memory.events on v2); and a check the agent makes before it accepts a
 * terminal update from the executor, so that a task the kernel killed is
 * reported as a memory limitation, not as a plain signal death.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/isolators/isolator.h"
#include "core/log.h"
#include "core/loop.h"

#define MB (1024.0 * 1024.0)

static void oom_event(evutil_socket_t fd, short what, void *arg);

/* v1: an eventfd the kernel signals on every OOM in the cgroup. */
static int oom_watch(struct ag_cz *cz, struct ag_cz_container *c)
{
    char path[AG_CGROUP_PATH_MAX * 2], line[64];
    int efd, cfd, rc;

    snprintf(path, sizeof(path), "%s/memory.oom_control", c->cg[AG_CG_MEMORY]);
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        return -errno;
    cfd = open(path, O_RDONLY | O_CLOEXEC);
    if (cfd < 0) {
        rc = -errno;
        close(efd);
        return rc;
    }
    snprintf(line, sizeof(line), "%d %d", efd, cfd);
    rc = ag_cgroup_write(c->cg[AG_CG_MEMORY], "cgroup.event_control", line);
    close(cfd);
    if (rc < 0) {
        close(efd);
        return rc;
    }
    c->oom_efd = efd;
    c->oom_ev = event_new(ag_loop_base(cz->loop), efd, EV_READ | EV_PERSIST, oom_event, c);
    if (!c->oom_ev || event_add(c->oom_ev, NULL) < 0)
        return -ENOMEM;
    return 0;
}

static int mem_prepare(struct ag_cz *cz, struct ag_cz_container *c, const struct ag_cz_launch *l,
                       char *err, size_t errlen)
{
    const char *dir = c->cg[AG_CG_MEMORY];
    uint64_t limit;
    int rc;

    if (!dir || !(l->mem_mb > 0))
        return 0;
    limit = ag_cgroup_mem_limit(l->mem_mb);
    if (cz->layout.version == AG_CGROUP_V1) {
        char probe[AG_CGROUP_PATH_MAX * 2];
        rc = ag_cgroup_write_u64(dir, "memory.limit_in_bytes", limit);
        if (rc == 0)
            ag_cgroup_write_u64(dir, "memory.soft_limit_in_bytes", limit);
        /* No swap: memsw (memory + swap) gets the same limit, when the
         * kernel accounts swap at all. */
        snprintf(probe, sizeof(probe), "%s/memory.memsw.limit_in_bytes", dir);
        if (rc == 0 && access(probe, F_OK) == 0)
            rc = ag_cgroup_write_u64(dir, "memory.memsw.limit_in_bytes", limit);
        if (rc == 0) {
            int w = oom_watch(cz, c);
            if (w < 0)
                ag_warn("container '%s': no OOM eventfd (%s); polling instead", c->id,
                        strerror(-w));
        }
    } else {
        rc = ag_cgroup_write_u64(dir, "memory.max", limit);
        if (rc == 0)
            ag_cgroup_write(dir, "memory.swap.max", "0");
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot set the memory limit of cgroup '%s': %s", dir, strerror(-rc));
        return rc;
    }
    c->mem_limit = limit;
    return 0;
}

/* After an agent restart: the limit is in the cgroup; watch for OOM again. */
static int mem_recover(struct ag_cz *cz, struct ag_cz_container *c)
{
    const char *dir = c->cg[AG_CG_MEMORY];
    if (!dir || !(c->mem_mb > 0))
        return 0;
    c->mem_limit = ag_cgroup_mem_limit(c->mem_mb);
    return cz->layout.version == AG_CGROUP_V1 ? oom_watch(cz, c) : 0;
}

static int mem_update(struct ag_cz *cz, struct ag_cz_container *c, double cpus, double mem_mb)
{
    const char *dir = c->cg[AG_CG_MEMORY];
    uint64_t limit;
    int rc;
    (void)cpus;
    if (!dir || c->mem_limit == 0 || !(mem_mb > 0))
        return 0;
    limit = ag_cgroup_mem_limit(mem_mb);
    if (limit <= c->mem_limit)
        return 0;
    if (cz->layout.version == AG_CGROUP_V1) {
        char probe[AG_CGROUP_PATH_MAX * 2];
        /* memsw must stay >= the memory limit: raise it first. */
        snprintf(probe, sizeof(probe), "%s/memory.memsw.limit_in_bytes", dir);
        rc = access(probe, F_OK) == 0
                 ? ag_cgroup_write_u64(dir, "memory.memsw.limit_in_bytes", limit)
                 : 0;
        if (rc == 0)
            rc = ag_cgroup_write_u64(dir, "memory.limit_in_bytes", limit);
        if (rc == 0)
            ag_cgroup_write_u64(dir, "memory.soft_limit_in_bytes", limit);
    } else {
        rc = ag_cgroup_write_u64(dir, "memory.max", limit);
    }
    if (rc == 0)
        c->mem_limit = limit;
    return rc;
}

/* The kernel's count of OOM kills in the container. */
static uint64_t oom_kills(struct ag_cz *cz, struct ag_cz_container *c)
{
    char buf[1024];
    uint64_t v = 0;
    const char *file = cz->layout.version == AG_CGROUP_V1 ? "memory.oom_control" : "memory.events";
    if (c->cg[AG_CG_MEMORY] && ag_cgroup_read(c->cg[AG_CG_MEMORY], file, buf, sizeof(buf)) == 0)
        ag_cgroup_stat_field(buf, "oom_kill", &v);
    return v;
}

static uint64_t max_usage(struct ag_cz *cz, struct ag_cz_container *c)
{
    uint64_t v = 0;
    if (cz->layout.version == AG_CGROUP_V1)
        ag_cgroup_read_u64(c->cg[AG_CG_MEMORY], "memory.max_usage_in_bytes", &v);
    else if (ag_cgroup_read_u64(c->cg[AG_CG_MEMORY], "memory.peak", &v) < 0)
        ag_cgroup_read_u64(c->cg[AG_CG_MEMORY], "memory.current", &v);
    return v;
}

static void mem_check(struct ag_cz *cz, struct ag_cz_container *c)
{
    char msg[512];
    if (!c->cg[AG_CG_MEMORY] || c->mem_limit == 0 || c->limited || oom_kills(cz, c) == 0)
        return;
    snprintf(msg, sizeof(msg),
             "Memory limit exceeded: the container's limit is %.0fMB (mem %.0fMB plus the "
             "executor's allowance); maximum used %.0fMB; the kernel killed a process (OOM)",
             (double)c->mem_limit / MB, c->mem_mb, (double)max_usage(cz, c) / MB);
    ag_cz_report_limit(cz, c, "REASON_CONTAINER_LIMITATION_MEMORY", msg, "mem",
                       (double)c->mem_limit / MB);
}

static void oom_event(evutil_socket_t fd, short what, void *arg)
{
    struct ag_cz_container *c = arg;
    uint64_t n;
    (void)what;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        return;
    mem_check(c->cz, c);
}

static void mem_cleanup(struct ag_cz *cz, struct ag_cz_container *c)
{
    (void)cz;
    if (c->oom_ev) {
        event_free(c->oom_ev);
        c->oom_ev = NULL;
    }
    if (c->oom_efd >= 0) {
        close(c->oom_efd);
        c->oom_efd = -1;
    }
}

static void mem_usage(struct ag_cz *cz, struct ag_cz_container *c, json_t *stats)
{
    const char *dir = c->cg[AG_CG_MEMORY];
    char buf[8192];
    uint64_t v;
    bool v1 = cz->layout.version == AG_CGROUP_V1;

    if (!dir)
        return;
    if (ag_cgroup_read_u64(dir, v1 ? "memory.usage_in_bytes" : "memory.current", &v) == 0)
        json_object_set_new(stats, "mem_total_bytes", json_integer((json_int_t)v));
    if (ag_cgroup_read(dir, "memory.stat", buf, sizeof(buf)) == 0) {
        if (ag_cgroup_stat_field(buf, v1 ? "total_rss" : "anon", &v) == 0) {
            json_object_set_new(stats, "mem_rss_bytes", json_integer((json_int_t)v));
            json_object_set_new(stats, "mem_anon_bytes", json_integer((json_int_t)v));
        }
        if (ag_cgroup_stat_field(buf, v1 ? "total_cache" : "file", &v) == 0) {
            json_object_set_new(stats, "mem_cache_bytes", json_integer((json_int_t)v));
            json_object_set_new(stats, "mem_file_bytes", json_integer((json_int_t)v));
        }
        if (ag_cgroup_stat_field(buf, v1 ? "total_mapped_file" : "file_mapped", &v) == 0)
            json_object_set_new(stats, "mem_mapped_file_bytes", json_integer((json_int_t)v));
        if (v1 && ag_cgroup_stat_field(buf, "total_swap", &v) == 0)
            json_object_set_new(stats, "mem_swap_bytes", json_integer((json_int_t)v));
    }
    if (c->mem_limit > 0)
        json_object_set_new(stats, "mem_soft_limit_bytes", json_integer((json_int_t)c->mem_limit));
    json_object_set_new(stats, "mem_max_usage_bytes", json_integer((json_int_t)max_usage(cz, c)));
    json_object_set_new(stats, "mem_oom_kills", json_integer((json_int_t)oom_kills(cz, c)));
}

const struct ag_isolator_ops ag_isolator_cgroups_mem = {
    .name = "cgroups/mem",
    .ns_flag = 0,
    .ctrl = AG_CG_MEMORY,
    .prepare = mem_prepare,
    .recover = mem_recover,
    .update = mem_update,
    .check = mem_check,
    .usage = mem_usage,
    .cleanup = mem_cleanup,
};
