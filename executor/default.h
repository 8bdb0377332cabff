/*
 * default: the default executor, agora-default-executor (see default.c):
 * runs the tasks of task groups as nested containers through the agent's
 * LAUNCH/WAIT/KILL/REMOVE_CONTAINER operator calls. The pure parts are
 * declared here for the unit tests.
 */
#ifndef AG_EXECUTOR_DEFAULT_H
#define AG_EXECUTOR_DEFAULT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/proto.h"

/* The task label that keeps a group running when this task fails. */
#define AG_DEX_KILL_ON_FAILURE_LABEL "agora.group.kill_on_failure"

/* Whether the task's failure kills the other tasks of its group: true
 * unless its labels hold agora.group.kill_on_failure=false. */
bool ag_dex_kill_on_failure(const json_t *task);
/* "Command exited with status N" / "Command terminated with signal X". */
void ag_dex_exit_message(int wait_status, char *out, size_t outlen);
/* The terminal state from a WAIT_CONTAINER answer: TASK_KILLED after a
 * kill, TASK_FAILED with a limitation reason or a non-zero end, else
 * TASK_FINISHED. */
enum ag_task_state ag_dex_terminal_state(const json_t *wait, bool kill_requested);
/* Grace period of a kill: the KILL's policy, else the task's, else 3 s. */
double ag_dex_kill_grace(const json_t *kill_policy, const json_t *task);
/* The LAUNCH_CONTAINER call for a task (new reference). */
json_t *ag_dex_launch_call(const char *container_id, const char *parent_id, const json_t *task);

int ag_dex_main(void);

#endif
