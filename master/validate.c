/*
 * validate: the pure checks of the scheduler API. Nothing here touches
 * master state: callers pass what the checks need, so the rules can be
 * unit-tested one by one. Every failure writes a message naming the field
 * or the rule into err.
 */
#include "master/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/http.h"
#include "core/json.h"

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

/* --- call types --- */

static const char *const call_names[AG_CALL_COUNT] = {
    [AG_CALL_UNKNOWN] = "UNKNOWN",
    [AG_CALL_SUBSCRIBE] = "SUBSCRIBE",
    [AG_CALL_TEARDOWN] = "TEARDOWN",
    [AG_CALL_ACCEPT] = "ACCEPT",
    [AG_CALL_DECLINE] = "DECLINE",
    [AG_CALL_REVIVE] = "REVIVE",
    [AG_CALL_KILL] = "KILL",
    [AG_CALL_SHUTDOWN] = "SHUTDOWN",
    [AG_CALL_ACKNOWLEDGE] = "ACKNOWLEDGE",
    [AG_CALL_RECONCILE] = "RECONCILE",
    [AG_CALL_MESSAGE] = "MESSAGE",
    [AG_CALL_REQUEST] = "REQUEST",
    [AG_CALL_SUPPRESS] = "SUPPRESS",
    [AG_CALL_ACCEPT_INVERSE_OFFERS] = "ACCEPT_INVERSE_OFFERS",
    [AG_CALL_DECLINE_INVERSE_OFFERS] = "DECLINE_INVERSE_OFFERS",
    [AG_CALL_ACKNOWLEDGE_OPERATION_STATUS] = "ACKNOWLEDGE_OPERATION_STATUS",
    [AG_CALL_RECONCILE_OPERATIONS] = "RECONCILE_OPERATIONS",
    [AG_CALL_UPDATE_FRAMEWORK] = "UPDATE_FRAMEWORK",
};

const char *ag_master_call_name(enum ag_master_call call)
{
    if ((unsigned)call >= AG_CALL_COUNT)
        return "UNKNOWN";
    return call_names[call];
}

