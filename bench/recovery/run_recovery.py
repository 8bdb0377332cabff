#!/usr/bin/env python3
"""Agent recovery on real processes: the cost of checkpointing at launch,
and how long a SIGKILLed agent with N running tasks takes to be back.

    AGORA_BUILD=build bench/recovery/run_recovery.py [--tasks 20] [--plain-only]

Starts a master and one agent (the integration tests' harness), launches
--tasks long tasks for a framework without checkpointing and then as many
for one with FrameworkInfo.checkpoint (each batch in one ACCEPT), kills the
first batch, SIGKILLs the agent and starts it again on the same work dir
and port. Prints:

  BENCH recovery.launch_ms.plain       ACCEPT → every task RUNNING, no checkpoint
  BENCH recovery.launch_ms.checkpoint  the same with checkpointing
  BENCH recovery.registered_ms         restart → master lists the same agent id active
  BENCH recovery.resubscribed_ms       restart → every executor re-subscribed
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import harness  # noqa: E402
from mesos_v1 import Scheduler, offer_scalar, task_info  # noqa: E402


def bench(name, value, unit):
    print("BENCH %s %.1f %s" % (name, value, unit), flush=True)


def launch_batch(s, n, prefix):
    offer = s.take_offer(lambda o: offer_scalar(o, "cpus") >= 0.05 * n - 1e-9, timeout=60)
    tasks = [task_info(offer, "%s%d" % (prefix, i), shell="sleep 600", cpus=0.05, mem=8)
             for i in range(n)]
    t0 = time.monotonic()
    s.launch(offer, tasks)
    for t in tasks:
        s.wait_update(t["task_id"]["value"], "TASK_RUNNING", timeout=120)
    return (time.monotonic() - t0) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--plain-only", action="store_true",
                    help="only the launch without checkpointing (to compare builds)")
    args = ap.parse_args()
    n = args.tasks
    base = tempfile.mkdtemp(prefix="agora-bench-recovery-")
    c = harness.Cluster(base)
    try:
        c.start_master()
        agent = c.add_agent(resources="cpus:%d;mem:%d;disk:1024" % (n, 16 * n * 2 + 1024))
        plain = Scheduler(c.url, name="bench-plain").subscribe()
        bench("recovery.launch_ms.plain", launch_batch(plain, n, "p"), "ms")
        for i in range(n):
            plain.kill("p%d" % i)
        for i in range(n):
            plain.wait_update("p%d" % i, "TASK_KILLED", timeout=60)
        plain.stop()
        if args.plain_only:
            return
        harness.wait_until(lambda: c.slaves()[0]["used_resources"].get("cpus", 0) < 1e-9, 60,
                           what="the first batch's resources to be free")
        ckpt = Scheduler(c.url, name="bench-ckpt", checkpoint=True).subscribe()
        bench("recovery.launch_ms.checkpoint", launch_batch(ckpt, n, "c"), "ms")
        old_id = agent.agent_id
        agent.proc.kill()
        agent.proc.wait(10)
        agent.argv = [a for a in agent.argv if not a.startswith("--port=")]
        agent.argv.append("--port=%d" % agent.port)
        t0 = time.monotonic()
        agent.start()
        offset = agent._err_offset

        def registered():
            s = c.find_slave(agent)
            return s and s["id"] == old_id and s.get("active", True)

        harness.wait_until(registered, 60, 0.01, what="re-registration")
        bench("recovery.registered_ms", (time.monotonic() - t0) * 1000, "ms")
        harness.wait_until(lambda: agent.read_stderr(offset).count("subscribed\n") >= n, 60,
                           0.01, what="%d executors to re-subscribe" % n)
        bench("recovery.resubscribed_ms", (time.monotonic() - t0) * 1000, "ms")
        ckpt.stop()
    finally:
        c.stop()


if __name__ == "__main__":
    main()
