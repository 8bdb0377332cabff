"""Task groups (issue 4): LAUNCH_GROUP with a default executor. The tasks of
a group run as containers nested in the executor's: each in its own sandbox
(<executor sandbox>/containers/<id>, linked as tasks/<task id>) and its own
child cgroup with its own memory limit, sharing the executor's namespaces
(its network namespace here) and sandbox parent. A failing task kills the
rest of its group unless its label agora.group.kill_on_failure=false says
otherwise; a KILL kills one task's container. The agent's operator calls
LAUNCH/WAIT/KILL/REMOVE_CONTAINER that the default executor uses are tested
here too.

Real cgroups and namespaces: these tests need root and a writable cgroup
filesystem and skip, saying so, where the host has neither.
"""

import os

import pytest

from harness import post_json, wait_until
from mesos_v1 import agent_executor, agent_state, offer_allocation_info, scalar, task_info
from test_40_isolation import (cgroup_dir, cgroup_v1, make, needs_mount_namespace,  # noqa: F401
                               pytestmark)

MB = 1024 * 1024


@pytest.fixture
def fwf(scheduler_factory):
    def new(cluster, name="group-fw", **kw):
        return scheduler_factory(cluster.url, name=name, **kw).subscribe()
    return new


def default_executor(offer, executor_id="group-ex", cpus=0.1, mem=32):
    ai = offer_allocation_info(offer)
    return {
        "executor_id": {"value": executor_id},
        "type": "DEFAULT",
        "resources": [scalar("cpus", cpus, ai), scalar("mem", mem, ai)],
    }


def launch_group(fw, offer, tasks, executor=None, check=True):
    op = {"type": "LAUNCH_GROUP",
          "launch_group": {"executor": executor if executor is not None
                           else default_executor(offer),
                           "task_group": {"tasks": tasks}}}
    if executor is False:
        del op["launch_group"]["executor"]
    return fw.accept([offer["id"]["value"]], [op], refuse_seconds=0, check=check)


def take(fw, cpus=1.0, mem=256):
    return fw.take_offer(lambda o: sum(r["scalar"]["value"] for r in o["resources"]
                                       if r["name"] == "cpus") >= cpus and
                         sum(r["scalar"]["value"] for r in o["resources"]
                             if r["name"] == "mem") >= mem)


def executor_sandbox(cluster, fw, executor_id="group-ex"):
    def find():
        ex = agent_executor(agent_state(cluster.agents[0].url), fw.framework_id, executor_id,
                            completed=True)
        return ex and ex.get("directory")
    return wait_until(find, 15, what="sandbox of %s" % executor_id)


def read_file(path, timeout=20):
    def read():
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        return text if text.endswith("\n") else None
    return wait_until(read, timeout, what="%s to be written" % path)


def operator(agent_url, call, headers=None, **kw):
    return post_json(agent_url, "/api/v1", call, headers=headers, **kw)


def nested_containers(agent_url):
    r = operator(agent_url, {"type": "GET_CONTAINERS", "get_containers": {"show_nested": True}})
    assert r.status == 200, r
    return [c for c in r.json()["get_containers"]["containers"] if "parent" in c["container_id"]]


# --------------------------------------------------------------------------


