"""Isolation (issue 4): executors in containers made of cgroups (cpu, memory,
pids) and namespaces (pid, mount, uts, ipc, net), with their limits
enforced and explained (TASK_FAILED with REASON_CONTAINER_LIMITATION_*,
§3.9), per-container statistics (/monitor/statistics, GET_CONTAINERS),
run-as users, and nothing left behind: every process of a killed task and
every cgroup of an ended container (and of a stopped agent) is gone.

Real cgroups and namespaces: these tests need root and a writable cgroup
filesystem; they skip, saying so, where the host has neither. Each agent
gets its own --cgroups_root so that parallel test files do not share one.
"""

import os
import time
import uuid

import pytest

import mesos_v1
from harness import get, get_json, pid_alive, post_json, wait_until
from mesos_v1 import agent_executor, agent_state, status_of, task_info

MB = 1024 * 1024
CG = "/sys/fs/cgroup"


def cgroup_v1():
    return os.path.isdir(os.path.join(CG, "memory")) and \
        os.path.exists(os.path.join(CG, "memory", "cgroup.procs"))


def cgroup_dir(root, controller, container_id=None):
    """The cgroup of a container (or the root) for a controller, v1 or v2."""
    base = os.path.join(CG, controller) if cgroup_v1() else CG
    parts = [base, root] + ([container_id] if container_id else [])
    return os.path.join(*parts)


def _skip_reason():
    if os.geteuid() != 0:
        return "isolation needs root (cgroups and namespaces)"
    probe = os.path.join(CG, "memory") if cgroup_v1() else CG
    if not os.access(probe, os.W_OK):
        return "no writable cgroup filesystem at %s" % probe
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def root_is_mount_point():
    """Mount namespaces need "/" to be a mount point; inside a plain chroot
    it is not (the agent then leaves namespaces/mount out)."""
    with open("/proc/self/mountinfo") as f:
        return any(len(l.split()) > 4 and l.split()[4] == "/" for l in f)


def needs_mount_namespace():
    if not root_is_mount_point():
        pytest.skip("'/' is not a mount point here (a plain chroot): no mount namespaces")


def unique_root():
    return "agora-it-%s" % uuid.uuid4().hex[:8]


def make(cluster_factory, resources=None, **flags):
    flags.setdefault("cgroups_root", unique_root())
    kw = {"agent_flags": flags}
    if resources:
        kw["resources"] = resources
    c = cluster_factory(**kw)
    c.cgroups_root = flags["cgroups_root"]
    return c


def sandbox_of(cluster, fw, executor_id):
    def find():
        ex = agent_executor(agent_state(cluster.agents[0].url), fw.framework_id, executor_id,
                            completed=True)
        return ex and ex.get("directory")
    return wait_until(find, 10, what="sandbox of %s" % executor_id)


def read_file(path, timeout=15):
    def read():
        with open(path) as f:
            text = f.read()
        return text if text.strip() else None
    return wait_until(read, timeout, what="the task to write %s" % path)


def containers(agent_url):
    r = post_json(agent_url, "/api/v1", {"type": "GET_CONTAINERS"})
    assert r.status == 200, r
    body = r.json()
    assert body["type"] == "GET_CONTAINERS", body
    return body["get_containers"]["containers"]


def container_id_of(agent_url, executor_id):
    def find():
        for c in containers(agent_url):
            if c["executor_id"]["value"] == executor_id:
                return c["container_id"]["value"]
        return None
    return wait_until(find, 10, what="container of %s in GET_CONTAINERS" % executor_id)


def cgroup_pids(path):
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def launch(fw, task_id, shell, **kw):
    fw.launch_one(task_id, shell=shell, **kw)


@pytest.fixture
def fwf(scheduler_factory):
    def new(cluster, name="iso-fw"):
        return scheduler_factory(cluster.url, name=name).subscribe()
    return new


# --------------------------------------------------------------------------
# memory


