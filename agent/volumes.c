/*
 * volumes: persistent volumes on the agent's disk.
 *
 * A volume (a disk resource with disk.persistence.id, reserved for a role)
 * lives in <work_dir>/volumes/roles/<role>/<persistence id>, outside every
 * sandbox, so it outlives tasks, executors and agent restarts. A task or
 * executor that uses one sees it at disk.volume.container_path inside its
 * sandbox. For now that is a symlink from the sandbox to the volume
 * directory; bind mounts come with container isolation.
 */
#include "agent/internal.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

const char *ag_agent_volume_id(const struct ag_resource *res)
{
    json_t *p = res->disk ? json_object_get(res->disk, "persistence") : NULL;
    json_t *id = p ? json_object_get(p, "id") : NULL;
    return json_is_string(id) ? json_string_value(id) : NULL;
}

static bool id_ok(const char *id)
{
    return id && id[0] && strcmp(id, ".") != 0 && strcmp(id, "..") != 0 && !strchr(id, '/') &&
           strlen(id) < 256;
}

int ag_agent_volume_path(const char *work_dir, const struct ag_resource *res, char *out,
                         size_t outlen)
{
    const char *id = ag_agent_volume_id(res);
    if (!id_ok(id))
        return -EINVAL;
    /* Role names hold no whitespace, so '/' -> ' ' cannot make two roles
     * meet, and "eng"'s volumes never nest inside "eng/web"'s. */
    char role[512];
    snprintf(role, sizeof(role), "%s", ag_resource_reserved_role(res));
    for (char *c = role; *c; c++)
        if (*c == '/')
            *c = ' ';
    if (strcmp(role, ".") == 0 || strcmp(role, "..") == 0)
        return -EINVAL;
    if ((size_t)snprintf(out, outlen, "%s/volumes/roles/%s/%s", work_dir, role, id) >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

int ag_agent_volume_create(const char *work_dir, const struct ag_resource *res)
{
    char path[4096];
    int rc = ag_agent_volume_path(work_dir, res, path, sizeof(path));
    if (rc == 0)
        rc = ag_agent_mkdirs(path, 0755);
    if (rc < 0)
        ag_warn("cannot create persistent volume '%s': %s",
                ag_agent_volume_id(res) ? ag_agent_volume_id(res) : "?", strerror(-rc));
    return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
        ag_warn("cannot remove '%s': %s", path, strerror(errno));
    return 0;
}

int ag_agent_volume_remove(const char *work_dir, const struct ag_resource *res)
{
    char path[4096];
    int rc = ag_agent_volume_path(work_dir, res, path, sizeof(path));
    if (rc < 0)
        return rc;
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return -errno;
    ag_info("removed persistent volume '%s'", path);
    return 0;
}

/* A container path that stays inside the sandbox. */
static bool container_path_ok(const char *p)
{
    if (!p || !p[0] || p[0] == '/' || strlen(p) > 1024)
        return false;
    for (const char *s = p;;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && strncmp(s, "..", 2) == 0)
            return false;
        if (!e)
            return true;
        s = e + 1;
    }
}

int ag_agent_volumes_link(const char *work_dir, const char *sandbox, const json_t *resources)
{
    struct ag_resources res;
    char e[256] = "";
    if (!json_is_array(resources) || !sandbox)
        return 0;
    if (ag_resources_from_json(resources, &res, e, sizeof(e)) < 0)
        return 0; /* the master validated them; nothing to link */
    int rc = 0;
    for (size_t i = 0; i < res.n && rc == 0; i++) {
        const struct ag_resource *r = &res.items[i];
        if (!ag_agent_volume_id(r))
            continue;
        json_t *vol = json_object_get(r->disk, "volume");
        json_t *cp = vol ? json_object_get(vol, "container_path") : NULL;
        char target[4096], link[4096 + 1100];
        if (!json_is_string(cp) || !container_path_ok(json_string_value(cp))) {
            ag_warn("volume '%s' has no usable container_path", ag_agent_volume_id(r));
            continue;
        }
        if (ag_agent_volume_path(work_dir, r, target, sizeof(target)) < 0)
            continue;
        ag_agent_mkdirs(target, 0755); /* normally made by UPDATE_RESOURCES */
        snprintf(link, sizeof(link), "%s/%s", sandbox, json_string_value(cp));
        /* Parents of a nested container path ("data/db") live in the sandbox. */
        char *slash = strrchr(link, '/');
        if (slash && slash > link + strlen(sandbox)) {
            *slash = '\0';
            ag_agent_mkdirs(link, 0755);
            *slash = '/';
        }
        struct stat st;
        if (lstat(link, &st) == 0 && S_ISLNK(st.st_mode))
            unlink(link);
        if (symlink(target, link) < 0) {
            rc = -errno;
            ag_warn("cannot link volume '%s' at '%s': %s", target, link, strerror(errno));
        } else {
            ag_info("volume '%s' mounted at '%s'", target, link);
        }
    }
    ag_resources_release(&res);
    return rc;
}
