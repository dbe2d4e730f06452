"""Fair share on the Volcano path against the real API server process (specs/volcano.md
§2.4): proportion splits 8 GPUs 2:6 between queues weighted 1 and 3, gives a queue
asking for less what it asks, and honours a guarantee; the capacity plugin splits by
`deserved`; a queue `capability` keeps a larger gang Pending with "queue resource quota
insufficient" (proportion and capacity); drf gives the free slot to the job holding
nothing; binpack as the only scorer fills the half-full node; Queue `status.allocated`
follows the bound pods.

Queues are cluster-wide: each test names its own after its namespace and
deletes them. The test plays the node (pods marked Succeeded through the status
subresource).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.rest import APIClient
from kubeedge.config.scheduler import PluginOption, SchedulerConfig, Tier
from kubeedge.scheduler.scheduler import PODGROUPS, QUEUES
from tests.fixtures.cluster import eventually
from tests.fixtures.scheduling import GPU, Start
from tests.fixtures.volcano import VolcanoCluster as Cluster
from tests.fixtures.volcano import api, cluster, scheduler

__all__ = ["api", "cluster", "scheduler"]

Obj = dict[str, Any]
GROUP = "scheduling.k8s.io/group-name"
MakeQueue = Callable[..., Awaitable[str]]


@pytest.fixture
async def queues(api: APIClient, cluster: Cluster) -> AsyncIterator[MakeQueue]:
    """`await queues("a", weight=3, ...)` creates Queue `<ns>-a` and returns its name;
    at the end the test's PodGroups go first, then every queue made."""
    made: list[str] = []

    async def make(name: str, **spec: Any) -> str:
        full = f"{cluster.ns}-{name}"
        await api.create(QUEUES, {"metadata": {"name": full}, "spec": {"weight": 1, **spec}})
        made.append(full)
        return full

    yield make
    await api.delete_collection(PODGROUPS, cluster.ns)
    for name in made:
        try:
            await api.delete(QUEUES, name)
        except APIError as exc:
            if not exc.is_not_found:
                raise


def capacity_config() -> SchedulerConfig:
    """Volcano's user guide: the Helm tiers with proportion replaced by capacity."""
    config = SchedulerConfig()
    config.tiers[1].plugins = [PluginOption(name="capacity") if p.name == "proportion"
                               else p for p in config.tiers[1].plugins]
    return config


async def single_pod_jobs(cluster: Cluster, prefix: str, queue: str, n: int) -> None:
    for i in range(n):
        await cluster.podgroup(f"{prefix}{i}", 1, queue=queue)
        await cluster.gpu_pod(f"{prefix}{i}-0", f"{prefix}{i}")


async def gang_jobs(cluster: Cluster, prefix: str, queue: str, n: int, size: int) -> None:
    for i in range(n):
        await cluster.podgroup(f"{prefix}{i}", size, queue=queue)
        for j in range(size):
            await cluster.gpu_pod(f"{prefix}{i}-{j}", f"{prefix}{i}")


async def bound_per_prefix(cluster: Cluster, total: int, *prefixes: str
                           ) -> dict[str, int] | None:
    """Bound pods per name prefix, once `total` are bound."""
    placed = await cluster.placements()
    counts = {p: sum(1 for name, n in placed.items() if n and name.startswith(p))
              for p in prefixes}
    return counts if sum(counts.values()) == total else None


async def eight_gpus(cluster: Cluster) -> None:
    await cluster.node("g1", gpus=4)
    await cluster.node("g2", gpus=4)


async def settled(sched: Any) -> None:
    """A few more sessions run (nothing more may bind: the GPUs are full)."""
    start = sched.volcano.sessions
    await eventually(lambda: sched.volcano.sessions >= start + 3, timeout=5,
                     what="three more sessions")


# -- proportion ----------------------------------------------------------------------