def test_oom_kill_is_a_memory_limitation_and_the_neighbour_lives(cluster_factory, fwf):
    c = make(cluster_factory)
    fw = fwf(c)
    launch(fw, "neighbour", "exec sleep 600", mem=32)
    fw.wait_update("neighbour", "TASK_RUNNING")
    # 64 MB asked, 96 MB limit with the command executor's 32 MB; 400 MB
    # written (bytes multiplied are touched, not lazily zero).
    launch(fw, "hog", "exec /usr/bin/python3 -c \"b = b'x' * (400 << 20); "
           "import time; time.sleep(600)\"", mem=64)
    st = fw.wait_terminal("hog", timeout=30)
    assert st["state"] == "TASK_FAILED", st
    assert st.get("source") == "SOURCE_AGENT", st
    assert st.get("reason") == "REASON_CONTAINER_LIMITATION_MEMORY", st
    msg = st.get("message", "")
    assert "Memory limit exceeded" in msg and "96MB" in msg, msg
    res = st.get("limitation", {}).get("resources", [])
    assert res and res[0]["name"] == "mem", st
    assert abs(res[0]["scalar"]["value"] - 96) < 1e-6, res
    # The neighbour on the same agent is untouched.
    time.sleep(1)
    assert fw.states("neighbour")[-1] == "TASK_RUNNING", fw.states("neighbour")
    tasks = mesos_v1.agent_tasks(agent_state(c.agents[0].url), fw.framework_id)
    assert any(t["id"] == "neighbour" and t["state"] == "TASK_RUNNING" for t in tasks), tasks


def test_memory_limit_and_statistics(cluster_factory, fwf):
    c = make(cluster_factory)
    fw = fwf(c)
    # ~48 MB resident and about a second of CPU in user space.
    launch(fw, "stats", "exec /usr/bin/python3 -c \"b = b'x' * (48 << 20); import time\n"
           "while time.process_time() < 1.2: pass\ntime.sleep(600)\"",
           mem=100, cpus=0.5)
    fw.wait_update("stats", "TASK_RUNNING")
    cid = container_id_of(c.agents[0].url, "stats")
    assert os.path.isdir(cgroup_dir(c.cgroups_root, "memory", cid))
    with open(os.path.join(cgroup_dir(c.cgroups_root, "memory", cid),
                           "memory.limit_in_bytes" if cgroup_v1() else "memory.max")) as f:
        assert int(f.read()) == 132 * MB, "limit = mem + the executor's 32 MB"
    if cgroup_v1():
        with open(os.path.join(cgroup_dir(c.cgroups_root, "cpu", cid), "cpu.shares")) as f:
            assert int(f.read()) == int(0.6 * 1024), "shares = 1024 per cpu (0.5 + 0.1)"

    def ready():
        for e in get_json(c.agents[0].url, "/monitor/statistics"):
            s = e["statistics"]
            if e["executor_id"] == "stats" and s.get("mem_rss_bytes", 0) >= 40 * MB and \
                    s.get("cpus_user_time_secs", 0) + s.get("cpus_system_time_secs", 0) >= 1.0:
                return e
        return None
    e = wait_until(ready, 20, what="/monitor/statistics to show the container's use")
    assert e["framework_id"] == fw.framework_id, e
    assert e["source"] and "executor_name" in e, e
    s = e["statistics"]
    assert s["mem_limit_bytes"] == 132 * MB, s
    assert abs(s["cpus_limit"] - 0.6) < 1e-6, s
    assert s["processes"] >= 2, s
    assert s["timestamp"] > 0, s
    metrics = get_json(c.agents[0].url, "/metrics/snapshot")
    assert metrics["containerizer/mesos/container_destroy_errors"] == 0, metrics
    legacy = get_json(c.agents[0].url, "/slave(1)/monitor/statistics")
    assert any(x["executor_id"] == "stats" for x in legacy), legacy
    v1 = [x for x in containers(c.agents[0].url) if x["executor_id"]["value"] == "stats"]
    assert v1 and v1[0]["container_id"]["value"] == cid, v1
    assert v1[0]["framework_id"]["value"] == fw.framework_id, v1
    assert v1[0]["resource_statistics"]["mem_limit_bytes"] == 132 * MB, v1
    assert v1[0]["container_status"]["executor_pid"] > 0, v1
    fw.kill("stats")
    assert fw.wait_terminal("stats")["state"] == "TASK_KILLED"
    wait_until(lambda: not os.path.exists(cgroup_dir(c.cgroups_root, "memory", cid)), 10,
               what="the container's memory cgroup removed")


