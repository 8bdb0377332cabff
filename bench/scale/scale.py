#!/usr/bin/env python3
"""Scale benchmarks of one Agora master, with emulated agents (bench-simagent)
and load-generating frameworks (bench-loadfw), all on 127.0.0.1.

    bench/scale/scale.py [--build DIR] [--quick] [launch] [footprint] [state] [offer_latency]

  launch         tasks/s to TASK_RUNNING and ACCEPT->RUNNING/FINISHED histograms
                 with AxF = 1000x10, 10000x100, 50000x1000 (quick: 1000x10, 10000x100)
  footprint      master RSS with N agents, then with 100,000 running tasks
                 (quick: 10,000 tasks): per agent and per task
  state          with the footprint cluster: GET /master/state and operator
                 GET_STATE times, and the longest a client polling /health
                 waited meanwhile (footprint and state share one cluster);
                 measured once the master has settled after the fill (under
                 20% of a core), the first request (which also keeps every
                 object's unchanging text) reported apart as state.first_ms
  offer_latency  resources freed -> offer received at 10,000 agents

With no names, runs them all. Prints BENCH lines. 50,000 agents need 50,000
file descriptors in the master and in bench-simagent; where the hard
RLIMIT_NOFILE is lower (20,000 on the project's machines, and raising it
needs CAP_SYS_RESOURCE) the largest count that fits is used and said so.
"""
import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import bench, note  # noqa: E402


def run_launch(build, quick):
    combos = [(1000, 10, 10000), (10000, 100, 30000)] if quick else \
        [(1000, 10, 20000), (10000, 100, 100000), (50000, 1000, 100000)]
    for agents, fws, tasks in combos:
        n = common.max_agents(agents, fws)
        if n < agents:
            note(f"launch {agents}x{fws}: only {n} agents fit under RLIMIT_NOFILE "
                 f"{common.fd_limit()}; running (and naming) {n}x{fws}")
        label = f"{n}x{fws}"
        with common.Cluster(build, n, task_duration=0.5) as c:
            rc, out = c.loadfw(fws, tasks, label, timeout=300 if quick else 900)
            common.relay(out)
            if rc != 0:
                note(f"launch {label}: bench-loadfw exited {rc}; logs in {c.log_dir}")


def run_footprint_state(build, quick, do_footprint, do_state):
    sizes = [10000, 50000]
    tasks = 10000 if quick else 100000
    runs = []
    for size in sizes:
        n = common.max_agents(size)
        runs.append((n, 0, str(n)))  # figures are named by the count actually run
        if n < size:
            note(f"footprint/state {size}: only {n} agents fit under RLIMIT_NOFILE "
                 f"{common.fd_limit()} (each agent is a connection, i.e. a file descriptor, "
                 f"in the master); figures below are for {n} agents")
            if do_state:
                # State at `size` registered agents: the ones past the limit
                # subscribe through the agent API like the others, then close
                # their stream; the master keeps them (disconnected, listed in
                # the state, rendered the same way). Named "<size>d". 1,000
                # fewer stay connected than above: the detached ones' churn
                # and the load frameworks' calls need descriptors too.
                runs.append((size, size - (n - 1000), f"{size}d"))
    for total, detached, wanted in runs:
        if detached:
            note(f"state {wanted}: {total} agents registered, {detached} of them detached "
                 f"after subscribing, {total - detached} connected")
        with common.Cluster(build, total, task_duration=-1, detached=detached) as c:
            n = total
            time.sleep(1)
            rss_agents = common.rss_kb(c.master.pid)
            per_agent = (rss_agents - c.base_rss) / n
            if do_footprint and not detached:
                note(f"master RSS: {c.base_rss} KB empty, {rss_agents} KB with {n} agents "
                     f"(subscribed in {c.subscribe_s:.1f} s)")
                bench(f"master.kb_per_agent.{wanted}", f"{per_agent:.1f}", "KB")
                bench(f"master.rss_mb.{wanted}", f"{rss_agents / 1024:.0f}", "MB")
            # Long-running tasks, kept by a framework that stays subscribed.
            fw = c.loadfw(10, tasks, f"fill{wanted}", extra=["--wait_running"], hold=True,
                          timeout=600)
            common.read_until(fw, "READY", 900)
            time.sleep(1)
            rss_tasks = common.rss_kb(c.master.pid)
            if do_footprint and not detached:
                note(f"master RSS: {rss_tasks} KB with {n} agents and {tasks} running tasks")
                bench(f"master.kb_per_task.{wanted}", f"{(rss_tasks - rss_agents) / tasks:.2f}",
                      "KB")
                bench(f"master.rss_mb.{wanted}x{tasks}", f"{rss_tasks / 1024:.0f}", "MB")
            if do_state:
                measure_state(c, fw, wanted, quick)
            fw.send_signal(signal.SIGTERM)


