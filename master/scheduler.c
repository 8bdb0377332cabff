/*
 * scheduler: POST /api/v1/scheduler, the Mesos v1 scheduler API.
 *
 * The request checks run in Mesos's order (§1.3): method, Content-Type,
 * body, call validation, Accept (SUBSCRIBE / RECONCILE_OPERATIONS), then
 * SUBSCRIBE, or: framework known, subscribed, stream id; then dispatch.
 * A call acts only on its own framework's offers, tasks and executors.
 */
#include "master/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/log.h"
#include "core/loop.h"

/* Filters.refuse_seconds is capped at a year (§2.5). */
#define MAX_REFUSE_SECONDS 31536000.0

/* Outcome of a call handler: 202, 200 (UPDATE_FRAMEWORK) or 400 (err). */
enum call_result {
    CALL_ACCEPTED = AG_MASTER_CALL_ACCEPTED,
    CALL_OK = AG_MASTER_CALL_OK,
};

static json_t *event_new(const char *type)
{
    return json_pack("{s:s}", "type", type);
}

static const char *id_of(const json_t *obj, const char *key)
{
    char e[256] = "";
    return ag_json_get_id(obj, key, false, e, sizeof(e));
}

/* refuse_seconds of the payload's filters: -1 (the allocator's default)
 * when absent or negative. */
static double refuse_seconds(const json_t *payload)
{
    json_t *f = ag_json_get(payload, "filters");
    double r = -1;
    char e[256] = "";
    if (!f || ag_json_get_number(f, "refuse_seconds", false, &r, e, sizeof(e)) < 0)
        return -1;
    if (r < 0)
        return -1;
    return r > MAX_REFUSE_SECONDS ? MAX_REFUSE_SECONDS : r;
}

/* An UPDATE the master makes up for a task it is not running. */
static void send_task_error(struct ag_master *m, struct ag_master_framework *fw, const json_t *task,
                            enum ag_task_state state, const char *reason, const char *message)
{
    json_t *st = ag_task_status_new(id_of(task, "task_id"), state, "SOURCE_MASTER", reason, message,
                                    id_of(task, "agent_id"), NULL);
    enum ag_task_state seen = ag_task_state_for(state, ag_master_fw_partition_aware(fw));
    m->metrics.tasks_terminal[seen]++;
    ag_master_send_update(m, fw, st);
}

/* Every task of an operation list (LAUNCH and LAUNCH_GROUP). */
static void for_each_op_task(struct ag_master *m, struct ag_master_framework *fw, const json_t *ops,
                             enum ag_task_state state, const char *reason, const char *message)
{
    size_t i, k;
    json_t *op, *task;
    json_array_foreach(ops, i, op)
    {
        const char *type = json_string_value(ag_json_get(op, "type"));
        json_t *tasks = NULL;
        if (strcmp(type, "LAUNCH") == 0)
            tasks = ag_json_get(ag_json_get(op, "launch"), "task_infos");
        else if (strcmp(type, "LAUNCH_GROUP") == 0)
            tasks =
                ag_json_get(ag_json_get(ag_json_get(op, "launch_group"), "task_group"), "tasks");
        json_array_foreach(tasks, k, task) send_task_error(m, fw, task, state, reason, message);
    }
}

/* --- ACCEPT --- */

struct accept_ctx {
    struct ag_master_framework *fw;
    struct ag_master_agent *agent;
};

static bool ctx_task_exists(void *arg, const char *task_id)
{
    struct accept_ctx *c = arg;
    return ag_master_map_has(&c->fw->tasks, task_id);
}

static const json_t *ctx_find_executor(void *arg, const char *executor_id)
{
    struct accept_ctx *c = arg;
    struct ag_master_executor *x = ag_master_executor_find(c->agent, c->fw, executor_id);
    return x ? x->info : NULL;
}

/* Runs one valid task: records it, charges its resources, sends LAUNCH. */
static void launch_task(struct ag_master *m, struct accept_ctx *c, const char *role,
                        struct ag_master_task_check *tc, struct ag_resources *available)
{
    struct ag_master_framework *fw = c->fw;
    struct ag_master_agent *a = c->agent;
    ag_resources_subtract(available, &tc->task_resources);
    const char *executor_id = NULL;
    if (tc->executor) {
        executor_id = id_of(tc->executor, "executor_id");
        if (tc->new_executor) {
            ag_resources_subtract(available, &tc->executor_resources);
            ag_master_executor_new(m, fw, a, tc->executor, &tc->executor_resources, role, false);
        }
    }
    struct ag_master_task *t =
        ag_master_task_new(m, fw, a, id_of(tc->task, "task_id"), executor_id, role, tc->task,
                           &tc->task_resources, AG_TASK_STAGING);
    ag_master_task_hold(m, t, false);

