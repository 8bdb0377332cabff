/*
 * run: `agora run [options] -- CMD [ARGS...]`, a one-task framework.
 *
 * It subscribes through the SDK, launches the command on the first offer
 * that fits, prints each state change on stderr, and streams the task's
 * stdout and stderr to its own by polling the agent's /files/read (found
 * through the agent's /state, the agent's address coming from the offer).
 * It exits with the task's exit code and tears the framework down. The
 * framework uses failover_timeout 0, so even a crash of this command makes
 * the master remove it and kill the task.
 *
 * Everything is asynchronous on one loop; the only waits are the file
 * polls, at a short interval and only while no output is arriving.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/scheduler.h"
#include "cli/cli.h"
#include "core/http.h"
#include "core/id.h"
#include "core/json.h"
#include "core/loop.h"

#define POLL_IDLE_SECS      0.1   /* between file polls while the task is quiet */
#define POLL_FINAL_SECS     0.005 /* between the last polls after the task ended */
#define FINAL_QUIET_ROUNDS  2     /* empty rounds after the end before we stop */
#define STATE_TRIES_RUNNING 100   /* agent /state lookups for the sandbox (x POLL_IDLE_SECS) */
#define STATE_TRIES_ENDED   10
#define READ_CHUNK          65536
#define HTTP_TIMEOUT        10.0
#define KILL_WAIT_SECS      15.0
#define DRAIN_SECS          2.0 /* at most, for calls in flight at exit */
#define DRAIN_CHECK_SECS    0.01

struct out_file {
    const char *name; /* "stdout" / "stderr" */
    int fd;
    long long offset;
    int errors;
};

struct run {
    struct ag_loop *loop;
    struct ag_scheduler *sched;
    /* options */
    const char *master;
    double cpus, mem;
    const char *name;
    const char *role;
    bool checkpoint; /* FrameworkInfo.checkpoint: the task survives agent restarts */
    struct ag_cli_list env;
    char **cmd;
    int ncmd;
    /* the task */
    char task_id[64];
    bool launched;
    bool subscribed_once;
    bool waiting_said;
    char *agent_id;
    char *agent_url;
    char last_state[40];
    bool terminal;
    int exit_code;
    bool interrupted;
    int signo;
    bool finishing;
    bool done;
    double done_at;
    bool want_follow;
    bool url_lookup;
    /* following the sandbox */
    bool follow_started;
    char *sandbox;
    int state_tries;
    struct out_file out[2];
    int inflight;
    bool round_had_data;
    int quiet_after_end;
    struct ag_timer *poll_timer;
    struct ag_timer *kill_timer;
    struct ag_timer *drain_timer;
    struct ag_signal *sigint, *sigterm;
};

