"""Node sessions on a FakeClock: ACK, resend, back-off, replacement, keepalive
(specs/kubeedge.md §3 "ACK", "Keepalive", "A new session for the same node_id")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.cloud.hub import protocol
from kubeedge.cloud.hub.session import HubTimings, SessionManager
from kubeedge.messaging.message import build_message
from tests.unit.cloud.hub.helpers import FakeConnection, noack, pod

TIMINGS = HubTimings(keepalive_interval=30, resend_interval=5, resend_retries=4,
                     backoff_base=1.0, backoff_max=8.0, queue_qps=1000, queue_burst=1000,
                     node_limit=2)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


@pytest.fixture
async def manager(clock: FakeClock) -> AsyncIterator[SessionManager]:
    m = SessionManager(TIMINGS, clock=clock)
    yield m
    await m.stop()


def drain(manager: SessionManager) -> list[tuple[tuple[str, ...], str, str]]:
    out = []
    while not manager.outbox.empty():
        groups, msg = manager.outbox.get_nowait()
        out.append((groups, msg.route.operation, msg.route.resource))
    return out


async def test_ack_message_is_resent_every_interval_until_retries_run_out(
        manager: SessionManager, clock: FakeClock) -> None:
    conn = FakeConnection()
    session = manager.open("edge-1", "p", conn)
    manager.pool("edge-1").add_ack(pod("edge-1", "web", "u1", "7"))
    session.wake()
    await clock.settle()
    assert len(conn.sent) == 1
    first = conn.sent[0]
    assert first.route.resource == "default/pod/web"  # node prefix trimmed (spec §2)
    for writes in range(2, 6):
        await clock.advance(5)
        assert len(conn.sent) == writes
    assert set(conn.ids()) == {first.header.msg_id}  # the same message each time
    assert manager.metrics.resends == 4
    await clock.advance(5)  # 5 writes without an ACK: re-queued with back-off (1 s)
    assert len(conn.sent) == 5
    assert manager.metrics.gave_up == 1
    await clock.advance(1)
    assert len(conn.sent) == 6
    await clock.advance(25)  # four resends, then the second failure
    assert len(conn.sent) == 10
    assert manager.metrics.gave_up == 2
    await clock.advance(1)  # ... doubles the back-off to 2 s
    assert len(conn.sent) == 10
    await clock.advance(1)
    assert len(conn.sent) == 11


async def test_ack_stops_resends_and_is_reported_for_synccontroller(
        manager: SessionManager, clock: FakeClock) -> None:
    conn = FakeConnection()
    session = manager.open("edge-1", "p", conn)
    drain(manager)
    manager.pool("edge-1").add_ack(pod("edge-1", "web", "u1", "7"))
    session.wake()
    await clock.settle()
    await clock.advance(2)
    assert session.on_ack(conn.sent[0].header.msg_id)
    await clock.advance(60)
    assert len(conn.sent) == 1
    groups, report = manager.outbox.get_nowait()
    assert groups == (protocol.GROUP_SYNCCONTROLLER,)
    assert report.route.operation == protocol.OP_OBJECT_ACKED
    assert report.route.resource == "node/edge-1/default/pod/web"
    assert report.header.resource_version == "7"
    assert report.content == {
        "node": "edge-1", "namespace": "default", "resourceType": "pod", "name": "web",
        "uid": "u1", "resourceVersion": "7", "operation": "update", "apiVersion": "v1",
        "kind": "Pod", "msgId": conn.sent[0].header.msg_id, "latency": 2.0}
    assert manager.metrics.acks == 1
    assert manager.metrics.ack_latency_sum == pytest.approx(2.0)


async def test_unknown_parent_is_not_an_ack(manager: SessionManager,
                                            clock: FakeClock) -> None:
    conn = FakeConnection()
    session = manager.open("edge-1", "p", conn)
    manager.pool("edge-1").add_ack(pod("edge-1", "web", "u1", "7"))
    session.wake()
    await clock.settle()
    assert not session.on_ack("some-other-id")
    await clock.advance(5)
    assert len(conn.sent) == 2


async def test_messages_go_one_at_a_time_in_order(manager: SessionManager,
                                                  clock: FakeClock) -> None:
    conn = FakeConnection()
    session = manager.open("edge-1", "p", conn)
    pool = manager.pool("edge-1")
    for i in range(3):
        pool.add_ack(pod("edge-1", f"p{i}", f"u{i}", "1"))
    session.wake()
    await clock.settle()
    assert [m.route.resource for m in conn.sent] == ["default/pod/p0"]
    for i in range(1, 3):
        session.on_ack(conn.sent[-1].header.msg_id)
        await clock.settle()
        assert conn.sent[-1].route.resource == f"default/pod/p{i}"
    assert len(conn.sent) == 3


async def test_noack_messages_are_written_once(manager: SessionManager,
                                               clock: FakeClock) -> None:
    conn = FakeConnection()
    session = manager.open("edge-1", "p", conn)
    manager.pool("edge-1").add_noack(noack("edge-1"))
    session.wake()
    await clock.settle()
    await clock.advance(60)
    assert [m.route.resource for m in conn.sent] == ["default/lease/edge-1"]


async def test_new_connection_replaces_the_old_and_resends_what_was_in_flight(
        manager: SessionManager, clock: FakeClock) -> None:
    old_conn, new_conn = FakeConnection(), FakeConnection()
    old = manager.open("edge-1", "p", old_conn)
    manager.pool("edge-1").add_ack(pod("edge-1", "web", "u1", "7"))
    old.wake()
    await clock.settle()
    assert len(old_conn.sent) == 1
    new = manager.open("edge-1", "p", new_conn)
    await clock.settle()
    assert old_conn.closed == (protocol.CLOSE_REPLACED, "replaced by a new connection")
    assert old.closed and manager.sessions["edge-1"] is new
    assert [m.header.msg_id for m in new_conn.sent] == old_conn.ids()
    # the old session's late ACK counts for nothing; its disconnect precedes the connect
    assert not old.on_ack(old_conn.sent[0].header.msg_id)
    events = [(op, res) for _, op, res in drain(manager)]
    assert events == [("connected", "node/edge-1"), ("disconnected", "node/edge-1"),
                      ("connected", "node/edge-1")]
    # closing the old handler later does not remove the new session
    manager.terminate(old, 1000, "closed")
    assert manager.sessions["edge-1"] is new
    assert manager.metrics.replaced == 1


async def test_connect_events_go_to_edgecontroller_and_synccontroller(
        manager: SessionManager) -> None:
    manager.open("edge-1", "proj", FakeConnection())
    groups, event = manager.outbox.get_nowait()
    assert groups == (protocol.GROUP_EDGECONTROLLER, protocol.GROUP_SYNCCONTROLLER)
    assert event.route.source == "cloudhub"
    assert event.route.group == "resource"
    assert event.content["event_type"] == "connected"
    assert event.content["client_id"] == "edge-1"
    assert event.content["project_id"] == "proj"


async def test_silent_session_is_dropped_after_keepalive_interval(
        manager: SessionManager, clock: FakeClock) -> None:
    manager.start()
    conn = FakeConnection()
    session = manager.open("edge-1", "p", conn)
    drain(manager)
    await clock.advance(20)
    session.touch()  # a keepalive at t+20
    await clock.advance(29)
    assert not session.closed
    await clock.advance(2)  # t+51 > t+20+30
    assert session.closed
    assert conn.closed == (protocol.CLOSE_KEEPALIVE_TIMEOUT, "keepalive timeout")
    assert "edge-1" not in manager.sessions
    assert [op for _, op, _ in drain(manager)] == ["disconnected"]
    assert manager.metrics.keepalive_timeouts == 1


async def test_node_limit_counts_connected_nodes_but_not_replacements(
        manager: SessionManager) -> None:
    manager.open("edge-1", "p", FakeConnection())
    with manager.reservation():
        assert not manager.can_accept("edge-2")
    assert manager.can_accept("edge-2")
    manager.open("edge-2", "p", FakeConnection())
    assert not manager.can_accept("edge-3")
    assert manager.can_accept("edge-1")


async def test_deleted_node_ends_its_session_and_queues(manager: SessionManager,
                                                        clock: FakeClock) -> None:
    conn = FakeConnection()
    session = manager.open("edge-1", "p", conn)
    pool = manager.pool("edge-1")
    pool.add_ack(pod("edge-1", "web", "u1", "7"))
    pool.add_noack(build_message("resource", "", "edgecontroller",
                                 "node/edge-1/null/node/edge-1", "delete", {}))
    session.wake()
    await clock.settle()
    assert conn.closed == (protocol.CLOSE_NODE_DELETED, "node deleted")
    assert "edge-1" not in manager.pools


async def test_ack_queued_while_node_is_away_goes_out_on_reconnect(
        manager: SessionManager, clock: FakeClock) -> None:
    first = manager.open("edge-1", "p", FakeConnection())
    manager.terminate(first, 1000, "closed")
    manager.pool("edge-1").add_ack(pod("edge-1", "web", "u1", "7"))
    conn = FakeConnection()
    manager.open("edge-1", "p", conn)
    await clock.settle()
    assert [m.route.resource for m in conn.sent] == ["default/pod/web"]


async def test_write_timeout_ends_the_session(clock: FakeClock) -> None:
    manager = SessionManager(HubTimings(write_timeout=0.01), clock=clock)

    class Stuck(FakeConnection):
        async def send(self, data: bytes) -> None:
            await asyncio.Event().wait()

    conn = Stuck()
    session = manager.open("edge-1", "p", conn)
    manager.pool("edge-1").add_ack(pod("edge-1", "web", "u1", "7"))
    session.wake()
    await asyncio.wait_for(session.wait_stopped(), 5)
    assert conn.closed is not None and conn.closed[0] == protocol.CLOSE_WRITE_FAILED
    assert manager.metrics.write_failures == 1
    # the message is still queued for the next session
    assert manager.pool("edge-1").ack_ready
    await manager.stop()
