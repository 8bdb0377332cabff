/*
 * bench_allocator: the cost of the allocator's hot paths with A agents and
 * F frameworks, through the public ops table (offer callback included).
 *
 * Cluster (fixed, so runs compare): agents of four sizes in turn, from
 * "cpus:8;mem:32768" to "cpus:64;mem:262144;gpus:4", each with disk and
 * ports:[31000-32000]. Frameworks spread over eight roles, some nested
 * ("*", "eng", "eng/web", "eng/batch", "ops", "ops/db", "research",
 * "research/ml/gpu"), "eng" with weight 2; each framework has a task size
 * from <1 cpu, 1 GB> to <4 cpus, 8 GB>. A warm-up round lets every
 * framework launch up to two tasks on each offer it gets and give the rest
 * back, so the measured rounds start from a loaded cluster with unequal
 * shares; between measured rounds the offers are given back, untimed.
 *
 * Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall
 * time: the machine is shared, and wall time there includes waiting for a
 * core (wall medians go to stderr). Prints, per scenario:
 *
 *   BENCH allocator.round.<A>x<F> <ms> ms           median full round
 *   BENCH allocator.round_declined.<A>x<F> <ms> ms  a round after every
 *                                                   offer was declined with
 *                                                   a long filter
 *   BENCH allocator.event.<A>x<F> <us> us           median incremental
 *                                                   event: recover() of one
 *                                                   agent's offer, then
 *                                                   allocate_changed(),
 *                                                   which re-offers it
 *   BENCH allocator.recover.<A>x<F> <us> us         one recover(), mean
 *   BENCH allocator.mb.<A>x<F> <MB> MB              heap the allocator holds
 *                                                   (malloc'd bytes in use,
 *                                                   loaded, no offers out)
 *
 * Usage: bench_allocator [-p policy] [-r rounds] [-e events] [-q] [AxF ...]
 * (-q: a guarantee on "ops" and a limit on "research", see set_quotas)
 * (default: -p drf -r 5 -e 2000 1000x100 10000x1000 10000x3000 50000x1000).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "allocator/allocator.h"
#include "core/resources.h"

/* An offer as the callback got it: the id and role strings are the
 * allocator's, valid while the framework, agent and role exist (all of
 * this bench), so the callback copies nothing but the record. */
struct held {
    const char *fw, *role, *agent;
    struct ag_resources res;
};

struct sink {
    struct held *v;
    size_t n, cap;
    char (*fw_ids)[24];
    unsigned n_fws;
};

static void on_offer(void *ctx, const char *fw, const char *role, const char *agent,
                     struct ag_resources *res)
{
    struct sink *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (!s->v) {
            perror("realloc");
            exit(1);
        }
    }
    struct held *h = &s->v[s->n++];
    h->fw = fw;
    h->role = role;
    h->agent = agent;
    h->res = *res;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time of this thread: what the figures report, because the machine
 * is shared and wall time there includes waiting for a core. */
static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static const char *const agent_kinds[] = {
    "cpus:8;mem:32768;disk:100000;ports:[31000-32000]",
    "cpus:16;mem:65536;disk:200000;ports:[31000-32000]",
    "cpus:32;mem:131072;disk:400000;ports:[31000-32000]",
    "cpus:64;mem:262144;disk:800000;gpus:4;ports:[31000-32000]",
};
static const char *const role_names[] = {"*",   "eng",    "eng/web",  "eng/batch",
                                         "ops", "ops/db", "research", "research/ml/gpu"};
#define N_ROLES (sizeof(role_names) / sizeof(role_names[0]))

struct cluster {
    const struct ag_allocator_ops *ops;
    struct ag_allocator *a;
    struct sink s;
    unsigned n_agents, n_fws;
    char (*agent_ids)[24];
    struct ag_resources *tasks; /* per framework, allocation role set */
};

static void id_agent(char *buf, size_t n, unsigned i)
{
    snprintf(buf, n, "agent-%u", i);
}

/* Gives every held offer back with the given filter; returns the time in
 * us. */
static double recover_all(struct cluster *c, double refuse, double now)
{
    double t0 = now_us();
    for (size_t i = 0; i < c->s.n; i++) {
        struct held *h = &c->s.v[i];
        c->ops->recover(c->a, h->fw, h->role, h->agent, &h->res, refuse, now);
    }
    double t = now_us() - t0;
    for (size_t i = 0; i < c->s.n; i++)
        ag_resources_release(&c->s.v[i].res);
    c->s.n = 0;
    return t;
}

/* Each framework launches up to two tasks from each offer it holds (they
 * stay allocated); the rest of the offer stays held. */
static size_t launch_tasks(struct cluster *c)
{
    size_t launched = 0;
    for (size_t i = 0; i < c->s.n; i++) {
        struct held *h = &c->s.v[i];
        const char *dash = strrchr(h->fw, '-');
        const struct ag_resources *task = &c->tasks[strtoul(dash + 1, NULL, 10)];
        /* A multi-role framework would pick by role; here one role each. */
        for (int k = 0; k < 2; k++) {
            if (ag_resources_subtract(&h->res, task) != 0)
                break;
            launched++;
        }
    }
    return launched;
}

