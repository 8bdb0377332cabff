"""Garbage collection of sandboxes: a terminated executor's sandbox is
removed after --gc_delay, at once under disk pressure
(--gc_disk_headroom), and a running task's sandbox never; the gc/*
metrics count the removals."""

import os

import pytest

from harness import get_json, wait_until
from mesos_v1 import task_info

TERMINAL = ["TASK_FINISHED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED"]


def launch(fw, task_id, shell):
    offer = fw.take_offer()
    fw.launch(offer, [task_info(offer, task_id, shell=shell)], refuse_seconds=0)


def sandbox_of(agent, fw, task_id):
    def find():
        st = get_json(agent.url, "/state")
        for key in ("frameworks", "completed_frameworks"):
            for f in st.get(key, []):
                if f.get("id") != fw.framework_id:
                    continue
                for ek in ("executors", "completed_executors"):
                    for ex in f.get(ek, []):
                        if ex.get("id") == task_id:
                            return ex.get("directory")
        return None

    return wait_until(find, 10, what="sandbox of %s" % task_id)


def test_gc_delay_removes_terminated_sandboxes_only(cluster_factory, scheduler_factory):
    c = cluster_factory(agent_flags={"gc_delay": "1secs"})
    agent = c.agents[0]
    fw = scheduler_factory(c.url, name="gc-fw").subscribe()
    launch(fw, "long", "sleep 60")
    fw.wait_update("long", ["TASK_RUNNING"], timeout=30)
    launch(fw, "short", "echo bye")
    fin = fw.wait_update("short", TERMINAL, timeout=30)
    assert fin["state"] == "TASK_FINISHED", fin
    short_dir = sandbox_of(agent, fw, "short")
    long_dir = sandbox_of(agent, fw, "long")
    assert os.path.isdir(short_dir)

    wait_until(lambda: not os.path.exists(short_dir), 20, what="the finished sandbox removed")
    # The executor directory goes with its only run (emptied directories are
    # removed once the removal of the run has finished, a moment later).
    ex_dir = os.path.dirname(os.path.dirname(short_dir))
    wait_until(lambda: not os.path.exists(ex_dir), 10, what="the emptied executor directory removed")
    m = get_json(agent.url, "/metrics/snapshot")
    assert m["gc/path_removals_succeeded"] >= 1, m
    assert m["gc/path_removals_failed"] == 0, m
    # The running task's sandbox stays, well past the delay.
    assert os.path.isdir(long_dir)
    import time
    time.sleep(2.5)
    assert os.path.isdir(long_dir)
    # /files answers 404 for the removed sandbox, not an error.
    from harness import get
    r = get(agent.url, "/files/browse?path=" + short_dir)
    assert r.status == 404, r
    fw.kill("long")
    fw.wait_update("long", TERMINAL, timeout=30)
    wait_until(lambda: not os.path.exists(long_dir), 20, what="the killed sandbox removed")


def test_disk_pressure_removes_without_waiting(cluster_factory, scheduler_factory):
    # Headroom 1.0: the filesystem is always "short of space", so terminated
    # sandboxes go at once although gc_delay is a week.
    c = cluster_factory(agent_flags={"gc_delay": "1weeks", "gc_disk_headroom": "1.0"})
    agent = c.agents[0]
    fw = scheduler_factory(c.url, name="gc-pressure").subscribe()
    launch(fw, "p1", "echo one")
    assert fw.wait_update("p1", TERMINAL, timeout=30)["state"] == "TASK_FINISHED"
    d = sandbox_of(agent, fw, "p1")
    wait_until(lambda: not os.path.exists(d), 20, what="the sandbox removed under pressure")


def test_default_gc_delay_keeps_sandboxes(cluster_factory, scheduler_factory):
    c = cluster_factory()
    agent = c.agents[0]
    flags = get_json(agent.url, "/flags")["flags"]
    assert flags.get("gc_delay") in ("1weeks", "7days", "604800secs", "1.0weeks"), flags
    assert float(flags.get("gc_disk_headroom")) == pytest.approx(0.1), flags
    assert flags.get("container_logger_max_size") == "10MB", flags
    assert flags.get("container_logger_max_files") == "5", flags
    fw = scheduler_factory(c.url, name="gc-keep").subscribe()
    launch(fw, "k1", "echo keep")
    assert fw.wait_update("k1", TERMINAL, timeout=30)["state"] == "TASK_FINISHED"
    d = sandbox_of(agent, fw, "k1")
    # A GC round (every 10 s at most) counts it as pending, and keeps it.
    m = wait_until(lambda: (lambda m: m if m["gc/path_removals_pending"] >= 1 else None)(
        get_json(agent.url, "/metrics/snapshot")), 15, what="gc/path_removals_pending >= 1")
    assert m["gc/path_removals_succeeded"] == 0, m
    assert os.path.isdir(d)


@pytest.mark.parametrize("flag,value", [
    ("gc_disk_headroom", "2"),
    ("gc_disk_headroom", "-0.5"),
    ("gc_delay", "-1secs"),
    ("container_logger_max_size", "10XB"),
    ("container_logger_max_size", "0"),
    ("container_logger_max_files", "0"),
    ("fetcher_cache_size", "big"),
    ("fetcher_stall_timeout", "0secs"),
])
def test_bad_sandbox_flags_refused(tmp_path, flag, value):
    import subprocess
    from harness import binary, sanitizer_env
    p = subprocess.run([binary("agora-agent"), "--master=127.0.0.1:1", "--port=0",
                        "--work_dir=%s" % (tmp_path / "w"), "--%s=%s" % (flag, value)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30, env=sanitizer_env())
    assert p.returncode != 0, p.stderr
    assert "--" + flag in p.stderr, p.stderr
    assert "listening" not in p.stderr, p.stderr
