"""`agora local`: a whole cluster on this machine. It starts, serves /health
with its agents registered, runs work, and stops cleanly (exit 0, no
process left behind) on SIGINT."""

import os
import signal
import socket
import subprocess
import time

import pytest

import harness
from harness import binary, descendants, get, get_json, pid_alive, sanitizer_env, wait_until


def sockets_of(pid):
    """The socket inodes a process has open."""
    out = set()
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for name in names:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Local:
    def __init__(self, tmp_path, *args):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.work_dir = str(tmp_path / "local")
        self.out_path = str(tmp_path / "local.stdout")
        self.err_path = str(tmp_path / "local.stderr")
        argv = [binary("agora"), "local", "--port=%d" % self.port,
                "--work_dir=%s" % self.work_dir] + list(args)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=sanitizer_env(), start_new_session=True)
        self.children = {}

    def output(self):
        return open(self.out_path).read() + open(self.err_path).read()

    def logs(self):
        text = ""
        if os.path.isdir(self.work_dir):
            for name in sorted(os.listdir(self.work_dir)):
                if name.endswith(".log"):
                    with open(os.path.join(self.work_dir, name), errors="replace") as f:
                        text += "--- %s\n%s\n" % (name, "".join(f.readlines()[-20:]))
        return text

    def explain(self):
        return "agora local (%s):\n%s\n%s" % (self.proc.poll(), self.output()[-3000:],
                                              self.logs())

    def wait_up(self, agents):
        def up():
            assert self.proc.poll() is None, "agora local exited early\n" + self.explain()
            if get(self.url, "/health").status != 200:
                return False
            slaves = get_json(self.url, "/master/slaves")["slaves"]
            return len([s for s in slaves if s.get("active")]) == agents

        wait_until(up, 60, what="agora local's master with %d agents" % agents)
        self.children = descendants(self.proc.pid)

    def interrupt(self, timeout=20):
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("agora local did not stop %ds after SIGINT\n%s" %
                                 (timeout, self.explain()))

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        harness.kill_recorded(self.children)
        harness.kill_recorded(harness.pids_with_cwd_under(self.work_dir)
                              if os.path.isdir(self.work_dir) else {})


@pytest.fixture
def local_factory(tmp_path):
    made = []

    def make(*args):
        d = tmp_path / ("l%d" % len(made))
        d.mkdir()
        loc = Local(d, *args)
        made.append(loc)
        return loc

    yield make
    for loc in made:
        loc.cleanup()


def check_clean_stop(loc, rc):
    assert rc == 0, "agora local exited %s on SIGINT\n%s" % (rc, loc.explain())
    left = [p for p in loc.children if pid_alive(p)]
    assert not left, "processes left after agora local stopped: %s" % left
    assert get_fails(loc.url), "the master still answers after agora local stopped"
    for text in (loc.output(), loc.logs()):
        m = harness.SANITIZER_RE.search(text)
        assert not m, "sanitizer report:\n" + text[max(0, m.start() - 200):m.start() + 3000]


def get_fails(url):
    try:
        get(url, "/health", timeout=2)
    except OSError:
        return True
    return False


def test_local_no_example_serves_and_stops(local_factory):
    loc = local_factory("--no-example", "--agents=1")
    loc.wait_up(1)
    assert len(loc.children) >= 2, "master and agent are children of agora local: %s" % \
        loc.children
    # None of agora local's sockets (its startup polls' kept-alive
    # connections) went along into the children: a copy held there keeps a
    # closed socket in agora local's epoll set, which then spins its loop.
    mine = sockets_of(loc.proc.pid)
    for pid in loc.children:
        shared = mine & sockets_of(pid)
        assert not shared, "child %d holds agora local's sockets %s" % (pid, shared)
    # It is a working cluster.
    p = subprocess.run([binary("agora"), "run", "--master=127.0.0.1:%d" % loc.port, "--",
                        "echo", "local-hello"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60, env=sanitizer_env())
    assert p.returncode == 0 and "local-hello" in p.stdout, (p.stdout, p.stderr)
    t0 = time.monotonic()
    rc = loc.interrupt()
    assert time.monotonic() - t0 < 15
    check_clean_stop(loc, rc)


def test_local_with_example(local_factory):
    loc = local_factory("--agents=2")
    loc.wait_up(2)

    def example_done():
        assert loc.proc.poll() is None, loc.explain()
        data = get_json(loc.url, "/master/frameworks")
        done = 0
        for f in data["frameworks"] + data["completed_frameworks"]:
            done += len([t for t in f.get("completed_tasks", [])
                         if t["state"] == "TASK_FINISHED"])
        # The master sees the tasks finish before the example prints its
        # summary: wait for both, or SIGINT can cut the summary off.
        return done >= 3 and "Example done" in loc.output()

    wait_until(example_done, 60, what="the example's 3 tasks to finish")
    check_clean_stop(loc, loc.interrupt())
    assert "3 of 3 tasks finished" in loc.output(), loc.explain()


def test_local_bad_arguments(tmp_path):
    for args in (["--agents=-1"], ["--port=70000"], ["--bogus"]):
        p = subprocess.run([binary("agora"), "local"] + args, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30, env=sanitizer_env())
        assert p.returncode != 0 and p.stderr.strip(), (args, p.returncode, p.stderr)
