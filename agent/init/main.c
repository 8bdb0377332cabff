/*
 * agora-container-init: the first process of a container.
 *
 * The agent posix_spawns this small helper (never forking itself) with the
 * executor's stdout/stderr, cwd and environment already set. It:
 *   1. joins the container's cgroups (--cgroup=DIR, each DIR/cgroup.procs),
 *      so that everything it starts is accounted and limited;
 *   2. with --ns=pid: forks once (cheap: this process is small) after
 *      unshare(CLONE_NEWPID); the child is PID 1 of the new namespace and
 *      this process stays outside to wait for it and hand its exit status
 *      back to the agent (and, with --ns=net, to relay the executor's
 *      connections to the agent, see relay());
 *   3. as PID 1: enters the other namespaces (mount, uts, ipc, net), makes
 *      mounts private, mounts /proc for the new PID namespace, binds the
 *      sandbox's tmp/ at /tmp and the sandbox at /mnt/mesos/sandbox, sets
 *      the hostname, brings up lo; then forks the executor, switched to
 *      --user, and reaps every process of the namespace until the executor
 *      exits. Then it kills what is left, which the kernel would do anyway
 *      when PID 1 exits.
 * Without --ns=pid, steps 3's setup is done in place and the executor is
 * exec'd directly.
 *
 * A nested container (a task of a task group) is started with --join=PID:
 * instead of new namespaces it enters those of PID (a process of the
 * parent container) named by --ns, changes to --cwd, and runs the task:
 * exec'd directly, or, when a PID namespace is joined (which only applies
 * to children), as a forked child whose end this process mirrors.
 *
 * Errors are written to stderr (the sandbox's stderr file) and the helper
 * exits with status 127, which the agent reports as the executor's exit.
 * _exit is used throughout: nothing here needs atexit handlers, and the
 * sanitizers' exit-time work does not belong in PID 1 of a namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SANDBOX_MOUNT "/mnt/mesos/sandbox"
#define MAX_CGROUPS   16
#define MAX_RELAYS    64

struct opts {
    const char *cgroups[MAX_CGROUPS];
    int n_cgroups;
    bool ns_pid, ns_mount, ns_uts, ns_ipc, ns_net;
    const char *hostname;
    const char *sandbox;
    const char *work_dir; /* the agent's, re-exposed when under /tmp */
    const char *user;
    const char *relay;       /* "ip:port" of the agent, with ns_net */
    int join;                /* --join: enter this process's namespaces, 0 = none */
    const char *cwd;         /* --cwd: working directory after joining */
    const char *status_file; /* where the executor's wait status goes */
    char **argv;             /* path, argv0, args... */
};

static void die(const char *what, int err)
{
    fprintf(stderr, "agora-container-init: %s: %s\n", what, strerror(err));
    fflush(stderr);
    _exit(127);
}

static void die_msg(const char *msg)
{
    fprintf(stderr, "agora-container-init: %s\n", msg);
    fflush(stderr);
    _exit(127);
}

static void parse_ns(struct opts *o, const char *list)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "pid") == 0)
            o->ns_pid = true;
        else if (strcmp(t, "mount") == 0)
            o->ns_mount = true;
        else if (strcmp(t, "uts") == 0)
            o->ns_uts = true;
        else if (strcmp(t, "ipc") == 0)
            o->ns_ipc = true;
        else if (strcmp(t, "net") == 0)
            o->ns_net = true;
        else
            die_msg("unknown namespace in --ns");
    }
}

static void parse(struct opts *o, int argc, char **argv)
{
    int i;
    memset(o, 0, sizeof(*o));
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--cgroup=", 9) == 0 && o->n_cgroups < MAX_CGROUPS)
            o->cgroups[o->n_cgroups++] = a + 9;
        else if (strncmp(a, "--ns=", 5) == 0)
            parse_ns(o, a + 5);
        else if (strncmp(a, "--hostname=", 11) == 0)
            o->hostname = a + 11;
        else if (strncmp(a, "--sandbox=", 10) == 0)
            o->sandbox = a + 10;
        else if (strncmp(a, "--work_dir=", 11) == 0)
            o->work_dir = a + 11;
        else if (strncmp(a, "--user=", 7) == 0)
            o->user = a + 7;
        else if (strncmp(a, "--relay=", 8) == 0)
            o->relay = a + 8;
        else if (strncmp(a, "--join=", 7) == 0)
            o->join = atoi(a + 7);
        else if (strncmp(a, "--cwd=", 6) == 0)
            o->cwd = a + 6;
        else if (strncmp(a, "--status_file=", 14) == 0)
            o->status_file = a + 14;
        else
            die_msg("usage: agora-container-init [--cgroup=DIR]... [--ns=LIST] "
                    "[--hostname=NAME] [--sandbox=DIR] [--work_dir=DIR] [--user=NAME] "
                    "[--relay=IP:PORT] [--status_file=PATH] [--join=PID --cwd=DIR] -- PATH "
                    "ARGV0 [ARGS...]");
    }
    if (i + 1 >= argc)
        die_msg("no command to run after '--'");
    o->argv = argv + i;
}

