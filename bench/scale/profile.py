#!/usr/bin/env python3
"""Profiles one launch run: starts a master and bench-simagent (A agents),
runs bench-loadfw (F frameworks, T tasks) and records the master (or
another of the processes) with `perf record -g` meanwhile. Prints the
loadfw BENCH lines, each process's CPU seconds, and writes perf.data.

    bench/scale/profile.py [--build DIR] [--agents 10000] [--frameworks 100]
                           [--tasks 30000] [--target master|loadfw|simagent]
                           [--out perf.data|none] [--loadfw_arg=--call_conns=16 ...]
Then: perf report -i perf.data --no-children --sort dso,symbol
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build")
    ap.add_argument("--agents", type=int, default=10000)
    ap.add_argument("--frameworks", type=int, default=100)
    ap.add_argument("--tasks", type=int, default=30000)
    ap.add_argument("--task_duration", type=float, default=0.5)
    ap.add_argument("--target", default="master", choices=["master", "loadfw", "simagent"])
    ap.add_argument("--out", default="perf.data")
    ap.add_argument("--freq", type=int, default=999)
    ap.add_argument("--loadfw_arg", action="append", default=[])
    args = ap.parse_args()
    build = common.build_dir(args.build)
    with common.Cluster(build, args.agents, task_duration=args.task_duration) as c:
        label = f"{args.agents}x{args.frameworks}"
        argv = [common.binary(build, "bench-loadfw"), f"--master={c.master_url}",
                f"--frameworks={args.frameworks}", f"--tasks={args.tasks}", f"--label={label}",
                "--timeout=300", "--quiet", *args.loadfw_arg]
        before = {"master": cpu_s(c.master.pid), "simagent": cpu_s(c.sim.pid)}
        fw = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        pid = {"master": c.master.pid, "simagent": c.sim.pid, "loadfw": fw.pid}[args.target]
        perf = None
        if args.out != "none":
            perf = subprocess.Popen(["perf", "record", "-F", str(args.freq), "--call-graph", os.environ.get("PERF_CALLGRAPH", "fp"), "-o",
                                     args.out, "-p", str(pid)], stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        last = {}
        while fw.poll() is None:
            try:
                last = {"master": cpu_s(c.master.pid), "simagent": cpu_s(c.sim.pid),
                        "loadfw": cpu_s(fw.pid)}
            except OSError:
                pass
            time.sleep(0.1)
        wall = time.monotonic() - t0
        if perf:
            perf.send_signal(2)
            perf.wait()
        out = fw.stdout.read()
        common.relay(out)
        for k, v in last.items():
            used = v - before.get(k, 0)
            common.note(f"{k}: {used:.1f} CPU s in {wall:.1f} s ({100 * used / wall:.0f}%), "
                        f"{1000 * used / args.tasks:.2f} CPU ms per task")


if __name__ == "__main__":
    main()
