/*
 * default: the default executor (agora-default-executor), which the agent
 * runs for an ExecutorInfo of type DEFAULT. It runs every task of the task
 * groups it is given (LAUNCH_GROUP) as a container nested in its own,
 * through the agent's operator API: LAUNCH_CONTAINER, then WAIT_CONTAINER
 * (held open by the agent until the task's process ends), KILL_CONTAINER
 * and REMOVE_CONTAINER. Each task gets its own cgroups (its own limits),
 * its own sandbox (<executor sandbox>/containers/<container id>, linked
 * as tasks/<task id>), and shares the executor's namespaces.
 *
 * Updates: TASK_STARTING when the launch is asked, TASK_RUNNING once the
 * agent launched the container, then TASK_FINISHED (exit 0), TASK_FAILED
 * ("Command exited with status N" / "Command terminated with signal X",
 * or the agent's limitation, e.g. REASON_CONTAINER_LIMITATION_MEMORY), or
 * TASK_KILLED after a KILL or SHUTDOWN.
 *
 * A failing task takes its group down: the other live tasks of the group
 * are killed (TASK_KILLED), unless the failing task carries the label
 * agora.group.kill_on_failure=false. A KILL of one task kills only that
 * task's container.
 *
 * A task's health_check and check run as in the command executor
 * (lib/sched/health.c): HTTP and TCP probes from here, since the executor shares the
 * task's network namespace, COMMAND probes as nested containers of their
 * own; a task over its failure limit is killed (TASK_KILLED, healthy
 * false), which does not kill the rest of its group.
 *
 * The executor exits once it has run at least one group, no task is live,
 * and every terminal update is acknowledged (at most 60 s after the last
 * terminal update).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agora/executor.h"
#include "agora/health.h"
#include "core/http.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "executor/default.h"

#define DEFAULT_KILL_GRACE 3.0
#define ACK_WAIT_MAX       60.0
#define IDLE_POLL          0.01
#define IDLE_POLLS_MAX     200
#define WAIT_RETRY         1.0
#define WAIT_RETRIES_MAX   30

/* ------------------------------------------------------------------ */
/* pure helpers                                                        */

bool ag_dex_kill_on_failure(const json_t *task)
{
    size_t i;
    json_t *l;
    json_array_foreach(ag_json_get(ag_json_get(task, "labels"), "labels"), i, l)
    {
        const char *k = json_string_value(ag_json_get(l, "key"));
        const char *v = json_string_value(ag_json_get(l, "value"));
        if (k && strcmp(k, AG_DEX_KILL_ON_FAILURE_LABEL) == 0 && v && strcmp(v, "false") == 0)
            return false;
    }
    return true;
}

void ag_dex_exit_message(int wait_status, char *out, size_t outlen)
{
    if (WIFEXITED(wait_status))
        snprintf(out, outlen, "Command exited with status %d", WEXITSTATUS(wait_status));
    else if (WIFSIGNALED(wait_status))
        snprintf(out, outlen, "Command terminated with signal %s",
                 strsignal(WTERMSIG(wait_status)));
    else
        snprintf(out, outlen, "Command ended with wait status %d", wait_status);
}

enum ag_task_state ag_dex_terminal_state(const json_t *wait, bool kill_requested)
{
    json_t *st = ag_json_get(wait, "exit_status");
    if (kill_requested)
        return AG_TASK_KILLED;
    if (ag_json_get(wait, "reason"))
        return AG_TASK_FAILED;
    if (json_is_integer(st) && WIFEXITED((int)json_integer_value(st)) &&
        WEXITSTATUS((int)json_integer_value(st)) == 0)
        return AG_TASK_FINISHED;
    return AG_TASK_FAILED;
}

static double policy_grace(const json_t *policy)
{
    double ns;
    char err[64];
    json_t *gp = ag_json_get(policy, "grace_period");
    if (!json_is_object(gp) ||
        ag_json_get_number(gp, "nanoseconds", true, &ns, err, sizeof(err)) < 0 || ns < 0)
        return -1;
    return ns / 1e9;
}

double ag_dex_kill_grace(const json_t *kill_policy, const json_t *task)
{
    double g = policy_grace(kill_policy);
    if (g >= 0)
        return g;
    g = policy_grace(ag_json_get(task, "kill_policy"));
    return g >= 0 ? g : DEFAULT_KILL_GRACE;
}

