/*
 * command: Agora's built-in command executor (agora-executor, §5.4). The
 * agent runs one per command task; it runs the task's CommandInfo in a
 * process group of its own, reports TASK_STARTING, TASK_RUNNING and the
 * terminal state, kills on request (SIGTERM, SIGKILL after the grace
 * period), and exits once the terminal update is acknowledged.
 *
 * It runs the task's health_check and check (§3.7) with agora/health.h:
 * HTTP and TCP probes to 127.0.0.1 (the executor shares the task's
 * network namespace), COMMAND probes spawned like the task (same user,
 * environment and sandbox, a process group of their own). Health results
 * go out as TASK_RUNNING with `healthy` and
 * REASON_TASK_HEALTH_CHECK_STATUS_UPDATED; after consecutive_failures the
 * task is killed (its kill policy's grace applies) and ends TASK_KILLED
 * with healthy:false. Check results go out as TASK_RUNNING with
 * `check_status` and REASON_TASK_CHECK_STATUS_UPDATED when they change.
 * A malformed health_check or check fails the task (TASK_FAILED,
 * REASON_TASK_INVALID) before it starts.
 */
#ifndef AG_EXECUTOR_COMMAND_H
#define AG_EXECUTOR_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/proto.h"

/* Runs the executor from the MESOS_* environment; the process exit code. */
int ag_cmd_main(void);

/* --- pure helpers (tested alone) --- */

/* "Command exited with status N" / "Command terminated with signal NAME". */
void ag_cmd_exit_message(int wait_status, char *out, size_t outlen);
/* The terminal state for a wait status: KILLED when a kill was requested,
 * FINISHED for exit 0, FAILED otherwise. */
enum ag_task_state ag_cmd_terminal_state(int wait_status, bool kill_requested);
/* The kill grace period: the KILL event's kill_policy, else the TaskInfo's,
 * else 3 seconds. */
double ag_cmd_kill_grace(const json_t *kill_policy, const json_t *task);
/* argv for a CommandInfo: shell → {"/bin/sh","-c",value}; else arguments
 * (or {value}). *ret_file is the program to exec (searched in PATH when it
 * has no '/'). NULL with a message when it cannot run. Free with
 * ag_cmd_argv_free(). */
char **ag_cmd_argv(const json_t *command, const char **ret_file, char *err, size_t errlen);
void ag_cmd_argv_free(char **argv);

#endif
