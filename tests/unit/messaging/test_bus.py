"""The module bus: beehive's channel context on asyncio (spec §1 "Beehive").

Timeouts run on a FakeClock: tests advance it, nothing sleeps.
"""

from __future__ import annotations

import asyncio

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.messaging import (
    BusConfig,
    BusError,
    ChannelFullError,
    Message,
    ModuleBus,
    ModuleClosedError,
    ModuleExistsError,
    SyncTimeoutError,
    UnknownModuleError,
    build_message,
    new_message,
    new_respond_message,
)


def msg(resource: str = "default/pod/x", operation: str = "insert") -> Message:
    return build_message("resource", "", "edgecontroller", resource, operation, {"n": resource})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bus(clock: FakeClock) -> ModuleBus:
    b = ModuleBus(BusConfig(channel_size=4), clock=clock)
    b.add_module("metamanager", "meta")
    b.add_module("edged", "edged")
    b.add_module("twin", "twin")
    b.add_module("eventbus", "bus")
    return b


async def test_send_delivers_in_order_to_the_named_or_destination_module(bus: ModuleBus) -> None:
    first, second = msg("a"), msg("b").set_destination("metamanager")
    await bus.send(first, "metamanager")
    await bus.send(second)
    assert await bus.receive("metamanager") is first
    assert await bus.receive("metamanager") is second
    assert bus.pending("metamanager") == 0


async def test_send_errors_name_the_problem(bus: ModuleBus) -> None:
    with pytest.raises(UnknownModuleError, match="'nosuch' is not registered"):
        await bus.send(msg(), "nosuch")
    with pytest.raises(BusError, match=r"no route\.destination"):
        await bus.send(msg())
    with pytest.raises(UnknownModuleError):
        await bus.receive("nosuch")
    with pytest.raises(ModuleExistsError):
        bus.add_module("edged")


async def test_receive_waits_for_a_message(bus: ModuleBus) -> None:
    waiting = asyncio.ensure_future(bus.receive("edged"))
    await asyncio.sleep(0)
    assert not waiting.done()
    sent = msg()
    bus.send_nowait(sent, "edged")
    assert await asyncio.wait_for(waiting, 5) is sent


async def test_send_to_group_gives_each_member_its_own_copy(bus: ModuleBus) -> None:
    bus.add_module("devicemapper", "twin")
    event = build_message("twin", "", "edgehub", "node/connection", "connect", "cloud_connected")
    assert await bus.send_to_group("twin", event) == 2
    got_twin = await bus.receive("twin")
    got_mapper = await bus.receive("devicemapper")
    assert got_twin == event and got_mapper == event
    got_twin.route.resource = "changed"
    assert got_mapper.route.resource == "node/connection"
    assert event.route.resource == "node/connection"
    assert await bus.send_to_group("nobody", event) == 0
    assert bus.pending("metamanager") == 0


async def test_send_sync_gets_the_reply_matched_by_parent_id(bus: ModuleBus) -> None:
    request = msg("default/configmap/cfg", "query")

    async def metamanager() -> None:
        got = await bus.receive("metamanager")
        assert got.header.sync is True
        assert got.msg_id == request.msg_id
        # a reply to something else is not taken for this one
        assert not bus.send_resp(new_respond_message(msg(), "other"))
        assert bus.send_resp(new_respond_message(got, {"kind": "ConfigMap"}))

    responder = asyncio.ensure_future(metamanager())
    reply = await asyncio.wait_for(bus.send_sync("metamanager", request, timeout=10), 5)
    await responder
    assert reply.parent_msg_id == request.msg_id
    assert reply.content == {"kind": "ConfigMap"}
    assert request.header.sync is False  # the caller's message is not changed
    assert not bus.is_waiting_for(request.msg_id)


async def test_send_sync_times_out_on_the_bus_clock(bus: ModuleBus, clock: FakeClock) -> None:
    request = msg()
    call = asyncio.ensure_future(bus.send_sync("edged", request, timeout=5))
    await clock.wait_for_sleepers(1)
    assert bus.is_waiting_for(request.msg_id)
    await clock.advance(4.9)
    assert not call.done()
    await clock.advance(0.2)
    with pytest.raises(SyncTimeoutError) as info:
        await call
    assert info.value.phase == "response"
    assert info.value.msg_id == request.msg_id
    assert "timeout (5s) to get response for message" in str(info.value)
    assert isinstance(info.value, TimeoutError)
    # A late reply finds nobody waiting and is dropped, as beehive drops it.
    assert not bus.is_waiting_for(request.msg_id)
    assert not bus.send_resp(new_respond_message(request, "late"))


@pytest.mark.parametrize("timeout", [None, 0, -1])
async def test_send_sync_default_timeout_is_the_config(
    clock: FakeClock, timeout: float | None
) -> None:
    bus = ModuleBus(clock=clock)
    bus.add_module("cloudhub", "cloudhub")
    call = asyncio.ensure_future(bus.send_sync("cloudhub", msg(), timeout=timeout))
    await clock.wait_for_sleepers(1)
    await clock.advance(29.9)
    assert not call.done()
    await clock.advance(0.2)
    with pytest.raises(SyncTimeoutError, match=r"timeout \(30s\)"):
        await call


async def test_send_sync_counts_waiting_for_room_against_its_timeout(clock: FakeClock) -> None:
    bus = ModuleBus(BusConfig(channel_size=1), clock=clock)
    bus.add_module("edged")
    bus.send_nowait(msg("first"), "edged")
    call = asyncio.ensure_future(bus.send_sync("edged", msg("second"), timeout=3))
    await clock.wait_for_sleepers(1)
    await clock.advance(3.1)
    with pytest.raises(SyncTimeoutError) as info:
        await call
    assert info.value.phase == "send"
    assert bus.pending("edged") == 1


