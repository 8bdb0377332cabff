"""Real-process test harness: starts agora-master and agora-agent on
127.0.0.1 with free ports, waits until they serve, keeps their stderr in
files under the test's tmp dir, dumps the log tails when a test fails, and
stops everything (and every process the daemons started) at teardown.

Binaries come from $AGORA_BUILD/bin (set by ctest). Only the standard
library and pytest are used.
"""

import atexit
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse

import pytest

# Daemons and schedulers alive right now; conftest.py prints their state
# when a test fails.
LIVE_DAEMONS = []
LIVE_SCHEDULERS = []

# How long to wait for a daemon to print its listening line / serve /health.
START_TIMEOUT = float(os.environ.get("AGORA_IT_START_TIMEOUT", "20"))

LISTEN_RE = re.compile(r"(\w+) listening on http://([0-9.]+):([0-9]+)")
SANITIZER_RE = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"ERROR: UndefinedBehaviorSanitizer|AddressSanitizer:DEADLYSIGNAL")


# --------------------------------------------------------------------------
# Binaries


def build_dir():
    build = os.environ.get("AGORA_BUILD")
    if not build:
        pytest.fail("AGORA_BUILD is not set: point it at a build directory "
                    "(ctest sets it; by hand: AGORA_BUILD=/work/main/build-it)")
    return build


def binary(name):
    path = os.path.join(build_dir(), "bin", name)
    if not os.access(path, os.X_OK):
        pytest.fail("binary %s is missing (not built?)" % path)
    return path


def sanitizer_env(extra=None):
    """Environment for a child: the test's own plus sanitizer options that
    make reports land in the captured stderr and keep symbolization quick."""
    env = dict(os.environ)
    # Slow unwinding on malloc gives leak reports whole stacks through
    # libraries built without frame pointers (jansson, libevent); it costs
    # about 20% of the suite's time.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:fast_unwind_on_malloc=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------
# Polling


def wait_until(fn, timeout=10.0, interval=0.05, what=None):
    """Calls fn until it returns a truthy value and returns that value;
    raises AssertionError naming `what` (and fn's last result or exception)
    when the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" %
                                 (timeout, what or getattr(fn, "__name__", "condition"),
                                  _short(last)))
        time.sleep(interval)


def _short(value, limit=600):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------
# HTTP


class Response:
    """A whole HTTP response: status, headers (case-insensitive), body."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name, default)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError as e:
            raise AssertionError("response is not JSON (%s): %r" % (e, self.body[:500]))

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:300])


def split_url(url):
    """'http://127.0.0.1:5050' -> ('127.0.0.1', 5050)."""
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname, parsed.port


def request(method, url, path="", body=None, headers=None, timeout=15.0):
    """One request on its own connection. body may be bytes, str, or a JSON
    value (dict/list), in which case it is dumped and Content-Type set to
    application/json unless headers already name one (pass
    headers={"Content-Type": None} to send no Content-Type at all)."""
    host, port = split_url(url)
    hdrs = {}
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs["Content-Type"] = "application/json"
    if isinstance(body, str):
        body = body.encode("utf-8")
    for k, v in (headers or {}).items():
        for existing in list(hdrs):
            if existing.lower() == k.lower():
                del hdrs[existing]
        if v is not None:
            hdrs[k] = v
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path or "/", body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.reason, resp.headers, data)
    finally:
        conn.close()


def get(url, path, **kw):
    return request("GET", url, path, **kw)


def get_json(url, path, expect=200, **kw):
    """GET and decode JSON; asserts the status is `expect`."""
    resp = get(url, path, **kw)
    assert resp.status == expect, "GET %s%s -> %d %r" % (url, path, resp.status, resp.body[:500])
    return resp.json()


def post_json(url, path, obj, headers=None, **kw):
    """POST a JSON value (or raw bytes/str with Content-Type application/json)."""
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    if not isinstance(obj, (bytes, str)):
        obj = json.dumps(obj)
    return request("POST", url, path, body=obj, headers=hdrs, **kw)


def post_oversized(url, path, size, content_type="application/json", timeout=15.0):
    """POSTs a body of `size` bytes, watching for an early answer (a server
    that enforces a body limit may answer 413 before reading the body).
    Returns the Response, or None when the connection was reset with no
    answer at all."""
    host, port = split_url(url)
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        head = ("POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
                "Content-Length: %d\r\n\r\n" % (path, host, port, content_type, size))
        sock.sendall(head.encode())
        chunk = b"[" + b" " * 65534 + b"]"
        sent = 0
        import select
        try:
            while sent < size:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                n = min(len(chunk), size - sent)
                sock.sendall(chunk[:n])
                sent += n
        except OSError:
            pass
        raw = b""
        try:
            while True:
                part = sock.recv(65536)
                if not part:
                    break
                raw += part
                if b"\r\n\r\n" in raw:
                    head_end = raw.index(b"\r\n\r\n")
                    m = re.search(rb"(?i)content-length:\s*(\d+)", raw[:head_end])
                    if m and len(raw) >= head_end + 4 + int(m.group(1)):
                        break
                    if not m and b"chunked" not in raw[:head_end].lower():
                        # No length: read until close (bounded by timeout).
                        continue
        except OSError:
            pass
        if not raw:
            return None
        head_text, _, body = raw.partition(b"\r\n\r\n")
        lines = head_text.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        msg = http.client.HTTPMessage()
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                msg[k.strip()] = v.strip()
        return Response(status, "", msg, body)
    finally:
        sock.close()


