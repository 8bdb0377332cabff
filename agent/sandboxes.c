/*
 * sandboxes: configuration, helper-process reaping and metrics shared by
 * fetch.c, logs.c and gc.c (see sandboxes.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/internal.h"
#include "agent/sandboxes.h"
#include "core/log.h"
#include "core/loop.h"

#define REAP_FALLBACK_SECS 0.5
#define GC_INTERVAL_MIN    0.5
#define GC_INTERVAL_MAX    10.0

struct ag_agent_sandbox_config ag_agent_sandbox_cfg = {
    .gc_delay = 7 * 24 * 3600.0,
    .gc_disk_headroom = 0.1,
    .container_logger_max_size = (char *)"10MB",
    .container_logger_max_files = 5,
    .fetcher_cache_size = (char *)"2GB",
    .fetcher_stall_timeout = 60,
};

struct child {
    pid_t pid;
    ag_agent_child_cb cb;
    void *arg;
};

static struct {
    struct ag_agent *agent;
    struct child *children;
    size_t n, cap;
    struct ag_timer *reap_timer, *gc_timer;
    bool reaping;
} st;

int ag_agent_parse_bytes(const char *text, uint64_t *ret)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"kb", 1024},
        {"mb", 1024 * 1024},
        {"gb", 1024ull * 1024 * 1024},
        {"tb", 1024ull * 1024 * 1024 * 1024},
    };
    char unit[4], *end;
    unsigned long long n;
    size_t ulen = 0;

    if (!text || !isdigit((unsigned char)*text))
        return -EINVAL;
    errno = 0;
    n = strtoull(text, &end, 10);
    if (errno)
        return -EINVAL;
    while (*end == ' ')
        end++;
    while (end[ulen] && ulen < sizeof(unit) - 1) {
        unit[ulen] = (char)tolower((unsigned char)end[ulen]);
        ulen++;
    }
    if (end[ulen])
        return -EINVAL;
    unit[ulen] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].unit) != 0)
            continue;
        if (n > UINT64_MAX / units[i].mult)
            return -EINVAL;
        *ret = (uint64_t)n * units[i].mult;
        return 0;
    }
    return -EINVAL;
}

struct ag_agent *ag__agent_sandboxes_agent(void)
{
    return st.agent;
}

/* --- children --- */

int ag_agent_child_watch(pid_t pid, ag_agent_child_cb cb, void *arg)
{
    if (st.n == st.cap) {
        size_t cap = st.cap ? st.cap * 2 : 16;
        struct child *c = realloc(st.children, cap * sizeof(*c));
        if (!c)
            return -ENOMEM;
        st.children = c;
        st.cap = cap;
    }
    st.children[st.n++] = (struct child){.pid = pid, .cb = cb, .arg = arg};
    return 0;
}

void ag_agent_sandboxes_reap(struct ag_agent *agent)
{
    size_t i = 0;
    /* A callback may start children (a launch after a fetch): they are
     * appended and looked at in this same pass. */
    if (st.reaping)
        return;
    st.reaping = true;
    while (i < st.n) {
        struct child c = st.children[i];
        int status = 0;
        pid_t r = waitpid(c.pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            i++;
            continue;
        }
        /* Exited (or not ours any more: ECHILD); drop it, then report. */
        st.children[i] = st.children[--st.n];
        if (r < 0)
            status = 0;
        if (c.cb)
            c.cb(agent, c.pid, status, c.arg);
    }
    st.reaping = false;
}

static void reap_timer_fired(void *arg)
{
    ag_agent_sandboxes_reap(arg);
}

static void gc_timer_fired(void *arg)
{
    ag_agent_gc_run(arg);
}

/* --- start, stop --- */

/* Fetcher inputs and results left by an agent that died mid-fetch. */
static void clear_fetch_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