json_t *ag_dex_launch_call(const char *container_id, const char *parent_id, const json_t *task)
{
    json_t *call =
        json_pack("{s:s,s:{s:{s:s,s:{s:s}}}}", "type", "LAUNCH_CONTAINER", "launch_container",
                  "container_id", "value", container_id, "parent", "value", parent_id);
    json_t *lc = json_object_get(call, "launch_container");
    if (!call)
        return NULL;
    if (ag_json_get(task, "command"))
        json_object_set(lc, "command", ag_json_get(task, "command"));
    json_object_set_new(lc, "resources",
                        ag_json_get(task, "resources") ? json_copy(ag_json_get(task, "resources"))
                                                       : json_array());
    if (ag_json_get(task, "container"))
        json_object_set(lc, "container", ag_json_get(task, "container"));
    return call;
}

/* ------------------------------------------------------------------ */
/* the executor                                                        */

enum { PROBE_HEALTH = 0, PROBE_CHECK = 1, PROBE_KINDS = 2 };

enum dtask_phase {
    PHASE_LAUNCHING = 0, /* LAUNCH_CONTAINER sent */
    PHASE_RUNNING = 1,   /* launched; WAIT_CONTAINER held */
    PHASE_DONE = 2,      /* terminal update sent */
};

struct dex;

struct dtask {
    struct dex *d;
    char *id;
    json_t *info;
    unsigned group; /* which LAUNCH_GROUP it came in */
    char cid[AG_UUID_STR_LEN];
    enum dtask_phase phase;
    bool kill_requested; /* KILL, SHUTDOWN, or its group failing */
    bool killing;        /* SIGTERM sent */
    double grace;
    struct ag_timer *escalate;
    struct ag_timer *wait_retry;
    int wait_retries;
    char terminal_uuid[25];
    bool acked;
    char *kill_message; /* why it was killed, for the terminal update (owned) */
    struct probe {
        struct dtask *t;
        struct ag_health_checker *hc; /* NULL if the task has none */
        unsigned seq;                 /* COMMAND probes launched so far */
        char cid[AG_UUID_STR_LEN + 16];
    } probe[PROBE_KINDS]; /* health_check, check */
    int healthy;          /* last health reported: -1 none yet, 0, 1 */
    bool unhealthy;       /* killed for failing its health check */
};

/* One COMMAND probe's calls: stale answers (an abandoned probe) are told
 * apart by their sequence number. */
struct probe_call {
    struct probe *pr;
    unsigned seq;
    char cid[AG_UUID_STR_LEN + 16];
};

struct dex {
    struct ag_loop *loop;
    struct ag_executor *exec;
    struct ag_executor_config cfg;
    const char *token;
    char url[256];
    struct ag_signal *sigterm, *sigint;
    struct ag_timer *idle_timer, *ack_timer;
    struct dtask **tasks;
    size_t n;
    unsigned groups;
    bool shutdown;
    bool exiting;
    int idle_polls;
};

static struct dtask *task_find(struct dex *d, const char *id)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->tasks[i]->id, id) == 0)
            return d->tasks[i];
    return NULL;
}

/* One POST to the agent's operator API with the executor's token. A call
 * without a timeout (WAIT_CONTAINER, held open until the task ends) gets a
 * connection of its own (`Connection: close`): held in lib/core's pool of
 * kept-alive connections, a few of them would queue every other call to
 * the agent, the executor's status updates included, behind them. */
static int operator_call(struct dex *d, json_t *call, double timeout, ag_http_done_cb done,
                         void *arg)
{
    char auth[128];
    char *body = json_dumps(call, JSON_COMPACT);
    int rc;
    size_t n = 2;
    struct ag_http_header h[5] = {{"Content-Type", "application/json"},
                                  {"Accept", "application/json"}};
    snprintf(auth, sizeof(auth), "Bearer %s", d->token ? d->token : "");
    if (d->token)
        h[n++] = (struct ag_http_header){"Authorization", auth};
    if (timeout <= 0)
        h[n++] = (struct ag_http_header){"Connection", "close"};
    h[n] = (struct ag_http_header){NULL, NULL};
    json_decref(call);
    if (!body)
        return -ENOMEM;
    rc = ag_http_request(d->loop, "POST", d->url, h, body, strlen(body), timeout, done, arg);
    free(body);
    return rc;
}

