/*
 * local: `agora local`, a whole cluster on this machine.
 *
 * Starts a master and N agents as child processes running this same binary
 * (/proc/self/exe master ..., ... agent ...), each in its own process group
 * (so a terminal's Ctrl-C reaches only us and we stop them in order) and
 * with PR_SET_PDEATHSIG (so they do not outlive us if we are killed). Their
 * logs go to files in the work directory. Once the master answers /health
 * and lists the agents, an example workload runs in-process through the
 * SDK, then we serve until SIGINT/SIGTERM: SIGUSR1 (full shutdown) to every
 * agent, then SIGTERM to the master, SIGKILL after a grace period, exit 0. A child that dies
 * unexpectedly is reported with the end of its log; if it is the master, everything stops.
 *
 * Everything runs on one loop: startup polls, the example, signals
 * (including SIGCHLD) and the shutdown timer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/http.h"
#include "core/json.h"
#include "core/loop.h"

#define STARTUP_POLL_SECS 0.05
#define MASTER_START_SECS 20.0
#define AGENTS_START_SECS 30.0
#define STOP_GRACE_SECS   5.0
#define EXAMPLE_TASKS     3
#define FIRST_AGENT_PORT  5051
#define LOG_TAIL_LINES    15

enum phase {
    PHASE_MASTER = 0, /* waiting for the master's /health */
    PHASE_AGENTS = 1, /* waiting for the agents to register */
    PHASE_EXAMPLE = 2,
    PHASE_SERVING = 3,
    PHASE_STOPPING = 4,
};

struct child {
    char name[32]; /* "master", "agent-0" */
    /* How it is stopped: SIGUSR1 for agents (their full shutdown; their
     * SIGTERM leaves executors running for a restart), SIGTERM for the
     * master. Also its PR_SET_PDEATHSIG. */
    int stop_signal;
    pid_t pid;
    bool alive;
    int port;
    char log[PATH_MAX + 64];
};

struct local {
    struct ag_loop *loop;
    /* options */
    int nagents;
    const char *work_dir_opt;
    int port;
    bool example;
    /* state */
    char work_dir[PATH_MAX];
    char exe[PATH_MAX];
    char master_url[64];
    struct child *children; /* [0] is the master */
    size_t nchildren;
    enum phase phase;
    double deadline;
    const char *health_path;
    bool poll_inflight;
    struct ag_timer *poll_timer;
    struct ag_timer *kill_timer;
    struct ag_timer *idle_timer;
    struct ag_signal *sigint, *sigterm, *sigchld;
    struct ag_cli_example *ex;
    int exit_code;
};

static void stop_all(struct local *l, int exit_code);

/* --- children --- */

static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* A port the kernel considers free right now (for when 5051.. are taken). */
static int any_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int pick_agent_port(struct local *l, int *next_try)
{
    for (; *next_try < FIRST_AGENT_PORT + 100; (*next_try)++) {
        int p = *next_try;
        bool taken = p == l->port;
        for (size_t i = 0; i < l->nchildren && !taken; i++)
            taken = l->children[i].port == p;
        if (!taken && port_free(p)) {
            (*next_try)++;
            return p;
        }
    }
    return any_free_port();
}

/* fork + exec of this binary with argv; stdout/stderr to the child's log. */
static int spawn(struct local *l, struct child *c, char **argv)
{
    int logfd = open(c->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        fprintf(stderr, "agora local: cannot create %s: %s\n", c->log, strerror(errno));
        return -errno;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(logfd);
        fprintf(stderr, "agora local: cannot fork: %s\n", strerror(e));
        return -e;
    }
    if (pid == 0) {
        /* Own process group: the terminal's Ctrl-C is for us, not them. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, c->stop_signal);
        if (getppid() != parent)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        /* Nothing else of ours goes along: libevent makes client sockets
         * without close-on-exec, and a copy kept alive in a child keeps
         * the socket in our epoll set after we close it (with libevent's
         * changelist the removal fails), which wakes our loop forever. */
        close_range(3, ~0U, 0);
        execv(l->exe, argv);
        dprintf(STDERR_FILENO, "cannot exec %s: %s\n", l->exe, strerror(errno));
        _exit(127);
    }
    close(logfd);
    c->pid = pid;
    c->alive = true;
    return 0;
}

