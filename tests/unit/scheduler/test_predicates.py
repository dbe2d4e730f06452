"""The filters and their words: each case is one node the pod cannot use and why."""

from __future__ import annotations

from typing import Any

import pytest

from kubeedge.scheduler.actions.allocate import allocate_task, feasible_nodes_to_find
from kubeedge.scheduler.framework.info import TaskInfo
from kubeedge.scheduler.framework.session import FitErrors, Session
from tests.unit.scheduler.builders import node, pod, session

GPU_TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


def place(p: dict[str, Any], *nodes: dict[str, Any]) -> str | FitErrors:
    result = allocate_task(session(*nodes), TaskInfo.from_pod(p))
    return result if isinstance(result, FitErrors) else result.name


def why(p: dict[str, Any], *nodes: dict[str, Any]) -> str:
    result = place(p, *nodes)
    assert isinstance(result, FitErrors), f"placed on {result}"
    return result.message(p["spec"].get("preemptionPolicy") == "Never")


def test_insufficient_resources_name_every_shortfall() -> None:
    message = why(pod("p", cpu="2", memory="2Gi", extra_requests={"nvidia.com/gpu": "1"}),
                  node("a", cpu="1", memory="1Gi"))
    assert message.startswith("0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient "
                              "memory, 1 Insufficient nvidia.com/gpu. preemption:")


def test_too_many_pods() -> None:
    assert why(pod("p"), node("a", pods="0")).startswith(
        "0/1 nodes are available: 1 Too many pods.")


def test_message_counts_are_sorted_and_preemption_never_is_said() -> None:
    nodes = [node(f"c{i}", cpu="1") for i in range(3)]
    nodes += [node(f"g{i}", cpu="64", taints=[GPU_TAINT]) for i in range(2)]
    assert why(pod("p", cpu="8", preemptionPolicy="Never"), *nodes) == (
        "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}, "
        "3 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.")


def test_preemption_verdict_separates_unresolvable_nodes() -> None:
    message = why(pod("p", cpu="8"), node("c", cpu="1"), node("g", taints=[GPU_TAINT]))
    assert message.endswith(
        "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, "
        "1 Preemption is not helpful for scheduling.")


def test_no_nodes_at_all() -> None:
    assert why(pod("p")) == "no nodes available to schedule pods"


def test_taints_need_a_matching_toleration() -> None:
    tainted = node("g", taints=[GPU_TAINT])
    assert "1 node(s) had untolerated taint {dedicated: gpu}" in why(pod("p"), tainted)
    tolerations = [{"key": "dedicated", "operator": "Equal", "value": "gpu"}]
    assert place(pod("p", tolerations=tolerations), tainted) == "g"
    assert place(pod("p", tolerations=[{"operator": "Exists"}]), tainted) == "g"
    wrong_effect = [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]
    assert isinstance(place(pod("p", tolerations=wrong_effect), tainted), FitErrors)
    # PreferNoSchedule only scores.
    soft = node("s", taints=[{**GPU_TAINT, "effect": "PreferNoSchedule"}])
    assert place(pod("p"), soft) == "s"


def test_unschedulable_nodes() -> None:
    cordoned = node("a", unschedulable=True)
    assert "1 node(s) were unschedulable" in why(pod("p"), cordoned)
    tolerate = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                 "effect": "NoSchedule"}]
    assert place(pod("p", tolerations=tolerate), cordoned) == "a"


@pytest.mark.parametrize("ready", ["False", "Unknown", None])
def test_nodes_not_ready_take_nothing(ready: str | None) -> None:
    assert "1 node(s) were not ready" in why(pod("p"), node("a", ready=ready))


def test_default_not_ready_tolerations_do_not_admit_but_no_schedule_ones_do() -> None:
    # What the DefaultTolerationSeconds admission gives every pod: NoExecute only.
    default = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                "effect": "NoExecute", "tolerationSeconds": 300}]
    assert isinstance(place(pod("p", tolerations=default), node("a", ready="False")),
                      FitErrors)
    daemon = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
               "effect": "NoSchedule"}]
    assert place(pod("p", tolerations=daemon), node("a", ready="False")) == "a"


def test_node_selector_and_required_affinity() -> None:
    ssd, hdd = node("ssd", labels={"disk": "ssd", "gen": "5"}), node("hdd", labels={"disk": "hdd"})
    assert place(pod("p", nodeSelector={"disk": "ssd"}), ssd, hdd) == "ssd"
    message = why(pod("p", nodeSelector={"disk": "nvme"}), ssd, hdd)
    assert "2 node(s) didn't match Pod's node affinity/selector" in message

    def affinity(*expressions: dict[str, Any], fields: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
        term: dict[str, Any] = {"matchExpressions": list(expressions)}
        if fields:
            term["matchFields"] = fields
        return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [term]}}}

    assert place(pod("p", affinity=affinity(
        {"key": "disk", "operator": "NotIn", "values": ["ssd"]})), ssd, hdd) == "hdd"
    assert place(pod("p", affinity=affinity(
        {"key": "gen", "operator": "Gt", "values": ["4"]})), ssd, hdd) == "ssd"
    assert place(pod("p", affinity=affinity(
        {"key": "gen", "operator": "DoesNotExist"})), ssd, hdd) == "hdd"
    assert place(pod("p", affinity=affinity(fields=[
        {"key": "metadata.name", "operator": "In", "values": ["hdd"]}])), ssd, hdd) == "hdd"
    empty_term = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{}]}}}
    assert isinstance(place(pod("p", affinity=empty_term), ssd), FitErrors)