    /* Written straight from the trees (no event tree): LAUNCH is one of
     * the two events per task that were still dumped by jansson. */
    struct ag_jw w;
    ag_jw_init(&w);
    ag_master_render_launch(&w, fw->info, tc->task, tc->executor);
    if (w.oom || w.bad) {
        ag_error("out of memory rendering the launch of task '%s'", t->id);
        m->metrics.dropped_messages++;
    } else {
        ag_master_send_agent_text(m, a, w.buf, w.len);
    }
    ag_jw_release(&w);
    m->metrics.msg_launch_tasks++;
    ag_info("launching task '%s' of framework '%s' on agent '%s'", t->id, fw->id, a->id);
}

/* Operation feedback ('id') is not supported for launches: every task of
 * the operation gets TASK_ERROR with `reason`. Whether it was refused. */
static bool refuse_op_id(struct ag_master *m, struct accept_ctx *c, const json_t *op,
                         const json_t *tasks, const char *reason, const char *op_name)
{
    char msg[128];
    size_t i;
    json_t *task;
    if (!ag_json_get(op, "id"))
        return false;
    snprintf(msg, sizeof(msg), "operation feedback ('id') is not supported for %s", op_name);
    json_array_foreach(tasks, i, task) send_task_error(m, c->fw, task, AG_TASK_ERROR, reason, msg);
    return true;
}

/* What task validation needs to know about this ACCEPT. */
static struct ag_master_task_ctx task_ctx(struct accept_ctx *c, const char *role,
                                          struct ag_resources *available)
{
    return (struct ag_master_task_ctx){
        .framework_id = c->fw->id,
        .agent_id = c->agent->id,
        .role = role,
        .available = available,
        .task_exists = ctx_task_exists,
        .find_executor = ctx_find_executor,
        .arg = c,
    };
}

static void run_launch(struct ag_master *m, struct accept_ctx *c, const char *role,
                       const json_t *op, struct ag_resources *available)
{
    json_t *tasks = ag_json_get(ag_json_get(op, "launch"), "task_infos");
    size_t i;
    json_t *task;
    if (refuse_op_id(m, c, op, tasks, "REASON_TASK_INVALID", "LAUNCH"))
        return;
    struct ag_master_task_ctx ctx = task_ctx(c, role, available);
    json_array_foreach(tasks, i, task)
    {
        struct ag_master_task_check tc;
        char err[1024];
        if (ag_master_validate_task(task, &ctx, &tc, err, sizeof(err)) < 0) {
            ag_info("framework '%s': task '%s' is invalid: %s", c->fw->id,
                    id_of(task, "task_id") ? id_of(task, "task_id") : "?", err);
            send_task_error(m, c->fw, task, AG_TASK_ERROR, "REASON_TASK_INVALID", err);
            continue;
        }
        launch_task(m, c, role, &tc, available);
        ag_master_task_check_release(&tc);
    }
}

/* Records the tasks of a valid group (and its executor when new) and sends
 * the agent one LAUNCH_GROUP event: the executor gets them together. */
static void launch_group(struct ag_master *m, struct accept_ctx *c, const char *role,
                         struct ag_master_group_check *gc, struct ag_resources *available)
{
    struct ag_master_framework *fw = c->fw;
    struct ag_master_agent *a = c->agent;
    const char *executor_id = id_of(gc->exec.executor, "executor_id");
    json_t *tasks = json_array();
    if (gc->exec.new_executor) {
        ag_resources_subtract(available, &gc->exec.executor_resources);
        ag_master_executor_new(m, fw, a, gc->exec.executor, &gc->exec.executor_resources, role,
                               false);
    }
    for (size_t i = 0; i < gc->n; i++) {
        struct ag_master_task_check *tc = &gc->tasks[i];
        ag_resources_subtract(available, &tc->task_resources);
        struct ag_master_task *t =
            ag_master_task_new(m, fw, a, id_of(tc->task, "task_id"), executor_id, role, tc->task,
                               &tc->task_resources, AG_TASK_STAGING);
        ag_master_task_hold(m, t, false);
        json_array_append(tasks, tc->task);
        m->metrics.msg_launch_tasks++;
    }
    json_t *ev = event_new("LAUNCH_GROUP");
    json_object_set_new(ev, "launch_group",
                        json_pack("{s:O, s:O, s:{s:o}}", "framework_info", fw->info, "executor",
                                  gc->exec.executor, "task_group", "tasks", tasks));
    ag_master_send_agent(m, a, ev);
    ag_info("launching a group of %zu tasks of framework '%s' on agent '%s' (executor '%s')", gc->n,
            fw->id, a->id, executor_id);
}