static int start_master(struct local *l)
{
    struct child *c = &l->children[0];
    snprintf(c->name, sizeof(c->name), "master");
    c->stop_signal = SIGTERM;
    c->port = l->port;
    snprintf(c->log, sizeof(c->log), "%s/master.log", l->work_dir);
    char port[32], dir[PATH_MAX + 64];
    snprintf(port, sizeof(port), "--port=%d", l->port);
    snprintf(dir, sizeof(dir), "--work_dir=%s/master", l->work_dir);
    char *argv[] = {(char *)"agora", (char *)"master", (char *)"--ip=127.0.0.1", port, dir, NULL};
    int r = spawn(l, c, argv);
    if (r == 0)
        l->nchildren = 1;
    return r;
}

static int start_agents(struct local *l)
{
    int next_try = FIRST_AGENT_PORT;
    for (int i = 0; i < l->nagents; i++) {
        struct child *c = &l->children[1 + i];
        snprintf(c->name, sizeof(c->name), "agent-%d", i);
        c->stop_signal = SIGUSR1; /* nothing of the cluster may stay */
        c->port = pick_agent_port(l, &next_try);
        snprintf(c->log, sizeof(c->log), "%s/agent-%d.log", l->work_dir, i);
        char master[64], port[32], dir[PATH_MAX + 64];
        snprintf(master, sizeof(master), "--master=127.0.0.1:%d", l->port);
        snprintf(port, sizeof(port), "--port=%d", c->port);
        snprintf(dir, sizeof(dir), "--work_dir=%s/agent-%d", l->work_dir, i);
        char *argv[] = {
            (char *)"agora", (char *)"agent", (char *)"--ip=127.0.0.1", master, port, dir, NULL};
        int r = spawn(l, c, argv);
        if (r < 0)
            return r;
        l->nchildren = (size_t)(2 + i);
    }
    return 0;
}

static void print_log_tail(const struct child *c)
{
    FILE *f = fopen(c->log, "r");
    if (!f)
        return;
    /* Keep the last LOG_TAIL_LINES lines in a ring. */
    char lines[LOG_TAIL_LINES][512];
    size_t n = 0;
    while (fgets(lines[n % LOG_TAIL_LINES], sizeof(lines[0]), f))
        n++;
    fclose(f);
    size_t first = n > LOG_TAIL_LINES ? n - LOG_TAIL_LINES : 0;
    fprintf(stderr, "  last lines of %s:\n", c->log);
    for (size_t i = first; i < n; i++)
        fprintf(stderr, "    %s", lines[i % LOG_TAIL_LINES]);
}

static void describe_status(int status, char *out, size_t len)
{
    if (WIFEXITED(status))
        snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, len, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(out, len, "ended (wait status %d)", status);
}

static bool any_alive(const struct local *l)
{
    for (size_t i = 0; i < l->nchildren; i++)
        if (l->children[i].alive)
            return true;
    return false;
}

static void reap(struct local *l)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < l->nchildren; i++) {
            struct child *c = &l->children[i];
            if (c->pid != pid || !c->alive)
                continue;
            c->alive = false;
            if (l->phase == PHASE_STOPPING)
                break;
            char how[96];
            describe_status(status, how, sizeof(how));
            fprintf(stderr, "agora local: the %s (pid %d) %s unexpectedly\n", c->name, (int)pid,
                    how);
            print_log_tail(c);
            /* Without the master there is no cluster; during startup any
             * death means the cluster cannot come up as asked. */
            if (i == 0 || l->phase < PHASE_EXAMPLE)
                stop_all(l, 1);
            break;
        }
    }
    if (l->phase == PHASE_STOPPING && !any_alive(l))
        ag_loop_stop(l->loop);
}

/* --- stopping --- */

