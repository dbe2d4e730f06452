"""CloudHub's WebSocket server on :10000 and its routing between edges and the bus.

Owns (specs/kubeedge.md §3): the TLS listener (TLS 1.2+, KubeEdge's ECDSA suites, a
client certificate required and verified against KubeEdge's CA), the handshake (headers
`node_id`/`project_id`, the certificate's CN `system:node:<node_id>` under
`cloudHub.authorization`, `nodeLimit`), reading frames from each edge and routing them
to the cloud modules (KubeEdge's `DispatchUpstream`/`PubToController`), and taking the
cloud modules' messages from the bus module `cloudhub` into the node queues
(`DispatchDownstream`). Sessions, queues and ACKs are `session.py`'s and `pool.py`'s.
Never imported by the edge (ARCHITECTURE.md rule 9).

Refusals happen before the WebSocket upgrade, so the edge sees why: no certificate or
one from another CA fails the TLS handshake; then plain-text HTTP 400 (no or bad
`node_id`), 403 (certificate of another node), 503 (`nodeLimit` reached).

Memory per connection (ARCHITECTURE.md rule 9 footnote): asyncio allocates a TLS read
buffer of `SSLProtocol.max_size` (256 KiB) for every TLS connection; `start` lowers it to
`TLS_READ_BUFFER` for the whole process, and WebSocket compression is off (zlib state
costs hundreds of KiB per connection; KubeEdge's gorilla peers do not offer it anyway).
Measured with `tests/unit/cloud/hub/memory_probe.py`, 500 idle mTLS edges: about 310 KiB
per connection with asyncio's default, 70 KiB with 16 KiB, 62 KiB with 8 KiB, 58 KiB
with 4 KiB; the rest is OpenSSL's session state and aiohttp's objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from asyncio import sslproto
from typing import Any

from aiohttp import WSMsgType, web

from kubeedge.client.clock import Clock
from kubeedge.cloud.certs.edge_ca import EdgeCertificates
from kubeedge.cloud.certs.server import node_identity, valid_node_name
from kubeedge.cloud.hub import protocol
from kubeedge.cloud.hub.pool import Enqueued, is_node_stopped, is_to_edge, needs_ack
from kubeedge.cloud.hub.session import HubMetrics, HubTimings, NodeSession, SessionManager
from kubeedge.cloud.listen import start_site
from kubeedge.messaging.bus import BusError, ModuleBus, ModuleClosedError
from kubeedge.messaging.codec import MessageDecodeError, decode_message
from kubeedge.messaging.message import (
    GROUP_USER,
    OP_ERROR,
    OP_KEEPALIVE,
    OP_RESPONSE,
    OP_UPLOAD,
    Message,
)
from kubeedge.messaging.resource import (
    RESOURCE_LEASE,
    RESOURCE_NODE,
    RESOURCE_NODEPATCH,
    RESOURCE_NODESTATUS,
    ResourceError,
    add_node_prefix,
    node_id_of,
)
from kubeedge.monitoring import Family, counter, gauge, summary

log = logging.getLogger(__name__)

__all__ = ["CloudHub", "HandshakeRefused", "upstream_scope_error"]

# Edges send small messages (status, leases, ACKs); a larger one is read in a few passes.
TLS_READ_BUFFER = 8 * 1024
# KubeEdge caps a QUIC frame at 32 MiB; a WebSocket message may be as large.
MAX_MESSAGE_BYTES = 32 << 20
# How long a close handshake may take before the connection is dropped.
CLOSE_TIMEOUT = 5.0
# Go's tls.Config CipherSuites in KubeEdge's createTLSConfig (TLS 1.2; 1.3 uses its own).
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
           "ECDHE-ECDSA-CHACHA20-POLY1305")
# Edge resource types that name a node: an edge may only send its own (spec §2).
_NODE_SCOPED_TYPES = frozenset({RESOURCE_NODE, RESOURCE_NODESTATUS, RESOURCE_NODEPATCH,
                                RESOURCE_LEASE})


def limit_tls_read_buffer(size: int | None = None) -> None:
    """Lower asyncio's per-connection TLS read buffer for this process (never raises it).

    A process-wide class attribute: every TLS connection opened afterwards, cloudcore's
    API client's included, allocates `size` instead of 256 KiB; it bounds how much one
    read pass takes from the socket, not how large a message may be.
    """
    size = TLS_READ_BUFFER if size is None else size
    if sslproto.SSLProtocol.max_size > size:
        sslproto.SSLProtocol.max_size = size


class HandshakeRefused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason  # metrics label
        self.message = message


def upstream_scope_error(node: str, resource: str) -> str:
    """Why an edge of `node` may not send a message on `resource`, or "" if it may.

    An edge speaks only for itself: a `node/<other>/...` resource, or a node, node
    status, node patch or lease object of another node, is refused.
    """
    parts = resource.split("/")
    if parts[0] == RESOURCE_NODE and len(parts) >= 2 and parts[1] and parts[1] != node:
        return f"resource {resource!r} names node {parts[1]!r}"
    if len(parts) == 3 and parts[1] in _NODE_SCOPED_TYPES and parts[2] != node:
        return f"resource {resource!r} is the {parts[1]} of node {parts[2]!r}"
    return ""


class _WSConnection:
    """`session.Connection` over aiohttp's WebSocketResponse: text frames, as gorilla's
    WriteJSON sends them (spec §2 "Wire encoding")."""

    __slots__ = ("_closing", "ws")

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._closing: asyncio.Task[Any] | None = None

    async def send(self, data: bytes) -> None:
        if self.ws.closed:
            raise ConnectionError("the WebSocket is closed")
        await self.ws.send_frame(data, WSMsgType.TEXT)

    def close(self, code: int, reason: str) -> None:
        if self._closing is None and not self.ws.closed:
            self._closing = asyncio.get_running_loop().create_task(
                self.ws.close(code=code, message=reason.encode()[:120]))


class CloudHub:
    """The cloudcore module: `await start()` serves, `await stop()` closes every session.

    `bus` is the process's ModuleBus; CloudHub registers module `cloudhub` (group
    `cloudhub`) on it unless it is there. `config` is `modules.cloudHub`; `certs` come
    from `EdgeCertificates.load_or_create` (CertModule's `certs`). `host`/`port` default
    to `websocket.address`/`websocket.port`; port 0 picks a free one (see `port`).
    """

    def __init__(self, bus: ModuleBus, config: Any, certs: EdgeCertificates, *,
                 clock: Clock | None = None, timings: HubTimings | None = None,
                 host: str | None = None, port: int | None = None) -> None:
        self.bus = bus
        self.config = config
        self.certs = certs
        self.timings = timings or HubTimings.from_cloudhub(config)
        self.metrics = HubMetrics()
        self.manager = SessionManager(self.timings, clock=clock, metrics=self.metrics)
        self.authorize = bool(config.authorization.enable)
        self.authorize_debug = bool(config.authorization.debug)
        self.host = config.websocket.address if host is None else host
        self.port = config.websocket.port if port is None else port
        self._runner: web.ServerRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: set[asyncio.Task[Any]] = set()

    # -- lifecycle --

    async def start(self) -> int:
        """Listen and start routing; returns the port."""
        if protocol.MODULE not in self.bus.modules():
            self.bus.add_module(protocol.MODULE, protocol.GROUP)
        limit_tls_read_buffer()
        server = web.Server(self._handle, access_log=None, handler_cancellation=True)
        runner = web.ServerRunner(server, handle_signals=False)
        self.port = await start_site(runner, self.host, self.port,
                                     ssl_context=self.ssl_context(), backlog=1024)
        self._runner = runner
        self.manager.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._downstream(), name="cloudhub-downstream"),
                       loop.create_task(self._forward_outbox(), name="cloudhub-outbox")]
        log.info("cloudhub listening on wss://%s:%d (nodeLimit %d)", self.host, self.port,
                 self.timings.node_limit)
        return self.port

    async def stop(self) -> None:
        await self.manager.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def metric_families(self) -> list[Family]:
        """CloudHub's figures for cloudcore's /metrics (monitoring.py): connections,
        per-node queue depths, sends, resends, ACKs and their latency."""
        m = self.metrics
        depth = gauge("cloudhub_node_queue_depth",
                      "Messages queued for an edge node, by kind (ack: reliable, noack).")
        for node, (ack, noack) in sorted(self.manager.queue_depths().items()):
            depth.add(ack, node=node, kind="ack").add(noack, node=node, kind="noack")
        refused = counter("cloudhub_connections_refused_total",
                          "Edge connections refused, by reason.")
        for reason, count in sorted(m.refused.items()):
            refused.add(count, reason=reason)
        return [
            gauge("cloudhub_connected_edges", "Edge nodes with an open session.",
                  self.manager.connected),
            counter("cloudhub_connects_total", "Edge sessions opened.", m.connects),
            counter("cloudhub_disconnects_total", "Edge sessions ended.", m.disconnects),
            counter("cloudhub_keepalive_timeouts_total",
                    "Sessions dropped for a missed keepalive.", m.keepalive_timeouts),
            refused, depth,
            counter("cloudhub_messages_sent_total", "Frames written to edges, resends "
                    "included.", m.messages_sent),
            counter("cloudhub_messages_received_total", "Frames received from edges.",
                    m.messages_received),
            counter("cloudhub_message_resends_total",
                    "Reliable messages written again for want of an ACK.", m.resends),
            counter("cloudhub_message_give_ups_total", "Reliable messages that ran out "
                    "of resends and went back to their queue.", m.gave_up),
            counter("cloudhub_messages_dropped_total", "Messages not delivered (queue "
                    "full, node absent).", m.dropped),
            summary("cloudhub_ack_latency_seconds", "From a reliable message's first "
                    "write to its ACK.", m.acks, m.ack_latency_sum),
        ]

    def ssl_context(self) -> ssl.SSLContext:
        """KubeEdge's createTLSConfig: RequireAndVerifyClientCert against its CA."""
        ctx = self.certs.server_ssl_context(ssl.CERT_REQUIRED, CIPHERS)
        # No TLS 1.3 session tickets: edges never resume (each dial is a full handshake
        # with the client certificate), and issuing two per handshake is about 30 % of
        # the server's handshake CPU, which is what bounds a reconnect storm
        # (docs/benchmarks.md, CloudHub).
        ctx.num_tickets = 0
        return ctx

    # -- the handshake --

    def admit(self, headers: Any, peer_cert: dict[str, Any] | None) -> tuple[str, str]:
        """Check a connection's headers and certificate; returns (node, project).

        Raises HandshakeRefused with the HTTP status and text the edge gets.
        """
        node = (headers.get(protocol.HEADER_NODE_ID) or "").strip()
        project = (headers.get(protocol.HEADER_PROJECT_ID) or "").strip()
        if not node:
            raise HandshakeRefused(400, "no-node-id",
                                   f"the {protocol.HEADER_NODE_ID} header is required")
        if not valid_node_name(node):
            raise HandshakeRefused(400, "bad-node-id", f"{protocol.HEADER_NODE_ID} {node!r} "
                                   "is not a valid node name (a lower-case RFC 1123 subdomain)")
        if not peer_cert:
            raise HandshakeRefused(401, "no-certificate",
                                   f"node {node!r}: no client certificate provided")
        if self.authorize:
            common_name = _common_name(peer_cert)
            if common_name != node_identity(node):
                text = (f"node {node!r}: common name of peer certificate ({common_name!r}) "
                        f"didn't match node ID (expected {node_identity(node)!r})")
                if not self.authorize_debug:
                    raise HandshakeRefused(403, "identity", text)
                log.warning("%s (authorization debug: allowed)", text)
        if not self.manager.can_accept(node):
            raise HandshakeRefused(503, "node-limit", f"fail to serve node {node}, reach node "
                                   f"limit ({self.timings.node_limit})")
        return node, project or protocol.DEFAULT_PROJECT_ID

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport \
            else None
        peer = ssl_object.getpeercert() if ssl_object is not None else None
        try:
            if request.method != "GET" or request.headers.get("Upgrade", "").lower() \
                    != "websocket":
                raise HandshakeRefused(400, "not-websocket",
                                       "cloudhub serves only WebSocket upgrades")
            node, project = self.admit(request.headers, peer)
            # The decoded certificate is not needed any more; held by this frame it
            # would stay alive (about 2.5 KiB) for the whole session.
            peer = None
        except HandshakeRefused as refused:
            self.metrics.refuse(refused.reason)
            log.warning("refused an edge connection from %s: %s", request.remote,
                        refused.message)
            return web.Response(status=refused.status, text=refused.message)
        ws = web.WebSocketResponse(timeout=CLOSE_TIMEOUT, autoping=True, heartbeat=None,
                                   compress=False, max_msg_size=MAX_MESSAGE_BYTES,
                                   decode_text=False)
        with self.manager.reservation():
            try:
                await ws.prepare(request)
            except ConnectionError as exc:  # aiohttp.ClientConnectionResetError too
                # The edge gave up during the upgrade (its handshake timeout, in a
                # reconnect storm): nothing to serve, and no traceback per edge.
                log.info("edge node %s left during the WebSocket upgrade: %s", node, exc)
                return ws
        if not self.manager.can_accept(node):  # others finished their handshakes first
            self.metrics.refuse("node-limit")
            await ws.close(code=1013, message=b"reach node limit")
            return ws
        session = self.manager.open(node, project, _WSConnection(ws))
        try:
            await self._read(session, ws)
        finally:
            self.manager.terminate(session, 1000, protocol.REASON_CLOSED_BY_EDGE)
        return ws

    async def _read(self, session: NodeSession, ws: web.WebSocketResponse) -> None:
        while not session.closed:
            frame = await ws.receive()
            if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                session.touch()
                self.metrics.messages_received += 1
                await self.upstream(session, frame.data)
            elif frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                WSMsgType.ERROR):
                return

    # -- upstream: edge -> cloud modules (DispatchUpstream) --

    async def upstream(self, session: NodeSession, data: bytes | str) -> None:
        node = session.node
        try:
            msg = decode_message(data)
        except MessageDecodeError as exc:
            self.metrics.invalid_frames += 1
            log.warning("node %s sent a frame that is not a message: %s", node, exc)
            return
        operation = msg.route.operation
        if operation == OP_KEEPALIVE:
            return
        if operation in (OP_RESPONSE, OP_ERROR):
            parent = msg.header.parent_msg_id
            if operation == OP_RESPONSE and session.on_ack(parent):
                return
            if parent and self.bus.is_waiting_for(parent):
                # A reply to a cloud module's send_sync to this edge.
                if msg.route.resource:
                    msg.route.resource = add_node_prefix(node, msg.route.resource)
                self.bus.send_resp(msg)
                return
            if operation == OP_ERROR:
                log.warning("node %s answered message %s with an error: %s", node, parent,
                            str(msg.content)[:200])
            else:
                log.debug("node %s: response to %s, which is not awaited", node, parent)
            return
        why = upstream_scope_error(node, msg.route.resource)
        if not why and msg.route.source in protocol.CLOUD_MODULE_SOURCES:
            why = f"source {msg.route.source!r} is a cloud module"
        if why:
            self.metrics.rejected_upstream += 1
            log.warning("node %s: refused message %s: %s", node, msg.header.msg_id, why)
            return
        msg.route.resource = add_node_prefix(node, msg.route.resource)
        await self._publish(msg)

    async def _publish(self, msg: Message) -> None:
        """KubeEdge's Publish: by source or operation to the module that handles it."""
        route = msg.route
        if route.operation == OP_UPLOAD and route.group == GROUP_USER:
            groups: tuple[str, ...] = (protocol.MODULE_ROUTER,)
        elif route.operation in protocol.TASK_OPERATIONS:
            groups = (protocol.GROUP_TASKMANAGER,)
        elif route.source == protocol.SOURCE_METASERVER:
            groups = (protocol.GROUP_DYNAMICCONTROLLER,)
        elif route.source == protocol.SOURCE_TWIN:
            groups = (protocol.GROUP_DEVICECONTROLLER,)
        else:
            groups = (protocol.GROUP_EDGECONTROLLER,)
        await self._send_groups(groups, msg)

    async def _send_groups(self, groups: tuple[str, ...], msg: Message) -> None:
        for group in groups:
            try:
                if await self.bus.send_to_group(group, msg) == 0:
                    log.debug("no module in group %s for %s", group, msg)
            except BusError as exc:
                log.warning("cannot pass %s to group %s: %s", msg, group, exc)

    # -- downstream: cloud modules -> node queues (DispatchDownstream) --

    async def _downstream(self) -> None:
        while True:
            try:
                msg = await self.bus.receive(protocol.MODULE)
            except ModuleClosedError:
                return
            try:
                self.dispatch(msg)
            except Exception:
                log.exception("cannot dispatch %s", msg)

    def dispatch(self, msg: Message) -> Enqueued | None:
        """Queue a cloud message for its node (resource `node/<node>/...`)."""
        try:
            node = node_id_of(msg.route.resource)
        except ResourceError:
            log.warning("no node in the resource of %s; dropped", msg)
            return None
        if not is_to_edge(msg):
            return None
        session = self.manager.sessions.get(node)
        if needs_ack(msg):
            outcome = self.manager.pool(node).add_ack(msg)
            if outcome is Enqueued.FULL:
                self.metrics.dropped += 1
                log.warning("node %s: ack queue full (%d); %s left to SyncController",
                            node, self.timings.queue_size, msg.route.resource)
                self.manager.report(protocol.OP_OBJECT_DROPPED, node, msg)
            elif outcome is Enqueued.NO_RESOURCE_VERSION:
                self.metrics.dropped += 1
                log.warning("node %s: %s needs an ACK but has no resourceVersion; dropped",
                            node, msg)
        elif session is None:
            if is_node_stopped(msg):
                self.manager.forget_node(node)
            # Fire-and-forget replies for an edge that is not here: it asks again.
            self.metrics.dropped += 1
            return Enqueued.STALE
        else:
            outcome = session.pool.add_noack(msg)
            if outcome is Enqueued.REPLACED_OLDEST:
                self.metrics.dropped += 1
        if session is not None:
            session.wake()
        return outcome

    async def _forward_outbox(self) -> None:
        while True:
            groups, msg = await self.manager.outbox.get()
            await self._send_groups(groups, msg)


def _common_name(peer_cert: dict[str, Any]) -> str:
    """CN of a verified peer certificate as `SSLSocket.getpeercert()` gives it."""
    for rdn in peer_cert.get("subject", ()):
        for attr, value in rdn:
            if attr == "commonName":
                return str(value)
    return ""
