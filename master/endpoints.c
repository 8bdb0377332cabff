/*
 * endpoints: the read-mostly HTTP surface of the master. The operator API
 * (POST /api/v1, §6.1) and the legacy JSON endpoints UIs and tools poll
 * (/master/state, /metrics/snapshot, ... §7), plus the HTTP server setup.
 */
#include "master/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/flags.h"
#include "core/http.h"
#include "core/json.h"
#include "core/log.h"

/* Read-only endpoints answer GET (and POST, as Mesos's do). */
static bool read_method_ok(struct ag_http_req *req)
{
    enum ag_http_method mth = ag_http_req_method(req);
    if (mth == AG_HTTP_GET || mth == AG_HTTP_POST || mth == AG_HTTP_HEAD)
        return true;
    ag_http_req_add_header(req, "Allow", "GET, POST");
    ag_http_reply_error(req, 405, "Expecting 'GET', received another method");
    return false;
}

static void reply_json(struct ag_master *m, struct ag_http_req *req, json_t *body)
{
    m->metrics.http_requests++;
    if (!body) {
        ag_http_reply_error(req, 500, "out of memory");
        return;
    }
    ag_http_reply_json(req, 200, body);
}

/* --- legacy GET endpoints --- */

/* The big documents stream in slices (stream.c); HEAD gets the headers
 * alone (rendering a body to throw away would only stall the loop). */
static void serve(struct ag_http_req *req, struct ag_master *m, enum ag_master_render_kind kind,
                  const char *only)
{
    m->metrics.http_requests++;
    if (ag_http_req_method(req) == AG_HTTP_HEAD) {
        ag_http_reply(req, 200, "application/json", NULL, 0);
        return;
    }
    ag_master_render_serve(m, req, kind, only);
}

static void handle_state(struct ag_http_req *req, void *arg)
{
    if (read_method_ok(req))
        serve(req, arg, AG_RENDER_STATE, NULL);
}

static void handle_state_summary(struct ag_http_req *req, void *arg)
{
    if (read_method_ok(req))
        serve(req, arg, AG_RENDER_STATE_SUMMARY, NULL);
}

static void handle_frameworks(struct ag_http_req *req, void *arg)
{
    if (read_method_ok(req))
        serve(req, arg, AG_RENDER_FRAMEWORKS, ag_http_req_query(req, "framework_id"));
}

static void handle_slaves(struct ag_http_req *req, void *arg)
{
    if (read_method_ok(req))
        serve(req, arg, AG_RENDER_SLAVES, ag_http_req_query(req, "slave_id"));
}

/* Parses a non-negative integer query parameter; false (after a 400) if bad. */
static bool query_count(struct ag_http_req *req, const char *key, long dflt, long *ret)
{
    const char *v = ag_http_req_query(req, key);
    *ret = dflt;
    if (!v)
        return true;
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 0) {
        ag_http_reply_error(req, 400, "Failed to parse '%s': '%s' is not a non-negative integer",
                            key, v);
        return false;
    }
    *ret = n;
    return true;
}

struct task_list {
    const struct ag_master_task **items;
    size_t n, cap;
};

static void task_list_add(struct task_list *l, const struct ag_master_task *t)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        const struct ag_master_task **p = realloc(l->items, cap * sizeof(*p));
        if (!p)
            return;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = t;
}

static void collect_fw_tasks(const struct ag_master_framework *fw, const char *task_id,
                             struct task_list *l)
{
    for (const struct ag_master_map_entry *e = fw->tasks.head; e; e = e->next) {
        const struct ag_master_task *t = e->value;
        if (!task_id || strcmp(task_id, t->id) == 0)
            task_list_add(l, t);
    }
    for (const struct ag_master_list *n = fw->completed.next; n != &fw->completed; n = n->next) {
        const struct ag_master_task *t = ag_master_container_of(n, struct ag_master_task, fw_link);
        if (!task_id || strcmp(task_id, t->id) == 0)
            task_list_add(l, t);
    }
}

static int by_launch_asc(const void *a, const void *b)
{
    const struct ag_master_task *x = *(const struct ag_master_task *const *)a;
    const struct ag_master_task *y = *(const struct ag_master_task *const *)b;
    if (x->launch_time < y->launch_time)
        return -1;
    if (x->launch_time > y->launch_time)
        return 1;
    return strcmp(x->id, y->id);
}