static void run_launch_group(struct ag_master *m, struct accept_ctx *c, const char *role,
                             const json_t *op, struct ag_resources *available)
{
    json_t *payload = ag_json_get(op, "launch_group");
    json_t *tasks = ag_json_get(ag_json_get(payload, "task_group"), "tasks");
    struct ag_master_group_check gc;
    char err[1024];
    size_t i;
    json_t *task;
    if (refuse_op_id(m, c, op, tasks, "REASON_TASK_GROUP_INVALID", "LAUNCH_GROUP"))
        return;
    struct ag_master_task_ctx ctx = task_ctx(c, role, available);
    if (ag_master_validate_group(ag_json_get(payload, "executor"), tasks, &ctx, &gc, err,
                                 sizeof(err)) < 0) {
        ag_info("framework '%s': task group is invalid: %s", c->fw->id, err);
        json_array_foreach(tasks, i, task)
            send_task_error(m, c->fw, task, AG_TASK_ERROR, "REASON_TASK_GROUP_INVALID", err);
        return;
    }
    launch_group(m, c, role, &gc, available);
    ag_master_group_check_release(&gc);
}

static int call_accept(struct ag_master *m, struct ag_master_framework *fw, const json_t *payload,
                       char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    json_t *ids = ag_json_get(payload, "offer_ids");
    json_t *ops = ag_json_get(payload, "operations");
    double refuse = refuse_seconds(payload);
    size_t n = json_array_size(ids);
    const char **offer_ids = calloc(n + 1, sizeof(*offer_ids));
    struct ag_master_offer **offers = calloc(n + 1, sizeof(*offers));
    struct ag_master_offer_ref *refs = calloc(n + 1, sizeof(*refs));
    const struct ag_master_offer_ref **refp = calloc(n + 1, sizeof(*refp));
    if (!offer_ids || !offers || !refs || !refp) {
        free(offer_ids);
        free(offers);
        free(refs);
        free(refp);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    struct ag_master_map seen;
    ag_master_map_init(&seen);
    for (size_t i = 0; i < n; i++) {
        offer_ids[i] = json_string_value(ag_json_get(json_array_get(ids, i), "value"));
        struct ag_master_offer *o = ag_master_map_get(&m->offers, offer_ids[i]);
        /* Offers of other frameworks look unknown: no data leaks across.
         * A repeated id is used once (validation reports the repeat). */
        bool dup = ag_master_map_has(&seen, offer_ids[i]);
        ag_master_map_put(&seen, offer_ids[i], NULL);
        if (o && o->fw == fw && !dup) {
            offers[i] = o;
            refs[i] = (struct ag_master_offer_ref){fw->id, o->agent->id, o->role};
            refp[i] = &refs[i];
        }
    }
    ag_master_map_release(&seen);

    if (json_array_size(ops) == 0) {
        /* ACCEPT without operations is a DECLINE. */
        for (size_t i = 0; i < n; i++)
            if (offers[i])
                ag_master_offer_remove(m, offers[i], false, true, refuse);
        m->metrics.msg_decline_offers++;
        goto out;
    }

    char verr[1024];
    if (ag_master_validate_offers(fw->id, offer_ids, refp, n, verr, sizeof(verr)) < 0) {
        /* Duplicates were left NULL above: report them as such. */
        ag_info("framework '%s': ACCEPT with invalid offers: %s", fw->id, verr);
        for (size_t i = 0; i < n; i++)
            if (offers[i])
                ag_master_offer_remove(m, offers[i], false, true, 0);
        for_each_op_task(m, fw, ops, AG_TASK_DROPPED, "REASON_INVALID_OFFERS", verr);
        ag_master_allocate_soon(m);
        goto out;
    }

    struct accept_ctx c = {.fw = fw, .agent = offers[0]->agent};
    char role[512];
    snprintf(role, sizeof(role), "%s", offers[0]->role);
    struct ag_resources available;
    ag_resources_init(&available);
    for (size_t i = 0; i < n; i++) {
        ag_resources_add(&available, &offers[i]->resources);
        ag_master_offer_remove(m, offers[i], false, false, 0);
    }

    if (c.agent->state != AG_MASTER_AGENT_CONNECTED) {
        for_each_op_task(m, fw, ops, AG_TASK_DROPPED, "REASON_AGENT_DISCONNECTED",
                         "Agent is not connected");
    } else {
        size_t i;
        json_t *op;
        enum ag_master_conv_type conv;
        json_array_foreach(ops, i, op)
        {
            const char *type = json_string_value(ag_json_get(op, "type"));
            if (strcmp(type, "LAUNCH") == 0) {
                run_launch(m, &c, role, op, &available);
            } else if (strcmp(type, "LAUNCH_GROUP") == 0) {
                run_launch_group(m, &c, role, op, &available);
            } else if (ag_master_conv_type_parse(type, &conv) == 0) {
                char cerr[1024] = "";
                if (ag_master_accept_conversion(m, fw, c.agent, role, conv, op, &available, cerr,
                                                sizeof(cerr)) < 0)
                    ag_warn("framework '%s': operation %s dropped: %s", fw->id, type, cerr);
                else
                    ag_info("framework '%s': %s applied on agent '%s'", fw->id, type, c.agent->id);
            } else {
                ag_warn("framework '%s': operation %s is not supported yet; ignored (its "
                        "resources are returned)",
                        fw->id, type);
            }
        }
    }
    if (!ag_resources_empty(&available) && c.agent->in_allocator)
        m->alloc_ops->recover(m->alloc, fw->id, role, c.agent->id, &available, refuse,
                              ag_monotonic());
    ag_resources_release(&available);
    ag_master_allocate_soon(m);
out:
    free(offer_ids);
    free(offers);
    free(refs);
    free(refp);
    return CALL_ACCEPTED;
}

static int call_decline(struct ag_master *m, struct ag_master_framework *fw, const json_t *payload)
{
    json_t *ids = ag_json_get(payload, "offer_ids");
    double refuse = refuse_seconds(payload);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        const char *oid = json_string_value(ag_json_get(id, "value"));
        struct ag_master_offer *o = ag_master_map_get(&m->offers, oid);
        if (!o || o->fw != fw) {
            ag_debug("framework '%s' declined unknown offer '%s'", fw->id, oid);
            continue;
        }
        ag_master_offer_remove(m, o, false, true, refuse);
    }
    m->metrics.msg_decline_offers++;
    ag_master_allocate_soon(m);
    return CALL_ACCEPTED;
}

