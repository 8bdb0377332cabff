"""Helpers for the allocation tests (test_2*): reservations, volumes,
operator calls, agent restarts. Standard library only; builds on harness.py
and mesos_v1.py (see those for the cluster and scheduler clients)."""

import copy
import os

import harness
import mesos_v1

REFINE = ("RESERVATION_REFINEMENT",)


def op(url, type_, payload=None):
    """An operator call on /api/v1: a CallResult (status, body)."""
    return mesos_v1.operator_call(url, type_, payload)


def op_json(url, type_, payload=None):
    r = op(url, type_, payload)
    assert r.status == 200, "%s answered %d: %r" % (type_, r.status, r.body[:400])
    return r.json().get(type_.lower(), {})


def dyn(role, principal=None):
    rv = {"type": "DYNAMIC", "role": role}
    if principal:
        rv["principal"] = principal
    return rv


def scalar(name, value, role=None, principal=None, allocation_role=None):
    """A SCALAR Resource in the post-refinement format, dynamically
    reserved for `role` when given."""
    r = {"name": name, "type": "SCALAR", "scalar": {"value": value}}
    if role:
        r["reservations"] = [dyn(role, principal)]
    if allocation_role:
        r["allocation_info"] = {"role": allocation_role}
    return r


def volume(size, role, pid, path, principal=None, allocation_role=None):
    """A persistent volume on disk dynamically reserved for role."""
    r = scalar("disk", size, role, principal, allocation_role)
    persistence = {"id": pid}
    if principal:
        persistence["principal"] = principal
    r["disk"] = {"persistence": persistence, "volume": {"mode": "RW", "container_path": path}}
    return r


def reservation_role(res):
    """The role a Resource (either format) is reserved to, or None."""
    if res.get("reservations"):
        return res["reservations"][-1].get("role")
    role = res.get("role")
    return role if role and role != "*" else None


def is_dynamic(res):
    if res.get("reservations"):
        return res["reservations"][-1].get("type") == "DYNAMIC"
    return "reservation" in res


def offer_scalars(offer, reserved_to=None, unreserved=False, name=None):
    """Sum of scalar resources of an offer, filtered by reservation role."""
    total = 0.0
    for r in offer.get("resources", []):
        if r.get("type", "SCALAR") != "SCALAR" or (name and r.get("name") != name):
            continue
        role = reservation_role(r)
        if unreserved and role is not None:
            continue
        if reserved_to is not None and role != reserved_to:
            continue
        total += float(r["scalar"]["value"])
    return total


def offer_volume(offer, pid):
    for r in offer.get("resources", []):
        if r.get("disk", {}).get("persistence", {}).get("id") == pid:
            return r
    return None


def offer_reserved(offer):
    return [r for r in offer.get("resources", []) if reservation_role(r) is not None]


def strip_allocation(res):
    r = copy.deepcopy(res)
    r.pop("allocation_info", None)
    return r


def reserve_op(resources):
    return {"type": "RESERVE", "reserve": {"resources": resources}}


def unreserve_op(resources):
    return {"type": "UNRESERVE", "unreserve": {"resources": resources}}


def create_op(volumes):
    return {"type": "CREATE", "create": {"volumes": volumes}}


def destroy_op(volumes):
    return {"type": "DESTROY", "destroy": {"volumes": volumes}}


def launch_op(tasks):
    return {"type": "LAUNCH", "launch": {"task_infos": tasks}}


def command_task(offer, task_id, shell, resources):
    """A command TaskInfo using exactly `resources` (taken from the offer)."""
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": dict(offer["agent_id"]),
        "resources": resources,
        "command": {"shell": True, "value": shell},
    }


def slave_state(cluster, agent_id):
    for s in cluster.slaves():
        if s["id"] == agent_id:
            return s
    return None


def restart_agent(cluster, agent):
    """SIGTERM the agent (its tasks end), start it again on the same
    work_dir and wait until the master lists it (as a new agent: agents do
    not recover their id yet)."""
    agent.stop()
    agent.start()
    harness.wait_until(lambda: harness.get(agent.url, "/health").status == 200,
                       harness.START_TIMEOUT, what="%s /health after restart" % agent.name)
    return cluster.wait_registered(agent)


def read_checkpoint(agent):
    import json
    path = os.path.join(agent.work_dir, "meta", "resources.json")
    with open(path) as f:
        return json.load(f)
