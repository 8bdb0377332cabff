/*
 * monitor: per-container resource statistics, served at
 * /monitor/statistics (and /slave(1)/monitor/statistics, the legacy
 * endpoint Mesos tools read), /containers, and in the operator API's
 * GET_CONTAINERS (operator.c).
 *
 * Only live executors (a process running) are listed. Without isolation
 * there are no cgroups to read: an entry then carries the timestamp and
 * the limits the executor was given.
 */
#include <stdio.h>
#include <string.h>

#include "agent/internal.h"
#include "core/json.h"
#include "core/loop.h"

typedef void (*each_fn)(struct ag_agent *agent, struct ag_agent_executor *ex, json_t *out);

static void each_live_executor(struct ag_agent *agent, each_fn fn, json_t *out)
{
    struct ag_agent_list *fpos, *epos;
    for (fpos = agent->frameworks.next; fpos != &agent->frameworks; fpos = fpos->next) {
        struct ag_agent_framework *fw = ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        for (epos = fw->executors.next; epos != &fw->executors; epos = epos->next) {
            struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            if (ex->pid > 0)
                fn(agent, ex, out);
        }
    }
}

static json_t *statistics_of(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    json_t *s;
    double cpus = ag_resources_scalar(&ex->resources, "cpus");
    double mem = ag_resources_scalar(&ex->resources, "mem");

    if (ex->container)
        return ag_cz_statistics(agent->cz, ex->container);
    s = json_pack("{s:f}", "timestamp", ag_now());
    if (s && cpus > 0)
        json_object_set_new(s, "cpus_limit", json_real(cpus));
    if (s && mem > 0)
        json_object_set_new(s, "mem_limit_bytes", json_integer((json_int_t)(mem * 1048576.0)));
    return s;
}

static const char *executor_name(const struct ag_agent_executor *ex)
{
    const char *n = json_string_value(json_object_get(ex->info, "name"));
    return n ? n : "";
}

static const char *executor_source(const struct ag_agent_executor *ex)
{
    const char *s = json_string_value(json_object_get(ex->info, "source"));
    return s ? s : ex->id;
}

static void add_legacy(struct ag_agent *agent, struct ag_agent_executor *ex, json_t *out)
{
    json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:o*}", "executor_id", ex->id, "executor_name",
                          executor_name(ex), "framework_id", ex->framework->id, "source",
                          executor_source(ex), "statistics", statistics_of(agent, ex));
    if (e)
        json_array_append_new(out, e);
}

json_t *ag_agent_monitor_json(struct ag_agent *agent)
{
    json_t *arr = json_array();
    if (arr)
        each_live_executor(agent, add_legacy, arr);
    return arr;
}

static void add_v1(struct ag_agent *agent, struct ag_agent_executor *ex, json_t *out)
{
    json_t *c = json_pack("{s:{s:s},s:{s:s},s:s,s:{s:s},s:o*}", "framework_id", "value",
                          ex->framework->id, "executor_id", "value", ex->id, "executor_name",
                          executor_name(ex), "container_id", "value", ex->container_id,
                          "resource_statistics", statistics_of(agent, ex));
    if (!c)
        return;
    json_object_set_new(c, "container_status",
                        ex->container ? ag_cz_container_status(agent->cz, ex->container)
                                      : json_pack("{s:{s:s},s:i}", "container_id", "value",
                                                  ex->container_id, "executor_pid", (int)ex->pid));
    json_array_append_new(out, c);
}

json_t *ag_agent_containers_v1(struct ag_agent *agent)
{
    json_t *arr = json_array();
    if (arr)
        each_live_executor(agent, add_v1, arr);
    return arr;
}

/* /containers (legacy): the v1 entries with the ids flattened. */
static void add_containers_legacy(struct ag_agent *agent, struct ag_agent_executor *ex, json_t *out)
{
    json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:o*}", "framework_id", ex->framework->id,
                          "executor_id", ex->id, "executor_name", executor_name(ex), "container_id",
                          ex->container_id, "statistics", statistics_of(agent, ex));
    if (c) {
        json_object_set_new(c, "status", json_pack("{s:i}", "executor_pid", (int)ex->pid));
        json_array_append_new(out, c);
    }
}

static bool get_only(struct ag_http_req *req)
{
    enum ag_http_method m = ag_http_req_method(req);
    if (m == AG_HTTP_GET || m == AG_HTTP_HEAD)
        return true;
    ag_http_req_add_header(req, "Allow", "GET");
    ag_http_reply_error(req, 405, "Expecting 'GET', received a different method");
    return false;
}

static void serve_statistics(struct ag_http_req *req, void *arg)
{
    if (get_only(req))
        ag_http_reply_json(req, 200, ag_agent_monitor_json(arg));
}

static void serve_containers(struct ag_http_req *req, void *arg)
{
    json_t *arr;
    if (!get_only(req))
        return;
    arr = json_array();
    if (arr)
        each_live_executor(arg, add_containers_legacy, arr);
    ag_http_reply_json(req, 200, arr);
}

void ag_agent_routes_monitor(struct ag_agent *agent)
{
    static const char *const stats[] = {"/monitor/statistics", "/monitor/statistics.json",
                                        "/slave(1)/monitor/statistics",
                                        "/slave(1)/monitor/statistics.json"};
    for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++)
        ag_http_server_route(agent->http, stats[i], serve_statistics, agent);
    ag_http_server_route(agent->http, "/containers", serve_containers, agent);
    ag_http_server_route(agent->http, "/slave(1)/containers", serve_containers, agent);
}