static void kill_timeout(void *arg)
{
    struct local *l = arg;
    for (size_t i = 0; i < l->nchildren; i++) {
        if (l->children[i].alive) {
            fprintf(stderr, "agora local: the %s did not stop in %g s; killing it\n",
                    l->children[i].name, STOP_GRACE_SECS);
            kill(l->children[i].pid, SIGKILL);
        }
    }
}

static void stop_all(struct local *l, int exit_code)
{
    if (l->phase == PHASE_STOPPING)
        return;
    l->phase = PHASE_STOPPING;
    l->exit_code = exit_code;
    ag_timer_stop(l->poll_timer);
    ag_cli_example_abort(l->ex);
    /* Agents first, then the master, so agents do not log a lost master. */
    for (size_t i = l->nchildren; i-- > 0;)
        if (l->children[i].alive)
            kill(l->children[i].pid, l->children[i].stop_signal);
    ag_timer_start(l->kill_timer, STOP_GRACE_SECS);
    if (!any_alive(l))
        ag_loop_stop(l->loop);
}

static void on_signal(int signo, void *arg)
{
    struct local *l = arg;
    if (signo == SIGCHLD) {
        reap(l);
        return;
    }
    if (l->phase == PHASE_STOPPING) {
        /* A second Ctrl-C: no more waiting. */
        for (size_t i = 0; i < l->nchildren; i++)
            if (l->children[i].alive)
                kill(l->children[i].pid, SIGKILL);
        return;
    }
    printf("\nagora local: stopping the cluster\n");
    fflush(stdout);
    stop_all(l, 0);
}

/* --- startup --- */

static void print_ready(struct local *l)
{
    const char *m = l->master_url + strlen("http://");
    bool default_port = l->port == 5050;
    printf("\nThe cluster is running: master %s, %d agent%s, work dir %s\n", l->master_url,
           l->nagents, l->nagents == 1 ? "" : "s", l->work_dir);
    printf("  logs: %s/master.log, %s/agent-N.log\n\n", l->work_dir, l->work_dir);
    printf("Talk to it:\n");
    if (!default_port)
        printf("  export AGORA_MASTER=%s\n", m);
    printf("  curl %s/master/state\n", l->master_url);
    printf("  %s tasks\n", l->exe);
    printf("  %s agents\n", l->exe);
    printf("  %s run -- echo hello\n", l->exe);
    printf("\nPress Ctrl-C to stop it.\n");
    fflush(stdout);
}

static void idle_check(void *arg)
{
    struct local *l = arg;
    /* Free the example once its last requests have been answered. */
    if (l->ex && ag_cli_example_idle(l->ex)) {
        ag_cli_example_free(l->ex);
        l->ex = NULL;
        ag_timer_stop(l->idle_timer);
    }
}

static void example_done(size_t finished, size_t total, const char *error, void *arg)
{
    struct local *l = arg;
    if (error)
        printf("The example stopped: %s\n", error);
    printf("Example done: %zu of %zu tasks finished.\n", finished, total);
    if (l->phase == PHASE_EXAMPLE) {
        l->phase = PHASE_SERVING;
        print_ready(l);
    }
    ag_timer_start_periodic(l->idle_timer, 0.1);
}

static void cluster_up(struct local *l)
{
    printf("The master and %d agent%s are up.\n", l->nagents, l->nagents == 1 ? "" : "s");
    if (!l->example || l->nagents == 0) {
        l->phase = PHASE_SERVING;
        print_ready(l);
        return;
    }
    l->phase = PHASE_EXAMPLE;
    printf("\nRunning an example: %d tasks through the scheduler SDK, each echoing a line.\n",
           EXAMPLE_TASKS);
    fflush(stdout);
    l->ex = ag_cli_example_start(l->loop, l->master_url, EXAMPLE_TASKS, example_done, l);
    if (!l->ex) {
        printf("Cannot start the example.\n");
        l->phase = PHASE_SERVING;
        print_ready(l);
    }
}

