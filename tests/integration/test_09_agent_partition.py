"""An agent that stops answering (reference §4.5, docs/agent-protocol.md
"Liveness"): after --max_agent_ping_timeouts unanswered pings it is marked
unreachable: TASK_UNREACHABLE for PARTITION_AWARE frameworks, TASK_LOST for
others (REASON_AGENT_REMOVED, no uuid), FAILURE to everyone, its offers
RESCINDed. When it comes back it re-registers and its still-running tasks
are reported TASK_RUNNING again."""

import os
import time

import pytest

from harness import SHELL_PID, get_json, host_pid, pid_alive, wait_until
from mesos_v1 import agent_executor, agent_state, offer_scalar, task_info

MASTER_FLAGS = {"agent_ping_timeout": "0.5secs", "max_agent_ping_timeouts": 2}


@pytest.fixture
def pc(cluster_factory):
    return cluster_factory(resources="cpus:4;mem:2048;disk:1024;ports:[31000-31099]",
                           master_flags=MASTER_FLAGS)


def launch_both(pa, plain):
    """Each framework launches one sleeping task on the single agent;
    whoever holds an offer while the other still waits gives it back."""
    pending = {pa: "pa-task", plain: "plain-task"}
    deadline = time.monotonic() + 20
    while pending:
        assert time.monotonic() < deadline, "could not launch on both frameworks"
        for s in (pa, plain):
            o = s.poll_offer()
            if o is None:
                continue
            if s in pending:
                shell = SHELL_PID + " > pid; exec sleep 600"
                s.launch(o, [task_info(o, pending.pop(s), shell=shell)], refuse_seconds=0)
            elif pending:
                s.decline(o["id"]["value"], refuse_seconds=0)
            else:
                s.hold(o)
        time.sleep(0.02)
    pa.wait_update("pa-task", "TASK_RUNNING")
    plain.wait_update("plain-task", "TASK_RUNNING")


def task_pid(agent, s, task_id):
    def read():
        ex = agent_executor(agent_state(agent.url), s.framework_id, task_id)
        path = ex and os.path.join(ex["directory"], "pid")
        if path and os.path.exists(path):
            text = open(path).read().strip()
            return host_pid(text) if text else None

    return wait_until(read, 10, what="pid of " + task_id)


