#!/usr/bin/env python3
"""Real processes: how fast one real agora-agent takes trivial command tasks
to TASK_RUNNING, beside a bare posix_spawn loop of the same command in the
same run (the physical limit of process launch on this machine).

    bench/spawn/run_spawn.py [--build DIR] [--tasks 1000] [--agent_arg=--FLAG=VALUE]...

Starts a master and one agora-agent (resources cpus:1000;mem:1000000 so that
every task fits at once), runs bench-loadfw with one framework launching
--tasks tasks of `true` (each runs as `/bin/sh -c true` under agora-executor),
then bench-spawn with the same count of `/bin/sh -c true`, sequential
(spawn, wait) and with 64 in flight. Prints:

  BENCH agent.tasks_per_s     tasks/s that reached TASK_RUNNING
  BENCH spawn.per_s           bare posix_spawn+wait loop, processes/s
  BENCH spawn.concurrent_per_s  bare posix_spawn, 64 in flight
  BENCH agent.spawn_ratio     agent rate / sequential bare rate, percent
  BENCH agent.spawn_ratio_concurrent  agent rate / concurrent bare rate, percent
  BENCH agent.cpu_ms_per_task  CPU time (user + system) of the agent and
                               everything it started, per task
  BENCH spawn.cpu_ms_per_process  CPU time of the bare loop per process
  BENCH agent.cpu_ratio        bare CPU per process / agent CPU per task,
                               percent: the rate ratio on an idle machine
                               where CPU is the bound, and much less
                               sensitive to other load than the rates

The CPU figures come from the kernel's accounting (the agent reaps its
container helpers, which reap what they started, so the agent's cutime and
cstime hold the whole tree once every task has ended); the rates depend on
whatever else the machine is doing at the time.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "scale"))
import common  # noqa: E402
from common import bench, note  # noqa: E402


def value(out, name):
    m = re.search(rf"^BENCH {re.escape(name)} (\S+)", out, re.M)
    return float(m.group(1)) if m else None


def tree_cpu_s(pid):
    """user + system CPU seconds of pid and its reaped descendants."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in rest[11:15]) / os.sysconf("SC_CLK_TCK")


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build")
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--agent_arg", action="append", default=[],
                    help="an extra agent flag, e.g. --agent_arg=--isolation=posix (repeatable)")
    args = ap.parse_args()
    build = common.build_dir(args.build)
    work = tempfile.mkdtemp(prefix="agora-bench-spawn-")
    with common.Cluster(build, 0, log_dir=work) as c:
        agent_port = common.free_port()
        agent = c._spawn([common.binary(build, "agora-agent"), f"--master={c.master_url}",
                          f"--port={agent_port}", f"--work_dir={work}/agent",
                          "--resources=cpus:1000;mem:1000000;disk:1000000",
                          "--log_level=warning", *args.agent_arg], "agent.log")
        c._wait_agents(1)
        rc, out = c.loadfw(1, args.tasks, "agent",
                           extra=["--task_cpus=0.1", "--task_mem=1", "--command=true"],
                           timeout=300)
        if rc != 0:
            note(f"bench-loadfw exited {rc}; logs in {work}")
        for line in out.splitlines():
            if line.startswith("# ") or "running_p" in line:
                common.relay(line)
        agent_rate = value(out, "launch.tasks_per_s.agent")
        # Every `true` ends at once: wait for the agent to have reaped all
        # its containers (and loggers), then read the tree's CPU time.
        deadline = time.monotonic() + 60
        while children_of(agent.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        agent_cpu = tree_cpu_s(agent.pid) if not children_of(agent.pid) else None
    spawn = common.binary(build, "bench-spawn")
    t0 = os.times()
    seq = subprocess.run([spawn, "-n", str(args.tasks), "--", "/bin/sh", "-c", "true"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    t1 = os.times()
    spawn_cpu = (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
    con = subprocess.run([spawn, "-c", "-n", str(args.tasks), "--", "/bin/sh", "-c", "true"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    seq_rate = value(seq, "spawn.per_s")
    con_rate = value(con, "spawn.per_s")
    if agent_rate:
        bench("agent.tasks_per_s", f"{agent_rate:.0f}", "tasks/s")
    bench("spawn.per_s", f"{seq_rate:.0f}", "processes/s")
    bench("spawn.concurrent_per_s", f"{con_rate:.0f}", "processes/s")
    if agent_rate:
        bench("agent.spawn_ratio", f"{100 * agent_rate / seq_rate:.0f}", "percent")
        bench("agent.spawn_ratio_concurrent", f"{100 * agent_rate / con_rate:.0f}", "percent")
    bench("spawn.cpu_ms_per_process", f"{1000 * spawn_cpu / args.tasks:.2f}", "ms")
    if agent_cpu is not None:
        bench("agent.cpu_ms_per_task", f"{1000 * agent_cpu / args.tasks:.2f}", "ms")
        bench("agent.cpu_ratio", f"{100 * spawn_cpu / agent_cpu:.0f}", "percent")
    else:
        note("the agent still had children after 60 s: no CPU figure")


if __name__ == "__main__":
    main()
