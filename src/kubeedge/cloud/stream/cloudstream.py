"""CloudStream (specs/kubeedge.md §9): the tunnel server edges dial and the stream server
the API server (ours, or kube-apiserver through KubeEdge's iptables route) sends
kubelet requests to, and the Node record that tells the API server where to go.

Tunnel server (`tunnelPort`, 10004, `/v1/kubeedge/connect`): TLS with cloudcore's
serving certificate from KubeEdge's CA (CloudHub's, or the `tlsTunnel*File` PEMs when
they exist), a client certificate from that CA required. Stricter than KubeEdge, which
trusts the `SessionHostNameOverride` header: the certificate's CN must be
`system:node:<SessionHostNameOverride>` (else 403), so an edge can never open a tunnel
for another edge's pods. A node's newer tunnel replaces its older one. Each tunnel is
pinged after `keepaliveInterval` of silence and dropped without a pong.

Stream server (`streamPort`, 10003): TLS with `tlsStreamCertFile`/`PrivateKeyFile`, a
client certificate required from `tlsStreamCAFile` (the cluster CA, `keadm init`), and
only the API server's kubelet client (CN `kube-apiserver-kubelet-client`) or
`system:masters` may use it (else 403). It reads the request head, picks the tunnel by
the Host header (a node name, else an internal IP; none → 502 with the reason), sends
a `*_CONNECT` frame (type by path) and relays raw bytes: the response, upgrades and all,
are edged's (issue 8 design). When the client or the tunnel goes, the other side is
closed at once.

Node record: while a node's tunnel is up here, its Node carries the annotation
`kubeedge.io/stream-server: <advertiseAddress>:<streamPort>` and
`status.daemonEndpoints.kubeletEndpoint.Port = commonConfig.tunnelPort` (KubeEdge's
updateNodeKubeletEndpoint, for the iptables route). A Node that appears after its
tunnel, or loses either value, is patched again from the Node informer's events.

Cloud only: aiohttp and the cloud's certificates (ARCHITECTURE.md rule 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from kubeedge.api.placement import EDGE_ROLE_LABEL
from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.cloud.certs.edge_ca import EdgeCertificates
from kubeedge.cloud.certs.server import node_identity, valid_node_name
from kubeedge.cloud.listen import start_site
from kubeedge.cloud.stream.sessions import (
    SessionIndex,
    TunnelSession,
    host_of,
    stream_client_refusal,
    stream_server_address,
    subject_of,
)
from kubeedge.config.cloudcore import CloudCoreConfig
from kubeedge.streaming.http import BadRequest, plain_response, read_request_head
from kubeedge.streaming.tunnel import (
    CONNECT_KINDS,
    HEADER_HOSTNAME,
    HEADER_INTERNAL_IP,
    KIND_NAMES,
    MAX_FRAME_BYTES,
    STREAM_SERVER_ANNOTATION,
    TUNNEL_PATH,
    ConnectRequest,
    FrameError,
    Tunnel,
    connect_kind,
    header_map,
)

if TYPE_CHECKING:
    from kubeedge.client.informer import SharedInformerFactory

log = logging.getLogger(__name__)

__all__ = ["CloudStream"]

NODES = Resource.of("v1", "nodes")
# The kubelet address KubeEdge's connect messages name (edged's read-only server); the
# edge connects to its own configured port whatever this says.
EDGED_HOST = "127.0.0.1:10350"
# Headers the stream server does not forward: Host is the edge's own (Go's http.Header
# never holds it).
_NOT_FORWARDED = frozenset({"host"})
CLOSE_TIMEOUT = 5.0


class CloudStream:
    """The cloudcore module: `await start()` listens (`tunnel_port`, `stream_port` are
    the bound ports), `await stop()` closes every tunnel and session."""

    def __init__(self, client: APIClient, config: CloudCoreConfig,
                 certs: EdgeCertificates | None, *,
                 informers: SharedInformerFactory | None = None) -> None:
        self.client = client
        self.config = config
        self.settings = config.modules.cloud_stream
        self.certs = certs
        self.informers = informers
        self.index = SessionIndex()
        self.tunnel_port = self.settings.tunnel_port
        self.stream_port = self.settings.stream_port
        advertise = config.modules.cloud_hub.advertise_address
        self.advertise = advertise[0] if advertise else "127.0.0.1"
        self.kubelet_port = config.common_config.tunnel_port
        self._ids = itertools.count(1)
        self._runner: web.ServerRunner | None = None
        self._stream_server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[Any]] = set()
        self._records: dict[str, asyncio.Task[None]] = {}
        self._registration: Any = None
        self._nodes: Any = None

    @property
    def stream_address(self) -> str:
        return stream_server_address(self.advertise, self.stream_port)

    # -- lifecycle --

    async def start(self) -> None:
        tunnel_ctx = self.tunnel_ssl_context()
        stream_ctx = self.stream_ssl_context(tunnel_ctx)
        address = self.settings.address
        server = web.Server(self._tunnel, access_log=None, handler_cancellation=True)
        runner = web.ServerRunner(server, handle_signals=False)
        try:
            self.tunnel_port = await start_site(runner, address, self.tunnel_port,
                                                ssl_context=tunnel_ctx)
            self._runner = runner
            self._stream_server = await asyncio.start_server(
                self._stream_client, address, self.stream_port, ssl=stream_ctx,
                reuse_address=True)
            self.stream_port = int(self._stream_server.sockets[0].getsockname()[1])
        except BaseException:
            await self.stop()
            raise
        if self.informers is not None:
            self._nodes = self.informers.informer(NODES, label_selector=EDGE_ROLE_LABEL)
            self._registration = self._nodes.add_event_handler(
                self._on_node, lambda _old, new: self._on_node(new), None)
            self._nodes.start()
        log.info("cloudstream: tunnel server on %s:%d, stream server on %s:%d (edges' "
                 "Nodes annotated %s=%s)", address, self.tunnel_port, address,
                 self.stream_port, STREAM_SERVER_ANNOTATION, self.stream_address)

    async def stop(self) -> None:
        if self._nodes is not None and self._registration is not None:
            self._nodes.remove_event_handler(self._registration)
            self._registration = None
        for session in list(self.index.by_name.values()):
            self.index.remove(session)
            session.tunnel.close()
        server, self._stream_server = self._stream_server, None
        if server is not None:
            server.close()
        tasks = [*self._clients, *self._records.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT)

    # -- TLS --

    def _file(self, relative: str) -> Path | None:
        path = self.config.path(relative) if relative else None
        return path if path is not None and path.exists() else None

    def tunnel_ssl_context(self) -> ssl.SSLContext:
        """KubeEdge's tunnel TLS: the `tlsTunnel*File` PEMs when present, else CloudHub's
        CA and serving certificate; a client certificate from the CA required."""
        s = self.settings
        ca, cert, key = (self._file(s.tls_tunnel_ca_file), self._file(s.tls_tunnel_cert_file),
                         self._file(s.tls_tunnel_private_key_file))
        if cert is not None and key is not None and ca is not None:
            return _server_context(cert, key, cafile=ca)
        if self.certs is None:
            raise RuntimeError("cloudstream: no tunnel certificate: neither "
                               f"{s.tls_tunnel_cert_file} nor CloudHub's certificates")
        ctx = self.certs.server_ssl_context(ssl.CERT_REQUIRED)
        if ca is not None:
            ctx.load_verify_locations(cafile=str(ca))
        return ctx

    def stream_ssl_context(self, tunnel: ssl.SSLContext) -> ssl.SSLContext:
        """`tlsStreamCertFile`/`PrivateKeyFile` verified clients from `tlsStreamCAFile`;
        without them (a cloud not set up by `keadm init`) the tunnel's context,
        `tunnel`, as KubeEdge falls back to CloudHub's (spec §4 "Stream")."""
        s = self.settings
        ca, cert, key = (self._file(s.tls_stream_ca_file), self._file(s.tls_stream_cert_file),
                         self._file(s.tls_stream_private_key_file))
        if cert is not None and key is not None and ca is not None:
            return _server_context(cert, key, cafile=ca)
        log.warning("cloudstream: %s, %s or %s is missing; the stream server uses the tunnel's "
                    "certificates (KubeEdge's CA)", s.tls_stream_ca_file,
                    s.tls_stream_cert_file, s.tls_stream_private_key_file)
        return tunnel

    # -- the tunnel server --

    async def _tunnel(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path.rstrip("/") != TUNNEL_PATH:
            return web.Response(status=404, text=f"the tunnel is at {TUNNEL_PATH}\n")
        if request.method != "GET" or request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(status=400, text="the tunnel server serves only WebSocket "
                                "upgrades\n")
        node = request.headers.get(HEADER_HOSTNAME, "").strip()
        if not valid_node_name(node):
            return web.Response(status=400, text=f"{HEADER_HOSTNAME} {node!r} is not a "
                                "node name (a lower-case RFC 1123 subdomain)\n")
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport \
            else None
        peer = ssl_object.getpeercert() if ssl_object is not None else None
        common_name, _ = subject_of(peer)
        if common_name != node_identity(node):
            log.warning("cloudstream: refused a tunnel for node %s from %s: certificate CN "
                        "%r", node, request.remote, common_name)
            return web.Response(status=403, text=f"the client certificate ({common_name!r}) "
                                f"is not node {node!r}'s ({node_identity(node)!r})\n")
        internal_ip = request.headers.get(HEADER_INTERNAL_IP, "").strip() or (
            request.remote or "")
        ws = web.WebSocketResponse(heartbeat=self.settings.keepalive_interval,
                                   compress=False, max_msg_size=MAX_FRAME_BYTES,
                                   autoping=True, decode_text=False, timeout=CLOSE_TIMEOUT)
        try:
            await ws.prepare(request)
        except ConnectionError as exc:
            log.info("cloudstream: node %s left during the upgrade: %s", node, exc)
            return ws
        tunnel = Tunnel(ws.send_bytes, name=node,
                        stall_timeout=self.settings.session_stall_timeout)
        session = TunnelSession(node, internal_ip, tunnel, close=ws.close)
        old = self.index.add(session)
        if old is not None:
            log.info("cloudstream: node %s dialled again; its older tunnel is closed", node)
            old.tunnel.close()
            if old.close is not None:
                asyncio.get_running_loop().create_task(old.close())
        log.info("cloudstream: tunnel from node %s (%s) is up", node, internal_ip)
        self._record(node)
        try:
            while True:
                msg = await ws.receive()
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    break
                data = msg.data if isinstance(msg.data, bytes) else str(msg.data).encode()
                try:
                    frame = await tunnel.deliver(data)
                except FrameError as exc:
                    log.warning("cloudstream: node %s sent a bad frame: %s", node, exc)
                    continue
                if frame is not None:
                    kind = frame[1]
                    log.warning("cloudstream: node %s sent an unexpected %s frame", node,
                                KIND_NAMES[kind] if kind not in CONNECT_KINDS else "connect")
        finally:
            # Every client of this edge ends now (issue 8: a killed edge ends every
            # session within seconds).
            tunnel.close()
            if self.index.remove(session):
                log.info("cloudstream: tunnel from node %s closed (%d sessions ended)", node,
                         len(tunnel.relays))
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    def metric_families(self) -> list[Any]:
        """CloudStream's figures for cloudcore's /metrics (monitoring.py)."""
        from kubeedge.monitoring import gauge

        sessions = gauge("cloudstream_sessions", "kubectl logs/exec/attach/port-forward "
                         "sessions open on a node's tunnel.")
        for node, session in sorted(self.index.by_name.items()):
            sessions.add(len(session.tunnel.relays), node=node)
        return [gauge("cloudstream_tunnels", "Edge tunnels connected to this cloudcore.",
                      len(self.index)),
                sessions,
                gauge("cloudstream_clients", "Stream-server clients being served.",
                      len(self._clients))]

    # -- the stream server --

    async def _stream_client(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            await self._serve_client(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            if not writer.transport.is_closing():
                writer.transport.abort()

    async def _serve_client(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        try:
            head = await read_request_head(reader)
        except BadRequest as exc:
            await _reply(writer, 400, str(exc))
            return
        ssl_object = writer.get_extra_info("ssl_object")
        why = stream_client_refusal(ssl_object.getpeercert() if ssl_object else None)
        if why:
            await _reply(writer, 403, why)
            return
        host = head.header("Host") or ""
        session = self.index.lookup(host)
        if session is None:
            await _reply(writer, 502, f"no tunnel from edge node {host_of(host)!r} to this "
                         "cloudcore: its edgecore is not running, or runs without "
                         "modules.edgeStream")
            return
        connect_id = next(self._ids)
        request = ConnectRequest(connect_id, head.method, head.target,
                                 header_map(head.headers, skip=_NOT_FORWARDED), EDGED_HOST)
        relay = session.tunnel.open(connect_id)
        try:
            await session.tunnel.send(connect_id, connect_kind(head.path), request.encode())
        except (ConnectionError, OSError) as exc:
            session.tunnel.forget(relay)
            await _reply(writer, 502, f"the tunnel from edge node {session.node} failed: "
                         f"{exc}")
            return
        await relay.run(reader, writer)

    # -- the Node record --

    def _wanted(self, node: dict[str, Any]) -> bool:
        meta = node.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        port = (((node.get("status") or {}).get("daemonEndpoints") or {})
                .get("kubeletEndpoint") or {}).get("Port")
        return (annotations.get(STREAM_SERVER_ANNOTATION) != self.stream_address
                or port != self.kubelet_port)

    def _on_node(self, node: dict[str, Any]) -> None:
        name = (node.get("metadata") or {}).get("name", "")
        if name in self.index.by_name and self._wanted(node):
            self._record(name)

    def _record(self, node: str) -> None:
        running = self._records.get(node)
        if running is not None and not running.done():
            return
        self._records[node] = asyncio.get_running_loop().create_task(
            self._patch_node(node), name=f"cloudstream record {node}")

    async def _patch_node(self, node: str) -> None:
        try:
            await self.client.patch(NODES, node, {"metadata": {"annotations": {
                STREAM_SERVER_ANNOTATION: self.stream_address}}})
            await self.client.patch(NODES, node, {"status": {"daemonEndpoints": {
                "kubeletEndpoint": {"Port": self.kubelet_port}}}}, subresource="status")
        except APIError as exc:
            if exc.is_not_found:
                # Registered later: the informer's add event records it then.
                log.info("cloudstream: node %s has no Node yet; recorded when it appears",
                         node)
            else:
                log.warning("cloudstream: recording the stream server on node %s failed: "
                            "%s", node, exc)
        except Exception as exc:  # the API unreachable: the next Node event tries again
            log.warning("cloudstream: recording the stream server on node %s failed: %s",
                        node, exc)
        else:
            log.info("cloudstream: node %s: %s=%s, kubelet port %d", node,
                     STREAM_SERVER_ANNOTATION, self.stream_address, self.kubelet_port)
        finally:
            self._records.pop(node, None)


def _server_context(cert: Path, key: Path, *, cafile: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(cafile))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


async def _reply(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    """A plain-text answer that ends the connection (kubelet's error style)."""
    log.info("cloudstream: stream request answered %d: %s", status, text)
    writer.write(plain_response(status, text + "\n"))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.drain(), CLOSE_TIMEOUT)
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
