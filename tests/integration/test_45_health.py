"""Health checks and checks in the command executor (reference §3.7, §5.4):
HTTP, TCP and COMMAND probes; healthy results reported as TASK_RUNNING with
healthy:true and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED; every failure
reported unhealthy; consecutive_failures failures in a row kill the task,
whose terminal update carries healthy:false; failures inside the grace
period ignored until the first success; CheckInfo results in check_status
with REASON_TASK_CHECK_STATUS_UPDATED, never acted upon.

Intervals are fractions of a second so that the tests are quick; nothing
here asserts on timing, only on which updates arrive and in what order."""

import os
import random
import socket

import pytest

import harness
from harness import SHELL_PID, host_pid, pid_alive, wait_until
from mesos_v1 import offer_ranges, task_info

HEALTH_REASON = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
CHECK_REASON = "REASON_TASK_CHECK_STATUS_UPDATED"
PY = "/usr/bin/python3"


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    yield from harness.module_cluster(tmp_path_factory, "health")


@pytest.fixture
def fw(mc, scheduler_factory):
    return scheduler_factory(mc.url, name="health-fw").subscribe()


def free_port(offer):
    """A port of the offer that nothing on this machine listens on now,
    picked at random so that test runs side by side rarely collide."""
    ports = [p for begin, end in offer_ranges(offer, "ports") for p in range(begin, end + 1)]
    random.shuffle(ports)
    for port in ports:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    pytest.fail("no free port in the offer %r" % offer_ranges(offer, "ports"))


def health(kind, port=None, path=None, command=None, **timing):
    """A HealthCheck (§3.7) with short defaults for tests."""
    hc = {"type": kind, "delay_seconds": 0, "interval_seconds": 0.1, "timeout_seconds": 2,
          "grace_period_seconds": 0, "consecutive_failures": 3}
    hc.update(timing)
    if kind == "HTTP":
        hc["http"] = {"port": port}
        if path:
            hc["http"]["path"] = path
    elif kind == "TCP":
        hc["tcp"] = {"port": port}
    else:
        hc["command"] = {"shell": True, "value": command}
    return hc


def launch(fw, task_id, shell, port=None, health_check=None, check=None, grace=None):
    """Launches `shell` (with {port} replaced by a free offered port, which
    the task also gets as a resource) and returns the port."""
    offer = fw.take_offer()
    port = port or free_port(offer)
    extra = {}
    if health_check is not None:
        extra["health_check"] = health_check(port) if callable(health_check) else health_check
    if check is not None:
        extra["check"] = check(port) if callable(check) else check
    t = task_info(offer, task_id, shell=shell.format(port=port), ports=[(port, port)],
                  kill_grace=grace, extra=extra)
    fw.launch(offer, [t], refuse_seconds=0)
    return port


def health_updates(fw, task_id):
    return [st for st in fw.updates(task_id)
            if st["state"] == "TASK_RUNNING" and st.get("reason") == HEALTH_REASON]


def wait_healthy(fw, task_id, timeout=30):
    return fw.wait_update(task_id, "TASK_RUNNING", timeout=timeout,
                          pred=lambda st: st.get("healthy") is True)


def assert_killed_unhealthy(fw, task_id, failures, timeout=30):
    """The task ends TASK_KILLED with healthy:false after exactly `failures`
    unhealthy TASK_RUNNING updates (§3.7: every unhealthy result is sent)."""
    end = fw.wait_terminal(task_id, timeout=timeout)
    assert end["state"] == "TASK_KILLED", end
    assert end.get("healthy") is False, "the terminal update carries healthy:false (§3.7): %r" \
        % end
    unhealthy = [st for st in health_updates(fw, task_id) if st.get("healthy") is False]
    assert len(unhealthy) == failures, \
        "%d unhealthy updates before the kill, want consecutive_failures=%d: %r" % (
            len(unhealthy), failures, unhealthy)
    states = fw.states(task_id)
    assert states.index("TASK_RUNNING") < states.index("TASK_KILLED"), states
    return end


