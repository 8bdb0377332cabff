/*
 * http_state: the agent's read-only JSON endpoints: /state (§7.4, the
 * legacy hand-written shape UIs read), /metrics/snapshot (§7.5),
 * /flags, /version and /health, each also under the /slave(1) prefix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "agent/internal.h"
#include "agent/sandboxes.h"
#include "core/flags.h"
#include "core/json.h"
#include "core/loop.h"

static bool reject_method(struct ag_http_req *req)
{
    enum ag_http_method m = ag_http_req_method(req);
    if (m == AG_HTTP_GET || m == AG_HTTP_HEAD)
        return false;
    ag_http_req_add_header(req, "Allow", "GET");
    ag_http_reply_error(req, 405, "Expecting 'GET', received a different method");
    return true;
}

/* --- tasks, executors, frameworks --- */

static json_t *status_legacy(const json_t *status)
{
    json_t *out = json_object();
    static const char *const keys[] = {"state", "timestamp", "healthy", "labels",
                                       "container_status"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = ag_json_get(status, keys[i]);
        if (v)
            json_object_set(out, keys[i], v);
    }
    return out;
}

static const char *task_role(const struct ag_agent_task *t)
{
    json_t *r;
    size_t i;
    json_array_foreach(ag_json_get(t->info, "resources"), i, r)
    {
        const char *role =
            json_string_value(json_object_get(json_object_get(r, "allocation_info"), "role"));
        if (role)
            return role;
    }
    return ag_agent_framework_role(t->executor->framework);
}

static json_t *task_legacy(const struct ag_agent *agent, const struct ag_agent_task *t)
{
    const struct ag_agent_executor *ex = t->executor;
    json_t *statuses = json_array();
    json_t *s, *out;
    size_t i;
    static const char *const extra[] = {"labels", "discovery", "container", "health_check"};

    json_array_foreach(t->statuses, i, s) json_array_append_new(statuses, status_legacy(s));
    out =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:o}", "id", t->id, "name",
                  json_string_value(ag_json_get(t->info, "name")) ?: "", "framework_id",
                  ex->framework->id, "executor_id", ex->command ? "" : ex->id, "slave_id",
                  agent->id ? agent->id : "", "state", ag_task_state_name(t->state), "resources",
                  ag_resources_flatten(&t->resources), "role", task_role(t), "statuses", statuses);
    if (!out)
        return json_object();
    for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        json_t *v = ag_json_get(t->info, extra[i]);
        if (v) {
            if (strcmp(extra[i], "labels") == 0 && json_is_object(v) &&
                json_is_array(json_object_get(v, "labels")))
                v = json_object_get(v, "labels");
            json_object_set(out, extra[i], v);
        }
    }
    {
        const char *user = json_string_value(ag_json_get(ag_json_get(t->info, "command"), "user"));
        if (user)
            json_object_set_new(out, "user", json_string(user));
    }
    return out;
}

json_t *ag_agent_task_v1(const struct ag_agent *agent, const struct ag_agent_task *t)
{
    const struct ag_agent_executor *ex = t->executor;
    json_t *out = json_pack("{s:{s:s},s:{s:s},s:s,s:s,s:O}", "task_id", "value", t->id,
                            "framework_id", "value", ex->framework->id, "name",
                            json_string_value(ag_json_get(t->info, "name")) ?: t->id, "state",
                            ag_task_state_name(t->state), "statuses", t->statuses);
    json_t *v;
    if (!out)
        return json_object();
    if (!ex->command)
        ag_json_set_id(out, "executor_id", ex->id);
    if (agent->id)
        ag_json_set_id(out, "agent_id", agent->id);
    v = ag_json_get(t->info, "resources");
    json_object_set_new(out, "resources", v ? json_incref(v) : json_array());
    {
        /* The update being delivered: the head of the task's stream, or,
         * once everything is acknowledged, the latest one. */
        const json_t *cur =
            agent->sum ? ag_agent_sum_head(agent->sum, ex->framework->id, t->id) : NULL;
        if (!cur && json_array_size(t->statuses) > 0)
            cur = json_array_get(t->statuses, json_array_size(t->statuses) - 1);
        if (cur) {
            json_object_set(out, "status_update_state", json_object_get(cur, "state"));
            if (json_object_get(cur, "uuid"))
                json_object_set(out, "status_update_uuid", json_object_get(cur, "uuid"));
        }
    }
    v = ag_json_get(t->info, "labels");
    if (v)
        json_object_set(out, "labels", v);
    v = ag_json_get(t->info, "discovery");
    if (v)
        json_object_set(out, "discovery", v);
    v = ag_json_get(t->info, "container");
    if (v)
        json_object_set(out, "container", v);
    v = ag_json_get(t->info, "health_check");
    if (v)
        json_object_set(out, "health_check", v);
    return out;
}

