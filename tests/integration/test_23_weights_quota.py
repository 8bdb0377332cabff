"""Weights and quota (§6.1 GET_WEIGHTS/UPDATE_WEIGHTS, GET_QUOTA/
UPDATE_QUOTA, GET_ROLES; §7.2 /master/roles, /master/weights,
/master/quota; §8.2 weighted DRF, §8.4 quota). Shares are measured by the
offers frameworks hold (they never decline), not by timing."""

import pytest

import harness
from harness import wait_until
from alloc_helpers import offer_scalars, op, op_json

SMALL = "cpus:1;mem:128"


def held_cpus(s):
    return sum(offer_scalars(o, name="cpus") for o in s.outstanding())


def wait_held(schedulers, total, what):
    return wait_until(lambda: sum(held_cpus(s) for s in schedulers) == total or None, 20,
                      what=what)


def test_weights_flag_and_update(cluster_factory, scheduler_factory):
    c = cluster_factory(resources=[], master_flags={"weights": "a=2,b=1"})
    w = {x["role"]: x["weight"] for x in op_json(c.url, "GET_WEIGHTS")["weight_infos"]}
    assert w == {"a": 2, "b": 1}, w
    legacy = {x["role"]: x["weight"] for x in harness.get_json(c.url, "/master/weights")}
    assert legacy == w

    a = scheduler_factory(c.url, name="a", role="a").subscribe()
    b = scheduler_factory(c.url, name="b", role="b").subscribe()
    for _ in range(6):
        c.add_agent(resources=SMALL)
    wait_held([a, b], 6, "all 6 agents offered")
    assert (held_cpus(a), held_cpus(b)) == (4, 2), \
        "weights 2:1 should give 4:2 of 6 equal agents (§8.2)"

    roles = {r["name"]: r for r in harness.get_json(c.url, "/master/roles")["roles"]}
    assert roles["a"]["weight"] == 2 and roles["a"]["offered"]["cpus"] == 4, roles["a"]

    # UPDATE_WEIGHTS: roles c and d, weights 1:2, on 6 new agents while a
    # and b hold what they have and want no more.
    a.suppress()
    b.suppress()
    r = op(c.url, "UPDATE_WEIGHTS", {"weight_infos": [{"role": "c", "weight": 1},
                                                       {"role": "d", "weight": 2}]})
    assert r.status == 200, r.text
    w = {x["role"]: x["weight"] for x in op_json(c.url, "GET_WEIGHTS")["weight_infos"]}
    assert w == {"a": 2, "b": 1, "c": 1, "d": 2}, w
    cc = scheduler_factory(c.url, name="c", role="c").subscribe()
    d = scheduler_factory(c.url, name="d", role="d").subscribe()
    a.fence()
    b.fence()
    for _ in range(6):
        c.add_agent(resources=SMALL)
    wait_held([cc, d], 6, "the 6 new agents offered to c and d")
    assert (held_cpus(cc), held_cpus(d)) == (2, 4), "weights 1:2 should give 2:4"
    assert held_cpus(a) + held_cpus(b) == 6


def test_weights_bad_input(cluster_factory):
    c = cluster_factory(master_flags={"weights": "a=2"})
    cases = [
        ({"weight_infos": [{"role": "x", "weight": 0}]}, "weight"),
        ({"weight_infos": [{"role": "x", "weight": -1}]}, "weight"),
        ({"weight_infos": [{"role": "x", "weight": "2"}]}, "weight"),
        ({"weight_infos": [{"role": "a//b", "weight": 1}]}, "a//b"),
        ({"weight_infos": [{"role": "*", "weight": 1}]}, "'*'"),
        ({"weight_infos": [{"weight": 1}]}, "role"),
        ({"weight_infos": [{"role": "x", "weight": 1}, {"role": "x", "weight": 2}]}, "twice"),
        ({"weight_infos": [{"role": "y", "weight": 3}, {"role": "x", "weight": 0}]}, "weight"),
        ({"weight_infos": {}}, "weight_infos"),
        ({}, "weight_infos"),
    ]
    for payload, word in cases:
        r = op(c.url, "UPDATE_WEIGHTS", payload)
        assert r.status == 400 and word in r.text, (payload, r.status, r.text)
    w = op_json(c.url, "GET_WEIGHTS")["weight_infos"]
    assert w == [{"role": "a", "weight": 2}], "state changed by a bad request: %s" % w


