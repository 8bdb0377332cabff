"""Reliable status updates (reference §4.3): an unacknowledged update is
resent with the same uuid; only the head of a task's stream is in flight,
so the next update waits for the ACK; updates that could not be delivered
while the scheduler was away are delivered after it re-subscribes."""

import time

import pytest

from harness import get_json, wait_until
from mesos_v1 import status_of, task_info

RETRY = 0.5


@pytest.fixture
def rc(cluster_factory):
    return cluster_factory(agent_flags={"status_update_retry_interval": "%.1fsecs" % RETRY})


def uuid_times(s, uuid):
    with s._cond:
        return [t for e, t in zip(s.events, s.event_times)
                if e["type"] == "UPDATE" and status_of(e).get("uuid") == uuid]


def test_unacknowledged_update_is_resent(rc, scheduler_factory):
    s = scheduler_factory(rc.url, name="noack-fw", auto_ack=False).subscribe()
    s.launch_one("slow-ack", shell="sleep 600")
    first = s.wait_update("slow-ack", ["TASK_STARTING", "TASK_RUNNING"])
    assert first["state"] == "TASK_STARTING", first
    u1 = first["uuid"]
    # The same update (same uuid) comes again...
    wait_until(lambda: len(uuid_times(s, u1)) >= 3, 15,
               what="TASK_STARTING (uuid %s) resent twice with --status_update_retry_interval"
                    "=%.1fsecs" % (u1, RETRY))
    # ...and nothing behind it is sent before it is acknowledged.
    assert s.states("slow-ack") == ["TASK_STARTING"] * len(s.states("slow-ack")), \
        "the next update must wait for the head's ACK (§4.3): %s" % s.states("slow-ack")
    times = uuid_times(s, u1)
    assert times[1] - times[0] >= RETRY * 0.7, "resent after %.2fs" % (times[1] - times[0])
    s.acknowledge(first)
    t_ack = time.monotonic()
    running = s.wait_update("slow-ack", "TASK_RUNNING", timeout=10)
    u2 = running["uuid"]
    assert u2 != u1
    # RUNNING is resent in turn; STARTING is not sent again after its ACK.
    wait_until(lambda: len(uuid_times(s, u2)) >= 3, 15, what="TASK_RUNNING resent twice")
    late = [t for t in uuid_times(s, u1) if t > t_ack + 0.3]
    assert not late, "TASK_STARTING resent %d times after its ACK" % len(late)
    s.acknowledge(running)
    t_ack2 = time.monotonic()
    # Kill it; the terminal update flows once RUNNING was acked.
    s.kill("slow-ack")
    killed = s.wait_update("slow-ack", "TASK_KILLED", timeout=15)
    s.acknowledge(killed)
    assert not [t for t in uuid_times(s, u2) if t > t_ack2 + 0.3]
    m = get_json(rc.url, "/metrics/snapshot")
    assert m["master/valid_status_update_acknowledgements"] >= 3, m


def test_acknowledge_unknown_uuid_is_noop(rc, scheduler_factory):
    s = scheduler_factory(rc.url, name="badack-fw").subscribe()
    s.launch_one("t", shell="sleep 600")
    st = s.wait_update("t", "TASK_RUNNING")
    fake = dict(st)
    fake["uuid"] = "AAAAAAAAAAAAAAAAAAAAAA=="
    r = s.acknowledge(fake, check=False)
    assert r.status == 202, "acking an unknown uuid is a no-op (§2.5): %r" % r
    m = s.mark()
    s.reconcile(["t"])
    assert s.wait_update("t", "TASK_RUNNING", start=m)


def test_update_missed_while_disconnected_is_redelivered(rc, scheduler_factory):
    s = scheduler_factory(rc.url, name="away-fw", failover_timeout=60).subscribe()
    s.launch_one("finish-while-away", shell="sleep 2")
    running = s.wait_update("finish-while-away", "TASK_RUNNING")
    wait_until(lambda: running["uuid"] in s.acks_sent, 10, what="RUNNING acknowledged")
    s.close()
    fid = s.framework_id
    wait_until(lambda: rc.framework(fid)[1] and rc.framework(fid)[1]["connected"] is False,
               10, what="framework disconnected")
    # The task finishes while nobody listens.
    wait_until(lambda: [t for t in rc.framework(fid)[1]["tasks"]
                        if t["id"] == "finish-while-away" and t["state"] == "TASK_FINISHED"],
               15, what="master to learn TASK_FINISHED")
    m = s.mark()
    s.subscribe()
    assert s.framework_id == fid
    st = s.wait_update("finish-while-away", "TASK_FINISHED", timeout=15, start=m)
    assert st.get("uuid"), "the agent's retry redelivers the reliable update (§4.3)"


def test_updates_arrive_in_order_under_load(rc, scheduler_factory):
    s = scheduler_factory(rc.url, name="order-fw").subscribe()
    ids = []
    for batch in range(3):
        o = s.take_offer(lambda o: o is not None)
        ts = [task_info(o, "o-%d-%d" % (batch, i), shell="echo %d" % i, cpus=0.1, mem=32)
              for i in range(4)]
        ids += [t["task_id"]["value"] for t in ts]
        s.launch(o, ts, refuse_seconds=0)
    for t in ids:
        s.wait_update(t, "TASK_FINISHED", timeout=30)
    for t in ids:
        states = s.states(t)
        assert states == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"], (t, states)
