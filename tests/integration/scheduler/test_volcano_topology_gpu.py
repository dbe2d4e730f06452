"""task-topology and deviceshare against the real API server process (specs/volcano.md
§4): a ps/worker job with affinity `ps,worker` and anti-affinity `ps` on two 4-CPU
nodes lands one ps and two workers per node; on a node with two 16000 MiB GPUs three
8000 MiB pods get `volcano.sh/gpu-index` 0, 0 and 1 (written before their binding) and
a 20000 MiB pod stays Pending with the reason, on the Volcano path and on the
default-scheduler fast path.

Configurations: task-topology as Volcano's user guide configures it (second tier,
`task-topology.weight: 10`, beside drf, predicates, proportion, nodeorder and binpack);
deviceshare with `deviceshare.GPUSharingEnable: true` added to the Helm tiers.
"""

from __future__ import annotations

from typing import Any

from kubeedge.config.scheduler import PluginOption, SchedulerConfig, Tier
from kubeedge.scheduler.scheduler import PODGROUPS, PODS
from tests.fixtures.cluster import eventually
from tests.fixtures.scheduling import Start
from tests.fixtures.volcano import VolcanoCluster as Cluster
from tests.fixtures.volcano import api, cluster, scheduler

__all__ = ["api", "cluster", "scheduler"]

Obj = dict[str, Any]

GPU_MEMORY = "volcano.sh/gpu-memory"
GPU_NUMBER = "volcano.sh/gpu-number"
GPU_INDEX = "volcano.sh/gpu-index"
PREDICATE_TIME = "volcano.sh/predicate-time"
GROUP = "scheduling.k8s.io/group-name"


def topology_config() -> SchedulerConfig:
    return SchedulerConfig(tiers=[
        Tier(plugins=[PluginOption(name="priority"), PluginOption(name="gang"),
                      PluginOption(name="conformance")]),
        Tier(plugins=[PluginOption(name="drf"), PluginOption(name="predicates"),
                      PluginOption(name="task-topology",
                                   arguments={"task-topology.weight": 10}),
                      PluginOption(name="proportion"), PluginOption(name="nodeorder"),
                      PluginOption(name="binpack")]),
    ])


def gpu_config() -> SchedulerConfig:
    config = SchedulerConfig()
    config.tiers[1].plugins.append(
        PluginOption(name="deviceshare", arguments={"deviceshare.GPUSharingEnable": True}))
    return config


async def podgroup(c: Cluster, name: str, min_member: int,
                   annotations: dict[str, str] | None = None) -> None:
    await c.api.create(PODGROUPS, {"metadata": {"name": name,
                                                "annotations": annotations or {}},
                                   "spec": {"minMember": min_member, "queue": "default"}},
                       c.ns)


async def gpu_pod(c: Cluster, name: str, memory: int, *, group: str = "",
                  scheduler_name: str = "volcano") -> None:
    asks = {GPU_MEMORY: str(memory)}
    await c.pod(name, annotations={GROUP: group} if group else {},
                schedulerName=scheduler_name,
                resources={"requests": {"cpu": "100m", **asks}, "limits": asks})


async def annotations_of(c: Cluster, name: str) -> dict[str, str]:
    pod = await c.api.get(PODS, name, c.ns)
    return (pod.get("metadata") or {}).get("annotations") or {}


async def test_ps_and_workers_land_one_ps_and_two_workers_per_node(
        cluster: Cluster, scheduler: Start) -> None:
    n1 = await cluster.node("n1", cpu="4")
    n2 = await cluster.node("n2", cpu="4")
    await podgroup(cluster, "tf", 6, {"volcano.sh/task-topology-affinity": "ps,worker",
                                      "volcano.sh/task-topology-anti-affinity": "ps"})
    roles = {"ps0": "ps", "ps1": "ps", **{f"w{i}": "worker" for i in range(4)}}
    for name, role in roles.items():
        await cluster.pod(name, cpu="1", schedulerName="volcano",
                          annotations={GROUP: "tf", "volcano.sh/task-spec": role})
    await scheduler(topology_config())

    placed = await eventually(lambda: cluster.bound(*roles), timeout=15,
                              what="the six pods bound")
    per_node = {n: sorted(name for name, where in placed.items() if where == n)
                for n in (n1, n2)}
    for names in per_node.values():
        assert [roles[name] for name in names].count("ps") == 1, per_node
        assert len(names) == 3, per_node
    # The buckets of Volcano's design doc: ps0 with w0 and w2, ps1 with w1 and w3.
    assert sorted(per_node.values()) == [["ps0", "w0", "w2"], ["ps1", "w1", "w3"]]


async def test_gpu_sharing_gives_cards_0_0_1_and_never_fits_20000(
        cluster: Cluster, scheduler: Start) -> None:
    await cluster.node("gpu", cpu="4", extra={GPU_MEMORY: "32000", GPU_NUMBER: "2"})
    await podgroup(cluster, "share", 3)
    await podgroup(cluster, "big", 1)
    await gpu_pod(cluster, "big-0", 20000, group="big")
    for i in range(3):
        await gpu_pod(cluster, f"share-{i}", 8000, group="share")
    sched = await scheduler(gpu_config())

    names = [f"share-{i}" for i in range(3)]
    await eventually(lambda: cluster.bound(*names), timeout=15, what="three pods bound")
    annotations = [await annotations_of(cluster, name) for name in names]
    assert sorted(a.get(GPU_INDEX) for a in annotations) == ["0", "0", "1"]
    assert all(a.get(PREDICATE_TIME, "").isdigit() for a in annotations)

    [event] = await eventually(lambda: cluster.events("big-0", "FailedScheduling"),
                               timeout=10, what="FailedScheduling on the 20000 MiB pod")
    assert "1 node(s) had no GPU with 20000 MiB of volcano.sh/gpu-memory free" in (
        event["message"])
    status = await cluster.podgroup_status("big")
    [condition] = [c for c in status.get("conditions") or []
                   if c.get("type") == "Unschedulable"]
    assert "had no GPU with 20000 MiB" in condition["message"]
    # Sessions go on; it still fits nowhere.
    seen = sched.volcano.sessions
    await eventually(lambda: sched.volcano.sessions >= seen + 3, timeout=10,
                     what="three more sessions")
    assert not await cluster.node_of("big-0")


async def test_gpu_sharing_on_the_default_scheduler_fast_path(
        cluster: Cluster, scheduler: Start) -> None:
    await cluster.node("gpu", cpu="4", extra={GPU_MEMORY: "32000", GPU_NUMBER: "2"})
    await scheduler(gpu_config())
    for i in range(2):
        await gpu_pod(cluster, f"half-{i}", 12000, scheduler_name="default-scheduler")
    await eventually(lambda: cluster.bound("half-0", "half-1"), timeout=10,
                     what="both pods bound")
    indexes = sorted([(await annotations_of(cluster, f"half-{i}")).get(GPU_INDEX)
                      for i in range(2)])
    # 12000 of 16000 each: the second pod cannot share the first one's card.
    assert indexes == ["0", "1"]
    await gpu_pod(cluster, "more", 8000, scheduler_name="default-scheduler")
    [event] = await eventually(lambda: cluster.events("more", "FailedScheduling"),
                               timeout=10, what="FailedScheduling on the third pod")
    assert event["message"].startswith(
        "0/1 nodes are available: 1 node(s) had no GPU with 8000 MiB of "
        "volcano.sh/gpu-memory free.")
    assert not await cluster.node_of("more")