def timed(fn):
    t0 = time.monotonic()
    size = fn()
    return (time.monotonic() - t0) * 1000, size


def measure_state(c, fw, wanted, quick):
    url = f"http://{c.master_url}"
    runs = 3 if quick else 5
    rest, op, stalls, cpu = [], [], [], []
    size = 0
    pid = c.master.pid
    # The same probe with no state request, for as long as the runs take:
    # what the master's other work (allocation rounds, offers to the
    # frameworks, agent heartbeats) costs the probe anyway.
    settled = common.wait_settled(pid)
    note(f"state {wanted}: the master settled (under 20% of a core) {settled:.0f} s after "
         f"the fill")
    probe = common.Prober(f"{url}/health")
    time.sleep(3 if quick else 5)
    idle = probe.stop()
    # The first request also renders (and keeps) every task's and agent's
    # unchanging members; later ones reuse them. Both are reported.
    first, _ = timed(lambda: len(common.get(f"{url}/master/state", timeout=120)[1]))
    bench(f"state.first_ms.{wanted}", f"{first:.0f}", "ms")
    for _ in range(runs):
        time.sleep(0.3)
        probe = common.Prober(f"{url}/health")
        c0 = common.cpu_ms(pid)
        ms, size = timed(lambda: len(common.get(f"{url}/master/state", timeout=120)[1]))
        cpu.append(common.cpu_ms(pid) - c0)
        rest.append(ms)
        stalls.append(probe.stop())
        ms, _ = timed(lambda: len(common.get(
            f"{url}/api/v1", timeout=120, data=b'{"type":"GET_STATE"}',
            headers={"Content-Type": "application/json", "Accept": "application/json"})[1]))
        op.append(ms)
    note(f"/master/state: {size / 1e6:.1f} MB; times {', '.join(f'{x:.0f}' for x in rest)} ms; "
         f"master CPU {', '.join(f'{x:.0f}' for x in cpu)} ms (includes the /health polls and "
         f"whatever else the master served meanwhile); slowest /health answer meanwhile "
         f"{max(stalls):.0f} ms (the master's loop, which serves schedulers too, was blocked at "
         f"most that long; {idle:.0f} ms with no state request); load average "
         f"{os.getloadavg()[0]:.1f}")
    bench(f"state.ms.{wanted}", f"{statistics.median(rest):.0f}", "ms")
    bench(f"state.cpu_ms.{wanted}", f"{statistics.median(cpu):.0f}", "ms")
    bench(f"state.get_state_ms.{wanted}", f"{statistics.median(op):.0f}", "ms")
    bench(f"state.stall_ms.{wanted}", f"{max(stalls):.0f}", "ms")
    bench(f"state.idle_stall_ms.{wanted}", f"{idle:.0f}", "ms")


