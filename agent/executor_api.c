/*
 * executor_api: POST /api/v1/executor, the Mesos v1 executor API (§5).
 *
 * Checks in the order Mesos makes them: method (405), Content-Type
 * (400/415), JSON (400), call shape (400), Accept for SUBSCRIBE (406),
 * known framework and executor (400), subscribed for other calls (403).
 * SUBSCRIBE turns the request into the executor's event stream; UPDATE is
 * validated, handed to the status update manager, answered 202 and
 * acknowledged on the stream; MESSAGE is relayed to the master; HEARTBEAT
 * is answered 202.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"

#define ERRLEN 512

static bool valid_uuid(const char *b64)
{
    size_t len = 0;
    uint8_t *bytes = b64 ? ag_base64_decode(b64, &len) : NULL;
    free(bytes);
    return bytes && len == 16;
}

/*
 * Validates an UPDATE's TaskStatus against the executor; on success fills
 * the fields the agent owns (agent_id, executor_id, source, timestamp) in
 * *ret (a new copy). 0, or 400 with a message.
 */
static int validate_update(struct ag_agent *agent, struct ag_agent_executor *ex,
                           const json_t *update, json_t **ret, struct ag_agent_task **ret_task,
                           char *err, size_t errlen)
{
    json_t *status = ag_json_get(update, "status");
    const char *task_id, *uuid, *state_name, *exec_id;
    enum ag_task_state state;
    struct ag_agent_task *task;
    json_t *copy;

    err[0] = '\0';
    if (!json_is_object(status)) {
        snprintf(err, errlen, "Expecting 'update.status' to be present");
        return 400;
    }
    task_id = ag_json_get_id(status, "task_id", true, err, errlen);
    if (!task_id) {
        snprintf(err + strlen(err), errlen - strlen(err), " in 'update.status'");
        return 400;
    }
    state_name = ag_json_get_string(status, "state", true, err, errlen);
    if (!state_name || ag_task_state_parse(state_name, &state) < 0) {
        snprintf(err, errlen, "'update.status.state' is not a task state");
        return 400;
    }
    uuid = json_string_value(ag_json_get(status, "uuid"));
    if (!uuid) {
        snprintf(err, errlen, "Expecting 'uuid' to be present in 'update.status'");
        return 400;
    }
    if (!valid_uuid(uuid)) {
        snprintf(err, errlen, "'update.status.uuid' must be 16 bytes in Base64");
        return 400;
    }
    if (state == AG_TASK_STAGING) {
        snprintf(err, errlen, "Executors cannot send TASK_STAGING updates");
        return 400;
    }
    if (state == AG_TASK_KILLING &&
        !ag_agent_framework_capable(ex->framework, "TASK_KILLING_STATE")) {
        snprintf(err, errlen,
                 "Framework does not have the TASK_KILLING_STATE capability; "
                 "TASK_KILLING is not allowed");
        return 400;
    }
    err[0] = '\0';
    exec_id = ag_json_get_id(status, "executor_id", false, err, errlen);
    if (err[0])
        return 400;
    if (exec_id && strcmp(exec_id, ex->id) != 0) {
        snprintf(err, errlen, "'update.status.executor_id' ('%s') is not the caller ('%s')",
                 exec_id, ex->id);
        return 400;
    }
    task = ag_agent_executor_task(ex, task_id);
    if (!task) {
        /* A completed task: fine if this is a resend of an update we have. */
        struct ag_agent_list *pos, *tmp;
        ag_agent_list_for_each(pos, tmp, &ex->completed)
        {
            struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
            if (strcmp(t->id, task_id) == 0)
                task = t;
        }
        if (!task) {
            snprintf(err, errlen, "Task '%s' is not known to executor '%s'", task_id, ex->id);
            return 400;
        }
    }
    copy = json_deep_copy(status);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    if (agent->id)
        ag_json_set_id(copy, "agent_id", agent->id);
    ag_json_set_id(copy, "executor_id", ex->id);
    if (!ag_json_get(copy, "source"))
        json_object_set_new(copy, "source", json_string("SOURCE_EXECUTOR"));
    if (!ag_json_get(copy, "timestamp"))
        json_object_set_new(copy, "timestamp", json_real(ag_now()));
    *ret = copy;
    *ret_task = task;
    return 0;
}

