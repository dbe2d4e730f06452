"""Pod networking's cloud side, end to end up to the runtime (issue 7 "Pod networking"):
a real cloud from `keadm init` with the node-ipam controller (API server and cloudcore
processes: CloudHub, EdgeController), and two in-process edges, each an EdgeHub with its
edge database, MetaManager and `PodNetworkSync` over a recording runtime. The node-ipam
controller gives each edge Node a podCIDR; the edge hears its own Node and hands the
podCIDR to its runtime; EdgeController tells each edge the other's podCIDR and
InternalIP (`noderoutes`, ours), which the edge stores and programs as routes. Neither
edge reads the other's Node through the API (the node authorizer's rule stays).

The runtime here records instead of running `ip`: programming real routes between two
edges in their own network namespaces is the pod tests' job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.edge.metamanager.manager import MetaManager, MetaManagerSettings
from kubeedge.edge.metamanager.store import MetaStore
from kubeedge.edge.node import PodNetworkSync
from kubeedge.messaging.bus import ModuleBus
from tests.fixtures.cluster import Cloud, eventually, running_cloud
from tests.integration.cloud.test_cloudcore_channel import edge_config, join_token

NODES = Resource.of("v1", "nodes")
EDGE_ROLE = "node-role.kubernetes.io/edge"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("edge-network"),
                       controllers=("node-ipam",)) as c:
        yield c


@pytest.fixture
async def admin(cloud: Cloud) -> AsyncIterator[APIClient]:
    client = APIClient(cloud.kubeconfig)
    try:
        yield client
    finally:
        await client.close()


class RecordingRuntime:
    """The two calls PodNetworkSync makes of the process runtime, recorded."""

    def __init__(self) -> None:
        self.pod_cidrs: list[str] = []
        self.routes: list[list[tuple[str, str]]] = []

    async def update_runtime_config(self, pod_cidr: str) -> None:
        self.pod_cidrs.append(pod_cidr)

    async def program_routes(self, routes: Any) -> list[tuple[str, str]]:
        self.routes.append(list(routes))
        return list(routes)


class Edge:
    """EdgeHub, the edge database, MetaManager and PodNetworkSync, as edgecore wires
    them (edge/core.py), without edged."""

    def __init__(self, root: Path, node: str, cloud: Cloud, token: str) -> None:
        self.root, self.node = root, node
        self.config = edge_config(root, node, cloud, token)
        self.bus = ModuleBus()
        self.runtime = RecordingRuntime()
        self.hub: Any = None
        self.store: MetaStore | None = None
        self.meta: MetaManager | None = None
        self.network = PodNetworkSync(self.bus, self.runtime, node)

    async def start(self) -> None:
        from kubeedge.edge.hub import EdgeHub

        self.store = await MetaStore.open(self.root / "var/lib/kubeedge/edgecore.db")
        self.hub = EdgeHub(self.config, self.bus, self.store, self.root)
        await self.network.start()
        self.meta = MetaManager(self.bus, self.store, MetaManagerSettings(),
                                connected=self.hub.connected)
        await self.meta.start()
        await self.hub.start()
        await asyncio.wait_for(self.hub.connected.wait(), 15)

    async def close(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        if self.meta is not None:
            await self.meta.stop()
        await self.network.stop()
        if self.store is not None:
            await self.store.close()

    async def stored(self, key: str) -> dict[str, Any] | None:
        assert self.store is not None
        row = await self.store.get(key)
        return json.loads(row.value) if row is not None else None


async def _edge_node(admin: APIClient, name: str, ip: str) -> None:
    await admin.create(NODES, {"apiVersion": "v1", "kind": "Node",
                               "metadata": {"name": name, "labels": {EDGE_ROLE: ""}}})
    await admin.patch(NODES, name, {"status": {"addresses": [
        {"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}},
        subresource="status")


async def test_podcidr_and_routes_to_the_other_edge_reach_each_runtime(
        cloud: Cloud, admin: APIClient, tmp_path: Path) -> None:
    token = await join_token(admin)
    tag = uuid.uuid4().hex[:6]
    a = Edge(tmp_path / "a", f"net-a-{tag}", cloud, token)
    b = Edge(tmp_path / "b", f"net-b-{tag}", cloud, token)
    try:
        await asyncio.gather(a.start(), b.start())
        await _edge_node(admin, a.node, "192.0.2.21")
        await _edge_node(admin, b.node, "192.0.2.22")

        async def cidr_of(name: str) -> str:
            return str(((await admin.get(NODES, name)).get("spec") or {}).get("podCIDR")
                       or "")

        cidr_a = await eventually(lambda: cidr_of(a.node), 15, "node-ipam gives a podCIDR")
        cidr_b = await eventually(lambda: cidr_of(b.node), 15, "node-ipam gives b podCIDR")
        assert cidr_a != cidr_b

        # Each edge's own podCIDR, from its Node as EdgeController sends it down.
        await eventually(lambda: a.runtime.pod_cidrs == [cidr_a], 15, "a's runtime podCIDR")
        await eventually(lambda: b.runtime.pod_cidrs == [cidr_b], 15, "b's runtime podCIDR")
        # The other edge's pod network, routed via its InternalIP.
        await eventually(lambda: a.runtime.routes and a.runtime.routes[-1] == [
            (cidr_b, "192.0.2.22")], 15, "a's route to b's pods")
        await eventually(lambda: b.runtime.routes and b.runtime.routes[-1] == [
            (cidr_a, "192.0.2.21")], 15, "b's route to a's pods")
        # Stored (so a restart without the cloud has them), and only the summary: no
        # other Node reached the edge.
        summary = await a.stored(f"null/noderoutes/{a.node}")
        assert summary is not None and summary["kind"] == "NodeRoutes"
        assert [r["nodeName"] for r in summary["routes"]] == [b.node]
        assert await a.stored(f"null/node/{b.node}") is None

        # b's address changes: a is told, b's own routes stay as they were.
        before_b = len(b.runtime.routes)
        await admin.patch(NODES, b.node, {"status": {"addresses": [
            {"type": "InternalIP", "address": "192.0.2.32"},
            {"type": "Hostname", "address": b.node}]}}, subresource="status")
        await eventually(lambda: a.runtime.routes[-1] == [(cidr_b, "192.0.2.32")], 15,
                         "a's route follows b's new address")
        assert len(b.runtime.routes) == before_b

        # b leaves: a's route to it goes.
        await admin.delete(NODES, b.node)
        await eventually(lambda: a.runtime.routes[-1] == [], 15, "a's route to b removed")
    finally:
        await asyncio.gather(a.close(), b.close())
        for name in (a.node, b.node):
            with contextlib.suppress(APIError):
                await admin.delete(NODES, name)
