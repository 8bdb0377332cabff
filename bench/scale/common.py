"""Shared helpers of the scale benchmarks: start a master, emulated agents and
load frameworks on 127.0.0.1, read the master's memory, collect BENCH lines."""
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build_dir(arg=None):
    """The build directory: --build, $AGORA_BUILD, or build-bench (built here)."""
    d = arg or os.environ.get("AGORA_BUILD")
    if d:
        return os.path.abspath(d)
    d = os.path.join(ROOT, "build-bench")
    if not os.path.exists(os.path.join(d, "build.ninja")):
        subprocess.check_call(["cmake", "-S", ROOT, "-B", d, "-G", "Ninja",
                               "-DCMAKE_BUILD_TYPE=Release"], stdout=subprocess.DEVNULL)
    subprocess.check_call(["ninja", "-C", d, "agora-master", "agora-agent", "agora-executor",
                           "agora", "bench-simagent", "bench-loadfw", "bench-spawn"],
                          stdout=subprocess.DEVNULL)
    return d


def binary(build, name):
    return os.path.join(build, "bin", name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fd_limit():
    """The hard RLIMIT_NOFILE every process here inherits (raising it needs
    CAP_SYS_RESOURCE, which this machine's containers do not grant)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard * 4, hard * 4))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ValueError, OSError):
        pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def max_agents(wanted, frameworks=10):
    """How many emulated agents one master can hold here: each agent's stream
    is a file descriptor in the master (and in bench-simagent), and so is
    each framework's stream and each call in flight (one connection per
    call from the SDK). Past the limit the master's accept() fails."""
    cap = fd_limit() - 800 - 4 * frameworks
    return min(wanted, cap)


def cpu_ms(pid):
    """CPU time (user + system) the process has used, in ms: unlike wall
    time, not inflated by other work on a shared machine."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def wait_settled(pid, limit_s=120):
    """Wait until the process uses less than 20% of a core over 2 s (or
    limit_s passes); return the seconds waited. Right after a large fill the
    master is still busy for a while (acknowledgements, offers to the
    frameworks), and a figure meant for a cluster at rest should not
    measure that backlog instead."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        c0 = cpu_ms(pid)
        time.sleep(2)
        if cpu_ms(pid) - c0 < 400:
            break
    return time.monotonic() - t0


def bench(name, value, unit):
    print(f"BENCH {name} {value} {unit}", flush=True)


def note(text):
    """Details go to stderr: stdout carries only BENCH lines."""
    print(f"# {text}", file=sys.stderr, flush=True)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def get(url, timeout=60, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def _terminate(signo, frame):
    raise SystemExit(f"stopped by signal {signo}")


# A driver stopped with SIGTERM still tears its cluster down (Cluster.close).
signal.signal(signal.SIGTERM, _terminate)


class Cluster:
    """A master plus bench-simagent with `agents` agents, torn down on exit."""

    def __init__(self, build, agents, task_duration=1.0, agent_args=(), master_args=(),
                 log_dir=None, detached=0):
        self.build = build
        self.port = free_port()
        self.master_url = f"127.0.0.1:{self.port}"
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="agora-bench-")
        self.procs = []
        self.agents = agents
        fd_limit()
        if detached:
            # Detached agents stay registered (disconnected) this long.
            master_args = [*master_args, "--agent_reregister_timeout=1hrs"]
            agent_args = [*agent_args, f"--detached={detached}"]
        self.master = self._spawn(
            [binary(build, "agora-master"), f"--port={self.port}", "--log_level=warning",
             *master_args], "master.log")
        self._wait_master()
        self.base_rss = rss_kb(self.master.pid)
        self.sim = None
        if agents > 0:
            ready = os.path.join(self.log_dir, "sim.ready")
            self.sim = self._spawn(
                [binary(build, "bench-simagent"), f"--master={self.master_url}",
                 f"--agents={agents}", f"--task_duration={task_duration}", "--quiet",
                 f"--ready_file={ready}", *agent_args], "simagent.log")
            t0 = time.monotonic()
            while not os.path.exists(ready):
                if self.sim.poll() is not None or self.master.poll() is not None:
                    raise SystemExit("simagent or master exited; see " + self.log_dir)
                if time.monotonic() - t0 > 120:
                    raise SystemExit("agents did not subscribe within 120 s")
                time.sleep(0.05)
            self.subscribe_s = time.monotonic() - t0
            self._wait_agents(agents - detached)

    def _spawn(self, argv, log):
        f = open(os.path.join(self.log_dir, log), "wb")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def _wait_master(self):
        for _ in range(200):
            try:
                get(f"http://{self.master_url}/health", timeout=1)
                return
            except OSError:
                time.sleep(0.02)
        raise SystemExit("master did not start")

    def _wait_agents(self, n):
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            _, body = get(f"http://{self.master_url}/metrics/snapshot")
            m = json.loads(body)
            if m.get("master/slaves_active", m.get("master/slaves_connected", 0)) >= n:
                return
            time.sleep(0.2)
        note("warning: the master does not report all agents active")

    def loadfw(self, frameworks, tasks, label, extra=(), timeout=600, hold=False):
        argv = [binary(self.build, "bench-loadfw"), f"--master={self.master_url}",
                f"--frameworks={frameworks}", f"--tasks={tasks}", f"--label={label}",
                f"--timeout={timeout}", "--quiet", *extra]
        if hold:
            argv.append("--hold")
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(
                os.path.join(self.log_dir, f"loadfw-{label}.log"), "wb"), text=True)
            self.procs.append(p)
            return p
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=open(
            os.path.join(self.log_dir, f"loadfw-{label}.log"), "wb"), text=True,
            timeout=timeout + 60)
        return r.returncode, r.stdout

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def relay(out):
    """Prints a child's BENCH lines on stdout and its # lines on stderr."""
    for line in out.splitlines():
        if line.startswith("BENCH "):
            print(line, flush=True)
        elif line.startswith("# "):
            print(line, file=sys.stderr, flush=True)


def _lines(proc):
    """A queue of proc's stdout lines, filled by a reader thread (select() on
    a buffered pipe would miss lines already read into the buffer)."""
    q = getattr(proc, "_line_queue", None)
    if q is None:
        import queue
        import threading
        q = proc._line_queue = queue.Queue()

        def reader():
            for line in proc.stdout:
                q.put(line.rstrip("\n"))
            q.put(None)
        threading.Thread(target=reader, daemon=True).start()
    return q


def read_until(proc, prefix, timeout):
    """Reads proc's stdout lines until one starts with prefix; returns the
    lines read (BENCH and # lines are relayed as they come)."""
    import queue
    q = _lines(proc)
    lines = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            line = q.get(timeout=max(0.01, end - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        lines.append(line)
        if line.startswith(prefix):
            return lines
        note(line[2:] if line.startswith("# ") else line)
    raise SystemExit(f"no '{prefix}' from {proc.args[0]} within {timeout} s")


class Prober:
    """Polls a URL back to back on a thread; stop() returns the slowest answer
    in ms: how long the master left a client waiting."""

    def __init__(self, url):
        import threading
        self.url = url
        self.worst = 0.0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            t0 = time.monotonic()
            try:
                get(self.url, timeout=60)
            except OSError:
                pass
            self.worst = max(self.worst, (time.monotonic() - t0) * 1000)
            time.sleep(0.005)

    def stop(self):
        self.running = False
        self.thread.join()
        return self.worst


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)