def run_offer_latency(build, quick):
    # One slot per agent: every finished task frees an agent's whole
    # resources, which the master must offer again. Tasks run 10 s, so the
    # steady launch rate (1,000/s) stays under the master's launch
    # throughput: the figure is the offer path, not a backlog.
    agents = common.max_agents(10000)
    tasks = 20000 if quick else 40000
    # The master's side of the figure (freed -> allocation round -> OFFERS
    # queued), printed by the master when it stops.
    log_dir = tempfile.mkdtemp(prefix="agora-bench-")
    master_trace = os.path.join(log_dir, "offer-trace-master")
    client_trace = os.path.join(log_dir, "offer-trace-loadfw")
    os.environ["AGORA_OFFER_TRACE"] = master_trace
    try:
        c = common.Cluster(build, agents, task_duration=10, log_dir=log_dir,
                           agent_args=["--cpus=1", "--mem=1024", "--disk=0"])
    finally:
        del os.environ["AGORA_OFFER_TRACE"]
    with c:
        rc, out = c.loadfw(10, tasks, str(agents), extra=["--task_cpus=1", "--task_mem=1024",
                                                          f"--offer_trace={client_trace}"],
                           timeout=600)
        for line in out.splitlines():
            if line.startswith("BENCH offer_latency") or line.startswith("# offer"):
                common.relay(line)
        if rc != 0:
            note(f"offer_latency: bench-loadfw exited {rc}; logs in {c.log_dir}")
    with open(os.path.join(c.log_dir, "master.log"), errors="replace") as f:
        for line in f:
            if line.startswith("# master offer trace"):
                common.relay(line.rstrip("\n"))
    join_offer_traces(master_trace, client_trace, agents)


def join_offer_traces(master_path, client_path, label):
    """Splits each sampled offer's latency at the master's clock (both
    processes use CLOCK_MONOTONIC): freed -> OFFERS queued in the master,
    the UPDATE's trip (freed -> read by bench-loadfw) and the OFFERS
    event's trip (queued -> read). The end-to-end figure is
    offer read - update read = master + offer trip - update trip."""
    offers, waiting = {}, {}
    try:
        with open(master_path) as f:
            for line in f:
                p = line.split()
                if p[0] == "O" and len(p) == 5:
                    offers[p[1]] = [float(p[3]), None]
                    waiting.setdefault(p[2], []).append(p[1])
                elif p[0] == "Q" and len(p) == 3:
                    for oid in waiting.pop(p[1], []):
                        offers[oid][1] = float(p[2])
        rows = []
        with open(client_path) as f:
            for line in f:
                p = line.split()
                if p[0] == "R" and len(p) == 5 and p[1] in offers and offers[p[1]][1]:
                    freed, queued = offers[p[1]]
                    upd, got = float(p[2]), float(p[3])
                    rows.append((got - upd, queued - freed, upd - freed, got - queued))
    except OSError as e:
        note(f"offer trace: {e}")
        return
    if not rows:
        note("offer trace: no offers joined")
        return
    names = ["end to end", "master: freed -> OFFERS queued", "UPDATE queued -> read",
             "OFFERS queued -> read"]
    for i, name in enumerate(names):
        v = sorted(r[i] * 1000 for r in rows)
        note(f"offer trace ({len(v)} joined) {name}: p50 {v[len(v) // 2]:.2f} "
             f"p90 {v[len(v) * 9 // 10]:.2f} p99 {v[len(v) * 99 // 100]:.2f} ms")
    # The master's share of each sample, as its own figure: the headline
    # also holds bench-loadfw's backlog on the offer's stream.
    v = sorted(r[1] * 1000 for r in rows)
    bench(f"offer_latency.master_p99.{label}", f"{v[len(v) * 99 // 100]:.2f}", "ms")
    # What the tail is made of: the mean of each part over the worst 1%.
    tail = sorted(rows, reverse=True)[:max(1, len(rows) // 100)]
    parts = ", ".join(f"{names[i]} {statistics.mean(r[i] for r in tail) * 1000:.2f}"
                      for i in range(1, 4))
    note(f"offer trace: worst 1% ({len(tail)}) means: end to end "
         f"{statistics.mean(r[0] for r in tail) * 1000:.2f}; {parts} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    known = ["launch", "footprint", "state", "offer_latency"]
    names = args.names or known
    for n in names:
        if n not in known:
            common.die(f"unknown benchmark '{n}' (known: {', '.join(known)})")
    build = common.build_dir(args.build)
    note(f"machine: {os.cpu_count()} CPUs; fd hard limit {common.fd_limit()}")
    if "launch" in names:
        run_launch(build, args.quick)
    if "footprint" in names or "state" in names:
        run_footprint_state(build, args.quick, "footprint" in names, "state" in names)
    if "offer_latency" in names:
        run_offer_latency(build, args.quick)


if __name__ == "__main__":
    main()
