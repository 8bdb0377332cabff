/*
 * bench-loadfw: a load-generating scheduler for benchmarks, built on the
 * scheduler SDK (lib/sched). F framework instances run in one process on
 * one loop; each launches its share of --tasks as fast as offers allow,
 * packing as many tasks into each ACCEPT as the offer fits, and
 * acknowledges every update (the SDK's auto-ack).
 *
 * It records, per task, ACCEPT -> TASK_RUNNING and ACCEPT -> TASK_FINISHED
 * (from the moment the ACCEPT is handed to the SDK to the moment the update
 * reaches the framework), and per offer the time from resources freed to
 * offer received: "freed" is approximated by the arrival of the terminal
 * update of a task on that agent, and the next offer for that agent (to any
 * of the process's frameworks) closes the interval; both ends are the time
 * the event's bytes were read, not when this thread got round to them
 * (--offer_trace logs them per offer for bench/scale). At the end it prints
 * histograms (p50, p90, p99, max) as BENCH lines named by --label.
 *
 * With --hold it keeps its frameworks subscribed after the run (their
 * tasks keep running) until SIGTERM, and measures the largest gap between
 * two events on any framework's stream: SIGUSR1 starts a measuring window,
 * SIGUSR2 prints "GAP <ms>" for it (used by the state-at-scale benchmark to
 * see whether the master keeps serving schedulers while it renders state).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agora/scheduler.h"
#include "core/http.h"
#include "core/loop.h"

struct options {
    const char *master;
    int frameworks;
    long tasks; /* total, split evenly */
    double task_cpus, task_mem;
    const char *command;
    const char *label;
    const char *role;
    double timeout;
    double refuse;     /* filter on declined leftovers */
    double rate;       /* tasks launched per second, all frameworks (0 = no cap) */
    bool wait_running; /* done once every task is RUNNING (tasks keep running) */
    bool hold;
    bool quiet;
    const char *offer_trace; /* per-offer times for bench/scale to join */
};

static struct options opt = {
    .master = "127.0.0.1:5050",
    .frameworks = 1,
    .tasks = 1000,
    .task_cpus = 0.1,
    .task_mem = 32,
    .command = "true",
    .label = "run",
    .timeout = 300,
    .refuse = 1,
};

/* A growable array of samples in milliseconds. */
struct samples {
    double *v;
    size_t n, cap;
};

static void samples_add(struct samples *s, double ms)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const struct samples *s, double p)
{
    if (s->n == 0)
        return NAN;
    size_t i = (size_t)ceil(p / 100.0 * (double)s->n);
    if (i > 0)
        i--;
    if (i >= s->n)
        i = s->n - 1;
    return s->v[i];
}

static void print_hist(const char *prefix, struct samples *s)
{
    if (s->n == 0) {
        printf("# %s: no samples\n", prefix);
        return;
    }
    qsort(s->v, s->n, sizeof(double), cmp_double);
    static const double ps[] = {50, 90, 99};
    static const char *const names[] = {"p50", "p90", "p99"};
    for (size_t i = 0; i < 3; i++)
        printf("BENCH %s_%s.%s %.2f ms\n", prefix, names[i], opt.label, pct(s, ps[i]));
    printf("BENCH %s_max.%s %.2f ms\n", prefix, opt.label, s->v[s->n - 1]);
}

/* Offer-latency names are "offer_latency.p99.<label>", as the issue asks. */
static void print_offer_hist(struct samples *s)
{
    if (s->n == 0) {
        printf("# offer_latency: no samples\n");
        return;
    }
    qsort(s->v, s->n, sizeof(double), cmp_double);
    printf("BENCH offer_latency.p50.%s %.2f ms\n", opt.label, pct(s, 50));
    printf("BENCH offer_latency.p90.%s %.2f ms\n", opt.label, pct(s, 90));
    printf("BENCH offer_latency.p99.%s %.2f ms\n", opt.label, pct(s, 99));
    printf("BENCH offer_latency.max.%s %.2f ms\n", opt.label, s->v[s->n - 1]);
    printf("# offer_latency samples: %zu\n", s->n);
}