async def test_send_sync_refuses_a_message_without_an_id(bus: ModuleBus) -> None:
    with pytest.raises(ValueError, match="no msg_id"):
        await bus.send_sync("edged", Message())


async def test_full_channel_refuses_send_nowait(bus: ModuleBus) -> None:
    for i in range(4):
        bus.send_nowait(msg(str(i)), "edged")
    overflow = msg("overflow")
    with pytest.raises(ChannelFullError) as info:
        bus.send_nowait(overflow, "edged")
    assert info.value.module == "edged" and info.value.capacity == 4
    assert info.value.msg_id == overflow.msg_id
    assert "channel of module 'edged' is full (4 messages)" in str(info.value)


async def test_full_channel_makes_send_wait_for_room(bus: ModuleBus) -> None:
    sent = [msg(str(i)) for i in range(6)]
    for m in sent[:4]:
        await bus.send(m, "edged")
    blocked = [asyncio.ensure_future(bus.send(m, "edged")) for m in sent[4:]]
    await asyncio.sleep(0)
    assert not any(t.done() for t in blocked)
    received = [await bus.receive("edged")]
    await asyncio.wait_for(blocked[0], 5)
    assert not blocked[1].done()
    received += [await bus.receive("edged") for _ in range(5)]
    await asyncio.wait_for(blocked[1], 5)
    assert received == sent  # order kept through back-pressure


async def test_send_timeout_raises_channel_full(clock: FakeClock) -> None:
    bus = ModuleBus(BusConfig(channel_size=1, send_timeout=2.0), clock=clock)
    bus.add_module("websocket", "hub")
    await bus.send(msg("a"), "websocket")
    late = asyncio.ensure_future(bus.send(msg("b"), "websocket"))
    await clock.wait_for_sleepers(1)
    await clock.advance(1.9)
    assert not late.done()
    await clock.advance(0.2)
    with pytest.raises(ChannelFullError, match="'websocket' is full"):
        await late
    # The sender that gave up left no waiter behind: the next one gets the free slot.
    await bus.receive("websocket")
    await asyncio.wait_for(bus.send(msg("c"), "websocket"), 5)
    assert (await bus.receive("websocket")).resource == "c"


async def test_send_to_group_reports_a_full_member_after_serving_the_rest(clock: FakeClock) -> None:
    bus = ModuleBus(BusConfig(channel_size=1, send_timeout=0), clock=clock)
    bus.add_module("twin", "twin")
    bus.add_module("mapper", "twin")
    bus.send_nowait(msg("old"), "twin")
    with pytest.raises(ChannelFullError, match="'twin'"):
        await bus.send_to_group("twin", msg("event"))
    assert bus.pending("mapper") == 1


async def test_cleanup_wakes_waiters_and_removes_the_module(bus: ModuleBus) -> None:
    receiver = asyncio.ensure_future(bus.receive("twin"))
    for i in range(4):
        bus.send_nowait(msg(str(i)), "eventbus")
    sender = asyncio.ensure_future(bus.send(msg("blocked"), "eventbus"))
    await asyncio.sleep(0)
    bus.cleanup("twin")
    bus.cleanup("eventbus")
    with pytest.raises(ModuleClosedError, match="'twin' was cleaned up"):
        await receiver
    with pytest.raises(ModuleClosedError):
        await sender
    assert "twin" not in bus.modules()
    assert bus.group_members("twin") == []
    with pytest.raises(UnknownModuleError):
        await bus.send(msg(), "twin")
    bus.cleanup("twin")  # unknown: ignored, as beehive does
    bus.add_module("twin", "twin")
    assert bus.group_members("twin") == ["twin"]


async def test_a_cancelled_receiver_does_not_lose_the_message(bus: ModuleBus) -> None:
    first = asyncio.ensure_future(bus.receive("edged"))
    second = asyncio.ensure_future(bus.receive("edged"))
    await asyncio.sleep(0)
    sent = msg()
    bus.send_nowait(sent, "edged")  # wakes `first`...
    first.cancel()  # ...which goes away before taking it
    assert await asyncio.wait_for(second, 5) is sent


async def test_a_cancelled_sender_passes_its_slot_on(bus: ModuleBus) -> None:
    for i in range(4):
        bus.send_nowait(msg(str(i)), "edged")
    first = asyncio.ensure_future(bus.send(msg("first"), "edged"))
    second_msg = msg("second")
    second = asyncio.ensure_future(bus.send(second_msg, "edged"))
    await asyncio.sleep(0)
    await bus.receive("edged")  # frees one slot and wakes `first`...
    first.cancel()  # ...which gives up
    await asyncio.wait_for(second, 5)
    assert [(await bus.receive("edged")).resource for _ in range(4)] == ["1", "2", "3", "second"]


async def test_group_membership_moves_and_buses_are_independent(clock: FakeClock) -> None:
    one, two = ModuleBus(clock=clock), ModuleBus(clock=clock)
    one.add_module("edged", "edged")
    one.add_module_group("edged", "meta")
    assert one.group_members("edged") == [] and one.group_members("meta") == ["edged"]
    assert two.modules() == []
    with pytest.raises(UnknownModuleError):
        two.send_nowait(new_message(), "edged")


def test_config_is_validated() -> None:
    assert BusConfig() == BusConfig(channel_size=1024, sync_timeout=30.0, send_timeout=None)
    with pytest.raises(ValueError, match="channel_size"):
        BusConfig(channel_size=0)
    with pytest.raises(ValueError, match="sync_timeout"):
        BusConfig(sync_timeout=0)
    with pytest.raises(ValueError, match="send_timeout"):
        BusConfig(send_timeout=-1)
