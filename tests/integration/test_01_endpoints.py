"""Read-only endpoints of master and agent: /health, /version, the legacy
JSON state endpoints (reference §7), /metrics/snapshot keys (§7.5),
/master/redirect (§1.6) and the operator API's GET_* calls (§6.1)."""

import re

import pytest

import harness
import mesos_v1
from harness import get, get_json, wait_until

RESOURCES = "cpus:2;mem:1024;disk:1024;ports:[31000-31099]"


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    """One master and one agent with attributes; no frameworks."""
    c = harness.Cluster(tmp_path_factory.mktemp("endpoints"))
    try:
        c.start_master()
        c.add_agent(resources=RESOURCES, attributes="rack:r1;level:3")
        yield c
    finally:
        reports = c.stop()
        if reports:
            pytest.fail("sanitizer reports:\n" + "\n".join(reports), pytrace=False)


@pytest.fixture(scope="module")
def fw(mc):
    """A subscribed framework with one long-running task on the agent."""
    s = mesos_v1.Scheduler(mc.url, name="endpoints-fw")
    harness.LIVE_SCHEDULERS.append(s)
    s.subscribe()
    s.launch_one("ep-task", shell="sleep 600", cpus=0.5, mem=64)
    s.wait_update("ep-task", "TASK_RUNNING")
    yield s
    s.stop()
    harness.LIVE_SCHEDULERS.remove(s)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ---------------------------------------------------------------- health/version


@pytest.mark.parametrize("path", ["/health", "/master/health"])
def test_master_health(mc, path):
    r = get(mc.url, path)
    assert r.status == 200, r


def test_agent_health(mc):
    for path in ("/health", "/slave(1)/health"):
        r = get(mc.agents[0].url, path)
        assert r.status == 200, (path, r)


@pytest.mark.parametrize("who", ["master", "agent"])
def test_version(mc, who):
    url = mc.url if who == "master" else mc.agents[0].url
    v = get_json(url, "/version")
    assert isinstance(v.get("version"), str) and re.match(r"^\d+\.\d+\.\d+", v["version"]), v
    for key in ("build_date", "build_time", "build_user"):
        assert key in v, "/version lacks %r (reference §1.1): %r" % (key, v)


def test_unknown_path_is_404(mc):
    assert get(mc.url, "/no/such/endpoint").status == 404
    assert get(mc.agents[0].url, "/no/such/endpoint").status == 404


# ---------------------------------------------------------------- redirect


@pytest.mark.parametrize("path", ["/master/redirect", "/redirect"])
def test_redirect_to_leader(mc, path):
    r = get(mc.url, path)
    assert r.status == 307, r
    loc = r.header("Location")
    assert loc and loc.startswith("//"), "Location must be protocol-relative (§1.6): %r" % loc
    assert loc.rstrip("/").endswith(":%d" % mc.master.port), loc


# ---------------------------------------------------------------- /master/state


def check_flat_resources(res, expect=None):
    for key in ("cpus", "gpus", "mem", "disk"):
        assert key in res and is_number(res[key]), "flattened resources lack %r: %r" % (key, res)
    if expect:
        for k, v in expect.items():
            if isinstance(v, str):
                assert res.get(k) == v, (k, res)
            else:
                assert abs(res.get(k, -1) - v) < 1e-3, (k, res)


STATE_KEYS = ["version", "build_date", "build_time", "build_user", "start_time", "id", "pid",
              "hostname", "capabilities", "activated_slaves", "deactivated_slaves",
              "unreachable_slaves", "leader", "leader_info", "flags", "slaves",
              "recovered_slaves", "frameworks", "completed_frameworks", "orphan_tasks",
              "unregistered_frameworks"]

SLAVE_KEYS = ["id", "hostname", "port", "attributes", "pid", "registered_time", "resources",
              "used_resources", "offered_resources", "reserved_resources",
              "unreserved_resources", "active", "deactivated", "version", "capabilities"]