static void join_cgroups(const struct opts *o)
{
    for (int i = 0; i < o->n_cgroups; i++) {
        char path[1024];
        int fd;
        snprintf(path, sizeof(path), "%s/cgroup.procs", o->cgroups[i]);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            die(path, errno);
        close(fd);
    }
}

static void bind_mount(const char *src, const char *dst)
{
    char what[1200];
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0) {
        snprintf(what, sizeof(what), "cannot bind '%s' at '%s'", src, dst);
        die(what, errno);
    }
}

static void mkdir_p(const char *path, mode_t mode)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(buf, mode);
        *p = '/';
    }
    mkdir(buf, mode);
}

static void lo_up(void)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("socket", errno);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        die("SIOCGIFFLAGS lo", errno);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        die("bringing up lo", errno);
    close(s);
}

/* The namespaces other than PID, and what goes with them. `pid_ns` says
 * whether /proc is to be remounted (we are PID 1 of a new namespace). */
static void enter_namespaces(const struct opts *o, bool pid_ns)
{
    int flags = (o->ns_mount ? CLONE_NEWNS : 0) | (o->ns_uts ? CLONE_NEWUTS : 0) |
                (o->ns_ipc ? CLONE_NEWIPC : 0) | (o->ns_net ? CLONE_NEWNET : 0);
    if (flags && unshare(flags) < 0)
        die("unshare", errno);
    if (o->ns_mount) {
        /* Nothing mounted here may propagate back to the host. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            die("making mounts private", errno);
        if (pid_ns && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            die("mounting /proc", errno);
        if (o->sandbox) {
            mkdir_p(SANDBOX_MOUNT, 0755);
            bind_mount(o->sandbox, SANDBOX_MOUNT);
            int wfd = -1;
            char wpath[64];
            if (o->work_dir && strncmp(o->work_dir, "/tmp/", 5) == 0 &&
                (wfd = open(o->work_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                die("opening the work directory", errno);
            /* A private /tmp: a tmpfs, charged to the container's memory. */
            if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
                die("mounting a private /tmp", errno);
            /* A sandbox that lived under /tmp stays reachable at its host
             * path (MESOS_DIRECTORY). */
            /* An agent working under /tmp keeps its work directory (the
             * sandbox, persistent volumes) reachable at the host path. */
            if (wfd >= 0) {
                /* The old /tmp is hidden now: bind through the descriptor. */
                snprintf(wpath, sizeof(wpath), "/proc/self/fd/%d", wfd);
                mkdir_p(o->work_dir, 0755);
                bind_mount(wpath, o->work_dir);
                close(wfd);
            } else if (strncmp(o->sandbox, "/tmp/", 5) == 0) {
                mkdir_p(o->sandbox, 0755);
                bind_mount(SANDBOX_MOUNT, o->sandbox);
            }
        }
    }
    if (o->ns_uts && o->hostname && sethostname(o->hostname, strlen(o->hostname)) < 0)
        die("sethostname", errno);
    if (o->ns_net)
        lo_up();
}

/* Switches to --user (groups, gid, uid) and execs the executor. */
static void exec_executor(const struct opts *o)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    if (o->user) {
        struct passwd *pw = getpwnam(o->user);
        if (!pw) {
            fprintf(stderr, "agora-container-init: user '%s' does not exist\n", o->user);
            _exit(127);
        }
        if (pw->pw_uid != geteuid()) {
            if (initgroups(o->user, pw->pw_gid) < 0)
                die("initgroups", errno);
            if (setgid(pw->pw_gid) < 0)
                die("setgid", errno);
            if (setuid(pw->pw_uid) < 0)
                die("setuid", errno);
        }
    }
    execv(o->argv[0], o->argv + 1);
    {
        char what[1100];
        snprintf(what, sizeof(what), "cannot run '%s'", o->argv[0]);
        die(what, errno);
    }
}

/* --- the relay (--ns=net): the executor reaches the agent through a
 * listening socket made inside the container's namespace, whose accepted
 * connections the outer process (still in the host's namespace) joins to
 * fresh connections to the agent. --- */

static int listen_inside(int port)
{
    struct sockaddr_in a;
    int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("socket", errno);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 16) < 0)
        die("listening for the executor", errno);
    return s;
}

static void send_fd(int sock, int fd)
{
    char c = 'L', ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&c, 1};
    struct msghdr m = {0};
    struct cmsghdr *cm;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof(ctl);
    cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    if (sendmsg(sock, &m, 0) < 0)
        die("passing the relay socket", errno);
}

