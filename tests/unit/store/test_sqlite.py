"""What SqliteStore promises beyond the shared contract: group commit, bounded watchers,
persistence of revisions and compaction, the single-writer lock, and tidy compaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from kubeedge.store.contract import (
    Compacted,
    EventType,
    StoreError,
    StoreUnavailable,
    WatchEvent,
)
from kubeedge.store.factory import WatchOverflow as ExportedWatchOverflow
from kubeedge.store.sqlite import SqliteStore, WatchOverflow
from tests.unit.store.conftest import DEADLINE_SECONDS, next_event, take

P = "/registry/configmaps/"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "kine.db"


async def opened(path: Path, **options: int) -> SqliteStore:
    store = SqliteStore(path, **options)
    await store.start()
    return store


def rows(path: Path) -> list[tuple[int, str, int]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id, name, deleted FROM kine ORDER BY id").fetchall()


async def test_concurrent_writes_share_commits(db: Path) -> None:
    store = await opened(db)
    try:
        revisions = await asyncio.gather(*(store.create(f"{P}{i}", b"x") for i in range(500)))
        assert sorted(revisions) == list(range(1, 501))
        assert store.stats.writes == 500
        # Group commit: many writes ride on each fsync.
        assert store.stats.commits < 100
    finally:
        await store.close()


async def test_refused_writes_in_a_batch_do_not_spoil_the_others(db: Path) -> None:
    store = await opened(db)
    try:
        results = await asyncio.gather(
            *(store.create(P + "same", str(i).encode()) for i in range(20)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, int) for r in results) == 1
        assert store.stats.refused == 19
        assert await store.current_revision() == 1
    finally:
        await store.close()


async def test_a_failed_batch_leaves_no_trace(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await opened(db)
    real_apply = SqliteStore._apply

    def apply(conn: sqlite3.Connection, op: object, rev: int) -> object:
        if op.key == P + "boom":  # type: ignore[attr-defined]
            raise sqlite3.OperationalError("disk I/O error")
        return real_apply(conn, op, rev)  # type: ignore[arg-type]

    monkeypatch.setattr(SqliteStore, "_apply", staticmethod(apply))
    keys = [f"{P}{i:02d}" for i in range(30)]
    keys.insert(15, P + "boom")
    try:
        results = await asyncio.gather(
            *(store.create(key, b"x") for key in keys), return_exceptions=True
        )
        failed = [k for k, r in zip(keys, results, strict=True) if isinstance(r, Exception)]
        assert P + "boom" in failed
        assert all(isinstance(r, StoreUnavailable | int) for r in results)
        # The whole batch of the failed write rolled back: its neighbours are absent, and
        # the revisions of what was acknowledged have no holes.
        for key, result in zip(keys, results, strict=True):
            kv = await store.get(key)
            assert (kv.mod_revision if kv else None) == (None if key in failed else result)
        acknowledged = sorted(r for r in results if isinstance(r, int))
        assert acknowledged == list(range(1, len(acknowledged) + 1))
        monkeypatch.setattr(SqliteStore, "_apply", staticmethod(real_apply))
        assert await store.create(P + "next", b"x") == len(acknowledged) + 1
    finally:
        await store.close()


async def test_slow_watcher_is_ended_without_blocking_writers(db: Path) -> None:
    store = await opened(db, watch_queue_limit=20)
    try:
        watch = store.watch(P, start_revision=1)
        writes = [store.create(f"{P}{i:03d}", b"x") for i in range(100)]
        # Nobody reads the watch, yet every write completes.
        await asyncio.wait_for(asyncio.gather(*writes), DEADLINE_SECONDS)
        delivered = await take(watch, 20)
        assert [e.revision for e in delivered] == list(range(1, 21))
        with pytest.raises(WatchOverflow) as overflow:
            await next_event(watch)
        assert overflow.value.revision == 21
        assert overflow.value.limit == 20
        assert ExportedWatchOverflow is WatchOverflow and issubclass(WatchOverflow, StoreError)
        # Resuming from the reported revision replays the rest from the table.
        resumed = store.watch(P, start_revision=overflow.value.revision)
        assert [e.revision for e in await take(resumed, 80)] == list(range(21, 101))
        await resumed.aclose()
    finally:
        await store.close()


async def test_replay_spans_many_chunks_without_gaps(db: Path) -> None:
    store = await opened(db, replay_chunk=3)
    try:
        for i in range(10):
            await store.create(f"{P}{i}", b"x")
            await store.create(f"/registry/other/{i}", b"y")  # filtered out mid-chunk
        watch = store.watch(P, start_revision=1)
        events = await take(watch, 10)
        assert [e.key for e in events] == [f"{P}{i}" for i in range(10)]
        await watch.aclose()
    finally:
        await store.close()


async def test_revision_never_goes_back_across_restarts(db: Path) -> None:
    store = await opened(db)
    await store.create(P + "a", b"1")
    last, _ = await store.delete(P + "a")
    await store.compact(last)
    await store.close()
    # Even with every row gone, the revision counter persists (sqlite_sequence).
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM kine")
    store = await opened(db)
    try:
        assert await store.current_revision() == last
        assert await store.create(P + "b", b"2") == last + 1
    finally:
        await store.close()


async def test_compaction_survives_restart(db: Path) -> None:
    store = await opened(db)
    first = await store.create(P + "a", b"1")
    second = await store.update(P + "a", b"2")
    await store.compact(second)
    await store.close()
    store = await opened(db)
    try:
        assert await store.compacted_revision() == second
        with pytest.raises(Compacted):
            await store.get(P + "a", revision=first)
        with pytest.raises(Compacted):
            await next_event(store.watch(P, start_revision=first))
    finally:
        await store.close()


async def test_compaction_keeps_only_what_later_reads_and_watches_need(db: Path) -> None:
    store = await opened(db, compact_chunk=7)
    try:
        await store.create(P + "a", b"0")
        for i in range(1, 30):
            await store.update(P + "a", str(i).encode())
        await store.create(P + "gone", b"x")
        await store.delete(P + "gone")
        at = await store.update(P + "a", b"30")
        later = await store.update(P + "a", b"31")
        await store.compact(at)
        # Left: the predecessor of the row at the compact revision, that row, and later.
        assert [r[0] for r in rows(db)] == [at - 3, at, later]
        watch = store.watch(P, start_revision=at)
        first = await next_event(watch)
        # Unlike etcd, the event at exactly the compact revision keeps its prev_value.
        assert first == WatchEvent(EventType.PUT, P + "a", b"30", at, 1, b"29")
        await watch.aclose()
    finally:
        await store.close()


async def test_an_interrupted_compaction_is_finished_by_the_next(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await opened(db, compact_chunk=5)
    try:
        await store.create(P + "a", b"0")
        for i in range(1, 40):
            await store.update(P + "a", str(i).encode())
        real = SqliteStore._compact_chunk_sync
        calls = 0

        def fail_after_one(conn: sqlite3.Connection, first: int, upto: int) -> None:
            nonlocal calls
            calls += 1
            if calls > 1:
                raise sqlite3.OperationalError("disk I/O error")
            real(conn, first=first, upto=upto)

        monkeypatch.setattr(SqliteStore, "_compact_chunk_sync", staticmethod(fail_after_one))
        with pytest.raises(StoreUnavailable):
            await store.compact(30)
        assert await store.compacted_revision() == 30  # reads below 30 are already refused
        monkeypatch.setattr(SqliteStore, "_compact_chunk_sync", staticmethod(real))
        await store.compact(35)
        assert [r[0] for r in rows(db)] == [34, 35, 36, 37, 38, 39, 40]
        assert (await store.get(P + "a", revision=35)).value == b"34"  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_a_second_writer_on_the_same_file_is_refused(db: Path) -> None:
    store = await opened(db)
    try:
        second = SqliteStore(db)
        with pytest.raises(StoreUnavailable, match=str(db)):
            await second.start()
    finally:
        await store.close()
    # Closing releases the lock.
    again = await opened(db)
    await again.close()


async def test_a_closed_store_refuses_work(db: Path) -> None:
    store = await opened(db)
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.create(P + "a", b"x")
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.range(P)
    with pytest.raises(StoreUnavailable):
        await next_event(store.watch(P))


async def test_writes_queued_before_close_are_committed(db: Path) -> None:
    store = await opened(db)
    pending = [asyncio.ensure_future(store.create(f"{P}{i}", b"x")) for i in range(50)]
    await asyncio.sleep(0)  # one loop turn: every create task puts its write on the queue
    await store.close()
    assert sorted(await asyncio.gather(*pending)) == list(range(1, 51))
    assert len(rows(db)) == 50


def test_memory_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="file path"):
        SqliteStore(":memory:")


async def test_the_database_is_wal_with_full_fsync(db: Path) -> None:
    store = await opened(db)
    try:
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        # synchronous is per connection: check the one the store opens (2 = FULL).
        conn = store._connect()
        try:
            assert conn.execute("PRAGMA synchronous").fetchone() == (2,)
        finally:
            conn.close()
    finally:
        await store.close()