/* Collects the roles of REVIVE / SUPPRESS, all subscribed ones. */
static int collect_roles(struct ag_master_framework *fw, const json_t *payload, const char *what,
                         const char ***ret, size_t *ret_n, char *err, size_t errlen)
{
    json_t *roles = ag_json_get(payload, "roles");
    json_t *role = ag_json_get(payload, "role");
    size_t n = json_array_size(roles) + (role ? 1 : 0);
    const char **list = calloc(n + 1, sizeof(*list));
    if (!list) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t k = 0, i;
    json_t *r;
    json_array_foreach(roles, i, r) list[k++] = json_string_value(r);
    if (role)
        list[k++] = json_string_value(role);
    for (i = 0; i < k; i++) {
        if (!ag_master_fw_has_role(fw, list[i])) {
            snprintf(err, errlen, "%s names role '%s' that the framework is not subscribed to",
                     what, list[i]);
            free(list);
            return -EINVAL;
        }
    }
    *ret = list;
    *ret_n = k;
    return 0;
}

static int call_revive(struct ag_master *m, struct ag_master_framework *fw, const json_t *payload,
                       bool suppress, char *err, size_t errlen)
{
    const char **roles;
    size_t n;
    if (collect_roles(fw, payload, suppress ? "SUPPRESS" : "REVIVE", &roles, &n, err, errlen) < 0)
        return -EINVAL;
    if (suppress) {
        m->alloc_ops->suppress(m->alloc, fw->id, roles, n);
        m->metrics.msg_suppress_offers++;
    } else {
        m->alloc_ops->revive(m->alloc, fw->id, roles, n, ag_monotonic());
        m->metrics.msg_revive_offers++;
        ag_master_allocate_soon(m);
    }
    free(roles);
    return CALL_ACCEPTED;
}

/* --- reconciliation --- */

