"""CloudHub over real TLS WebSockets on loopback (specs/kubeedge.md §3): the client
certificate is required and must be the node's own, `nodeLimit`, downstream messages
resent until the edge ACKs and the ACK reported to SyncController on the bus, upstream
messages routed to EdgeController with the node attached, a second connection replacing
the first, and the keepalive timeout. Timings shortened by config."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubeedge.cloud.certs.authority import CertificateAuthority
from kubeedge.cloud.certs.edge_ca import (
    EdgeCertificates,
    create_kubeedge_ca,
    issue_cloudcore_cert,
)
from kubeedge.cloud.hub import protocol
from kubeedge.cloud.hub.server import CloudHub
from kubeedge.config.cloudcore import CloudHub as CloudHubConfig
from kubeedge.config.cloudcore import CloudHubWebSocket
from kubeedge.messaging.bus import ModuleBus
from kubeedge.messaging.codec import decode_message, encode_message
from kubeedge.messaging.message import Message, build_message, new_respond_message
from tests.fixtures.cluster import eventually

DEADLINE = 10.0


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return create_kubeedge_ca()


@pytest.fixture
def bus() -> ModuleBus:
    bus = ModuleBus()
    bus.add_module("edgecontroller", "edgecontroller")
    bus.add_module("synccontroller", "synccontroller")
    return bus


def _config(**overrides: Any) -> CloudHubConfig:
    settings: dict[str, Any] = {
        "websocket": CloudHubWebSocket(address="127.0.0.1", port=0),
        "advertise_address": ["127.0.0.1"],
        "keepalive_interval": 30, "message_resend_interval": 0.3,
        "message_resend_retries": 4}
    settings.update(overrides)
    return CloudHubConfig(**settings)


HubFactory = Callable[..., Any]


@pytest.fixture
async def start_hub(ca: CertificateAuthority, bus: ModuleBus) -> AsyncIterator[HubFactory]:
    hubs: list[CloudHub] = []
    certs = EdgeCertificates(ca, issue_cloudcore_cert(ca, ["127.0.0.1"]))

    async def start(**overrides: Any) -> CloudHub:
        hub = CloudHub(bus, _config(**overrides), certs)
        await hub.start()
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        await hub.stop()


def _client_ssl(tmp_path: Path, ca: CertificateAuthority, common_name: str | None,
                signer: CertificateAuthority | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
    if common_name is not None:
        pair = (signer or ca).issue_client_cert(common_name, ["system:nodes"])
        name = common_name.replace(":", "_")
        pair.write(tmp_path / f"{name}.crt", tmp_path / f"{name}.key")
        ctx.load_cert_chain(tmp_path / f"{name}.crt", tmp_path / f"{name}.key")
    return ctx


class Edge:
    """A minimal EdgeHub: connects with headers and a certificate, speaks JSON frames."""

    def __init__(self, hub: CloudHub, ctx: ssl.SSLContext, node: str) -> None:
        self.url = f"wss://127.0.0.1:{hub.port}/proj/{node}/events"
        self.ctx = ctx
        self.node = node
        self.session = aiohttp.ClientSession()
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> Edge:
        self.ws = await self.session.ws_connect(
            self.url, ssl=self.ctx, autoping=True,
            headers={protocol.HEADER_NODE_ID: self.node, protocol.HEADER_PROJECT_ID: "proj"})
        return self

    async def receive(self, timeout: float = DEADLINE) -> Message:
        assert self.ws is not None
        frame = await self.ws.receive(timeout=timeout)
        assert frame.type == aiohttp.WSMsgType.TEXT, frame
        return decode_message(frame.data)

    async def send(self, msg: Message) -> None:
        assert self.ws is not None
        await self.ws.send_str(encode_message(msg).decode())

    async def close_frame(self, timeout: float = DEADLINE) -> aiohttp.WSMessage:
        assert self.ws is not None
        frame = await self.ws.receive(timeout=timeout)
        assert frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.CLOSING), frame
        return frame

    async def aclose(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()


@pytest.fixture
async def edges() -> AsyncIterator[list[Edge]]:
    made: list[Edge] = []
    yield made
    for edge in made:
        await edge.aclose()


async def _edge(edges: list[Edge], hub: CloudHub, ctx: ssl.SSLContext, node: str) -> Edge:
    edge = Edge(hub, ctx, node)
    edges.append(edge)
    return await edge.connect()


async def _bus_message(bus: ModuleBus, module: str, operation: str) -> Message:
    """The next message on `module` with `operation` (others are skipped)."""

    async def wait() -> Message:
        while True:
            msg = await bus.receive(module)
            if msg.route.operation == operation:
                return msg

    return await asyncio.wait_for(wait(), DEADLINE)


def _pod(node: str, name: str, uid: str, rv: str) -> Message:
    return build_message(
        "resource", "", "edgecontroller", f"node/{node}/default/pod/{name}", "update",
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": "default", "uid": uid,
                      "resourceVersion": rv}},
    ).set_resource_version(rv)


async def test_connection_without_client_certificate_is_refused(
        start_hub: HubFactory, ca: CertificateAuthority, tmp_path: Path,
        edges: list[Edge]) -> None:
    hub = await start_hub()
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        edge = await _edge(edges, hub, _client_ssl(tmp_path, ca, None), "edge-a")
        await edge.receive(timeout=DEADLINE)  # TLS 1.3 reports the refusal on first read
    assert hub.manager.connected == 0


async def test_certificate_from_another_ca_is_refused(
        start_hub: HubFactory, ca: CertificateAuthority, tmp_path: Path,
        edges: list[Edge]) -> None:
    hub = await start_hub()
    forged = _client_ssl(tmp_path, ca, "system:node:edge-a", signer=create_kubeedge_ca())
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        edge = await _edge(edges, hub, forged, "edge-a")
        await edge.receive(timeout=DEADLINE)
    assert hub.manager.connected == 0


async def test_certificate_of_node_a_cannot_connect_as_node_b(
        start_hub: HubFactory, ca: CertificateAuthority, tmp_path: Path,
        edges: list[Edge]) -> None:
    hub = await start_hub()
    ctx = _client_ssl(tmp_path, ca, "system:node:edge-a")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await _edge(edges, hub, ctx, "edge-b")
    assert refused.value.status == 403
    # the same request without the WebSocket client shows the reason in the body
    async with aiohttp.ClientSession() as client, client.get(
            f"https://127.0.0.1:{hub.port}/", ssl=ctx,
            headers={"node_id": "edge-b", "Upgrade": "websocket",
                     "Connection": "Upgrade"}) as resp:
        assert resp.status == 403
        assert "didn't match node ID" in await resp.text()
    assert hub.manager.connected == 0
    assert hub.metrics.refused["identity"] == 2


async def test_missing_node_id_header_is_refused_with_400(
        start_hub: HubFactory, ca: CertificateAuthority, tmp_path: Path) -> None:
    hub = await start_hub()
    ctx = _client_ssl(tmp_path, ca, "system:node:edge-a")
    async with aiohttp.ClientSession() as client, client.get(
            f"https://127.0.0.1:{hub.port}/", ssl=ctx,
            headers={"Upgrade": "websocket", "Connection": "Upgrade"}) as resp:
        assert resp.status == 400
        assert "node_id header is required" in await resp.text()


async def test_downstream_message_is_resent_until_acked_and_the_ack_reported(
        start_hub: HubFactory, bus: ModuleBus, ca: CertificateAuthority, tmp_path: Path,
        edges: list[Edge]) -> None:
    hub = await start_hub()
    edge = await _edge(edges, hub, _client_ssl(tmp_path, ca, "system:node:edge-a"), "edge-a")
    connected = await _bus_message(bus, "edgecontroller", "connected")
    assert connected.route.resource == "node/edge-a"
    assert connected.content["client_id"] == "edge-a"
    await _bus_message(bus, "synccontroller", "connected")

    await bus.send(_pod("edge-a", "web", "uid-1", "42"), "cloudhub")
    first = await edge.receive()
    assert first.route.resource == "default/pod/web"
    assert first.header.resource_version == "42"
    again = await edge.receive()  # no ACK yet: written again after 0.3 s
    assert again.header.msg_id == first.header.msg_id

    await edge.send(new_respond_message(first, "OK"))
    acked = await _bus_message(bus, "synccontroller", protocol.OP_OBJECT_ACKED)
    assert acked.route.resource == "node/edge-a/default/pod/web"
    assert acked.content["uid"] == "uid-1"
    assert acked.content["resourceVersion"] == "42"
    assert acked.content["node"] == "edge-a"
    assert hub.metrics.acks == 1
    # nothing more arrives once acknowledged (one resend interval plus margin)
    assert edge.ws is not None
    with pytest.raises(asyncio.TimeoutError):
        await edge.ws.receive(timeout=1.0)


async def test_upstream_messages_reach_edgecontroller_only_for_the_own_node(
        start_hub: HubFactory, bus: ModuleBus, ca: CertificateAuthority, tmp_path: Path,
        edges: list[Edge]) -> None:
    hub = await start_hub()
    edge = await _edge(edges, hub, _client_ssl(tmp_path, ca, "system:node:edge-a"), "edge-a")
    await _bus_message(bus, "edgecontroller", "connected")
    spoof = build_message("resource", "", "edged", "default/nodestatus/edge-b", "update", {})
    await edge.send(spoof)
    own = build_message("resource", "", "edged", "default/nodestatus/edge-a", "update",
                        {"status": {}})
    await edge.send(own)
    got = await _bus_message(bus, "edgecontroller", "update")
    assert got.route.resource == "node/edge-a/default/nodestatus/edge-a"
    assert got.header.msg_id == own.header.msg_id
    assert hub.metrics.rejected_upstream == 1


async def test_second_connection_replaces_the_first(
        start_hub: HubFactory, bus: ModuleBus, ca: CertificateAuthority, tmp_path: Path,
        edges: list[Edge]) -> None:
    hub = await start_hub()
    ctx = _client_ssl(tmp_path, ca, "system:node:edge-a")
    first = await _edge(edges, hub, ctx, "edge-a")
    await _bus_message(bus, "edgecontroller", "connected")
    second = await _edge(edges, hub, ctx, "edge-a")
    closed = await first.close_frame()
    assert first.ws is not None and first.ws.close_code == protocol.CLOSE_REPLACED, closed
    disconnected = await _bus_message(bus, "edgecontroller", "disconnected")
    connected = await _bus_message(bus, "edgecontroller", "connected")
    assert disconnected.content["session_id"] != connected.content["session_id"]
    assert hub.manager.connected == 1
    await bus.send(_pod("edge-a", "web", "uid-1", "1"), "cloudhub")
    assert (await second.receive()).route.resource == "default/pod/web"


async def test_silent_edge_is_dropped_after_keepalive_interval(
        start_hub: HubFactory, bus: ModuleBus, ca: CertificateAuthority, tmp_path: Path,
        edges: list[Edge]) -> None:
    hub = await start_hub(keepalive_interval=0.5)
    edge = await _edge(edges, hub, _client_ssl(tmp_path, ca, "system:node:edge-a"), "edge-a")
    await _bus_message(bus, "edgecontroller", "connected")
    await edge.close_frame()
    assert edge.ws is not None and edge.ws.close_code == protocol.CLOSE_KEEPALIVE_TIMEOUT
    disconnected = await _bus_message(bus, "edgecontroller", "disconnected")
    assert disconnected.content["reason"] == "keepalive timeout"
    assert hub.manager.connected == 0


async def test_keepalives_keep_the_session(
        start_hub: HubFactory, bus: ModuleBus, ca: CertificateAuthority, tmp_path: Path,
        edges: list[Edge]) -> None:
    hub = await start_hub(keepalive_interval=0.6)
    edge = await _edge(edges, hub, _client_ssl(tmp_path, ca, "system:node:edge-a"), "edge-a")
    loop = asyncio.get_running_loop()
    end = loop.time() + 2.0
    while loop.time() < end:  # three keepalive intervals, a keepalive every 0.2 s
        await edge.send(build_message("resource", "", "websocket", "node", "keepalive",
                                      "ping"))
        await asyncio.sleep(0.2)
    assert hub.manager.connected == 1
    assert hub.metrics.keepalive_timeouts == 0


async def test_node_limit_refuses_a_new_node_with_503(
        start_hub: HubFactory, ca: CertificateAuthority, tmp_path: Path,
        edges: list[Edge]) -> None:
    hub = await start_hub(node_limit=1)
    await _edge(edges, hub, _client_ssl(tmp_path, ca, "system:node:edge-a"), "edge-a")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await _edge(edges, hub, _client_ssl(tmp_path, ca, "system:node:edge-b"), "edge-b")
    assert refused.value.status == 503
    assert hub.metrics.refused["node-limit"] == 1
    # the connected node may still reconnect
    await _edge(edges, hub, _client_ssl(tmp_path, ca, "system:node:edge-a"), "edge-a")
    await eventually(lambda: hub.metrics.replaced == 1, DEADLINE, "replacement")
