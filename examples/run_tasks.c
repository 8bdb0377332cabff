/*
 * run_tasks: an example framework on the Agora scheduler SDK.
 *
 *   agora-example-run_tasks --master=HOST:PORT --tasks=N
 *       [--cmd='echo hello from $MESOS_TASK_ID'] [--cpus=0.1] [--mem=32]
 *
 * Runs N command tasks across the offers it gets (as many per offer as
 * fit), prints each state change as it happens, lets the SDK acknowledge
 * the updates, and at the end prints a summary and tears the framework
 * down. Exits 0 if every task finished, 1 otherwise.
 *
 * Everything a scheduler needs is here: a FrameworkInfo, callbacks for
 * SUBSCRIBED / OFFERS / UPDATE / ERROR, launching with the SDK's helper,
 * declining what it does not need, suppressing offers once all tasks are
 * launched, and a clean teardown.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/scheduler.h"
#include "core/json.h"
#include "core/loop.h"

struct task {
    char id[32];
    bool launched;
    bool done;
    char state[32];
};

struct framework {
    struct ag_loop *loop;
    struct ag_scheduler *sched;
    const char *cmd;
    double cpus, mem;
    struct task *tasks;
    int ntasks, launched, finished, failed;
    bool stopping;
};

static struct task *find_task(struct framework *fw, const char *id)
{
    for (int i = 0; i < fw->ntasks; i++)
        if (strcmp(fw->tasks[i].id, id) == 0)
            return &fw->tasks[i];
    return NULL;
}

static void flushed(struct ag_scheduler *s, int code, const char *message, void *arg)
{
    struct framework *fw = arg;
    (void)s;
    (void)code;
    (void)message;
    ag_loop_stop(fw->loop);
}

static void teardown_done(struct ag_scheduler *s, int code, const char *message, void *arg)
{
    struct framework *fw = arg;
    if (message)
        fprintf(stderr, "teardown failed (%d): %s\n", code, message);
    /* Let the last acknowledgements reach the master before we exit. */
    if (ag_scheduler_flush(s, flushed, fw) < 0)
        ag_loop_stop(fw->loop);
}

static void stop(struct framework *fw)
{
    if (fw->stopping)
        return;
    fw->stopping = true;
    /* TEARDOWN removes the framework; the loop stops once it is answered. */
    if (ag_scheduler_teardown(fw->sched, teardown_done, fw) < 0)
        ag_loop_stop(fw->loop);
}

static void on_subscribed(struct ag_scheduler *s, const char *framework_id, const json_t *sub,
                          void *arg)
{
    (void)s;
    (void)sub;
    (void)arg;
    printf("subscribed as framework %s\n", framework_id);
}

static void on_offers(struct ag_scheduler *s, const json_t *offers, void *arg)
{
    struct framework *fw = arg;
    size_t i;
    json_t *offer;
    json_array_foreach(offers, i, offer)
    {
        /* Pack as many waiting tasks into this offer as its cpus and mem
         * allow; the SDK checks the exact fit. */
        double cpus = ag_scheduler_offer_scalar(offer, "cpus");
        double mem = ag_scheduler_offer_scalar(offer, "mem");
        struct ag_sched_task batch[64];
        struct task *picked[64];
        size_t n = 0;
        for (int t = 0; t < fw->ntasks && n < 64; t++) {
            if (fw->tasks[t].launched)
                continue;
            if (cpus + 1e-9 < fw->cpus * (double)(n + 1) || mem + 1e-9 < fw->mem * (double)(n + 1))
                break;
            batch[n] = (struct ag_sched_task){
                .task_id = fw->tasks[t].id,
                .command = fw->cmd,
                .cpus = fw->cpus,
                .mem = fw->mem,
            };
            picked[n++] = &fw->tasks[t];
        }
        if (n == 0 || ag_scheduler_launch(s, offer, batch, n, 1) < 0) {
            ag_scheduler_decline_offer(s, offer, fw->launched == fw->ntasks ? 60 : 1);
            continue;
        }
        const char *host = json_string_value(json_object_get(offer, "hostname"));
        for (size_t k = 0; k < n; k++) {
            picked[k]->launched = true;
            printf("launching %s on %s\n", picked[k]->id, host ? host : "?");
        }
        fw->launched += (int)n;
        if (fw->launched == fw->ntasks)
            ag_scheduler_suppress(s, NULL, 0); /* no more offers needed */
    }
    fflush(stdout);
}

static bool terminal(const char *state)
{
    static const char *const names[] = {
        "TASK_FINISHED", "TASK_FAILED",  "TASK_KILLED", "TASK_ERROR",
        "TASK_LOST",     "TASK_DROPPED", "TASK_GONE",   "TASK_GONE_BY_OPERATOR"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(state, names[i]) == 0)
            return true;
    return false;
}