def test_http_health_check_healthy(mc, fw):
    launch(fw, "web", "exec %s -m http.server {port} --bind 127.0.0.1" % PY,
           health_check=lambda port: health("HTTP", port, path="/", grace_period_seconds=60,
                                            interval_seconds=0.2))
    st = wait_healthy(fw, "web")
    assert st.get("reason") == HEALTH_REASON, st
    assert st.get("source") == "SOURCE_EXECUTOR", st
    assert st.get("uuid"), "health updates are reliable updates (§4.3): %r" % st
    # The first healthy result is sent once; later healthy ones are not.
    # Evidence that later probes happened: the server logs each GET.
    d = wait_until(lambda: sandbox(mc, fw, "web"), 10, what="sandbox of web")

    def probes_seen():
        with open(d + "/stderr") as f:
            return f.read().count('"GET / HTTP') >= 5

    wait_until(probes_seen, 20, what="at least 5 probes in the server's log")
    fw.fence()
    healthy = [u for u in health_updates(fw, "web") if u.get("healthy") is True]
    assert len(healthy) == 1, healthy

    def master_sees_healthy():
        tasks = harness.get_json(mc.url, "/master/tasks").get("tasks", [])
        return any(t.get("id") == "web" and any(s.get("healthy") is True
                                                for s in t.get("statuses", []))
                   for t in tasks)

    wait_until(master_sees_healthy, 10, what="/master/tasks shows the healthy status")
    fw.kill("web")
    end = fw.wait_terminal("web", timeout=20)
    assert end["state"] == "TASK_KILLED", end
    assert "healthy" not in end, "only a health-check kill sets healthy on the end (§5.4): %r" \
        % end


def test_http_health_check_nothing_listening_kills_the_task(mc, fw):
    launch(fw, "deaf", "echo $$ > pid; exec sleep 600",
           health_check=lambda port: health("HTTP", port, consecutive_failures=3))
    end = assert_killed_unhealthy(fw, "deaf", 3)
    assert "health check" in end.get("message", ""), end
    for st in health_updates(fw, "deaf"):
        assert "127.0.0.1" in st.get("message", ""), "the message says what was probed: %r" % st


def test_http_health_check_error_status_kills_the_task(mc, fw):
    """404 is outside 200-399: unhealthy, although the server answers. The
    page exists at first (healthy, through the server's 301 from /page to
    /page/, which the probe follows), then the test removes it."""
    launch(fw, "notfound", "mkdir page; exec %s -m http.server {port} --bind 127.0.0.1" % PY,
           health_check=lambda port: health("HTTP", port, path="page",
                                            grace_period_seconds=60, consecutive_failures=2))
    st = wait_healthy(fw, "notfound")
    assert "/page/ returned 200" in st.get("message", ""), st
    os.rmdir(os.path.join(sandbox(mc, fw, "notfound"), "page"))
    assert_killed_unhealthy(fw, "notfound", 2)
    assert any("404" in u.get("message", "") for u in health_updates(fw, "notfound")), \
        health_updates(fw, "notfound")


def test_tcp_health_check_healthy_then_killed_when_port_closes(mc, fw):
    """A TCP check: healthy while the task listens; after the listener goes
    away (the task keeps running), failures kill it."""
    script = ("import socket,time,os; s=socket.socket(); "
              "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); "
              "s.bind(('127.0.0.1',{port})); s.listen(64); "
              "[time.sleep(0.05) for _ in iter(lambda: os.path.exists('close'), True)]; "
              "s.close(); time.sleep(600)")
    launch(fw, "tcp", "exec %s -c \"%s\"" % (PY, script),
           health_check=lambda port: health("TCP", port, grace_period_seconds=60,
                                            consecutive_failures=2))
    wait_healthy(fw, "tcp")
    ex = wait_until(lambda: sandbox(mc, fw, "tcp"), 10, what="sandbox of tcp")
    open(ex + "/close", "w").close()
    assert_killed_unhealthy(fw, "tcp", 2)


def test_command_health_check_failing_after_n_tries(mc, fw):
    # The check fails from the moment the test creates 'fail': the task's
    # host pid is found first (in its PID namespace it cannot tell it).
    launch(fw, "cmdfail", SHELL_PID + " > pid; exec sleep 600",
           health_check=health("COMMAND", command="test ! -e fail", consecutive_failures=4))
    d = wait_until(lambda: sandbox(mc, fw, "cmdfail"), 10, what="sandbox of cmdfail")

    def task_pid():
        with open(d + "/pid") as f:
            text = f.read().strip()
        return host_pid(text) if text else None

    pid = wait_until(task_pid, 10, what="the task to write its pid")
    open(d + "/fail", "w").close()
    assert_killed_unhealthy(fw, "cmdfail", 4)
    wait_until(lambda: not pid_alive(pid), 10, what="task process %d gone" % pid)


