"""The edge's durable store: MetaManager's SQLite database, `edgecore.db` (spec §6).

Owns the database file, its lock file (`<path>.lock`), KubeEdge's tables with KubeEdge's
table and column names (so `sqlite3 edgecore.db 'select * from meta'` works as KubeEdge's
users expect), our one extra table `meta_version`, the schema version and its
migrations, and the one writer thread every write goes through.

The guarantee it gives (ARCHITECTURE.md rules 4 and 5): every write coroutine returns
only after the transaction holding the write is committed and synced to disk, so a
caller that sends the ACK after `await`ing the write never acknowledges something a
crash or power loss can take back. `commit_then(op, ack)` spells that order out.

Must never: run a statement on the event loop's thread, resolve a write before its
COMMIT returned, let a second process write the same file (an exclusive `flock` on the
lock file guards it), or import anything beyond the standard library (rule 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import inspect
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "SCHEMA_VERSION",
    "ApplyDelete",
    "ApplyUpdate",
    "Delete",
    "KeyVersion",
    "MetaRow",
    "MetaStore",
    "MetaStoreClosed",
    "MetaStoreError",
    "Op",
    "Upsert",
    "WriterStats",
    "parse_resource_version",
]

T = TypeVar("T")

# Kubernetes resourceVersions are etcd revisions (int64); KubeEdge compares them as
# unsigned integers (cloud/pkg/synccontroller CompareResourceVersion). SQLite's INTEGER
# is a signed 64-bit number, so anything at or above 2**63 cannot be a real revision.
_MAX_RESOURCE_VERSION = 2**63 - 1

# The current layout. PRAGMA user_version holds it: 0 is a fresh file or one written by
# KubeEdge's own edgecore (GORM never sets user_version).
SCHEMA_VERSION = 1


class MetaStoreError(Exception):
    """The edge database cannot be opened or written; nothing of the failed write is kept."""


class MetaStoreClosed(MetaStoreError):
    """The store was closed before the call."""


# ---- operations ------------------------------------------------------------------------


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(
            f"meta key must be a non-empty string like 'default/pod/nginx', not {key!r}"
        )
    return key


def _check_value(key: str, value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f'meta "{key}": value is not UTF-8 JSON text: {exc}') from None
    if not isinstance(value, str):
        raise ValueError(f'meta "{key}": value must be JSON text (str), not {type(value).__name__}')
    return value


def parse_resource_version(key: str, resource_version: object) -> int:
    """The resourceVersion as an integer, or a ValueError naming the key and the value."""
    number: int | None = None
    if isinstance(resource_version, int) and not isinstance(resource_version, bool):
        number = resource_version
    elif (
        isinstance(resource_version, str)
        and resource_version.isascii()
        and resource_version.isdecimal()
    ):
        number = int(resource_version)
    if number is None or not 0 <= number <= _MAX_RESOURCE_VERSION:
        raise ValueError(
            f'meta "{key}": resourceVersion {resource_version!r} is not a decimal integer '
            f"between 0 and {_MAX_RESOURCE_VERSION} (KubeEdge compares resourceVersions as "
            "numbers)"
        )
    return number


@dataclass(frozen=True, slots=True)
class Upsert:
    """Write a row unconditionally, as KubeEdge's `InsertOrUpdate` does.

    For edge-local records (pod status patches, query answers). It forgets any version
    record of the key, so the version bookkeeping never claims a version the row does
    not hold. Objects the cloud sends with a resourceVersion go through `ApplyUpdate`.
    """

    key: str
    type: str
    value: str

    def __post_init__(self) -> None:
        _check_key(self.key)
        if not isinstance(self.type, str) or not self.type:
            raise ValueError(f'meta "{self.key}": type must be a non-empty string like "pod"')
        object.__setattr__(self, "value", _check_value(self.key, self.value))


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete a row unconditionally (KubeEdge's `DeleteMetaByKey`); no tombstone is kept."""

    key: str

    def __post_init__(self) -> None:
        _check_key(self.key)


