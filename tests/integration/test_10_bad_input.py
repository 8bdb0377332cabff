"""Bad input on /api/v1/scheduler, the operator /api/v1 and the agent's
/api/v1/executor (reference §1.2, §1.3, §1.5, §2.1, §5.1, §6): each gets
the right 4xx with a plain-text message naming the problem, changes
nothing, and the daemons keep serving."""

import json

import pytest

import harness
import mesos_v1
from harness import get, post_oversized, request

SCHED = "/api/v1/scheduler"
OPER = "/api/v1"
EXEC = "/api/v1/executor"


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    yield from harness.module_cluster(tmp_path_factory, "badinput")


def _fw(mc, name, task):
    s = mesos_v1.Scheduler(mc.url, name=name, failover_timeout=3600)
    harness.LIVE_SCHEDULERS.append(s)
    s.subscribe()
    s.launch_one(task, shell="sleep 600")
    s.wait_update(task, "TASK_RUNNING")
    s.quiesce()  # leave the agent to the other framework
    return s


@pytest.fixture(scope="module")
def fw(mc):
    s = _fw(mc, "bad-input-1", "mine")
    yield s
    s.stop()
    harness.LIVE_SCHEDULERS.remove(s)


@pytest.fixture(scope="module")
def other(mc, fw):
    fw.quiesce()  # REVIVE calls of earlier tests gave it offers again
    s = _fw(mc, "bad-input-2", "theirs")
    yield s
    s.stop()
    harness.LIVE_SCHEDULERS.remove(s)


@pytest.fixture(autouse=True)
def still_serving(mc):
    yield
    assert mc.master.alive(), "master died:\n" + mc.master.tail(40)
    for a in mc.agents:
        assert a.alive(), "agent died:\n" + a.tail(40)
    assert get(mc.url, "/health").status == 200
    assert get(mc.agents[0].url, "/health").status == 200


def raw_post(url, path, body, headers):
    return request("POST", url, path, body=body, headers=headers)


def expect(resp, code, *words):
    """resp has status `code` and a non-empty plain-text body mentioning
    each of `words` (case-insensitive)."""
    assert resp.status == code, "expected %d, got %d %r" % (code, resp.status, resp.body[:300])
    if code >= 400 and code != 405:
        text = resp.text.lower()
        assert text.strip(), "the %d answer must carry a message" % code
        for w in words:
            assert w.lower() in text, "message %r should mention %r" % (resp.text[:300], w)


def sched_call(fw, body, headers=None, stream=True):
    h = {"Content-Type": "application/json"}
    if stream:
        h["Mesos-Stream-Id"] = fw.stream_id
    h.update(headers or {})
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return raw_post(fw.master_url, SCHED, body, h)


def fid(fw):
    return {"value": fw.framework_id}


def task_unaffected(mc, s, task_id):
    m = s.mark()
    s.reconcile([task_id])
    st = s.wait_update(task_id, mesos_v1.TERMINAL_STATES | {"TASK_RUNNING"}, start=m)
    assert st["state"] == "TASK_RUNNING", st
    killed = [x for x in s.states(task_id) if x != "TASK_RUNNING" and x != "TASK_STARTING"]
    assert not killed, "%s got %s" % (task_id, killed)


# ------------------------------------------------------------ scheduler API


def test_sched_malformed_json(mc, fw):
    expect(sched_call(fw, b'{"type": "REVIVE", "framework_id": '), 400)
    expect(sched_call(fw, b"\xff\xfe\x00garbage"), 400)
    expect(sched_call(fw, b""), 400)


@pytest.mark.parametrize("body", ["[]", '"REVIVE"', "42", "null"])
def test_sched_json_not_an_object(mc, fw, body):
    expect(sched_call(fw, body), 400)


def test_sched_type_wrong_shape(mc, fw):
    expect(sched_call(fw, {"type": 5, "framework_id": fid(fw)}), 400, "type")
    expect(sched_call(fw, {"framework_id": fid(fw)}), 400, "type")


def test_sched_framework_id_wrong_shape(mc, fw):
    expect(sched_call(fw, {"type": "REVIVE", "framework_id": fw.framework_id}), 400,
           "framework_id")


def test_sched_unknown_type(mc, fw):
    expect(sched_call(fw, {"type": "FROBNICATE", "framework_id": fid(fw)}), 400, "FROBNICATE")


def test_sched_type_unknown_is_501(mc, fw):
    r = sched_call(fw, {"type": "UNKNOWN", "framework_id": fid(fw)})
    assert r.status == 501, "type UNKNOWN -> 501 (§1.3): %r" % r