static void on_update(struct ag_scheduler *s, const json_t *status, void *arg)
{
    struct framework *fw = arg;
    (void)s;
    char err[128];
    const char *id = ag_json_get_id(status, "task_id", false, err, sizeof(err));
    const char *state = json_string_value(json_object_get(status, "state"));
    const char *message = json_string_value(json_object_get(status, "message"));
    struct task *t = id ? find_task(fw, id) : NULL;
    if (!t || !state || t->done)
        return;
    if (message && *message)
        printf("%s: %s (%s)\n", t->id, state, message);
    else
        printf("%s: %s\n", t->id, state);
    snprintf(t->state, sizeof(t->state), "%s", state);
    /* The SDK acknowledges the update after we return (auto-ack). */
    if (terminal(state)) {
        t->done = true;
        if (strcmp(state, "TASK_FINISHED") == 0)
            fw->finished++;
        else
            fw->failed++;
        if (fw->finished + fw->failed == fw->ntasks)
            stop(fw);
    }
    fflush(stdout);
}

static void on_error(struct ag_scheduler *s, const char *message, void *arg)
{
    struct framework *fw = arg;
    (void)s;
    fprintf(stderr, "error from the master: %s\n", message);
    ag_loop_stop(fw->loop);
}

static void on_disconnected(struct ag_scheduler *s, const char *reason, double retry_in, void *arg)
{
    (void)s;
    (void)arg;
    fprintf(stderr, "disconnected: %s; retrying in %g s\n", reason, retry_in);
}

static void on_signal(int signo, void *arg)
{
    struct framework *fw = arg;
    fprintf(stderr, "signal %d: tearing down\n", signo);
    if (fw->stopping)
        ag_loop_stop(fw->loop);
    stop(fw);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: agora-example-run_tasks --master=HOST:PORT --tasks=N\n"
                 "           [--cmd='echo hello from $MESOS_TASK_ID'] [--cpus=0.1] [--mem=32]\n");
}

int main(int argc, char **argv)
{
    struct framework fw = {.cmd = "echo hello from $MESOS_TASK_ID", .cpus = 0.1, .mem = 32};
    const char *master = "127.0.0.1:5050";
    static const struct option longopts[] = {
        {"master", required_argument, NULL, 'm'},
        {"tasks", required_argument, NULL, 't'},
        {"cmd", required_argument, NULL, 'c'},
        {"cpus", required_argument, NULL, 'p'},
        {"mem", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            master = optarg;
            break;
        case 't':
            fw.ntasks = atoi(optarg);
            break;
        case 'c':
            fw.cmd = optarg;
            break;
        case 'p':
            fw.cpus = atof(optarg);
            break;
        case 'r':
            fw.mem = atof(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (fw.ntasks <= 0 || fw.ntasks > 100000 || !(fw.cpus > 0) || !(fw.mem > 0) || optind < argc) {
        usage(stderr);
        fprintf(stderr, "--tasks must be a positive number; --cpus and --mem greater than 0\n");
        return 2;
    }
    fw.tasks = calloc((size_t)fw.ntasks, sizeof(*fw.tasks));
    for (int i = 0; fw.tasks && i < fw.ntasks; i++)
        snprintf(fw.tasks[i].id, sizeof(fw.tasks[i].id), "task-%d", i + 1);

    fw.loop = ag_loop_new();
    static const struct ag_scheduler_callbacks callbacks = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .update = on_update,
        .error = on_error,
        .disconnected = on_disconnected,
    };
    /* failover_timeout 0: if we die, the master removes us and our tasks. */
    json_t *info = json_pack("{s:s,s:f}", "name", "run_tasks example", "failover_timeout", 0.0);
    fw.sched =
        fw.loop && fw.tasks ? ag_scheduler_new(fw.loop, master, info, &callbacks, &fw) : NULL;
    json_decref(info);
    if (!fw.sched) {
        fprintf(stderr, "cannot create the scheduler (bad --master '%s'?)\n", master);
        return 2;
    }
    struct ag_signal *sigint = ag_signal_new(fw.loop, SIGINT, on_signal, &fw);
    struct ag_signal *sigterm = ag_signal_new(fw.loop, SIGTERM, on_signal, &fw);
    ag_scheduler_start(fw.sched);
    ag_loop_run(fw.loop);

    printf("summary: %d finished, %d failed, %d never ended (of %d)\n", fw.finished, fw.failed,
           fw.ntasks - fw.finished - fw.failed, fw.ntasks);
    ag_signal_free(sigint);
    ag_signal_free(sigterm);
    ag_scheduler_free(fw.sched);
    ag_loop_free(fw.loop);
    int code = fw.finished == fw.ntasks ? 0 : 1;
    free(fw.tasks);
    return code;
}
