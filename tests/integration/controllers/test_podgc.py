"""The pod GC controller against the real API server: pods of a deleted node, pods
beyond the terminated threshold, and terminating pods on an out-of-service node."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.podgc import PodGCController
from kubeedge.controllers.runtime import Controller
from tests.fixtures.cluster import eventually
from tests.fixtures.controllers import running

NODES = ResourceRef("", "v1", "nodes", False, "Node")
PODS = ResourceRef("", "v1", "pods", True, "Pod")
NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
QUARANTINE = 0.5
THRESHOLD = 2


@pytest.fixture
async def podgc(api: APIClient) -> AsyncIterator[Controller]:
    config = ControllerManagerConfig(terminated_pod_gc_threshold=THRESHOLD)
    async with running(api, lambda f: PodGCController(
            api, f, None, config, gc_period_seconds=0.2, quarantine_seconds=QUARANTINE)
            ) as (ctrl,):
        yield ctrl


async def node(api: APIClient, ready: str = "True", taints: list[Any] | None = None) -> str:
    name = f"gc-{uuid.uuid4().hex[:6]}"
    now = meta.rfc3339(meta.now())
    await api.create(NODES, {
        "metadata": {"name": name}, "spec": {"taints": taints or []},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady",
                                   "lastHeartbeatTime": now, "lastTransitionTime": now}]}})
    return name


async def pod(api: APIClient, ns: str, name: str, node_name: str = "",
              phase: str = "Running") -> None:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.25"}]}
    if node_name:
        spec["nodeName"] = node_name
    await api.create(PODS, {"metadata": {"name": name}, "spec": spec}, ns)
    await api.patch(PODS, name, {"status": {"phase": phase}}, ns, subresource="status")


async def gone(api: APIClient, ns: str, name: str) -> bool:
    try:
        await api.get(PODS, name, ns)
    except APIError as exc:
        return exc.is_not_found
    return False


async def test_pods_of_a_deleted_node_are_removed_after_quarantine(
        api: APIClient, ns: str, podgc: PodGCController) -> None:
    doomed, kept = await node(api), await node(api)
    await pod(api, ns, "orphan-1", doomed)
    await pod(api, ns, "orphan-2", doomed)
    await pod(api, ns, "safe", kept)
    await api.delete(NODES, doomed)
    await eventually(lambda: gone(api, ns, "orphan-1"), 10, "orphan-1 removed")
    await eventually(lambda: gone(api, ns, "orphan-2"), 10, "orphan-2 removed")
    assert not await gone(api, ns, "safe")
    await api.delete(NODES, kept)


async def test_terminated_pods_beyond_the_threshold_go_oldest_first(
        api: APIClient, ns: str, podgc: PodGCController) -> None:
    # Unscheduled pods that finished: nothing else here holds them.
    for name in ("a-oldest", "b-older", "c-newer", "d-newest"):
        await pod(api, ns, name, phase="Succeeded")
    await eventually(lambda: gone(api, ns, "b-older"), 10, "b removed")
    assert await gone(api, ns, "a-oldest")
    assert not await gone(api, ns, "c-newer")
    assert not await gone(api, ns, "d-newest")


async def test_terminating_pods_on_an_out_of_service_node_are_force_deleted(
        api: APIClient, ns: str, podgc: PodGCController) -> None:
    dead = await node(api, ready="False", taints=[
        {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown",
         "effect": "NoExecute"}])
    alive = await node(api)
    await pod(api, ns, "stuck", dead)
    await pod(api, ns, "stopping", alive)
    await api.delete(PODS, "stuck", ns)
    await api.delete(PODS, "stopping", ns)
    await eventually(lambda: gone(api, ns, "stuck"), 10, "stuck pod force-deleted")
    # A live node confirms its own pods' deletion: podgc leaves them alone.
    stopping = await api.get(PODS, "stopping", ns)
    assert meta.is_terminating(stopping)
    for name in (dead, alive):
        await api.delete(NODES, name)
