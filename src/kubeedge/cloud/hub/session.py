"""Node sessions: one live connection per edge node, its writer, ACKs, resends, keepalive.

Owns KubeEdge's `NodeSession` and session `Manager` (cloudhub/session; specs/kubeedge.md
§3): a new session for a node ends the old one; the node's ack messages go out one at a
time and each is written again every `messageResendInterval` until the edge answers with
`operation: response` and `parent_msg_id` = its msg_id, at most `messageResendRetries`
more times, after which the key is re-queued with the rate limiter's back-off; no-ack
messages are written once; a session that has sent nothing for `keepaliveInterval` is
dropped. Must never parse frames or touch TLS (the server does) and never sleeps on the
wall clock: timers run on the injected `Clock`, so tests drive them with a FakeClock.

Cheap per idle session on purpose (thousands of edges per process, ARCHITECTURE.md rule
9 footnote): one writer task parked on an Event, no per-session timer task; a single
sweeper task checks every session's keepalive deadline.

Differences from KubeEdge, on purpose:
- Any frame from the edge counts as a sign of life, not only `keepalive` messages.
- A node's pool survives its session: ack messages queued while it is away (and the one
  that was in flight) go out when it reconnects, rather than being dropped with a pool
  that is replaced on reconnect. No-ack messages for an absent node are dropped (they
  answer requests the edge will repeat).
- Replacing a session does not count against `nodeLimit`.
- The old session's `disconnected` event always precedes the new one's `connected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from kubeedge.client.clock import Clock, RealClock
from kubeedge.cloud.hub import protocol
from kubeedge.cloud.hub.pool import NodeMessagePool, RateLimiter, is_node_stopped
from kubeedge.messaging.codec import MessageEncodeError, encode_message
from kubeedge.messaging.message import Message
from kubeedge.messaging.resource import strip_node_prefix

log = logging.getLogger(__name__)

__all__ = ["Connection", "HubMetrics", "HubTimings", "NodeSession", "SessionManager"]


class Connection(Protocol):
    """The transport seam (STYLE.md "A seam at every transport"): the WebSocket today,
    a fake in unit tests."""

    async def send(self, data: bytes) -> None:
        """Write one message frame."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Start closing; must not block (the close handshake runs on its own)."""
        ...


@dataclass(frozen=True)
class HubTimings:
    """`modules.cloudHub` timings and sizes the sessions use, in seconds (spec §3)."""

    keepalive_interval: float = 30.0
    write_timeout: float = 30.0
    resend_interval: float = 5.0
    resend_retries: int = 4
    backoff_base: float = 0.005
    backoff_max: float = 1000.0
    queue_qps: float = 10.0
    queue_burst: int = 100
    node_limit: int = 500
    queue_size: int = 0

    @classmethod
    def from_cloudhub(cls, hub: object) -> HubTimings:
        """From the `modules.cloudHub` section of the CloudCore config."""
        return cls(
            keepalive_interval=float(hub.keepalive_interval),  # type: ignore[attr-defined]
            write_timeout=float(hub.write_timeout),  # type: ignore[attr-defined]
            resend_interval=float(hub.message_resend_interval),  # type: ignore[attr-defined]
            resend_retries=int(hub.message_resend_retries),  # type: ignore[attr-defined]
            backoff_base=float(hub.message_queue_backoff_base),  # type: ignore[attr-defined]
            backoff_max=float(hub.message_queue_backoff_max),  # type: ignore[attr-defined]
            queue_qps=float(hub.message_queue_qps),  # type: ignore[attr-defined]
            queue_burst=int(hub.message_queue_burst),  # type: ignore[attr-defined]
            node_limit=int(hub.node_limit),  # type: ignore[attr-defined]
            queue_size=int(hub.node_message_queue_size),  # type: ignore[attr-defined]
        )


