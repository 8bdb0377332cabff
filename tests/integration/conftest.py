"""Shared fixtures for the integration tests (see harness.py) and the hook
that prints the daemons' log tails and the schedulers' last events when a
test fails."""

import pytest

import harness
import mesos_v1
from harness import cluster, cluster_factory  # noqa: F401  (fixtures)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        for d in list(harness.LIVE_DAEMONS):
            state = "running" if d.alive() else "exited %s" % d.proc.returncode
            if d.stopped_signal:
                state += ", SIGSTOPped"
            rep.sections.append(("%s log tail (%s; %s)" % (d.name, state, d.stderr_path),
                                 d.tail(80)))
        for i, s in enumerate(list(harness.LIVE_SCHEDULERS)):
            text = "framework_id=%s stream_id=%s closed=%s (%s)\n%s" % (
                s.framework_id, s.stream_id, s.closed, s.close_reason, s.describe(30))
            if s.framing_violations:
                text += "\nframing violations: %s" % s.framing_violations[:10]
            rep.sections.append(("scheduler %d (%s) events" % (i, s.framework_info["name"]),
                                 text))


@pytest.fixture(autouse=True)
def stream_framing_is_clean():
    """Every test also checks that the event streams it read kept the
    framing rules of §1.4/§10 (one whole record per chunk, compact JSON)."""
    yield
    bad = [(s.framework_info["name"], s.framing_violations[:5])
           for s in harness.LIVE_SCHEDULERS if s.framing_violations]
    assert not bad, "event stream framing violations (§1.4, §10): %s" % bad


@pytest.fixture
def scheduler_factory():
    """new(master_url, **Scheduler kwargs) -> an unsubscribed Scheduler
    that is closed at teardown."""
    made = []

    def new(master_url, **kw):
        s = mesos_v1.Scheduler(master_url, registry=made, **kw)
        harness.LIVE_SCHEDULERS.append(s)
        return s

    yield new
    for s in made:
        s.stop()
        if s in harness.LIVE_SCHEDULERS:
            harness.LIVE_SCHEDULERS.remove(s)
