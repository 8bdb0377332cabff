/*
 * agora/executor.h: the C executor SDK. A custom executor (and Agora's own
 * command executor, agora-executor) talks to its agent through it over the
 * Mesos v1 executor API (POST /api/v1/executor, JSON).
 *
 * What it does for you
 *   - Reads the environment the agent gives every executor (MESOS_AGENT_ENDPOINT,
 *     MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_CHECKPOINT, ...), see
 *     ag_executor_config_from_env().
 *   - SUBSCRIBEs with a streaming POST to http://$MESOS_AGENT_ENDPOINT/api/v1/executor,
 *     decodes the RecordIO event stream and calls your callbacks, one per
 *     event type (SUBSCRIBED, LAUNCH, LAUNCH_GROUP, KILL, ACKNOWLEDGED,
 *     MESSAGE, SHUTDOWN, ERROR).
 *   - Status updates are reliable: ag_executor_send_status() gives each
 *     update a fresh uuid (unless it has one), fills source/executor_id/
 *     timestamp, and keeps it until the agent's ACKNOWLEDGED event for that
 *     uuid arrives. Unacknowledged updates are re-sent (the agent ignores
 *     duplicates), and after a reconnection they go in
 *     SUBSCRIBE.unacknowledged_updates together with the tasks that have
 *     no acknowledged update yet (unacknowledged_tasks).
 *   - Calls (UPDATE, MESSAGE) go one at a time, in order, each in its own
 *     short POST, so the agent sees a task's updates in the order sent.
 *   - When the stream breaks: with MESOS_CHECKPOINT=0 (the agent does not
 *     recover executors) the `disconnected` callback is told it is final
 *     and nothing more happens: the executor should kill its tasks and
 *     exit. With MESOS_CHECKPOINT=1 the SDK re-subscribes with backoff
 *     (capped at MESOS_SUBSCRIPTION_BACKOFF_MAX) for up to
 *     MESOS_RECOVERY_TIMEOUT, then reports a final disconnection.
 *
 * Threading: everything happens on the ag_loop you pass in; callbacks run on
 * that loop's thread. The SDK never blocks. Call ag_executor_* from the loop
 * thread only. Do not free the executor from inside one of its callbacks:
 * call ag_executor_stop() (safe anywhere) and ag_loop_stop(), then free it
 * after ag_loop_run() returns.
 *
 * JSON arguments of callbacks are borrowed (valid during the call only).
 * Errors: functions return 0 or a negative errno.
 *
 * Minimal use:
 *
 *     static void on_launch(struct ag_executor *e, const json_t *task, void *arg)
 *     {
 *         const char *id = json_string_value(
 *             json_object_get(json_object_get(task, "task_id"), "value"));
 *         ag_executor_update(e, id, "TASK_RUNNING", NULL, NULL, NULL);
 *         ... run it ...
 *         ag_executor_update(e, id, "TASK_FINISHED", NULL, "done", NULL);
 *     }
 *     ...
 *     struct ag_executor_config cfg;
 *     char err[256];
 *     if (ag_executor_config_from_env(&cfg, err, sizeof(err)) < 0) { fputs(err, stderr); exit(1); }
 *     struct ag_executor_callbacks cb = {.launch = on_launch, .disconnected = on_gone};
 *     struct ag_executor *e = ag_executor_new(loop, &cfg, &cb, NULL);
 *     ag_executor_start(e);
 *     ag_loop_run(loop);
 *     ag_executor_free(e);
 *
 * See docs/executor-sdk.md for more.
 */
#ifndef AGORA_EXECUTOR_H
#define AGORA_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ag_loop;
struct ag_executor;

/* Where and who the executor is. Strings are borrowed for the lifetime of
 * the executor object (ag_executor_new copies them). */
struct ag_executor_config {
    const char *agent_endpoint;      /* "ip:port" (MESOS_AGENT_ENDPOINT) */
    const char *framework_id;        /* MESOS_FRAMEWORK_ID */
    const char *executor_id;         /* MESOS_EXECUTOR_ID */
    const char *sandbox;             /* MESOS_SANDBOX (NULL if unknown) */
    bool checkpoint;                 /* MESOS_CHECKPOINT == "1" */
    double recovery_timeout;         /* MESOS_RECOVERY_TIMEOUT, seconds (default 15 min) */
    double subscription_backoff_max; /* MESOS_SUBSCRIPTION_BACKOFF_MAX (default 2 s) */
    double shutdown_grace_period;    /* MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD (default 5 s) */
};

/* Fills cfg from the MESOS_* environment variables. Strings point into the
 * environment. -EINVAL with a message naming the missing or bad variable. */
int ag_executor_config_from_env(struct ag_executor_config *cfg, char *err, size_t errlen);

/*
 * Callbacks; any may be NULL. Every callback receives the `arg` given to
 * ag_executor_new().
 */