static json_t *tasks_json(const struct ag_agent *agent, const struct ag_agent_list *head)
{
    json_t *arr = json_array();
    const struct ag_agent_list *pos;
    for (pos = head->next; pos != head; pos = pos->next)
        json_array_append_new(
            arr, task_legacy(agent, ag_agent_list_entry(pos, struct ag_agent_task, node)));
    return arr;
}

/* What an executor uses: its own resources plus its live tasks' (for the
 * command executor the task's resources are the executor's). */
static void executor_used(const struct ag_agent_executor *ex, struct ag_resources *out)
{
    const struct ag_agent_list *heads[] = {&ex->queued, &ex->launched};
    if (!ex->command)
        ag_resources_add(out, &ex->resources);
    for (size_t i = 0; i < 2; i++) {
        const struct ag_agent_list *pos;
        for (pos = heads[i]->next; pos != heads[i]; pos = pos->next) {
            const struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
            if (!ag_task_state_is_terminal(t->state))
                ag_resources_add(out, &t->resources);
        }
    }
}

static json_t *executor_json(const struct ag_agent *agent, const struct ag_agent_executor *ex)
{
    struct ag_resources used;
    json_t *out, *v;
    const char *role;

    ag_resources_init(&used);
    if (ex->state != AG_AGENT_EXECUTOR_TERMINATED)
        executor_used(ex, &used);
    else
        ag_resources_add(&used, &ex->resources);
    role = json_string_value(json_object_get(
        json_object_get(json_array_get(ag_json_get(ex->info, "resources"), 0), "allocation_info"),
        "role"));
    out = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:o,s:o}", "id", ex->id, "name",
        json_string_value(ag_json_get(ex->info, "name")) ?: "", "source",
        json_string_value(ag_json_get(ex->info, "source")) ?: "", "container", ex->container_id,
        "directory", ex->directory ? ex->directory : "", "resources", ag_resources_flatten(&used),
        "role", role ? role : ag_agent_framework_role(ex->framework), "tasks",
        tasks_json(agent, &ex->launched), "queued_tasks", tasks_json(agent, &ex->queued),
        "completed_tasks", tasks_json(agent, &ex->completed));
    ag_resources_release(&used);
    if (!out)
        return json_object();
    v = ag_json_get(ag_json_get(ex->info, "labels"), "labels");
    if (v)
        json_object_set(out, "labels", v);
    v = ag_json_get(ex->info, "type");
    if (v)
        json_object_set(out, "type", v);
    return out;
}

static json_t *executors_json(const struct ag_agent *agent, const struct ag_agent_list *head)
{
    json_t *arr = json_array();
    const struct ag_agent_list *pos;
    for (pos = head->next; pos != head; pos = pos->next)
        json_array_append_new(
            arr, executor_json(agent, ag_agent_list_entry(pos, struct ag_agent_executor, node)));
    return arr;
}

static json_t *capabilities_names(const json_t *info)
{
    json_t *arr = json_array(), *c;
    size_t i;
    json_array_foreach(ag_json_get(info, "capabilities"), i, c)
    {
        json_t *type = json_object_get(c, "type");
        if (json_is_string(type))
            json_array_append(arr, type);
    }
    return arr;
}

