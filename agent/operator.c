/*
 * operator: the agent's operator API (POST /api/v1, agent.proto, §6.4),
 * the read-only calls: GET_HEALTH, GET_VERSION, GET_FLAGS, GET_METRICS,
 * GET_AGENT, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_STATE,
 * GET_CONTAINERS (monitor.c), and the nested-container calls LAUNCH/WAIT/
 * KILL/REMOVE_CONTAINER (nested.c). The other container calls (the
 * deprecated *_NESTED_CONTAINER ones, sessions, attach) answer 501.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "core/json.h"

static json_t *flags_list(const struct ag_agent *agent)
{
    json_t *obj = ag_agent_flags_json(agent), *arr = json_array(), *v;
    const char *k;
    json_object_foreach(obj, k, v)
    {
        json_array_append_new(arr, json_pack("{s:s,s:O}", "name", k, "value", v));
    }
    json_decref(obj);
    return arr;
}

static json_t *metrics_list(struct ag_agent *agent)
{
    json_t *obj = ag_agent_metrics_json(agent), *arr = json_array(), *v;
    const char *k;
    json_object_foreach(obj, k, v)
    {
        json_array_append_new(arr, json_pack("{s:s,s:O}", "name", k, "value", v));
    }
    json_decref(obj);
    return arr;
}

static void tasks_of(const struct ag_agent *agent, const struct ag_agent_list *head, json_t *out,
                     bool terminal)
{
    const struct ag_agent_list *pos;
    for (pos = head->next; pos != head; pos = pos->next) {
        const struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
        if (ag_task_state_is_terminal(t->state) == terminal)
            json_array_append_new(out, ag_agent_task_v1(agent, t));
    }
}

static json_t *get_tasks(const struct ag_agent *agent)
{
    json_t *queued = json_array(), *launched = json_array(), *terminated = json_array();
    json_t *completed = json_array();
    const struct ag_agent_list *heads[] = {&agent->frameworks, &agent->completed_frameworks};
    for (size_t h = 0; h < 2; h++) {
        const struct ag_agent_list *fpos, *epos;
        for (fpos = heads[h]->next; fpos != heads[h]; fpos = fpos->next) {
            const struct ag_agent_framework *fw =
                ag_agent_list_entry(fpos, struct ag_agent_framework, node);
            const struct ag_agent_list *exs[] = {&fw->executors, &fw->completed_executors};
            for (size_t x = 0; x < 2; x++) {
                for (epos = exs[x]->next; epos != exs[x]; epos = epos->next) {
                    const struct ag_agent_executor *ex =
                        ag_agent_list_entry(epos, struct ag_agent_executor, node);
                    tasks_of(agent, &ex->queued, queued, false);
                    tasks_of(agent, &ex->queued, terminated, true);
                    tasks_of(agent, &ex->launched, launched, false);
                    tasks_of(agent, &ex->launched, terminated, true);
                    tasks_of(agent, &ex->completed, completed, true);
                }
            }
        }
    }
    return json_pack("{s:[],s:o,s:o,s:o,s:o}", "pending_tasks", "queued_tasks", queued,
                     "launched_tasks", launched, "terminated_tasks", terminated, "completed_tasks",
                     completed);
}

static json_t *get_executors(const struct ag_agent *agent)
{
    json_t *live = json_array(), *done = json_array();
    const struct ag_agent_list *heads[] = {&agent->frameworks, &agent->completed_frameworks};
    for (size_t h = 0; h < 2; h++) {
        const struct ag_agent_list *fpos, *epos;
        for (fpos = heads[h]->next; fpos != heads[h]; fpos = fpos->next) {
            const struct ag_agent_framework *fw =
                ag_agent_list_entry(fpos, struct ag_agent_framework, node);
            for (epos = fw->executors.next; epos != &fw->executors; epos = epos->next)
                json_array_append_new(
                    live,
                    json_pack("{s:O}", "executor_info",
                              ag_agent_list_entry(epos, struct ag_agent_executor, node)->info));
            for (epos = fw->completed_executors.next; epos != &fw->completed_executors;
                 epos = epos->next)
                json_array_append_new(
                    done,
                    json_pack("{s:O}", "executor_info",
                              ag_agent_list_entry(epos, struct ag_agent_executor, node)->info));
        }
    }
    return json_pack("{s:o,s:o}", "executors", live, "completed_executors", done);
}

static json_t *get_frameworks(const struct ag_agent *agent)
{
    json_t *live = json_array(), *done = json_array();
    const struct ag_agent_list *pos;
    for (pos = agent->frameworks.next; pos != &agent->frameworks; pos = pos->next) {
        const struct ag_agent_framework *fw =
            ag_agent_list_entry(pos, struct ag_agent_framework, node);
        json_t *info = json_deep_copy(fw->info);
        ag_json_set_id(info, "id", fw->id);
        json_array_append_new(live, json_pack("{s:o}", "framework_info", info));
    }
    for (pos = agent->completed_frameworks.next; pos != &agent->completed_frameworks;
         pos = pos->next) {
        const struct ag_agent_framework *fw =
            ag_agent_list_entry(pos, struct ag_agent_framework, node);
        json_t *info = json_deep_copy(fw->info);
        ag_json_set_id(info, "id", fw->id);
        json_array_append_new(done, json_pack("{s:o}", "framework_info", info));
    }
    return json_pack("{s:o,s:o}", "frameworks", live, "completed_frameworks", done);
}

/* GET_CONTAINERS; with get_containers.show_nested the nested containers
 * of each executor follow it. */
