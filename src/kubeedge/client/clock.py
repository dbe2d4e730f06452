"""Time for the client: the real clock and a fake one tests advance by hand.

Owns the `Clock` protocol every timed part of `client/` takes (rate limiters, retry
back-off, informer resync and re-watch back-off, work-queue delays), so tests of those
run in milliseconds and never flake (STYLE.md "Time you can control"). Must never read
the wall clock: only monotonic time, which is all intervals need.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "FakeClock", "RealClock", "Timer"]


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` once `seconds` have passed, unless the returned timer is
        cancelled first: a wake-up with no task of its own (a waiting loop's deadline)."""
        ...


class RealClock:
    """The process's monotonic clock and asyncio's sleep."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(seconds, 0.0), callback)


class FakeClock:
    """A clock that moves only when a test calls `advance`.

    `sleep` parks the caller until the fake time reaches its deadline. `advance` moves
    time forward deadline by deadline, letting woken tasks run (and start new sleeps)
    before going further, so a loop that sleeps 1 s at a time sees every tick.
    """

    def __init__(self, start: float = 0.0, settle_rounds: int = 20) -> None:
        self._now = start
        self._settle_rounds = settle_rounds
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    @property
    def sleepers(self) -> int:
        """How many tasks are parked in `sleep` right now."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    def next_deadline(self) -> float | None:
        live = [when for when, _, fut in self._sleepers if not fut.done()]
        return min(live) if live else None

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        try:
            await fut
        finally:
            if not fut.done():
                fut.cancel()

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """A timer that fires when `advance` passes its deadline (it counts as a sleeper
        until then)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(seconds, 0.0), next(self._seq), fut))

        def fire(done: asyncio.Future[None]) -> None:
            if not done.cancelled():
                callback()

        fut.add_done_callback(fire)
        return fut

    async def settle(self) -> None:
        """Let every runnable task run until it blocks again (no fake time passes)."""
        for _ in range(self._settle_rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking sleepers in deadline order."""
        target = self._now + seconds
        await self.settle()
        while True:
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            when = self._sleepers[0][0]
            self._now = max(self._now, when)
            while self._sleepers and self._sleepers[0][0] <= when:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()

    async def wait_for_sleepers(self, count: int = 1, timeout: float = 5.0) -> None:
        """Yield to the loop until at least `count` tasks sleep (bounded by a real deadline,
        so a broken test fails instead of hanging)."""

        async def parked() -> None:
            while self.sleepers < count:
                await asyncio.sleep(0)

        await asyncio.wait_for(parked(), timeout)
