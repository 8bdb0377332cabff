"""Agent recovery (reference §4.7, §5): the agent is SIGKILLed while tasks
of a checkpointing framework run and started again on the same work dir
and port. It keeps its id, the executors re-subscribe, the tasks keep
running and every status update reaches the scheduler. Also: tasks whose
executor died while the agent was down, --recover=cleanup, an executor
that does not re-subscribe, executors whose agent never comes back
(MESOS_RECOVERY_TIMEOUT), and a corrupt task checkpoint."""

import os
import signal
import time

import pytest

import harness
from harness import get_json, pid_alive, pids_with_cwd_under, wait_until
from mesos_v1 import offer_scalar, task_info
from test_40_isolation import needs_mount_namespace

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
            "TASK_DROPPED", "TASK_GONE"}


@pytest.fixture
def rc(cluster_factory):
    # Executors get 10 s to re-subscribe (the default is 2 s): on a loaded
    # 2-core machine a restarted agent under ASan and its executors' retry
    # backoff can take longer than 2 s, and an executor that misses the
    # window is killed, which these tests would read as a lost task. The
    # window itself is tested with its own clusters below.
    return cluster_factory(agent_flags={"status_update_retry_interval": "1secs",
                                        "executor_reregistration_timeout": "10secs"})


def wait_file_cmd(path, code=0):
    # Waits for the test to create `path`, says so, then exits with `code`.
    return ("while [ ! -e %s ]; do sleep 0.1; done; echo released-$MESOS_TASK_ID; exit %d" %
            (path, code))


class Releases:
    """Files the tasks wait for: in the agent's work dir, which containers
    still see (their /tmp is private with the mount namespace)."""

    def __init__(self, agent):
        self.dir = os.path.join(agent.work_dir, "releases")
        os.makedirs(self.dir, exist_ok=True)

    def __truediv__(self, name):
        import pathlib
        return pathlib.Path(self.dir) / name


def launch_waiting(s, releases, ids):
    """Launches one task per id on one offer; each waits for releases/<id>."""
    offer = s.take_offer(lambda o: offer_scalar(o, "cpus") >= 0.2 * len(ids) - 1e-9)
    tasks = [task_info(offer, tid, shell=wait_file_cmd(releases / ("release-" + tid)),
                       cpus=0.1, mem=32) for tid in ids]
    s.launch(offer, tasks)
    for tid in ids:
        s.wait_update(tid, "TASK_RUNNING", timeout=30)


def sigkill(agent):
    """SIGKILL the agent (nothing of it runs any more; its executors stay)."""
    agent.proc.kill()
    agent.proc.wait(10)
    if agent in harness.LIVE_DAEMONS:
        harness.LIVE_DAEMONS.remove(agent)


def restart(cluster, agent, **flags):
    """Starts the agent again with the same work dir and port (and extra
    flags), waits for /health."""
    drop = ("--port=",) + tuple("--%s=" % k for k in flags)
    argv = [a for a in agent.argv if not a.startswith(drop)]
    argv.append("--port=%d" % agent.port)
    argv += harness.flag_args(flags)
    agent.argv = argv
    agent.start()
    wait_until(lambda: harness.get(agent.url, "/health").status == 200, harness.START_TIMEOUT,
               what="%s /health after restart" % agent.name)


def master_task_states(cluster):
    out = {}
    for fw in cluster.state().get("frameworks", []):
        for t in fw.get("tasks", []) + fw.get("completed_tasks", []):
            out[t["id"]] = (t["state"], t.get("slave_id"))
    return out


def dedup(states):
    """Consecutive duplicates (resends of one update) folded."""
    out = []
    for s in states:
        if not out or out[-1] != s:
            out.append(s)
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def task_pids(agent, only=None):
    """Host pids running in the agent's sandboxes (container inits,
    executors, tasks, loggers), without the short `sleep`s of the task
    loops (nor the shell forks about to become one: a pid must be there,
    and not a sleep, in two looks 0.5s apart); only those named `only` if
    given."""
    def look():
        return {p for p in pids_with_cwd_under(agent.work_dir)
                if comm(p) != "sleep" and (only is None or comm(p) == only)}
    first = look()
    time.sleep(0.5)
    return first & look()