static json_t *get_containers(struct ag_agent *agent, const json_t *call)
{
    json_t *arr = ag_agent_containers_v1(agent);
    bool nested = json_is_true(ag_json_get(ag_json_get(call, "get_containers"), "show_nested"));
    const struct ag_agent_list *fpos, *epos;
    for (fpos = agent->frameworks.next; nested && fpos != &agent->frameworks; fpos = fpos->next) {
        const struct ag_agent_framework *fw =
            ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        for (epos = fw->executors.next; epos != &fw->executors; epos = epos->next)
            ag_agent_nested_containers(
                agent, ag_agent_list_entry(epos, struct ag_agent_executor, node), arr);
    }
    return json_pack("{s:s,s:{s:o}}", "type", "GET_CONTAINERS", "get_containers", "containers",
                     arr);
}

/* The answer to a GET_* call, or NULL for a type this agent does not know. */
static json_t *answer(struct ag_agent *agent, const char *type)
{
    if (strcmp(type, "GET_HEALTH") == 0)
        return json_pack("{s:s,s:{s:b}}", "type", type, "get_health", "healthy", 1);
    if (strcmp(type, "GET_VERSION") == 0)
        return json_pack("{s:s,s:{s:{s:s,s:s,s:f,s:s}}}", "type", type, "get_version",
                         "version_info", "version", AGORA_VERSION, "build_date", "", "build_time",
                         0.0, "build_user", "");
    if (strcmp(type, "GET_FLAGS") == 0)
        return json_pack("{s:s,s:{s:o}}", "type", type, "get_flags", "flags", flags_list(agent));
    if (strcmp(type, "GET_METRICS") == 0)
        return json_pack("{s:s,s:{s:o}}", "type", type, "get_metrics", "metrics",
                         metrics_list(agent));
    if (strcmp(type, "GET_AGENT") == 0)
        return json_pack("{s:s,s:{s:o}}", "type", type, "get_agent", "agent_info",
                         ag_agent_info_json(agent));
    if (strcmp(type, "GET_FRAMEWORKS") == 0)
        return json_pack("{s:s,s:o}", "type", type, "get_frameworks", get_frameworks(agent));
    if (strcmp(type, "GET_EXECUTORS") == 0)
        return json_pack("{s:s,s:o}", "type", type, "get_executors", get_executors(agent));
    if (strcmp(type, "GET_TASKS") == 0)
        return json_pack("{s:s,s:o}", "type", type, "get_tasks", get_tasks(agent));
    if (strcmp(type, "GET_CONTAINERS") == 0)
        return json_pack("{s:s,s:{s:o}}", "type", type, "get_containers", "containers",
                         ag_agent_containers_v1(agent));
    if (strcmp(type, "GET_STATE") == 0)
        return json_pack("{s:s,s:{s:o,s:o,s:o}}", "type", type, "get_state", "get_tasks",
                         get_tasks(agent), "get_executors", get_executors(agent), "get_frameworks",
                         get_frameworks(agent));
    return NULL;
}