static bool with_quota; /* -q */

/* -q: a guarantee on "ops" (a tenth of the cluster's cpus and memory) and
 * a limit on "research" (a twentieth of its cpus), so that rounds run both
 * stages and cap offers. */
static int set_quotas(struct cluster *c)
{
    char g[96], l[64], err[128];
    unsigned cpus = c->n_agents * 30, mem = c->n_agents * 122880;
    snprintf(g, sizeof(g), "cpus:%u;mem:%u", cpus / 10, mem / 10);
    snprintf(l, sizeof(l), "cpus:%u", cpus / 20);
    struct ag_resources gr, lr;
    if (ag_resources_parse(g, NULL, &gr, err, sizeof(err)) != 0 ||
        ag_resources_parse(l, NULL, &lr, err, sizeof(err)) != 0)
        return -EINVAL;
    int rc = c->ops->set_quota(c->a, "ops", &gr, NULL);
    if (rc == 0)
        rc = c->ops->set_quota(c->a, "research", NULL, &lr);
    ag_resources_release(&gr);
    ag_resources_release(&lr);
    return rc;
}

static int setup(struct cluster *c, const struct ag_allocator_ops *ops, unsigned n_agents,
                 unsigned n_fws)
{
    memset(c, 0, sizeof(*c));
    c->ops = ops;
    c->n_agents = n_agents;
    c->n_fws = n_fws;
    c->agent_ids = calloc(n_agents, sizeof(*c->agent_ids));
    c->s.fw_ids = calloc(n_fws, sizeof(*c->s.fw_ids));
    c->tasks = calloc(n_fws, sizeof(*c->tasks));
    if (!c->agent_ids || !c->s.fw_ids || !c->tasks)
        return -ENOMEM;
    c->a = ops->create(NULL, on_offer, &c->s);
    if (!c->a)
        return -ENOMEM;
    char err[128];
    struct ag_resources kinds[4];
    for (int k = 0; k < 4; k++) {
        if (ag_resources_parse(agent_kinds[k], NULL, &kinds[k], err, sizeof(err)) != 0)
            return -EINVAL;
    }
    for (unsigned i = 0; i < n_agents; i++) {
        id_agent(c->agent_ids[i], sizeof(c->agent_ids[i]), i);
        if (ops->add_agent(c->a, c->agent_ids[i], &kinds[i % 4]) != 0)
            return -EINVAL;
    }
    for (int k = 0; k < 4; k++)
        ag_resources_release(&kinds[k]);
    if (ops->set_weight(c->a, "eng", 2.0) != 0)
        return -EINVAL;
    if (with_quota && set_quotas(c) != 0)
        return -EINVAL;
    for (unsigned i = 0; i < n_fws; i++) {
        snprintf(c->s.fw_ids[i], sizeof(c->s.fw_ids[i]), "framework-%u", i);
        const char *role = role_names[i % N_ROLES];
        if (ops->add_framework(c->a, c->s.fw_ids[i], &role, 1, NULL, 0, true) != 0)
            return -EINVAL;
        char text[64];
        snprintf(text, sizeof(text), "cpus:%u;mem:%u", 1 + i % 4, 1024 * (1 + i % 8));
        if (ag_resources_parse(text, NULL, &c->tasks[i], err, sizeof(err)) != 0 ||
            ag_resources_set_allocation_role(&c->tasks[i], role) != 0)
            return -EINVAL;
    }
    return 0;
}

static void teardown(struct cluster *c)
{
    recover_all(c, 0, 0);
    for (unsigned i = 0; i < c->n_fws; i++)
        ag_resources_release(&c->tasks[i]);
    c->ops->destroy(c->a);
    free(c->s.v);
    free(c->s.fw_ids);
    free(c->agent_ids);
    free(c->tasks);
}

