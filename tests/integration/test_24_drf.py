"""Dominant Resource Fairness through the API (§8.2): the two-user example
of the DRF paper. One agent of 9 CPUs and 18 GB; framework A runs tasks of
<1 CPU, 4 GB>, framework B tasks of <3 CPUs, 1 GB>. Each takes one task per
offer and gives the rest back at once, so every offer goes to whoever has
the lower dominant share: A ends with 3 tasks (12/18 GB = 2/3) and B with 2
(6/9 CPUs = 2/3)."""

import time

from mesos_v1 import offer_scalar, task_info

DEMANDS = {"A": (1, 4096), "B": (3, 1024)}


def fits(offer, cpus, mem):
    return offer_scalar(offer, "cpus") >= cpus - 1e-9 and offer_scalar(offer, "mem") >= mem - 1e-9


def test_drf_paper_example(cluster_factory, scheduler_factory):
    c = cluster_factory(resources=["cpus:9;mem:18432;disk:1024"])
    fws = {n: scheduler_factory(c.url, name=n) for n in DEMANDS}
    # Start both from an idle cluster: each subscribes suppressed, then
    # both revive before any offer is acted on.
    for s in fws.values():
        s.subscribe()
        s.quiesce()
    for s in fws.values():
        s.revive()

    launched = {n: 0 for n in DEMANDS}
    full = set()  # frameworks that were offered something they cannot use
    deadline = time.monotonic() + 60
    while full != set(DEMANDS) and time.monotonic() < deadline:
        idle = True
        for n, s in fws.items():
            offer = s.poll_offer()
            if offer is None:
                continue
            idle = False
            cpus, mem = DEMANDS[n]
            if fits(offer, cpus, mem):
                tid = "%s-%d" % (n, launched[n])
                s.launch(offer, [task_info(offer, tid, shell="sleep 120", cpus=cpus, mem=mem)],
                         refuse_seconds=0)
                launched[n] += 1
            else:
                s.decline(offer["id"]["value"], refuse_seconds=3600)
                full.add(n)
        if idle:
            time.sleep(0.02)
    assert launched == {"A": 3, "B": 2}, "DRF gave %s (expected A 3, B 2)" % launched
    for n, s in fws.items():
        for i in range(launched[n]):
            s.wait_update("%s-%d" % (n, i), "TASK_RUNNING")