def test_unreachable_agent_and_its_return(pc, scheduler_factory):
    agent = pc.agents[0]
    aid = agent.agent_id
    pa = scheduler_factory(pc.url, name="part-pa", capabilities=["PARTITION_AWARE"],
                           failover_timeout=3600).subscribe()
    plain = scheduler_factory(pc.url, name="part-plain", failover_timeout=3600).subscribe()
    launch_both(pa, plain)
    # Someone holds an offer for the agent's remaining resources.
    held = wait_until(lambda: pa.outstanding(aid) + plain.outstanding(aid), 10,
                      what="an outstanding offer on the agent")
    held_ids = {o["id"]["value"] for o in held}
    pids = [task_pid(agent, pa, "pa-task"), task_pid(agent, plain, "plain-task")]
    marks = (pa.mark(), plain.mark())
    # Checks that need not stop the scenario are collected and reported
    # together at the end, so one bug does not hide the next.
    problems = []

    def check(ok, msg):
        if not ok:
            problems.append(msg)

    t0 = time.monotonic()
    agent.pause()

    st = pa.wait_update("pa-task", ["TASK_UNREACHABLE", "TASK_LOST"], timeout=15,
                        start=marks[0])
    assert st["state"] == "TASK_UNREACHABLE", "PARTITION_AWARE sees TASK_UNREACHABLE: %r" % st
    check(st.get("reason") == "REASON_AGENT_REMOVED", "PA update reason (§4.5): %r" % st)
    check(not st.get("uuid"), "master-generated update with a uuid: %r" % st)
    check("unreachable_time" in st, "TASK_UNREACHABLE carries unreachable_time (§4.5): %r" % st)
    st = plain.wait_update("plain-task", ["TASK_UNREACHABLE", "TASK_LOST"], timeout=15,
                           start=marks[1])
    assert st["state"] == "TASK_LOST", "non-PA sees TASK_LOST: %r" % st
    check(st.get("reason") == "REASON_AGENT_REMOVED", "non-PA update reason (§4.5): %r" % st)
    check(not st.get("uuid"), "master-generated update with a uuid: %r" % st)
    elapsed = time.monotonic() - t0
    check(elapsed < 10, "detection took %.1fs with 0.5s x 2 pings" % elapsed)
    for s, m in zip((pa, plain), marks):
        f = s.wait_for(lambda e: e["type"] == "FAILURE", 10, "FAILURE", start=m)
        check(f["failure"]["agent_id"]["value"] == aid, "FAILURE agent_id: %r" % f)
        check("executor_id" not in f["failure"], "agent FAILURE has no executor_id: %r" % f)
    for s, m in zip((pa, plain), marks):
        for oid in held_ids:
            if s.index_of(lambda e: e["type"] == "OFFERS" and oid in
                          [o["id"]["value"] for o in e["offers"]["offers"]]) is not None:
                s.wait_for(lambda e: e["type"] == "RESCIND" and
                           e["rescind"]["offer_id"]["value"] == oid, 10, "RESCIND of " + oid)
    # The master's view.
    wait_until(lambda: get_json(pc.url, "/metrics/snapshot")["master/slaves_unreachable"] == 1,
               10, what="master/slaves_unreachable == 1")
    st_ = pc.state()
    check(st_["unreachable_slaves"] == 1 and st_["activated_slaves"] == 0,
          "/master/state unreachable_slaves %r activated_slaves %r (§7.2)" %
          (st_["unreachable_slaves"], st_["activated_slaves"]))
    # Reconciliation of the PA task answers TASK_UNREACHABLE meanwhile.
    m = pa.mark()
    pa.reconcile([("pa-task", aid)])
    rst = pa.wait_update("pa-task", ["TASK_UNREACHABLE", "TASK_LOST", "TASK_RUNNING"], start=m)
    check(rst["state"] == "TASK_UNREACHABLE",
          "reconciling a task of an unreachable agent must answer TASK_UNREACHABLE "
          "(§4.6 / §4.5), got %r" % rst)
    # No offers from the unreachable agent.
    check(not pa.outstanding(aid) and not plain.outstanding(aid),
          "offers for the unreachable agent outstanding")

    marks = (pa.mark(), plain.mark())
    agent.resume()
    pc.wait_registered(agent, timeout=40)
    assert agent.agent_id == aid, "the agent keeps its id when it re-registers"
    for s, tid, m in ((pa, "pa-task", marks[0]), (plain, "plain-task", marks[1])):
        st = s.wait_update(tid, "TASK_RUNNING", timeout=15, start=m)
        check(st.get("reason") == "REASON_AGENT_REREGISTERED" and not st.get("uuid"),
              "docs/agent-protocol.md: re-admitted tasks are reported with no uuid and "
              "REASON_AGENT_REREGISTERED: %r" % st)
    # The tasks were never killed.
    assert all(pid_alive(p) for p in pids), "tasks must survive the partition (§4.5)"
    for s, tid in ((pa, "pa-task"), (plain, "plain-task")):
        m = s.mark()
        s.reconcile([(tid, aid)])
        rs = s.wait_update(tid, ["TASK_RUNNING", "TASK_LOST", "TASK_UNREACHABLE", "TASK_GONE"],
                           start=m)
        check(rs["state"] == "TASK_RUNNING", "reconcile after re-registration: %r" % rs)
    # And the agent is offered again, minus the running tasks.
    o = wait_until(lambda: pa.outstanding(aid) + plain.outstanding(aid), 15,
                   what="offers for the returned agent")
    check(offer_scalar(o[0], "cpus") <= 4 - 0.2 + 1e-9,
          "offer counts the running tasks' cpus as free: %r" % o[0]["resources"])
    assert not problems, "\n".join(problems)
