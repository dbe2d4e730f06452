"""Fixtures of the store suite: one `store` per backend, and helpers that wait with deadlines.

Owns the parametrization that makes every contract test run against SQLite and a real
etcd. Must never skip the etcd half (a missing binary fails with the install hint) and
never sleep to synchronise: helpers wait on conditions under `asyncio.wait_for`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubeedge.store.contract import Store, WatchEvent
from kubeedge.store.etcd import EtcdStore
from kubeedge.store.sqlite import SqliteStore
from tests.fixtures.etcd import EtcdProcess, etcd_server

__all__ = ["etcd_server"]  # re-exported so pytest finds the session fixture here

DEADLINE_SECONDS = 10.0


async def open_backend(kind: str, tmp_path: Path, etcd: EtcdProcess | None) -> Store:
    if kind == "sqlite":
        store: Store = SqliteStore(tmp_path / "store.db")
    else:
        assert etcd is not None
        # A fresh prefix per test: tests share one etcd but never see each other's keys.
        store = EtcdStore([etcd.endpoint], key_prefix=f"/test-{uuid.uuid4().hex}")
    await store.start()
    return store


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    etcd = request.getfixturevalue("etcd_server") if request.param == "etcd" else None
    backend = await open_backend(request.param, tmp_path, etcd)
    try:
        yield backend
    finally:
        await backend.close()


async def take(
    events: AsyncIterator[WatchEvent], count: int, timeout: float = DEADLINE_SECONDS
) -> list[WatchEvent]:
    """The next `count` events of a watch, or fail after `timeout` seconds."""

    async def collect() -> list[WatchEvent]:
        got: list[WatchEvent] = []
        while len(got) < count:
            got.append(await anext(events))
        return got

    return await asyncio.wait_for(collect(), timeout)


async def next_event(
    events: AsyncIterator[WatchEvent], timeout: float = DEADLINE_SECONDS
) -> WatchEvent:
    return await asyncio.wait_for(anext(events), timeout)
