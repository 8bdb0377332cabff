/*
 * agent_api: POST /api/v1/agent, the agent <-> master protocol of
 * docs/agent-protocol.md. SUBSCRIBE opens the agent's event stream; UPDATE,
 * EXECUTOR_EXITED, MESSAGE and HEARTBEAT arrive as short calls carrying
 * the stream's Mesos-Stream-Id.
 */
#include "master/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/json.h"
#include "core/log.h"

static json_t *event_new(const char *type)
{
    return json_pack("{s:s}", "type", type);
}

static const char *id_of(const json_t *obj, const char *key)
{
    char e[256] = "";
    return ag_json_get_id(obj, key, false, e, sizeof(e));
}

static int fail(char *err, size_t errlen, const char *msg, const char *field)
{
    snprintf(err, errlen, msg, field);
    return -EINVAL;
}

/* --- UPDATE --- */

/* Shape of update{status, latest_state?, framework_id}; `at` names it in
 * messages ("update", or "updates[3]" in a batch). */
static int check_update(const json_t *u, const char *at, char *err, size_t errlen)
{
    char e[256] = "";
    if (!json_is_object(u)) {
        snprintf(err, errlen, "Expecting '%s' to be present as an object", at);
        return -EINVAL;
    }
    if (!ag_json_get_id(u, "framework_id", true, e, sizeof(e))) {
        snprintf(err, errlen, "Expecting '%s.framework_id' to be present as {\"value\": string}",
                 at);
        return -EINVAL;
    }
    json_t *st = ag_json_get(u, "status");
    if (!json_is_object(st)) {
        snprintf(err, errlen, "Expecting '%s.status' to be present", at);
        return -EINVAL;
    }
    if (!ag_json_get_id(st, "task_id", true, e, sizeof(e))) {
        snprintf(err, errlen, "Expecting '%s.status.task_id' to be present as {\"value\": string}",
                 at);
        return -EINVAL;
    }
    json_t *state = ag_json_get(st, "state");
    enum ag_task_state s;
    if (!json_is_string(state) || ag_task_state_parse(json_string_value(state), &s) < 0) {
        snprintf(err, errlen, "'%s.status.state' must be a TaskState name", at);
        return -EINVAL;
    }
    json_t *uuid = ag_json_get(st, "uuid");
    if (!json_is_string(uuid)) {
        snprintf(err, errlen, "Expecting '%s.status.uuid' to be present", at);
        return -EINVAL;
    }
    size_t n = 0;
    uint8_t *bytes = ag_base64_decode(json_string_value(uuid), &n);
    free(bytes);
    if (!bytes || n != 16) {
        snprintf(err, errlen, "'%s.status.uuid' must be 16 bytes in Base64", at);
        return -EINVAL;
    }
    json_t *latest = ag_json_get(u, "latest_state");
    if (latest &&
        (!json_is_string(latest) || ag_task_state_parse(json_string_value(latest), &s) < 0)) {
        snprintf(err, errlen, "'%s.latest_state' must be a TaskState name", at);
        return -EINVAL;
    }
    return 0;
}

/* An UPDATE call carries one update (`update`) or a batch (`updates`, in
 * the order the agent queued them), never both. The whole call is checked
 * before anything is applied, so a bad element changes nothing. */
static int check_update_call(const json_t *call, char *err, size_t errlen)
{
    const json_t *one = ag_json_get(call, "update");
    const json_t *many = ag_json_get(call, "updates");
    if (one && many) {
        snprintf(err, errlen, "'update' and 'updates' are exclusive");
        return -EINVAL;
    }
    if (!many)
        return check_update(one, "update", err, errlen);
    if (!json_is_array(many) || json_array_size(many) == 0 ||
        json_array_size(many) > AG_MASTER_MAX_UPDATE_BATCH) {
        snprintf(err, errlen, "'updates' must be an array of 1 to %d updates",
                 AG_MASTER_MAX_UPDATE_BATCH);
        return -EINVAL;
    }
    size_t i;
    const json_t *u;
    json_array_foreach(many, i, u)
    {
        char at[32];
        snprintf(at, sizeof(at), "updates[%zu]", i);
        if (check_update(u, at, err, errlen) < 0)
            return -EINVAL;
    }
    return 0;
}