/* A figure for the log only ("#" lines, not BENCH): what the headline is
 * made of. */
static void print_aside(const char *what, struct samples *s)
{
    if (s->n == 0)
        return;
    qsort(s->v, s->n, sizeof(double), cmp_double);
    printf("# %s: p50 %.2f p90 %.2f p99 %.2f max %.2f ms (%zu samples)\n", what, pct(s, 50),
           pct(s, 90), pct(s, 99), s->v[s->n - 1], s->n);
}

struct taskrec {
    double accept, running, ended;
};

struct fw {
    int idx;
    struct ag_scheduler *s;
    long total, launched, running, ended, failed;
    struct taskrec *recs;
    bool subscribed, suppressed;
    double last_event;
};

/* agent id -> time its resources were last freed (open addressing). */
struct freed_slot {
    char *agent;
    double at;         /* the terminal update's bytes read */
    double at_handled; /* the terminal update handled */
};

static struct {
    struct ag_loop *loop;
    struct fw *fws;
    struct samples to_running, to_finished, offer_latency;
    /* The same interval from handler to handler (the figure before it was
     * taken at read time), and per OFFERS event how long bench-loadfw
     * held its bytes before handling it (earlier events of the read). */
    struct samples offer_handled, offer_client_delay;
    FILE *trace; /* --offer_trace */
    /* How long this thread spent on each chunk of UPDATE and OFFERS events
     * read at once (read -> its last event handled): while it runs, the
     * other streams' events wait unread. */
    struct samples chunk_busy;
    double chunk_at, chunk_end;
    long running_total, ended_total, failed_total, lost_total, accepts, offers, declined;
    long call_failures, disconnects;
    double first_accept, last_running, last_ended, t0;
    struct freed_slot *freed;
    size_t freed_cap, freed_n;
    bool finished;
    double gap_start, gap_max;
    bool gap_on;
    struct ag_timer *check;
    int flushing;
    double tokens, tokens_at; /* --rate bucket */
} g;

/* Tokens of the --rate bucket, refilled for the time since the last call
 * and capped at one second's worth. */
static double take_tokens(void)
{
    double now = ag_monotonic();
    if (g.tokens_at == 0)
        g.tokens = opt.rate * 0.1;
    else
        g.tokens += (now - g.tokens_at) * opt.rate;
    if (g.tokens > opt.rate)
        g.tokens = opt.rate;
    g.tokens_at = now;
    return g.tokens < 0 ? 0 : g.tokens;
}

static double mono(void)
{
    return ag_monotonic();
}

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static struct freed_slot *freed_slot(const char *agent, bool create)
{
    if (create && (g.freed_n + 1) * 2 > g.freed_cap) {
        size_t cap = g.freed_cap ? g.freed_cap * 2 : 4096;
        struct freed_slot *n = calloc(cap, sizeof(*n));
        if (!n)
            return NULL;
        for (size_t i = 0; i < g.freed_cap; i++) {
            if (!g.freed[i].agent)
                continue;
            size_t j = str_hash(g.freed[i].agent) & (cap - 1);
            while (n[j].agent)
                j = (j + 1) & (cap - 1);
            n[j] = g.freed[i];
        }
        free(g.freed);
        g.freed = n;
        g.freed_cap = cap;
    }
    if (!g.freed_cap)
        return NULL;
    size_t j = str_hash(agent) & (g.freed_cap - 1);
    while (g.freed[j].agent) {
        if (strcmp(g.freed[j].agent, agent) == 0)
            return &g.freed[j];
        j = (j + 1) & (g.freed_cap - 1);
    }
    if (!create)
        return NULL;
    g.freed[j].agent = strdup(agent);
    g.freed[j].at = 0;
    g.freed_n++;
    return &g.freed[j];
}

static void note_event(struct fw *f)
{
    double now = mono();
    if (g.gap_on && f->last_event > 0) {
        double from = f->last_event > g.gap_start ? f->last_event : g.gap_start;
        if (now - from > g.gap_max)
            g.gap_max = now - from;
    }
    f->last_event = now;
}

