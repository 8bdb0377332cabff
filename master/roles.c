/*
 * roles: weights, quota and the view of roles (GET_ROLES, /master/roles),
 * plus the allocator options that come from flags.
 *
 * Weights and quotas live in memory only: there is no registry yet, so a
 * restarted master starts again from its flags.
 */
#include "master/internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"

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

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* --- flags --- */

json_t *ag_master_weights_parse(const char *text, char *err, size_t errlen)
{
    json_t *w = json_object();
    char *copy = strdup(text ? text : "");
    if (!w || !copy) {
        json_decref(w);
        free(copy);
        fail(err, errlen, "out of memory");
        return NULL;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *item = trim(tok);
        if (!item[0])
            continue;
        char *eq = strchr(item, '=');
        char e[256] = "";
        if (!eq) {
            fail(err, errlen, "weight '%s' is not of the form role=weight", item);
            goto bad;
        }
        *eq = '\0';
        char *role = trim(item), *val = trim(eq + 1), *end = NULL;
        if (ag_role_validate(role, e, sizeof(e)) < 0) {
            fail(err, errlen, "invalid role '%s' in weights: %s", role, e);
            goto bad;
        }
        double v = strtod(val, &end);
        if (!val[0] || *end || !isfinite(v) || v <= 0) {
            fail(err, errlen, "weight '%s' of role '%s' must be a positive number", val, role);
            goto bad;
        }
        json_object_set_new(w, role, json_real(v));
    }
    free(copy);
    return w;
bad:
    free(copy);
    json_decref(w);
    return NULL;
}

void ag_master_alloc_options_release(struct ag_master_alloc_options *o)
{
    for (size_t i = 0; i < o->n_alternatives; i++)
        ag_resources_release(&o->alternatives[i]);
    free(o->alternatives);
    for (size_t i = 0; i < o->n_excluded; i++)
        free(o->excluded[i]);
    free(o->excluded);
    memset(o, 0, sizeof(*o));
}

static int parse_excluded(const char *text, struct ag_master_alloc_options *o, char *err,
                          size_t errlen)
{
    char *copy = strdup(text), *save = NULL;
    if (!copy)
        return fail(err, errlen, "out of memory");
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *name = trim(tok);
        if (!name[0])
            continue;
        for (const char *c = name; *c; c++)
            if ((unsigned char)*c < 0x21 || *c == ':' || *c == ';' || *c == '(' || *c == ')') {
                fail(err, errlen,
                     "--fair_sharing_excluded_resource_names: '%s' is not a resource name", name);
                free(copy);
                return -EINVAL;
            }
        char **n = realloc(o->excluded, (o->n_excluded + 1) * sizeof(*n));
        if (!n || !(n[o->n_excluded] = strdup(name))) {
            if (n)
                o->excluded = n;
            free(copy);
            return fail(err, errlen, "out of memory");
        }
        o->excluded = n;
        o->n_excluded++;
    }
    free(copy);
    return 0;
}

static int parse_alternatives(const char *text, struct ag_master_alloc_options *o, char *err,
                              size_t errlen)
{
    char *copy = strdup(text), *save = NULL;
    if (!copy)
        return fail(err, errlen, "out of memory");
    /* strtok_r would skip empty alternatives: walk by hand. */
    char *s = copy;
    for (;;) {
        char *bar = strchr(s, '|');
        if (bar)
            *bar = '\0';
        char *alt = trim(s);
        struct ag_resources r;
        char e[512] = "";
        if (!alt[0]) {
            free(copy);
            return fail(err, errlen, "--min_allocatable_resources has an empty alternative");
        }
        if (ag_resources_parse(alt, NULL, &r, e, sizeof(e)) < 0) {
            fail(err, errlen, "--min_allocatable_resources: alternative '%s': %s", alt, e);
            free(copy);
            return -EINVAL;
        }
        bool reserved = false;
        for (size_t i = 0; i < r.n; i++)
            reserved = reserved || ag_resource_is_reserved(&r.items[i]);
        if (ag_resources_empty(&r) || reserved) {
            ag_resources_release(&r);
            fail(err, errlen,
                 "--min_allocatable_resources: alternative '%s' must hold unreserved "
                 "quantities above zero",
                 alt);
            free(copy);
            return -EINVAL;
        }
        struct ag_resources *n = realloc(o->alternatives, (o->n_alternatives + 1) * sizeof(*n));
        if (!n) {
            ag_resources_release(&r);
            free(copy);
            return fail(err, errlen, "out of memory");
        }
        o->alternatives = n;
        o->alternatives[o->n_alternatives++] = r;
        if (!bar)
            break;
        s = bar + 1;
    }
    (void)save;
    free(copy);
    return 0;
}