# --------------------------------------------------------------------------
# processes


def test_fork_bomb_is_stopped_by_the_pids_limit(cluster_factory, fwf):
    if not os.path.exists(os.path.join(CG, "pids") if cgroup_v1() else CG):
        pytest.skip("no pids cgroup controller on this host")
    c = make(cluster_factory, cgroups_pids_limit=64)
    fw = fwf(c)
    # Forks until the kernel refuses; what it made stays (sleeping).
    launch(fw, "bomb", "(bomb() { bomb & bomb & while :; do sleep 600 & done; }; bomb) "
           "2>/dev/null & exec sleep 600")
    fw.wait_update("bomb", "TASK_RUNNING")
    cid = container_id_of(c.agents[0].url, "bomb")
    pids_dir = cgroup_dir(c.cgroups_root, "pids", cid)

    def refused():
        # pids.events counts the forks the limit refused. (How many
        # processes stay is left to chance: a dash that cannot fork exits,
        # so the count can settle below the limit once the bombers die.)
        with open(os.path.join(pids_dir, "pids.events")) as f:
            n = int(f.read().split()[1])
        return n if n > 0 else None
    wait_until(refused, 20, what="the bomb to hit the limit")
    time.sleep(1)
    with open(os.path.join(pids_dir, "pids.current")) as f:
        assert int(f.read()) <= 64
    with open(os.path.join(pids_dir, "pids.max")) as f:
        assert f.read().strip() == "64"
    # The agent still answers, and the neighbours can still be launched.
    assert get(c.agents[0].url, "/health").status == 200
    launch(fw, "after", "echo fine")
    assert fw.wait_terminal("after")["state"] == "TASK_FINISHED"
    bombers = cgroup_pids(pids_dir)
    assert bombers
    fw.kill("bomb")
    assert fw.wait_terminal("bomb", timeout=30)["state"] in ("TASK_KILLED", "TASK_FAILED")
    wait_until(lambda: not any(pid_alive(p) for p in bombers), 15,
               what="every process of the bomb gone")
    wait_until(lambda: not os.path.exists(pids_dir), 15, what="the bomb's cgroup removed")


@pytest.mark.parametrize("isolation", ["default", "pid", "no-pid"])
def test_kill_leaves_no_process_behind(cluster_factory, fwf, isolation):
    flags = {}
    if isolation == "pid":
        needs_mount_namespace()
        flags["isolation"] = "cgroups/cpu,cgroups/mem,namespaces/pid,namespaces/mount"
    elif isolation == "no-pid":
        # The cgroup alone finds every process (no PID namespace to die with).
        flags["isolation"] = "cgroups/cpu,cgroups/mem"
    c = make(cluster_factory, **flags)
    fw = fwf(c)
    # A child that ignores SIGTERM, one that left the session, and one
    # orphaned by a double fork (re-parented to the container's init, or
    # to the host's without a PID namespace).
    launch(fw, "tree", "(trap '' TERM; exec sleep 600) & "
           "setsid sh -c 'trap \"\" TERM; exec sleep 600' & "
           "sh -c 'setsid sleep 600 & exit 0'; "
           "echo started > started; exec sleep 600", kill_grace=1)
    fw.wait_update("tree", "TASK_RUNNING")
    d = sandbox_of(c, fw, "tree")
    read_file(os.path.join(d, "started"))
    cid = container_id_of(c.agents[0].url, "tree")
    procs = cgroup_pids(cgroup_dir(c.cgroups_root, "memory", cid))
    assert len(procs) >= 5, procs  # executor, sh/sleep, three children
    fw.kill("tree")
    assert fw.wait_terminal("tree", timeout=20)["state"] == "TASK_KILLED"
    wait_until(lambda: not any(pid_alive(p) for p in procs), 15,
               what="every process of the container gone (%s)" % procs)
    ctrls = ("memory", "cpu", "cpuacct", "pids", "freezer") if cgroup_v1() else ("memory",)
    for ctrl in ctrls:
        wait_until(lambda: not os.path.exists(cgroup_dir(c.cgroups_root, ctrl, cid)), 10,
                   what="the container's %s cgroup removed" % ctrl)


