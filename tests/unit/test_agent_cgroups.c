/* cgroup layout detection from mountinfo text, stat-file parsing and the
 * limit arithmetic (agent/containerizer/cgroups.c). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "agent/containerizer/cgroups.h"
#include "agent/containerizer/containerizer.h"
#include "test.h"

/* This machine's hybrid layout: v1 per controller plus an empty cgroup2. */
static const char *const hybrid =
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    /* a second view of the same hierarchy: the first mount wins */
    "45 44 0:29 / /tmp/other/cpu rw,relatime - cgroup cgroup rw,cpu\n";

TEST(layout_v1_hybrid)
{
    struct ag_cgroup_layout l;
    ag_cgroup_layout_parse(hybrid, NULL, &l);
    ASSERT_EQ(l.version, AG_CGROUP_V1);
    ASSERT_STREQ(l.mount[AG_CG_CPU], "/sys/fs/cgroup/cpu");
    ASSERT_STREQ(l.mount[AG_CG_CPUACCT], "/sys/fs/cgroup/cpuacct");
    ASSERT_STREQ(l.mount[AG_CG_MEMORY], "/sys/fs/cgroup/memory");
    ASSERT_STREQ(l.mount[AG_CG_PIDS], "/sys/fs/cgroup/pids");
    ASSERT_STREQ(l.mount[AG_CG_FREEZER], "/sys/fs/cgroup/freezer");
    ASSERT_STREQ(l.v2_mount, "/sys/fs/cgroup/unified");
    ASSERT_TRUE(ag_cgroup_layout_has(&l, AG_CG_MEMORY));
}

TEST(layout_v1_comounted_cpu_cpuacct)
{
    struct ag_cgroup_layout l;
    ag_cgroup_layout_parse("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup "
                           "rw,cpu,cpuacct\n"
                           "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
                           NULL, &l);
    ASSERT_EQ(l.version, AG_CGROUP_V1);
    ASSERT_STREQ(l.mount[AG_CG_CPU], "/sys/fs/cgroup/cpu,cpuacct");
    ASSERT_STREQ(l.mount[AG_CG_CPUACCT], "/sys/fs/cgroup/cpu,cpuacct");
    ASSERT_FALSE(ag_cgroup_layout_has(&l, AG_CG_PIDS));
}

TEST(layout_v1_ignores_non_root_binds)
{
    struct ag_cgroup_layout l;
    /* a cgroup directory bind-mounted elsewhere is not a hierarchy root */
    ag_cgroup_layout_parse("35 31 0:32 /agora /mnt/memory rw - cgroup cgroup rw,memory\n", NULL,
                           &l);
    ASSERT_EQ(l.version, AG_CGROUP_NONE);
}

