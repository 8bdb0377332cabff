/*
 * checkpoint_resources: the agent's total as the master last set it.
 *
 * Dynamic reservations and persistent volumes are made by the master; it
 * sends the agent's whole new total in UPDATE_RESOURCES. The agent keeps
 * it in <work_dir>/meta/resources.json (written to a temporary file,
 * fsync'd, renamed) and, on start, puts the checkpointed reservations and
 * volumes back over what --resources gives, so they survive restarts.
 */
#include "agent/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"

static bool has_dynamic(const struct ag_resource *res)
{
    for (size_t i = 0; i < res->n_reservations; i++)
        if (res->reservations[i].type == AG_RESERVATION_DYNAMIC)
            return true;
    return false;
}

/* ret = src without dynamic reservations and volumes (what they were made
 * from). ret is initialised here. */
static int strip_dynamic(const struct ag_resources *src, struct ag_resources *ret)
{
    ag_resources_init(ret);
    for (size_t i = 0; i < src->n; i++) {
        struct ag_resource tmp;
        if (ag_resource_copy(&tmp, &src->items[i]) < 0)
            goto oom;
        while (tmp.n_reservations > 0 &&
               tmp.reservations[tmp.n_reservations - 1].type == AG_RESERVATION_DYNAMIC) {
            struct ag_reservation *rv = &tmp.reservations[--tmp.n_reservations];
            free(rv->role);
            free(rv->principal);
            if (rv->labels)
                json_decref(rv->labels);
            memset(rv, 0, sizeof(*rv));
        }
        if (tmp.disk) {
            json_t *d = json_deep_copy(tmp.disk);
            json_decref(tmp.disk);
            tmp.disk = NULL;
            if (d) {
                json_object_del(d, "persistence");
                json_object_del(d, "volume");
                if (json_object_size(d) > 0)
                    tmp.disk = d;
                else
                    json_decref(d);
            }
        }
        int r = ag_resources_add_one(ret, &tmp);
        ag_resource_release(&tmp);
        if (r < 0)
            goto oom;
    }
    return 0;
oom:
    ag_resources_release(ret);
    return -ENOMEM;
}

int ag_agent_resources_merge(const struct ag_resources *base, const struct ag_resources *ckpt,
                             struct ag_resources *ret)
{
    int r = strip_dynamic(base, ret);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ckpt->n; i++) {
        const struct ag_resource *k = &ckpt->items[i];
        if (!has_dynamic(k) && !ag_agent_volume_id(k))
            continue;
        struct ag_resources one, from;
        ag_resources_init(&one);
        if (ag_resources_add_one(&one, k) < 0 || strip_dynamic(&one, &from) < 0) {
            ag_resources_release(&one);
            ag_resources_release(ret);
            return -ENOMEM;
        }
        if (ag_resources_subtract(ret, &from) == 0)
            ag_resources_add(ret, &one);
        else
            ag_warn("checkpointed resource '%s' does not fit --resources any more; dropped",
                    k->name);
        ag_resources_release(&one);
        ag_resources_release(&from);
    }
    return 0;
}

static int ckpt_path(const struct ag_agent *agent, char *out, size_t outlen, bool dir)
{
    if ((size_t)snprintf(out, outlen, dir ? "%s/meta" : "%s/meta/resources.json",
                         agent->work_dir) >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

int ag_agent_resources_checkpoint(const struct ag_agent *agent, const struct ag_resources *total)
{
    char dir[4096], path[4200];
    int rc = ckpt_path(agent, dir, sizeof(dir), true);
    if (rc < 0 || (rc = ckpt_path(agent, path, sizeof(path), false)) < 0)
        return rc;
    if ((rc = ag_agent_mkdirs(dir, 0755)) < 0)
        return rc;
    json_t *arr = ag_resources_to_json(total, AG_RESOURCES_POST_REFINEMENT);
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (!text)
        return -ENOMEM;
    rc = ag_ckpt_write_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

/* Creates the directory of every volume in r (they may be missing after a
 * crash between the checkpoint and the mkdir). */
static void create_volumes(const struct ag_agent *agent, const struct ag_resources *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (ag_agent_volume_id(&r->items[i]))
            ag_agent_volume_create(agent->work_dir, &r->items[i]);
}

int ag_agent_resources_recover(struct ag_agent *agent, char *err, size_t errlen)
{
    char path[4200];
    if (ckpt_path(agent, path, sizeof(path), false) < 0)
        return 0;
    json_error_t je;
    json_t *arr = json_load_file(path, 0, &je);
    if (!arr) {
        if (access(path, F_OK) == 0) {
            snprintf(err, errlen, "cannot read checkpointed resources '%s': %s", path, je.text);
            return -EINVAL;
        }
        return 0; /* nothing checkpointed */
    }
    struct ag_resources ckpt, merged;
    char e[256] = "";
    int rc = ag_resources_from_json(arr, &ckpt, e, sizeof(e));
    json_decref(arr);
    if (rc < 0) {
        snprintf(err, errlen, "checkpointed resources '%s' are invalid: %s", path, e);
        return -EINVAL;
    }
    rc = ag_agent_resources_merge(&agent->resources, &ckpt, &merged);
    ag_resources_release(&ckpt);
    if (rc < 0) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    ag_resources_release(&agent->resources);
    agent->resources = merged;
    create_volumes(agent, &agent->resources);
    ag_info("recovered checkpointed reservations and volumes from '%s'", path);
    return 0;
}

void ag_agent_on_update_resources(struct ag_agent *agent, const json_t *event)
{
    json_t *arr = ag_json_get(ag_json_get(event, "update_resources"), "resources");
    struct ag_resources total;
    char e[256] = "";
    if (!json_is_array(arr) || ag_resources_from_json(arr, &total, e, sizeof(e)) < 0) {
        ag_warn("ignoring a bad UPDATE_RESOURCES from the master: %s",
                e[0] ? e : "'update_resources.resources' must be an array");
        return;
    }
    ag_resources_set_allocation_role(&total, NULL);
    int rc = ag_agent_resources_checkpoint(agent, &total);
    if (rc < 0)
        ag_error("cannot checkpoint resources: %s", strerror(-rc));
    /* Volumes gone from the total were destroyed: their data goes too. */
    for (size_t i = 0; i < agent->resources.n; i++) {
        const struct ag_resource *old = &agent->resources.items[i];
        const char *id = ag_agent_volume_id(old);
        if (!id)
            continue;
        bool kept = false;
        for (size_t k = 0; k < total.n && !kept; k++) {
            const char *nid = ag_agent_volume_id(&total.items[k]);
            kept = nid && strcmp(nid, id) == 0 &&
                   strcmp(ag_resource_reserved_role(&total.items[k]),
                          ag_resource_reserved_role(old)) == 0;
        }
        if (!kept)
            ag_agent_volume_remove(agent->work_dir, old);
    }
    create_volumes(agent, &total);
    ag_resources_release(&agent->resources);
    agent->resources = total;
    ag_info("resources updated by the master (checkpointed)");
}
