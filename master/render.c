/*
 * render: the JSON the master shows the world. Protobuf-shaped objects for
 * the v1 APIs (snake_case keys, ids as {"value"}, empty arrays omitted
 * inside messages) and the hand-written legacy shapes of /master/state and
 * friends (§7: plain string ids, flattened resources, seconds as doubles).
 *
 * Every function builds a fresh tree in one pass over the objects it shows:
 * linear in the size of the answer.
 */
#include "master/internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "core/flags.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/loop.h"

json_t *ag_master_time_info(double seconds)
{
    return json_pack("{s:I}", "nanoseconds", (json_int_t)(seconds * 1e9));
}

static void set_array_if_any(json_t *obj, const char *key, json_t *arr)
{
    if (json_array_size(arr) > 0)
        json_object_set_new(obj, key, arr);
    else
        json_decref(arr);
}

static const char *str_or(const json_t *obj, const char *key, const char *dflt)
{
    json_t *v = ag_json_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

/* Copies obj[key] into dst[key] when present. */
static void copy_member(json_t *dst, const json_t *obj, const char *key)
{
    json_t *v = ag_json_get(obj, key);
    if (v)
        json_object_set(dst, key, v);
}

/* --- MasterInfo, versions --- */

static uint32_t ip_as_uint32(const char *ip)
{
    struct in_addr addr;
    if (inet_pton(AF_INET, ip, &addr) != 1)
        return 0;
    uint32_t v;
    memcpy(&v, &addr.s_addr, sizeof(v)); /* network order read as host integer */
    return v;
}

json_t *ag_master_info_json(const struct ag_master *m)
{
    return json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:{s:s, s:s, s:i}}", "id", m->id, "ip",
                     (json_int_t)ip_as_uint32(m->cfg.ip), "port", m->port, "pid", m->pid,
                     "hostname", m->hostname, "version", AG_MASTER_MESOS_VERSION, "address",
                     "hostname", m->hostname, "ip", m->cfg.ip, "port", m->port);
}

/* Seconds since the epoch of the build, from __DATE__ and __TIME__. */
static double build_time(void)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!strptime(__DATE__ " " __TIME__, "%b %d %Y %H:%M:%S", &tm))
        return 0;
    return (double)timegm(&tm);
}

json_t *ag_master_version_json(void)
{
    return json_pack("{s:s, s:s, s:f, s:s, s:s}", "version", AG_MASTER_MESOS_VERSION, "build_date",
                     __DATE__ " " __TIME__, "build_time", build_time(), "build_user", "agora",
                     "agora_version", AGORA_VERSION);
}

/* --- resources --- */

static json_t *flatten(const struct ag_resources *r)
{
    return ag_resources_flatten(r);
}

static json_t *res_json(const struct ag_resources *r)
{
    return ag_resources_to_json(r, AG_RESOURCES_POST_REFINEMENT);
}

static bool keep_reserved(const struct ag_resource *res, void *arg)
{
    const char *role = arg;
    return ag_resource_is_reserved(res) &&
           (!role || strcmp(ag_resource_reserved_role(res), role) == 0);
}

static bool keep_unreserved(const struct ag_resource *res, void *arg)
{
    (void)arg;
    return !ag_resource_is_reserved(res);
}

/* {role: resources} of the reserved part of r, flattened or in full. */
json_t *ag_master_reserved_by_role_json(const struct ag_resources *r, bool full)
{
    json_t *out = json_object();
    for (size_t i = 0; i < r->n; i++) {
        if (!ag_resource_is_reserved(&r->items[i]))
            continue;
        const char *role = ag_resource_reserved_role(&r->items[i]);
        if (json_object_get(out, role))
            continue;
        struct ag_resources part;
        ag_resources_init(&part);
        ag_resources_filter(r, keep_reserved, (void *)role, &part);
        json_object_set_new(out, role,
                            full ? ag_resources_to_json(&part, AG_RESOURCES_PRE_REFINEMENT)
                                 : flatten(&part));
        ag_resources_release(&part);
    }
    return out;
}

json_t *ag_master_unreserved_json(const struct ag_resources *r, bool full)
{
    struct ag_resources part;
    ag_resources_init(&part);
    ag_resources_filter(r, keep_unreserved, NULL, &part);
    json_t *out = full ? ag_resources_to_json(&part, AG_RESOURCES_PRE_REFINEMENT) : flatten(&part);
    ag_resources_release(&part);
    return out;
}

/* --- offers --- */

