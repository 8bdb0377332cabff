/*
 * cgroups/pids: at most --cgroups_pids_limit processes (and threads) per
 * container, so that a fork bomb stays inside its container; the count is
 * reported as `threads`.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/isolators/isolator.h"

static int pids_prepare(struct ag_cz *cz, struct ag_cz_container *c, const struct ag_cz_launch *l,
                        char *err, size_t errlen)
{
    int rc;
    (void)l;
    if (!c->cg[AG_CG_PIDS] || cz->cfg.cgroups_pids_limit <= 0)
        return 0;
    rc = ag_cgroup_write_u64(c->cg[AG_CG_PIDS], "pids.max", (uint64_t)cz->cfg.cgroups_pids_limit);
    if (rc < 0)
        snprintf(err, errlen, "cannot set pids.max of cgroup '%s': %s", c->cg[AG_CG_PIDS],
                 strerror(-rc));
    return rc;
}

static void pids_usage(struct ag_cz *cz, struct ag_cz_container *c, json_t *stats)
{
    uint64_t v;
    if (!c->cg[AG_CG_PIDS])
        return;
    if (ag_cgroup_read_u64(c->cg[AG_CG_PIDS], "pids.current", &v) == 0)
        json_object_set_new(stats, "threads", json_integer((json_int_t)v));
    if (cz->cfg.cgroups_pids_limit > 0)
        json_object_set_new(stats, "pids_limit", json_integer(cz->cfg.cgroups_pids_limit));
}

const struct ag_isolator_ops ag_isolator_cgroups_pids = {
    .name = "cgroups/pids",
    .ns_flag = 0,
    .ctrl = AG_CG_PIDS,
    .prepare = pids_prepare,
    .usage = pids_usage,
};