int ag_master_alloc_options_parse(const struct ag_master_config *cfg,
                                  struct ag_master_alloc_options *ret, char *err, size_t errlen)
{
    memset(ret, 0, sizeof(*ret));
    ret->opts.default_refuse_seconds = 5;
    if (cfg->excluded_resource_names && cfg->excluded_resource_names[0] &&
        parse_excluded(cfg->excluded_resource_names, ret, err, errlen) < 0)
        goto bad;
    if (cfg->min_allocatable_resources && cfg->min_allocatable_resources[0] &&
        parse_alternatives(cfg->min_allocatable_resources, ret, err, errlen) < 0)
        goto bad;
    ret->opts.min_allocatable_alternatives = ret->alternatives;
    ret->opts.n_min_allocatable = ret->n_alternatives;
    ret->opts.excluded_resource_names = (const char *const *)ret->excluded;
    ret->opts.n_excluded_resource_names = ret->n_excluded;
    return 0;
bad:
    ag_master_alloc_options_release(ret);
    return -EINVAL;
}

/* --- weights --- */

static double role_weight(const struct ag_master *m, const char *role)
{
    json_t *w = m->weights ? json_object_get(m->weights, role) : NULL;
    return w ? json_number_value(w) : 1.0;
}

json_t *ag_master_weights_legacy_json(const struct ag_master *m)
{
    json_t *list = json_array();
    const char *k;
    json_t *v;
    if (m->weights)
        json_object_foreach(m->weights, k, v) json_array_append_new(
            list, json_pack("{s:s, s:f}", "role", k, "weight", json_number_value(v)));
    return list;
}

json_t *ag_master_get_weights_json(const struct ag_master *m)
{
    json_t *list = ag_master_weights_legacy_json(m);
    json_t *r = json_object();
    if (json_array_size(list) > 0)
        json_object_set_new(r, "weight_infos", list);
    else
        json_decref(list);
    return r;
}

int ag_master_update_weights(struct ag_master *m, const json_t *payload, char *err, size_t errlen)
{
    json_t *infos = ag_json_get(payload, "weight_infos");
    if (!json_is_array(infos))
        return fail(err, errlen, "Expecting 'update_weights.weight_infos' to be an array");
    json_t *seen = json_object();
    size_t i;
    json_t *wi;
    json_array_foreach(infos, i, wi)
    {
        char e[256] = "";
        json_t *role = ag_json_get(wi, "role"), *weight = ag_json_get(wi, "weight");
        if (!json_is_object(wi) || !json_is_string(role)) {
            json_decref(seen);
            return fail(err, errlen, "'weight_infos[%zu].role' must be a string", i);
        }
        const char *r = json_string_value(role);
        if (ag_role_validate(r, e, sizeof(e)) < 0 || strcmp(r, "*") == 0) {
            json_decref(seen);
            return fail(err, errlen, "'weight_infos[%zu].role' '%s' is not a valid role%s%s", i, r,
                        e[0] ? ": " : "", e);
        }
        if (!json_is_number(weight) || !isfinite(json_number_value(weight)) ||
            json_number_value(weight) <= 0) {
            json_decref(seen);
            return fail(err, errlen,
                        "'weight_infos[%zu].weight' of role '%s' must be a number "
                        "above zero",
                        i, r);
        }
        if (json_object_get(seen, r)) {
            json_decref(seen);
            return fail(err, errlen, "role '%s' appears twice in 'weight_infos'", r);
        }
        json_object_set_new(seen, r, json_real(json_number_value(weight)));
    }
    const char *k;
    json_t *v;
    json_object_foreach(seen, k, v)
    {
        double w = json_number_value(v);
        if (m->alloc_ops->set_weight && m->alloc_ops->set_weight(m->alloc, k, w) < 0)
            ag_warn("the allocator refused weight %g for role '%s'", w, k);
        json_object_set(m->weights, k, v);
        ag_info("weight of role '%s' set to %g", k, w);
    }
    json_decref(seen);
    ag_master_allocate_soon(m);
    return 0;
}

