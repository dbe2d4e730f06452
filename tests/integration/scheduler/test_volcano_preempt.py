"""Preempt and reclaim against the real API server process (specs/volcano.md §2.3), in
Volcano's CI configuration (the Helm chart's tiers with `reclaim, preempt` added to the
actions): a priority-1000 gang in a queue full of a priority-1 job evicts exactly the
two pods it needs, never more and never below the victim job's minAvailable, then is
bound once the node confirms the victims gone; without `preempt` in the actions nothing
is evicted. Reclaim takes a weight-equal queue's share back from a reclaimable queue
and nothing from a queue with `reclaimable: false`.

The test plays the node: it marks bound pods Running, and deletes a pod whose
deletionTimestamp it sees with gracePeriodSeconds=0 (a bound pod stays Terminating
until its node confirms). PriorityClasses and Queues are cluster-wide: unique names,
deleted at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.config.scheduler import SchedulerConfig
from kubeedge.scheduler.scheduler import PODGROUPS, QUEUES, Scheduler
from tests.fixtures.cluster import eventually
from tests.fixtures.scheduling import Start
from tests.fixtures.volcano import VolcanoCluster as Cluster
from tests.fixtures.volcano import api, cluster, scheduler

__all__ = ["api", "cluster", "scheduler"]

Obj = dict[str, Any]

PODS = Resource.of("v1", "pods")
PRIORITY_CLASSES = Resource.of("scheduling.k8s.io/v1", "priorityclasses")
CI_ACTIONS = "enqueue, allocate, backfill, reclaim, preempt"
WITHOUT_PREEMPTION = "enqueue, allocate, backfill"


class Node:
    """Plays the kubelet for the test's pods: bound pods run, deleting pods go."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.deleted: dict[str, Obj] = {}

    async def pods(self) -> dict[str, Obj]:
        answer = await self.cluster.api.list(PODS, self.cluster.ns)
        return {p["metadata"]["name"]: p for p in answer.get("items") or []}

    async def step(self, *, confirm_deletions: bool = True) -> dict[str, Obj]:
        pods = await self.pods()
        for name, p in pods.items():
            if p["metadata"].get("deletionTimestamp"):
                if confirm_deletions:
                    self.deleted[name] = p
                    await self.cluster.api.delete(PODS, name, self.cluster.ns,
                                                  grace_period_seconds=0)
            elif (p["spec"].get("nodeName")
                  and (p.get("status") or {}).get("phase") == "Pending"):
                await self.cluster.api.patch(PODS, name, {"status": {"phase": "Running"}},
                                             self.cluster.ns, subresource="status")
        return pods


async def gang(cluster: Cluster, name: str, size: int, min_member: int, queue: str,
               priority_class: str = "") -> list[str]:
    spec = {"priorityClassName": priority_class} if priority_class else {}
    await cluster.podgroup(name, min_member, queue=queue, **spec)
    pods = []
    for i in range(size):
        pods.append(await cluster.pod(
            f"{name}-{i}", cpu="1", schedulerName="volcano",
            annotations={"scheduling.k8s.io/group-name": name}))
    return pods


async def running(node: Node, names: list[str]) -> None:
    async def all_running() -> bool:
        pods = await node.step()
        return all((pods.get(n) or {}).get("status", {}).get("phase") == "Running"
                   for n in names)

    await eventually(all_running, timeout=15, what=f"{names} bound and running")


async def sessions_pass(sched: Scheduler, count: int) -> None:
    assert sched.volcano is not None
    target = sched.volcano.sessions + count
    volcano = sched.volcano
    await eventually(lambda: volcano.sessions >= target, timeout=10,
                     what=f"{count} more sessions")


@pytest.fixture
async def cluster_objects(cluster: Cluster) -> AsyncIterator[dict[str, str]]:
    """Unique PriorityClasses `low` (1) and `high` (1000) and queues, removed after."""
    suffix = uuid.uuid4().hex[:6]
    made: list[tuple[Any, str]] = []
    names = {"low": f"low-{suffix}", "high": f"high-{suffix}"}
    for key, value in (("low", 1), ("high", 1000)):
        await cluster.api.create(PRIORITY_CLASSES, {"metadata": {"name": names[key]},
                                                    "value": value})
        made.append((PRIORITY_CLASSES, names[key]))

    async def queue(name: str, reclaimable: bool = True) -> str:
        full = f"{name}-{suffix}"
        await cluster.api.create(QUEUES, {"metadata": {"name": full},
                                          "spec": {"weight": 1, "reclaimable": reclaimable}})
        made.append((QUEUES, full))
        return full

    names["queue"] = await queue("work")
    names["lender"] = await queue("lender")
    names["stingy"] = await queue("stingy", reclaimable=False)
    names["borrower"] = await queue("borrower")
    try:
        yield names
    finally:
        await cluster.api.delete_collection(PODS, cluster.ns, grace_period_seconds=0)
        await cluster.api.delete_collection(PODGROUPS, cluster.ns)
        for ref, name in made:
            try:
                await cluster.api.delete(ref, name)
            except APIError:
                pass


