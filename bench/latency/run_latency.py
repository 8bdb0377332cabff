#!/usr/bin/env python3
"""Latency of `agora run` for a trivial command, from the moment the command
starts to the moment it prints TASK_RUNNING and TASK_FINISHED.

Starts its own cluster (`agora local --no-example`, a master and 2 agents on
127.0.0.1 at a free port), runs `agora run -- true` N times one after the
other, and prints the median and p90 as BENCH lines. Usage:

    bench/latency/run_latency.py [--build DIR] [--runs 20]
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_agents(port, count, deadline):
    import json
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/master/slaves", timeout=1) as r:
                if len(json.load(r).get("slaves", [])) >= count:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("cluster did not come up")


def one_run(agora, port):
    """Returns (seconds to TASK_RUNNING, seconds to TASK_FINISHED)."""
    env = dict(os.environ, AGORA_MASTER=f"127.0.0.1:{port}")
    start = time.monotonic()
    proc = subprocess.Popen([agora, "run", "--", "true"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, bufsize=0)
    running = finished = None
    buf = b""
    while True:
        chunk = proc.stderr.read1(4096) if hasattr(proc.stderr, "read1") else os.read(proc.stderr.fileno(), 4096)
        if not chunk:
            break
        now = time.monotonic()
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if running is None and line.startswith(b"TASK_RUNNING"):
                running = now - start
            if finished is None and line.startswith(b"TASK_FINISHED"):
                finished = now - start
    if proc.wait() != 0 or running is None or finished is None:
        raise SystemExit(f"agora run failed (exit {proc.returncode})")
    return running, finished


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("AGORA_BUILD", "build"))
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    agora = os.path.abspath(os.path.join(args.build, "bin", "agora"))
    port = free_port()
    work = tempfile.mkdtemp(prefix="agora-bench-run-")
    cluster = subprocess.Popen([agora, "local", "--no-example", f"--port={port}",
                                f"--work_dir={work}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for_agents(port, 2, time.monotonic() + 30)
        one_run(agora, port)  # warm-up: page cache, first connections
        samples = [one_run(agora, port) for _ in range(args.runs)]
    finally:
        cluster.send_signal(signal.SIGINT)
        cluster.wait(timeout=30)
    to_running = sorted(s[0] * 1000 for s in samples)
    to_finished = sorted(s[1] * 1000 for s in samples)
    p90 = lambda xs: xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
    print(f"BENCH run.to_running.median {statistics.median(to_running):.1f} ms")
    print(f"BENCH run.to_running.p90 {p90(to_running):.1f} ms")
    print(f"BENCH run.to_finished.median {statistics.median(to_finished):.1f} ms")
    print(f"BENCH run.to_finished.p90 {p90(to_finished):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
