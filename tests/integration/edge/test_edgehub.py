"""EdgeHub over real TLS WebSockets and a real certificate service, on loopback.

`CloudHubTestPeer` is a protocol peer built for these tests from `websockets` and
KubeEdge's CA (`kubeedge.cloud.certs`): it speaks spec §3's wire protocol (mTLS,
headers, one JSON message per text frame) and records what the edge sends. It is not
CloudHub; tests against the real CloudHub live with it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from kubeedge.cloud.certs.edge_ca import (
    EdgeCertificates,
    create_kubeedge_ca,
    issue_cloudcore_cert,
)
from kubeedge.cloud.certs.server import CertService, CertServiceSettings
from kubeedge.cloud.certs.token import create_token
from kubeedge.config.edgecore import EdgeCoreConfig
from kubeedge.edge.certs import BootstrapError
from kubeedge.edge.hub import EdgeHub
from kubeedge.edge.metamanager.store import MetaStore
from kubeedge.messaging import ModuleBus, decode_message, encode_message
from kubeedge.messaging.message import Message, build_message

NODE = "edge-it-1"


async def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or cond}")
        await asyncio.sleep(0.01)


@dataclass
class PeerSession:
    ws: ServerConnection
    headers: dict[str, str]
    peer_cn: str
    received: list[Message] = field(default_factory=list)


class CloudHubTestPeer:
    """A test-only WebSocket server speaking spec §3 to one edge."""

    def __init__(self, certs: EdgeCertificates, tmp: Path, db_path: Path) -> None:
        self.certs = certs
        self.db_path = db_path
        self.sessions: list[PeerSession] = []
        # msg_id of each ACK received -> whether its object was in the edge DB right then
        self.row_present_at_ack: dict[str, bool] = {}
        cert_file, key_file = tmp / "peer.crt", tmp / "peer.key"
        certs.serving.write(cert_file, key_file)
        self.ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ssl.verify_mode = ssl.CERT_REQUIRED
        self.ssl.load_verify_locations(cadata=certs.ca_der)
        self.ssl.load_cert_chain(cert_file, key_file)
        self.port = 0
        self._server: Any = None
        self.sent: dict[str, Message] = {}

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, ssl=self.ssl,
                                   ping_interval=None, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _row_present(self, resource: str) -> bool:
        conn = sqlite3.connect(self.db_path)
        try:
            row = conn.execute("SELECT 1 FROM meta WHERE key = ?", (resource,)).fetchone()
            return row is not None
        finally:
            conn.close()

    async def _handle(self, ws: ServerConnection) -> None:
        peercert = ws.transport.get_extra_info("peercert") or {}
        cn = next((v for rdn in peercert.get("subject", ()) for k, v in rdn
                   if k == "commonName"), "")
        session = PeerSession(ws, dict(ws.request.headers), cn)
        self.sessions.append(session)
        async for frame in ws:
            msg = decode_message(frame)
            if msg.route.operation == "response" and msg.header.parent_msg_id in self.sent:
                # Checked synchronously as the ACK arrives: the write must be durable.
                self.row_present_at_ack[msg.header.parent_msg_id] = self._row_present(
                    msg.route.resource)
            session.received.append(msg)

    async def push(self, msg: Message) -> None:
        self.sent[msg.header.msg_id] = msg
        await self.sessions[-1].ws.send(encode_message(msg).decode())


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[tuple[EdgeCertificates, CertService]]:
    ca = create_kubeedge_ca()
    certs = EdgeCertificates(ca, issue_cloudcore_cert(ca, ["127.0.0.1"]))
    service = CertService(certs, None, CertServiceSettings(address="127.0.0.1", port=0))
    await service.start()
    yield certs, service
    await service.stop()


def edge_config(root: Path, cert_port: int, hub_port: int, token: str) -> EdgeCoreConfig:
    config = EdgeCoreConfig(root=str(root))
    config.modules.edged.hostname_override = NODE
    hub = config.modules.edge_hub
    hub.http_server = f"https://127.0.0.1:{cert_port}"
    hub.websocket.server = f"127.0.0.1:{hub_port}"
    hub.token = token
    hub.heartbeat = 0.3
    hub.reconnect_interval = 0.2
    hub.connect_retry_interval = 0.1
    return config


def pod_message(name: str, rv: str) -> Message:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                        "resourceVersion": rv},
           "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "nginx"}]}}
    msg = build_message("resource", "", "edgecontroller", f"default/pod/{name}", "insert", pod)
    msg.header.resource_version = rv
    return msg


async def test_bootstrap_connect_store_before_ack_reconnect(
    tmp_path: Path, cloud: tuple[EdgeCertificates, CertService]
) -> None:
    certs, service = cloud
    root = tmp_path / "edge"
    db_path = root / "var/lib/kubeedge/edgecore.db"
    peer = CloudHubTestPeer(certs, tmp_path, db_path)
    await peer.start()
    token = create_token(certs.ca_der, certs.ca_key_der)
    config = edge_config(root, service.port, peer.port, token)
    store = await MetaStore.open(db_path)
    bus = ModuleBus()
    bus.add_module("metamanager", "meta")
    hub = EdgeHub(config, bus, store, root)
    try:
        await hub.start()
        # Bootstrap wrote the CA, certificate and a 0600 key under the root.
        key = root / "etc/kubeedge/certs/server.key"
        assert (root / "etc/kubeedge/ca/rootCA.crt").exists()
        assert key.stat().st_mode & 0o777 == 0o600
        assert hub.certificates.bootstrapped

        await asyncio.wait_for(hub.connected.wait(), 10)
        await wait_until(lambda: len(peer.sessions) == 1, what="a session")
        session = peer.sessions[0]
        assert session.headers["node_id"] == NODE
        assert session.headers["project_id"] == "e632aba927ea4ac2b575ec1603d56f10"
        assert session.peer_cn == f"system:node:{NODE}"
        assert session.ws.request.path == f"/e632aba927ea4ac2b575ec1603d56f10/{NODE}/events"

        msg = pod_message("nginx", "42")
        await peer.push(msg)
        await wait_until(lambda: msg.header.msg_id in peer.row_present_at_ack, what="the ACK")
        assert peer.row_present_at_ack[msg.header.msg_id] is True
        [ack] = [m for m in session.received if m.header.parent_msg_id == msg.header.msg_id]
        assert ack.route.operation == "response" and ack.content == "OK"
        row = await store.get("default/pod/nginx")
        assert row is not None and row.type == "pod"

        # Keepalives flow every heartbeat.
        await wait_until(lambda: sum(m.route.operation == "keepalive"
                                     for m in session.received) >= 3, what="keepalives")

        # The peer closes the session: the edge reconnects and says so to the modules.
        await session.ws.close()
        await wait_until(lambda: len(peer.sessions) == 2, what="a reconnect")
        await asyncio.wait_for(hub.connected.wait(), 10)
        assert hub.reconnects == 1
        contents = []
        while bus.pending("metamanager"):
            m = await bus.receive("metamanager")
            if m.route.resource == "node/connection":
                contents.append(m.content)
        assert contents == ["cloud_connected", "cloud_disconnected", "cloud_connected"]

        # Messages from edge modules go up on the new session.
        up = build_message("meta", "", "edged", f"default/nodestatus/{NODE}", "update", {})
        await hub.send(up)
        await wait_until(lambda: any(m.header.msg_id == up.header.msg_id
                                     for m in peer.sessions[1].received), what="upstream")
    finally:
        await hub.stop()
        await store.close()
        await peer.stop()


async def test_existing_certificate_is_reused_without_a_token(
    tmp_path: Path, cloud: tuple[EdgeCertificates, CertService]
) -> None:
    certs, service = cloud
    root = tmp_path / "edge"
    token = create_token(certs.ca_der, certs.ca_key_der)
    first = EdgeHub(edge_config(root, service.port, 1, token), ModuleBus(), None, root)  # type: ignore[arg-type]
    await first.certificates.ensure()
    before = (root / "etc/kubeedge/certs/server.crt").read_bytes()
    second = EdgeHub(edge_config(root, service.port, 1, ""), ModuleBus(), None, root)  # type: ignore[arg-type]
    await second.certificates.ensure()
    assert not second.certificates.bootstrapped
    assert (root / "etc/kubeedge/certs/server.crt").read_bytes() == before


async def test_ca_hash_mismatch_refuses_and_writes_nothing(
    tmp_path: Path, cloud: tuple[EdgeCertificates, CertService]
) -> None:
    certs, service = cloud
    root = tmp_path / "edge"
    token = create_token(certs.ca_der, certs.ca_key_der)
    forged = "0" * 64 + token[64:]
    bus = ModuleBus()
    hub = EdgeHub(edge_config(root, service.port, 1, forged), bus, None, root)  # type: ignore[arg-type]
    with pytest.raises(BootstrapError, match="failed to validate CA certificate"):
        await hub.start()
    assert not (root / "etc").exists()
    assert "websocket" not in bus.modules()


async def test_silent_cloud_is_noticed_by_the_unanswered_ping(
    tmp_path: Path, cloud: tuple[EdgeCertificates, CertService]
) -> None:
    """A cloud that stops reading (a dead link: no close, no reset) leaves the edge's
    pings unanswered; EdgeHub must drop the session after readDeadline and say so,
    not go on believing it is connected (websockets' `ping()` only sends: its pong is a
    second await)."""
    certs, service = cloud
    root = tmp_path / "edge"
    db_path = root / "var/lib/kubeedge/edgecore.db"
    peer = CloudHubTestPeer(certs, tmp_path, db_path)
    await peer.start()
    config = edge_config(root, service.port, peer.port,
                         create_token(certs.ca_der, certs.ca_key_der))
    config.modules.edge_hub.websocket.read_deadline = 0.5
    config.modules.edge_hub.reconnect_interval = 30  # no second session during the test
    store = await MetaStore.open(db_path)
    hub = EdgeHub(config, ModuleBus(), store, root)
    try:
        await hub.start()
        await asyncio.wait_for(hub.connected.wait(), 10)
        await wait_until(lambda: len(peer.sessions) == 1, what="a session")
        peer.sessions[0].ws.transport.pause_reading()  # the link goes dead
        silent_since = time.monotonic()
        await wait_until(lambda: not hub.connected.is_set(), timeout=5,
                         what="the edge noticing the silent cloud")
        # heartbeat (0.3 s) until the next ping + readDeadline (0.5 s), with slack.
        assert time.monotonic() - silent_since < 2.5
        assert "readDeadline" in hub.last_error
    finally:
        await hub.stop()
        await store.close()
        for session in peer.sessions:  # no close handshake to wait for on a dead link
            session.ws.transport.abort()
        await peer.stop()
