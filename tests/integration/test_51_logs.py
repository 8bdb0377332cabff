"""Sandboxes and logs: stdout/stderr rotated by size (--container_logger_*),
/files/* refusing paths outside the sandboxes ("..", symlinks), the
/files/follow stream of a running task, and `agora logs TASK [-f]`."""

import http.client
import os
import subprocess
import threading
import time
import urllib.parse

import pytest

import harness
from harness import binary, get_json, sanitizer_env, wait_until
from mesos_v1 import task_info

TERMINAL = ["TASK_FINISHED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED"]
MAX_SIZE = 4096
MAX_FILES = 3


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    yield from harness.module_cluster(
        tmp_path_factory, "logs",
        agent_flags={"container_logger_max_size": "4KB",
                     "container_logger_max_files": str(MAX_FILES)})


@pytest.fixture
def fw(mc, scheduler_factory):
    return scheduler_factory(mc.url, name="logs-fw").subscribe()


def launch(fw, task_id, shell):
    offer = fw.take_offer()
    fw.launch(offer, [task_info(offer, task_id, shell=shell)], refuse_seconds=0)


def sandbox_of(mc, fw, task_id):
    agent = mc.agents[0]

    def find():
        st = get_json(agent.url, "/state")
        for key in ("frameworks", "completed_frameworks"):
            for f in st.get(key, []):
                if f.get("id") != fw.framework_id:
                    continue
                for ek in ("executors", "completed_executors"):
                    for ex in f.get(ek, []):
                        if ex.get("id") == task_id:
                            return ex.get("directory")
        return None

    return wait_until(find, 10, what="sandbox of %s" % task_id)


def files_get(agent_url, endpoint, path, **params):
    q = dict(params)
    q["path"] = path
    host, port = harness.split_url(agent_url)
    conn = http.client.HTTPConnection(host, port, timeout=15)
    try:
        conn.request("GET", "/files/%s?%s" % (endpoint, urllib.parse.urlencode(q)))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_rotation_keeps_configured_files(mc, fw):
    # About 120 KB of numbered lines: many rotations of 4 KB files.
    launch(fw, "chatty", "i=0; while [ $i -lt 4000 ]; do echo \"line $i of the chatty task\"; "
                         "i=$((i+1)); done")
    fin = fw.wait_update("chatty", TERMINAL, timeout=60)
    assert fin["state"] == "TASK_FINISHED", fin
    d = sandbox_of(mc, fw, "chatty")

    def settled():
        names = sorted(n for n in os.listdir(d) if n.startswith("stdout"))
        with open(os.path.join(d, "stdout")) as f:
            tail = f.read()
        return names if "line 3999 of" in tail or names == [] else None

    # The logger writes the last lines right after the task ends.
    names = wait_until(settled, 10, what="the last line in stdout")
    assert names == ["stdout", "stdout.1", "stdout.2"], names
    for n in ("stdout.1", "stdout.2"):
        assert os.path.getsize(os.path.join(d, n)) == MAX_SIZE, n
    assert 0 < os.path.getsize(os.path.join(d, "stdout")) <= MAX_SIZE
    # Contiguous: stdout.2, stdout.1, stdout hold the newest output in order.
    text = b"".join(open(os.path.join(d, n), "rb").read()
                    for n in ("stdout.2", "stdout.1", "stdout")).decode()
    lines = [l for l in text.split("\n") if l.startswith("line ")]
    numbers = [int(l.split()[1]) for l in lines]
    assert numbers == list(range(numbers[0], 4000)), numbers[:5]
    assert numbers[0] > 3000, "old output was kept: %d" % numbers[0]
    # stderr has its own (small) files.
    assert os.path.exists(os.path.join(d, "stderr"))
    assert not os.path.exists(os.path.join(d, "stdout.%d" % MAX_FILES))
    # `agora logs` prints the rotated files, oldest first, then the live one.
    p = agora(["logs", "--master=%s:%d" % (mc.master.ip, mc.master.port), "chatty"])
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout == text, (len(p.stdout), len(text), p.stdout[:200], p.stderr)