/* agent.proto call types this agent knows but does not serve yet. */
static bool known_type(const char *type)
{
    static const char *const types[] = {
        "GET_LOGGING_LEVEL",
        "SET_LOGGING_LEVEL",
        "LIST_FILES",
        "READ_FILE",
        "GET_OPERATIONS",
        "GET_RESOURCE_PROVIDERS",
        "LAUNCH_NESTED_CONTAINER",
        "WAIT_NESTED_CONTAINER",
        "KILL_NESTED_CONTAINER",
        "REMOVE_NESTED_CONTAINER",
        "LAUNCH_NESTED_CONTAINER_SESSION",
        "ATTACH_CONTAINER_INPUT",
        "ATTACH_CONTAINER_OUTPUT",
        "LAUNCH_CONTAINER",
        "WAIT_CONTAINER",
        "KILL_CONTAINER",
        "REMOVE_CONTAINER",
        "ADD_RESOURCE_PROVIDER_CONFIG",
        "UPDATE_RESOURCE_PROVIDER_CONFIG",
        "REMOVE_RESOURCE_PROVIDER_CONFIG",
        "MARK_RESOURCE_PROVIDER_GONE",
        "PRUNE_IMAGES",
        "UNKNOWN",
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(type, types[i]) == 0)
            return true;
    return false;
}

void ag_agent_operator_api(struct ag_http_req *req, void *arg)
{
    struct ag_agent *agent = arg;
    char err[512] = "";
    const char *body, *type;
    size_t len;
    json_t *call, *out;
    int code;

    if (ag_http_req_method(req) != AG_HTTP_POST) {
        ag_http_req_add_header(req, "Allow", "POST");
        ag_http_reply_error(req, 405, "Expecting 'POST', received a different method");
        return;
    }
    code = ag_agent_check_content_type(ag_http_req_header(req, "Content-Type"), err, sizeof(err));
    if (code) {
        ag_http_reply_error(req, code, "%s", err);
        return;
    }
    body = ag_http_req_body(req, &len);
    call = ag_json_parse(body, len, err, sizeof(err));
    if (!call) {
        ag_http_reply_error(req, 400, "Failed to parse body into JSON: %s", err);
        return;
    }
    type = json_is_object(call) ? ag_json_get_string(call, "type", true, err, sizeof(err)) : NULL;
    if (!type) {
        ag_http_reply_error(req, 400, "Failed to validate agent::Call: %s",
                            err[0] ? err : "not a JSON object");
    } else if (!ag_agent_accepts_json(ag_http_req_header(req, "Accept"))) {
        ag_http_reply_error(req, 406, "Expecting 'Accept' to allow application/json");
    } else if (ag_agent_nested_handles(type)) {
        ag_agent_nested_call(agent, req, type, call);
    } else if (strcmp(type, "GET_CONTAINERS") == 0) {
        ag_http_reply_json(req, 200, get_containers(agent, call));
    } else if ((out = answer(agent, type)) != NULL) {
        ag_http_reply_json(req, 200, out);
    } else if (known_type(type)) {
        ag_http_reply_error(req, 501, "'%s' is not implemented by this agent", type);
    } else {
        ag_http_reply_error(req, 400, "Failed to validate agent::Call: unknown call type '%s'",
                            type);
    }
    json_decref(call);
}