/* --- quota --- */

static json_t *scalars_to_resources_json(const json_t *map)
{
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v) json_array_append_new(
        arr, json_pack("{s:s, s:s, s:{s:f}}", "name", k, "type", "SCALAR", "scalar", "value",
                       json_number_value(json_object_get(v, "value"))));
    return arr;
}

/* A {name: {value: n}} map as a quantity list for the allocator. Zero
 * quantities are kept: a limit of 0 means "none of it". */
static int scalars_to_resources(const json_t *map, struct ag_resources *ret)
{
    const char *k;
    json_t *v;
    ag_resources_init(ret);
    json_object_foreach((json_t *)map, k, v)
    {
        double d = json_number_value(json_object_get(v, "value"));
        int r = ag_resources_push_quantity(ret, k, (int64_t)llround(d * 1000.0));
        if (r < 0) {
            ag_resources_release(ret);
            return r;
        }
    }
    return 0;
}

/* Checks a {name: {value: n}} map; writes a normalised copy to *ret. */
static int check_scalar_map(const json_t *map, const char *where, json_t **ret, char *err,
                            size_t errlen)
{
    *ret = json_object();
    if (!map)
        return 0;
    if (!json_is_object(map))
        return fail(err, errlen, "'%s' must be an object of name -> {\"value\": number}", where);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v)
    {
        json_t *val = json_is_object(v) ? json_object_get(v, "value") : NULL;
        double d = json_is_number(val) ? json_number_value(val) : NAN;
        if (!k[0])
            return fail(err, errlen, "'%s' has an empty resource name", where);
        if (!isfinite(d) || d < 0 || d > 1e12)
            return fail(err, errlen, "'%s.%s' must be {\"value\": number} with a finite value >= 0",
                        where, k);
        json_object_set_new(*ret, k, json_pack("{s:f}", "value", d));
    }
    return 0;
}

static void cluster_total(const struct ag_master *m, struct ag_resources *ret)
{
    ag_resources_init(ret);
    for (struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
        struct ag_master_agent *a = e->value;
        if (a->state != AG_MASTER_AGENT_UNREACHABLE)
            ag_resources_add(ret, &a->total);
    }
}

static bool in_subtree(const char *role, const char *top)
{
    size_t n = strlen(top);
    return role && strncmp(role, top, n) == 0 && (role[n] == '\0' || role[n] == '/');
}

/* What a role's subtree consumes against a limit: its reservations plus
 * the unreserved resources its tasks use (offers are rescinded anyway). */
