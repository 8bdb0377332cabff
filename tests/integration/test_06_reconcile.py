"""Reconciliation (reference §4.6): explicit and implicit, for a
PARTITION_AWARE and a plain framework; unknown tasks get TASK_LOST (plain)
or TASK_GONE / TASK_UNKNOWN (partition-aware)."""

import pytest

import harness
import mesos_v1


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    yield from harness.module_cluster(tmp_path_factory, "reconcile")


def _sched(mc, name, caps=()):
    s = mesos_v1.Scheduler(mc.url, name=name, capabilities=caps)
    harness.LIVE_SCHEDULERS.append(s)
    s.subscribe()
    # The accept's filter keeps the leftovers away from this framework, so
    # the other one is offered the agent.
    o = s.take_offer()
    s.launch(o, [mesos_v1.task_info(o, "run", shell="sleep 600"),
                 mesos_v1.task_info(o, "done", shell="true")], refuse_seconds=3600)
    s.wait_update("run", "TASK_RUNNING")
    s.wait_update("done", "TASK_FINISHED")
    # "done" leaves the active set once its terminal update is acknowledged.
    harness.wait_until(lambda: not [t for t in mc.framework(s.framework_id)[1]["tasks"]
                                    if t["id"] == "done"], 10, what="'done' completed")
    s.quiesce()  # leave the agent to the other framework
    return s


@pytest.fixture(scope="module")
def plain(mc):
    s = _sched(mc, "reconcile-plain")
    yield s
    s.stop()
    harness.LIVE_SCHEDULERS.remove(s)


@pytest.fixture(scope="module")
def pa(mc, plain):
    s = _sched(mc, "reconcile-pa", ["PARTITION_AWARE"])
    yield s
    s.stop()
    harness.LIVE_SCHEDULERS.remove(s)


def reconciled(st, state):
    assert st["state"] == state, st
    assert st.get("reason") == "REASON_RECONCILIATION", st
    assert st.get("source") == "SOURCE_MASTER", st
    assert not st.get("uuid"), "reconciliation answers carry no uuid (§4.6): %r" % st


@pytest.mark.parametrize("with_agent", [True, False])
def test_explicit_known_task(mc, plain, with_agent):
    m = plain.mark()
    aid = mc.agents[0].agent_id if with_agent else None
    plain.reconcile([("run", aid)])
    st = plain.wait_update("run", mesos_v1.TERMINAL_STATES | {"TASK_RUNNING"}, start=m)
    reconciled(st, "TASK_RUNNING")
    assert st["agent_id"]["value"] == mc.agents[0].agent_id


def test_explicit_finished_task_gets_an_answer(mc, plain):
    m = plain.mark()
    plain.reconcile([("done", mc.agents[0].agent_id)])
    st = plain.wait_update("done", mesos_v1.TERMINAL_STATES | {"TASK_UNKNOWN"}, start=m)
    # Completed and acknowledged: the master may answer from completed
    # tasks (FINISHED) or as unknown to the agent (LOST for a plain fw).
    assert st["state"] in ("TASK_FINISHED", "TASK_LOST"), st
    assert not st.get("uuid")


@pytest.mark.parametrize("case,expect_plain,expect_pa", [
    ("registered-agent", "TASK_LOST", "TASK_GONE"),
    ("no-agent", "TASK_LOST", "TASK_UNKNOWN"),
    ("unknown-agent", "TASK_LOST", "TASK_UNKNOWN"),
])
def test_explicit_unknown_task(mc, plain, pa, case, expect_plain, expect_pa):
    aid = {"registered-agent": mc.agents[0].agent_id, "no-agent": None,
           "unknown-agent": mc.agents[0].agent_id + "-gone"}[case]
    for s, expect in ((plain, expect_plain), (pa, expect_pa)):
        tid = "ghost-" + case
        m = s.mark()
        s.reconcile([(tid, aid)])
        st = s.wait_update(tid, mesos_v1.TERMINAL_STATES | {"TASK_UNKNOWN", "TASK_UNREACHABLE",
                                                           "TASK_RUNNING"}, start=m)
        reconciled(st, expect)


def test_explicit_many_at_once(mc, plain):
    m = plain.mark()
    plain.reconcile([("run", None), ("ghost-a", None), ("ghost-b", None)])
    reconciled(plain.wait_update("run", "TASK_RUNNING", start=m), "TASK_RUNNING")
    reconciled(plain.wait_update("ghost-a", "TASK_LOST", start=m), "TASK_LOST")
    reconciled(plain.wait_update("ghost-b", "TASK_LOST", start=m), "TASK_LOST")


def implicit_round(s):
    """Runs one implicit reconciliation and returns the task ids it
    answered. An explicit reconcile of a ghost task afterwards is the fence:
    the master answers calls in order, so once the ghost's answer is in, the
    implicit round's answers are all in."""
    m = s.mark()
    s.reconcile([])
    s.reconcile(["fence"])
    s.wait_update("fence", mesos_v1.TERMINAL_STATES | {"TASK_UNKNOWN"}, start=m)
    out = []
    for st in s.updates(start=m):
        tid = st["task_id"]["value"]
        if tid == "fence":
            break
        reconciled(st, st["state"])
        out.append((tid, st["state"]))
    return out


def test_implicit(mc, plain, pa):
    for s in (plain, pa):
        assert implicit_round(s) == [("run", "TASK_RUNNING")], \
            "implicit reconciliation reports the framework's active tasks only (§4.6)"


def test_implicit_sees_latest_state_after_kill(mc, plain):
    plain.revive()
    plain.launch_one("short", shell="sleep 600")
    plain.wait_update("short", "TASK_RUNNING")
    plain.quiesce()
    assert sorted(implicit_round(plain)) == [("run", "TASK_RUNNING"), ("short", "TASK_RUNNING")]
    plain.kill("short")
    plain.wait_update("short", "TASK_KILLED")
    harness.wait_until(lambda: not [t for t in mc.framework(plain.framework_id)[1]["tasks"]
                                    if t["id"] == "short"], 10, what="'short' completed")
    assert implicit_round(plain) == [("run", "TASK_RUNNING")]


def test_reconcile_bad_agent_id_shape(mc, plain):
    r = plain.call("RECONCILE", {"tasks": [{"task_id": {"value": "x"}, "agent_id": "notanobject"}]})
    assert r.status == 400, r
    r = plain.call("RECONCILE", {"tasks": [{"agent_id": {"value": "x"}}]})
    assert r.status == 400, "task_id is required (§2.1): %r" % r