int ag_master_call_parse(const char *name, enum ag_master_call *ret)
{
    for (int i = 0; i < AG_CALL_COUNT; i++) {
        if (strcmp(call_names[i], name) == 0) {
            *ret = (enum ag_master_call)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* The payload key of each call type ("accept" for ACCEPT...). */
static void payload_key(enum ag_master_call call, char *out, size_t outlen)
{
    const char *name = ag_master_call_name(call);
    size_t i = 0;
    for (; name[i] && i + 1 < outlen; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[i] = '\0';
}

/* --- content negotiation --- */

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Whether one media range ("application/json;q=0.5") admits JSON. */
static bool range_admits_json(const char *start, size_t len)
{
    char buf[256];
    if (len >= sizeof(buf))
        len = sizeof(buf) - 1;
    memcpy(buf, start, len);
    buf[len] = '\0';

    char *params = strchr(buf, ';');
    if (params)
        *params++ = '\0';
    /* trim the type */
    char *type = (char *)skip_space(buf);
    size_t tl = strlen(type);
    while (tl > 0 && (type[tl - 1] == ' ' || type[tl - 1] == '\t'))
        type[--tl] = '\0';
    if (strcasecmp(type, "application/json") != 0 && strcasecmp(type, "application/*") != 0 &&
        strcasecmp(type, "*/*") != 0)
        return false;
    /* q=0 means "not acceptable" */
    while (params) {
        char *next = strchr(params, ';');
        if (next)
            *next++ = '\0';
        const char *p = skip_space(params);
        if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            double q = strtod(p + 2, NULL);
            if (q <= 0.0)
                return false;
        }
        params = next;
    }
    return true;
}

bool ag_master_accepts_json(const char *accept)
{
    if (!accept)
        return true;
    const char *p = skip_space(accept);
    if (*p == '\0')
        return true;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (range_admits_json(p, len))
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

int ag_master_check_content_type(const char *content_type)
{
    if (!content_type)
        return -ENOENT;
    const char *p = skip_space(content_type);
    size_t n = strlen("application/json");
    if (strncasecmp(p, "application/json", n) != 0)
        return -EOPNOTSUPP;
    p = skip_space(p + n);
    if (*p == '\0' || *p == ';')
        return 0;
    return -EOPNOTSUPP;
}

const char *ag_master_read_body(struct ag_master *m, struct ag_http_req *req, size_t *ret_len)
{
    m->metrics.http_requests++;
    if (ag_http_req_method(req) != AG_HTTP_POST) {
        ag_http_req_add_header(req, "Allow", "POST");
        ag_http_reply_error(req, 405, "Expecting 'POST', received another method");
        return NULL;
    }
    int ct = ag_master_check_content_type(ag_http_req_header(req, "Content-Type"));
    if (ct == -ENOENT) {
        ag_http_reply_error(req, 400, "Expecting 'Content-Type' to be present");
        return NULL;
    }
    if (ct < 0) {
        ag_http_reply_error(req, 415, "Expecting 'Content-Type' of application/json");
        return NULL;
    }
    return ag_http_req_body(req, ret_len);
}

json_t *ag_master_parse_call(struct ag_http_req *req, const char *body, size_t len)
{
    char err[1024] = "";
    json_t *call = ag_json_parse(body, len, err, sizeof(err));
    if (!call)
        ag_http_reply_error(req, 400, "Failed to parse body into JSON: %s", err);
    return call;
}

json_t *ag_master_read_call(struct ag_master *m, struct ag_http_req *req)
{
    size_t len;
    const char *body = ag_master_read_body(m, req, &len);
    return body ? ag_master_parse_call(req, body, len) : NULL;
}

/* --- ids --- */

int ag_master_validate_id(const char *what, const char *value, char *err, size_t errlen)
{
    if (!value || value[0] == '\0')
        return fail(err, errlen, "%s must not be empty", what);
    if (strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
        return fail(err, errlen, "%s '%s' is not allowed", what, value);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p < 0x20 || *p > 0x7e)
            return fail(err, errlen, "%s '%s' must only contain printable characters", what, value);
        if (*p == '/' || *p == '\\')
            return fail(err, errlen, "%s '%s' must not contain '%c'", what, value, *p);
    }
    return 0;
}

/* --- shape helpers --- */

/* A required {"value": string} member at obj[key]; the message names path. */
static int need_id(const json_t *obj, const char *key, const char *path, char *err, size_t errlen)
{
    char e[256] = "";
    const char *v = ag_json_get_id(obj, key, true, e, sizeof(e));
    if (!v)
        return fail(err, errlen, "Expecting '%s%s' to be present as {\"value\": string}", path,
                    key);
    return 0;
}

/* An optional {"value": string} member: absent is fine, malformed is not. */
static int opt_id(const json_t *obj, const char *key, const char *path, char *err, size_t errlen)
{
    if (!ag_json_get(obj, key))
        return 0;
    return need_id(obj, key, path, err, errlen);
}

static int need_string(const json_t *obj, const char *key, const char *path, char *err,
                       size_t errlen)
{
    json_t *v = ag_json_get(obj, key);
    if (!v)
        return fail(err, errlen, "Expecting '%s%s' to be present", path, key);
    if (!json_is_string(v))
        return fail(err, errlen, "'%s%s' must be a string", path, key);
    return 0;
}

static int opt_array(const json_t *obj, const char *key, const char *path, json_t **ret, char *err,
                     size_t errlen)
{
    json_t *v = ag_json_get(obj, key);
    *ret = NULL;
    if (!v)
        return 0;
    if (!json_is_array(v))
        return fail(err, errlen, "'%s%s' must be an array", path, key);
    *ret = v;
    return 0;
}

static int need_object(const json_t *obj, const char *key, const char *path, json_t **ret,
                       char *err, size_t errlen)
{
    json_t *v = ag_json_get(obj, key);
    if (!v)
        return fail(err, errlen, "Expecting '%s%s' to be present", path, key);
    if (!json_is_object(v))
        return fail(err, errlen, "'%s%s' must be an object", path, key);
    *ret = v;
    return 0;
}

/* Every element of obj[key] (optional array) is an {"value": string}. */
static int id_array(const json_t *obj, const char *key, const char *path, bool required, char *err,
                    size_t errlen)
{
    json_t *arr;
    if (opt_array(obj, key, path, &arr, err, errlen) < 0)
        return -EINVAL;
    if (!arr) {
        if (required)
            return fail(err, errlen, "Expecting '%s%s' to be present", path, key);
        return 0;
    }
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el)
    {
        json_t *v = json_is_object(el) ? ag_json_get(el, "value") : NULL;
        if (!v || !json_is_string(v))
            return fail(err, errlen, "'%s%s[%zu]' must be {\"value\": string}", path, key, i);
    }
    return 0;
}

/* A bytes field: standard Base64. want_len > 0 also checks the length. */
static int need_bytes(const json_t *obj, const char *key, const char *path, size_t want_len,
                      char *err, size_t errlen)
{
    if (need_string(obj, key, path, err, errlen) < 0)
        return -EINVAL;
    size_t len = 0;
    uint8_t *bytes = ag_base64_decode(json_string_value(ag_json_get(obj, key)), &len);
    if (!bytes)
        return fail(err, errlen, "'%s%s' is not valid Base64", path, key);
    free(bytes);
    if (want_len && len != want_len)
        return fail(err, errlen, "'%s%s' must encode %zu bytes, not %zu", path, key, want_len, len);
    return 0;
}

static int opt_number(const json_t *obj, const char *key, const char *path, char *err,
                      size_t errlen)
{
    double d;
    char e[256] = "";
    int r = ag_json_get_number(obj, key, false, &d, e, sizeof(e));
    if (r == -EINVAL)
        return fail(err, errlen, "'%s%s' must be a number", path, key);
    return 0;
}

static int check_filters(const json_t *payload, const char *path, char *err, size_t errlen)
{
    json_t *f = ag_json_get(payload, "filters");
    if (!f)
        return 0;
    if (!json_is_object(f))
        return fail(err, errlen, "'%sfilters' must be an object", path);
    char p[64];
    snprintf(p, sizeof(p), "%sfilters.", path);
    return opt_number(f, "refuse_seconds", p, err, errlen);
}

/* Roles of REVIVE / SUPPRESS: "roles" array of strings; "role" string
 * accepted leniently (§11.1). */
static int check_roles_payload(const json_t *payload, const char *path, char *err, size_t errlen)
{
    if (!payload)
        return 0;
    if (!json_is_object(payload))
        return fail(err, errlen, "'%s' must be an object", path);
    json_t *roles;
    char p[64];
    snprintf(p, sizeof(p), "%s.", path);
    if (opt_array(payload, "roles", p, &roles, err, errlen) < 0)
        return -EINVAL;
    size_t i;
    json_t *r;
    if (roles) {
        json_array_foreach(roles, i, r)
        {
            if (!json_is_string(r))
                return fail(err, errlen, "'%s.roles[%zu]' must be a string", path, i);
        }
    }
    json_t *role = ag_json_get(payload, "role");
    if (role && !json_is_string(role))
        return fail(err, errlen, "'%s.role' must be a string", path);
    return 0;
}

/* --- operations --- */

static const char *const operation_types[] = {
    "UNKNOWN", "LAUNCH",      "LAUNCH_GROUP",  "RESERVE",     "UNRESERVE",    "CREATE",
    "DESTROY", "GROW_VOLUME", "SHRINK_VOLUME", "CREATE_DISK", "DESTROY_DISK",
};

int ag_master_check_operation_type(const char *name)
{
    for (size_t i = 1; i < sizeof(operation_types) / sizeof(operation_types[0]); i++)
        if (strcmp(name, operation_types[i]) == 0)
            return 0;
    return -EINVAL;
}

/* The required protobuf fields of a TaskInfo (a 400 in Mesos). */
static int check_task_shape(const json_t *task, const char *path, char *err, size_t errlen)
{
    if (!json_is_object(task))
        return fail(err, errlen, "'%s' must be an object", path);
    char p[192];
    snprintf(p, sizeof(p), "%s.", path);
    if (need_string(task, "name", p, err, errlen) < 0 ||
        need_id(task, "task_id", p, err, errlen) < 0 ||
        need_id(task, "agent_id", p, err, errlen) < 0)
        return -EINVAL;
    json_t *res;
    if (opt_array(task, "resources", p, &res, err, errlen) < 0)
        return -EINVAL;
    json_t *ex = ag_json_get(task, "executor");
    if (ex && !json_is_object(ex))
        return fail(err, errlen, "'%s.executor' must be an object", path);
    json_t *cmd = ag_json_get(task, "command");
    if (cmd && !json_is_object(cmd))
        return fail(err, errlen, "'%s.command' must be an object", path);
    return 0;
}

/* The optional array obj[key] of TaskInfos, each checked for shape;
 * messages name "<prefix><key>[i]...". */
static int check_tasks_shape(const json_t *obj, const char *key, const char *prefix, char *err,
                             size_t errlen)
{
    json_t *tasks, *task;
    size_t i;
    if (opt_array(obj, key, prefix, &tasks, err, errlen) < 0)
        return -EINVAL;
    json_array_foreach(tasks, i, task)
    {
        char tp[160];
        snprintf(tp, sizeof(tp), "%s%s[%zu]", prefix, key, i);
        if (check_task_shape(task, tp, err, errlen) < 0)
            return -EINVAL;
    }
    return 0;
}

static int check_operation(const json_t *op, size_t idx, char *err, size_t errlen)
{
    char path[64];
    snprintf(path, sizeof(path), "accept.operations[%zu]", idx);
    if (!json_is_object(op))
        return fail(err, errlen, "'%s' must be an object", path);
    json_t *type = ag_json_get(op, "type");
    if (!type)
        return fail(err, errlen, "Expecting '%s.type' to be present", path);
    if (!json_is_string(type) || ag_master_check_operation_type(json_string_value(type)) < 0)
        return fail(err, errlen, "'%s.type' is not a known operation type", path);
    const char *t = json_string_value(type);
    char p[96];
    snprintf(p, sizeof(p), "%s.", path);
    if (opt_id(op, "id", p, err, errlen) < 0)
        return -EINVAL;
    json_t *payload = NULL;
    if (strcmp(t, "LAUNCH") == 0) {
        if (need_object(op, "launch", p, &payload, err, errlen) < 0)
            return -EINVAL;
        snprintf(p, sizeof(p), "%s.launch.", path);
        if (check_tasks_shape(payload, "task_infos", p, err, errlen) < 0)
            return -EINVAL;
    } else if (strcmp(t, "LAUNCH_GROUP") == 0) {
        if (need_object(op, "launch_group", p, &payload, err, errlen) < 0)
            return -EINVAL;
        json_t *group = NULL;
        snprintf(p, sizeof(p), "%s.launch_group.", path);
        if (need_object(payload, "task_group", p, &group, err, errlen) < 0)
            return -EINVAL;
        snprintf(p, sizeof(p), "%s.launch_group.task_group.", path);
        if (check_tasks_shape(group, "tasks", p, err, errlen) < 0)
            return -EINVAL;
    }
    return 0;
}

/* --- calls --- */

static int check_accept(const json_t *payload, char *err, size_t errlen)
{
    if (id_array(payload, "offer_ids", "accept.", true, err, errlen) < 0)
        return -EINVAL;
    json_t *ops;
    if (opt_array(payload, "operations", "accept.", &ops, err, errlen) < 0)
        return -EINVAL;
    size_t i;
    json_t *op;
    if (ops) {
        json_array_foreach(ops, i, op)
        {
            if (check_operation(op, i, err, errlen) < 0)
                return -EINVAL;
        }
    }
    return check_filters(payload, "accept.", err, errlen);
}

static int check_reconcile(const json_t *payload, char *err, size_t errlen)
{
    json_t *tasks;
    if (opt_array(payload, "tasks", "reconcile.", &tasks, err, errlen) < 0)
        return -EINVAL;
    size_t i;
    json_t *t;
    if (!tasks)
        return 0;
    json_array_foreach(tasks, i, t)
    {
        char p[64];
        snprintf(p, sizeof(p), "reconcile.tasks[%zu].", i);
        if (!json_is_object(t))
            return fail(err, errlen, "'reconcile.tasks[%zu]' must be an object", i);
        if (need_id(t, "task_id", p, err, errlen) < 0 || opt_id(t, "agent_id", p, err, errlen) < 0)
            return -EINVAL;
    }
    return 0;
}

static int check_subscribe(const json_t *call, const json_t *payload, char *err, size_t errlen)
{
    json_t *info = NULL;
    if (need_object(payload, "framework_info", "subscribe.", &info, err, errlen) < 0)
        return -EINVAL;
    if (ag_master_check_framework_info_shape(info, err, errlen) < 0)
        return -EINVAL;
    json_t *sup;
    if (opt_array(payload, "suppressed_roles", "subscribe.", &sup, err, errlen) < 0)
        return -EINVAL;
    size_t i;
    json_t *r;
    if (sup) {
        json_array_foreach(sup, i, r)
        {
            if (!json_is_string(r))
                return fail(err, errlen, "'subscribe.suppressed_roles[%zu]' must be a string", i);
        }
    }
    char e[256] = "";
    const char *call_id = ag_json_get_id(call, "framework_id", false, e, sizeof(e));
    if (e[0])
        return fail(err, errlen, "'framework_id' must be {\"value\": string}");
    const char *info_id = ag_json_get_id(info, "id", false, e, sizeof(e));
    if (e[0])
        return fail(err, errlen, "'subscribe.framework_info.id' must be {\"value\": string}");
    if ((call_id || info_id) && !(call_id && info_id && strcmp(call_id, info_id) == 0))
        return fail(err, errlen, "'framework_id' differs from 'subscribe.framework_info.id'");
    return 0;
}

/* Validates the payload of one call type (present when required). */
static int check_payload(enum ag_master_call type, const json_t *call, const json_t *payload,
                         char *err, size_t errlen)
{
    switch (type) {
    case AG_CALL_SUBSCRIBE:
        return check_subscribe(call, payload, err, errlen);
    case AG_CALL_ACCEPT:
        return check_accept(payload, err, errlen);
    case AG_CALL_DECLINE:
        if (id_array(payload, "offer_ids", "decline.", true, err, errlen) < 0)
            return -EINVAL;
        return check_filters(payload, "decline.", err, errlen);
    case AG_CALL_ACCEPT_INVERSE_OFFERS:
        return id_array(payload, "inverse_offer_ids", "accept_inverse_offers.", false, err, errlen);
    case AG_CALL_DECLINE_INVERSE_OFFERS:
        return id_array(payload, "inverse_offer_ids", "decline_inverse_offers.", false, err,
                        errlen);
    case AG_CALL_REVIVE:
        return check_roles_payload(payload, "revive", err, errlen);
    case AG_CALL_SUPPRESS:
        return check_roles_payload(payload, "suppress", err, errlen);
    case AG_CALL_KILL:
        if (need_id(payload, "task_id", "kill.", err, errlen) < 0 ||
            opt_id(payload, "agent_id", "kill.", err, errlen) < 0)
            return -EINVAL;
        return 0;
    case AG_CALL_SHUTDOWN:
        if (need_id(payload, "executor_id", "shutdown.", err, errlen) < 0 ||
            need_id(payload, "agent_id", "shutdown.", err, errlen) < 0)
            return -EINVAL;
        return 0;
    case AG_CALL_ACKNOWLEDGE:
        if (need_id(payload, "agent_id", "acknowledge.", err, errlen) < 0 ||
            need_id(payload, "task_id", "acknowledge.", err, errlen) < 0 ||
            need_bytes(payload, "uuid", "acknowledge.", 16, err, errlen) < 0)
            return -EINVAL;
        return 0;
    case AG_CALL_ACKNOWLEDGE_OPERATION_STATUS:
        if (need_bytes(payload, "uuid", "acknowledge_operation_status.", 0, err, errlen) < 0 ||
            need_id(payload, "operation_id", "acknowledge_operation_status.", err, errlen) < 0)
            return -EINVAL;
        return 0;
    case AG_CALL_RECONCILE:
        return check_reconcile(payload, err, errlen);
    case AG_CALL_RECONCILE_OPERATIONS: {
        json_t *ops;
        return opt_array(payload, "operations", "reconcile_operations.", &ops, err, errlen);
    }
    case AG_CALL_MESSAGE:
        if (need_id(payload, "agent_id", "message.", err, errlen) < 0 ||
            need_id(payload, "executor_id", "message.", err, errlen) < 0 ||
            need_bytes(payload, "data", "message.", 0, err, errlen) < 0)
            return -EINVAL;
        return 0;
    case AG_CALL_REQUEST: {
        json_t *reqs;
        return opt_array(payload, "requests", "request.", &reqs, err, errlen);
    }
    case AG_CALL_UPDATE_FRAMEWORK: {
        json_t *info = NULL;
        if (need_object(payload, "framework_info", "update_framework.", &info, err, errlen) < 0)
            return -EINVAL;
        return ag_master_check_framework_info_shape(info, err, errlen);
    }
    case AG_CALL_TEARDOWN:
    case AG_CALL_UNKNOWN:
        return 0;
    }
    return 0;
}

/* Calls whose payload may be absent. */
static bool payload_optional(enum ag_master_call type)
{
    return type == AG_CALL_TEARDOWN || type == AG_CALL_REVIVE || type == AG_CALL_SUPPRESS ||
           type == AG_CALL_UNKNOWN;
}

int ag_master_validate_sched_call(const json_t *call, enum ag_master_call *ret_type, char *err,
                                  size_t errlen)
{
    if (!json_is_object(call))
        return fail(err, errlen, "the call must be a JSON object");
    json_t *type = ag_json_get(call, "type");
    if (!type)
        return fail(err, errlen, "Expecting 'type' to be present");
    if (!json_is_string(type))
        return fail(err, errlen, "'type' must be a string");
    enum ag_master_call t;
    if (ag_master_call_parse(json_string_value(type), &t) < 0)
        return fail(err, errlen, "'type' has an unknown value '%s'", json_string_value(type));

    if (t != AG_CALL_SUBSCRIBE && t != AG_CALL_UNKNOWN) {
        char e[256] = "";
        if (!ag_json_get_id(call, "framework_id", true, e, sizeof(e)))
            return fail(err, errlen, "Expecting 'framework_id' to be present");
    }

    char key[64];
    payload_key(t, key, sizeof(key));
    json_t *payload = ag_json_get(call, key);
    if (!payload && !payload_optional(t))
        return fail(err, errlen, "Expecting '%s' to be present", key);
    if (payload && !json_is_object(payload))
        return fail(err, errlen, "'%s' must be an object", key);
    if (check_payload(t, call, payload, err, errlen) < 0)
        return -EINVAL;
    if (t == AG_CALL_UPDATE_FRAMEWORK) {
        char e[256] = "";
        const char *fid = ag_json_get_id(call, "framework_id", false, e, sizeof(e));
        const char *iid =
            ag_json_get_id(ag_json_get(payload, "framework_info"), "id", false, e, sizeof(e));
        if (!iid || !fid || strcmp(fid, iid) != 0)
            return fail(err, errlen,
                        "'update_framework.framework_info.id' must equal 'framework_id'");
    }
    *ret_type = t;
    return 0;
}

/* --- FrameworkInfo --- */

void ag_master_fwinfo_release(struct ag_master_fwinfo *fi)
{
    for (size_t i = 0; i < fi->n_roles; i++)
        free(fi->roles[i]);
    free(fi->roles);
    memset(fi, 0, sizeof(*fi));
}

int ag_master_check_framework_info_shape(const json_t *info, char *err, size_t errlen)
{
    const char *p = "framework_info.";
    if (!json_is_object(info))
        return fail(err, errlen, "'framework_info' must be an object");
    if (need_string(info, "user", p, err, errlen) < 0 ||
        need_string(info, "name", p, err, errlen) < 0)
        return -EINVAL;
    if (opt_id(info, "id", p, err, errlen) < 0)
        return -EINVAL;
    json_t *v = ag_json_get(info, "role");
    if (v && !json_is_string(v))
        return fail(err, errlen, "'framework_info.role' must be a string");
    json_t *roles;
    if (opt_array(info, "roles", p, &roles, err, errlen) < 0)
        return -EINVAL;
    size_t i;
    json_t *r;
    if (roles) {
        json_array_foreach(roles, i, r)
        {
            if (!json_is_string(r))
                return fail(err, errlen, "'framework_info.roles[%zu]' must be a string", i);
        }
    }
    json_t *caps;
    if (opt_array(info, "capabilities", p, &caps, err, errlen) < 0)
        return -EINVAL;
    if (caps) {
        json_array_foreach(caps, i, r)
        {
            if (!json_is_object(r))
                return fail(err, errlen, "'framework_info.capabilities[%zu]' must be an object", i);
        }
    }
    if (opt_number(info, "failover_timeout", p, err, errlen) < 0)
        return -EINVAL;
    bool b;
    char e[256] = "";
    if (ag_json_get_bool(info, "checkpoint", false, &b, e, sizeof(e)) == -EINVAL)
        return fail(err, errlen, "'framework_info.checkpoint' must be a boolean");
    const char *strs[] = {"hostname", "principal", "webui_url"};
    for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
        v = ag_json_get(info, strs[k]);
        if (v && !json_is_string(v))
            return fail(err, errlen, "'framework_info.%s' must be a string", strs[k]);
    }
    return 0;
}

static const struct {
    const char *name;
    unsigned bit;
} cap_names[] = {
    {"REVOCABLE_RESOURCES", AG_CAP_REVOCABLE_RESOURCES},
    {"TASK_KILLING_STATE", AG_CAP_TASK_KILLING_STATE},
    {"GPU_RESOURCES", AG_CAP_GPU_RESOURCES},
    {"SHARED_RESOURCES", AG_CAP_SHARED_RESOURCES},
    {"PARTITION_AWARE", AG_CAP_PARTITION_AWARE},
    {"MULTI_ROLE", AG_CAP_MULTI_ROLE},
    {"RESERVATION_REFINEMENT", AG_CAP_RESERVATION_REFINEMENT},
    {"REGION_AWARE", AG_CAP_REGION_AWARE},
};

/* Capabilities as bits; unknown names are dropped as Mesos drops unknown
 * values of an optional enum. */
static unsigned parse_caps(const json_t *info)
{
    unsigned caps = 0;
    json_t *arr = ag_json_get(info, "capabilities");
    size_t i;
    json_t *c;
    if (!json_is_array(arr))
        return 0;
    json_array_foreach(arr, i, c)
    {
        json_t *t = ag_json_get(c, "type");
        if (!json_is_string(t))
            continue;
        for (size_t k = 0; k < sizeof(cap_names) / sizeof(cap_names[0]); k++)
            if (strcmp(json_string_value(t), cap_names[k].name) == 0)
                caps |= cap_names[k].bit;
    }
    return caps;
}

/* Appends a role; fi->roles was sized for every role up front. */
static int add_role(struct ag_master_fwinfo *fi, const char *role)
{
    fi->roles[fi->n_roles] = strdup(role);
    if (!fi->roles[fi->n_roles])
        return -ENOMEM;
    fi->n_roles++;
    return 0;
}

int ag_master_validate_framework_info(const json_t *info, const json_t *suppressed_roles,
                                      struct ag_master_fwinfo *ret, char *err, size_t errlen)
{
    struct ag_master_fwinfo fi = {0};
    struct ag_master_map set; /* the roles seen: sets keep big lists linear */
    ag_master_map_init(&set);
    fi.caps = parse_caps(info);
    json_t *role = ag_json_get(info, "role");
    json_t *roles = ag_json_get(info, "roles");
    fi.roles = calloc(json_array_size(roles) + 1, sizeof(*fi.roles));
    if (!fi.roles)
        return fail(err, errlen, "out of memory");
    size_t i;
    json_t *r;
    char e[256];

    if (fi.caps & AG_CAP_MULTI_ROLE) {
        if (role) {
            fail(err, errlen,
                 "'FrameworkInfo.role' must not be set for MULTI_ROLE frameworks; use 'roles'");
            goto bad;
        }
        json_array_foreach(roles, i, r)
        {
            const char *name = json_string_value(r);
            if (!name) {
                fail(err, errlen, "'FrameworkInfo.roles[%zu]' must be a string", i);
                goto bad;
            }
            if (ag_role_validate(name, e, sizeof(e)) < 0) {
                fail(err, errlen, "invalid role '%s' in 'FrameworkInfo.roles': %s", name, e);
                goto bad;
            }
            if (ag_master_map_has(&set, name)) {
                fail(err, errlen, "'FrameworkInfo.roles' contains duplicate role '%s'", name);
                goto bad;
            }
            if (ag_master_map_put(&set, name, NULL) < 0 || add_role(&fi, name) < 0) {
                fail(err, errlen, "out of memory");
                goto bad;
            }
        }
    } else {
        if (roles && json_array_size(roles) > 0) {
            fail(err, errlen,
                 "'FrameworkInfo.roles' requires the MULTI_ROLE capability (use 'role' "
                 "otherwise)");
            goto bad;
        }
        const char *name = role ? json_string_value(role) : "*";
        if (!name) {
            fail(err, errlen, "'FrameworkInfo.role' must be a string");
            goto bad;
        }
        if (ag_role_validate(name, e, sizeof(e)) < 0) {
            fail(err, errlen, "invalid role '%s' in 'FrameworkInfo.role': %s", name, e);
            goto bad;
        }
        if (ag_master_map_put(&set, name, NULL) < 0 || add_role(&fi, name) < 0) {
            fail(err, errlen, "out of memory");
            goto bad;
        }
    }

    json_array_foreach(suppressed_roles, i, r)
    {
        const char *name = json_string_value(r);
        if (!name || !ag_master_map_has(&set, name)) {
            fail(err, errlen, "suppressed role '%s' is not one of the framework's roles",
                 name ? name : "?");
            goto bad;
        }
    }
    ag_master_map_release(&set);
    *ret = fi;
    return 0;
bad:
    ag_master_map_release(&set);
    ag_master_fwinfo_release(&fi);
    return -EINVAL;
}

/* --- ACCEPT offers --- */

int ag_master_validate_offers(const char *framework_id, const char *const *offer_ids,
                              const struct ag_master_offer_ref *const *offers, size_t n, char *err,
                              size_t errlen)
{
    if (n == 0)
        return fail(err, errlen, "no offers specified");
    /* A set, not a pairwise scan: a call may name tens of thousands. */
    struct ag_master_map seen;
    ag_master_map_init(&seen);
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (ag_master_map_has(&seen, offer_ids[i]))
            r = fail(err, errlen, "offer '%s' appears more than once", offer_ids[i]);
        else if (ag_master_map_put(&seen, offer_ids[i], NULL) < 0)
            r = fail(err, errlen, "out of memory");
        else if (!offers[i])
            r = fail(err, errlen, "offer '%s' is no longer valid", offer_ids[i]);
        else if (strcmp(offers[i]->framework_id, framework_id) != 0)
            r = fail(err, errlen, "offer '%s' is not an offer of framework '%s'", offer_ids[i],
                     framework_id);
    }
    ag_master_map_release(&seen);
    if (r < 0)
        return r;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(offers[i]->agent_id, offers[0]->agent_id) != 0)
            return fail(err, errlen, "offers '%s' and '%s' are for different agents", offer_ids[0],
                        offer_ids[i]);
        if (strcmp(offers[i]->role, offers[0]->role) != 0)
            return fail(err, errlen, "offers '%s' and '%s' are allocated to different roles",
                        offer_ids[0], offer_ids[i]);
    }
    return 0;
}