static double consumed_scalar(const struct ag_master *m, const char *role, const char *name)
{
    double sum = 0;
    for (struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
        const struct ag_master_agent *a = e->value;
        if (a->state == AG_MASTER_AGENT_UNREACHABLE)
            continue;
        for (size_t i = 0; i < a->total.n; i++) {
            const struct ag_resource *r = &a->total.items[i];
            if (r->type == AG_VALUE_SCALAR && strcmp(r->name, name) == 0 &&
                ag_resource_is_reserved(r) && in_subtree(ag_resource_reserved_role(r), role))
                sum += (double)r->scalar_milli / 1000.0;
        }
    }
    for (struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next) {
        const struct ag_master_framework *fw = e->value;
        for (size_t i = 0; i < fw->used.n; i++) {
            const struct ag_resource *r = &fw->used.items[i];
            if (r->type == AG_VALUE_SCALAR && strcmp(r->name, name) == 0 &&
                !ag_resource_is_reserved(r) && in_subtree(r->allocation_role, role))
                sum += (double)r->scalar_milli / 1000.0;
        }
    }
    return sum;
}

/* Without force, a limit may not be set below what the role consumes. */
static int check_consumption(const struct ag_master *m, const json_t *changed, char *err,
                             size_t errlen)
{
    const char *role, *k;
    json_t *q, *v;
    json_object_foreach((json_t *)changed, role, q)
        json_object_foreach(json_object_get(q, "limits"), k, v)
    {
        double lim = json_number_value(json_object_get(v, "value"));
        double used = consumed_scalar(m, role, k);
        if (used > lim + 1e-9)
            return fail(err, errlen,
                        "role '%s' already consumes %g of '%s', above the new limit %g; use "
                        "'force' to set it anyway",
                        role, used, k, lim);
    }
    return 0;
}

