/*
 * agent: the daemon's state machine. It owns frameworks, executors and
 * tasks; reacts to the master's events (LAUNCH, KILL, ACKNOWLEDGE,
 * SHUTDOWN_*, MESSAGE); launches and reaps executor processes; and feeds
 * status updates to the status update manager.
 *
 * Task life on the agent: queued (waiting for its executor to subscribe)
 * → launched (handed to the executor; also where terminal tasks wait for
 * the master's acknowledgement) → completed (terminal update acknowledged).
 * Executor life: REGISTERING → RUNNING → TERMINATING → TERMINATED, then
 * completed once its tasks are. A framework is completed when it has no
 * live executor left.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/internal.h"
#include "agent/sandboxes.h"
#include "core/flags.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"

extern char **environ;

#define EXECUTOR_HEARTBEAT_INTERVAL 30.0
#define REAP_INTERVAL               1.0
#define STOP_GRACE_MAX              2.0

/* ------------------------------------------------------------------ */
/* lookups                                                             */

struct ag_agent_framework *ag_agent_framework_find(struct ag_agent *agent, const char *id)
{
    struct ag_agent_list *pos, *tmp;
    if (!id)
        return NULL;
    ag_agent_list_for_each(pos, tmp, &agent->frameworks)
    {
        struct ag_agent_framework *fw = ag_agent_list_entry(pos, struct ag_agent_framework, node);
        if (strcmp(fw->id, id) == 0)
            return fw;
    }
    return NULL;
}

struct ag_agent_executor *ag_agent_executor_find(struct ag_agent_framework *fw, const char *id)
{
    struct ag_agent_list *pos, *tmp;
    if (!fw || !id)
        return NULL;
    if (!fw->executors_by_id.broken) {
        struct ag_agent_executor *ex = ag_agent_index_get(&fw->executors_by_id, id);
        return ex && !ex->done ? ex : NULL;
    }
    ag_agent_list_for_each(pos, tmp, &fw->executors)
    {
        struct ag_agent_executor *ex = ag_agent_list_entry(pos, struct ag_agent_executor, node);
        if (strcmp(ex->id, id) == 0)
            return ex;
    }
    return NULL;
}

static struct ag_agent_task *task_in(struct ag_agent_list *head, const char *task_id)
{
    struct ag_agent_list *pos, *tmp;
    ag_agent_list_for_each(pos, tmp, head)
    {
        struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
        if (strcmp(t->id, task_id) == 0)
            return t;
    }
    return NULL;
}

struct ag_agent_task *ag_agent_executor_task(struct ag_agent_executor *ex, const char *task_id)
{
    struct ag_agent_task *t = task_in(&ex->queued, task_id);
    return t ? t : task_in(&ex->launched, task_id);
}

/* Whether t is on its executor's queued or launched list (recovery moves
 * tasks straight to the completed list, past the index). */
static bool task_live(const struct ag_agent_task *t)
{
    const struct ag_agent_executor *ex = t->executor;
    const struct ag_agent_list *p = t->node.next;

    if (ex->done)
        return false;
    while (p != &ex->queued && p != &ex->launched && p != &ex->completed && p != &t->node)
        p = p->next;
    return p == &ex->queued || p == &ex->launched;
}

struct ag_agent_task *ag_agent_task_find(struct ag_agent_framework *fw, const char *task_id)
{
    struct ag_agent_list *pos, *tmp;
    if (!fw || !task_id)
        return NULL;
    if (!fw->tasks_by_id.broken) {
        struct ag_agent_task *t = ag_agent_index_get(&fw->tasks_by_id, task_id);
        return t && task_live(t) ? t : NULL;
    }
    ag_agent_list_for_each(pos, tmp, &fw->executors)
    {
        struct ag_agent_executor *ex = ag_agent_list_entry(pos, struct ag_agent_executor, node);
        struct ag_agent_task *t = ag_agent_executor_task(ex, task_id);
        if (t)
            return t;
    }
    return NULL;
}

bool ag_agent_framework_capable(const struct ag_agent_framework *fw, const char *capability)
{
    json_t *caps = ag_json_get(fw->info, "capabilities");
    json_t *c;
    size_t i;
    json_array_foreach(caps, i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        if (type && strcmp(type, capability) == 0)
            return true;
    }
    return false;
}

const char *ag_agent_framework_role(const struct ag_agent_framework *fw)
{
    json_t *roles = ag_json_get(fw->info, "roles");
    const char *role;
    if (json_array_size(roles) > 0 && json_is_string(json_array_get(roles, 0)))
        return json_string_value(json_array_get(roles, 0));
    role = json_string_value(ag_json_get(fw->info, "role"));
    return role ? role : "*";
}

/* ------------------------------------------------------------------ */
/* object lifetimes                                                    */

static void task_free(struct ag_agent_task *t)
{
    if (!t)
        return;
    ag_agent_index_del(&t->executor->framework->tasks_by_id, t->id, t);
    ag_agent_list_del(&t->node);
    free(t->id);
    json_decref(t->info);
    json_decref(t->statuses);
    json_decref(t->group);
    ag_resources_release(&t->resources);
    free(t);
}

static void free_tasks(struct ag_agent_list *head)
{
    struct ag_agent_list *pos, *tmp;
    ag_agent_list_for_each(pos, tmp, head)
        task_free(ag_agent_list_entry(pos, struct ag_agent_task, node));
}

static void executor_free(struct ag_agent_executor *ex)
{
    if (!ex)
        return;
    ag_agent_index_del(&ex->framework->executors_by_id, ex->id, ex);
    ag_agent_list_del(&ex->node);
    if (ex->stream) {
        struct ag_http_stream *s = ex->stream;
        ex->stream = NULL;
        ag_http_stream_end(s);
    }
    ag_timer_free(ex->registration_timer);
    ag_timer_free(ex->kill_timer);
    ag_agent_reap_unwatch(ex);
    json_decref(ex->pending_kills);
    free_tasks(&ex->queued);
    free_tasks(&ex->launched);
    free_tasks(&ex->completed);
    if (ex->left) { /* a SIGTERM stop: the next agent recovers it */
        ag_agent_nested_release(ex->framework->agent, ex);
        ag_cz_release(ex->framework->agent->cz, ex->container);
    } else {
        ag_agent_nested_executor_gone(ex->framework->agent, ex);
        if (ex->container)
            ag_cz_destroy(ex->framework->agent->cz, ex->container);
    }
    free(ex->id);
    free(ex->directory);
    json_decref(ex->info);
    ag_resources_release(&ex->resources);
    free(ex);
}

static void framework_free(struct ag_agent_framework *fw)
{
    struct ag_agent_list *pos, *tmp;
    if (!fw)
        return;
    ag_agent_list_del(&fw->node);
    ag_agent_list_for_each(pos, tmp, &fw->executors)
        executor_free(ag_agent_list_entry(pos, struct ag_agent_executor, node));
    ag_agent_list_for_each(pos, tmp, &fw->completed_executors)
        executor_free(ag_agent_list_entry(pos, struct ag_agent_executor, node));
    ag_agent_index_release(&fw->executors_by_id);
    ag_agent_index_release(&fw->tasks_by_id);
    free(fw->id);
    json_decref(fw->info);
    free(fw);
}

static struct ag_agent_framework *framework_get(struct ag_agent *agent, const char *id,
                                                const json_t *info)
{
    struct ag_agent_framework *fw = ag_agent_framework_find(agent, id);
    if (fw) {
        if (info) {
            json_decref(fw->info);
            fw->info = json_deep_copy(info);
        }
        return fw;
    }
    fw = calloc(1, sizeof(*fw));
    if (!fw)
        return NULL;
    fw->agent = agent;
    fw->id = ag_agent_strdup(id);
    fw->info = info ? json_deep_copy(info) : json_object();
    ag_agent_list_init(&fw->executors);
    ag_agent_list_init(&fw->completed_executors);
    ag_agent_index_init(&fw->executors_by_id);
    ag_agent_index_init(&fw->tasks_by_id);
    ag_agent_list_add_tail(&agent->frameworks, &fw->node);
    return fw;
}

static void framework_maybe_complete(struct ag_agent *agent, struct ag_agent_framework *fw)
{
    if (fw->done || !ag_agent_list_empty(&fw->executors))
        return;
    fw->done = true;
    ag_info("framework '%s' has no executors left; completed", fw->id);
    ag_agent_list_del(&fw->node);
    ag_agent_list_add_tail(&agent->completed_frameworks, &fw->node);
    if (++agent->n_completed_frameworks > AG_AGENT_MAX_COMPLETED_FRAMEWORKS) {
        framework_free(
            ag_agent_list_entry(agent->completed_frameworks.next, struct ag_agent_framework, node));
        agent->n_completed_frameworks--;
    }
}

static bool executor_has_live_tasks(const struct ag_agent_executor *ex)
{
    return !ag_agent_list_empty(&ex->queued) || !ag_agent_list_empty(&ex->launched);
}

/* A terminated executor whose tasks are all completed becomes completed. */
static void executor_maybe_complete(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    struct ag_agent_framework *fw = ex->framework;
    if (ex->done || ex->state != AG_AGENT_EXECUTOR_TERMINATED || executor_has_live_tasks(ex))
        return;
    ex->done = true;
    ag_agent_index_del(&fw->executors_by_id, ex->id, ex);
    ag_agent_ckpt_executor_done(agent, ex);
    ag_agent_list_del(&ex->node);
    ag_agent_list_add_tail(&fw->completed_executors, &ex->node);
    if (++fw->n_completed_executors > AG_AGENT_MAX_COMPLETED_EXECUTORS) {
        executor_free(
            ag_agent_list_entry(fw->completed_executors.next, struct ag_agent_executor, node));
        fw->n_completed_executors--;
    }
    framework_maybe_complete(agent, fw);
}

/* Moves a terminal task to the executor's completed list. */
static void task_complete(struct ag_agent *agent, struct ag_agent_task *t)
{
    struct ag_agent_executor *ex = t->executor;
    ag_agent_index_del(&ex->framework->tasks_by_id, t->id, t);
    ag_agent_list_del(&t->node);
    ag_agent_list_add_tail(&ex->completed, &t->node);
    if (++ex->n_completed > AG_AGENT_MAX_COMPLETED_TASKS) {
        task_free(ag_agent_list_entry(ex->completed.next, struct ag_agent_task, node));
        ex->n_completed--;
    }
    executor_maybe_complete(agent, ex);
}

/* ------------------------------------------------------------------ */
/* status updates                                                      */

static void count_terminal(struct ag_agent *agent, enum ag_task_state state)
{
    switch (state) {
    case AG_TASK_FINISHED:
        agent->metrics.tasks_finished++;
        break;
    case AG_TASK_FAILED:
    case AG_TASK_ERROR:
        agent->metrics.tasks_failed++;
        break;
    case AG_TASK_KILLED:
        agent->metrics.tasks_killed++;
        break;
    case AG_TASK_LOST:
    case AG_TASK_DROPPED:
        agent->metrics.tasks_lost++;
        break;
    case AG_TASK_GONE:
    case AG_TASK_GONE_BY_OPERATOR:
        agent->metrics.tasks_gone++;
        break;
    default:
        break;
    }
}