/* --- TaskInfo --- */

void ag_master_task_check_release(struct ag_master_task_check *tc)
{
    ag_resources_release(&tc->task_resources);
    ag_resources_release(&tc->executor_resources);
    json_decref(tc->executor);
    json_decref(tc->task);
    memset(tc, 0, sizeof(*tc));
}

/* Parses resources[] of a task or executor, checks their allocation role
 * against the offers' role and fills it in where absent. */
static int parse_role_resources(const json_t *obj, const char *what, const char *role,
                                struct ag_resources *ret, char *err, size_t errlen)
{
    json_t *arr = ag_json_get(obj, "resources");
    char e[256] = "";
    ag_resources_init(ret);
    if (!arr)
        return 0;
    if (ag_resources_from_json(arr, ret, e, sizeof(e)) < 0)
        return fail(err, errlen, "invalid %s resources: %s", what, e);
    for (size_t i = 0; i < ret->n; i++) {
        const char *ar = ret->items[i].allocation_role;
        if (ar && strcmp(ar, role) != 0) {
            fail(err, errlen,
                 "%s resource '%s' is allocated to role '%s' but the offers are for role '%s'",
                 what, ret->items[i].name, ar, role);
            ag_resources_release(ret);
            return -EINVAL;
        }
        for (size_t k = 0; k < ret->n; k++) {
            if (k != i && strcmp(ret->items[k].name, ret->items[i].name) == 0 &&
                ret->items[k].revocable != ret->items[i].revocable) {
                char name[128];
                snprintf(name, sizeof(name), "%s", ret->items[i].name);
                ag_resources_release(ret);
                return fail(err, errlen, "%s mixes revocable and non-revocable '%s' resources",
                            what, name);
            }
        }
    }
    if (ag_resources_set_allocation_role(ret, role) < 0) {
        ag_resources_release(ret);
        return fail(err, errlen, "out of memory");
    }
    return 0;
}