def test_group_of_two_tasks_both_finish_in_their_own_sandboxes_and_cgroups(cluster_factory,
                                                                            fwf):
    needs_mount_namespace()
    c = make(cluster_factory, isolation="cgroups/cpu,cgroups/mem,namespaces/pid,namespaces/mount,namespaces/net,namespaces/ipc")
    fw = fwf(c)
    offer = take(fw)
    # Each task records where it runs and which namespace, then waits for a
    # file so that both are seen running at the same time.
    script = ("echo $MESOS_SANDBOX > where; pwd >> where; readlink /proc/self/ns/net > netns; "
              "cat /proc/self/cgroup > cgroup; "
              "while [ ! -e ../../go ]; do sleep 0.05; done; echo done > out")
    tasks = [task_info(offer, "ga", shell=script, mem=48, cpus=0.2),
             task_info(offer, "gb", shell=script, mem=64, cpus=0.3)]
    launch_group(fw, offer, tasks)
    for t in ("ga", "gb"):
        fw.wait_update(t, "TASK_RUNNING", timeout=30)
        assert fw.states(t)[:2] == ["TASK_STARTING", "TASK_RUNNING"], fw.states(t)
    sandbox = executor_sandbox(c, fw)
    nested = wait_until(lambda: len(nested_containers(c.agents[0].url)) == 2 and
                        nested_containers(c.agents[0].url), 10, what="two nested containers")
    parents = {n["container_id"]["parent"]["value"] for n in nested}
    assert len(parents) == 1, nested
    parent = parents.pop()
    limits = {}
    for n in nested:
        cid = n["container_id"]["value"]
        assert n["executor_id"]["value"] == "group-ex", n
        d = cgroup_dir(c.cgroups_root, "memory", parent)
        path = os.path.join(d, cid, "memory.limit_in_bytes" if cgroup_v1() else "memory.max")
        with open(path) as f:
            limits[cid] = int(f.read())
    assert sorted(limits.values()) == [48 * MB, 64 * MB], limits
    with open(os.path.join(cgroup_dir(c.cgroups_root, "memory", parent),
                           "memory.limit_in_bytes" if cgroup_v1() else "memory.max")) as f:
        assert int(f.read()) == (32 + 48 + 64) * MB, "executor's + both tasks' memory"
    where = {}
    for t in ("ga", "gb"):
        tdir = os.path.join(sandbox, "tasks", t)
        lines = read_file(os.path.join(tdir, "where")).split()
        assert lines[0] == lines[1] == os.path.realpath(tdir), lines
        assert os.path.dirname(lines[0]) == os.path.join(sandbox, "containers"), lines
        where[t] = lines[0]
        netns = read_file(os.path.join(tdir, "netns")).strip()
        where[t + "-net"] = netns
        cg = read_file(os.path.join(tdir, "cgroup"))
        assert any(os.path.basename(lines[0]) in l and parent in l for l in cg.splitlines()
                   if "memory" in l), cg
    assert where["ga"] != where["gb"], where
    assert where["ga-net"] == where["gb-net"], "both tasks share one network namespace"
    assert where["ga-net"] != os.readlink("/proc/self/ns/net"), "not the host's"
    open(os.path.join(sandbox, "go"), "w").close()
    for t in ("ga", "gb"):
        st = fw.wait_terminal(t, timeout=30)
        assert st["state"] == "TASK_FINISHED", st
        assert read_file(os.path.join(sandbox, "tasks", t, "out")) == "done\n"
    # The executor leaves once its tasks are done and acknowledged.
    wait_until(lambda: agent_executor(agent_state(c.agents[0].url), fw.framework_id,
                                      "group-ex") is None, 30, what="the executor to exit")
    # Nothing is left of the nested cgroups.
    wait_until(lambda: not os.path.exists(cgroup_dir(c.cgroups_root, "memory", parent)), 15,
               what="the executor's cgroup to be removed")


def test_one_task_fails_and_the_other_is_killed(cluster_factory, fwf):
    c = make(cluster_factory)
    fw = fwf(c)
    offer = take(fw)
    tasks = [task_info(offer, "fails", shell="sleep 0.5; exit 3", mem=32),
             task_info(offer, "sleeps", shell="exec sleep 600", mem=32)]
    launch_group(fw, offer, tasks)
    st = fw.wait_terminal("fails", timeout=30)
    assert st["state"] == "TASK_FAILED", st
    assert st["message"] == "Command exited with status 3", st
    other = fw.wait_terminal("sleeps", timeout=30)
    assert other["state"] == "TASK_KILLED", other
    assert "fails" in other.get("message", ""), other
    assert "TASK_RUNNING" in fw.states("sleeps"), fw.states("sleeps")
    wait_until(lambda: agent_executor(agent_state(c.agents[0].url), fw.framework_id,
                                      "group-ex") is None, 30, what="the executor to exit")