int ag_agent_sandboxes_start(struct ag_agent *agent, char *err, size_t errlen)
{
    struct ag_agent_sandbox_config *c = &ag_agent_sandbox_cfg;
    char dir[4200];
    double interval;
    int rc;

    if (c->gc_delay < 0) {
        snprintf(err, errlen, "--gc_delay must not be negative");
        return -EINVAL;
    }
    if (!(c->gc_disk_headroom >= 0 && c->gc_disk_headroom <= 1)) {
        snprintf(err, errlen, "--gc_disk_headroom: %g is not a fraction in [0, 1]",
                 c->gc_disk_headroom);
        return -EINVAL;
    }
    if (ag_agent_parse_bytes(c->container_logger_max_size, &c->logger_max_bytes) < 0 ||
        c->logger_max_bytes == 0) {
        snprintf(err, errlen, "--container_logger_max_size: '%s' is not a size (e.g. 10MB)",
                 c->container_logger_max_size ? c->container_logger_max_size : "");
        return -EINVAL;
    }
    if (c->container_logger_max_files < 1 || c->container_logger_max_files > 1000) {
        snprintf(err, errlen, "--container_logger_max_files: %d is not in 1..1000",
                 c->container_logger_max_files);
        return -EINVAL;
    }
    if (ag_agent_parse_bytes(c->fetcher_cache_size, &c->cache_bytes) < 0) {
        snprintf(err, errlen, "--fetcher_cache_size: '%s' is not a size (e.g. 2GB)",
                 c->fetcher_cache_size ? c->fetcher_cache_size : "");
        return -EINVAL;
    }
    if (c->fetcher_stall_timeout <= 0) {
        snprintf(err, errlen, "--fetcher_stall_timeout must be positive");
        return -EINVAL;
    }
    snprintf(dir, sizeof(dir), "%s/fetch-cache", agent->work_dir);
    rc = ag_agent_mkdirs(dir, 0755);
    if (rc == 0) {
        snprintf(dir, sizeof(dir), "%s/fetch", agent->work_dir);
        rc = ag_agent_mkdirs(dir, 0755);
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(-rc));
        return rc;
    }
    clear_fetch_dir(dir);
    st.agent = agent;
    st.reap_timer = ag_timer_new(agent->loop, reap_timer_fired, agent);
    st.gc_timer = ag_timer_new(agent->loop, gc_timer_fired, agent);
    if (!st.reap_timer || !st.gc_timer) {
        snprintf(err, errlen, "cannot set up the sandbox timers");
        return -ENOMEM;
    }
    ag_timer_start_periodic(st.reap_timer, REAP_FALLBACK_SECS);
    /* Often enough that a sandbox outlives gc_delay by little, and that
     * disk pressure is noticed within 10 seconds; a round costs a readdir
     * per framework and executor directory. */
    interval = c->gc_delay / 2;
    if (interval < GC_INTERVAL_MIN)
        interval = GC_INTERVAL_MIN;
    if (interval > GC_INTERVAL_MAX)
        interval = GC_INTERVAL_MAX;
    ag_timer_start_periodic(st.gc_timer, interval);
    return 0;
}

void ag_agent_sandboxes_stop(struct ag_agent *agent)
{
    (void)agent;
    ag_timer_free(st.reap_timer);
    ag_timer_free(st.gc_timer);
    st.reap_timer = st.gc_timer = NULL;
    /* Fetchers would outlive us for nothing; loggers must drain. Children
     * left are not waited for: the agent is exiting. */
    for (size_t i = 0; i < st.n; i++)
        if (st.children[i].cb && st.children[i].arg)
            st.children[i].cb(NULL, st.children[i].pid, -1, st.children[i].arg);
    free(st.children);
    st.children = NULL;
    st.n = st.cap = 0;
    st.agent = NULL;
}

/* --- metrics --- */

/* Bytes held by the fetcher cache: the size of its entries. */
static uint64_t cache_used(const struct ag_agent *agent)
{
    char dir[4200];
    uint64_t total = 0;
    DIR *d;
    struct dirent *e;

    snprintf(dir, sizeof(dir), "%s/fetch-cache", agent->work_dir);
    d = opendir(dir);
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char path[4500];
        struct stat sb;
        if (strlen(e->d_name) != 64)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

void ag_agent_sandboxes_metrics(struct ag_agent *agent, json_t *m)
{
    uint64_t ok, failed, pending;
    ag__agent_fetch_metrics(&ok, &failed);
    json_object_set_new(m, "containerizer/fetcher/task_fetches_succeeded", json_real((double)ok));
    json_object_set_new(m, "containerizer/fetcher/task_fetches_failed", json_real((double)failed));
    json_object_set_new(m, "containerizer/fetcher/cache_size_total_bytes",
                        json_real((double)ag_agent_sandbox_cfg.cache_bytes));
    json_object_set_new(m, "containerizer/fetcher/cache_size_used_bytes",
                        json_real((double)cache_used(agent)));
    ag__agent_gc_metrics(&ok, &failed, &pending);
    json_object_set_new(m, "gc/path_removals_succeeded", json_real((double)ok));
    json_object_set_new(m, "gc/path_removals_failed", json_real((double)failed));
    json_object_set_new(m, "gc/path_removals_pending", json_real((double)pending));
}
