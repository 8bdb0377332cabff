"""Launching command tasks (reference §2.4, §3.5, §5.4): the update
sequence, the command's output in the sandbox (read through /files/read and
on disk), argv and environment, failing commands, the stream's framing
(§1.4, §10) and the /files endpoints (§7.6)."""

import os
import urllib.parse

import pytest

import harness
import mesos_v1
from harness import get, get_json, wait_until
from mesos_v1 import agent_executor, agent_state, files_browse, files_read, task_info


@pytest.fixture
def fw(cluster, scheduler_factory):
    return scheduler_factory(cluster.url, name="launch-fw").subscribe()


def executor_dir(cluster, fw, task_id, agent=None):
    agent = agent or cluster.agents[0]

    def find():
        ex = agent_executor(agent_state(agent.url), fw.framework_id, task_id, completed=True)
        return ex and ex.get("directory")

    return wait_until(find, 10, what="executor %s in agent /state" % task_id)


def check_sequence(states, final):
    """STARTING before RUNNING before the terminal state, nothing else,
    each once (§4.3: one ordered stream per task)."""
    assert states == ["TASK_STARTING", "TASK_RUNNING", final], \
        "update sequence %s, expected STARTING, RUNNING, %s" % (states, final)


def test_subscribed_event(cluster, scheduler_factory):
    s = scheduler_factory(cluster.url, name="sub-fw").subscribe()
    assert s.subscribe_status == 200
    assert s.stream_id, "SUBSCRIBE answer lacks Mesos-Stream-Id (§1.5)"
    assert len(s.stream_id) <= 128
    ct = s.subscribe_headers.get("Content-Type", "")
    assert ct.startswith("application/json"), ct
    first = s.events[0]
    assert first["type"] == "SUBSCRIBED", "first event must be SUBSCRIBED (§2.7): %r" % first
    sub = first["subscribed"]
    assert sub["framework_id"]["value"] == s.framework_id
    assert sub.get("heartbeat_interval_seconds", 0) > 0
    mi = sub.get("master_info", {})
    assert mi.get("port") == cluster.master.port and mi.get("id"), mi
    # Framework ids are "<master-id>-NNNN" (§2.2, §3.2).
    assert s.framework_id.startswith(mi["id"] + "-"), (s.framework_id, mi["id"])
    s.wait_type("OFFERS")
    assert s.framing_violations == [], s.framing_violations


def test_launch_runs_to_finished_with_output(cluster, fw):
    offer = fw.take_offer()
    fw.launch(offer, [task_info(offer, "hello", shell="echo hello-from-task; echo to-err >&2")])
    fin = fw.wait_update("hello", ["TASK_FINISHED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR"])
    assert fin["state"] == "TASK_FINISHED", fin
    check_sequence(fw.states("hello"), "TASK_FINISHED")
    for st in fw.updates("hello"):
        assert st.get("uuid"), "executor updates carry a uuid (§4.3): %r" % st
        assert st.get("source") == "SOURCE_EXECUTOR", st
        assert st["agent_id"]["value"] == cluster.agents[0].agent_id
        assert st["executor_id"]["value"] == "hello", "command executor id = task id (§3.5)"
    d = executor_dir(cluster, fw, "hello")
    assert d.startswith(os.path.realpath(cluster.agents[0].work_dir)) or \
        d.startswith(cluster.agents[0].work_dir), d
    out = mesos_v1.read_sandbox_file(cluster.agents[0].url, d, "stdout")
    assert "hello-from-task" in out, out
    err = mesos_v1.read_sandbox_file(cluster.agents[0].url, d, "stderr")
    assert "to-err" in err, err
    with open(os.path.join(d, "stdout")) as f:
        assert "hello-from-task" in f.read()
    assert fw.framing_violations == [], fw.framing_violations


def test_finished_task_in_master_completed_tasks(cluster, fw):
    fw.launch_one("done", shell="true")
    fw.wait_update("done", "TASK_FINISHED")

    def completed():
        _, f = cluster.framework(fw.framework_id)
        return f and [t for t in f.get("completed_tasks", []) if t["id"] == "done"]

    (t,) = wait_until(completed, 10, what="task in completed_tasks after its ack (§4.3)")
    assert t["state"] == "TASK_FINISHED"
    _, f = cluster.framework(fw.framework_id)
    assert not [t for t in f["tasks"] if t["id"] == "done"]
    # Its resources were freed.
    harness.wait_until(lambda: abs(cluster.find_slave(cluster.agents[0])["used_resources"]
                                   ["cpus"]) < 1e-6, 10, what="used cpus back to 0")