@dataclass
class HubMetrics:
    """Counters for the metrics endpoint to come: plain attributes, read when scraped."""

    connects: int = 0
    disconnects: int = 0
    replaced: int = 0
    keepalive_timeouts: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # reason -> count
    messages_sent: int = 0  # frames written, resends included
    messages_received: int = 0
    invalid_frames: int = 0
    rejected_upstream: int = 0  # frames an edge may not send (another node, a cloud source)
    resends: int = 0
    gave_up: int = 0  # messages that ran out of resends and were re-queued
    acks: int = 0
    ack_latency_sum: float = 0.0  # seconds from first write to ACK, summed over `acks`
    ack_latency_max: float = 0.0
    dropped: int = 0  # messages not delivered: queue full, node absent, no RV
    write_failures: int = 0

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


_session_ids = itertools.count(1)


@dataclass(slots=True)
class _InFlight:
    key: str
    msg: Message  # as queued (cloud-internal resource)
    data: bytes  # as written (resource trimmed)
    first_write: float
    deadline: float
    writes: int = 1


class NodeSession:
    """One edge connection: writes its node's queues, takes its ACKs."""

    def __init__(self, manager: SessionManager, node: str, project: str,
                 conn: Connection, pool: NodeMessagePool) -> None:
        self.manager = manager
        self.node = node
        self.project = project
        self.conn = conn
        self.pool = pool
        self.id = f"{node}-{next(_session_ids)}"
        self.last_seen = manager.clock.now()
        self.closed = False
        self.close_reason = ""
        self.in_flight: _InFlight | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- called by the server and the dispatcher --

    def touch(self) -> None:
        """A frame arrived: the edge is alive (keepalive, spec §3)."""
        self.last_seen = self.manager.clock.now()

    def wake(self) -> None:
        self._wake.set()

    def on_ack(self, parent_msg_id: str) -> bool:
        """The edge answered `parent_msg_id`; True if that was the message in flight."""
        flight = self.in_flight
        if flight is None or flight.msg.header.msg_id != parent_msg_id:
            return False
        self.in_flight = None
        latency = self.manager.clock.now() - flight.first_write
        self.pool.acked(flight.key, flight.msg)
        metrics = self.manager.metrics
        metrics.acks += 1
        metrics.ack_latency_sum += latency
        metrics.ack_latency_max = max(metrics.ack_latency_max, latency)
        self.manager.report(protocol.OP_OBJECT_ACKED, self.node, flight.msg, latency)
        self._wake.set()
        return True

    # -- the writer --

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"cloudhub-session-{self.id}")

    async def _run(self) -> None:
        try:
            await self._write_loop()
        except asyncio.CancelledError:
            raise
        except _WriteFailed as exc:
            self.manager.metrics.write_failures += 1
            self.manager.terminate(self, protocol.CLOSE_WRITE_FAILED, str(exc))
        except Exception:
            log.exception("node %s: session writer failed", self.node)
            self.manager.terminate(self, protocol.CLOSE_WRITE_FAILED, "internal error")

    async def _write_loop(self) -> None:
        clock = self.manager.clock
        timings = self.manager.timings
        while not self.closed:
            self._wake.clear()
            while self.pool.noack:
                msg = self.pool.noack.popleft()
                if is_node_stopped(msg):
                    log.warning("node %s was deleted; closing its session", self.node)
                    self.manager.terminate(self, protocol.CLOSE_NODE_DELETED, "node deleted",
                                           forget_pool=True)
                    return
                data = _encode_for_edge(msg)
                if data is not None:
                    await self._write(data)
            now = clock.now()
            wake_at: float | None = None
            flight = self.in_flight
            if flight is not None:
                if now >= flight.deadline:
                    if flight.writes > timings.resend_retries:
                        self.in_flight = None
                        delay = self.pool.gave_up(flight.key, now)
                        self.manager.metrics.gave_up += 1
                        log.info("node %s: no ACK for %s after %d writes; retrying in %.3gs",
                                 self.node, flight.msg.route.resource, flight.writes, delay)
                        continue
                    flight.writes += 1
                    flight.deadline = now + timings.resend_interval
                    self.manager.metrics.resends += 1
                    await self._write(flight.data)
                    continue
                wake_at = flight.deadline
            else:
                key, wake_at = self.pool.next_ack(now)
                if key is not None:
                    msg = self.pool.message(key)
                    data = _encode_for_edge(msg) if msg is not None else None
                    if msg is None or data is None:
                        self.pool.in_flight = None
                        continue
                    self.in_flight = _InFlight(key, msg, data, now,
                                               now + timings.resend_interval)
                    await self._write(data)
                    continue
            await self._idle(None if wake_at is None else wake_at - now)

    async def _write(self, data: bytes) -> None:
        try:
            async with asyncio.timeout(self.manager.timings.write_timeout):
                await self.conn.send(data)
        except TimeoutError:
            raise _WriteFailed(
                f"write did not complete within {self.manager.timings.write_timeout:g}s"
            ) from None
        except (ConnectionError, RuntimeError, OSError) as exc:
            raise _WriteFailed(f"write failed: {exc}") from None
        self.manager.metrics.messages_sent += 1

    async def _idle(self, timeout: float | None) -> None:
        if self._wake.is_set():
            return
        if timeout is None:
            await self._wake.wait()
            return
        if timeout <= 0:
            return
        # One timer that sets the wake event, not two tasks and an asyncio.wait per
        # message: this runs for every message sent, at thousands a second.
        timer = self.manager.clock.call_later(timeout, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()

    def stop(self) -> None:
        """End the writer; a message in flight goes back to the front of its queue."""
        self.closed = True
        if self.in_flight is not None:
            self.pool.returned(self.in_flight.key)
            self.in_flight = None
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def wait_stopped(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class _WriteFailed(Exception):
    pass


def _encode_for_edge(msg: Message) -> bytes | None:
    """TrimMessage, then the wire JSON (spec §2: the edge sees `<ns>/<type>/<name>`)."""
    out = msg.copy()
    out.route.resource = strip_node_prefix(msg.route.resource)
    try:
        return encode_message(out)
    except MessageEncodeError as exc:
        log.error("dropping message %s for the edge: %s", msg.header.msg_id, exc)
        return None


class SessionManager:
    """Sessions by node, their pools, `nodeLimit`, keepalive, and the events they raise.

    What the cloud modules must hear goes to `outbox` as (groups, message), in order:
    connection events (`protocol.connect_event`, to EdgeController and SyncController)
    and ACK/drop reports (to SyncController). The hub forwards them to the bus from one
    task, so a slow module never stalls a session's writer.
    """

    def __init__(self, timings: HubTimings | None = None, *, clock: Clock | None = None,
                 metrics: HubMetrics | None = None) -> None:
        self.timings = timings or HubTimings()
        self.clock: Clock = clock or RealClock()
        self.metrics = metrics or HubMetrics()
        self.sessions: dict[str, NodeSession] = {}
        self.pools: dict[str, NodeMessagePool] = {}
        self.outbox: asyncio.Queue[tuple[tuple[str, ...], Message]] = asyncio.Queue()
        self._reserved = 0
        self._sweeper: asyncio.Task[None] | None = None

    # -- admission --

    def can_accept(self, node: str) -> bool:
        """`nodeLimit` (spec §3): refuse a new node once that many are connected or
        connecting; a node that is already connected may always replace its session."""
        if node in self.sessions:
            return True
        return len(self.sessions) + self._reserved < self.timings.node_limit

    @contextlib.contextmanager
    def reservation(self) -> Iterator[None]:
        """Hold a place under `nodeLimit` while a handshake completes."""
        self._reserved += 1
        try:
            yield None
        finally:
            self._reserved -= 1

    # -- pools --

    def pool(self, node: str) -> NodeMessagePool:
        pool = self.pools.get(node)
        if pool is None:
            t = self.timings
            limiter = RateLimiter(t.backoff_base, t.backoff_max, t.queue_qps, t.queue_burst)
            pool = self.pools[node] = NodeMessagePool(node, t.queue_size, limiter)
        return pool

    def forget_node(self, node: str) -> None:
        """The Node was deleted: drop whatever was queued for it."""
        pool = self.pools.pop(node, None)
        if pool is not None:
            pool.clear()

    # -- sessions --

    def open(self, node: str, project: str, conn: Connection) -> NodeSession:
        """Register a connected edge, replacing (and closing) its previous session."""
        old = self.sessions.get(node)
        if old is not None:
            log.warning("node %s connected again; closing its previous session", node)
            self.metrics.replaced += 1
            self.terminate(old, protocol.CLOSE_REPLACED, "replaced by a new connection")
        session = NodeSession(self, node, project, conn, self.pool(node))
        self.sessions[node] = session
        self.metrics.connects += 1
        self._event(session, connected=True)
        session.start()
        log.info("edge node %s (project %s) connected, session %s", node, project, session.id)
        return session

    def terminate(self, session: NodeSession, code: int, reason: str, *,
                  forget_pool: bool = False) -> None:
        """End a session (idempotent): writer stopped, connection closing, and the
        `disconnected` event raised if it was the node's current session."""
        if session.closed:
            return
        session.close_reason = reason
        session.stop()
        with contextlib.suppress(Exception):
            session.conn.close(code, reason)
        if self.sessions.get(session.node) is session:
            del self.sessions[session.node]
            self.metrics.disconnects += 1
            self._event(session, connected=False, reason=reason)
            log.info("edge node %s disconnected (%s), session %s", session.node, reason,
                     session.id)
        if forget_pool:
            self.forget_node(session.node)

    def _event(self, session: NodeSession, *, connected: bool, reason: str = "") -> None:
        self.outbox.put_nowait(((protocol.GROUP_EDGECONTROLLER, protocol.GROUP_SYNCCONTROLLER),
                                protocol.connect_event(
            session.node, connected, session_id=session.id, project_id=session.project,
            timestamp=int(time.time()), reason=reason)))

    def report(self, operation: str, node: str, msg: Message, latency: float = 0.0) -> None:
        """Queue an ACK or drop report for SyncController (protocol docstring)."""
        report = protocol.object_report(operation, node, msg, latency)
        if report is not None:
            self.outbox.put_nowait(((protocol.GROUP_SYNCCONTROLLER,), report))

    # -- keepalive --

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep(), name="cloudhub-keepalive")

    async def _sweep(self) -> None:
        """Drop sessions silent for `keepaliveInterval` (KubeEdge's KeepAliveCheck).

        Sleeps until the earliest deadline; a session opened meanwhile has a later one.
        """
        interval = self.timings.keepalive_interval
        while True:
            now = self.clock.now()
            earliest = now + interval
            for session in list(self.sessions.values()):
                deadline = session.last_seen + interval
                if deadline <= now:
                    log.warning("node %s: nothing received for %gs; dropping its session",
                                session.node, interval)
                    self.metrics.keepalive_timeouts += 1
                    self.terminate(session, protocol.CLOSE_KEEPALIVE_TIMEOUT,
                                   "keepalive timeout")
                else:
                    earliest = min(earliest, deadline)
            await self.clock.sleep(earliest - now)

    async def stop(self) -> None:
        """Close every session (code 1001) and stop the sweeper."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        sessions = list(self.sessions.values())
        for session in sessions:
            self.terminate(session, protocol.CLOSE_SHUTDOWN, "cloudhub stopping")
        for session in sessions:
            await session.wait_stopped()

    # -- metrics --

    def queue_depths(self) -> dict[str, tuple[int, int]]:
        """node -> (ack messages queued, no-ack messages queued)."""
        return {node: (p.ack_depth, p.noack_depth) for node, p in self.pools.items()}

    @property
    def connected(self) -> int:
        return len(self.sessions)