@dataclass(frozen=True, slots=True)
class ApplyUpdate:
    """Write the row only if `resource_version` is newer than every version seen for the key.

    "Seen" includes deletes: a tombstone keeps the delete's version, so an old update
    that arrives after the delete does not bring the object back.
    """

    key: str
    type: str
    value: str
    resource_version: int

    def __post_init__(self) -> None:
        _check_key(self.key)
        if not isinstance(self.type, str) or not self.type:
            raise ValueError(f'meta "{self.key}": type must be a non-empty string like "pod"')
        object.__setattr__(self, "value", _check_value(self.key, self.value))
        object.__setattr__(
            self, "resource_version", parse_resource_version(self.key, self.resource_version)
        )


@dataclass(frozen=True, slots=True)
class ApplyDelete:
    """Delete the row unless the store holds a newer version; leave a tombstone.

    With a `resource_version` (a Kubernetes DELETE event carries the object's last
    version), the version order alone decides. Without one, as in the delete messages
    KubeEdge's synccontroller sends for orphaned ObjectSyncs (they carry only the UID),
    KubeEdge's rule applies: delete only when the stored object's `metadata.uid` equals
    `uid` (edge/pkg/metamanager/process.go `processDeletePodDB`), or unconditionally when
    no uid is given.
    """

    key: str
    resource_version: int | None = None
    uid: str | None = None

    def __post_init__(self) -> None:
        _check_key(self.key)
        if self.resource_version is not None and self.resource_version != "":
            object.__setattr__(
                self, "resource_version", parse_resource_version(self.key, self.resource_version)
            )
        else:
            object.__setattr__(self, "resource_version", None)
        if self.uid == "":
            object.__setattr__(self, "uid", None)
        if self.uid is not None and not isinstance(self.uid, str):
            raise ValueError(f'meta "{self.key}": uid must be a string, not {self.uid!r}')


Op = Upsert | Delete | ApplyUpdate | ApplyDelete


class MetaRow(NamedTuple):
    """One row of KubeEdge's `meta` table."""

    key: str
    type: str
    value: str


class KeyVersion(NamedTuple):
    """The newest resourceVersion seen for a key, and whether that was a delete."""

    resource_version: int
    deleted: bool


@dataclass(slots=True)
class WriterStats:
    """Counters of the writer thread (for metrics and group-commit tests)."""

    # Transactions committed; under concurrency one commit carries many operations.
    commits: int = 0
    operations: int = 0


# ---- schema ----------------------------------------------------------------------------

# KubeEdge's tables as GORM's SQLite dialect creates them from
# edge/pkg/metamanager/dao/models (every Go string is `text`, bool `numeric`, integers
# `integer`, the primary key a table constraint). Same names and columns, so KubeEdge's
# debugging habits and tools work on our file. KubeEdge migrates the device, sub_topics
# and target_urls tables only for enabled modules; empty tables cost nothing, so we
# always create them and the modules that own them find them ready.
_KUBEEDGE_TABLES = (
    "CREATE TABLE IF NOT EXISTS `meta` (`key` text,`type` text,`value` text,PRIMARY KEY (`key`))",
    "CREATE TABLE IF NOT EXISTS `meta_v2` (`key` text,`group_version_resource` text,"
    "`namespace` text,`name` text,`resource_version` integer,`value` text,"
    "PRIMARY KEY (`key`))",
    "CREATE TABLE IF NOT EXISTS `device` (`id` text,`name` text,`description` text,"
    "`state` text,`last_online` text,PRIMARY KEY (`id`))",
    "CREATE TABLE IF NOT EXISTS `device_attr` (`id` integer,`deviceid` text,`name` text,"
    "`description` text,`value` text,`optional` numeric,`attr_type` text,`metadata` text,"
    "PRIMARY KEY (`id`))",
    "CREATE TABLE IF NOT EXISTS `device_twin` (`id` integer,`deviceid` text,`name` text,"
    "`description` text,`expected` text,`actual` text,`expected_meta` text,"
    "`actual_meta` text,`expected_version` text,`actual_version` text,`optional` numeric,"
    "`attr_type` text,`metadata` text,PRIMARY KEY (`id`))",
    "CREATE TABLE IF NOT EXISTS `sub_topics` (`topic` text,PRIMARY KEY (`topic`))",
    "CREATE TABLE IF NOT EXISTS `target_urls` (`url` text,PRIMARY KEY (`url`))",
)

