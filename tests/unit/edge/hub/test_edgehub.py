"""EdgeHub against an in-memory transport on a FakeClock (STYLE.md "time you can control").

The network seam is `Transport`; these fakes stand in for CloudHub. The same behaviour
is checked over real TLS WebSockets in tests/integration/edge/test_edgehub.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.config.edgecore import EdgeCoreConfig
from kubeedge.edge.hub import ConnectionLost, DialError, DialSettings, EdgeHub
from kubeedge.edge.hub.certificates import RotationBackoff
from kubeedge.edge.metamanager.store import MetaStore
from kubeedge.messaging import ModuleBus, decode_message, encode_message
from kubeedge.messaging.message import (
    CLOUD_CONNECTED,
    CLOUD_DISCONNECTED,
    MODULE_EDGEHUB,
    Message,
    build_message,
    new_respond_message,
)

NODE = "edge-1"


# ---- fakes ------------------------------------------------------------------------------


class FakeConnection:
    def __init__(self, answer_pings: bool = True) -> None:
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.sent: list[Message] = []
        self.answer_pings = answer_pings
        self.closed = False
        self.pings = 0

    def push(self, msg: Message) -> None:
        self.incoming.put_nowait(encode_message(msg))

    async def send(self, frame: bytes) -> None:
        if self.closed:
            raise ConnectionLost("closed")
        self.sent.append(decode_message(frame))

    async def recv(self) -> bytes | str:
        frame = await self.incoming.get()
        if frame is None:
            raise ConnectionLost("peer closed")
        return frame

    def ping(self) -> Awaitable[object]:
        self.pings += 1
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.answer_pings:
            fut.set_result(0.0)
        return fut

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.incoming.put_nowait(None)

    def acks(self) -> list[Message]:
        return [m for m in self.sent if m.route.operation == "response"]

    def keepalives(self) -> list[Message]:
        return [m for m in self.sent if m.route.operation == "keepalive"]


class FakeTransport:
    """Dials fail `failures` times, then succeed; each dial's clock time is kept."""

    def __init__(self, clock: FakeClock, failures: int = 0, answer_pings: bool = True) -> None:
        self.clock = clock
        self.failures = failures
        self.answer_pings = answer_pings
        self.dials: list[float] = []
        self.settings: list[DialSettings] = []
        self.connections: list[FakeConnection] = []

    async def dial(self, settings: DialSettings) -> FakeConnection:
        self.dials.append(self.clock.now())
        self.settings.append(settings)
        if self.failures != 0:
            self.failures -= 1
            raise DialError("connection refused")
        conn = FakeConnection(self.answer_pings)
        self.connections.append(conn)
        return conn


class NoCertificates:
    """The certificate manager when the certificate is already there and never rotates."""

    rotate_certificates = False

    async def ensure(self) -> None:
        return None

    async def run_rotation(self, on_rotated: Callable[[], Awaitable[None]]) -> None:
        self.on_rotated = on_rotated
        await asyncio.Event().wait()