static const char *id_value(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, key), "value"));
}

/* Called as an UPDATE or OFFERS handler returns. */
static void note_chunk(const struct ag_scheduler *s)
{
    double at = ag_scheduler_event_arrival(s), end = mono();
    if (at <= 0)
        return;
    if (at != g.chunk_at) {
        if (g.chunk_at > 0)
            samples_add(&g.chunk_busy, (g.chunk_end - g.chunk_at) * 1000);
        g.chunk_at = at;
    }
    g.chunk_end = end;
}

/* "Received" is when the event's bytes were read from the socket, not when
 * this loop got round to it: the events read before it in the same chunk
 * are bench-loadfw's own delay, not the master's. */
static double read_time(const struct ag_scheduler *s, double now)
{
    double at = ag_scheduler_event_arrival(s);
    return at > 0 && at <= now ? at : now;
}

static void on_subscribed(struct ag_scheduler *s, const char *framework_id, const json_t *sub,
                          void *arg)
{
    (void)s;
    (void)sub;
    struct fw *f = arg;
    note_event(f);
    if (!f->subscribed && !opt.quiet)
        fprintf(stderr, "bench-loadfw: framework %d subscribed as %s\n", f->idx, framework_id);
    f->subscribed = true;
}

static void on_offers(struct ag_scheduler *s, const json_t *offers, void *arg)
{
    struct fw *f = arg;
    double now = mono();
    double arrival = read_time(s, now);
    note_event(f);
    samples_add(&g.offer_client_delay, (now - arrival) * 1000);
    size_t i, noffers = json_array_size(offers), ndecline = 0;
    const char **decline = calloc(noffers ? noffers : 1, sizeof(*decline));
    /* Offers with no room (or no --rate budget) now: back after --refuse. */
    const char **later = calloc(noffers ? noffers : 1, sizeof(*later));
    size_t nlater = 0;
    json_t *offer;
    json_array_foreach(offers, i, offer)
    {
        g.offers++;
        const char *agent = id_value(offer, "agent_id");
        struct freed_slot *fs = agent ? freed_slot(agent, false) : NULL;
        if (fs && fs->at > 0) {
            samples_add(&g.offer_latency, (arrival - fs->at) * 1000);
            samples_add(&g.offer_handled, (now - fs->at_handled) * 1000);
            if (g.trace) {
                const char *oid = id_value(offer, "id");
                fprintf(g.trace, "R %s %.6f %.6f %.6f\n", oid ? oid : "-", fs->at, arrival, now);
            }
            fs->at = 0;
        }
        long left = f->total - f->launched;
        if (left <= 0) {
            /* Declined together below: one call, not one per offer. */
            const char *oid = id_value(offer, "id");
            if (oid && ndecline < noffers)
                decline[ndecline++] = oid;
            g.declined++;
            continue;
        }
        double cpus = ag_scheduler_offer_scalar(offer, "cpus");
        double mem = ag_scheduler_offer_scalar(offer, "mem");
        long fit = left;
        if (opt.task_cpus > 0 && (long)floor(cpus / opt.task_cpus + 1e-9) < fit)
            fit = (long)floor(cpus / opt.task_cpus + 1e-9);
        if (opt.task_mem > 0 && (long)floor(mem / opt.task_mem + 1e-9) < fit)
            fit = (long)floor(mem / opt.task_mem + 1e-9);
        if (opt.rate > 0 && fit > (long)take_tokens()) {
            /* Paced: what the bucket allows now; the rest of the offer is
             * declined and comes back after the filter. */
            fit = (long)take_tokens();
        }
        if (fit <= 0) {
            const char *oid = id_value(offer, "id");
            if (oid && nlater < noffers)
                later[nlater++] = oid;
            g.declined++;
            continue;
        }
        struct ag_sched_task *tasks = calloc((size_t)fit, sizeof(*tasks));
        char(*ids)[32] = calloc((size_t)fit, 32);
        if (!tasks || !ids) {
            free(tasks);
            free(ids);
            ag_scheduler_decline_offer(s, offer, 0);
            continue;
        }
        for (long k = 0; k < fit; k++) {
            snprintf(ids[k], 32, "%d-%ld", f->idx, f->launched + k);
            tasks[k].task_id = ids[k];
            tasks[k].command = opt.command;
            tasks[k].cpus = opt.task_cpus;
            tasks[k].mem = opt.task_mem;
        }
        double at = mono();
        int r = ag_scheduler_launch(s, offer, tasks, (size_t)fit, opt.refuse);
        if (r == 0) {
            g.tokens -= (double)fit;
            for (long k = 0; k < fit; k++)
                f->recs[f->launched + k].accept = at;
            if (g.first_accept == 0)
                g.first_accept = at;
            f->launched += fit;
            g.accepts++;
        } else {
            fprintf(stderr, "bench-loadfw: launch of %ld tasks failed: %s\n", fit, strerror(-r));
            ag_scheduler_decline_offer(s, offer, 0);
        }
        free(tasks);
        free(ids);
    }
    if (ndecline > 0)
        ag_scheduler_decline(s, decline, ndecline, 3600);
    if (nlater > 0)
        ag_scheduler_decline(s, later, nlater, opt.refuse);
    free(decline);
    free(later);
    note_chunk(s);
    if (f->launched >= f->total && !f->suppressed) {
        f->suppressed = true;
        ag_scheduler_suppress(s, NULL, 0);
    }
}

