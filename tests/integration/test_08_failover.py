"""Scheduler failover and disconnection (reference §1.5, §2.2, §2.5
TEARDOWN, §4.4): re-subscribing within failover_timeout keeps the tasks;
after it the framework is removed, its tasks killed, and its id unusable;
a second SUBSCRIBE with the same id takes over the stream."""

import os

import pytest

from harness import SHELL_PID, host_pid, pid_alive, wait_until
from mesos_v1 import agent_executor, agent_state, agent_tasks


def framework_state(cluster, fid):
    key, f = cluster.framework(fid)
    return key, f


def wait_disconnected(cluster, fid):
    def check():
        key, f = cluster.framework(fid)
        return key == "frameworks" and f["connected"] is False and f["active"] is False

    wait_until(check, 10, what="master to mark framework %s disconnected and inactive" % fid)


def wait_removed(cluster, fid, timeout=15):
    wait_until(lambda: cluster.framework(fid)[0] == "completed_frameworks", timeout,
               what="framework %s in completed_frameworks" % fid)


def start_task(cluster, s, task_id):
    s.launch_one(task_id, shell=SHELL_PID + " > pid; exec sleep 600")
    s.wait_update(task_id, "TASK_RUNNING")

    def pid():
        ex = agent_executor(agent_state(cluster.agents[0].url), s.framework_id, task_id)
        path = ex and os.path.join(ex["directory"], "pid")
        if path and os.path.exists(path):
            text = open(path).read().strip()
            return host_pid(text) if text else None

    return wait_until(pid, 10, what="task pid")


def test_resubscribe_within_failover_timeout_keeps_tasks(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="failover-fw", failover_timeout=3600).subscribe()
    fid, old_stream = s.framework_id, s.stream_id
    pid = start_task(cluster, s, "keeper")
    s.close()
    wait_disconnected(cluster, fid)
    # Calls on behalf of a disconnected framework are refused (§1.3: 403).
    r = s.call("REVIVE")
    assert r.status == 403, "call for a disconnected framework -> 403: %r" % r
    assert pid_alive(pid), "tasks keep running while the scheduler is away (§4.4)"
    s2 = scheduler_factory(cluster.url, name="failover-fw", failover_timeout=3600)
    s2.subscribe(framework_id=fid)
    assert s2.framework_id == fid
    assert s2.stream_id and s2.stream_id != old_stream
    key, f = cluster.framework(fid)
    assert key == "frameworks" and f["active"] and f["connected"], f
    assert [t["state"] for t in f["tasks"] if t["id"] == "keeper"] == ["TASK_RUNNING"]
    m = s2.mark()
    s2.reconcile([])
    st = s2.wait_update("keeper", "TASK_RUNNING", start=m)
    assert st["reason"] == "REASON_RECONCILIATION"
    s2.take_offer(timeout=10)  # fresh offers after re-subscription
    # The old stream id is dead.
    r = s2.call("REVIVE", stream_id=old_stream)
    assert r.status == 400, "stale Mesos-Stream-Id -> 400 (§1.5): %r" % r
    assert pid_alive(pid)


def test_offers_of_a_disconnected_framework_go_elsewhere(cluster, scheduler_factory):
    """On disconnect the framework's offers are recovered (§4.4) and offered
    to others; after re-subscription its old offer ids are invalid (§2.2)."""
    a = scheduler_factory(cluster.url, name="holder", failover_timeout=3600).subscribe()
    old = a.take_offer()
    b = scheduler_factory(cluster.url, name="waiter").subscribe()
    a.close()
    b.take_offer(timeout=10)
    a2 = scheduler_factory(cluster.url, name="holder", failover_timeout=3600)
    a2.subscribe(framework_id=a.framework_id)
    from mesos_v1 import task_info
    a2.launch(old, [task_info(old, "on-old-offer", shell="true")])
    st = a2.wait_terminal("on-old-offer")
    assert st["state"] == "TASK_LOST" and st.get("reason") == "REASON_INVALID_OFFERS", \
        "offers never survive a disconnection (§2.2): %r" % st


