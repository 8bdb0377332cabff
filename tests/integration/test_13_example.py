"""The example framework (examples/run_tasks.c, on the C scheduler SDK):
runs N tasks across the cluster, reports each finished, tears itself down,
and exits 0; exits 1 when tasks fail."""

import subprocess

import pytest

import harness
from harness import binary, get_json, sanitizer_env


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    yield from harness.module_cluster(tmp_path_factory, "example", agents=2)


def run_example(mc, *args, timeout=90):
    argv = [binary("agora-example-run_tasks"),
            "--master=%s:%d" % (mc.master.ip, mc.master.port)] + list(args)
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, env=sanitizer_env())
    except subprocess.TimeoutExpired as e:
        raise AssertionError("example did not finish in %ds:\n%s\n%s" % (timeout, e.stdout,
                                                                           e.stderr))
    m = harness.SANITIZER_RE.search(p.stderr)
    assert not m, "sanitizer report from the example:\n" + p.stderr[-3000:]
    return p


def explain(p):
    return "exit %d\n--- stdout\n%s\n--- stderr\n%s" % (p.returncode, p.stdout[-3000:],
                                                      p.stderr[-2000:])


def framework_named(mc, fid):
    data = get_json(mc.url, "/master/frameworks")
    for key in ("frameworks", "completed_frameworks"):
        for f in data[key]:
            if f["id"] == fid:
                return key, f
    return None, None


def test_runs_n_tasks_to_finished(mc):
    n = 8
    p = run_example(mc, "--tasks=%d" % n, "--cmd=echo task-$MESOS_EXECUTOR_ID")
    assert p.returncode == 0, explain(p)
    finished = [l for l in p.stdout.splitlines() if "TASK_FINISHED" in l]
    assert len(finished) == n, explain(p)
    fid = None
    for line in p.stdout.splitlines():
        if line.startswith("subscribed as framework "):
            fid = line.split()[-1]
    assert fid, explain(p)
    def torn_down():
        key, f = framework_named(mc, fid)
        return f if key == "completed_frameworks" else None

    f = harness.wait_until(torn_down, 10, what="the example's framework torn down")
    done = [t for t in f["completed_tasks"] if t["state"] == "TASK_FINISHED"]
    assert len(done) == n, f["completed_tasks"]
    # Spread over the cluster's agents (both have room for all of them, so
    # this only checks the tasks ran where the master says).
    assert {t["slave_id"] for t in done} <= {a.agent_id for a in mc.agents}


def test_failing_tasks_exit_1(mc):
    p = run_example(mc, "--tasks=3", "--cmd=exit 1")
    assert p.returncode == 1, explain(p)
    assert p.stdout.count("TASK_FAILED") >= 3, explain(p)


def test_bad_arguments(mc):
    p = run_example(mc, "--tasks=0")
    assert p.returncode != 0, explain(p)
    p = subprocess.run([binary("agora-example-run_tasks")], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30, env=sanitizer_env())
    assert p.returncode != 0 and "usage" in (p.stdout + p.stderr).lower()


def test_cluster_clean_afterwards(mc):
    st = mc.state()
    assert not [f for f in st["frameworks"] if f["active"]], \
        "example frameworks left active: %s" % [f["name"] for f in st["frameworks"]]
    m = get_json(mc.url, "/metrics/snapshot")
    assert m["master/tasks_running"] == 0
    assert m["master/cpus_used"] == 0