async def test_high_priority_gang_preempts_exactly_two_pods(
        cluster: Cluster, scheduler: Start, cluster_objects: dict[str, str]) -> None:
    names = cluster_objects
    for n in ("n1", "n2"):
        await cluster.node(n, cpu="2")
    sched = await scheduler(SchedulerConfig(actions=CI_ACTIONS))
    node = Node(cluster)
    low = await gang(cluster, "low", 4, 2, names["queue"], names["low"])
    await running(node, low)

    high = await gang(cluster, "high", 2, 2, names["queue"], names["high"])

    async def victims_terminating() -> dict[str, Obj] | None:
        # Hold the deletions until both preemptors are nominated to the victims' nodes.
        pods = await node.step(confirm_deletions=False)
        going = {n: p for n, p in pods.items() if p["metadata"].get("deletionTimestamp")}
        nominated = all((pods[n].get("status") or {}).get("nominatedNodeName") for n in high)
        return going if len(going) == 2 and nominated else None

    going = await eventually(victims_terminating, timeout=15,
                             what="two victims terminating, preemptors nominated")
    assert set(going) <= set(low)
    pods = await node.pods()
    assert sorted(pods[n]["status"]["nominatedNodeName"] for n in high) == sorted(
        p["spec"]["nodeName"] for p in going.values())
    assert not any(pods[n]["spec"].get("nodeName") for n in high), "waits for its victims"
    for victim in going.values():
        conditions = {c["type"]: c for c in victim["status"].get("conditions") or []}
        assert conditions["DisruptionTarget"]["status"] == "True"
        assert conditions["DisruptionTarget"]["reason"] == "PreemptionByScheduler"
    # While the victims terminate, later sessions evict nobody else.
    await sessions_pass(sched, 10)
    pods = await node.pods()
    assert {n for n, p in pods.items() if p["metadata"].get("deletionTimestamp")} == set(going)

    async def preemptors_running() -> dict[str, Obj] | None:
        pods = await node.step()
        ok = all((pods.get(n) or {}).get("status", {}).get("phase") == "Running" for n in high)
        return pods if ok else None

    pods = await eventually(preemptors_running, timeout=15,
                            what="the preemptors bound once the victims are gone")
    survivors = [n for n in low if n in pods]
    assert len(survivors) == 2, "exactly two victims, the job keeps its minAvailable"
    assert set(node.deleted) == set(going)
    for name in going:
        [event] = await eventually(lambda name=name: cluster.events(name, "Evict"),
                                   timeout=10, what=f"Evict event on {name}")
        assert event["type"] == "Warning"
        assert event["message"] == "Pod is evicted, because of preempt"
    await sessions_pass(sched, 5)
    pods = await node.step()
    assert sorted(n for n in pods if n.startswith("low")) == sorted(survivors)
    assert all(p["status"]["phase"] == "Running" for p in pods.values())


async def test_without_preempt_in_the_actions_nothing_is_evicted(
        cluster: Cluster, scheduler: Start, cluster_objects: dict[str, str]) -> None:
    names = cluster_objects
    for n in ("n1", "n2"):
        await cluster.node(n, cpu="2")
    sched = await scheduler(SchedulerConfig(actions=WITHOUT_PREEMPTION))
    node = Node(cluster)
    low = await gang(cluster, "low", 4, 2, names["queue"], names["low"])
    await running(node, low)
    high = await gang(cluster, "high", 2, 2, names["queue"], names["high"])

    async def explained() -> bool:
        status = await cluster.podgroup_status("high")
        return any(c.get("type") == "Unschedulable" for c in status.get("conditions") or [])

    await eventually(explained, timeout=10, what="the high gang reported unschedulable")
    await sessions_pass(sched, 10)
    pods = await node.step()
    assert not any(p["metadata"].get("deletionTimestamp") for p in pods.values())
    assert all(pods[n]["status"]["phase"] == "Running" for n in low)
    assert not any(pods[n]["spec"].get("nodeName") for n in high)


@pytest.mark.parametrize("reclaimable", [True, False])
async def test_reclaim_from_reclaimable_queue_only(
        cluster: Cluster, scheduler: Start, cluster_objects: dict[str, str],
        reclaimable: bool) -> None:
    names = cluster_objects
    for n in ("n1", "n2"):
        await cluster.node(n, cpu="2")
    sched = await scheduler(SchedulerConfig(actions=CI_ACTIONS))
    node = Node(cluster)
    lender = names["lender"] if reclaimable else names["stingy"]
    wide = await gang(cluster, "wide", 4, 1, lender)
    await running(node, wide)
    late = await gang(cluster, "late", 2, 2, names["borrower"])

    if not reclaimable:
        async def explained() -> bool:
            status = await cluster.podgroup_status("late")
            return any(c.get("type") == "Unschedulable"
                       for c in status.get("conditions") or [])

        await eventually(explained, timeout=10, what="the borrower's gang unschedulable")
        await sessions_pass(sched, 10)
        pods = await node.step()
        assert not any(p["metadata"].get("deletionTimestamp") for p in pods.values())
        assert all(pods[n]["status"]["phase"] == "Running" for n in wide)
        assert not any(pods[n]["spec"].get("nodeName") for n in late)
        return

    async def borrower_running() -> dict[str, Obj] | None:
        pods = await node.step()
        ok = all((pods.get(n) or {}).get("status", {}).get("phase") == "Running" for n in late)
        return pods if ok else None

    pods = await eventually(borrower_running, timeout=20,
                            what="the borrower's gang running on reclaimed CPUs")
    assert len(node.deleted) == 2 and set(node.deleted) <= set(wide)
    assert len([n for n in wide if n in pods]) == 2, "the lender keeps its deserved half"
    for name in node.deleted:
        [event] = await eventually(lambda name=name: cluster.events(name, "Evict"),
                                   timeout=10, what=f"Evict event on {name}")
        assert event["message"] == "Pod is evicted, because of reclaim"
