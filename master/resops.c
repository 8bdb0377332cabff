/*
 * resops: RESERVE, UNRESERVE, CREATE and DESTROY, as offer operations in
 * ACCEPT and as the operator calls RESERVE_RESOURCES, UNRESERVE_RESOURCES,
 * CREATE_VOLUMES and DESTROY_VOLUMES.
 *
 * Every such operation is a conversion of resources on one agent: `from`
 * (what it consumes) becomes `to` (what it produces), e.g. RESERVE turns
 * "cpus:1" into "cpus(eng):1". Validation builds the pair; applying it
 * changes the agent's total (and, inside an ACCEPT, the pooled offer
 * resources) and tells the allocator (transform for offered resources,
 * update_agent for unallocated ones) and the agent (UPDATE_RESOURCES).
 */
#include "master/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* --- resource helpers --- */

static void pop_reservation(struct ag_resource *res)
{
    if (res->n_reservations == 0)
        return;
    struct ag_reservation *rv = &res->reservations[--res->n_reservations];
    free(rv->role);
    free(rv->principal);
    if (rv->labels)
        json_decref(rv->labels);
    memset(rv, 0, sizeof(*rv));
}

/* Drops disk.persistence and disk.volume: what a volume was made from. */
static void strip_volume(struct ag_resource *res)
{
    if (!res->disk)
        return;
    json_t *d = json_deep_copy(res->disk);
    json_decref(res->disk);
    res->disk = NULL;
    if (!d)
        return;
    json_object_del(d, "persistence");
    json_object_del(d, "volume");
    if (json_object_size(d) > 0)
        res->disk = d;
    else
        json_decref(d);
}

enum edit {
    EDIT_POP = 1,         /* the innermost reservation */
    EDIT_POP_DYNAMIC = 2, /* every dynamic reservation, and volumes */
    EDIT_STRIP_VOLUME = 4,
    EDIT_UNALLOCATE = 8,
};

/* ret = src with `edits` applied to every entry (entries that become the
 * same identity merge). ret is initialised here. */
static int edit_each(const struct ag_resources *src, unsigned edits, struct ag_resources *ret)
{
    ag_resources_init(ret);
    for (size_t i = 0; i < src->n; i++) {
        struct ag_resource tmp;
        if (ag_resource_copy(&tmp, &src->items[i]) < 0)
            goto oom;
        if (edits & EDIT_POP)
            pop_reservation(&tmp);
        if (edits & EDIT_POP_DYNAMIC) {
            while (tmp.n_reservations > 0 &&
                   tmp.reservations[tmp.n_reservations - 1].type == AG_RESERVATION_DYNAMIC)
                pop_reservation(&tmp);
            strip_volume(&tmp);
        }
        if (edits & EDIT_STRIP_VOLUME)
            strip_volume(&tmp);
        if (edits & EDIT_UNALLOCATE) {
            free(tmp.allocation_role);
            tmp.allocation_role = NULL;
        }
        int r = ag_resources_add_one(ret, &tmp);
        ag_resource_release(&tmp);
        if (r < 0)
            goto oom;
    }
    return 0;
oom:
    ag_resources_release(ret);
    ag_resources_init(ret);
    return -ENOMEM;
}

int ag_master_resources_unallocated(const struct ag_resources *src, struct ag_resources *ret)
{
    return edit_each(src, EDIT_UNALLOCATE, ret);
}

static const char *persistence_id(const struct ag_resource *res)
{
    json_t *p = res->disk ? json_object_get(res->disk, "persistence") : NULL;
    json_t *id = p ? json_object_get(p, "id") : NULL;
    return json_is_string(id) ? json_string_value(id) : NULL;
}

static bool has_dynamic(const struct ag_resource *res)
{
    for (size_t i = 0; i < res->n_reservations; i++)
        if (res->reservations[i].type == AG_RESERVATION_DYNAMIC)
            return true;
    return false;
}

