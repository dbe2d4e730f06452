"""The Compactor keeps `retain_revisions` of history and compacts on its interval.

Time is a fake clock the test advances: no test here waits for real time to pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubeedge.store.compactor import Compactor
from kubeedge.store.contract import StoreUnavailable
from kubeedge.store.sqlite import SqliteStore
from tests.unit.store.conftest import DEADLINE_SECONDS


class FakeClock:
    """A clock whose sleeps end only when the test says so."""

    def __init__(self) -> None:
        self.sleeps: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.sleeps.put((seconds, wake))
        await wake

    async def next_sleep(self) -> tuple[float, asyncio.Future[None]]:
        return await asyncio.wait_for(self.sleeps.get(), DEADLINE_SECONDS)

    async def tick(self) -> float:
        """End the pending sleep; returns how long the compactor asked to sleep."""
        seconds, wake = await self.next_sleep()
        wake.set_result(None)
        return seconds


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "kine.db")
    await store.start()
    yield store
    await store.close()


async def write(store: SqliteStore, count: int) -> None:
    if await store.get("/k") is None:
        await store.create("/k", b"0")
        count -= 1
    for i in range(count):
        await store.update("/k", str(i).encode())


def test_defaults_are_kines() -> None:
    compactor = Compactor(store=None)  # type: ignore[arg-type]
    assert (compactor.interval_seconds, compactor.retain_revisions) == (300.0, 1000)


async def test_compacts_every_interval_keeping_the_retained_revisions(store: SqliteStore) -> None:
    clock = FakeClock()
    await write(store, 30)
    async with Compactor(store, interval_seconds=60.0, retain_revisions=10, clock=clock) as c:
        assert await clock.tick() == 60.0
        await clock.next_sleep()  # the compactor sleeps again once the pass is done
        assert await store.compacted_revision() == 20
        # No new history: a pass leaves the store alone; after 5 writes it moves 5 on.
        assert await c.run_once() is None
        await write(store, 5)
        assert await c.run_once() == 25
        assert await store.compacted_revision() == 25


async def test_loop_runs_each_pass_after_its_sleep(store: SqliteStore) -> None:
    clock = FakeClock()
    compactor = Compactor(store, interval_seconds=5.0, retain_revisions=3, clock=clock)
    await compactor.start()
    try:
        await write(store, 10)
        await clock.tick()
        _, wake = await clock.next_sleep()
        assert await store.compacted_revision() == 7
        await write(store, 4)
        wake.set_result(None)
        await clock.next_sleep()
        assert await store.compacted_revision() == 11
    finally:
        await compactor.stop()


async def test_nothing_to_do_while_history_is_short(store: SqliteStore) -> None:
    await write(store, 5)
    compactor = Compactor(store, retain_revisions=10)
    assert await compactor.run_once() is None
    assert await store.compacted_revision() == 0


async def test_a_failed_pass_is_retried_next_interval(store: SqliteStore) -> None:
    clock = FakeClock()
    await write(store, 20)
    real_compact = store.compact
    failures = 1

    async def flaky_compact(revision: int) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise StoreUnavailable("database is locked")
        await real_compact(revision)

    store.compact = flaky_compact  # type: ignore[method-assign]
    async with Compactor(store, interval_seconds=1.0, retain_revisions=5, clock=clock):
        await clock.tick()  # this pass fails
        await clock.tick()  # the loop is still alive: this one compacts
        await clock.next_sleep()
        assert await store.compacted_revision() == 15


async def test_stop_ends_the_task(store: SqliteStore) -> None:
    clock = FakeClock()
    compactor = Compactor(store, clock=clock)
    await compactor.start()
    await compactor.start()  # idempotent
    await clock.next_sleep()
    await compactor.stop()
    await compactor.stop()
