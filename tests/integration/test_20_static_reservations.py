"""Static reservations (§8.3): an agent's --resources with a role are
offered only to that role and its descendants, never to '*' or siblings,
in either resource format (§3.3)."""

from harness import wait_until
from alloc_helpers import (REFINE, offer_reserved, offer_scalars, op_json, reservation_role,
                           slave_state)

RES = "cpus(eng):1;cpus:1;mem:512;mem(eng):256;disk:256;ports:[31000-31009]"


def all_offers(s):
    return [o for ev in s.events for o in ev.get("offers", {}).get("offers", [])]


def test_static_reservation_only_for_role_and_descendants(cluster_factory, scheduler_factory):
    c = cluster_factory(resources=RES)
    aid = c.agents[0].agent_id
    s = slave_state(c, aid)
    assert s["reserved_resources"]["eng"]["cpus"] == 1, s["reserved_resources"]
    assert s["unreserved_resources"]["cpus"] == 1

    star = scheduler_factory(c.url, name="star").subscribe()
    o = star.take_offer()
    assert offer_scalars(o, name="cpus") == 1 and not offer_reserved(o), o
    star.hold(o)

    sibling = scheduler_factory(c.url, name="sib", role="engx").subscribe()
    # A pre-refinement framework in eng sees role "eng" on the resources.
    pre = scheduler_factory(c.url, name="pre", role="eng").subscribe()
    op_ = pre.take_offer(lambda o: offer_scalars(o, reserved_to="eng", name="cpus") == 1)
    for r in offer_reserved(op_):
        assert r.get("role") == "eng" and "reservation" not in r, r
    pre.teardown()

    # eng/web is below eng: offered eng's reservations, allocated to eng/web.
    web = scheduler_factory(c.url, name="web", role="eng/web", capabilities=REFINE).subscribe()
    ow = web.take_offer(lambda o: offer_scalars(o, reserved_to="eng", name="cpus") == 1)
    assert ow["allocation_info"]["role"] == "eng/web"
    for r in offer_reserved(ow):
        assert r["reservations"][-1] == {"type": "STATIC", "role": "eng"}, r
        assert "role" not in r, "post-refinement resources carry no 'role' (§3.3): %s" % r
    web.hold(ow)

    # Neither '*' nor the sibling role ever saw reserved resources.
    star.fence()
    sibling.fence()
    for fw in (star, sibling):
        for offer in all_offers(fw):
            assert not offer_reserved(offer), "%s got reserved resources: %s" % (
                fw.framework_info["name"], offer)

    roles = {r["name"]: r for r in op_json(c.url, "GET_ROLES").get("roles", [])}
    assert "eng" in roles and "eng/web" in roles, roles
    assert roles["eng/web"].get("offered"), roles["eng/web"]
    reserved = {x["name"]: x["scalar"]["value"] for x in roles["eng"].get("reserved", [])
                if reservation_role(x) == "eng"}
    assert reserved.get("cpus") == 1 and reserved.get("mem") == 256, roles["eng"]


def test_static_reservation_idle_when_role_absent(cluster_factory, scheduler_factory):
    """With only a '*' framework, reserved resources stay unoffered."""
    c = cluster_factory(resources=RES)
    star = scheduler_factory(c.url, name="star").subscribe()
    for _ in range(3):
        o = star.take_offer()
        assert not offer_reserved(o), o
        assert offer_scalars(o, name="cpus") == 1
        star.decline([o["id"]["value"]], refuse_seconds=0)
    wait_until(lambda: star.outstanding(), 10, what="another offer")
    for offer in all_offers(star):
        assert not offer_reserved(offer), offer