def test_command_health_check_sees_task_environment(mc, fw):
    offer = fw.take_offer()
    hc = health("COMMAND", command='test "$MESOS_TASK_ID" = cmdenv && test "$FOO" = bar '
                                   '&& test "$EXTRA" = 1 && test -f marker',
                grace_period_seconds=60)
    hc["command"]["environment"] = {"variables": [{"name": "EXTRA", "value": "1"}]}
    t = task_info(offer, "cmdenv", shell="touch marker; exec sleep 600", env={"FOO": "bar"},
                  extra={"health_check": hc})
    fw.launch(offer, [t], refuse_seconds=0)
    wait_healthy(fw, "cmdenv")
    fw.kill("cmdenv")
    assert fw.wait_terminal("cmdenv")["state"] == "TASK_KILLED"


def test_command_health_check_timeout_is_a_failure(mc, fw):
    launch(fw, "slowcheck", "exec sleep 600",
           health_check=health("COMMAND", command="exec sleep 30", timeout_seconds=0.3,
                               consecutive_failures=2))
    end = assert_killed_unhealthy(fw, "slowcheck", 2)
    assert any("timed out" in u.get("message", "") for u in health_updates(fw, "slowcheck")), \
        health_updates(fw, "slowcheck")
    assert end["state"] == "TASK_KILLED"


def test_failures_inside_grace_period_do_not_count(mc, fw):
    """consecutive_failures=1 would kill at the first counted failure. The
    task is not ready for a second; those failures fall in the grace period
    and are not even reported. After the first success the grace period no
    longer applies: the first failure kills."""
    launch(fw, "grace", "exec sleep 600",
           health_check=health("COMMAND", command="echo x >> probes; test -f ready",
                               grace_period_seconds=120, consecutive_failures=1))
    fw.wait_update("grace", "TASK_RUNNING")
    d = wait_until(lambda: sandbox(mc, fw, "grace"), 10, what="sandbox of grace")

    def failed_probes():
        with open(os.path.join(d, "probes")) as f:
            return len(f.readlines()) >= 3

    wait_until(failed_probes, 20, what="three failing probes inside the grace period")
    open(os.path.join(d, "ready"), "w").close()
    wait_healthy(fw, "grace")
    before = [u for u in health_updates(fw, "grace")]
    assert before[0].get("healthy") is True, \
        "failures inside the grace period are not reported: %r" % before
    assert "TASK_KILLED" not in fw.states("grace")
    os.remove(os.path.join(d, "ready"))
    assert_killed_unhealthy(fw, "grace", 1)


def test_grace_period_ends_without_success(mc, fw):
    """Failures are ignored during the grace period only: a task that never
    passes is killed after it, with exactly consecutive_failures reported."""
    launch(fw, "nevergood", "exec sleep 600",
           health_check=health("COMMAND", command="false", grace_period_seconds=0.5,
                               consecutive_failures=2))
    assert_killed_unhealthy(fw, "nevergood", 2)


def test_recovery_after_failure_is_reported(mc, fw):
    """healthy -> unhealthy -> healthy: each transition is sent, the
    first success after failures included (§3.7)."""
    launch(fw, "flap", "touch ok; exec sleep 600",
           health_check=health("COMMAND", command="test -f ok", grace_period_seconds=60,
                               consecutive_failures=1000, interval_seconds=0.1))
    wait_healthy(fw, "flap")
    d = sandbox(mc, fw, "flap")
    os.remove(os.path.join(d, "ok"))
    fw.wait_update("flap", "TASK_RUNNING", pred=lambda st: st.get("healthy") is False)
    open(os.path.join(d, "ok"), "w").close()
    m = len(health_updates(fw, "flap"))

    def healthy_again():
        hs = [u.get("healthy") for u in health_updates(fw, "flap")]
        return True in hs[m - 1:] and hs

    hs = wait_until(healthy_again, 20, what="healthy again after failures")
    assert hs[0] is True and False in hs, hs
    # Between the first healthy and the recovery: only unhealthy reports.
    assert hs.count(True) == 2, hs
    fw.kill("flap")
    assert fw.wait_terminal("flap")["state"] == "TASK_KILLED"


def test_invalid_health_check_fails_the_task(mc, fw):
    offer = fw.take_offer()
    t = task_info(offer, "badhc", shell="exec sleep 600",
                  extra={"health_check": {"type": "HTTP", "http": {"port": 0}}})
    fw.launch(offer, [t], refuse_seconds=0)
    end = fw.wait_terminal("badhc")
    assert end["state"] in ("TASK_FAILED", "TASK_ERROR"), end
    assert "port" in end.get("message", ""), "the message names the bad field: %r" % end