static int check_kill_policy(const json_t *task, char *err, size_t errlen)
{
    json_t *kp = ag_json_get(task, "kill_policy");
    if (!kp)
        return 0;
    json_t *gp = ag_json_get(kp, "grace_period");
    if (!gp)
        return 0;
    double ns;
    char e[256] = "";
    int r = ag_json_get_number(gp, "nanoseconds", false, &ns, e, sizeof(e));
    if (r == -EINVAL)
        return fail(err, errlen, "'kill_policy.grace_period.nanoseconds' must be a number");
    if (r == 0 && ns < 0)
        return fail(err, errlen, "task's 'kill_policy.grace_period' must be non-negative");
    return 0;
}

/* Validates and normalises the task's ExecutorInfo. */
static int check_executor(const json_t *exec, const struct ag_master_task_ctx *ctx,
                          struct ag_master_task_check *tc, bool group, char *err, size_t errlen)
{
    char e[256] = "";
    if (!json_is_object(exec))
        return fail(err, errlen, "'executor' must be an object");
    const char *eid = ag_json_get_id(exec, "executor_id", true, e, sizeof(e));
    if (!eid)
        return fail(err, errlen, "'executor.executor_id' must be present as {\"value\": string}");
    if (ag_master_validate_id("executor id", eid, err, errlen) < 0)
        return -EINVAL;
    const char *fid = ag_json_get_id(exec, "framework_id", false, e, sizeof(e));
    if (e[0])
        return fail(err, errlen, "'executor.framework_id' must be {\"value\": string}");
    if (fid && strcmp(fid, ctx->framework_id) != 0)
        return fail(err, errlen, "executor '%s' names framework '%s', not '%s'", eid, fid,
                    ctx->framework_id);
    json_t *type = ag_json_get(exec, "type");
    const char *ts = json_is_string(type) ? json_string_value(type) : NULL;
    if (ts && strcmp(ts, "DEFAULT") != 0 && strcmp(ts, "CUSTOM") != 0)
        return fail(err, errlen, "executor '%s' has an unknown 'type' '%s'", eid, ts);
    if (group && (!ts || strcmp(ts, "DEFAULT") != 0))
        return fail(err, errlen,
                    "LAUNCH_GROUP needs an executor of type DEFAULT; executor '%s' is of type "
                    "%s (custom executors for task groups are not supported)",
                    eid, ts ? ts : "CUSTOM");
    if (!group && ts && strcmp(ts, "DEFAULT") == 0)
        return fail(err, errlen,
                    "executor '%s' of type DEFAULT can only run task groups (LAUNCH_GROUP)", eid);
    if (group && ag_json_get(exec, "command"))
        return fail(err, errlen, "executor '%s' of type DEFAULT must not have a 'command'", eid);
    if (!group && !ag_json_get(exec, "command"))
        return fail(err, errlen, "executor '%s' has no 'command'", eid);