static int by_launch_desc(const void *a, const void *b)
{
    return by_launch_asc(b, a);
}

static void handle_tasks(struct ag_http_req *req, void *arg)
{
    struct ag_master *m = arg;
    if (!read_method_ok(req))
        return;
    long limit, offset;
    if (!query_count(req, "limit", 100, &limit) || !query_count(req, "offset", 0, &offset))
        return;
    const char *order = ag_http_req_query(req, "order");
    if (order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0) {
        ag_http_reply_error(req, 400, "Failed to parse 'order': '%s' is not 'asc' or 'desc'",
                            order);
        return;
    }
    const char *fid = ag_http_req_query(req, "framework_id");
    const char *tid = ag_http_req_query(req, "task_id");

    struct task_list l = {0};
    for (struct ag_master_map_entry *e = m->frameworks.head; e; e = e->next) {
        struct ag_master_framework *fw = e->value;
        if (!fid || strcmp(fid, fw->id) == 0)
            collect_fw_tasks(fw, tid, &l);
    }
    for (struct ag_master_list *n = m->completed_frameworks.next; n != &m->completed_frameworks;
         n = n->next) {
        struct ag_master_framework *fw =
            ag_master_container_of(n, struct ag_master_framework, completed_link);
        if (!fid || strcmp(fid, fw->id) == 0)
            collect_fw_tasks(fw, tid, &l);
    }
    bool asc = order && strcmp(order, "asc") == 0;
    if (l.n > 1)
        qsort(l.items, l.n, sizeof(*l.items), asc ? by_launch_asc : by_launch_desc);
    json_t *tasks = json_array();
    for (size_t i = (size_t)offset; i < l.n && i < (size_t)offset + (size_t)limit; i++)
        json_array_append_new(tasks, ag_master_task_legacy_json(l.items[i]));
    free(l.items);
    reply_json(m, req, json_pack("{s:o}", "tasks", tasks));
}

static void handle_health(struct ag_http_req *req, void *arg)
{
    struct ag_master *m = arg;
    m->metrics.http_requests++;
    ag_http_reply(req, 200, NULL, NULL, 0);
}

static void handle_version(struct ag_http_req *req, void *arg)
{
    if (read_method_ok(req))
        reply_json(arg, req, ag_master_version_json());
}

static void handle_redirect(struct ag_http_req *req, void *arg)
{
    struct ag_master *m = arg;
    m->metrics.http_requests++;
    char loc[600];
    snprintf(loc, sizeof(loc), "//%s:%d", m->hostname, m->port);
    ag_http_req_add_header(req, "Location", loc);
    ag_http_reply(req, 307, NULL, NULL, 0);
}

static void handle_metrics(struct ag_http_req *req, void *arg)
{
    if (read_method_ok(req))
        reply_json(arg, req, ag_master_metrics_json(arg));
}

static void handle_flags(struct ag_http_req *req, void *arg)
{
    if (read_method_ok(req))
        reply_json(arg, req, json_pack("{s:o}", "flags", ag_master_flags_json(arg)));
}

static void handle_roles(struct ag_http_req *req, void *arg)
{
    if (read_method_ok(req))
        reply_json(arg, req, ag_master_roles_legacy_json(arg));
}

static void handle_weights(struct ag_http_req *req, void *arg)
{
    if (read_method_ok(req))
        reply_json(arg, req, ag_master_weights_legacy_json(arg));
}

static void handle_quota(struct ag_http_req *req, void *arg)
{
    if (read_method_ok(req))
        reply_json(arg, req, ag_master_quota_legacy_json(arg));
}

/* --- operator API --- */

static const char *const operator_calls[] = {
    "UNKNOWN",
    "GET_HEALTH",
    "GET_FLAGS",
    "GET_VERSION",
    "GET_METRICS",
    "GET_LOGGING_LEVEL",
    "SET_LOGGING_LEVEL",
    "LIST_FILES",
    "READ_FILE",
    "GET_STATE",
    "GET_AGENTS",
    "GET_FRAMEWORKS",
    "GET_EXECUTORS",
    "GET_OPERATIONS",
    "GET_TASKS",
    "GET_ROLES",
    "GET_WEIGHTS",
    "UPDATE_WEIGHTS",
    "GET_MASTER",
    "SUBSCRIBE",
    "RESERVE_RESOURCES",
    "UNRESERVE_RESOURCES",
    "CREATE_VOLUMES",
    "DESTROY_VOLUMES",
    "GROW_VOLUME",
    "SHRINK_VOLUME",
    "GET_MAINTENANCE_STATUS",
    "GET_MAINTENANCE_SCHEDULE",
    "UPDATE_MAINTENANCE_SCHEDULE",
    "START_MAINTENANCE",
    "STOP_MAINTENANCE",
    "DRAIN_AGENT",
    "DEACTIVATE_AGENT",
    "REACTIVATE_AGENT",
    "GET_QUOTA",
    "UPDATE_QUOTA",
    "SET_QUOTA",
    "REMOVE_QUOTA",
    "TEARDOWN",
    "MARK_AGENT_GONE",
};

