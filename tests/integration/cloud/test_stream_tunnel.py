"""CloudStream and EdgeStream end to end (specs/kubeedge.md §9): a real cloud
(`keadm init`: API server + cloudcore with CloudStream on by default) and a real
EdgeStream in this process with a certificate from the cloud's join flow, against a
small local HTTP server standing in for edged's kubelet-style server (the full chain
with edged and kubectl is tested with edgecore). A stream-server client uses the API
server's kubelet client certificate that `keadm init` wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge.config.edgecore import EdgeStream as EdgeStreamConfig
from kubeedge.edge.certs import EdgeCertPaths, bootstrap
from kubeedge.edge.stream import EdgeStream
from kubeedge.streaming.http import (
    read_request_head,
    read_response_head,
    request_head,
    response_head,
)
from kubeedge.streaming.tunnel import HEADER_HOSTNAME, STREAM_SERVER_ANNOTATION, TUNNEL_PATH
from tests.fixtures.cluster import Cloud, eventually, keadm, running_cloud

NODE = "edge-stream-a"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("stream")) as c:
        yield c


@pytest.fixture(scope="module")
def edge_root(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A node certificate from the cloud's join flow (token → CSR → signed)."""
    root = tmp_path_factory.mktemp("edge")
    token = keadm("gettoken", "--root", str(cloud.root)).stdout.strip()
    bootstrap(EdgeCertPaths.for_root(root), NODE, token, f"https://127.0.0.1:{cloud.cert_port}")
    return root


class FakeEdged:
    """Stands in for edged's server: `/healthz` echoes the request head as JSON,
    `/containerLogs/` streams one line then holds until the client goes, `/exec/`
    answers 101 and echoes raw bytes."""

    def __init__(self) -> None:
        self.port = 0
        self.log_clients_gone = 0
        self.gone = asyncio.Condition()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        try:
            head = await read_request_head(reader)
            if head.path.startswith("/containerLogs/"):
                writer.write(response_head(200, [("Content-Type", "text/plain")]) + b"line 1\n")
                await writer.drain()
                await reader.read()  # until the relay closes us
                async with self.gone:
                    self.log_clients_gone += 1
                    self.gone.notify_all()
            elif head.path.startswith("/exec/"):
                writer.write(response_head(101, [("Connection", "Upgrade"),
                                                 ("Upgrade", "test")]))
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            else:
                body = json.dumps({"method": head.method, "target": head.target,
                                   "headers": head.headers}).encode()
                writer.write(response_head(200, [("Content-Length", str(len(body)))]) + body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def edge(cloud: Cloud, edge_root: Path) -> AsyncIterator[tuple[EdgeStream, FakeEdged]]:
    edged = FakeEdged()
    await edged.start()
    config = EdgeStreamConfig(enable=True, server=cloud.tunnel_server, reconnect_interval=0.2,
                              handshake_timeout=10)
    stream = EdgeStream(config, node_name=NODE, internal_ip="10.99.0.1", root=edge_root,
                        local_port=lambda: edged.port)
    await stream.start()
    await asyncio.wait_for(stream.connected.wait(), 20)
    try:
        yield stream, edged
    finally:
        await stream.stop()
        await edged.stop()


def _client_context(cloud: Cloud, cert: Path | None = None, key: Path | None = None
                    ) -> ssl.SSLContext:
    pki = cloud.root / "etc/kubeedge/pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert is None:
        cert, key = pki / "apiserver-kubelet-client.crt", pki / "apiserver-kubelet-client.key"
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


async def _open(cloud: Cloud, target: str, host: str = f"{NODE}:10350",
                headers: tuple[tuple[str, str], ...] = (), method: str = "GET",
                ctx: ssl.SSLContext | None = None
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", cloud.stream_port, ssl=ctx or _client_context(cloud),
        server_hostname="127.0.0.1")
    writer.write(request_head(method, target, [("Host", host), *headers]))
    return reader, writer


async def _get(cloud: Cloud, target: str, **kwargs: Any) -> tuple[int, bytes]:
    reader, writer = await _open(cloud, target, **kwargs)
    try:
        status, _, _ = await asyncio.wait_for(read_response_head(reader), 10)
        return status, await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def _ended(reader: asyncio.StreamReader) -> bool:
    """The connection ended (EOF, or TLS cut short: the relay aborts, it does not
    linger on a close_notify)."""
    try:
        return await reader.read() == b""
    except (ConnectionError, ssl.SSLError):
        return True


async def test_requests_reach_the_edge_raw_and_the_node_is_recorded(
        cloud: Cloud, edge: tuple[EdgeStream, FakeEdged]) -> None:
    status, body = await _get(cloud, "/healthz?a=1&a=2", headers=(("X-Trace", "t1"),))
    assert status == 200
    echoed = json.loads(body)
    assert echoed["method"] == "GET" and echoed["target"] == "/healthz?a=1&a=2"
    sent = {name.lower(): value for name, value in echoed["headers"]}
    assert sent["x-trace"] == "t1"
    assert sent["host"] == f"127.0.0.1:{edge[1].port}"  # edged's own, not the node's

    # By internal IP too (kube-apiserver's https://<InternalIP>:<port>).
    assert (await _get(cloud, "/healthz", host="10.99.0.1:10350"))[0] == 200

    # The Node appears after its tunnel: recorded from the informer's add event.
    cloud.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE, "labels": {"node-role.kubernetes.io/edge": ""}}}))

    def recorded() -> bool:
        node = cloud.kubectl_json("get", "node", NODE)
        return (node["metadata"].get("annotations", {}).get(STREAM_SERVER_ANNOTATION)
                == f"127.0.0.1:{cloud.stream_port}"
                and node["status"].get("daemonEndpoints", {}).get("kubeletEndpoint", {})
                .get("Port") == 10350)

    await eventually(lambda: asyncio.to_thread(recorded), 20, "the Node's stream record")