TEST(layout_v2_unified)
{
    struct ag_cgroup_layout l;
    ag_cgroup_layout_parse(
        "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        "cpuset cpu io memory hugetlb pids rdma misc\n", &l);
    ASSERT_EQ(l.version, AG_CGROUP_V2);
    ASSERT_STREQ(l.mount[AG_CG_CPU], "/sys/fs/cgroup");
    ASSERT_STREQ(l.mount[AG_CG_MEMORY], "/sys/fs/cgroup");
    ASSERT_STREQ(l.mount[AG_CG_PIDS], "/sys/fs/cgroup");
    /* no separate cpuacct/freezer on v2: cpu.stat and cgroup.kill */
    ASSERT_TRUE(ag_cgroup_layout_has(&l, AG_CG_CPUACCT));
    ASSERT_TRUE(ag_cgroup_layout_has(&l, AG_CG_FREEZER));
}

TEST(layout_v2_without_pids_controller)
{
    struct ag_cgroup_layout l;
    ag_cgroup_layout_parse("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "cpu memory",
                           &l);
    ASSERT_EQ(l.version, AG_CGROUP_V2);
    ASSERT_FALSE(ag_cgroup_layout_has(&l, AG_CG_PIDS));
    ASSERT_TRUE(ag_cgroup_layout_has(&l, AG_CG_MEMORY));
}

TEST(layout_none_and_garbage)
{
    struct ag_cgroup_layout l;
    ag_cgroup_layout_parse("", NULL, &l);
    ASSERT_EQ(l.version, AG_CGROUP_NONE);
    ag_cgroup_layout_parse("garbage\n\n1 2 3\n - - -\n", NULL, &l);
    ASSERT_EQ(l.version, AG_CGROUP_NONE);
    ASSERT_FALSE(ag_cgroup_layout_has(&l, AG_CG_CPU));
}

TEST(stat_fields)
{
    const char *oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    const char *cpu = "user 250\nsystem 17\n";
    uint64_t v = 0;
    ASSERT_EQ(ag_cgroup_stat_field(oom, "oom_kill", &v), 0);
    ASSERT_EQ(v, 3);
    ASSERT_EQ(ag_cgroup_stat_field(oom, "oom_kill_disable", &v), 0);
    ASSERT_EQ(v, 0);
    ASSERT_EQ(ag_cgroup_stat_field(cpu, "system", &v), 0);
    ASSERT_EQ(v, 17);
    ASSERT_EQ(ag_cgroup_stat_field(cpu, "sys", &v), -ENOENT);
    ASSERT_EQ(ag_cgroup_stat_field("user x\n", "user", &v), -EINVAL);
}

TEST(cpu_shares_and_weight)
{
    ASSERT_EQ(ag_cgroup_cpu_shares(1.0), 1024);
    ASSERT_EQ(ag_cgroup_cpu_shares(0.6), 614);
    ASSERT_EQ(ag_cgroup_cpu_shares(0.0), 2);
    ASSERT_EQ(ag_cgroup_cpu_shares(0.001), 2);
    ASSERT_EQ(ag_cgroup_cpu_shares(1000.0), 262144);
    ASSERT_EQ(ag_cgroup_cpu_weight(0.0), 1);
    ASSERT_EQ(ag_cgroup_cpu_weight(1000.0), 10000);
    ASSERT_EQ(ag_cgroup_cpu_weight(1.0), 39);
}

TEST(cfs_quota)
{
    ASSERT_EQ(ag_cgroup_cfs_quota(1.0, 100000), 100000);
    ASSERT_EQ(ag_cgroup_cfs_quota(2.5, 100000), 250000);
    ASSERT_EQ(ag_cgroup_cfs_quota(0.001, 100000), 1000);
}

TEST(memory_limit)
{
    ASSERT_EQ(ag_cgroup_mem_limit(96), 96ull * 1024 * 1024);
    ASSERT_EQ(ag_cgroup_mem_limit(1), 32ull * 1024 * 1024);
    ASSERT_EQ(ag_cgroup_mem_limit(0), 32ull * 1024 * 1024);
}

/* Mount namespaces need "/" to be a mount point; inside a plain chroot
 * the kernel does not list one, and namespaces/mount is left out. */
TEST(root_mount_point_in_mountinfo)
{
    const char *host = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
                       "23 22 0:21 / /proc rw shared:5 - proc proc rw\n";
    const char *chroot = "41 40 0:21 / /proc rw shared:5 - proc proc rw\n"
                         "42 40 0:22 / /sys rw shared:6 - sysfs sysfs rw\n";
    ASSERT_TRUE(ag_cz_mountinfo_has_root(host));
    ASSERT_FALSE(ag_cz_mountinfo_has_root(chroot));
    ASSERT_FALSE(ag_cz_mountinfo_has_root(""));
    ASSERT_FALSE(ag_cz_mountinfo_has_root("garbage"));
}

TEST_MAIN(TEST_CASE(root_mount_point_in_mountinfo), TEST_CASE(layout_v1_hybrid),
          TEST_CASE(layout_v1_comounted_cpu_cpuacct), TEST_CASE(layout_v1_ignores_non_root_binds),
          TEST_CASE(layout_v2_unified), TEST_CASE(layout_v2_without_pids_controller),
          TEST_CASE(layout_none_and_garbage), TEST_CASE(stat_fields),
          TEST_CASE(cpu_shares_and_weight), TEST_CASE(cfs_quota), TEST_CASE(memory_limit))
