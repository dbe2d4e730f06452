"""Cluster names for the edges' pods (cloud/edgecontroller/hosts.py): headless Services
with ready Endpoints and their hostname records, summarised for each connected edge
only when that changes."""

from __future__ import annotations

import asyncio
from typing import Any

from kubeedge.cloud.edgecontroller.hosts import (
    ClusterHosts,
    endpoint_addresses,
    is_headless,
)
from kubeedge.cloud.hub.pool import NodeMessagePool, needs_ack
from kubeedge.edge.edged.edged import RESOURCE_CLUSTERHOSTS as EDGED_CLUSTERHOSTS
from kubeedge.edge.metamanager.manager import RESOURCE_CLUSTERHOSTS as EDGE_CLUSTERHOSTS
from kubeedge.messaging.message import Message
from tests.fixtures.cluster import eventually


def service(name: str, ns: str = "default", *, headless: bool = True, rv: int = 1
            ) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)},
            "spec": {"clusterIP": "None" if headless else "10.96.0.10",
                     "ports": [{"port": 80}]}}


def endpoints(name: str, *addresses: tuple[str, str], ns: str = "default",
              not_ready: tuple[str, ...] = (), rv: int = 1, note: str = ""
              ) -> dict[str, Any]:
    addrs = [{"ip": ip, **({"hostname": h} if h else {})} for ip, h in addresses]
    subset: dict[str, Any] = {"addresses": addrs, "ports": [{"port": 80}]}
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    meta: dict[str, Any] = {"name": name, "namespace": ns, "resourceVersion": str(rv)}
    if note:
        meta["annotations"] = {"note": note}
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
            "subsets": [subset] if addrs or not_ready else []}


def test_what_counts() -> None:
    assert is_headless(service("a"))
    assert not is_headless(service("a", headless=False))
    external = service("a")
    external["spec"]["type"] = "ExternalName"
    assert not is_headless(external)
    got = endpoint_addresses(endpoints("a", ("10.244.1.10", ""), ("10.244.1.9", "web-0"),
                                       not_ready=("10.244.1.11",)))
    # Ready addresses only, sorted numerically (".9" before ".10").
    assert got == [{"ip": "10.244.1.9", "hostname": "web-0"},
                   {"ip": "10.244.1.10", "hostname": ""}]


def test_each_connected_edge_gets_the_summary_once_per_change() -> None:
    sent: list[Message] = []
    hosts = ClusterHosts(sent.append, version=lambda: "40")
    hosts.on_service_add(service("web", rv=10))
    hosts.on_endpoints_add(endpoints("web", ("10.244.1.2", "web-0"), ("10.244.2.2", "web-1"),
                                     rv=11))
    hosts.on_service_add(service("api", headless=False, rv=12))
    hosts.on_endpoints_add(endpoints("api", ("10.244.1.3", ""), rv=13))
    assert hosts.flush() == 0  # nobody connected
    hosts.on_connected("a")
    hosts.on_connected("b")
    assert hosts.flush() == 2
    by_node = {m.route.resource: m for m in sent}
    to_a = by_node["node/a/null/clusterhosts/a"]
    assert (to_a.route.source, to_a.route.group, to_a.route.operation) == (
        "edgecontroller", "resource", "update")
    assert to_a.content["kind"] == "ClusterHosts"
    assert to_a.content["metadata"] == {"name": "a", "resourceVersion": "40"}
    assert to_a.header.resource_version == "40"
    # Only the headless Service: a ClusterIP Service's name is not a hosts entry.
    assert to_a.content["services"] == [{"namespace": "default", "name": "web", "addresses": [
        {"ip": "10.244.1.2", "hostname": "web-0"}, {"ip": "10.244.2.2", "hostname": "web-1"}]}]
    assert by_node["node/b/null/clusterhosts/b"].content["services"] == \
        to_a.content["services"]
    # Stored at the edge, so it needs an ACK; no API object, so no uid and no ObjectSync.
    assert needs_ack(to_a) and "uid" not in to_a.content["metadata"]
    assert NodeMessagePool.ack_key(to_a) == to_a.header.msg_id
    assert EDGE_CLUSTERHOSTS == EDGED_CLUSTERHOSTS == "clusterhosts"

    sent.clear()
    # Changes that do not touch the names send nothing.
    hosts.on_endpoints_update(endpoints("web"), endpoints(
        "web", ("10.244.1.2", "web-0"), ("10.244.2.2", "web-1"), rv=20, note="x"))
    hosts.on_endpoints_update(endpoints("api"), endpoints("api", ("10.244.1.4", ""), rv=21))
    hosts.on_service_update(service("api"), service("api", headless=False, rv=22))
    assert hosts.flush() == 0 and sent == []

    # A ready address goes: both edges hear, at the newer revision.
    hosts.on_endpoints_update(endpoints("web"), endpoints("web", ("10.244.1.2", "web-0"),
                                                          rv=50))
    assert hosts.flush() == 2
    assert {m.header.resource_version for m in sent} == {"50"}
    assert sent[0].content["services"][0]["addresses"] == [
        {"ip": "10.244.1.2", "hostname": "web-0"}]

    # A reconnecting edge gets it again; a disconnected one nothing.
    sent.clear()
    hosts.on_disconnected("b")
    hosts.on_connected("a")
    assert hosts.flush() == 1 and sent[0].route.resource == "node/a/null/clusterhosts/a"

    # The Service goes: its names go.
    sent.clear()
    hosts.on_service_delete(service("web", rv=60))
    assert hosts.flush() == 1 and sent[0].content["services"] == []
    assert sent[0].header.resource_version == "60"


def test_the_summary_is_capped() -> None:
    sent: list[Message] = []
    hosts = ClusterHosts(sent.append, max_addresses=3)
    for name, count in (("a", 2), ("b", 2), ("c", 1)):
        hosts.on_service_add(service(name))
        hosts.on_endpoints_add(endpoints(
            name, *[(f"10.244.{ord(name)}.{i + 1}", "") for i in range(count)]))
    hosts.on_connected("edge")
    hosts.flush()
    content = sent[0].content
    assert [(s["name"], len(s["addresses"])) for s in content["services"]] == [
        ("a", 2), ("b", 1)]
    assert content["truncated"] == 2


async def test_a_burst_is_sent_once() -> None:
    sent: list[Message] = []
    hosts = ClusterHosts(sent.append, delay=0.01)
    task = asyncio.create_task(hosts.run())
    try:
        hosts.on_connected("edge")
        hosts.on_service_add(service("web"))
        for i in range(20):
            hosts.on_endpoints_add(endpoints("web", *[(f"10.244.1.{j + 1}", "")
                                                      for j in range(i + 1)], rv=i + 2))
        await eventually(lambda: sent, timeout=5, what="the burst's message",
                         interval=0.01)
        # One message for the whole burst, and nothing left to send.
        assert len(sent) == 1 and not hosts._dirty.is_set()
        assert len(sent[0].content["services"][0]["addresses"]) == 20
    finally:
        task.cancel()