/* What reconciliation knows about an agent id. */
static enum ag_master_recon_agent recon_agent(struct ag_master *m, const char *agent_id)
{
    if (!agent_id)
        return AG_RECON_AGENT_NOT_GIVEN;
    struct ag_master_agent *a = ag_master_agent_find(m, agent_id);
    if (!a)
        return AG_RECON_AGENT_UNKNOWN;
    if (a->state == AG_MASTER_AGENT_UNREACHABLE)
        return AG_RECON_AGENT_UNREACHABLE;
    return AG_RECON_AGENT_REGISTERED;
}

static void copy_member(json_t *dst, const json_t *src, const char *key)
{
    json_t *v = ag_json_get(src, key);
    if (v)
        json_object_set(dst, key, v);
}

static void reconcile_known(struct ag_master *m, struct ag_master_framework *fw,
                            struct ag_master_task *t)
{
    enum ag_task_state state = ag_master_reconcile_known(
        t->state, t->has_update_state, t->update_state, ag_master_fw_partition_aware(fw));
    json_t *st =
        ag_task_status_new(t->id, state, "SOURCE_MASTER", "REASON_RECONCILIATION",
                           "Reconciliation: Latest task state", t->agent->id, t->executor_id);
    json_t *last = ag_master_task_last_status(t);
    if (last) {
        copy_member(st, last, "healthy");
        copy_member(st, last, "check_status");
        copy_member(st, last, "container_status");
        json_decref(last);
    }
    if (t->unreachable_time > 0)
        json_object_set_new(st, "unreachable_time", ag_master_time_info(t->unreachable_time));
    ag_master_send_update(m, fw, st);
}

static void reconcile_unknown(struct ag_master *m, struct ag_master_framework *fw,
                              const char *task_id, const char *agent_id)
{
    enum ag_master_recon_agent kind = recon_agent(m, agent_id);
    enum ag_task_state state;
    if (!ag_master_reconcile_unknown(kind, false, ag_master_fw_partition_aware(fw), &state))
        return;
    json_t *st = ag_task_status_new(task_id, state, "SOURCE_MASTER", "REASON_RECONCILIATION",
                                    "Reconciliation: Task is unknown", agent_id, NULL);
    if (kind == AG_RECON_AGENT_UNREACHABLE) {
        struct ag_master_agent *a = ag_master_agent_find(m, agent_id);
        json_object_set_new(st, "unreachable_time", ag_master_time_info(a->unreachable_time));
    }
    ag_master_send_update(m, fw, st);
}

static int call_reconcile(struct ag_master *m, struct ag_master_framework *fw,
                          const json_t *payload)
{
    json_t *tasks = ag_json_get(payload, "tasks");
    m->metrics.msg_reconcile_tasks++;
    if (json_array_size(tasks) == 0) {
        for (struct ag_master_map_entry *e = fw->tasks.head; e; e = e->next)
            reconcile_known(m, fw, e->value);
        return CALL_ACCEPTED;
    }
    size_t i;
    json_t *rt;
    json_array_foreach(tasks, i, rt)
    {
        const char *tid = id_of(rt, "task_id");
        struct ag_master_task *t = ag_master_map_get(&fw->tasks, tid);
        if (t)
            reconcile_known(m, fw, t);
        else
            reconcile_unknown(m, fw, tid, id_of(rt, "agent_id"));
    }
    return CALL_ACCEPTED;
}

/* --- tasks and executors --- */

static int call_kill(struct ag_master *m, struct ag_master_framework *fw, const json_t *payload)
{
    const char *tid = id_of(payload, "task_id");
    const char *aid = id_of(payload, "agent_id");
    m->metrics.msg_kill_task++;
    struct ag_master_task *t = ag_master_map_get(&fw->tasks, tid);
    if (!t) {
        ag_info("framework '%s' asked to kill unknown task '%s'; reconciling it", fw->id, tid);
        reconcile_unknown(m, fw, tid, aid);
        return CALL_ACCEPTED;
    }
    if (t->agent->state != AG_MASTER_AGENT_CONNECTED) {
        ag_warn("cannot kill task '%s' of framework '%s': agent '%s' is %s", tid, fw->id,
                t->agent->id, ag_master_agent_state_name(t->agent->state));
        return CALL_ACCEPTED;
    }
    json_t *kill =
        json_pack("{s:o, s:o}", "framework_id", ag_json_id(fw->id), "task_id", ag_json_id(tid));
    json_t *kp = ag_json_get(payload, "kill_policy");
    if (kp)
        json_object_set(kill, "kill_policy", kp);
    json_t *ev = event_new("KILL");
    json_object_set_new(ev, "kill", kill);
    ag_master_send_agent(m, t->agent, ev);
    return CALL_ACCEPTED;
}