def test_task_id_reusable_after_completion(cluster, fw):
    """Task ids must be unique among *active* tasks (§3.5): a finished
    task's id can be used again, and gets a fresh sandbox run."""
    fw.launch_one("again", shell="echo first-run")
    fw.wait_update("again", "TASK_FINISHED")
    d1 = executor_dir(cluster, fw, "again")
    wait_until(lambda: not [t for t in cluster.framework(fw.framework_id)[1]["tasks"]
                            if t["id"] == "again"], 10, what="first 'again' completed")
    # The command executor (ExecutorID = TaskID) lingers until its last
    # update is acknowledged; until it is gone the id names a terminating
    # executor and a new task for it is dropped, as in Mesos.
    wait_until(lambda: agent_executor(agent_state(cluster.agents[0].url), fw.framework_id,
                                      "again") is None, 10, what="first executor gone")
    m = fw.mark()
    fw.launch_one("again", shell="echo second-run")
    st = fw.wait_terminal("again", start=m)
    assert st["state"] == "TASK_FINISHED", st

    def second_dir():
        # Both runs of executor "again" are listed (the first among the
        # completed ones): look at each.
        state = agent_state(cluster.agents[0].url)
        for f in state.get("frameworks", []) + state.get("completed_frameworks", []):
            if f.get("id") != fw.framework_id:
                continue
            for ex in f.get("executors", []) + f.get("completed_executors", []):
                d = ex.get("id") == "again" and ex.get("directory")
                out = d and os.path.join(d, "stdout")
                if out and os.path.exists(out) and "second-run" in open(out).read():
                    return d
        return None

    d2 = wait_until(second_dir, 10, what="the second run's sandbox in /state")
    assert d2 != d1, "each run gets its own sandbox"
    assert "first-run" in open(os.path.join(d1, "stdout")).read()


def test_large_output_read_in_pieces(cluster, fw):
    """/files/read caps one read at 64 KiB (§7.6); reading on from the
    returned offset yields the whole file."""
    fw.launch_one("big-out", shell="i=0; while [ $i -lt 4000 ]; do "
                                   "echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
                                   "i=$((i+1)); done")
    assert fw.wait_terminal("big-out")["state"] == "TASK_FINISHED"
    d = executor_dir(cluster, fw, "big-out")
    path = os.path.join(d, "stdout")
    on_disk = open(path).read()
    assert len(on_disk) > 200000
    status, first = files_read(cluster.agents[0].url, path, offset=0)
    assert status == 200 and 0 < len(first["data"]) <= 65536, len(first["data"])
    whole = mesos_v1.read_sandbox_file(cluster.agents[0].url, d, "stdout")
    assert whole == on_disk
    assert "line-3999-" in whole


def test_argv_command_is_not_shell_interpreted(cluster, fw):
    offer = fw.take_offer()
    fw.launch(offer, [task_info(offer, "argv", argv=["/bin/echo", "argv-mode", "$HOME;x"])])
    assert fw.wait_terminal("argv")["state"] == "TASK_FINISHED"
    d = executor_dir(cluster, fw, "argv")
    out = mesos_v1.read_sandbox_file(cluster.agents[0].url, d, "stdout")
    assert "argv-mode $HOME;x" in out, out


def test_environment_and_working_directory(cluster, fw):
    offer = fw.take_offer()
    fw.launch(offer, [task_info(offer, "env", shell='echo "FOO=$FOO"; pwd',
                                env={"FOO": "bar baz"})])
    assert fw.wait_terminal("env")["state"] == "TASK_FINISHED"
    d = executor_dir(cluster, fw, "env")
    out = mesos_v1.read_sandbox_file(cluster.agents[0].url, d, "stdout")
    assert "FOO=bar baz" in out, out
    assert os.path.realpath(d) in [os.path.realpath(line) for line in out.splitlines()
                                   if line.startswith("/")], \
        "task must run in its sandbox: %r vs %r" % (out, d)


