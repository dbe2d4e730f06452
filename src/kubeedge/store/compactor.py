"""Periodic compaction of a `Store`, with kine's defaults (specs/k8s-api.md §8).

Owns one background task that, every `interval_seconds`, compacts the store to
`current_revision - retain_revisions`. Must never compact closer to the head than
`retain_revisions` (watchers resuming from a recent resourceVersion rely on that
history), never die on a failed pass (the next interval tries again), and never sleep on
the real clock in tests: time comes from the injected `clock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from kubeedge.store.contract import Store, StoreError

__all__ = ["AsyncioClock", "Clock", "Compactor"]

log = logging.getLogger(__name__)


class Clock(Protocol):
    async def sleep(self, seconds: float) -> None: ...


class AsyncioClock:
    """The real clock."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Compactor:
    """Compacts `store` every `interval_seconds`, keeping `retain_revisions` of history."""

    def __init__(
        self,
        store: Store,
        interval_seconds: float = 300.0,
        retain_revisions: int = 1000,
        *,
        clock: Clock | None = None,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, not {interval_seconds}")
        if retain_revisions < 0:
            raise ValueError(f"retain_revisions must be >= 0, not {retain_revisions}")
        self.store = store
        self.interval_seconds = interval_seconds
        self.retain_revisions = retain_revisions
        self.clock: Clock = clock or AsyncioClock()
        # The last revision this compactor compacted to; passes that would not move past
        # it are skipped without asking the store.
        self.last_compacted = 0
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int | None:
        """One pass: compact if the head moved far enough. Returns the revision, if any."""
        target = await self.store.current_revision() - self.retain_revisions
        if target <= max(self.last_compacted, 0):
            return None
        await self.store.compact(target)
        self.last_compacted = target
        log.debug("compacted store to revision %d", target)
        return target

    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.interval_seconds)
            try:
                await self.run_once()
            except StoreError as exc:
                log.warning("compaction failed, retrying in %ss: %s", self.interval_seconds, exc)
            except Exception:  # a bug must not end compaction for the life of the server
                log.exception("compaction failed, retrying in %ss", self.interval_seconds)

    async def start(self) -> None:
        """Start the background task on the running loop; idempotent.

        Async like `Store.start`, so callers start every part the same way.
        """
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="store-compactor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Compactor:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