@pytest.mark.parametrize("flag,word", [
    ({"weights": "a=0"}, "weight"),
    ({"weights": "a"}, "role=weight"),
    ({"weights": "/a=1"}, "role"),
    ({"min_allocatable_resources": "cpus:1||mem:2"}, "empty"),
    ({"min_allocatable_resources": "cpus:x"}, "min_allocatable_resources"),
    ({"fair_sharing_excluded_resource_names": "gpus,a b"}, "fair_sharing"),
])
def test_bad_flags_refused(tmp_path, flag, word):
    import subprocess
    argv = [harness.binary("agora-master"), "--port=0", "--ip=127.0.0.1",
            "--work_dir=%s" % tmp_path] + ["--%s=%s" % kv for kv in flag.items()]
    p = subprocess.run(argv, capture_output=True, timeout=30, env=harness.sanitizer_env())
    assert p.returncode != 0 and word in p.stderr.decode(), (p.returncode, p.stderr)


def test_min_allocatable_resources(cluster_factory, scheduler_factory):
    """--min_allocatable_resources: an agent with less than every
    alternative is never offered (§8.2 step 6)."""
    c = cluster_factory(resources=["cpus:1;mem:64", "cpus:2;mem:64"], master_flags={
        "min_allocatable_resources": "cpus:2|mem:100;disk:1",
        "fair_sharing_excluded_resource_names": "gpus"})
    small, big = c.agents[0].agent_id, c.agents[1].agent_id
    s = scheduler_factory(c.url, name="x").subscribe()
    for _ in range(3):  # allocation runs again after each decline
        o = s.take_offer()
        assert o["agent_id"]["value"] == big, "offer below the minimum: %s" % o
        s.decline([o["id"]["value"]], refuse_seconds=0)
    s.take_offer(lambda o: o["agent_id"]["value"] == big)
    s.fence()
    seen = {o["agent_id"]["value"] for ev in s.events
            for o in ev.get("offers", {}).get("offers", [])}
    assert small not in seen


def quota_configs(url):
    return op_json(url, "GET_QUOTA").get("status", {}).get("configs", [])


def test_quota_limit_never_exceeded(cluster_factory, scheduler_factory):
    c = cluster_factory(resources=[SMALL] * 4)
    r = op(c.url, "UPDATE_QUOTA", {"quota_configs": [
        {"role": "lim", "limits": {"cpus": {"value": 2}}}]})
    assert r.status == 200, r.text
    assert quota_configs(c.url) == [{"role": "lim", "guarantees": {},
                                     "limits": {"cpus": {"value": 2}}}]
    lim = scheduler_factory(c.url, name="lim", role="lim").subscribe()
    wait_held([lim], 2, "lim offered up to its limit")
    # Evidence that allocation ran with the rest free: another role gets it.
    other = scheduler_factory(c.url, name="other", role="other").subscribe()
    wait_held([other], 2, "the rest offered to another role")
    assert held_cpus(lim) == 2, "limit cpus:2 exceeded (§8.4)"
    roles = {x["name"]: x for x in harness.get_json(c.url, "/master/roles")["roles"]}
    assert roles["lim"]["quota"]["limit"] == {"cpus": 2}, roles["lim"]
    assert roles["lim"]["quota"]["consumed"]["cpus"] == 2

    # Lowering the limit takes back offers beyond it.
    r = op(c.url, "UPDATE_QUOTA", {"quota_configs": [
        {"role": "lim", "limits": {"cpus": {"value": 1}}}]})
    assert r.status == 200, r.text
    wait_until(lambda: held_cpus(lim) <= 1, 10, what="lim's offers rescinded to its new limit")
    other.release_offers(0)
    wait_held([lim, other], 4, "everything offered again")
    assert held_cpus(lim) == 1, "limit cpus:1 exceeded"


def test_quota_limit_zero_means_none(cluster_factory, scheduler_factory):
    """A limit of 0 shuts a role out of that resource (§8.4), while the
    rest of the cluster keeps being offered to others."""
    c = cluster_factory(resources=[SMALL] * 2)
    r = op(c.url, "UPDATE_QUOTA", {"quota_configs": [
        {"role": "shut", "limits": {"cpus": {"value": 0}, "mem": {"value": 0}}}]})
    assert r.status == 200, r.text
    assert quota_configs(c.url) == [{"role": "shut", "guarantees": {},
                                     "limits": {"cpus": {"value": 0}, "mem": {"value": 0}}}]
    shut = scheduler_factory(c.url, name="shut", role="shut").subscribe()
    other = scheduler_factory(c.url, name="other", role="other").subscribe()
    wait_held([other], 2, "everything offered to the other role")
    shut.fence()
    assert held_cpus(shut) == 0 and not shut.outstanding(), "a limit of 0 was exceeded"