# Ours, not KubeEdge's: KubeEdge's edge writes blindly (`INSERT OR REPLACE`) and relies
# on the cloud dropping stale messages (cloudhub's dispatcher compares resourceVersions
# before queueing). We keep the newest version per key here as well, so a resend that
# overtakes a newer write, or outlives a delete, cannot undo it. A separate table keeps
# `meta` exactly KubeEdge's. Invariant: deleted=0 rows have a `meta` row, deleted=1
# rows (tombstones) do not.
_META_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS meta_version ("
    "key TEXT PRIMARY KEY NOT NULL, "
    "resource_version INTEGER NOT NULL, "
    "deleted INTEGER NOT NULL DEFAULT 0, "
    "updated_at REAL NOT NULL"
    ") WITHOUT ROWID"
)


def _backfill_versions(conn: sqlite3.Connection, now: float) -> None:
    """Record the resourceVersion of every object already in `meta` (a KubeEdge database)."""
    rows = conn.execute("SELECT key, value FROM meta").fetchall()
    for key, value in rows:
        try:
            rv = json.loads(value)["metadata"]["resourceVersion"]
            number = parse_resource_version(key, rv)
        except (ValueError, TypeError, KeyError):
            continue  # not an object with a version: it stays unversioned
        conn.execute("INSERT OR IGNORE INTO meta_version VALUES (?, ?, 0, ?)", (key, number, now))


def _migrate_to_1(conn: sqlite3.Connection, now: float) -> None:
    for statement in _KUBEEDGE_TABLES:
        conn.execute(statement)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(meta)")}
    missing = {"key", "type", "value"} - columns
    if missing:
        raise MetaStoreError(
            f"table meta lacks columns {sorted(missing)}: this is not a KubeEdge edge database"
        )
    conn.execute(_META_VERSION_TABLE)
    _backfill_versions(conn, now)


# Index i moves a database from schema version i to i + 1.
_MIGRATIONS: tuple[Callable[[sqlite3.Connection, float], None], ...] = (_migrate_to_1,)
assert len(_MIGRATIONS) == SCHEMA_VERSION


# ---- the writer's statements -----------------------------------------------------------

_GET_VERSION = "SELECT resource_version, deleted FROM meta_version WHERE key = ?"
_PUT_VERSION = "INSERT OR REPLACE INTO meta_version VALUES (?, ?, ?, ?)"
_FORGET_VERSION = "DELETE FROM meta_version WHERE key = ?"
# KubeEdge's own statement (dbclient/meta.go InsertOrUpdate).
_PUT_META = "INSERT OR REPLACE INTO meta (key, type, value) VALUES (?, ?, ?)"
_DELETE_META = "DELETE FROM meta WHERE key = ?"


def _pod_patch_key(key: str) -> str | None:
    """`<ns>/podpatch/<name>` for a pod key: KubeEdge drops it with the pod (spec §6)."""
    parts = key.split("/")
    if len(parts) == 3 and parts[1] == "pod":
        return f"{parts[0]}/podpatch/{parts[2]}"
    return None


def _stored_uid(value: str) -> str | None:
    try:
        uid = json.loads(value)["metadata"]["uid"]
    except (ValueError, TypeError, KeyError):
        return None
    return uid if isinstance(uid, str) else None