static bool operator_call_known(const char *name)
{
    for (size_t i = 0; i < sizeof(operator_calls) / sizeof(operator_calls[0]); i++)
        if (strcmp(operator_calls[i], name) == 0)
            return true;
    return false;
}

/* {"type": TYPE, "<type>": payload} */
static json_t *response(const char *type, json_t *payload)
{
    char key[64];
    size_t i = 0;
    for (; type[i] && i + 1 < sizeof(key); i++)
        key[i] = (char)(type[i] >= 'A' && type[i] <= 'Z' ? type[i] - 'A' + 'a' : type[i]);
    key[i] = '\0';
    json_t *r = json_pack("{s:s}", "type", type);
    json_object_set_new(r, key, payload);
    return r;
}

static json_t *get_flags(const struct ag_master *m)
{
    json_t *flags = json_array();
    for (size_t i = 0; i < m->cfg.n_flags; i++) {
        char *v = ag_flags_value_string(&m->cfg.flags[i]);
        json_array_append_new(
            flags, json_pack("{s:s, s:s}", "name", m->cfg.flags[i].name, "value", v ? v : ""));
        free(v);
    }
    return json_pack("{s:o}", "flags", flags);
}

static json_t *get_metrics(const struct ag_master *m)
{
    json_t *snap = ag_master_metrics_json(m);
    json_t *list = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(snap, k, v)
        json_array_append_new(list, json_pack("{s:s, s:O}", "name", k, "value", v));
    json_decref(snap);
    return json_pack("{s:o}", "metrics", list);
}

static json_t *get_state(const struct ag_master *m)
{
    return json_pack("{s:o, s:o, s:o, s:o}", "get_tasks", ag_master_get_tasks_json(m),
                     "get_executors", ag_master_get_executors_json(m), "get_frameworks",
                     ag_master_get_frameworks_json(m), "get_agents", ag_master_get_agents_json(m));
}

/* Shape checks of the payloads of the calls served (400 on failure). */
static int check_operator_payload(const json_t *call, const char *t, char *err, size_t errlen)
{
    char key[64];
    size_t i = 0;
    for (; t[i] && i + 1 < sizeof(key); i++)
        key[i] = (char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] - 'A' + 'a' : t[i]);
    key[i] = '\0';
    json_t *payload = ag_json_get(call, key);
    if (payload && !json_is_object(payload)) {
        snprintf(err, errlen, "'%s' must be an object", key);
        return -EINVAL;
    }
    if (strcmp(t, "GET_METRICS") == 0 && payload) {
        json_t *timeout = ag_json_get(payload, "timeout");
        double ns;
        char e[256] = "";
        if (timeout && (!json_is_object(timeout) ||
                        ag_json_get_number(timeout, "nanoseconds", true, &ns, e, sizeof(e)) < 0)) {
            snprintf(err, errlen,
                     "'get_metrics.timeout' must be a DurationInfo {\"nanoseconds\": number}");
            return -EINVAL;
        }
    }
    if (strcmp(t, "TEARDOWN") == 0) {
        char e[256] = "";
        if (!payload) {
            snprintf(err, errlen, "Expecting 'teardown' to be present");
            return -EINVAL;
        }
        if (!ag_json_get_id(payload, "framework_id", true, e, sizeof(e))) {
            snprintf(err, errlen,
                     "Expecting 'teardown.framework_id' to be present as {\"value\": string}");
            return -EINVAL;
        }
    }
    return 0;
}

/* Runs one operator call that answers 200 with a body; NULL if the call
 * is not one of them. */