int ag_master_update_quota(struct ag_master *m, const json_t *payload, char *err, size_t errlen)
{
    json_t *configs = ag_json_get(payload, "quota_configs");
    json_t *force_j = ag_json_get(payload, "force");
    if (force_j && !json_is_boolean(force_j))
        return fail(err, errlen, "'update_quota.force' must be a boolean");
    bool force = json_is_true(force_j);
    if (!json_is_array(configs))
        return fail(err, errlen, "Expecting 'update_quota.quota_configs' to be an array");
    json_t *next = json_deep_copy(m->quotas); /* the state after the update */
    json_t *changed = json_object();
    size_t i;
    json_t *c;
    int r = 0;
    json_array_foreach(configs, i, c)
    {
        char where[96], e[256] = "";
        json_t *role = ag_json_get(c, "role");
        if (!json_is_object(c) || !json_is_string(role)) {
            r = fail(err, errlen, "'quota_configs[%zu].role' must be a string", i);
            goto out;
        }
        const char *rs = json_string_value(role);
        if (ag_role_validate(rs, e, sizeof(e)) < 0 || strcmp(rs, "*") == 0) {
            r = fail(err, errlen, "'quota_configs[%zu].role' '%s' is not a valid role%s%s", i, rs,
                     e[0] ? ": " : "", e);
            goto out;
        }
        if (strchr(rs, '/')) {
            r = fail(err, errlen,
                     "'quota_configs[%zu].role' '%s': quota is only supported for top-level "
                     "roles",
                     i, rs);
            goto out;
        }
        if (json_object_get(changed, rs)) {
            r = fail(err, errlen, "role '%s' appears twice in 'quota_configs'", rs);
            goto out;
        }
        json_t *g = NULL, *l = NULL;
        snprintf(where, sizeof(where), "quota_configs[%zu].guarantees", i);
        r = check_scalar_map(ag_json_get(c, "guarantees"), where, &g, err, errlen);
        if (r == 0) {
            snprintf(where, sizeof(where), "quota_configs[%zu].limits", i);
            r = check_scalar_map(ag_json_get(c, "limits"), where, &l, err, errlen);
        }
        const char *k;
        json_t *v;
        if (r == 0)
            json_object_foreach(g, k, v)
            {
                json_t *lim = json_object_get(l, k);
                double gv = json_number_value(json_object_get(v, "value"));
                if (lim && gv > json_number_value(json_object_get(lim, "value"))) {
                    r = fail(err, errlen, "role '%s': guarantee %g of '%s' is above its limit %g",
                             rs, gv, k, json_number_value(json_object_get(lim, "value")));
                    break;
                }
            }
        if (r < 0) {
            json_decref(g);
            json_decref(l);
            goto out;
        }
        json_object_set_new(changed, rs, json_pack("{s:o, s:o}", "guarantees", g, "limits", l));
        if (json_object_size(g) == 0 && json_object_size(l) == 0)
            json_object_del(next, rs);
        else
            json_object_set(next, rs, json_object_get(changed, rs));
    }
    if (!force) {
        /* The guarantees must fit in the cluster, as Mesos checks. */
        json_t *sum = json_object();
        const char *role, *k;
        json_t *q, *v;
        json_object_foreach(next, role, q)
            json_object_foreach(json_object_get(q, "guarantees"), k, v)
        {
            double prev = json_number_value(json_object_get(sum, k));
            json_object_set_new(sum, k,
                                json_real(prev + json_number_value(json_object_get(v, "value"))));
        }
        struct ag_resources total;
        cluster_total(m, &total);
        json_object_foreach(sum, k, v)
        {
            double have = ag_resources_scalar(&total, k);
            if (json_number_value(v) > have + 1e-9) {
                r = fail(err, errlen,
                         "total quota guarantees of '%s' (%g) exceed the cluster's capacity (%g); "
                         "use 'force' to set them anyway",
                         k, json_number_value(v), have);
                break;
            }
        }
        ag_resources_release(&total);
        json_decref(sum);
        if (r < 0)
            goto out;
        r = check_consumption(m, changed, err, errlen);
        if (r < 0)
            goto out;
    }
    if (!m->alloc_ops->set_quota && json_object_size(changed) > 0) {
        r = fail(err, errlen, "the '%s' allocator does not support quota yet", m->alloc_ops->name);
        goto out;
    }
    const char *role;
    json_t *q;
    json_object_foreach(changed, role, q)
    {
        struct ag_resources g, l;
        scalars_to_resources(json_object_get(q, "guarantees"), &g);
        scalars_to_resources(json_object_get(q, "limits"), &l);
        int sr = m->alloc_ops->set_quota(m->alloc, role, &g, &l);
        ag_resources_release(&g);
        ag_resources_release(&l);
        if (sr < 0) {
            /* Validated above; the allocator disagreeing is a bug to log. */
            ag_error("the allocator refused the quota of role '%s': %s", role, strerror(-sr));
        }
        /* Offers made under the old quota may break the new limit. */
        for (struct ag_master_map_entry *e = m->offers.head, *nx; e; e = nx) {
            nx = e->next;
            struct ag_master_offer *o = e->value;
            size_t n = strlen(role);
            if (strncmp(o->role, role, n) == 0 && (o->role[n] == '\0' || o->role[n] == '/'))
                ag_master_offer_remove(m, o, true, true, 0);
        }
        ag_info("quota of role '%s' updated", role);
    }
    json_decref(m->quotas);
    m->quotas = next;
    next = NULL;
    ag_master_allocate_soon(m);
out:
    json_decref(next);
    json_decref(changed);
    return r;
}

static json_t *quota_info_json(const char *role, const json_t *q)
{
    json_t *info = json_pack("{s:s}", "role", role);
    json_t *g = json_object_get(q, "guarantees");
    if (json_object_size(g) > 0)
        json_object_set_new(info, "guarantee", scalars_to_resources_json(g));
    return info;
}

json_t *ag_master_quota_legacy_json(const struct ag_master *m)
{
    json_t *infos = json_array(), *configs = json_array();
    const char *role;
    json_t *q;
    json_object_foreach(m->quotas, role, q)
    {
        json_array_append_new(infos, quota_info_json(role, q));
        json_array_append_new(configs, json_pack("{s:s, s:O, s:O}", "role", role, "guarantees",
                                                 json_object_get(q, "guarantees"), "limits",
                                                 json_object_get(q, "limits")));
    }
    json_t *r = json_object();
    if (json_array_size(infos) > 0) {
        json_object_set_new(r, "infos", infos);
        json_object_set_new(r, "configs", configs);
    } else {
        json_decref(infos);
        json_decref(configs);
    }
    return r;
}