static json_t *container_id_json(const struct dtask *t)
{
    return json_pack("{s:s,s:{s:s}}", "value", t->cid, "parent", "value",
                     ag_executor_container_id(t->d->exec));
}

static void ignore_answer(const struct ag_http_response *resp, void *arg)
{
    (void)arg;
    if (ag_http_response_code(resp) != 200)
        ag_warn("a container call was answered %d", ag_http_response_code(resp));
}

static void send_signal(struct dtask *t, int signo)
{
    json_t *call = json_pack("{s:s,s:{s:o,s:i}}", "type", "KILL_CONTAINER", "kill_container",
                             "container_id", container_id_json(t), "signal", signo);
    if (call && operator_call(t->d, call, 10, ignore_answer, NULL) < 0)
        ag_warn("cannot ask the agent to signal task '%s'", t->id);
}

static void maybe_exit(struct dex *d);

/* The last update of a task; a failing task may take its group down. */
static void send_terminal(struct dtask *t, enum ag_task_state state, const char *reason,
                          const char *message, const json_t *limitation)
{
    struct dex *d = t->d;
    json_t *st =
        json_pack("{s:{s:s},s:s}", "task_id", "value", t->id, "state", ag_task_state_name(state));
    if (reason)
        json_object_set_new(st, "reason", json_string(reason));
    if (message)
        json_object_set_new(st, "message", json_string(message));
    if (limitation)
        json_object_set(st, "limitation", (json_t *)limitation);
    /* As the command executor: healthy:false after a health-check kill. */
    if (t->unhealthy)
        json_object_set_new(st, "healthy", json_false());
    for (int i = 0; i < PROBE_KINDS; i++)
        ag_health_checker_stop(t->probe[i].hc);
    t->phase = PHASE_DONE;
    ag_timer_stop(t->escalate);
    ag_timer_stop(t->wait_retry);
    if (!st || ag_executor_send_status(d->exec, st, t->terminal_uuid) < 0) {
        ag_error("cannot send the terminal update of task '%s'", t->id);
        t->acked = true;
    }
    json_decref(st);
    ag_info("task '%s' is %s%s%s", t->id, ag_task_state_name(state), message ? ": " : "",
            message ? message : "");
    ag_timer_start(d->ack_timer, ACK_WAIT_MAX);
}

static void kill_task(struct dtask *t, double grace, const char *why);

/* A task failed: the other live tasks of its group are killed. */
static void group_failed(struct dtask *failed)
{
    struct dex *d = failed->d;
    char why[512];
    if (!ag_dex_kill_on_failure(failed->info))
        return;
    snprintf(why, sizeof(why), "Killed because task '%s' of its group failed", failed->id);
    for (size_t i = 0; i < d->n; i++) {
        struct dtask *o = d->tasks[i];
        if (o != failed && o->group == failed->group && o->phase != PHASE_DONE &&
            !o->kill_requested) {
            ag_info("killing task '%s': task '%s' of its group failed", o->id, failed->id);
            kill_task(o, ag_dex_kill_grace(NULL, o->info), why);
        }
    }
}

static void remove_container(struct dtask *t)
{
    json_t *call = json_pack("{s:s,s:{s:o}}", "type", "REMOVE_CONTAINER", "remove_container",
                             "container_id", container_id_json(t));
    if (call)
        operator_call(t->d, call, 10, ignore_answer, NULL);
}

static void start_wait(struct dtask *t);

/* How many failed connections a WAIT_CONTAINER survives: for as long as
 * the agent may take to come back when it recovers its executors. */
static int wait_retries_max(const struct dex *d)
{
    double limit = d->cfg.checkpoint ? d->cfg.recovery_timeout / WAIT_RETRY : 0;
    return limit > WAIT_RETRIES_MAX ? (int)limit : WAIT_RETRIES_MAX;
}