def test_sched_missing_framework_id(mc, fw):
    expect(sched_call(fw, {"type": "REVIVE"}), 400, "framework_id")


def test_sched_missing_payload(mc, fw):
    for t in ("KILL", "ACCEPT", "DECLINE", "ACKNOWLEDGE", "MESSAGE", "SHUTDOWN", "RECONCILE"):
        expect(sched_call(fw, {"type": t, "framework_id": fid(fw)}), 400, t.lower())


def test_sched_accept_without_offer_ids(mc, fw):
    expect(sched_call(fw, {"type": "ACCEPT", "framework_id": fid(fw),
                           "accept": {"operations": []}}), 400, "offer_ids")


def test_sched_kill_without_task_id(mc, fw):
    expect(sched_call(fw, {"type": "KILL", "framework_id": fid(fw), "kill": {}}), 400, "task_id")


def test_sched_acknowledge_bad_uuid(mc, fw):
    body = {"type": "ACKNOWLEDGE", "framework_id": fid(fw),
            "acknowledge": {"agent_id": {"value": mc.agents[0].agent_id},
                            "task_id": {"value": "mine"}, "uuid": "not base64!!"}}
    expect(sched_call(fw, body), 400, "uuid")


def _ack_text(fw_id, agent_id, task_id, uuid, spaced=False):
    """An ACKNOWLEDGE body as text in the usual shape (the master's lean
    path reads that shape without a JSON tree)."""
    sep = ", " if spaced else ","
    return ('{"type":"ACKNOWLEDGE"%s"framework_id":{"value":"%s"}%s"acknowledge":'
            '{"agent_id":{"value":"%s"}%s"task_id":{"value":"%s"}%s"uuid":"%s"}}'
            % (sep, fw_id, sep, agent_id, sep, task_id, sep, uuid))


def test_sched_acknowledge_lean_and_full_paths_agree(mc, fw):
    """The usual ACKNOWLEDGE shape takes the lean reader; escapes, extra
    members or other value types take the full parser. Both give the same
    answers, and an acknowledgement of an unknown uuid changes nothing."""
    import base64
    aid = mc.agents[0].agent_id
    good = base64.b64encode(bytes(range(16))).decode()
    short = base64.b64encode(bytes(12)).decode()
    lean = _ack_text(fw.framework_id, aid, "mine", good)
    # The same call through the full parser: an escaped character.
    full = _ack_text(fw.framework_id, aid, "\\u006dine", good, spaced=True)
    assert sched_call(fw, lean).status == 202
    assert sched_call(fw, full).status == 202
    # Invalid in the lean shape: the full validator's message.
    expect(sched_call(fw, _ack_text(fw.framework_id, aid, "mine", short)), 400, "uuid")
    expect(sched_call(fw, _ack_text(fw.framework_id, aid, "mine", "not base64!!")), 400, "uuid")
    expect(sched_call(fw, _ack_text(fw.framework_id + "-nope", aid, "mine", good)), 400,
           "framework")
    expect(sched_call(fw, lean, stream=False), 400, "Mesos-Stream-Id")
    expect(sched_call(fw, lean, {"Mesos-Stream-Id": "00000000-0000-0000-0000-000000000000"}),
           400, "stream")
    expect(sched_call(fw, lean[:-3]), 400, "JSON")
    body = json.loads(lean)
    body["acknowledge"]["uuid"] = 16
    expect(sched_call(fw, body), 400, "uuid")
    del body["acknowledge"]["task_id"]
    body["acknowledge"]["uuid"] = good
    expect(sched_call(fw, body), 400, "task_id")
    task_unaffected(mc, fw, "mine")


def test_sched_missing_stream_id(mc, fw):
    expect(sched_call(fw, {"type": "REVIVE", "framework_id": fid(fw)}, stream=False), 400,
           "Mesos-Stream-Id")


def test_sched_wrong_stream_id(mc, fw):
    expect(sched_call(fw, {"type": "REVIVE", "framework_id": fid(fw)},
                      {"Mesos-Stream-Id": "00000000-0000-0000-0000-000000000000"}), 400,
           "stream")


def test_sched_header_names_case_insensitive(mc, fw):
    r = raw_post(mc.url, SCHED, json.dumps({"type": "REVIVE", "framework_id": fid(fw)}),
                 {"content-type": "application/json", "mesos-stream-id": fw.stream_id})
    assert r.status == 202, r