def test_a_group_larger_than_the_connection_pool_runs(cluster_factory, fwf):
    """Every task of a group has a WAIT_CONTAINER held open at once; more of
    them than lib/core keeps pooled connections (8) must not hold back the
    executor's status updates: all 12 tasks reach TASK_RUNNING while every
    one still waits, then all finish."""
    c = make(cluster_factory, resources="cpus:2;mem:1024")
    fw = fwf(c)
    offer = take(fw, cpus=0.8, mem=416)
    # In the agent's work dir: the tasks' own /tmp is private.
    release = os.path.join(c.agents[0].work_dir, "go")
    wait = "while [ ! -e %s ]; do sleep 0.1; done" % release
    ids = ["t%02d" % i for i in range(12)]
    launch_group(fw, offer, [task_info(offer, tid, shell=wait, cpus=0.05, mem=32)
                             for tid in ids])
    for tid in ids:
        fw.wait_update(tid, "TASK_RUNNING", timeout=30)
    with open(release, "w") as f:
        f.write("go")
    for tid in ids:
        st = fw.wait_terminal(tid, timeout=30)
        assert st["state"] == "TASK_FINISHED", st


def test_kill_on_failure_false_keeps_the_group(cluster_factory, fwf):
    c = make(cluster_factory)
    fw = fwf(c)
    offer = take(fw)
    label = {"labels": {"labels": [{"key": "agora.group.kill_on_failure", "value": "false"}]}}
    tasks = [task_info(offer, "fails", shell="exit 1", mem=32, extra=label),
             task_info(offer, "lives", shell="sleep 2; echo ok", mem=32)]
    launch_group(fw, offer, tasks)
    assert fw.wait_terminal("fails", timeout=30)["state"] == "TASK_FAILED"
    st = fw.wait_terminal("lives", timeout=30)
    assert st["state"] == "TASK_FINISHED", st


def test_kill_one_task_of_a_group(cluster_factory, fwf):
    c = make(cluster_factory)
    fw = fwf(c)
    offer = take(fw)
    tasks = [task_info(offer, "victim", shell="exec sleep 600", mem=32, kill_grace=1),
             task_info(offer, "bystander", shell="exec sleep 600", mem=32)]
    launch_group(fw, offer, tasks)
    for t in ("victim", "bystander"):
        fw.wait_update(t, "TASK_RUNNING", timeout=30)
    fw.kill("victim")
    assert fw.wait_terminal("victim", timeout=30)["state"] == "TASK_KILLED"
    # The other task runs on.
    running = [n for n in nested_containers(c.agents[0].url)
               if n.get("container_status", {}).get("executor_pid")]
    assert len(running) == 1, running
    assert fw.states("bystander")[-1] == "TASK_RUNNING", fw.states("bystander")
    fw.kill("bystander")
    assert fw.wait_terminal("bystander", timeout=30)["state"] == "TASK_KILLED"


def test_memory_limit_of_one_task(cluster_factory, fwf):
    c = make(cluster_factory)
    fw = fwf(c)
    offer = take(fw, mem=256)
    hog = "exec /usr/bin/python3 -c \"b = b'x' * (200 << 20); import time; time.sleep(600)\""
    label = {"labels": {"labels": [{"key": "agora.group.kill_on_failure", "value": "false"}]}}
    tasks = [task_info(offer, "hog", shell=hog, mem=40, extra=label),
             task_info(offer, "small", shell="sleep 1; echo ok", mem=32)]
    launch_group(fw, offer, tasks)
    st = fw.wait_terminal("hog", timeout=30)
    assert st["state"] == "TASK_FAILED", st
    assert st.get("reason") == "REASON_CONTAINER_LIMITATION_MEMORY", st
    assert fw.wait_terminal("small", timeout=30)["state"] == "TASK_FINISHED"


