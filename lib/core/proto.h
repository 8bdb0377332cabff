/*
 * proto: Mesos v1 names shared by master, agent and clients: task states
 * and their terminal-ness, the partition-aware mapping, reasons, and
 * TaskStatus construction.
 */
#ifndef AG_CORE_PROTO_H
#define AG_CORE_PROTO_H

#include <stdbool.h>

#include <jansson.h>

/* Values are the mesos.proto numbers. */
enum ag_task_state {
    AG_TASK_STARTING = 0,
    AG_TASK_RUNNING = 1,
    AG_TASK_FINISHED = 2,
    AG_TASK_FAILED = 3,
    AG_TASK_KILLED = 4,
    AG_TASK_LOST = 5,
    AG_TASK_STAGING = 6,
    AG_TASK_ERROR = 7,
    AG_TASK_KILLING = 8,
    AG_TASK_DROPPED = 9,
    AG_TASK_UNREACHABLE = 10,
    AG_TASK_GONE = 11,
    AG_TASK_GONE_BY_OPERATOR = 12,
    AG_TASK_UNKNOWN = 13,
};
#define AG_TASK_STATE_COUNT 14

/* "TASK_RUNNING" etc.; "TASK_UNKNOWN" for out-of-range values. */
const char *ag_task_state_name(enum ag_task_state state);
/* 0, or -EINVAL for a name that is not a TaskState. */
int ag_task_state_parse(const char *name, enum ag_task_state *ret);
/* Mesos isTerminalState(): FINISHED, FAILED, KILLED, ERROR, LOST, DROPPED,
 * GONE, GONE_BY_OPERATOR. */
bool ag_task_state_is_terminal(enum ag_task_state state);
/* The state a framework sees: without PARTITION_AWARE, DROPPED, GONE,
 * GONE_BY_OPERATOR, UNREACHABLE and UNKNOWN become LOST. */
enum ag_task_state ag_task_state_for(enum ag_task_state state, bool partition_aware);

/* Whether name is a TaskStatus.Reason ("REASON_TASK_INVALID", ...). */
bool ag_task_reason_valid(const char *name);
/* Whether name is a TaskStatus.Source ("SOURCE_MASTER", ...). */
bool ag_task_source_valid(const char *name);

/* A new TaskStatus object with task_id, state, source, timestamp (now), and
 * reason/message/agent_id/executor_id when non-NULL. No uuid. */
json_t *ag_task_status_new(const char *task_id, enum ag_task_state state, const char *source,
                           const char *reason, const char *message, const char *agent_id,
                           const char *executor_id);

#endif