def test_sched_subscribe_with_stream_id(mc, fw):
    s = mesos_v1.Scheduler(mc.url, name="with-stream-id")
    r = sched_call(fw, s.subscribe_body_json())
    expect(r, 400, "Mesos-Stream-Id")


def test_sched_wrong_content_type(mc, fw):
    r = sched_call(fw, {"type": "REVIVE", "framework_id": fid(fw)},
                   {"Content-Type": "text/plain"})
    expect(r, 415, "Content-Type")


def test_sched_missing_content_type(mc, fw):
    r = sched_call(fw, {"type": "REVIVE", "framework_id": fid(fw)}, {"Content-Type": None})
    expect(r, 400, "Content-Type")


def test_sched_charset_parameter_accepted(mc, fw):
    r = sched_call(fw, {"type": "REVIVE", "framework_id": fid(fw)},
                   {"Content-Type": "application/json; charset=utf-8"})
    assert r.status == 202, "§1.2: application/json; charset=utf-8 must be accepted: %r" % r


def test_sched_subscribe_accept_html(mc):
    s = mesos_v1.Scheduler(mc.url, name="html")
    r = raw_post(mc.url, SCHED, json.dumps(s.subscribe_body_json()),
                 {"Content-Type": "application/json", "Accept": "text/html"})
    expect(r, 406, "Accept")


def test_sched_subscribe_without_accept_is_json(mc):
    s = mesos_v1.Scheduler(mc.url, name="no-accept")
    harness.LIVE_SCHEDULERS.append(s)
    try:
        s.subscribe(headers={"Accept": None})
        assert s.events[0]["type"] == "SUBSCRIBED"
    finally:
        s.stop()
        harness.LIVE_SCHEDULERS.remove(s)


def test_sched_get_is_405(mc):
    r = get(mc.url, SCHED)
    assert r.status == 405, r
    assert "POST" in (r.header("Allow") or ""), "405 carries Allow: POST (§1.3)"


def test_sched_oversized_body(mc, fw):
    r = post_oversized(mc.url, SCHED, 5 * 1024 * 1024)
    assert r is not None, "connection reset without an answer to an oversized body"
    expect(r, 413, "large")


def test_sched_unknown_framework(mc, fw):
    body = {"type": "REVIVE", "framework_id": {"value": fw.framework_id + "-nope"}}
    expect(sched_call(fw, body), 400, "framework")


def test_sched_subscribe_invalid_framework_info(mc):
    for info in ({"name": "no-user"}, {"user": "root"}, {"user": "root", "name": 7}):
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        r = raw_post(mc.url, SCHED, json.dumps(body), {"Content-Type": "application/json"})
        expect(r, 400)
    r = raw_post(mc.url, SCHED, json.dumps({"type": "SUBSCRIBE"}),
                 {"Content-Type": "application/json"})
    expect(r, 400, "subscribe")


def test_sched_subscribe_roles_without_multi_role(mc):
    s = mesos_v1.Scheduler(mc.url, name="bad-roles")
    s.framework_info["roles"] = ["a"]  # without the MULTI_ROLE capability (§2.3)
    harness.LIVE_SCHEDULERS.append(s)
    try:
        s.subscribe(expect_subscribed=False)
        if s.subscribe_status == 200:
            # Well-formed but invalid: the stream starts with ERROR and closes (§2.2).
            ev = s.wait_for(lambda e: e["type"] in ("ERROR", "SUBSCRIBED"), 10)
            assert ev["type"] == "ERROR", ev
            s.wait_closed(10)
        else:
            assert s.subscribe_status == 400, (s.subscribe_status, s.subscribe_body)
    finally:
        s.stop()
        harness.LIVE_SCHEDULERS.remove(s)


def test_sched_kill_for_other_framework(mc, fw, other):
    """KILL naming another framework's id with my stream id: refused."""
    body = {"type": "KILL", "framework_id": fid(other), "kill": {"task_id": {"value": "theirs"}}}
    r = sched_call(fw, body)
    assert r.status in (400, 403), "KILL for another framework must be refused: %r" % r
    task_unaffected(mc, other, "theirs")


def test_sched_acknowledge_for_other_framework(mc, fw, other):
    st = [u for u in other.updates("theirs") if u.get("uuid")][-1]
    body = {"type": "ACKNOWLEDGE", "framework_id": fid(other),
            "acknowledge": {"agent_id": st["agent_id"], "task_id": st["task_id"],
                            "uuid": st["uuid"]}}
    r = sched_call(fw, body)
    assert r.status in (400, 403), "ACKNOWLEDGE for another framework must be refused: %r" % r
    task_unaffected(mc, other, "theirs")


