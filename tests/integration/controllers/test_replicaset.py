"""The ReplicaSet controller against the real API server, run in-process: keeps the
replica count, adopts matching orphans, releases pods whose labels change, replaces
deleted pods, and reports status as kubectl shows it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kubeedge.api import meta
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.controllers.pods import controller_ref
from kubeedge.controllers.replicaset import ReplicaSetController
from kubeedge.controllers.runtime import Controller
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.controllers import running

pytestmark = pytest.mark.kubectl

NAMESPACES = Resource.of("v1", "namespaces")
PODS = Resource.of("v1", "pods")
REPLICA_SETS = Resource.of("apps/v1", "replicasets")

# cloudcore keeps only the namespace defaults: the controllers under test run here.

@pytest.fixture
async def controller(api: APIClient) -> AsyncIterator[Controller]:
    async with running(api, lambda f: ReplicaSetController(api, f)) as (rs_controller,):
        yield rs_controller


def replica_set(name: str, replicas: int = 2, **labels: str) -> dict:
    labels = labels or {"app": name}
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels},
                     "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
    }}


async def owned_pods(api: APIClient, ns: str, rs: dict) -> list[dict]:
    uid = rs["metadata"]["uid"]
    items = (await api.list(PODS, ns))["items"]
    return [p for p in items if (controller_ref(p) or {}).get("uid") == uid
            and not meta.is_terminating(p)]


async def test_creates_replicas_and_reports_status(api: APIClient, ns: str, cloud: Cloud,
                                                   controller: ReplicaSetController) -> None:
    rs = await api.create(REPLICA_SETS, replica_set("web", 3), ns)

    async def three() -> list[dict] | None:
        pods = await owned_pods(api, ns, rs)
        return pods if len(pods) == 3 else None

    pods = await eventually(three, timeout=10, what="3 pods")
    assert all(meta.name_of(p).startswith("web-") for p in pods)
    assert all(meta.labels_of(p) == {"app": "web"} for p in pods)
    ref = controller_ref(pods[0])
    assert ref is not None and ref["kind"] == "ReplicaSet" and ref["name"] == "web"

    stamp = meta.rfc3339(meta.now())
    for pod in pods[:2]:
        await api.patch(PODS, meta.name_of(pod), {"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": stamp}]}}, ns,
            subresource="status")

    async def reported() -> dict | None:
        got = await api.get(REPLICA_SETS, "web", ns)
        status = got.get("status") or {}
        want = {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2,
                "availableReplicas": 2, "observedGeneration": 1}
        return got if all(status.get(k) == v for k, v in want.items()) else None

    await eventually(reported, timeout=10, what="status 3/2/2")
    table = await asyncio.to_thread(cloud.kubectl, "get", "rs", "web", "-n", ns)
    assert table.stdout.split("\n")[1].split()[:4] == ["web", "3", "3", "2"]

    # Events read like kube's in `kubectl describe`.
    described = await eventually(
        lambda: _described_with(cloud, ns, "SuccessfulCreate"), timeout=10,
        what="SuccessfulCreate events")
    assert "Created pod: web-" in described


async def _described_with(cloud: Cloud, ns: str, text: str) -> str | None:
    out = (await asyncio.to_thread(cloud.kubectl, "describe", "rs", "web", "-n", ns)).stdout
    return out if text in out else None


async def test_scales_down_and_replaces_deleted_pods(api: APIClient, ns: str,
                                                     controller: ReplicaSetController) -> None:
    rs = await api.create(REPLICA_SETS, replica_set("web", 4), ns)
    await eventually(lambda: _count(api, ns, rs, 4), timeout=10, what="4 pods")

    await api.patch(REPLICA_SETS, "web", {"spec": {"replicas": 1}}, ns)
    await eventually(lambda: _count(api, ns, rs, 1), timeout=10, what="1 pod")

    [pod] = await owned_pods(api, ns, rs)
    await api.delete(PODS, meta.name_of(pod), ns)

    async def replaced() -> bool:
        pods = await owned_pods(api, ns, rs)
        return len(pods) == 1 and meta.name_of(pods[0]) != meta.name_of(pod)

    await eventually(replaced, timeout=10, what="a replacement pod")
    # No double creates while the replacement's creation was arriving.
    assert len(await owned_pods(api, ns, rs)) == 1


async def _count(api: APIClient, ns: str, rs: dict, n: int) -> bool:
    return len(await owned_pods(api, ns, rs)) == n


async def test_adopts_matching_orphan_and_releases_relabelled_pod(
        api: APIClient, ns: str, controller: ReplicaSetController) -> None:
    orphan = await api.create(PODS, {
        "metadata": {"name": "stray", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]}}, ns)
    rs = await api.create(REPLICA_SETS, replica_set("web", 2), ns)

    async def adopted() -> bool:
        pod = await api.get(PODS, "stray", ns)
        return (controller_ref(pod) or {}).get("uid") == rs["metadata"]["uid"]

    await eventually(adopted, timeout=10, what="the orphan adopted")
    await eventually(lambda: _count(api, ns, rs, 2), timeout=10, what="2 pods")
    assert meta.name_of(orphan) in {meta.name_of(p) for p in await owned_pods(api, ns, rs)}

    # A pod whose labels stop matching is released, and replaced.
    await api.patch(PODS, "stray", {"metadata": {"labels": {"app": "other"}}}, ns)

    async def released() -> bool:
        pod = await api.get(PODS, "stray", ns)
        return controller_ref(pod) is None

    await eventually(released, timeout=10, what="the relabelled pod released")
    await eventually(lambda: _count(api, ns, rs, 2), timeout=10, what="a replacement")
    names = {meta.name_of(p) for p in await owned_pods(api, ns, rs)}
    assert "stray" not in names and len(names) == 2

    # Pods someone else controls are never taken.
    other = await api.create(PODS, {
        "metadata": {"name": "taken", "labels": {"app": "web"}, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ReplicationController", "name": "x",
            "uid": "11111111-2222-3333-4444-555555555555", "controller": True}]},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]}}, ns)
    await api.patch(REPLICA_SETS, "web", {"spec": {"replicas": 3}}, ns)
    await eventually(lambda: _count(api, ns, rs, 3), timeout=10, what="3 pods")
    got = await api.get(PODS, meta.name_of(other), ns)
    assert controller_ref(got)["kind"] == "ReplicationController"  # type: ignore[index]


async def test_min_ready_seconds_delays_availability(
        api: APIClient, ns: str, controller: ReplicaSetController) -> None:
    body = replica_set("slow", 1)
    body["spec"]["minReadySeconds"] = 2
    rs = await api.create(REPLICA_SETS, body, ns)
    [pod] = await eventually(lambda: _pods_when(api, ns, rs, 1), timeout=10, what="1 pod")
    stamp = meta.rfc3339(meta.now())
    await api.patch(PODS, meta.name_of(pod), {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": stamp}]}}, ns,
        subresource="status")

    async def counts() -> tuple[int, int]:
        status = (await api.get(REPLICA_SETS, "slow", ns)).get("status") or {}
        return int(status.get("readyReplicas") or 0), int(status.get("availableReplicas") or 0)

    async def ready_not_available() -> bool:
        return await counts() == (1, 0)

    async def available() -> bool:
        return await counts() == (1, 1)

    await eventually(ready_not_available, timeout=10, what="ready, not yet available")
    # Nothing else happens to the pod: only the controller's own requeue after the
    # remaining minReadySeconds can make it available.
    await eventually(available, timeout=10, what="available after minReadySeconds")


async def _pods_when(api: APIClient, ns: str, rs: dict, n: int) -> list[dict] | None:
    pods = await owned_pods(api, ns, rs)
    return pods if len(pods) == n else None
