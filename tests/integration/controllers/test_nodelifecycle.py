"""The node lifecycle controller against the real API server: the test plays the
kubelets (registers Nodes, renews their Leases), stops one, and watches the controller
mark it Unknown, taint it, evict the cloud pods that do not tolerate that, and leave the
edge pods alone (edge autonomy)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.nodelifecycle import (
    EDGE_ROLE_LABEL,
    TAINT_UNREACHABLE,
    NodeLifecycleController,
    ZoneState,
)
from kubeedge.controllers.runtime import Controller, ControllerManager
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.controllers import running

NODES = ResourceRef("", "v1", "nodes", False, "Node")
PODS = ResourceRef("", "v1", "pods", True, "Pod")
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases", True, "Lease")
NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
EVENTS = ResourceRef("", "v1", "events", True, "Event")

PERIOD = 0.25
GRACE = 1.5
BEAT = 0.2
CONFIG = ControllerManagerConfig(node_monitor_period_seconds=PERIOD,
                                 node_monitor_grace_period_seconds=GRACE,
                                 node_startup_grace_period_seconds=3.0)


def stamp() -> str:
    return meta.rfc3339(meta.now())


def micro() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Kubelet:
    """Plays one node's kubelet: registers the Node Ready, renews its Lease every BEAT
    seconds while `running`, and posts Ready again when told to."""

    def __init__(self, api: APIClient, name: str, *, edge: bool = False) -> None:
        self.api, self.name, self.edge = api, name, edge
        self._task: asyncio.Task[None] | None = None

    def _conditions(self) -> list[dict[str, Any]]:
        now = stamp()
        healthy = [("MemoryPressure", "KubeletHasSufficientMemory"),
                   ("DiskPressure", "KubeletHasNoDiskPressure"),
                   ("PIDPressure", "KubeletHasSufficientPID")]
        conditions = [{"type": t, "status": "False", "reason": r, "message": r,
                       "lastHeartbeatTime": now, "lastTransitionTime": now}
                      for t, r in healthy]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                           "message": "kubelet is posting ready status",
                           "lastHeartbeatTime": now, "lastTransitionTime": now})
        return conditions

    async def register(self) -> None:
        labels = {"kubernetes.io/hostname": self.name}
        if self.edge:
            labels[EDGE_ROLE_LABEL] = ""
        await self.api.create(NODES, {"metadata": {"name": self.name, "labels": labels},
                                      "status": {"conditions": self._conditions()}})
        await self.api.create(LEASES, {
            "metadata": {"name": self.name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40,
                     "renewTime": micro()}}, "kube-node-lease")
        self.resume()

    async def post_ready(self) -> None:
        await self.api.patch(NODES, self.name, {"status": {"conditions": self._conditions()}},
                             patch_type="strategic", subresource="status")

    def resume(self) -> None:
        self._task = asyncio.create_task(self._renew())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renew(self) -> None:
        # The kubelet's own heartbeat period: a simulated clock tick, not a wait.
        while True:
            await self.api.patch(LEASES, self.name, {"spec": {"renewTime": micro()}},
                                 "kube-node-lease")
            await asyncio.sleep(BEAT)

    async def remove(self) -> None:
        await self.stop()
        for ref, ns in ((LEASES, "kube-node-lease"), (NODES, None)):
            with contextlib.suppress(APIError):
                await self.api.delete(ref, self.name, ns)


@pytest.fixture
async def controller(api: APIClient) -> AsyncIterator[Controller]:
    async with running(api, lambda f: NodeLifecycleController(api, f, None, CONFIG)) as (
            ctrl,):
        yield ctrl


@pytest.fixture
async def kubelets(api: APIClient) -> AsyncIterator[dict[str, Kubelet]]:
    made: dict[str, Kubelet] = {}
    yield made
    for kubelet in made.values():
        await kubelet.remove()


async def start_node(api: APIClient, kubelets: dict[str, Kubelet], role: str,
                     edge: bool = False) -> Kubelet:
    kubelet = Kubelet(api, f"{role}-{uuid.uuid4().hex[:6]}", edge=edge)
    await kubelet.register()
    kubelets[role] = kubelet
    return kubelet


async def running_pod(api: APIClient, ns: str, name: str, node: str,
                      tolerations: list[dict[str, Any]] | None = None) -> None:
    spec: dict[str, Any] = {"nodeName": node,
                            "containers": [{"name": "app", "image": "nginx:1.25"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    await api.create(PODS, {"metadata": {"name": name}, "spec": spec}, ns)
    await api.patch(PODS, name, {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": stamp()}]}}, ns,
        patch_type="strategic", subresource="status")


def unreachable_for(seconds: int) -> list[dict[str, Any]]:
    return [{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": seconds}]


async def node_state(api: APIClient, name: str) -> tuple[str, set[tuple[str, str]]]:
    node = await api.get(NODES, name)
    ready = (meta.condition(node, "Ready") or {}).get("status", "")
    taints = {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}
    return ready, taints


async def terminating(api: APIClient, ns: str, name: str) -> bool:
    try:
        pod = await api.get(PODS, name, ns)
    except APIError as exc:
        return exc.is_not_found
    return meta.is_terminating(pod)


async def pod_ready(api: APIClient, ns: str, name: str) -> str:
    pod = await api.get(PODS, name, ns)
    return str((meta.condition(pod, "Ready") or {}).get("status"))


async def events(api: APIClient, ns: str, reason: str) -> list[str]:
    found = await api.list(EVENTS, ns)
    return [e["message"] for e in found["items"] if e.get("reason") == reason]


async def test_silent_cloud_node_is_tainted_and_its_pods_evicted_edge_pods_stay(
        api: APIClient, ns: str, cloud: Cloud, controller: NodeLifecycleController,
        kubelets: dict[str, Kubelet]) -> None:
    # A third node keeps beating, so this is not a full disruption.
    await start_node(api, kubelets, "steady")
    cloud_node = await start_node(api, kubelets, "cloud")
    edge_node = await start_node(api, kubelets, "edge", edge=True)
    await running_pod(api, ns, "now", cloud_node.name, unreachable_for(0))
    await running_pod(api, ns, "soon", cloud_node.name, unreachable_for(1))
    await running_pod(api, ns, "patient", cloud_node.name)  # the default 300 s
    await running_pod(api, ns, "edge-app", edge_node.name)
    await eventually(lambda: len(controller.health.nodes) >= 3, 10, "nodes observed")

    loop = asyncio.get_running_loop()
    stopped = loop.time()
    await cloud_node.stop()
    await edge_node.stop()

    async def unknown(name: str) -> bool:
        return (await node_state(api, name))[0] == "Unknown"

    await eventually(lambda: unknown(cloud_node.name), GRACE + PERIOD + 3, "cloud Unknown")
    await eventually(lambda: unknown(edge_node.name), GRACE + PERIOD + 3, "edge Unknown")
    assert loop.time() - stopped >= GRACE
    node = await api.get(NODES, cloud_node.name)
    ready = meta.condition(node, "Ready")
    assert ready is not None and ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    assert meta.condition(node, "MemoryPressure")["status"] == "Unknown"  # type: ignore[index]

    async def taints_of(name: str) -> set[tuple[str, str]]:
        return (await node_state(api, name))[1]

    await eventually(lambda: _equals(taints_of(cloud_node.name), {
        (TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")}), 5,
        "cloud node tainted NoSchedule and NoExecute")
    no_execute = [t for t in (await api.get(NODES, cloud_node.name))["spec"]["taints"]
                  if t["effect"] == "NoExecute"]
    assert no_execute[0].get("timeAdded")
    await eventually(lambda: _equals(taints_of(edge_node.name), {
        (TAINT_UNREACHABLE, "NoSchedule")}), 5, "edge node tainted NoSchedule only")
    assert await taints_of(kubelets["steady"].name) == set()

    # Evictions: at once, after the toleration's second, and the default 300 s not yet.
    await eventually(lambda: terminating(api, ns, "now"), 5, "pod 'now' evicted")
    await eventually(lambda: terminating(api, ns, "soon"), 5, "pod 'soon' evicted")
    assert not await terminating(api, ns, "patient")
    await eventually(lambda: events(api, ns, "TaintManagerEviction"), 5, "eviction events")
    assert f"Marking for deletion Pod {ns}/now" in await events(api, ns, "TaintManagerEviction")
    evicted = await api.get(PODS, "soon", ns)
    target = meta.condition(evicted, "DisruptionTarget")
    assert target is not None and target["reason"] == "DeletionByTaintManager"

    # The cloud node's remaining pod is marked NotReady; the edge pod is left as it is.
    await eventually(lambda: _equals(pod_ready(api, ns, "patient"), "False"), 5,
                     "pod on the silent cloud node NotReady")
    assert "Node is not ready" in await events(api, ns, "NodeNotReady")
    assert not await terminating(api, ns, "edge-app")
    assert await pod_ready(api, ns, "edge-app") == "True"

    rows = cloud.kubectl("get", "node", cloud_node.name, edge_node.name,
                         "--no-headers").stdout
    assert rows.count("NotReady") == 2

    # The kubelets come back: Ready again, taints gone, the waiting pod is kept.
    for kubelet in (cloud_node, edge_node):
        kubelet.resume()
        await kubelet.post_ready()
    for kubelet in (cloud_node, edge_node):
        await eventually(lambda k=kubelet: _equals(node_state(api, k.name),  # type: ignore[misc]
                                                   ("True", set())), 5, "node back")
    assert not await terminating(api, ns, "patient")
    assert not await terminating(api, ns, "edge-app")
    node_events = await events(api, "default", "NodeNotReady")
    assert f"Node {cloud_node.name} status is now: NodeNotReady" in node_events


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_edge_eviction_switch_taints_edges_like_cloud_nodes(
        api: APIClient, ns: str, kubelets: dict[str, Kubelet]) -> None:
    config = ControllerManagerConfig(node_monitor_period_seconds=PERIOD,
                                     node_monitor_grace_period_seconds=GRACE,
                                     edge_node_eviction=True)
    factory = SharedInformerFactory(api)
    ctrl = NodeLifecycleController(api, factory, EventRecorder(api, "node-controller"), config)
    manager = ControllerManager(api, [ctrl], informers=factory)
    await manager.start()
    try:
        await start_node(api, kubelets, "steady")
        edge_node = await start_node(api, kubelets, "edge", edge=True)
        await running_pod(api, ns, "edge-app", edge_node.name, unreachable_for(0))
        await eventually(lambda: len(ctrl.health.nodes) >= 2, 10, "nodes observed")
        await edge_node.stop()
        await eventually(lambda: terminating(api, ns, "edge-app"), GRACE + PERIOD + 5,
                         "edge pod evicted")
        assert (await node_state(api, edge_node.name))[1] == {
            (TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")}
    finally:
        await manager.stop()


async def test_no_eviction_when_every_node_is_silent(
        api: APIClient, ns: str, controller: NodeLifecycleController,
        kubelets: dict[str, Kubelet]) -> None:
    first = await start_node(api, kubelets, "one")
    second = await start_node(api, kubelets, "two")
    await running_pod(api, ns, "app", first.name)
    await eventually(lambda: len(controller.health.nodes) >= 2, 10, "nodes observed")
    await first.stop()
    await second.stop()
    await eventually(lambda: controller.zone_states and all(
        s is ZoneState.FULL_DISRUPTION for s in controller.zone_states.values()),
        GRACE + PERIOD + 5, "full disruption")
    for kubelet in (first, second):
        # Unreachable, not schedulable, but nothing is evicted.
        await eventually(lambda k=kubelet: _equals(  # type: ignore[misc]
            node_state(api, k.name), ("Unknown", {(TAINT_UNREACHABLE, "NoSchedule")})),
            5, "NoSchedule only")
    assert await pod_ready(api, ns, "app") == "False"
    assert not await terminating(api, ns, "app")


async def test_untolerated_custom_no_execute_taint_evicts_at_once(
        api: APIClient, ns: str, cloud: Cloud, controller: NodeLifecycleController,
        kubelets: dict[str, Kubelet]) -> None:
    node = await start_node(api, kubelets, "tainted")
    await running_pod(api, ns, "plain", node.name)
    await running_pod(api, ns, "tolerant", node.name, [
        {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoExecute"}])
    cloud.kubectl("taint", "node", node.name, "dedicated=db:NoExecute")
    await eventually(lambda: terminating(api, ns, "plain"), 5, "untolerating pod evicted")
    assert not await terminating(api, ns, "tolerant")
    described = cloud.kubectl("describe", "pod", "plain", "-n", ns).stdout
    assert "TaintManagerEviction" in described
