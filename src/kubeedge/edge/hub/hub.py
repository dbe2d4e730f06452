"""EdgeHub: the edge's one connection to CloudHub (beehive module `websocket`, group `hub`).

Owns, as KubeEdge's edge/pkg/edgehub does (specs/kubeedge.md §1, §3, §6):
- the certificate at start and its rotation (`certificates.CertificateManager`, §4);
- the session: dial with `connectRetries` tries `connectRetryInterval` apart, then wait
  `reconnectInterval` (KubeEdge: 2 x heartbeat) and dial again, forever; a keepalive
  (`resource`/`node`/`keepalive`, content "ping") every `heartbeat`; a read deadline;
- downstream: every frame decoded and dispatched by group as KubeEdge's message
  handlers do (`resource`/`func` to group `meta`, or to the waiting `send_sync` when it
  is a reply; `twin` to group twin; `user` by source to eventbus/servicebus;
  `taskmanager` to taskmanager);
- upstream: whatever edge modules send to module `websocket` goes to the cloud, rate
  limited by `messageQPS`/`messageBurst`; a request (`send_sync`) written on a session
  that ends before the cloud answered gets an `error` reply then (its answer could only
  have come on that session), so its sender retries on the next one rather than waiting
  out its timeout (ours; KubeEdge's senders wait for the timeout);
- the `node/connection` `connect` event (`cloud_connected`/`cloud_disconnected`) to
  groups twin, meta, bus and taskmanager after every connect and disconnect; `connected`
  is cleared as soon as a session is found broken, before the close handshake (which
  on a dead link can only time out, after `readDeadline`).

What is ours, on purpose (ARCHITECTURE.md rules 4-5): an object change the cloud sends
(group `resource`, insert/update/patch/delete of `<ns>/<type>/<name>`, any type but
`event`) is written to the edge database here, through `MetaStore.apply_update` /
`apply_delete` (newest resourceVersion wins; a delete needs the stored uid to match when
it carries no version), and the ACK (a `response` "OK" with `parent_msg_id` = the
message's id, KubeEdge's `NewRespByMessage`) leaves only after that write committed. An
apply that answers False (an equal or newer state is already durable: a resend) is
acknowledged too. A write that fails is not acknowledged: the cloud resends (§3 "ACK").
Messages are then handed to the edge modules in the order they arrived; MetaManager
gets them already stored and acknowledged. KubeEdge's MetaManager writes and ACKs them
itself; doing it here keeps "in the database before the ACK" in one place.

Must never import aiohttp, `cryptography` at import time, or anything from cloud/,
apiserver/, store/, controllers/ or scheduler/ (rule 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from kubeedge.client.clock import Clock, RealClock
from kubeedge.client.ratelimit import TokenBucket
from kubeedge.config.checks import under_root
from kubeedge.config.edgecore import EdgeCoreConfig
from kubeedge.edge.certs import EdgeCertPaths
from kubeedge.edge.hub.certificates import (
    BOOTSTRAP_TOKEN_FILE,
    CertificateManager,
    RotationBackoff,
)
from kubeedge.edge.hub.transport import (
    CONNECTION_USE_MESSAGE,
    HEADER_CONNECTION_USE,
    HEADER_NODE_ID,
    HEADER_PROJECT_ID,
    Connection,
    ConnectionLost,
    DialError,
    DialSettings,
    Transport,
)
from kubeedge.edge.metamanager.store import parse_resource_version
from kubeedge.messaging.bus import BusError, ModuleBus
from kubeedge.messaging.codec import (
    MessageDecodeError,
    MessageEncodeError,
    decode_message,
    encode_message,
)
from kubeedge.messaging.message import (
    CLOUD_CONNECTED,
    CLOUD_DISCONNECTED,
    CONNECT_EVENT_GROUPS,
    GROUP_FUNC,
    GROUP_HUB,
    GROUP_META,
    GROUP_RESOURCE,
    GROUP_TASKMANAGER,
    GROUP_TWIN,
    GROUP_USER,
    MESSAGE_OK,
    MODULE_EDGEHUB,
    MODULE_EVENTBUS,
    MODULE_SERVICEBUS,
    MODULE_TASKMANAGER,
    OP_CONNECT,
    OP_DELETE,
    OP_INSERT,
    OP_KEEPALIVE,
    OP_PATCH,
    OP_UPDATE,
    SOURCE_EDGEHUB,
    SOURCE_ROUTER_EVENTBUS,
    SOURCE_ROUTER_SERVICEBUS,
    Message,
    build_message,
    new_error_message,
    new_respond_message,
)
from kubeedge.messaging.resource import RESOURCE_EVENT, RESOURCE_NODE, RESOURCE_NODE_CONNECTION
from kubeedge.monitoring import Family, counter, gauge

__all__ = ["EdgeHub", "EdgeStore", "HubSettings", "keepalive_message"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# The keepalive KubeEdge's edgehub sends (process.go keepalive): source `websocket`,
# group `resource`, resource `node`, operation `keepalive`, content "ping" (spec §2-3).
KEEPALIVE_CONTENT = "ping"
# Operations of a cloud message that change a stored object (MetaManager's
# handleMessage, spec §6); their ACK is owed after the commit.
_WRITE_OPS = frozenset({OP_INSERT, OP_UPDATE, OP_PATCH, OP_DELETE})
# Messages decoded but not yet acknowledged and handed on; bounds memory and gives the
# cloud back-pressure while still letting writes group-commit.
PIPELINE_DEPTH = 256
# Fault injection for tests/integration/test_channel_reliability.py, off unless the
# environment names it: with `KUBEEDGE_FAULT_KILL_BEFORE_ACK=N[:PREFIX]`, the process
# SIGKILLs itself once its Nth downstream write (of a key starting with PREFIX) has
# committed, before that write's ACK is sent: "kill -9 between receiving and
# acknowledging" at a known point.
FAULT_KILL_BEFORE_ACK = "KUBEEDGE_FAULT_KILL_BEFORE_ACK"


class EdgeStore(Protocol):
    """What EdgeHub needs of the edge database (`MetaStore` fits)."""

    async def apply_update(self, key: str, type: str, value: str | bytes,
                           resource_version: int | str) -> bool: ...

    async def apply_delete(self, key: str, resource_version: int | str | None = None,
                           uid: str | None = None) -> bool: ...

    async def upsert(self, key: str, type: str, value: str | bytes) -> None: ...


@dataclass(frozen=True)
class HubSettings:
    """`modules.edgeHub` resolved against the root and the node name."""

    node_name: str
    project_id: str
    server: str
    http_server: str
    heartbeat: float
    handshake_timeout: float
    read_deadline: float
    write_deadline: float
    connect_retries: int
    connect_retry_interval: float
    reconnect_interval: float
    message_qps: float
    message_burst: int
    paths: EdgeCertPaths
    token: str
    token_file: Path
    rotate_certificates: bool
    rotation_backoff: RotationBackoff

    @classmethod
    def from_config(cls, config: EdgeCoreConfig, root: str | Path | None = None) -> HubSettings:
        hub = config.modules.edge_hub
        if hub.quic.enable or not hub.websocket.enable:
            raise ValueError("modules.edgeHub.quic.enable: this edge speaks only the "
                             "WebSocket transport; set modules.edgeHub.websocket.enable: true")
        base = str(root if root is not None else config.root)
        ws = hub.websocket
        return cls(
            node_name=config.node_name,
            project_id=hub.project_id,
            server=ws.server,
            http_server=hub.http_server,
            heartbeat=float(hub.heartbeat),
            handshake_timeout=float(ws.handshake_timeout),
            read_deadline=float(ws.read_deadline),
            write_deadline=float(ws.write_deadline),
            connect_retries=hub.connect_retries,
            connect_retry_interval=float(hub.connect_retry_interval),
            reconnect_interval=float(hub.reconnect_seconds),
            message_qps=float(hub.message_qps),
            message_burst=hub.message_burst,
            paths=EdgeCertPaths(
                ca=under_root(base, hub.tls_ca_file),
                cert=under_root(base, hub.tls_cert_file),
                key=under_root(base, hub.tls_private_key_file),
            ),
            token=hub.token,
            token_file=under_root(base, BOOTSTRAP_TOKEN_FILE),
            rotate_certificates=hub.rotate_certificates,
            rotation_backoff=RotationBackoff(hub.cert_rotation_backoff_base,
                                             hub.cert_rotation_backoff_steps,
                                             hub.cert_rotation_backoff_cap),
        )

    @property
    def url(self) -> str:
        # KubeEdge's edgehub config.go: wss://<server>/<projectID>/<node>/events.
        return f"wss://{self.server}/{self.project_id}/{self.node_name}/events"

    def dial_settings(self) -> DialSettings:
        return DialSettings(
            url=self.url,
            headers={
                HEADER_NODE_ID: self.node_name,
                HEADER_PROJECT_ID: self.project_id,
                HEADER_CONNECTION_USE: CONNECTION_USE_MESSAGE,
            },
            ca_file=self.paths.ca,
            cert_file=self.paths.cert,
            key_file=self.paths.key,
            handshake_timeout=self.handshake_timeout,
        )


def keepalive_message() -> Message:
    return build_message(GROUP_RESOURCE, "", MODULE_EDGEHUB, RESOURCE_NODE, OP_KEEPALIVE,
                         KEEPALIVE_CONTENT)


def connection_event(group: str, connected: bool) -> Message:
    """KubeEdge's pubConnectInfo message for one group (spec §3 "Reconnect")."""
    content = CLOUD_CONNECTED if connected else CLOUD_DISCONNECTED
    return build_message(group, "", SOURCE_EDGEHUB, RESOURCE_NODE_CONNECTION, OP_CONNECT,
                         content)


