"""Cache accounting: assumed pods count at once, the watch's copy replaces ours, a
failed bind gives the place back, finished pods free their node; and, for random
clusters, placing pods one after another never over-commits a node and never uses a
node a predicate refuses."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubeedge.scheduler.actions.allocate import allocate_task, resource_fit
from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo, TaskStatus
from kubeedge.scheduler.framework.session import FitErrors
from tests.unit.scheduler.builders import node, pod, session


def test_assumed_pods_count_until_the_watch_confirms_them() -> None:
    cache = SchedulerCache()
    cache.set_node(node("a", cpu="1"))
    p = pod("p", cpu="600m")
    task = TaskInfo.from_pod(p)
    cache.assume(task, "a")
    assert cache.nodes["a"].requested.milli_cpu == 600
    # The pod's own (still unbound) update does not drop the assumption.
    cache.update_pod(p)
    assert cache.is_assumed(task.key) and cache.nodes["a"].requested.milli_cpu == 600
    bound = {**p, "spec": {**p["spec"], "nodeName": "a"}}
    cache.update_pod(bound)
    assert not cache.is_assumed(task.key)
    assert cache.nodes["a"].requested.milli_cpu == 600
    assert cache.tasks[task.key].status is TaskStatus.BOUND


def test_failed_bind_gives_the_place_back() -> None:
    cache = SchedulerCache()
    cache.set_node(node("a", cpu="1"))
    task = TaskInfo.from_pod(pod("p", cpu="600m"))
    cache.assume(task, "a")
    cache.forget(task)
    assert cache.nodes["a"].requested.milli_cpu == 0
    assert task.status is TaskStatus.PENDING


def test_forget_after_the_watch_saw_it_bound_keeps_the_api_placement() -> None:
    cache = SchedulerCache()
    cache.set_node(node("a"))
    p = pod("p", cpu="1")
    task = TaskInfo.from_pod(p)
    cache.assume(task, "a")
    cache.update_pod({**p, "spec": {**p["spec"], "nodeName": "a"}})
    cache.forget(task)
    assert cache.nodes["a"].requested.milli_cpu == 1000


def test_finished_and_deleted_pods_free_their_node() -> None:
    cache = SchedulerCache()
    cache.set_node(node("a"))
    running = pod("p", cpu="1", node_name="a", phase="Running")
    cache.update_pod(running)
    assert cache.nodes["a"].requested.milli_cpu == 1000
    assert cache.update_pod({**running, "status": {"phase": "Succeeded"}}) is not None
    assert cache.nodes["a"].requested.milli_cpu == 0
    cache.update_pod(running)
    cache.delete_pod(running)
    assert cache.nodes["a"].requested == cache.nodes["a"].requested.__class__(0, 0, 0, {})


def test_pods_on_a_deleted_node_stay_counted_off_the_list() -> None:
    cache = SchedulerCache()
    cache.set_node(node("a"))
    running = pod("p", cpu="1", node_name="a", phase="Running")
    cache.update_pod(running)
    cache.remove_node("a")
    assert cache.node_list() == []
    cache.set_node(node("a"))
    assert cache.node_list()[0].requested.milli_cpu == 1000
    cache.delete_pod(running)
    cache.remove_node("a")
    assert cache.nodes == {}


# -- property: never over-commit, never ignore a predicate ---------------------------

TAINT = {"key": "dedicated", "value": "x", "effect": "NoSchedule"}

nodes_strategy = st.lists(
    st.fixed_dictionaries({
        "cpu": st.sampled_from(["500m", "1", "2", "4"]),
        "memory": st.sampled_from(["512Mi", "1Gi", "4Gi"]),
        "pods": st.sampled_from(["1", "3", "110"]),
        "gpu": st.sampled_from(["0", "1", "2"]),
        "zone": st.sampled_from(["a", "b"]),
        "tainted": st.booleans(),
        "ready": st.sampled_from(["True", "True", "False"]),
        "unschedulable": st.booleans(),
    }),
    min_size=1, max_size=6)

pods_strategy = st.lists(
    st.fixed_dictionaries({
        "cpu": st.sampled_from(["", "100m", "300m", "1", "3"]),
        "memory": st.sampled_from(["", "128Mi", "1Gi"]),
        "gpu": st.sampled_from(["", "1"]),
        "zone": st.sampled_from([None, "a", "b"]),
        "tolerates": st.booleans(),
        "port": st.sampled_from([0, 0, 8080]),
        "anti": st.booleans(),
    }),
    min_size=1, max_size=25)


def _nodes(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [node(f"n{i}", cpu=s["cpu"], memory=s["memory"], pods=s["pods"],
                 labels={"zone": s["zone"]}, taints=[TAINT] if s["tainted"] else [],
                 ready=s["ready"], unschedulable=s["unschedulable"],
                 extra={"nvidia.com/gpu": s["gpu"]})
            for i, s in enumerate(specs)]


def _pods(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, s in enumerate(specs):
        extra: dict[str, Any] = {}
        if s["zone"]:
            extra["nodeSelector"] = {"zone": s["zone"]}
        if s["tolerates"]:
            extra["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        if s["anti"]:
            extra["affinity"] = {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{
                    "labelSelector": {"matchLabels": {"group": "anti"}},
                    "topologyKey": "kubernetes.io/hostname"}]}}
        out.append(pod(f"p{i}", cpu=s["cpu"], memory=s["memory"], host_port=s["port"],
                       labels={"group": "anti"} if s["anti"] else {},
                       extra_requests={"nvidia.com/gpu": s["gpu"]} if s["gpu"] else None,
                       **extra))
    return out


def _committed_within(info: NodeInfo) -> bool:
    alloc, used = info.allocatable, info.requested
    return (used.milli_cpu <= alloc.milli_cpu and used.memory <= alloc.memory
            and used.pods <= alloc.pods
            and all(v <= alloc.scalars.get(k, 0) for k, v in used.scalars.items()))


@settings(max_examples=60, deadline=None)
@given(nodes_strategy, pods_strategy, st.integers(0, 3))
def test_placements_never_overcommit_or_break_a_predicate(
        node_specs: list[dict[str, Any]], pod_specs: list[dict[str, Any]], seed: int) -> None:
    ssn = session(*_nodes(node_specs), seed=seed)
    for p in _pods(pod_specs):
        task = TaskInfo.from_pod(p)
        result = allocate_task(ssn, task)
        if isinstance(result, FitErrors):
            # Then truly no node could take it.
            for info in ssn.nodes:
                state: dict[str, Any] = {}
                assert (ssn.pre_predicate(state, task) is not None
                        or ssn.predicate(state, task, info) is not None
                        or resource_fit(task, info) is not None)
            continue
        state = {}
        assert ssn.pre_predicate(state, task) is None
        assert ssn.predicate(state, task, result) is None
        assert resource_fit(task, result) is None
        assert result.ready == "True" and not result.unschedulable
        ssn.cache.assume(task, result.name)
        assert _committed_within(result)
    for info in ssn.nodes:
        assert _committed_within(info)
        held = [port for t in info.tasks.values() for port in t.host_ports]
        assert len(held) == len(set(held)), "a host port given twice"
        anti = [t for t in info.tasks.values() if t.anti_affinity_terms]
        assert len(anti) <= 1, "two anti-affine pods on one host"