async def test_concurrent_upgraded_sessions_relay_raw_bytes(
        cloud: Cloud, edge: tuple[EdgeStream, FakeEdged]) -> None:
    async def one(i: int) -> bytes:
        reader, writer = await _open(
            cloud, "/exec/default/web/app?command=cat&input=1&output=1", method="POST",
            headers=(("Connection", "Upgrade"), ("Upgrade", "test")))
        try:
            status, _, _ = await asyncio.wait_for(read_response_head(reader), 10)
            assert status == 101
            payload = f"session {i} ".encode() * 2000
            writer.write(payload)
            return await asyncio.wait_for(reader.readexactly(len(payload)), 10)
        finally:
            writer.close()

    results = await asyncio.gather(*(one(i) for i in range(20)))
    assert results == [f"session {i} ".encode() * 2000 for i in range(20)]


async def test_no_tunnel_for_the_host_is_502_with_a_reason(
        cloud: Cloud, edge: tuple[EdgeStream, FakeEdged]) -> None:
    status, body = await _get(cloud, "/healthz", host="edge-nowhere:10350")
    assert status == 502
    assert b"edge-nowhere" in body


async def test_stream_server_refuses_clients_without_the_kubelet_client_cert(
        cloud: Cloud, edge: tuple[EdgeStream, FakeEdged], tmp_path: Path) -> None:
    from kubeedge.cloud.certs.authority import CertificateAuthority

    pki = cloud.root / "etc/kubeedge/pki"
    ca = CertificateAuthority.load(pki / "ca.crt", pki / "ca.key")
    bob = ca.issue_client_cert("bob", organizations=["developers"])
    bob.write(tmp_path / "bob.crt", tmp_path / "bob.key")
    status, body = await _get(cloud, "/healthz",
                              ctx=_client_context(cloud, tmp_path / "bob.crt",
                                                  tmp_path / "bob.key"))
    assert status == 403 and b"bob" in body

    # No client certificate at all: the TLS handshake is refused.
    no_cert = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        reader, writer = await _open(cloud, "/healthz", ctx=no_cert)
        try:
            await asyncio.wait_for(read_response_head(reader), 10)
        finally:
            writer.close()


async def test_forged_tunnel_clients_are_refused(cloud: Cloud, edge_root: Path,
                                                 tmp_path: Path) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidMessage, InvalidStatus

    from kubeedge.cloud.certs.authority import CertificateAuthority

    paths = EdgeCertPaths.for_root(edge_root)
    url = f"wss://{cloud.tunnel_server}{TUNNEL_PATH}"

    def context(cert: Path | None, key: Path | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(paths.ca))
        if cert is not None:
            ctx.load_cert_chain(str(cert), str(key))
        return ctx

    async def dial(ctx: ssl.SSLContext, node: str) -> None:
        ws = await connect(url, ssl=ctx, additional_headers={HEADER_HOSTNAME: node},
                           open_timeout=10)
        await ws.close()

    # Another edge's certificate: 403.
    with pytest.raises(InvalidStatus) as refused:
        await dial(context(paths.cert, paths.key), "edge-stream-other")
    assert refused.value.response.status_code == 403
    # No certificate, or one from another CA with the right name: the TLS handshake
    # fails (under TLS 1.3 the client learns it as the connection dropping before any
    # HTTP answer), never an HTTP response.
    other = CertificateAuthority.create("not-kubeedge")
    forged = other.issue_client_cert(f"system:node:{NODE}", ["system:nodes"])
    forged.write(tmp_path / "f.crt", tmp_path / "f.key")
    for ctx in (context(None, None), context(tmp_path / "f.crt", tmp_path / "f.key")):
        with pytest.raises((ssl.SSLError, OSError, InvalidMessage)):
            await dial(ctx, NODE)
    # And the real one is welcome (so the refusals above are about identity).
    await dial(context(paths.cert, paths.key), NODE)


