/*
 * example: the workload `agora local` runs to show the cluster working. A
 * small framework on the SDK, in-process on local's loop: it launches a few
 * tasks that each echo a line, spreads them over the offers it gets,
 * prints every state change, then shows each task's output (read from the
 * sandbox, which is on this machine) and tears itself down.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/scheduler.h"
#include "cli/cli.h"
#include "core/http.h"
#include "core/json.h"
#include "core/loop.h"

#define EXAMPLE_TIMEOUT_SECS 60.0
#define OUTPUT_MAX           4096

struct ex_task {
    char id[32];
    char command[96];
    char *agent_url;
    char state[40];
    bool launched, ended, shown;
    int state_tries;
};

struct ag_cli_example {
    struct ag_loop *loop;
    struct ag_scheduler *sched;
    struct ex_task *tasks;
    size_t ntasks, nlaunched, nended, nshown, nfinished;
    struct ag_timer *timeout;
    ag_cli_example_done_cb done;
    void *arg;
    bool finished;
    int inflight;
};

static void example_end(struct ag_cli_example *ex, const char *why);

static struct ex_task *find_task(struct ag_cli_example *ex, const char *id)
{
    for (size_t i = 0; i < ex->ntasks; i++)
        if (strcmp(ex->tasks[i].id, id) == 0)
            return &ex->tasks[i];
    return NULL;
}

/* Prints the first lines of a sandbox file, indented. */
static void show_file(const char *id, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("      (%s: %s)\n", path, strerror(errno));
        return;
    }
    char buf[OUTPUT_MAX];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    printf("  %s's %s (%s):\n", id, name, path);
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        printf("      | %s\n", line);
}

static void maybe_done(struct ag_cli_example *ex)
{
    if (ex->nshown == ex->ntasks)
        example_end(ex, NULL);
}

struct state_req {
    struct ag_cli_example *ex;
    size_t idx;
};

static void ask_sandbox(struct ag_cli_example *ex, size_t idx);

static void on_agent_state(const struct ag_http_response *resp, void *arg)
{
    struct state_req *rq = arg;
    struct ag_cli_example *ex = rq->ex;
    struct ex_task *t = &ex->tasks[rq->idx];
    size_t idx = rq->idx;
    free(rq);
    ex->inflight--;
    const char *dir = NULL;
    json_t *doc = NULL;
    if (ag_http_response_code(resp) == 200) {
        size_t len = 0;
        char err[128];
        const char *body = ag_http_response_body(resp, &len);
        doc = ag_json_parse(body, len, err, sizeof(err));
        dir = ag_cli_sandbox_dir(doc, ag_scheduler_framework_id(ex->sched), t->id);
    }
    if (dir || ++t->state_tries >= 10) {
        if (dir) {
            show_file(t->id, dir, "stdout");
            if (strcmp(t->state, "TASK_FINISHED") != 0)
                show_file(t->id, dir, "stderr");
        } else {
            printf("  %s: sandbox not found on its agent\n", t->id);
        }
        fflush(stdout);
        t->shown = true;
        ex->nshown++;
        json_decref(doc);
        maybe_done(ex);
        return;
    }
    json_decref(doc);
    ask_sandbox(ex, idx);
}

static void ask_sandbox(struct ag_cli_example *ex, size_t idx)
{
    struct ex_task *t = &ex->tasks[idx];
    char url[512];
    struct state_req *rq = malloc(sizeof(*rq));
    if (!t->agent_url || !rq) {
        free(rq);
        t->shown = true;
        ex->nshown++;
        maybe_done(ex);
        return;
    }
    rq->ex = ex;
    rq->idx = idx;
    snprintf(url, sizeof(url), "%s/state", t->agent_url);
    if (ag_http_request(ex->loop, "GET", url, NULL, NULL, 0, 5.0, on_agent_state, rq) == 0) {
        ex->inflight++;
    } else {
        free(rq);
        t->shown = true;
        ex->nshown++;
        maybe_done(ex);
    }
}

static void on_offers(struct ag_scheduler *s, const json_t *offers, void *arg)
{
    struct ag_cli_example *ex = arg;
    size_t i;
    json_t *offer;
    json_array_foreach(offers, i, offer)
    {
        /* One task per offer, so the tasks spread over the agents. */
        struct ex_task *t = NULL;
        for (size_t k = 0; k < ex->ntasks && !t; k++)
            if (!ex->tasks[k].launched)
                t = &ex->tasks[k];
        if (!t) {
            ag_scheduler_decline_offer(s, offer, 60);
            continue;
        }
        struct ag_sched_task spec = {
            .task_id = t->id,
            .command = t->command,
            .cpus = 0.1,
            .mem = 32,
        };
        /* refuse_seconds 0: the rest of this agent comes back at once. */
        if (ag_scheduler_launch(s, offer, &spec, 1, 0) < 0) {
            ag_scheduler_decline_offer(s, offer, 1);
            continue;
        }
        t->launched = true;
        t->agent_url = ag_cli_offer_agent_url(offer);
        const char *host = json_string_value(json_object_get(offer, "hostname"));
        printf("  launching %s on %s\n", t->id, t->agent_url ? t->agent_url : host ? host : "?");
        if (++ex->nlaunched == ex->ntasks)
            ag_scheduler_suppress(s, NULL, 0);
    }
    fflush(stdout);
}

