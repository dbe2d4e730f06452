"""DaemonSet decisions without I/O: placement, tolerations, rolling-update budget."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubeedge.api.placement import tolerates_taint as tolerates
from kubeedge.controllers.daemonset import (
    node_should_run,
    plan_rolling_update,
    rolling_limits,
    target_node,
    with_daemon_tolerations,
    with_node_name_affinity,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def node(name: str, labels: dict[str, str] | None = None,
         taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or []}}


def ds(**pod_spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "agent", "generation": 1},
            "spec": {"updateStrategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                     "template": {"spec": {"containers": [{"name": "a"}], **pod_spec}}}}


def pod(name: str, node_name: str, hash_: str, ready: bool = True) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   "lastTransitionTime": "2024-12-31T00:00:00Z"}]
    spec = with_node_name_affinity({}, node_name)
    return {"metadata": {"name": name, "labels": {"controller-revision-hash": hash_},
                         "creationTimestamp": "2024-12-31T00:00:00Z"},
            "spec": spec, "status": {"phase": "Running", "conditions": conditions}}


def test_toleration_matching_follows_kube() -> None:
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    assert tolerates({"key": "dedicated", "operator": "Equal", "value": "db"}, taint)
    assert tolerates({"key": "dedicated", "value": "db", "effect": "NoSchedule"}, taint)
    assert not tolerates({"key": "dedicated", "value": "web"}, taint)
    assert not tolerates({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
                         taint)
    assert tolerates({"operator": "Exists"}, taint)  # empty key + Exists: everything


def test_daemon_pods_tolerate_node_conditions_and_host_network_adds_one() -> None:
    spec = with_daemon_tolerations({})
    keys = {(t["key"], t["effect"]) for t in spec["tolerations"]}
    assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
    assert ("node.kubernetes.io/network-unavailable", "NoSchedule") not in keys
    spec = with_daemon_tolerations({"hostNetwork": True, "tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 5}]})
    not_ready = [t for t in spec["tolerations"] if t["key"] == "node.kubernetes.io/not-ready"]
    assert not_ready == [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                          "effect": "NoExecute"}]
    assert any(t["key"] == "node.kubernetes.io/network-unavailable" for t in spec["tolerations"])


def test_node_name_affinity_keeps_expressions_and_replaces_fields() -> None:
    spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a"]}],
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["x"]}]}]}}}}
    with_node_name_affinity(spec, "n1")
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    assert term["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]
    assert term["matchExpressions"][0]["key"] == "zone"
    assert target_node({"spec": spec}) == "n1"
    assert target_node({"spec": {**spec, "nodeName": "bound"}}) == "bound"


def test_should_run_honours_selector_affinity_and_taints() -> None:
    assert node_should_run(node("n", {"pool": "a"}), ds(nodeSelector={"pool": "a"})) == (
        True, True)
    assert node_should_run(node("n", {"pool": "b"}), ds(nodeSelector={"pool": "a"})) == (
        False, False)
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "node-role.kubernetes.io/edge", "operator": "Exists"}]}]}}}
    edge = node("e", {"node-role.kubernetes.io/edge": ""})
    assert node_should_run(edge, ds(affinity=affinity)) == (True, True)
    assert node_should_run(node("c"), ds(affinity=affinity)) == (False, False)
    no_schedule = node("t", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])
    assert node_should_run(no_schedule, ds()) == (False, True)  # keep what runs there
    no_execute = node("t", taints=[{"key": "k", "value": "v", "effect": "NoExecute"}])
    assert node_should_run(no_execute, ds()) == (False, False)
    tolerated = ds(tolerations=[{"key": "k", "operator": "Exists"}])
    assert node_should_run(no_execute, tolerated) == (True, True)
    # The taints daemons tolerate by default never keep them off a node.
    unreachable = node("u", taints=[
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
    assert node_should_run(unreachable, ds()) == (True, True)
    assert node_should_run(node("x"), ds(nodeName="y")) == (False, False)


def test_limits_scale_percentages_and_never_stall() -> None:
    d = ds()
    d["spec"]["updateStrategy"]["rollingUpdate"] = {"maxUnavailable": "10%", "maxSurge": 0}
    assert rolling_limits(d, 25) == (0, 3)  # rounded up
    d["spec"]["updateStrategy"]["rollingUpdate"] = {"maxUnavailable": 0, "maxSurge": 0}
    assert rolling_limits(d, 25) == (0, 1)


def test_rolling_update_without_surge_deletes_within_max_unavailable() -> None:
    nodes = {f"n{i}": node(f"n{i}") for i in range(4)}
    by_node = {f"n{i}": [pod(f"p{i}", f"n{i}", "old")] for i in range(4)}
    plan = plan_rolling_update(ds(), nodes, by_node, "new", NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["p0"] and not plan.create_on
    # One node already has its new pod, not yet ready: that uses up the budget.
    by_node["n0"] = [pod("q0", "n0", "new", ready=False)]
    assert plan_rolling_update(ds(), nodes, by_node, "new", NOW).delete == []
    # An old pod that is not available anyway is replaced at once.
    by_node["n3"] = [pod("p3", "n3", "old", ready=False)]
    plan = plan_rolling_update(ds(), nodes, by_node, "new", NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["p3"]


def test_a_node_left_without_its_pod_uses_up_the_budget() -> None:
    """The old pod of n0 was deleted and its replacement is not in the cache yet: n0 is
    unavailable, so no other node's old pod may go (kube walks the node list)."""
    nodes = {f"n{i}": node(f"n{i}") for i in range(3)}
    by_node = {f"n{i}": [pod(f"p{i}", f"n{i}", "old")] for i in (1, 2)}
    assert plan_rolling_update(ds(), nodes, by_node, "new", NOW).delete == []


def test_rolling_update_with_surge_creates_before_deleting() -> None:
    d = ds()
    d["spec"]["updateStrategy"]["rollingUpdate"] = {"maxUnavailable": 0, "maxSurge": 1}
    nodes = {f"n{i}": node(f"n{i}") for i in range(3)}
    by_node = {f"n{i}": [pod(f"p{i}", f"n{i}", "old")] for i in range(3)}
    plan = plan_rolling_update(d, nodes, by_node, "new", NOW)
    assert plan.create_on == ["n0"] and plan.delete == []
    by_node["n0"].append(pod("q0", "n0", "new", ready=False))
    plan = plan_rolling_update(d, nodes, by_node, "new", NOW)
    assert plan.create_on == [] and plan.delete == []  # surge budget in use
    by_node["n0"][1] = pod("q0", "n0", "new", ready=True)
    plan = plan_rolling_update(d, nodes, by_node, "new", NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["p0"]
    assert plan.create_on == ["n1"]