def test_command_check_reports_exit_code(mc, fw):
    """CheckInfo (§3.7): results in check_status, reported when they change,
    never killing the task."""
    chk = {"type": "COMMAND",
           "command": {"command": {"shell": True, "value": "echo x >> probes; exit 3"}},
           "delay_seconds": 0, "interval_seconds": 0.1, "timeout_seconds": 2}
    launch(fw, "checked", "exec sleep 600", check=chk)
    first = fw.wait_update("checked", "TASK_RUNNING")
    assert first.get("check_status") == {"type": "COMMAND", "command": {}}, \
        "TASK_RUNNING carries the check's type with no result yet: %r" % first
    st = fw.wait_update("checked", "TASK_RUNNING",
                        pred=lambda s: s.get("reason") == CHECK_REASON)
    assert st["check_status"] == {"type": "COMMAND", "command": {"exit_code": 3}}, st
    d = sandbox(mc, fw, "checked")

    def probes_seen():
        with open(d + "/probes") as f:
            return len(f.readlines()) >= 5

    wait_until(probes_seen, 20, what="at least 5 check runs (the 'probes' file)")
    fw.fence()
    reports = [u for u in fw.updates("checked") if u.get("reason") == CHECK_REASON]
    assert len(reports) == 1, "an unchanged result is not sent again: %r" % reports
    assert not [s for s in fw.states("checked") if s != "TASK_STARTING" and s != "TASK_RUNNING"]
    fw.kill("checked")
    end = fw.wait_terminal("checked")
    assert end["state"] == "TASK_KILLED", end
    assert end.get("check_status") == st["check_status"], end


def test_http_and_tcp_checks_report(mc, fw):
    launch(fw, "checkweb", "exec %s -m http.server {port} --bind 127.0.0.1" % PY,
           check=lambda port: {"type": "HTTP", "http": {"port": port, "path": "/"},
                               "delay_seconds": 0, "interval_seconds": 0.1})
    st = fw.wait_update("checkweb", "TASK_RUNNING", timeout=30,
                        pred=lambda s: s.get("check_status", {}).get("http", {}).get(
                            "status_code") == 200)
    assert st["reason"] == CHECK_REASON, st
    fw.kill("checkweb")
    fw.wait_terminal("checkweb")

    launch(fw, "checktcp", "exec sleep 600",
           check=lambda port: {"type": "TCP", "tcp": {"port": port}, "delay_seconds": 0,
                               "interval_seconds": 0.1})
    st = fw.wait_update("checktcp", "TASK_RUNNING",
                        pred=lambda s: s.get("reason") == CHECK_REASON)
    assert st["check_status"] == {"type": "TCP", "tcp": {"succeeded": False}}, st
    fw.kill("checktcp")
    fw.wait_terminal("checktcp")


def sandbox(mc, fw, task_id):
    from mesos_v1 import agent_executor, agent_state
    ex = agent_executor(agent_state(mc.agents[0].url), fw.framework_id, task_id, completed=True)
    return ex and ex.get("directory")


def test_kill_with_probes_in_flight(mc, fw):
    """A task killed while an HTTP probe waits for an answer that never
    comes (and while a COMMAND probe runs): the executor still ends cleanly
    (the harness fails the test on any sanitizer report in its stderr) and
    the probe command does not outlive it."""
    script = ("import socket,time; s=socket.socket(); "
              "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); "
              "s.bind(('127.0.0.1',{port})); s.listen(64); time.sleep(600)")
    chk = {"type": "COMMAND",
           "command": {"command": {"shell": True, "value": SHELL_PID + " > probe.pid; exec sleep 600"}},
           "delay_seconds": 0, "interval_seconds": 0.1, "timeout_seconds": 60}
    launch(fw, "hang", "exec %s -c \"%s\"" % (PY, script),
           health_check=lambda port: health("HTTP", port, timeout_seconds=60,
                                            grace_period_seconds=60),
           check=chk)
    fw.wait_update("hang", "TASK_RUNNING")
    d = wait_until(lambda: sandbox(mc, fw, "hang"), 10, what="sandbox of hang")

    def probe_pid():
        with open(d + "/probe.pid") as f:
            text = f.read().strip()
        return host_pid(text) if text else None

    pid = wait_until(probe_pid, 10, what="the check command to start")
    fw.kill("hang")
    end = fw.wait_terminal("hang")
    assert end["state"] == "TASK_KILLED", end
    assert "healthy" not in end or end["healthy"] is not False, end
    wait_until(lambda: not pid_alive(pid), 10, what="check command %d gone" % pid)

    def executor_gone():
        from mesos_v1 import agent_executor, agent_state
        return agent_executor(agent_state(mc.agents[0].url), fw.framework_id, "hang") is None

    wait_until(executor_gone, 20, what="executor 'hang' exited")