def test_task_sees_its_sandbox(cluster, fw):
    """MESOS_SANDBOX (§5.3) reaches the command."""
    fw.launch_one("sandboxvar", shell='echo "SANDBOX=$MESOS_SANDBOX"')
    assert fw.wait_terminal("sandboxvar")["state"] == "TASK_FINISHED"
    d = executor_dir(cluster, fw, "sandboxvar")
    out = mesos_v1.read_sandbox_file(cluster.agents[0].url, d, "stdout")
    assert "SANDBOX=%s" % d in out or \
        "SANDBOX=%s" % os.path.realpath(d) in out, (out, d)


def test_failing_command_reports_exit_status(cluster, fw):
    fw.launch_one("fails", shell="echo about-to-fail; exit 3")
    st = fw.wait_terminal("fails")
    assert st["state"] == "TASK_FAILED", st
    assert "exited with status 3" in st.get("message", ""), \
        "message must give the exit status (§5.4): %r" % st.get("message")
    check_sequence(fw.states("fails"), "TASK_FAILED")


def test_command_killed_by_signal_fails(cluster, fw):
    fw.launch_one("sig", shell="kill -9 $$")
    st = fw.wait_terminal("sig")
    assert st["state"] == "TASK_FAILED", st
    assert "signal" in st.get("message", "").lower(), st.get("message")


def test_missing_binary_fails(cluster, fw):
    offer = fw.take_offer()
    fw.launch(offer, [task_info(offer, "nobin", argv=["/nonexistent/binary-xyz"])],
              refuse_seconds=0)
    st = fw.wait_terminal("nobin")
    assert st["state"] == "TASK_FAILED", st


def test_updates_of_many_tasks_each_in_order(cluster, fw):
    offer = fw.take_offer()
    ids = ["seq-%d" % i for i in range(5)]
    fw.launch(offer, [task_info(offer, t, shell="echo %s" % t, cpus=0.1, mem=32) for t in ids])
    for t in ids:
        fw.wait_update(t, "TASK_FINISHED")
    for t in ids:
        check_sequence(fw.states(t), "TASK_FINISHED")
    # Distinct uuids per update.
    uuids = [st["uuid"] for t in ids for st in fw.updates(t)]
    assert len(uuids) == len(set(uuids)), uuids


def test_message_relay_accepted(cluster, fw):
    fw.launch_one("msg", shell="sleep 600")
    st = fw.wait_update("msg", "TASK_RUNNING")
    r = fw.message(st["agent_id"]["value"], "msg", b"hello executor", check=False)
    assert r.status == 202, r
    # Best effort: the task is unaffected.
    m = fw.mark()
    fw.reconcile(["msg"])
    assert fw.wait_update("msg", "TASK_RUNNING", start=m)["reason"] == "REASON_RECONCILIATION"


def test_agent_state_lists_running_task(cluster, fw):
    fw.launch_one("live", shell="sleep 600", cpus=0.5, mem=100)
    fw.wait_update("live", "TASK_RUNNING")
    a = cluster.agents[0]
    for path in ("/state", "/slave(1)/state"):
        st = get_json(a.url, path)
        ex = agent_executor(st, fw.framework_id, "live")
        assert ex, "%s lacks executor 'live'" % path
        assert os.path.isdir(ex["directory"]), ex["directory"]
        assert [t["state"] for t in ex["tasks"] if t["id"] == "live"] == ["TASK_RUNNING"]
        harness_flat = ex["resources"]
        assert harness_flat.get("cpus", 0) >= 0.5 - 1e-9, harness_flat


# ------------------------------------------------------------------ /files


@pytest.fixture
def running_sandbox(cluster, fw):
    """A running task that wrote two lines to stdout; returns its dir."""
    fw.launch_one("files", shell="printf 'line1\\nline2\\n'; sleep 600")
    fw.wait_update("files", "TASK_RUNNING")
    d = executor_dir(cluster, fw, "files")
    wait_until(lambda: "line2" in open(os.path.join(d, "stdout")).read(), 10,
               what="stdout written")
    return d