def _apply(conn: sqlite3.Connection, op: Op, now: float) -> bool | None:
    """Run one operation inside the writer's open transaction; return its result."""
    if isinstance(op, ApplyUpdate):
        seen = conn.execute(_GET_VERSION, (op.key,)).fetchone()
        if seen is not None and seen[0] >= op.resource_version:
            return False  # a resend, an overtaken update, or an update older than a delete
        conn.execute(_PUT_META, (op.key, op.type, op.value))
        conn.execute(_PUT_VERSION, (op.key, op.resource_version, 0, now))
        return True
    if isinstance(op, ApplyDelete):
        seen = conn.execute(_GET_VERSION, (op.key,)).fetchone()
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (op.key,)).fetchone()
        if row is not None:
            if op.resource_version is not None:
                # The stored object is newer than the delete (the name was re-created):
                # keep it. A uid check would be wrong here: when updates arrive out of
                # order, an older incarnation may still be stored when the newer one's
                # delete arrives, and the delete must still win.
                if seen is not None and not seen[1] and seen[0] > op.resource_version:
                    return False
            elif op.uid is not None and _stored_uid(row[0]) != op.uid:
                return False  # another incarnation of the name (KubeEdge's uid rule)
            conn.execute(_DELETE_META, (op.key,))
            patch_key = _pod_patch_key(op.key)
            if patch_key is not None:
                conn.execute(_DELETE_META, (patch_key,))
                conn.execute(_FORGET_VERSION, (patch_key,))
        elif op.resource_version is None and seen is None:
            return False  # nothing stored, nothing to remember
        # Remember the newest version known to be gone, so older updates stay refused.
        tomb = max(op.resource_version or 0, seen[0] if seen is not None else 0)
        conn.execute(_PUT_VERSION, (op.key, tomb, 1, now))
        return row is not None
    if isinstance(op, Upsert):
        conn.execute(_PUT_META, (op.key, op.type, op.value))
        conn.execute(_FORGET_VERSION, (op.key,))
        return None
    if isinstance(op, Delete):
        deleted = conn.execute(_DELETE_META, (op.key,)).rowcount
        conn.execute(_FORGET_VERSION, (op.key,))
        return deleted > 0
    raise TypeError(f"not a meta store operation: {op!r}")


# ---- queue items -----------------------------------------------------------------------


@dataclass(slots=True)
class _Unit:
    """Operations that commit together or not at all; `single` answers one result."""

    ops: tuple[Op, ...]
    future: asyncio.Future[Any]
    single: bool


@dataclass(slots=True)
class _Job:
    """A function run by the writer in its own transaction (tables other modules own)."""

    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


_STOP = object()


# A future, its result, or the error to raise instead.
_Settlement = tuple[asyncio.Future[Any], Any, BaseException | None]


def _settle(items: list[_Settlement]) -> None:
    for future, result, error in items:
        if future.done():  # the caller gave up waiting; the write may still have committed
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _prefix_end(prefix: str) -> str | None:
    """The smallest string above every string starting with `prefix`, if there is one.

    SQLite compares text as UTF-8 bytes, which orders like code points, so bumping the
    last code point bounds the prefix range and the primary key index serves the query.
    """
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be encoded; the next code point can
        last = 0xE000
    if last > 0x10FFFF:
        return None
    return prefix[:-1] + chr(last)


# ---- the store -------------------------------------------------------------------------


