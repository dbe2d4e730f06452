"""The disruption controller against the real API server, run in-process, with the
eviction subresource spending the budgets it computes, and `kubectl drain` evicting a
node's pods one at a time under a budget that allows one disruption.

No ReplicaSet controller or kubelet runs here: the test plays both (binds pods to
Nodes, writes their readiness, confirms terminating pods with a grace-0 delete, and
makes replacement pods)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient, RetryPolicy
from kubeedge.controllers.disruption import DisruptionController
from kubeedge.controllers.runtime import ControllerManager
from tests.fixtures.cluster import Cloud, eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

NS = ResourceRef("", "v1", "namespaces", False, "Namespace")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
PODS = ResourceRef("", "v1", "pods", True, "Pod")
RS = ResourceRef("apps", "v1", "replicasets", True, "ReplicaSet")
PDBS = ResourceRef("policy", "v1", "poddisruptionbudgets", True, "PodDisruptionBudget")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def api(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def controller(cloud: Cloud) -> AsyncIterator[None]:
    client = APIClient(cloud.kubeconfig)
    factory = SharedInformerFactory(client)
    recorder = EventRecorder(client, "controllermanager")
    manager = ControllerManager(client, [DisruptionController(client, factory, recorder)],
                                informers=factory, recorder=recorder)
    await manager.start()
    yield
    await manager.stop()
    await client.close()


@pytest_asyncio.fixture(loop_scope="module")
async def ns(api: APIClient, controller: None) -> str:
    name = f"pdb-{uuid.uuid4().hex[:8]}"
    await api.create(NS, {"metadata": {"name": name}})
    return name


async def make_node(api: APIClient) -> str:
    name = f"pdb-node-{uuid.uuid4().hex[:6]}"
    await api.create(NODES, {"metadata": {"name": name}})
    return name


async def make_rs(api: APIClient, ns: str, name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return await api.create(RS, {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}},
        ns)


async def make_pod(api: APIClient, ns: str, owner: dict[str, Any] | None, name: str,
                   node: str, *, ready: bool = True, labels: dict[str, str] | None = None,
                   owner_ref: dict[str, Any] | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "labels": labels or {"app": meta.name_of(owner or {})}}
    if owner is not None:
        owner_ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                     "name": meta.name_of(owner), "uid": owner["metadata"]["uid"],
                     "controller": True, "blockOwnerDeletion": True}
    if owner_ref is not None:
        md["ownerReferences"] = [owner_ref]
    await api.create(PODS, {"metadata": md, "spec": {
        "nodeName": node, "containers": [{"name": "c", "image": "nginx"}],
        "volumes": [{"name": "scratch", "emptyDir": {}}]}}, ns)
    return await set_ready(api, ns, name, ready)


async def set_ready(api: APIClient, ns: str, name: str, ready: bool) -> dict[str, Any]:
    status = {"phase": "Running", "podIP": "10.9.0.1",
              "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                              "lastTransitionTime": meta.rfc3339(meta.now())}]}
    return await api.patch(PODS, name, {"status": status}, ns, subresource="status")


async def make_pdb(api: APIClient, ns: str, name: str, app: str, **spec: Any
                   ) -> dict[str, Any]:
    return await api.create(PDBS, {"metadata": {"name": name},
                                   "spec": {"selector": {"matchLabels": {"app": app}},
                                            **spec}}, ns)


def status_is(api: APIClient, ns: str, name: str, **want: Any) -> Any:
    async def check() -> dict[str, Any] | None:
        status = (await api.get(PDBS, name, ns)).get("status") or {}
        return status if all(status.get(k) == v for k, v in want.items()) else None
    return check


def allowed_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")


async def test_min_available_counts_ready_pods(api: APIClient, ns: str, cloud: Cloud) -> None:
    node = await make_node(api)
    rs = await make_rs(api, ns, "web", 3)
    for i in range(3):
        await make_pod(api, ns, rs, f"web-{i}", node)
    pdb = await make_pdb(api, ns, "web", "web", minAvailable=2)

    status = await eventually(status_is(api, ns, "web", expectedPods=3, desiredHealthy=2,
                                        currentHealthy=3, disruptionsAllowed=1),
                              what="PDB status with one disruption allowed")
    assert status["observedGeneration"] == pdb["metadata"]["generation"]
    cond = allowed_condition(status)
    assert (cond["status"], cond["reason"]) == ("True", "SufficientPods")

    table = cloud.kubectl("get", "pdb", "web", "-n", ns).stdout.split("\n")
    assert table[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE",
                                "ALLOWED", "DISRUPTIONS", "AGE"]
    assert table[1].split()[:4] == ["web", "2", "N/A", "1"]

    await set_ready(api, ns, "web-2", False)
    status = await eventually(status_is(api, ns, "web", currentHealthy=2,
                                        disruptionsAllowed=0),
                              what="no disruption with a pod not ready")
    cond = allowed_condition(status)
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")

    # An eviction now is refused with 429, and the budget is left as it was.
    with pytest.raises(APIError) as refused:
        await _evict(api, ns, "web-0")
    assert refused.value.is_too_many_requests
    status = (await api.get(PDBS, "web", ns))["status"]
    assert status["disruptionsAllowed"] == 0 and "disruptedPods" not in status

    # One allowed eviction: the API spends the budget and records the pod; the
    # controller does not count the pod as healthy again while it is being evicted.
    await set_ready(api, ns, "web-2", True)
    await eventually(status_is(api, ns, "web", disruptionsAllowed=1), what="budget back")
    await _evict(api, ns, "web-0")
    status = await eventually(status_is(api, ns, "web", currentHealthy=2,
                                        disruptionsAllowed=0), what="budget spent")
    evicted = await api.get(PODS, "web-0", ns)
    assert meta.is_terminating(evicted)  # bound to a node: it waits for the kubelet


async def test_max_unavailable_uses_the_owners_scale(api: APIClient, ns: str) -> None:
    node = await make_node(api)
    rs = await make_rs(api, ns, "api", 4)
    for i in range(3):  # one replica has not been made yet
        await make_pod(api, ns, rs, f"api-{i}", node)
    await make_pdb(api, ns, "api", "api", maxUnavailable=1)
    await eventually(status_is(api, ns, "api", expectedPods=4, desiredHealthy=3,
                               currentHealthy=3, disruptionsAllowed=0),
                     what="expected pods from the ReplicaSet's scale")

    await api.patch(RS, "api", {"spec": {"replicas": 3}}, ns)
    await eventually(status_is(api, ns, "api", expectedPods=3, desiredHealthy=2,
                               disruptionsAllowed=1),
                     what="the budget follows a scale change")

    await make_pdb(api, ns, "api-half", "api", minAvailable="50%")
    await eventually(status_is(api, ns, "api-half", expectedPods=3, desiredHealthy=2,
                               currentHealthy=3, disruptionsAllowed=1),
                     what="a percentage rounds up against the scale")


async def test_pod_with_missing_controller_fails_safe(api: APIClient, ns: str) -> None:
    node = await make_node(api)
    ghost = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "ghost",
             "uid": str(uuid.uuid4()), "controller": True}
    await make_pod(api, ns, None, "lost-0", node, labels={"app": "lost"}, owner_ref=ghost)
    await make_pdb(api, ns, "lost", "lost", maxUnavailable=1)
    status = await eventually(
        lambda: _condition_reason(api, ns, "lost", "SyncFailed"), what="SyncFailed")
    assert 'found no controllers for pod "lost-0"' in status["message"]


async def test_drain_evicts_one_pod_at_a_time_under_the_budget(
        api: APIClient, ns: str, cloud: Cloud) -> None:
    drained, spare = await make_node(api), await make_node(api)
    replicas = 3
    rs = await make_rs(api, ns, "web", replicas)
    for i in range(replicas):
        await make_pod(api, ns, rs, f"web-{i}", drained)
    await make_pdb(api, ns, "web", "web", maxUnavailable=1)
    await eventually(status_is(api, ns, "web", disruptionsAllowed=1, currentHealthy=3),
                     what="one disruption allowed")

    available: dict[str, bool] = {}
    worst = 0
    ready = asyncio.Event()

    async def node_and_replicaset() -> None:
        """The kubelet confirms terminating pods; the ReplicaSet replaces them on the
        spare node. Availability is logged from every pod event."""
        nonlocal worst
        replaced = 0
        listing = await api.list(PODS, ns)
        for pod in listing["items"]:
            available[meta.name_of(pod)] = _available(pod)
        async with api.watch(PODS, ns,
                             resource_version=listing["metadata"]["resourceVersion"]) as events:
            ready.set()
            async for kind, pod in events:
                name = meta.name_of(pod)
                available[name] = kind != "DELETED" and _available(pod)
                worst = max(worst, replicas - sum(available.values()))
                if kind == "MODIFIED" and meta.is_terminating(pod):
                    with contextlib.suppress(APIError):
                        await api.delete(PODS, name, ns, grace_period_seconds=0)
                elif kind == "DELETED" and pod["spec"].get("nodeName") == drained:
                    replaced += 1
                    await make_pod(api, ns, rs, f"web-r{replaced}", spare)

    kubelet = asyncio.create_task(node_and_replicaset())
    await ready.wait()
    try:
        drain = await asyncio.to_thread(
            cloud.kubectl, "drain", drained, "--ignore-daemonsets", "--delete-emptydir-data",
            "--timeout=60s", timeout=90)
    finally:
        kubelet.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await kubelet
    out = drain.stdout + drain.stderr
    assert f"node/{drained} drained" in out
    for i in range(replicas):
        assert f"pod/web-{i} evicted" in out
    # The budget held back the second eviction until the first pod was replaced.
    assert "Cannot evict pod as it would violate the pod's disruption budget" in out
    assert worst == 1, f"at most one pod may be unavailable, saw {worst}"
    left = await api.list(PODS, ns, field_selector=f"spec.nodeName={drained}")
    assert left["items"] == []
    node = await api.get(NODES, drained)
    assert node["spec"]["unschedulable"] is True
    await eventually(status_is(api, ns, "web", currentHealthy=3, disruptionsAllowed=1),
                     what="budget restored on the spare node")


def _available(pod: dict[str, Any]) -> bool:
    cond = meta.condition(pod, "Ready") or {}
    return cond.get("status") == "True" and not meta.is_terminating(pod)


async def _evict(api: APIClient, ns: str, name: str) -> Any:
    # Our client retries 429s; ask once, as a test of the answer.
    async with APIClient(api.access, retry=RetryPolicy(attempts=0)) as once:
        return await once.request(
            "POST", PODS.path(ns, name, "eviction"),
            body={"apiVersion": "policy/v1", "kind": "Eviction",
                  "metadata": {"name": name, "namespace": ns}})


async def _condition_reason(api: APIClient, ns: str, name: str, reason: str) -> Any:
    status = (await api.get(PDBS, name, ns)).get("status") or {}
    cond = next((c for c in status.get("conditions") or []
                 if c["type"] == "DisruptionAllowed"), None)
    return cond if cond and cond["reason"] == reason else None
