/*
 * bench_render: the CPU cost of rendering the master's state, in process
 * and alone (no sockets, no other work on the loop): a master populated
 * through its own calls (agents subscribe, frameworks subscribe, tasks
 * with a STARTING and a RUNNING status, as the scale benchmark's are),
 * then /master/state and GET_STATE rendered whole by the streamed
 * renderer (master/stream.c) and by the tree renderer it replaced
 * (render.c, dumped as the HTTP reply did). Prints BENCH lines:
 *
 * All times are CPU time of the process (median of the runs).
 *
 *   render.state_ms.<A>x<T>        streamed /master/state, median of runs
 *   render.state_tree_ms.<A>x<T>   tree + dump, as before
 *   render.get_state_ms.<A>x<T>    streamed GET_STATE
 *   render.state_mb.<A>x<T>        size of /master/state
 *   render.kept_mb.<A>x<T>         what the renders leave behind (the
 *                                  text kept beside each agent and task,
 *                                  see master/stream.c): resident memory
 *                                  after the runs minus before
 *   render.kept_state_mb.<A>x<T>   the same after the first /master/state only
 *   render.kept_kb_per_task.<A>x<T> kept_mb per task (agents' included)
 *
 *   bench_render [--agents=N] [--tasks=N] [--runs=N] [--no_tree]
 *
 * This is the renderer's cost, not the service's: the scale benchmark
 * (bench/scale/scale.py state) measures the master under HTTP with agents
 * and frameworks connected.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "master/internal.h"

/* CPU time of this process: the figures stay meaningful on a shared,
 * loaded machine. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS of this process in KB, or 0. */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static json_t *parse(const char *text)
{
    char err[256];
    json_t *j = ag_json_parse(text, strlen(text), err, sizeof(err));
    if (!j) {
        fprintf(stderr, "bench_render: %s\n", err);
        exit(1);
    }
    return j;
}

static void populate(struct ag_master *m, int n_agents, int n_tasks, int n_fws)
{
    char err[256], text[2048];
    struct ag_master_agent **agents = calloc((size_t)n_agents, sizeof(*agents));
    for (int i = 0; i < n_agents; i++) {
        snprintf(text, sizeof(text),
                 "{\"version\":1,\"agent_info\":{\"hostname\":\"sim-%d\",\"port\":5051,"
                 "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":8}},"
                 "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32768}},"
                 "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":65536}}]}}",
                 i);
        json_t *sub = parse(text);
        if (ag_master_agent_subscribe(m, sub, "127.0.0.2", NULL, "sid", &agents[i], err,
                                      sizeof(err)) < 0) {
            fprintf(stderr, "bench_render: agent: %s\n", err);
            exit(1);
        }
        json_decref(sub);
    }
    struct ag_master_framework **fws = calloc((size_t)n_fws, sizeof(*fws));
    for (int i = 0; i < n_fws; i++) {
        snprintf(text, sizeof(text), "{\"user\":\"root\",\"name\":\"loadfw-%d\"}", i);
        json_t *info = parse(text);
        if (ag_master_fw_subscribe(m, info, NULL, NULL, "sid", &fws[i], err, sizeof(err)) < 0) {
            fprintf(stderr, "bench_render: framework: %s\n", err);
            exit(1);
        }
        json_decref(info);
    }
    struct ag_resources res;
    ag_resources_init(&res);
    ag_resources_parse("cpus:0.01;mem:1", NULL, &res, err, sizeof(err));
    ag_resources_set_allocation_role(&res, "*");
    static const char *const states[] = {"TASK_STARTING", "TASK_RUNNING"};
    for (int i = 0; i < n_tasks; i++) {
        struct ag_master_framework *fw = fws[i % n_fws];
        struct ag_master_agent *a = agents[i % n_agents];
        char id[64];
        snprintf(id, sizeof(id), "loadfw-%d-task-%d", i % n_fws, i);
        snprintf(text, sizeof(text),
                 "{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":"
                 "\"%s\"},\"command\":{\"value\":\"true\",\"shell\":true}}",
                 id, id, a->id);
        json_t *info = parse(text);
        struct ag_master_task *t =
            ag_master_task_new(m, fw, a, id, NULL, "*", info, &res, AG_TASK_RUNNING);
        ag_master_task_hold(m, t, false);
        json_decref(info);
        for (int s = 0; s < 2; s++) {
            snprintf(text, sizeof(text),
                     "{\"task_id\":{\"value\":\"%s\"},\"state\":\"%s\",\"source\":"
                     "\"SOURCE_EXECUTOR\",\"agent_id\":{\"value\":\"%s\"},\"timestamp\":"
                     "1795540509.5450356,\"uuid\":\"3q2+7wAAQAGAAAAAAAAAAA==\"}",
                     id, states[s], a->id);
            ag_master_task_add_status(t, parse(text));
        }
    }
    ag_resources_release(&res);
    free(agents);
    free(fws);
}

