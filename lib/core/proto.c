/*
 * proto: Mesos v1 task state, reason and source names (mesos.proto,
 * reference §3.9), kept as tables so logs and the wire share one spelling.
 */
#include "core/proto.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/json.h"

static const char *const state_names[AG_TASK_STATE_COUNT] = {
    [AG_TASK_STARTING] = "TASK_STARTING",
    [AG_TASK_RUNNING] = "TASK_RUNNING",
    [AG_TASK_FINISHED] = "TASK_FINISHED",
    [AG_TASK_FAILED] = "TASK_FAILED",
    [AG_TASK_KILLED] = "TASK_KILLED",
    [AG_TASK_LOST] = "TASK_LOST",
    [AG_TASK_STAGING] = "TASK_STAGING",
    [AG_TASK_ERROR] = "TASK_ERROR",
    [AG_TASK_KILLING] = "TASK_KILLING",
    [AG_TASK_DROPPED] = "TASK_DROPPED",
    [AG_TASK_UNREACHABLE] = "TASK_UNREACHABLE",
    [AG_TASK_GONE] = "TASK_GONE",
    [AG_TASK_GONE_BY_OPERATOR] = "TASK_GONE_BY_OPERATOR",
    [AG_TASK_UNKNOWN] = "TASK_UNKNOWN",
};

static const char *const reason_names[] = {
    "REASON_COMMAND_EXECUTOR_FAILED",
    "REASON_CONTAINER_LAUNCH_FAILED",
    "REASON_CONTAINER_LIMITATION",
    "REASON_CONTAINER_LIMITATION_DISK",
    "REASON_CONTAINER_LIMITATION_MEMORY",
    "REASON_CONTAINER_PREEMPTED",
    "REASON_CONTAINER_UPDATE_FAILED",
    "REASON_MAX_COMPLETION_TIME_REACHED",
    "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
    "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
    "REASON_EXECUTOR_TERMINATED",
    "REASON_EXECUTOR_UNREGISTERED",
    "REASON_FRAMEWORK_REMOVED",
    "REASON_GC_ERROR",
    "REASON_INVALID_FRAMEWORKID",
    "REASON_INVALID_OFFERS",
    "REASON_IO_SWITCHBOARD_EXITED",
    "REASON_MASTER_DISCONNECTED",
    "REASON_RECONCILIATION",
    "REASON_RESOURCES_UNKNOWN",
    "REASON_AGENT_DISCONNECTED",
    "REASON_AGENT_DRAINING",
    "REASON_AGENT_REMOVED",
    "REASON_AGENT_REMOVED_BY_OPERATOR",
    "REASON_AGENT_REREGISTERED",
    "REASON_AGENT_RESTARTED",
    "REASON_AGENT_UNKNOWN",
    "REASON_TASK_KILLED_DURING_LAUNCH",
    "REASON_TASK_CHECK_STATUS_UPDATED",
    "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
    "REASON_TASK_GROUP_INVALID",
    "REASON_TASK_GROUP_UNAUTHORIZED",
    "REASON_TASK_INVALID",
    "REASON_TASK_UNAUTHORIZED",
    "REASON_TASK_UNKNOWN",
};

static const char *const source_names[] = {
    "SOURCE_MASTER",
    "SOURCE_AGENT",
    "SOURCE_EXECUTOR",
};

const char *ag_task_state_name(enum ag_task_state state)
{
    if ((int)state < 0 || (int)state >= AG_TASK_STATE_COUNT)
        return "TASK_UNKNOWN";
    return state_names[state];
}

int ag_task_state_parse(const char *name, enum ag_task_state *ret)
{
    if (!name)
        return -EINVAL;
    for (int i = 0; i < AG_TASK_STATE_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *ret = (enum ag_task_state)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool ag_task_state_is_terminal(enum ag_task_state state)
{
    switch (state) {
    case AG_TASK_FINISHED:
    case AG_TASK_FAILED:
    case AG_TASK_KILLED:
    case AG_TASK_ERROR:
    case AG_TASK_LOST:
    case AG_TASK_DROPPED:
    case AG_TASK_GONE:
    case AG_TASK_GONE_BY_OPERATOR:
        return true;
    default:
        return false;
    }
}

enum ag_task_state ag_task_state_for(enum ag_task_state state, bool partition_aware)
{
    if (partition_aware)
        return state;
    switch (state) {
    case AG_TASK_DROPPED:
    case AG_TASK_GONE:
    case AG_TASK_GONE_BY_OPERATOR:
    case AG_TASK_UNREACHABLE:
    case AG_TASK_UNKNOWN:
        return AG_TASK_LOST;
    default:
        return state;
    }
}

static bool in_table(const char *const *table, size_t n, const char *name)
{
    if (!name)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i], name) == 0)
            return true;
    }
    return false;
}

bool ag_task_reason_valid(const char *name)
{
    return in_table(reason_names, sizeof(reason_names) / sizeof(reason_names[0]), name);
}

bool ag_task_source_valid(const char *name)
{
    return in_table(source_names, sizeof(source_names) / sizeof(source_names[0]), name);
}

json_t *ag_task_status_new(const char *task_id, enum ag_task_state state, const char *source,
                           const char *reason, const char *message, const char *agent_id,
                           const char *executor_id)
{
    struct timespec ts;
    json_t *st = json_object();
    if (!st)
        return NULL;
    clock_gettime(CLOCK_REALTIME, &ts);
    ag_json_set_id(st, "task_id", task_id ? task_id : "");
    ag_json_set_string(st, "state", ag_task_state_name(state));
    ag_json_set_string(st, "source", source);
    ag_json_set_string(st, "reason", reason);
    ag_json_set_string(st, "message", message);
    ag_json_set_id(st, "agent_id", agent_id);
    ag_json_set_id(st, "executor_id", executor_id);
    json_object_set_new(st, "timestamp", json_real((double)ts.tv_sec + ts.tv_nsec / 1e9));
    return st;
}