static void wait_done(const struct ag_http_response *resp, void *arg)
{
    struct dtask *t = arg;
    int code = ag_http_response_code(resp);
    size_t len;
    const char *body = ag_http_response_body(resp, &len);
    char err[256], msg[512];
    json_t *answer, *w;

    if (t->phase == PHASE_DONE)
        return;
    if ((code == 0 || code == 503) && ++t->wait_retries <= wait_retries_max(t->d)) {
        /* The agent is restarting (503 from one leaving on SIGTERM) or the
         * connection broke: ask again (a restarted agent recovers the
         * container of a checkpointing framework, within
         * MESOS_RECOVERY_TIMEOUT). */
        ag_timer_start(t->wait_retry, WAIT_RETRY);
        return;
    }
    if (code != 200) {
        snprintf(msg, sizeof(msg), "Lost the task's container: WAIT_CONTAINER answered %d: %.300s",
                 code, code ? body : ag_http_response_error(resp));
        send_terminal(t, t->kill_requested ? AG_TASK_KILLED : AG_TASK_FAILED,
                      "REASON_CONTAINER_LAUNCH_FAILED", msg, NULL);
        if (!t->kill_requested)
            group_failed(t);
        maybe_exit(t->d);
        return;
    }
    answer = ag_json_parse(body, len, err, sizeof(err));
    w = ag_json_get(answer, "wait_container");
    enum ag_task_state state = ag_dex_terminal_state(w, t->kill_requested);
    const char *reason = json_string_value(ag_json_get(w, "reason"));
    json_t *status = ag_json_get(w, "exit_status");
    if (t->unhealthy)
        snprintf(msg, sizeof(msg), "Killed after failing %d consecutive health checks",
                 ag_health_checker_policy(t->probe[PROBE_HEALTH].hc)->consecutive_failures);
    else if (state == AG_TASK_KILLED)
        snprintf(msg, sizeof(msg), "%s", t->kill_message ? t->kill_message : "Task killed");
    else if (reason && json_string_value(ag_json_get(w, "message")))
        snprintf(msg, sizeof(msg), "%s", json_string_value(ag_json_get(w, "message")));
    else
        ag_dex_exit_message(json_is_integer(status) ? (int)json_integer_value(status) : 0, msg,
                            sizeof(msg));
    remove_container(t);
    send_terminal(t, state, state == AG_TASK_FAILED ? reason : NULL, msg,
                  ag_json_get(w, "limitation"));
    json_decref(answer);
    if (state == AG_TASK_FAILED)
        group_failed(t);
    maybe_exit(t->d);
}

static void start_wait(struct dtask *t)
{
    json_t *call = json_pack("{s:s,s:{s:o}}", "type", "WAIT_CONTAINER", "wait_container",
                             "container_id", container_id_json(t));
    if (!call || operator_call(t->d, call, 0, wait_done, t) < 0) {
        ag_error("cannot wait for task '%s'", t->id);
        ag_timer_start(t->wait_retry, WAIT_RETRY);
    }
}

static void wait_retry_fired(void *arg)
{
    start_wait(arg);
}

/* The task's sandbox under its id too: tasks/<id> -> ../containers/<cid>. */
static void link_sandbox(const struct dtask *t)
{
    char dir[PATH_MAX], link[PATH_MAX + 256], target[128];
    const char *sandbox = t->d->cfg.sandbox;
    if (!sandbox)
        return;
    snprintf(dir, sizeof(dir), "%s/tasks", sandbox);
    mkdir(dir, 0755);
    snprintf(link, sizeof(link), "%s/%s", dir, t->id);
    snprintf(target, sizeof(target), "../containers/%s", t->cid);
    if (symlink(target, link) < 0 && errno != EEXIST)
        ag_warn("cannot link '%s': %s", link, strerror(errno));
}