json_t *ag_master_offer_json(const struct ag_master_offer *o)
{
    const struct ag_master_agent *a = o->agent;
    json_t *j = json_pack("{s:o, s:o, s:o, s:s, s:{s:s, s:{s:s, s:s, s:i}, s:s}, s:{s:s}, s:o}",
                          "id", ag_json_id(o->id), "framework_id", ag_json_id(o->fw->id),
                          "agent_id", ag_json_id(a->id), "hostname", a->hostname, "url", "scheme",
                          "http", "address", "hostname", a->hostname, "ip", a->ip, "port", a->port,
                          "path", "/slave(1)", "allocation_info", "role", o->role, "resources",
                          ag_resources_to_json(&o->resources, ag_master_fw_format(o->fw)));
    json_t *attrs = ag_json_get(a->info, "attributes");
    if (json_array_size(attrs) > 0)
        json_object_set(j, "attributes", attrs);
    json_t *eids = json_array();
    for (const struct ag_master_list *n = a->executors.next; n != &a->executors; n = n->next) {
        const struct ag_master_executor *x =
            ag_master_container_of(n, struct ag_master_executor, agent_link);
        if (x->fw == o->fw)
            json_array_append_new(eids, ag_json_id(x->id));
    }
    set_array_if_any(j, "executor_ids", eids);
    json_t *domain = ag_json_get(a->info, "domain");
    if (domain)
        json_object_set(j, "domain", domain);
    return j;
}

void ag_master_render_launch(struct ag_jw *w, const json_t *framework_info, const json_t *task,
                             const json_t *executor)
{
    ag_jw_obj_begin(w);
    ag_jw_key_str(w, "type", "LAUNCH");
    ag_jw_key(w, "launch");
    ag_jw_obj_begin(w);
    ag_jw_key(w, "framework_info");
    ag_jw_json(w, framework_info);
    ag_jw_key(w, "task");
    ag_jw_json(w, task);
    if (executor) {
        ag_jw_key(w, "executor");
        ag_jw_json(w, executor);
    }
    ag_jw_obj_end(w);
    ag_jw_obj_end(w);
}

json_t *ag_master_offer_legacy_json(const struct ag_master_offer *o)
{
    return json_pack("{s:s, s:s, s:{s:s}, s:s, s:o}", "id", o->id, "framework_id", o->fw->id,
                     "allocation_info", "role", o->role, "slave_id", o->agent->id, "resources",
                     flatten(&o->resources));
}

/* --- tasks --- */

const char *ag_master_task_user(const struct ag_master_task *t)
{
    return t->user ? t->user : str_or(t->fw->info, "user", NULL);
}

/* A status kept as text, as a tree again. */
static json_t *status_tree(const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    return j ? j : json_null();
}

json_t *ag_master_task_proto_json(const struct ag_master_task *t)
{
    json_t *j = json_pack("{s:s, s:o, s:o, s:o, s:s}", "name", t->name, "task_id",
                          ag_json_id(t->id), "framework_id", ag_json_id(t->fw->id), "agent_id",
                          ag_json_id(t->agent->id), "state", ag_task_state_name(t->state));
    if (t->executor_id)
        ag_json_set_id(j, "executor_id", t->executor_id);
    set_array_if_any(j, "resources", res_json(&t->resources));
    if (t->n_statuses > 0) {
        json_t *sts = json_array();
        for (size_t i = 0; i < t->n_statuses; i++)
            json_array_append_new(sts, status_tree(t->statuses[i].json));
        json_object_set_new(j, "statuses", sts);
    }
    if (t->has_update_state) {
        json_object_set_new(j, "status_update_state",
                            json_string(ag_task_state_name(t->update_state)));
        if (t->update_uuid)
            json_object_set_new(j, "status_update_uuid", json_string(t->update_uuid));
    }
    static const char *const copied[] = {"labels",       "discovery",   "container",
                                         "health_check", "kill_policy", "limits"};
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
        copy_member(j, t->extra, copied[i]);
    const char *user = ag_master_task_user(t);
    if (user)
        json_object_set_new(j, "user", json_string(user));
    json_object_set_new(j, "role", json_string(t->role));
    return j;
}

/* Labels message -> the legacy array of {key, value}. */
static void set_legacy_labels(json_t *j, const json_t *info)
{
    json_t *labels = ag_json_get(ag_json_get(info, "labels"), "labels");
    if (json_is_array(labels))
        json_object_set(j, "labels", labels);
}

json_t *ag_master_task_legacy_json(const struct ag_master_task *t)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "id", t->id, "name", t->name,
                  "framework_id", t->fw->id, "executor_id", t->executor_id ? t->executor_id : "",
                  "slave_id", t->agent->id, "state", ag_task_state_name(t->state), "resources",
                  flatten(&t->resources), "role", t->role);
    json_t *sts = json_array();
    for (size_t i = 0; i < t->n_statuses; i++)
        json_array_append_new(sts, status_tree(t->statuses[i].legacy));
    json_object_set_new(j, "statuses", sts);
    const char *user = ag_master_task_user(t);
    if (user)
        json_object_set_new(j, "user", json_string(user));
    set_legacy_labels(j, t->extra);
    copy_member(j, t->extra, "discovery");
    copy_member(j, t->extra, "container");
    copy_member(j, t->extra, "health_check");
    if (t->unreachable_time > 0)
        json_object_set_new(j, "unreachable_time", json_real(t->unreachable_time));
    return j;
}

