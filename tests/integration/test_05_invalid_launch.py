"""Invalid LAUNCHes (reference §2.4 ACCEPT rules, §3.5 task validation,
§3.9 reasons): tasks that don't fit the offer or are malformed get
TASK_ERROR/REASON_TASK_INVALID; stale or unknown offers get TASK_LOST
(TASK_DROPPED for PARTITION_AWARE) with REASON_INVALID_OFFERS; none of it
disturbs running tasks."""

import copy

import pytest

from mesos_v1 import offer_scalar, task_info


@pytest.fixture
def fw(cluster, scheduler_factory):
    return scheduler_factory(cluster.url, name="invalid-fw").subscribe()


@pytest.fixture
def pa(cluster, scheduler_factory):
    return scheduler_factory(cluster.url, name="invalid-pa",
                             capabilities=["PARTITION_AWARE"]).subscribe()


def master_update(st, state, reason):
    assert st["state"] == state, st
    assert st.get("reason") == reason, st
    assert st.get("source") == "SOURCE_MASTER", st
    assert not st.get("uuid"), "master-generated updates carry no uuid (§4.3): %r" % st


def assert_full_offer_back(s, cpus=2):
    o = s.take_offer(timeout=10)
    assert abs(offer_scalar(o, "cpus") - cpus) < 1e-9, \
        "resources of a refused launch must come back: %r" % o["resources"]


def test_more_cpus_than_offered(cluster, fw):
    o = fw.take_offer()
    fw.launch(o, [task_info(o, "greedy", shell="true", cpus=3)], refuse_seconds=0)
    st = fw.wait_terminal("greedy")
    master_update(st, "TASK_ERROR", "REASON_TASK_INVALID")
    assert st.get("message"), "TASK_ERROR should say why: %r" % st
    assert fw.states("greedy") == ["TASK_ERROR"]
    assert_full_offer_back(fw)


def test_more_mem_than_offered(cluster, fw):
    o = fw.take_offer()
    fw.launch(o, [task_info(o, "memhog", shell="true", mem=4096)], refuse_seconds=0)
    master_update(fw.wait_terminal("memhog"), "TASK_ERROR", "REASON_TASK_INVALID")


def test_ports_not_in_offer(cluster, fw):
    o = fw.take_offer()
    fw.launch(o, [task_info(o, "portless", shell="true", ports=[(80, 80)])], refuse_seconds=0)
    master_update(fw.wait_terminal("portless"), "TASK_ERROR", "REASON_TASK_INVALID")


def test_two_tasks_together_exceed_offer(cluster, fw):
    o = fw.take_offer()
    ts = [task_info(o, "pair-a", shell="sleep 600", cpus=1.5),
          task_info(o, "pair-b", shell="sleep 600", cpus=1.5)]
    fw.launch(o, ts, refuse_seconds=0)
    fw.wait_update("pair-a", "TASK_RUNNING")
    master_update(fw.wait_terminal("pair-b"), "TASK_ERROR", "REASON_TASK_INVALID")


def test_task_without_resources(cluster, fw):
    o = fw.take_offer()
    t = task_info(o, "nores", shell="true")
    t["resources"] = []
    fw.launch(o, [t], refuse_seconds=0)
    master_update(fw.wait_terminal("nores"), "TASK_ERROR", "REASON_TASK_INVALID")


def test_task_without_command_or_executor(cluster, fw):
    o = fw.take_offer()
    t = task_info(o, "nocmd", shell="true")
    del t["command"]
    fw.launch(o, [t], refuse_seconds=0)
    master_update(fw.wait_terminal("nocmd"), "TASK_ERROR", "REASON_TASK_INVALID")


def test_task_for_another_agent(cluster, fw):
    o = fw.take_offer()
    t = task_info(o, "elsewhere", shell="true")
    t["agent_id"] = {"value": o["agent_id"]["value"] + "-other"}
    fw.launch(o, [t], refuse_seconds=0)
    master_update(fw.wait_terminal("elsewhere"), "TASK_ERROR", "REASON_TASK_INVALID")


def test_negative_kill_grace(cluster, fw):
    o = fw.take_offer()
    t = task_info(o, "badgrace", shell="true")
    t["kill_policy"] = {"grace_period": {"nanoseconds": -1000000000}}
    fw.launch(o, [t], refuse_seconds=0)
    master_update(fw.wait_terminal("badgrace"), "TASK_ERROR", "REASON_TASK_INVALID")


