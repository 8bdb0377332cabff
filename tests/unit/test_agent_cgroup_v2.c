/* The cgroup v2 code path (agent/containerizer/cgroups.c and the cgroup
 * isolators), two ways:
 *
 *  - for real, on this host's cgroup2 mount (/sys/fs/cgroup/unified here,
 *    found in the real /proc/self/mountinfo): layout detection, a container
 *    cgroup made there, processes joining it (one that leaves its session,
 *    one orphaned by a double fork), cgroup.events "populated",
 *    ag_cgroup_kill_all through cgroup.kill, and removal. Skipped, saying
 *    why, without root or without a cgroup2 mount.
 *  - the v2 limit files (cpu.weight, cpu.max, memory.max, memory.swap.max,
 *    pids.max) written by the isolators into a fake cgroup directory: on
 *    this kernel the cpu, memory and pids controllers are bound to the v1
 *    hierarchies, so a real v2 cgroup has none of those files.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/containerizer/cgroups.h"
#include "agent/isolators/isolator.h"
#include "test.h"

static char *slurp(const char *path)
{
    static char buf[1 << 16];
    ssize_t n, got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    while ((n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
        got += n;
    close(fd);
    buf[got] = '\0';
    return buf;
}

/* The first cgroup2 mount in the real mountinfo, "" if none. Parsed here
 * independently of cgroups.c, to check its answer. */
