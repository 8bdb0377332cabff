#!/usr/bin/env python3
"""Side by side with Slurm, same machine, same run.

    bench/slurm/run_slurm.py [--build DIR] [--jobs 200] [--runs 50]

Installs Debian's slurm-wlm and munge if missing (apt, with a policy-rc.d
that keeps the packaged services from starting), configures a single-node
Slurm on 127.0.0.1 from bench/slurm/slurm.conf.in in a scratch directory,
starts munged, slurmctld and slurmd in the foreground (as our children) and
stops them by PID at the end. Then runs the same work on both:

  (a) --jobs trivial jobs: `sbatch --array=1-N --wrap=true`, from submission
      until squeue shows none of them, against one Agora framework
      (bench-loadfw) running N tasks of `true` on one real agora-agent, from
      the framework's start (subscription included) until every task ended.
  (b) --runs sequential one-off commands: `srun -n1 true` against
      `agora run -- true`.

Prints BENCH slurm.array_s, agora.array_s, slurm.ratio (Slurm's time over
Agora's, i.e. Agora's throughput over Slurm's), slurm.srun_ms,
agora.run_ms and slurm.run_ratio (srun's time over agora run's).
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scale"))
import common  # noqa: E402
from common import bench, note  # noqa: E402


def ensure_installed():
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    note("installing slurm-wlm and munge (apt)")
    policy = "/usr/sbin/policy-rc.d"
    made = not os.path.exists(policy)
    if made:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.check_call(["apt-get", "install", "-y", "-qq", "slurm-wlm", "munge"], env=env,
                              stdout=subprocess.DEVNULL)
    finally:
        if made:
            os.unlink(policy)


class Slurm:
    def __init__(self, cpus):
        self.dir = tempfile.mkdtemp(prefix="agora-bench-slurm-")
        self.procs = []
        d = self.dir
        for sub in ["munge", "munge-sock", "state", "spool", "run", "log", "jobs"]:
            os.makedirs(f"{d}/{sub}", exist_ok=True)
        os.chmod(f"{d}/munge", 0o700)
        os.chmod(f"{d}/munge-sock", 0o755)
        subprocess.check_call(["mungekey", "--create", f"--keyfile={d}/munge/munge.key",
                               "--bits=1024"])
        os.chmod(f"{d}/munge/munge.key", 0o400)
        with open(os.path.join(HERE, "slurm.conf.in")) as f:
            conf = f.read()
        conf = conf.replace("@HOST@", socket.gethostname()).replace("@DIR@", d).replace(
            "@CPUS@", str(cpus))
        self.conf = f"{d}/slurm.conf"
        with open(self.conf, "w") as f:
            f.write(conf)
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        # munged must run with --force as root; its own socket and key.
        self._start(["munged", "--foreground", "--force",
                     f"--socket={d}/munge-sock/munge.socket.2", f"--key-file={d}/munge/munge.key",
                     f"--pid-file={d}/run/munged.pid", f"--log-file={d}/log/munged.log",
                     f"--seed-file={d}/munge/munged.seed"], "munged.out")
        time.sleep(0.3)
        self._start(["slurmctld", "-D", "-c", "-f", self.conf], "slurmctld.out")
        self._start(["slurmd", "-D", "-N", "localhost", "-f", self.conf], "slurmd.out")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            r = subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
            if r.stdout.strip().startswith("idle"):
                return
            time.sleep(0.2)
        raise SystemExit(f"slurm did not come up; logs in {d}/log")

    def _start(self, argv, log):
        f = open(os.path.join(self.dir, "log", log), "wb")
        self.procs.append(subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                                           env=getattr(self, "env", None), cwd=self.dir))

    def run(self, argv, **kw):
        return subprocess.run(argv, env=self.env, cwd=f"{self.dir}/jobs", **kw)

    def close(self):
        # slurmd first, then slurmctld, then munged: each by its PID.
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def slurm_side(jobs, runs):
    s = Slurm(os.cpu_count())
    try:
        s.run(["srun", "-n1", "true"], check=True)  # warm-up
        t0 = time.monotonic()
        for _ in range(runs):
            s.run(["srun", "-n1", "true"], check=True)
        srun_s = (time.monotonic() - t0) / runs
        t0 = time.monotonic()
        jid = s.run(["sbatch", "--parsable", f"--array=1-{jobs}", "--wrap=true", "-o",
                     "/dev/null"], check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
        jid = jid.split(";")[0]
        while True:
            r = s.run(["squeue", "-h", "-r", "-j", jid, "-t", "PD,R,CG,CF"],
                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if r.returncode == 0 and not r.stdout.strip():
                break
            if time.monotonic() - t0 > 1200:
                raise SystemExit("slurm array did not finish within 20 min")
            time.sleep(0.1)
        array_s = time.monotonic() - t0
    finally:
        s.close()
    return array_s, srun_s


def agora_side(build, jobs, runs):
    work = tempfile.mkdtemp(prefix="agora-bench-slurm-agora-")
    with common.Cluster(build, 0, log_dir=work) as c:
        c._spawn([common.binary(build, "agora-agent"), f"--master={c.master_url}",
                  f"--port={common.free_port()}", f"--work_dir={work}/agent",
                  "--log_level=warning"], "agent.log")
        c._wait_agents(1)
        env = dict(os.environ, AGORA_MASTER=c.master_url)
        agora = common.binary(build, "agora")
        subprocess.run([agora, "run", "--", "true"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm-up
        t0 = time.monotonic()
        for _ in range(runs):
            subprocess.run([agora, "run", "--", "true"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run_s = (time.monotonic() - t0) / runs
        t0 = time.monotonic()
        rc, out = c.loadfw(1, jobs, "slurm", extra=["--task_cpus=0.1", "--task_mem=16",
                                                    "--command=true"], timeout=300)
        array_s = time.monotonic() - t0
        if rc != 0:
            raise SystemExit(f"bench-loadfw failed ({rc}); logs in {work}")
    return array_s, run_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build")
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    build = common.build_dir(args.build)
    ensure_installed()
    a_array, a_run = agora_side(build, args.jobs, args.runs)
    s_array, s_run = slurm_side(args.jobs, args.runs)
    note(f"{args.jobs} trivial jobs: Slurm {s_array:.2f} s ({args.jobs / s_array:.1f} jobs/s), "
         f"Agora {a_array:.3f} s ({args.jobs / a_array:.0f} tasks/s)")
    note(f"one command, {args.runs} in a row: srun {s_run * 1000:.1f} ms, "
         f"agora run {a_run * 1000:.1f} ms")
    bench("slurm.array_s", f"{s_array:.2f}", "s")
    bench("agora.array_s", f"{a_array:.3f}", "s")
    bench("slurm.ratio", f"{s_array / a_array:.1f}", "x")
    bench("slurm.srun_ms", f"{s_run * 1000:.1f}", "ms")
    bench("agora.run_ms", f"{a_run * 1000:.1f}", "ms")
    bench("slurm.run_ratio", f"{s_run / a_run:.2f}", "x")


if __name__ == "__main__":
    main()