static void on_update(struct ag_scheduler *s, const json_t *status, void *arg)
{
    struct ag_cli_example *ex = arg;
    (void)s;
    char err[128];
    const char *id = ag_json_get_id(status, "task_id", false, err, sizeof(err));
    const char *state = json_string_value(json_object_get(status, "state"));
    struct ex_task *t = id ? find_task(ex, id) : NULL;
    if (!t || !state || t->ended)
        return;
    snprintf(t->state, sizeof(t->state), "%s", state);
    const char *msg = json_string_value(json_object_get(status, "message"));
    if (strcmp(state, "TASK_RUNNING") == 0 || strcmp(state, "TASK_FINISHED") == 0)
        msg = NULL; /* "Command exited with status 0" says nothing new */
    printf("  %s: %s%s%s\n", t->id, state, msg && *msg ? " - " : "", msg && *msg ? msg : "");
    fflush(stdout);
    if (ag_cli_state_terminal(state)) {
        t->ended = true;
        ex->nended++;
        if (strcmp(state, "TASK_FINISHED") == 0)
            ex->nfinished++;
        ask_sandbox(ex, (size_t)(t - ex->tasks));
    }
}

static void on_error(struct ag_scheduler *s, const char *message, void *arg)
{
    (void)s;
    example_end(arg, message);
}

static void on_disconnected(struct ag_scheduler *s, const char *reason, double retry_in, void *arg)
{
    (void)s;
    (void)arg;
    printf("  (example framework: %s; retrying in %g s)\n", reason, retry_in);
}

static void on_timeout(void *arg)
{
    example_end(arg, "the example did not finish in time");
}

static void teardown_done(struct ag_scheduler *s, int code, const char *message, void *arg)
{
    (void)s;
    (void)code;
    (void)message;
    (void)arg;
}

static void example_end(struct ag_cli_example *ex, const char *why)
{
    if (ex->finished)
        return;
    ex->finished = true;
    ag_timer_stop(ex->timeout);
    ag_scheduler_teardown(ex->sched, teardown_done, ex);
    if (ex->done)
        ex->done(ex->nfinished, ex->ntasks, why, ex->arg);
}

struct ag_cli_example *ag_cli_example_start(struct ag_loop *loop, const char *master, size_t ntasks,
                                            ag_cli_example_done_cb done, void *arg)
{
    struct ag_cli_example *ex = calloc(1, sizeof(*ex));
    if (!ex)
        return NULL;
    ex->loop = loop;
    ex->done = done;
    ex->arg = arg;
    ex->ntasks = ntasks;
    ex->tasks = calloc(ntasks ? ntasks : 1, sizeof(*ex->tasks));
    static const struct ag_scheduler_callbacks cb = {
        .offers = on_offers,
        .update = on_update,
        .error = on_error,
        .disconnected = on_disconnected,
    };
    json_t *fi = json_pack("{s:s,s:f}", "name", "agora-local-example", "failover_timeout", 0.0);
    ex->sched = ex->tasks ? ag_scheduler_new(loop, master, fi, &cb, ex) : NULL;
    json_decref(fi);
    ex->timeout = ag_timer_new(loop, on_timeout, ex);
    if (!ex->sched || !ex->timeout) {
        ag_cli_example_free(ex);
        return NULL;
    }
    for (size_t i = 0; i < ntasks; i++) {
        snprintf(ex->tasks[i].id, sizeof(ex->tasks[i].id), "hello-%zu", i + 1);
        snprintf(ex->tasks[i].command, sizeof(ex->tasks[i].command),
                 "echo \"hello from %s (pid $$)\"", ex->tasks[i].id);
    }
    ag_timer_start(ex->timeout, EXAMPLE_TIMEOUT_SECS);
    ag_scheduler_start(ex->sched);
    return ex;
}

void ag_cli_example_abort(struct ag_cli_example *ex)
{
    if (!ex || ex->finished)
        return;
    ex->finished = true;
    ag_timer_stop(ex->timeout);
    ag_scheduler_stop(ex->sched);
}

bool ag_cli_example_idle(const struct ag_cli_example *ex)
{
    return !ex || (ex->inflight == 0 && ag_scheduler_calls_in_flight(ex->sched) == 0);
}

void ag_cli_example_free(struct ag_cli_example *ex)
{
    if (!ex)
        return;
    ag_scheduler_free(ex->sched);
    ex->sched = NULL;
    ag_timer_free(ex->timeout);
    for (size_t i = 0; ex->tasks && i < ex->ntasks; i++)
        free(ex->tasks[i].agent_url);
    free(ex->tasks);
    free(ex);
}