static json_t *framework_json(const struct ag_agent *agent, const struct ag_agent_framework *fw)
{
    const json_t *info = fw->info;
    double failover = 0;
    char err[64];
    json_t *out, *v;
    bool checkpoint = false;

    ag_json_get_number(info, "failover_timeout", false, &failover, err, sizeof(err));
    ag_json_get_bool(info, "checkpoint", false, &checkpoint, err, sizeof(err));
    out = json_pack("{s:s,s:s,s:s,s:f,s:b,s:s,s:o,s:o,s:o}", "id", fw->id, "name",
                    json_string_value(ag_json_get(info, "name")) ?: "", "user",
                    json_string_value(ag_json_get(info, "user")) ?: "", "failover_timeout",
                    failover, "checkpoint", checkpoint, "hostname",
                    json_string_value(ag_json_get(info, "hostname")) ?: "", "capabilities",
                    capabilities_names(info), "executors", executors_json(agent, &fw->executors),
                    "completed_executors", executors_json(agent, &fw->completed_executors));
    if (!out)
        return json_object();
    v = ag_json_get(info, "principal");
    if (v)
        json_object_set(out, "principal", v);
    v = ag_json_get(info, "roles");
    if (json_is_array(v))
        json_object_set(out, "roles", v);
    else
        json_object_set_new(out, "role", json_string(ag_agent_framework_role(fw)));
    return out;
}

static json_t *frameworks_json(const struct ag_agent *agent, const struct ag_agent_list *head)
{
    json_t *arr = json_array();
    const struct ag_agent_list *pos;
    for (pos = head->next; pos != head; pos = pos->next)
        json_array_append_new(
            arr, framework_json(agent, ag_agent_list_entry(pos, struct ag_agent_framework, node)));
    return arr;
}

/* --- agent-level resources --- */

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

/* {role: flattened} and {role: [Resource]} of the reserved resources. */
static void reserved_json(const struct ag_resources *all, json_t **ret_flat, json_t **ret_full)
{
    json_t *flat = json_object(), *full = json_object();
    for (size_t i = 0; i < all->n; i++) {
        const char *role = ag_resource_reserved_role(&all->items[i]);
        struct ag_resources r;
        if (!ag_resource_is_reserved(&all->items[i]) || json_object_get(flat, role))
            continue;
        ag_resources_init(&r);
        if (ag_resources_filter(all, keep_reserved, (void *)role, &r) == 0) {
            json_object_set_new(flat, role, ag_resources_flatten(&r));
            json_object_set_new(full, role, ag_resources_to_json(&r, AG_RESOURCES_PRE_REFINEMENT));
        }
        ag_resources_release(&r);
    }
    *ret_flat = flat;
    *ret_full = full;
}

static void used_resources(const struct ag_agent *agent, struct ag_resources *used)
{
    const struct ag_agent_list *fpos, *epos;
    for (fpos = agent->frameworks.next; fpos != &agent->frameworks; fpos = fpos->next) {
        const struct ag_agent_framework *fw =
            ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        for (epos = fw->executors.next; epos != &fw->executors; epos = epos->next) {
            const struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            if (ex->state != AG_AGENT_EXECUTOR_TERMINATED)
                executor_used(ex, used);
        }
    }
}

json_t *ag_agent_flags_json(const struct ag_agent *agent)
{
    json_t *flags = json_object();
    for (size_t i = 0; i < agent->n_flags; i++) {
        char *v = ag_flags_value_string(&agent->flags[i]);
        if (v)
            json_object_set_new(flags, agent->flags[i].name, json_string(v));
        free(v);
    }
    return flags;
}

