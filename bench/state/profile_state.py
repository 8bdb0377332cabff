#!/usr/bin/env python3
"""Where the master's time goes while it serves /master/state at scale.

Builds the cluster of `scale.py footprint state` at one size (AGENTS
registered, of which as many as the descriptor limit allows stay
connected, the rest detached; TASKS running tasks of 10 frameworks), then:

  1. with --settle, waits (up to 120 s) until the master's CPU time is
     below 20% of a core over 2 s: right after the tasks are running it
     is busy for a while (status updates and acknowledgements, offers);
     then records the master's CPU time over IDLE seconds with no request
     (heartbeats, offers, the load frameworks' calls: the background);
  2. serves RUNS requests of /master/state back to back (and as many of
     operator GET_STATE), printing each one's wall and master CPU time;
  3. with --perf FILE, records the master with `perf record -g` during a
     further RUNS requests of /master/state, and into FILE.idle for as
     long again with no request (the background, to compare with).

    bench/state/profile_state.py [--build DIR] [--agents 50000] [--tasks 100000]
                                 [--runs 5] [--idle 5] [--perf perf.data]
Then: perf report -i perf.data --no-children --sort symbol
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scale"))
import common  # noqa: E402


def timed_get(url, **kw):
    t0 = time.monotonic()
    body = common.get(url, timeout=120, **kw)[1]
    return (time.monotonic() - t0) * 1000, len(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build")
    ap.add_argument("--agents", type=int, default=50000)
    ap.add_argument("--tasks", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle", type=float, default=5)
    ap.add_argument("--perf")
    ap.add_argument("--settle", action="store_true")
    args = ap.parse_args()
    build = common.build_dir(args.build)
    connected = common.max_agents(args.agents)
    detached = 0 if connected >= args.agents else args.agents - (connected - 1000)
    with common.Cluster(build, args.agents, task_duration=-1, detached=detached) as c:
        fw = c.loadfw(10, args.tasks, "profile", extra=["--wait_running"], hold=True, timeout=600)
        common.read_until(fw, "READY", 900)
        time.sleep(1)
        pid = c.master.pid
        url = f"http://{c.master_url}"
        if args.settle:
            print(f"# settled after {common.wait_settled(pid):.0f} s")
        c0 = common.cpu_ms(pid)
        time.sleep(args.idle)
        idle = (common.cpu_ms(pid) - c0) / args.idle
        print(f"# {args.agents} agents ({detached} detached), {args.tasks} tasks; master CPU "
              f"with no request: {idle:.0f} ms per second; load {os.getloadavg()[0]:.1f}")
        for kind in ("state", "get_state"):
            for _ in range(args.runs):
                time.sleep(0.3)
                c0 = common.cpu_ms(pid)
                if kind == "state":
                    ms, size = timed_get(f"{url}/master/state")
                else:
                    ms, size = timed_get(f"{url}/api/v1", data=b'{"type":"GET_STATE"}',
                                         headers={"Content-Type": "application/json",
                                                  "Accept": "application/json"})
                cpu = common.cpu_ms(pid) - c0
                print(f"{kind}: {ms:.0f} ms, master CPU {cpu:.0f} ms "
                      f"(~{idle * ms / 1000:.0f} ms of it background), {size / 1e6:.1f} MB, "
                      f"load {os.getloadavg()[0]:.1f}")
        if args.perf:
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", args.perf,
                                     "-p", str(pid)], stderr=subprocess.DEVNULL)
            time.sleep(1)
            t0 = time.monotonic()
            for _ in range(args.runs):
                timed_get(f"{url}/master/state")
            spent = time.monotonic() - t0
            perf.terminate()
            perf.wait()
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o",
                                     args.perf + ".idle", "-p", str(pid)],
                                    stderr=subprocess.DEVNULL)
            time.sleep(1 + spent)
            perf.terminate()
            perf.wait()
        fw.terminate()


if __name__ == "__main__":
    main()
