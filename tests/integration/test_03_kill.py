"""Killing tasks (reference §2.5 KILL, §5.4 command executor kill
semantics): SIGTERM first, SIGKILL after the kill policy's grace period,
TASK_KILLING only for TASK_KILLING_STATE frameworks, KILL's own kill_policy
overriding the task's, and KILL of an unknown task."""

import os
import time

import pytest

from harness import SHELL_BG_PID, SHELL_PID, host_pid, pid_alive, wait_until
from mesos_v1 import agent_executor, agent_state, task_info


@pytest.fixture
def fw(cluster, scheduler_factory):
    return scheduler_factory(cluster.url, name="kill-fw").subscribe()


def sandbox_of(cluster, fw, task_id):
    def find():
        ex = agent_executor(agent_state(cluster.agents[0].url), fw.framework_id, task_id,
                            completed=True)
        return ex and ex.get("directory")

    return wait_until(find, 10, what="sandbox of %s" % task_id)


def task_pid(cluster, fw, task_id):
    """The host pid of the process the task described in its sandbox file
    'pid' (SHELL_PID: its pid in its PID namespace and that namespace)."""
    d = sandbox_of(cluster, fw, task_id)
    path = os.path.join(d, "pid")

    def read():
        with open(path) as f:
            text = f.read().strip()
        return host_pid(text) if text else None

    return wait_until(read, 10, what="%s to write its pid" % task_id)


def launch(fw, task_id, shell, grace=None):
    offer = fw.take_offer()
    fw.launch(offer, [task_info(offer, task_id, shell=shell, kill_grace=grace)],
              refuse_seconds=0)
    return fw.wait_update(task_id, "TASK_RUNNING")


def test_kill_running_task(cluster, fw):
    launch(fw, "victim", SHELL_PID + " > pid; exec sleep 600", grace=10)
    pid = task_pid(cluster, fw, "victim")
    assert pid_alive(pid)
    t0 = time.monotonic()
    fw.kill("victim")
    st = fw.wait_terminal("victim", timeout=15)
    elapsed = time.monotonic() - t0
    assert st["state"] == "TASK_KILLED", st
    assert elapsed < 8, "a task that exits on SIGTERM must not wait for the 10 s grace (%.1fs)" \
        % elapsed
    assert "TASK_KILLING" not in fw.states("victim"), \
        "TASK_KILLING only for TASK_KILLING_STATE frameworks (§2.3)"
    wait_until(lambda: not pid_alive(pid), 5, what="task process %d gone" % pid)


def test_kill_escalates_to_sigkill_after_grace(cluster, fw):
    grace = 1.5
    launch(fw, "stubborn", "trap '' TERM; " + SHELL_PID + " > pid; exec sleep 600", grace=grace)
    pid = task_pid(cluster, fw, "stubborn")
    t0 = time.monotonic()
    fw.kill("stubborn")
    st = fw.wait_terminal("stubborn", timeout=grace + 15)
    elapsed = time.monotonic() - t0
    assert st["state"] == "TASK_KILLED", st
    assert elapsed >= grace - 0.3, \
        "a task ignoring SIGTERM was gone after %.2fs, before the %.1fs grace" % (elapsed, grace)
    assert elapsed < grace + 8, "SIGKILL after the grace took %.1fs" % elapsed
    wait_until(lambda: not pid_alive(pid), 5, what="stubborn process %d gone" % pid)


def test_kill_policy_in_kill_call_overrides_task(cluster, fw):
    launch(fw, "override", "trap '' TERM; " + SHELL_PID + " > pid; exec sleep 600", grace=60)
    pid = task_pid(cluster, fw, "override")
    t0 = time.monotonic()
    fw.kill("override", grace=0.5)
    st = fw.wait_terminal("override", timeout=20)
    assert st["state"] == "TASK_KILLED", st
    assert time.monotonic() - t0 < 10, "KILL's kill_policy must override the task's 60 s (§2.5)"
    wait_until(lambda: not pid_alive(pid), 5, what="process %d gone" % pid)


def test_task_killing_state(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="killing-fw",
                          capabilities=["TASK_KILLING_STATE"]).subscribe()
    launch(s, "k", "exec sleep 600", grace=5)
    s.kill("k")
    s.wait_update("k", "TASK_KILLED", timeout=15)
    states = s.states("k")
    assert "TASK_KILLING" in states, "TASK_KILLING_STATE framework sees TASK_KILLING: %s" % states
    assert states.index("TASK_KILLING") < states.index("TASK_KILLED"), states


def test_kill_whole_process_tree(cluster, fw):
    launch(fw, "tree", "sleep 600 & " + SHELL_BG_PID + " > pid; wait", grace=2)
    child = task_pid(cluster, fw, "tree")
    fw.kill("tree")
    assert fw.wait_terminal("tree", timeout=15)["state"] == "TASK_KILLED"
    wait_until(lambda: not pid_alive(child), 8,
               what="the task's child %d to be killed with it (§5.4 process tree)" % child)


def test_kill_unknown_task(cluster, fw):
    m = fw.mark()
    r = fw.kill("no-such-task", check=False)
    assert r.status == 202, r
    st = fw.wait_update("no-such-task", ["TASK_LOST", "TASK_UNKNOWN", "TASK_GONE"], start=m)
    assert st["state"] == "TASK_LOST", "non-PA framework: unknown task -> TASK_LOST (§2.5)"
    assert not st.get("uuid"), "master-generated updates carry no uuid (§4.3)"


def test_kill_twice_is_harmless(cluster, fw):
    launch(fw, "twice", "exec sleep 600", grace=2)
    fw.kill("twice")
    fw.kill("twice", check=False)
    assert fw.wait_terminal("twice", timeout=15)["state"] == "TASK_KILLED"
    fw.kill("twice", check=False)
    # One reliable terminal update for the task, however many KILLs.
    killed = [st for st in fw.updates("twice") if st["state"] == "TASK_KILLED" and st.get("uuid")]
    assert len(killed) == 1, fw.updates("twice")
    assert cluster.master.alive() and cluster.agents[0].alive()


def test_shutdown_executor(cluster, fw):
    """SHUTDOWN (§2.5): the command executor kills its task (TASK_KILLED,
    §5.2) and exits within the shutdown grace period."""
    st = launch(fw, "shut", SHELL_PID + " > pid; exec sleep 600", grace=1)
    pid = task_pid(cluster, fw, "shut")
    t0 = time.monotonic()
    fw.shutdown("shut", st["agent_id"]["value"])
    end = fw.wait_terminal("shut", timeout=20)
    assert end["state"] == "TASK_KILLED", end
    assert time.monotonic() - t0 < 10
    wait_until(lambda: not pid_alive(pid), 5, what="task process %d gone" % pid)

    def executor_gone():
        ex = agent_executor(agent_state(cluster.agents[0].url), fw.framework_id, "shut")
        return ex is None

    wait_until(executor_gone, 10, what="executor 'shut' gone from the agent's executors")
