"""Persistent volumes (§2.4 CREATE/DESTROY, §6.1 CREATE_VOLUMES /
DESTROY_VOLUMES, §8.3): RESERVE + CREATE + LAUNCH in one ACCEPT, data kept
across tasks and across an agent restart, DESTROY refused while in use."""

import os

import harness
from harness import wait_until
from alloc_helpers import (REFINE, command_task, create_op, destroy_op, launch_op, offer_volume,
                           op, read_checkpoint, reserve_op, restart_agent, scalar, slave_state,
                           volume)

RES = "cpus:2;mem:1024;disk:1024;ports:[31000-31099]"


def volume_dir(agent, role, pid):
    return os.path.join(agent.work_dir, "volumes", "roles", role.replace("/", " "), pid)


def run_on_volume(fw, vol_offer, task_id, shell, vol):
    """Launches a task using the volume from the offer (plus a little cpu
    and mem) and waits for its end; returns its last status."""
    ai = vol_offer["allocation_info"]
    res = [vol, scalar("cpus", 0.1, allocation_role=ai["role"]),
           scalar("mem", 32, allocation_role=ai["role"])]
    fw.accept([vol_offer["id"]["value"]], [launch_op([command_task(vol_offer, task_id, shell,
                                                                    res)])], refuse_seconds=0)
    return fw.wait_terminal(task_id)


def test_reserve_create_launch_and_share_data(cluster_factory, scheduler_factory):
    c = cluster_factory(resources=RES)
    fw = scheduler_factory(c.url, name="db", roles=["db"], capabilities=REFINE,
                           principal="dbp").subscribe()
    offer = fw.take_offer()
    aid = offer["agent_id"]["value"]
    agent = c.agent_by_id(aid)
    vol = volume(64, "db", "vol-1", "data", "dbp", "db")
    task = command_task(offer, "writer", "echo hello-volume > data/file && test -L data",
                        [vol, scalar("cpus", 0.1, allocation_role="db"),
                         scalar("mem", 32, allocation_role="db")])
    fw.accept([offer["id"]["value"]],
              [reserve_op([scalar("disk", 64, "db", "dbp", "db")]), create_op([vol]),
               launch_op([task])], refuse_seconds=0)
    st = fw.wait_terminal("writer")
    assert st["state"] == "TASK_FINISHED", st
    path = volume_dir(agent, "db", "vol-1")
    with open(os.path.join(path, "file")) as f:
        assert f.read() == "hello-volume\n"

    # The volume is in the master's state and the agent's checkpoint.
    s = slave_state(c, aid)
    full = s["reserved_resources_full"]["db"]
    assert any(x.get("disk", {}).get("persistence", {}).get("id") == "vol-1" for x in full), full
    assert any(x.get("disk", {}).get("persistence", {}).get("id") == "vol-1"
               for x in read_checkpoint(agent))

    # Offered again with the volume; a second task reads the file.
    o2 = fw.take_offer(lambda o: offer_volume(o, "vol-1") is not None)
    st = run_on_volume(fw, o2, "reader", "grep -q hello-volume data/file", offer_volume(o2,
                                                                                         "vol-1"))
    assert st["state"] == "TASK_FINISHED", st

    # Only the db role sees it.
    other = scheduler_factory(c.url, name="other", role="web", capabilities=REFINE).subscribe()
    fw.release_offers(3600)
    o3 = other.take_offer()
    assert offer_volume(o3, "vol-1") is None, o3


def test_volume_survives_agent_restart(cluster_factory, scheduler_factory):
    c = cluster_factory(resources=RES)
    fw = scheduler_factory(c.url, name="db", roles=["db"], capabilities=REFINE).subscribe()
    offer = fw.take_offer()
    agent = c.agent_by_id(offer["agent_id"]["value"])
    vol = volume(100, "db", "keep", "state", allocation_role="db")
    fw.accept([offer["id"]["value"]],
              [reserve_op([scalar("disk", 100, "db", allocation_role="db")]), create_op([vol])],
              refuse_seconds=0)
    o2 = fw.take_offer(lambda o: offer_volume(o, "keep") is not None)
    st = run_on_volume(fw, o2, "w", "echo persisted > state/f", offer_volume(o2, "keep"))
    assert st["state"] == "TASK_FINISHED", st

    restart_agent(c, agent)
    new_id = agent.agent_id

    o3 = fw.take_offer(lambda o: o["agent_id"]["value"] == new_id and
                       offer_volume(o, "keep") is not None, timeout=20)
    st = run_on_volume(fw, o3, "r", "grep -q persisted state/f", offer_volume(o3, "keep"))
    assert st["state"] == "TASK_FINISHED", st


