/*
 * bench_allocator: the time of one allocate() round with A agents and F
 * frameworks, through the public ops table (offer callback included).
 *
 * Each agent has "cpus:16;mem:65536;disk:1000000;ports:[31000-32000]";
 * every framework subscribes to role "*" (as Mesos's allocator benchmarks
 * do). A measured round starts with every agent free; between rounds the
 * offers are recovered untimed. Prints, per scenario:
 *
 *   BENCH allocator.round.<A>x<F> <ms> ms          median of the rounds
 *   BENCH allocator.round_declined.<A>x<F> <ms> ms round after every offer
 *                                                  was declined with a long
 *                                                  filter (filter lookups)
 *   BENCH allocator.recover.<A>x<F> <us> us        one recover(), average
 *
 * Usage: bench_allocator [-p policy] [-r rounds] [AxF ...]
 * (default: -p drf -r 5 1000x100 10000x1000).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "allocator/allocator.h"
#include "core/resources.h"

struct held {
    char fw[32], agent[32];
    struct ag_resources res;
};

struct sink {
    struct held *v;
    size_t n, cap;
};

static void on_offer(void *ctx, const char *fw, const char *role, const char *agent,
                     struct ag_resources *res)
{
    (void)role;
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
    snprintf(h->fw, sizeof(h->fw), "%s", fw);
    snprintf(h->agent, sizeof(h->agent), "%s", agent);
    h->res = *res;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Gives every held offer back with the given filter; returns the time it
 * took in ms. */
static double recover_all(const struct ag_allocator_ops *ops, struct ag_allocator *a,
                          struct sink *s, double refuse, double now)
{
    double t0 = now_ms();
    for (size_t i = 0; i < s->n; i++)
        ops->recover(a, s->v[i].fw, "*", s->v[i].agent, &s->v[i].res, refuse, now);
    double t = now_ms() - t0;
    for (size_t i = 0; i < s->n; i++)
        ag_resources_release(&s->v[i].res);
    s->n = 0;
    return t;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int run(const struct ag_allocator_ops *ops, unsigned n_agents, unsigned n_fws, int rounds)
{
    struct sink s = {0};
    struct ag_allocator *a = ops->create(NULL, on_offer, &s);
    struct ag_resources total;
    char err[128], id[32];
    ag_resources_init(&total);
    if (!a || ag_resources_parse("cpus:16;mem:65536;disk:1000000;ports:[31000-32000]", NULL, &total,
                                 err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_allocator: setup failed\n");
        return 1;
    }
    for (unsigned i = 0; i < n_agents; i++) {
        snprintf(id, sizeof(id), "agent-%06u", i);
        if (ops->add_agent(a, id, &total) != 0)
            return 1;
    }
    const char *roles[] = {"*"};
    for (unsigned i = 0; i < n_fws; i++) {
        snprintf(id, sizeof(id), "framework-%05u", i);
        if (ops->add_framework(a, id, roles, 1, NULL, 0, true) != 0)
            return 1;
    }

    double *t = calloc((size_t)rounds, sizeof(*t));
    double recover_ms = 0;
    size_t recovered = 0;
    double clock = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ms();
        ops->allocate(a, clock);
        t[r] = now_ms() - t0;
        if (s.n != n_agents) {
            fprintf(stderr, "bench_allocator: %zu offers for %u agents\n", s.n, n_agents);
            return 1;
        }
        recovered += s.n;
        recover_ms += recover_all(ops, a, &s, 0, clock);
        clock += 1;
    }
    qsort(t, (size_t)rounds, sizeof(*t), cmp_double);

    /* Everyone declines what they got, for a long time; the next round
     * must look past one filter per agent. */
    ops->allocate(a, clock);
    recover_all(ops, a, &s, 1e9, clock);
    double t0 = now_ms();
    ops->allocate(a, clock + 1);
    double declined = now_ms() - t0;
    size_t n_declined_offers = s.n;
    recover_all(ops, a, &s, 0, clock + 1);

    printf("BENCH allocator.round.%ux%u %.2f ms\n", n_agents, n_fws, t[rounds / 2]);
    printf("BENCH allocator.round_declined.%ux%u %.2f ms\n", n_agents, n_fws, declined);
    printf("BENCH allocator.recover.%ux%u %.2f us\n", n_agents, n_fws,
           recovered ? recover_ms * 1e3 / (double)recovered : 0.0);
    fprintf(stderr, "  (%s: %d rounds, min %.2f max %.2f ms; declined round made %zu offers)\n",
            ops->name, rounds, t[0], t[rounds - 1], n_declined_offers);
    fflush(stdout);

    free(t);
    free(s.v);
    ag_resources_release(&total);
    ops->destroy(a);
    return 0;
}

int main(int argc, char **argv)
{
    const char *policy = "drf";
    int rounds = 5, opt;
    while ((opt = getopt(argc, argv, "p:r:h")) != -1) {
        switch (opt) {
        case 'p':
            policy = optarg;
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: %s [-p policy] [-r rounds] [AGENTSxFRAMEWORKS ...]\n", argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }
    const struct ag_allocator_ops *ops = ag_allocator_find(policy);
    if (!ops || rounds < 1) {
        fprintf(stderr, "bench_allocator: unknown policy '%s' or bad -r\n", policy);
        return 2;
    }
    static const char *const defaults[] = {"1000x100", "10000x1000"};
    const char *const *scen = optind < argc ? (const char *const *)argv + optind : defaults;
    int n = optind < argc ? argc - optind : 2;
    for (int i = 0; i < n; i++) {
        unsigned na, nf;
        char tail;
        if (sscanf(scen[i], "%ux%u%c", &na, &nf, &tail) != 2 || na == 0 || nf == 0) {
            fprintf(stderr, "bench_allocator: bad scenario '%s' (want AGENTSxFRAMEWORKS)\n",
                    scen[i]);
            return 2;
        }
        if (run(ops, na, nf, rounds) != 0)
            return 1;
    }
    return 0;
}