static size_t count_agents(const json_t *doc)
{
    size_t n = 0, i;
    json_t *agent;
    json_array_foreach(json_object_get(doc, "slaves"), i, agent)
    {
        json_t *active = json_object_get(agent, "active");
        if (!json_is_boolean(active) || json_is_true(active))
            n++;
    }
    return n;
}

static void on_poll_answer(const struct ag_http_response *resp, void *arg)
{
    struct local *l = arg;
    l->poll_inflight = false;
    if (l->phase == PHASE_STOPPING)
        return;
    int code = ag_http_response_code(resp);
    if (l->phase == PHASE_MASTER) {
        if (code == 200) {
            printf("The master is up at %s (pid %d); starting %d agent%s.\n", l->master_url,
                   (int)l->children[0].pid, l->nagents, l->nagents == 1 ? "" : "s");
            fflush(stdout);
            if (start_agents(l) < 0) {
                stop_all(l, 1);
                return;
            }
            l->phase = PHASE_AGENTS;
            l->deadline = ag_monotonic() + AGENTS_START_SECS;
        } else if (code == 404) {
            /* Mesos spells it both ways; try the other. */
            l->health_path = strcmp(l->health_path, "/health") == 0 ? "/master/health" : "/health";
        }
    } else if (l->phase == PHASE_AGENTS && code == 200) {
        size_t len = 0;
        char err[128];
        const char *body = ag_http_response_body(resp, &len);
        json_t *doc = ag_json_parse(body, len, err, sizeof(err));
        size_t n = count_agents(doc);
        json_decref(doc);
        if (n >= (size_t)l->nagents) {
            cluster_up(l);
            return;
        }
    }
    ag_timer_start(l->poll_timer, STARTUP_POLL_SECS);
}

static void poll_cb(void *arg)
{
    struct local *l = arg;
    if (l->phase != PHASE_MASTER && l->phase != PHASE_AGENTS)
        return;
    if (ag_monotonic() > l->deadline) {
        const char *what = l->phase == PHASE_MASTER ? "the master did not answer"
                                                    : "the agents did not all register";
        fprintf(stderr, "agora local: %s within %g s\n", what,
                l->phase == PHASE_MASTER ? MASTER_START_SECS : AGENTS_START_SECS);
        for (size_t i = 0; i < l->nchildren; i++)
            print_log_tail(&l->children[i]);
        stop_all(l, 1);
        return;
    }
    char url[128];
    snprintf(url, sizeof(url), "%s%s", l->master_url,
             l->phase == PHASE_MASTER ? l->health_path : "/master/slaves");
    if (ag_http_request(l->loop, "GET", url, NULL, NULL, 0, 2.0, on_poll_answer, l) == 0)
        l->poll_inflight = true;
    else
        ag_timer_start(l->poll_timer, STARTUP_POLL_SECS);
}

/* --- options and main --- */