def test_sigkill_restart_keeps_tasks_running_and_loses_no_update(rc, scheduler_factory,
                                                                  tmp_path):
    agent = rc.agents[0]
    tmp_path = Releases(agent)
    old_id = agent.agent_id
    s = scheduler_factory(rc.url, name="ckpt-fw", checkpoint=True).subscribe()
    ids = ["r1", "r2", "r3"]
    launch_waiting(s, tmp_path, ids)
    # The checkpoint names the agent and holds the tasks.
    meta = os.path.join(agent.work_dir, "meta", "slaves")
    assert os.readlink(os.path.join(meta, "latest")) == old_id
    before = task_pids(agent)
    assert before, "no process found in the sandboxes"

    sigkill(agent)
    assert all(pid_alive(p) for p in before), "a task died with its agent"
    restart(rc, agent)

    # Same id at the master, the tasks RUNNING there and in the agent.
    slave = rc.wait_registered(agent)
    assert slave["id"] == old_id, slave
    wait_until(lambda: all(master_task_states(rc).get(t, (None,))[0] == "TASK_RUNNING"
                           for t in ids), 20, what="master to list the tasks RUNNING")
    state = get_json(agent.url, "/state")
    assert state["id"] == old_id
    running = [t["id"] for f in state["frameworks"] for e in f["executors"] for t in e["tasks"]]
    assert sorted(running) == sorted(ids), state
    assert all(pid_alive(p) for p in before), "a task died across the restart"

    for tid in ids:
        (tmp_path / ("release-" + tid)).write_text("go")
    for tid in ids:
        s.wait_update(tid, "TASK_FINISHED", timeout=30)
    for tid in ids:
        assert dedup(s.states(tid)) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"], \
            (tid, s.states(tid))
    wait_until(lambda: all(master_task_states(rc)[t][0] == "TASK_FINISHED" for t in ids), 20,
               what="master to list the tasks FINISHED")
    # Their output after the restart reached the sandboxes (the container
    # loggers outlived the agent too).
    for e in [e for f in get_json(agent.url, "/state")["completed_frameworks"] +
              get_json(agent.url, "/state")["frameworks"]
              for e in f["executors"] + f["completed_executors"]]:
        with open(os.path.join(e["directory"], "stdout")) as f:
            out = f.read()
        assert "released-" + e["id"] in out, (e["id"], out[-500:])
    # No zombie is left to the restarted agent.
    zombies = [p for p in harness._all_pids()
               if (harness._proc_stat(p) or (None,))[0] == agent.proc.pid and not pid_alive(p)]
    assert not zombies, zombies
    # Every update was acknowledged: the agent's streams drain and the
    # executors' checkpoints go with them.
    wait_until(lambda: not os.listdir(os.path.join(meta, old_id, "frameworks", s.framework_id,
                                                   "executors")), 20,
               what="the executors' checkpoints to be removed once completed")
    assert not s.ack_failures, s.ack_failures


def test_task_ending_while_agent_is_down_is_reported(rc, scheduler_factory, tmp_path):
    agent = rc.agents[0]
    tmp_path = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-fw2", checkpoint=True).subscribe()
    launch_waiting(s, tmp_path, ["done-early", "exec-dies", "keeps"])
    sandboxes = {}
    state = get_json(agent.url, "/state")
    for f in state["frameworks"]:
        for e in f["executors"]:
            sandboxes[e["id"]] = e["directory"]
    sigkill(agent)
    # One task finishes (its executor holds the update); one executor is
    # killed together with its task.
    (tmp_path / "release-done-early").write_text("go")
    victims = {p for p in pids_with_cwd_under(sandboxes["exec-dies"]) if comm(p) != "sleep"}
    assert victims
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass  # went with one killed before (its container init)
    wait_until(lambda: not any(pid_alive(p) for p in victims), 10, what="the victims to die")
    restart(rc, agent)
    rc.wait_registered(agent)
    fin = s.wait_update("done-early", "TASK_FINISHED", timeout=30)
    assert fin["source"] == "SOURCE_EXECUTOR", fin
    failed = s.wait_update("exec-dies", "TASK_FAILED", timeout=30)
    assert failed.get("reason") == "REASON_EXECUTOR_TERMINATED", failed
    assert "while the agent was down" in failed.get("message", ""), failed
    assert s.states("keeps")[-1] == "TASK_RUNNING"
    (tmp_path / "release-keeps").write_text("go")
    s.wait_update("keeps", "TASK_FINISHED", timeout=30)
    for tid in ("done-early", "keeps"):
        assert dedup(s.states(tid)) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"], \
            (tid, s.states(tid))


