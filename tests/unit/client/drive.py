"""Run a coroutine that sleeps on a `FakeClock`, advancing the clock each time it
parks, so retry and back-off paths finish without real waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from kubeedge.client.clock import FakeClock

T = TypeVar("T")


async def drive(
    clock: FakeClock, work: Awaitable[T], timeout: float = 10.0
) -> tuple[T, list[float]]:
    """Await `work`, advancing `clock` to each sleep's deadline; return its result and
    the delays it slept."""
    task = asyncio.ensure_future(work)
    slept: list[float] = []

    async def run() -> T:
        while not task.done():
            deadline = clock.next_deadline()
            if deadline is None:
                await asyncio.sleep(0)
                continue
            slept.append(round(deadline - clock.now(), 6))
            await clock.advance(deadline - clock.now())
        return task.result()

    try:
        return await asyncio.wait_for(run(), timeout), slept
    finally:
        task.cancel()