static int parse_options(struct local *l, int argc, char **argv)
{
    struct ag_cli_opt opts[] = {
        {"agents", AG_CLI_INT, &l->nagents, "number of agents (default 2)"},
        {"work_dir", AG_CLI_STR, &l->work_dir_opt,
         "directory for logs and sandboxes (default a new /tmp/agora-local-XXXXXX)"},
        {"port", AG_CLI_INT, &l->port, "master port (default 5050)"},
        {"example", AG_CLI_BOOL, &l->example, "run the example workload (--no-example skips it)"},
    };
    const size_t n = sizeof(opts) / sizeof(opts[0]);
    char err[256];
    int next = 0;
    int r = ag_cli_parse(opts, n, argc, argv, &next, err, sizeof(err));
    if (r == 1) {
        printf("usage: agora local [OPTIONS]\n\n"
               "Runs a master on 127.0.0.1 and agents as child processes, runs an example\n"
               "workload, then serves until Ctrl-C, which stops everything.\n");
        ag_cli_print_options(opts, n);
        return 0;
    }
    if (r < 0 || next < argc) {
        fprintf(stderr, "agora local: %s\n", r < 0 ? err : "unexpected argument (see --help)");
        return 2;
    }
    if (l->nagents < 0 || l->nagents > 64) {
        fprintf(stderr, "agora local: --agents must be between 0 and 64\n");
        return 2;
    }
    if (l->port < 1 || l->port > 65535) {
        fprintf(stderr, "agora local: --port must be between 1 and 65535\n");
        return 2;
    }
    return -1;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int prepare(struct local *l)
{
    ssize_t n = readlink("/proc/self/exe", l->exe, sizeof(l->exe) - 1);
    if (n <= 0) {
        fprintf(stderr, "agora local: cannot find my own binary: %s\n", strerror(errno));
        return -1;
    }
    l->exe[n] = '\0';
    if (l->work_dir_opt) {
        if (strlen(l->work_dir_opt) >= sizeof(l->work_dir) - 64 || mkdir_p(l->work_dir_opt) < 0) {
            fprintf(stderr, "agora local: cannot create --work_dir '%s': %s\n", l->work_dir_opt,
                    strerror(errno));
            return -1;
        }
        if (!realpath(l->work_dir_opt, l->work_dir))
            snprintf(l->work_dir, sizeof(l->work_dir), "%s", l->work_dir_opt);
    } else {
        snprintf(l->work_dir, sizeof(l->work_dir), "/tmp/agora-local-XXXXXX");
        if (!mkdtemp(l->work_dir)) {
            fprintf(stderr, "agora local: cannot create a work directory: %s\n", strerror(errno));
            return -1;
        }
    }
    if (!port_free(l->port)) {
        fprintf(stderr,
                "agora local: port %d on 127.0.0.1 is in use (another cluster?); "
                "pick another with --port\n",
                l->port);
        return -1;
    }
    snprintf(l->master_url, sizeof(l->master_url), "http://127.0.0.1:%d", l->port);
    return 0;
}

static void cleanup(struct local *l)
{
    if (l->ex && ag_cli_example_idle(l->ex))
        ag_cli_example_free(l->ex);
    ag_timer_free(l->poll_timer);
    ag_timer_free(l->kill_timer);
    ag_timer_free(l->idle_timer);
    ag_signal_free(l->sigint);
    ag_signal_free(l->sigterm);
    ag_signal_free(l->sigchld);
    ag_loop_free(l->loop);
    free(l->children);
}

int ag_cli_local_main(int argc, char **argv)
{
    struct local l = {.nagents = 2, .port = 5050, .example = true, .health_path = "/health"};
    int r = parse_options(&l, argc, argv);
    if (r >= 0)
        return r;
    if (prepare(&l) < 0)
        return 1;
    l.children = calloc((size_t)l.nagents + 1, sizeof(*l.children));
    l.loop = ag_loop_new();
    if (!l.children || !l.loop) {
        fprintf(stderr, "agora local: out of memory\n");
        cleanup(&l);
        return 1;
    }
    l.poll_timer = ag_timer_new(l.loop, poll_cb, &l);
    l.kill_timer = ag_timer_new(l.loop, kill_timeout, &l);
    l.idle_timer = ag_timer_new(l.loop, idle_check, &l);
    l.sigint = ag_signal_new(l.loop, SIGINT, on_signal, &l);
    l.sigterm = ag_signal_new(l.loop, SIGTERM, on_signal, &l);
    l.sigchld = ag_signal_new(l.loop, SIGCHLD, on_signal, &l);
    printf("Starting an Agora cluster in %s\n", l.work_dir);
    if (start_master(&l) < 0) {
        cleanup(&l);
        return 1;
    }
    l.phase = PHASE_MASTER;
    l.deadline = ag_monotonic() + MASTER_START_SECS;
    ag_timer_start(l.poll_timer, 0);
    ag_loop_run(l.loop);
    /* Children that outlived the loop (it only stops once all are reaped,
     * unless stopping failed) get no chance to linger. */
    for (size_t i = 0; i < l.nchildren; i++)
        if (l.children[i].alive)
            kill(l.children[i].pid, SIGKILL);
    if (l.exit_code == 0)
        printf("agora local: stopped; logs and sandboxes are in %s\n", l.work_dir);
    int code = l.exit_code;
    cleanup(&l);
    return code;
}