def test_host_ports() -> None:
    ssn = session(node("a"))
    first = TaskInfo.from_pod(pod("first", host_port=8080))
    ssn.cache.assume(first, "a")
    result = allocate_task(ssn, TaskInfo.from_pod(pod("second", host_port=8080)))
    assert isinstance(result, FitErrors)
    assert "1 node(s) didn't have free ports for the requested pod ports" in result.message()
    assert not isinstance(allocate_task(ssn, TaskInfo.from_pod(pod("x", host_port=9090))),
                          FitErrors)


def _term(labels: dict[str, str], key: str = "kubernetes.io/hostname") -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key}


def test_pod_anti_affinity_both_ways_and_affinity() -> None:
    ssn = session(node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z1"}),
                  node("c", labels={"zone": "z2"}))
    web = pod("web", labels={"app": "web"}, node_name="a", phase="Running")
    ssn.cache.update_pod(web)

    # Incoming anti-affinity to web, per zone: z1 (a, b) is out.
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "web"}, "zone")]}}
    result = allocate_task(ssn, TaskInfo.from_pod(pod("p", affinity=anti)))
    assert not isinstance(result, FitErrors) and result.name == "c"

    # Affinity to web, per host: only a.
    affine = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "web"})]}}
    result = allocate_task(ssn, TaskInfo.from_pod(pod("q", affinity=affine)))
    assert not isinstance(result, FitErrors) and result.name == "a"

    # A placed pod that refuses company per zone keeps matching pods out of its zone.
    loner = pod("loner", labels={"app": "db"}, node_name="c", phase="Running", affinity={
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            _term({"app": "db"}, "zone")]}})
    ssn.cache.update_pod(loner)
    result = allocate_task(ssn, TaskInfo.from_pod(pod("db2", labels={"app": "db"})))
    assert not isinstance(result, FitErrors) and result.name in ("a", "b")

    # Affinity nobody satisfies, and the pod does not match itself: nowhere.
    stranger = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "ghost"})]}}
    result = allocate_task(ssn, TaskInfo.from_pod(pod("r", affinity=stranger)))
    assert isinstance(result, FitErrors)
    assert "3 node(s) didn't match pod affinity rules" in result.message()


def test_first_pod_of_a_self_affine_group_may_go_anywhere() -> None:
    affine = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "cache"})]}}
    assert place(pod("p", labels={"app": "cache"}, affinity=affine), node("a")) == "a"


def feasible(ssn: Session, p: dict[str, Any]) -> set[str]:
    task = TaskInfo.from_pod(p)
    state: dict[str, Any] = {}
    assert ssn.pre_predicate(state, task) is None
    return {n.name for n in ssn.nodes if ssn.predicate(state, task, n) is None}


def test_namespaces_scope_affinity_terms() -> None:
    ssn = session(node("a"), node("b"))
    ssn.cache.update_pod(pod("web", namespace="other", labels={"app": "web"}, node_name="a",
                             phase="Running"))
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "web"})]}}
    # Same namespace only by default: the web pod in "other" does not count...
    assert feasible(ssn, pod("p", affinity=anti)) == {"a", "b"}
    # ...unless the term names that namespace, or selects every namespace.
    named = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {**_term({"app": "web"}), "namespaces": ["other"]}]}}
    assert feasible(ssn, pod("p", affinity=named)) == {"b"}
    every = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {**_term({"app": "web"}), "namespaceSelector": {}}]}}
    assert feasible(ssn, pod("p", affinity=every)) == {"b"}


def test_feasible_nodes_to_find_follows_kube() -> None:
    assert feasible_nodes_to_find(50, 0) == 50
    assert feasible_nodes_to_find(1000, 0) == 420  # 50 - 8 = 42 %
    assert feasible_nodes_to_find(5000, 0) == 500  # 50 - 40 = 10 %
    assert feasible_nodes_to_find(20000, 0) == 1000  # floor of 5 %
    assert feasible_nodes_to_find(1000, 1) == 100  # never fewer than 100
    assert feasible_nodes_to_find(1000, 30) == 300


def test_sampling_visits_every_node_in_turn() -> None:
    nodes = [node(f"n{i:03}") for i in range(200)]
    ssn = session(*nodes)
    seen: set[str] = set()
    for i in range(40):
        result = allocate_task(ssn, TaskInfo.from_pod(pod(f"p{i}")), percentage_of_nodes_to_score=5)
        assert not isinstance(result, FitErrors)
        seen.add(result.name)
    # 100 feasible nodes per search, starting where the last stopped.
    assert ssn.next_start_index == 0
    assert len(seen) > 20