/* --- executors --- */

json_t *ag_master_executor_legacy_json(const struct ag_master_executor *x)
{
    json_t *info = x->info;
    json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "executor_id", x->id, "name",
                          str_or(info, "name", ""), "framework_id", x->fw->id, "resources",
                          flatten(&x->resources), "role", x->role, "slave_id", x->agent->id);
    json_t *cmd = ag_json_get(info, "command");
    json_t *c = json_object();
    if (cmd) {
        copy_member(c, cmd, "shell");
        copy_member(c, cmd, "value");
        json_t *argv = ag_json_get(cmd, "arguments");
        json_object_set_new(c, "argv", json_is_array(argv) ? json_incref(argv) : json_array());
        copy_member(c, cmd, "environment");
        json_t *uris = ag_json_get(cmd, "uris");
        json_object_set_new(c, "uris", json_is_array(uris) ? json_incref(uris) : json_array());
    }
    json_object_set_new(j, "command", c);
    set_legacy_labels(j, info);
    copy_member(j, info, "type");
    return j;
}

/* --- frameworks --- */

static json_t *caps_names(const json_t *info)
{
    json_t *out = json_array();
    json_t *caps = ag_json_get(info, "capabilities");
    size_t i;
    json_t *c;
    json_array_foreach(caps, i, c)
    {
        json_t *t = ag_json_get(c, "type");
        if (json_is_string(t))
            json_array_append(out, t);
    }
    return out;
}

static double num_or(const json_t *obj, const char *key, double dflt)
{
    json_t *v = ag_json_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static bool bool_or(const json_t *obj, const char *key, bool dflt)
{
    json_t *v = ag_json_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

json_t *ag_master_framework_legacy_json(const struct ag_master_framework *fw, bool summary)
{
    const json_t *info = fw->info;
    bool connected = fw->state == AG_MASTER_FW_CONNECTED;
    json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:b, s:b, s:b}", "id", fw->id,
                          "name", str_or(info, "name", ""), "used_resources", flatten(&fw->used),
                          "offered_resources", flatten(&fw->offered), "capabilities",
                          caps_names(info), "hostname", str_or(info, "hostname", ""), "webui_url",
                          str_or(info, "webui_url", ""), "active", connected, "connected",
                          connected, "recovered", fw->state == AG_MASTER_FW_RECOVERED);
    if (summary) {
        /* per-state counts and the agents it runs on */
        static const enum ag_task_state counted[] = {
            AG_TASK_STAGING,  AG_TASK_STARTING,   AG_TASK_RUNNING, AG_TASK_KILLING,
            AG_TASK_FINISHED, AG_TASK_KILLED,     AG_TASK_FAILED,  AG_TASK_LOST,
            AG_TASK_ERROR,    AG_TASK_UNREACHABLE};
        size_t counts[AG_TASK_STATE_COUNT] = {0};
        json_t *agents = json_object();
        for (struct ag_master_map_entry *e = fw->tasks.head; e; e = e->next) {
            const struct ag_master_task *t = e->value;
            counts[t->state]++;
            json_object_set_new(agents, t->agent->id, json_true());
        }
        for (const struct ag_master_list *n = fw->completed.next; n != &fw->completed; n = n->next)
            counts[ag_master_container_of(n, struct ag_master_task, fw_link)->state]++;
        for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++)
            json_object_set_new(j, ag_task_state_name(counted[i]),
                                json_integer((json_int_t)counts[counted[i]]));
        json_t *ids = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(agents, k, v) json_array_append_new(ids, json_string(k));
        json_decref(agents);
        json_object_set_new(j, "slave_ids", ids);
        return j;
    }

    json_object_set_new(j, "user", json_string(str_or(info, "user", "")));
    json_object_set_new(j, "failover_timeout", json_real(num_or(info, "failover_timeout", 0)));
    json_object_set_new(j, "checkpoint", json_boolean(bool_or(info, "checkpoint", false)));
    json_object_set_new(j, "registered_time", json_real(fw->registered_time));
    json_object_set_new(j, "unregistered_time", json_real(fw->unregistered_time));
    if (fw->reregistered_time > 0)
        json_object_set_new(j, "reregistered_time", json_real(fw->reregistered_time));
    const char *principal = str_or(info, "principal", NULL);
    if (principal)
        json_object_set_new(j, "principal", json_string(principal));
    struct ag_resources all;
    ag_resources_init(&all);
    ag_resources_add(&all, &fw->used);
    ag_resources_add(&all, &fw->offered);
    json_object_set_new(j, "resources", flatten(&all));
    ag_resources_release(&all);
    if (fw->caps & AG_CAP_MULTI_ROLE) {
        json_t *roles = json_array();
        for (size_t i = 0; i < fw->n_roles; i++)
            json_array_append_new(roles, json_string(fw->roles[i]));
        json_object_set_new(j, "roles", roles);
    } else {
        json_object_set_new(j, "role", json_string(fw->n_roles ? fw->roles[0] : "*"));
    }

    json_t *tasks = json_array(), *unreachable = json_array(), *completed = json_array();
    for (struct ag_master_map_entry *e = fw->tasks.head; e; e = e->next) {
        const struct ag_master_task *t = e->value;
        json_array_append_new(t->state == AG_TASK_UNREACHABLE ? unreachable : tasks,
                              ag_master_task_legacy_json(t));
    }
    for (const struct ag_master_list *n = fw->completed.next; n != &fw->completed; n = n->next)
        json_array_append_new(completed, ag_master_task_legacy_json(ag_master_container_of(
                                             n, struct ag_master_task, fw_link)));
    json_object_set_new(j, "tasks", tasks);
    json_object_set_new(j, "unreachable_tasks", unreachable);
    json_object_set_new(j, "completed_tasks", completed);

    json_t *offers = json_array();
    for (const struct ag_master_list *n = fw->offers.next; n != &fw->offers; n = n->next)
        json_array_append_new(offers, ag_master_offer_legacy_json(ag_master_container_of(
                                          n, struct ag_master_offer, fw_link)));
    json_object_set_new(j, "offers", offers);
    json_t *execs = json_array();
    for (const struct ag_master_list *n = fw->executors.next; n != &fw->executors; n = n->next)
        json_array_append_new(execs, ag_master_executor_legacy_json(ag_master_container_of(
                                         n, struct ag_master_executor, fw_link)));
    json_object_set_new(j, "executors", execs);
    set_legacy_labels(j, info);
    return j;
}