@pytest.mark.parametrize("case", ["no-executor", "duplicate-ids", "custom-executor"])
def test_bad_groups_get_task_error(cluster_factory, fwf, case):
    c = make(cluster_factory)
    fw = fwf(c)
    offer = take(fw)
    a = task_info(offer, "x1", shell="true")
    b = task_info(offer, "x2" if case != "duplicate-ids" else "x1", shell="true")
    if case == "no-executor":
        launch_group(fw, offer, [a, b], executor=False)
        expect = "needs an 'executor'"
    elif case == "duplicate-ids":
        launch_group(fw, offer, [a, b])
        expect = "'x1' appears more than once"
    else:
        ex = {"executor_id": {"value": "custom"}, "command": {"value": "true"}}
        launch_group(fw, offer, [a, b], executor=ex)
        expect = "type DEFAULT"
    st = fw.wait_terminal("x1", timeout=15)
    assert st["state"] == "TASK_ERROR", st
    assert st["reason"] == "REASON_TASK_GROUP_INVALID", st
    assert expect in st["message"], st
    # Nothing ran on the agent.
    assert agent_executor(agent_state(c.agents[0].url), fw.framework_id, "group-ex",
                          completed=True) is None


@pytest.mark.parametrize("kind", ["LAUNCH", "LAUNCH_GROUP"])
def test_operation_feedback_on_a_launch_is_refused(cluster_factory, fwf, kind):
    """An `id` (operation feedback) on LAUNCH or LAUNCH_GROUP is not
    supported: every task gets TASK_ERROR saying so, and nothing runs."""
    c = make(cluster_factory)
    fw = fwf(c)
    offer = take(fw)
    a = task_info(offer, "x1", shell="true")
    if kind == "LAUNCH":
        op = {"type": "LAUNCH", "launch": {"task_infos": [a]}}
        reason = "REASON_TASK_INVALID"
    else:
        op = {"type": "LAUNCH_GROUP",
              "launch_group": {"executor": default_executor(offer), "task_group": {"tasks": [a]}}}
        reason = "REASON_TASK_GROUP_INVALID"
    op["id"] = {"value": "op-1"}
    fw.accept([offer["id"]["value"]], [op], refuse_seconds=0)
    st = fw.wait_terminal("x1", timeout=15)
    assert st["state"] == "TASK_ERROR", st
    assert st["reason"] == reason, st
    assert st["message"] == "operation feedback ('id') is not supported for %s" % kind, st
    assert not agent_state(c.agents[0].url)["frameworks"], "something ran on the agent"


def test_launch_container_with_a_parent_that_does_not_exist_is_400(cluster_factory):
    c = make(cluster_factory)
    url = c.agents[0].url
    call = {"type": "LAUNCH_CONTAINER",
            "launch_container": {"container_id": {"value": "n1", "parent": {"value": "nope"}},
                                 "command": {"value": "true"}, "resources": []}}
    r = operator(url, call)
    assert r.status == 400, r
    assert "parent container 'nope'" in r.text, r
    del call["launch_container"]["container_id"]["parent"]
    r = operator(url, call)
    assert r.status == 400 and "no 'parent'" in r.text, r
    r = operator(url, {"type": "WAIT_CONTAINER", "wait_container": {
        "container_id": {"value": "n1", "parent": {"value": "nope"}}}})
    assert r.status == 400, r