static void finish(struct run *r);
static void poll_round(struct run *r);
static void fetch_agent_state(struct run *r);

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("agora run: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* 0, or -errno (EPIPE when the reader went away, e.g. `| head -1`). */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* --- the end --- */

/* Stops once the calls still in flight (acknowledgements, the teardown,
 * the last reads) have been answered, or after DRAIN_SECS. */
static void drain_cb(void *arg)
{
    struct run *r = arg;
    bool idle = r->inflight == 0 && ag_scheduler_calls_in_flight(r->sched) == 0;
    if (idle || ag_monotonic() - r->done_at > DRAIN_SECS)
        ag_loop_stop(r->loop);
}

static void stop_loop(struct run *r)
{
    if (r->done)
        return;
    r->done = true;
    r->done_at = ag_monotonic();
    ag_timer_stop(r->poll_timer);
    ag_timer_stop(r->kill_timer);
    ag_scheduler_stop(r->sched);
    ag_timer_start_periodic(r->drain_timer, DRAIN_CHECK_SECS);
    drain_cb(r);
}

static void teardown_done(struct ag_scheduler *s, int code, const char *message, void *arg)
{
    struct run *r = arg;
    (void)s;
    if (message)
        say("teardown answered %d: %s", code, message);
    stop_loop(r);
}

/* Tears the framework down (which also kills the task if it still runs)
 * and stops the loop when the master has answered. */
static void finish(struct run *r)
{
    if (r->finishing)
        return;
    r->finishing = true;
    ag_timer_stop(r->poll_timer);
    if (ag_scheduler_teardown(r->sched, teardown_done, r) < 0)
        stop_loop(r);
}

static void maybe_finish_after_end(struct run *r)
{
    /* Finish once the task ended and its output is drained (or there is no
     * sandbox to drain, or its agent's address is still being looked up). */
    if (!r->terminal || (r->want_follow && r->url_lookup))
        return;
    if (!r->follow_started || r->quiet_after_end >= FINAL_QUIET_ROUNDS)
        finish(r);
}

/* --- following stdout/stderr --- */

static void poll_timer_cb(void *arg)
{
    struct run *r = arg;
    if (r->finishing)
        return;
    if (r->sandbox)
        poll_round(r);
    else
        fetch_agent_state(r);
}

static void round_done(struct run *r)
{
    if (r->finishing)
        return;
    if (r->round_had_data) {
        poll_round(r); /* more may be waiting: read again at once */
        return;
    }
    if (r->terminal) {
        r->quiet_after_end++;
        if (r->quiet_after_end >= FINAL_QUIET_ROUNDS) {
            maybe_finish_after_end(r);
            return;
        }
        ag_timer_start(r->poll_timer, POLL_FINAL_SECS);
        return;
    }
    ag_timer_start(r->poll_timer, POLL_IDLE_SECS);
}

struct read_req {
    struct run *r;
    struct out_file *f;
};

static void on_read(const struct ag_http_response *resp, void *arg)
{
    struct read_req *rq = arg;
    struct run *r = rq->r;
    struct out_file *f = rq->f;
    free(rq);
    r->inflight--;
    if (r->done || r->finishing)
        return;
    int code = ag_http_response_code(resp);
    if (code == 200) {
        size_t len = 0;
        const char *body = ag_http_response_body(resp, &len);
        /* Task output may hold NUL bytes, which /files/read sends as \u0000. */
        json_error_t jerr;
        json_t *doc = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
        if (!doc && ++f->errors == 20)
            say("cannot decode the agent's answer for the task's %s: %s", f->name, jerr.text);
        json_t *data = json_object_get(doc, "data");
        size_t n = json_is_string(data) ? json_string_length(data) : 0;
        if (n > 0 && write_all(f->fd, json_string_value(data), n) == -EPIPE) {
            /* Nobody reads our output any more: like a shell pipeline,
             * stop, and take the task down with us (the teardown kills it). */
            json_decref(doc);
            r->exit_code = 128 + SIGPIPE;
            r->terminal = true;
            finish(r);
            return;
        }
        if (n > 0) {
            f->offset += (long long)n;
            r->round_had_data = true;
        }
        json_decref(doc);
    } else if (code != 404 && ++f->errors == 20) {
        /* 404 just means the file is not there yet. */
        say("cannot read the task's %s from the agent (HTTP %d)", f->name, code);
    }
    if (r->inflight == 0)
        round_done(r);
}

static void poll_round(struct run *r)
{
    r->round_had_data = false;
    for (int i = 0; i < 2; i++) {
        struct out_file *f = &r->out[i];
        if (f->errors >= 20)
            continue;
        char *enc_dir = ag_cli_urlencode(r->sandbox);
        size_t n = strlen(r->agent_url) + (enc_dir ? strlen(enc_dir) : 0) + 128;
        char *url = malloc(n);
        struct read_req *rq = malloc(sizeof(*rq));
        if (!enc_dir || !url || !rq) {
            free(enc_dir);
            free(url);
            free(rq);
            continue;
        }
        snprintf(url, n, "%s/files/read?path=%s/%s&offset=%lld&length=%d", r->agent_url, enc_dir,
                 f->name, f->offset, READ_CHUNK);
        rq->r = r;
        rq->f = f;
        if (ag_http_request(r->loop, "GET", url, NULL, NULL, 0, HTTP_TIMEOUT, on_read, rq) == 0)
            r->inflight++;
        else
            free(rq);
        free(enc_dir);
        free(url);
    }
    if (r->inflight == 0) {
        /* Nothing could be asked: stop following rather than spin. */
        r->follow_started = r->sandbox != NULL && !r->terminal;
        r->quiet_after_end = FINAL_QUIET_ROUNDS;
        maybe_finish_after_end(r);
    }
}

static void on_agent_state(const struct ag_http_response *resp, void *arg)
{
    struct run *r = arg;
    r->inflight--;
    if (r->done || r->finishing)
        return;
    if (ag_http_response_code(resp) == 200) {
        size_t len = 0;
        const char *body = ag_http_response_body(resp, &len);
        char jerr[128];
        json_t *doc = ag_json_parse(body, len, jerr, sizeof(jerr));
        const char *dir = ag_cli_sandbox_dir(doc, ag_scheduler_framework_id(r->sched), r->task_id);
        if (dir) {
            r->sandbox = strdup(dir);
            say("sandbox: %s on %s", dir, r->agent_url);
        }
        json_decref(doc);
        if (r->sandbox) {
            poll_round(r);
            return;
        }
    }
    int limit = r->terminal ? STATE_TRIES_ENDED : STATE_TRIES_RUNNING;
    if (++r->state_tries >= limit) {
        say("cannot find the task's sandbox on the agent %s; no output to show", r->agent_url);
        r->follow_started = false;
        maybe_finish_after_end(r);
        return;
    }
    ag_timer_start(r->poll_timer, POLL_IDLE_SECS);
}

static void fetch_agent_state(struct run *r)
{
    size_t n = strlen(r->agent_url) + 16;
    char *url = malloc(n);
    if (!url)
        return;
    snprintf(url, n, "%s/state", r->agent_url);
    if (ag_http_request(r->loop, "GET", url, NULL, NULL, 0, HTTP_TIMEOUT, on_agent_state, r) == 0)
        r->inflight++;
    free(url);
}

static void start_follow(struct run *r)
{
    if (r->follow_started)
        return;
    if (!r->agent_url) {
        /* Its address is still being looked up (see on_slaves). */
        r->want_follow = r->url_lookup;
        return;
    }
    r->follow_started = true;
    fetch_agent_state(r);
}

/* The offer had no `url`: find the agent's address in /master/slaves. */
static void on_slaves(const struct ag_http_response *resp, void *arg)
{
    struct run *r = arg;
    r->inflight--;
    r->url_lookup = false;
    if (r->done)
        return;
    if (ag_http_response_code(resp) == 200) {
        size_t len = 0;
        const char *body = ag_http_response_body(resp, &len);
        char jerr[128];
        json_t *doc = ag_json_parse(body, len, jerr, sizeof(jerr));
        r->agent_url = ag_cli_agent_url_from_slaves(doc, r->agent_id);
        json_decref(doc);
    }
    if (!r->agent_url)
        say("cannot find the agent's address; no output to show");
    if (r->want_follow && r->agent_url)
        start_follow(r);
    else
        maybe_finish_after_end(r);
}

static void lookup_agent_url(struct run *r)
{
    const char *master = ag_scheduler_master(r->sched);
    size_t n = strlen(master) + 32;
    char *url = malloc(n);
    if (!url)
        return;
    snprintf(url, n, "%s/master/slaves", master);
    if (ag_http_request(r->loop, "GET", url, NULL, NULL, 0, HTTP_TIMEOUT, on_slaves, r) == 0) {
        r->inflight++;
        r->url_lookup = true;
    }
    free(url);
}

/* --- scheduler callbacks --- */

static void on_subscribed(struct ag_scheduler *s, const char *fid, const json_t *sub, void *arg)
{
    struct run *r = arg;
    (void)sub;
    if (r->subscribed_once && r->launched && !r->terminal) {
        /* After a reconnection, ask where our task stands. */
        struct ag_sched_task_ref ref = {r->task_id, r->agent_id};
        ag_scheduler_reconcile(s, &ref, 1);
    }
    if (!r->subscribed_once)
        say("subscribed as framework %s", fid);
    r->subscribed_once = true;
}

static void task_from_options(const struct run *r, struct ag_sched_task *t)
{
    memset(t, 0, sizeof(*t));
    t->task_id = r->task_id;
    t->name = r->name;
    if (r->ncmd == 1)
        t->command = r->cmd[0];
    else
        t->argv = (const char *const *)r->cmd;
    t->env = r->env.items;
    t->cpus = r->cpus;
    t->mem = r->mem;
}

static void launched_on(struct run *r, const json_t *offer)
{
    char err[128];
    const char *agent = ag_json_get_id(offer, "agent_id", true, err, sizeof(err));
    r->agent_id = agent ? strdup(agent) : NULL;
    r->agent_url = ag_cli_offer_agent_url(offer);
    const char *host = json_string_value(json_object_get(offer, "hostname"));
    say("launching task %s on %s (agent %s)", r->task_id, host ? host : "?", agent ? agent : "?");
    r->launched = true;
    if (!r->agent_url && r->agent_id)
        lookup_agent_url(r);
}

static void on_offers(struct ag_scheduler *s, const json_t *offers, void *arg)
{
    struct run *r = arg;
    size_t i;
    json_t *offer;
    json_array_foreach(offers, i, offer)
    {
        if (r->launched || r->finishing) {
            ag_scheduler_decline_offer(s, offer, 3600);
            continue;
        }
        struct ag_sched_task t;
        task_from_options(r, &t);
        int rc = ag_scheduler_launch(s, offer, &t, 1, 3600);
        if (rc == 0) {
            launched_on(r, offer);
            ag_scheduler_suppress(s, NULL, 0);
        } else if (rc == -ENOSPC) {
            if (!r->waiting_said)
                say("waiting for an offer with cpus %g and mem %g (this one has cpus %g, mem %g)",
                    r->cpus, r->mem, ag_scheduler_offer_scalar(offer, "cpus"),
                    ag_scheduler_offer_scalar(offer, "mem"));
            r->waiting_said = true;
            ag_scheduler_decline_offer(s, offer, 1);
        } else {
            say("cannot launch on offer: %s", strerror(-rc));
            ag_scheduler_decline_offer(s, offer, 1);
        }
    }
}

static void on_update(struct ag_scheduler *s, const json_t *status, void *arg)
{
    struct run *r = arg;
    (void)s;
    char err[128];
    const char *task = ag_json_get_id(status, "task_id", false, err, sizeof(err));
    const char *state = json_string_value(json_object_get(status, "state"));
    if (!task || !state || strcmp(task, r->task_id) != 0 || r->terminal)
        return;
    const char *message = json_string_value(json_object_get(status, "message"));
    if (strcmp(state, r->last_state) != 0) {
        bool quiet = strcmp(state, "TASK_RUNNING") == 0 || strcmp(state, "TASK_FINISHED") == 0;
        if (message && *message && !quiet)
            fprintf(stderr, "%s: %s\n", state, message);
        else
            fprintf(stderr, "%s\n", state);
        snprintf(r->last_state, sizeof(r->last_state), "%s", state);
    }
    if (ag_cli_state_terminal(state)) {
        r->terminal = true;
        r->exit_code = r->interrupted ? 128 + r->signo : ag_cli_exit_code(state, message);
        ag_timer_stop(r->kill_timer);
        bool ran = strcmp(state, "TASK_FINISHED") == 0 || strcmp(state, "TASK_FAILED") == 0 ||
                   strcmp(state, "TASK_KILLED") == 0;
        if (ran)
            start_follow(r);
        /* A poll may be sitting out the idle interval: read the rest now
         * rather than up to POLL_IDLE_SECS later. */
        if (r->sandbox && ag_timer_pending(r->poll_timer))
            ag_timer_start(r->poll_timer, 0);
        /* If following is under way, its last rounds call finish(). */
        maybe_finish_after_end(r);
        return;
    }
    start_follow(r);
}

static void on_error(struct ag_scheduler *s, const char *message, void *arg)
{
    struct run *r = arg;
    (void)s;
    if (r->finishing)
        return; /* the end of a framework we are tearing down */
    say("the master refused us: %s", message);
    r->exit_code = 1;
    stop_loop(r);
}

static void on_disconnected(struct ag_scheduler *s, const char *reason, double retry_in, void *arg)
{
    struct run *r = arg;
    (void)s;
    if (r->finishing)
        return;
    if (!r->subscribed_once && retry_in > 0) {
        say("%s", reason);
        r->exit_code = 1;
        stop_loop(r);
        return;
    }
    if (retry_in > 0)
        say("%s; retrying in %g s", reason, retry_in);
}

static void on_call_failed(struct ag_scheduler *s, const char *type, int code, const char *message,
                           void *arg)
{
    struct run *r = arg;
    (void)s;
    say("%s failed (%d): %s", type, code, message);
    if (strcmp(type, "ACCEPT") == 0 && !r->terminal) {
        r->exit_code = 1;
        finish(r);
    }
}

static void on_failure(struct ag_scheduler *s, const char *agent_id, const char *executor_id,
                       int status, void *arg)
{
    struct run *r = arg;
    (void)s;
    (void)status;
    if (!executor_id && agent_id && r->agent_id && strcmp(agent_id, r->agent_id) == 0)
        say("the agent running the task was removed");
}

/* --- signals --- */

static void kill_timeout(void *arg)
{
    struct run *r = arg;
    say("no answer to the kill; tearing the framework down");
    r->exit_code = 128 + r->signo;
    finish(r);
}

static void on_signal(int signo, void *arg)
{
    struct run *r = arg;
    if (r->done) {
        ag_loop_stop(r->loop); /* impatient: skip the rest of the drain */
        return;
    }
    bool again = r->interrupted;
    r->interrupted = true;
    if (!r->terminal)
        r->signo = signo;
    if (r->launched && !r->terminal && !again) {
        say("killing task %s (Ctrl-C again to stop waiting)", r->task_id);
        ag_scheduler_kill(r->sched, r->task_id, r->agent_id);
        ag_timer_start(r->kill_timer, KILL_WAIT_SECS);
        return;
    }
    /* Nothing to kill, or a second Ctrl-C: leave now (the teardown kills a
     * task still running). */
    if (!r->terminal)
        r->exit_code = 128 + signo;
    if (r->finishing)
        stop_loop(r);
    else
        finish(r);
}

/* --- options and main --- */

static int parse_options(struct run *r, int argc, char **argv)
{
    struct ag_cli_opt opts[] = {
        {"master", AG_CLI_STR, &r->master,
         "master HOST:PORT (default $AGORA_MASTER or 127.0.0.1:5050)"},
        {"cpus", AG_CLI_DOUBLE, &r->cpus, "cpus for the task (default 0.1)"},
        {"mem", AG_CLI_DOUBLE, &r->mem, "memory for the task in MB (default 32)"},
        {"name", AG_CLI_STR, &r->name, "task name (default: the command's first word)"},
        {"env", AG_CLI_LIST, &r->env, "NAME=VALUE for the task's environment (repeatable)"},
        {"role", AG_CLI_STR, &r->role, "role to take resources from (default *)"},
        {"checkpoint", AG_CLI_BOOL, &r->checkpoint,
         "let the task survive a restart of its agent (FrameworkInfo.checkpoint)"},
    };
    const size_t n = sizeof(opts) / sizeof(opts[0]);
    char err[256];
    int next = 0;
    int rc = ag_cli_parse(opts, n, argc, argv, &next, err, sizeof(err));
    if (rc == 1) {
        printf("usage: agora run [OPTIONS] -- CMD [ARGS...]\n\n"
               "Runs CMD as one task on the cluster, prints its states on stderr, streams its\n"
               "stdout and stderr here, and exits with its exit code. One argument is run by\n"
               "/bin/sh -c; several are run as an argv without a shell. Ctrl-C kills the task.\n");
        ag_cli_print_options(opts, n);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "agora run: %s\n", err);
        return 2;
    }
    if (next >= argc) {
        fprintf(stderr, "agora run: no command given (agora run [OPTIONS] -- CMD [ARGS...])\n");
        return 2;
    }
    r->cmd = argv + next;
    r->ncmd = argc - next;
    if (!(r->cpus > 0) || !(r->mem > 0)) {
        fprintf(stderr, "agora run: --cpus and --mem must be greater than 0\n");
        return 2;
    }
    for (size_t i = 0; i < r->env.n; i++) {
        const char *eq = strchr(r->env.items[i], '=');
        if (!eq || eq == r->env.items[i]) {
            fprintf(stderr, "agora run: --env '%s' is not NAME=VALUE\n", r->env.items[i]);
            return 2;
        }
    }
    return -1; /* go on */
}