/* The connected agent a call names, or NULL (logged). */
static struct ag_master_agent *call_agent(struct ag_master *m, struct ag_master_framework *fw,
                                          const char *agent_id, const char *what)
{
    struct ag_master_agent *a = ag_master_agent_find(m, agent_id);
    if (!a || a->state != AG_MASTER_AGENT_CONNECTED) {
        ag_info("framework '%s': %s for agent '%s' dropped: agent %s", fw->id, what, agent_id,
                a ? ag_master_agent_state_name(a->state) : "unknown");
        m->metrics.dropped_messages++;
        return NULL;
    }
    return a;
}

static int call_shutdown(struct ag_master *m, struct ag_master_framework *fw, const json_t *payload)
{
    struct ag_master_agent *a = call_agent(m, fw, id_of(payload, "agent_id"), "SHUTDOWN");
    m->metrics.msg_shutdown_executor++;
    if (!a)
        return CALL_ACCEPTED;
    json_t *ev = event_new("SHUTDOWN_EXECUTOR");
    json_object_set_new(ev, "shutdown_executor",
                        json_pack("{s:o, s:o}", "framework_id", ag_json_id(fw->id), "executor_id",
                                  ag_json_id(id_of(payload, "executor_id"))));
    ag_master_send_agent(m, a, ev);
    return CALL_ACCEPTED;
}

static int acknowledge(struct ag_master *m, struct ag_master_framework *fw, const char *aid,
                       const char *tid, const char *uuid)
{
    m->metrics.msg_status_update_ack++;

    struct ag_master_task *t = ag_master_map_get(&fw->tasks, tid);
    if (t && t->update_uuid && strcmp(t->update_uuid, uuid) == 0 && t->has_update_state &&
        ag_task_state_is_terminal(t->update_state))
        ag_master_task_complete(m, t);

    struct ag_master_agent *a = ag_master_agent_find(m, aid);
    if (!a || a->state != AG_MASTER_AGENT_CONNECTED) {
        m->metrics.invalid_acks++;
        ag_info("framework '%s': acknowledgement for task '%s' dropped: agent '%s' is %s", fw->id,
                tid, aid, a ? ag_master_agent_state_name(a->state) : "unknown");
        return CALL_ACCEPTED;
    }
    m->metrics.valid_acks++;
    ag_master_send_ack(m, a, fw->id, tid, uuid);
    return CALL_ACCEPTED;
}

static int call_acknowledge(struct ag_master *m, struct ag_master_framework *fw,
                            const json_t *payload)
{
    return acknowledge(m, fw, id_of(payload, "agent_id"), id_of(payload, "task_id"),
                       json_string_value(ag_json_get(payload, "uuid")));
}

static int call_message(struct ag_master *m, struct ag_master_framework *fw, const json_t *payload)
{
    struct ag_master_agent *a = call_agent(m, fw, id_of(payload, "agent_id"), "MESSAGE");
    if (!a)
        return CALL_ACCEPTED;
    m->metrics.msg_framework_to_executor++;
    json_t *ev = event_new("MESSAGE");
    json_object_set_new(ev, "message",
                        json_pack("{s:o, s:o, s:O}", "framework_id", ag_json_id(fw->id),
                                  "executor_id", ag_json_id(id_of(payload, "executor_id")), "data",
                                  ag_json_get(payload, "data")));
    ag_master_send_agent(m, a, ev);
    return CALL_ACCEPTED;
}

static int call_reconcile_operations(struct ag_master *m, struct ag_master_framework *fw,
                                     const json_t *payload)
{
    /* The master runs no operations: every one asked about is unknown. */
    json_t *ops = ag_json_get(payload, "operations");
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        json_t *oid = ag_json_get(op, "operation_id");
        if (!oid)
            continue;
        json_t *status = json_pack("{s:O, s:s}", "operation_id", oid, "state", "OPERATION_UNKNOWN");
        json_t *aid = ag_json_get(op, "agent_id");
        if (aid)
            json_object_set(status, "agent_id", aid);
        json_t *ev = event_new("UPDATE_OPERATION_STATUS");
        json_object_set_new(ev, "update_operation_status", json_pack("{s:o}", "status", status));
        ag_master_send_fw(m, fw, ev);
    }
    return CALL_ACCEPTED;
}