static json_t *operator_query(struct ag_master *m, const char *t)
{
    if (strcmp(t, "GET_HEALTH") == 0)
        return json_pack("{s:b}", "healthy", 1);
    if (strcmp(t, "GET_VERSION") == 0)
        return json_pack("{s:o}", "version_info", ag_master_version_json());
    if (strcmp(t, "GET_FLAGS") == 0)
        return get_flags(m);
    if (strcmp(t, "GET_METRICS") == 0)
        return get_metrics(m);
    if (strcmp(t, "GET_STATE") == 0)
        return get_state(m);
    if (strcmp(t, "GET_AGENTS") == 0)
        return ag_master_get_agents_json(m);
    if (strcmp(t, "GET_FRAMEWORKS") == 0)
        return ag_master_get_frameworks_json(m);
    if (strcmp(t, "GET_TASKS") == 0)
        return ag_master_get_tasks_json(m);
    if (strcmp(t, "GET_EXECUTORS") == 0)
        return ag_master_get_executors_json(m);
    if (strcmp(t, "GET_MASTER") == 0)
        return json_pack("{s:o, s:f, s:f}", "master_info", ag_master_info_json(m), "start_time",
                         m->start_time, "elected_time", m->start_time);
    if (strcmp(t, "GET_OPERATIONS") == 0)
        return json_object();
    if (strcmp(t, "GET_WEIGHTS") == 0)
        return ag_master_get_weights_json(m);
    if (strcmp(t, "GET_QUOTA") == 0)
        return ag_master_get_quota_json(m);
    if (strcmp(t, "GET_ROLES") == 0)
        return ag_master_get_roles_json(m);
    return NULL;
}

/* Runs one operator call that changes state: the HTTP status to answer
 * (err set for errors), or 0 if the call is not one of them. */
static int operator_change(struct ag_master *m, const char *t, const json_t *call, char *err,
                           size_t errlen)
{
    static const struct {
        const char *type, *key;
        enum ag_master_conv_type conv;
    } convs[] = {
        {"RESERVE_RESOURCES", "reserve_resources", AG_CONV_RESERVE},
        {"UNRESERVE_RESOURCES", "unreserve_resources", AG_CONV_UNRESERVE},
        {"CREATE_VOLUMES", "create_volumes", AG_CONV_CREATE},
        {"DESTROY_VOLUMES", "destroy_volumes", AG_CONV_DESTROY},
    };
    for (size_t i = 0; i < sizeof(convs) / sizeof(convs[0]); i++) {
        if (strcmp(t, convs[i].type) != 0)
            continue;
        json_t *payload = ag_json_get(call, convs[i].key);
        if (!json_is_object(payload)) {
            snprintf(err, errlen, "Expecting '%s' to be present", convs[i].key);
            return 400;
        }
        return ag_master_operator_conversion(m, convs[i].conv, payload, err, errlen);
    }
    bool weights = strcmp(t, "UPDATE_WEIGHTS") == 0;
    if (weights || strcmp(t, "UPDATE_QUOTA") == 0) {
        const char *key = weights ? "update_weights" : "update_quota";
        json_t *payload = ag_json_get(call, key);
        if (!json_is_object(payload)) {
            snprintf(err, errlen, "Expecting '%s' to be present", key);
            return 400;
        }
        int r = weights ? ag_master_update_weights(m, payload, err, errlen)
                        : ag_master_update_quota(m, payload, err, errlen);
        if (r == 0)
            return 200;
        return strstr(err, "does not support") ? 501 : 400;
    }
    return 0;
}