/* --- agents --- */

/* Attribute -> its legacy value (text, number, "[a-b]", "{x, y}"). */
json_t *ag_master_attribute_value(const json_t *attr)
{
    const char *type = str_or(attr, "type", "TEXT");
    if (strcmp(type, "SCALAR") == 0)
        return json_real(num_or(ag_json_get(attr, "scalar"), "value", 0));
    if (strcmp(type, "RANGES") == 0) {
        char buf[1024] = "[";
        json_t *ranges = ag_json_get(ag_json_get(attr, "ranges"), "range");
        size_t i;
        json_t *r;
        json_array_foreach(ranges, i, r)
        {
            size_t len = strlen(buf);
            snprintf(buf + len, sizeof(buf) - len, "%s%.0f-%.0f", i ? ", " : "",
                     num_or(r, "begin", 0), num_or(r, "end", 0));
        }
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof(buf) - len, "]");
        return json_string(buf);
    }
    if (strcmp(type, "SET") == 0) {
        char buf[1024] = "{";
        json_t *items = ag_json_get(ag_json_get(attr, "set"), "item");
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            size_t len = strlen(buf);
            snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? ", " : "",
                     json_is_string(it) ? json_string_value(it) : "");
        }
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof(buf) - len, "}");
        return json_string(buf);
    }
    return json_string(str_or(ag_json_get(attr, "text"), "value", ""));
}

static json_t *agent_capabilities(void)
{
    return json_pack("[s, s, s]", "MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT");
}

/* Written by hand, not with snprintf: the state endpoints ask for it once
 * per agent. Truncated (as snprintf would) when buf is too short. */
char *ag_master_agent_pid(const struct ag_master_agent *a, char *buf, size_t len)
{
    static const char prefix[] = "slave(1)@";
    char port[16], *p = port + sizeof(port);
    unsigned u = a->port < 0 ? 0u - (unsigned)a->port : (unsigned)a->port;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (a->port < 0)
        *--p = '-';
    *--p = ':';
    const char *parts[3] = {prefix, a->ip ? a->ip : "", p};
    size_t lens[3] = {sizeof(prefix) - 1, strlen(parts[1]), (size_t)(port + sizeof(port) - p)};
    size_t n = 0;
    for (size_t i = 0; i < 3 && len > 0; i++) {
        size_t take = lens[i] < len - 1 - n ? lens[i] : len - 1 - n;
        memcpy(buf + n, parts[i], take);
        n += take;
    }
    if (len > 0)
        buf[n] = '\0';
    return buf;
}