def test_files_browse(cluster, running_sandbox):
    status, listing = files_browse(cluster.agents[0].url, running_sandbox)
    assert status == 200, listing
    by = {os.path.basename(e["path"]): e for e in listing}
    assert "stdout" in by and "stderr" in by, sorted(by)
    e = by["stdout"]
    for key in ("path", "nlink", "size", "mtime", "mode", "uid", "gid"):
        assert key in e, "browse entry lacks %r (§7.6): %r" % (key, e)
    assert e["mode"].startswith("-") and len(e["mode"]) == 10, e["mode"]
    assert e["size"] == os.path.getsize(os.path.join(running_sandbox, "stdout"))


def test_files_read_size_probe_and_ranges(cluster, running_sandbox):
    url = cluster.agents[0].url
    path = running_sandbox + "/stdout"
    size = os.path.getsize(path)
    status, data = files_read(url, path, offset=-1)
    assert status == 200, data
    assert data["data"] == "" and data["offset"] == size, \
        "offset=-1 answers no data and the file size (§7.6): %r (size %d)" % (data, size)
    content = open(path).read()
    start = content.index("line1")
    status, data = files_read(url, path, offset=start, length=5)
    assert status == 200 and data == {"data": "line1", "offset": start}, data
    status, data = files_read(url, path, offset=size + 100)
    assert status == 200 and data["data"] == "", data


def test_files_read_virtual_path(cluster, fw, running_sandbox):
    url = cluster.agents[0].url
    vpath = "/frameworks/%s/executors/files/runs/latest/stdout" % fw.framework_id
    status, data = files_read(url, vpath, offset=0)
    assert status == 200, "virtual sandbox path (§7.6) -> %d %r" % (status, data)
    assert "line1" in data["data"]


def test_files_download(cluster, running_sandbox):
    q = urllib.parse.urlencode({"path": running_sandbox + "/stdout"})
    r = get(cluster.agents[0].url, "/files/download?" + q)
    assert r.status == 200, r
    assert b"line1\nline2\n" in r.body
    assert "attachment" in (r.header("Content-Disposition") or ""), dict(r.headers)


@pytest.mark.parametrize("bad", ["/etc/passwd", "{dir}/../../../../../../etc/passwd",
                                 "{dir}/../..", "/", "/proc/self/environ"])
def test_files_outside_sandbox_refused(cluster, running_sandbox, bad):
    path = bad.format(dir=running_sandbox)
    url = cluster.agents[0].url
    status, data = files_read(url, path, offset=0)
    assert status in (400, 403, 404), "reading %r must be refused: %d %r" % (path, status, data)
    status, data = files_browse(url, path)
    assert status in (400, 403, 404), "browsing %r must be refused: %d %r" % (path, status, data)
    q = urllib.parse.urlencode({"path": path})
    assert get(url, "/files/download?" + q).status in (400, 403, 404)


def test_files_symlink_escape_refused(cluster, fw):
    fw.launch_one("symlink", shell="ln -s /etc/passwd leak; ln -s / root; sleep 600")
    fw.wait_update("symlink", "TASK_RUNNING")
    d = executor_dir(cluster, fw, "symlink")
    wait_until(lambda: os.path.islink(os.path.join(d, "root")), 10, what="symlinks created")
    url = cluster.agents[0].url
    for p in (d + "/leak", d + "/root/etc/passwd"):
        status, data = files_read(url, p, offset=0)
        assert status in (400, 403, 404), \
            "a symlink out of the sandbox must not expose %s: %d %r" % (p, status, data)


def test_files_bad_requests(cluster, running_sandbox):
    url = cluster.agents[0].url
    assert get(url, "/files/read").status == 400, "missing path -> 400 (§7.6)"
    assert get(url, "/files/browse").status == 400
    status, _ = files_read(url, running_sandbox, offset=0)
    assert status == 400, "reading a directory -> 400 (§7.6)"
    status, _ = files_read(url, running_sandbox + "/stdout", offset=-5)
    assert status == 400, "negative offset other than -1 -> 400"
    status, _ = files_read(url, running_sandbox + "/stdout", offset=0, length=-7)
    assert status == 400
    q = urllib.parse.urlencode({"path": running_sandbox + "/stdout", "offset": "abc"})
    assert get(url, "/files/read?" + q).status == 400
    status, _ = files_read(url, running_sandbox + "/nope", offset=0)
    assert status == 404
    assert get(url, "/health").status == 200