int ag_agent_task_status(struct ag_agent *agent, struct ag_agent_task *task, const json_t *status)
{
    struct ag_agent_framework *fw = task->executor->framework;
    const char *name = json_string_value(json_object_get(status, "state"));
    enum ag_task_state state;
    json_t *copy;
    int rc = 0;

    if (!name || ag_task_state_parse(name, &state) < 0)
        return -EINVAL;
    /* A task the kernel killed for its memory is the container's
     * limitation, whatever the executor makes of its death. */
    if (task->executor->container && ag_task_state_is_terminal(state) &&
        !ag_task_state_is_terminal(task->state) &&
        !(json_is_string(json_object_get(status, "source")) &&
          strcmp(json_string_value(json_object_get(status, "source")), "SOURCE_EXECUTOR") != 0)) {
        ag_cz_check(agent->cz, task->executor->container);
        if (ag_task_state_is_terminal(task->state))
            return -EEXIST;
    }
    if (!fw->shutting_down) {
        rc = ag_agent_sum_update(agent->sum, fw->id, task->id, status);
        if (rc < 0)
            return rc;
    }
    copy = json_deep_copy(status);
    if (copy)
        json_array_append_new(task->statuses, copy);
    ag_agent_ckpt_updates(agent, task, NULL);
    if (!ag_task_state_is_terminal(task->state) && ag_task_state_is_terminal(state))
        count_terminal(agent, state);
    task->state = state;
    ag_debug("task '%s' of framework '%s' is %s", task->id, fw->id, name);
    /* Nobody will acknowledge updates of a framework being shut down. */
    if (fw->shutting_down && ag_task_state_is_terminal(state))
        task_complete(agent, task);
    return 0;
}

/* A fresh agent-generated TaskStatus (SOURCE_AGENT, uuid). */
static json_t *agent_status(struct ag_agent *agent, const char *task_id, const char *executor_id,
                            enum ag_task_state state, const char *reason, const char *message)
{
    char uuid[25];
    json_t *s =
        ag_task_status_new(task_id, state, "SOURCE_AGENT", reason, message, agent->id, executor_id);
    if (!s)
        return NULL;
    ag_status_uuid(uuid);
    json_object_set_new(s, "uuid", json_string(uuid));
    return s;
}

void ag_agent_task_fail(struct ag_agent *agent, struct ag_agent_task *task,
                        enum ag_task_state state, const char *reason, const char *message)
{
    json_t *s;
    if (ag_task_state_is_terminal(task->state))
        return;
    s = agent_status(agent, task->id, task->executor->id, state, reason, message);
    if (!s)
        return;
    ag_info("task '%s' of framework '%s': %s (%s: %s)", task->id, task->executor->framework->id,
            ag_task_state_name(state), reason ? reason : "", message ? message : "");
    if (ag_agent_task_status(agent, task, s) < 0)
        ag_error("cannot queue an update for task '%s'", task->id);
    json_decref(s);
}

/* An update for a task the agent holds no record of (KILL of an unknown
 * task, a LAUNCH it cannot accept): it still goes through the manager. */
static void detached_status(struct ag_agent *agent, const char *fw_id, const char *task_id,
                            enum ag_task_state state, const char *reason, const char *message)
{
    json_t *s = agent_status(agent, task_id, NULL, state, reason, message);
    if (!s)
        return;
    ag_info("task '%s' of framework '%s': %s (%s)", task_id, fw_id, ag_task_state_name(state),
            message);
    ag_agent_sum_update(agent->sum, fw_id, task_id, s);
    count_terminal(agent, state);
    json_decref(s);
}

/* TASK_DROPPED for partition-aware frameworks, TASK_LOST for others. */
static enum ag_task_state dropped_state(const struct ag_agent_framework *fw)
{
    return fw && ag_agent_framework_capable(fw, "PARTITION_AWARE") ? AG_TASK_DROPPED : AG_TASK_LOST;
}

/* The master takes at most 1000 updates per call. */
#define AG_MASTER_UPDATE_BATCH_MAX 100

/* Sends the updates of this loop pass: one in the single form, more in one
 * batched call (docs/agent-protocol.md). A lost call is no loss: every
 * update is resent until acknowledged. */
static void flush_updates(void *arg)
{
    struct ag_agent *agent = arg;
    json_t *batch = agent->update_batch;
    json_t *call;

    agent->update_batch = NULL;
    if (!batch)
        return;
    if (json_array_size(batch) == 1)
        call = json_pack("{s:s,s:O}", "type", "UPDATE", "update", json_array_get(batch, 0));
    else
        call = json_pack("{s:s,s:O}", "type", "UPDATE", "updates", batch);
    json_decref(batch);
    if (!call)
        return;
    ag_json_set_id(call, "agent_id", agent->id);
    ag_agent_master_call(agent->master, call);
}

static void sum_send(void *arg, const char *framework_id, const json_t *status,
                     enum ag_task_state latest_state)
{
    struct ag_agent *agent = arg;
    json_t *copy = json_deep_copy(status);
    json_t *update;

    if (!copy)
        return;
    /* The id may have changed since the update was made (a master that
     * forgot this agent assigns a new one). */
    ag_json_set_id(copy, "agent_id", agent->id);
    update = json_pack("{s:o,s:s,s:{s:s}}", "status", copy, "latest_state",
                       ag_task_state_name(latest_state), "framework_id", "value", framework_id);
    if (!agent->update_flush)
        agent->update_flush = ag_timer_new(agent->loop, flush_updates, agent);
    if (!agent->update_batch)
        agent->update_batch = json_array();
    if (!update || !agent->update_flush || !agent->update_batch) {
        json_decref(update);
        return;
    }
    json_array_append_new(agent->update_batch, update);
    if (json_array_size(agent->update_batch) >= AG_MASTER_UPDATE_BATCH_MAX)
        flush_updates(agent);
    else if (!ag_timer_pending(agent->update_flush))
        ag_timer_start(agent->update_flush, 0);
}

static void sum_acked(void *arg, const char *framework_id, const char *task_id,
                      const json_t *status)
{
    struct ag_agent *agent = arg;
    struct ag_agent_framework *fw = ag_agent_framework_find(agent, framework_id);
    struct ag_agent_task *task = ag_agent_task_find(fw, task_id);
    const char *name = json_string_value(json_object_get(status, "state"));
    enum ag_task_state state;

    if (!task || !name || ag_task_state_parse(name, &state) < 0)
        return;
    ag_agent_ckpt_updates(agent, task, json_string_value(json_object_get(status, "uuid")));
    if (ag_task_state_is_terminal(state) && ag_task_state_is_terminal(task->state))
        task_complete(agent, task);
}

/* ------------------------------------------------------------------ */
/* executors                                                           */

int ag_agent_executor_send(struct ag_agent_executor *ex, const json_t *event)
{
    if (!ex->stream)
        return -ENOTCONN;
    if (ag_http_stream_send_json(ex->stream, event) < 0)
        return -ENOTCONN;
    return 0;
}

json_t *ag_agent_info_json(const struct ag_agent *agent)
{
    /* Post-refinement: a refined reservation (static "eng" refined for
     * "eng/web") has no pre-refinement form and must reach the master
     * whole when the agent subscribes again. */
    json_t *info = json_pack("{s:s,s:i,s:o,s:O}", "hostname", agent->hostname, "port", agent->port,
                             "resources",
                             ag_resources_to_json(&agent->resources, AG_RESOURCES_POST_REFINEMENT),
                             "attributes", agent->attributes);
    if (info && agent->id)
        ag_json_set_id(info, "id", agent->id);
    return info;
}

/* --- isolation (agent/containerizer) --- */

/* With --switch_user=false nothing runs as another user: the executor is
 * not told of one (a copy of `info` without `key`.user). New reference. */
static json_t *without_user(const struct ag_agent *agent, const json_t *info, const char *key)
{
    json_t *copy, *holder;
    if (ag_cz_switch_user(agent->cz))
        return json_incref((json_t *)info);
    copy = json_deep_copy(info);
    holder = key ? json_object_get(copy, key) : copy;
    if (json_is_object(holder))
        json_object_del(holder, "user");
    return copy;
}

/* The container hit a limit: its live tasks fail with the reason, the
 * message and the limitation (the containerizer kills it next). */
static void container_limited(void *arg, struct ag_cz_container *c, const char *reason,
                              const char *message, const json_t *limitation)
{
    struct ag_agent *agent = arg;
    struct ag_agent_executor *ex = ag_cz_container_owner(c);
    struct ag_agent_list *heads[2], *pos, *tmp;

    if (ag_cz_container_parent(c)) {
        /* A task of a group: its executor learns it through WAIT_CONTAINER. */
        ag_agent_nested_limited(agent, c, reason, message, limitation);
        return;
    }
    if (!ex)
        return;
    heads[0] = &ex->queued;
    heads[1] = &ex->launched;
    for (int h = 0; h < 2; h++) {
        ag_agent_list_for_each(pos, tmp, heads[h])
        {
            struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
            json_t *s;
            if (ag_task_state_is_terminal(t->state))
                continue;
            s = agent_status(agent, t->id, ex->id, AG_TASK_FAILED, reason, message);
            if (!s)
                continue;
            json_object_set(s, "limitation", (json_t *)limitation);
            ag_info("task '%s' of framework '%s': TASK_FAILED (%s: %s)", t->id, ex->framework->id,
                    reason, message);
            if (ag_agent_task_status(agent, t, s) < 0)
                ag_error("cannot queue an update for task '%s'", t->id);
            json_decref(s);
        }
    }
}

/* The limits of an executor's container: its resources, plus its tasks'
 * for a custom or default executor, plus the allowance Mesos gives the
 * command executor (0.1 cpus, 32 MB), which a default executor without
 * resources of its own gets too. */
static void container_limits(const struct ag_agent_executor *ex, double *cpus, double *mem,
                             double *disk)
{
    const struct ag_agent_list *heads[2] = {&ex->queued, &ex->launched}, *pos;
    *cpus = ag_resources_scalar(&ex->resources, "cpus");
    *mem = ag_resources_scalar(&ex->resources, "mem");
    *disk = ag_resources_scalar(&ex->resources, "disk");
    if (ex->command) {
        *cpus += 0.1;
        *mem += 32;
        return;
    }
    if (ex->default_exec && *cpus == 0 && *mem == 0) {
        *cpus = 0.1;
        *mem = 32;
    }
    for (int h = 0; h < 2; h++) {
        for (pos = heads[h]->next; pos != heads[h]; pos = pos->next) {
            const struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
            *cpus += ag_resources_scalar(&t->resources, "cpus");
            *mem += ag_resources_scalar(&t->resources, "mem");
            *disk += ag_resources_scalar(&t->resources, "disk");
        }
    }
}

/* ContainerInfo.hostname of the task or the executor, or NULL. */
static const char *container_hostname(const struct ag_agent_executor *ex, const json_t *task_info)
{
    const char *h = json_string_value(ag_json_get(ag_json_get(task_info, "container"), "hostname"));
    return h ? h : json_string_value(ag_json_get(ag_json_get(ex->info, "container"), "hostname"));
}

/* LAUNCH_GROUP with the tasks of `task`'s group still queued (a task
 * killed before delivery is left out); they move to launched together. */
