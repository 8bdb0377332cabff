"""The `agora` command against a test cluster: `agora run` streams the
task's output and exits with its exit code; `agora tasks|agents|frameworks`
print tables; bad arguments and an unreachable master give an error, not a
crash."""

import json
import os
import signal
import socket
import subprocess

import pytest

import harness
import mesos_v1
from harness import binary, sanitizer_env, wait_until


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    yield from harness.module_cluster(tmp_path_factory, "cli")


def agora(args, timeout=60, env=None):
    """Runs `agora ARGS` and returns the CompletedProcess (text)."""
    try:
        p = subprocess.run([binary("agora")] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout, env=sanitizer_env(env))
    except subprocess.TimeoutExpired as e:
        raise AssertionError("agora %s did not finish in %ds; output:\n%s\n%s" %
                             (" ".join(args), timeout, e.stdout, e.stderr))
    report = harness.SANITIZER_RE.search(p.stderr)
    assert not report, "sanitizer report from agora %s:\n%s" % (" ".join(args), p.stderr[-3000:])
    return p


def master_flag(mc):
    return "--master=%s:%d" % (mc.master.ip, mc.master.port)


def explain(p):
    return "exit %d\n--- stdout\n%s\n--- stderr\n%s" % (p.returncode, p.stdout[-2000:],
                                                      p.stderr[-2000:])


def test_run_echo(mc):
    p = agora(["run", master_flag(mc), "--", "echo", "hello"])
    assert p.returncode == 0, explain(p)
    assert "hello" in p.stdout.splitlines(), explain(p)
    assert "TASK_FINISHED" in p.stdout + p.stderr, explain(p)


def test_run_shell_string(mc):
    p = agora(["run", master_flag(mc), "--", "echo out-line; echo err-line >&2"])
    assert p.returncode == 0, explain(p)
    assert "out-line" in p.stdout and "err-line" in p.stderr, explain(p)


def test_run_exit_code(mc):
    p = agora(["run", master_flag(mc), "--", "sh", "-c", "exit 3"])
    assert p.returncode == 3, explain(p)
    assert "TASK_FAILED" in p.stdout + p.stderr, explain(p)


def test_run_master_from_environment(mc):
    p = agora(["run", "--", "echo", "via-env"],
              env={"AGORA_MASTER": "%s:%d" % (mc.master.ip, mc.master.port)})
    assert p.returncode == 0 and "via-env" in p.stdout, explain(p)


def test_run_env_and_resources(mc):
    p = agora(["run", master_flag(mc), "--cpus=0.2", "--mem=48", "--env=GREETING=hi there",
               "--", "echo \"$GREETING\""])
    assert p.returncode == 0 and "hi there" in p.stdout, explain(p)


def test_run_leaves_no_framework_behind(mc):
    p = agora(["run", master_flag(mc), "--name=cleanup-check", "--", "true"])
    assert p.returncode == 0, explain(p)

    def gone():
        data = harness.get_json(mc.url, "/master/frameworks")
        return not [f for f in data["frameworks"] if f["name"] == "agora-run" and f["active"]]

    wait_until(gone, 10, what="agora run's framework to be removed")


def test_run_too_big_waits_and_stops_on_sigint(mc):
    """A task bigger than the cluster can't run; agora run either says so
    and fails, or waits - and then SIGINT ends it with a failure code."""
    proc = subprocess.Popen([binary("agora"), "run", master_flag(mc), "--cpus=64", "--", "true"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=sanitizer_env())
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("agora run ignored SIGINT for 15s")
    out, err = proc.communicate()
    assert proc.returncode != 0, "exit %d\n%s\n%s" % (proc.returncode, out, err)
    assert not harness.SANITIZER_RE.search(err), err[-3000:]


def test_run_bad_arguments(mc):
    p = agora(["run", master_flag(mc)])
    assert p.returncode == 2 and p.stderr.strip(), explain(p)
    p = agora(["run", master_flag(mc), "--cpus=-1", "--", "true"])
    assert p.returncode == 2 and "cpus" in p.stderr, explain(p)
    p = agora(["run", "--master=not a url", "--", "true"])
    assert p.returncode != 0 and "master" in p.stderr.lower(), explain(p)


def table_rows(text):
    lines = [l for l in text.splitlines() if l.strip()]
    assert lines, "empty table"
    header = lines[0].split()
    assert header and header[0] == "ID", "table header: %r" % lines[0]
    return header, [l.split() for l in lines[1:]]


@pytest.fixture(scope="module")
def running(mc):
    s = mesos_v1.Scheduler(mc.url, name="cli-view-fw")
    harness.LIVE_SCHEDULERS.append(s)
    s.subscribe()
    s.launch_one("cli-task", shell="sleep 600")
    s.wait_update("cli-task", "TASK_RUNNING")
    yield s
    s.stop()
    harness.LIVE_SCHEDULERS.remove(s)


def test_tasks_table(mc, running):
    p = agora(["tasks", master_flag(mc)])
    assert p.returncode == 0, explain(p)
    header, rows = table_rows(p.stdout)
    assert "STATE" in header
    ids = [r[0] for r in rows]
    assert "cli-task" in ids, explain(p)
    (row,) = [r for r in rows if r[0] == "cli-task"]
    assert "TASK_RUNNING" in row or "RUNNING" in row, row


def test_agents_table(mc, running):
    p = agora(["agents", master_flag(mc)])
    assert p.returncode == 0, explain(p)
    header, rows = table_rows(p.stdout)
    assert [r[0] for r in rows] == [mc.agents[0].agent_id], explain(p)


def test_frameworks_table(mc, running):
    p = agora(["frameworks", master_flag(mc)])
    assert p.returncode == 0, explain(p)
    header, rows = table_rows(p.stdout)
    assert running.framework_id in [r[0] for r in rows], explain(p)
    assert any("cli-view-fw" in r for r in rows), explain(p)


def test_state_prints_json(mc):
    p = agora(["state", master_flag(mc)])
    assert p.returncode == 0, explain(p)
    st = json.loads(p.stdout)
    assert st["id"] == harness.get_json(mc.url, "/master/state")["id"]


def test_unreachable_master_is_an_error(mc):
    # A port nobody listens on: bind one and close it.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    for cmd in ("tasks", "agents", "frameworks"):
        p = agora([cmd, "--master=127.0.0.1:%d" % port], timeout=30)
        assert p.returncode != 0 and p.stderr.strip(), explain(p)


def test_help_and_unknown_command():
    p = agora(["--help"])
    assert p.returncode == 0 and "run" in p.stdout
    p = agora(["no-such-command"])
    assert p.returncode == 2 and "no-such-command" in p.stderr
    p = agora(["version"])
    assert p.returncode == 0 and p.stdout.strip()
    for cmd in ("run", "tasks", "local"):
        p = agora([cmd, "--help"])
        assert p.returncode == 0 and p.stdout.strip(), explain(p)


def test_daemons_clean(mc):
    assert mc.master.alive() and mc.agents[0].alive()
    assert os.path.isdir(mc.agents[0].work_dir)