def test_destroy_refused_while_in_use_then_removed(cluster_factory, scheduler_factory):
    c = cluster_factory(resources=RES)
    aid = c.agents[0].agent_id
    agent = c.agents[0]
    # Operator path: reserve, create.
    r = op(c.url, "RESERVE_RESOURCES", {"agent_id": {"value": aid},
                                        "resources": [scalar("disk", 50, "db", "ops")]})
    assert r.status == 202, r.body
    vol = volume(50, "db", "v2", "d", "ops")
    bad = [
        ({"agent_id": {"value": aid}, "volumes": [volume(50, "db", "a/b", "d", "ops")]}, 400,
         "persistence id"),
        ({"agent_id": {"value": aid}, "volumes": [volume(50, "db", "x", "../up", "ops")]}, 400,
         "container_path"),
        ({"agent_id": {"value": aid}, "volumes": [volume(50, None, "x", "d")]}, 400, "reserved"),
        ({"agent_id": {"value": aid}, "volumes": [scalar("disk", 50, "db", "ops")]}, 400,
         "persistence.id"),
        ({"agent_id": {"value": aid}, "volumes": [volume(500, "db", "x", "d", "ops")]}, 409,
         "not available"),
        ({"agent_id": {"value": aid}}, 400, "volumes"),
    ]
    before = slave_state(c, aid)
    for payload, status, word in bad:
        r = op(c.url, "CREATE_VOLUMES", payload)
        assert r.status == status and word in r.text, (payload, r.status, r.text)
    assert slave_state(c, aid)["reserved_resources"] == before["reserved_resources"]

    r = op(c.url, "CREATE_VOLUMES", {"agent_id": {"value": aid}, "volumes": [vol]})
    assert r.status == 202, r.body
    wait_until(lambda: os.path.isdir(volume_dir(agent, "db", "v2")), 10,
               what="the volume directory on the agent")
    r = op(c.url, "CREATE_VOLUMES", {"agent_id": {"value": aid}, "volumes": [vol]})
    assert r.status == 400 and "already in use" in r.text, r.text

    fw = scheduler_factory(c.url, name="db", roles=["db"], capabilities=REFINE).subscribe()
    o = fw.take_offer(lambda o: offer_volume(o, "v2") is not None)
    ai = o["allocation_info"]["role"]
    task = command_task(o, "sleeper", "echo x > d/y; sleep 60",
                        [offer_volume(o, "v2"), scalar("cpus", 0.1, allocation_role=ai),
                         scalar("mem", 32, allocation_role=ai)])
    fw.accept([o["id"]["value"]], [launch_op([task])], refuse_seconds=0)
    fw.wait_update("sleeper", "TASK_RUNNING")

    r = op(c.url, "DESTROY_VOLUMES", {"agent_id": {"value": aid}, "volumes": [vol]})
    assert r.status == 409 and "used by tasks" in r.text, (r.status, r.text)
    assert os.path.isdir(volume_dir(agent, "db", "v2"))

    fw.kill("sleeper")
    fw.wait_terminal("sleeper")
    # DESTROY inside an ACCEPT this time.
    o = fw.take_offer(lambda o: offer_volume(o, "v2") is not None)
    fw.accept([o["id"]["value"]], [destroy_op([offer_volume(o, "v2")])], refuse_seconds=0)
    wait_until(lambda: not os.path.exists(volume_dir(agent, "db", "v2")), 10,
               what="the destroyed volume's directory to go")
    s = slave_state(c, aid)
    assert not any(x.get("disk", {}).get("persistence")
                   for x in s["reserved_resources_full"].get("db", [])), s
    r = op(c.url, "DESTROY_VOLUMES", {"agent_id": {"value": aid}, "volumes": [vol]})
    assert r.status == 400 and "no volume" in r.text, r.text
    assert harness.get(c.url, "/health").status == 200