async def test_proportion_splits_eight_gpus_by_weight(cluster: Cluster, queues: MakeQueue,
                                                     scheduler: Start) -> None:
    await eight_gpus(cluster)
    light = await queues("light", weight=1)
    heavy = await queues("heavy", weight=3)
    await single_pod_jobs(cluster, "l", light, 6)
    await gang_jobs(cluster, "h", heavy, 5, 2)
    sched = await scheduler()

    counts = await eventually(lambda: bound_per_prefix(cluster, 8, "l", "h"), timeout=15,
                              what="all 8 GPUs bound")
    assert abs(counts["l"] - 2) <= 1 and abs(counts["h"] - 6) <= 1, counts
    await settled(sched)
    assert await bound_per_prefix(cluster, 8, "l", "h") == counts


async def test_proportion_gives_a_small_queue_what_it_asks(
        cluster: Cluster, queues: MakeQueue, scheduler: Start) -> None:
    await eight_gpus(cluster)
    light = await queues("light", weight=1)
    heavy = await queues("heavy", weight=3)
    await single_pod_jobs(cluster, "l", light, 1)
    await single_pod_jobs(cluster, "h", heavy, 10)
    await scheduler()

    counts = await eventually(lambda: bound_per_prefix(cluster, 8, "l", "h"), timeout=15,
                              what="all 8 GPUs bound")
    assert counts == {"l": 1, "h": 7}


async def test_proportion_honours_a_guarantee(cluster: Cluster, queues: MakeQueue,
                                              scheduler: Start) -> None:
    await eight_gpus(cluster)
    # Volcano's admission wants deserved >= guarantee (proportion ignores deserved).
    light = await queues("light", weight=1, guarantee={"resource": {GPU: "4"}},
                         deserved={GPU: "4"})
    heavy = await queues("heavy", weight=3)
    await single_pod_jobs(cluster, "l", light, 6)
    await single_pod_jobs(cluster, "h", heavy, 10)
    sched = await scheduler()

    counts = await eventually(lambda: bound_per_prefix(cluster, 8, "l", "h"), timeout=15,
                              what="all 8 GPUs bound")
    assert counts["l"] >= 4, counts
    await settled(sched)
    assert await bound_per_prefix(cluster, 8, "l", "h") == counts


# -- capacity ------------------------------------------------------------------------


async def test_capacity_splits_by_deserved(cluster: Cluster, queues: MakeQueue,
                                           scheduler: Start) -> None:
    await eight_gpus(cluster)
    small = await queues("small", deserved={GPU: "2"})
    big = await queues("big", deserved={GPU: "6"})
    await single_pod_jobs(cluster, "s", small, 6)
    await single_pod_jobs(cluster, "b", big, 10)
    await scheduler(capacity_config())

    counts = await eventually(lambda: bound_per_prefix(cluster, 8, "s", "b"), timeout=15,
                              what="all 8 GPUs bound")
    assert counts == {"s": 2, "b": 6}


# -- capability ----------------------------------------------------------------------


@pytest.mark.parametrize("plugin", ["proportion", "capacity"])
async def test_capability_keeps_a_bigger_gang_pending(
        cluster: Cluster, queues: MakeQueue, scheduler: Start, plugin: str) -> None:
    config = SchedulerConfig()
    if plugin == "capacity":
        config = capacity_config()
    await eight_gpus(cluster)
    capped = await queues("capped", capability={GPU: "2"})
    await cluster.podgroup("big", 4, queue=capped, min_resources={GPU: "4"})
    for i in range(4):
        await cluster.gpu_pod(f"big-{i}", "big")
    await scheduler(config)

    async def refused() -> list[Obj]:
        return [e for e in await cluster.events("big", "Unschedulable")
                if "queue resource quota insufficient" in e.get("message", "")]

    [event] = await eventually(refused, timeout=10, what="the quota refusal on the group")
    assert event["type"] == "Normal"
    if plugin == "capacity":
        assert event["message"] == ("queue resource quota insufficient: "
                                    "insufficient nvidia.com/gpu")
    status = await eventually(lambda: cluster.podgroup_status("big"), timeout=10,
                              what="the group's status written")
    assert status.get("phase") == "Pending"
    assert not any((await cluster.placements()).values())


# -- drf -----------------------------------------------------------------------------