int ag_master_sched_call(struct ag_master *m, struct ag_master_framework *fw,
                         enum ag_master_call type, const json_t *call, char *err, size_t errlen)
{
    char key[64];
    const char *name = ag_master_call_name(type);
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof(key); i++)
        key[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    key[i] = '\0';
    const json_t *payload = ag_json_get(call, key);

    switch (type) {
    case AG_CALL_TEARDOWN:
        m->metrics.msg_teardown++;
        ag_info("framework '%s' asked to be torn down", fw->id);
        ag_master_fw_remove(m, fw);
        return CALL_ACCEPTED;
    case AG_CALL_ACCEPT:
        return call_accept(m, fw, payload, err, errlen);
    case AG_CALL_DECLINE:
        return call_decline(m, fw, payload);
    case AG_CALL_REVIVE:
        return call_revive(m, fw, payload, false, err, errlen);
    case AG_CALL_SUPPRESS:
        return call_revive(m, fw, payload, true, err, errlen);
    case AG_CALL_KILL:
        return call_kill(m, fw, payload);
    case AG_CALL_SHUTDOWN:
        return call_shutdown(m, fw, payload);
    case AG_CALL_ACKNOWLEDGE:
        return call_acknowledge(m, fw, payload);
    case AG_CALL_RECONCILE:
        return call_reconcile(m, fw, payload);
    case AG_CALL_MESSAGE:
        return call_message(m, fw, payload);
    case AG_CALL_RECONCILE_OPERATIONS:
        return call_reconcile_operations(m, fw, payload);
    case AG_CALL_UPDATE_FRAMEWORK:
        if (ag_master_fw_update(m, fw, ag_json_get(payload, "framework_info"),
                                ag_json_get(payload, "suppressed_roles"), err, errlen) < 0)
            return -EINVAL;
        return CALL_OK;
    case AG_CALL_REQUEST:
    case AG_CALL_ACCEPT_INVERSE_OFFERS:
    case AG_CALL_DECLINE_INVERSE_OFFERS:
    case AG_CALL_ACKNOWLEDGE_OPERATION_STATUS:
        /* No inverse offers or operations exist; the default allocator
         * ignores requests. */
        return CALL_ACCEPTED;
    case AG_CALL_SUBSCRIBE:
    case AG_CALL_UNKNOWN:
        break;
    }
    return CALL_ACCEPTED;
}

/* --- SUBSCRIBE --- */

static void on_fw_stream_close(struct ag_http_stream *stream, void *arg)
{
    struct ag_master *m = arg;
    struct ag_master_framework *fw = ag_http_stream_data(stream);
    if (fw && fw->stream == stream)
        ag_master_fw_disconnected(m, fw);
}

static void subscribe(struct ag_master *m, struct ag_http_req *req, const json_t *call)
{
    const json_t *payload = ag_json_get(call, "subscribe");
    char sid[AG_UUID_STR_LEN];
    ag_uuid_string(sid);
    ag_http_req_add_header(req, "Mesos-Stream-Id", sid);
    struct ag_http_stream *stream =
        ag_http_stream_start(req, 200, "application/json", on_fw_stream_close, m);
    if (!stream)
        return;
    char err[1024];
    if (ag_master_fw_subscribe(m, ag_json_get(payload, "framework_info"),
                               ag_json_get(payload, "suppressed_roles"), stream, sid, NULL, err,
                               sizeof(err)) < 0) {
        ag_info("refused a framework subscription: %s", err);
        json_t *ev = event_new("ERROR");
        json_object_set_new(ev, "error", json_pack("{s:s}", "message", err));
        ag_http_stream_send_json(stream, ev);
        json_decref(ev);
        ag_http_stream_end(stream);
    }
}

/* --- the endpoint --- */

/* The subscribed framework a call (not SUBSCRIBE) comes from, checked
 * against its stream id; NULL once the request has been answered. */