static void find_v2_mount(char *out, size_t len)
{
    char *mi = slurp("/proc/self/mountinfo");
    out[0] = '\0';
    for (char *line = mi; line && *line;) {
        char *nl = strchr(line, '\n'), mp[512], root[512], fstype[64];
        const char *sep = strstr(line, " - ");
        if (nl)
            *nl = '\0';
        if (sep && sscanf(line, "%*s %*s %*s %511s %511s", root, mp) == 2 &&
            sscanf(sep + 3, "%63s", fstype) == 1 && strcmp(fstype, "cgroup2") == 0 &&
            strcmp(root, "/") == 0) {
            snprintf(out, len, "%s", mp);
            return;
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* Why the real v2 tests cannot run here, or NULL. */
static const char *v2_skip_reason(char *mount, size_t len)
{
    char probe[600];
    if (geteuid() != 0)
        return "needs root to create cgroups";
    find_v2_mount(mount, len);
    if (!mount[0])
        return "no cgroup2 mount in /proc/self/mountinfo";
    snprintf(probe, sizeof(probe), "%s/cgroup.procs", mount);
    if (access(probe, W_OK) < 0)
        return "the cgroup2 mount is not writable";
    return NULL;
}

TEST(v2_real_layout_detection)
{
    struct ag_cgroup_layout l, v2;
    char mount[512], filtered[1 << 16] = "", ctrls_path[600];
    const char *why = v2_skip_reason(mount, sizeof(mount));
    char *mi, *ctrls;
    bool v1_useful = false;

    if (why) {
        printf("  skipped: %s\n", why);
        return;
    }
    ASSERT_EQ(ag_cgroup_layout_detect(&l), 0);
    ASSERT_STREQ(l.v2_mount, mount);
    /* Keep only the non-v1 lines of the real mountinfo: the layout of a
     * host whose only cgroup filesystem is this cgroup2 mount. */
    mi = slurp("/proc/self/mountinfo");
    for (char *line = mi; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line + 1) : strlen(line);
        const char *sep = strstr(line, " - ");
        bool v1 = sep && (size_t)(sep - line) < n && strncmp(sep + 3, "cgroup ", 7) == 0;
        if (v1 && (strstr(line, ",cpu") || strstr(line, ",memory") || strstr(line, ",pids")))
            v1_useful = true;
        if (!v1 && strlen(filtered) + n < sizeof(filtered))
            strncat(filtered, line, n);
        line = nl ? nl + 1 : NULL;
    }
    ASSERT_EQ(l.version, v1_useful ? AG_CGROUP_V1 : AG_CGROUP_V2);
    snprintf(ctrls_path, sizeof(ctrls_path), "%s/cgroup.controllers", mount);
    ctrls = strdup(slurp(ctrls_path) ? slurp(ctrls_path) : "");
    ag_cgroup_layout_parse(filtered, ctrls, &v2);
    ASSERT_EQ(v2.version, AG_CGROUP_V2);
    ASSERT_STREQ(v2.v2_mount, mount);
    /* cpu.stat and cgroup.kill/freeze are in every v2 cgroup. */
    ASSERT_STREQ(v2.mount[AG_CG_CPUACCT], mount);
    ASSERT_STREQ(v2.mount[AG_CG_FREEZER], mount);
    ASSERT_EQ(ag_cgroup_layout_has(&v2, AG_CG_MEMORY), strstr(ctrls, "memory") != NULL);
    ASSERT_EQ(ag_cgroup_layout_has(&v2, AG_CG_PIDS), strstr(ctrls, "pids") != NULL);
    if (!strstr(ctrls, "memory"))
        printf("  v2 cpu/memory/pids limits not tried for real: the controllers here are "
               "'%.*s' (the others are bound to v1 hierarchies)\n",
               (int)strcspn(ctrls, "\n"), ctrls);
    free(ctrls);
}

static bool populated(const char *dir)
{
    char buf[256];
    uint64_t v = 0;
    return ag_cgroup_read(dir, "cgroup.events", buf, sizeof(buf)) == 0 &&
           ag_cgroup_stat_field(buf, "populated", &v) == 0 && v == 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The container's first process: joins `dir` as agora-container-init
 * does, then starts a child that leaves its session and one orphaned by a
 * double fork (re-parented to the test, a subreaper), and waits. */
static void container_main(const char *dir, int ready_fd)
{
    char *argv[] = {(char *)"sleep", (char *)"600", NULL};
    pid_t mid;
    if (ag_cgroup_write(dir, "cgroup.procs", "0") < 0)
        _exit(3);
    if (fork() == 0) {
        setsid();
        execv("/bin/sleep", argv);
        _exit(4);
    }
    mid = fork();
    if (mid == 0) {
        if (fork() == 0) {
            execv("/bin/sleep", argv);
            _exit(4);
        }
        _exit(0);
    }
    waitpid(mid, NULL, 0);
    if (write(ready_fd, "r", 1) != 1)
        _exit(5);
    for (;;)
        pause();
}

TEST(v2_real_container_killed_through_cgroup_kill)
{
    char mount[512], root[700], dir[800], c;
    const char *why = v2_skip_reason(mount, sizeof(mount));
    int fds[2], n;
    pid_t child;
    double deadline;

    if (why) {
        printf("  skipped: %s\n", why);
        return;
    }
    /* The containerizer's layout: <mount>/<cgroups_root>/<container>. */
    snprintf(root, sizeof(root), "%s/agora-test-v2-%d", mount, (int)getpid());
    snprintf(dir, sizeof(dir), "%s/c1", root);
    ASSERT_EQ(mkdir(root, 0755), 0);
    ASSERT_EQ(mkdir(dir, 0755), 0);
    ASSERT_FALSE(populated(dir));
    ASSERT_EQ(ag_cgroup_count_procs(dir), 0);
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ASSERT_EQ(pipe(fds), 0);
    fflush(NULL);
    child = fork();
    ASSERT_TRUE(child >= 0);
    if (child == 0) {
        close(fds[0]);
        container_main(dir, fds[1]);
    }
    close(fds[1]);
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    close(fds[0]);
    /* The first process, the one that left its session, the orphan. */
    ASSERT_EQ(ag_cgroup_count_procs(dir), 3);
    ASSERT_TRUE(populated(dir));

    ag_cgroup_kill_all(dir, NULL);
    /* Every process goes (the test reaps them: it is their subreaper). */
    deadline = now() + 10;
    n = 0;
    while (n < 3 && now() < deadline) {
        pid_t r = waitpid(-1, NULL, WNOHANG);
        if (r > 0)
            n++;
        else
            usleep(1000);
    }
    ASSERT_EQ(n, 3);
    while (populated(dir) && now() < deadline)
        usleep(1000);
    ASSERT_FALSE(populated(dir));
    ASSERT_EQ(ag_cgroup_count_procs(dir), 0);
    ASSERT_EQ(kill(child, 0), -1);
    ASSERT_EQ(errno, ESRCH);
    /* Removal: an empty cgroup goes with rmdir, its root after it. */
    ASSERT_EQ(rmdir(dir), 0);
    ASSERT_EQ(rmdir(root), 0);
    ASSERT_EQ(access(root, F_OK), -1);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* --- the v2 limit files, in a fake cgroup directory --- */

static void touch(const char *dir, const char *name)
{
    char path[700];
    int fd;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0)
        close(fd);
}

static const char *content(const char *dir, const char *name)
{
    static char buf[128];
    if (ag_cgroup_read(dir, name, buf, sizeof(buf)) < 0)
        return "(unreadable)";
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

TEST(v2_limit_files_in_a_fake_directory)
{
    static const char *const files[] = {"cpu.weight", "cpu.max", "memory.max", "memory.swap.max",
                                        "pids.max"};
    char tmpl[] = "/tmp/agora-cgv2-XXXXXX", err[256] = "";
    char *dir = mkdtemp(tmpl);
    struct ag_cz cz;
    struct ag_cz_container c;
    struct ag_cz_launch l;

    ASSERT_NOT_NULL(dir);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        touch(dir, files[i]);
    memset(&cz, 0, sizeof(cz));
    memset(&c, 0, sizeof(c));
    memset(&l, 0, sizeof(l));
    cz.layout.version = AG_CGROUP_V2;
    cz.cfg.cgroups_enable_cfs = true;
    cz.cfg.cgroups_pids_limit = 64;
    c.cg[AG_CG_CPU] = c.cg[AG_CG_MEMORY] = c.cg[AG_CG_PIDS] = dir;
    c.oom_efd = -1;
    l.cpus = 1.5;
    l.mem_mb = 256;

    ASSERT_EQ(ag_isolator_cgroups_cpu.prepare(&cz, &c, &l, err, sizeof(err)), 0);
    ASSERT_EQ(ag_isolator_cgroups_mem.prepare(&cz, &c, &l, err, sizeof(err)), 0);
    ASSERT_EQ(ag_isolator_cgroups_pids.prepare(&cz, &c, &l, err, sizeof(err)), 0);
    /* shares 1536 map to weight 1 + (1536 - 2) * 9999 / 262142 = 59 */
    ASSERT_STREQ(content(dir, "cpu.weight"), "59");
    ASSERT_STREQ(content(dir, "cpu.max"), "150000 100000");
    ASSERT_STREQ(content(dir, "memory.max"), "268435456");
    ASSERT_STREQ(content(dir, "memory.swap.max"), "0");
    ASSERT_STREQ(content(dir, "pids.max"), "64");
    ASSERT_EQ(c.mem_limit, (uint64_t)256 << 20);

    /* Another task for the executor: CPU follows, memory only grows. */
    ASSERT_EQ(ag_isolator_cgroups_cpu.update(&cz, &c, 2.0, 128), 0);
    ASSERT_EQ(ag_isolator_cgroups_mem.update(&cz, &c, 2.0, 128), 0);
    ASSERT_STREQ(content(dir, "cpu.weight"), "79");
    ASSERT_STREQ(content(dir, "cpu.max"), "200000 100000");
    ASSERT_STREQ(content(dir, "memory.max"), "268435456");
    ASSERT_EQ(ag_isolator_cgroups_mem.update(&cz, &c, 2.0, 512), 0);
    ASSERT_STREQ(content(dir, "memory.max"), "536870912");

    /* A missing file is an error that names the cgroup. */
    c.cg[AG_CG_PIDS] = (char *)"/nonexistent-agora-cgroup";
    ASSERT_TRUE(ag_isolator_cgroups_pids.prepare(&cz, &c, &l, err, sizeof(err)) < 0);
    ASSERT_TRUE(strstr(err, "/nonexistent-agora-cgroup") != NULL);

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[700];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

TEST_MAIN(TEST_CASE(v2_real_layout_detection),
          TEST_CASE(v2_real_container_killed_through_cgroup_kill),
          TEST_CASE(v2_limit_files_in_a_fake_directory))