# --------------------------------------------------------------------------
# namespaces


@pytest.mark.parametrize("isolation", ["default", "explicit"])
def test_ps_inside_shows_only_the_container(cluster_factory, fwf, isolation):
    needs_mount_namespace()
    flags = {}
    if isolation == "explicit":
        flags["isolation"] = "cgroups/mem,namespaces/pid,namespaces/mount"
    c = make(cluster_factory, **flags)
    fw = fwf(c)
    launch(fw, "ps", "sleep 600 & "
           # ps only once the child has exec'd (before, it is listed as 'sh')
           "until [ \"$(cat /proc/$!/comm)\" = sleep ]; do :; done; "
           "ps -e -o pid=,comm= > ps.txt; echo $$ > self; exec sleep 600")
    fw.wait_update("ps", "TASK_RUNNING")
    d = sandbox_of(c, fw, "ps")
    text = read_file(os.path.join(d, "ps.txt"))
    lines = [l.split(None, 1) for l in text.strip().splitlines()]
    pids = {int(p): comm.strip() for p, comm in lines}
    assert pids.get(1, "").startswith("agora-contain"), pids
    assert "sleep" in pids.values(), "the task's own child is listed: %s" % pids
    assert len(pids) <= 6, "only the container's processes: %s" % pids
    assert not any("agora-agent" in v or "agora-master" in v for v in pids.values()), pids
    assert int(read_file(os.path.join(d, "self"))) < 10, "the task is numbered in its namespace"
    fw.kill("ps")
    fw.wait_terminal("ps")


def test_hostname_of_its_own(cluster_factory, fwf):
    c = make(cluster_factory, isolation="namespaces/uts")
    fw = fwf(c)
    offer = fw.take_offer()
    t = task_info(offer, "uts", shell="hostname > h.txt")
    t["container"] = {"type": "MESOS", "hostname": "agora-box"}
    fw.launch(offer, [t], refuse_seconds=0)
    assert fw.wait_terminal("uts")["state"] == "TASK_FINISHED"
    d = sandbox_of(c, fw, "uts")
    assert read_file(os.path.join(d, "h.txt")).strip() == "agora-box"
    assert os.uname().nodename != "agora-box", "the host keeps its name"


def test_private_tmp_and_sandbox_mount(cluster_factory, fwf):
    needs_mount_namespace()
    c = make(cluster_factory, isolation="namespaces/mount")
    fw = fwf(c)
    name = "agora-it-%s" % uuid.uuid4().hex[:8]
    launch(fw, "mnt", "echo private > /tmp/%s && ls /mnt/mesos/sandbox > m.txt && "
           "echo $MESOS_DIRECTORY > dir.txt" % name)
    assert fw.wait_terminal("mnt")["state"] == "TASK_FINISHED"
    d = sandbox_of(c, fw, "mnt")
    assert "stdout" in read_file(os.path.join(d, "m.txt")).split(), "sandbox at MESOS_SANDBOX"
    assert read_file(os.path.join(d, "dir.txt")).strip() == d, "MESOS_DIRECTORY: host path"
    assert not os.path.exists("/tmp/" + name), "the task's /tmp is its own"


def test_network_namespace_has_only_loopback(cluster_factory, fwf):
    needs_mount_namespace()
    c = make(cluster_factory, isolation="namespaces/pid,namespaces/mount,namespaces/net")
    fw = fwf(c)
    launch(fw, "net", "cat /proc/net/dev > dev.txt")
    # The executor reached the agent from inside (through the relay).
    assert fw.wait_terminal("net", timeout=30)["state"] == "TASK_FINISHED"
    d = sandbox_of(c, fw, "net")
    ifaces = [l.split(":")[0].strip() for l in read_file(os.path.join(d, "dev.txt"))
              .splitlines()[2:]]
    assert ifaces == ["lo"], ifaces