static void send_launch_group(struct ag_agent_executor *ex, struct ag_agent_task *task)
{
    json_t *group = task->group, *tasks = json_array(), *ev;
    struct ag_agent_list *pos, *tmp;
    for (pos = ex->queued.next; tasks && pos != &ex->queued; pos = pos->next) {
        struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
        if (t->group == group && !ag_task_state_is_terminal(t->state))
            json_array_append_new(tasks, without_user(ex->framework->agent, t->info, "command"));
    }
    ev = json_pack("{s:s,s:{s:{s:o}}}", "type", "LAUNCH_GROUP", "launch_group", "task_group",
                   "tasks", tasks);
    if (ev && ag_agent_executor_send(ex, ev) == 0) {
        ag_agent_list_for_each(pos, tmp, &ex->queued)
        {
            struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
            if (t->group == group) {
                ag_agent_list_del(&t->node);
                ag_agent_list_add_tail(&ex->launched, &t->node);
            }
        }
    }
    json_decref(ev);
}

static void send_launch(struct ag_agent_executor *ex, struct ag_agent_task *task)
{
    if (task->group) {
        send_launch_group(ex, task);
        return;
    }
    json_t *ev = json_pack("{s:s,s:{s:o}}", "type", "LAUNCH", "launch", "task",
                           without_user(ex->framework->agent, task->info, "command"));
    if (ev && ag_agent_executor_send(ex, ev) == 0) {
        ag_agent_list_del(&task->node);
        ag_agent_list_add_tail(&ex->launched, &task->node);
    }
    json_decref(ev);
}

static void executor_kill(struct ag_agent_executor *ex, int signo)
{
    /* Processes that left the session are still in the container. */
    if (ex->pid > 0 || ex->container)
        ag_agent_kill_executor(ex->framework->agent->cz, ex->container, ex->pid, signo);
}

void ag_agent_executor_kill(struct ag_agent_executor *ex, int signo)
{
    executor_kill(ex, signo);
}

void ag_agent_container_limits(const struct ag_agent_executor *ex, double *cpus, double *mem,
                               double *disk)
{
    container_limits(ex, cpus, mem, disk);
}

static void kill_timer_fired(void *arg)
{
    struct ag_agent_executor *ex = arg;
    ag_info("executor '%s' of framework '%s' did not exit within its grace period; killing it",
            ex->id, ex->framework->id);
    executor_kill(ex, SIGKILL);
}

static double executor_grace(const struct ag_agent *agent, const struct ag_agent_executor *ex)
{
    double g = ag_agent_json_duration(ex->info, "shutdown_grace_period");
    return g >= 0 ? g : agent->cfg.executor_shutdown_grace_period;
}

/* SHUTDOWN to the executor, SIGKILL after the grace period; an executor
 * that never subscribed is killed at once. */
static void executor_shutdown(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    if (ex->state == AG_AGENT_EXECUTOR_TERMINATED)
        return;
    ex->shutdown_requested = true;
    if (ex->state == AG_AGENT_EXECUTOR_TERMINATING)
        return;
    ag_info("shutting down executor '%s' of framework '%s'", ex->id, ex->framework->id);
    ag_timer_stop(ex->registration_timer);
    if (ex->state == AG_AGENT_EXECUTOR_REGISTERING || !ex->stream) {
        ex->state = AG_AGENT_EXECUTOR_TERMINATING;
        executor_kill(ex, SIGKILL);
        return;
    }
    ex->state = AG_AGENT_EXECUTOR_TERMINATING;
    {
        json_t *ev = json_pack("{s:s}", "type", "SHUTDOWN");
        ag_agent_executor_send(ex, ev);
        json_decref(ev);
    }
    ag_timer_start(ex->kill_timer, executor_grace(agent, ex));
}

void ag_agent_executor_subscribed(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    struct ag_agent_list *pos, *tmp;
    json_t *ev;

    ag_timer_stop(ex->registration_timer);
    if (ex->state == AG_AGENT_EXECUTOR_REGISTERING)
        ex->state = AG_AGENT_EXECUTOR_RUNNING;
    ag_info("executor '%s' of framework '%s' subscribed", ex->id, ex->framework->id);
    ev = json_pack("{s:s,s:{s:O,s:o,s:o,s:{s:s}}}", "type", "SUBSCRIBED", "subscribed",
                   "executor_info", ex->info, "framework_info",
                   without_user(agent, ex->framework->info, NULL), "agent_info",
                   ag_agent_info_json(agent), "container_id", "value", ex->container_id);
    if (ev)
        ag_agent_executor_send(ex, ev);
    json_decref(ev);
    if (ex->state == AG_AGENT_EXECUTOR_TERMINATING) {
        ev = json_pack("{s:s}", "type", "SHUTDOWN");
        ag_agent_executor_send(ex, ev);
        json_decref(ev);
        return;
    }
    /* A group's launch moves all its tasks: start again from the head. */
    for (pos = ex->queued.next; pos != &ex->queued; pos = tmp) {
        struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
        tmp = pos->next;
        if (ag_task_state_is_terminal(t->state))
            continue;
        send_launch(ex, t);
        if (t->group) {
            if (task_in(&ex->queued, t->id) == t)
                break; /* not sent: the executor's stream is gone */
            tmp = ex->queued.next;
        }
    }
    if (ex->pending_kills) {
        /* KILLs that came while it had not re-subscribed after a restart. */
        size_t i;
        json_array_foreach(ex->pending_kills, i, ev) ag_agent_executor_send(ex, ev);
        json_decref(ex->pending_kills);
        ex->pending_kills = NULL;
    }
}

void ag_agent_executor_message(struct ag_agent *agent, struct ag_agent_executor *ex,
                               const char *data_b64)
{
    json_t *call =
        json_pack("{s:s,s:{s:{s:s},s:{s:s},s:s}}", "type", "MESSAGE", "message", "framework_id",
                  "value", ex->framework->id, "executor_id", "value", ex->id, "data", data_b64);
    if (!call)
        return;
    ag_json_set_id(call, "agent_id", agent->id);
    if (ag_agent_master_call(agent->master, call) < 0)
        ag_warn("dropped a message from executor '%s': not connected to the master", ex->id);
    else
        agent->metrics.valid_framework_messages++;
}

/* Registration timeout, or an executor that lost its stream and did not
 * come back within the same time. */
static void registration_timer_fired(void *arg)
{
    struct ag_agent_executor *ex = arg;
    struct ag_agent *agent = ex->framework->agent;
    char msg[160];
    struct ag_agent_list *pos, *tmp;

    if (ex->state == AG_AGENT_EXECUTOR_RUNNING && !ex->stream) {
        ag_warn("executor '%s' of framework '%s' did not re-subscribe; killing it", ex->id,
                ex->framework->id);
        ex->state = AG_AGENT_EXECUTOR_TERMINATING;
        if (ex->recovered) {
            /* Re-adopted after a restart and never heard from (§4.7). */
            snprintf(msg, sizeof(msg),
                     "Executor did not re-register within %gs after the agent "
                     "restarted",
                     agent->cfg.executor_reregistration_timeout);
            ag_agent_list_for_each(pos, tmp, &ex->queued)
                ag_agent_task_fail(agent, ag_agent_list_entry(pos, struct ag_agent_task, node),
                                   AG_TASK_FAILED, "REASON_EXECUTOR_REREGISTRATION_TIMEOUT", msg);
            ag_agent_list_for_each(pos, tmp, &ex->launched)
                ag_agent_task_fail(agent, ag_agent_list_entry(pos, struct ag_agent_task, node),
                                   AG_TASK_FAILED, "REASON_EXECUTOR_REREGISTRATION_TIMEOUT", msg);
        }
        executor_kill(ex, SIGKILL);
        return;
    }
    if (ex->state != AG_AGENT_EXECUTOR_REGISTERING)
        return;
    snprintf(msg, sizeof(msg), "Executor did not register within %gs",
             agent->cfg.executor_registration_timeout);
    ag_warn("executor '%s' of framework '%s': %s", ex->id, ex->framework->id, msg);
    ex->state = AG_AGENT_EXECUTOR_TERMINATING;
    ag_agent_list_for_each(pos, tmp, &ex->queued)
    {
        struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
        ag_agent_task_fail(agent, t, AG_TASK_FAILED, "REASON_EXECUTOR_REGISTRATION_TIMEOUT", msg);
    }
    executor_kill(ex, SIGKILL);
}

static struct ag_agent_executor *executor_new(struct ag_agent_framework *fw, const char *id,
                                              json_t *info, bool command)
{
    struct ag_agent *agent = fw->agent;
    struct ag_agent_executor *ex = calloc(1, sizeof(*ex));
    char err[256];
    if (!ex) {
        json_decref(info);
        return NULL;
    }
    ex->framework = fw;
    ex->id = ag_agent_strdup(id);
    ex->info = info;
    ex->command = command;
    ex->pidfd = -1;
    ag_uuid_string(ex->container_id);
    ag_uuid_string(ex->token);
    ag_agent_list_init(&ex->nested);
    ag_agent_list_init(&ex->queued);
    ag_agent_list_init(&ex->launched);
    ag_agent_list_init(&ex->completed);
    ag_resources_init(&ex->resources);
    ex->registration_timer = ag_timer_new(agent->loop, registration_timer_fired, ex);
    ex->kill_timer = ag_timer_new(agent->loop, kill_timer_fired, ex);
    if (json_is_array(ag_json_get(info, "resources")) &&
        ag_resources_from_json(ag_json_get(info, "resources"), &ex->resources, err, sizeof(err)) <
            0)
        ag_resources_clear(&ex->resources);
    ag_agent_list_add_tail(&fw->executors, &ex->node);
    /* A failed insertion marks the index broken: lookups scan instead. */
    if (ex->id)
        ag_agent_index_put(&fw->executors_by_id, ex->id, ex);
    if (!ex->registration_timer || !ex->kill_timer) {
        executor_free(ex);
        return NULL;
    }
    return ex;
}

/* The ExecutorInfo the agent makes up for a command task. */
static json_t *command_executor_info(struct ag_agent *agent, const char *fw_id, const json_t *task,
                                     const char *task_id)
{
    const json_t *cmd = ag_json_get(task, "command");
    const char *value = json_string_value(json_object_get(cmd, "value"));
    json_t *shell = ag_json_get(cmd, "shell");
    char name[512], path[PATH_MAX + 32];
    json_t *info;

    if (!shell || json_is_true(shell))
        snprintf(name, sizeof(name), "Command Executor (Task: %s) (Command: sh -c '%.200s')",
                 task_id, value ? value : "");
    else
        snprintf(name, sizeof(name), "Command Executor (Task: %s) (Command: [%.200s])", task_id,
                 value ? value : "");
    snprintf(path, sizeof(path), "%s/agora-executor", agent->launcher_dir);
    info = json_pack("{s:{s:s},s:{s:s},s:s,s:s,s:{s:b,s:s,s:[s]}}", "executor_id", "value", task_id,
                     "framework_id", "value", fw_id, "name", name, "source", task_id, "command",
                     "shell", 0, "value", path, "arguments", "agora-executor");
    if (info && ag_json_get(task, "resources"))
        json_object_set(info, "resources", ag_json_get(task, "resources"));
    return info;
}

/* The role of a task's or executor's resources (allocation_info.role),
 * else the framework's. */
static const char *resources_role(const json_t *resources, const struct ag_agent_framework *fw)
{
    json_t *r;
    size_t i;
    json_array_foreach(resources, i, r)
    {
        const char *role =
            json_string_value(json_object_get(json_object_get(r, "allocation_info"), "role"));
        if (role)
            return role;
    }
    return ag_agent_framework_role(fw);
}