# --------------------------------------------------------------------------
# Processes


def _proc_stat(pid):
    """(ppid, starttime) of pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return int(rest[1]), int(rest[19])


def _all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root):
    """{pid: starttime} of every live descendant of root."""
    children = {}
    stats = {}
    for pid in _all_pids():
        st = _proc_stat(pid)
        if st:
            stats[pid] = st
            children.setdefault(st[0], []).append(pid)
    out = {}
    todo = [root]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            if c not in out:
                out[c] = stats[c][1]
                todo.append(c)
    return out


def pids_with_cwd_under(directory):
    """{pid: starttime} of processes whose cwd lies under directory (the
    tasks an agent started in its sandboxes, even if re-parented)."""
    directory = os.path.realpath(directory)
    out = {}
    for pid in _all_pids():
        try:
            cwd = os.readlink("/proc/%d/cwd" % pid)
        except OSError:
            continue
        if cwd == directory or cwd.startswith(directory + "/"):
            st = _proc_stat(pid)
            if st:
                out[pid] = st[1]
    return out


# A task cannot learn its host PID inside a PID namespace (the default
# isolation as root): it writes its PID as it sees it and its namespace,
# and host_pid() finds the host PID of that process.
SHELL_PID = "echo $$ $(readlink /proc/self/ns/pid)"
SHELL_BG_PID = "echo $! $(readlink /proc/self/ns/pid)"


def _nspid(pid):
    """The NSpid line of pid (its PID in each namespace, outermost first)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    return []


def host_pid(report):
    """The host PID of the process a task described as "PID pid:[INODE]"
    (SHELL_PID), or None if no such process lives. A bare "PID" is taken as
    a host PID."""
    parts = report.split()
    inner = int(parts[0])
    if len(parts) < 2 or parts[1] == os.readlink("/proc/self/ns/pid"):
        return inner
    for pid in _all_pids():
        try:
            if os.readlink("/proc/%d/ns/pid" % pid) == parts[1] and _nspid(pid)[-1] == inner:
                return pid
        except (OSError, IndexError):
            continue
    return None


def pid_alive(pid):
    st = _proc_stat(pid)
    if st is None:
        return False
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return True