async def test_a_killed_tunnel_ends_client_sessions_and_the_edge_comes_back(
        cloud: Cloud, edge: tuple[EdgeStream, FakeEdged]) -> None:
    stream, edged = edge
    sessions = []
    for _ in range(3):
        reader, writer = await _open(cloud, "/containerLogs/default/web/app?follow=true")
        status, _, _ = await asyncio.wait_for(read_response_head(reader), 10)
        assert status == 200
        assert await asyncio.wait_for(reader.readline(), 10) == b"line 1\n"
        sessions.append((reader, writer))
    # The edge dies without a close handshake (its socket just goes, as on SIGKILL).
    first = stream.tunnel
    ws = stream._ws
    assert ws is not None
    ws.transport.abort()
    for reader, writer in sessions:
        assert await asyncio.wait_for(_ended(reader), 5)
        writer.close()
    # The edge's local sessions were closed too.
    async with edged.gone:
        await asyncio.wait_for(edged.gone.wait_for(lambda: edged.log_clients_gone >= 3), 5)

    async def back() -> bool:
        return stream.connected.is_set() and stream.tunnel is not first

    await eventually(back, 20, "EdgeStream to dial again")
    assert (await _get(cloud, "/healthz"))[0] == 200


async def test_client_leaving_ends_the_edge_session(
        cloud: Cloud, edge: tuple[EdgeStream, FakeEdged]) -> None:
    stream, edged = edge
    before = edged.log_clients_gone
    reader, writer = await _open(cloud, "/containerLogs/default/web/app?follow=true")
    await asyncio.wait_for(read_response_head(reader), 10)
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    async with edged.gone:
        await asyncio.wait_for(
            edged.gone.wait_for(lambda: edged.log_clients_gone > before), 5)
    assert stream.tunnel is not None and not stream.tunnel.relays


def test_init_made_the_stream_certificates(cloud: Cloud) -> None:
    from cryptography import x509

    etc = cloud.root / "etc/kubeedge"
    assert (etc / "ca/streamCA.crt").read_bytes() == (etc / "pki/ca.crt").read_bytes()
    for key in (etc / "certs/stream.key", etc / "pki/apiserver-kubelet-client.key"):
        assert key.stat().st_mode & 0o777 == 0o600
    stream = x509.load_pem_x509_certificate((etc / "certs/stream.crt").read_bytes())
    sans = stream.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    client = x509.load_pem_x509_certificate(
        (etc / "pki/apiserver-kubelet-client.crt").read_bytes())
    assert client.subject.rfc4514_string() in (
        "CN=kube-apiserver-kubelet-client,O=system:masters",
        "O=system:masters,CN=kube-apiserver-kubelet-client")


def test_cloudcore_logged_no_errors(cloud: Cloud) -> None:
    # Last in this module: every session above ended without a traceback in cloudcore.
    log = (cloud.root / "var/log/kubeedge/cloudcore.log").read_text()
    assert "Traceback" not in log, log[-3000:]


async def test_the_edge_refuses_a_tunnel_server_not_of_its_cloud(
        edge_root: Path, tmp_path: Path) -> None:
    """An impostor tunnel server (a certificate from another CA, even for the right
    address) gets no tunnel: the edge checks the cloud against its rootCA.crt, so no
    session can be opened to its pods from elsewhere."""
    from websockets.asyncio.server import serve

    from kubeedge.cloud.certs.authority import CertificateAuthority

    other = CertificateAuthority.create("impostor")
    pair = other.issue_server_cert("cloudcore", ip_addresses=["127.0.0.1"])
    pair.write(tmp_path / "s.crt", tmp_path / "s.key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tmp_path / "s.crt"), str(tmp_path / "s.key"))
    reached = asyncio.Event()

    async def handler(ws: Any) -> None:
        reached.set()
        await ws.close()

    async with serve(handler, "127.0.0.1", 0, ssl=ctx) as server:
        port = server.sockets[0].getsockname()[1]
        config = EdgeStreamConfig(enable=True, server=f"127.0.0.1:{port}",
                                  reconnect_interval=0.1, handshake_timeout=5)
        stream = EdgeStream(config, node_name=NODE, internal_ip="10.99.0.1",
                            root=edge_root, local_port=lambda: 1)
        await stream.start()
        try:
            await eventually(lambda: "certificate verify failed" in stream.last_error, 10,
                             "EdgeStream to refuse the impostor's certificate")
            assert not stream.connected.is_set() and not reached.is_set()
        finally:
            await stream.stop()