static void launch_done(const struct ag_http_response *resp, void *arg)
{
    struct dtask *t = arg;
    int code = ag_http_response_code(resp);
    size_t len;
    const char *body = ag_http_response_body(resp, &len);
    char msg[512];

    if (t->phase == PHASE_DONE)
        return;
    if (code != 200 && code != 202) {
        snprintf(msg, sizeof(msg), "Cannot launch the task's container: %d %.300s", code,
                 code ? body : ag_http_response_error(resp));
        send_terminal(t, AG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED", msg, NULL);
        group_failed(t);
        maybe_exit(t->d);
        return;
    }
    t->phase = PHASE_RUNNING;
    link_sandbox(t);
    if (!t->kill_requested)
        ag_executor_update(t->d->exec, t->id, "TASK_RUNNING", NULL, NULL, NULL);
    start_wait(t);
    for (int i = 0; i < PROBE_KINDS && !t->kill_requested; i++)
        if (t->probe[i].hc)
            ag_health_checker_start(t->probe[i].hc);
    if (t->kill_requested)
        kill_task(t, t->grace, NULL);
}

/* --- health checks: HTTP and TCP probes reach the task on 127.0.0.1
 * (the executor shares its network namespace); COMMAND probes run as
 * short-lived nested containers of their own. --- */

static json_t *probe_container_id(const struct dtask *t, const char *cid)
{
    return json_pack("{s:s,s:{s:s}}", "value", cid, "parent", "value",
                     ag_executor_container_id(t->d->exec));
}

/* The result of a probe, unless it is stale or the task is over. */
static void probe_result(struct probe_call *p, int wait_status)
{
    struct probe *pr = p->pr;
    if (pr->seq == p->seq && pr->t->phase == PHASE_RUNNING)
        ag_health_checker_command_done(pr->hc, wait_status);
}

static void probe_waited(const struct ag_http_response *resp, void *arg)
{
    struct probe_call *p = arg;
    struct dtask *t = p->pr->t;
    size_t len;
    const char *body = ag_http_response_body(resp, &len);
    char err[128];
    json_t *answer = ag_json_parse(body, len, err, sizeof(err));
    json_t *st = ag_json_get(ag_json_get(answer, "wait_container"), "exit_status");
    json_t *call;
    probe_result(p, ag_http_response_code(resp) == 200 && json_is_integer(st)
                        ? (int)json_integer_value(st)
                        : 127 << 8);
    json_decref(answer);
    call = json_pack("{s:s,s:{s:o}}", "type", "REMOVE_CONTAINER", "remove_container",
                     "container_id", probe_container_id(t, p->cid));
    if (call)
        operator_call(t->d, call, 10, ignore_answer, NULL);
    free(p);
}

static void probe_launched(const struct ag_http_response *resp, void *arg)
{
    struct probe_call *p = arg;
    struct dtask *t = p->pr->t;
    int code = ag_http_response_code(resp);
    json_t *call;
    if (code != 200) {
        ag_warn("cannot launch a probe of task '%s': %d", t->id, code);
        probe_result(p, 127 << 8);
        free(p);
        return;
    }
    call = json_pack("{s:s,s:{s:o}}", "type", "WAIT_CONTAINER", "wait_container", "container_id",
                     probe_container_id(t, p->cid));
    if (!call || operator_call(t->d, call, 0, probe_waited, p) < 0) {
        probe_result(p, 127 << 8);
        free(p);
    }
}

/* A COMMAND probe: a nested container of its own (no limits of its own,
 * within the executor's), as the task's user. */
static int probe_start(struct ag_health_checker *hc, const json_t *command, void *arg)
{
    struct probe *pr = arg;
    struct dtask *t = pr->t;
    struct probe_call *p = calloc(1, sizeof(*p));
    json_t *cmd = json_deep_copy(command), *call;
    const char *user = json_string_value(ag_json_get(ag_json_get(t->info, "command"), "user"));
    (void)hc;
    if (!p || !cmd) {
        free(p);
        json_decref(cmd);
        return -ENOMEM;
    }
    if (user && !ag_json_get(cmd, "user"))
        json_object_set_new(cmd, "user", json_string(user));
    p->pr = pr;
    p->seq = ++pr->seq;
    snprintf(p->cid, sizeof(p->cid), "%s-%s%u", t->cid, pr == &t->probe[PROBE_HEALTH] ? "hc" : "ck",
             p->seq % 100000);
    snprintf(pr->cid, sizeof(pr->cid), "%s", p->cid);
    call = json_pack("{s:s,s:{s:o,s:o,s:[]}}", "type", "LAUNCH_CONTAINER", "launch_container",
                     "container_id", probe_container_id(t, p->cid), "command", cmd, "resources");
    if (!call || operator_call(t->d, call, 60, probe_launched, p) < 0) {
        free(p);
        return -EIO;
    }
    return 0;
}

static void probe_cancel(struct ag_health_checker *hc, void *arg)
{
    struct probe *pr = arg;
    json_t *call = json_pack("{s:s,s:{s:o,s:i}}", "type", "KILL_CONTAINER", "kill_container",
                             "container_id", probe_container_id(pr->t, pr->cid), "signal", SIGKILL);
    (void)hc;
    pr->seq++; /* its answer, if any, is stale now */
    if (call)
        operator_call(pr->t->d, call, 10, ignore_answer, NULL);
}

/* Every update of a running task carries the last health result and the
 * last check result, as the command executor's do. */
static void send_running(struct dtask *t, const char *reason, const char *message)
{
    const struct ag_health_checker *check = t->probe[PROBE_CHECK].hc;
    const json_t *cs = check ? ag_health_checker_check_status(check) : NULL;
    json_t *st = json_pack("{s:{s:s},s:s,s:s}", "task_id", "value", t->id, "state", "TASK_RUNNING",
                           "reason", reason);
    if (!st)
        return;
    if (message)
        json_object_set_new(st, "message", json_string(message));
    if (t->healthy >= 0)
        json_object_set_new(st, "healthy", json_boolean(t->healthy));
    if (cs)
        json_object_set_new(st, "check_status", json_deep_copy(cs));
    ag_executor_send_status(t->d->exec, st, NULL);
    json_decref(st);
}

static void on_health(struct ag_health_checker *hc, const struct ag_health_verdict *v,
                      const char *message, void *arg)
{
    struct dtask *t = ((struct probe *)arg)->t;
    (void)hc;
    if (t->phase != PHASE_RUNNING || t->kill_requested)
        return;
    t->healthy = v->healthy;
    send_running(t, "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", message);
    if (!v->kill)
        return;
    ag_warn("task '%s' failed %d consecutive health checks; killing it", t->id, v->consecutive);
    t->unhealthy = true;
    if (ag_executor_framework_capable(t->d->exec, "TASK_KILLING_STATE"))
        ag_executor_update(t->d->exec, t->id, "TASK_KILLING", NULL, NULL, NULL);
    kill_task(t, ag_dex_kill_grace(NULL, t->info), NULL);
}

static void on_check(struct ag_health_checker *hc, const json_t *check_status, void *arg)
{
    struct dtask *t = ((struct probe *)arg)->t;
    (void)hc;
    (void)check_status;
    if (t->phase == PHASE_RUNNING && !t->kill_requested)
        send_running(t, "REASON_TASK_CHECK_STATUS_UPDATED", NULL);
}

/* The task's health_check and check, if any: checkers, not started yet. */
static int probes_setup(struct dtask *t, char *err, size_t errlen)
{
    static const struct ag_health_checker_ops ops = {
        .command_start = probe_start,
        .command_cancel = probe_cancel,
        .health = on_health,
        .check = on_check,
    };
    static const char *const keys[PROBE_KINDS] = {"health_check", "check"};
    for (int i = 0; i < PROBE_KINDS; i++) {
        struct ag_health_policy policy;
        char why[400];
        json_t *j = ag_json_get(t->info, keys[i]);
        t->probe[i].t = t;
        if (!j)
            continue;
        if (ag_health_policy_parse(j, i == PROBE_CHECK, &policy, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "Invalid %s: %s", i == PROBE_CHECK ? "check" : "health check",
                     why);
            return -EINVAL;
        }
        t->probe[i].hc = ag_health_checker_new(t->d->loop, &policy, &ops, &t->probe[i]);
        ag_health_policy_release(&policy);
        if (!t->probe[i].hc) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    return 0;
}

static void launch_task(struct dex *d, struct dtask *t)
{
    char err[512];
    json_t *call;
    if (probes_setup(t, err, sizeof(err)) < 0) {
        send_terminal(t, AG_TASK_FAILED, NULL, err, NULL);
        group_failed(t);
        return;
    }
    call = ag_dex_launch_call(t->cid, ag_executor_container_id(d->exec), t->info);
    ag_executor_update(d->exec, t->id, "TASK_STARTING", NULL, NULL, NULL);
    if (!call || operator_call(d, call, 60, launch_done, t) < 0) {
        send_terminal(t, AG_TASK_FAILED, "REASON_CONTAINER_LAUNCH_FAILED",
                      "Cannot ask the agent to launch the task's container", NULL);
        group_failed(t);
    }
}

static void escalate(void *arg)
{
    struct dtask *t = arg;
    if (t->phase == PHASE_RUNNING)
        send_signal(t, SIGKILL);
}

/* SIGTERM to the task's container, SIGKILL after the grace period. A
 * task whose launch is still being answered is killed once it is. */
static void kill_task(struct dtask *t, double grace, const char *why)
{
    if (t->phase == PHASE_DONE)
        return;
    t->kill_requested = true;
    t->grace = grace;
    if (why && !t->kill_message)
        t->kill_message = strdup(why);
    if (t->phase == PHASE_LAUNCHING)
        return;
    if (grace <= 0) {
        send_signal(t, SIGKILL);
        return;
    }
    if (!t->killing) {
        t->killing = true;
        send_signal(t, SIGTERM);
    }
    ag_timer_start(t->escalate, grace);
}

static struct dtask *task_add(struct dex *d, const json_t *info, const char *id)
{
    struct dtask *t = calloc(1, sizeof(*t)), **grown;
    if (!t)
        return NULL;
    grown = realloc(d->tasks, (d->n + 1) * sizeof(*grown));
    if (!grown) {
        free(t);
        return NULL;
    }
    d->tasks = grown;
    t->d = d;
    t->id = strdup(id);
    t->info = json_deep_copy(info);
    t->group = d->groups;
    t->healthy = -1;
    ag_uuid_string(t->cid);
    t->escalate = ag_timer_new(d->loop, escalate, t);
    t->wait_retry = ag_timer_new(d->loop, wait_retry_fired, t);
    d->tasks[d->n++] = t;
    if (!t->id || !t->info || !t->escalate || !t->wait_retry)
        return NULL;
    return t;
}

static void task_free(struct dtask *t)
{
    if (!t)
        return;
    free(t->id);
    free(t->kill_message);
    for (int i = 0; i < PROBE_KINDS; i++)
        ag_health_checker_free(t->probe[i].hc);
    json_decref(t->info);
    ag_timer_free(t->escalate);
    ag_timer_free(t->wait_retry);
    free(t);
}

/* ------------------------------------------------------------------ */
/* exit                                                                */

static bool all_done(const struct dex *d)
{
    if (d->groups == 0)
        return false;
    for (size_t i = 0; i < d->n; i++)
        if (d->tasks[i]->phase != PHASE_DONE || !d->tasks[i]->acked)
            return false;
    return true;
}

static void idle_poll(void *arg)
{
    struct dex *d = arg;
    if (ag_executor_idle(d->exec) || ++d->idle_polls > IDLE_POLLS_MAX) {
        ag_loop_stop(d->loop);
        return;
    }
    ag_timer_start(d->idle_timer, IDLE_POLL);
}

/* Leaves once nothing is left to report (the last calls given a moment
 * to go out). */
static void maybe_exit(struct dex *d)
{
    if (d->exiting || !all_done(d))
        return;
    d->exiting = true;
    ag_info("no task left; exiting");
    ag_executor_stop(d->exec);
    ag_timer_start(d->idle_timer, 0);
}

static void ack_timeout(void *arg)
{
    struct dex *d = arg;
    for (size_t i = 0; i < d->n; i++)
        if (d->tasks[i]->phase != PHASE_DONE)
            return;
    ag_warn("terminal updates not acknowledged within %gs; exiting", ACK_WAIT_MAX);
    for (size_t i = 0; i < d->n; i++)
        d->tasks[i]->acked = true;
    maybe_exit(d);
}

/* ------------------------------------------------------------------ */
/* executor events                                                     */

static void on_launch(struct ag_executor *e, const json_t *task, void *arg)
{
    char err[128];
    const char *id = ag_json_get_id(task, "task_id", true, err, sizeof(err));
    (void)arg;
    if (id)
        ag_executor_update(e, id, "TASK_FAILED", NULL,
                           "The default executor runs task groups only (LAUNCH_GROUP)", NULL);
}

static void on_launch_group(struct ag_executor *e, const json_t *group, void *arg)
{
    struct dex *d = arg;
    size_t i;
    json_t *info;
    char err[128];
    d->groups++;
    json_array_foreach(ag_json_get(group, "tasks"), i, info)
    {
        const char *id = ag_json_get_id(info, "task_id", true, err, sizeof(err));
        struct dtask *t;
        if (!id)
            continue;
        if (task_find(d, id)) {
            ag_executor_update(e, id, "TASK_FAILED", NULL, "A task with this id runs already",
                               NULL);
            continue;
        }
        t = task_add(d, info, id);
        if (!t) {
            ag_error("out of memory");
            ag_executor_update(e, id, "TASK_FAILED", NULL, "The executor is out of memory", NULL);
            continue;
        }
        if (d->shutdown) {
            send_terminal(t, AG_TASK_KILLED, NULL, "The executor is shutting down", NULL);
            continue;
        }
        ag_info("launching task '%s' as container '%s'", id, t->cid);
        launch_task(d, t);
    }
    maybe_exit(d);
}

static void on_kill(struct ag_executor *e, const char *task_id, const json_t *policy, void *arg)
{
    struct dex *d = arg;
    struct dtask *t = task_find(d, task_id);
    if (!t || t->phase == PHASE_DONE)
        return;
    if (!t->kill_requested && ag_executor_framework_capable(e, "TASK_KILLING_STATE"))
        ag_executor_update(e, t->id, "TASK_KILLING", NULL, NULL, NULL);
    kill_task(t, ag_dex_kill_grace(policy, t->info), "Task killed");
}

static void on_acknowledged(struct ag_executor *e, const char *task_id, const char *uuid, void *arg)
{
    struct dex *d = arg;
    struct dtask *t = task_find(d, task_id);
    (void)e;
    if (t && t->phase == PHASE_DONE && strcmp(uuid, t->terminal_uuid) == 0) {
        t->acked = true;
        maybe_exit(d);
    }
}

static void shutdown_all(struct dex *d)
{
    /* As the command executor: the shutdown grace period less 2 s, at
     * least half of it. */
    double grace = d->cfg.shutdown_grace_period - 2.0;
    if (grace < d->cfg.shutdown_grace_period / 2)
        grace = d->cfg.shutdown_grace_period / 2;
    d->shutdown = true;
    if (d->groups == 0)
        d->groups = 1; /* nothing ran: may leave now */
    for (size_t i = 0; i < d->n; i++)
        kill_task(d->tasks[i], grace, "Executor shut down");
    maybe_exit(d);
}

static void on_shutdown(struct ag_executor *e, void *arg)
{
    (void)e;
    ag_info("shutdown requested by the agent");
    shutdown_all(arg);
}

static void on_error(struct ag_executor *e, const char *message, void *arg)
{
    (void)e;
    (void)arg;
    ag_warn("%s", message);
}

static void on_disconnected(struct ag_executor *e, const char *reason, bool final, void *arg)
{
    struct dex *d = arg;
    (void)e;
    if (!final)
        return;
    /* The agent kills the nested containers with this executor. */
    ag_warn("lost the agent (%s); exiting", reason);
    ag_loop_stop(d->loop);
}

static void on_stop_signal(int signo, void *arg)
{
    ag_info("received %s", strsignal(signo));
    shutdown_all(arg);
}

int ag_dex_main(void)
{
    struct dex d;
    char err[512];
    const struct ag_executor_callbacks cb = {
        .launch = on_launch,
        .launch_group = on_launch_group,
        .kill = on_kill,
        .acknowledged = on_acknowledged,
        .shutdown = on_shutdown,
        .error = on_error,
        .disconnected = on_disconnected,
    };
    int rc = 0;

    memset(&d, 0, sizeof(d));
    ag_log_set_tag("default-executor");
    if (ag_executor_config_from_env(&d.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "agora-default-executor: %s\n", err);
        return 1;
    }
    d.token = getenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
    snprintf(d.url, sizeof(d.url), "http://%s/api/v1", d.cfg.agent_endpoint);
    d.loop = ag_loop_new();
    if (!d.loop) {
        fprintf(stderr, "agora-default-executor: cannot create the event loop\n");
        return 1;
    }
    d.exec = ag_executor_new(d.loop, &d.cfg, &cb, &d);
    d.sigterm = ag_signal_new(d.loop, SIGTERM, on_stop_signal, &d);
    d.sigint = ag_signal_new(d.loop, SIGINT, on_stop_signal, &d);
    d.idle_timer = ag_timer_new(d.loop, idle_poll, &d);
    d.ack_timer = ag_timer_new(d.loop, ack_timeout, &d);
    if (!d.exec || !d.sigterm || !d.sigint || !d.idle_timer || !d.ack_timer) {
        fprintf(stderr, "agora-default-executor: out of memory\n");
        rc = 1;
        goto out;
    }
    ag_info("default executor '%s' of framework '%s' starting; agent %s", d.cfg.executor_id,
            d.cfg.framework_id, d.cfg.agent_endpoint);
    ag_executor_start(d.exec);
    if (ag_loop_run(d.loop) < 0)
        rc = 1;
out:
    ag_executor_free(d.exec);
    for (size_t i = 0; i < d.n; i++)
        task_free(d.tasks[i]);
    free(d.tasks);
    ag_signal_free(d.sigterm);
    ag_signal_free(d.sigint);
    ag_timer_free(d.idle_timer);
    ag_timer_free(d.ack_timer);
    ag_loop_free(d.loop);
    return rc;
}