def test_sched_kill_task_of_other_framework(mc, fw, other):
    """My framework id, their task id: treated as a task I don't have."""
    r = fw.kill("theirs", check=False)
    assert r.status in (202, 400, 403, 404), r
    task_unaffected(mc, other, "theirs")
    task_unaffected(mc, fw, "mine")


def test_sched_teardown_other_framework_not_possible(mc, fw, other):
    r = sched_call(fw, {"type": "TEARDOWN", "framework_id": fid(other)})
    assert r.status in (400, 403), r
    assert mc.framework(other.framework_id)[0] == "frameworks"
    task_unaffected(mc, other, "theirs")


def test_sched_unknown_fields_and_nulls_are_ignored(mc, fw):
    r = sched_call(fw, {"type": "REVIVE", "framework_id": fid(fw), "revive": None,
                        "whatever": {"x": [1, 2]}})
    assert r.status == 202, "§10: unknown fields are ignored and null means unset: %r" % r


@pytest.mark.parametrize("body", [
    b"[" * 100000,
    b'{"type":"REVIVE","framework_id":{"value":"' + b"A" * 200000 + b'"}}',
    b'{"type":"KILL","framework_id":{"value":"x"},"kill":{"task_id":{"value":1e999}}}',
    b'{"type":"\xc3\x28","framework_id":{"value":"x"}}',
    b'{"type":"REVIVE","type":"KILL"}',
    b'{"type":"ACCEPT","framework_id":{"value":"x"},"accept":{"offer_ids":[{"value":null}],'
    b'"operations":[{"type":"LAUNCH","launch":{"task_infos":[{}]}}]}}',
])
def test_sched_hostile_bodies(mc, fw, body):
    r = sched_call(fw, body)
    assert 400 <= r.status < 500, "hostile body -> 4xx, got %r" % r


def test_sched_launch_garbage_task_infos(mc, fw):
    """Malformed operations inside an otherwise valid ACCEPT."""
    fw.revive()
    o = fw.take_offer()
    oid = {"value": o["id"]["value"]}
    for ops in ([{"type": "LAUNCH"}],
                [{"type": "LAUNCH", "launch": {"task_infos": [{"name": "x"}]}}],
                [{"type": "LAUNCH", "launch": {"task_infos": "nope"}}],
                [{"type": "BOGUS_OP"}]):
        body = {"type": "ACCEPT", "framework_id": fid(fw),
                "accept": {"offer_ids": [oid], "operations": ops}}
        r = sched_call(fw, body)
        assert r.status in (202, 400), (ops, r)
    task_unaffected(mc, fw, "mine")
    fw.quiesce()


def test_sched_state_unchanged_by_bad_calls(mc, fw, other):
    _, f = mc.framework(fw.framework_id)
    assert f["connected"] and f["active"]
    assert [t["state"] for t in f["tasks"] if t["id"] == "mine"] == ["TASK_RUNNING"]
    assert fw.framing_violations == [] and other.framing_violations == []


# ------------------------------------------------------------ operator API


