"""Work queues for controllers: client-go's `workqueue` semantics on asyncio.

Owns the queue of keys a controller's workers reconcile: a key waiting in the queue is
held once however often it is added; a key being processed is never handed to a second
worker, and if it was added meanwhile it is queued again when `done` is called; keys can
be added after a delay or after a per-key exponential back-off combined with an overall
token bucket (client-go's `DefaultControllerRateLimiter`: 5 ms doubling to 1000 s, and
10 qps / burst 100). Must never drop a key that was added and not yet processed (except
at shutdown, as client-go does), and never read the real clock when a `Clock` is
injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from kubeedge.client.clock import Clock, RealClock
from kubeedge.client.ratelimit import TokenBucket

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialBackoff",
    "MaxOfRateLimiter",
    "RateLimiter",
    "RateLimitingQueue",
    "WorkQueue",
    "default_controller_rate_limiter",
]

T = TypeVar("T", bound=Hashable)


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """Seconds to wait before `item` is retried (and count the retry)."""
        ...

    def forget(self, item: Hashable) -> None: ...

    def num_requeues(self, item: Hashable) -> int: ...


class ItemExponentialBackoff:
    """Per item: `base * 2**failures`, capped at `maximum` (client-go's
    ItemExponentialFailureRateLimiter, 5 ms and 1000 s by default)."""

    def __init__(self, base: float = 0.005, maximum: float = 1000.0) -> None:
        self.base = base
        self.maximum = maximum
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        if exp >= 64:
            return self.maximum
        return min(self.base * (2**exp), self.maximum)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """One token bucket over all items: bounds the overall retry rate."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        self.bucket = TokenBucket(qps, burst, clock)

    def when(self, item: Hashable) -> float:
        return self.bucket.reserve()

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest wait any of `limiters` asks for."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(
    clock: Clock | None = None,
    *,
    base: float = 0.005,
    maximum: float = 1000.0,
    qps: float = 10.0,
    burst: int = 100,
) -> MaxOfRateLimiter:
    """client-go's DefaultControllerRateLimiter, every number configurable."""
    return MaxOfRateLimiter(
        ItemExponentialBackoff(base, maximum), BucketRateLimiter(qps, burst, clock)
    )


class WorkQueue(Generic[T]):
    """A fair FIFO of distinct keys with processing tracking and delayed adds.

    Workers loop: `key = await queue.get()`; `None` means shut down; reconcile; then
    `queue.done(key)` (always, in a `finally`). After `shutdown()`, `add` is ignored,
    keys still queued are handed out, then `get` returns None.
    """

    def __init__(self, name: str = "", clock: Clock | None = None) -> None:
        self.name = name
        self.clock: Clock = clock or RealClock()
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._getters: list[asyncio.Future[None]] = []
        self._shutting_down = False
        self._drained = asyncio.Event()
        # Delayed adds: a heap of (ready_at, seq, key); `_waiting` holds each key's
        # earliest entry so a key waits once, for the shortest delay asked.
        self._heap: list[tuple[float, int, T]] = []
        self._waiting: dict[T, tuple[float, int]] = {}
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        """Keys queued and not yet handed out (delayed ones not counted)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def processing(self) -> int:
        return len(self._processing)

    @property
    def waiting(self) -> int:
        """Keys waiting for their delay to pass."""
        return len(self._waiting)

    def add(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return  # queued again by done()
        self._queue.append(item)
        self._wake_getters()

    async def get(self) -> T | None:
        while not self._queue and not self._shutting_down:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._getters.remove(waiter)
        if not self._queue:
            return None
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: T) -> None:
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_getters()
        elif self._shutting_down and not self._processing:
            self._drained.set()

    def shutdown(self) -> None:
        """Stop accepting keys; wake every waiting worker. Delayed keys are dropped."""
        self._shutting_down = True
        self._wake_getters()
        if not self._processing:
            self._drained.set()
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self._heap.clear()
        self._waiting.clear()

    async def shutdown_with_drain(self) -> None:
        """Shut down, then wait until every key handed out is `done`."""
        self.shutdown()
        await self._drained.wait()

    def _wake_getters(self) -> None:
        getters, self._getters = self._getters, []
        for waiter in getters:
            if not waiter.done():
                waiter.set_result(None)

    # -- delays -------------------------------------------------------------------------

    def add_after(self, item: T, delay: float) -> None:
        """Add `item` once `delay` seconds have passed (at once when `delay <= 0`)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        ready_at = self.clock.now() + delay
        current = self._waiting.get(item)
        if current is not None and current[0] <= ready_at:
            return
        seq = next(self._seq)
        self._waiting[item] = (ready_at, seq)
        heapq.heappush(self._heap, (ready_at, seq, item))
        self._wakeup.set()
        if self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(
                self._release_when_ready(), name=f"workqueue {self.name} delays"
            )

    async def _release_when_ready(self) -> None:
        while not self._shutting_down:
            now = self.clock.now()
            while self._heap and self._heap[0][0] <= now:
                ready_at, seq, item = heapq.heappop(self._heap)
                if self._waiting.get(item) == (ready_at, seq):
                    del self._waiting[item]
                    self.add(item)
            if not self._heap:
                return
            self._wakeup.clear()
            sleeper = asyncio.ensure_future(self.clock.sleep(self._heap[0][0] - now))
            woken = asyncio.ensure_future(self._wakeup.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                woken.cancel()


class RateLimitingQueue(WorkQueue[T]):
    """A `WorkQueue` whose failed keys come back after a rate-limited delay.

    On failure call `add_rate_limited(key)`; on success `forget(key)` so the next
    failure starts from the base delay again.
    """

    def __init__(
        self, rate_limiter: RateLimiter | None = None, name: str = "", clock: Clock | None = None
    ) -> None:
        super().__init__(name, clock)
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter(self.clock)

    def add_rate_limited(self, item: T) -> None:
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)