json_t *ag_agent_state_json(struct ag_agent *agent)
{
    struct ag_resources unreserved;
    json_t *reserved, *reserved_full, *state;

    ag_resources_init(&unreserved);
    ag_resources_filter(&agent->resources, keep_unreserved, NULL, &unreserved);
    reserved_json(&agent->resources, &reserved, &reserved_full);
    state = json_pack(
        "{s:s,s:s,s:f,s:s,s:f,s:s,s:s,s:s,s:i,s:[sss],s:o,s:o,s:o,s:o,s:o,s:{},s:{},s:o,s:o,"
        "s:o,s:o}",
        "version", AGORA_VERSION, "build_date", "", "build_time", 0.0, "build_user", "",
        "start_time", agent->start_time, "id", agent->id ? agent->id : "", "pid", agent->pid,
        "hostname", agent->hostname, "port", agent->port, "capabilities", "MULTI_ROLE",
        "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "resources",
        ag_resources_flatten(&agent->resources), "reserved_resources", reserved,
        "unreserved_resources", ag_resources_flatten(&unreserved), "reserved_resources_full",
        reserved_full, "unreserved_resources_full",
        ag_resources_to_json(&unreserved, AG_RESOURCES_PRE_REFINEMENT),
        "reserved_resources_allocated", "unreserved_resources_allocated", "attributes",
        ag_agent_attributes_flatten(agent->attributes), "flags", ag_agent_flags_json(agent),
        "frameworks", frameworks_json(agent, &agent->frameworks), "completed_frameworks",
        frameworks_json(agent, &agent->completed_frameworks));
    ag_resources_release(&unreserved);
    if (state && agent->master) {
        /* "master_hostname": the host part of the master URL. */
        const char *url = ag_agent_master_url(agent->master);
        const char *host = strstr(url, "//");
        if (host) {
            char buf[256];
            const char *colon;
            host += 2;
            colon = strrchr(host, ':');
            snprintf(buf, sizeof(buf), "%.*s", (int)(colon ? colon - host : (long)strlen(host)),
                     host);
            json_object_set_new(state, "master_hostname", json_string(buf));
        }
    }
    return state ? state : json_object();
}

static void serve_state(struct ag_http_req *req, void *arg)
{
    if (reject_method(req))
        return;
    ag_http_reply_json(req, 200, ag_agent_state_json(arg));
}

/* --- metrics --- */

static void set_num(json_t *obj, const char *key, double v)
{
    json_object_set_new(obj, key, json_real(v));
}

static void resource_metrics(json_t *m, const char *name, double total, double used)
{
    char key[64];
    snprintf(key, sizeof(key), "slave/%s_total", name);
    set_num(m, key, total);
    snprintf(key, sizeof(key), "slave/%s_used", name);
    set_num(m, key, used);
    snprintf(key, sizeof(key), "slave/%s_percent", name);
    set_num(m, key, total > 0 ? used / total : 0);
    snprintf(key, sizeof(key), "slave/%s_revocable_total", name);
    set_num(m, key, 0);
    snprintf(key, sizeof(key), "slave/%s_revocable_used", name);
    set_num(m, key, 0);
    snprintf(key, sizeof(key), "slave/%s_revocable_percent", name);
    set_num(m, key, 0);
}