/* The user the executor's work runs as: the task's (or executor's)
 * CommandInfo.user, else the framework's. */
static const char *run_user(const struct ag_agent_executor *ex, const json_t *task_info)
{
    const char *user = json_string_value(ag_json_get(ag_json_get(task_info, "command"), "user"));
    if (!user)
        user = json_string_value(ag_json_get(ag_json_get(ex->info, "command"), "user"));
    if (!user)
        user = json_string_value(ag_json_get(ex->framework->info, "user"));
    return user;
}

/* As root, the sandbox belongs to the user the task runs as, so that it can
 * write there (an unknown user is left to the executor to report). */
static void sandbox_chown(const char *dir, const char *user)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (!user || geteuid() != 0)
        return;
    if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res || pw.pw_uid == 0)
        return;
    if (chown(dir, pw.pw_uid, pw.pw_gid) < 0)
        ag_warn("cannot give sandbox '%s' to user '%s': %s", dir, user, strerror(errno));
}

/* Starts the executor's process, in a container when isolating. */
static int launch_process(struct ag_agent *agent, struct ag_agent_executor *ex,
                          const json_t *task_info, const char *user, const char *path, char **argv,
                          struct ag_agent_env *env, pid_t *ret_pid, char *err, size_t errlen)
{
    struct ag_agent_launch l;
    char status_file[PATH_MAX];
    memset(&l, 0, sizeof(l));
    l.path = path;
    l.argv = argv;
    l.env = env;
    l.sandbox = ex->directory;
    l.container_id = ex->container_id;
    /* The executor switches to the user itself when not isolated. */
    l.user = ag_cz_isolating(agent->cz) ? user : NULL;
    container_limits(ex, &l.cpus, &l.mem_mb, &l.disk_mb);
    l.hostname = container_hostname(ex, task_info);
    l.agent_endpoint = agent->endpoint;
    l.work_dir = agent->work_dir;
    l.owner = ex;
    /* Its init tells a restarted agent how the executor ended. */
    if (ag_agent_ckpt_run_path(ex, "exit_status", status_file, sizeof(status_file)) == 0)
        l.status_file = status_file;
    return ag_agent_launch_executor(agent->cz, &l, ret_pid, &ex->container, err, errlen);
}