json_t *ag_master_agent_legacy_json(const struct ag_master_agent *a, bool full)
{
    char pid[300];
    json_t *attrs = json_object();
    json_t *alist = ag_json_get(a->info, "attributes");
    size_t i;
    json_t *attr;
    json_array_foreach(alist, i, attr)
    {
        const char *name = str_or(attr, "name", NULL);
        if (name)
            json_object_set_new(attrs, name, ag_master_attribute_value(attr));
    }
    bool active = a->state == AG_MASTER_AGENT_CONNECTED;
    json_t *j = json_pack(
        "{s:s, s:s, s:i, s:o, s:s, s:f, s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:s, s:o}", "id", a->id,
        "hostname", a->hostname ? a->hostname : "", "port", a->port, "attributes", attrs, "pid",
        ag_master_agent_pid(a, pid, sizeof(pid)), "registered_time", a->registered_time,
        "resources", flatten(&a->total), "used_resources", flatten(&a->used), "offered_resources",
        flatten(&a->offered), "reserved_resources",
        ag_master_reserved_by_role_json(&a->total, false), "unreserved_resources",
        ag_master_unreserved_json(&a->total, false), "active", active, "deactivated", false,
        "version", AG_MASTER_MESOS_VERSION, "capabilities", agent_capabilities());
    if (a->reregistered_time > 0)
        json_object_set_new(j, "reregistered_time", json_real(a->reregistered_time));
    copy_member(j, a->info, "domain");
    if (full) {
        json_object_set_new(j, "reserved_resources_full",
                            ag_master_reserved_by_role_json(&a->total, true));
        json_object_set_new(j, "unreserved_resources_full",
                            ag_master_unreserved_json(&a->total, true));
        json_object_set_new(j, "used_resources_full",
                            ag_resources_to_json(&a->used, AG_RESOURCES_PRE_REFINEMENT));
        json_object_set_new(j, "offered_resources_full",
                            ag_resources_to_json(&a->offered, AG_RESOURCES_PRE_REFINEMENT));
    }
    return j;
}

/* --- /master/state --- */

static bool agent_listed(const struct ag_master_agent *a)
{
    return a->state != AG_MASTER_AGENT_UNREACHABLE;
}

json_t *ag_master_flags_json(const struct ag_master *m)
{
    json_t *j = json_object();
    for (size_t i = 0; i < m->cfg.n_flags; i++) {
        char *v = ag_flags_value_string(&m->cfg.flags[i]);
        json_object_set_new(j, m->cfg.flags[i].name, json_string(v ? v : ""));
        free(v);
    }
    return j;
}

static void add_version_fields(json_t *j)
{
    json_t *v = ag_master_version_json();
    json_object_update(j, v);
    json_decref(v);
}

json_t *ag_master_state_json(const struct ag_master *m)
{
    size_t activated = 0, deactivated = 0, unreachable = 0;
    json_t *slaves = json_array();
    for (const struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
        const struct ag_master_agent *a = e->value;
        if (a->state == AG_MASTER_AGENT_CONNECTED)
            activated++;
        else if (a->state == AG_MASTER_AGENT_DISCONNECTED)
            deactivated++;
        else
            unreachable++;
        if (agent_listed(a))
            json_array_append_new(slaves, ag_master_agent_legacy_json(a, false));
    }
    json_t *fws = json_array(), *done = json_array();
    for (const struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next)
        json_array_append_new(fws, ag_master_framework_legacy_json(e->value, false));
    for (const struct ag_master_list *n = m->completed_frameworks.next;
         n != &m->completed_frameworks; n = n->next)
        json_array_append_new(
            done,
            ag_master_framework_legacy_json(
                ag_master_container_of(n, struct ag_master_framework, completed_link), false));
    json_t *j = json_object();
    add_version_fields(j);
    json_t *extra = json_pack(
        "{s:f, s:f, s:s, s:s, s:s, s:[], s:I, s:I, s:I, s:s, s:{s:s, s:s, s:i, s:s}, s:o, s:o, "
        "s:[], s:o, s:o, s:[], s:[]}",
        "start_time", m->start_time, "elected_time", m->start_time, "id", m->id, "pid", m->pid,
        "hostname", m->hostname, "capabilities", "activated_slaves", (json_int_t)activated,
        "deactivated_slaves", (json_int_t)deactivated, "unreachable_slaves",
        (json_int_t)unreachable, "leader", m->pid, "leader_info", "id", m->id, "pid", m->pid,
        "port", m->port, "hostname", m->hostname, "flags", ag_master_flags_json(m), "slaves",
        slaves, "recovered_slaves", "frameworks", fws, "completed_frameworks", done, "orphan_tasks",
        "unregistered_frameworks");
    json_object_update(j, extra);
    json_decref(extra);
    return j;
}

