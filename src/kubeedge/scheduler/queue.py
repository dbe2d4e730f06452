"""The scheduling queue of pending pods (kube-scheduler's PriorityQueue, first in
first out for now): active pods wait to be tried, pods that fit nowhere wait for the
cluster to change, pods coming back wait out a back-off.

Owns kube's retry rules: a pod that fit nowhere is parked as unschedulable until a
cluster event (a node added or changed, a pod deleted or finished) moves it back; it
then waits out its back-off (initial * 2^(attempts-1), capped) before the next try. A
cluster event that happens *while* a pod is being tried sends that pod to back-off
rather than parking it, so the event is not missed (kube's moveRequestCycle). Pods
parked longer than `max_unschedulable_seconds` are retried anyway.

Holds keys only (`namespace/name`); never touches the API. Time comes from a `Clock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque

from kubeedge.client.clock import Clock, RealClock

__all__ = ["SchedulingQueue"]


class SchedulingQueue:
    def __init__(self, clock: Clock | None = None, *, initial_backoff: float = 1.0,
                 max_backoff: float = 10.0, max_unschedulable_seconds: float = 300.0) -> None:
        self.clock: Clock = clock or RealClock()
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable_seconds = max_unschedulable_seconds
        self._active: deque[str] = deque()
        self._active_set: set[str] = set()
        self._backoff: list[tuple[float, int, str]] = []
        self._backoff_at: dict[str, float] = {}
        self._unschedulable: dict[str, float] = {}
        self._attempts: dict[str, int] = {}
        self._failed_at: dict[str, float] = {}
        self._seq = itertools.count()
        self._cycle = 0
        self._move_cycle = -1
        self._last_sweep = self.clock.now()
        self._wakeup = asyncio.Event()
        self._closed = False

    # -- what is where (tests, metrics) -----------------------------------------------

    def __contains__(self, key: object) -> bool:
        return (key in self._active_set or key in self._backoff_at
                or key in self._unschedulable)

    @property
    def active(self) -> int:
        return len(self._active_set)

    @property
    def backing_off(self) -> int:
        return len(self._backoff_at)

    @property
    def unschedulable(self) -> int:
        return len(self._unschedulable)

    def attempts(self, key: str) -> int:
        return self._attempts.get(key, 0)

    # -- adding and removing ----------------------------------------------------------

    def add(self, key: str) -> None:
        """A new pending pod: try it now (unless it is already waiting somewhere)."""
        if key in self:
            return
        self._push_active(key)

    def activate(self, key: str) -> None:
        """The pod itself changed: retry it if parked (after its back-off)."""
        if key in self._unschedulable:
            del self._unschedulable[key]
            self._to_backoff_or_active(key)

    def delete(self, key: str) -> None:
        """The pod is gone or bound: forget it."""
        self._active_set.discard(key)
        self._backoff_at.pop(key, None)
        self._unschedulable.pop(key, None)
        self.forget(key)

    def forget(self, key: str) -> None:
        """Scheduled: the next failure starts its back-off afresh."""
        self._attempts.pop(key, None)
        self._failed_at.pop(key, None)

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    # -- results of a try -------------------------------------------------------------

    def add_unschedulable(self, key: str, cycle: int) -> None:
        """The pod fit nowhere in try `cycle`: park it until the cluster changes."""
        self._failed(key)
        if self._move_cycle >= cycle:
            self._to_backoff_or_active(key)
        else:
            self._unschedulable[key] = self.clock.now()

    def add_backoff(self, key: str) -> None:
        """The try failed for another reason (the bind was refused): retry after the
        back-off."""
        self._failed(key)
        self._to_backoff_or_active(key)

    def move_all_to_active(self) -> None:
        """The cluster changed in a way that may let parked pods fit."""
        self._move_cycle = self._cycle
        if not self._unschedulable:
            return
        parked, self._unschedulable = self._unschedulable, {}
        for key in parked:
            self._to_backoff_or_active(key)

    # -- taking the next pod ----------------------------------------------------------

    async def pop(self) -> tuple[str, int] | None:
        """The next pod to try and the try's cycle number; None once closed."""
        while True:
            self._flush()
            while self._active:
                key = self._active.popleft()
                if key in self._active_set:
                    self._active_set.discard(key)
                    self._cycle += 1
                    return key, self._cycle
            if self._closed:
                return None
            await self._wait(self._next_deadline())

    def backoff_seconds(self, key: str) -> float:
        attempts = self._attempts.get(key, 0)
        if attempts <= 0:
            return 0.0
        return min(self.initial_backoff * 2 ** (attempts - 1), self.max_backoff)

    # -- internals --------------------------------------------------------------------

    def _failed(self, key: str) -> None:
        self._attempts[key] = self._attempts.get(key, 0) + 1
        self._failed_at[key] = self.clock.now()

    def _ready_at(self, key: str) -> float:
        return self._failed_at.get(key, 0.0) + self.backoff_seconds(key)

    def _push_active(self, key: str) -> None:
        if key not in self._active_set:
            self._active_set.add(key)
            self._active.append(key)
            self._wakeup.set()

    def _to_backoff_or_active(self, key: str) -> None:
        ready = self._ready_at(key)
        if ready <= self.clock.now():
            self._push_active(key)
            return
        self._backoff_at[key] = ready
        heapq.heappush(self._backoff, (ready, next(self._seq), key))
        self._wakeup.set()

    def _flush(self) -> None:
        now = self.clock.now()
        while self._backoff and self._backoff[0][0] <= now:
            ready, _, key = heapq.heappop(self._backoff)
            if self._backoff_at.get(key) == ready:
                del self._backoff_at[key]
                self._push_active(key)
        if now - self._last_sweep >= 1.0:
            self._last_sweep = now
            stale = [key for key, since in self._unschedulable.items()
                     if now - since >= self.max_unschedulable_seconds]
            for key in stale:
                del self._unschedulable[key]
                self._to_backoff_or_active(key)

    def _next_deadline(self) -> float | None:
        while self._backoff and self._backoff_at.get(self._backoff[0][2]) != self._backoff[0][0]:
            heapq.heappop(self._backoff)
        deadline = self._backoff[0][0] if self._backoff else None
        if self._unschedulable:
            sweep = self._last_sweep + 1.0
            deadline = sweep if deadline is None else min(deadline, sweep)
        return deadline

    async def _wait(self, deadline: float | None) -> None:
        self._wakeup.clear()
        waiter = asyncio.ensure_future(self._wakeup.wait())
        waits: set[asyncio.Future[object]] = {waiter}
        if deadline is not None:
            waits.add(asyncio.ensure_future(self.clock.sleep(deadline - self.clock.now())))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in waits:
                fut.cancel()
            for fut in waits:
                with contextlib.suppress(asyncio.CancelledError):
                    await fut