/* Creates the sandbox and starts the executor process. */
static int executor_launch(struct ag_agent *agent, struct ag_agent_executor *ex,
                           const json_t *task_info, char *err, size_t errlen)
{
    struct ag_agent_framework *fw = ex->framework;
    json_t *command = ag_json_get(ex->info, "command");
    json_t *default_command = NULL;
    struct ag_agent_env env;
    struct ag_agent_exec_env p;
    char **argv = NULL, *path = NULL;
    const char *user;
    pid_t pid;
    int rc;

    /* The fetch step (executor_fetch_and_launch) may have made it already. */
    rc = ex->directory ? 0
                       : ag_agent_sandbox_create(agent->work_dir, agent->id, fw->id, ex->id,
                                                 ex->container_id, &ex->directory, err, errlen);
    if (rc < 0)
        return rc;
    /* Volumes before the chown, so that their links belong to the user. */
    ag_agent_volumes_link(agent->work_dir, ex->directory, ag_json_get(ex->info, "resources"));
    if (task_info)
        ag_agent_volumes_link(agent->work_dir, ex->directory, ag_json_get(task_info, "resources"));
    user = ag_cz_switch_user(agent->cz) ? run_user(ex, task_info) : NULL;
    rc = ag_agent_user_check(user, err, errlen);
    if (rc < 0)
        return rc;
    sandbox_chown(ex->directory, user);
    if (ex->default_exec) {
        char dpath[PATH_MAX + 32];
        snprintf(dpath, sizeof(dpath), "%s/agora-default-executor", agent->launcher_dir);
        default_command = json_pack("{s:b,s:s,s:[s]}", "shell", 0, "value", dpath, "arguments",
                                    "agora-default-executor");
        command = default_command;
    }
    if (!json_is_object(command)) {
        snprintf(err, errlen, "executor '%s' has no command to run", ex->id);
        return -EINVAL;
    }
    argv = ag_agent_command_argv(command, &path, err, errlen);
    json_decref(default_command);
    if (!argv)
        return -EINVAL;
    if ((ex->command || ex->default_exec) && access(path, X_OK) < 0) {
        snprintf(err, errlen, "the %s executor '%s' is not executable: %s",
                 ex->command ? "command" : "default", path, strerror(errno));
        ag_agent_argv_free(argv);
        free(path);
        return -ENOENT;
    }
    memset(&p, 0, sizeof(p));
    p.framework_id = fw->id;
    p.executor_id = ex->id;
    p.agent_id = agent->id;
    p.endpoint = agent->endpoint;
    p.agent_pid = agent->pid;
    p.directory = ex->directory;
    p.role = resources_role(ag_json_get(task_info ? task_info : ex->info, "resources"), fw);
    p.shutdown_grace = executor_grace(agent, ex);
    p.environment = ex->default_exec ? NULL : ag_json_get(command, "environment");
    p.checkpoint = ag_agent_framework_checkpoints(fw);
    p.recovery_timeout = agent->cfg.recovery_timeout;
    /* Retries close enough to be back within the re-registration timeout. */
    p.backoff_max = agent->cfg.executor_reregistration_timeout / 2;
    ag_agent_env_init(&env);
    rc = ag_agent_executor_env(&env, environ, &p);
    if (rc == 0 && ex->default_exec)
        rc = ag_agent_env_set(&env, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN", ex->token);
    if (rc == 0)
        rc = launch_process(agent, ex, task_info, user, path, argv, &env, &pid, err, errlen);
    else
        snprintf(err, errlen, "cannot build the environment: %s", strerror(-rc));
    ag_agent_env_release(&env);
    ag_agent_argv_free(argv);
    free(path);
    if (rc < 0)
        return rc;
    ex->pid = pid;
    ex->start_time = ag_ckpt_proc_start_time(pid);
    ag_agent_reap_watch(agent, ex, true);
    ag_agent_ckpt_executor(agent, ex);
    ex->state = AG_AGENT_EXECUTOR_REGISTERING;
    ag_timer_start(ex->registration_timer, agent->cfg.executor_registration_timeout);
    ag_info("launched executor '%s' of framework '%s' (pid %d) in '%s'", ex->id, fw->id, (int)pid,
            ex->directory);
    return 0;
}

/* --- fetch step (sandboxes.h): CommandInfo.uris before the executor --- */

/* The fetch ended: launch, or fail the queued tasks with the fetcher's
 * message. The executor may have been shut down meanwhile. */
static void fetch_done(struct ag_agent *agent, struct ag_agent_executor *ex, const char *error)
{
    char err[1024];
    struct ag_agent_list *pos, *tmp;
    const json_t *task_info = NULL;

    if (!ag_agent_list_empty(&ex->queued))
        task_info = ag_agent_list_entry(ex->queued.next, struct ag_agent_task, node)->info;
    if (ex->state != AG_AGENT_EXECUTOR_REGISTERING || agent->stopping) {
        error = "The executor was shut down while its URIs were fetched";
    } else if (!error) {
        if (executor_launch(agent, ex, task_info, err, sizeof(err)) == 0)
            return;
        error = err;
    }
    if (ex->state == AG_AGENT_EXECUTOR_REGISTERING)
        agent->metrics.container_launch_errors++;
    ex->state = AG_AGENT_EXECUTOR_TERMINATED;
    ag_agent_list_for_each(pos, tmp, &ex->queued)
    {
        struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
        ag_agent_list_del(&t->node);
        ag_agent_list_add_tail(&ex->launched, &t->node);
        ag_agent_task_fail(agent, t, AG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED", error);
    }
    executor_maybe_complete(agent, ex);
}

/* Creates the sandbox and fetches the URIs into it; the launch follows in
 * fetch_done. Without URIs, launches at once. */
static int executor_fetch_and_launch(struct ag_agent *agent, struct ag_agent_executor *ex,
                                     const json_t *task_info, char *err, size_t errlen)
{
    int rc = ag_agent_sandbox_create(agent->work_dir, agent->id, ex->framework->id, ex->id,
                                     ex->container_id, &ex->directory, err, errlen);
    if (rc == 0)
        rc = ag_agent_fetch_start(agent, ex, task_info,
                                  ag_cz_switch_user(agent->cz) ? run_user(ex, task_info) : NULL,
                                  fetch_done, err, errlen);
    if (rc == 1)
        return executor_launch(agent, ex, task_info, err, errlen);
    if (rc == 0)
        ex->state = AG_AGENT_EXECUTOR_REGISTERING;
    return rc;
}

static void call_executor_exited(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    json_t *call = json_pack("{s:s,s:{s:{s:s},s:{s:s},s:i}}", "type", "EXECUTOR_EXITED",
                             "executor_exited", "framework_id", "value", ex->framework->id,
                             "executor_id", "value", ex->id, "status", ex->exit_status);
    if (!call)
        return;
    ag_json_set_id(call, "agent_id", agent->id);
    ag_agent_master_call(agent->master, call);
}

static void describe_status(int status, char *out, size_t outlen)
{
    if (status == -1)
        snprintf(out, outlen, "exited (status unknown: not a child of this agent)");
    else if (WIFEXITED(status))
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, outlen, "terminated with signal %s", strsignal(WTERMSIG(status)));
    else
        snprintf(out, outlen, "ended with wait status %d", status);
}

static void executor_exited(struct ag_agent *agent, struct ag_agent_executor *ex, int status)
{
    char how[96], msg[256];
    struct ag_agent_list *pos, *tmp;
    pid_t pid = ex->pid;

    ag_agent_reap_unwatch(ex);
    describe_status(status, how, sizeof(how));
    ag_info("executor '%s' of framework '%s' (pid %d) %s", ex->id, ex->framework->id, (int)pid,
            how);
    /* Whatever it left behind goes with it: a container's through its
     * cgroup (ag_cz_destroy below), an uncontained one's by session. */
    if (!ag_cz_holds_all(agent->cz, ex->container))
        ag_agent_kill_tree(pid, SIGKILL);
    ag_agent_nested_executor_gone(agent, ex);
    if (ex->container) {
        /* An OOM kill is reported as such even when the executor went
         * first. */
        ag_cz_check(agent->cz, ex->container);
        ag_cz_destroy(agent->cz, ex->container);
        ex->container = NULL;
    }
    ex->pid = 0;
    ex->exit_status = status;
    ex->state = AG_AGENT_EXECUTOR_TERMINATED;
    ag_agent_ckpt_executor_exited(agent, ex);
    agent->metrics.executors_terminated++;
    ag_timer_stop(ex->registration_timer);
    ag_timer_stop(ex->kill_timer);
    if (ex->stream) {
        struct ag_http_stream *s = ex->stream;
        ex->stream = NULL;
        ag_http_stream_end(s);
    }
    if (agent->stopping)
        return;
    snprintf(msg, sizeof(msg), "Executor %s%s", how,
             ex->shutdown_requested ? " after it was asked to shut down" : "");
    ag_agent_list_for_each(pos, tmp, &ex->queued)
    {
        struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
        ag_agent_list_del(&t->node);
        ag_agent_list_add_tail(&ex->launched, &t->node);
    }
    ag_agent_list_for_each(pos, tmp, &ex->launched)
    {
        struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
        /* TASK_FAILED even after a requested shutdown, as Mesos does: the
         * executor should have ended its tasks itself. */
        ag_agent_task_fail(agent, t, AG_TASK_FAILED, "REASON_EXECUTOR_TERMINATED", msg);
    }
    call_executor_exited(agent, ex);
    executor_maybe_complete(agent, ex);
}

static void stop_if_done(struct ag_agent *agent);

static void reap(struct ag_agent *agent)
{
    struct ag_agent_list *fpos, *ftmp, *epos, *etmp;
    ag_agent_list_for_each(fpos, ftmp, &agent->frameworks)
    {
        struct ag_agent_framework *fw = ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        ag_agent_list_for_each(epos, etmp, &fw->executors)
        {
            struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            int status;
            pid_t r;
            if (ex->pid <= 0)
                continue;
            r = ag_agent_reap_check(ex, &status);
            if (r >= 0) { /* watched through its pidfd */
                if (r == 1)
                    executor_exited(agent, ex, status);
                continue;
            }
            r = waitpid(ex->pid, &status, WNOHANG);
            if (r == ex->pid)
                executor_exited(agent, ex, status);
            else if (r < 0 && errno == ECHILD)
                executor_exited(agent, ex, 0);
        }
        /* executor_exited may have completed the framework: the list
         * iteration above is safe (ftmp was taken before). */
    }
    if (agent->stopping)
        stop_if_done(agent);
}

static void sigchld(int signo, void *arg)
{
    (void)signo;
    reap(arg);
    ag_agent_sandboxes_reap(arg); /* fetchers, loggers, GC removals */
}

static void reap_timer_fired(void *arg)
{
    reap(arg);
}

static void exec_heartbeats(void *arg)
{
    struct ag_agent *agent = arg;
    struct ag_agent_list *fpos, *ftmp, *epos, *etmp;
    json_t *ev = json_pack("{s:s}", "type", "HEARTBEAT");
    ag_agent_list_for_each(fpos, ftmp, &agent->frameworks)
    {
        struct ag_agent_framework *fw = ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        ag_agent_list_for_each(epos, etmp, &fw->executors)
        {
            ag_agent_executor_send(ag_agent_list_entry(epos, struct ag_agent_executor, node), ev);
        }
    }
    json_decref(ev);
}

void ag_agent_executor_exited(struct ag_agent *agent, struct ag_agent_executor *ex, int status)
{
    executor_exited(agent, ex, status);
    if (agent->stopping)
        stop_if_done(agent);
}

void ag_agent_executor_maybe_complete(struct ag_agent *agent, struct ag_agent_executor *ex)
{
    executor_maybe_complete(agent, ex);
}

void ag_agent_framework_maybe_complete(struct ag_agent *agent, struct ag_agent_framework *fw)
{
    framework_maybe_complete(agent, fw);
}

struct ag_agent_framework *ag_agent_framework_get(struct ag_agent *agent, const char *id,
                                                  const json_t *info)
{
    return framework_get(agent, id, info);
}

struct ag_agent_executor *ag_agent_executor_new(struct ag_agent_framework *fw, const char *id,
                                                json_t *info, bool command)
{
    return executor_new(fw, id, info, command);
}

/* ------------------------------------------------------------------ */
/* master events                                                       */

static struct ag_agent_task *task_new(struct ag_agent_executor *ex, const char *id,
                                      const json_t *info)
{
    struct ag_agent_task *t = calloc(1, sizeof(*t));
    char err[256];
    if (!t)
        return NULL;
    t->executor = ex;
    t->id = ag_agent_strdup(id);
    t->info = json_deep_copy(info);
    t->statuses = json_array();
    t->state = AG_TASK_STAGING;
    ag_resources_init(&t->resources);
    if (json_is_array(ag_json_get(info, "resources")) &&
        ag_resources_from_json(ag_json_get(info, "resources"), &t->resources, err, sizeof(err)) < 0)
        ag_resources_clear(&t->resources);
    ag_agent_list_add_tail(&ex->queued, &t->node);
    if (t->id)
        ag_agent_index_put(&ex->framework->tasks_by_id, t->id, t);
    if (!t->info || !t->statuses) {
        task_free(t);
        return NULL;
    }
    return t;
}

struct ag_agent_task *ag_agent_task_new(struct ag_agent_executor *ex, const char *id,
                                        const json_t *info)
{
    return task_new(ex, id, info);
}

static void on_launch(struct ag_agent *agent, const json_t *event)
{
    char err[512] = "";
    json_t *launch = ag_json_get(event, "launch");
    json_t *fw_info = ag_json_get(launch, "framework_info");
    json_t *task_info = ag_json_get(launch, "task");
    json_t *exec_info = ag_json_get(launch, "executor");
    const char *fw_id, *task_id, *exec_id;
    struct ag_agent_framework *fw;
    struct ag_agent_executor *ex;
    struct ag_agent_task *task;

    fw_id = ag_json_get_id(fw_info, "id", true, err, sizeof(err));
    task_id = ag_json_get_id(task_info, "task_id", true, err, sizeof(err));
    if (!fw_id || !task_id) {
        ag_warn("ignoring a bad LAUNCH from the master: %s", err);
        return;
    }
    if (!exec_info)
        exec_info = ag_json_get(task_info, "executor");
    if (!exec_info && !json_is_object(ag_json_get(task_info, "command"))) {
        detached_status(agent, fw_id, task_id, AG_TASK_ERROR, "REASON_TASK_INVALID",
                        "The task has neither a command nor an executor");
        return;
    }
    exec_id =
        exec_info ? ag_json_get_id(exec_info, "executor_id", true, err, sizeof(err)) : task_id;
    if (!exec_id) {
        detached_status(agent, fw_id, task_id, AG_TASK_ERROR, "REASON_TASK_INVALID", err);
        return;
    }
    fw = ag_agent_framework_find(agent, fw_id);
    if (fw && fw->shutting_down) {
        ag_warn("ignoring task '%s': framework '%s' is shutting down", task_id, fw_id);
        return;
    }
    if (fw && ag_agent_task_find(fw, task_id)) {
        ag_warn("ignoring task '%s' of framework '%s': a task with that id is already here",
                task_id, fw_id);
        return;
    }
    fw = framework_get(agent, fw_id, fw_info);
    if (!fw)
        return;
    ag_agent_ckpt_framework(agent, fw);
    ex = ag_agent_executor_find(fw, exec_id);
    /* A command executor runs one task: once that task has ended it is on
     * its way out (waiting for the acknowledgement), so a new task must not
     * be handed to it even though its process still lives. */
    if (ex &&
        (ex->state == AG_AGENT_EXECUTOR_TERMINATING || ex->state == AG_AGENT_EXECUTOR_TERMINATED ||
         (ex->command && ag_agent_list_empty(&ex->queued) && ag_agent_list_empty(&ex->launched)))) {
        detached_status(agent, fw_id, task_id, dropped_state(fw), "REASON_EXECUTOR_TERMINATED",
                        "Executor is terminating");
        return;
    }
    if (!ex) {
        json_t *info = exec_info ? json_deep_copy(exec_info)
                                 : command_executor_info(agent, fw_id, task_info, task_id);
        if (info && !ag_json_get(info, "framework_id"))
            ag_json_set_id(info, "framework_id", fw_id);
        ex = info ? executor_new(fw, exec_id, info, exec_info == NULL) : NULL;
        if (!ex) {
            ag_error("out of memory creating executor '%s'", exec_id);
            framework_maybe_complete(agent, fw);
            return;
        }
        task = task_new(ex, task_id, task_info);
        if (!task) {
            ex->state = AG_AGENT_EXECUTOR_TERMINATED;
            executor_maybe_complete(agent, ex);
            return;
        }
        ag_agent_ckpt_executor(agent, ex); /* before any update of its task */
        ag_agent_ckpt_task(agent, task);
        if (executor_fetch_and_launch(agent, ex, task_info, err, sizeof(err)) < 0) {
            ag_error("cannot launch executor '%s' of framework '%s': %s", exec_id, fw_id, err);
            agent->metrics.container_launch_errors++;
            ex->state = AG_AGENT_EXECUTOR_TERMINATED;
            ag_agent_list_del(&task->node);
            ag_agent_list_add_tail(&ex->launched, &task->node);
            ag_agent_task_fail(agent, task, AG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED", err);
            executor_maybe_complete(agent, ex);
        }
        return;
    }
    task = task_new(ex, task_id, task_info);
    if (!task)
        return;
    ag_agent_ckpt_task(agent, task);
    if (ex->container && !ex->command) {
        /* The executor's container grows with its tasks. */
        double cpus, mem, disk;
        container_limits(ex, &cpus, &mem, &disk);
        if (ag_cz_update(agent->cz, ex->container, cpus, mem) < 0)
            ag_warn("cannot raise the limits of executor '%s' for task '%s'", ex->id, task_id);
        ag_agent_ckpt_executor(agent, ex);
    }
    if (ex->directory)
        ag_agent_volumes_link(agent->work_dir, ex->directory, ag_json_get(task_info, "resources"));
    if (ex->state == AG_AGENT_EXECUTOR_RUNNING && ex->stream)
        send_launch(ex, task);
}

/* Fails every task of a group the agent cannot take (not recorded). */
static void group_refused(struct ag_agent *agent, const char *fw_id, const json_t *tasks,
                          enum ag_task_state state, const char *reason, const char *message)
{
    size_t i;
    json_t *t;
    char err[256];
    json_array_foreach(tasks, i, t)
    {
        const char *id = ag_json_get_id(t, "task_id", true, err, sizeof(err));
        if (id)
            detached_status(agent, fw_id, id, state, reason, message);
    }
}

/* Records the group's tasks on the executor, all sharing `group`. */
static int group_tasks_new(struct ag_agent_executor *ex, json_t *group)
{
    size_t i;
    json_t *t;
    char err[256];
    json_array_foreach(ag_json_get(group, "tasks"), i, t)
    {
        struct ag_agent_task *task =
            task_new(ex, ag_json_get_id(t, "task_id", true, err, sizeof(err)), t);
        if (!task)
            return -ENOMEM;
        task->group = json_incref(group);
        ag_agent_ckpt_task(ex->framework->agent, task);
    }
    return 0;
}

/* LAUNCH_GROUP: the tasks go to the framework's default executor, which
 * is started first if it does not run yet (its container sized for the
 * executor and all the group's tasks). */
static void on_launch_group(struct ag_agent *agent, const json_t *event)
{
    char err[512] = "";
    json_t *lg = ag_json_get(event, "launch_group");
    json_t *fw_info = ag_json_get(lg, "framework_info");
    json_t *exec_info = ag_json_get(lg, "executor");
    json_t *tasks = ag_json_get(ag_json_get(lg, "task_group"), "tasks");
    const char *fw_id = ag_json_get_id(fw_info, "id", true, err, sizeof(err));
    const char *exec_id = ag_json_get_id(exec_info, "executor_id", true, err, sizeof(err));
    struct ag_agent_framework *fw;
    struct ag_agent_executor *ex;
    struct ag_agent_list *pos, *tmp;
    size_t i;
    json_t *t, *group;

    if (!fw_id || !exec_id || json_array_size(tasks) == 0) {
        ag_warn("ignoring a bad LAUNCH_GROUP from the master: %s", err[0] ? err : "no tasks");
        return;
    }
    fw = ag_agent_framework_find(agent, fw_id);
    if (fw && fw->shutting_down) {
        ag_warn("ignoring a task group: framework '%s' is shutting down", fw_id);
        return;
    }
    json_array_foreach(tasks, i, t)
    {
        const char *id = ag_json_get_id(t, "task_id", true, err, sizeof(err));
        if (!id || (fw && ag_agent_task_find(fw, id))) {
            ag_warn("ignoring a task group of framework '%s': a task id is missing or in use",
                    fw_id);
            return;
        }
    }
    fw = framework_get(agent, fw_id, fw_info);
    if (!fw)
        return;
    ag_agent_ckpt_framework(agent, fw);
    ex = ag_agent_executor_find(fw, exec_id);
    if (ex &&
        (ex->state == AG_AGENT_EXECUTOR_TERMINATING || ex->state == AG_AGENT_EXECUTOR_TERMINATED)) {
        group_refused(agent, fw_id, tasks, dropped_state(fw), "REASON_EXECUTOR_TERMINATED",
                      "Executor is terminating");
        return;
    }
    group = json_pack("{s:O}", "tasks", tasks);
    if (!ex) {
        json_t *info = json_deep_copy(exec_info);
        if (info && !ag_json_get(info, "framework_id"))
            ag_json_set_id(info, "framework_id", fw_id);
        ex = info ? executor_new(fw, exec_id, info, false) : NULL;
        if (ex) {
            ex->default_exec = true;
            ag_agent_ckpt_executor(agent, ex); /* before its tasks (group_tasks_new) */
        }
        if (!ex || !group || group_tasks_new(ex, group) < 0) {
            ag_error("out of memory creating executor '%s'", exec_id);
            json_decref(group);
            if (ex) {
                ex->state = AG_AGENT_EXECUTOR_TERMINATED;
                executor_maybe_complete(agent, ex);
            } else {
                framework_maybe_complete(agent, fw);
            }
            return;
        }
        json_decref(group);
        if (executor_fetch_and_launch(agent, ex, NULL, err, sizeof(err)) < 0) {
            ag_error("cannot launch executor '%s' of framework '%s': %s", exec_id, fw_id, err);
            agent->metrics.container_launch_errors++;
            ex->state = AG_AGENT_EXECUTOR_TERMINATED;
            ag_agent_list_for_each(pos, tmp, &ex->queued)
            {
                struct ag_agent_task *task = ag_agent_list_entry(pos, struct ag_agent_task, node);
                ag_agent_list_del(&task->node);
                ag_agent_list_add_tail(&ex->launched, &task->node);
                ag_agent_task_fail(agent, task, AG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED",
                                   err);
            }
            executor_maybe_complete(agent, ex);
        }
        return;
    }
    if (!group || group_tasks_new(ex, group) < 0) {
        ag_error("out of memory queueing a task group for executor '%s'", exec_id);
        json_decref(group);
        return;
    }
    json_decref(group);
    if (ex->container) {
        /* The executor's container grows with its tasks. */
        double cpus, mem, disk;
        container_limits(ex, &cpus, &mem, &disk);
        if (ag_cz_update(agent->cz, ex->container, cpus, mem) < 0)
            ag_warn("cannot raise the limits of executor '%s' for a task group", ex->id);
        ag_agent_ckpt_executor(agent, ex);
    }
    if (ex->state == AG_AGENT_EXECUTOR_RUNNING && ex->stream) {
        t = json_array_get(tasks, 0);
        send_launch(
            ex, ag_agent_executor_task(ex, ag_json_get_id(t, "task_id", true, err, sizeof(err))));
    }
}

static void on_kill(struct ag_agent *agent, const json_t *event)
{
    char err[256] = "";
    json_t *kill_ev = ag_json_get(event, "kill");
    const char *fw_id = ag_json_get_id(kill_ev, "framework_id", true, err, sizeof(err));
    const char *task_id = ag_json_get_id(kill_ev, "task_id", true, err, sizeof(err));
    struct ag_agent_framework *fw;
    struct ag_agent_task *task;
    struct ag_agent_executor *ex;

    if (!fw_id || !task_id) {
        ag_warn("ignoring a bad KILL from the master: %s", err);
        return;
    }
    fw = ag_agent_framework_find(agent, fw_id);
    task = ag_agent_task_find(fw, task_id);
    if (!task) {
        if (fw && fw->shutting_down)
            return;
        detached_status(agent, fw_id, task_id, dropped_state(fw), "REASON_EXECUTOR_TERMINATED",
                        "Cannot find executor");
        return;
    }
    ex = task->executor;
    if (ag_task_state_is_terminal(task->state)) {
        ag_debug("KILL of task '%s' which is already %s", task_id, ag_task_state_name(task->state));
        return;
    }
    if (task_in(&ex->queued, task_id)) {
        ag_agent_list_del(&task->node);
        ag_agent_list_add_tail(&ex->launched, &task->node);
        ag_agent_task_fail(agent, task, AG_TASK_KILLED, "REASON_TASK_KILLED_DURING_LAUNCH",
                           "Killed before delivery to the executor");
        /* An executor that never got a task would otherwise wait forever. */
        if (ex->state == AG_AGENT_EXECUTOR_REGISTERING) {
            struct ag_agent_list *pos, *tmp;
            bool live = false;
            if (!ag_agent_list_empty(&ex->queued))
                live = true;
            ag_agent_list_for_each(pos, tmp, &ex->launched)
            {
                struct ag_agent_task *t = ag_agent_list_entry(pos, struct ag_agent_task, node);
                if (!ag_task_state_is_terminal(t->state))
                    live = true;
            }
            if (!live)
                executor_shutdown(agent, ex);
        }
        return;
    }
    {
        json_t *ev =
            json_pack("{s:s,s:{s:{s:s}}}", "type", "KILL", "kill", "task_id", "value", task_id);
        json_t *policy = ag_json_get(kill_ev, "kill_policy");
        if (policy)
            json_object_set(json_object_get(ev, "kill"), "kill_policy", policy);
        int sent = ag_agent_executor_send(ex, ev);
        if (sent < 0 && ex->recovered && ex->state == AG_AGENT_EXECUTOR_RUNNING) {
            /* Re-adopted, not re-subscribed yet: it gets it when it does. */
            ag_info("KILL of task '%s' held until executor '%s' re-subscribes", task_id, ex->id);
            if (!ex->pending_kills)
                ex->pending_kills = json_array();
            json_array_append(ex->pending_kills, ev);
        } else if (sent < 0) {
            ag_warn("cannot forward KILL of task '%s': executor '%s' is not connected", task_id,
                    ex->id);
        }
        json_decref(ev);
    }
}

static void on_acknowledge(struct ag_agent *agent, const json_t *event)
{
    char err[256] = "";
    json_t *ack = ag_json_get(event, "acknowledge");
    const char *fw_id = ag_json_get_id(ack, "framework_id", true, err, sizeof(err));
    const char *task_id = ag_json_get_id(ack, "task_id", true, err, sizeof(err));
    const char *uuid = ag_json_get_string(ack, "uuid", true, err, sizeof(err));
    if (!fw_id || !task_id || !uuid) {
        ag_warn("ignoring a bad ACKNOWLEDGE from the master: %s", err);
        return;
    }
    if (ag_agent_sum_ack(agent->sum, fw_id, task_id, uuid) < 0)
        ag_debug("ACKNOWLEDGE of task '%s' uuid %s does not match a pending update", task_id, uuid);
}

static void on_shutdown_executor(struct ag_agent *agent, const json_t *event)
{
    char err[256] = "";
    json_t *s = ag_json_get(event, "shutdown_executor");
    const char *fw_id = ag_json_get_id(s, "framework_id", true, err, sizeof(err));
    const char *ex_id = ag_json_get_id(s, "executor_id", true, err, sizeof(err));
    struct ag_agent_executor *ex;
    if (!fw_id || !ex_id) {
        ag_warn("ignoring a bad SHUTDOWN_EXECUTOR from the master: %s", err);
        return;
    }
    ex = ag_agent_executor_find(ag_agent_framework_find(agent, fw_id), ex_id);
    if (!ex) {
        ag_warn("SHUTDOWN_EXECUTOR for unknown executor '%s' of framework '%s'", ex_id, fw_id);
        return;
    }
    executor_shutdown(agent, ex);
}

static void on_shutdown_framework(struct ag_agent *agent, const json_t *event)
{
    char err[256] = "";
    json_t *s = ag_json_get(event, "shutdown_framework");
    const char *fw_id = ag_json_get_id(s, "framework_id", true, err, sizeof(err));
    struct ag_agent_framework *fw;
    struct ag_agent_list *epos, *etmp, *tpos, *ttmp;

    if (!fw_id) {
        ag_warn("ignoring a bad SHUTDOWN_FRAMEWORK from the master: %s", err);
        return;
    }
    fw = ag_agent_framework_find(agent, fw_id);
    ag_agent_sum_drop_framework(agent->sum, fw_id);
    if (!fw)
        return;
    ag_info("shutting down framework '%s'", fw_id);
    fw->shutting_down = true;
    ag_agent_list_for_each(epos, etmp, &fw->executors)
    {
        struct ag_agent_executor *ex = ag_agent_list_entry(epos, struct ag_agent_executor, node);
        /* Terminal tasks waiting for an acknowledgement will get none. */
        ag_agent_list_for_each(tpos, ttmp, &ex->launched)
        {
            struct ag_agent_task *t = ag_agent_list_entry(tpos, struct ag_agent_task, node);
            if (ag_task_state_is_terminal(t->state))
                task_complete(agent, t);
        }
    }
    /* task_complete may have completed executors and even the framework. */
    fw = ag_agent_framework_find(agent, fw_id);
    if (!fw)
        return;
    ag_agent_list_for_each(epos, etmp, &fw->executors)
        executor_shutdown(agent, ag_agent_list_entry(epos, struct ag_agent_executor, node));
}

static void on_message(struct ag_agent *agent, const json_t *event)
{
    char err[256] = "";
    json_t *m = ag_json_get(event, "message");
    const char *fw_id = ag_json_get_id(m, "framework_id", true, err, sizeof(err));
    const char *ex_id = ag_json_get_id(m, "executor_id", true, err, sizeof(err));
    const char *data = ag_json_get_string(m, "data", true, err, sizeof(err));
    struct ag_agent_executor *ex;
    json_t *ev;

    if (!fw_id || !ex_id || !data) {
        agent->metrics.invalid_framework_messages++;
        ag_warn("ignoring a bad MESSAGE from the master: %s", err);
        return;
    }
    ex = ag_agent_executor_find(ag_agent_framework_find(agent, fw_id), ex_id);
    if (!ex || !ex->stream) {
        agent->metrics.invalid_framework_messages++;
        ag_warn("dropping a message for executor '%s' of framework '%s': not connected", ex_id,
                fw_id);
        return;
    }
    ev = json_pack("{s:s,s:{s:s}}", "type", "MESSAGE", "message", "data", data);
    if (ev && ag_agent_executor_send(ex, ev) == 0)
        agent->metrics.valid_framework_messages++;
    json_decref(ev);
}

static void master_event(void *arg, const char *type, const json_t *event)
{
    struct ag_agent *agent = arg;
    if (agent->stopping)
        return;
    if (strcmp(type, "LAUNCH") == 0)
        on_launch(agent, event);
    else if (strcmp(type, "LAUNCH_GROUP") == 0)
        on_launch_group(agent, event);
    else if (strcmp(type, "KILL") == 0)
        on_kill(agent, event);
    else if (strcmp(type, "ACKNOWLEDGE") == 0)
        on_acknowledge(agent, event);
    else if (strcmp(type, "SHUTDOWN_EXECUTOR") == 0)
        on_shutdown_executor(agent, event);
    else if (strcmp(type, "SHUTDOWN_FRAMEWORK") == 0)
        on_shutdown_framework(agent, event);
    else if (strcmp(type, "MESSAGE") == 0)
        on_message(agent, event);
    else if (strcmp(type, "UPDATE_RESOURCES") == 0)
        ag_agent_on_update_resources(agent, event);
    else if (strcmp(type, "ERROR") != 0)
        ag_warn("ignoring unknown event '%s' from the master", type);
}

static json_t *subscribe_call(void *arg)
{
    struct ag_agent *agent = arg;
    json_t *tasks = json_array(), *executors = json_array(), *frameworks = json_array();
    struct ag_agent_list *fpos, *ftmp, *epos, *etmp, *tpos, *ttmp;
    json_t *call;

    ag_agent_list_for_each(fpos, ftmp, &agent->frameworks)
    {
        struct ag_agent_framework *fw = ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        json_array_append(frameworks, fw->info);
        ag_agent_list_for_each(epos, etmp, &fw->executors)
        {
            struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            if (ex->state != AG_AGENT_EXECUTOR_TERMINATED)
                json_array_append_new(executors, json_pack("{s:{s:s},s:O}", "framework_id", "value",
                                                           fw->id, "executor_info", ex->info));
            ag_agent_list_for_each(tpos, ttmp, &ex->queued)
            {
                struct ag_agent_task *t = ag_agent_list_entry(tpos, struct ag_agent_task, node);
                json_array_append_new(tasks, ag_agent_task_v1(agent, t));
            }
            ag_agent_list_for_each(tpos, ttmp, &ex->launched)
            {
                struct ag_agent_task *t = ag_agent_list_entry(tpos, struct ag_agent_task, node);
                json_array_append_new(tasks, ag_agent_task_v1(agent, t));
            }
        }
    }
    call = json_pack("{s:s,s:{s:i,s:o,s:o,s:o,s:o}}", "type", "SUBSCRIBE", "subscribe", "version",
                     1, "agent_info", ag_agent_info_json(agent), "tasks", tasks, "executors",
                     executors, "frameworks", frameworks);
    if (call && agent->id)
        ag_json_set_id(call, "agent_id", agent->id);
    return call;
}

static void master_subscribed(void *arg, const char *agent_id, double heartbeat_interval)
{
    struct ag_agent *agent = arg;
    if (agent->id && strcmp(agent->id, agent_id) != 0)
        ag_warn("the master gave us a new id '%s' (was '%s')", agent_id, agent->id);
    if (!agent->id || strcmp(agent->id, agent_id) != 0) {
        ag_agent_ckpt_rename(agent, agent_id); /* the checkpoint follows the id */
        free(agent->id);
        agent->id = ag_agent_strdup(agent_id);
    }
    ag_info("subscribed to master %s as agent '%s' (heartbeat every %gs)",
            ag_agent_master_url(agent->master), agent->id, heartbeat_interval);
    ag_agent_ckpt_agent(agent);
    ag_agent_sum_set_connected(agent->sum, true);
}

static void master_disconnected(void *arg, const char *reason)
{
    struct ag_agent *agent = arg;
    (void)reason;
    ag_agent_sum_set_connected(agent->sum, false);
}

/* ------------------------------------------------------------------ */
/* startup and shutdown                                                */

/* Alive and to be stopped (not left running by a SIGTERM stop). */
static bool any_executor_alive(struct ag_agent *agent)
{
    struct ag_agent_list *fpos, *ftmp, *epos, *etmp;
    ag_agent_list_for_each(fpos, ftmp, &agent->frameworks)
    {
        struct ag_agent_framework *fw = ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        ag_agent_list_for_each(epos, etmp, &fw->executors)
        {
            struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            if (ex->pid > 0 && !ex->left)
                return true;
        }
    }
    return false;
}

static void stop_if_done(struct ag_agent *agent)
{
    if (!any_executor_alive(agent))
        ag_loop_stop(agent->loop);
}

static void kill_all(struct ag_agent *agent, int signo)
{
    struct ag_agent_list *fpos, *ftmp, *epos, *etmp;
    ag_agent_list_for_each(fpos, ftmp, &agent->frameworks)
    {
        struct ag_agent_framework *fw = ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        ag_agent_list_for_each(epos, etmp, &fw->executors)
        {
            struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            if (!ex->left)
                executor_kill(ex, signo);
        }
    }
}

static void stop_timer_fired(void *arg)
{
    struct ag_agent *agent = arg;
    ag_info("killing the executors that are still running");
    kill_all(agent, SIGKILL);
    /* SIGKILLed processes go away at once; reap them (for at most a
     * second) so that the exit is clean. */
    for (int i = 0; i < 100 && any_executor_alive(agent); i++) {
        usleep(10000);
        reap(agent);
    }
    ag_loop_stop(agent->loop);
}

/* Whether a restarted agent can re-adopt the executor: its framework
 * checkpoints (the default executor and its nested containers too). */
static bool executor_recoverable(const struct ag_agent_executor *ex)
{
    return ag_agent_framework_checkpoints(ex->framework);
}

/* SIGTERM (leave = true): the agent exits, the recoverable executors stay
 * running and the checkpoint stays, as a service manager's restart or an
 * upgrade expects. SIGUSR1 and SIGINT: every executor is shut down and
 * the checkpoint is forgotten, so the next start is a new agent. */
static void on_stop_signal(int signo, void *arg)
{
    struct ag_agent *agent = arg;
    struct ag_agent_list *fpos, *ftmp, *epos, *etmp;
    bool leave = signo == SIGTERM;
    size_t left = 0;
    json_t *ev;

    if (agent->stopping) {
        ag_info("second %s: stopping now", strsignal(signo));
        stop_timer_fired(agent);
        return;
    }
    agent->stopping = true;
    agent->leaving = leave;
    if (!leave)
        ag_agent_ckpt_forget(agent);
    ev = json_pack("{s:s}", "type", "SHUTDOWN");
    ag_agent_list_for_each(fpos, ftmp, &agent->frameworks)
    {
        struct ag_agent_framework *fw = ag_agent_list_entry(fpos, struct ag_agent_framework, node);
        ag_agent_list_for_each(epos, etmp, &fw->executors)
        {
            struct ag_agent_executor *ex =
                ag_agent_list_entry(epos, struct ag_agent_executor, node);
            if (leave && ex->pid > 0 && executor_recoverable(ex)) {
                ex->left = true;
                left++;
                continue;
            }
            ag_agent_executor_send(ex, ev);
            executor_kill(ex, SIGTERM);
        }
    }
    if (leave)
        ag_info("received %s; exiting, leaving %zu executors of checkpointing frameworks "
                "running for the next start to recover",
                strsignal(signo), left);
    else
        ag_info("received %s; shutting down (killing every executor)", strsignal(signo));
    json_decref(ev);
    {
        double grace = agent->cfg.executor_shutdown_grace_period;
        ag_timer_start(agent->stop_timer, grace < STOP_GRACE_MAX ? grace : STOP_GRACE_MAX);
    }
    stop_if_done(agent);
}

static void agent_release(struct ag_agent *agent)
{
    struct ag_agent_list *pos, *tmp;

    ag_agent_master_free(agent->master);
    agent->master = NULL;
    if (agent->stopping && !agent->leaving)
        ag_agent_ckpt_clear(agent); /* a full shutdown: nothing to recover */
    /* Frameworks first: their streams belong to the HTTP server. */
    ag_agent_list_for_each(pos, tmp, &agent->frameworks)
        framework_free(ag_agent_list_entry(pos, struct ag_agent_framework, node));
    ag_agent_list_for_each(pos, tmp, &agent->completed_frameworks)
        framework_free(ag_agent_list_entry(pos, struct ag_agent_framework, node));
    ag_cz_free(agent->cz);
    agent->cz = NULL;
    ag_http_server_free(agent->http);
    ag_agent_sum_free(agent->sum);
    ag_timer_free(agent->update_flush);
    json_decref(agent->update_batch);
    ag_signal_free(agent->sigchld);
    ag_signal_free(agent->sigint);
    ag_signal_free(agent->sigterm);
    ag_signal_free(agent->sigusr1);
    ag_timer_free(agent->reap_timer);
    ag_timer_free(agent->exec_heartbeat_timer);
    ag_timer_free(agent->stop_timer);
    ag_agent_sandboxes_stop(agent);
    ag_loop_free(agent->loop);
    ag_resources_release(&agent->resources);
    json_decref(agent->attributes);
    free(agent->id);
    free(agent->hostname);
    free(agent->work_dir);
    free(agent->launcher_dir);
    if (agent->flags) {
        ag_flags_release(agent->flags, agent->n_flags);
        free(agent->flags);
    }
}

/* The flags table; values land in agent->cfg. */
static int agent_flags(struct ag_agent *agent)
{
    struct ag_agent_config *c = &agent->cfg;
    const struct ag_flag table[] = {
        {"master", AG_FLAG_STRING, &c->master,
         "master to register with: host:port or http://host:port (required)", false},
        {"ip", AG_FLAG_STRING, &c->ip, "IP address to listen on and advertise", false},
        {"port", AG_FLAG_INT, &c->port, "port to listen on (0 picks a free one)", false},
        {"hostname", AG_FLAG_STRING, &c->hostname,
         "hostname to advertise (default: the system hostname)", false},
        {"work_dir", AG_FLAG_STRING, &c->work_dir,
         "directory for sandboxes and agent state (required; created if missing)", false},
        {"resources", AG_FLAG_STRING, &c->resources,
         "resources, e.g. \"cpus:2;mem:1024;ports:[31000-32000]\" (each one overrides the "
         "detected value)",
         false},
        {"attributes", AG_FLAG_STRING, &c->attributes,
         "attributes, e.g. \"rack:r1;zone:a\" (TEXT, or SCALAR when numeric)", false},
        {"launcher_dir", AG_FLAG_STRING, &c->launcher_dir,
         "directory holding agora-executor (default: the directory of this program)", false},
        {"executor_registration_timeout", AG_FLAG_DURATION, &c->executor_registration_timeout,
         "time an executor has to subscribe before it is killed", false},
        {"executor_shutdown_grace_period", AG_FLAG_DURATION, &c->executor_shutdown_grace_period,
         "time an executor has to exit after SHUTDOWN before it is killed", false},
        {"status_update_retry_interval", AG_FLAG_DURATION, &c->status_update_retry_interval,
         "first resend delay of an unacknowledged status update (doubles up to 10mins)", false},
        {"registration_backoff_factor", AG_FLAG_DURATION, &c->registration_backoff_factor,
         "first re-subscription delay after losing the master (doubles up to 30secs)", false},
        {"log_level", AG_FLAG_STRING, &c->log_level, "debug, info, warning or error", false},
        {"recover", AG_FLAG_STRING, &c->recover,
         "on start with a checkpoint: 'reconnect' to the executors left running, or 'cleanup' "
         "(kill them and report their tasks)",
         false},
        {"recovery_timeout", AG_FLAG_DURATION, &c->recovery_timeout,
         "time the executors of checkpointing frameworks wait for a restarted agent", false},
        {"executor_reregistration_timeout", AG_FLAG_DURATION, &c->executor_reregistration_timeout,
         "time recovered executors have to re-subscribe after a restart", false},
        AG_AGENT_SANDBOX_FLAGS, /* gc, container logger, fetcher (sandboxes.h) */
    };
    c->ip = (char *)"127.0.0.1";
    c->port = 5051;
    c->log_level = (char *)"info";
    c->executor_registration_timeout = 60;
    c->executor_shutdown_grace_period = 5;
    c->status_update_retry_interval = 10;
    c->registration_backoff_factor = 1;
    c->recover = (char *)"reconnect";
    c->recovery_timeout = 15 * 60;
    c->executor_reregistration_timeout = 2;
    agent->n_flags = sizeof(table) / sizeof(table[0]);
    agent->flags = malloc(sizeof(table) + AG_CZ_MAX_FLAGS * sizeof(struct ag_flag));
    if (!agent->flags)
        return -ENOMEM;
    memcpy(agent->flags, table, sizeof(table));
    agent->n_flags +=
        ag_cz_config_flags(&agent->iso, agent->flags + agent->n_flags, AG_CZ_MAX_FLAGS);
    return 0;
}

/* The directory of our own executable (where agora-executor lives). */
static char *self_dir(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    char *slash;
    if (n <= 0)
        return ag_agent_strdup(".");
    buf[n] = '\0';
    slash = strrchr(buf, '/');
    if (slash && slash != buf)
        *slash = '\0';
    return ag_agent_strdup(buf);
}

static int agent_configure(struct ag_agent *agent, int argc, char **argv, char *err, size_t errlen)
{
    struct ag_agent_config *c = &agent->cfg;
    enum ag_log_level level;
    char host[256], *base = NULL;
    int next = argc, rc;

    rc =
        ag_flags_parse(agent->flags, agent->n_flags, argc, argv,
                       "agora-agent --master=HOST:PORT --work_dir=DIR [flags]", &next, err, errlen);
    if (rc)
        return rc;
    if (next < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[next]);
        return -EINVAL;
    }
    if (ag_log_level_parse(c->log_level, &level) < 0) {
        snprintf(err, errlen, "--log_level: '%s' is not debug, info, warning or error",
                 c->log_level);
        return -EINVAL;
    }
    ag_log_set_level(level);
    if (!c->master || !*c->master) {
        snprintf(err, errlen, "--master is required");
        return -EINVAL;
    }
    if (ag_agent_master_parse(c->master, &base) < 0) {
        snprintf(err, errlen, "--master: '%s' is not host:port or http://host:port", c->master);
        return -EINVAL;
    }
    free(base);
    if (!c->work_dir || !*c->work_dir) {
        snprintf(err, errlen, "--work_dir is required");
        return -EINVAL;
    }
    if (c->port < 0 || c->port > 65535) {
        snprintf(err, errlen, "--port: %d is not a port number", c->port);
        return -EINVAL;
    }
    if (c->executor_registration_timeout <= 0 || c->executor_shutdown_grace_period < 0 ||
        c->status_update_retry_interval <= 0 || c->registration_backoff_factor <= 0 ||
        c->recovery_timeout <= 0 || c->executor_reregistration_timeout <= 0) {
        snprintf(err, errlen, "durations must be positive");
        return -EINVAL;
    }
    if (!c->recover ||
        (strcmp(c->recover, "reconnect") != 0 && strcmp(c->recover, "cleanup") != 0)) {
        snprintf(err, errlen, "--recover: '%s' is not 'reconnect' or 'cleanup'",
                 c->recover ? c->recover : "");
        return -EINVAL;
    }
    rc = ag_agent_mkdirs(c->work_dir, 0755);
    if (rc < 0) {
        snprintf(err, errlen, "--work_dir: cannot create '%s': %s", c->work_dir, strerror(-rc));
        return rc;
    }
    agent->work_dir = realpath(c->work_dir, NULL);
    if (!agent->work_dir) {
        snprintf(err, errlen, "--work_dir: '%s': %s", c->work_dir, strerror(errno));
        return -errno;
    }
    agent->launcher_dir =
        c->launcher_dir && *c->launcher_dir ? ag_agent_strdup(c->launcher_dir) : self_dir();
    if (c->hostname && *c->hostname) {
        agent->hostname = ag_agent_strdup(c->hostname);
    } else {
        if (gethostname(host, sizeof(host)) < 0)
            snprintf(host, sizeof(host), "%s", c->ip);
        host[sizeof(host) - 1] = '\0';
        agent->hostname = ag_agent_strdup(host);
    }
    rc = ag_agent_resources_detect(c->resources, agent->work_dir, &agent->resources, err, errlen);
    if (rc < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "--resources: %s", err);
        snprintf(err, errlen, "%s", msg);
        return rc;
    }
    rc = ag_agent_resources_recover(agent, err, errlen);
    if (rc < 0)
        return rc;
    agent->attributes = ag_agent_attributes_parse(c->attributes, err, errlen);
    if (!agent->attributes) {
        char msg[512];
        snprintf(msg, sizeof(msg), "--attributes: %s", err);
        snprintf(err, errlen, "%s", msg);
        return -EINVAL;
    }
    return 0;
}