    if (parse_role_resources(exec, "executor", ctx->role, &tc->executor_resources, err, errlen) < 0)
        return -EINVAL;
    json_t *norm = json_deep_copy(exec);
    if (!norm)
        return fail(err, errlen, "out of memory");
    ag_json_set_id(norm, "framework_id", ctx->framework_id);
    if (tc->executor_resources.n > 0)
        json_object_set_new(
            norm, "resources",
            ag_resources_to_json(&tc->executor_resources, AG_RESOURCES_POST_REFINEMENT));
    else
        json_object_del(norm, "resources");
    tc->executor = norm;

    const json_t *existing = ctx->find_executor ? ctx->find_executor(ctx->arg, eid) : NULL;
    if (existing) {
        if (!json_equal((json_t *)existing, norm))
            return fail(err, errlen,
                        "ExecutorInfo of executor '%s' differs from the one already running "
                        "on agent '%s'",
                        eid, ctx->agent_id);
        tc->new_executor = false;
        ag_resources_clear(&tc->executor_resources);
    } else {
        tc->new_executor = true;
    }
    return 0;
}

int ag_master_validate_task(const json_t *task, const struct ag_master_task_ctx *ctx,
                            struct ag_master_task_check *ret, char *err, size_t errlen)
{
    struct ag_master_task_check tc;
    memset(&tc, 0, sizeof(tc));
    ag_resources_init(&tc.task_resources);
    ag_resources_init(&tc.executor_resources);
    char e[256] = "";

