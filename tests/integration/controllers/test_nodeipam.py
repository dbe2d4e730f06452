"""The node IPAM controller against the real API server: distinct pod CIDRs, a used set
rebuilt on start, release on delete, and `CIDRNotAvailable` when the range is full."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator

import pytest

from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.nodeipam import NodeIPAMController
from kubeedge.controllers.runtime import ControllerManager
from tests.fixtures.cluster import Cloud, eventually

NODES = ResourceRef("", "v1", "nodes", False, "Node")
EVENTS = ResourceRef("", "v1", "events", True, "Event")
# Four /24 blocks.
CONFIG = ControllerManagerConfig(cluster_cidr="10.100.0.0/22", node_cidr_mask_size=24)


class Running:
    def __init__(self, api: APIClient) -> None:
        self.api = api
        self.manager: ControllerManager | None = None

    async def start(self) -> None:
        factory = SharedInformerFactory(self.api)
        recorder = EventRecorder(self.api, "node-controller")
        self.manager = ControllerManager(
            self.api, [NodeIPAMController(self.api, factory, recorder, CONFIG)],
            informers=factory, recorder=recorder)
        await self.manager.start()

    async def stop(self) -> None:
        if self.manager is not None:
            await self.manager.stop()
            self.manager = None


@pytest.fixture
async def ipam(api: APIClient) -> AsyncIterator[Running]:
    running = Running(api)
    await running.start()
    yield running
    await running.stop()


async def add_node(api: APIClient, nodes: list[str], prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    await api.create(NODES, {"metadata": {"name": name}})
    nodes.append(name)
    return name


async def cidr_of(api: APIClient, name: str) -> str:
    spec = (await api.get(NODES, name)).get("spec") or {}
    if spec.get("podCIDR"):
        assert spec.get("podCIDRs") == [spec["podCIDR"]]
    return str(spec.get("podCIDR") or "")


async def test_nodes_get_distinct_cidrs_rebuilt_after_restart_and_released_on_delete(
        api: APIClient, ipam: Running, nodes: list[str], cloud: Cloud) -> None:
    names = [await add_node(api, nodes, "ipam") for _ in range(3)]
    cidrs = [await eventually(lambda n=n: cidr_of(api, n), 10, f"{n} CIDR") for n in names]
    assert len(set(cidrs)) == 3
    cluster = ipaddress.ip_network("10.100.0.0/22")
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr)
        assert net.prefixlen == 24 and net.subnet_of(cluster)
    shown = cloud.kubectl("get", "node", names[0], "-o", "jsonpath={.spec.podCIDR}").stdout
    assert shown == cidrs[0]

    # A fresh controller learns the used blocks from the nodes: the fourth node gets the
    # last free one, the fifth none.
    await ipam.stop()
    await ipam.start()
    fourth = await add_node(api, nodes, "ipam")
    last = await eventually(lambda: cidr_of(api, fourth), 10, "fourth CIDR")
    assert last not in cidrs
    fifth = await add_node(api, nodes, "ipam")

    async def not_available() -> bool:
        found = await api.list(EVENTS, "default")
        return any(e["reason"] == "CIDRNotAvailable"
                   and e["involvedObject"]["name"] == fifth for e in found["items"])

    await eventually(not_available, 10, "CIDRNotAvailable event")
    assert await cidr_of(api, fifth) == ""

    # Deleting a node frees its block for the waiting one.
    await api.delete(NODES, names[1])
    assert await eventually(lambda: cidr_of(api, fifth), 10, "fifth CIDR") == cidrs[1]


async def test_a_cidr_a_node_already_has_is_kept(
        api: APIClient, ipam: Running, nodes: list[str]) -> None:
    name = f"preset-{uuid.uuid4().hex[:6]}"
    await api.create(NODES, {"metadata": {"name": name},
                             "spec": {"podCIDR": "10.100.3.0/24",
                                      "podCIDRs": ["10.100.3.0/24"]}})
    nodes.append(name)
    other = await add_node(api, nodes, "after")
    got = await eventually(lambda: cidr_of(api, other), 10, "CIDR")
    assert got != "10.100.3.0/24"
    assert await cidr_of(api, name) == "10.100.3.0/24"