@pytest.mark.parametrize("path", ["/master/state", "/state"])
def test_master_state_shape(mc, path):
    st = get_json(mc.url, path)
    missing = [k for k in STATE_KEYS if k not in st]
    assert not missing, "%s lacks keys %s (reference §7.2)" % (path, missing)
    assert st["activated_slaves"] == 1, st["activated_slaves"]
    assert st["pid"].startswith("master@") and st["pid"].endswith(":%d" % mc.master.port)
    assert st["leader"] == st["pid"]
    assert isinstance(st["flags"], dict) and all(isinstance(v, str) for v in st["flags"].values())
    assert st["orphan_tasks"] == [] and st["unregistered_frameworks"] == []
    assert len(st["slaves"]) == 1
    s = st["slaves"][0]
    missing = [k for k in SLAVE_KEYS if k not in s]
    assert not missing, "slaves[] lacks %s (reference §7.2)" % missing
    assert s["id"] == mc.agents[0].agent_id
    assert s["port"] == mc.agents[0].port
    assert s["pid"] == "slave(1)@127.0.0.1:%d" % mc.agents[0].port, s["pid"]
    assert s["active"] is True
    check_flat_resources(s["resources"], {"cpus": 2, "mem": 1024, "disk": 1024,
                                          "ports": "[31000-31099]"})
    assert s["attributes"] == {"rack": "r1", "level": 3}, s["attributes"]


def test_master_state_same_on_both_paths(mc):
    a = get_json(mc.url, "/master/state")
    b = get_json(mc.url, "/state")
    assert a["id"] == b["id"] and a["pid"] == b["pid"]


def test_master_state_jsonp(mc):
    r = get(mc.url, "/master/state?jsonp=cb")
    assert r.status == 200
    assert r.text.startswith("cb(") and r.text.rstrip().rstrip(";").endswith(")"), r.text[:80]


def test_state_summary(mc, fw):
    st = get_json(mc.url, "/master/state-summary")
    assert "hostname" in st and "slaves" in st and "frameworks" in st, list(st)
    (s,) = st["slaves"]
    assert s["id"] == mc.agents[0].agent_id
    for state in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED",
                  "TASK_KILLED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR"):
        assert state in s, "state-summary slave lacks %s count (§7.2)" % state
    assert s["TASK_RUNNING"] == 1, s
    assert fw.framework_id in s.get("framework_ids", []), s
    f = [f for f in st["frameworks"] if f["id"] == fw.framework_id]
    assert f, st["frameworks"]
    assert f[0]["TASK_RUNNING"] == 1, f[0]
    assert mc.agents[0].agent_id in f[0].get("slave_ids", []), f[0]


FRAMEWORK_KEYS = ["id", "name", "used_resources", "offered_resources", "capabilities",
                  "hostname", "webui_url", "active", "connected", "recovered", "user",
                  "failover_timeout", "checkpoint", "registered_time", "unregistered_time",
                  "resources", "tasks", "unreachable_tasks", "completed_tasks", "offers",
                  "executors"]

TASK_KEYS = ["id", "name", "framework_id", "executor_id", "slave_id", "state", "resources",
             "role", "statuses"]


def test_master_frameworks(mc, fw):
    data = get_json(mc.url, "/master/frameworks")
    for key in ("frameworks", "completed_frameworks", "unregistered_frameworks"):
        assert key in data, "/master/frameworks lacks %r (§7.3)" % key
    (f,) = [f for f in data["frameworks"] if f["id"] == fw.framework_id]
    missing = [k for k in FRAMEWORK_KEYS if k not in f]
    assert not missing, "framework object lacks %s (§7.2)" % missing
    assert "role" in f or "roles" in f
    assert f["name"] == "endpoints-fw"
    assert f["active"] is True and f["connected"] is True
    (t,) = [t for t in f["tasks"] if t["id"] == "ep-task"]
    missing = [k for k in TASK_KEYS if k not in t]
    assert not missing, "task object lacks %s (§7.2)" % missing
    assert t["state"] == "TASK_RUNNING"
    assert t["slave_id"] == mc.agents[0].agent_id
    check_flat_resources(t["resources"], {"cpus": 0.5, "mem": 64})
    assert [s["state"] for s in t["statuses"]][-1] == "TASK_RUNNING"
    check_flat_resources(f["used_resources"], {"cpus": 0.5, "mem": 64})
    # Query by id.
    one = get_json(mc.url, "/master/frameworks?framework_id=" + fw.framework_id)
    assert [x["id"] for x in one["frameworks"]] == [fw.framework_id]