def test_recover_cleanup_kills_and_reports(rc, scheduler_factory, tmp_path):
    agent = rc.agents[0]
    tmp_path = Releases(agent)
    old_id = agent.agent_id
    s = scheduler_factory(rc.url, name="ckpt-fw3", checkpoint=True).subscribe()
    launch_waiting(s, tmp_path, ["c1", "c2"])
    before = task_pids(agent)
    sigkill(agent)
    restart(rc, agent, recover="cleanup")
    assert rc.wait_registered(agent)["id"] == old_id
    for tid in ("c1", "c2"):
        st = s.wait_update(tid, "TASK_FAILED", timeout=30)
        assert st.get("reason") == "REASON_AGENT_RESTARTED", st
        assert "cleanup" in st.get("message", ""), st
    wait_until(lambda: not any(pid_alive(p) for p in before), 15,
               what="the cleaned-up tasks' processes to be gone")
    # It goes on as a normal agent: a new task runs.
    s.launch_one("after", shell="exit 0")
    s.wait_update("after", "TASK_FINISHED", timeout=30)
    # Its executor, a child of the restarted agent, is reaped (pidfd).
    wait_until(lambda: not [p for p in harness._all_pids()
                            if (harness._proc_stat(p) or (None,))[0] == agent.proc.pid and
                            comm(p) in ("agora-executor", "agora-container")], 15,
               what="the new executor to be reaped by the agent")


def test_executor_not_resubscribing_fails_its_task(cluster_factory, scheduler_factory,
                                                    tmp_path):
    rc = cluster_factory(agent_flags={"executor_reregistration_timeout": "2secs"})
    agent = rc.agents[0]
    tmp_path = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-fw4", checkpoint=True).subscribe()
    launch_waiting(s, tmp_path, ["frozen"])
    procs = task_pids(agent)
    executors = task_pids(agent, only="agora-executor")
    assert executors, procs
    sigkill(agent)
    for p in executors:  # a stopped executor cannot re-subscribe
        os.kill(p, signal.SIGSTOP)
    try:
        restart(rc, agent)
        st = s.wait_update("frozen", "TASK_FAILED", timeout=30)
        assert st.get("reason") == "REASON_EXECUTOR_REREGISTRATION_TIMEOUT", st
        wait_until(lambda: not any(pid_alive(p) for p in procs), 15,
                   what="the executor that did not re-subscribe to be killed")
    finally:
        for p in executors:
            if pid_alive(p):
                os.kill(p, signal.SIGCONT)


def test_executor_exits_when_agent_never_returns(cluster_factory, scheduler_factory, tmp_path):
    rc = cluster_factory(agent_flags={"recovery_timeout": "3secs"})
    agent = rc.agents[0]
    tmp_path = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-fw5", checkpoint=True).subscribe()
    launch_waiting(s, tmp_path, ["orphan"])
    procs = task_pids(agent)
    assert len(procs) >= 2, "expected the executor and its task: %s" % procs
    sigkill(agent)
    wait_until(lambda: not any(pid_alive(p) for p in procs), 60,
               what="the executor and its task to exit after MESOS_RECOVERY_TIMEOUT")