def test_operator_calls_on_a_live_executor(cluster_factory, fwf):
    """LAUNCH/WAIT/KILL/REMOVE_CONTAINER by an operator in a running default
    executor's container, and an executor token that is not the parent's."""
    c = make(cluster_factory)
    url = c.agents[0].url
    fw = fwf(c)
    offer = take(fw)
    launch_group(fw, offer, [task_info(offer, "anchor", shell="exec sleep 600")])
    fw.wait_update("anchor", "TASK_RUNNING", timeout=30)
    parent = nested_containers(url)[0]["container_id"]["parent"]["value"]
    cid = {"value": "op1", "parent": {"value": parent}}
    r = operator(url, {"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": cid, "command": {"value": "exec sleep 600"},
        "resources": [{"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}})
    assert r.status == 200, r
    r = operator(url, {"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": cid, "command": {"value": "true"}}})
    assert r.status == 202, r
    r = operator(url, {"type": "KILL_CONTAINER", "kill_container": {"container_id": cid}},
                 headers={"Authorization": "Bearer not-the-token"})
    assert r.status == 403, r
    r = operator(url, {"type": "REMOVE_CONTAINER", "remove_container": {"container_id": cid}})
    assert r.status == 400 and "still running" in r.text, r
    r = operator(url, {"type": "KILL_CONTAINER",
                       "kill_container": {"container_id": cid, "signal": 15}})
    assert r.status == 200, r
    r = operator(url, {"type": "WAIT_CONTAINER", "wait_container": {"container_id": cid}})
    assert r.status == 200, r
    w = r.json()["wait_container"]
    assert os.WIFSIGNALED(w["exit_status"]) and os.WTERMSIG(w["exit_status"]) == 15, w
    r = operator(url, {"type": "REMOVE_CONTAINER", "remove_container": {"container_id": cid}})
    assert r.status == 200, r
    r = operator(url, {"type": "WAIT_CONTAINER", "wait_container": {"container_id": cid}})
    assert r.status == 404, r
    fw.kill("anchor")
    assert fw.wait_terminal("anchor", timeout=30)["state"] == "TASK_KILLED"


def test_health_checks_of_group_tasks(cluster_factory, fwf):
    """COMMAND health checks and checks run as nested containers of their
    own: the healthy task is reported healthy with its check's exit code,
    the failing one is killed with healthy false and its neighbour keeps
    running."""
    c = make(cluster_factory)
    fw = fwf(c)
    offer = take(fw)

    def check(cmd):
        return {"health_check": {"type": "COMMAND", "command": {"value": cmd},
                                 "delay_seconds": 0, "interval_seconds": 0.2,
                                 "grace_period_seconds": 0, "consecutive_failures": 2,
                                 "timeout_seconds": 5}}
    well = check("test -d /proc")
    well["check"] = {"type": "COMMAND", "command": {"command": {"value": "exit 3"}},
                     "delay_seconds": 0, "interval_seconds": 0.2, "timeout_seconds": 5}
    tasks = [task_info(offer, "well", shell="exec sleep 600", extra=well),
             task_info(offer, "ill", shell="exec sleep 600", kill_grace=0.5,
                       extra=check("exit 1"))]
    launch_group(fw, offer, tasks)
    ev = fw.wait_update("well", "TASK_RUNNING", timeout=30,
                        pred=lambda st: st.get("healthy") is True)
    assert ev
    ev = fw.wait_update("well", "TASK_RUNNING", timeout=30,
                        pred=lambda st: st.get("check_status", {}).get("command", {})
                        .get("exit_code") == 3)
    assert ev["reason"] in ("REASON_TASK_CHECK_STATUS_UPDATED",
                            "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"), ev
    st = fw.wait_terminal("ill", timeout=30)
    assert st["state"] == "TASK_KILLED", st
    assert st.get("healthy") is False, st
    assert "health checks" in st.get("message", ""), st
    unhealthy = [s for s in fw.updates("ill") if s.get("healthy") is False]
    assert unhealthy, fw.updates("ill")
    assert fw.states("well")[-1] == "TASK_RUNNING", fw.states("well")
    fw.kill("well")
    assert fw.wait_terminal("well", timeout=30)["state"] == "TASK_KILLED"


def test_a_second_group_joins_the_running_executor(cluster_factory, fwf):
    """Several groups per default executor: the second LAUNCH_GROUP with the
    same ExecutorInfo goes to the executor already running, whose container
    grows; /state lists every task under that executor."""
    c = make(cluster_factory)
    url = c.agents[0].url
    fw = fwf(c)
    offer = take(fw)
    executor = default_executor(offer)
    launch_group(fw, offer, [task_info(offer, "first", shell="exec sleep 600", mem=32)],
                 executor=executor)
    fw.wait_update("first", "TASK_RUNNING", timeout=30)
    parent = nested_containers(url)[0]["container_id"]["parent"]["value"]
    offer = take(fw)
    launch_group(fw, offer, [task_info(offer, "second", shell="exec sleep 600", mem=64)],
                 executor=default_executor(offer))
    fw.wait_update("second", "TASK_RUNNING", timeout=30)
    nested = nested_containers(url)
    assert {n["container_id"]["parent"]["value"] for n in nested} == {parent}, nested
    assert len(nested) == 2, nested
    with open(os.path.join(cgroup_dir(c.cgroups_root, "memory", parent),
                           "memory.limit_in_bytes" if cgroup_v1() else "memory.max")) as f:
        assert int(f.read()) == (32 + 32 + 64) * MB, "grown by the second group's task"
    ex = agent_executor(agent_state(url), fw.framework_id, "group-ex")
    assert ex["type"] == "DEFAULT", ex
    assert sorted(t["id"] for t in ex["tasks"]) == ["first", "second"], ex
    # SHUTDOWN of the executor ends both groups' tasks.
    fw.shutdown("group-ex", c.agents[0].agent_id if hasattr(c.agents[0], "agent_id")
                else offer["agent_id"]["value"])
    for t in ("first", "second"):
        assert fw.wait_terminal(t, timeout=30)["state"] == "TASK_KILLED"
    wait_until(lambda: not nested_containers(url), 30, what="the nested containers to go")


def test_group_without_isolation(cluster_factory, fwf):
    """--isolation=posix: the nested containers are plain processes in their
    own sandboxes; failure and kill policy work the same."""
    c = make(cluster_factory, isolation="posix")
    fw = fwf(c)
    offer = take(fw)
    tasks = [task_info(offer, "p-ok", shell="echo $MESOS_SANDBOX > where; echo ok"),
             task_info(offer, "p-fails", shell="sleep 1; exit 2"),
             task_info(offer, "p-sleeps", shell="exec sleep 600")]
    launch_group(fw, offer, tasks)
    assert fw.wait_terminal("p-ok", timeout=30)["state"] == "TASK_FINISHED"
    assert fw.wait_terminal("p-fails", timeout=30)["message"] == "Command exited with status 2"
    assert fw.wait_terminal("p-sleeps", timeout=30)["state"] == "TASK_KILLED"
    sandbox = executor_sandbox(c, fw)
    where = read_file(os.path.join(sandbox, "tasks", "p-ok", "where")).strip()
    assert where == os.path.realpath(os.path.join(sandbox, "tasks", "p-ok")), where


def test_group_tasks_run_as_their_users(cluster_factory, fwf):
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' here")
    # The sandbox under the test's private tmp dir is reachable by another
    # user only through the container's mount namespace.
    needs_mount_namespace()
    c = make(cluster_factory)
    fw = fwf(c)
    offer = take(fw)
    a = task_info(offer, "as-nobody", shell="id -un > who")
    a["command"]["user"] = "nobody"
    b = task_info(offer, "as-ghost", shell="true")
    b["command"]["user"] = "no-such-user-4711"
    b["labels"] = {"labels": [{"key": "agora.group.kill_on_failure", "value": "false"}]}
    launch_group(fw, offer, [a, b])
    st = fw.wait_terminal("as-ghost", timeout=30)
    assert st["state"] == "TASK_FAILED", st
    assert "no-such-user-4711" in st["message"], st
    assert fw.wait_terminal("as-nobody", timeout=30)["state"] == "TASK_FINISHED"
    tdir = os.path.join(executor_sandbox(c, fw), "tasks", "as-nobody")
    assert read_file(os.path.join(tdir, "who")).strip() == "nobody"
    assert os.stat(tdir).st_uid == nobody.pw_uid, "the task's sandbox is its user's"


def test_bad_container_calls_are_400_and_change_nothing(cluster_factory, fwf):
    c = make(cluster_factory)
    url = c.agents[0].url
    fw = fwf(c)
    offer = take(fw)
    launch_group(fw, offer, [task_info(offer, "anchor", shell="exec sleep 600")])
    fw.wait_update("anchor", "TASK_RUNNING", timeout=30)
    parent = nested_containers(url)[0]["container_id"]["parent"]["value"]

    def lc(**payload):
        return operator(url, {"type": "LAUNCH_CONTAINER", "launch_container": payload})

    cid = {"value": "bad1", "parent": {"value": parent}}
    cases = [
        (lc(container_id={"value": 5, "parent": {"value": parent}}, command={"value": "true"}),
         "container_id"),
        (lc(container_id={"value": "a/b", "parent": {"value": parent}},
            command={"value": "true"}), "must be 1 to"),
        (lc(container_id={"value": "..", "parent": {"value": parent}},
            command={"value": "true"}), "must be 1 to"),
        (lc(container_id={"value": "x", "parent": {"value": parent, "parent": {"value": "y"}}},
            command={"value": "true"}), "more than one level"),
        (lc(container_id=cid), "'launch_container.command'"),
        (lc(container_id=cid, command={"value": "true"}, resources=[{"name": "mem"}]),
         "'launch_container.resources'"),
        (lc(container_id=cid, command={"value": "true"},
            container={"type": "DOCKER", "docker": {"image": "x"}}), "MESOS container"),
        (operator(url, {"type": "LAUNCH_CONTAINER", "launch_container": 3}), "object"),
        (operator(url, {"type": "KILL_CONTAINER", "kill_container": {
            "container_id": nested_containers(url)[0]["container_id"], "signal": "TERM"}}),
         "signal"),
    ]
    for r, words in cases:
        assert r.status == 400, r
        assert words in r.text, (words, r)
    r = operator(url, {"type": "KILL_CONTAINER", "kill_container": {"container_id": cid}})
    assert r.status == 404 and "not found" in r.text, r
    # Nothing was made, and the group's task still runs.
    assert len(nested_containers(url)) == 1
    assert fw.states("anchor")[-1] == "TASK_RUNNING"
    fw.kill("anchor")
    assert fw.wait_terminal("anchor", timeout=30)["state"] == "TASK_KILLED"


def test_group_tasks_fetch_their_uris(cluster_factory, fwf, tmp_path):
    """CommandInfo.uris of a group task are fetched into that task's own
    sandbox before it starts; a URI that cannot be fetched fails the task
    with the fetcher's message."""
    c = make(cluster_factory)
    fw = fwf(c)
    offer = take(fw)
    src = tmp_path / "payload.txt"
    src.write_text("fetched!\n")
    a = task_info(offer, "fetches", shell="cat payload.txt > seen")
    a["command"]["uris"] = [{"value": str(src)}]
    b = task_info(offer, "no-uri", shell="test ! -e payload.txt")
    launch_group(fw, offer, [a, b])
    assert fw.wait_terminal("fetches", timeout=30)["state"] == "TASK_FINISHED"
    assert fw.wait_terminal("no-uri", timeout=30)["state"] == "TASK_FINISHED"
    sandbox = executor_sandbox(c, fw)
    assert read_file(os.path.join(sandbox, "tasks", "fetches", "seen")) == "fetched!\n"
    assert not os.path.exists(os.path.join(sandbox, "payload.txt")), "not the executor's"

    offer = take(fw)
    bad = task_info(offer, "bad-uri", shell="true")
    bad["command"]["uris"] = [{"value": str(tmp_path / "missing.txt")}]
    launch_group(fw, offer, [bad], executor=default_executor(offer, "group-ex2"))
    st = fw.wait_terminal("bad-uri", timeout=30)
    assert st["state"] == "TASK_FAILED", st
    assert st["reason"] == "REASON_CONTAINER_LAUNCH_FAILED", st
    assert "missing.txt" in st["message"], st