static int run(const struct ag_allocator_ops *ops, unsigned n_agents, unsigned n_fws, int rounds,
               int events)
{
    struct mallinfo2 m0 = mallinfo2();
    struct cluster c;
    if (setup(&c, ops, n_agents, n_fws) != 0) {
        fprintf(stderr, "bench_allocator: setup failed\n");
        return 1;
    }
    double clock = 0;

    /* Warm-up: a full round, tasks launched, leftovers given back. */
    double t0 = now_us();
    ops->allocate(c.a, clock);
    double first = now_us() - t0;
    size_t launched = launch_tasks(&c);
    recover_all(&c, 0, clock);
    /* Counted now: loaded, no offers out (the bench's own arrays are
     * allocated before m0 or are the sink's, emptied above). */
    struct mallinfo2 m1 = mallinfo2();
    double mb = ((double)m1.uordblks - (double)m0.uordblks) / (1024.0 * 1024.0);

    size_t n_t = (size_t)(rounds > events ? rounds : events);
    double *t = calloc(n_t, sizeof(*t)), *w = calloc(n_t, sizeof(*w));
    double recover_us = 0;
    size_t recovered = 0, offers = 0;
    for (int r = 0; r < rounds; r++) {
        clock += 1;
        double c0 = cpu_us();
        t0 = now_us();
        ops->allocate(c.a, clock);
        w[r] = (now_us() - t0) / 1e3;
        t[r] = (cpu_us() - c0) / 1e3;
        offers = c.s.n;
        recovered += c.s.n;
        recover_us += recover_all(&c, 0, clock);
    }
    qsort(t, (size_t)rounds, sizeof(*t), cmp_double);
    qsort(w, (size_t)rounds, sizeof(*w), cmp_double);
    double round_ms = t[rounds / 2], round_min = t[0], round_max = t[rounds - 1];
    double round_wall = w[rounds / 2];

    /* Incremental events: the offers are held; one agent's offer comes
     * back and the changed-agents round re-offers it. */
    clock += 1;
    ops->allocate(c.a, clock);
    void (*changed)(struct ag_allocator *, double) =
        ops->allocate_changed ? ops->allocate_changed : ops->allocate;
    unsigned seed = 1;
    int n_ev = 0;
    for (int e = 0; e < events && c.s.n > 0; e++) {
        seed = seed * 1103515245u + 12345u;
        size_t k = (seed >> 8) % c.s.n;
        struct held h = c.s.v[k];
        c.s.v[k] = c.s.v[--c.s.n];
        double c0 = cpu_us();
        t0 = now_us();
        ops->recover(c.a, h.fw, h.role, h.agent, &h.res, 0, clock);
        changed(c.a, clock);
        w[n_ev] = now_us() - t0;
        t[n_ev++] = cpu_us() - c0;
        ag_resources_release(&h.res);
    }
    qsort(t, (size_t)n_ev, sizeof(*t), cmp_double);
    qsort(w, (size_t)n_ev, sizeof(*w), cmp_double);
    double event_us = n_ev ? t[n_ev / 2] : 0, event_p99 = n_ev ? t[n_ev * 99 / 100] : 0;
    double event_wall = n_ev ? w[n_ev / 2] : 0;

    /* Everyone declines what they hold for a long time; the next round
     * must look past a live filter on every agent. */
    recover_all(&c, 1e9, clock);
    double c0 = cpu_us();
    ops->allocate(c.a, clock + 1);
    double declined = (cpu_us() - c0) / 1e3;
    size_t n_declined_offers = c.s.n;

    printf("BENCH allocator.round.%ux%u %.2f ms\n", n_agents, n_fws, round_ms);
    printf("BENCH allocator.round_declined.%ux%u %.2f ms\n", n_agents, n_fws, declined);
    printf("BENCH allocator.event.%ux%u %.2f us\n", n_agents, n_fws, event_us);
    printf("BENCH allocator.recover.%ux%u %.2f us\n", n_agents, n_fws,
           recovered ? recover_us / (double)recovered : 0.0);
    printf("BENCH allocator.mb.%ux%u %.1f MB\n", n_agents, n_fws, mb);
    fprintf(stderr,
            "  (%s: first round %.2f ms wall, %zu tasks launched; %d rounds of %zu offers, cpu "
            "min %.2f max %.2f ms, wall median %.2f ms; %d events, cpu p99 %.2f us, wall median "
            "%.2f us; declined round made %zu offers)\n",
            ops->name, first / 1e3, launched, rounds, offers, round_min, round_max, round_wall,
            n_ev, event_p99, event_wall, n_declined_offers);
    fflush(stdout);

    free(t);
    free(w);
    teardown(&c);
    return 0;
}

int main(int argc, char **argv)
{
    const char *policy = "drf";
    int rounds = 5, events = 2000, opt;
    while ((opt = getopt(argc, argv, "p:r:e:qh")) != -1) {
        switch (opt) {
        case 'q':
            with_quota = true;
            break;
        case 'p':
            policy = optarg;
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'e':
            events = atoi(optarg);
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-p policy] [-r rounds] [-e events] [-q] [AGENTSxFRAMEWORKS ...]\n",
                    argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }
    const struct ag_allocator_ops *ops = ag_allocator_find(policy);
    if (!ops || rounds < 1 || events < 0) {
        fprintf(stderr, "bench_allocator: unknown policy '%s' or bad -r/-e\n", policy);
        return 2;
    }
    static const char *const defaults[] = {"1000x100", "10000x1000", "10000x3000", "50000x1000"};
    const char *const *scen = optind < argc ? (const char *const *)argv + optind : defaults;
    int n = optind < argc ? argc - optind : 4;
    for (int i = 0; i < n; i++) {
        unsigned na, nf;
        char tail;
        if (sscanf(scen[i], "%ux%u%c", &na, &nf, &tail) != 2 || na == 0 || nf == 0) {
            fprintf(stderr, "bench_allocator: bad scenario '%s' (want AGENTSxFRAMEWORKS)\n",
                    scen[i]);
            return 2;
        }
        if (run(ops, na, nf, rounds, events) != 0)
            return 1;
    }
    return 0;
}