class HeldStore:
    """A store whose writes finish only when the test releases them."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.committed: list[tuple[str, Any]] = []
        self.result = True
        self.fail = False

    async def apply_update(self, key: str, type: str, value: Any, rv: Any) -> bool:
        await self.gate.wait()
        if self.fail:
            raise OSError("disk full")
        self.committed.append((key, rv))
        return self.result

    async def apply_delete(self, key: str, rv: Any = None, uid: Any = None) -> bool:
        await self.gate.wait()
        self.committed.append((key, ("delete", rv, uid)))
        return True

    async def upsert(self, key: str, type: str, value: Any) -> None:
        await self.gate.wait()
        self.committed.append((key, None))


def make_config(**hub: Any) -> EdgeCoreConfig:
    config = EdgeCoreConfig()
    config.modules.edged.hostname_override = NODE
    config.modules.edge_hub.websocket.server = "127.0.0.1:10000"
    for name, value in hub.items():
        setattr(config.modules.edge_hub, name, value)
    return config


def pod_message(name: str, rv: str, op: str = "insert", uid: str = "uid-1") -> Message:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default", "uid": uid,
                        "resourceVersion": rv}}
    msg = build_message("resource", "", "edgecontroller", f"default/pod/{name}", op, pod)
    msg.header.resource_version = rv
    return msg


async def start_hub(tmp_path: Path, store: Any, clock: FakeClock, transport: FakeTransport,
                    bus: ModuleBus | None = None, **hub: Any) -> tuple[EdgeHub, ModuleBus]:
    bus = bus or ModuleBus(clock=clock)
    if "metamanager" not in bus.modules():
        bus.add_module("metamanager", "meta")
    edgehub = EdgeHub(make_config(**hub), bus, store, tmp_path, clock=clock,
                      transport=transport, certificates=NoCertificates())  # type: ignore[arg-type]
    await edgehub.start()
    await clock.settle()
    return edgehub, bus


async def drain(bus: ModuleBus, module: str) -> list[Message]:
    out = []
    while bus.pending(module):
        out.append(await bus.receive(module))
    return out


# ---- durability: ACK after commit --------------------------------------------------------


async def test_ack_is_sent_only_after_the_write_commits(tmp_path: Path) -> None:
    clock = FakeClock()
    store = HeldStore()
    transport = FakeTransport(clock)
    hub, bus = await start_hub(tmp_path, store, clock, transport)
    try:
        conn = transport.connections[0]
        await drain(bus, "metamanager")  # the cloud_connected event
        msg = pod_message("nginx", "7")
        conn.push(msg)
        await clock.settle()
        assert conn.acks() == []  # the write is held: nothing acknowledged yet
        assert bus.pending("metamanager") == 0  # nor handed to MetaManager
        store.gate.set()
        await clock.settle()
        assert store.committed == [("default/pod/nginx", 7)]
        [ack] = conn.acks()
        assert ack.header.parent_msg_id == msg.header.msg_id
        assert ack.content == "OK"
        assert (ack.route.group, ack.route.source, ack.route.resource) == (
            "resource", "edgecontroller", "default/pod/nginx")
        [forwarded] = await drain(bus, "metamanager")
        assert forwarded.header.msg_id == msg.header.msg_id
    finally:
        await hub.stop()


async def test_failed_write_is_not_acknowledged(tmp_path: Path) -> None:
    clock = FakeClock()
    store = HeldStore()
    store.fail = True
    store.gate.set()
    transport = FakeTransport(clock)
    hub, _bus = await start_hub(tmp_path, store, clock, transport)
    try:
        conn = transport.connections[0]
        conn.push(pod_message("nginx", "7"))
        await clock.settle()
        assert conn.acks() == []
        assert hub.write_errors == 1
    finally:
        await hub.stop()


async def test_acks_follow_arrival_order_with_writes_in_flight(tmp_path: Path) -> None:
    clock = FakeClock()
    store = HeldStore()
    transport = FakeTransport(clock)
    hub, _ = await start_hub(tmp_path, store, clock, transport)
    try:
        conn = transport.connections[0]
        msgs = [pod_message(f"p{i}", str(10 + i)) for i in range(5)]
        for m in msgs:
            conn.push(m)
        await clock.settle()
        assert conn.acks() == []
        store.gate.set()
        await clock.settle()
        assert [a.header.parent_msg_id for a in conn.acks()] == [m.header.msg_id for m in msgs]
    finally:
        await hub.stop()


async def test_resend_of_an_old_version_is_acked_without_overwriting(tmp_path: Path) -> None:
    clock = FakeClock()
    transport = FakeTransport(clock)
    store = await MetaStore.open(tmp_path / "edgecore.db")
    hub, _ = await start_hub(tmp_path, store, clock, transport)
    try:
        conn = transport.connections[0]
        new, old = pod_message("nginx", "9"), pod_message("nginx", "5")
        conn.push(new)
        conn.push(old)

        async def both_acked() -> None:
            while len(conn.acks()) < 2:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(both_acked(), 5)
        assert {a.header.parent_msg_id for a in conn.acks()} == {new.header.msg_id,
                                                                   old.header.msg_id}
        assert hub.stale_acks == 1
        row = await store.get("default/pod/nginx")
        assert row is not None and '"resourceVersion":"9"' in row.value
        # A delete carrying only the uid of another incarnation leaves the row.
        other = pod_message("nginx", "", op="delete", uid="someone-else")
        other.header.resource_version = ""
        other.content["metadata"].pop("resourceVersion")
        conn.push(other)
        await asyncio.wait_for(_until(lambda: len(conn.acks()) == 3), 5)
        assert await store.get("default/pod/nginx") is not None
    finally:
        await hub.stop()
        await store.close()


async def _until(cond: Callable[[], bool]) -> None:
    while not cond():
        await asyncio.sleep(0.005)


async def test_messages_without_a_write_are_not_acked_but_dispatched(tmp_path: Path) -> None:
    clock = FakeClock()
    store = HeldStore()
    transport = FakeTransport(clock)
    bus = ModuleBus(clock=clock)
    bus.add_module("twin", "twin")
    bus.add_module("eventbus", "bus")
    hub, bus = await start_hub(tmp_path, store, clock, transport, bus)
    try:
        conn = transport.connections[0]
        for module in ("twin", "eventbus", "metamanager"):
            await drain(bus, module)  # the cloud_connected events
        conn.push(build_message("twin", "", "devicecontroller", "node/edge-1/membership",
                                "update", {"x": 1}))
        user = build_message("user", "", "router_eventbus", "topic/a", "publish", "hi")
        conn.push(user)
        event = build_message("resource", "", "edgecontroller", "default/event/e1",
                              "insert", {"metadata": {"resourceVersion": "3"}})
        conn.push(event)
        await clock.settle()
        assert conn.acks() == [] and store.committed == []
        assert [m.route.resource for m in await drain(bus, "twin")] == ["node/edge-1/membership"]
        assert [m.header.msg_id for m in await drain(bus, "eventbus")] == [user.header.msg_id]
        assert [m.route.resource for m in await drain(bus, "metamanager")] == [
            "default/event/e1"]
    finally:
        await hub.stop()


async def test_cloud_reply_reaches_the_waiting_module(tmp_path: Path) -> None:
    clock = FakeClock()
    transport = FakeTransport(clock)
    hub, bus = await start_hub(tmp_path, HeldStore(), clock, transport)
    try:
        conn = transport.connections[0]
        query = build_message("meta", "", "metamanager", "default/configmap/cm", "query")
        waiter = asyncio.create_task(bus.send_sync(MODULE_EDGEHUB, query, timeout=60))
        await clock.settle()
        [sent] = [m for m in conn.sent if m.route.operation == "query"]
        assert sent.header.msg_id == query.header.msg_id and sent.header.sync
        reply = build_message("resource", query.header.msg_id, "edgecontroller",
                              "default/configmap/cm", "response", {"data": {"a": "b"}})
        conn.push(reply)
        got = await asyncio.wait_for(waiter, 5)
        assert got.content == {"data": {"a": "b"}}
        assert bus.pending("metamanager") <= 1  # only the connect event, not the reply
    finally:
        await hub.stop()


# ---- keepalive, read deadline, reconnect ---------------------------------------------------


async def test_keepalive_every_heartbeat(tmp_path: Path) -> None:
    clock = FakeClock()
    transport = FakeTransport(clock)
    hub, _ = await start_hub(tmp_path, HeldStore(), clock, transport)
    try:
        conn = transport.connections[0]
        assert len(conn.keepalives()) == 1  # one at once
        await clock.advance(14.9)
        assert len(conn.keepalives()) == 1
        await clock.advance(0.1)
        assert len(conn.keepalives()) == 2
        await clock.advance(30)
        assert len(conn.keepalives()) == 4
        ka = conn.keepalives()[0]
        assert (ka.route.source, ka.route.group, ka.route.resource, ka.route.operation,
                ka.content) == ("websocket", "resource", "node", "keepalive", "ping")
        assert hub.keepalives_sent == 4
    finally:
        await hub.stop()


async def test_silent_cloud_is_dropped_after_read_deadline(tmp_path: Path) -> None:
    clock = FakeClock()
    transport = FakeTransport(clock, answer_pings=False)
    hub, _ = await start_hub(tmp_path, HeldStore(), clock, transport)
    try:
        assert hub.connected.is_set()
        await clock.advance(14.9)
        assert hub.connected.is_set()
        await clock.advance(0.1)  # readDeadline 15 s without a pong
        assert not hub.connected.is_set()
        assert transport.connections[0].closed
        assert "readDeadline" in hub.last_error
    finally:
        await hub.stop()


async def test_reconnect_back_off(tmp_path: Path) -> None:
    clock = FakeClock()
    transport = FakeTransport(clock, failures=-1)  # never succeeds
    hub, _ = await start_hub(tmp_path, HeldStore(), clock, transport,
                             connect_retries=3, connect_retry_interval=5)
    try:
        await clock.advance(100)
        # 3 tries 5 s apart, 5 s after the last one, then 2 x heartbeat (30 s), again.
        assert transport.dials == [0, 5, 10, 45, 50, 55, 90, 95, 100]
        assert hub.connect_failures == 9 and not hub.connected.is_set()
    finally:
        await hub.stop()


async def test_peer_close_reconnects_and_tells_the_modules(tmp_path: Path) -> None:
    clock = FakeClock()
    transport = FakeTransport(clock)
    hub, bus = await start_hub(tmp_path, HeldStore(), clock, transport, reconnect_interval=7)
    try:
        settings = transport.settings[0]
        assert settings.url == f"wss://127.0.0.1:10000/e632aba927ea4ac2b575ec1603d56f10/{NODE}/events"
        assert settings.headers["node_id"] == NODE
        assert settings.headers["project_id"] == "e632aba927ea4ac2b575ec1603d56f10"
        [event] = await drain(bus, "metamanager")
        assert (event.route.source, event.route.group, event.route.resource,
                event.route.operation, event.content) == (
            "edgehub", "meta", "node/connection", "connect", CLOUD_CONNECTED)
        await transport.connections[0].close()
        await clock.settle()
        assert not hub.connected.is_set()
        [event] = await drain(bus, "metamanager")
        assert event.content == CLOUD_DISCONNECTED
        await clock.advance(6.9)
        assert len(transport.dials) == 1
        await clock.advance(0.1)
        assert len(transport.dials) == 2 and hub.connected.is_set()
        assert hub.reconnects == 1 and hub.sessions == 2
        assert [e.content for e in await drain(bus, "metamanager")] == [CLOUD_CONNECTED]
    finally:
        await hub.stop()


async def test_stopping_the_hub_tells_the_modules_the_cloud_is_gone(tmp_path: Path) -> None:
    clock = FakeClock()
    transport = FakeTransport(clock)
    hub, bus = await start_hub(tmp_path, HeldStore(), clock, transport)
    assert [e.content for e in await drain(bus, "metamanager")] == [CLOUD_CONNECTED]
    await hub.stop()
    assert not hub.connected.is_set()
    assert [e.content for e in await drain(bus, "metamanager")] == [CLOUD_DISCONNECTED]
    # Stopped again (nothing connected): nothing more is announced.
    await hub.stop()
    assert await drain(bus, "metamanager") == []


async def test_rotation_reconnects_with_the_new_certificate(tmp_path: Path) -> None:
    clock = FakeClock()
    transport = FakeTransport(clock)
    hub, _ = await start_hub(tmp_path, HeldStore(), clock, transport)
    try:
        await hub.certificates.on_rotated()  # type: ignore[attr-defined]
        await clock.settle()
        assert transport.connections[0].closed and not hub.connected.is_set()
        await clock.advance(30)
        assert hub.connected.is_set() and len(transport.connections) == 2
    finally:
        await hub.stop()


# ---- upstream ----------------------------------------------------------------------------


async def test_upstream_rate_limit(tmp_path: Path) -> None:
    clock = FakeClock()
    transport = FakeTransport(clock)
    hub, _bus = await start_hub(tmp_path, HeldStore(), clock, transport,
                               message_qps=2, message_burst=3)
    try:
        conn = transport.connections[0]
        for i in range(9):
            await hub.send(build_message("meta", "", "edged", f"default/podpatch/p{i}",
                                         "update", {"i": i}))
        await clock.settle()

        def sent() -> int:
            return sum(1 for m in conn.sent if m.route.resource.startswith("default/podpatch"))

        assert sent() == 3  # the burst
        await clock.advance(1)
        assert sent() == 5  # 2 per second
        await clock.advance(2)
        assert sent() == 9
        assert [m.content["i"] for m in conn.sent if m.route.operation == "update"] == list(
            range(9))
        assert hub.messages_out == 9
    finally:
        await hub.stop()


async def test_messages_queued_while_offline_go_out_after_connect(tmp_path: Path) -> None:
    clock = FakeClock()
    transport = FakeTransport(clock, failures=1)
    hub, _ = await start_hub(tmp_path, HeldStore(), clock, transport)
    try:
        assert not hub.connected.is_set()
        msg = build_message("meta", "", "edged", "default/nodestatus/edge-1", "update", {})
        await hub.send(msg)
        await clock.advance(5)
        assert hub.connected.is_set()
        assert msg.header.msg_id in {m.header.msg_id for m in transport.connections[0].sent}
    finally:
        await hub.stop()


def test_rotation_back_off_schedule() -> None:
    backoff = RotationBackoff(2, 5, 32)
    assert [backoff.delay(n) for n in range(1, 9)] == [2, 4, 8, 16, 32, 32, 32, 32]


def test_quic_is_refused_with_the_field() -> None:
    config = make_config()
    config.modules.edge_hub.quic.enable = True
    config.modules.edge_hub.websocket.enable = False
    with pytest.raises(ValueError, match=r"modules\.edgeHub\.quic\.enable"):
        EdgeHub(config, ModuleBus(), HeldStore())  # type: ignore[arg-type]


async def test_session_is_reported_gone_before_a_hanging_close_finishes(tmp_path: Path
                                                                        ) -> None:
    """On a dead link the close handshake can only time out: the hub must not look
    connected meanwhile, and the close is bounded by readDeadline, not writeDeadline."""
    clock = FakeClock()
    transport = FakeTransport(clock, answer_pings=False)
    config = make_config(heartbeat=1, reconnect_interval=1)
    config.modules.edge_hub.websocket.read_deadline = 2
    config.modules.edge_hub.websocket.write_deadline = 60
    bus = ModuleBus(clock=clock)
    hub = EdgeHub(config, bus, HeldStore(), tmp_path, clock=clock, transport=transport,
                  certificates=NoCertificates())  # type: ignore[arg-type]
    await hub.start()
    await clock.settle()
    conn = transport.connections[0]
    hanging = asyncio.Event()

    async def close() -> None:
        conn.closed = True
        await hanging.wait()

    conn.close = close  # type: ignore[method-assign]
    try:
        await clock.advance(2)  # the first ping unanswered for readDeadline
        assert not hub.connected.is_set()
        assert conn.closed
        await clock.advance(2 + 1)  # the close given up after readDeadline, then redial
        assert len(transport.dials) == 2 and hub.connected.is_set()
    finally:
        hanging.set()
        await hub.stop()


async def test_request_written_on_a_lost_session_is_answered_with_an_error(tmp_path: Path
                                                                          ) -> None:
    """A request (`send_sync`) written on a session that then breaks can get no answer:
    the reply would have come on that session. Its sender hears so at once (an `error`
    reply) instead of staying blocked for its whole timeout after the edge has already
    reconnected (edged's node status and Lease reports wait on such requests)."""
    clock = FakeClock()
    transport = FakeTransport(clock)
    hub, bus = await start_hub(tmp_path, HeldStore(), clock, transport, reconnect_interval=1)
    bus.add_module("edged", "edged")
    try:
        request = build_message("resource", "", "edged", f"default/nodestatus/{NODE}",
                                "update", {})
        waiting = asyncio.ensure_future(bus.send_sync(MODULE_EDGEHUB, request, 60))
        await clock.settle()
        conn = transport.connections[0]
        assert [m.header.msg_id for m in conn.sent
                if m.route.operation == "update"] == [request.header.msg_id]
        await conn.close()  # the session breaks before the cloud answered
        await clock.settle()
        assert waiting.done(), "the requester still waits for an answer that cannot come"
        reply = waiting.result()
        assert reply.route.operation == "error"
        assert reply.header.parent_msg_id == request.header.msg_id
        assert "connection" in str(reply.content)

        # A request answered in time is not touched by a later disconnect.
        await clock.advance(1)
        conn2 = transport.connections[1]
        second = build_message("resource", "", "edged", f"default/lease/{NODE}", "update",
                               {})
        waiting = asyncio.ensure_future(bus.send_sync(MODULE_EDGEHUB, second, 60))
        await clock.settle()
        answer = new_respond_message(second, "OK")
        conn2.push(answer)
        await clock.settle()
        assert waiting.result().route.operation == "response"
        await conn2.close()
        await clock.settle()
        assert hub.dropped == 0
    finally:
        await hub.stop()