int ag_master_resources_merge_checkpoint(const struct ag_resources *reported,
                                         const struct ag_resources *known, struct ag_resources *ret)
{
    struct ag_resources base;
    int r = edit_each(reported, EDIT_POP_DYNAMIC, &base);
    if (r < 0)
        return r;
    for (size_t i = 0; i < known->n; i++) {
        const struct ag_resource *k = &known->items[i];
        if (!has_dynamic(k) && !persistence_id(k))
            continue;
        struct ag_resources one, one_base;
        ag_resources_init(&one);
        if (ag_resources_add_one(&one, k) < 0 || edit_each(&one, EDIT_POP_DYNAMIC, &one_base) < 0) {
            ag_resources_release(&one);
            ag_resources_release(&base);
            return -ENOMEM;
        }
        if (ag_resources_subtract(&base, &one_base) == 0)
            ag_resources_add(&base, &one);
        else
            ag_warn("checkpointed resource '%s' no longer fits the agent's resources; dropped",
                    k->name);
        ag_resources_release(&one);
        ag_resources_release(&one_base);
    }
    *ret = base;
    return 0;
}

/* --- validation --- */

/* Whether `role` is `parent` or below it. */
static bool role_within(const char *role, const char *parent)
{
    size_t n = strlen(parent);
    return strcmp(role, parent) == 0 ||
           (strncmp(role, parent, n) == 0 && role[n] == '/' && strcmp(parent, "*") != 0);
}

static bool fw_role_within(const struct ag_master_framework *fw, const char *role)
{
    for (size_t i = 0; i < fw->n_roles; i++)
        if (role_within(role, fw->roles[i]))
            return true;
    return false;
}

static const char *fw_principal(const struct ag_master_framework *fw)
{
    json_t *p = fw ? json_object_get(fw->info, "principal") : NULL;
    return json_is_string(p) ? json_string_value(p) : NULL;
}

/* Parses resources[] (or volumes[]) of a payload and gives every entry the
 * allocation role `role` (NULL: none, for operator calls). */
static int parse_list(const json_t *payload, const char *key, const char *what, const char *role,
                      struct ag_resources *ret, char *err, size_t errlen)
{
    json_t *arr = ag_json_get(payload, key);
    char e[512] = "";
    ag_resources_init(ret);
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return fail(err, errlen, "%s needs a non-empty '%s' array", what, key);
    if (ag_resources_from_json(arr, ret, e, sizeof(e)) < 0)
        return fail(err, errlen, "invalid '%s' of %s: %s", key, what, e);
    if (ag_resources_empty(ret))
        return fail(err, errlen, "'%s' of %s holds no resources", key, what);
    for (size_t i = 0; i < ret->n; i++) {
        const char *ar = ret->items[i].allocation_role;
        if (role && ar && strcmp(ar, role) != 0) {
            fail(err, errlen, "resource '%s' of %s is allocated to role '%s', not '%s'",
                 ret->items[i].name, what, ar, role);
            ag_resources_release(ret);
            return -EINVAL;
        }
    }
    if (ag_resources_set_allocation_role(ret, role) < 0) {
        ag_resources_release(ret);
        return fail(err, errlen, "out of memory");
    }
    return 0;
}

static int check_reserve(const struct ag_master_framework *fw, const char *role,
                         const struct ag_resources *res, char *err, size_t errlen)
{
    const char *principal = fw_principal(fw);
    for (size_t i = 0; i < res->n; i++) {
        const struct ag_resource *r = &res->items[i];
        char e[256] = "";
        if (r->n_reservations == 0)
            return fail(err, errlen, "RESERVE: resource '%s' carries no reservation", r->name);
        const struct ag_reservation *rv = &r->reservations[r->n_reservations - 1];
        if (rv->type != AG_RESERVATION_DYNAMIC)
            return fail(err, errlen, "RESERVE: the reservation of resource '%s' must be DYNAMIC",
                        r->name);
        if (!rv->role || strcmp(rv->role, "*") == 0)
            return fail(err, errlen, "RESERVE: resource '%s' cannot be reserved for role '*'",
                        r->name);
        if (ag_role_validate(rv->role, e, sizeof(e)) < 0)
            return fail(err, errlen, "RESERVE: invalid role '%s': %s", rv->role, e);
        if (persistence_id(r))
            return fail(err, errlen, "RESERVE: resource '%s' is a persistent volume", r->name);
        if (r->n_reservations > 1) {
            const char *outer = r->reservations[r->n_reservations - 2].role;
            if (!outer || strcmp(outer, rv->role) == 0 || !role_within(rv->role, outer))
                return fail(err, errlen,
                            "RESERVE: refining a reservation of '%s' needs a sub-role of it, "
                            "not '%s'",
                            outer ? outer : "*", rv->role);
            if (fw && !(fw->caps & AG_CAP_RESERVATION_REFINEMENT))
                return fail(err, errlen,
                            "RESERVE: refined reservations need the RESERVATION_REFINEMENT "
                            "capability");
        }
        if (fw) {
            if (!fw_role_within(fw, rv->role))
                return fail(err, errlen,
                            "RESERVE: role '%s' is not a role of the framework (or below one)",
                            rv->role);
            if (!role_within(rv->role, role))
                return fail(err, errlen,
                            "RESERVE: resources allocated to role '%s' cannot be reserved for "
                            "role '%s'",
                            role, rv->role);
            if (principal && (!rv->principal || strcmp(rv->principal, principal) != 0))
                return fail(err, errlen,
                            "RESERVE: the reservation's principal '%s' does not match the "
                            "framework's principal '%s'",
                            rv->principal ? rv->principal : "", principal);
        }
    }
    return 0;
}