def _fault_point(name: str) -> tuple[int, str]:
    """(N, key prefix) from `N[:PREFIX]` in the environment; (0, "") when unset."""
    count, _, prefix = os.environ.get(name, "").partition(":")
    try:
        return max(int(count), 0), prefix
    except ValueError:
        return 0, ""


def _killed_before_ack(msg: Message) -> None:
    log.critical("fault injection (%s): killed after committing %s %s at resourceVersion "
                 "%s, before acknowledging it", FAULT_KILL_BEFORE_ACK, msg.route.operation,
                 msg.route.resource, _resource_version(msg))
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class _SessionEnded(Exception):
    """The session must end (rotation asked for a reconnect)."""


def _object_field(content: Any, name: str) -> Any:
    if isinstance(content, dict):
        metadata = content.get("metadata")
        if isinstance(metadata, dict):
            return metadata.get(name)
    return None


def _resource_version(msg: Message) -> int | None:
    """The version to order by: the header's (what CloudHub's queues compare), else the
    object's `metadata.resourceVersion`; None when neither is a valid number."""
    for candidate in (msg.header.resource_version,
                      _object_field(msg.content, "resourceVersion")):
        if candidate in (None, ""):
            continue
        try:
            return parse_resource_version(msg.route.resource, candidate)
        except ValueError:
            continue
    return None


