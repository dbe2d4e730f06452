"""MetaManager against real parts (specs/kubeedge.md §6): a real cloud from `keadm init`
(API server and cloudcore with CloudHub and EdgeController) and, in the test process,
the real EdgeHub and MetaStore with MetaManager and a MetaClient on one bus, the edge's
certificate bootstrapped from the join token.

- a configmap query is answered by the cloud, then from the cache once the hub is gone;
- a pod status update reaches the API (kubectl shows it); one made while the hub is
  down reaches it after the hub is back;
- `confirm_pod_deleted` removes a terminating pod from the API, and the cloud's delete
  then reaches edged.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any

from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.config.edgecore import EdgeCoreConfig
from kubeedge.edge.hub import EdgeHub
from kubeedge.edge.metamanager.client import MetaClient
from kubeedge.edge.metamanager.manager import MetaManager, MetaManagerSettings
from kubeedge.edge.metamanager.store import MetaStore
from kubeedge.messaging.bus import ModuleBus
from kubeedge.messaging.message import Message
from tests.fixtures.cluster import Cloud, eventually

NODES = Resource.of("v1", "nodes")
PODS = Resource.of("v1", "pods")
CONFIGMAPS = Resource.of("v1", "configmaps")
SECRETS = Resource.of("v1", "secrets")
EDGE_ROLE = "node-role.kubernetes.io/edge"


def edge_config(root: Path, node: str, cloud: Cloud, token: str) -> EdgeCoreConfig:
    config = EdgeCoreConfig(root=str(root))
    config.modules.edged.hostname_override = node
    hub = config.modules.edge_hub
    hub.http_server = cloud.cert_server
    hub.websocket.server = cloud.hub_server
    hub.token = token
    hub.reconnect_interval = 0.2
    hub.connect_retry_interval = 0.1
    config.modules.meta_manager.remote_query_timeout = 5
    return config


class Edge:
    """EdgeHub + MetaStore + MetaManager + MetaClient on one bus; module `edged`
    collects what MetaManager forwards."""

    def __init__(self, root: Path, config: EdgeCoreConfig, store: MetaStore) -> None:
        self.root, self.config, self.store = root, config, store
        self.bus = ModuleBus()
        self.bus.add_module("edged", "edged")
        self.manager = MetaManager(self.bus, store, MetaManagerSettings.from_config(
            config, retry_base=0.2, retry_cap=1.0))
        self.client = MetaClient(self.bus, timeout=15)
        self.hub: EdgeHub | None = None
        self.to_edged: list[Message] = []
        self._collect: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.manager.start()  # before the hub: it hears the first cloud_connected
        self._collect = asyncio.create_task(self._collector())
        await self.start_hub()

    async def start_hub(self) -> None:
        self.hub = EdgeHub(self.config, self.bus, self.store, self.root)
        await self.hub.start()
        await asyncio.wait_for(self.hub.connected.wait(), 15)

    async def stop_hub(self) -> None:
        assert self.hub is not None
        await self.hub.stop()
        self.hub = None

    async def _collector(self) -> None:
        while True:
            self.to_edged.append(await self.bus.receive("edged"))

    def edged_saw(self, op: str, resource: str) -> list[Message]:
        return [m for m in self.to_edged
                if m.route.operation == op and m.route.resource == resource]

    async def close(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        await self.manager.stop()
        if self._collect is not None:
            self._collect.cancel()
        await self.store.close()


async def open_edge(cloud: Cloud, admin: APIClient, root: Path, node: str) -> Edge:
    secret = await admin.get(SECRETS, "tokensecret", "kubeedge")
    token = base64.b64decode(secret["data"]["tokendata"]).decode()
    store = await MetaStore.open(root / "var/lib/kubeedge/edgecore.db")
    edge = Edge(root, edge_config(root, node, cloud, token), store)
    await edge.start()
    # The Node, as test_cloudcore_channel makes it (the edge role selects edge nodes).
    await admin.create(NODES, {"apiVersion": "v1", "kind": "Node",
                               "metadata": {"name": node, "labels": {EDGE_ROLE: ""}}})
    return edge


def kubectl_pod(cloud: Cloud, name: str) -> dict[str, Any] | None:
    proc = cloud.kubectl("get", "pod", name, "-n", "default", "-o", "json", check=False)
    if proc.returncode != 0:
        assert "NotFound" in proc.stderr or "not found" in proc.stderr, proc.stderr
        return None
    return json.loads(proc.stdout)


def running_status(pod: dict[str, Any], marker: str) -> dict[str, Any]:
    now = "2026-01-01T12:00:00Z"
    return {
        "phase": "Running", "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
        "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                       for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
        "containerStatuses": [{
            "name": "c", "image": "busybox", "imageID": "", "ready": True,
            "restartCount": 0, "started": True, "containerID": f"process://{marker}",
            "state": {"running": {"startedAt": now}}}],
    }


async def test_queries_status_and_deletes_through_a_real_cloud(
        cloud: Cloud, tmp_path: Path) -> None:
    admin = APIClient(cloud.kubeconfig)
    node = f"edge-{uuid.uuid4().hex[:6]}"
    edge = await open_edge(cloud, admin, tmp_path / "edge", node)
    try:
        name = f"web-{uuid.uuid4().hex[:6]}"
        cm_name = f"{name}-config"
        await admin.create(CONFIGMAPS, {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": cm_name, "namespace": "default"},
            "data": {"greeting": "hello"}}, "default")
        created = await admin.create(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "automountServiceAccountToken": False,
                     "containers": [{"name": "c", "image": "busybox",
                                     "envFrom": [{"configMapRef": {"name": cm_name}}]}]}},
            "default")
        uid = created["metadata"]["uid"]
        pod_key = f"default/pod/{name}"

        # The pod reaches edged through EdgeHub (stored) and MetaManager (forwarded).
        await eventually(lambda: edge.edged_saw("insert", pod_key), 15, "the pod at edged")
        [listed] = [p for p in await edge.client.list_pods()
                    if p["metadata"]["name"] == name]
        assert listed["metadata"]["uid"] == uid

        # Configmap: asked of the cloud while connected...
        asked = edge.manager.remote_queries
        got = await edge.client.get_configmap("default", cm_name)
        assert got is not None and got["data"] == {"greeting": "hello"}
        assert edge.manager.remote_queries == asked + 1
        assert edge.manager.cache_answers == 0

        # A status update reaches the API.
        pod = (await edge.client.list_pods())[0]
        await edge.client.update_pod_status(pod, running_status(pod, "first"))

        def api_shows(marker: str) -> bool:
            shown = kubectl_pod(cloud, name)
            statuses = (shown or {}).get("status", {}).get("containerStatuses") or []
            return any(s.get("containerID") == f"process://{marker}" for s in statuses)

        await eventually(lambda: api_shows("first"), 15, "the status in the API")
        assert kubectl_pod(cloud, name)["status"]["phase"] == "Running"  # type: ignore[index]

        # The hub stops: the configmap comes from the edge database...
        await edge.stop_hub()
        got = await edge.client.get_configmap("default", cm_name)
        assert got is not None and got["data"] == {"greeting": "hello"}
        assert edge.manager.cache_answers == 1
        # ...and a status made meanwhile is kept, then sent once the hub is back.
        await edge.client.update_pod_status(pod, running_status(pod, "offline"))
        assert "status:default/podstatus/" + name in edge.manager.pending_upstream()
        assert not api_shows("offline")
        await edge.start_hub()
        await eventually(lambda: api_shows("offline"), 15, "the kept status in the API")

        # Deletion: the API marks the pod terminating; the edge confirms it is gone.
        cloud.kubectl("delete", "pod", name, "-n", "default", "--wait=false")
        terminating = await eventually(
            lambda: _stored_terminating(edge, pod_key), 15, "the terminating pod at the edge")
        await edge.client.confirm_pod_deleted(terminating)
        await eventually(lambda: kubectl_pod(cloud, name) is None, 15, "the pod gone")
        # The cloud's delete follows: stored (row gone) and forwarded to edged.
        await eventually(lambda: edge.edged_saw("delete", pod_key), 15, "the delete at edged")
        assert await edge.store.get(pod_key) is None
        assert edge.manager.deletes_sent == 1
        assert edge.manager.pending_upstream() == {}
    finally:
        await edge.close()
        await admin.close()


async def _stored_terminating(edge: Edge, key: str) -> dict[str, Any] | None:
    row = await edge.store.get(key)
    if row is None:
        return None
    obj = json.loads(row.value)
    return obj if obj["metadata"].get("deletionTimestamp") else None