def test_quota_guarantee_met_first(cluster_factory, scheduler_factory):
    c = cluster_factory(resources=[SMALL] * 4)
    r = op(c.url, "UPDATE_QUOTA", {"quota_configs": [
        {"role": "g", "guarantees": {"cpus": {"value": 3}}, "limits": {"cpus": {"value": 3}}}]})
    assert r.status == 200, r.text
    greedy = scheduler_factory(c.url, name="greedy", role="greedy").subscribe()
    wait_held([greedy], 1, "greedy offered what the guarantee leaves")
    g = scheduler_factory(c.url, name="g", role="g").subscribe()
    wait_held([g], 3, "g offered its guarantee")
    assert held_cpus(greedy) == 1, "headroom of g's guarantee given to another role (§8.4)"


def test_quota_bad_input(cluster_factory):
    c = cluster_factory(resources=SMALL)
    ok = {"quota_configs": [{"role": "q", "guarantees": {"cpus": {"value": 0.5}}}]}
    assert op(c.url, "UPDATE_QUOTA", ok).status == 200
    before = quota_configs(c.url)
    cases = [
        ({"quota_configs": [{"role": "q", "guarantees": {"cpus": {"value": 2}},
                             "limits": {"cpus": {"value": 1}}}]}, 400, "above its limit"),
        ({"quota_configs": [{"role": "q", "guarantees": {"cpus": {"value": -1}}}]}, 400,
         "cpus"),
        ({"quota_configs": [{"role": "q", "limits": {"cpus": 1}}]}, 400, "limits.cpus"),
        ({"quota_configs": [{"role": "*", "limits": {"cpus": {"value": 1}}}]}, 400, "'*'"),
        ({"quota_configs": [{"role": "a/b", "limits": {"cpus": {"value": 1}}}]}, 400,
         "top-level"),
        ({"quota_configs": [{"role": "x", "limits": {"cpus": {"value": 1}}},
                            {"role": "x", "limits": {"cpus": {"value": 2}}}]}, 400, "twice"),
        ({"quota_configs": [{"role": "x", "guarantees": {"cpus": {"value": 100}}}]}, 400,
         "capacity"),
        ({"quota_configs": [{"role": "y", "limits": {"cpus": {"value": 1}}},
                            {"limits": {}}]}, 400, "role"),
        ({"quota_configs": "x"}, 400, "quota_configs"),
        ({"quota_configs": [{"role": "z", "limits": {"cpus": {"value": -1}}}]}, 400,
         "limits.cpus"),
        ({"force": "yes", "quota_configs": []}, 400, "force"),
    ]
    for payload, status, word in cases:
        r = op(c.url, "UPDATE_QUOTA", payload)
        assert r.status == status and word in r.text, (payload, r.status, r.text)
    assert quota_configs(c.url) == before
    # force skips the capacity check; an empty config removes the quota.
    r = op(c.url, "UPDATE_QUOTA", {"force": True, "quota_configs": [
        {"role": "x", "guarantees": {"cpus": {"value": 100}}}]})
    assert r.status == 200, r.text
    r = op(c.url, "UPDATE_QUOTA", {"quota_configs": [{"role": "x"}, {"role": "q"}]})
    assert r.status == 200, r.text
    assert quota_configs(c.url) == []
    assert harness.get_json(c.url, "/master/quota") == {}

    # A limit below what the role consumes (its reservations) needs force.
    aid = c.agents[0].agent_id
    r = op(c.url, "RESERVE_RESOURCES", {"agent_id": {"value": aid}, "resources": [
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 64},
         "reservations": [{"type": "DYNAMIC", "role": "res/sub"}]}]})
    assert r.status == 202, r.text
    low = {"quota_configs": [{"role": "res", "limits": {"mem": {"value": 32}}}]}
    r = op(c.url, "UPDATE_QUOTA", low)
    assert r.status == 400 and "consumes 64" in r.text, r.text
    assert quota_configs(c.url) == []
    r = op(c.url, "UPDATE_QUOTA", dict(low, force=True))
    assert r.status == 200, r.text
