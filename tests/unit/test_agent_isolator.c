/* The containerizer's configuration (agent/containerizer): --isolation
 * parsing and refusals, flags and defaults, and the posix (no isolation)
 * mode, which needs neither root nor cgroups. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/containerizer/containerizer.h"
#include "core/flags.h"
#include "core/loop.h"
#include "test.h"

static const struct ag_cz_callbacks no_cb = {0};

static int make(const char *isolation, const char *root, int pids, struct ag_cz **ret, char *err,
                size_t errlen)
{
    static struct ag_loop *loop;
    struct ag_cz_config cfg;
    struct ag_flag flags[AG_CZ_MAX_FLAGS];
    if (!loop)
        loop = ag_loop_new();
    ag_cz_config_flags(&cfg, flags, AG_CZ_MAX_FLAGS);
    cfg.isolation = (char *)isolation;
    if (root)
        cfg.cgroups_root = (char *)root;
    cfg.cgroups_pids_limit = pids;
    return ag_cz_new(loop, &cfg, "/nonexistent/agora-container-init", &no_cb, NULL, ret, err,
                     errlen);
}

TEST(flags_and_defaults)
{
    struct ag_cz_config cfg;
    struct ag_flag flags[AG_CZ_MAX_FLAGS];
    size_t n = ag_cz_config_flags(&cfg, flags, AG_CZ_MAX_FLAGS);
    bool seen_isolation = false, seen_pids = false;
    ASSERT_TRUE(n >= 7 && n <= AG_CZ_MAX_FLAGS);
    for (size_t i = 0; i < n; i++) {
        seen_isolation |= strcmp(flags[i].name, "isolation") == 0;
        seen_pids |= strcmp(flags[i].name, "cgroups_pids_limit") == 0;
    }
    ASSERT_TRUE(seen_isolation && seen_pids);
    ASSERT_STREQ(cfg.cgroups_root, "agora");
    ASSERT_TRUE(cfg.switch_user);
    ASSERT_FALSE(cfg.cgroups_enable_cfs);
    ASSERT_EQ(cfg.cgroups_pids_limit, 0);
    ASSERT_NEAR(cfg.container_disk_watch_interval, 15.0, 1e-9);
    ASSERT_FALSE(cfg.enforce_container_disk_quota);
    /* a short table is filled up to its size */
    ASSERT_EQ(ag_cz_config_flags(&cfg, flags, 2), 2);
}

TEST(posix_isolates_nothing)
{
    struct ag_cz *cz = NULL;
    char err[512] = "";
    ASSERT_EQ(make("posix", NULL, 0, &cz, err, sizeof(err)), 0);
    ASSERT_FALSE(ag_cz_isolating(cz));
    ASSERT_FALSE(ag_cz_mounts_sandbox(cz));
    ASSERT_STREQ(ag_cz_isolation(cz), "posix");
    ASSERT_EQ(ag_cz_cgroup_version(cz), AG_CGROUP_NONE);
    ag_cz_free(cz);
    /* Mesos' no-op names are accepted too */
    ASSERT_EQ(make("posix/cpu,posix/mem,filesystem/posix", NULL, 0, &cz, err, sizeof(err)), 0);
    ASSERT_FALSE(ag_cz_isolating(cz));
    ag_cz_free(cz);
    ag_cz_free(NULL);
}

TEST(unknown_isolator_is_named)
{
    struct ag_cz *cz = NULL;
    char err[512] = "";
    ASSERT_EQ(make("posix,cgroups/bogus", NULL, 0, &cz, err, sizeof(err)), -EINVAL);
    ASSERT_TRUE(strstr(err, "unknown isolator 'cgroups/bogus'") != NULL);
    ASSERT_NULL(cz);
}

TEST(bad_root_and_limits)
{
    struct ag_cz *cz = NULL;
    char err[512] = "";
    ASSERT_EQ(make("posix", "a/b", 0, &cz, err, sizeof(err)), -EINVAL);
    ASSERT_TRUE(strstr(err, "--cgroups_root") != NULL);
    ASSERT_EQ(make("posix", "..", 0, &cz, err, sizeof(err)), -EINVAL);
    ASSERT_EQ(make("posix", NULL, -1, &cz, err, sizeof(err)), -EINVAL);
    ASSERT_TRUE(strstr(err, "--cgroups_pids_limit") != NULL);
    ASSERT_NULL(cz);
}

TEST(disk_du_alone_needs_the_helper)
{
    struct ag_cz *cz = NULL;
    char err[512] = "";
    /* disk/du needs no privilege but runs executors through the helper,
     * which must exist. */
    ASSERT_EQ(make("disk/du", NULL, 0, &cz, err, sizeof(err)), -ENOENT);
    ASSERT_TRUE(strstr(err, "agora-container-init") != NULL);
}

TEST(privileged_isolators_refused_without_root)
{
    struct ag_cz *cz = NULL;
    char err[512] = "";
    if (geteuid() == 0) {
        /* As root the helper is what is missing. */
        ASSERT_TRUE(make("namespaces/uts", NULL, 0, &cz, err, sizeof(err)) < 0);
        ASSERT_TRUE(strstr(err, "agora-container-init") != NULL);
        return;
    }
    ASSERT_EQ(make("namespaces/pid", NULL, 0, &cz, err, sizeof(err)), -EPERM);
    ASSERT_TRUE(strstr(err, "'namespaces/pid' needs the agent to run as root") != NULL);
}

TEST(default_isolation_is_known)
{
    const char *d = ag_cz_default_isolation();
    ASSERT_TRUE(strcmp(d, "posix") == 0 || strstr(d, "cgroups/mem") != NULL);
    if (geteuid() != 0)
        ASSERT_STREQ(d, "posix");
    /* namespaces/pid comes with namespaces/mount (its /proc needs one),
     * and a chroot that has neither says why. */
    ASSERT_EQ(strstr(d, "namespaces/pid") != NULL, strstr(d, "namespaces/mount") != NULL);
    if (strcmp(d, "posix") != 0 && ag_cz_root_is_mount_point())
        ASSERT_TRUE(strstr(d, "namespaces/pid") != NULL);
    if (strcmp(d, "posix") == 0 || strstr(d, "namespaces/pid"))
        ASSERT_TRUE(ag_cz_default_isolation_note() == NULL);
    else
        ASSERT_TRUE(strstr(ag_cz_default_isolation_note(), "not a mount point") != NULL);
}

TEST_MAIN(TEST_CASE(flags_and_defaults), TEST_CASE(posix_isolates_nothing),
          TEST_CASE(unknown_isolator_is_named), TEST_CASE(bad_root_and_limits),
          TEST_CASE(disk_du_alone_needs_the_helper),
          TEST_CASE(privileged_isolators_refused_without_root),
          TEST_CASE(default_isolation_is_known))