HTTPS_SERVER = (
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -subj /CN=localhost "
    "-days 1 2>/dev/null; exec %s -c \"import http.server,ssl; "
    "s=http.server.HTTPServer(('127.0.0.1',{port}),http.server.SimpleHTTPRequestHandler); "
    "c=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('c.pem','k.pem'); "
    "s.socket=c.wrap_socket(s.socket,server_side=True); s.serve_forever()\"" % PY)


def test_https_health_check(mc, fw):
    """scheme https (self-signed certificate, as tasks have): healthy; then
    a page that is gone (404) is a failure."""
    launch(fw, "tls", "mkdir page; " + HTTPS_SERVER,
           health_check=lambda port: dict(health("HTTP", port, path="/page/",
                                                 grace_period_seconds=60,
                                                 consecutive_failures=2),
                                          http={"port": port, "path": "/page/",
                                                "scheme": "https"}))
    st = wait_healthy(fw, "tls")
    assert "HTTPS" in st.get("message", ""), st
    os.rmdir(os.path.join(sandbox(mc, fw, "tls"), "page"))
    assert_killed_unhealthy(fw, "tls", 2)


def test_https_health_check_nothing_listening(mc, fw):
    launch(fw, "tlsdeaf", "exec sleep 600",
           health_check=lambda port: dict(health("HTTP", port, consecutive_failures=2),
                                          http={"port": port, "scheme": "https"}))
    assert_killed_unhealthy(fw, "tlsdeaf", 2)
    assert any("connect" in u.get("message", "") for u in health_updates(fw, "tlsdeaf")), \
        health_updates(fw, "tlsdeaf")


# --------------------------------------------------------------------------
# Inside namespaces: the executor runs in the task's container, so its
# probes see the task's loopback, processes and files.


def _ns_skip_reason():
    if os.geteuid() != 0:
        return "network and PID namespaces need root"
    with open("/proc/self/mountinfo") as f:
        if not any(len(l.split()) > 4 and l.split()[4] == "/" for l in f):
            return "'/' is not a mount point here (a plain chroot): no mount namespaces"
    return None


@pytest.fixture(scope="module")
def nsc(tmp_path_factory):
    reason = _ns_skip_reason()
    if reason:
        pytest.skip(reason)
    yield from harness.module_cluster(
        tmp_path_factory, "health-ns",
        agent_flags={"isolation": "namespaces/pid,namespaces/mount,namespaces/net"})


def test_probes_inside_network_namespace(nsc, scheduler_factory):
    fw = scheduler_factory(nsc.url, name="health-ns-fw").subscribe()
    # The port is free in the task's own network namespace whatever the
    # host has on it; pick one of the offer anyway.
    launch(fw, "nsweb", "cat /proc/net/dev > dev.txt; "
                        "exec %s -m http.server {port} --bind 127.0.0.1" % PY,
           health_check=lambda port: health("HTTP", port, grace_period_seconds=60))
    wait_healthy(fw, "nsweb")
    d = wait_until(lambda: sandbox(nsc, fw, "nsweb"), 10, what="sandbox of nsweb")
    with open(d + "/dev.txt") as f:
        ifaces = [line.split(":")[0].strip() for line in f.read().splitlines()[2:]]
    assert ifaces == ["lo"], "the task runs in a network namespace of its own: %r" % ifaces
    fw.kill("nsweb")
    assert fw.wait_terminal("nsweb", timeout=30)["state"] == "TASK_KILLED"

    # COMMAND probes run in the task's PID namespace: the task is there.
    launch(fw, "nscmd", "echo $$ > task.pid; exec sleep 600",
           health_check=health("COMMAND", command='kill -0 "$(cat task.pid)"',
                               grace_period_seconds=60))
    wait_healthy(fw, "nscmd")
    fw.kill("nscmd")
    assert fw.wait_terminal("nscmd", timeout=30)["state"] == "TASK_KILLED"


def test_health_kill_sends_task_killing_when_capable(mc, scheduler_factory):
    """A health-check kill is a kill (§5.4): TASK_KILLING first for a
    TASK_KILLING_STATE framework, then TASK_KILLED with healthy:false."""
    fw = scheduler_factory(mc.url, name="health-killing-fw",
                           capabilities=["TASK_KILLING_STATE"]).subscribe()
    launch(fw, "killing", "exec sleep 600",
           health_check=health("COMMAND", command="false", consecutive_failures=1))
    assert_killed_unhealthy(fw, "killing", 1)
    states = fw.states("killing")
    assert "TASK_KILLING" in states and states.index("TASK_KILLING") < states.index(
        "TASK_KILLED"), states
