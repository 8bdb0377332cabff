/*
 * disk/du: measures each sandbox every --container_disk_watch_interval
 * (like du: allocated blocks, hard links counted once per walk, mounts not
 * crossed) and, with --enforce_container_disk_quota, kills a container
 * whose sandbox outgrows its `disk`.
 */
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/isolators/isolator.h"
#include "core/loop.h"

#define MB (1024.0 * 1024.0)

/* nftw has no user argument; the walk is synchronous and single-threaded. */
static uint64_t du_total;

static int du_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)type;
    (void)ftw;
    du_total += (uint64_t)st->st_blocks * 512;
    return 0;
}

static uint64_t du(const char *dir)
{
    du_total = 0;
    nftw(dir, du_visit, 32, FTW_PHYS | FTW_MOUNT);
    return du_total;
}

static void disk_check(struct ag_cz *cz, struct ag_cz_container *c)
{
    double now = ag_monotonic();
    char msg[512];

    if (!c->sandbox ||
        (c->disk_checked > 0 && now - c->disk_checked < cz->cfg.container_disk_watch_interval))
        return;
    c->disk_checked = now;
    c->disk_used = du(c->sandbox);
    if (!cz->cfg.enforce_container_disk_quota || !(c->disk_mb > 0) ||
        (double)c->disk_used <= c->disk_mb * MB)
        return;
    snprintf(msg, sizeof(msg),
             "Disk usage (%.1fMB) exceeds the container's disk limit of %.0fMB (sandbox '%s')",
             (double)c->disk_used / MB, c->disk_mb, c->sandbox);
    ag_cz_report_limit(cz, c, "REASON_CONTAINER_LIMITATION_DISK", msg, "disk", c->disk_mb);
}

static void disk_usage(struct ag_cz *cz, struct ag_cz_container *c, json_t *stats)
{
    (void)cz;
    if (c->disk_mb > 0)
        json_object_set_new(stats, "disk_limit_bytes", json_integer((json_int_t)(c->disk_mb * MB)));
    if (c->disk_checked > 0)
        json_object_set_new(stats, "disk_used_bytes", json_integer((json_int_t)c->disk_used));
}

const struct ag_isolator_ops ag_isolator_disk_du = {
    .name = "disk/du",
    .ns_flag = 0,
    .ctrl = -1,
    .check = disk_check,
    .usage = disk_usage,
};