    const char *tid = ag_json_get_id(task, "task_id", true, e, sizeof(e));
    if (!tid) {
        fail(err, errlen, "'task_id' must be present as {\"value\": string}");
        goto bad;
    }
    if (ag_master_validate_id("task id", tid, err, errlen) < 0)
        goto bad;
    if (ctx->task_exists && ctx->task_exists(ctx->arg, tid)) {
        fail(err, errlen, "task id '%s' is already in use by another task of the framework", tid);
        goto bad;
    }
    const char *aid = ag_json_get_id(task, "agent_id", true, e, sizeof(e));
    if (!aid) {
        fail(err, errlen, "'agent_id' must be present as {\"value\": string}");
        goto bad;
    }
    if (strcmp(aid, ctx->agent_id) != 0) {
        fail(err, errlen, "task uses agent '%s' but the offers are for agent '%s'", aid,
             ctx->agent_id);
        goto bad;
    }
    json_t *exec = ag_json_get(task, "executor");
    json_t *cmd = ag_json_get(task, "command");
    if (exec && cmd) {
        fail(err, errlen,
             "task should have either CommandInfo or ExecutorInfo present but "
             "not both");
        goto bad;
    }
    if (!exec && !cmd) {
        fail(err, errlen,
             "task should have at least one (but not both) of CommandInfo or "
             "ExecutorInfo present");
        goto bad;
    }
    if (check_kill_policy(task, err, errlen) < 0)
        goto bad;
    if (parse_role_resources(task, "task", ctx->role, &tc.task_resources, err, errlen) < 0)
        goto bad;
    if (ag_resources_empty(&tc.task_resources)) {
        fail(err, errlen, "task uses no resources");
        goto bad;
    }
    if (exec && check_executor(exec, ctx, &tc, false, err, errlen) < 0)
        goto bad;