json_t *ag_master_state_summary_json(const struct ag_master *m)
{
    json_t *slaves = json_array();
    for (const struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
        const struct ag_master_agent *a = e->value;
        if (!agent_listed(a))
            continue;
        json_t *j = ag_master_agent_legacy_json(a, false);
        size_t counts[AG_TASK_STATE_COUNT] = {0};
        json_t *fids = json_object();
        for (const struct ag_master_list *n = a->tasks.next; n != &a->tasks; n = n->next) {
            const struct ag_master_task *t =
                ag_master_container_of(n, struct ag_master_task, agent_link);
            counts[t->state]++;
            json_object_set_new(fids, t->fw->id, json_true());
        }
        static const enum ag_task_state counted[] = {
            AG_TASK_STAGING,  AG_TASK_STARTING,   AG_TASK_RUNNING, AG_TASK_KILLING,
            AG_TASK_FINISHED, AG_TASK_KILLED,     AG_TASK_FAILED,  AG_TASK_LOST,
            AG_TASK_ERROR,    AG_TASK_UNREACHABLE};
        for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++)
            json_object_set_new(j, ag_task_state_name(counted[i]),
                                json_integer((json_int_t)counts[counted[i]]));
        json_t *ids = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(fids, k, v) json_array_append_new(ids, json_string(k));
        json_decref(fids);
        json_object_set_new(j, "framework_ids", ids);
        json_array_append_new(slaves, j);
    }
    json_t *fws = json_array();
    for (const struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next)
        json_array_append_new(fws, ag_master_framework_legacy_json(e->value, true));
    return json_pack("{s:s, s:o, s:o}", "hostname", m->hostname, "slaves", slaves, "frameworks",
                     fws);
}

/* --- metrics --- */

/* Sum of scalar `name` over r, revocable or not. */
static double scalar_sum(const struct ag_resources *r, const char *name, bool revocable)
{
    int64_t milli = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].type == AG_VALUE_SCALAR && r->items[i].revocable == revocable &&
            strcmp(r->items[i].name, name) == 0)
            milli += r->items[i].scalar_milli;
    return (double)milli / 1000.0;
}

static void set_metric(json_t *j, const char *name, double value)
{
    json_object_set_new(j, name, json_real(value));
}

static void system_metrics(json_t *j)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    set_metric(j, "system/cpus_total", cpus > 0 ? (double)cpus : 0);
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) == 3) {
        set_metric(j, "system/load_1min", load[0]);
        set_metric(j, "system/load_5min", load[1]);
        set_metric(j, "system/load_15min", load[2]);
    }
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        set_metric(j, "system/mem_total_bytes", (double)si.totalram * si.mem_unit);
        set_metric(j, "system/mem_free_bytes", (double)si.freeram * si.mem_unit);
    }
}