# --------------------------------------------------------------------------
# users


def test_unknown_user_fails_clearly(cluster_factory, fwf):
    c = make(cluster_factory)
    fw = fwf(c)
    offer = fw.take_offer()
    t = task_info(offer, "who", shell="true")
    t["command"]["user"] = "no-such-user-4711"
    fw.launch(offer, [t], refuse_seconds=0)
    st = fw.wait_terminal("who")
    assert st["state"] == "TASK_FAILED", st
    assert "no-such-user-4711" in st.get("message", "") and \
        "no such user" in st.get("message", ""), st
    assert st.get("reason") == "REASON_CONTAINER_LAUNCH_FAILED", st


def reachable_by_others(path):
    """Whether every directory above path lets other users through: in a
    container the executor runs as the task's user, so it must be able to
    reach agora-executor."""
    p = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(p).st_mode & 0o001:
            return False
        if p == "/":
            return True
        p = os.path.dirname(p)


def test_runs_as_the_task_user(cluster_factory, fwf):
    from harness import binary
    if not reachable_by_others(binary("agora-executor")):
        pytest.skip("the build directory is not reachable by other users (e.g. under /root), "
                    "so a task user cannot run agora-executor")
    c = make(cluster_factory)
    fw = fwf(c)
    offer = fw.take_offer()
    t = task_info(offer, "nobody", shell="id -un > who.txt")
    t["command"]["user"] = "nobody"
    fw.launch(offer, [t], refuse_seconds=0)
    assert fw.wait_terminal("nobody")["state"] == "TASK_FINISHED"
    d = sandbox_of(c, fw, "nobody")
    assert read_file(os.path.join(d, "who.txt")).strip() == "nobody"
    import pwd
    assert os.stat(d).st_uid == pwd.getpwnam("nobody").pw_uid, "the sandbox is the user's"


def test_switch_user_off_runs_as_the_agent(cluster_factory, fwf):
    c = make(cluster_factory, switch_user=False)
    fw = fwf(c)
    offer = fw.take_offer()
    t = task_info(offer, "agentuser", shell="id -un > who.txt")
    t["command"]["user"] = "nobody"
    fw.launch(offer, [t], refuse_seconds=0)
    assert fw.wait_terminal("agentuser")["state"] == "TASK_FINISHED"
    d = sandbox_of(c, fw, "agentuser")
    assert read_file(os.path.join(d, "who.txt")).strip() == "root"


# --------------------------------------------------------------------------
# disk


def test_disk_over_quota_is_a_disk_limitation(cluster_factory, fwf):
    c = make(cluster_factory, enforce_container_disk_quota=True,
             container_disk_watch_interval="500ms")
    fw = fwf(c)
    launch(fw, "small", "exec sleep 600", disk=10)
    launch(fw, "filler", "dd if=/dev/zero of=big bs=1M count=20 2>/dev/null; exec sleep 600",
           disk=5)
    st = fw.wait_terminal("filler", timeout=30)
    assert st["state"] == "TASK_FAILED", st
    assert st.get("reason") == "REASON_CONTAINER_LIMITATION_DISK", st
    assert st.get("source") == "SOURCE_AGENT", st
    assert "5MB" in st.get("message", ""), st
    assert st["limitation"]["resources"][0]["name"] == "disk", st
    fw.wait_update("small", "TASK_RUNNING")
    time.sleep(1)
    assert fw.states("small")[-1] == "TASK_RUNNING", "the neighbour within its disk lives"


# --------------------------------------------------------------------------
# cleanup and configuration


def test_cgroups_removed_when_the_agent_stops(cluster_factory, fwf):
    c = make(cluster_factory)
    fw = fwf(c)
    launch(fw, "long", "exec sleep 600")
    fw.wait_update("long", "TASK_RUNNING")
    cid = container_id_of(c.agents[0].url, "long")
    root = cgroup_dir(c.cgroups_root, "memory")
    assert os.path.isdir(os.path.join(root, cid))
    procs = cgroup_pids(os.path.join(root, cid))
    c.agents[0].stop()
    assert not os.path.exists(root), "the agent removes its cgroups root on exit"
    for ctrl in ("cpu", "cpuacct", "pids", "freezer"):
        assert not os.path.exists(cgroup_dir(c.cgroups_root, ctrl)), ctrl
    assert not any(pid_alive(p) for p in procs), procs


