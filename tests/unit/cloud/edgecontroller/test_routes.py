"""Routes between edges (cloud/edgecontroller/routes.py): each connected edge gets the
podCIDR and InternalIP of the other edge nodes, and only when that changes."""

from __future__ import annotations

import asyncio
from typing import Any

from kubeedge.cloud.edgecontroller.routes import NodeRoutes, node_route
from kubeedge.cloud.hub.pool import NodeMessagePool, needs_ack
from kubeedge.edge.metamanager.manager import RESOURCE_NODEROUTES as EDGE_NODEROUTES
from kubeedge.messaging.message import Message


def node(name: str, cidr: str = "", ip: str = "", rv: int = 1) -> dict[str, Any]:
    n: dict[str, Any] = {"apiVersion": "v1", "kind": "Node",
                         "metadata": {"name": name, "uid": f"uid-{name}",
                                      "resourceVersion": str(rv)},
                         "spec": {}, "status": {"addresses": [
                             {"type": "Hostname", "address": name}]}}
    if cidr:
        n["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr]}
    if ip:
        n["status"]["addresses"].insert(0, {"type": "InternalIP", "address": ip})
    return n


def test_a_node_needs_a_podcidr_and_an_internal_ip() -> None:
    assert node_route(node("a", "10.244.1.0/24")) is None
    assert node_route(node("a", ip="10.0.0.1")) is None
    assert node_route(node("a", "10.244.1.0/24", "10.0.0.1")) == {
        "nodeName": "a", "podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"],
        "nodeIP": "10.0.0.1"}


def test_each_connected_edge_gets_the_others_once_per_change() -> None:
    sent: list[Message] = []
    routes = NodeRoutes(sent.append, version=lambda: "40")
    routes.on_node_add(node("a", "10.244.1.0/24", "10.0.0.1", rv=10))
    routes.on_node_add(node("b", ip="10.0.0.2", rv=11))  # no podCIDR yet
    routes.on_connected("a")
    routes.on_connected("b")
    assert routes.flush() == 2
    by_node = {m.route.resource: m for m in sent}
    to_a = by_node["node/a/null/noderoutes/a"]
    assert (to_a.route.source, to_a.route.group, to_a.route.operation) == (
        "edgecontroller", "resource", "update")
    assert to_a.content["kind"] == "NodeRoutes" and to_a.content["routes"] == []
    assert to_a.header.resource_version == "40"
    assert [r["nodeName"] for r in by_node["node/b/null/noderoutes/b"].content["routes"]] \
        == ["a"]
    # It needs an ACK (it is stored at the edge) but is no API object: no uid, so no
    # ObjectSync, and CloudHub keys it by message id.
    assert needs_ack(to_a) and "uid" not in to_a.content["metadata"]
    assert NodeMessagePool.ack_key(to_a) == to_a.header.msg_id

    sent.clear()
    routes.on_node_update(node("a", rv=10), node("a", "10.244.1.0/24", "10.0.0.1", rv=12))
    assert routes.flush() == 0  # a heartbeat: nothing new for anyone
    routes.on_node_update(node("b", rv=11), node("b", "10.244.2.0/24", "10.0.0.2", rv=13))
    assert routes.flush() == 1  # only a's summary changed
    assert sent[0].route.resource == "node/a/null/noderoutes/a"
    assert sent[0].content["routes"] == [{"nodeName": "b", "podCIDR": "10.244.2.0/24",
                                          "podCIDRs": ["10.244.2.0/24"],
                                          "nodeIP": "10.0.0.2"}]
    # The version only grows: the newest node seen, or the informer's.
    assert sent[0].header.resource_version == "40"
    routes.version = lambda: "5"
    routes.on_node_delete(node("b", "10.244.2.0/24", "10.0.0.2", rv=60))
    routes.flush()
    assert sent[-1].content["routes"] == [] and sent[-1].header.resource_version == "60"


def test_an_edge_away_gets_nothing_then_everything_when_it_connects() -> None:
    sent: list[Message] = []
    routes = NodeRoutes(sent.append)
    routes.on_node_add(node("a", "10.244.1.0/24", "10.0.0.1"))
    routes.on_node_add(node("b", "10.244.2.0/24", "10.0.0.2"))
    assert routes.flush() == 0
    routes.on_connected("a")
    routes.flush()
    routes.on_disconnected("a")
    routes.on_node_add(node("c", "10.244.3.0/24", "10.0.0.3"))
    assert routes.flush() == 0
    routes.on_connected("a")  # reconnect: sent again even if unchanged
    routes.flush()
    assert [len(m.content["routes"]) for m in sent] == [1, 2]


async def test_a_burst_of_changes_is_sent_once() -> None:
    sent: list[Message] = []
    routes = NodeRoutes(sent.append)
    task = asyncio.create_task(routes.run())
    try:
        routes.on_connected("a")
        for i in range(2, 12):
            routes.on_node_add(node(f"n{i}", f"10.244.{i}.0/24", f"10.0.0.{i}"))
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(sent) == 1 and len(sent[0].content["routes"]) == 10
    finally:
        task.cancel()


def test_the_edge_reads_the_same_resource_type() -> None:
    from kubeedge.cloud.edgecontroller.routes import RESOURCE_NODEROUTES

    assert RESOURCE_NODEROUTES == EDGE_NODEROUTES