json_t *ag_master_metrics_json(const struct ag_master *m)
{
    json_t *j = json_object();
    const struct ag_master_metrics *mt = &m->metrics;
    set_metric(j, "master/elected", 1);
    set_metric(j, "master/uptime_secs", ag_now() - m->start_time);

    static const char *const names[] = {"cpus", "mem", "disk", "gpus"};
    size_t connected = 0, disconnected = 0, unreachable = 0;
    for (size_t k = 0; k < 4; k++) {
        for (int rev = 0; rev < 2; rev++) {
            double total = 0, used = 0;
            for (const struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
                const struct ag_master_agent *a = e->value;
                if (a->state == AG_MASTER_AGENT_UNREACHABLE)
                    continue;
                total += scalar_sum(&a->total, names[k], rev);
                used += scalar_sum(&a->used, names[k], rev);
            }
            char key[64];
            const char *sfx = rev ? "_revocable" : "";
            snprintf(key, sizeof(key), "master/%s%s_total", names[k], sfx);
            set_metric(j, key, total);
            snprintf(key, sizeof(key), "master/%s%s_used", names[k], sfx);
            set_metric(j, key, used);
            snprintf(key, sizeof(key), "master/%s%s_percent", names[k], sfx);
            set_metric(j, key, total > 0 ? used / total : 0);
        }
    }
    for (const struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
        const struct ag_master_agent *a = e->value;
        if (a->state == AG_MASTER_AGENT_CONNECTED)
            connected++;
        else if (a->state == AG_MASTER_AGENT_DISCONNECTED)
            disconnected++;
        else
            unreachable++;
    }
    set_metric(j, "master/slaves_active", (double)connected);
    set_metric(j, "master/slaves_connected", (double)connected);
    set_metric(j, "master/slaves_disconnected", (double)disconnected);
    set_metric(j, "master/slaves_inactive", (double)disconnected);
    set_metric(j, "master/slaves_unreachable", (double)unreachable);
    set_metric(j, "master/slave_registrations", (double)mt->slave_registrations);
    set_metric(j, "master/slave_reregistrations", (double)mt->slave_reregistrations);
    set_metric(j, "master/slave_removals", (double)mt->slave_removals);

    size_t fw_conn = 0, fw_disc = 0;
    for (const struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next) {
        const struct ag_master_framework *fw = e->value;
        if (fw->state == AG_MASTER_FW_CONNECTED)
            fw_conn++;
        else
            fw_disc++;
    }
    set_metric(j, "master/frameworks_active", (double)fw_conn);
    set_metric(j, "master/frameworks_connected", (double)fw_conn);
    set_metric(j, "master/frameworks_disconnected", (double)fw_disc);
    set_metric(j, "master/frameworks_inactive", (double)fw_disc);
    set_metric(j, "master/outstanding_offers", (double)m->offers.n);

    static const struct {
        const char *key;
        enum ag_task_state state;
    } gauges[] = {{"master/tasks_staging", AG_TASK_STAGING},
                  {"master/tasks_starting", AG_TASK_STARTING},
                  {"master/tasks_running", AG_TASK_RUNNING},
                  {"master/tasks_killing", AG_TASK_KILLING},
                  {"master/tasks_unreachable", AG_TASK_UNREACHABLE}},
      counters[] = {{"master/tasks_finished", AG_TASK_FINISHED},
                    {"master/tasks_failed", AG_TASK_FAILED},
                    {"master/tasks_killed", AG_TASK_KILLED},
                    {"master/tasks_lost", AG_TASK_LOST},
                    {"master/tasks_error", AG_TASK_ERROR},
                    {"master/tasks_dropped", AG_TASK_DROPPED},
                    {"master/tasks_gone", AG_TASK_GONE},
                    {"master/tasks_gone_by_operator", AG_TASK_GONE_BY_OPERATOR}};
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
        set_metric(j, gauges[i].key, (double)mt->tasks_gauge[gauges[i].state]);
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        set_metric(j, counters[i].key, (double)mt->tasks_terminal[counters[i].state]);

    const struct {
        const char *key;
        uint64_t v;
    } msgs[] = {
        {"master/messages_register_framework", mt->msg_register_framework},
        {"master/messages_reregister_framework", mt->msg_reregister_framework},
        {"master/messages_unregister_framework", mt->msg_unregister_framework},
        {"master/messages_launch_tasks", mt->msg_launch_tasks},
        {"master/messages_decline_offers", mt->msg_decline_offers},
        {"master/messages_revive_offers", mt->msg_revive_offers},
        {"master/messages_suppress_offers", mt->msg_suppress_offers},
        {"master/messages_kill_task", mt->msg_kill_task},
        {"master/messages_status_update", mt->msg_status_update},
        {"master/messages_status_update_acknowledgement", mt->msg_status_update_ack},
        {"master/messages_reconcile_tasks", mt->msg_reconcile_tasks},
        {"master/messages_framework_to_executor", mt->msg_framework_to_executor},
        {"master/messages_executor_to_framework", mt->msg_executor_to_framework},
        {"master/messages_shutdown_executor", mt->msg_shutdown_executor},
        {"master/messages_teardown_framework", mt->msg_teardown},
        {"master/valid_status_updates", mt->valid_status_updates},
        {"master/invalid_status_updates", mt->invalid_status_updates},
        {"master/valid_status_update_acknowledgements", mt->valid_acks},
        {"master/invalid_status_update_acknowledgements", mt->invalid_acks},
        {"master/dropped_messages", mt->dropped_messages},
        {"master/event_queue_messages", 0},
        {"master/event_queue_dispatches", 0},
        {"master/event_queue_http_requests", 0},
        {"master/operator_event_stream_subscribers", 0},
        {"allocator/mesos/allocation_runs", mt->allocation_runs},
    };
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
        set_metric(j, msgs[i].key, (double)msgs[i].v);
    system_metrics(j);
    return j;
}

/* --- operator API payloads --- */

static json_t *agent_proto_json(const struct ag_master_agent *a)
{
    char pid[300];
    json_t *caps = json_pack("[{s:s}, {s:s}, {s:s}]", "type", "MULTI_ROLE", "type",
                             "HIERARCHICAL_ROLE", "type", "RESERVATION_REFINEMENT");
    json_t *j =
        json_pack("{s:O, s:b, s:b, s:s, s:s, s:o, s:o}", "agent_info", a->info, "active",
                  a->state == AG_MASTER_AGENT_CONNECTED, "deactivated", false, "version",
                  AG_MASTER_MESOS_VERSION, "pid", ag_master_agent_pid(a, pid, sizeof(pid)),
                  "registered_time", ag_master_time_info(a->registered_time), "capabilities", caps);
    if (a->reregistered_time > 0)
        json_object_set_new(j, "reregistered_time", ag_master_time_info(a->reregistered_time));
    set_array_if_any(j, "total_resources", res_json(&a->total));
    set_array_if_any(j, "allocated_resources", res_json(&a->used));
    set_array_if_any(j, "offered_resources", res_json(&a->offered));
    return j;
}

