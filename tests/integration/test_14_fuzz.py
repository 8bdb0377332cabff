"""Mutation fuzzing of the HTTP APIs against the real daemons ("no input
may crash a daemon", DESIGN.md; reference §1.3): valid calls are mutated
(wrong types, missing and unknown keys, odd numbers and strings, broken
bytes) and posted to /api/v1/scheduler, the operator /api/v1, the agent's
/api/v1/executor and the master's agent endpoint /api/v1/agent. Every
answer must be a well-formed HTTP response that is not a 5xx (501 aside),
the daemons must keep running, and a task started before the storm must
still be running after it.

Deterministic: AGORA_IT_FUZZ_SEED (default 1) and AGORA_IT_FUZZ_N
(mutations per endpoint, default 300) reproduce a run."""

import base64
import copy
import http.client
import json
import os
import random

import pytest

import harness
import mesos_v1
from harness import get

SEED = int(os.environ.get("AGORA_IT_FUZZ_SEED", "1"))
N = int(os.environ.get("AGORA_IT_FUZZ_N", "300"))

EVIL = [None, True, False, 0, -1, 1.5, -1e308, 1e308, 2 ** 64, -(2 ** 63) - 1, "", "x" * 5000,
        "\u0000", "\ud7ff\u00e9\u4e2d", "TASK_RUNNING", "UNKNOWN", "-1", "1e999", "NaN",
        [], [None], [[[[[]]]]], {}, {"value": None}, {"value": ""}, {"value": "x" * 300},
        {"value": 7}, {"nanoseconds": -5}, {"nanoseconds": "abc"}, "AAAA", "====",
        "Infinity"]


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    yield from harness.module_cluster(tmp_path_factory, "fuzz")


@pytest.fixture(scope="module")
def fw(mc):
    s = mesos_v1.Scheduler(mc.url, name="fuzz-fw", failover_timeout=3600,
                           capabilities=["PARTITION_AWARE", "TASK_KILLING_STATE"])
    harness.LIVE_SCHEDULERS.append(s)
    s.subscribe()
    o = s.take_offer()
    s.launch(o, [mesos_v1.task_info(o, "keeper", shell="sleep 600"),
                 mesos_v1.task_info(o, "target", shell="sleep 600")], refuse_seconds=0)
    s.wait_update("keeper", "TASK_RUNNING")
    s.wait_update("target", "TASK_RUNNING")
    yield s
    s.stop()
    harness.LIVE_SCHEDULERS.remove(s)


def mutate(rng, value, depth=0):
    """A mutated deep copy of a JSON value."""
    if rng.random() < 0.12:
        return copy.deepcopy(rng.choice(EVIL))
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            r = rng.random()
            if r < 0.08:
                continue  # drop the key
            out[k] = mutate(rng, v, depth + 1)
        if rng.random() < 0.05:
            out[rng.choice(["bogus", "type", "value", "framework_id", "x" * 100])] = \
                copy.deepcopy(rng.choice(EVIL))
        return out
    if isinstance(value, list):
        out = [mutate(rng, v, depth + 1) for v in value if rng.random() > 0.08]
        if value and rng.random() < 0.1:
            out = out * rng.randint(2, 50)
        return out
    if isinstance(value, str) and rng.random() < 0.1:
        return value + rng.choice(["", "x", "\u00ff", "'", '"', "\\", "%00"])
    return value


