/*
 * reap: executors' exits through pidfds on the event loop.
 *
 * A pidfd becomes readable when its process exits. For our own children
 * waitid(P_PIDFD) collects the status (and the zombie); an executor
 * re-adopted after a restart is not our child (it was re-parented when
 * the old agent died), so only its exit is seen. Executors without a
 * pidfd (a kernel older than 5.3) fall back to the agent's periodic
 * waitpid pass.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/internal.h"
#include "core/log.h"
#include "core/loop.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* A wait status (as waitpid's) from waitid's siginfo. */
static int wait_status(const siginfo_t *si)
{
    if (si->si_code == CLD_EXITED)
        return (si->si_status & 0xff) << 8;
    if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED)
        return si->si_status & 0x7f;
    return 0;
}

int ag_agent_reap_check(struct ag_agent_executor *ex, int *status)
{
    if (ex->pidfd < 0)
        return -1;
    if (ex->child) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (waitid((idtype_t)P_PIDFD, (id_t)ex->pidfd, &si, WEXITED | WNOHANG) < 0) {
            if (errno == EINTR)
                return 0;
            /* Not ours after all (ECHILD): whoever reaped it knows. */
            *status = -1;
            return 1;
        }
        if (si.si_pid == 0)
            return 0;
        *status = wait_status(&si);
        return 1;
    }
    {
        struct pollfd p = {.fd = ex->pidfd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return 0;
        *status = -1;
        return 1;
    }
}

static void on_pidfd(evutil_socket_t fd, short what, void *arg)
{
    struct ag_agent_executor *ex = arg;
    struct ag_agent *agent = ex->framework->agent;
    int status = 0;
    (void)fd;
    (void)what;
    if (ag_agent_reap_check(ex, &status) == 1)
        ag_agent_executor_exited(agent, ex, status);
}

void ag_agent_reap_watch(struct ag_agent *agent, struct ag_agent_executor *ex, bool child)
{
    ag_agent_reap_unwatch(ex);
    ex->child = child;
    ex->pidfd = pidfd_open_(ex->pid);
    if (ex->pidfd < 0) {
        ag_warn("pidfd_open(%d): %s; executor '%s' is reaped by polling", (int)ex->pid,
                strerror(errno), ex->id);
        return;
    }
    ex->pidfd_ev =
        event_new(ag_loop_base(agent->loop), ex->pidfd, EV_READ | EV_PERSIST, on_pidfd, ex);
    if (!ex->pidfd_ev || event_add(ex->pidfd_ev, NULL) < 0)
        ag_warn("cannot watch the pidfd of executor '%s'; it is reaped by polling", ex->id);
}

void ag_agent_reap_unwatch(struct ag_agent_executor *ex)
{
    if (ex->pidfd_ev) {
        event_free(ex->pidfd_ev);
        ex->pidfd_ev = NULL;
    }
    if (ex->pidfd >= 0) {
        close(ex->pidfd);
        ex->pidfd = -1;
    }
}
