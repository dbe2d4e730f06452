"""The scheduling queue on a fake clock: back-off doubling to its cap, parked pods
moved by cluster events, events during a try not lost."""

from __future__ import annotations

import asyncio

from kubeedge.client.clock import FakeClock
from kubeedge.scheduler.queue import SchedulingQueue


def make(clock: FakeClock) -> SchedulingQueue:
    return SchedulingQueue(clock, initial_backoff=1.0, max_backoff=10.0)


async def test_new_pods_come_out_in_order() -> None:
    q = make(FakeClock())
    for key in ("ns/a", "ns/b", "ns/a"):
        q.add(key)
    assert [(await q.pop())[0] for _ in range(2)] == ["ns/a", "ns/b"]  # type: ignore[index]


async def test_backoff_doubles_up_to_the_cap() -> None:
    q = make(FakeClock())
    for _ in range(6):
        q.add_backoff("ns/a")
    assert q.backoff_seconds("ns/a") == 10.0
    q.forget("ns/a")
    q.add_backoff("ns/b")
    q.add_backoff("ns/b")
    assert q.backoff_seconds("ns/b") == 2.0


async def test_unschedulable_pods_wait_for_a_cluster_event_then_their_backoff() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add("ns/a")
    _, cycle = await q.pop()  # type: ignore[misc]
    q.add_unschedulable("ns/a", cycle)
    assert q.unschedulable == 1
    await clock.advance(5)
    assert q.unschedulable == 1 and q.active == 0  # nothing changed: it stays parked
    q.move_all_to_active()
    assert q.active == 1  # its 1 s back-off is long over
    key, cycle = await q.pop()  # type: ignore[misc]
    q.add_unschedulable(key, cycle)  # second failure: 2 s back-off from now
    q.move_all_to_active()
    assert q.backing_off == 1
    popper = asyncio.ensure_future(q.pop())
    await clock.advance(1.5)
    assert not popper.done()
    await clock.advance(0.6)
    assert (await asyncio.wait_for(popper, 1))[0] == "ns/a"  # type: ignore[index]


async def test_an_event_during_the_try_sends_the_pod_to_backoff_not_parking() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add("ns/a")
    _, cycle = await q.pop()  # type: ignore[misc]
    q.move_all_to_active()  # a node arrived while ns/a was being tried
    q.add_unschedulable("ns/a", cycle)
    assert q.unschedulable == 0 and q.backing_off == 1


async def test_deleted_pods_leave_every_queue() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add("ns/a")
    q.add_backoff("ns/b")
    q.delete("ns/a")
    q.delete("ns/b")
    assert "ns/a" not in q and "ns/b" not in q
    q.close()
    assert await q.pop() is None


async def test_long_parked_pods_are_retried_anyway() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock, max_unschedulable_seconds=60)
    q.add("ns/a")
    _, cycle = await q.pop()  # type: ignore[misc]
    q.add_unschedulable("ns/a", cycle)
    popper = asyncio.ensure_future(q.pop())
    await clock.advance(59)
    assert not popper.done()
    await clock.advance(2)
    assert (await asyncio.wait_for(popper, 1))[0] == "ns/a"  # type: ignore[index]