/* Whether a TaskStatus with this uuid is already recorded on the task. */
static bool task_has_uuid(const struct ag_agent_task *task, const char *uuid)
{
    json_t *s;
    size_t i;
    json_array_foreach(task->statuses, i, s)
    {
        const char *u = json_string_value(json_object_get(s, "uuid"));
        if (u && strcmp(u, uuid) == 0)
            return true;
    }
    return false;
}

static void send_acknowledged(struct ag_agent_executor *ex, const char *task_id, const char *uuid)
{
    json_t *ev = json_pack("{s:s,s:{s:{s:s},s:s}}", "type", "ACKNOWLEDGED", "acknowledged",
                           "task_id", "value", task_id, "uuid", uuid);
    if (ev)
        ag_agent_executor_send(ex, ev);
    json_decref(ev);
}

/*
 * Accepts one update (from an UPDATE call or from SUBSCRIBE's
 * unacknowledged_updates). 0 (accepted or duplicate; the executor is then
 * acknowledged), or an HTTP code with a message.
 */
static int accept_update(struct ag_agent *agent, struct ag_agent_executor *ex, const json_t *update,
                         char *err, size_t errlen)
{
    json_t *status = NULL;
    struct ag_agent_task *task = NULL;
    const char *uuid;
    int code = validate_update(agent, ex, update, &status, &task, err, errlen);

    if (code) {
        agent->metrics.invalid_status_updates++;
        return code;
    }
    uuid = json_string_value(json_object_get(status, "uuid"));
    if (task_has_uuid(task, uuid)) {
        /* A resend of something we already hold: acknowledge again. */
        json_decref(status);
        return 0;
    }
    if (ag_task_state_is_terminal(task->state)) {
        snprintf(err, errlen, "Task '%s' is already in terminal state %s", task->id,
                 ag_task_state_name(task->state));
        agent->metrics.invalid_status_updates++;
        json_decref(status);
        return 400;
    }
    code = ag_agent_task_status(agent, task, status);
    json_decref(status);
    if (code < 0 && code != -EEXIST) {
        snprintf(err, errlen, "cannot accept the update: %s", strerror(-code));
        agent->metrics.invalid_status_updates++;
        return 500;
    }
    agent->metrics.valid_status_updates++;
    return 0;
}

static void handle_update(struct ag_agent *agent, struct ag_agent_executor *ex,
                          struct ag_http_req *req, const json_t *call)
{
    char err[ERRLEN];
    json_t *update = ag_json_get(call, "update");
    json_t *status = ag_json_get(update, "status");
    char *task_id, *uuid;
    int code;

    if (!json_is_object(update)) {
        agent->metrics.invalid_status_updates++;
        ag_http_reply_error(req, 400, "Expecting 'update' to be present");
        return;
    }
    code = accept_update(agent, ex, update, err, sizeof(err));
    if (code) {
        ag_http_reply_error(req, code, "%s", err);
        return;
    }
    task_id = ag_agent_strdup(ag_json_get_id(status, "task_id", false, err, sizeof(err)));
    uuid = ag_agent_strdup(json_string_value(json_object_get(status, "uuid")));
    ag_http_reply(req, 202, NULL, NULL, 0);
    send_acknowledged(ex, task_id, uuid);
    free(task_id);
    free(uuid);
}

static void handle_message(struct ag_agent *agent, struct ag_agent_executor *ex,
                           struct ag_http_req *req, const json_t *call)
{
    json_t *msg = ag_json_get(call, "message");
    const char *data = json_string_value(ag_json_get(msg, "data"));
    size_t len;
    uint8_t *bytes;