int main(int argc, char **argv)
{
    int n_agents = 19160, n_tasks = 100000, runs = 5;
    static const struct option longopts[] = {{"agents", required_argument, NULL, 'a'},
                                             {"tasks", required_argument, NULL, 't'},
                                             {"runs", required_argument, NULL, 'r'},
                                             {"no_tree", no_argument, NULL, 'T'},
                                             {NULL, 0, NULL, 0}};
    int ch;
    bool no_tree = false;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch == 'T') {
            no_tree = true; /* for profiling the streamed renderer alone */
            continue;
        }
        int v = atoi(optarg);
        if (v < 1) {
            fprintf(stderr, "usage: bench_render [--agents=N] [--tasks=N] [--runs=N]\n");
            return 2;
        }
        if (ch == 'a')
            n_agents = v;
        else if (ch == 't')
            n_tasks = v;
        else if (ch == 'r')
            runs = v;
        else
            return 2;
    }
    ag_log_set_level(AG_LOG_ERROR);
    struct ag_master_config cfg;
    ag_master_config_defaults(&cfg);
    char err[256];
    struct ag_loop *loop = ag_loop_new();
    struct ag_master *m = ag_master_new(&cfg, loop, NULL, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "bench_render: %s\n", err);
        return 1;
    }
    double t0 = now();
    populate(m, n_agents, n_tasks, 10);
    fprintf(stderr, "# populated %d agents, %d tasks in %.1f s\n", n_agents, n_tasks, now() - t0);

    double *streamed = calloc((size_t)runs, sizeof(double));
    double *tree = calloc((size_t)runs, sizeof(double));
    double *op = calloc((size_t)runs, sizeof(double));
    size_t size = 0;
    long rss_before = rss_kb(), rss_state = 0;
    for (int r = 0; r < runs; r++) {
        t0 = now();
        char *s = ag_master_render_all(m, AG_RENDER_STATE, NULL, &size);
        streamed[r] = (now() - t0) * 1000;
        free(s);
        if (r == 0)
            rss_state = rss_kb();
        t0 = now();
        if (!no_tree) {
            json_t *j = ag_master_state_json(m);
            char *d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
            json_decref(j);
            free(d);
        }
        tree[r] = (now() - t0) * 1000;
        t0 = now();
        s = ag_master_render_all(m, AG_RENDER_GET_STATE, NULL, NULL);
        op[r] = (now() - t0) * 1000;
        free(s);
    }
    long rss_after = rss_kb();
    char label[64];
    snprintf(label, sizeof(label), "%dx%d", n_agents, n_tasks);
    printf("BENCH render.state_ms.%s %.1f ms\n", label, median(streamed, runs));
    printf("BENCH render.state_tree_ms.%s %.1f ms\n", label, median(tree, runs));
    printf("BENCH render.get_state_ms.%s %.1f ms\n", label, median(op, runs));
    printf("BENCH render.state_mb.%s %.1f MB\n", label, (double)size / 1e6);
    printf("BENCH render.kept_mb.%s %.1f MB\n", label, (double)(rss_after - rss_before) / 1024);
    printf("BENCH render.kept_state_mb.%s %.1f MB\n", label,
           (double)(rss_state - rss_before) / 1024);
    printf("BENCH render.kept_kb_per_task.%s %.2f KB\n", label,
           (double)(rss_after - rss_before) / n_tasks);
    free(streamed);
    free(tree);
    free(op);
    ag_master_free(m);
    ag_loop_free(loop);
    return 0;
}