def test_master_slaves(mc, fw):
    data = get_json(mc.url, "/master/slaves")
    assert "slaves" in data and "recovered_slaves" in data, list(data)
    (s,) = data["slaves"]
    check_flat_resources(s["used_resources"], {"cpus": 0.5, "mem": 64})
    for key in ("used_resources_full", "unreserved_resources_full"):
        assert key in s and isinstance(s[key], list), "/master/slaves lacks %s (§7.2)" % key
    one = get_json(mc.url, "/master/slaves?slave_id=" + s["id"])
    assert [x["id"] for x in one["slaves"]] == [s["id"]]


def test_master_tasks(mc, fw):
    data = get_json(mc.url, "/master/tasks")
    ts = [t for t in data["tasks"] if t["id"] == "ep-task"]
    assert len(ts) == 1, data
    assert ts[0]["state"] == "TASK_RUNNING" and ts[0]["framework_id"] == fw.framework_id
    data = get_json(mc.url, "/master/tasks?task_id=nope")
    assert data["tasks"] == []


def test_metrics_master(mc, fw):
    m = get_json(mc.url, "/metrics/snapshot")
    required = ["master/elected", "master/uptime_secs", "master/outstanding_offers",
                "master/dropped_messages", "master/valid_status_updates",
                "master/invalid_status_updates", "master/valid_status_update_acknowledgements",
                "master/invalid_status_update_acknowledgements",
                "master/slave_registrations", "master/slave_reregistrations",
                "master/slave_removals", "allocator/mesos/allocation_runs"]
    for r in ("cpus", "mem", "disk", "gpus"):
        required += ["master/%s_%s" % (r, k) for k in ("total", "used", "percent")]
    required += ["master/slaves_%s" % k for k in
                 ("active", "connected", "disconnected", "inactive", "unreachable")]
    required += ["master/frameworks_%s" % k for k in
                 ("active", "connected", "disconnected", "inactive")]
    required += ["master/tasks_%s" % k for k in
                 ("staging", "starting", "running", "killing", "unreachable", "finished",
                  "failed", "killed", "lost", "error", "dropped", "gone", "gone_by_operator")]
    missing = [k for k in required if k not in m]
    assert not missing, "/metrics/snapshot lacks %s (§7.5)" % missing
    bad = [k for k, v in m.items() if not is_number(v)]
    assert not bad, "non-numeric metrics: %s" % bad[:10]
    assert m["master/elected"] == 1
    assert m["master/slaves_active"] == 1
    assert m["master/frameworks_active"] >= 1
    assert m["master/tasks_running"] == 1
    assert abs(m["master/cpus_total"] - 2) < 1e-6
    assert abs(m["master/cpus_used"] - 0.5) < 1e-6
    assert abs(m["master/mem_total"] - 1024) < 1e-6


def test_metrics_agent(mc, fw):
    m = get_json(mc.agents[0].url, "/metrics/snapshot")
    required = ["slave/registered", "slave/uptime_secs", "slave/frameworks_active",
                "slave/valid_status_updates", "slave/invalid_status_updates"]
    for r in ("cpus", "mem", "disk"):
        required += ["slave/%s_%s" % (r, k) for k in ("total", "used", "percent")]
    required += ["slave/executors_%s" % k for k in
                 ("registering", "running", "terminating", "terminated")]
    required += ["slave/tasks_%s" % k for k in
                 ("staging", "starting", "running", "killing", "finished", "failed", "killed",
                  "lost")]
    missing = [k for k in required if k not in m]
    assert not missing, "agent /metrics/snapshot lacks %s (§7.5)" % missing
    assert m["slave/registered"] == 1
    assert m["slave/tasks_running"] == 1
    assert abs(m["slave/cpus_total"] - 2) < 1e-6


