"""Offers (reference §2.5, §3.4, §4.1, §8.5): their shape, leftover
resources, DECLINE filters with refuse_seconds, REVIVE clearing them,
SUPPRESS, and --offer_timeout rescinds."""

import time

import pytest

from harness import get_json, wait_until
from mesos_v1 import offer_ranges, offer_scalar, task_info

TWO = ["cpus:2;mem:1024;disk:1024;ports:[31000-31099]",
       "cpus:2;mem:1024;disk:1024;ports:[32000-32099]"]


def allocation_runs(cluster):
    return get_json(cluster.url, "/metrics/snapshot").get("allocator/mesos/allocation_runs", 0)


def wait_allocation_runs(cluster, n, min_seconds=1.0):
    """Evidence that the allocator ran n more times (and at least
    min_seconds passed) - the window in which an offer would have come."""
    t0 = time.monotonic()
    base = allocation_runs(cluster)
    wait_until(lambda: allocation_runs(cluster) >= base + n and
               time.monotonic() - t0 >= min_seconds, 15,
               what="%d more allocation runs" % n)


def test_offer_shape(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="shape-fw").subscribe()
    o = s.take_offer()
    a = cluster.agents[0]
    assert o["framework_id"]["value"] == s.framework_id
    assert o["agent_id"]["value"] == a.agent_id
    assert o["id"]["value"].startswith(s.events[0]["subscribed"]["master_info"]["id"] + "-O"), \
        "offer ids are <master-id>-O<n> (§3.2): %s" % o["id"]
    assert o.get("hostname"), o
    url = o.get("url", {})
    assert url.get("scheme") == "http", o
    assert url.get("address", {}).get("ip") == "127.0.0.1", url
    assert url.get("address", {}).get("port") == a.port, url
    assert url.get("path") == "/slave(1)", url
    assert o.get("allocation_info", {}).get("role") == "*", o
    for r in o["resources"]:
        assert r.get("allocation_info", {}).get("role") == "*", \
            "each offered resource carries allocation_info (§2.7): %r" % r
    assert abs(offer_scalar(o, "cpus") - 2) < 1e-9
    assert abs(offer_scalar(o, "mem") - 1024) < 1e-9
    assert abs(offer_scalar(o, "disk") - 1024) < 1e-9
    assert offer_ranges(o, "ports") == [(31000, 31099)]
    # The master's view: the framework's offers and outstanding_offers.
    _, f = cluster.framework(s.framework_id)
    assert [x["id"] for x in f["offers"]] == [o["id"]["value"]], f["offers"]
    m = get_json(cluster.url, "/metrics/snapshot")
    assert m["master/outstanding_offers"] == 1
    slave = cluster.find_slave(a)
    assert abs(slave["offered_resources"]["cpus"] - 2) < 1e-9, slave["offered_resources"]
    assert abs(f["offered_resources"]["mem"] - 1024) < 1e-9, f["offered_resources"]
    s.decline(o["id"]["value"], refuse_seconds=3600)
    wait_until(lambda: get_json(cluster.url, "/metrics/snapshot")["master/outstanding_offers"]
               == 0, 5, what="outstanding_offers back to 0 after DECLINE")
    assert cluster.find_slave(a)["offered_resources"]["cpus"] == 0


def test_leftover_resources_are_reoffered(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="leftover-fw").subscribe()
    o = s.take_offer()
    s.launch(o, [task_info(o, "big", shell="sleep 600", cpus=1.5, mem=512,
                           ports=[(31010, 31012)])], refuse_seconds=0)
    s.wait_update("big", "TASK_RUNNING")
    o2 = s.take_offer(timeout=10)
    assert abs(offer_scalar(o2, "cpus") - 0.5) < 1e-9, o2["resources"]
    assert abs(offer_scalar(o2, "mem") - 512) < 1e-9, o2["resources"]
    assert offer_ranges(o2, "ports") == [(31000, 31009), (31013, 31099)], o2["resources"]


def test_decline_filter_holds_until_refuse_seconds(cluster_factory, scheduler_factory):
    c = cluster_factory(agents=2, resources=TWO)
    a1, a2 = c.agents
    s = scheduler_factory(c.url, name="decline-fw").subscribe()
    o1 = s.take_offer(agent_id=a1.agent_id)
    o2 = s.take_offer(agent_id=a2.agent_id)
    refuse = 3.0
    t0 = time.monotonic()
    s.decline(o1["id"]["value"], refuse_seconds=refuse)
    s.decline(o2["id"]["value"], refuse_seconds=0.2)
    reoffers_a2 = 0
    while True:
        o = s.take_offer(timeout=refuse + 10)
        now = time.monotonic() - t0
        if o["agent_id"]["value"] == a1.agent_id:
            assert now >= refuse - 0.3, \
                "agent 1 re-offered %.2fs after a decline with refuse_seconds=%.1f" % (now, refuse)
            assert now < refuse + 6, "agent 1 not re-offered until %.1fs" % now
            break
        reoffers_a2 += 1
        s.decline(o["id"]["value"], refuse_seconds=0.2)
    assert reoffers_a2 >= 2, \
        "the other agent must keep being offered meanwhile (got %d re-offers)" % reoffers_a2


