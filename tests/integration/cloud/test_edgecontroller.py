"""EdgeController against a real API server process (specs/kubeedge.md §2): pods bound to
edge nodes and the configmaps they use come out on the bus for CloudHub, and requests
from an edge change only that edge's objects (the node's own Node, Lease and pods; reads
of what its pods use), made as the node."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.cloud.edgecontroller import EdgeController, EdgeControllerSettings
from kubeedge.cloud.edgecontroller.upstream import NodeClients
from kubeedge.messaging.bus import ModuleBus, ModuleClosedError
from kubeedge.messaging.message import Message, build_message
from tests.fixtures.cluster import Cloud, eventually, running_cloud

NODES = Resource.of("v1", "nodes")
PODS = Resource.of("v1", "pods")
CONFIGMAPS = Resource.of("v1", "configmaps")
SECRETS = Resource.of("v1", "secrets")
NAMESPACES = Resource.of("v1", "namespaces")
LEASES = Resource.of("coordination.k8s.io/v1", "leases")
EVENTS = Resource.of("v1", "events")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("edgecontroller"), controllers=()) as c:
        yield c


class Hub:
    """Plays CloudHub on the bus: collects what EdgeController sends it, and hands it
    edge requests as CloudHub does (resource prefixed with `node/<node>/`)."""

    def __init__(self, bus: ModuleBus) -> None:
        self.bus = bus
        self.messages: list[Message] = []
        bus.add_module("cloudhub", "cloudhub")
        self.task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        with contextlib.suppress(ModuleClosedError):
            while True:
                self.messages.append(await self.bus.receive("cloudhub"))

    def find(self, operation: str, resource: str) -> list[Message]:
        return [m for m in self.messages
                if m.route.operation == operation and m.route.resource == resource]

    async def ask(self, node: str, resource: str, operation: str, content: Any = None
                  ) -> Message:
        request = build_message("resource", "", "edged", f"node/{node}/{resource}",
                                operation, content)
        await self.bus.send(request, "edgecontroller")

        def reply() -> Message | None:
            for m in self.messages:
                if m.header.parent_msg_id == request.header.msg_id:
                    return m
            return None

        return await eventually(reply, timeout=10, what=f"reply to {operation} {resource}")


@pytest.fixture
async def env(cloud: Cloud) -> AsyncIterator[tuple[APIClient, Hub, str]]:
    admin = APIClient(cloud.kubeconfig)
    bus = ModuleBus()
    hub = Hub(bus)
    controller = EdgeController(admin, bus, settings=EdgeControllerSettings(
        node_update_frequency=10, cloudcore_address="127.0.0.1", sync_timeout=20))
    await controller.start()
    ns = f"ec-{uuid.uuid4().hex[:6]}"
    await admin.create(NAMESPACES, {"metadata": {"name": ns}})
    try:
        yield admin, hub, ns
    finally:
        await controller.stop()
        bus.cleanup("cloudhub")
        hub.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hub.task
        await admin.close()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def _edge_node(admin: APIClient, name: str) -> dict[str, Any]:
    return await admin.create(NODES, {"metadata": {
        "name": name, "labels": {"node-role.kubernetes.io/edge": ""}}})


def _pod(name: str, node: str, *, configmap: str = "", secret: str = "") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "nginx"}
    if configmap:
        container["envFrom"] = [{"configMapRef": {"name": configmap}}]
    volumes = [{"name": "s", "secret": {"secretName": secret}}] if secret else []
    return {"metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [container], "volumes": volumes}}


async def test_pod_bound_to_edge_node_and_its_configmap_arrive_then_updates(env: Any) -> None:
    admin, hub, ns = env
    node = _name("edge")
    await _edge_node(admin, node)
    cm = await admin.create(CONFIGMAPS, {"metadata": {"name": "cfg"}, "data": {"a": "1"}}, ns)
    pod = await admin.create(PODS, _pod("web", node, configmap="cfg"), ns)
    pod_res = f"node/{node}/{ns}/pod/web"
    cm_res = f"node/{node}/{ns}/configmap/cfg"
    inserted = await eventually(lambda: hub.find("insert", pod_res), what="pod insert")
    msg = inserted[0]
    assert msg.header.resource_version == pod["metadata"]["resourceVersion"]
    assert msg.content["metadata"]["uid"] == pod["metadata"]["uid"]
    assert (msg.route.source, msg.route.group) == ("edgecontroller", "resource")
    cm_msgs = hub.find("insert", cm_res)
    assert cm_msgs and cm_msgs[0].header.resource_version == cm["metadata"]["resourceVersion"]
    assert hub.messages.index(cm_msgs[0]) < hub.messages.index(msg)  # configmap first

    labelled = await admin.patch(PODS, "web", {"metadata": {"labels": {"v": "2"}}}, ns)
    rv = labelled["metadata"]["resourceVersion"]
    await eventually(lambda: [m for m in hub.find("update", pod_res)
                              if m.header.resource_version == rv], what="pod update")
    changed = await admin.patch(CONFIGMAPS, "cfg", {"data": {"a": "2"}}, ns)
    cm_rv = changed["metadata"]["resourceVersion"]
    updates = await eventually(lambda: [m for m in hub.find("update", cm_res)
                                        if m.header.resource_version == cm_rv],
                               what="configmap update")
    assert updates[0].content["data"] == {"a": "2"}
    # Nothing about a pod on a node that is not an edge node.
    await admin.create(PODS, _pod("cloudy", "cloud-node"), ns)
    await admin.delete(PODS, "web", ns, grace_period_seconds=0)
    await eventually(lambda: hub.find("delete", pod_res), what="pod delete")
    await eventually(lambda: hub.find("delete", cm_res), what="configmap dropped")
    assert not [m for m in hub.messages if "/pod/cloudy" in m.route.resource]


async def test_edge_updates_its_own_node_lease_and_pods_only(env: Any) -> None:
    admin, hub, ns = env
    a, b = _name("edge-a"), _name("edge-b")
    await _edge_node(admin, a)
    await _edge_node(admin, b)
    await admin.create(PODS, _pod("on-a", a), ns)
    pod_b = await admin.create(PODS, _pod("on-b", b), ns)
    await eventually(lambda: hub.find("insert", f"node/{b}/{ns}/pod/on-b"), what="b's pod")

    # Node status from A changes A's Node.
    status = {"conditions": [{"type": "Ready", "status": "True", "reason": "EdgeReady",
                              "lastHeartbeatTime": "2020-01-01T00:00:00Z",
                              "lastTransitionTime": "2020-01-01T00:00:00Z"}],
              "nodeInfo": {"kubeletVersion": "v1.32.10-kubeedge-v1.23.0"}}
    reply = await hub.ask(a, f"default/nodestatus/{a}", "update",
                          {"UID": "", "Status": status, "ExtendResources": None})
    assert (reply.route.operation, reply.content) == ("response", "OK")
    node_a = await admin.get(NODES, a)
    ready = node_a["status"]["conditions"][0]
    assert ready["reason"] == "EdgeReady"
    assert ready["lastHeartbeatTime"] != "2020-01-01T00:00:00Z"  # stale: refreshed
    # ... and the same from A about B is refused, B unchanged.
    reply = await hub.ask(a, f"default/nodestatus/{b}", "update", {"Status": status})
    assert reply.route.operation == "error"
    assert f'not allowed to modify node "{b}"' in reply.content
    assert not (await admin.get(NODES, b)).get("status", {}).get("conditions")

    # Lease.
    lease = {"metadata": {"name": a}, "spec": {"holderIdentity": a,
                                                 "leaseDurationSeconds": 40}}
    reply = await hub.ask(a, f"kube-node-lease/lease/{a}", "insert", lease)
    assert reply.content["Err"] is None
    assert reply.content["Object"]["spec"]["holderIdentity"] == a
    reply = await hub.ask(a, f"kube-node-lease/lease/{b}", "insert",
                          {"metadata": {"name": b}, "spec": {"holderIdentity": b}})
    assert reply.content["Err"]["ErrStatus"]["code"] == 403
    with pytest.raises(APIError) as missing:
        await admin.get(LEASES, b, "kube-node-lease")
    assert missing.value.is_not_found

    # Pod status.
    running = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    reply = await hub.ask(a, f"{ns}/podstatus/on-a", "update",
                          {"Name": "on-a", "Status": running})
    assert reply.content == "OK"
    got = await admin.get(PODS, "on-a", ns)
    assert got["status"]["phase"] == "Running"
    assert got["status"]["conditions"][0]["lastTransitionTime"]
    reply = await hub.ask(a, f"{ns}/podstatus/on-b", "update",
                          {"Name": "on-b", "UID": pod_b["metadata"]["uid"], "Status": running})
    assert reply.route.operation == "error"
    assert "spec.nodeName set to itself" in reply.content
    assert (await admin.get(PODS, "on-b", ns)).get("status", {}).get("phase") != "Running"
    reply = await hub.ask(a, f"{ns}/podpatch/on-b", "update",
                          {"status": {"phase": "Failed"}})
    assert reply.content["Err"]["ErrStatus"]["code"] == 403
    assert (await admin.get(PODS, "on-b", ns)).get("status", {}).get("phase") != "Failed"

    # An event from the edge is recorded.
    event = {"metadata": {"name": "on-a.1", "namespace": ns},
             "involvedObject": {"kind": "Pod", "name": "on-a", "namespace": ns},
             "reason": "Started", "message": "Started container c", "type": "Normal",
             "source": {"component": "kubelet", "host": a}}
    hub_request = build_message("resource", "", "edged", f"node/{a}/{ns}/event/on-a.1",
                                "insert", event)
    await hub.bus.send(hub_request, "edgecontroller")

    async def recorded() -> bool:
        try:
            return (await admin.get(EVENTS, "on-a.1", ns))["reason"] == "Started"
        except APIError:
            return False

    await eventually(recorded, what="event created")


async def test_queries_answered_only_for_objects_the_nodes_pods_use(env: Any) -> None:
    admin, hub, ns = env
    a = _name("edge-a")
    await _edge_node(admin, a)
    for name in ("used", "unused"):
        await admin.create(SECRETS, {"metadata": {"name": name}, "data": {"k": "dg=="}}, ns)
    await admin.create(PODS, _pod("web", a, secret="used"), ns)
    await eventually(lambda: hub.find("update", f"node/{a}/{ns}/secret/used")
                     or hub.find("insert", f"node/{a}/{ns}/secret/used"), what="secret sent")
    assert not [m for m in hub.messages if m.route.resource.endswith("/secret/unused")]

    reply = await hub.ask(a, f"{ns}/secret/used", "query")
    assert reply.route.operation == "response"
    assert reply.content["metadata"]["name"] == "used"
    assert reply.header.resource_version == reply.content["metadata"]["resourceVersion"]
    reply = await hub.ask(a, f"{ns}/secret/unused", "query")
    assert reply.route.operation == "error"
    assert "no relationship found" in reply.content
    assert "dg==" not in str(reply.content)
    reply = await hub.ask(a, f"{ns}/configmap/nothing", "query")
    assert reply.route.operation == "error"
    # The calls are made as the node: the API server's node authorizer agrees.
    nodes = NodeClients(admin)
    try:
        assert (await nodes.for_node(a).get(SECRETS, "used", ns))["metadata"]["name"] == "used"
        with pytest.raises(APIError) as refused:
            await nodes.for_node(a).get(SECRETS, "unused", ns)
        assert refused.value.is_forbidden
    finally:
        await nodes.close()


async def test_first_nodestatus_insert_registers_the_edge_node(env: Any) -> None:
    admin, hub, _ = env
    name = _name("edge-new")
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "site": "lab"}}}
    reply = await hub.ask(name, f"default/nodestatus/{name}", "insert", node)
    assert (reply.route.operation, reply.content) == ("response", "OK")
    created = await admin.get(NODES, name)
    assert created["metadata"]["labels"] == {
        "kubernetes.io/hostname": name, "site": "lab", "node-role.kubernetes.io/edge": ""}
    assert created["metadata"]["annotations"]["cloudcore"] == "127.0.0.1"
    # The new edge node now gets its own Node downstream.
    await eventually(lambda: hub.find("update", f"node/{name}/null/node/{name}"),
                     what="node update downstream")
    # Registering again is fine; registering someone else is not.
    reply = await hub.ask(name, f"default/nodestatus/{name}", "insert", node)
    assert reply.content == "OK"
    other = _name("edge-other")
    reply = await hub.ask(name, f"default/node/{other}", "insert",
                          {"metadata": {"name": other}})
    assert reply.content["Err"]["ErrStatus"]["code"] == 403
    with pytest.raises(APIError):
        await admin.get(NODES, other)
