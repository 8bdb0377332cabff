/* Executor reaping through pidfds (agent/reap.c): the exit of an own child
 * with its wait status (and no zombie left), the exit of a process watched
 * as a non-child (status unknown). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/internal.h"
#include "core/loop.h"
#include "test.h"

struct fixture {
    struct ag_agent agent;
    struct ag_agent_framework fw;
    struct ag_agent_executor ex;
};

static void setup(struct fixture *f, pid_t pid)
{
    memset(f, 0, sizeof(*f));
    f->agent.loop = ag_loop_new();
    ASSERT_NOT_NULL(f->agent.loop);
    f->fw.agent = &f->agent;
    f->ex.framework = &f->fw;
    f->ex.id = (char *)"reap-test";
    f->ex.pid = pid;
    f->ex.pidfd = -1;
}

static int wait_gone(struct ag_agent_executor *ex, int *status)
{
    for (int i = 0; i < 500; i++) {
        int r = ag_agent_reap_check(ex, status);
        if (r != 0)
            return r;
        usleep(10000);
    }
    return 0;
}

TEST(own_child_exit_status_and_no_zombie)
{
    struct fixture f;
    int status = 0;
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0)
        _exit(3);
    setup(&f, pid);
    ag_agent_reap_watch(&f.agent, &f.ex, true);
    ASSERT_TRUE(f.ex.pidfd >= 0);
    ASSERT_EQ(wait_gone(&f.ex, &status), 1);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 3);
    /* Collected: nothing left to wait for. */
    ASSERT_EQ(waitpid(pid, NULL, WNOHANG), -1);
    ASSERT_EQ(errno, ECHILD);
    ag_agent_reap_unwatch(&f.ex);
    ASSERT_EQ(f.ex.pidfd, -1);
    ag_loop_free(f.agent.loop);
}

TEST(own_child_killed_by_a_signal)
{
    struct fixture f;
    int status = 0;
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    setup(&f, pid);
    ag_agent_reap_watch(&f.agent, &f.ex, true);
    ASSERT_EQ(ag_agent_reap_check(&f.ex, &status), 0); /* alive */
    kill(pid, SIGKILL);
    ASSERT_EQ(wait_gone(&f.ex, &status), 1);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGKILL);
    ag_agent_reap_unwatch(&f.ex);
    ag_loop_free(f.agent.loop);
}

TEST(non_child_exit_is_seen_without_status)
{
    struct fixture f;
    int status = 0;
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0)
        _exit(5);
    setup(&f, pid);
    /* Watched as a re-adopted executor: its exit is seen, not collected. */
    ag_agent_reap_watch(&f.agent, &f.ex, false);
    ASSERT_EQ(wait_gone(&f.ex, &status), 1);
    ASSERT_EQ(status, -1);
    ag_agent_reap_unwatch(&f.ex);
    ASSERT_EQ(waitpid(pid, &status, 0), pid); /* still ours to collect here */
    ASSERT_EQ(WEXITSTATUS(status), 5);
    ag_loop_free(f.agent.loop);
}

TEST(no_pidfd_means_polling)
{
    struct ag_agent_executor ex;
    int status;
    memset(&ex, 0, sizeof(ex));
    ex.pidfd = -1;
    ASSERT_EQ(ag_agent_reap_check(&ex, &status), -1);
}

TEST_MAIN(TEST_CASE(own_child_exit_status_and_no_zombie), TEST_CASE(own_child_killed_by_a_signal),
          TEST_CASE(non_child_exit_is_seen_without_status), TEST_CASE(no_pidfd_means_polling))