static void handle_update(struct ag_master *m, struct ag_master_agent *a, const json_t *u)
{
    const char *fid = id_of(u, "framework_id");
    json_t *status = ag_json_get(u, "status");
    const char *tid = id_of(status, "task_id");
    const char *uuid = json_string_value(ag_json_get(status, "uuid"));
    enum ag_task_state state, latest;
    ag_task_state_parse(json_string_value(ag_json_get(status, "state")), &state);
    json_t *lv = ag_json_get(u, "latest_state");
    latest = state;
    if (lv)
        ag_task_state_parse(json_string_value(lv), &latest);
    m->metrics.msg_status_update++;

    struct ag_master_framework *fw = ag_master_fw_find(m, fid);
    if (!fw) {
        m->metrics.invalid_status_updates++;
        ag_info("agent '%s': status update for task '%s' of unknown framework '%s' dropped", a->id,
                tid, fid);
        return;
    }
    struct ag_master_task *t = ag_master_map_get(&fw->tasks, tid);
    json_t *forward = NULL;
    const struct ag_master_status *kept = NULL;
    if (!t || t->agent != a) {
        /* Still forwarded, so the scheduler's ack drains the agent's stream. */
        m->metrics.invalid_status_updates++;
        ag_info("agent '%s': status update for unknown task '%s' of framework '%s'", a->id, tid,
                fid);
    } else if (t->update_uuid && strcmp(t->update_uuid, uuid) == 0) {
        m->metrics.valid_status_updates++;
        ag_debug("agent '%s': duplicate status update for task '%s'; forwarding again", a->id, tid);
    } else {
        m->metrics.valid_status_updates++;
        /* Serialised at once; the forwarded UPDATE reuses that text. */
        kept = ag_master_task_add_status(t, json_incref(status));
        if (!kept)
            forward = json_incref(status);
        free(t->update_uuid);
        t->update_uuid = strdup(uuid);
        t->has_update_state = true;
        t->update_state = state;
        t->unreachable_time = 0;
        ag_master_task_set_state(m, t, latest);
    }
    if (fw->state == AG_MASTER_FW_CONNECTED && kept) {
        ag_master_send_update_kept(m, fw, kept, state);
    } else if (fw->state == AG_MASTER_FW_CONNECTED) {
        ag_master_send_update(m, fw, forward ? forward : json_deep_copy(status));
    } else {
        json_decref(forward);
        m->metrics.dropped_messages++;
    }
}

/* --- EXECUTOR_EXITED, MESSAGE --- */

static int check_executor_call(const json_t *p, const char *what, bool want_data, char *err,
                               size_t errlen)
{
    char e[256] = "", field[64];
    if (!json_is_object(p))
        return fail(err, errlen, "Expecting '%s' to be present", what);
    snprintf(field, sizeof(field), "%s.framework_id", what);
    if (!ag_json_get_id(p, "framework_id", true, e, sizeof(e)))
        return fail(err, errlen, "Expecting '%s' to be present as {\"value\": string}", field);
    snprintf(field, sizeof(field), "%s.executor_id", what);
    if (!ag_json_get_id(p, "executor_id", true, e, sizeof(e)))
        return fail(err, errlen, "Expecting '%s' to be present as {\"value\": string}", field);
    if (want_data) {
        snprintf(field, sizeof(field), "%s.data", what);
        json_t *d = ag_json_get(p, "data");
        if (!json_is_string(d))
            return fail(err, errlen, "Expecting '%s' to be present", field);
        size_t n;
        uint8_t *bytes = ag_base64_decode(json_string_value(d), &n);
        free(bytes);
        if (!bytes)
            return fail(err, errlen, "'%s' is not valid Base64", field);
    } else {
        double st;
        snprintf(field, sizeof(field), "%s.status", what);
        if (ag_json_get_number(p, "status", false, &st, e, sizeof(e)) == -EINVAL)
            return fail(err, errlen, "'%s' must be an integer", field);
    }
    return 0;
}