static int check_unreserve(const struct ag_master_framework *fw, const struct ag_resources *res,
                           char *err, size_t errlen)
{
    for (size_t i = 0; i < res->n; i++) {
        const struct ag_resource *r = &res->items[i];
        if (r->n_reservations == 0 ||
            r->reservations[r->n_reservations - 1].type != AG_RESERVATION_DYNAMIC)
            return fail(err, errlen, "UNRESERVE: resource '%s' is not dynamically reserved",
                        r->name);
        if (persistence_id(r))
            return fail(err, errlen,
                        "UNRESERVE: resource '%s' is persistent volume '%s'; destroy it first",
                        r->name, persistence_id(r));
        const char *rrole = r->reservations[r->n_reservations - 1].role;
        if (fw && !fw_role_within(fw, rrole ? rrole : "*"))
            return fail(err, errlen,
                        "UNRESERVE: resource '%s' is reserved for role '%s', not a role of the "
                        "framework",
                        r->name, rrole ? rrole : "*");
    }
    return 0;
}

/* A volume's container path: relative, no "..", no empty path. */
static bool container_path_ok(const char *p)
{
    if (!p || !p[0] || p[0] == '/')
        return false;
    const char *s = p;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && strncmp(s, "..", 2) == 0)
            return false;
        if (!e)
            break;
        s = e + 1;
    }
    return true;
}