json_t *ag_agent_metrics_json(struct ag_agent *agent)
{
    json_t *m = json_object();
    struct ag_resources used;
    const struct ag_agent_list *fpos, *epos, *tpos;
    double ex_states[4] = {0, 0, 0, 0};
    double t_states[AG_TASK_STATE_COUNT] = {0};
    size_t frameworks = 0;
    static const char *const res[] = {"cpus", "mem", "disk", "gpus"};
    struct sysinfo si;
    double load[3];

    ag_resources_init(&used);
    used_resources(agent, &used);
    for (size_t i = 0; i < 4; i++)
        resource_metrics(m, res[i], ag_resources_scalar(&agent->resources, res[i]),
                         ag_resources_scalar(&used, res[i]));
    ag_resources_release(&used);

    for (fpos = agent->frameworks.next; fpos != &agent->frameworks; fpos = fpos->next) {
        const struct ag_agent_framework *fw =
            ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        frameworks++;
        for (epos = fw->executors.next; epos != &fw->executors; epos = epos->next) {
            const struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            const struct ag_agent_list *heads[] = {&ex->queued, &ex->launched};
            if (ex->state != AG_AGENT_EXECUTOR_TERMINATED)
                ex_states[ex->state]++;
            for (size_t h = 0; h < 2; h++)
                for (tpos = heads[h]->next; tpos != heads[h]; tpos = tpos->next)
                    t_states[ag_agent_list_entry(tpos, struct ag_agent_task, node)->state]++;
        }
    }
    set_num(m, "slave/registered", agent->master && ag_agent_master_connected(agent->master));
    set_num(m, "slave/uptime_secs", ag_now() - agent->start_time);
    set_num(m, "slave/frameworks_active", (double)frameworks);
    set_num(m, "slave/executors_registering", ex_states[AG_AGENT_EXECUTOR_REGISTERING]);
    set_num(m, "slave/executors_running", ex_states[AG_AGENT_EXECUTOR_RUNNING]);
    set_num(m, "slave/executors_terminating", ex_states[AG_AGENT_EXECUTOR_TERMINATING]);
    set_num(m, "slave/executors_terminated", (double)agent->metrics.executors_terminated);
    set_num(m, "slave/executors_preempted", 0);
    set_num(m, "slave/tasks_staging", t_states[AG_TASK_STAGING]);
    set_num(m, "slave/tasks_starting", t_states[AG_TASK_STARTING]);
    set_num(m, "slave/tasks_running", t_states[AG_TASK_RUNNING]);
    set_num(m, "slave/tasks_killing", t_states[AG_TASK_KILLING]);
    set_num(m, "slave/tasks_finished", (double)agent->metrics.tasks_finished);
    set_num(m, "slave/tasks_failed", (double)agent->metrics.tasks_failed);
    set_num(m, "slave/tasks_killed", (double)agent->metrics.tasks_killed);
    set_num(m, "slave/tasks_lost", (double)agent->metrics.tasks_lost);
    set_num(m, "slave/tasks_gone", (double)agent->metrics.tasks_gone);
    set_num(m, "slave/valid_status_updates", (double)agent->metrics.valid_status_updates);
    set_num(m, "slave/invalid_status_updates", (double)agent->metrics.invalid_status_updates);
    set_num(m, "slave/valid_framework_messages", (double)agent->metrics.valid_framework_messages);
    set_num(m, "slave/invalid_framework_messages",
            (double)agent->metrics.invalid_framework_messages);
    set_num(m, "slave/container_launch_errors", (double)agent->metrics.container_launch_errors);
    set_num(m, "slave/recovery_errors", 0);
    set_num(m, "containerizer/mesos/container_destroy_errors",
            (double)ag_cz_destroy_errors(agent->cz));
    set_num(m, "slave/recovery_time_secs", 0);
    set_num(m, "system/cpus_total", (double)sysconf(_SC_NPROCESSORS_ONLN));
    if (getloadavg(load, 3) == 3) {
        set_num(m, "system/load_1min", load[0]);
        set_num(m, "system/load_5min", load[1]);
        set_num(m, "system/load_15min", load[2]);
    }
    if (sysinfo(&si) == 0) {
        set_num(m, "system/mem_total_bytes", (double)si.totalram * si.mem_unit);
        set_num(m, "system/mem_free_bytes", (double)si.freeram * si.mem_unit);
    }
    ag_agent_sandboxes_metrics(agent, m); /* fetcher and gc */
    return m;
}

static void serve_metrics(struct ag_http_req *req, void *arg)
{
    if (reject_method(req))
        return;
    ag_http_reply_json(req, 200, ag_agent_metrics_json(arg));
}

static void serve_flags(struct ag_http_req *req, void *arg)
{
    if (reject_method(req))
        return;
    ag_http_reply_json(req, 200, json_pack("{s:o}", "flags", ag_agent_flags_json(arg)));
}

static void serve_version(struct ag_http_req *req, void *arg)
{
    (void)arg;
    if (reject_method(req))
        return;
    ag_http_reply_json(req, 200,
                       json_pack("{s:s,s:s,s:f,s:s}", "version", AGORA_VERSION, "build_date", "",
                                 "build_time", 0.0, "build_user", ""));
}

static void serve_health(struct ag_http_req *req, void *arg)
{
    (void)arg;
    ag_http_reply(req, 200, NULL, NULL, 0);
}

void ag_agent_routes_state(struct ag_agent *agent)
{
    static const char *const state_paths[] = {"/state", "/state.json", "/slave(1)/state",
                                              "/slave(1)/state.json"};
    for (size_t i = 0; i < sizeof(state_paths) / sizeof(state_paths[0]); i++)
        ag_http_server_route(agent->http, state_paths[i], serve_state, agent);
    ag_http_server_route(agent->http, "/health", serve_health, agent);
    ag_http_server_route(agent->http, "/slave(1)/health", serve_health, agent);
    ag_http_server_route(agent->http, "/metrics/snapshot", serve_metrics, agent);
    ag_http_server_route(agent->http, "/flags", serve_flags, agent);
    ag_http_server_route(agent->http, "/slave(1)/flags", serve_flags, agent);
    ag_http_server_route(agent->http, "/version", serve_version, agent);
    ag_agent_routes_monitor(agent);
}