static void handle_executor_exited(struct ag_master *m, struct ag_master_agent *a, const json_t *p)
{
    const char *fid = id_of(p, "framework_id");
    const char *eid = id_of(p, "executor_id");
    double status = 0;
    char e[256] = "";
    int has_status = ag_json_get_number(p, "status", false, &status, e, sizeof(e)) == 0;
    struct ag_master_framework *fw = ag_master_fw_find(m, fid);
    if (!fw) {
        ag_info("agent '%s': executor '%s' of unknown framework '%s' exited", a->id, eid, fid);
        return;
    }
    struct ag_master_executor *x = ag_master_executor_find(a, fw, eid);
    if (x)
        ag_master_executor_remove(m, x);
    ag_info("agent '%s': executor '%s' of framework '%s' exited (status %d)", a->id, eid, fid,
            (int)status);
    if (fw->state != AG_MASTER_FW_CONNECTED)
        return;
    json_t *failure =
        json_pack("{s:o, s:o}", "agent_id", ag_json_id(a->id), "executor_id", ag_json_id(eid));
    if (has_status)
        json_object_set_new(failure, "status", json_integer((json_int_t)status));
    json_t *ev = event_new("FAILURE");
    json_object_set_new(ev, "failure", failure);
    ag_master_send_fw(m, fw, ev);
}

static void handle_message(struct ag_master *m, struct ag_master_agent *a, const json_t *p)
{
    const char *fid = id_of(p, "framework_id");
    struct ag_master_framework *fw = ag_master_fw_find(m, fid);
    if (!fw || fw->state != AG_MASTER_FW_CONNECTED) {
        m->metrics.dropped_messages++;
        return;
    }
    m->metrics.msg_executor_to_framework++;
    json_t *ev = event_new("MESSAGE");
    json_object_set_new(ev, "message",
                        json_pack("{s:o, s:O, s:O}", "agent_id", ag_json_id(a->id), "executor_id",
                                  ag_json_get(p, "executor_id"), "data", ag_json_get(p, "data")));
    ag_master_send_fw(m, fw, ev);
}

/* --- SUBSCRIBE --- */

static void on_agent_stream_close(struct ag_http_stream *stream, void *arg)
{
    struct ag_master *m = arg;
    struct ag_master_agent *a = ag_http_stream_data(stream);
    if (a && a->stream == stream)
        ag_master_agent_disconnected(m, a);
}

/* "ip" of an "ip:port" peer (IPv6 peers come as "[::1]:port" or "::1:port"). */
static void peer_ip(const char *peer, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", peer ? peer : "127.0.0.1");
    char *colon = strrchr(out, ':');
    if (colon)
        *colon = '\0';
    if (out[0] == '[') {
        memmove(out, out + 1, strlen(out));
        char *end = strchr(out, ']');
        if (end)
            *end = '\0';
    }
}

static void subscribe(struct ag_master *m, struct ag_http_req *req, const json_t *call)
{
    const json_t *payload = ag_json_get(call, "subscribe");
    char err[1024];
    if (ag_master_check_agent_subscribe(payload, err, sizeof(err)) < 0) {
        ag_http_reply_error(req, 400, "%s", err);
        return;
    }
    char ip[256];
    peer_ip(ag_http_req_peer(req), ip, sizeof(ip));
    char sid[AG_UUID_STR_LEN];
    ag_uuid_string(sid);
    ag_http_req_add_header(req, "Mesos-Stream-Id", sid);
    struct ag_http_stream *stream =
        ag_http_stream_start(req, 200, "application/json", on_agent_stream_close, m);
    if (!stream)
        return;
    if (ag_master_agent_subscribe(m, payload, ip, stream, sid, NULL, err, sizeof(err)) < 0) {
        json_t *ev = event_new("ERROR");
        json_object_set_new(ev, "error", json_pack("{s:s}", "message", err));
        ag_http_stream_send_json(stream, ev);
        json_decref(ev);
        ag_http_stream_end(stream);
    }
}