def test_files_refuse_paths_outside_sandboxes(mc, fw, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top-secret\n")
    launch(fw, "links", "echo inside > mine.txt; ln -s %s out-file; ln -s / out-dir; "
                        "ln -s mine.txt in-link; sleep 60" % secret)
    fw.wait_update("links", ["TASK_RUNNING"], timeout=30)
    d = sandbox_of(mc, fw, "links")
    url = mc.agents[0].url
    wait_until(lambda: os.path.lexists(os.path.join(d, "in-link")), 10, what="links made")

    status, body = files_get(url, "read", d + "/mine.txt", offset=0)
    assert status == 200 and b"inside" in body, (status, body)
    status, body = files_get(url, "read", d + "/in-link", offset=0)
    assert status == 200 and b"inside" in body, (status, body)

    for endpoint in ("read", "browse", "download", "follow"):
        for bad in (d + "/out-file", d + "/out-dir", d + "/out-dir/etc",
                    d + "/../../../../../../../../etc/passwd", d + "/..", str(secret),
                    os.path.join(mc.agents[0].work_dir, "fetch-cache")):
            status, body = files_get(url, endpoint, bad, offset=0)
            assert status in (403, 404), (endpoint, bad, status, body[:200])
            assert b"top-secret" not in body and b"root:" not in body, (endpoint, bad)
        status, body = files_get(url, endpoint, d + "/out-file", offset=0)
        assert status == 403, (endpoint, status, body)
        assert b"outside the sandboxes" in body, body
    fw.kill("links")
    fw.wait_update("links", TERMINAL, timeout=30)


def read_chunked_stream(agent_url, path, out, done, **params):
    """Reads /files/follow into out (list of (time, bytes)) until it ends."""
    q = dict(params)
    q["path"] = path
    host, port = harness.split_url(agent_url)
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("GET", "/files/follow?" + urllib.parse.urlencode(q))
        resp = conn.getresponse()
        out.append((time.monotonic(), ("status", resp.status)))
        while True:
            data = resp.read1(65536)
            if not data:
                break
            out.append((time.monotonic(), data))
    finally:
        conn.close()
        done.set()


def test_follow_streams_a_running_task(mc, fw):
    launch(fw, "ticker", "for i in 1 2 3 4 5 6 7 8; do echo tick-$i; sleep 0.4; done")
    fw.wait_update("ticker", ["TASK_RUNNING"], timeout=30)
    d = sandbox_of(mc, fw, "ticker")
    got, done = [], threading.Event()
    t = threading.Thread(target=read_chunked_stream,
                         args=(mc.agents[0].url, d + "/stdout", got, done),
                         kwargs={"offset": 0, "until_exit": 1}, daemon=True)
    t.start()

    def seen(word):
        return word in b"".join(x for _, x in got if isinstance(x, bytes)).decode()

    wait_until(lambda: seen("tick-2"), 15, what="tick-2 on the follow stream")
    # It arrived while the task was still running.
    assert not any(s.get("state") in TERMINAL for s in fw.updates("ticker")), \
        fw.states("ticker")
    fin = fw.wait_update("ticker", TERMINAL, timeout=30)
    assert fin["state"] == "TASK_FINISHED", fin
    # until_exit: the stream ends by itself once the executor is gone.
    assert done.wait(15), "the follow stream did not end after the task"
    assert got[0][1] == ("status", 200), got[0]
    text = b"".join(x for _, x in got if isinstance(x, bytes)).decode()
    for i in range(1, 9):
        assert "tick-%d\n" % i in text, text
    assert text.count("tick-1\n") == 1, text


def test_follow_goes_across_rotations(mc, fw):
    # About 45 KB in bursts: the 4 KB stdout rotates a dozen times while
    # it is followed; the stream must carry every line once, in order.
    launch(fw, "rotating", "i=0; while [ $i -lt 4000 ]; do echo \"rot $i\"; i=$((i+1)); "
                           "if [ $((i % 400)) -eq 0 ]; then sleep 0.3; fi; done")
    fw.wait_update("rotating", ["TASK_RUNNING", "TASK_FINISHED"], timeout=30)
    d = sandbox_of(mc, fw, "rotating")
    got, done = [], threading.Event()
    read_chunked_stream(mc.agents[0].url, d + "/stdout", got, done, offset=0, until_exit=1)
    assert got[0][1] == ("status", 200), got[0]
    text = b"".join(x for _, x in got if isinstance(x, bytes)).decode()
    numbers = [int(l.split()[1]) for l in text.split("\n") if l.startswith("rot ")]
    # The stream starts at what the live file held when it was opened.
    assert numbers, text[:200]
    # Opened well before the end (the task takes 3 s): rotations were crossed.
    assert numbers[0] < 3000, numbers[0]
    assert numbers == list(range(numbers[0], 4000)), \
        "gap or duplicate near %s" % next((a for a, b in zip(numbers, numbers[1:]) if b != a + 1),
                                          None)


def test_follow_bad_requests(mc, fw):
    launch(fw, "quiet", "echo q")
    fw.wait_update("quiet", TERMINAL, timeout=30)
    d = sandbox_of(mc, fw, "quiet")
    url = mc.agents[0].url
    status, body = files_get(url, "follow", d + "/stdout", offset="abc")
    assert status == 400 and b"offset" in body, (status, body)
    status, body = files_get(url, "follow", d + "/stdout", until_exit="maybe")
    assert status == 400 and b"until_exit" in body, (status, body)
    status, body = files_get(url, "follow", d, offset=0)
    assert status == 400 and b"directory" in body, (status, body)
    status, body = files_get(url, "follow", d + "/no-such-file", offset=0)
    assert status == 404, (status, body)
    # offset=-1 starts at the end: a finished task's stream is then empty.
    status, body = files_get(url, "follow", d + "/stdout", offset=-1, until_exit=1)
    assert status == 200 and body == b"", (status, body)


def agora(args, timeout=60):
    p = subprocess.run([binary("agora")] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, env=sanitizer_env())
    assert not harness.SANITIZER_RE.search(p.stderr), p.stderr[-3000:]
    return p


def test_agora_logs_prints_a_finished_task(mc, fw):
    launch(fw, "cli-logs", "echo cli-logs-out; echo cli-logs-err >&2")
    fin = fw.wait_update("cli-logs", TERMINAL, timeout=30)
    assert fin["state"] == "TASK_FINISHED", fin
    master = "--master=%s:%d" % (mc.master.ip, mc.master.port)
    d = sandbox_of(mc, fw, "cli-logs")
    wait_until(lambda: "cli-logs-out" in open(os.path.join(d, "stdout")).read(), 10,
               what="the task's output in its sandbox")

    p = agora(["logs", master, "cli-logs"])
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "cli-logs-out" in p.stdout and "cli-logs-err" not in p.stdout, p.stdout

    p = agora(["logs", master, "--stderr", "cli-logs"])
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "cli-logs-err" in p.stdout, p.stdout

    # -f on a finished task prints what there is and ends.
    p = agora(["logs", master, "-f", "cli-logs"], timeout=30)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "cli-logs-out" in p.stdout, p.stdout

    p = agora(["logs", master, "no-such-task"])
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "no task 'no-such-task'" in p.stderr, p.stderr
    p = agora(["logs", master])
    assert p.returncode == 2 and "which task" in p.stderr, p.stderr


def test_agora_logs_follow_a_running_task(mc, fw):
    launch(fw, "cli-follow", "for i in 1 2 3 4 5; do echo live-$i; sleep 0.3; done")
    fw.wait_update("cli-follow", ["TASK_RUNNING"], timeout=30)
    master = "--master=%s:%d" % (mc.master.ip, mc.master.port)
    p = agora(["logs", master, "-f", "cli-follow"], timeout=40)
    assert p.returncode == 0, (p.stdout, p.stderr)
    for i in range(1, 6):
        assert "live-%d" % i in p.stdout, p.stdout


def _loggers_in(directory):
    """pids of agora-logger processes working in directory."""
    out = []
    for pid in harness.pids_with_cwd_under(directory):
        try:
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() == "agora-logger":
                    out.append(pid)
        except OSError:
            continue
    return out


def test_one_logger_keeps_both_streams(mc, fw):
    """One agora-logger per container writes stdout and stderr, each rotated
    on its own, and ends when the container's last writer is gone."""
    launch(fw, "both", "i=0; while [ $i -lt 2000 ]; do echo \"out $i\"; echo \"err $i\" >&2; "
                       "i=$((i+1)); done; touch wrote; exec sleep 600")
    fw.wait_update("both", ["TASK_RUNNING"], timeout=30)
    d = sandbox_of(mc, fw, "both")
    wait_until(lambda: os.path.exists(os.path.join(d, "wrote")), 30, what="the task's output")
    loggers = wait_until(lambda: _loggers_in(d) or None, 10, what="the logger of the sandbox")
    assert len(loggers) == 1, "one logger for both streams: %s" % loggers

    def last_line(name, want):
        with open(os.path.join(d, name)) as f:
            return want in f.read()
    wait_until(lambda: last_line("stdout", "out 1999") and last_line("stderr", "err 1999"), 10,
               what="the last lines of both streams")
    for name in ("stdout", "stderr"):
        names = sorted(n for n in os.listdir(d) if n == name or n.startswith(name + "."))
        assert names == [name, name + ".1", name + ".2"], names
        other = "err " if name == "stdout" else "out "
        with open(os.path.join(d, name)) as f:
            assert not any(l.startswith(other) for l in f.read().splitlines()), name
    fw.kill("both")
    fw.wait_update("both", TERMINAL, timeout=30)
    wait_until(lambda: not any(harness.pid_alive(p) for p in loggers), 15,
               what="the logger to exit once the container is gone")