def test_failover_timeout_expiry_removes_framework(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="shortlived-fw", failover_timeout=1).subscribe()
    fid = s.framework_id
    pid = start_task(cluster, s, "doomed")
    s.close()
    wait_removed(cluster, fid)
    _, f = cluster.framework(fid)
    assert f["active"] is False and f["connected"] is False, f
    assert not f.get("tasks"), "a removed framework has no active tasks: %r" % f.get("tasks")
    # The agent shut its executors down.
    wait_until(lambda: not agent_tasks(agent_state(cluster.agents[0].url), fid), 15,
               what="agent /state without the removed framework's tasks")
    wait_until(lambda: not pid_alive(pid), 15, what="the task process %d to be killed" % pid)
    # Its id can't be re-used (§2.2).
    s2 = scheduler_factory(cluster.url, name="shortlived-fw", failover_timeout=1)
    s2.subscribe(framework_id=fid, expect_subscribed=False)
    if s2.subscribe_status == 200:
        ev = s2.wait_for(lambda e: e["type"] in ("ERROR", "SUBSCRIBED"), 10, "ERROR")
        assert ev["type"] == "ERROR", "re-subscribing a removed framework must fail: %r" % ev
        assert ev["error"]["message"], ev
        s2.wait_closed(10)
    else:
        pytest.fail("re-subscribing a removed framework: expected an ERROR event on the "
                    "stream (§2.2), got HTTP %d %r" % (s2.subscribe_status, s2.subscribe_body))
    # The cluster still serves new frameworks, with the resources back.
    s3 = scheduler_factory(cluster.url, name="next-fw").subscribe()
    o = s3.take_offer(timeout=10)
    from mesos_v1 import offer_scalar
    assert abs(offer_scalar(o, "cpus") - 2) < 1e-9


def test_teardown(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="teardown-fw", failover_timeout=3600).subscribe()
    fid = s.framework_id
    pid = start_task(cluster, s, "torn")
    r = s.teardown()
    assert r.status == 202
    s.wait_closed(10)
    wait_removed(cluster, fid, timeout=10)
    wait_until(lambda: not pid_alive(pid), 15, what="task killed by TEARDOWN")
    r = s.call("REVIVE")
    assert r.status in (400, 403), "calls for a torn-down framework fail: %r" % r
    s2 = scheduler_factory(cluster.url, name="teardown-fw")
    s2.subscribe(framework_id=fid, expect_subscribed=False)
    assert s2.subscribe_status == 200 and \
        s2.wait_for(lambda e: e["type"] in ("ERROR", "SUBSCRIBED"), 10)["type"] == "ERROR"


def test_operator_teardown(cluster, scheduler_factory):
    """TEARDOWN through the operator API (§6.1) removes the framework like
    the scheduler's own TEARDOWN."""
    s = scheduler_factory(cluster.url, name="op-teardown-fw", failover_timeout=3600).subscribe()
    fid = s.framework_id
    pid = start_task(cluster, s, "op-torn")
    from mesos_v1 import operator_call
    r = operator_call(cluster.url, "TEARDOWN", {"framework_id": {"value": fid}})
    assert r.status == 200, "operator TEARDOWN answers 200 (§6.1): %r" % r
    s.wait_closed(10)
    wait_removed(cluster, fid, timeout=10)
    wait_until(lambda: not pid_alive(pid), 15, what="task killed by operator TEARDOWN")
    r = operator_call(cluster.url, "TEARDOWN", {"framework_id": {"value": fid}})
    assert r.status in (400, 404), "tearing down a removed framework again: %r" % r


def test_second_subscribe_takes_over(cluster, scheduler_factory):
    s1 = scheduler_factory(cluster.url, name="twin", failover_timeout=3600).subscribe()
    fid = s1.framework_id
    s1.launch_one("shared", shell="sleep 600")
    s1.wait_update("shared", "TASK_RUNNING")
    s2 = scheduler_factory(cluster.url, name="twin", failover_timeout=3600)
    s2.subscribe(framework_id=fid)
    assert s2.stream_id != s1.stream_id
    err = s1.wait_for(lambda e: e["type"] == "ERROR", 10, "ERROR on the old stream")
    assert err["error"]["message"] == "Framework failed over", err
    s1.wait_closed(10)
    r = s1.call("REVIVE")
    assert r.status == 400, "the replaced stream's id is stale (§1.5): %r" % r
    r = s2.call("REVIVE")
    assert r.status == 202, r
    m = s2.mark()
    s2.reconcile(["shared"])
    assert s2.wait_update("shared", "TASK_RUNNING", start=m)
    key, f = cluster.framework(fid)
    assert f["connected"] and f["active"]
    # Exactly one registration of the framework.
    data = cluster.state()
    assert [x["id"] for x in data["frameworks"]].count(fid) == 1


def test_subscribe_ids_must_agree(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="mismatch").subscribe()
    body = s.subscribe_body_json(s.framework_id)
    body["framework_id"] = {"value": s.framework_id + "x"}
    from mesos_v1 import post
    status, _, text = post(cluster.url, "/api/v1/scheduler", body)
    assert status == 400, "SUBSCRIBE framework_id != framework_info.id -> 400 (§2.1): %d %r" \
        % (status, text)
    assert cluster.framework(s.framework_id)[1]["connected"]


def test_unknown_framework_id_resubscribe(cluster, scheduler_factory):
    """A framework id the master never issued: Mesos accepts it only after a
    master failover; with the master that issued none, it is refused or
    admitted - but it must not disturb the cluster."""
    s = scheduler_factory(cluster.url, name="stranger")
    s.subscribe(framework_id="no-such-framework-0001", expect_subscribed=False)
    assert s.subscribe_status in (200, 400, 403, 404), s.subscribe_status
    assert cluster.master.alive()