def kill_recorded(pids):
    """SIGKILLs the recorded {pid: starttime} that still are the same
    processes (a pid reused by someone else is left alone)."""
    for pid, start in pids.items():
        st = _proc_stat(pid)
        if st and st[1] == start:
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Daemon:
    """One daemon process whose stderr/stdout go to files in log_dir."""

    # How stop() asks the daemon to stop (an agent's SIGTERM leaves the
    # executors of checkpointing frameworks running: see Agent).
    stop_signal = signal.SIGTERM

    def __init__(self, name, argv, log_dir, env=None, track_dir=None):
        self.name = name
        self.argv = list(argv)
        self.log_dir = log_dir
        self.env = sanitizer_env(env)
        self.track_dir = track_dir
        self.proc = None
        self.ip = None
        self.port = None
        self.url = None
        self.stderr_path = os.path.join(log_dir, name + ".stderr")
        self.stdout_path = os.path.join(log_dir, name + ".stdout")
        self.stopped_signal = False
        self.exit_code = None
        self.incarnation = 0

    def start(self, timeout=START_TIMEOUT):
        self.incarnation += 1
        mode = "ab" if self.incarnation > 1 else "wb"
        err = open(self.stderr_path, mode)
        out = open(self.stdout_path, mode)
        if self.incarnation > 1:
            err.write(b"\n---- restart #%d ----\n" % self.incarnation)
            err.flush()
        self._err_offset = err.tell()
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=self.env, start_new_session=True)
        finally:
            err.close()
            out.close()
        LIVE_DAEMONS.append(self)
        m = wait_until(self._listening_line, timeout,
                       what="%s to print its listening line" % self.name)
        self.ip, self.port = m.group(2), int(m.group(3))
        self.url = "http://%s:%d" % (self.ip, self.port)
        return self

    def _listening_line(self):
        text = self.read_stderr(self._err_offset)
        m = LISTEN_RE.search(text)
        if m:
            return m
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with %s before listening; stderr:\n%s" %
                                 (self.name, self.proc.returncode, self.tail(40)))
        return None

    def read_stderr(self, offset=0):
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, lines=60):
        text = self.read_stderr()
        return "\n".join(text.splitlines()[-lines:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.stopped_signal = True

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.stopped_signal = False

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=10.0, kill_children=True, sig=None):
        """SIGCONT + `sig` (default: stop_signal), then SIGKILL after
        timeout; afterwards kills whatever the daemon started (executors,
        tasks). Returns the exit code (negative = signal)."""
        sig = self.stop_signal if sig is None else sig
        if self.proc is None:
            return self.exit_code
        started = descendants(self.proc.pid) if kill_children else {}
        if self.track_dir and kill_children:
            started.update(pids_with_cwd_under(self.track_dir))
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
                os.kill(self.proc.pid, sig)
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with open(self.stderr_path, "ab") as f:
                    f.write(b"\n[harness] no exit %.1fs after %s: SIGKILL\n" %
                            (timeout, signal.Signals(sig).name.encode()))
                self.proc.kill()
                self.proc.wait(10)
        if kill_children:
            # Children may have been forked during shutdown: look again.
            if self.track_dir:
                started.update(pids_with_cwd_under(self.track_dir))
            kill_recorded(started)
        self.exit_code = self.proc.returncode
        if self in LIVE_DAEMONS:
            LIVE_DAEMONS.remove(self)
        return self.exit_code

    def sanitizer_report(self):
        text = self.read_stderr()
        m = SANITIZER_RE.search(text)
        if not m:
            return None
        start = text.rfind("\n", 0, max(0, m.start() - 200)) + 1
        return text[start:start + 4000]


@atexit.register
def _stop_leftovers():
    """Whatever a crashed or interrupted run left behind."""
    for d in list(LIVE_DAEMONS):
        try:
            d.stop(timeout=3)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


# --------------------------------------------------------------------------
# Cluster


DEFAULT_RESOURCES = "cpus:2;mem:1024;disk:1024;ports:[31000-31099]"


def flag_args(flags):
    out = []
    for k, v in flags.items():
        if v is None:
            continue
        if v is True:
            out.append("--%s" % k)
        elif v is False:
            out.append("--no-%s" % k)
        else:
            out.append("--%s=%s" % (k, v))
    return out


class Agent(Daemon):
    """An agent daemon; agent_id is known once it registered. Stopped with
    SIGUSR1, its full shutdown (every executor killed, checkpoint
    forgotten): its SIGTERM would leave executors running."""

    stop_signal = signal.SIGUSR1

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.agent_id = None
        self.work_dir = None


class Cluster:
    """One master and N agents, each with its own work dir under base_dir."""

    def __init__(self, base_dir, master_flags=None, name="c"):
        self.base_dir = str(base_dir)
        self.name = name
        self.master_flags = {
            "ip": "127.0.0.1",
            "port": 0,
            "work_dir": None,
            "allocation_interval": "0.1secs",
        }
        self.master_flags.update(master_flags or {})
        self.master = None
        self.agents = []
        self._stopped = False
        os.makedirs(self.base_dir, exist_ok=True)

    # ---- master

    def start_master(self, **extra):
        flags = dict(self.master_flags)
        flags.update(extra)
        if not flags.get("work_dir"):
            flags["work_dir"] = os.path.join(self.base_dir, "master-work")
        os.makedirs(flags["work_dir"], exist_ok=True)
        self.master = Daemon("master", [binary("agora-master")] + flag_args(flags),
                             self.base_dir)
        self.master.start()
        wait_until(lambda: get(self.master.url, "/health").status == 200, START_TIMEOUT,
                   what="master /health to answer 200")
        return self.master

    @property
    def url(self):
        return self.master.url

    # ---- agents

    def add_agent(self, resources=DEFAULT_RESOURCES, attributes=None, wait=True, **extra):
        idx = len(self.agents)
        work_dir = os.path.join(self.base_dir, "agent%d-work" % idx)
        os.makedirs(work_dir, exist_ok=True)
        flags = {
            "master": "%s:%d" % (self.master.ip, self.master.port),
            "ip": "127.0.0.1",
            "port": 0,
            "work_dir": work_dir,
            "resources": resources,
            "attributes": attributes,
            "launcher_dir": os.path.join(build_dir(), "bin"),
            "executor_shutdown_grace_period": "2secs",
        }
        flags.update(extra)
        agent = Agent("agent%d" % idx, [binary("agora-agent")] + flag_args(flags),
                      self.base_dir, track_dir=work_dir)
        agent.work_dir = work_dir
        self.agents.append(agent)
        agent.start()
        wait_until(lambda: get(agent.url, "/health").status == 200, START_TIMEOUT,
                   what="%s /health to answer 200" % agent.name)
        if wait:
            self.wait_registered(agent)
        return agent

    def slaves(self):
        return get_json(self.master.url, "/master/slaves").get("slaves", [])

    def find_slave(self, agent):
        for s in self.slaves():
            pid = s.get("pid", "")
            if s.get("port") == agent.port or pid.endswith(":%d" % agent.port):
                return s
        return None

    def wait_registered(self, agent, timeout=START_TIMEOUT):
        def registered():
            s = self.find_slave(agent)
            return s if s and s.get("active", True) else None

        s = wait_until(registered, timeout, what="%s in /master/slaves" % agent.name)
        agent.agent_id = s["id"]
        return s

    def wait_agents(self, n, timeout=START_TIMEOUT):
        return wait_until(lambda: len([s for s in self.slaves() if s.get("active", True)]) >= n,
                          timeout, what="%d active agents" % n)

    def agent_by_id(self, agent_id):
        for a in self.agents:
            if a.agent_id == agent_id:
                return a
        raise AssertionError("no agent with id %s (have %s)" %
                             (agent_id, [a.agent_id for a in self.agents]))

    # ---- state

    def state(self):
        return get_json(self.master.url, "/master/state")

    def framework(self, framework_id):
        """The framework object from /master/frameworks with its list name
        ('frameworks' or 'completed_frameworks'), or (None, None)."""
        data = get_json(self.master.url, "/master/frameworks")
        for key in ("frameworks", "completed_frameworks"):
            for fw in data.get(key, []):
                if fw.get("id") == framework_id:
                    return key, fw
        return None, None

    # ---- teardown

    def daemons(self):
        return ([self.master] if self.master else []) + self.agents

    def stop(self):
        """Stops agents then the master; returns the sanitizer reports
        found in their logs (empty list if clean)."""
        if self._stopped:
            return []
        self._stopped = True
        for a in self.agents:
            a.stop()
        if self.master:
            self.master.stop()
        reports = []
        for d in self.daemons():
            r = d.sanitizer_report()
            if r:
                reports.append("%s (%s):\n%s" % (d.name, d.stderr_path, r))
        for a in self.agents:
            reports.extend(sandbox_sanitizer_reports(a.work_dir))
        return reports


def sandbox_sanitizer_reports(work_dir):
    """Sanitizer reports in the executors' stderr files under an agent's
    work dir (the command executor is built with the sanitizers too)."""
    out = []
    for root, dirs, files in os.walk(work_dir):
        dirs[:] = [d for d in dirs if d != "latest"]
        if "stderr" not in files:
            continue
        path = os.path.join(root, "stderr")
        try:
            with open(path, "rb") as f:
                text = f.read(4 << 20).decode("utf-8", "replace")
        except OSError:
            continue
        m = SANITIZER_RE.search(text)
        if m:
            start = text.rfind("\n", 0, max(0, m.start() - 200)) + 1
            out.append("executor sandbox %s:\n%s" % (path, text[start:start + 4000]))
    return out


def finish_cluster(cluster):
    reports = cluster.stop()
    if reports:
        pytest.fail("sanitizer reports in daemon logs:\n" + "\n\n".join(reports), pytrace=False)


# --------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def cluster_factory(tmp_path):
    """make(agents=1, resources=..., master_flags={}, agent_flags={}) ->
    a started Cluster with the agents registered; stopped at teardown."""
    made = []

    def make(agents=1, resources=DEFAULT_RESOURCES, master_flags=None, agent_flags=None):
        c = Cluster(tmp_path / ("cluster%d" % len(made)), master_flags)
        made.append(c)
        c.start_master()
        res = resources if isinstance(resources, (list, tuple)) else [resources] * agents
        for r in res:
            c.add_agent(resources=r, **(agent_flags or {}))
        return c

    yield make
    errors = []
    for c in made:
        errors.extend(c.stop())
    if errors:
        pytest.fail("sanitizer reports in daemon logs:\n" + "\n\n".join(errors), pytrace=False)


@pytest.fixture
def cluster(cluster_factory):
    """A master and one agent (cpus:2;mem:1024;disk:1024;ports:[31000-31099])."""
    return cluster_factory()


def module_cluster(tmp_path_factory, name, agents=1, resources=DEFAULT_RESOURCES,
                   master_flags=None, agent_flags=None):
    """Generator for module-scoped cluster fixtures:

        @pytest.fixture(scope="module")
        def mc(tmp_path_factory):
            yield from harness.module_cluster(tmp_path_factory, "basics")
    """
    c = Cluster(tmp_path_factory.mktemp(name), master_flags, name=name)
    try:
        c.start_master()
        res = resources if isinstance(resources, (list, tuple)) else [resources] * agents
        for r in res:
            c.add_agent(resources=r, **(agent_flags or {}))
    except BaseException:
        c.stop()
        raise
    yield c
    finish_cluster(c)