    struct ag_resources need;
    ag_resources_init(&need);
    if (ag_resources_add(&need, &tc.task_resources) < 0 ||
        ag_resources_add(&need, &tc.executor_resources) < 0) {
        ag_resources_release(&need);
        fail(err, errlen, "out of memory");
        goto bad;
    }
    if (!ag_resources_contains(ctx->available, &need)) {
        char *want = ag_resources_string(&need);
        char *have = ag_resources_string(ctx->available);
        fail(err, errlen, "task uses more resources (%s) than available in the offers (%s)",
             want ? want : "?", have ? have : "?");
        free(want);
        free(have);
        ag_resources_release(&need);
        goto bad;
    }
    ag_resources_release(&need);

    tc.task = json_deep_copy(task);
    if (!tc.task) {
        fail(err, errlen, "out of memory");
        goto bad;
    }
    json_object_set_new(tc.task, "resources",
                        ag_resources_to_json(&tc.task_resources, AG_RESOURCES_POST_REFINEMENT));
    if (tc.executor)
        json_object_set(tc.task, "executor", tc.executor);
    *ret = tc;
    return 0;
bad:
    ag_master_task_check_release(&tc);
    return -EINVAL;
}

/* --- TaskGroupInfo (LAUNCH_GROUP) --- */

void ag_master_group_check_release(struct ag_master_group_check *gc)
{
    for (size_t i = 0; i < gc->n; i++)
        ag_master_task_check_release(&gc->tasks[i]);
    free(gc->tasks);
    ag_master_task_check_release(&gc->exec);
    memset(gc, 0, sizeof(*gc));
}