def test_filter_is_per_framework_and_revive_clears_it(cluster, scheduler_factory):
    a = cluster.agents[0]
    s1 = scheduler_factory(cluster.url, name="revive-1").subscribe()
    o = s1.take_offer()
    s1.decline(o["id"]["value"], refuse_seconds=3600)
    # Another framework is offered the agent at once.
    s2 = scheduler_factory(cluster.url, name="revive-2").subscribe()
    o2 = s2.take_offer(timeout=10)
    assert o2["agent_id"]["value"] == a.agent_id
    s2.decline(o2["id"]["value"], refuse_seconds=3600)
    wait_allocation_runs(cluster, 5)
    assert s1.outstanding() == [], "declined for an hour, yet re-offered"
    t0 = time.monotonic()
    s1.revive()
    s1.take_offer(timeout=10)
    assert time.monotonic() - t0 < 10
    assert s2.outstanding() == []


def test_suppress_stops_offers_until_revive(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="suppress-fw").subscribe()
    o = s.take_offer()
    s.suppress()
    s.decline(o["id"]["value"], refuse_seconds=0)
    m = s.mark()
    wait_allocation_runs(cluster, 5)
    assert s.index_of(lambda e: e["type"] == "OFFERS", m) is None, \
        "suppressed framework got offers (§2.5 SUPPRESS)"
    s.revive()
    s.take_offer(timeout=10)


def test_accept_with_no_operations_is_decline(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="noop-accept").subscribe()
    o = s.take_offer()
    s.accept([o["id"]["value"]], [], refuse_seconds=0)
    o2 = s.take_offer(timeout=10)
    assert o2["id"]["value"] != o["id"]["value"]
    assert abs(offer_scalar(o2, "cpus") - 2) < 1e-9


@pytest.fixture
def timeout_cluster(cluster_factory):
    return cluster_factory(master_flags={"offer_timeout": "1secs"})


def test_offer_timeout_rescinds(timeout_cluster, scheduler_factory):
    s = scheduler_factory(timeout_cluster.url, name="timeout-fw").subscribe()
    o = s.take_offer()
    oid = o["id"]["value"]
    ev = s.wait_for(lambda e: e["type"] == "RESCIND" and
                    e["rescind"]["offer_id"]["value"] == oid, 10, "RESCIND after --offer_timeout")
    assert ev
    # The resources come back in a fresh offer.
    o2 = s.take_offer(timeout=10)
    assert o2["id"]["value"] != oid
    # Accepting the rescinded offer fails with REASON_INVALID_OFFERS.
    m = s.mark()
    s.launch(oid, [task_info(o, "late", shell="true")])
    st = s.wait_update("late", ["TASK_LOST", "TASK_DROPPED"], start=m)
    assert st["reason"] == "REASON_INVALID_OFFERS", st


def test_decline_without_filters_uses_5s_default(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="default-filter").subscribe()
    o = s.take_offer()
    t0 = time.monotonic()
    s.decline(o["id"]["value"])
    s.take_offer(timeout=20)
    elapsed = time.monotonic() - t0
    assert elapsed >= 5 - 0.3, "re-offered after %.2fs; default refuse_seconds is 5 (§2.5)" % \
        elapsed
    assert elapsed < 5 + 6, "not re-offered until %.1fs" % elapsed


def test_multi_role_framework(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="multi-role", roles=["analytics"]).subscribe()
    o = s.take_offer()
    assert o.get("allocation_info", {}).get("role") == "analytics", o
    for r in o["resources"]:
        assert r.get("allocation_info", {}).get("role") == "analytics", r
    s.launch(o, [task_info(o, "mr", shell="sleep 600")])
    s.wait_update("mr", "TASK_RUNNING")
    (t,) = [t for t in get_json(cluster.url, "/master/tasks")["tasks"] if t["id"] == "mr"]
    assert t["role"] == "analytics", t
    _, f = cluster.framework(s.framework_id)
    assert f.get("roles") == ["analytics"], f.get("roles")


def test_single_role_framework(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="single-role", role="web").subscribe()
    o = s.take_offer()
    assert o.get("allocation_info", {}).get("role") == "web", o
    _, f = cluster.framework(s.framework_id)
    assert f.get("role") == "web", f


def reserved_role(r):
    """The role a resource is reserved for, in either format (§3.3), or None
    for unreserved."""
    if r.get("reservations"):
        return r["reservations"][-1].get("role")
    role = r.get("role", "*")
    return None if role == "*" else role


def test_static_reservation(cluster_factory, scheduler_factory):
    c = cluster_factory(resources="cpus(web):1;mem(web):256;cpus:1;mem:512;disk:512")
    other = scheduler_factory(c.url, name="unreserved-only").subscribe()
    o = other.take_offer()
    assert abs(offer_scalar(o, "cpus") - 1) < 1e-9, \
        "a '*' framework must not be offered resources reserved for 'web': %r" % o["resources"]
    assert all(reserved_role(r) is None for r in o["resources"]), o["resources"]
    other.decline(o["id"]["value"], refuse_seconds=3600)
    other.quiesce()
    web = scheduler_factory(c.url, name="web-fw", role="web").subscribe()
    o = web.take_offer()
    assert abs(offer_scalar(o, "cpus") - 2) < 1e-9, o["resources"]
    reserved = [r for r in o["resources"] if reserved_role(r) == "web"]
    assert {r["name"] for r in reserved} == {"cpus", "mem"}, o["resources"]
    # A task may use the reserved resources (copied from the offer).
    res = [dict(r) for r in o["resources"] if r["name"] in ("cpus", "mem")]
    t = task_info(o, "on-reserved", shell="true")
    t["resources"] = res
    web.launch(o, [t])
    assert web.wait_terminal("on-reserved")["state"] == "TASK_FINISHED"