static struct taskrec *rec_of(struct fw *f, const char *tid)
{
    char *end;
    long fi = strtol(tid, &end, 10);
    if (*end != '-' || fi != f->idx)
        return NULL;
    long n = strtol(end + 1, &end, 10);
    if (*end || n < 0 || n >= f->total)
        return NULL;
    return &f->recs[n];
}

static void check_done(void);

static void on_update(struct ag_scheduler *s, const json_t *status, void *arg)
{
    (void)s;
    struct fw *f = arg;
    double now = mono();
    note_event(f);
    note_chunk(s);
    const char *tid = id_value(status, "task_id");
    const char *state = json_string_value(json_object_get(status, "state"));
    struct taskrec *r = tid ? rec_of(f, tid) : NULL;
    if (!r || !state || r->accept == 0)
        return;
    if (strcmp(state, "TASK_RUNNING") == 0) {
        if (r->running == 0) {
            r->running = now;
            f->running++;
            g.running_total++;
            g.last_running = now;
            samples_add(&g.to_running, (now - r->accept) * 1000);
        }
    } else if (strcmp(state, "TASK_STARTING") == 0 || strcmp(state, "TASK_STAGING") == 0) {
        /* not measured */
    } else if (r->ended == 0) {
        r->ended = now;
        f->ended++;
        g.ended_total++;
        g.last_ended = now;
        if (strcmp(state, "TASK_FINISHED") == 0) {
            samples_add(&g.to_finished, (now - r->accept) * 1000);
        } else {
            f->failed++;
            if (strcmp(state, "TASK_FAILED") == 0)
                g.failed_total++;
            else
                g.lost_total++;
        }
        const char *agent = id_value(status, "agent_id");
        if (agent) {
            struct freed_slot *fs = freed_slot(agent, true);
            if (fs) {
                fs->at = read_time(s, now);
                fs->at_handled = now;
            }
        }
        check_done();
    }
    if (opt.wait_running)
        check_done();
}

static void on_error(struct ag_scheduler *s, const char *message, void *arg)
{
    (void)s;
    struct fw *f = arg;
    fprintf(stderr, "bench-loadfw: framework %d: ERROR %s\n", f->idx, message);
}

static void on_heartbeat(struct ag_scheduler *s, void *arg)
{
    (void)s;
    note_event(arg);
}

static void on_other(struct ag_scheduler *s, const json_t *ev, void *arg)
{
    (void)s;
    (void)ev;
    note_event(arg);
}

