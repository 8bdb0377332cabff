"""Dynamic reservations (§2.4 RESERVE/UNRESERVE in ACCEPT, §6.1
RESERVE_RESOURCES/UNRESERVE_RESOURCES, §8.3): reserved resources are
offered only to their role, unreserving gives them back to everyone, the
agent checkpoints its new total, bad requests change nothing."""

import harness
from harness import wait_until
from alloc_helpers import (REFINE, dyn, is_dynamic, op, offer_reserved, offer_scalars,
                           read_checkpoint, reservation_role, reserve_op, restart_agent, scalar,
                           slave_state, strip_allocation, unreserve_op)

RES = "cpus:2;mem:1024;disk:1024;ports:[31000-31099]"


def reserved_in_state(cluster, agent_id, role):
    s = slave_state(cluster, agent_id)
    return (s or {}).get("reserved_resources", {}).get(role)


def test_reserve_in_accept_then_offered_only_to_role(cluster_factory, scheduler_factory):
    c = cluster_factory(resources=RES)
    eng = scheduler_factory(c.url, name="eng", roles=["eng"], capabilities=REFINE).subscribe()
    offer = eng.take_offer()
    aid = offer["agent_id"]["value"]
    want = [scalar("cpus", 1, "eng", allocation_role="eng"),
            scalar("mem", 256, "eng", allocation_role="eng")]
    eng.accept([offer["id"]["value"]], [reserve_op(want)], refuse_seconds=0)

    # The master's view (§7.2 reserved_resources) and the agent's checkpoint.
    r = wait_until(lambda: reserved_in_state(c, aid, "eng"), 10,
                   what="reserved_resources['eng'] in /master/state")
    assert r["cpus"] == 1 and r["mem"] == 256, r
    s = slave_state(c, aid)
    assert s["unreserved_resources"]["cpus"] == 1, s["unreserved_resources"]
    full = s.get("reserved_resources_full", {}).get("eng", [])
    assert any(x["name"] == "cpus" and is_dynamic(x) for x in full), full

    agent = c.agent_by_id(aid)

    def ckpt_has_reservation():
        try:
            return [x for x in read_checkpoint(agent) if reservation_role(x) == "eng"]
        except (OSError, ValueError):
            return None

    wait_until(ckpt_has_reservation, 10, what="the agent to checkpoint the reservation")

    # The reservation comes back in offers to eng.
    o2 = eng.take_offer(lambda o: offer_scalars(o, reserved_to="eng", name="cpus") == 1)
    assert o2["allocation_info"]["role"] == "eng"
    # eng gives everything back for long: only another role could take it.
    eng.decline([o2["id"]["value"]], refuse_seconds=3600)
    eng.release_offers(3600)

    other = scheduler_factory(c.url, name="other", role="ops", capabilities=REFINE).subscribe()
    o3 = other.take_offer()
    assert offer_scalars(o3, name="cpus") == 1, o3
    assert not offer_reserved(o3), "resources reserved for eng offered to ops: %s" % o3
    other.hold(o3)
    other.fence()
    for ev in other.events:
        for o in ev.get("offers", {}).get("offers", []):
            assert not offer_reserved(o), "reserved resources reached role ops: %s" % o

    # UNRESERVE gives them back to everyone.
    eng.revive()
    o4 = eng.take_offer(lambda o: offer_scalars(o, reserved_to="eng", name="cpus") == 1)
    unres = [x for x in o4["resources"] if reservation_role(x) == "eng"]
    eng.accept([o4["id"]["value"]], [unreserve_op(unres)], refuse_seconds=3600)
    wait_until(lambda: reserved_in_state(c, aid, "eng") is None, 10,
               what="the reservation to disappear from /master/state")
    got = wait_until(lambda: sum(offer_scalars(o, unreserved=True, name="cpus")
                                 for o in other.outstanding()) == 2 or None, 10,
                     what="ops to be offered both cpus once unreserved")
    assert got
    wait_until(lambda: not ckpt_has_reservation(), 10,
               what="the agent's checkpoint to drop the reservation")