static int recv_fd(int sock)
{
    char c, ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&c, 1};
    struct msghdr m = {0};
    struct cmsghdr *cm;
    int fd = -1;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof(ctl);
    if (recvmsg(sock, &m, 0) <= 0)
        return -1;
    cm = CMSG_FIRSTHDR(&m);
    if (cm && cm->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    return fd;
}

static int connect_agent(const struct sockaddr_in *agent)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    if (connect(s, (const struct sockaddr *)agent, sizeof(*agent)) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* Copies what is readable from `from` to `to`. false at EOF or error. */
static bool pump(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

/* Waits for `child` while relaying; returns its wait status. */
static int relay_and_wait(pid_t child, int listener, const struct sockaddr_in *agent)
{
    int pairs[MAX_RELAYS][2], n = 0, status;
    for (;;) {
        struct pollfd p[1 + 2 * MAX_RELAYS];
        if (waitpid(child, &status, WNOHANG) == child)
            return status;
        p[0].fd = listener;
        p[0].events = POLLIN;
        for (int i = 0; i < n; i++) {
            p[1 + 2 * i].fd = pairs[i][0];
            p[1 + 2 * i].events = POLLIN;
            p[2 + 2 * i].fd = pairs[i][1];
            p[2 + 2 * i].events = POLLIN;
        }
        if (poll(p, (nfds_t)(1 + 2 * n), 200) <= 0)
            continue;
        /* Backwards, so that moving the last pair into a closed one's
         * place skips nothing. */
        for (int i = n - 1; i >= 0; i--) {
            bool ok = true;
            if (p[1 + 2 * i].revents)
                ok = pump(pairs[i][0], pairs[i][1]);
            if (ok && p[2 + 2 * i].revents)
                ok = pump(pairs[i][1], pairs[i][0]);
            if (!ok) {
                close(pairs[i][0]);
                close(pairs[i][1]);
                pairs[i][0] = pairs[n - 1][0];
                pairs[i][1] = pairs[n - 1][1];
                n--;
            }
        }
        if ((p[0].revents & POLLIN) && n < MAX_RELAYS) {
            int in = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
            int out = in >= 0 ? connect_agent(agent) : -1;
            if (in >= 0 && out < 0)
                close(in);
            if (out >= 0) {
                pairs[n][0] = in;
                pairs[n][1] = out;
                n++;
            }
        }
    }
}

/* --- PID 1 --- */

static void noop_handler(int signo)
{
    (void)signo;
}

/* PID 1 of the container: set up, start the executor, reap everything.
 * Writes the executor's wait status to `status_fd` before exiting. */
static void pid1(const struct opts *o, int status_fd, int relay_sock)
{
    pid_t executor;
    int status = 0;

    enter_namespaces(o, true);
    if (relay_sock >= 0) {
        const char *colon = strrchr(o->relay, ':');
        int l = listen_inside(colon ? atoi(colon + 1) : 0);
        send_fd(relay_sock, l);
        close(l);
        close(relay_sock);
    }
    /* Signals from outside reach PID 1 only if it handles them; the agent
     * signals the executor directly (same session), so these do nothing. */
    signal(SIGTERM, noop_handler);
    signal(SIGINT, noop_handler);
    signal(SIGHUP, noop_handler);
    fflush(NULL);
    executor = fork();
    if (executor < 0)
        die("fork", errno);
    if (executor == 0) {
        close(status_fd);
        exec_executor(o);
    }
    for (;;) {
        int st;
        pid_t r = waitpid(-1, &st, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (r == executor) {
            status = st;
            break;
        }
    }
    /* Whatever the executor left behind goes with it. */
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    if (write(status_fd, &status, sizeof(status)) != (ssize_t)sizeof(status))
        _exit(127);
    _exit(0);
}

static void exit_like(int status);
static void save_status(const char *path, int status);

/* --join: enters the namespaces of process o->join listed in --ns. Every
 * namespace file is opened before the first setns, since joining the
 * mount namespace changes what /proc shows. */
static void join_namespaces(const struct opts *o)
{
    static const struct {
        const char *name;
        int flag;
    } order[] = {{"ipc", CLONE_NEWIPC},
                 {"uts", CLONE_NEWUTS},
                 {"net", CLONE_NEWNET},
                 {"pid", CLONE_NEWPID},
                 {"mnt", CLONE_NEWNS}};
    bool want[] = {o->ns_ipc, o->ns_uts, o->ns_net, o->ns_pid, o->ns_mount};
    int fds[5];
    char path[64];
    for (int i = 0; i < 5; i++) {
        fds[i] = -1;
        if (!want[i])
            continue;
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", o->join, order[i].name);
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0)
            die(path, errno);
    }
    for (int i = 0; i < 5; i++) {
        if (fds[i] < 0)
            continue;
        if (setns(fds[i], order[i].flag) < 0) {
            snprintf(path, sizeof(path), "joining the %s namespace", order[i].name);
            die(path, errno);
        }
        close(fds[i]);
    }
    if (o->cwd && chdir(o->cwd) < 0)
        die("cannot enter the sandbox", errno);
}

static void save_status(const char *path, int status);

/* Runs the executor as a child and leaves the way it did, its wait status
 * saved to --status_file first (for an agent that restarted meanwhile and
 * can no longer wait for it). */
static void fork_and_wait(const struct opts *o)
{
    pid_t child;
    int status = 0;
    fflush(NULL);
    child = fork();
    if (child < 0)
        die("fork", errno);
    if (child == 0)
        exec_executor(o);
    /* The agent signals the whole session; this process only waits. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    save_status(o->status_file, status);
    exit_like(status);
}

/* Without a PID namespace the executor is normally exec'd in place. With
 * --status_file (nested containers) this process stays as its parent
 * instead, so that the task's exit status survives an agent restart. */
static void exec_or_wait(const struct opts *o)
{
    if (!o->status_file)
        exec_executor(o);
    fork_and_wait(o);
}

/* A nested container's task: joins the parent's namespaces and runs (a
 * joined PID namespace takes effect for children only, hence the fork). */
static void run_joined(const struct opts *o)
{
    join_namespaces(o);
    if (!o->ns_pid)
        exec_or_wait(o);
    fork_and_wait(o);
}

/* --status_file: the executor's wait status, for an agent that restarted
 * meanwhile (it is not our parent any more and cannot wait for us).
 * Written to a temporary file and renamed, so it is whole or absent. */
static void save_status(const char *path, int status)
{
    char tmp[4200], text[32];
    int fd, n;
    bool ok;
    if (!path || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    n = snprintf(text, sizeof(text), "%d\n", status);
    ok = write(fd, text, (size_t)n) == n && fsync(fd) == 0;
    if (close(fd) == 0 && ok && rename(tmp, path) == 0)
        return;
    unlink(tmp);
}

/* Leaves this process the way `status` says the executor did. */
static void exit_like(int status)
{
    if (WIFSIGNALED(status)) {
        int s = WTERMSIG(status);
        signal(s, SIG_DFL);
        {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, s);
            sigprocmask(SIG_UNBLOCK, &set, NULL);
        }
        raise(s);
        _exit(128 + s);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

int main(int argc, char **argv)
{
    struct opts o;
    int pipefd[2], sp[2] = {-1, -1}, status = 0, executor_status;
    struct sockaddr_in agent;
    pid_t child;

    parse(&o, argc, argv);
    join_cgroups(&o);
    if (o.join > 0)
        run_joined(&o);
    if (!o.ns_pid) {
        enter_namespaces(&o, false);
        exec_or_wait(&o);
    }
    if (o.ns_net && o.relay) {
        char ip[64];
        const char *colon = strrchr(o.relay, ':');
        memset(&agent, 0, sizeof(agent));
        agent.sin_family = AF_INET;
        if (!colon || (size_t)(colon - o.relay) >= sizeof(ip))
            die_msg("--relay: not IP:PORT");
        memcpy(ip, o.relay, (size_t)(colon - o.relay));
        ip[colon - o.relay] = '\0';
        agent.sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, ip, &agent.sin_addr) != 1)
            die_msg("--relay: not IP:PORT");
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
            die("socketpair", errno);
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        die("pipe", errno);
    if (unshare(CLONE_NEWPID) < 0)
        die("unshare(CLONE_NEWPID)", errno);
    fflush(NULL);
    child = fork();
    if (child < 0)
        die("fork", errno);
    if (child == 0) {
        close(pipefd[0]);
        if (sp[0] >= 0)
            close(sp[0]);
        pid1(&o, pipefd[1], sp[1]);
    }
    close(pipefd[1]);
    /* The agent signals the whole session; this process only waits. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    if (sp[0] >= 0) {
        int listener;
        close(sp[1]);
        listener = recv_fd(sp[0]);
        close(sp[0]);
        status = listener >= 0 ? relay_and_wait(child, listener, &agent) : 0;
        if (listener < 0)
            while (waitpid(child, &status, 0) < 0 && errno == EINTR)
                ;
    } else {
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
    }
    /* PID 1 tells how the executor ended; if PID 1 itself was killed, its
     * own end is the container's. */
    if (read(pipefd[0], &executor_status, sizeof(executor_status)) ==
        (ssize_t)sizeof(executor_status))
        status = executor_status;
    save_status(o.status_file, status);
    exit_like(status);
    return 0;
}