def test_corrupt_task_checkpoint_does_not_stop_recovery(rc, scheduler_factory, tmp_path):
    agent = rc.agents[0]
    tmp_path = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-fw6", checkpoint=True).subscribe()
    launch_waiting(s, tmp_path, ["good", "bad"])
    sigkill(agent)
    meta = os.path.join(agent.work_dir, "meta", "slaves", agent.agent_id)
    bad = None
    for root, dirs, files in os.walk(meta):
        if os.path.basename(root) == "bad" and "task.info" in files:
            bad = os.path.join(root, "task.info")
    assert bad, "no task.info for task 'bad' under %s" % meta
    with open(bad, "r+") as f:  # a crash in the middle of a write
        text = f.read()
        f.seek(0)
        f.truncate()
        f.write(text[:len(text) // 2])
    restart(rc, agent)
    rc.wait_registered(agent)
    wait_until(lambda: bad in agent.read_stderr(), 10, what="an error naming %s" % bad)
    (tmp_path / "release-good").write_text("go")
    s.wait_update("good", "TASK_FINISHED", timeout=30)
    (tmp_path / "release-bad").write_text("go")


def test_non_checkpointing_framework_writes_no_checkpoint(rc, scheduler_factory, tmp_path):
    agent = rc.agents[0]
    tmp_path = Releases(agent)
    s = scheduler_factory(rc.url, name="plain-fw").subscribe()
    launch_waiting(s, tmp_path, ["plain"])
    fw_dir = os.path.join(agent.work_dir, "meta", "slaves", agent.agent_id, "frameworks",
                          s.framework_id)
    assert not os.path.exists(fw_dir)
    # The executor was told not to wait for a restarted agent.
    envs = executor_envs(agent)
    assert envs and all(e.get("MESOS_CHECKPOINT") == "0" for e in envs), envs
    # Only a note of its container, for a restarted agent to kill it.
    containers = os.path.join(agent.work_dir, "meta", "slaves", agent.agent_id, "containers")
    assert len(os.listdir(containers)) == 1, os.listdir(containers)
    (tmp_path / "release-plain").write_text("go")
    s.wait_update("plain", "TASK_FINISHED", timeout=30)
    wait_until(lambda: not os.listdir(containers), 15,
               what="the container note to go when the executor exits")


def test_checkpointing_executor_gets_recovery_environment(cluster_factory, scheduler_factory,
                                                          tmp_path):
    rc = cluster_factory(agent_flags={"recovery_timeout": "7mins"})
    agent = rc.agents[0]
    tmp_path = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-env", checkpoint=True).subscribe()
    launch_waiting(s, tmp_path, ["env"])
    envs = executor_envs(agent)
    assert envs, "no executor process found"
    for e in envs:
        assert e.get("MESOS_CHECKPOINT") == "1", e
        assert e.get("MESOS_RECOVERY_TIMEOUT") == "7mins", e
        assert e.get("MESOS_SUBSCRIPTION_BACKOFF_MAX"), e
    (tmp_path / "release-env").write_text("go")
    s.wait_update("env", "TASK_FINISHED", timeout=30)


def executor_envs(agent):
    """The environments of the processes in the sandboxes that are
    executors (they carry MESOS_EXECUTOR_ID)."""
    out = []
    for p in pids_with_cwd_under(agent.work_dir):
        try:
            with open("/proc/%d/environ" % p, "rb") as f:
                raw = f.read().split(b"\0")
        except OSError:
            continue
        env = dict(kv.decode("utf-8", "replace").split("=", 1) for kv in raw if b"=" in kv)
        if "MESOS_EXECUTOR_ID" in env:
            out.append(env)
    return out


def test_exit_status_of_executor_dying_while_agent_is_down(cluster_factory, scheduler_factory):
    """With a PID namespace the container's init outlives the executor
    and checkpoints its exit status; the restarted agent reports it."""
    needs_mount_namespace()
    rc = cluster_factory(agent_flags={
        "isolation": "cgroups/cpu,cgroups/mem,namespaces/mount,namespaces/pid"})
    agent = rc.agents[0]
    releases = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-status", checkpoint=True).subscribe()
    launch_waiting(s, releases, ["killed"])
    executors = task_pids(agent, only="agora-executor")
    assert len(executors) == 1, executors
    sigkill(agent)
    for p in executors:
        os.kill(p, signal.SIGKILL)
    status_files = []
    wait_until(lambda: status_files.extend(
        os.path.join(r, "exit_status") for r, d, f in os.walk(
            os.path.join(agent.work_dir, "meta")) if "exit_status" in f) or status_files, 15,
        what="the container init to write exit_status")
    restart(rc, agent)
    rc.wait_registered(agent)
    st = s.wait_update("killed", "TASK_FAILED", timeout=30)
    assert st.get("reason") == "REASON_EXECUTOR_TERMINATED", st
    assert "signal" in st.get("message", "") and "while the agent was down" in st["message"], st


def test_agora_run_checkpoint_survives_agent_restart(rc):
    """`agora run --checkpoint`: the task outlives a SIGKILL of its agent
    and `agora run` still ends with the task's exit code."""
    import subprocess
    agent = rc.agents[0]
    release = Releases(agent) / "release-cli"
    proc = subprocess.Popen(
        [harness.binary("agora"), "run", "--master=%s:%d" % (rc.master.ip, rc.master.port),
         "--checkpoint", "--", wait_file_cmd(release, 7)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def running_fw():
            for fw in rc.state().get("frameworks", []):
                if fw.get("name") == "agora-run" and any(
                        t["state"] == "TASK_RUNNING" for t in fw.get("tasks", [])):
                    return fw
            return None
        fw = wait_until(running_fw, 30, what="agora run's task to be RUNNING")
        assert fw["checkpoint"] is True, fw
        sigkill(agent)
        restart(rc, agent)
        rc.wait_registered(agent)
        release.write_text("go")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 7, (proc.returncode, err.decode()[-2000:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_recovered_sandbox_is_kept_while_running_then_collected(cluster_factory,
                                                                 scheduler_factory):
    rc = cluster_factory(agent_flags={"gc_delay": "1secs"})
    agent = rc.agents[0]
    releases = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-gc", checkpoint=True).subscribe()
    launch_waiting(s, releases, ["gc"])
    sandbox = [e["directory"] for f in get_json(agent.url, "/state")["frameworks"]
               for e in f["executors"]][0]
    sigkill(agent)
    restart(rc, agent)
    rc.wait_registered(agent)
    # Several GC rounds (every 0.5s with this delay) pass: the live
    # executor's sandbox stays.
    for _ in range(6):
        assert os.path.isdir(sandbox), "GC removed the sandbox of a recovered, live executor"
        time.sleep(0.5)
    (releases / "release-gc").write_text("go")
    s.wait_update("gc", "TASK_FINISHED", timeout=30)
    wait_until(lambda: not os.path.exists(sandbox), 30,
               what="GC to remove the recovered executor's sandbox once it ended")


def test_clean_shutdown_forgets_the_agent_id(rc):
    agent = rc.agents[0]
    old_id = agent.agent_id
    agent.stop()
    assert not os.path.lexists(os.path.join(agent.work_dir, "meta", "slaves", "latest"))
    assert not os.path.exists(os.path.join(agent.work_dir, "meta", "slaves", old_id))
    restart(rc, agent)
    new_id = wait_until(lambda: get_json(agent.url, "/state").get("id"), 20,
                        what="the restarted agent to get an id")
    assert new_id != old_id
    assert os.readlink(os.path.join(agent.work_dir, "meta", "slaves", "latest")) == new_id


def test_recovered_container_keeps_statistics_and_oom_watch(rc, scheduler_factory):
    """The containerizer re-adopts the container: /monitor/statistics
    still reports its limits and an OOM after the restart is reported as
    a memory limitation."""
    agent = rc.agents[0]
    releases = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-oom", checkpoint=True).subscribe()
    offer = s.take_offer()
    hog = ("while [ ! -e %s ]; do sleep 0.1; done; exec /usr/bin/python3 -c "
           "\"b = b'x' * (400 << 20); import time; time.sleep(600)\"" % (releases / "release-hog"))
    s.launch(offer, [task_info(offer, "hog", shell=hog, cpus=0.1, mem=64)])
    s.wait_update("hog", "TASK_RUNNING", timeout=30)
    stats = get_json(agent.url, "/monitor/statistics")
    if not stats or "mem_limit_bytes" not in stats[0]["statistics"]:
        pytest.skip("no memory cgroup isolation on this agent: %s" % stats)
    limit = stats[0]["statistics"]["mem_limit_bytes"]
    sigkill(agent)
    restart(rc, agent)
    rc.wait_registered(agent)
    stats = wait_until(lambda: get_json(agent.url, "/monitor/statistics"), 10,
                       what="statistics of the recovered executor")
    assert stats[0]["executor_id"] == "hog", stats
    assert stats[0]["statistics"].get("mem_limit_bytes") == limit, stats
    (releases / "release-hog").write_text("go")
    st = s.wait_terminal("hog", timeout=30)
    assert st["state"] == "TASK_FAILED", st
    assert st.get("reason") == "REASON_CONTAINER_LIMITATION_MEMORY", st


def test_executor_of_non_checkpointing_framework_is_killed_on_restart(rc, scheduler_factory):
    """Such an executor exits by itself when it loses its agent; one that
    cannot (here: stopped) is killed by the restarted agent, and the
    master reports its task gone."""
    agent = rc.agents[0]
    releases = Releases(agent)
    s = scheduler_factory(rc.url, name="plain-kill").subscribe()
    launch_waiting(s, releases, ["stuck"])
    procs = task_pids(agent)
    executors = task_pids(agent, only="agora-executor")
    assert executors, procs
    for p in executors:
        os.kill(p, signal.SIGSTOP)
    try:
        sigkill(agent)
        restart(rc, agent)
        rc.wait_registered(agent)
        wait_until(lambda: not any(pid_alive(p) for p in procs), 15,
                   what="the leftover executor and task to be killed")
        st = s.wait_terminal("stuck", timeout=30)
        assert st["state"] in ("TASK_LOST", "TASK_GONE", "TASK_FAILED"), st
    finally:
        for p in executors:
            if pid_alive(p):
                os.kill(p, signal.SIGCONT)


def test_unacknowledged_updates_are_resent_in_order_after_restart(rc, scheduler_factory):
    """The agent's update streams survive it: the unacknowledged head is
    sent again with the same uuid, and what was queued behind it follows
    once it is acknowledged."""
    agent = rc.agents[0]
    releases = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-noack", checkpoint=True, auto_ack=False).subscribe()
    offer = s.take_offer()
    s.launch(offer, [task_info(offer, "held", shell=wait_file_cmd(releases / "release-held"),
                               cpus=0.1, mem=32)])
    first = s.wait_update("held", "TASK_STARTING", timeout=30)
    # RUNNING waits behind the unacknowledged STARTING in the agent.
    updates_dir = [os.path.join(r, "task.updates") for r, d, f in
                   os.walk(os.path.join(agent.work_dir, "meta")) if "task.updates" in f]
    wait_until(lambda: any("TASK_RUNNING" in open(p).read() for p in updates_dir), 15,
               what="TASK_RUNNING to be checkpointed behind the unacknowledged head")
    sigkill(agent)
    mark = s.mark()
    restart(rc, agent)
    again = s.wait_update("held", "TASK_STARTING", start=mark, timeout=30)
    assert again["uuid"] == first["uuid"], (first, again)
    s.acknowledge(again)
    running = s.wait_update("held", "TASK_RUNNING", timeout=30)
    s.acknowledge(running)
    (releases / "release-held").write_text("go")
    fin = s.wait_update("held", "TASK_FINISHED", timeout=30)
    s.acknowledge(fin)
    assert dedup(s.states("held")) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"], \
        s.states("held")


def test_recovery_through_the_network_namespace_relay(cluster_factory, scheduler_factory):
    """In a network namespace the executor reaches the agent through the
    container init's relay; it re-subscribes through it after a restart."""
    needs_mount_namespace()
    rc = cluster_factory(agent_flags={
        "isolation": "cgroups/cpu,cgroups/mem,namespaces/mount,namespaces/pid,namespaces/net"})
    agent = rc.agents[0]
    releases = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-net", checkpoint=True).subscribe()
    launch_waiting(s, releases, ["net"])
    sigkill(agent)
    restart(rc, agent)
    rc.wait_registered(agent)
    wait_until(lambda: "executor 'net' of framework '%s' subscribed" % s.framework_id in
               agent.read_stderr(agent._err_offset), 20,
               what="the executor to re-subscribe through the relay")
    (releases / "release-net").write_text("go")
    s.wait_update("net", "TASK_FINISHED", timeout=30)
    assert dedup(s.states("net")) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"], \
        s.states("net")


def test_kill_before_the_executor_resubscribed_is_delivered(cluster_factory, scheduler_factory):
    rc = cluster_factory(agent_flags={"executor_reregistration_timeout": "20secs"})
    agent = rc.agents[0]
    releases = Releases(agent)
    s = scheduler_factory(rc.url, name="ckpt-kill", checkpoint=True).subscribe()
    launch_waiting(s, releases, ["late-kill"])
    executors = task_pids(agent, only="agora-executor")
    assert executors
    sigkill(agent)
    for p in executors:  # it cannot re-subscribe until we let it
        os.kill(p, signal.SIGSTOP)
    try:
        restart(rc, agent)
        rc.wait_registered(agent)
        s.kill("late-kill")
        wait_until(lambda: "KILL of task 'late-kill' held" in
                   agent.read_stderr(agent._err_offset), 15,
                   what="the agent to hold the KILL for the stopped executor")
    finally:
        for p in executors:
            os.kill(p, signal.SIGCONT)
    st = s.wait_terminal("late-kill", timeout=30)
    assert st["state"] == "TASK_KILLED", st


def sandboxes_by_executor(agent):
    state = get_json(agent.url, "/state")
    return {e["id"]: e["directory"] for f in state["frameworks"] for e in f["executors"]}


def live_in(sandbox):
    """Pids (not the short `sleep`s of task loops) running in a sandbox."""
    return {p for p in pids_with_cwd_under(sandbox) if comm(p) != "sleep"}


def stop_with(agent, sig):
    """Sends `sig` to the agent and waits for it to exit; returns the code."""
    agent.proc.send_signal(sig)
    code = agent.proc.wait(30)
    if agent in harness.LIVE_DAEMONS:
        harness.LIVE_DAEMONS.remove(agent)
    return code


def test_sigterm_leaves_checkpointing_executors_running(rc, scheduler_factory):
    """SIGTERM = exit, not shut down: the checkpointing framework's task
    keeps running, the checkpoint stays, the next start recovers it; the
    non-checkpointing framework's task (which no restart could recover) is
    killed."""
    agent = rc.agents[0]
    releases = Releases(agent)
    old_id = agent.agent_id
    ck = scheduler_factory(rc.url, name="term-ckpt", checkpoint=True).subscribe()
    nock = scheduler_factory(rc.url, name="term-nockpt", checkpoint=False).subscribe()
    launch_waiting(ck, releases, ["kept"])
    launch_waiting(nock, releases, ["gone"])
    boxes = sandboxes_by_executor(agent)
    kept, gone = live_in(boxes["kept"]), live_in(boxes["gone"])
    assert kept and gone, (kept, gone)

    assert stop_with(agent, signal.SIGTERM) == 0, agent.tail()
    assert "leaving 1 executors" in agent.read_stderr(), agent.tail()
    assert all(pid_alive(p) for p in kept), "SIGTERM killed a checkpointing framework's task"
    wait_until(lambda: not any(pid_alive(p) for p in gone), 10,
               what="the non-checkpointing framework's task to be killed")
    meta = os.path.join(agent.work_dir, "meta", "slaves")
    assert os.readlink(os.path.join(meta, "latest")) == old_id

    restart(rc, agent)
    assert rc.wait_registered(agent)["id"] == old_id
    assert all(pid_alive(p) for p in kept), "the task died across the restart"
    (releases / "release-kept").write_text("go")
    ck.wait_update("kept", "TASK_FINISHED", timeout=30)
    assert dedup(ck.states("kept")) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"], \
        ck.states("kept")
    assert not ck.ack_failures, ck.ack_failures


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGINT])
def test_sigusr1_and_sigint_shut_everything_down(rc, scheduler_factory, sig):
    """SIGUSR1 (and an interactive Ctrl-C) is the full shutdown: even a
    checkpointing framework's task is killed and the checkpoint forgotten."""
    agent = rc.agents[0]
    releases = Releases(agent)
    old_id = agent.agent_id
    ck = scheduler_factory(rc.url, name="usr1-ckpt", checkpoint=True).subscribe()
    launch_waiting(ck, releases, ["doomed"])
    doomed = live_in(sandboxes_by_executor(agent)["doomed"])
    assert doomed

    assert stop_with(agent, sig) == 0, agent.tail()
    wait_until(lambda: not any(pid_alive(p) for p in doomed), 10,
               what="the checkpointing framework's task to be killed")
    meta = os.path.join(agent.work_dir, "meta", "slaves")
    assert not os.path.lexists(os.path.join(meta, "latest"))
    assert not os.path.exists(os.path.join(meta, old_id))


def nested_status_files(agent):
    """The exit_status files agora-container-init wrote for the nested
    containers of checkpointing frameworks."""
    out = []
    for root, _dirs, files in os.walk(os.path.join(agent.work_dir, "meta")):
        if "exit_status" in files and os.sep + "nested" + os.sep in root:
            out.append(os.path.join(root, "exit_status"))
    return out


def test_task_group_survives_agent_sigkill(rc, scheduler_factory):
    """A default executor and its nested containers are recovered: the
    tasks keep running across a SIGKILL + restart of the agent, the one
    that ended while the agent was down is reported with its exit, and
    every update of the others reaches the scheduler once released."""
    from test_41_task_groups import launch_group, take
    agent = rc.agents[0]
    releases = Releases(agent)
    old_id = agent.agent_id
    s = scheduler_factory(rc.url, name="group-ckpt", checkpoint=True).subscribe()
    offer = take(s, cpus=0.5, mem=160)
    ids = ["g1", "g2", "g3"]
    launch_group(s, offer, [task_info(offer, tid, shell=wait_file_cmd(releases / ("release-" + tid)),
                                      cpus=0.1, mem=32) for tid in ids])
    for tid in ids:
        s.wait_update(tid, "TASK_RUNNING", timeout=30)
    before = task_pids(agent)
    assert before, "no process found in the sandboxes"

    sigkill(agent)
    assert all(pid_alive(p) for p in before), "a task died with its agent"
    (releases / "release-g3").write_text("go")  # ends while the agent is down
    wait_until(lambda: len(nested_status_files(agent)) == 1, 20,
               what="g3's container to end and leave its exit status")
    restart(rc, agent)
    assert rc.wait_registered(agent)["id"] == old_id

    fin = s.wait_update("g3", "TASK_FINISHED", timeout=60)
    assert fin["source"] == "SOURCE_EXECUTOR", fin
    for tid in ("g1", "g2"):
        assert s.states(tid)[-1] == "TASK_RUNNING", (tid, s.states(tid))
    state = get_json(agent.url, "/state")
    assert state["id"] == old_id
    running = sorted(t["id"] for f in state["frameworks"] for e in f["executors"]
                     for t in e["tasks"] if t["state"] == "TASK_RUNNING")
    assert running == ["g1", "g2"], state

    for tid in ("g1", "g2"):
        (releases / ("release-" + tid)).write_text("go")
    for tid in ("g1", "g2"):
        s.wait_update(tid, "TASK_FINISHED", timeout=30)
    for tid in ids:
        assert dedup(s.states(tid))[-2:] == ["TASK_RUNNING", "TASK_FINISHED"], \
            (tid, s.states(tid))
        assert dedup(s.states(tid)).count("TASK_RUNNING") == 1, (tid, s.states(tid))
    assert not s.ack_failures, s.ack_failures


def test_task_group_of_non_checkpointing_framework_killed_on_restart(rc, scheduler_factory):
    """Nobody could report a non-checkpointing framework's group after a
    restart: its default executor and nested containers are killed, none
    left behind."""
    from test_41_task_groups import launch_group, take
    agent = rc.agents[0]
    releases = Releases(agent)
    s = scheduler_factory(rc.url, name="group-nockpt", checkpoint=False).subscribe()
    offer = take(s, cpus=0.4, mem=128)
    launch_group(s, offer, [task_info(offer, tid, shell=wait_file_cmd(releases / tid),
                                      cpus=0.1, mem=32) for tid in ("n1", "n2")])
    for tid in ("n1", "n2"):
        s.wait_update(tid, "TASK_RUNNING", timeout=30)
    before = task_pids(agent)
    assert before
    cid = os.path.basename(sandboxes_by_executor(agent)["group-ex"].rstrip("/"))
    import glob

    def cgroups():
        return glob.glob("/sys/fs/cgroup/*/%s" % cid) + glob.glob("/sys/fs/cgroup/*/*/%s" % cid)
    assert cgroups(), "no cgroup of the executor's container"
    sigkill(agent)
    restart(rc, agent)
    wait_until(lambda: not any(pid_alive(p) for p in before), 20,
               what="the group's processes to be killed")
    # The executor's cgroups and its nested containers' go too.
    wait_until(lambda: not cgroups(), 20, what="the group's cgroups to be removed: %s" % cgroups())


def test_sigterm_leaves_task_group_running(rc, scheduler_factory):
    """SIGTERM leaves a checkpointing framework's default executor and its
    nested containers running; the next start recovers them."""
    from test_41_task_groups import launch_group, take
    agent = rc.agents[0]
    releases = Releases(agent)
    s = scheduler_factory(rc.url, name="group-term", checkpoint=True).subscribe()
    offer = take(s, cpus=0.4, mem=128)
    ids = ["t1", "t2"]
    launch_group(s, offer, [task_info(offer, tid, shell=wait_file_cmd(releases / tid),
                                      cpus=0.1, mem=32) for tid in ids])
    for tid in ids:
        s.wait_update(tid, "TASK_RUNNING", timeout=30)
    before = task_pids(agent)
    assert before
    assert stop_with(agent, signal.SIGTERM) == 0, agent.tail()
    assert all(pid_alive(p) for p in before), "SIGTERM killed a task of the group"
    restart(rc, agent)
    rc.wait_registered(agent)
    assert all(pid_alive(p) for p in before), "a task died across the restart"
    for tid in ids:
        (releases / tid).write_text("go")
    for tid in ids:
        s.wait_update(tid, "TASK_FINISHED", timeout=30)
        assert dedup(s.states(tid)).count("TASK_RUNNING") == 1, (tid, s.states(tid))
    assert not s.ack_failures, s.ack_failures
