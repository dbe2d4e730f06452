"""The SQLite backend of the storage contract: one file, one writer process, kine's table.

Owns the database file, its lock file (`<path>.lock`), the writer thread and the
in-process watch fan-out. Layout follows kine (specs/k8s-api.md §8): one append-only
table where every write is a new row whose `id` is the global revision; the current
state is the newest row per key that is not a delete marker.

Must never: touch the database from the event loop thread (every statement runs on the
writer thread or a reader thread), acknowledge a write before its transaction is
committed with `synchronous=FULL`, let a slow watcher hold up writers, or let a second
process write the same file (an exclusive `flock` on the lock file guards it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import functools
import os
import queue
import sqlite3
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from kubeedge.store.contract import (
    Compacted,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RangeResult,
    RevisionMismatch,
    StoreUnavailable,
    WatchEvent,
    WatchOverflow,
)

__all__ = ["SqliteStore", "WatchOverflow", "WriterStats"]

T = TypeVar("T")


@dataclass(slots=True)
class WriterStats:
    """Counters of the writer thread (read them for metrics and group-commit tests)."""

    # Transactions committed (one per batch, so commits < writes under concurrency).
    commits: int = 0
    # Write operations that made a new revision.
    writes: int = 0
    # Write operations refused by their guard (KeyExists, KeyNotFound, RevisionMismatch).
    refused: int = 0


_SCHEMA = (
    # AUTOINCREMENT (not just INTEGER PRIMARY KEY) so ids are never reused: sqlite_sequence
    # keeps the highest revision ever written even after compaction deleted its row.
    """CREATE TABLE IF NOT EXISTS kine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        create_revision INTEGER NOT NULL,
        prev_revision INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        value BLOB NOT NULL
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS kine_name_id ON kine (name, id)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)

_LATEST = (
    "SELECT id, create_revision, deleted, value FROM kine WHERE name = ? ORDER BY id DESC LIMIT 1"
)
_LATEST_AT = (
    "SELECT id, create_revision, deleted, value FROM kine "
    "WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1"
)
_INSERT = (
    "INSERT INTO kine (id, name, create_revision, prev_revision, deleted, value) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_SNAPSHOT = (
    "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'kine'), "
    "(SELECT value FROM meta WHERE key = 'compact_rev')"
)