async def test_drf_gives_the_free_slot_to_the_job_holding_nothing(
        cluster: Cluster, scheduler: Start) -> None:
    host = await cluster.node("c1", cpu="4")
    # One cpu taken by a pod outside any gang, two by the rich job: one slot left.
    await cluster.pod("filler", cpu="1", nodeName=host)
    await cluster.podgroup("rich", 3)
    for i in range(2):
        await cluster.pod(f"rich-{i}", cpu="1", nodeName=host, schedulerName="volcano",
                          annotations={GROUP: "rich"})
    await cluster.pod("rich-2", cpu="1", schedulerName="volcano", annotations={GROUP: "rich"})
    rich = await cluster.api.get(PODGROUPS, "rich", cluster.ns)
    rich_created = rich["metadata"]["creationTimestamp"]
    # The poor job is the younger one, so job age alone would pick the rich job.
    await eventually(lambda: meta.rfc3339(meta.now()) > rich_created, timeout=3,
                     what="the clock past the rich job's creation second")
    await cluster.podgroup("poor", 1)
    await cluster.pod("poor-0", cpu="1", schedulerName="volcano", annotations={GROUP: "poor"})
    sched = await scheduler()

    placed = await eventually(lambda: cluster.bound("poor-0"), timeout=10,
                              what="the poor job's pod bound")
    assert placed == {"poor-0": host}
    await settled(sched)
    assert await cluster.node_of("rich-2") == ""


# -- binpack -------------------------------------------------------------------------


async def test_binpack_alone_fills_the_half_full_node(cluster: Cluster,
                                                      scheduler: Start) -> None:
    empty = [await cluster.node(f"e{i}", cpu="4") for i in range(3)]
    half = await cluster.node("half", cpu="4")
    await cluster.pod("filler", cpu="2", nodeName=half)
    await cluster.podgroup("one", 1)
    await cluster.pod("one-0", cpu="1", schedulerName="volcano", annotations={GROUP: "one"})
    config = SchedulerConfig()
    config.tiers = [Tier(plugins=[PluginOption(name="predicates"),
                                  PluginOption(name="binpack")])]
    await scheduler(config)

    placed = await eventually(lambda: cluster.bound("one-0"), timeout=10,
                              what="the pod bound")
    assert placed == {"one-0": half}, f"not on one of the empty nodes {empty}"


# -- queue status --------------------------------------------------------------------


async def test_queue_status_allocated_follows_bound_pods(
        api: APIClient, cluster: Cluster, queues: MakeQueue, scheduler: Start) -> None:
    await cluster.node("n1", cpu="4", memory="8Gi", gpus=2)
    name = await queues("status")
    # The queue controller's part of the status, which our patch must leave alone.
    await api.patch(QUEUES, name, {"status": {"state": "Open", "inqueue": 1}},
                    subresource="status")
    await cluster.podgroup("job", 2, queue=name)
    for i in range(2):
        await cluster.pod(f"job-{i}", cpu="750m", memory="1Gi", schedulerName="volcano",
                          annotations={GROUP: "job"},
                          resources={"requests": {"cpu": "750m", "memory": "1Gi", GPU: "1"},
                                     "limits": {GPU: "1"}})
    sched = await scheduler()
    await eventually(lambda: cluster.bound("job-0", "job-1"), timeout=10,
                     what="both pods bound")

    async def allocated(wanted: dict[str, str]) -> Obj | None:
        status = (await api.get(QUEUES, name)).get("status") or {}
        return status if status.get("allocated") == wanted else None

    status = await eventually(
        lambda: allocated({"cpu": "1500m", "memory": "2Gi", "pods": "2", GPU: "2"}),
        timeout=10, what="status.allocated of two bound pods")
    assert (status["state"], status["inqueue"]) == ("Open", 1)

    # No change, no write: sessions go on and the scheduler's writer stays quiet.
    await settled(sched)
    writes = sched.volcano.queue_status.writes
    await settled(sched)
    assert sched.volcano.queue_status.writes == writes

    await cluster.succeed("job-1")
    status = await eventually(
        lambda: allocated({"cpu": "750m", "memory": "1Gi", "pods": "1", GPU: "1"}),
        timeout=10, what="status.allocated less the finished pod")
    assert (status["state"], status["inqueue"]) == ("Open", 1)
