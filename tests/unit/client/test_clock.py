"""The clocks' timers (`call_later`): fired once their time has passed, never after
`cancel`, on the fake clock as on the real one."""

from __future__ import annotations

import asyncio

from kubeedge.client.clock import FakeClock, RealClock


async def test_fake_timer_fires_when_advanced_past_its_deadline() -> None:
    clock = FakeClock()
    fired: list[float] = []
    clock.call_later(5, lambda: fired.append(clock.now()))
    assert clock.sleepers == 1
    await clock.advance(4.9)
    assert fired == []
    await clock.advance(0.1)
    assert fired == [5.0]
    assert clock.sleepers == 0


async def test_fake_timer_cancelled_never_fires() -> None:
    clock = FakeClock()
    fired: list[str] = []
    timer = clock.call_later(1, lambda: fired.append("late"))
    timer.cancel()
    await clock.advance(10)
    assert fired == [] and clock.sleepers == 0


async def test_real_timer_fires_and_cancelled_one_does_not() -> None:
    clock = RealClock()
    done = asyncio.Event()
    fired: list[str] = []
    cancelled = clock.call_later(0, lambda: fired.append("cancelled"))
    cancelled.cancel()
    clock.call_later(0.01, done.set)
    await asyncio.wait_for(done.wait(), 5)
    assert fired == []