class _Kind(Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(slots=True)
class _Write:
    kind: _Kind
    key: str
    value: bytes
    guard: int
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Job:
    """A non-write task (compaction step) that needs the writer connection to itself."""

    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


# A write's outcome: (revision, deleted KeyValue or None, event) or the error to raise.
_Outcome = tuple[int, KeyValue | None, WatchEvent] | BaseException

_STOP = object()


def _prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (None: none).

    SQLite compares TEXT by its UTF-8 bytes, which orders like Python's code points, so
    bumping the last code point works; surrogates cannot be stored, hence the jump.
    """
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            bumped = last + 1
            if 0xD800 <= bumped <= 0xDFFF:
                bumped = 0xE000
            return prefix[:-1] + chr(bumped)
        prefix = prefix[:-1]
    return None


class _Watcher:
    """One watch's bounded queue; the writer side only appends and never waits."""

    __slots__ = ("__weakref__", "closed", "events", "limit", "overflow", "prefix", "wakeup")

    def __init__(self, prefix: str, limit: int) -> None:
        self.prefix = prefix
        self.limit = limit
        self.events: collections.deque[WatchEvent] = collections.deque()
        self.wakeup = asyncio.Event()
        # First revision that could not be queued; set once, then the watch ends.
        self.overflow: int | None = None
        self.closed = False

    def push(self, event: WatchEvent) -> None:
        if self.overflow is not None or self.closed:
            return
        if len(self.events) >= self.limit:
            self.overflow = event.revision
        else:
            self.events.append(event)
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()

    async def get(self) -> WatchEvent | None:
        """The next queued event; None once closed and drained. Raises WatchOverflow."""
        while not self.events:
            if self.overflow is not None:
                raise WatchOverflow(self.prefix, self.limit, self.overflow)
            if self.closed:
                return None
            self.wakeup.clear()
            await self.wakeup.wait()
        return self.events.popleft()


class _SqliteWatch(AsyncIterator[WatchEvent]):
    """The iterator `SqliteStore.watch` returns.

    It registers for live events when created (so start_revision 0 means "changes after
    the watch() call"), then replays [start, registered revision] from the table and
    continues with the queue, which holds exactly the events after that revision: no gap,
    no duplicate.
    """

    def __init__(self, store: SqliteStore, prefix: str, start_revision: int) -> None:
        self._store = store
        self._watcher = _Watcher(prefix, store.watch_queue_limit)
        self._registered = store._rev
        self._start = start_revision
        if not store._closed:
            store._watchers.add(self._watcher)
        self._gen = self._run()

    def __aiter__(self) -> _SqliteWatch:
        return self

    async def __anext__(self) -> WatchEvent:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        self._store._watchers.discard(self._watcher)
        self._watcher.close()  # an iteration waiting in another task ends too
        with contextlib.suppress(RuntimeError):  # that iteration is still running
            await self._gen.aclose()

    async def _run(self) -> AsyncGenerator[WatchEvent, None]:
        store, watcher = self._store, self._watcher
        try:
            store._check_open()
            start = self._start
            if start and start < store._compact_rev:
                raise Compacted(start, store._compact_rev)
            next_rev = start if start else self._registered + 1
            while next_rev <= self._registered:
                try:
                    events, next_rev = await store._read(
                        store._replay_sync, watcher.prefix, next_rev, self._registered
                    )
                except StoreUnavailable:
                    if store._closed:
                        return
                    raise
                for event in events:
                    yield event
            while True:
                event = await watcher.get()
                if event is None:
                    return
                if event.revision >= start:
                    yield event
        finally:
            store._watchers.discard(watcher)


class SqliteStore:
    """`Store` on one SQLite file in WAL mode, written by this process only.

    Writes go through one writer thread that commits every batch of concurrently pending
    writes in one transaction (group commit), so each fsync acknowledges many writes.
    Reads run on `read_threads` reader connections, each in a read transaction so a
    result and its revision come from one snapshot.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_batch: int = 1000,
        watch_queue_limit: int = 10_000,
        replay_chunk: int = 1000,
        compact_chunk: int = 10_000,
        read_threads: int = 2,
        busy_timeout_seconds: float = 30.0,
    ) -> None:
        if str(path) == ":memory:" or not str(path):
            raise ValueError("SqliteStore needs a file path (WAL does not work in memory)")
        if max_batch < 1 or watch_queue_limit < 1 or replay_chunk < 1 or compact_chunk < 1:
            raise ValueError(
                "max_batch, watch_queue_limit, replay_chunk and compact_chunk must be >= 1"
            )
        self.path = Path(path)
        self.lock_path = Path(f"{self.path}.lock")
        self.max_batch = max_batch
        self.watch_queue_limit = watch_queue_limit
        self.replay_chunk = replay_chunk
        self.compact_chunk = compact_chunk
        self.read_threads = read_threads
        self.busy_timeout_seconds = busy_timeout_seconds
        self.stats = WriterStats()

        self._started = False
        self._closed = False
        self._start_lock = asyncio.Lock()
        self._compact_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock_fd: int | None = None
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_conns_lock = threading.Lock()
        # Loop-side view: the newest revision whose events were published to watchers.
        self._rev = 0
        self._compact_rev = 0
        # Writer-thread side: the newest revision committed.
        self._w_rev = 0
        self._watchers: weakref.WeakSet[_Watcher] = weakref.WeakSet()

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise StoreUnavailable(f"sqlite store {self.path} is closed")
            self._loop = asyncio.get_running_loop()
            self._take_lock()
            try:
                conn, rev, compact_rev = await asyncio.to_thread(self._open_sync)
            except BaseException:
                self._release_lock()
                raise
            self._rev = self._w_rev = rev
            self._compact_rev = compact_rev
            self._readers = ThreadPoolExecutor(
                max_workers=self.read_threads, thread_name_prefix="sqlite-store-read"
            )
            self._writer = threading.Thread(
                target=self._writer_main, args=(conn,), name="sqlite-store-write", daemon=True
            )
            self._writer.start()
            self._started = True

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for watcher in list(self._watchers):
            watcher.close()
        if not self._started:
            return
        # Queued writes ahead of the stop marker still commit and resolve their futures.
        self._queue.put(_STOP)
        writer, readers = self._writer, self._readers
        if writer is not None:
            await asyncio.to_thread(writer.join)
        if readers is not None:
            await asyncio.to_thread(readers.shutdown, True)
        with self._reader_conns_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        self._release_lock()

    def _take_lock(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise StoreUnavailable(
                f"sqlite store {self.path} is already open by another writer "
                f"(lock {self.lock_path} is held): only one API server may use a database"
            ) from exc
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_seconds,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # created on one thread, used by its owner thread
        )
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _open_sync(self) -> tuple[sqlite3.Connection, int, int]:
        try:
            conn = self._connect()
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreUnavailable(f"sqlite store {self.path}: cannot enable WAL ({mode})")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("COMMIT")
            seq, compact_rev = conn.execute(_SNAPSHOT).fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite store {self.path} cannot be opened: {exc}") from exc
        compact_rev = compact_rev or 0
        return conn, max(seq or 0, compact_rev), compact_rev

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable(f"sqlite store {self.path} is closed")
        if not self._started:
            raise StoreUnavailable(f"sqlite store {self.path} is not started")

    # ---- writer thread ----------------------------------------------------------------

    def _writer_main(self, conn: sqlite3.Connection) -> None:
        carry: object = None
        try:
            while True:
                item = carry if carry is not None else self._queue.get()
                carry = None
                if item is _STOP:
                    return
                if isinstance(item, _Job):
                    self._run_job(conn, item)
                    continue
                assert isinstance(item, _Write)
                batch = [item]
                # Group commit: everything queued while the last fsync ran joins this one.
                while len(batch) < self.max_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(nxt, _Write):
                        batch.append(nxt)
                    else:
                        carry = nxt
                        break
                outcomes = self._commit_batch(conn, batch)
                self._call_loop(self._settle_batch, batch, outcomes)
        finally:
            conn.close()

    def _call_loop(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            self._loop.call_soon_threadsafe(fn, *args)

    def _run_job(self, conn: sqlite3.Connection, job: _Job) -> None:
        try:
            result: Any = job.fn(conn)
            error: BaseException | None = None
        except BaseException as exc:
            result, error = None, exc
        self._call_loop(_settle_future, job.future, result, error)

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Write]) -> list[_Outcome]:
        rev = self._w_rev
        outcomes: list[_Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in batch:
                outcome = self._apply(conn, op, rev + 1)
                if not isinstance(outcome, BaseException):
                    rev += 1
                outcomes.append(outcome)
            conn.execute("COMMIT")
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            # Nothing of the batch is committed, so every caller gets the error.
            return [
                StoreUnavailable(f"sqlite store {self.path}: write failed: {exc}") for _ in batch
            ]
        self.stats.commits += 1
        self.stats.writes += rev - self._w_rev
        self.stats.refused += len(batch) - (rev - self._w_rev)
        self._w_rev = rev
        return outcomes

    @staticmethod
    def _apply(conn: sqlite3.Connection, op: _Write, rev: int) -> _Outcome:
        row = conn.execute(_LATEST, (op.key,)).fetchone()
        live = row is not None and not row[2]
        if op.kind is _Kind.CREATE:
            if live:
                return KeyExists(op.key)
            # A re-create links to the delete marker, as kine does (prev_revision).
            conn.execute(_INSERT, (rev, op.key, rev, row[0] if row else 0, 0, op.value))
            return rev, None, WatchEvent(EventType.PUT, op.key, op.value, rev, rev, None)
        if not live:
            return KeyNotFound(op.key)
        mod_rev, create_rev, _, old_value = row
        if op.guard and op.guard != mod_rev:
            return RevisionMismatch(op.key, op.guard, mod_rev)
        if op.kind is _Kind.UPDATE:
            conn.execute(_INSERT, (rev, op.key, create_rev, mod_rev, 0, op.value))
            event = WatchEvent(EventType.PUT, op.key, op.value, rev, create_rev, old_value)
            return rev, None, event
        # A delete marker keeps the last value so a replayed DELETE event can carry it.
        conn.execute(_INSERT, (rev, op.key, create_rev, mod_rev, 1, old_value))
        deleted = KeyValue(op.key, old_value, create_rev, mod_rev)
        event = WatchEvent(EventType.DELETE, op.key, old_value, rev, create_rev, old_value)
        return rev, deleted, event

    def _settle_batch(self, batch: list[_Write], outcomes: list[_Outcome]) -> None:
        # Runs on the loop: publishing and advancing _rev happen in one step, so a watch
        # registered at any point sees every later revision exactly once (see _SqliteWatch).
        events = [o[2] for o in outcomes if not isinstance(o, BaseException)]
        if events:
            self._rev = events[-1].revision
            watchers = list(self._watchers)
            for event in events:
                for watcher in watchers:
                    if event.key.startswith(watcher.prefix):
                        watcher.push(event)
        for op, outcome in zip(batch, outcomes, strict=True):
            if op.future.done():  # the caller gave up; the write may still have happened
                continue
            if isinstance(outcome, BaseException):
                op.future.set_exception(outcome)
            else:
                op.future.set_result(outcome)

    async def _submit(self, kind: _Kind, key: str, value: bytes, guard: int) -> Any:
        self._check_open()
        _check_key(key)
        if guard < 0:
            raise ValueError(f"mod_revision must be >= 0, not {guard}")
        assert self._loop is not None
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put(_Write(kind, key, value, guard, future))
        return await future

    async def _job(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        assert self._loop is not None
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Job(fn, future))
        return await future

    # ---- readers ----------------------------------------------------------------------

    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._reader_conns_lock:
                self._reader_conns.append(conn)
        return conn

    def _in_read_txn(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._reader_conn()
        try:
            conn.execute("BEGIN")
            try:
                seq, compact_rev = conn.execute(_SNAPSHOT).fetchone()
                compact_rev = compact_rev or 0
                return fn(conn, max(seq or 0, compact_rev), compact_rev, *args)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite store {self.path}: read failed: {exc}") from exc

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        self._check_open()
        assert self._loop is not None and self._readers is not None
        try:
            return await self._loop.run_in_executor(
                self._readers, functools.partial(self._in_read_txn, fn, *args)
            )
        except RuntimeError as exc:  # executor shut down by close()
            raise StoreUnavailable(f"sqlite store {self.path} is closed") from exc

    @staticmethod
    def _read_revision(revision: int, current: int, compact_rev: int) -> int:
        if revision < 0:
            raise ValueError(f"revision must be >= 0, not {revision}")
        if revision == 0:
            return current
        if revision > current:
            raise FutureRevision(revision, current)
        if revision < compact_rev:
            raise Compacted(revision, compact_rev)
        return revision

    def _get_sync(
        self, conn: sqlite3.Connection, current: int, compact_rev: int, key: str, revision: int
    ) -> KeyValue | None:
        at = self._read_revision(revision, current, compact_rev)
        row = conn.execute(_LATEST_AT, (key, at)).fetchone()
        if row is None or row[2]:
            return None
        return KeyValue(key, row[3], row[1], row[0])

    def _range_sync(
        self,
        conn: sqlite3.Connection,
        current: int,
        compact_rev: int,
        prefix: str,
        start_after: str,
        limit: int,
        revision: int,
    ) -> RangeResult:
        at = self._read_revision(revision, current, compact_rev)
        where = ["k.name >= ?", "k.id <= ?"]
        params: list[Any] = [prefix, at]
        end = _prefix_end(prefix)
        if end is not None:
            where.append("k.name < ?")
            params.append(end)
        if start_after:
            where.append("k.name > ?")
            params.append(start_after)
        bounds = " AND ".join(where)
        # The page walks the (name, id) index in key order and keeps a row when it is the
        # key's newest as of `at` and not a delete marker: no sort, so LIMIT stops early.
        page_sql = (
            "SELECT k.name, k.value, k.create_revision, k.id FROM kine AS k "
            f"WHERE {bounds} AND k.deleted = 0 "
            "AND k.id = (SELECT MAX(n.id) FROM kine AS n WHERE n.name = k.name AND n.id <= ?) "
            "ORDER BY k.name"
        )
        if limit:
            rows = conn.execute(page_sql + " LIMIT ?", (*params, at, limit + 1)).fetchall()
        else:
            rows = conn.execute(page_sql, (*params, at)).fetchall()
        more = bool(limit) and len(rows) > limit
        if more:
            rows = rows[:limit]
            # Counting everything is cheaper grouped: the GROUP BY reads only the index.
            count = conn.execute(
                f"SELECT COUNT(*) FROM (SELECT MAX(k.id) AS id FROM kine AS k WHERE {bounds} "
                "GROUP BY k.name) AS m JOIN kine AS k ON k.id = m.id WHERE k.deleted = 0",
                params,
            ).fetchone()[0]
        else:
            count = len(rows)
        kvs = [KeyValue(name, value, create, mod) for name, value, create, mod in rows]
        return RangeResult(kvs=kvs, revision=at, more=more, count=count)

    def _replay_sync(
        self,
        conn: sqlite3.Connection,
        current: int,
        compact_rev: int,
        prefix: str,
        first: int,
        last: int,
    ) -> tuple[list[WatchEvent], int]:
        """Events in [first, last] under prefix, at most replay_chunk; and where to go on."""
        if first < compact_rev:
            raise Compacted(first, compact_rev)
        where = ["k.id >= ?", "k.id <= ?", "+k.name >= ?"]  # '+' keeps the scan on id order
        params: list[Any] = [first, last, prefix]
        end = _prefix_end(prefix)
        if end is not None:
            where.append("+k.name < ?")
            params.append(end)
        rows = conn.execute(
            "SELECT k.id, k.name, k.create_revision, k.deleted, k.value, p.value "
            "FROM kine AS k LEFT JOIN kine AS p ON p.id = k.prev_revision "
            f"WHERE {' AND '.join(where)} ORDER BY k.id LIMIT ?",
            (*params, self.replay_chunk),
        ).fetchall()
        events = []
        for rev, name, create_rev, deleted, value, prev_value in rows:
            if deleted:
                events.append(WatchEvent(EventType.DELETE, name, value, rev, create_rev, value))
            elif create_rev == rev:
                events.append(WatchEvent(EventType.PUT, name, value, rev, create_rev, None))
            else:
                # Compaction keeps the predecessor of every row at or after the compact
                # revision (see _compact_chunk_sync), so prev_value is there to read.
                events.append(WatchEvent(EventType.PUT, name, value, rev, create_rev, prev_value))
        next_first = last + 1 if len(rows) < self.replay_chunk else rows[-1][0] + 1
        return events, next_first

    # ---- the contract -----------------------------------------------------------------

    async def current_revision(self) -> int:
        self._check_open()
        return self._rev

    async def compacted_revision(self) -> int:
        self._check_open()
        return self._compact_rev

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        _check_key(key)
        return await self._read(self._get_sync, key, revision)

    async def range(
        self,
        prefix: str,
        *,
        start_after: str = "",
        limit: int = 0,
        revision: int = 0,
    ) -> RangeResult:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        return await self._read(self._range_sync, prefix, start_after, limit, revision)

    async def create(self, key: str, value: bytes) -> int:
        revision, _, _ = await self._submit(_Kind.CREATE, key, _check_value(value), 0)
        return int(revision)

    async def update(self, key: str, value: bytes, *, mod_revision: int = 0) -> int:
        revision, _, _ = await self._submit(_Kind.UPDATE, key, _check_value(value), mod_revision)
        return int(revision)

    async def delete(self, key: str, *, mod_revision: int = 0) -> tuple[int, KeyValue]:
        revision, deleted, _ = await self._submit(_Kind.DELETE, key, b"", mod_revision)
        return int(revision), deleted

    def watch(self, prefix: str, *, start_revision: int = 0) -> AsyncIterator[WatchEvent]:
        if start_revision < 0:
            raise ValueError(f"start_revision must be >= 0, not {start_revision}")
        return _SqliteWatch(self, prefix, start_revision)

    async def compact(self, revision: int) -> None:
        """Forget history older than `revision`; a revision at or below the last one is a no-op.

        The compact revision is committed first, so readers (who check it inside their
        read transaction) refuse older revisions before any row is gone. Rows are then
        removed in chunks of `compact_chunk` revisions, each its own transaction, so
        writes interleave with a long compaction.
        """
        self._check_open()
        if revision <= 0:
            raise ValueError(f"compact revision must be > 0, not {revision}")
        async with self._compact_lock:
            if revision > self._rev:
                raise FutureRevision(revision, self._rev)
            if revision <= self._compact_rev:
                return
            progress = await self._job(
                functools.partial(self._begin_compact_sync, revision=revision)
            )
            self._compact_rev = revision
            while progress < revision:
                upto = min(progress + self.compact_chunk, revision)
                await self._job(
                    functools.partial(self._compact_chunk_sync, first=progress, upto=upto)
                )
                progress = upto

    @staticmethod
    def _begin_compact_sync(conn: sqlite3.Connection, revision: int) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('compact_rev', ?)", (revision,)
            )
            row = conn.execute("SELECT value FROM meta WHERE key = 'compact_progress'").fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        # Where physical deletion stopped: an earlier compaction cut short by a crash
        # resumes from there, so no superseded row is left behind for good.
        return int(row[0]) if row else 1

    @staticmethod
    def _compact_chunk_sync(conn: sqlite3.Connection, first: int, upto: int) -> None:
        """Delete rows superseded before `upto` by rows in [first, upto), and delete markers.

        A row is dropped only when its successor is older than the compact revision, so
        the state as of the compact revision stays readable and every later row keeps its
        predecessor (the prev_value of replayed events). Follows kine's prev_revision walk.
        """
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "DELETE FROM kine WHERE id IN (SELECT prev_revision FROM kine "
                "WHERE id >= ? AND id < ? AND prev_revision != 0)",
                (first, upto),
            )
            conn.execute("DELETE FROM kine WHERE id >= ? AND id < ? AND deleted = 1", (first, upto))
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('compact_progress', ?)", (upto,)
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _settle_future(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        if isinstance(error, sqlite3.Error):
            error = StoreUnavailable(f"sqlite store: {error}")
        future.set_exception(error)
    else:
        future.set_result(result)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"key must be a non-empty string, not {key!r}")


def _check_value(value: bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"value must be bytes, not {type(value).__name__}")