static void on_rescind(struct ag_scheduler *s, const char *offer_id, void *arg)
{
    (void)s;
    (void)offer_id;
    note_event(arg);
}

static void on_disconnected(struct ag_scheduler *s, const char *reason, double retry_in, void *arg)
{
    (void)s;
    struct fw *f = arg;
    if (g.disconnects++ < 5)
        fprintf(stderr, "bench-loadfw: framework %d disconnected (%s), retry in %.1fs\n", f->idx,
                reason, retry_in);
}

static void on_call_failed(struct ag_scheduler *s, const char *type, int code, const char *message,
                           void *arg)
{
    (void)s;
    struct fw *f = arg;
    if (g.call_failures++ < 20)
        fprintf(stderr, "bench-loadfw: framework %d: %s failed (%d): %s\n", f->idx, type, code,
                message ? message : "");
}

static long total_tasks(void)
{
    long t = 0;
    for (int i = 0; i < opt.frameworks; i++)
        t += g.fws[i].total;
    return t;
}

static void report(void)
{
    long total = total_tasks();
    double span = g.last_running - g.first_accept;
    printf("# %ld tasks, %d frameworks: running %ld, ended %ld (failed %ld, lost/killed %ld), "
           "%ld accepts, %ld offers (%ld declined), %ld call failures\n",
           total, opt.frameworks, g.running_total, g.ended_total, g.failed_total, g.lost_total,
           g.accepts, g.offers, g.declined, g.call_failures);
    if (g.running_total > 0 && span > 0)
        printf("BENCH launch.tasks_per_s.%s %.0f tasks/s\n", opt.label,
               (double)g.running_total / span);
    if (g.ended_total > 0 && g.last_ended > g.first_accept)
        printf("BENCH launch.finished_per_s.%s %.0f tasks/s\n", opt.label,
               (double)g.ended_total / (g.last_ended - g.first_accept));
    print_hist("launch.running", &g.to_running);
    print_hist("launch.finished", &g.to_finished);
    print_offer_hist(&g.offer_latency);
    print_aside("offer_latency handler to handler", &g.offer_handled);
    print_aside("offer read to handled (bench-loadfw's own delay)", &g.offer_client_delay);
    print_aside("offer_latency aside: bench-loadfw busy per chunk read", &g.chunk_busy);
    fflush(stdout);
}

static void check_done(void)
{
    if (g.finished)
        return;
    long total = total_tasks();
    bool done =
        opt.wait_running ? g.running_total + g.ended_total >= total : g.ended_total >= total;
    if (!done)
        return;
    g.finished = true;
    report();
    if (opt.hold) {
        printf("READY\n");
        fflush(stdout);
        return;
    }
    ag_loop_stop(g.loop);
}

static void on_check(void *arg)
{
    (void)arg;
    if (g.finished)
        return;
    double el = mono() - g.t0;
    if (!opt.quiet)
        fprintf(stderr, "bench-loadfw: %.0fs launched %ld running %ld ended %ld\n", el, g.accepts,
                g.running_total, g.ended_total);
    if (el > opt.timeout) {
        fprintf(stderr, "bench-loadfw: timed out after %.0f s\n", opt.timeout);
        report();
        ag_loop_stop(g.loop);
    }
}

static void on_signal(int signo, void *arg)
{
    (void)arg;
    if (signo == SIGUSR1) {
        g.gap_on = true;
        g.gap_start = mono();
        g.gap_max = 0;
    } else if (signo == SIGUSR2) {
        double now = mono();
        /* A stall still in progress counts too. */
        for (int i = 0; i < opt.frameworks; i++) {
            double from = g.fws[i].last_event > g.gap_start ? g.fws[i].last_event : g.gap_start;
            if (now - from > g.gap_max)
                g.gap_max = now - from;
        }
        g.gap_on = false;
        printf("GAP %.1f\n", g.gap_max * 1000);
        fflush(stdout);
    } else {
        ag_loop_stop(g.loop);
    }
}