def test_cgroups_root_removed_meanwhile_is_made_again(cluster_factory, fwf):
    """Another agent sharing --cgroups_root removes it when it stops and it
    is empty: the next container makes it again (the roots are not remade
    for every launch)."""
    c = make(cluster_factory)
    fw = fwf(c)
    launch(fw, "first", "true")
    assert fw.wait_terminal("first")["state"] == "TASK_FINISHED"
    roots = [cgroup_dir(c.cgroups_root, ctrl) for ctrl in ("memory", "cpu", "pids")]

    def emptied():
        for r in roots:
            if os.path.isdir(r) and any(os.path.isdir(os.path.join(r, d)) for d in os.listdir(r)):
                return None
        return True
    wait_until(emptied, 10, what="the first container's cgroups removed")
    for r in roots:
        if os.path.isdir(r):
            os.rmdir(r)
    launch(fw, "second", "exec sleep 600")
    fw.wait_update("second", "TASK_RUNNING")
    cid = container_id_of(c.agents[0].url, "second")
    assert os.path.isdir(cgroup_dir(c.cgroups_root, "memory", cid))
    assert cgroup_pids(cgroup_dir(c.cgroups_root, "memory", cid)), "the executor is in it"
    fw.kill("second")
    fw.wait_terminal("second")


def test_bad_isolation_flags_are_refused(tmp_path):
    import subprocess
    from harness import binary
    for flags, needle in ((["--isolation=cgroups/bogus"], "unknown isolator 'cgroups/bogus'"),
                          (["--cgroups_root=a/b"], "--cgroups_root"),
                          (["--cgroups_pids_limit=-1"], "--cgroups_pids_limit")):
        p = subprocess.run([binary("agora-agent"), "--master=127.0.0.1:1",
                            "--work_dir=%s" % tmp_path, "--port=0"] + flags,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0, flags
        assert needle in p.stderr, (flags, p.stderr)


def test_cfs_quota_caps_cpu(cluster_factory, fwf):
    if not cgroup_v1():
        pytest.skip("checks the v1 files cpu.cfs_quota_us/cpu.cfs_period_us")
    c = make(cluster_factory, cgroups_enable_cfs=True)
    fw = fwf(c)
    launch(fw, "capped", "exec sleep 600", cpus=0.5)
    fw.wait_update("capped", "TASK_RUNNING")
    cid = container_id_of(c.agents[0].url, "capped")
    d = cgroup_dir(c.cgroups_root, "cpu", cid)
    with open(os.path.join(d, "cpu.cfs_period_us")) as f:
        assert int(f.read()) == 100000
    with open(os.path.join(d, "cpu.cfs_quota_us")) as f:
        assert int(f.read()) == 60000, "0.5 cpus + the executor's 0.1 per 100 ms"
    fw.kill("capped")
    fw.wait_terminal("capped")


def test_default_namespaces(cluster_factory, fwf):
    """The default isolation (as root): pid, mount, uts and ipc namespaces of
    the container's own (pid and mount not in a plain chroot); the network
    stays the host's."""
    c = make(cluster_factory)
    fw = fwf(c)
    launch(fw, "ns", "for n in mnt uts ipc pid net; do echo $n $(readlink /proc/self/ns/$n); "
           "done > ns.txt")
    assert fw.wait_terminal("ns")["state"] == "TASK_FINISHED"
    d = sandbox_of(c, fw, "ns")
    seen = dict(l.split() for l in read_file(os.path.join(d, "ns.txt")).strip().splitlines())
    own = ("pid", "mnt", "uts", "ipc") if root_is_mount_point() else ("uts", "ipc")
    for n in own:
        assert seen[n] != os.readlink("/proc/self/ns/%s" % n), (n, seen)
    for n in ("net",) + (() if root_is_mount_point() else ("pid", "mnt")):
        assert seen[n] == os.readlink("/proc/self/ns/%s" % n), (n, seen)