struct ag_executor_callbacks {
    /* SUBSCRIBED: {executor_info, framework_info, agent_info, container_id}.
     * Called again after each re-subscription. */
    void (*subscribed)(struct ag_executor *e, const json_t *subscribed, void *arg);
    /* LAUNCH: a TaskInfo. Answer with updates (TASK_STARTING/RUNNING, or a
     * terminal one). */
    void (*launch)(struct ag_executor *e, const json_t *task, void *arg);
    /* LAUNCH_GROUP: a TaskGroupInfo {tasks: [TaskInfo...]}. */
    void (*launch_group)(struct ag_executor *e, const json_t *task_group, void *arg);
    /* KILL: end the task with a terminal update. kill_policy may be NULL. */
    void (*kill)(struct ag_executor *e, const char *task_id, const json_t *kill_policy, void *arg);
    /* ACKNOWLEDGED: the agent holds the update with this uuid (Base64). */
    void (*acknowledged)(struct ag_executor *e, const char *task_id, const char *uuid, void *arg);
    /* MESSAGE from the scheduler: decoded bytes (NUL-terminated for
     * convenience; len excludes the NUL). */
    void (*message)(struct ag_executor *e, const uint8_t *data, size_t len, void *arg);
    /* SHUTDOWN: kill every task (terminal updates) and exit within the
     * shutdown grace period. */
    void (*shutdown)(struct ag_executor *e, void *arg);
    /* ERROR event from the agent, or a refused call/subscription (then
     * `message` names the call and the agent's answer). */
    void (*error)(struct ag_executor *e, const char *message, void *arg);
    /* The stream to the agent is gone. `final`: the SDK will not reconnect
     * (MESOS_CHECKPOINT=0, recovery timed out, or the subscription was
     * refused): kill the tasks and exit. */
    void (*disconnected)(struct ag_executor *e, const char *reason, bool final, void *arg);
};

/* Creates the executor; nothing is sent until ag_executor_start(). NULL on
 * a bad config (missing endpoint or ids) or OOM. */
struct ag_executor *ag_executor_new(struct ag_loop *loop, const struct ag_executor_config *cfg,
                                    const struct ag_executor_callbacks *callbacks, void *arg);
/* Subscribes (and keeps the subscription as described above). 0 or -errno. */
int ag_executor_start(struct ag_executor *e);
/* Closes the stream, drops queued calls and stops reconnecting. No
 * callback follows. Idempotent; safe from inside callbacks. */
void ag_executor_stop(struct ag_executor *e);
/* Stops and frees. Accepts NULL. Not from inside a callback (see above).
 * A call still waiting for its answer is abandoned (its answer is ignored
 * if it ever comes). */
void ag_executor_free(struct ag_executor *e);

/* Whether SUBSCRIBED has arrived on the current stream. */
bool ag_executor_subscribed(const struct ag_executor *e);
/* From the last SUBSCRIBED (NULL before): FrameworkInfo, ExecutorInfo,
 * AgentInfo, and the container id string. */
const json_t *ag_executor_framework_info(const struct ag_executor *e);
const json_t *ag_executor_executor_info(const struct ag_executor *e);
const json_t *ag_executor_agent_info(const struct ag_executor *e);
const char *ag_executor_container_id(const struct ag_executor *e);
const char *ag_executor_framework_id(const struct ag_executor *e);
const char *ag_executor_executor_id(const struct ag_executor *e);
/* Whether the framework declared the capability (e.g. "TASK_KILLING_STATE",
 * "PARTITION_AWARE") in the FrameworkInfo of SUBSCRIBED. */
bool ag_executor_framework_capable(const struct ag_executor *e, const char *capability);

/*
 * Sends an UPDATE for `status`, a TaskStatus object with at least task_id
 * and state (borrowed; the SDK keeps a copy). It fills uuid (fresh, unless
 * present), source (SOURCE_EXECUTOR), executor_id and timestamp when
 * absent. ret_uuid (may be NULL) receives the uuid. The update is queued
 * even while disconnected. -EINVAL for a status without task_id or with a
 * state that is not a TaskState name (or TASK_STAGING); -ENOMEM.
 */
int ag_executor_send_status(struct ag_executor *e, const json_t *status, char ret_uuid[25]);
/* Convenience: builds the TaskStatus from its parts (reason and message may
 * be NULL) and sends it. */
int ag_executor_update(struct ag_executor *e, const char *task_id, const char *state,
                       const char *reason, const char *message, char ret_uuid[25]);
/* Sends a MESSAGE to the scheduler (unreliable, like Mesos). -ENOTCONN when
 * not subscribed. */
int ag_executor_send_message(struct ag_executor *e, const void *data, size_t len);
/* Whether no call is queued or waiting for its HTTP answer: an executor
 * about to exit waits for this (briefly) so that its last calls are not
 * cut off. */
bool ag_executor_idle(const struct ag_executor *e);
/* Updates sent but not acknowledged yet. */
size_t ag_executor_unacknowledged(const struct ag_executor *e);
/* Whether the update with this uuid has been acknowledged (or was never
 * sent through this executor). */
bool ag_executor_acknowledged(const struct ag_executor *e, const char *uuid);

/* --- for tests and custom transports --- */

/* Feeds stream bytes as if they came from the SUBSCRIBE response: records
 * are decoded and dispatched. -EBADMSG on a malformed stream. */
int ag_executor_feed(struct ag_executor *e, const char *data, size_t len);
/* Replaces the HTTP transport for calls (not SUBSCRIBE) with `hook`, which
 * receives each Call object (borrowed) and returns the HTTP status to
 * pretend. NULL restores HTTP. */
typedef int (*ag_executor_call_hook)(struct ag_executor *e, const json_t *call, void *arg);
void ag_executor_set_call_hook(struct ag_executor *e, ag_executor_call_hook hook, void *arg);
/* The SUBSCRIBE call the SDK would send now (new reference). */
json_t *ag_executor_subscribe_call(const struct ag_executor *e);

#endif
