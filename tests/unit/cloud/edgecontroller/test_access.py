"""What an edge node may ask EdgeController for: its own Node and Lease, pods bound to
it, and only the configmaps, secrets and service accounts its pods use (kube's Node
authorizer rule, specs/kubeedge.md §3 authorization)."""

from __future__ import annotations

from datetime import UTC, datetime

from kubeedge.cloud.edgecontroller.access import EdgeAccess
from kubeedge.cloud.edgecontroller.locations import (
    CONFIGMAP,
    SECRET,
    SERVICEACCOUNT,
    LocationCache,
    references_of,
)
from kubeedge.cloud.edgecontroller.upstream import refresh_heartbeats, split_reserved_labels


def _access() -> EdgeAccess:
    locations = LocationCache()
    for n in ("a", "b"):
        locations.add_edge_node(n)
    pod = {"metadata": {"name": "web", "namespace": "ns"},
           "spec": {"nodeName": "a", "serviceAccountName": "robot",
                    "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s"}}]}],
                    "volumes": [{"name": "v", "configMap": {"name": "cfg"}}]}}
    locations.set_pod("ns/web", "a", references_of(pod))
    return EdgeAccess(locations)


def test_node_touches_only_its_own_node_and_lease() -> None:
    access = _access()
    assert access.own_node("a", "a") is None
    assert access.own_node("a", "b") == 'node "a" is not allowed to modify node "b"'
    assert access.own_lease("a", "kube-node-lease", "a") is None
    assert "same name" in (access.own_lease("a", "kube-node-lease", "b") or "")
    assert "kube-node-lease" in (access.own_lease("a", "default", "a") or "")


def test_pod_writes_need_the_pod_bound_to_the_sender() -> None:
    access = _access()
    mine = {"spec": {"nodeName": "a"}}
    theirs = {"spec": {"nodeName": "b"}}
    assert access.bound_pod("a", mine, "ns", "web") is None
    refusal = access.bound_pod("a", theirs, "ns", "web")
    assert refusal == ('node "a" can only update pod status for pods with spec.nodeName set '
                       'to itself (pod "ns/web")')
    assert access.bound_pod("a", None, "ns", "gone") is not None


def test_reads_need_a_pod_on_the_sender_that_uses_the_object() -> None:
    access = _access()
    assert access.referenced("a", SECRET, "ns", "s") is None
    assert access.referenced("a", CONFIGMAP, "ns", "cfg") is None
    assert access.referenced("a", SERVICEACCOUNT, "ns", "robot", "create") is None
    # Another secret, the same name in another namespace, or another node: refused in
    # the words kube uses.
    assert access.referenced("a", SECRET, "ns", "other") == (
        'secrets "other" is forbidden: User "system:node:a" cannot get resource "secrets" '
        'in API group "" in the namespace "ns": no relationship found between node "a" '
        "and this object")
    assert access.referenced("a", SECRET, "other-ns", "s") is not None
    assert access.referenced("b", SECRET, "ns", "s") is not None
    # Once the pod is gone, so is the right.
    access.locations.remove_pod("ns/web")
    assert access.referenced("a", SECRET, "ns", "s") is not None


def test_registration_keeps_kubernetes_io_labels_for_cloudcore() -> None:
    own, reserved = split_reserved_labels({
        "node-role.kubernetes.io/edge": "", "kubernetes.io/hostname": "a",
        "topology.kubernetes.io/zone": "z", "example.com/rack": "1", "plain": "x"})
    assert own == {"example.com/rack": "1", "plain": "x"}
    assert reserved == {"node-role.kubernetes.io/edge": "", "kubernetes.io/hostname": "a",
                        "topology.kubernetes.io/zone": "z"}


def test_stale_heartbeats_are_refreshed_fresh_ones_kept() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    status = {"conditions": [
        {"type": "Ready", "lastHeartbeatTime": "2026-01-01T11:59:55Z"},
        {"type": "MemoryPressure", "lastHeartbeatTime": "2026-01-01T11:50:00Z"},
        {"type": "DiskPressure"}]}
    refresh_heartbeats(status, now, 10)
    times = [c["lastHeartbeatTime"] for c in status["conditions"]]
    assert times == ["2026-01-01T11:59:55Z", "2026-01-01T12:00:00Z", "2026-01-01T12:00:00Z"]