    if (!data) {
        agent->metrics.invalid_framework_messages++;
        ag_http_reply_error(req, 400, "Expecting 'message.data' to be present");
        return;
    }
    bytes = ag_base64_decode(data, &len);
    if (!bytes) {
        agent->metrics.invalid_framework_messages++;
        ag_http_reply_error(req, 400, "'message.data' is not valid Base64");
        return;
    }
    free(bytes);
    ag_agent_executor_message(agent, ex, data);
    ag_http_reply(req, 202, NULL, NULL, 0);
}

/* Unacknowledged tasks the executor says it has: they are no longer queued. */
static void adopt_tasks(struct ag_agent_executor *ex, const json_t *tasks)
{
    json_t *t;
    size_t i;
    json_array_foreach(tasks, i, t)
    {
        char err[64];
        const char *id = ag_json_get_id(t, "task_id", false, err, sizeof(err));
        struct ag_agent_list *pos, *tmp;
        if (!id)
            continue;
        ag_agent_list_for_each(pos, tmp, &ex->queued)
        {
            struct ag_agent_task *task = ag_agent_list_entry(pos, struct ag_agent_task, node);
            if (strcmp(task->id, id) == 0) {
                ag_agent_list_del(&task->node);
                ag_agent_list_add_tail(&ex->launched, &task->node);
                break;
            }
        }
    }
}

static void handle_subscribe(struct ag_agent *agent, struct ag_agent_executor *ex,
                             struct ag_http_req *req, const json_t *call)
{
    json_t *sub = ag_json_get(call, "subscribe");
    json_t *updates = ag_json_get(sub, "unacknowledged_updates");
    json_t *tasks = ag_json_get(sub, "unacknowledged_tasks");
    struct ag_http_stream *stream;
    json_t *u, *acks;
    size_t i;

    if ((updates && !json_is_array(updates)) || (tasks && !json_is_array(tasks))) {
        ag_http_reply_error(req, 400,
                            "'subscribe.unacknowledged_updates' and "
                            "'subscribe.unacknowledged_tasks' must be arrays");
        return;
    }
    if (ex->state == AG_AGENT_EXECUTOR_TERMINATED || ex->pid <= 0) {
        ag_http_reply_error(req, 400, "Executor '%s' has terminated", ex->id);
        return;
    }
    /* Validate every resent update before taking any. */
    json_array_foreach(updates, i, u)
    {
        char err[ERRLEN];
        json_t *status = NULL;
        struct ag_agent_task *task = NULL;
        int code = validate_update(agent, ex, u, &status, &task, err, sizeof(err));
        json_decref(status);
        if (code) {
            ag_http_reply_error(req, code, "unacknowledged_updates[%zu]: %s", i, err);
            return;
        }
    }
    stream =
        ag_http_stream_start(req, 200, "application/json", ag_agent_executor_stream_closed, ex);
    if (!stream)
        return;
    if (ex->stream) {
        /* A re-subscription replaces the old stream. */
        struct ag_http_stream *old = ex->stream;
        ex->stream = NULL;
        ag_http_stream_end(old);
    }
    ex->stream = stream;
    adopt_tasks(ex, tasks);
    acks = json_array();
    json_array_foreach(updates, i, u)
    {
        char err[ERRLEN];
        json_t *status = ag_json_get(u, "status");
        if (accept_update(agent, ex, u, err, sizeof(err)) == 0)
            json_array_append_new(acks, json_pack("{s:O,s:O}", "task_id",
                                                  json_object_get(status, "task_id"), "uuid",
                                                  json_object_get(status, "uuid")));
        else
            ag_warn("executor '%s': dropped a resent update: %s", ex->id, err);
    }
    ag_agent_executor_subscribed(agent, ex);
    json_array_foreach(acks, i, u)
    {
        char err[64];
        send_acknowledged(ex, ag_json_get_id(u, "task_id", false, err, sizeof(err)),
                          json_string_value(json_object_get(u, "uuid")));
    }
    json_decref(acks);
}