bool ag_master_volume_id_ok(const char *id)
{
    if (!id || !id[0] || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return false;
    for (const char *c = id; *c; c++)
        if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

static bool agent_has_volume(const struct ag_master_agent *a, const char *id)
{
    for (size_t i = 0; i < a->total.n; i++) {
        const char *pid = persistence_id(&a->total.items[i]);
        if (pid && strcmp(pid, id) == 0)
            return true;
    }
    return false;
}

static int check_create(const struct ag_master_framework *fw, const struct ag_master_agent *a,
                        const struct ag_resources *vols, char *err, size_t errlen)
{
    const char *principal = fw_principal(fw);
    for (size_t i = 0; i < vols->n; i++) {
        const struct ag_resource *v = &vols->items[i];
        const char *id = persistence_id(v);
        if (strcmp(v->name, "disk") != 0 || v->type != AG_VALUE_SCALAR)
            return fail(err, errlen, "CREATE: volume resource '%s' is not a 'disk' scalar",
                        v->name);
        if (!id)
            return fail(err, errlen, "CREATE: volume needs 'disk.persistence.id'");
        if (!ag_master_volume_id_ok(id))
            return fail(err, errlen, "CREATE: invalid persistence id '%s'", id);
        json_t *vol = json_object_get(v->disk, "volume");
        json_t *cp = vol ? json_object_get(vol, "container_path") : NULL;
        if (!json_is_string(cp) || !container_path_ok(json_string_value(cp)))
            return fail(err, errlen,
                        "CREATE: volume '%s' needs a relative 'disk.volume.container_path' "
                        "without '..'",
                        id);
        json_t *mode = json_object_get(vol, "mode");
        if (mode && (!json_is_string(mode) || (strcmp(json_string_value(mode), "RW") != 0 &&
                                               strcmp(json_string_value(mode), "RO") != 0)))
            return fail(err, errlen,
                        "CREATE: volume '%s' has a 'disk.volume.mode' other than "
                        "RW or RO",
                        id);
        if (!ag_resource_is_reserved(v))
            return fail(err, errlen, "CREATE: volume '%s' must be on reserved disk", id);
        if (agent_has_volume(a, id))
            return fail(err, errlen, "CREATE: persistence id '%s' is already in use on agent '%s'",
                        id, a->id);
        for (size_t k = 0; k < i; k++) {
            const char *other = persistence_id(&vols->items[k]);
            if (other && strcmp(other, id) == 0)
                return fail(err, errlen, "CREATE: persistence id '%s' is given twice", id);
        }
        json_t *pp = json_object_get(json_object_get(v->disk, "persistence"), "principal");
        if (principal && json_is_string(pp) && strcmp(json_string_value(pp), principal) != 0)
            return fail(err, errlen,
                        "CREATE: volume '%s' has principal '%s', not the framework's '%s'", id,
                        json_string_value(pp), principal);
        if (fw && !fw_role_within(fw, ag_resource_reserved_role(v)))
            return fail(err, errlen,
                        "CREATE: volume '%s' is reserved for role '%s', not a role "
                        "of the framework",
                        id, ag_resource_reserved_role(v));
    }
    return 0;
}

static int check_destroy(const struct ag_master_agent *a, const struct ag_resources *vols,
                         char *err, size_t errlen)
{
    for (size_t i = 0; i < vols->n; i++) {
        const char *id = persistence_id(&vols->items[i]);
        if (!id)
            return fail(err, errlen, "DESTROY: resource '%s' is not a persistent volume",
                        vols->items[i].name);
        if (!agent_has_volume(a, id))
            return fail(err, errlen, "DESTROY: agent '%s' has no volume '%s'", a->id, id);
    }
    return 0;
}

int ag_master_conversion_build(const struct ag_master_agent *a,
                               const struct ag_master_framework *fw, const char *role,
                               enum ag_master_conv_type type, const json_t *payload,
                               struct ag_resources *from, struct ag_resources *to, char *err,
                               size_t errlen)
{
    ag_resources_init(from);
    ag_resources_init(to);
    struct ag_resources res;
    ag_resources_init(&res);
    int r = 0;
    switch (type) {
    case AG_CONV_RESERVE:
        r = parse_list(payload, "resources", "RESERVE", role, &res, err, errlen);
        if (r == 0)
            r = check_reserve(fw, role, &res, err, errlen);
        if (r == 0 && edit_each(&res, EDIT_POP, from) < 0)
            r = fail(err, errlen, "out of memory");
        if (r == 0 && ag_json_get(payload, "source") &&
            json_array_size(ag_json_get(payload, "source")) > 0) {
            struct ag_resources src;
            r = parse_list(payload, "source", "RESERVE", role, &src, err, errlen);
            if (r == 0 && !ag_resources_equal(&src, from))
                r = fail(err, errlen,
                         "RESERVE: 'source' is not 'resources' without their "
                         "new reservation");
            ag_resources_release(&src);
        }
        break;
    case AG_CONV_UNRESERVE:
        r = parse_list(payload, "resources", "UNRESERVE", role, &res, err, errlen);
        if (r == 0)
            r = check_unreserve(fw, &res, err, errlen);
        if (r == 0 && ag_resources_copy(from, &res) < 0)
            r = fail(err, errlen, "out of memory");
        if (r == 0 && edit_each(&res, EDIT_POP, to) < 0)
            r = fail(err, errlen, "out of memory");
        if (r == 0) {
            ag_resources_release(&res);
            return 0;
        }
        break;
    case AG_CONV_CREATE:
        r = parse_list(payload, "volumes", "CREATE", role, &res, err, errlen);
        if (r == 0)
            r = check_create(fw, a, &res, err, errlen);
        if (r == 0 && edit_each(&res, EDIT_STRIP_VOLUME, from) < 0)
            r = fail(err, errlen, "out of memory");
        break;
    case AG_CONV_DESTROY:
        r = parse_list(payload, "volumes", "DESTROY", role, &res, err, errlen);
        if (r == 0)
            r = check_destroy(a, &res, err, errlen);
        if (r == 0 && ag_resources_copy(from, &res) < 0)
            r = fail(err, errlen, "out of memory");
        if (r == 0 && edit_each(&res, EDIT_STRIP_VOLUME, to) < 0)
            r = fail(err, errlen, "out of memory");
        if (r == 0) {
            ag_resources_release(&res);
            return 0;
        }
        break;
    default:
        return fail(err, errlen, "unknown conversion");
    }
    if (r == 0 && (type == AG_CONV_RESERVE || type == AG_CONV_CREATE)) {
        *to = res; /* the requested result */
        return 0;
    }
    ag_resources_release(&res);
    ag_resources_release(from);
    ag_resources_release(to);
    ag_resources_init(from);
    ag_resources_init(to);
    return r < 0 ? r : -EINVAL;
}

int ag_master_conv_type_parse(const char *name, enum ag_master_conv_type *ret)
{
    static const struct {
        const char *name;
        enum ag_master_conv_type type;
    } names[] = {
        {"RESERVE", AG_CONV_RESERVE},
        {"UNRESERVE", AG_CONV_UNRESERVE},
        {"CREATE", AG_CONV_CREATE},
        {"DESTROY", AG_CONV_DESTROY},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i].name, name) == 0) {
            *ret = names[i].type;
            return 0;
        }
    return -EINVAL;
}

