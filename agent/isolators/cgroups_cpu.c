/*
 * cgroups/cpu: CPU shares from `cpus` (1024 per cpu), a hard CFS quota
 * with --cgroups_enable_cfs, and CPU time statistics (cpuacct on v1,
 * cpu.stat on v2).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/isolators/isolator.h"

#define CFS_PERIOD_US 100000

static int cpu_set(struct ag_cz *cz, struct ag_cz_container *c, double cpus)
{
    const char *dir = c->cg[AG_CG_CPU];
    int rc;
    if (!dir || !(cpus > 0))
        return 0;
    if (cz->layout.version == AG_CGROUP_V1) {
        rc = ag_cgroup_write_u64(dir, "cpu.shares", ag_cgroup_cpu_shares(cpus));
        if (rc == 0 && cz->cfg.cgroups_enable_cfs) {
            rc = ag_cgroup_write_u64(dir, "cpu.cfs_period_us", CFS_PERIOD_US);
            if (rc == 0)
                rc = ag_cgroup_write_u64(dir, "cpu.cfs_quota_us",
                                         ag_cgroup_cfs_quota(cpus, CFS_PERIOD_US));
        }
    } else {
        rc = ag_cgroup_write_u64(dir, "cpu.weight", ag_cgroup_cpu_weight(cpus));
        if (rc == 0 && cz->cfg.cgroups_enable_cfs) {
            char v[64];
            snprintf(v, sizeof(v), "%llu %d",
                     (unsigned long long)ag_cgroup_cfs_quota(cpus, CFS_PERIOD_US), CFS_PERIOD_US);
            rc = ag_cgroup_write(dir, "cpu.max", v);
        }
    }
    return rc;
}

static int cpu_prepare(struct ag_cz *cz, struct ag_cz_container *c, const struct ag_cz_launch *l,
                       char *err, size_t errlen)
{
    int rc = cpu_set(cz, c, l->cpus);
    if (rc < 0)
        snprintf(err, errlen, "cannot set the CPU limit of cgroup '%s': %s", c->cg[AG_CG_CPU],
                 strerror(-rc));
    return rc;
}

static int cpu_update(struct ag_cz *cz, struct ag_cz_container *c, double cpus, double mem_mb)
{
    (void)mem_mb;
    return cpu_set(cz, c, cpus);
}

static void set_secs(json_t *stats, const char *key, double secs)
{
    json_object_set_new(stats, key, json_real(secs));
}

static void cpu_usage(struct ag_cz *cz, struct ag_cz_container *c, json_t *stats)
{
    char buf[2048];
    uint64_t v;

    if (cz->layout.version == AG_CGROUP_V1) {
        long hz = sysconf(_SC_CLK_TCK);
        if (hz <= 0)
            hz = 100;
        if (c->cg[AG_CG_CPUACCT] &&
            ag_cgroup_read(c->cg[AG_CG_CPUACCT], "cpuacct.stat", buf, sizeof(buf)) == 0) {
            if (ag_cgroup_stat_field(buf, "user", &v) == 0)
                set_secs(stats, "cpus_user_time_secs", (double)v / (double)hz);
            if (ag_cgroup_stat_field(buf, "system", &v) == 0)
                set_secs(stats, "cpus_system_time_secs", (double)v / (double)hz);
        }
        if (c->cg[AG_CG_CPU] &&
            ag_cgroup_read(c->cg[AG_CG_CPU], "cpu.stat", buf, sizeof(buf)) == 0) {
            if (ag_cgroup_stat_field(buf, "nr_periods", &v) == 0)
                json_object_set_new(stats, "cpus_nr_periods", json_integer((json_int_t)v));
            if (ag_cgroup_stat_field(buf, "nr_throttled", &v) == 0)
                json_object_set_new(stats, "cpus_nr_throttled", json_integer((json_int_t)v));
            if (ag_cgroup_stat_field(buf, "throttled_time", &v) == 0)
                set_secs(stats, "cpus_throttled_time_secs", (double)v / 1e9);
        }
        return;
    }
    if (c->cg[AG_CG_CPU] && ag_cgroup_read(c->cg[AG_CG_CPU], "cpu.stat", buf, sizeof(buf)) == 0) {
        if (ag_cgroup_stat_field(buf, "user_usec", &v) == 0)
            set_secs(stats, "cpus_user_time_secs", (double)v / 1e6);
        if (ag_cgroup_stat_field(buf, "system_usec", &v) == 0)
            set_secs(stats, "cpus_system_time_secs", (double)v / 1e6);
        if (ag_cgroup_stat_field(buf, "nr_periods", &v) == 0)
            json_object_set_new(stats, "cpus_nr_periods", json_integer((json_int_t)v));
        if (ag_cgroup_stat_field(buf, "nr_throttled", &v) == 0)
            json_object_set_new(stats, "cpus_nr_throttled", json_integer((json_int_t)v));
        if (ag_cgroup_stat_field(buf, "throttled_usec", &v) == 0)
            set_secs(stats, "cpus_throttled_time_secs", (double)v / 1e6);
    }
}

const struct ag_isolator_ops ag_isolator_cgroups_cpu = {
    .name = "cgroups/cpu",
    .ns_flag = 0,
    .ctrl = AG_CG_CPU,
    .prepare = cpu_prepare,
    .update = cpu_update,
    .usage = cpu_usage,
};