def test_reserve_invalid_operations_are_dropped(cluster_factory, scheduler_factory):
    """Invalid operations are skipped (Mesos drops them); a task that needs
    their result fails with TASK_ERROR, and the resources stay unreserved."""
    c = cluster_factory(resources=RES)
    fw = scheduler_factory(c.url, name="eng", roles=["eng"], capabilities=REFINE,
                           principal="alice").subscribe()
    offer = fw.take_offer()
    aid = offer["agent_id"]["value"]
    ops = [
        reserve_op([scalar("cpus", 1, "ops", "alice", "eng")]),     # not its role
        reserve_op([scalar("cpus", 1, "eng", "bob", "eng")]),       # not its principal
        reserve_op([scalar("cpus", 5, "eng", "alice", "eng")]),     # more than offered
        reserve_op([scalar("cpus", 0.5, "eng", "alice", "eng")]),   # fine
    ]
    task = {
        "name": "t", "task_id": {"value": "needs-reserved"}, "agent_id": {"value": aid},
        "resources": [scalar("cpus", 1, "eng", "alice", "eng"),
                      scalar("mem", 32, allocation_role="eng")],
        "command": {"shell": True, "value": "true"},
    }
    fw.accept([offer["id"]["value"]], ops + [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
              refuse_seconds=0)
    st = fw.wait_update("needs-reserved", "TASK_ERROR")
    assert st.get("reason") == "REASON_TASK_INVALID", st
    r = wait_until(lambda: reserved_in_state(c, aid, "eng"), 10, what="the valid reservation")
    assert r["cpus"] == 0.5, r
    assert reserved_in_state(c, aid, "ops") is None


def test_operator_reserve_unreserve(cluster_factory, scheduler_factory):
    c = cluster_factory(resources=RES)
    aid = c.agents[0].agent_id
    # A framework holding the whole agent: its offer is rescinded to make room.
    star = scheduler_factory(c.url, name="star").subscribe()
    held = star.take_offer()
    res = [scalar("cpus", 1, "ops", "admin"), scalar("mem", 128, "ops", "admin")]
    r = op(c.url, "RESERVE_RESOURCES", {"agent_id": {"value": aid}, "resources": res})
    assert r.status == 202, (r.status, r.body)
    star.wait_for(lambda e: e.get("type") == "RESCIND" and
                  e["rescind"]["offer_id"]["value"] == held["id"]["value"], 10,
                  "RESCIND of the offer holding the resources")
    got = wait_until(lambda: reserved_in_state(c, aid, "ops"), 10, what="operator reservation")
    assert got["cpus"] == 1 and got["mem"] == 128

    # Never offered to '*'.
    o = star.take_offer()
    assert not offer_reserved(o), o
    assert offer_scalars(o, name="cpus") == 1

    # Offered to ops.
    ops = scheduler_factory(c.url, name="ops", role="ops", capabilities=REFINE).subscribe()
    o2 = ops.take_offer()
    assert offer_scalars(o2, reserved_to="ops", name="cpus") == 1, o2
    principal = [x for x in o2["resources"] if reservation_role(x) == "ops"][0]
    assert principal["reservations"][-1].get("principal") == "admin"
    ops.decline([o2["id"]["value"]], refuse_seconds=0)

    # GET_AGENTS total shows the reservation.
    agents = op(c.url, "GET_AGENTS").json()["get_agents"]["agents"]
    tot = [x for x in agents[0]["total_resources"] if reservation_role(x) == "ops"]
    assert tot, agents[0]["total_resources"]

    r = op(c.url, "UNRESERVE_RESOURCES", {"agent_id": {"value": aid},
                                          "resources": [strip_allocation(x) for x in res]})
    assert r.status == 202, (r.status, r.body)
    wait_until(lambda: reserved_in_state(c, aid, "ops") is None, 10,
               what="the operator reservation to go")


def test_operator_reserve_bad_input(cluster_factory):
    c = cluster_factory(resources=RES)
    aid = c.agents[0].agent_id
    before = slave_state(c, aid)
    cases = [
        ({"resources": [scalar("cpus", 1, "ops")]}, 400, "agent_id"),
        ({"agent_id": {"value": "nope"}, "resources": [scalar("cpus", 1, "ops")]}, 400, "nope"),
        ({"agent_id": {"value": aid}}, 400, "resources"),
        ({"agent_id": {"value": aid}, "resources": [scalar("cpus", 1)]}, 400, "reservation"),
        ({"agent_id": {"value": aid}, "resources": [scalar("cpus", 1, "*")]}, 400, "'*'"),
        ({"agent_id": {"value": aid}, "resources": [scalar("cpus", 1, "a//b")]}, 400, "role"),
        ({"agent_id": {"value": aid}, "resources": [scalar("cpus", 3, "ops")]}, 409, "cpus"),
        ({"agent_id": {"value": aid}, "resources": [{"name": "cpus", "type": "SCALAR",
                                                      "scalar": {"value": -1}}]}, 400, "non-negative"),
        ({"agent_id": {"value": aid}, "resources": "cpus:1"}, 400, "resources"),
    ]
    for payload, status, word in cases:
        r = op(c.url, "RESERVE_RESOURCES", payload)
        assert r.status == status, (payload, r.status, r.body)
        assert word in r.text, (payload, r.text)
    r = op(c.url, "UNRESERVE_RESOURCES",
           {"agent_id": {"value": aid}, "resources": [scalar("cpus", 1, "ops")]})
    assert r.status == 409, (r.status, r.body)
    r = op(c.url, "UNRESERVE_RESOURCES", {"agent_id": {"value": aid},
                                          "resources": [scalar("cpus", 1)]})
    assert r.status == 400 and "not dynamically reserved" in r.text, r.text
    r = op(c.url, "RESERVE_RESOURCES", None)
    assert r.status == 400 and "reserve_resources" in r.text, r.text
    after = slave_state(c, aid)
    for k in ("resources", "reserved_resources", "unreserved_resources"):
        assert before[k] == after[k], (k, before[k], after[k])
    assert harness.get(c.url, "/health").status == 200


def test_refine_static_reservation(cluster_factory, scheduler_factory):
    """A RESERVE may push a reservation for a sub-role on top of an existing
    one (refinement, §3.3); frameworks without RESERVATION_REFINEMENT are
    not offered refined reservations, UNRESERVE pops the refinement only."""
    c = cluster_factory(resources="cpus(eng):1;cpus:1;mem:512")
    aid = c.agents[0].agent_id
    web = scheduler_factory(c.url, name="web", role="eng/web", capabilities=REFINE).subscribe()
    o = web.take_offer(lambda o: offer_scalars(o, reserved_to="eng", name="cpus") == 1)
    static = [x for x in o["resources"] if reservation_role(x) == "eng" and x["name"] == "cpus"][0]
    refined = dict(static)
    refined["reservations"] = static["reservations"] + [dyn("eng/web")]
    web.accept([o["id"]["value"]], [reserve_op([refined])], refuse_seconds=0)
    wait_until(lambda: reserved_in_state(c, aid, "eng/web"), 10, what="the refined reservation")
    assert reserved_in_state(c, aid, "eng") is None

    o2 = web.take_offer(lambda o: offer_scalars(o, reserved_to="eng/web", name="cpus") == 1)
    r = [x for x in o2["resources"] if reservation_role(x) == "eng/web"][0]
    assert [rv["type"] for rv in r["reservations"]] == ["STATIC", "DYNAMIC"], r
    web.decline([o2["id"]["value"]], refuse_seconds=3600)
    web.release_offers(3600)

    # A pre-refinement framework of eng/web gets the rest, not the refined cpus.
    pre = scheduler_factory(c.url, name="pre", role="eng/web").subscribe()
    o3 = pre.take_offer()
    assert offer_scalars(o3, name="cpus") == 1 and not offer_reserved(o3), o3
    pre.teardown()

    web.revive()
    o4 = web.take_offer(lambda o: offer_scalars(o, reserved_to="eng/web", name="cpus") == 1)
    r = [x for x in o4["resources"] if reservation_role(x) == "eng/web"]
    web.accept([o4["id"]["value"]], [unreserve_op(r)], refuse_seconds=0)
    wait_until(lambda: reserved_in_state(c, aid, "eng"), 10,
               what="the static reservation back after UNRESERVE")
    assert reserved_in_state(c, aid, "eng/web") is None


def test_reservations_survive_agent_restart(cluster_factory, scheduler_factory):
    """The agent reports its checkpointed reservations (refined ones whole)
    when it starts again on the same work_dir."""
    c = cluster_factory(resources="cpus(eng):1;cpus:1;mem:512")
    agent = c.agents[0]
    aid = agent.agent_id
    r = op(c.url, "RESERVE_RESOURCES", {"agent_id": {"value": aid}, "resources": [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
         "reservations": [{"type": "STATIC", "role": "eng"}, dyn("eng/web", "ops")]},
        scalar("mem", 100, "ops", "ops")]})
    assert r.status == 202, r.text
    wait_until(lambda: reserved_in_state(c, aid, "eng/web"), 10, what="the refinement")
    restart_agent(c, agent)
    new = agent.agent_id
    s = wait_until(lambda: slave_state(c, new), 10, what="the restarted agent")
    assert s["reserved_resources"].get("eng/web", {}).get("cpus") == 1, s["reserved_resources"]
    assert s["reserved_resources"].get("ops", {}).get("mem") == 100, s["reserved_resources"]
    assert "eng" not in s["reserved_resources"], s["reserved_resources"]
    assert s["unreserved_resources"]["cpus"] == 1 and s["unreserved_resources"]["mem"] == 412


def test_pre_refinement_framework_reserves(cluster_factory, scheduler_factory):
    """A framework without RESERVATION_REFINEMENT speaks the pre-refinement
    format (§3.3): `role` plus `reservation{principal}`."""
    c = cluster_factory(resources=RES)
    fw = scheduler_factory(c.url, name="old", role="eng", principal="p").subscribe()
    o = fw.take_offer()
    aid = o["agent_id"]["value"]
    res = {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "eng",
           "reservation": {"principal": "p"}, "allocation_info": {"role": "eng"}}
    fw.accept([o["id"]["value"]], [reserve_op([res])], refuse_seconds=0)
    wait_until(lambda: reserved_in_state(c, aid, "eng"), 10, what="the reservation")
    o2 = fw.take_offer(lambda o: offer_scalars(o, reserved_to="eng", name="cpus") == 1)
    got = [x for x in o2["resources"] if reservation_role(x) == "eng"]
    assert got and got[0]["role"] == "eng" and got[0]["reservation"].get("principal") == "p", got
    assert "reservations" not in got[0], got
    fw.accept([o2["id"]["value"]], [unreserve_op(got)], refuse_seconds=0)
    wait_until(lambda: reserved_in_state(c, aid, "eng") is None, 10, what="the unreserve")