/* --- applying --- */

/* total = total - from + to (allocation roles dropped). */
static int total_convert(struct ag_master_agent *a, const struct ag_resources *from,
                         const struct ag_resources *to, struct ag_resources *ret)
{
    struct ag_resources f, t;
    ag_resources_init(ret);
    if (edit_each(from, EDIT_UNALLOCATE, &f) < 0)
        return -ENOMEM;
    if (edit_each(to, EDIT_UNALLOCATE, &t) < 0) {
        ag_resources_release(&f);
        return -ENOMEM;
    }
    int r = ag_resources_copy(ret, &a->total);
    if (r == 0)
        r = ag_resources_subtract(ret, &f);
    if (r == 0)
        r = ag_resources_add(ret, &t);
    if (r < 0) {
        ag_resources_release(ret);
        ag_resources_init(ret);
    }
    ag_resources_release(&f);
    ag_resources_release(&t);
    return r;
}

void ag_master_agent_send_resources(struct ag_master *m, struct ag_master_agent *a)
{
    if (!a->total_known || !a->stream)
        return;
    json_t *ev =
        json_pack("{s:s, s:{s:o}}", "type", "UPDATE_RESOURCES", "update_resources", "resources",
                  ag_resources_to_json(&a->total, AG_RESOURCES_POST_REFINEMENT));
    ag_master_send_agent(m, a, ev);
}

int ag_master_accept_conversion(struct ag_master *m, struct ag_master_framework *fw,
                                struct ag_master_agent *a, const char *role,
                                enum ag_master_conv_type type, const json_t *op,
                                struct ag_resources *pool, char *err, size_t errlen)
{
    static const char *const keys[] = {"", "reserve", "unreserve", "create", "destroy"};
    struct ag_resources from, to, total;
    if (ag_json_get(op, "id"))
        return fail(err, errlen,
                    "operation feedback ('id') needs an agent with "
                    "AGENT_OPERATION_FEEDBACK; operation dropped");
    json_t *payload = ag_json_get(op, keys[type]);
    if (!json_is_object(payload))
        return fail(err, errlen, "the operation needs a '%s' object", keys[type]);
    int r = ag_master_conversion_build(a, fw, role, type, payload, &from, &to, err, errlen);
    if (r < 0)
        return r;
    if (!ag_resources_contains(pool, &from)) {
        char *s = ag_resources_string(&from);
        fail(err, errlen, "%s needs %s, which the offers do not hold (any more)", keys[type],
             s ? s : "resources");
        free(s);
        r = -EINVAL;
    } else if (!m->alloc_ops->transform) {
        r = fail(err, errlen, "the '%s' allocator cannot convert resources yet",
                 m->alloc_ops->name);
    } else if (total_convert(a, &from, &to, &total) < 0) {
        r = fail(err, errlen, "%s: the agent's total does not hold the resources", keys[type]);
    } else {
        r = m->alloc_ops->transform(m->alloc, fw->id, role, a->id, &from, &to);
        if (r < 0) {
            fail(err, errlen, "the allocator refused the %s: %s", keys[type], strerror(-r));
            ag_resources_release(&total);
        } else {
            ag_resources_subtract(pool, &from);
            ag_resources_add(pool, &to);
            ag_resources_release(&a->total);
            a->total = total;
            a->total_known = true;
            ag_master_agent_send_resources(m, a);
        }
    }
    ag_resources_release(&from);
    ag_resources_release(&to);
    return r;
}