def byte_mutate(rng, data):
    """Raw mutations of serialized JSON (parser robustness)."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if not data:
            break
        i = rng.randrange(len(data))
        if op < 0.3:
            data[i] = rng.randrange(256)
        elif op < 0.5:
            del data[i:i + rng.randint(1, 20)]
        elif op < 0.7:
            data[i:i] = rng.choice([b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\x00",
                                    b"\xff", b"1e99999", b"null", b"\\u0000", b"\\ud800"])
        else:
            data = data[:i]
    return bytes(data)


def post_raw(url, path, body, headers):
    host, port = harness.split_url(url)
    conn = http.client.HTTPConnection(host, port, timeout=20)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def storm(name, url, path, templates, headers, rng, tmp_path, ok=lambda status: True):
    """Posts N mutations of the templates; returns a histogram of statuses.
    A 5xx (other than 501) or a broken connection fails the test, with the
    offending body saved under tmp_path."""
    hist = {}
    for i in range(N):
        tmpl = rng.choice(templates)
        if rng.random() < 0.25:
            body = byte_mutate(rng, json.dumps(tmpl).encode())
        else:
            body = json.dumps(mutate(rng, tmpl)).encode()
        try:
            status, answer = post_raw(url, path, body, headers)
        except (OSError, http.client.HTTPException) as e:
            status, answer = None, repr(e).encode()
        hist[status] = hist.get(status, 0) + 1
        if status is None or (status >= 500 and status != 501) or not ok(status):
            dump = tmp_path / ("%s-crash-%d.json" % (name, i))
            dump.write_bytes(body)
            pytest.fail("%s: mutation #%d (seed %d) got %s %r; body saved in %s" %
                        (path, i, SEED, status, answer[:300], dump), pytrace=False)
    return hist


def still_fine(mc, fw):
    assert mc.master.alive(), "master died:\n" + mc.master.tail(60)
    assert mc.agents[0].alive(), "agent died:\n" + mc.agents[0].tail(60)
    assert get(mc.url, "/health").status == 200
    assert get(mc.agents[0].url, "/health").status == 200
    harness.get_json(mc.url, "/master/state")
    harness.get_json(mc.agents[0].url, "/state")
    m = fw.mark()
    fw.reconcile(["keeper"])
    st = fw.wait_update("keeper", mesos_v1.TERMINAL_STATES | {"TASK_RUNNING", "TASK_UNKNOWN"},
                        start=m)
    assert st["state"] == "TASK_RUNNING", "the keeper task was disturbed: %r" % st


def scheduler_templates(mc, fw):
    fid = {"value": fw.framework_id}
    aid = {"value": mc.agents[0].agent_id}
    st = [u for u in fw.updates("target") if u.get("uuid")][-1]
    offer = fw.take_offer(timeout=10)
    task = mesos_v1.task_info(offer, "fuzzed", shell="true", kill_grace=1,
                              env={"A": "b"}, ports=[(31000, 31000)])
    task["labels"] = {"labels": [{"key": "k", "value": "v"}]}
    oid = {"value": offer["id"]["value"]}
    return [
        {"type": "ACCEPT", "framework_id": fid,
         "accept": {"offer_ids": [oid], "operations": [{"type": "LAUNCH",
                                                        "launch": {"task_infos": [task]}}],
                    "filters": {"refuse_seconds": 0}}},
        {"type": "DECLINE", "framework_id": fid,
         "decline": {"offer_ids": [oid], "filters": {"refuse_seconds": 0}}},
        {"type": "KILL", "framework_id": fid,
         "kill": {"task_id": {"value": "fuzzed"}, "agent_id": aid,
                  "kill_policy": {"grace_period": {"nanoseconds": 1000000}}}},
        {"type": "ACKNOWLEDGE", "framework_id": fid,
         "acknowledge": {"agent_id": aid, "task_id": {"value": "target"}, "uuid": st["uuid"]}},
        {"type": "RECONCILE", "framework_id": fid,
         "reconcile": {"tasks": [{"task_id": {"value": "keeper"}, "agent_id": aid}]}},
        {"type": "REVIVE", "framework_id": fid, "revive": {"roles": ["*"]}},
        {"type": "SUPPRESS", "framework_id": fid, "suppress": {"roles": ["*"]}},
        {"type": "MESSAGE", "framework_id": fid,
         "message": {"agent_id": aid, "executor_id": {"value": "target"},
                     "data": base64.b64encode(b"hello").decode()}},
        {"type": "SHUTDOWN", "framework_id": fid,
         "shutdown": {"executor_id": {"value": "fuzzed"}, "agent_id": aid}},
        {"type": "REQUEST", "framework_id": fid,
         "request": {"requests": [{"agent_id": aid, "resources": task["resources"]}]}},
        {"type": "ACKNOWLEDGE_OPERATION_STATUS", "framework_id": fid,
         "acknowledge_operation_status": {"agent_id": aid, "uuid": "AAAAAAAAAAAAAAAAAAAAAA==",
                                          "operation_id": {"value": "op"}}},
        {"type": "RECONCILE_OPERATIONS", "framework_id": fid,
         "reconcile_operations": {"operations": [{"operation_id": {"value": "op"}}]}},
        {"type": "ACCEPT_INVERSE_OFFERS", "framework_id": fid,
         "accept_inverse_offers": {"inverse_offer_ids": [oid]}},
    ]


def test_fuzz_scheduler_api(mc, fw, tmp_path):
    rng = random.Random(SEED)
    templates = scheduler_templates(mc, fw)
    hist = storm("scheduler", mc.url, "/api/v1/scheduler", templates,
                 {"Content-Type": "application/json", "Mesos-Stream-Id": fw.stream_id}, rng,
                 tmp_path)
    assert hist.get(400, 0) > 0 and hist.get(202, 0) > 0, hist
    still_fine(mc, fw)


def test_fuzz_scheduler_subscribe(mc, fw, tmp_path):
    """Mutated SUBSCRIBE calls; the streams that do open are closed at once."""
    rng = random.Random(SEED + 1)
    tmpl = mesos_v1.Scheduler(mc.url, name="fuzz-sub", roles=["a", "b"],
                              capabilities=["PARTITION_AWARE"], failover_timeout=10,
                              checkpoint=True, hostname="h", principal="p",
                              extra_info={"labels": {"labels": [{"key": "k"}]},
                                          "webui_url": "http://x"}).subscribe_body_json()
    host, port = mc.master.ip, mc.master.port
    hist = {}
    for i in range(N // 3):
        body = (byte_mutate(rng, json.dumps(tmpl).encode()) if rng.random() < 0.25
                else json.dumps(mutate(rng, tmpl)).encode())
        conn = http.client.HTTPConnection(host, port, timeout=20)
        try:
            conn.request("POST", "/api/v1/scheduler", body=body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            status = resp.status
            if status != 200:
                resp.read()
        except (OSError, http.client.HTTPException) as e:
            status = None
            err = e
        finally:
            conn.close()
        hist[status] = hist.get(status, 0) + 1
        if status is None or (status >= 500 and status != 501):
            dump = tmp_path / ("subscribe-crash-%d.json" % i)
            dump.write_bytes(body)
            pytest.fail("SUBSCRIBE mutation #%d (seed %d) got %s; body in %s" %
                        (i, SEED, status if status else err, dump), pytrace=False)
    assert hist.get(400, 0) > 0, hist
    still_fine(mc, fw)


def test_fuzz_operator_api(mc, fw, tmp_path):
    rng = random.Random(SEED + 2)
    fid = {"value": fw.framework_id}
    templates = [{"type": t} for t in ("GET_HEALTH", "GET_FLAGS", "GET_VERSION", "GET_STATE",
                                       "GET_AGENTS", "GET_FRAMEWORKS", "GET_EXECUTORS",
                                       "GET_TASKS", "GET_ROLES", "GET_MASTER", "GET_WEIGHTS",
                                       "GET_QUOTA", "GET_MAINTENANCE_STATUS",
                                       "GET_MAINTENANCE_SCHEDULE", "GET_OPERATIONS",
                                       "GET_LOGGING_LEVEL")]
    templates += [
        {"type": "GET_METRICS", "get_metrics": {"timeout": {"nanoseconds": 1000000}}},
        {"type": "LIST_FILES", "list_files": {"path": "/master/log"}},
        {"type": "READ_FILE", "read_file": {"path": "/master/log", "offset": 0, "length": 10}},
    ]
    hist = storm("operator", mc.url, "/api/v1", templates, {"Content-Type": "application/json"},
                 rng, tmp_path)
    assert hist.get(200, 0) > 0 and hist.get(400, 0) > 0, hist
    # Nothing in the read-only storm may have removed the framework.
    assert mc.framework(fid["value"])[0] == "frameworks"
    still_fine(mc, fw)


def test_fuzz_executor_api(mc, fw, tmp_path):
    """Mutations of executor calls aimed at the 'target' executor (which
    may get hurt; 'keeper' must not)."""
    rng = random.Random(SEED + 3)
    fid = {"value": fw.framework_id}
    eid = {"value": "target"}
    status = {"task_id": {"value": "target"}, "state": "TASK_RUNNING",
              "source": "SOURCE_EXECUTOR", "uuid": "AAAAAAAAAAAAAAAAAAAAAA==",
              "executor_id": eid, "agent_id": {"value": mc.agents[0].agent_id},
              "message": "m", "healthy": True, "timestamp": 1.5,
              "data": base64.b64encode(b"d").decode()}
    templates = [
        {"type": "UPDATE", "framework_id": fid, "executor_id": eid, "update": {"status": status}},
        {"type": "MESSAGE", "framework_id": fid, "executor_id": eid,
         "message": {"data": base64.b64encode(b"x").decode()}},
        {"type": "HEARTBEAT", "framework_id": fid, "executor_id": eid},
    ]
    hist = storm("executor", mc.agents[0].url, "/api/v1/executor", templates,
                 {"Content-Type": "application/json"}, rng, tmp_path)
    assert hist.get(400, 0) > 0, hist
    still_fine(mc, fw)


def test_fuzz_master_agent_api(mc, fw, tmp_path):
    """The agents' endpoint on the master, without a valid stream id: every
    mutation must be refused cleanly."""
    rng = random.Random(SEED + 4)
    aid = {"value": mc.agents[0].agent_id}
    fid = {"value": fw.framework_id}
    templates = [
        {"type": "UPDATE", "agent_id": aid,
         "update": {"framework_id": fid, "latest_state": "TASK_FINISHED",
                    "status": {"task_id": {"value": "keeper"}, "state": "TASK_FINISHED",
                               "uuid": "AAAAAAAAAAAAAAAAAAAAAA==", "agent_id": aid}}},
        {"type": "EXECUTOR_EXITED", "agent_id": aid,
         "executor_exited": {"framework_id": fid, "executor_id": {"value": "keeper"},
                             "status": 0}},
        {"type": "MESSAGE", "agent_id": aid,
         "message": {"framework_id": fid, "executor_id": {"value": "keeper"}, "data": "eA=="}},
        {"type": "HEARTBEAT", "agent_id": aid},
    ]
    storm("agent-api", mc.url, "/api/v1/agent", templates,
          {"Content-Type": "application/json", "Mesos-Stream-Id": "not-the-stream"}, rng,
          tmp_path, ok=lambda status: 400 <= status < 500 or status == 501)
    still_fine(mc, fw)