static void on_flushed(struct ag_scheduler *s, int code, const char *message, void *arg)
{
    (void)s;
    (void)code;
    (void)message;
    (void)arg;
    if (--g.flushing <= 0)
        ag_loop_stop(g.loop);
}

static void on_flush_limit(void *arg)
{
    (void)arg;
    ag_loop_stop(g.loop);
}

static void flush_all(void)
{
    g.flushing = opt.frameworks;
    for (int i = 0; i < opt.frameworks; i++)
        if (ag_scheduler_flush(g.fws[i].s, on_flushed, NULL) < 0)
            g.flushing--;
    struct ag_timer *limit = ag_timer_new(g.loop, on_flush_limit, NULL);
    ag_timer_start(limit, 5);
    if (g.flushing > 0)
        ag_loop_run(g.loop);
    ag_timer_free(limit);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench-loadfw [options]\n"
            "  --master=HOST:PORT    (default 127.0.0.1:5050)\n"
            "  --frameworks=F        framework instances (default 1)\n"
            "  --tasks=N             tasks in all, split evenly (default 1000)\n"
            "  --task_cpus=X --task_mem=MB   resources per task (default 0.1, 32)\n"
            "  --command=CMD         the tasks' shell command (default true)\n"
            "  --role=ROLE           role of the frameworks (default *)\n"
            "  --label=L             suffix of the BENCH names (default run)\n"
            "  --refuse=SECS         filter on declined leftovers (default 1)\n"
            "  --rate=R              launch at most R tasks/s in all (default: as offers allow)\n"
            "  --wait_running        done once every task is RUNNING\n"
            "  --hold                stay subscribed after the run until SIGTERM;\n"
            "                        SIGUSR1/SIGUSR2 measure the largest event gap\n"
            "  --timeout=SECS        give up after (default 300)\n"
            "  --call_conns=N        keep-alive connections the frameworks' calls share\n"
            "                        (lib/core's client pool, 1 to 64; default 8)\n"
            "  --offer_trace=FILE    per sampled offer: \"R offer_id update_read offer_read\n"
            "                        offer_handled\" (monotonic seconds)\n"
            "  --quiet\n");
}

