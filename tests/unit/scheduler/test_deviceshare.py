"""Legacy GPU sharing without I/O (specs/volcano.md §4): a node's cards from its
capacity, what a pod asks for, which card a pod gets (lowest index with enough free
memory; k idle cards), what each card holds (annotated pods, placements assumed and
not yet bound), the predicate's reason, and the plugin on both the default-scheduler
fast path and a Volcano session."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kubeedge.config.apiserver import ConfigError
from kubeedge.config.scheduler import PluginOption, SchedulerConfig, Tier
from kubeedge.scheduler.actions.allocate import allocate, allocate_task
from kubeedge.scheduler.actions.enqueue import enqueue
from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import (
    GPU_INDEX_ANNOTATION,
    PREDICATE_TIME_ANNOTATION,
    NodeInfo,
    TaskInfo,
)
from kubeedge.scheduler.framework.job_info import JobInfo, QueueInfo
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.session import FitErrors, Session
from kubeedge.scheduler.plugins import build_plugins, build_tiers
from kubeedge.scheduler.plugins.deviceshare import DeviceSharePlugin
from tests.unit.scheduler.builders import node, pod

Obj = dict[str, Any]
MEM = "volcano.sh/gpu-memory"
NUM = "volcano.sh/gpu-number"
SHARING = {"deviceshare.GPUSharingEnable": True}
NUMBER = {"deviceshare.GPUNumberEnable": True}


def gpu_node(name: str = "n1", *, cards: int = 2, memory: int = 32000,
             annotations: dict[str, str] | None = None) -> Obj:
    body = node(name, extra={MEM: str(memory), NUM: str(cards)})
    if annotations:
        body["metadata"]["annotations"] = annotations
    return body


def gpu_pod(name: str, *, memory: int = 0, number: int = 0, where: str = "both",
            node_name: str = "", phase: str = "Pending", index: str = "") -> Obj:
    """A pod asking for GPU memory or cards in its limits, its requests, or "both"
    (what the API server's defaulting makes of limits alone)."""
    body = pod(name, cpu="100m", node_name=node_name, phase=phase)
    asks = {MEM: str(memory)} if memory else {NUM: str(number)}
    resources = body["spec"]["containers"][0]["resources"]
    if where in ("both", "limits"):
        resources["limits"] = dict(asks)
    if where in ("both", "requests"):
        resources["requests"].update(asks)
    if index:
        body["metadata"]["annotations"] = {GPU_INDEX_ANNOTATION: index}
    return body


def tiers(arguments: dict[str, Any]) -> list[Tier]:
    return [Tier(plugins=[PluginOption(name="priority"), PluginOption(name="gang"),
                          PluginOption(name="conformance")]),
            Tier(plugins=[PluginOption(name="predicates"),
                          PluginOption(name="deviceshare", arguments=arguments),
                          PluginOption(name="nodeorder"), PluginOption(name="binpack")])]


def fast_path(*nodes: Obj, arguments: dict[str, Any] | None = None) -> Session:
    cache = SchedulerCache()
    for n in nodes:
        cache.set_node(n)
    config = SchedulerConfig(tiers=tiers(SHARING if arguments is None else arguments))
    return Session(cache, build_plugins(config.tiers), random.Random(0))


def place(ssn: Session, body: Obj) -> TaskInfo | FitErrors:
    """One fast-path decision: the node, then the pod assumed there."""
    task = TaskInfo.from_pod(body)
    result = allocate_task(ssn, task)
    if isinstance(result, FitErrors):
        return result
    ssn.cache.assume(task, result.name)
    return task


# -- what a node offers and a pod asks ------------------------------------------------

def test_cards_split_the_nodes_gpu_memory_equally() -> None:
    info = NodeInfo("n1")
    info.set_node(gpu_node(cards=2, memory=32000))
    assert info.gpus == {0: 16000, 1: 16000}


def test_unhealthy_cards_are_left_out() -> None:
    info = NodeInfo("n1")
    info.set_node(gpu_node(cards=4, memory=40000,
                           annotations={"volcano.sh/gpu-unhealthy-ids": "1,3"}))
    assert info.gpus == {0: 10000, 2: 10000}


@pytest.mark.parametrize("extra", [{MEM: "32000"}, {NUM: "2"}, {}])
def test_a_node_without_both_resources_has_no_cards(extra: dict[str, str]) -> None:
    info = NodeInfo("n1")
    info.set_node(node("n1", extra=extra))
    assert info.gpus == {}


def test_gpu_requests_come_from_limits_else_requests() -> None:
    assert TaskInfo.from_pod(gpu_pod("a", memory=8000, where="limits")).gpu_memory == 8000
    assert TaskInfo.from_pod(gpu_pod("b", memory=8000, where="requests")).gpu_memory == 8000
    assert TaskInfo.from_pod(gpu_pod("c", number=2)).gpu_number == 2
    body = gpu_pod("d", memory=1000)
    body["spec"]["containers"].append({"name": "e", "resources": {"limits": {MEM: "500"}}})
    body["spec"]["initContainers"] = [{"name": "i", "resources": {"limits": {MEM: "4000"}}}]
    assert TaskInfo.from_pod(body).gpu_memory == 4000


# -- which card -----------------------------------------------------------------------

def test_three_8000_pods_on_two_16000_cards_get_0_0_1_and_20000_never_fits() -> None:
    ssn = fast_path(gpu_node())
    placed = [place(ssn, gpu_pod(f"p{i}", memory=8000)) for i in range(3)]
    assert all(isinstance(t, TaskInfo) for t in placed)
    assert [t.bind_annotations[GPU_INDEX_ANNOTATION] for t in placed  # type: ignore[union-attr]
            ] == ["0", "0", "1"]
    assert all(t.bind_annotations[PREDICATE_TIME_ANNOTATION].isdigit()  # type: ignore[union-attr]
               for t in placed)
    info = ssn.cache.nodes["n1"]
    assert info.gpu_used == {0: 16000, 1: 8000}
    big = place(ssn, gpu_pod("big", memory=20000))
    assert isinstance(big, FitErrors)
    assert big.message() == (
        "0/1 nodes are available: 1 node(s) had no GPU with 20000 MiB of "
        "volcano.sh/gpu-memory free. preemption: 0/1 nodes are available: "
        "1 Preemption is not helpful for scheduling.")


def test_20000_does_not_fit_an_empty_node_of_two_16000_cards_either() -> None:
    ssn = fast_path(gpu_node())
    big = place(ssn, gpu_pod("big", memory=20000))
    assert isinstance(big, FitErrors)
    assert "had no GPU with 20000 MiB" in big.message()


def test_a_pod_that_would_fit_after_evictions_is_not_unresolvable() -> None:
    ssn = fast_path(gpu_node())
    for i in range(2):
        assert isinstance(place(ssn, gpu_pod(f"p{i}", memory=10000)), TaskInfo)
    late = place(ssn, gpu_pod("late", memory=8000))
    assert isinstance(late, FitErrors)
    assert "1 No preemption victims found" in late.message()


def test_annotated_pods_on_the_node_hold_their_cards() -> None:
    ssn = fast_path(gpu_node())
    ssn.cache.update_pod(gpu_pod("old", memory=10000, node_name="n1", phase="Running",
                                 index="0"))
    task = place(ssn, gpu_pod("new", memory=8000))
    assert isinstance(task, TaskInfo)
    assert task.bind_annotations[GPU_INDEX_ANNOTATION] == "1"
    # Finished pods hold nothing.
    ssn.cache.update_pod(gpu_pod("old", memory=10000, node_name="n1", phase="Succeeded",
                                 index="0"))
    assert ssn.cache.nodes["n1"].gpu_used == {0: 0, 1: 8000}


def test_a_failed_bind_gives_the_card_back() -> None:
    ssn = fast_path(gpu_node())
    task = place(ssn, gpu_pod("p", memory=16000))
    assert isinstance(task, TaskInfo)
    assert ssn.cache.nodes["n1"].gpu_used == {0: 16000}
    ssn.cache.forget(task)
    assert ssn.cache.nodes["n1"].gpu_used == {0: 0}
    assert task.gpu_ids == () and GPU_INDEX_ANNOTATION not in task.bind_annotations
    again = place(ssn, gpu_pod("q", memory=16000))
    assert isinstance(again, TaskInfo) and again.bind_annotations[GPU_INDEX_ANNOTATION] == "0"


def test_the_watch_confirming_the_bind_keeps_the_card() -> None:
    ssn = fast_path(gpu_node())
    task = place(ssn, gpu_pod("p", memory=8000))
    assert isinstance(task, TaskInfo)
    index = task.bind_annotations[GPU_INDEX_ANNOTATION]
    bound = gpu_pod("p", memory=8000, node_name="n1", index=index)
    ssn.cache.update_pod(bound)
    info = ssn.cache.nodes["n1"]
    assert info.gpu_used == {0: 8000} and info.gpu_holders == {0: 1}
    ssn.cache.delete_pod(bound)
    assert info.gpu_used == {0: 0} and info.gpu_holders == {0: 0}


def test_gpu_number_takes_idle_cards_lowest_first() -> None:
    ssn = fast_path(gpu_node(cards=4, memory=40000), arguments=NUMBER)
    ssn.cache.update_pod(gpu_pod("one", number=1, node_name="n1", phase="Running",
                                 index="1"))
    task = place(ssn, gpu_pod("two", number=2))
    assert isinstance(task, TaskInfo)
    assert task.bind_annotations[GPU_INDEX_ANNOTATION] == "0,2"
    short = place(ssn, gpu_pod("three", number=2))
    assert isinstance(short, FitErrors)
    assert "1 node(s) had fewer than 2 idle GPUs (volcano.sh/gpu-number)" in short.message()


@pytest.mark.parametrize(("policy", "card"), [("", 0), ("binpack", 1), ("spread", 2)])
def test_schedule_policy_picks_the_card(policy: str, card: int) -> None:
    info = NodeInfo("n1")
    info.set_node(gpu_node(cards=3, memory=30000))
    info.gpu_used = {0: 2000, 1: 6000, 2: 0}
    assert info.gpus_for_memory(3000, policy) == (card,)


def test_pods_without_gpu_memory_and_nodes_without_cards_are_left_alone() -> None:
    ssn = fast_path(gpu_node(), node("n2"))
    plain = place(ssn, pod("plain", cpu="100m"))
    assert isinstance(plain, TaskInfo) and plain.bind_annotations == {}
    # A node with no cards: the resource check refuses, in its own words.
    lone = fast_path(node("n2"))
    errors = place(lone, gpu_pod("g", memory=1000))
    assert isinstance(errors, FitErrors)
    assert "Insufficient volcano.sh/gpu-memory" in errors.message()


def test_without_the_plugin_no_card_is_chosen() -> None:
    ssn = fast_path(gpu_node(), arguments={})
    task = place(ssn, gpu_pod("p", memory=8000))
    assert isinstance(task, TaskInfo) and task.bind_annotations == {}


# -- arguments ------------------------------------------------------------------------

@pytest.mark.parametrize("arguments", [
    {**SHARING, **NUMBER},
    {**SHARING, "deviceshare.SchedulePolicy": "fullest"},
    {"deviceshare.VGPUEnable": True},
])
def test_bad_arguments_are_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        DeviceSharePlugin(arguments)


def test_schedule_weight_scores_the_node_by_the_chosen_cards_fill() -> None:
    ssn = fast_path(gpu_node("n1"), gpu_node("n2"),
                    arguments={**SHARING, "deviceshare.SchedulePolicy": "binpack",
                               "deviceshare.ScheduleWeight": 10})
    ssn.cache.update_pod(gpu_pod("old", memory=8000, node_name="n2", phase="Running",
                                 index="0"))
    task = place(ssn, gpu_pod("p", memory=8000))
    assert isinstance(task, TaskInfo) and task.node_name == "n2"


# -- a Volcano session ----------------------------------------------------------------

def test_a_gang_sees_its_own_assumed_placements_on_the_cards() -> None:
    cache = SchedulerCache()
    cache.set_node(gpu_node())
    members = []
    for i in range(3):
        body = gpu_pod(f"g{i}", memory=8000)
        body["metadata"]["annotations"] = {"scheduling.k8s.io/group-name": "g"}
        members.append(TaskInfo.from_pod(body))
    podgroup = {"metadata": {"name": "g", "namespace": "default", "uid": "uid-g",
                             "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"minMember": 3, "queue": "default"}, "status": {"phase": "Inqueue"}}
    job = JobInfo.from_podgroup(podgroup, members)
    queue = QueueInfo.from_queue({"metadata": {"name": "default"}, "spec": {"weight": 1},
                                  "status": {"state": "Open"}})
    ssn = JobSession(cache, build_tiers(tiers(SHARING)), [job], [queue], random.Random(0))
    enqueue(ssn)
    allocate(ssn)
    assert len(ssn.committed) == 3
    indexes = sorted(t.bind_annotations[GPU_INDEX_ANNOTATION] for t, _ in ssn.committed)
    assert indexes == ["0", "0", "1"]
    assert cache.nodes["n1"].gpu_used == {0: 16000, 1: 8000}


def test_a_discarded_gang_gives_its_cards_back() -> None:
    cache = SchedulerCache()
    cache.set_node(gpu_node())
    members = []
    for i, memory in enumerate((8000, 8000, 20000)):
        body = gpu_pod(f"g{i}", memory=memory)
        body["metadata"]["annotations"] = {"scheduling.k8s.io/group-name": "g"}
        members.append(TaskInfo.from_pod(body))
    podgroup = {"metadata": {"name": "g", "namespace": "default", "uid": "uid-g",
                             "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"minMember": 3, "queue": "default"}, "status": {"phase": "Inqueue"}}
    job = JobInfo.from_podgroup(podgroup, members)
    queue = QueueInfo.from_queue({"metadata": {"name": "default"}, "spec": {"weight": 1},
                                  "status": {"state": "Open"}})
    ssn = JobSession(cache, build_tiers(tiers(SHARING)), [job], [queue], random.Random(0))
    enqueue(ssn)
    allocate(ssn)
    ssn.close()
    assert ssn.committed == []
    assert all(v == 0 for v in cache.nodes["n1"].gpu_used.values())
    assert all(t.bind_annotations == {} for t in members)
    assert job.condition is not None
    assert "had no GPU with 20000 MiB of volcano.sh/gpu-memory free" in (
        job.condition["message"])