class EdgeHub:
    """`EdgeHub(config, bus, store, root)`; `await start()`, `await stop()`.

    `connected` is set while a session with CloudHub is open; `send(msg)` queues a
    message for the cloud (edged's node status and Lease use it). Counters are plain
    attributes for metrics and tests.
    """

    def __init__(
        self,
        config: EdgeCoreConfig,
        bus: ModuleBus,
        store: EdgeStore,
        root: str | Path | None = None,
        *,
        clock: Clock | None = None,
        transport: Transport | None = None,
        certificates: CertificateManager | None = None,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.settings = HubSettings.from_config(config, root)
        self._bus = bus
        self._store = store
        self._clock: Clock = clock or RealClock()
        if transport is None:
            from kubeedge.edge.hub.transport import WebSocketTransport

            transport = WebSocketTransport()
        self._transport: Transport = transport
        s = self.settings
        self.certificates = certificates or CertificateManager(
            s.paths, s.node_name, s.http_server, token=s.token, token_file=s.token_file,
            rotate_certificates=s.rotate_certificates, backoff=s.rotation_backoff,
            clock=self._clock, wall=wall, rand=rand,
        )
        # messageQPS 0 is no limit (a bucket that never refills would silence the edge
        # after `burst` messages); burst 0 with a rate could never hand out a token.
        self._limiter = TokenBucket(s.message_qps, max(s.message_burst, 1), self._clock)
        self.connected = asyncio.Event()
        self._reconnect_now = asyncio.Event()
        self._conn: Connection | None = None
        self._held: Message | None = None  # an upstream message a broken session failed to send
        # Requests (`send_sync`) written on the current session and not yet answered, by
        # msg_id: their answers can only come on that session.
        self._unanswered: dict[str, Message] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._registered = False
        self._started = False
        self.last_error = ""
        # counters
        self.messages_in = 0  # frames received from the cloud
        self.messages_out = 0  # module messages sent to the cloud
        self.acks_sent = 0
        self.stale_acks = 0  # ACKs of resends whose state was already durable
        self.keepalives_sent = 0
        self.sessions = 0  # sessions opened
        self.reconnects = 0  # sessions lost (or closed for rotation) and dialled again
        self.connect_failures = 0  # dials that failed
        self.write_errors = 0  # database writes that failed (not acknowledged)
        self.decode_errors = 0
        self.dropped = 0  # messages no edge module could take
        self._kill_before_ack, self._kill_prefix = _fault_point(FAULT_KILL_BEFORE_ACK)

    def metric_families(self) -> list[Family]:
        """EdgeHub's figures for edgecore's /metrics (monitoring.py)."""
        return [
            gauge("edgehub_connected", "1 while a session with CloudHub is open.",
                  1 if self.connected.is_set() else 0),
            counter("edgehub_sessions_total", "Sessions opened with CloudHub.",
                    self.sessions),
            counter("edgehub_reconnects_total", "Sessions lost and dialled again.",
                    self.reconnects),
            counter("edgehub_connect_failures_total", "Dials that failed.",
                    self.connect_failures),
            counter("edgehub_messages_received_total", "Frames received from the cloud.",
                    self.messages_in),
            counter("edgehub_messages_sent_total", "Module messages sent to the cloud.",
                    self.messages_out),
            counter("edgehub_acks_sent_total", "ACKs sent after a durable write.",
                    self.acks_sent),
            counter("edgehub_store_write_errors_total",
                    "Edge database writes that failed (not acknowledged).",
                    self.write_errors),
            gauge("edgehub_unanswered_requests", "Requests to the cloud awaiting an "
                  "answer.", len(self._unanswered)),
        ]

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Register on the bus, make sure a certificate exists (bootstrap from the token
        if not; `BootstrapError` if that fails, nothing written), then connect in the
        background and rotate the certificate before it expires."""
        if self._started:
            raise RuntimeError("EdgeHub already started")
        if MODULE_EDGEHUB not in self._bus.modules():
            self._bus.add_module(MODULE_EDGEHUB, GROUP_HUB)
            self._registered = True
        try:
            await self.certificates.ensure()
        except BaseException:
            self._unregister()
            raise
        self._started = True
        self._tasks = [
            asyncio.create_task(self._run(), name="edgehub"),
            asyncio.create_task(self.certificates.run_rotation(self._on_rotated),
                                name="edgehub-cert-rotation"),
        ]

    async def stop(self) -> None:
        # A session cut by the stop ends without reaching `_serve`'s own announcement
        # (the task is cancelled), so the modules are told here.
        was_connected = self.connected.is_set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
        self.connected.clear()
        if was_connected:
            await self._publish(False)
        self._unregister()
        self._started = False

    def _unregister(self) -> None:
        if self._registered:
            self._bus.cleanup(MODULE_EDGEHUB)
            self._registered = False

    async def send(self, msg: Message) -> None:
        """Queue `msg` for the cloud (beehive's Send to module `websocket`). Messages
        queued while disconnected go out, in order, once a session is open."""
        await self._bus.send(msg, MODULE_EDGEHUB)

    async def _on_rotated(self) -> None:
        # KubeEdge's ifRotationDone: the new certificate takes effect on a new session.
        self._reconnect_now.set()

    # ---- the connection loop ---------------------------------------------------------

    async def _run(self) -> None:
        s = self.settings
        while True:
            conn = await self._dial()
            if conn is not None:
                await self._serve(conn)
                self.reconnects += 1
                log.warning("connection to %s is broken (%s), will reconnect after %g s",
                            s.url, self.last_error, s.reconnect_interval)
            else:
                log.error("connection to %s failed %d times (%s), will reconnect after %g s",
                          s.url, s.connect_retries, self.last_error, s.reconnect_interval)
            await self._clock.sleep(s.reconnect_interval)

    async def _dial(self) -> Connection | None:
        """websocket.go Init: `connectRetries` tries, `connectRetryInterval` after each
        failure (the last one too, as KubeEdge)."""
        s = self.settings
        for _ in range(s.connect_retries):
            try:
                conn = await self._within(self._transport.dial(s.dial_settings()),
                                          s.handshake_timeout)
                if conn is not None:
                    return conn
                self.last_error = f"handshake timed out after {s.handshake_timeout:g} s"
            except DialError as exc:
                self.last_error = str(exc)
            self.connect_failures += 1
            log.error("init websocket connection failed: %s", self.last_error)
            await self._clock.sleep(s.connect_retry_interval)
        return None

    async def _serve(self, conn: Connection) -> None:
        self._conn = conn
        self._reconnect_now.clear()
        self.sessions += 1
        self.connected.set()
        log.info("connected to cloudcore at %s", self.settings.url)
        await self._publish(True)
        pipeline: asyncio.Queue[tuple[Message, asyncio.Future[Any] | None]] = (
            asyncio.Queue(PIPELINE_DEPTH))
        tasks = [
            asyncio.create_task(self._route_to_edge(conn, pipeline), name="edgehub-read"),
            asyncio.create_task(self._acknowledge(conn, pipeline), name="edgehub-ack"),
            asyncio.create_task(self._route_to_cloud(conn), name="edgehub-write"),
            asyncio.create_task(self._keepalive(conn), name="edgehub-keepalive"),
            asyncio.create_task(self._wait_rotation(), name="edgehub-rotated"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, ConnectionLost | _SessionEnded):
                    log.error("edgehub %s failed: %r", task.get_name(), exc)
                if exc is not None:
                    self.last_error = str(exc)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._conn = None
            # Disconnected from here on, whatever the close below takes: on a dead link
            # the close handshake can only time out, and the modules (and the state
            # file) must not see a session that is gone as connected meanwhile.
            self.connected.clear()
            with contextlib.suppress(Exception):
                # The close handshake waits for the peer's answer: a read.
                await self._within(conn.close(), self.settings.read_deadline)
            self._fail_unanswered()
            # Drain what was read but not yet acknowledged: not durable-and-ACKed, so the
            # cloud resends it; any write already started still commits (MetaStore).
            while not pipeline.empty():
                pipeline.get_nowait()
        await self._publish(False)

    def _fail_unanswered(self) -> None:
        """Answer the requests written on the session that just ended with an error: the
        cloud's reply would have come on it, so none can come now, and their senders
        (edged's status and Lease reports) must not stay blocked for their whole
        timeout after the edge has reconnected. They ask again."""
        unanswered, self._unanswered = self._unanswered, {}
        for msg_id, request in unanswered.items():
            if self._bus.is_waiting_for(msg_id):
                self._bus.send_resp(new_error_message(
                    request, "the connection to the cloud was lost before it answered"))

    async def _wait_rotation(self) -> None:
        await self._reconnect_now.wait()
        raise _SessionEnded("certificate rotated, reconnecting with the new one")

    async def _publish(self, connected: bool) -> None:
        for group in CONNECT_EVENT_GROUPS:
            try:
                await self._bus.send_to_group(group, connection_event(group, connected))
            except BusError as exc:
                log.warning("connection event to group %s not delivered: %s", group, exc)

    # ---- timing ----------------------------------------------------------------------

    async def _within(self, aw: Awaitable[T], seconds: float) -> T | None:
        """`aw`'s result, or None if the hub's clock passes `seconds` first (then `aw`
        is cancelled)."""
        work = asyncio.ensure_future(aw)
        timer = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait((work, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            timed_out = not work.done()
            if timed_out:
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
        return None if timed_out else work.result()

    async def _write(self, conn: Connection, msg: Message) -> None:
        """One frame to the cloud within `writeDeadline`; `ConnectionLost` otherwise."""
        frame = encode_message(msg)
        sent = await self._within(self._sent(conn, frame), self.settings.write_deadline)
        if sent is None:
            raise ConnectionLost(
                f"websocket write of message {msg.header.msg_id} did not finish within "
                f"writeDeadline {self.settings.write_deadline:g} s")

    @staticmethod
    async def _sent(conn: Connection, frame: bytes) -> bool:
        await conn.send(frame)
        return True

    # ---- keepalive -------------------------------------------------------------------

    async def _keepalive(self, conn: Connection) -> None:
        """Every `heartbeat`: the keepalive KubeEdge sends, then a WebSocket ping the cloud
        must answer within `readDeadline` (the cloud sends nothing on an idle session,
        so a silent peer is detected by its missing pong, not by a read timeout)."""
        s = self.settings
        while True:
            started = self._clock.now()
            await self._write(conn, keepalive_message())
            self.keepalives_sent += 1
            pong = conn.ping()
            if await self._within(self._ponged(pong), s.read_deadline) is None:
                raise ConnectionLost(
                    f"no answer from cloudcore within readDeadline {s.read_deadline:g} s")
            await self._clock.sleep(max(s.heartbeat - (self._clock.now() - started), 0.0))

    @staticmethod
    async def _ponged(pong: Awaitable[object]) -> bool:
        await pong
        return True

    # ---- upstream --------------------------------------------------------------------

    async def _route_to_cloud(self, conn: Connection) -> None:
        while True:
            if self._held is None:
                self._held = await self._bus.receive(MODULE_EDGEHUB)
            msg = self._held
            await self._limiter.acquire()
            try:
                await self._write(conn, msg)
            except MessageEncodeError as exc:
                log.error("message %s to the cloud dropped: %s", msg.header.msg_id, exc)
                self.dropped += 1
            else:
                self.messages_out += 1
                if msg.header.sync and self._bus.is_waiting_for(msg.header.msg_id):
                    self._unanswered[msg.header.msg_id] = msg
            self._held = None

    # ---- downstream ------------------------------------------------------------------

    async def _route_to_edge(
        self, conn: Connection,
        pipeline: asyncio.Queue[tuple[Message, asyncio.Future[Any] | None]],
    ) -> None:
        while True:
            frame = await conn.recv()
            self.messages_in += 1
            try:
                msg = decode_message(frame)
            except MessageDecodeError as exc:
                self.decode_errors += 1
                log.error("dropped a frame from the cloud: %s", exc)
                continue
            # Started here, in arrival order: MetaStore commits in the order writes are
            # queued, and several in flight share one commit.
            await pipeline.put((msg, self._start_write(msg)))

    def _start_write(self, msg: Message) -> asyncio.Future[Any] | None:
        """Queue the database write this message calls for, if any (see module doc)."""
        route = msg.route
        if route.group != GROUP_RESOURCE or msg.header.parent_msg_id:
            return None
        if route.operation not in _WRITE_OPS:
            return None
        parts = route.resource.split("/")
        if len(parts) != 3 or not all(parts) or parts[1] == RESOURCE_EVENT:
            return None
        key, kind = route.resource, parts[1]
        version = _resource_version(msg)
        try:
            if route.operation == OP_DELETE:
                uid = _object_field(msg.content, "uid")
                coro = self._store.apply_delete(key, version,
                                                uid if isinstance(uid, str) else None)
            else:
                value = msg.content_data()
                if version is None:
                    # No version to order by: KubeEdge's InsertOrUpdate.
                    coro = self._store.upsert(key, kind, value)
                else:
                    coro = self._store.apply_update(key, kind, value, version)
        except ValueError as exc:
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed
        return asyncio.ensure_future(coro)

    async def _acknowledge(
        self, conn: Connection,
        pipeline: asyncio.Queue[tuple[Message, asyncio.Future[Any] | None]],
    ) -> None:
        while True:
            msg, write = await pipeline.get()
            if write is not None:
                try:
                    stored = await write
                except Exception as exc:
                    # Not durable, so not acknowledged and not handed on: the cloud
                    # resends it (spec §3 "ACK").
                    self.write_errors += 1
                    log.error("message %s (%s %s) not stored, not acknowledged: %s",
                              msg.header.msg_id, msg.route.operation, msg.route.resource, exc)
                    continue
                if (self._kill_before_ack and stored is not False
                        and msg.route.resource.startswith(self._kill_prefix)):
                    self._kill_before_ack -= 1
                    if not self._kill_before_ack:
                        _killed_before_ack(msg)
                await self._write(conn, new_respond_message(msg, MESSAGE_OK))
                self.acks_sent += 1
                if stored is False:
                    self.stale_acks += 1
            await self._dispatch(msg)

    async def _dispatch(self, msg: Message) -> None:
        """KubeEdge's messagehandler table (spec §2 "Edge dispatch of cloud messages")."""
        route, parent = msg.route, msg.header.parent_msg_id
        self._unanswered.pop(parent, None)
        try:
            if parent and self._bus.is_waiting_for(parent):
                self._bus.send_resp(msg)
                return
            group = route.group
            if group in (GROUP_RESOURCE, GROUP_FUNC):
                if parent:
                    self._reply_nobody_waits_for(msg)
                else:
                    await self._bus.send_to_group(GROUP_META, msg)
            elif group == GROUP_TWIN:
                await self._bus.send_to_group(GROUP_TWIN, msg)
            elif group == GROUP_USER:
                if parent:
                    self._reply_nobody_waits_for(msg)
                elif route.source == SOURCE_ROUTER_EVENTBUS:
                    await self._bus.send(msg, MODULE_EVENTBUS)
                elif route.source == SOURCE_ROUTER_SERVICEBUS:
                    await self._bus.send(msg, MODULE_SERVICEBUS)
                else:
                    self.dropped += 1
                    log.warning("unsupported bus message source %r, message lost",
                                route.source)
            elif group == GROUP_TASKMANAGER:
                await self._bus.send(msg, MODULE_TASKMANAGER)
            else:
                self.dropped += 1
                log.error("no handler for message %s of group %r", msg.header.msg_id, group)
        except BusError as exc:
            self.dropped += 1
            log.warning("message %s (group %s) not delivered to the edge modules: %s",
                        msg.header.msg_id, route.group, exc)

    def _reply_nobody_waits_for(self, msg: Message) -> None:
        # beehive's SendResp logs and drops a reply whose request timed out.
        self.dropped += 1
        log.info("reply %s to %s arrived after its requester gave up", msg.header.msg_id,
                 msg.header.parent_msg_id)
