"""The Volcano path against the real API server process (specs/volcano.md §4): two
4-GPU gangs on 4 GPUs never deadlock (one binds whole, the other nothing and its
PodGroup says why, then takes the GPUs once the first finishes); a gang with minMember
3 of 4 binds 3; overcommit admits two of three 5-CPU PodGroups on 10 CPUs with factor
1.2 and with 1.0.

Nodes are Node objects only; the test plays the node (pods marked Succeeded through the
status subresource). CRDs are installed once per module; the `default` Queue is made by
the test when the Queue controller has not made it.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubeedge.config.scheduler import PluginOption, SchedulerConfig
from kubeedge.scheduler.scheduler import QUEUES
from tests.fixtures.cluster import eventually
from tests.fixtures.scheduling import Start
from tests.fixtures.volcano import VolcanoCluster as Cluster
from tests.fixtures.volcano import api, cluster, scheduler

__all__ = ["api", "cluster", "scheduler"]

Obj = dict[str, Any]


async def test_two_gangs_on_four_gpus_never_deadlock(cluster: Cluster, scheduler: Start
                                                     ) -> None:
    for name, gpus in (("n1", 2), ("n2", 1), ("n3", 1)):
        await cluster.node(name, gpus=gpus)
    await cluster.podgroup("a", 4)
    await cluster.podgroup("b", 4)
    # Interleaved, as two jobs' pods arrive: pod by pod this is the 2+2 deadlock.
    for i in range(4):
        await cluster.gpu_pod(f"a-{i}", "a")
        await cluster.gpu_pod(f"b-{i}", "b")
    await scheduler()

    async def one_gang_bound() -> tuple[str, str] | None:
        placed = await cluster.placements()
        bound = {name[0] for name, node in placed.items() if node}
        if len([n for n in placed.values() if n]) != 4 or len(bound) != 1:
            return None
        winner = bound.pop()
        loser = "b" if winner == "a" else "a"
        condition = next((c for c in (await cluster.podgroup_status(loser)).get(
            "conditions") or [] if c.get("type") == "Unschedulable"), None)
        return (winner, loser) if condition else None

    winner, loser = await eventually(one_gang_bound, timeout=15,
                                     what="one gang bound whole, the other explained")
    [condition] = (await cluster.podgroup_status(loser))["conditions"]
    assert condition["status"] == "True" and condition["reason"] == "NotEnoughResources"
    assert condition["message"] == ("4/4 tasks in gang unschedulable: 0/3 nodes are "
                                    "available: 3 Insufficient nvidia.com/gpu")

    async def winner_running() -> Obj | None:
        status = await cluster.podgroup_status(winner)
        return status if status.get("phase") == "Running" else None

    status = await eventually(winner_running, timeout=10, what="winner Running")
    assert [c["type"] for c in status["conditions"]] == ["Scheduled"]
    [event] = await eventually(lambda: cluster.events(f"{loser}-0", "FailedScheduling"),
                               timeout=10, what="FailedScheduling on the loser's pods")
    assert event["message"].startswith("0/3 nodes are available: 3 Insufficient "
                                       "nvidia.com/gpu.")
    placed = await cluster.placements()
    assert not any(placed[f"{loser}-{i}"] for i in range(4))
    gpus_per_node = {n: list(placed.values()).count(n) for n in cluster.nodes}
    assert sorted(gpus_per_node.values()) == [1, 1, 2]

    # The node reports the winner's pods done: their GPUs go to the other gang, whole.
    for i in range(4):
        await cluster.succeed(f"{winner}-{i}")

    async def loser_bound() -> bool:
        placed = await cluster.placements()
        return all(placed[f"{loser}-{i}"] for i in range(4))

    await eventually(loser_bound, timeout=15, what="the second gang bound after the first")

    async def phases() -> tuple[str, str] | None:
        w = (await cluster.podgroup_status(winner)).get("phase")
        lo = (await cluster.podgroup_status(loser)).get("phase")
        return (w, lo) if (w, lo) == ("Completed", "Running") else None

    await eventually(phases, timeout=10, what="winner Completed, second Running")
    status = await cluster.podgroup_status(loser)
    assert [c["type"] for c in status["conditions"]] == ["Scheduled"]


async def test_gang_of_three_of_four_binds_three(cluster: Cluster, scheduler: Start) -> None:
    await cluster.node("n1", gpus=2)
    await cluster.node("n2", gpus=1)
    await cluster.podgroup("g", 3)
    for i in range(4):
        await cluster.gpu_pod(f"g-{i}", "g")
    await scheduler()

    async def three_bound() -> dict[str, str] | None:
        placed = await cluster.placements()
        status = await cluster.podgroup_status("g")
        done = len([n for n in placed.values() if n]) == 3 and status.get("phase") == "Running"
        return placed if done else None

    await eventually(three_bound, timeout=15, what="three of four bound, group Running")
    status = await cluster.podgroup_status("g")
    assert [c["type"] for c in status["conditions"]] == ["Scheduled"]


@pytest.mark.parametrize("factor", [None, 1.0])
async def test_overcommit_admits_two_of_three(cluster: Cluster, scheduler: Start,
                                             factor: float | None) -> None:
    await cluster.node("big", cpu="10")
    for i in range(3):
        await cluster.podgroup(f"pg{i}", 1, min_resources={"cpu": "5"})
    config = SchedulerConfig()
    if factor is not None:
        config.tiers[1].plugins[0] = PluginOption(
            name="overcommit", arguments={"overcommit-factor": factor})
    await scheduler(config)

    async def admitted() -> list[str] | None:
        phases = [(await cluster.podgroup_status(f"pg{i}")).get("phase") or ""
                  for i in range(3)]
        return phases if sorted(phases) == ["Inqueue", "Inqueue", "Pending"] else None

    phases = await eventually(admitted, timeout=10, what="two Inqueue, one Pending")
    pending = f"pg{phases.index('Pending')}"

    async def overused() -> list[Obj]:
        return [e for e in await cluster.events(pending, "Unschedulable")
                if e["message"] == "resource in cluster is overused"]

    [event] = await eventually(overused, timeout=10, what="the refusal explained")
    assert event["type"] == "Normal"


async def test_a_closed_queue_never_blocks_ordinary_pods(cluster: Cluster, scheduler: Start
                                                        ) -> None:
    """default-scheduler pods are one-pod gangs with no PodGroup and no queue: closing
    the `default` queue holds back a volcano pod, never an ordinary one."""
    await cluster.node("n1", cpu="4")
    # Made while the queue is Open (admission refuses new PodGroups in a closed one).
    await cluster.podgroup("g", 1, min_resources={"cpu": "1"})
    await cluster.pod("held", cpu="1", schedulerName="volcano",
                      annotations={"scheduling.k8s.io/group-name": "g"})
    await cluster.api.patch(QUEUES, "default", {"status": {"state": "Closed"}},
                            subresource="status")
    try:
        await cluster.pod("ordinary", cpu="1")
        sched = await scheduler()
        await eventually(lambda: cluster.bound("ordinary"), timeout=10,
                         what="the ordinary pod bound")
        start = sched.volcano.sessions
        await eventually(lambda: sched.volcano.sessions >= start + 3, timeout=10,
                         what="three more sessions")
        assert not await cluster.node_of("held")
        assert (await cluster.podgroup_status("g")).get("phase", "Pending") == "Pending"
    finally:
        await cluster.api.patch(QUEUES, "default", {"status": {"state": "Open"}},
                                subresource="status")