class MetaStore:
    """MetaManager's SQLite database, written by one thread with group commit.

    `MetaStore(path)` opens (creating and migrating) the file synchronously; from a
    coroutine, `await MetaStore.open(path)` does the same off the event loop. Every
    write method returns only after its transaction is committed to disk: send the ACK
    after awaiting it (or use `commit_then`). If a write raises, nothing of it was kept
    and no ACK may be sent; the cloud resends (spec §3). A caller that cancels a write
    does not undo it: it may still commit.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_batch: int = 256,
        tombstone_retention_seconds: float = 86_400.0,
        busy_timeout_seconds: float = 10.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not str(path) or str(path) == ":memory:" or str(path).startswith("file:"):
            raise ValueError(
                f"MetaStore needs a file path (the edge database must survive restarts), "
                f"not {str(path)!r}"
            )
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, not {max_batch}")
        if tombstone_retention_seconds < 0:
            raise ValueError(
                f"tombstone_retention_seconds must be >= 0, not {tombstone_retention_seconds}"
            )
        self.path = Path(path)
        self.lock_path = Path(f"{self.path}.lock")
        self.max_batch = max_batch
        self.tombstone_retention_seconds = tombstone_retention_seconds
        self.busy_timeout_seconds = busy_timeout_seconds
        self.stats = WriterStats()
        self._wall_clock = wall_clock
        self._closed = False
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock_fd = self._take_lock()
        try:
            conn = self._open_database()
        except BaseException:
            self._release_lock()
            raise
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metastore-read")
        self._read_conn: sqlite3.Connection | None = None
        self._writer = threading.Thread(
            target=self._writer_main, args=(conn,), name="metastore-write", daemon=True
        )
        self._writer.start()

    @classmethod
    async def open(cls, path: str | os.PathLike[str], **options: Any) -> MetaStore:
        """Open off the event loop: migration and the first fsync may take a while."""
        return await asyncio.to_thread(cls, path, **options)

    async def __aenter__(self) -> MetaStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- opening ---------------------------------------------------------------------

    def _take_lock(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise MetaStoreError(
                f"edge database {self.path} is already open by another edgecore "
                f"(lock {self.lock_path} is held): one edgecore per database"
            ) from exc
        return fd

    def _release_lock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = -1

    def _make_private(self) -> None:
        """Create the file with mode 0600, or tighten an existing one (it caches secrets).

        SQLite creates the -wal and -shm files with the database file's permissions, so
        they follow; a file that already exists is tightened here too.
        """
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            for candidate in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                with contextlib.suppress(FileNotFoundError):
                    if candidate.stat().st_mode & 0o077:
                        os.chmod(candidate, 0o600)
            return
        os.close(fd)
        # The new directory entry must be durable too, or a power loss could lose the
        # whole file after its first acknowledged write.
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _connect(self, *, read_only: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_seconds,
            isolation_level=None,  # BEGIN/COMMIT are ours
            check_same_thread=False,  # created here, then used by its one owner thread
        )
        if read_only:
            conn.execute("PRAGMA query_only=ON")
        else:
            # Durability choice (ARCHITECTURE.md rule 5). SQLite documents that in WAL
            # mode synchronous=NORMAL is safe against an application crash but "a
            # transaction committed in WAL mode with synchronous=NORMAL might roll back
            # following a power loss or system crash", while with FULL "the WAL file is
            # synchronized after each transaction commit" (sqlite.org/pragma.html
            # #pragma_synchronous). An edge loses power more often than a data centre,
            # and an ACK the cloud received is never resent, so we take FULL and pay its
            # fsync once per group commit rather than once per write.
            conn.execute("PRAGMA synchronous=FULL")
            # Bound the WAL file left behind after a checkpoint (the edge stays light).
            conn.execute("PRAGMA journal_size_limit=4194304")
        return conn

    def _open_database(self) -> sqlite3.Connection:
        self._make_private()
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect(read_only=False)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise MetaStoreError(f"edge database {self.path}: cannot enable WAL ({mode})")
            self._migrate(conn)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise MetaStoreError(f"edge database {self.path} cannot be opened: {exc}") from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise MetaStoreError(
                    f"edge database {self.path} has schema version {version}, written by a "
                    f"newer edgecore; this one knows versions up to {SCHEMA_VERSION}"
                )
            now = self._wall_clock()
            for step in _MIGRATIONS[version:]:
                step(conn, now)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            # Another program (KubeEdge's own edgecore, an operator's sqlite3 shell) may
            # have written `meta` since we last ran; re-establish meta_version's invariant
            # so a stale record never hides or blocks a row.
            conn.execute(
                "DELETE FROM meta_version WHERE deleted = 0 AND key NOT IN (SELECT key FROM meta)"
            )
            conn.execute(
                "DELETE FROM meta_version WHERE deleted = 1 AND key IN (SELECT key FROM meta)"
            )
            self._prune(conn, now)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _prune(self, conn: sqlite3.Connection, now: float) -> int:
        cutoff = now - self.tombstone_retention_seconds
        return conn.execute(
            "DELETE FROM meta_version WHERE deleted = 1 AND updated_at < ?", (cutoff,)
        ).rowcount

    # ---- closing ---------------------------------------------------------------------

    async def close(self) -> None:
        """Finish every queued write, then close the files and drop the lock."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)  # writes queued before it still commit and resolve
        await asyncio.to_thread(self._writer.join)
        await asyncio.to_thread(self._shutdown_reader)
        self._release_lock()

    def _shutdown_reader(self) -> None:
        def close_conn() -> None:
            if self._read_conn is not None:
                self._read_conn.close()
                self._read_conn = None

        self._reader.submit(close_conn).result()
        self._reader.shutdown(wait=True)

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- writes ----------------------------------------------------------------------

    def _enqueue(self, item_factory: Callable[[asyncio.Future[Any]], object]) -> Any:
        if self._closed:
            raise MetaStoreClosed(f"edge database {self.path} is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # SimpleQueue.put never blocks: the event loop only hands the work over.
        self._queue.put(item_factory(future))
        return future

    async def write(self, op: Op) -> bool | None:
        """Commit one operation; the result is the operation's (see each method)."""
        return await self._enqueue(lambda f: _Unit((op,), f, True))

    async def batch(self, ops: Iterable[Op]) -> list[bool | None]:
        """Commit several operations in one transaction: all of them or none."""
        ops = tuple(ops)
        for op in ops:
            if not isinstance(op, Upsert | Delete | ApplyUpdate | ApplyDelete):
                raise TypeError(f"not a meta store operation: {op!r}")
        if not ops:
            return []
        return await self._enqueue(lambda f: _Unit(ops, f, False))

    async def upsert(self, key: str, type: str, value: str | bytes) -> None:
        """KubeEdge's InsertOrUpdate: `value` is the object's JSON text as sent."""
        await self.write(Upsert(key, type, value))  # type: ignore[arg-type]

    async def delete(self, key: str) -> bool:
        """KubeEdge's DeleteMetaByKey; True if a row was there."""
        return bool(await self.write(Delete(key)))

    async def apply_update(
        self,
        key: str,
        type: str,
        value: str | bytes,
        resource_version: int | str,
    ) -> bool:
        """Store the object if `resource_version` is newer than any seen; True if stored.

        False means an equal or newer version (or a newer delete) is already committed,
        so the message is safe to acknowledge as it is.
        """
        return bool(await self.write(ApplyUpdate(key, type, value, resource_version)))  # type: ignore[arg-type]

    async def apply_delete(
        self, key: str, resource_version: int | str | None = None, uid: str | None = None
    ) -> bool:
        """Delete the object unless a newer version is stored; True if a row was removed.

        The tombstone is written either way, so an older update arriving later is refused.
        """
        return bool(await self.write(ApplyDelete(key, resource_version, uid)))  # type: ignore[arg-type]

    async def commit_then(
        self, op: Op, ack: Callable[[bool | None], Awaitable[object] | object]
    ) -> bool | None:
        """Commit `op`, then call `ack` with its result; `ack` is never called if it failed.

        The order ARCHITECTURE.md rule 5 asks for: the hub passes the function that sends
        the ACK (spec §3), so nothing is acknowledged that a crash could lose.
        """
        result = await self.write(op)
        sent = ack(result)
        if inspect.isawaitable(sent):
            await sent
        return result

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on the writer thread inside its own committed transaction.

        For modules that own other KubeEdge tables (devicetwin's `device*`, eventbus's
        `sub_topics`): their writes get the same ordering and durability. An exception
        rolls the transaction back and is raised here.
        """
        return await self._enqueue(lambda f: _Job(fn, f))

    async def prune_tombstones(self) -> int:
        """Drop tombstones older than the retention; the number dropped.

        A tombstone only has to outlive the stale messages the cloud could still resend
        (its queue holds one message per object and replaces an update by the delete,
        spec §3), so a day is plenty; after that an update older than the delete could
        bring the object back, exactly as in KubeEdge.
        """
        return await self.transaction(lambda conn: self._prune(conn, self._wall_clock()))

    # ---- the writer thread -----------------------------------------------------------

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
                assert isinstance(item, _Unit)
                units = [item]
                count = len(item.ops)
                # Group commit: whatever queued up while the last fsync ran joins this one.
                while count < self.max_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if not isinstance(nxt, _Unit):
                        carry = nxt
                        break
                    units.append(nxt)
                    count += len(nxt.ops)
                self._commit_units(conn, units)
        finally:
            conn.close()
            # Anything still queued (only after an unexpected writer failure) fails loudly.
            self._fail_pending()

    def _fail_pending(self) -> None:
        pending: list[_Settlement] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Unit | _Job):
                error = MetaStoreClosed(f"edge database {self.path} is closed")
                pending.append((item.future, None, error))
        self._hand_back(pending)

    def _hand_back(self, items: list[_Settlement]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for entry in items:
            by_loop.setdefault(entry[0].get_loop(), []).append(entry)
        for loop, entries in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is gone: nobody waits
                loop.call_soon_threadsafe(_settle, entries)

    def _commit_units(self, conn: sqlite3.Connection, units: list[_Unit]) -> None:
        now = self._wall_clock()
        results: list[list[bool | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for unit in units:
                results.append([_apply(conn, op, now) for op in unit.ops])
            conn.execute("COMMIT")
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            # Nothing of the transaction is on disk, so no caller may acknowledge.
            error = MetaStoreError(f"edge database {self.path}: write failed: {exc}")
            self._hand_back([(unit.future, None, error) for unit in units])
            return
        self.stats.commits += 1
        self.stats.operations += sum(len(unit.ops) for unit in units)
        self._hand_back(
            [
                (unit.future, result[0] if unit.single else result, None)
                for unit, result in zip(units, results, strict=True)
            ]
        )

    def _run_job(self, conn: sqlite3.Connection, job: _Job) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = job.fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except Exception as exc:
            self._hand_back([(job.future, None, exc)])
            return
        self.stats.commits += 1
        self._hand_back([(job.future, result, None)])

    # ---- reads -----------------------------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise MetaStoreClosed(f"edge database {self.path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._read_sync, fn)

    def _read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        # Only the one reader thread gets here. A committed write is visible to it at
        # once (WAL readers see every transaction committed before their statement).
        if self._read_conn is None:
            self._read_conn = self._connect(read_only=True)
        try:
            return fn(self._read_conn)
        except sqlite3.Error as exc:
            raise MetaStoreError(f"edge database {self.path}: read failed: {exc}") from exc

    async def get(self, key: str) -> MetaRow | None:
        """The row stored under `key` (`<namespace>/<type>/<name>`), if any."""
        _check_key(key)

        def read(conn: sqlite3.Connection) -> MetaRow | None:
            row = conn.execute("SELECT key, type, value FROM meta WHERE key = ?", (key,)).fetchone()
            return MetaRow(*row) if row is not None else None

        return await self._read(read)

    async def query(
        self,
        *,
        type: str | None = None,
        key_prefix: str | None = None,
    ) -> list[MetaRow]:
        """Rows by key order, filtered by type and/or key prefix; all rows with neither.

        KubeEdge answers a query without a name by type alone, across namespaces
        (`QueryMeta("type", ...)`, spec §6); `key_prefix="default/pod/"` narrows it to
        one namespace.
        """
        clauses: list[str] = []
        params: list[str | int] = []
        if type is not None:
            clauses.append("type = ?")
            params.append(type)
        if key_prefix:
            end = _prefix_end(key_prefix)
            if end is not None:
                clauses.append("key >= ? AND key < ?")
                params += [key_prefix, end]
            else:
                clauses.append("substr(key, 1, ?) = ?")
                params += [len(key_prefix), key_prefix]
        sql = "SELECT key, type, value FROM meta"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY key"

        def read(conn: sqlite3.Connection) -> list[MetaRow]:
            return [MetaRow(*row) for row in conn.execute(sql, params)]

        return await self._read(read)

    async def version(self, key: str) -> KeyVersion | None:
        """The newest resourceVersion applied or deleted for `key`, if one is recorded."""
        _check_key(key)

        def read(conn: sqlite3.Connection) -> KeyVersion | None:
            row = conn.execute(_GET_VERSION, (key,)).fetchone()
            return KeyVersion(row[0], bool(row[1])) if row is not None else None

        return await self._read(read)