static struct ag_master_framework *call_framework(struct ag_master *m, struct ag_http_req *req,
                                                  const char *fid)
{
    struct ag_master_framework *fw = ag_master_fw_find(m, fid);
    if (!fw) {
        ag_http_reply_error(req, 400, "Framework cannot be found");
        return NULL;
    }
    if (fw->state != AG_MASTER_FW_CONNECTED) {
        ag_http_reply_error(req, 403, "Framework is not subscribed");
        return NULL;
    }
    const char *sid = ag_http_req_header(req, "Mesos-Stream-Id");
    if (!sid) {
        ag_http_reply_error(req, 400,
                            "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
        return NULL;
    }
    if (strcmp(sid, fw->stream_id) != 0) {
        ag_http_reply_error(req, 400,
                            "The stream ID '%s' included in this request didn't match the "
                            "stream ID currently associated with framework ID %s",
                            sid, fw->id);
        return NULL;
    }
    return fw;
}

/* Copies a lean field into a NUL-terminated buffer; false if absent or
 * too long. */
static bool lean_copy(const struct ag_json_lean_field *f, char *out, size_t outlen)
{
    if (!f->value || f->len >= outlen)
        return false;
    memcpy(out, f->value, f->len);
    out[f->len] = '\0';
    return true;
}

/* ACKNOWLEDGE is the most frequent call (one per status update). When its
 * body has the usual shape and is valid, it is read without building a
 * tree; anything else, every invalid call included, takes the full parser
 * and validator below, so errors are answered the same way. True once the
 * request has been answered. */
static bool lean_acknowledge(struct ag_master *m, struct ag_http_req *req, const char *body,
                             size_t len)
{
    struct ag_json_lean_field f[] = {
        {.path = "type"},
        {.path = "framework_id.value"},
        {.path = "acknowledge.agent_id.value"},
        {.path = "acknowledge.task_id.value"},
        {.path = "acknowledge.uuid"},
    };
    char fid[256], aid[256], tid[256], uuid[64];
    if (ag_json_lean_read(body, len, f, sizeof(f) / sizeof(f[0])) < 0 || !f[0].value ||
        f[0].len != strlen("ACKNOWLEDGE") || memcmp(f[0].value, "ACKNOWLEDGE", f[0].len) != 0)
        return false;
    if (!lean_copy(&f[1], fid, sizeof(fid)) || !lean_copy(&f[2], aid, sizeof(aid)) ||
        !lean_copy(&f[3], tid, sizeof(tid)) || !lean_copy(&f[4], uuid, sizeof(uuid)))
        return false;
    size_t n = 0;
    uint8_t *bytes = ag_base64_decode(uuid, &n);
    free(bytes);
    if (!bytes || n != 16)
        return false;
    struct ag_master_framework *fw = call_framework(m, req, fid);
    if (fw) {
        acknowledge(m, fw, aid, tid, uuid);
        ag_http_reply(req, 202, NULL, NULL, 0);
    }
    return true;
}

static void handle_scheduler(struct ag_http_req *req, void *arg)
{
    struct ag_master *m = arg;
    char err[1024] = "";
    size_t len;
    const char *body = ag_master_read_body(m, req, &len);
    if (!body || lean_acknowledge(m, req, body, len))
        return;
    json_t *call = ag_master_parse_call(req, body, len);
    if (!call)
        return;
    enum ag_master_call type;
    if (ag_master_validate_sched_call(call, &type, err, sizeof(err)) < 0) {
        ag_http_reply_error(req, 400, "Failed to validate scheduler::Call: %s", err);
        goto out;
    }
    if (type == AG_CALL_UNKNOWN) {
        ag_http_reply_error(req, 501, "Received 'UNKNOWN' call");
        goto out;
    }
    if ((type == AG_CALL_SUBSCRIBE || type == AG_CALL_RECONCILE_OPERATIONS) &&
        !ag_master_accepts_json(ag_http_req_header(req, "Accept"))) {
        ag_http_reply_error(req, 406, "Expecting 'Accept' to allow 'application/json'");
        goto out;
    }
    if (type == AG_CALL_SUBSCRIBE) {
        if (ag_http_req_header(req, "Mesos-Stream-Id")) {
            ag_http_reply_error(req, 400,
                                "Subscribe calls should not include the 'Mesos-Stream-Id' header");
            goto out;
        }
        subscribe(m, req, call);
        goto out;
    }

    struct ag_master_framework *fw = call_framework(m, req, id_of(call, "framework_id"));
    if (!fw)
        goto out;
    int r = ag_master_sched_call(m, fw, type, call, err, sizeof(err));
    if (r < 0)
        ag_http_reply_error(req, 400, "%s", err);
    else if (r == CALL_OK)
        ag_http_reply(req, 200, NULL, NULL, 0);
    else
        ag_http_reply(req, 202, NULL, NULL, 0);
out:
    json_decref(call);
}

void ag_master_scheduler_routes(struct ag_master *m)
{
    ag_http_server_route(m->http, "/api/v1/scheduler", handle_scheduler, m);
    ag_http_server_route(m->http, "/master/api/v1/scheduler", handle_scheduler, m);
}