static void handle_operator(struct ag_http_req *req, void *arg)
{
    struct ag_master *m = arg;
    char err[1024] = "";
    json_t *call = ag_master_read_call(m, req);
    if (!call)
        return;
    json_t *type = json_is_object(call) ? ag_json_get(call, "type") : NULL;
    const char *t = json_is_string(type) ? json_string_value(type) : NULL;
    if (!t) {
        ag_http_reply_error(req, 400,
                            "Failed to validate master::Call: Expecting 'type' to be "
                            "present");
        goto out;
    }
    if (!operator_call_known(t)) {
        ag_http_reply_error(req, 400,
                            "Failed to validate master::Call: 'type' has an unknown value '%s'", t);
        goto out;
    }
    if (!ag_master_accepts_json(ag_http_req_header(req, "Accept"))) {
        ag_http_reply_error(req, 406, "Expecting 'Accept' to allow 'application/json'");
        goto out;
    }
    if (strcmp(t, "UNKNOWN") == 0) {
        ag_http_reply_error(req, 501, "Received 'UNKNOWN' call");
        goto out;
    }
    if (check_operator_payload(call, t, err, sizeof(err)) < 0) {
        ag_http_reply_error(req, 400, "Failed to validate master::Call: %s", err);
        goto out;
    }
    if (strcmp(t, "TEARDOWN") == 0) {
        char e[256] = "";
        const char *fid =
            ag_json_get_id(ag_json_get(call, "teardown"), "framework_id", true, e, sizeof(e));
        struct ag_master_framework *fw = ag_master_fw_find(m, fid);
        if (!fw) {
            ag_http_reply_error(req, 400, "No framework found with specified ID");
            goto out;
        }
        ag_info("operator tears down framework '%s'", fid);
        ag_master_fw_remove(m, fw);
        ag_http_reply(req, 200, NULL, NULL, 0);
        goto out;
    }
    int status = operator_change(m, t, call, err, sizeof(err));
    if (status == 200 || status == 202) {
        ag_http_reply(req, status, NULL, NULL, 0);
        goto out;
    }
    if (status > 0) {
        ag_http_reply_error(req, status, "%s", err);
        goto out;
    }
    static const struct {
        const char *type;
        enum ag_master_render_kind kind;
    } streamed[] = {
        {"GET_STATE", AG_RENDER_GET_STATE},         {"GET_TASKS", AG_RENDER_GET_TASKS},
        {"GET_AGENTS", AG_RENDER_GET_AGENTS},       {"GET_FRAMEWORKS", AG_RENDER_GET_FRAMEWORKS},
        {"GET_EXECUTORS", AG_RENDER_GET_EXECUTORS},
    };
    for (size_t i = 0; i < sizeof(streamed) / sizeof(streamed[0]); i++) {
        if (strcmp(t, streamed[i].type) == 0) {
            ag_master_render_serve(m, req, streamed[i].kind, NULL);
            goto out;
        }
    }
    json_t *payload = operator_query(m, t);
    if (!payload) {
        ag_http_reply_error(req, 501, "%s is not supported yet", t);
        goto out;
    }
    ag_http_reply_json(req, 200, response(t, payload));
out:
    json_decref(call);
}

/* --- routes and the server --- */

static const struct {
    const char *path;
    ag_http_handler handler;
} routes[] = {
    {"/master/state", handle_state},
    {"/state", handle_state},
    {"/master/state.json", handle_state},
    {"/state.json", handle_state},
    {"/master/state-summary", handle_state_summary},
    {"/state-summary", handle_state_summary},
    {"/master/frameworks", handle_frameworks},
    {"/frameworks", handle_frameworks},
    {"/master/slaves", handle_slaves},
    {"/slaves", handle_slaves},
    {"/master/tasks", handle_tasks},
    {"/tasks", handle_tasks},
    {"/master/roles", handle_roles},
    {"/roles", handle_roles},
    {"/master/weights", handle_weights},
    {"/weights", handle_weights},
    {"/master/quota", handle_quota},
    {"/quota", handle_quota},
    {"/health", handle_health},
    {"/master/health", handle_health},
    {"/version", handle_version},
    {"/master/redirect", handle_redirect},
    {"/redirect", handle_redirect},
    {"/metrics/snapshot", handle_metrics},
    {"/master/flags", handle_flags},
    {"/flags", handle_flags},
    {"/api/v1", handle_operator},
    {"/master/api/v1", handle_operator},
};

void ag_master_endpoint_routes(struct ag_master *m)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        ag_http_server_route(m->http, routes[i].path, routes[i].handler, m);
}

int ag_master_http_start(struct ag_master *m, char *err, size_t errlen)
{
    m->http =
        ag_http_server_new(m->loop, m->cfg.ip, m->cfg.port, m->cfg.max_body_size, err, errlen);
    if (!m->http)
        return -EADDRNOTAVAIL;
    m->port = ag_http_server_port(m->http);
    char pid[512];
    snprintf(pid, sizeof(pid), "master@%s:%d", m->cfg.ip, m->port);
    free(m->pid);
    m->pid = strdup(pid);
    ag_master_scheduler_routes(m);
    ag_master_agent_routes(m);
    ag_master_endpoint_routes(m);
    return 0;
}
