"""The default-scheduler fast path against the real API server process: pods bound
honouring selectors, affinity, taints, readiness and resources; an impossible pod left
Pending with kube-scheduler's FailedScheduling event and PodScheduled condition; a pod
placed once a node it fits appears; and the binding rate.

Nodes are cluster-wide, so every test creates its own and deletes them afterwards;
pods live in a namespace per test.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.config.scheduler import SchedulerConfig
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.scheduling import SchedulingCluster as Cluster
from tests.fixtures.scheduling import Start, schedulers

NAMESPACES = Resource.of("v1", "namespaces")
NODES = Resource.of("v1", "nodes")
PODS = Resource.of("v1", "pods")

Obj = dict[str, Any]


@pytest.fixture
async def api(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig, qps=0) as client:
        yield client


@pytest.fixture
async def cluster(api: APIClient) -> AsyncIterator[Cluster]:
    ns = f"s-{uuid.uuid4().hex[:6]}"
    await api.create(NAMESPACES, {"metadata": {"name": ns}})
    c = Cluster(api, ns)
    try:
        yield c
    finally:
        await c.cleanup()


@pytest.fixture
async def scheduler(cloud: Cloud) -> AsyncIterator[Start]:
    """`await scheduler(**config)` runs a Scheduler in-process on its own client."""
    async with schedulers(cloud.kubeconfig) as start:
        async def with_config(**config: Any) -> Any:
            config.setdefault("pod_initial_backoff_seconds", 0.05)
            config.setdefault("pod_max_backoff_seconds", 0.5)
            return await start(SchedulerConfig(**config))

        yield with_config


async def test_pods_land_where_selectors_taints_and_readiness_allow(
        cluster: Cluster, scheduler: Start) -> None:
    ssd = await cluster.node("ssd", labels={"disk": "ssd"})
    gpu = await cluster.node("gpu", labels={"accel": "gpu"},
                             taints=[{"key": "dedicated", "value": "gpu",
                                      "effect": "NoSchedule"}])
    plain = await cluster.node("plain")
    down = await cluster.node("down", ready="False")
    await scheduler()

    await cluster.pod("wants-ssd", nodeSelector={"disk": "ssd"})
    await cluster.pod("wants-gpu", tolerations=[
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "accel", "operator": "In", "values": ["gpu"]}]}]}}})
    await cluster.pod("for-volcano", schedulerName="volcano")
    anywhere = [await cluster.pod(f"any-{i}") for i in range(8)]

    placed = await eventually(lambda: cluster.bound("wants-ssd", "wants-gpu", *anywhere),
                              timeout=10, what="every pod bound")
    assert placed["wants-ssd"] == ssd
    assert placed["wants-gpu"] == gpu
    assert {placed[name] for name in anywhere} <= {ssd, plain}, "tainted or NotReady node used"
    assert down not in placed.values()
    # Pods of another scheduler are not ours to place (the Volcano path takes them).
    assert await cluster.node_of("for-volcano") == ""
    # Equal nodes tie and ties are broken at random, so replicas spread.
    assert len({placed[name] for name in anywhere}) == 2

    scheduled = await eventually(lambda: cluster.events("wants-ssd", "Scheduled"), timeout=5)
    assert scheduled[0]["message"] == f"Successfully assigned {cluster.ns}/wants-ssd to {ssd}"
    assert scheduled[0]["type"] == "Normal"
    assert scheduled[0]["source"]["component"] == "default-scheduler"


async def test_resources_are_never_overcommitted(cluster: Cluster, scheduler: Start) -> None:
    small = await cluster.node("small", cpu="1", memory="1Gi")
    await scheduler()
    await cluster.pod("first", cpu="600m")
    await cluster.pod("second", cpu="600m")
    await cluster.pod("tiny", cpu="300m", memory="512Mi")

    async def settled() -> bool:
        nodes = [await cluster.node_of(n) for n in ("first", "second", "tiny")]
        return nodes.count(small) == 2 and bool(
            await cluster.events("first", "FailedScheduling")
            or await cluster.events("second", "FailedScheduling"))

    await eventually(settled, timeout=10, what="two pods bound, one refused")
    loser = "first" if not await cluster.node_of("first") else "second"
    assert await cluster.node_of("tiny") == small
    [event] = await cluster.events(loser, "FailedScheduling")
    assert event["message"].startswith("0/1 nodes are available: 1 Insufficient cpu.")


async def test_impossible_pod_stays_pending_and_says_why(
        cloud: Cloud, cluster: Cluster, scheduler: Start) -> None:
    for i in range(3):
        await cluster.node(f"cpu-{i}", cpu="1")
    for i in range(2):
        await cluster.node(f"gpu-{i}", cpu="64", taints=[
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    await scheduler()
    await cluster.pod("huge", cpu="8", preemptionPolicy="Never")

    events = await eventually(lambda: cluster.events("huge", "FailedScheduling"), timeout=10)
    want = ("0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}, "
            "3 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.")
    assert events[0]["message"] == want
    assert events[0]["type"] == "Warning"

    # What a user sees: kubectl's events and the pod's PodScheduled condition.
    listed = cloud.kubectl("get", "events", "-n", cluster.ns).stdout
    assert "FailedScheduling" in listed and "3 Insufficient cpu" in listed

    async def condition() -> Obj | None:
        pod = await cluster.api.get(PODS, "huge", cluster.ns)
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled":
                return cond
        return None

    cond = await eventually(condition, timeout=5, what="PodScheduled condition")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", want)
    assert await cluster.node_of("huge") == ""


async def test_pending_pod_is_placed_when_a_fitting_node_appears(
        cluster: Cluster, scheduler: Start) -> None:
    await cluster.node("little", cpu="1")
    sched = await scheduler()
    await cluster.pod("big", cpu="2")
    await eventually(lambda: cluster.events("big", "FailedScheduling"), timeout=10)
    assert f"{cluster.ns}/big" in sched.queue

    roomy = await cluster.node("roomy", cpu="4")
    assert await eventually(lambda: cluster.node_of("big"), timeout=10) == roomy


async def test_required_anti_affinity_puts_one_replica_per_host(
        cluster: Cluster, scheduler: Start) -> None:
    hosts = {await cluster.node(f"h{i}") for i in range(3)}
    await scheduler()
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"tier": "db"}},
        "topologyKey": "kubernetes.io/hostname"}]}}
    names = [await cluster.pod(f"db-{i}", labels={"tier": "db"}, affinity=anti)
             for i in range(4)]

    async def three_placed() -> dict[str, str] | None:
        placed = {n: await cluster.node_of(n) for n in names}
        done = {n: node for n, node in placed.items() if node}
        return done if len(done) == 3 else None

    placed = await eventually(three_placed, timeout=10, what="three replicas bound")
    assert set(placed.values()) == hosts
    [left] = set(names) - set(placed)
    event = (await eventually(lambda: cluster.events(left, "FailedScheduling"), timeout=10))[0]
    # The placed replicas' own (symmetric) anti-affinity is checked first, as in kube.
    assert event["message"].startswith(
        "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules.")

    # A pod that must sit with a db replica goes to one of their hosts.
    with_db = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"tier": "db"}},
        "topologyKey": "kubernetes.io/hostname"}]}}
    await cluster.pod("cache", affinity=with_db)
    assert await eventually(lambda: cluster.node_of("cache"), timeout=10) in hosts


async def test_binding_throughput(cluster: Cluster, scheduler: Start) -> None:
    """Pods created first, then the scheduler started: how fast does it bind them?"""
    for i in range(10):
        await cluster.node(f"t{i}", cpu="32", memory="64Gi")
    count = 200
    sem = asyncio.Semaphore(32)

    async def make(i: int) -> None:
        async with sem:
            await cluster.pod(f"p{i}", cpu="100m", memory="64Mi")

    await asyncio.gather(*(make(i) for i in range(count)))
    began = time.monotonic()
    sched = await scheduler()
    await eventually(lambda: sched.scheduled >= count, timeout=30, interval=0.01,
                     what=f"{count} pods bound")
    rate = count / (time.monotonic() - began)
    print(f"\nbound {count} pods on 10 nodes in {count / rate:.2f}s: {rate:.0f} pods/s")
    answer = await cluster.api.list(PODS, cluster.ns)
    per_node: dict[str, int] = {}
    for pod in answer["items"]:
        node = pod["spec"].get("nodeName")
        assert node, f"{pod['metadata']['name']} was not bound"
        per_node[node] = per_node.get(node, 0) + 1
    assert len(per_node) == 10
    assert rate > 50