json_t *ag_master_get_quota_json(const struct ag_master *m)
{
    return json_pack("{s:o}", "status", ag_master_quota_legacy_json(m));
}

/* --- roles --- */

struct role_view {
    struct ag_resources allocated, offered, reserved;
    json_t *frameworks; /* array of ids */
};

static bool role_is(const char *a, const char *role)
{
    return a && strcmp(a, role) == 0;
}

static void role_view_build(const struct ag_master *m, const char *role, struct role_view *v)
{
    ag_resources_init(&v->allocated);
    ag_resources_init(&v->offered);
    ag_resources_init(&v->reserved);
    v->frameworks = json_array();
    for (struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next) {
        struct ag_master_framework *fw = e->value;
        if (ag_master_fw_has_role(fw, role))
            json_array_append_new(v->frameworks, json_string(fw->id));
        for (size_t i = 0; i < fw->used.n; i++)
            if (role_is(fw->used.items[i].allocation_role, role))
                ag_resources_add_one(&v->allocated, &fw->used.items[i]);
        for (size_t i = 0; i < fw->offered.n; i++)
            if (role_is(fw->offered.items[i].allocation_role, role))
                ag_resources_add_one(&v->offered, &fw->offered.items[i]);
    }
    for (struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
        struct ag_master_agent *a = e->value;
        if (a->state == AG_MASTER_AGENT_UNREACHABLE)
            continue;
        for (size_t i = 0; i < a->total.n; i++)
            if (ag_resource_is_reserved(&a->total.items[i]) &&
                strcmp(ag_resource_reserved_role(&a->total.items[i]), role) == 0)
                ag_resources_add_one(&v->reserved, &a->total.items[i]);
    }
}

static void role_view_release(struct role_view *v)
{
    ag_resources_release(&v->allocated);
    ag_resources_release(&v->offered);
    ag_resources_release(&v->reserved);
    json_decref(v->frameworks);
}

/* Every role the master knows of: {name: null}. */
static json_t *known_roles(const struct ag_master *m)
{
    json_t *set = json_object();
    for (struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next) {
        struct ag_master_framework *fw = e->value;
        for (size_t i = 0; i < fw->n_roles; i++)
            json_object_set_new(set, fw->roles[i], json_null());
    }
    const char *k;
    json_t *v;
    json_object_foreach(m->weights, k, v) json_object_set_new(set, k, json_null());
    json_object_foreach(m->quotas, k, v) json_object_set_new(set, k, json_null());
    for (struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
        struct ag_master_agent *a = e->value;
        if (a->state == AG_MASTER_AGENT_UNREACHABLE)
            continue;
        for (size_t i = 0; i < a->total.n; i++)
            if (ag_resource_is_reserved(&a->total.items[i]))
                json_object_set_new(set, ag_resource_reserved_role(&a->total.items[i]),
                                    json_null());
    }
    return set;
}

static bool keep_unreserved(const struct ag_resource *res, void *arg)
{
    (void)arg;
    return !ag_resource_is_reserved(res);
}

/* Consumed quota: reservations plus unreserved allocations (offers too). */
static void role_consumed(const struct role_view *v, struct ag_resources *ret)
{
    struct ag_resources a, o;
    ag_resources_filter(&v->allocated, keep_unreserved, NULL, &a);
    ag_resources_filter(&v->offered, keep_unreserved, NULL, &o);
    ag_resources_init(ret);
    ag_resources_add(ret, &v->reserved);
    ag_resources_add(ret, &a);
    ag_resources_add(ret, &o);
    ag_resources_set_allocation_role(ret, NULL);
    ag_resources_release(&a);
    ag_resources_release(&o);
}