json_t *ag_master_get_agents_json(const struct ag_master *m)
{
    json_t *agents = json_array();
    for (const struct ag_master_map_entry *e = m->agents.head; e; e = e->next)
        if (agent_listed(e->value))
            json_array_append_new(agents, agent_proto_json(e->value));
    return json_pack("{s:o, s:[]}", "agents", agents, "recovered_agents");
}

json_t *ag_master_framework_proto_json(const struct ag_master_framework *fw)
{
    bool connected = fw->state == AG_MASTER_FW_CONNECTED;
    json_t *j =
        json_pack("{s:O, s:b, s:b, s:b, s:o}", "framework_info", fw->info, "active", connected,
                  "connected", connected, "recovered", fw->state == AG_MASTER_FW_RECOVERED,
                  "registered_time", ag_master_time_info(fw->registered_time));
    if (fw->reregistered_time > 0)
        json_object_set_new(j, "reregistered_time", ag_master_time_info(fw->reregistered_time));
    if (fw->unregistered_time > 0)
        json_object_set_new(j, "unregistered_time", ag_master_time_info(fw->unregistered_time));
    json_t *offers = json_array();
    for (const struct ag_master_list *n = fw->offers.next; n != &fw->offers; n = n->next)
        json_array_append_new(offers, ag_master_offer_json(ag_master_container_of(
                                          n, struct ag_master_offer, fw_link)));
    set_array_if_any(j, "offers", offers);
    set_array_if_any(j, "allocated_resources", res_json(&fw->used));
    set_array_if_any(j, "offered_resources", res_json(&fw->offered));
    return j;
}

json_t *ag_master_get_frameworks_json(const struct ag_master *m)
{
    json_t *fws = json_array(), *done = json_array();
    for (const struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next)
        json_array_append_new(fws, ag_master_framework_proto_json(e->value));
    for (const struct ag_master_list *n = m->completed_frameworks.next;
         n != &m->completed_frameworks; n = n->next)
        json_array_append_new(done, ag_master_framework_proto_json(ag_master_container_of(
                                        n, struct ag_master_framework, completed_link)));
    return json_pack("{s:o, s:o}", "frameworks", fws, "completed_frameworks", done);
}

static void add_fw_tasks(const struct ag_master_framework *fw, json_t *tasks, json_t *unreachable,
                         json_t *completed)
{
    for (const struct ag_master_map_entry *e = fw->tasks.head; e; e = e->next) {
        const struct ag_master_task *t = e->value;
        json_array_append_new(t->state == AG_TASK_UNREACHABLE ? unreachable : tasks,
                              ag_master_task_proto_json(t));
    }
    for (const struct ag_master_list *n = fw->completed.next; n != &fw->completed; n = n->next)
        json_array_append_new(completed, ag_master_task_proto_json(ag_master_container_of(
                                             n, struct ag_master_task, fw_link)));
}

json_t *ag_master_get_tasks_json(const struct ag_master *m)
{
    json_t *tasks = json_array(), *unreachable = json_array(), *completed = json_array();
    for (const struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next)
        add_fw_tasks(e->value, tasks, unreachable, completed);
    for (const struct ag_master_list *n = m->completed_frameworks.next;
         n != &m->completed_frameworks; n = n->next)
        add_fw_tasks(ag_master_container_of(n, struct ag_master_framework, completed_link), tasks,
                     unreachable, completed);
    return json_pack("{s:o, s:o, s:o}", "tasks", tasks, "unreachable_tasks", unreachable,
                     "completed_tasks", completed);
}

json_t *ag_master_get_executors_json(const struct ag_master *m)
{
    json_t *execs = json_array();
    for (const struct ag_master_map_entry *e = m->agents.head; e; e = e->next) {
        const struct ag_master_agent *a = e->value;
        for (const struct ag_master_list *n = a->executors.next; n != &a->executors; n = n->next) {
            const struct ag_master_executor *x =
                ag_master_container_of(n, struct ag_master_executor, agent_link);
            json_array_append_new(execs, json_pack("{s:O, s:o}", "executor_info", x->info,
                                                   "agent_id", ag_json_id(a->id)));
        }
    }
    return json_pack("{s:o}", "executors", execs);
}
