"""Scores: kube's numbers for least-allocated and balanced allocation, Volcano's
binpack, preferred node affinity, and random ties that spread replicas."""

from __future__ import annotations

from collections import Counter

from kubeedge.config.scheduler import PluginOption, SchedulerConfig, Tier
from kubeedge.scheduler.actions.allocate import allocate_task
from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo
from kubeedge.scheduler.plugins.binpack import BinpackPlugin
from kubeedge.scheduler.plugins.nodeorder import (
    NodeOrderPlugin,
    balanced_allocation_score,
    least_allocated_score,
)
from tests.unit.scheduler.builders import node, pod, session


def info(n: dict, *pods: dict) -> NodeInfo:
    out = NodeInfo(n["metadata"]["name"])
    out.set_node(n)
    for p in pods:
        out.add_task(TaskInfo.from_pod(p))
    return out


def test_least_allocated_matches_kube() -> None:
    # cpu (4000 - 1000) * 100 / 4000 = 75, memory (8Gi - 2Gi) * 100 / 8Gi = 75.
    n = info(node("a", cpu="4", memory="8Gi"), pod("x", cpu="500m", memory="1Gi",
                                                  node_name="a", phase="Running"))
    task = TaskInfo.from_pod(pod("p", cpu="500m", memory="1Gi"))
    assert least_allocated_score(task, n) == 75
    # Pods without requests count as 100m / 200Mi.
    empty = TaskInfo.from_pod(pod("q"))
    assert least_allocated_score(empty, info(node("b", cpu="1", memory="1000Mi"))) == 85


def test_balanced_allocation_prefers_even_use() -> None:
    n = info(node("a", cpu="4", memory="8Gi"))
    even = TaskInfo.from_pod(pod("p", cpu="2", memory="4Gi"))
    skewed = TaskInfo.from_pod(pod("q", cpu="2", memory="0"))
    assert balanced_allocation_score(even, n) == 100
    assert balanced_allocation_score(skewed, n) == 75  # fractions 0.5 and 0 -> std 0.25


def test_fast_node_order_equals_the_sum_of_kube_scores() -> None:
    plugin = NodeOrderPlugin()
    for cpu, memory in [("1", "1Gi"), ("3", "100Mi"), ("", ""), ("5", "20Gi")]:
        task = TaskInfo.from_pod(pod("p", cpu=cpu, memory=memory))
        for n in (info(node("a")), info(node("b", cpu="2", memory="1Gi"),
                                        pod("x", cpu="1", node_name="b", phase="Running"))):
            assert plugin.node_order({}, task, n) == (
                least_allocated_score(task, n) + balanced_allocation_score(task, n))


def test_binpack_prefers_the_fuller_node_and_zero_for_overflow() -> None:
    plugin = BinpackPlugin({"binpack.weight": 10})
    task = TaskInfo.from_pod(pod("p", cpu="1", memory="1Gi"))
    empty = info(node("a", cpu="4", memory="4Gi"))
    busy = info(node("b", cpu="4", memory="4Gi"),
                pod("x", cpu="2", memory="2Gi", node_name="b", phase="Running"))
    assert plugin.node_order({}, task, empty) == 100 * 10 * 0.25
    assert plugin.node_order({}, task, busy) == 100 * 10 * 0.75
    full = info(node("c", cpu="1", memory="4Gi"),
                pod("y", cpu="1", node_name="c", phase="Running"))
    assert plugin.node_order({}, task, full) == 0


def test_binpack_plugin_packs_replicas() -> None:
    config = SchedulerConfig(tiers=[Tier(plugins=[
        PluginOption(name="predicates"),
        PluginOption(name="nodeorder", arguments={"leastrequested.weight": 0,
                                                  "balancedresource.weight": 0}),
        PluginOption(name="binpack")])])
    ssn = session(node("a"), node("b"), node("c"), config=config)
    used = set()
    for i in range(6):
        task = TaskInfo.from_pod(pod(f"p{i}", cpu="500m", memory="512Mi"))
        chosen = allocate_task(ssn, task)
        assert isinstance(chosen, NodeInfo)
        ssn.cache.assume(task, chosen.name)
        used.add(chosen.name)
    assert len(used) == 1


def test_preferred_node_affinity_wins_over_spreading() -> None:
    ssn = session(node("a", labels={"disk": "ssd"}), node("b"))
    prefer = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [
            {"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}
    for i in range(3):
        task = TaskInfo.from_pod(pod(f"p{i}", cpu="100m", affinity=prefer))
        chosen = allocate_task(ssn, task)
        assert isinstance(chosen, NodeInfo) and chosen.name == "a"
        ssn.cache.assume(task, chosen.name)


def test_prefer_no_schedule_taints_lower_the_score() -> None:
    soft = [{"key": "spot", "value": "true", "effect": "PreferNoSchedule"}]
    ssn = session(node("a", taints=soft), node("b"))
    chosen = allocate_task(ssn, TaskInfo.from_pod(pod("p")))
    assert isinstance(chosen, NodeInfo) and chosen.name == "b"


def test_ties_are_broken_at_random() -> None:
    picks: Counter[str] = Counter()
    for seed in range(40):
        ssn = session(node("a"), node("b"), node("c"), seed=seed)
        chosen = allocate_task(ssn, TaskInfo.from_pod(pod("p")))
        assert isinstance(chosen, NodeInfo)
        picks[chosen.name] += 1
    assert set(picks) == {"a", "b", "c"}