static int parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {{"master", required_argument, NULL, 'm'},
                                             {"frameworks", required_argument, NULL, 'f'},
                                             {"tasks", required_argument, NULL, 'n'},
                                             {"task_cpus", required_argument, NULL, 'c'},
                                             {"task_mem", required_argument, NULL, 'M'},
                                             {"command", required_argument, NULL, 'C'},
                                             {"role", required_argument, NULL, 'r'},
                                             {"label", required_argument, NULL, 'l'},
                                             {"refuse", required_argument, NULL, 'R'},
                                             {"wait_running", no_argument, NULL, 'w'},
                                             {"rate", required_argument, NULL, 'P'},
                                             {"hold", no_argument, NULL, 'H'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"call_conns", required_argument, NULL, 'K'},
                                             {"offer_trace", required_argument, NULL, 'T'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            opt.master = optarg;
            break;
        case 'f':
        case 'n': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 100000000) {
                fprintf(stderr, "bench-loadfw: bad count '%s'\n", optarg);
                return -1;
            }
            if (ch == 'f')
                opt.frameworks = (int)v;
            else
                opt.tasks = v;
            break;
        }
        case 'c':
        case 'M':
        case 'R':
        case 'P':
        case 't': {
            double v = strtod(optarg, &end);
            if (*end || end == optarg || v < 0) {
                fprintf(stderr, "bench-loadfw: bad number '%s'\n", optarg);
                return -1;
            }
            if (ch == 'c')
                opt.task_cpus = v;
            else if (ch == 'M')
                opt.task_mem = v;
            else if (ch == 'R')
                opt.refuse = v;
            else if (ch == 'P')
                opt.rate = v;
            else
                opt.timeout = v;
            break;
        }
        case 'K': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 64) {
                fprintf(stderr, "bench-loadfw: --call_conns must be 1 to 64, not '%s'\n", optarg);
                return -1;
            }
            ag_http_client_set_pool_size((int)v);
            break;
        }
        case 'C':
            opt.command = optarg;
            break;
        case 'r':
            opt.role = optarg;
            break;
        case 'l':
            opt.label = optarg;
            break;
        case 'w':
            opt.wait_running = true;
            break;
        case 'H':
            opt.hold = true;
            break;
        case 'q':
            opt.quiet = true;
            break;
        case 'T':
            opt.offer_trace = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench-loadfw: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (opt.task_cpus <= 0 && opt.task_mem <= 0) {
        fprintf(stderr, "bench-loadfw: tasks need some cpus or mem\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0)
        return 2;
    g.loop = ag_loop_new();
    if (!g.loop)
        return 1;
    g.fws = calloc((size_t)opt.frameworks, sizeof(*g.fws));
    if (!g.fws)
        return 1;
    struct ag_scheduler_callbacks cb = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .rescind = on_rescind,
        .update = on_update,
        .error = on_error,
        .heartbeat = on_heartbeat,
        .disconnected = on_disconnected,
        .call_failed = on_call_failed,
        .other = on_other,
    };
    if (opt.offer_trace && !(g.trace = fopen(opt.offer_trace, "w"))) {
        fprintf(stderr, "bench-loadfw: cannot write --offer_trace '%s': %s\n", opt.offer_trace,
                strerror(errno));
        return 2;
    }
    g.t0 = mono();
    for (int i = 0; i < opt.frameworks; i++) {
        struct fw *f = &g.fws[i];
        f->idx = i;
        f->total = opt.tasks / opt.frameworks + (i < opt.tasks % opt.frameworks ? 1 : 0);
        f->recs = calloc((size_t)(f->total ? f->total : 1), sizeof(*f->recs));
        char name[64];
        snprintf(name, sizeof(name), "loadfw-%d", i);
        json_t *info = json_pack("{s:s, s:f}", "name", name, "failover_timeout", 3600.0);
        if (opt.role)
            json_object_set_new(info, "roles", json_pack("[s]", opt.role));
        f->s = ag_scheduler_new(g.loop, opt.master, info, &cb, f);
        json_decref(info);
        if (!f->s || !f->recs) {
            fprintf(stderr, "bench-loadfw: bad master address '%s'\n", opt.master);
            return 2;
        }
        ag_scheduler_start(f->s);
    }
    struct ag_signal *sigs[4] = {
        ag_signal_new(g.loop, SIGUSR1, on_signal, NULL),
        ag_signal_new(g.loop, SIGUSR2, on_signal, NULL),
        ag_signal_new(g.loop, SIGTERM, on_signal, NULL),
        ag_signal_new(g.loop, SIGINT, on_signal, NULL),
    };
    g.check = ag_timer_new(g.loop, on_check, NULL);
    ag_timer_start_periodic(g.check, 1);
    ag_loop_run(g.loop);

    /* Let the acknowledgements in flight reach the master, close the
     * streams, then wait for the calls sent meanwhile (5 s at most each). */
    ag_timer_stop(g.check);
    flush_all();
    for (int i = 0; i < opt.frameworks; i++)
        ag_scheduler_stop(g.fws[i].s);
    flush_all();
    for (int i = 0; i < opt.frameworks; i++) {
        ag_scheduler_free(g.fws[i].s);
        free(g.fws[i].recs);
    }
    ag_timer_free(g.check);
    for (int i = 0; i < 4; i++)
        ag_signal_free(sigs[i]);
    ag_loop_free(g.loop);
    long total = total_tasks();
    for (size_t i = 0; i < g.freed_cap; i++)
        free(g.freed[i].agent);
    free(g.freed);
    free(g.fws);
    free(g.to_running.v);
    free(g.to_finished.v);
    free(g.offer_latency.v);
    free(g.offer_handled.v);
    free(g.chunk_busy.v);
    if (g.trace)
        fclose(g.trace);
    free(g.offer_client_delay.v);
    bool ok = opt.wait_running ? g.running_total + g.ended_total >= total : g.ended_total >= total;
    return ok ? 0 : 1;
}