def test_duplicate_task_id(cluster, fw):
    fw.launch_one("dup", shell="sleep 600")
    fw.wait_update("dup", "TASK_RUNNING")
    m = fw.mark()
    o = fw.take_offer()
    fw.launch(o, [task_info(o, "dup", shell="echo second")], refuse_seconds=0)
    st = fw.wait_update("dup", ["TASK_ERROR", "TASK_FINISHED", "TASK_FAILED"], start=m)
    master_update(st, "TASK_ERROR", "REASON_TASK_INVALID")
    # The first one is untouched.
    m = fw.mark()
    fw.reconcile(["dup"])
    assert fw.wait_update("dup", "TASK_RUNNING", start=m)["reason"] == "REASON_RECONCILIATION"
    _, f = cluster.framework(fw.framework_id)
    assert [t["state"] for t in f["tasks"] if t["id"] == "dup"] == ["TASK_RUNNING"]


def test_unknown_offer_id(cluster, fw):
    o = fw.take_offer()
    bogus = copy.deepcopy(o)
    bogus["id"]["value"] = o["id"]["value"] + "-bogus"
    fw.launch(bogus, [task_info(bogus, "ghost-offer", shell="true")])
    master_update(fw.wait_terminal("ghost-offer"), "TASK_LOST", "REASON_INVALID_OFFERS")
    # The real offer is still good.
    fw.launch(o, [task_info(o, "real", shell="true")])
    assert fw.wait_terminal("real")["state"] == "TASK_FINISHED"


def test_stale_offer_non_partition_aware(cluster, fw):
    o = fw.take_offer()
    fw.launch(o, [task_info(o, "first", shell="sleep 600")], refuse_seconds=0)
    fw.wait_update("first", "TASK_RUNNING")
    fw.launch(o, [task_info(o, "again", shell="true")])
    master_update(fw.wait_terminal("again"), "TASK_LOST", "REASON_INVALID_OFFERS")
    assert fw.states("first") == ["TASK_STARTING", "TASK_RUNNING"]


def test_declined_offer_is_stale_partition_aware(cluster, pa):
    o = pa.take_offer()
    pa.decline(o["id"]["value"], refuse_seconds=0)
    pa.launch(o, [task_info(o, "after-decline", shell="true")])
    master_update(pa.wait_terminal("after-decline"), "TASK_DROPPED", "REASON_INVALID_OFFERS")


def test_offer_of_another_framework(cluster, fw, scheduler_factory):
    o = fw.take_offer()
    other = scheduler_factory(cluster.url, name="thief").subscribe()
    other.launch(o, [task_info(o, "stolen", shell="true")], check=False)
    st = other.wait_terminal("stolen")
    master_update(st, "TASK_LOST", "REASON_INVALID_OFFERS")
    # The owner can still use it.
    fw.launch(o, [task_info(o, "owned", shell="true")])
    assert fw.wait_terminal("owned")["state"] == "TASK_FINISHED"


def test_offers_from_two_agents_in_one_accept(cluster_factory, scheduler_factory):
    c = cluster_factory(agents=2)
    s = scheduler_factory(c.url, name="two-agent-accept").subscribe()
    o1 = s.take_offer(agent_id=c.agents[0].agent_id)
    o2 = s.take_offer(agent_id=c.agents[1].agent_id)
    op = {"type": "LAUNCH", "launch": {"task_infos": [task_info(o1, "straddle", shell="true")]}}
    s.accept([o1["id"]["value"], o2["id"]["value"]], [op], refuse_seconds=0)
    master_update(s.wait_terminal("straddle"), "TASK_LOST", "REASON_INVALID_OFFERS")
    # Both offers' resources come back.
    got = {s.take_offer(timeout=10)["agent_id"]["value"] for _ in range(2)}
    assert got == {a.agent_id for a in c.agents}


def test_same_offer_twice_in_one_accept(cluster, fw):
    o = fw.take_offer()
    oid = o["id"]["value"]
    op = {"type": "LAUNCH", "launch": {"task_infos": [task_info(o, "twice-offer", shell="true")]}}
    fw.accept([oid, oid], [op], refuse_seconds=0)
    master_update(fw.wait_terminal("twice-offer"), "TASK_LOST", "REASON_INVALID_OFFERS")