# ---------------------------------------------------------------- agent /state

AGENT_STATE_KEYS = ["version", "build_date", "build_time", "build_user", "start_time", "id",
                    "pid", "hostname", "resources", "attributes", "flags", "frameworks",
                    "completed_frameworks"]


@pytest.mark.parametrize("path", ["/state", "/slave(1)/state"])
def test_agent_state(mc, fw, path):
    a = mc.agents[0]
    st = get_json(a.url, path)
    missing = [k for k in AGENT_STATE_KEYS if k not in st]
    assert not missing, "agent %s lacks %s (§7.4)" % (path, missing)
    assert st["id"] == a.agent_id
    assert st["pid"] == "slave(1)@127.0.0.1:%d" % a.port
    check_flat_resources(st["resources"], {"cpus": 2, "mem": 1024, "disk": 1024,
                                           "ports": "[31000-31099]"})
    assert st["attributes"] == {"rack": "r1", "level": 3}, st["attributes"]
    (f,) = [f for f in st["frameworks"] if f["id"] == fw.framework_id]
    for key in ("id", "name", "user", "failover_timeout", "checkpoint", "hostname",
                "executors", "completed_executors"):
        assert key in f, "agent framework object lacks %r (§7.4)" % key
    (ex,) = [e for e in f["executors"] if e["id"] == "ep-task"]
    for key in ("id", "name", "source", "container", "directory", "resources", "tasks",
                "queued_tasks", "completed_tasks"):
        assert key in ex, "agent executor object lacks %r (§7.4)" % key
    assert ex["directory"].startswith(a.work_dir) or \
        ex["directory"].startswith(__import__("os").path.realpath(a.work_dir)), ex["directory"]
    (t,) = ex["tasks"]
    assert t["id"] == "ep-task" and t["state"] == "TASK_RUNNING"
    assert t["framework_id"] == fw.framework_id and t["slave_id"] == a.agent_id


# ---------------------------------------------------------------- operator API


def op(mc, type_, payload=None):
    r = mesos_v1.operator_call(mc.url, type_, payload)
    assert r.status == 200, "%s -> %d %r" % (type_, r.status, r.body[:300])
    body = r.json()
    assert body.get("type") == type_, body
    return body.get(type_.lower(), {})


def test_op_get_health(mc):
    assert op(mc, "GET_HEALTH") == {"healthy": True}


def test_op_get_version(mc):
    v = op(mc, "GET_VERSION")
    assert re.match(r"^\d+\.\d+\.\d+", v["version_info"]["version"]), v


def test_op_get_flags(mc):
    flags = op(mc, "GET_FLAGS")["flags"]
    names = {f["name"]: f.get("value") for f in flags}
    for n in ("port", "work_dir", "allocation_interval", "agent_ping_timeout"):
        assert n in names, "GET_FLAGS lacks flag %r: %s" % (n, sorted(names))


def test_op_get_metrics(mc):
    ms = op(mc, "GET_METRICS", {})["metrics"]
    by = {m["name"]: m.get("value") for m in ms}
    assert by.get("master/elected") == 1, sorted(by)[:20]


def test_op_get_master(mc):
    m = op(mc, "GET_MASTER")
    info = m["master_info"]
    assert info["port"] == mc.master.port
    assert info["address"]["ip"] == "127.0.0.1" and info["address"]["port"] == mc.master.port
    assert info["ip"] == 16777343, "MasterInfo.ip for 127.0.0.1 (§2.3)"
    assert isinstance(m.get("start_time"), (int, float))