static json_t *framework_info(const struct run *r)
{
    json_t *fi = json_pack("{s:s,s:f,s:b}", "name", "agora-run", "failover_timeout", 0.0,
                           "checkpoint", r->checkpoint);
    if (fi && r->role)
        json_object_set_new(fi, "role", json_string(r->role));
    return fi;
}

static void default_name(struct run *r, char *buf, size_t len)
{
    if (r->name)
        return;
    /* The command's first word, without its directory. */
    const char *first = r->cmd[0];
    while (*first == ' ')
        first++;
    size_t wlen = strcspn(first, " \t;|&");
    const char *word = first;
    for (size_t i = 0; i < wlen; i++)
        if (first[i] == '/')
            word = first + i + 1;
    size_t n = wlen - (size_t)(word - first);
    snprintf(buf, len, "%.*s", (int)n, word);
    r->name = buf[0] ? buf : "agora-run";
}

int ag_cli_run_main(int argc, char **argv)
{
    struct run r = {.cpus = 0.1, .mem = 32, .exit_code = 1};
    r.out[0] = (struct out_file){"stdout", STDOUT_FILENO, 0, 0};
    r.out[1] = (struct out_file){"stderr", STDERR_FILENO, 0, 0};
    int rc = parse_options(&r, argc, argv);
    if (rc >= 0) {
        ag_cli_list_release(&r.env);
        return rc;
    }
    char err[256];
    char *base = ag_cli_master_base(r.master, err, sizeof(err));
    if (!base) {
        fprintf(stderr, "agora run: %s\n", err);
        ag_cli_list_release(&r.env);
        return 2;
    }
    char name_buf[64];
    default_name(&r, name_buf, sizeof(name_buf));
    char uuid[AG_UUID_STR_LEN];
    ag_uuid_string(uuid);
    snprintf(r.task_id, sizeof(r.task_id), "run-%.8s", uuid);

    static const struct ag_scheduler_callbacks callbacks = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .update = on_update,
        .failure = on_failure,
        .error = on_error,
        .disconnected = on_disconnected,
        .call_failed = on_call_failed,
    };
    r.loop = ag_loop_new();
    json_t *fi = framework_info(&r);
    r.sched = r.loop ? ag_scheduler_new(r.loop, base, fi, &callbacks, &r) : NULL;
    json_decref(fi);
    free(base);
    if (!r.sched) {
        fprintf(stderr, "agora run: cannot set up the scheduler\n");
        ag_loop_free(r.loop);
        ag_cli_list_release(&r.env);
        return 1;
    }
    r.poll_timer = ag_timer_new(r.loop, poll_timer_cb, &r);
    r.kill_timer = ag_timer_new(r.loop, kill_timeout, &r);
    r.drain_timer = ag_timer_new(r.loop, drain_cb, &r);
    r.sigint = ag_signal_new(r.loop, SIGINT, on_signal, &r);
    r.sigterm = ag_signal_new(r.loop, SIGTERM, on_signal, &r);
    ag_scheduler_start(r.sched);
    ag_loop_run(r.loop);

    ag_scheduler_free(r.sched);
    ag_timer_free(r.poll_timer);
    ag_timer_free(r.kill_timer);
    ag_timer_free(r.drain_timer);
    ag_signal_free(r.sigint);
    ag_signal_free(r.sigterm);
    ag_loop_free(r.loop);
    free(r.agent_id);
    free(r.agent_url);
    free(r.sandbox);
    ag_cli_list_release(&r.env);
    return r.exit_code;
}