def op_post(mc, body, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return raw_post(mc.url, OPER, body, h)


def test_op_malformed_json(mc):
    expect(op_post(mc, b'{"type": "GET_HEALTH"'), 400)


def test_op_wrong_shape(mc):
    expect(op_post(mc, {"type": 5}), 400, "type")
    expect(op_post(mc, "[]"), 400)
    expect(op_post(mc, {}), 400, "type")


def test_op_unknown_type(mc):
    expect(op_post(mc, {"type": "FROBNICATE"}), 400, "FROBNICATE")


def test_op_type_unknown_is_501(mc):
    assert op_post(mc, {"type": "UNKNOWN"}).status == 501


def test_op_wrong_content_type(mc):
    expect(op_post(mc, {"type": "GET_HEALTH"}, {"Content-Type": "text/xml"}), 415, "Content-Type")


def test_op_missing_content_type(mc):
    expect(op_post(mc, {"type": "GET_HEALTH"}, {"Content-Type": None}), 400, "Content-Type")


def test_op_accept_html(mc):
    expect(op_post(mc, {"type": "GET_HEALTH"}, {"Accept": "text/html"}), 406, "Accept")


def test_op_get_is_405(mc):
    r = get(mc.url, OPER)
    assert r.status == 405 and "POST" in (r.header("Allow") or ""), r


def test_op_oversized(mc):
    r = post_oversized(mc.url, OPER, 5 * 1024 * 1024)
    assert r is not None, "connection reset without an answer to an oversized body"
    expect(r, 413, "large")


def test_op_teardown_unknown_framework(mc):
    r = op_post(mc, {"type": "TEARDOWN", "teardown": {"framework_id": {"value": "nope"}}})
    assert r.status in (400, 404), r


def test_op_teardown_missing_payload(mc):
    expect(op_post(mc, {"type": "TEARDOWN"}), 400, "teardown")


def test_op_get_metrics_bad_timeout_shape(mc):
    r = op_post(mc, {"type": "GET_METRICS", "get_metrics": {"timeout": "soon"}})
    assert r.status == 400, r


# ------------------------------------------------------------ executor API


def ex_post(mc, body, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return raw_post(mc.agents[0].url, EXEC, body, h)


def ex_call(fw, type_, executor="mine", **payload):
    body = {"type": type_, "framework_id": fid(fw), "executor_id": {"value": executor}}
    body.update(payload)
    return body


def test_exec_malformed_json(mc, fw):
    expect(ex_post(mc, b'{"type":'), 400)


def test_exec_wrong_shape(mc, fw):
    expect(ex_post(mc, {"type": 5, "framework_id": fid(fw),
                        "executor_id": {"value": "mine"}}), 400, "type")
    expect(ex_post(mc, {"type": "MESSAGE", "message": {"data": "aGk="}}), 400)


def test_exec_unknown_type(mc, fw):
    expect(ex_post(mc, ex_call(fw, "FROBNICATE")), 400, "FROBNICATE")


def test_exec_type_unknown_is_501(mc, fw):
    assert ex_post(mc, ex_call(fw, "UNKNOWN")).status == 501


def test_exec_missing_ids(mc, fw):
    expect(ex_post(mc, {"type": "SUBSCRIBE", "subscribe": {},
                        "executor_id": {"value": "mine"}}), 400, "framework_id")
    expect(ex_post(mc, {"type": "SUBSCRIBE", "subscribe": {}, "framework_id": fid(fw)}), 400,
           "executor_id")


def test_exec_unknown_executor(mc, fw):
    r = ex_post(mc, ex_call(fw, "SUBSCRIBE", executor="ghost", subscribe={}))
    assert r.status == 400, "unknown executor -> 400 (§5.1): %r" % r
    r = ex_post(mc, ex_call(fw, "UPDATE", executor="ghost", update={"status": {
        "task_id": {"value": "ghost"}, "state": "TASK_RUNNING",
        "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}}))
    assert r.status in (400, 403), r


def test_exec_unknown_framework(mc, fw):
    body = ex_call(fw, "MESSAGE", message={"data": "aGk="})
    body["framework_id"] = {"value": "no-such-framework"}
    assert ex_post(mc, body).status == 400


def test_exec_forged_update_for_running_task(mc, fw):
    """Another process posting an UPDATE for a subscribed executor's task
    with a bad state must not change the task."""
    r = ex_post(mc, ex_call(fw, "UPDATE", update={"status": {
        "task_id": {"value": "mine"}, "state": "TASK_STAGING", "source": "SOURCE_EXECUTOR",
        "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}}))
    assert r.status == 400, "TASK_STAGING from an executor is invalid (§5.1): %r" % r
    r = ex_post(mc, ex_call(fw, "UPDATE", update={"status": {
        "task_id": {"value": "mine"}, "state": "TASK_FINISHED"}}))
    assert r.status == 400, "an update without uuid is invalid (§5.1): %r" % r
    task_unaffected(mc, fw, "mine")


def test_exec_wrong_content_type(mc, fw):
    expect(ex_post(mc, ex_call(fw, "HEARTBEAT"), {"Content-Type": "text/plain"}), 415,
           "Content-Type")


def test_exec_missing_content_type(mc, fw):
    expect(ex_post(mc, ex_call(fw, "HEARTBEAT"), {"Content-Type": None}), 400)


def test_exec_accept_html_on_subscribe(mc, fw):
    r = ex_post(mc, ex_call(fw, "SUBSCRIBE", subscribe={}), {"Accept": "text/html"})
    expect(r, 406, "Accept")


def test_exec_get_is_405(mc):
    r = get(mc.agents[0].url, EXEC)
    assert r.status == 405 and "POST" in (r.header("Allow") or ""), r


def test_exec_oversized(mc):
    r = post_oversized(mc.agents[0].url, EXEC, 5 * 1024 * 1024)
    assert r is not None, "connection reset without an answer to an oversized body"
    expect(r, 413, "large")


@pytest.mark.parametrize("body", [b"[" * 100000, b"\x00\x01\x02", b'{"type":null}'])
def test_exec_hostile_bodies(mc, body):
    r = ex_post(mc, body)
    assert 400 <= r.status < 500, r


def test_all_tasks_still_running(mc, fw, other):
    task_unaffected(mc, fw, "mine")
    task_unaffected(mc, other, "theirs")


# ------------------------------------------------------------ client habits (§10)


def test_calls_on_one_keepalive_connection(mc, fw):
    """Clients keep one keep-alive connection for calls (§10)."""
    import http.client
    conn = http.client.HTTPConnection(mc.master.ip, mc.master.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("POST", SCHED, json.dumps({"type": "REVIVE", "framework_id": fid(fw)}),
                         {"Content-Type": "application/json", "Mesos-Stream-Id": fw.stream_id})
            r = conn.getresponse()
            r.read()
            assert r.status == 202, r.status
        fw.quiesce()
    finally:
        conn.close()


def test_subscribe_with_connection_close(mc):
    """Some clients send Connection: close on SUBSCRIBE (§10): the stream
    must still stay open and deliver events."""
    s = mesos_v1.Scheduler(mc.url, name="conn-close")
    harness.LIVE_SCHEDULERS.append(s)
    try:
        s.subscribe(headers={"Connection": "close"})
        s.fence()
        assert not s.closed and s.framing_violations == []
    finally:
        s.stop()
        harness.LIVE_SCHEDULERS.remove(s)


def test_numeric_strings_for_numbers(mc, fw):
    """int64/double fields accept numeric strings (§3.1, §11.13)."""
    r = sched_call(fw, {"type": "DECLINE", "framework_id": fid(fw),
                        "decline": {"offer_ids": [{"value": "no-such-offer"}],
                                    "filters": {"refuse_seconds": "1.5"}}})
    assert r.status == 202, r
    r = sched_call(fw, {"type": "KILL", "framework_id": fid(fw),
                        "kill": {"task_id": {"value": "no-such-task"},
                                 "kill_policy": {"grace_period": {"nanoseconds": "1000"}}}})
    assert r.status == 202, r


# ------------------------------------------------------------ slow and churning clients


def test_half_sent_requests_do_not_block(mc, fw):
    """Connections that send half a request and stall must not stop the
    daemons serving others (event-driven, DESIGN.md)."""
    import socket
    stalled = []
    try:
        for url in (mc.url, mc.agents[0].url):
            host, port = harness.split_url(url)
            for partial in (b"POST /api/v1/scheduler HTTP/1.1\r\nContent-Le",
                            b"POST /api/v1 HTTP/1.1\r\nContent-Length: 100\r\n"
                            b"Content-Type: application/json\r\n\r\n{\"type\":",
                            b"GET /master/state HTTP/1.1\r\n"):
                s = socket.create_connection((host, port), timeout=5)
                s.sendall(partial)
                stalled.append(s)
        for _ in range(3):
            assert get(mc.url, "/health", timeout=5).status == 200
            assert get(mc.agents[0].url, "/health", timeout=5).status == 200
            harness.get_json(mc.url, "/master/state", timeout=5)
        task_unaffected(mc, fw, "mine")
    finally:
        for s in stalled:
            s.close()


def test_subscribe_churn(mc, fw):
    """Frameworks that subscribe and vanish at once, many times over."""
    ids = []
    for i in range(25):
        s = mesos_v1.Scheduler(mc.url, name="churn-%d" % i)
        s.subscribe()
        ids.append(s.framework_id)
        s.stop()
    # failover_timeout 0: each one is removed once its stream closes (§4.4).
    harness.wait_until(lambda: all(mc.framework(f)[0] == "completed_frameworks" for f in ids),
                       20, what="churned frameworks removed")
    task_unaffected(mc, fw, "mine")


def test_many_idle_connections(mc, fw):
    import socket
    socks = []
    try:
        host, port = harness.split_url(mc.url)
        for _ in range(200):
            socks.append(socket.create_connection((host, port), timeout=5))
        assert get(mc.url, "/health", timeout=10).status == 200
        task_unaffected(mc, fw, "mine")
    finally:
        for s in socks:
            s.close()