/* One task of a group: a command of its own, no executor, and the checks
 * of a LAUNCH task. Messages name the task. */
static int check_group_task(const json_t *task, size_t idx, const struct ag_master_task_ctx *ctx,
                            struct ag_master_task_check *ret, char *err, size_t errlen)
{
    char e[256] = "", inner[768] = "";
    const char *tid = ag_json_get_id(task, "task_id", false, e, sizeof(e));
    char name[160];
    snprintf(name, sizeof(name), "task '%s'", tid ? tid : "?");
    if (!tid)
        snprintf(name, sizeof(name), "task_group.tasks[%zu]", idx);
    if (ag_json_get(task, "executor"))
        return fail(err, errlen,
                    "%s: a task of a task group must not have an 'executor' (the group's "
                    "executor runs it)",
                    name);
    if (!json_is_object(ag_json_get(task, "command")))
        return fail(err, errlen, "%s: a task of a task group needs a 'command'", name);
    if (ag_master_validate_task(task, ctx, ret, inner, sizeof(inner)) < 0)
        return fail(err, errlen, "%s: %s", name, inner);
    return 0;
}

int ag_master_validate_group(const json_t *executor, const json_t *tasks,
                             const struct ag_master_task_ctx *ctx,
                             struct ag_master_group_check *ret, char *err, size_t errlen)
{
    struct ag_master_group_check gc;
    struct ag_master_map seen;
    struct ag_resources need;
    size_t n = json_array_size(tasks);
    int r = -EINVAL;

    memset(&gc, 0, sizeof(gc));
    ag_master_map_init(&seen);
    ag_resources_init(&need);
    if (!executor) {
        fail(err, errlen, "LAUNCH_GROUP needs an 'executor' (of type DEFAULT)");
        goto out;
    }
    if (n == 0) {
        fail(err, errlen, "the task group has no tasks");
        goto out;
    }
    if (check_executor(executor, ctx, &gc.exec, true, err, errlen) < 0)
        goto out;
    gc.tasks = calloc(n, sizeof(*gc.tasks));
    if (!gc.tasks) {
        fail(err, errlen, "out of memory");
        goto out;
    }
    if (ag_resources_add(&need, &gc.exec.executor_resources) < 0)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const json_t *task = json_array_get(tasks, i);
        char e[256] = "";
        const char *tid = ag_json_get_id(task, "task_id", false, e, sizeof(e));
        if (tid && ag_master_map_has(&seen, tid)) {
            fail(err, errlen, "task id '%s' appears more than once in the task group", tid);
            goto out;
        }
        if (check_group_task(task, i, ctx, &gc.tasks[i], err, errlen) < 0)
            goto out;
        gc.n++;
        if (ag_master_map_put(&seen, tid, NULL) < 0 ||
            ag_resources_add(&need, &gc.tasks[i].task_resources) < 0)
            goto oom;
    }
    if (!ag_resources_contains(ctx->available, &need)) {
        char *want = ag_resources_string(&need);
        char *have = ag_resources_string(ctx->available);
        fail(err, errlen,
             "the task group and its executor use more resources (%s) than available in the "
             "offers (%s)",
             want ? want : "?", have ? have : "?");
        free(want);
        free(have);
        goto out;
    }
    *ret = gc;
    memset(&gc, 0, sizeof(gc));
    r = 0;
    goto out;
oom:
    fail(err, errlen, "out of memory");
out:
    ag_resources_release(&need);
    ag_master_map_release(&seen);
    ag_master_group_check_release(&gc);
    return r;
}