int ag_master_agent_call(struct ag_master *m, struct ag_master_agent *a, const json_t *call,
                         char *err, size_t errlen)
{
    const char *t = json_string_value(ag_json_get(call, "type"));
    int r = 0;
    if (!t) {
        snprintf(err, errlen, "Expecting 'type' to be present as a string");
        return -EINVAL;
    }
    if (strcmp(t, "UPDATE") == 0) {
        r = check_update_call(call, err, errlen);
        const json_t *many = ag_json_get(call, "updates");
        size_t i;
        const json_t *u;
        if (r == 0 && !many)
            handle_update(m, a, ag_json_get(call, "update"));
        else if (r == 0)
            json_array_foreach(many, i, u) handle_update(m, a, u);
    } else if (strcmp(t, "EXECUTOR_EXITED") == 0) {
        r = check_executor_call(ag_json_get(call, "executor_exited"), "executor_exited", false, err,
                                errlen);
        if (r == 0)
            handle_executor_exited(m, a, ag_json_get(call, "executor_exited"));
    } else if (strcmp(t, "MESSAGE") == 0) {
        r = check_executor_call(ag_json_get(call, "message"), "message", true, err, errlen);
        if (r == 0)
            handle_message(m, a, ag_json_get(call, "message"));
    } else if (strcmp(t, "HEARTBEAT") != 0) {
        snprintf(err, errlen, "'type' has an unknown value '%s'", t);
        return -EINVAL;
    }
    if (r == 0)
        ag_master_agent_alive(a);
    return r;
}

static void handle_agent(struct ag_http_req *req, void *arg)
{
    struct ag_master *m = arg;
    char err[1024] = "";
    json_t *call = ag_master_read_call(m, req);
    if (!call)
        return;
    json_t *type = json_is_object(call) ? ag_json_get(call, "type") : NULL;
    const char *t = json_is_string(type) ? json_string_value(type) : NULL;
    if (!t) {
        ag_http_reply_error(req, 400, "Expecting 'type' to be present as a string");
        goto out;
    }
    if (strcmp(t, "SUBSCRIBE") == 0) {
        if (!ag_master_accepts_json(ag_http_req_header(req, "Accept"))) {
            ag_http_reply_error(req, 406, "Expecting 'Accept' to allow 'application/json'");
            goto out;
        }
        subscribe(m, req, call);
        goto out;
    }
    bool known = strcmp(t, "UPDATE") == 0 || strcmp(t, "EXECUTOR_EXITED") == 0 ||
                 strcmp(t, "MESSAGE") == 0 || strcmp(t, "HEARTBEAT") == 0;
    if (!known) {
        ag_http_reply_error(req, 400, "'type' has an unknown value '%s'", t);
        goto out;
    }
    const char *aid = id_of(call, "agent_id");
    if (!aid) {
        ag_http_reply_error(req, 400, "Expecting 'agent_id' to be present");
        goto out;
    }
    struct ag_master_agent *a = ag_master_agent_find(m, aid);
    if (!a || a->state != AG_MASTER_AGENT_CONNECTED) {
        ag_http_reply_error(req, 403, "Agent '%s' is not subscribed", aid);
        goto out;
    }
    const char *sid = ag_http_req_header(req, "Mesos-Stream-Id");
    if (!sid) {
        ag_http_reply_error(req, 400,
                            "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
        goto out;
    }
    if (strcmp(sid, a->stream_id) != 0) {
        ag_http_reply_error(req, 400,
                            "The stream ID '%s' included in this request didn't match the "
                            "stream ID currently associated with agent ID %s",
                            sid, aid);
        goto out;
    }

    int r = ag_master_agent_call(m, a, call, err, sizeof(err));
    if (r < 0) {
        ag_http_reply_error(req, 400, "%s", err);
        goto out;
    }
    ag_http_reply(req, 202, NULL, NULL, 0);
out:
    json_decref(call);
}

void ag_master_agent_routes(struct ag_master *m)
{
    ag_http_server_route(m->http, "/api/v1/agent", handle_agent, m);
    ag_http_server_route(m->http, "/master/api/v1/agent", handle_agent, m);
}