void ag_agent_executor_stream_closed(struct ag_http_stream *stream, void *arg)
{
    struct ag_agent_executor *ex = arg;
    struct ag_agent *agent = ex->framework->agent;
    if (ex->stream != stream)
        return;
    ex->stream = NULL;
    ag_info("executor '%s' of framework '%s' disconnected", ex->id, ex->framework->id);
    /* It has as long to come back as it had to subscribe; after that it is
     * killed (its tasks then fail as REASON_EXECUTOR_TERMINATED). */
    if (ex->state == AG_AGENT_EXECUTOR_RUNNING && !agent->stopping)
        ag_timer_start(ex->registration_timer, agent->cfg.executor_registration_timeout);
}

void ag_agent_executor_api(struct ag_http_req *req, void *arg)
{
    struct ag_agent *agent = arg;
    char err[ERRLEN] = "";
    const char *body, *type, *fw_id, *ex_id;
    size_t len;
    json_t *call;
    struct ag_agent_framework *fw;
    struct ag_agent_executor *ex;
    int code;

    if (agent->recovering) {
        /* §5: executors retry until the agent has read its checkpoint. */
        ag_http_reply_error(req, 503, "Agent has not finished recovery");
        return;
    }
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
    if (!json_is_object(call)) {
        ag_http_reply_error(req, 400, "Failed to validate executor::Call: not a JSON object");
        goto out;
    }
    type = ag_json_get_string(call, "type", true, err, sizeof(err));
    if (!type) {
        ag_http_reply_error(req, 400, "Failed to validate executor::Call: %s", err);
        goto out;
    }
    if (strcmp(type, "HEARTBEAT") == 0) {
        ag_http_reply(req, 202, NULL, NULL, 0);
        goto out;
    }
    if (strcmp(type, "SUBSCRIBE") != 0 && strcmp(type, "UPDATE") != 0 &&
        strcmp(type, "MESSAGE") != 0) {
        if (strcmp(type, "UNKNOWN") == 0)
            ag_http_reply_error(req, 501, "Received 'UNKNOWN' call");
        else
            ag_http_reply_error(req, 400,
                                "Failed to validate executor::Call: unknown call type '%s'", type);
        goto out;
    }
    fw_id = ag_json_get_id(call, "framework_id", true, err, sizeof(err));
    if (!fw_id) {
        ag_http_reply_error(req, 400, "Failed to validate executor::Call: %s", err);
        goto out;
    }
    ex_id = ag_json_get_id(call, "executor_id", true, err, sizeof(err));
    if (!ex_id) {
        ag_http_reply_error(req, 400, "Failed to validate executor::Call: %s", err);
        goto out;
    }
    if (strcmp(type, "SUBSCRIBE") == 0 &&
        !ag_agent_accepts_json(ag_http_req_header(req, "Accept"))) {
        ag_http_reply_error(req, 406, "Expecting 'Accept' to allow application/json");
        goto out;
    }
    fw = ag_agent_framework_find(agent, fw_id);
    if (!fw) {
        ag_http_reply_error(req, 400, "Framework '%s' is not known to this agent", fw_id);
        goto out;
    }
    ex = ag_agent_executor_find(fw, ex_id);
    if (!ex) {
        ag_http_reply_error(req, 400, "Executor '%s' of framework '%s' is not known to this agent",
                            ex_id, fw_id);
        goto out;
    }
    if (strcmp(type, "SUBSCRIBE") == 0) {
        handle_subscribe(agent, ex, req, call);
        goto out;
    }
    if (ex->state == AG_AGENT_EXECUTOR_REGISTERING) {
        ag_http_reply_error(req, 403, "Executor is not subscribed");
        goto out;
    }
    if (strcmp(type, "UPDATE") == 0)
        handle_update(agent, ex, req, call);
    else
        handle_message(agent, ex, req, call);
out:
    json_decref(call);
}