static const struct ag_agent_sum_ops sum_ops = {
    .send = sum_send,
    .acked = sum_acked,
};

static const struct ag_agent_master_ops master_ops = {
    .subscribe_call = subscribe_call,
    .subscribed = master_subscribed,
    .event = master_event,
    .disconnected = master_disconnected,
};

static int agent_start(struct ag_agent *agent, char *err, size_t errlen)
{
    struct ag_agent_config *c = &agent->cfg;
    char *base = NULL;

    agent->loop = ag_loop_new();
    if (!agent->loop) {
        snprintf(err, errlen, "cannot create the event loop");
        return -ENOMEM;
    }
    agent->http =
        ag_http_server_new(agent->loop, c->ip, c->port, AG_HTTP_MAX_BODY_DEFAULT, err, errlen);
    if (!agent->http)
        return -EADDRINUSE;
    agent->port = ag_http_server_port(agent->http);
    snprintf(agent->endpoint, sizeof(agent->endpoint), "%s:%d", c->ip, agent->port);
    snprintf(agent->pid, sizeof(agent->pid), "slave(1)@%s:%d", c->ip, agent->port);
    agent->start_time = ag_now();

    ag_http_server_route(agent->http, "/api/v1/executor", ag_agent_executor_api, agent);
    ag_http_server_route(agent->http, "/slave(1)/api/v1/executor", ag_agent_executor_api, agent);
    ag_agent_routes_state(agent);
    ag_agent_routes_files(agent);
    ag_http_server_route(agent->http, "/api/v1", ag_agent_operator_api, agent);
    ag_http_server_route(agent->http, "/slave(1)/api/v1", ag_agent_operator_api, agent);

    agent->sum = ag_agent_sum_new(agent->loop, c->status_update_retry_interval, &sum_ops, agent);
    if (ag_agent_master_parse(c->master, &base) < 0 || !agent->sum) {
        free(base);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    agent->master =
        ag_agent_master_new(agent->loop, base, c->registration_backoff_factor, &master_ops, agent);
    free(base);
    agent->sigchld = ag_signal_new(agent->loop, SIGCHLD, sigchld, agent);
    agent->sigint = ag_signal_new(agent->loop, SIGINT, on_stop_signal, agent);
    agent->sigterm = ag_signal_new(agent->loop, SIGTERM, on_stop_signal, agent);
    agent->sigusr1 = ag_signal_new(agent->loop, SIGUSR1, on_stop_signal, agent);
    agent->reap_timer = ag_timer_new(agent->loop, reap_timer_fired, agent);
    agent->exec_heartbeat_timer = ag_timer_new(agent->loop, exec_heartbeats, agent);
    agent->stop_timer = ag_timer_new(agent->loop, stop_timer_fired, agent);
    if (!agent->master || !agent->sigchld || !agent->sigint || !agent->sigterm || !agent->sigusr1 ||
        !agent->reap_timer || !agent->exec_heartbeat_timer || !agent->stop_timer) {
        snprintf(err, errlen, "cannot set up timers and signals");
        return -ENOMEM;
    }
    if (ag_agent_sandboxes_start(agent, err, errlen) < 0) /* fetcher, loggers, gc */
        return -EINVAL;
    {
        static const struct ag_cz_callbacks cz_cb = {.limited = container_limited};
        char init[PATH_MAX];
        int rc;
        /* The helper sits beside agora-executor, or beside the agent. */
        snprintf(init, sizeof(init), "%s/agora-container-init", agent->launcher_dir);
        if (access(init, X_OK) < 0) {
            char *dir = self_dir();
            snprintf(init, sizeof(init), "%s/agora-container-init", dir);
            free(dir);
        }
        rc = ag_cz_new(agent->loop, &agent->iso, init, &cz_cb, agent, &agent->cz, err, errlen);
        if (rc < 0)
            return rc;
        /* /flags shows the isolation in effect, not an empty default. */
        if (!agent->iso.isolation) {
            agent->iso.isolation = (char *)ag_cz_default_isolation();
            if (ag_cz_default_isolation_note())
                ag_warn("%s", ag_cz_default_isolation_note());
        }
        ag_info("isolation: %s", ag_cz_isolation(agent->cz));
    }
    {
        int rc = ag_agent_recover(agent, err, errlen);
        if (rc < 0)
            return rc;
    }
    ag_timer_start_periodic(agent->reap_timer, REAP_INTERVAL);
    ag_timer_start_periodic(agent->exec_heartbeat_timer, EXECUTOR_HEARTBEAT_INTERVAL);
    ag_agent_master_start(agent->master);
    return 0;
}

int ag_agent_main(int argc, char **argv)
{
    struct ag_agent agent;
    char err[1024] = "";
    int rc;

    memset(&agent, 0, sizeof(agent));
    ag_agent_list_init(&agent.frameworks);
    ag_agent_list_init(&agent.completed_frameworks);
    ag_resources_init(&agent.resources);
    ag_log_set_tag("agent");
    srandom((unsigned)getpid() ^ (unsigned)(ag_now() * 1000));

    rc = agent_flags(&agent);
    if (rc == 0)
        rc = agent_configure(&agent, argc, argv, err, sizeof(err));
    if (rc == 1) { /* --help */
        agent_release(&agent);
        return 0;
    }
    if (rc == 0)
        rc = agent_start(&agent, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "agora agent: %s\n", err[0] ? err : strerror(-rc));
        agent_release(&agent);
        return 1;
    }
    {
        char *res = ag_resources_string(&agent.resources);
        ag_info("agent %s starting: work_dir '%s', resources %s, master %s", AGORA_VERSION,
                agent.work_dir, res ? res : "?", ag_agent_master_url(agent.master));
        free(res);
    }
    fprintf(stderr, "agent listening on http://%s\n", agent.endpoint);
    fflush(stderr);

    rc = ag_loop_run(agent.loop);
    if (rc < 0)
        ag_error("event loop failed: %s", strerror(-rc));
    ag_info("agent stopped");
    agent_release(&agent);
    return rc < 0 ? 1 : 0;
}