def test_op_get_agents(mc):
    g = op(mc, "GET_AGENTS")
    (a,) = g["agents"]
    assert a["agent_info"]["id"]["value"] == mc.agents[0].agent_id
    assert a["agent_info"]["port"] == mc.agents[0].port
    assert a["active"] is True
    names = {r["name"] for r in a["agent_info"]["resources"]}
    assert {"cpus", "mem", "disk", "ports"} <= names, names
    tot = {r["name"]: r for r in a["total_resources"]}
    assert tot["cpus"]["type"] == "SCALAR" and abs(tot["cpus"]["scalar"]["value"] - 2) < 1e-9
    assert tot["ports"]["ranges"]["range"] == [{"begin": 31000, "end": 31099}]


def test_op_get_frameworks_and_tasks(mc, fw):
    g = op(mc, "GET_FRAMEWORKS")
    (f,) = [f for f in g["frameworks"]
            if f["framework_info"]["id"]["value"] == fw.framework_id]
    assert f["framework_info"]["name"] == "endpoints-fw"
    assert f["active"] is True and f["connected"] is True
    t = op(mc, "GET_TASKS")
    (task,) = [x for x in t.get("tasks", []) if x["task_id"]["value"] == "ep-task"]
    assert task["state"] == "TASK_RUNNING"
    assert task["framework_id"]["value"] == fw.framework_id
    assert task["agent_id"]["value"] == mc.agents[0].agent_id
    assert {r["name"] for r in task["resources"]} >= {"cpus", "mem"}


def test_op_get_state(mc, fw):
    g = op(mc, "GET_STATE")
    for key in ("get_tasks", "get_executors", "get_frameworks", "get_agents"):
        assert key in g, "GET_STATE lacks %r (§6.1)" % key
    ids = [t["task_id"]["value"] for t in g["get_tasks"].get("tasks", [])]
    assert "ep-task" in ids
    assert len(g["get_agents"]["agents"]) == 1


def test_op_get_executors(mc, fw):
    # Command tasks run under the agent's command executor, which the
    # master does not track (their executor_id is "" in /master/state,
    # §7.2); custom executors would be listed here.
    g = op(mc, "GET_EXECUTORS")
    for e in g.get("executors", []):
        assert "executor_info" in e and "agent_id" in e, e
    tasks = get_json(mc.url, "/master/tasks")["tasks"]
    assert [t["executor_id"] for t in tasks if t["id"] == "ep-task"] == [""], tasks


def test_op_no_accept_means_json(mc):
    r = mesos_v1.operator_call(mc.url, "GET_HEALTH", headers={"Accept": None})
    assert r.status == 200 and r.json()["get_health"]["healthy"] is True
    r = mesos_v1.operator_call(mc.url, "GET_HEALTH", headers={"Accept": "*/*"})
    assert r.status == 200 and r.json()["type"] == "GET_HEALTH"
    r = mesos_v1.operator_call(mc.url, "GET_HEALTH",
                               headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status == 200, "charset parameter must be accepted (§1.2): %r" % r


def test_state_is_chunked_and_survives_clients_leaving(mc, fw):
    """The state answers stream (chunked, no Content-Length); a client
    that leaves mid-answer, or asks for HEAD, costs the master nothing."""
    import socket
    host, port = mc.url.split("//")[1].split(":")
    for path in ("/master/state", "/master/state-summary", "/master/slaves"):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
            head = s.recv(200).decode("latin-1")
        assert head.startswith("HTTP/1.1 200"), head
        assert "chunked" in head.lower(), head
    r = harness.request("HEAD", mc.url, "/master/state")
    assert r.status == 200 and r.body == b"", r
    with socket.create_connection((host, int(port)), timeout=5) as s:
        body = b'{"type":"GET_STATE"}'
        s.sendall(b"POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        assert s.recv(20).startswith(b"HTTP/1.1 200")
    st = get_json(mc.url, "/master/state")
    assert st["activated_slaves"] == 1 and len(st["frameworks"]) >= 1
    assert get(mc.url, "/master/frameworks?framework_id=%s" % fw.framework_id).json()[
        "frameworks"][0]["id"] == fw.framework_id


def test_daemons_still_alive(mc):
    assert mc.master.alive() and mc.agents[0].alive()
    wait_until(lambda: get(mc.url, "/health").status == 200, 5, what="master health")