static json_t *flat_scalars(const json_t *map)
{
    json_t *f = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v) json_object_set(f, k, json_object_get(v, "value"));
    return f;
}

json_t *ag_master_roles_legacy_json(const struct ag_master *m)
{
    json_t *set = known_roles(m), *roles = json_array();
    const char *role;
    json_t *unused;
    json_object_foreach(set, role, unused)
    {
        struct role_view v;
        role_view_build(m, role, &v);
        struct ag_resources both, consumed;
        ag_resources_init(&both);
        ag_resources_add(&both, &v.allocated);
        ag_resources_add(&both, &v.offered);
        role_consumed(&v, &consumed);
        json_t *q = json_object_get(m->quotas, role);
        json_t *quota = json_pack("{s:s, s:o, s:o, s:o}", "role", role, "guarantee",
                                  flat_scalars(q ? json_object_get(q, "guarantees") : NULL),
                                  "limit", flat_scalars(q ? json_object_get(q, "limits") : NULL),
                                  "consumed", ag_resources_flatten(&consumed));
        json_array_append_new(roles, json_pack("{s:s, s:f, s:o, s:o, s:o, s:o, s:o, s:O}", "name",
                                               role, "weight", role_weight(m, role), "quota", quota,
                                               "resources", ag_resources_flatten(&both),
                                               "allocated", ag_resources_flatten(&v.allocated),
                                               "offered", ag_resources_flatten(&v.offered),
                                               "reserved", ag_resources_flatten(&v.reserved),
                                               "frameworks", v.frameworks));
        ag_resources_release(&both);
        ag_resources_release(&consumed);
        role_view_release(&v);
    }
    json_decref(set);
    return json_pack("{s:o}", "roles", roles);
}

static void set_resources(json_t *obj, const char *key, const struct ag_resources *r)
{
    if (!ag_resources_empty(r))
        json_object_set_new(obj, key, ag_resources_to_json(r, AG_RESOURCES_POST_REFINEMENT));
}

json_t *ag_master_get_roles_json(const struct ag_master *m)
{
    json_t *set = known_roles(m), *roles = json_array();
    const char *role;
    json_t *unused;
    json_object_foreach(set, role, unused)
    {
        struct role_view v;
        role_view_build(m, role, &v);
        json_t *r = json_pack("{s:s, s:f}", "name", role, "weight", role_weight(m, role));
        json_t *fws = json_array();
        size_t i;
        json_t *id;
        json_array_foreach(v.frameworks, i, id)
            json_array_append_new(fws, ag_json_id(json_string_value(id)));
        if (json_array_size(fws) > 0)
            json_object_set_new(r, "frameworks", fws);
        else
            json_decref(fws);
        struct ag_resources both;
        ag_resources_init(&both);
        ag_resources_add(&both, &v.allocated);
        ag_resources_add(&both, &v.offered);
        set_resources(r, "resources", &both);
        set_resources(r, "allocated", &v.allocated);
        set_resources(r, "offered", &v.offered);
        set_resources(r, "reserved", &v.reserved);
        ag_resources_release(&both);
        json_t *q = json_object_get(m->quotas, role);
        if (q) {
            json_t *quota = quota_info_json(role, q);
            json_t *l = json_object_get(q, "limits");
            if (json_object_size(l) > 0)
                json_object_set_new(quota, "limit", scalars_to_resources_json(l));
            struct ag_resources consumed;
            role_consumed(&v, &consumed);
            set_resources(quota, "consumed", &consumed);
            ag_resources_release(&consumed);
            json_object_set_new(r, "quota", quota);
        }
        json_array_append_new(roles, r);
        role_view_release(&v);
    }
    json_decref(set);
    return json_pack("{s:o}", "roles", roles);
}
