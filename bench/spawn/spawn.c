/*
 * bench-spawn: the physical limit of process launch on this machine: a
 * bare posix_spawn loop of one command, N times, each waited for
 * (sequential, like an agent launching one task after another), and the
 * rate at which the processes started. Prints BENCH spawn.per_s.
 *
 * usage: bench-spawn [-n N] [-c] -- command [args...]
 *   -c   keep up to 64 children in flight instead of waiting for each
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = 1000;
    int concurrent = 0, ch;
    while ((ch = getopt(argc, argv, "n:c")) != -1) {
        if (ch == 'n') {
            char *end;
            n = strtol(optarg, &end, 10);
            if (*end || n < 1) {
                fprintf(stderr, "bench-spawn: -n must be a positive count, not '%s'\n", optarg);
                return 2;
            }
        } else if (ch == 'c') {
            concurrent = 1;
        } else {
            fprintf(stderr, "usage: bench-spawn [-n N] [-c] -- command [args...]\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: bench-spawn [-n N] [-c] -- command [args...]\n");
        return 2;
    }
    char **cmd = argv + optind;
    long inflight = 0, failed = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        pid_t pid;
        int r = posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, environ);
        if (r != 0) {
            fprintf(stderr, "bench-spawn: cannot start %s: %s\n", cmd[0], strerror(r));
            return 1;
        }
        inflight++;
        while (inflight > (concurrent ? 63 : 0)) {
            int status;
            if (wait(&status) > 0) {
                inflight--;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    failed++;
            }
        }
    }
    while (inflight > 0) {
        int status;
        if (wait(&status) > 0) {
            inflight--;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                failed++;
        }
    }
    double dt = now() - t0;
    printf("BENCH spawn.per_s %.0f processes/s\n", (double)n / dt);
    printf("# %ld spawns of %s in %.3f s (%ld failed)\n", n, cmd[0], dt, failed);
    return failed ? 1 : 0;
}