/* What an operator may convert now: total - used - offered. */
static int agent_free(const struct ag_master_agent *a, bool with_offers, struct ag_resources *ret)
{
    struct ag_resources used;
    int r = edit_each(&a->used, EDIT_UNALLOCATE, &used);
    if (r < 0)
        return r;
    if (with_offers) {
        struct ag_resources off;
        r = edit_each(&a->offered, EDIT_UNALLOCATE, &off);
        if (r == 0)
            r = ag_resources_add(&used, &off);
        ag_resources_release(&off);
    }
    ag_resources_init(ret);
    if (r == 0)
        r = ag_resources_copy(ret, &a->total);
    if (r == 0 && ag_resources_subtract(ret, &used) < 0)
        r = -ERANGE; /* out of sync: nothing is free */
    ag_resources_release(&used);
    return r;
}

int ag_master_operator_conversion(struct ag_master *m, enum ag_master_conv_type type,
                                  const json_t *payload, char *err, size_t errlen)
{
    char e[256] = "";
    const char *aid = ag_json_get_id(payload, "agent_id", true, e, sizeof(e));
    if (!aid) {
        fail(err, errlen, "Expecting 'agent_id' to be present as {\"value\": string}");
        return 400;
    }
    struct ag_master_agent *a = ag_master_agent_find(m, aid);
    if (!a || a->state == AG_MASTER_AGENT_UNREACHABLE || !a->in_allocator) {
        fail(err, errlen, "No agent found with specified ID '%s'", aid);
        return 400;
    }
    struct ag_resources from, to, freeres, total;
    if (ag_master_conversion_build(a, NULL, NULL, type, payload, &from, &to, err, errlen) < 0)
        return 400;
    int status = 202;
    if (agent_free(a, true, &freeres) < 0 || !ag_resources_contains(&freeres, &from)) {
        /* Offers may hold what is needed: take them back first. */
        ag_resources_release(&freeres);
        while (!ag_master_list_empty(&a->offers))
            ag_master_offer_remove(
                m, ag_master_container_of(a->offers.next, struct ag_master_offer, agent_link), true,
                true, 0);
        ag_master_allocate_soon(m);
        if (agent_free(a, false, &freeres) < 0 || !ag_resources_contains(&freeres, &from)) {
            char *s = ag_resources_string(&from);
            fail(err, errlen, "%s on agent '%s' are not available (used by tasks, or not there)",
                 s ? s : "the resources", a->id);
            free(s);
            status = 409;
            goto out;
        }
    }
    if (!m->alloc_ops->update_agent) {
        fail(err, errlen, "the '%s' allocator cannot change an agent's resources yet",
             m->alloc_ops->name);
        status = 501;
        goto out;
    }
    if (total_convert(a, &from, &to, &total) < 0) {
        fail(err, errlen, "the agent's total does not hold the resources");
        status = 409;
        goto out;
    }
    int r = m->alloc_ops->update_agent(m->alloc, a->id, &total);
    if (r < 0) {
        fail(err, errlen, "the allocator refused the new total of agent '%s': %s", a->id,
             strerror(-r));
        ag_resources_release(&total);
        status = 409;
        goto out;
    }
    ag_resources_release(&a->total);
    a->total = total;
    a->total_known = true;
    ag_master_agent_send_resources(m, a);
    ag_master_allocate_soon(m);
out:
    ag_resources_release(&freeres);
    ag_resources_release(&from);
    ag_resources_release(&to);
    return status;
}
