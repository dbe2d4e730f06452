"""The storage contract: a revisioned key-value map with watch, with etcd's semantics.

ARCHITECTURE.md rule 2. Every backend (`sqlite`, `etcd`) implements `Store` and passes
the same contract suite (`tests/unit/store/`):

- one global revision that only grows; every successful write makes exactly one new
  revision, which becomes the written key's `mod_revision` (the API's resourceVersion);
- `get` and `range` by prefix, at the current revision or an older one still kept, with
  `limit` and continuation after a key;
- `create` only if absent; `update` and `delete` guarded by mod revision (compare and
  swap); a guard of 0 means "whatever the current revision is";
- `watch` a prefix from a revision: every change with revision >= start, in revision
  order, exactly once;
- `compact(rev)` drops history older than `rev` (as etcd does: the state as of `rev`
  stays readable); reading at a revision < rev or watching with start_revision < rev
  then raises `Compacted`, which the API serves as 410 Expired.

Values are opaque bytes. This module must never know what a Kubernetes object is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class StoreError(Exception):
    """Base of every error the contract defines."""


class KeyExists(StoreError):
    """`create` found the key already present."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} already exists")
        self.key = key


class KeyNotFound(StoreError):
    """`update` or `delete` of a key that is absent."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} not found")
        self.key = key


class RevisionMismatch(StoreError):
    """The compare-and-swap guard failed: the key moved on since the caller read it."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(f"key {key!r} is at revision {actual}, not {expected}")
        self.key = key
        self.expected = expected
        self.actual = actual


class Compacted(StoreError):
    """The requested revision is older than the compaction point."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(
            f"required revision {requested} has been compacted (oldest kept {compacted})"
        )
        self.requested = requested
        self.compacted = compacted


class FutureRevision(StoreError):
    """The requested revision has not happened yet."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"required revision {requested} is a future revision (current {current})")
        self.requested = requested
        self.current = current


class WatchOverflow(StoreError):
    """A watcher fell more than its queue bound behind the writers and was ended.

    Every event before `revision` was delivered; re-watch from `revision` to resume
    (the history is replayed from the table as long as it is not compacted).
    """

    def __init__(self, prefix: str, limit: int, revision: int) -> None:
        super().__init__(
            f"watch on {prefix!r} fell more than {limit} events behind; "
            f"re-watch from revision {revision}"
        )
        self.prefix = prefix
        self.limit = limit
        self.revision = revision


class StoreUnavailable(StoreError):
    """The backend cannot be reached (etcd down, database locked past its timeout)."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: list[KeyValue]
    # The revision the range was read at (the store's current one when not given).
    revision: int
    # True when `limit` cut the result short: continue after `kvs[-1].key`.
    more: bool
    # How many keys the range covered in all (after `start_after`, before `limit`),
    # for remainingItemCount.
    count: int


class EventType(StrEnum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    key: str
    # PUT: the new value. DELETE: the last value the key held before deletion.
    value: bytes
    # The revision of this change (a DELETE's own revision, not the deleted value's).
    revision: int
    # Revision at which the key was created (for a PUT equal to `revision` on create).
    create_revision: int
    # The value before this change, None on create.
    prev_value: bytes | None

    @property
    def is_create(self) -> bool:
        return self.type is EventType.PUT and self.create_revision == self.revision


@runtime_checkable
class Store(Protocol):
    async def start(self) -> None:
        """Open connections and background tasks; idempotent."""

    async def close(self) -> None:
        """Stop background tasks; open watches end (their iterators finish)."""

    async def current_revision(self) -> int: ...

    async def compacted_revision(self) -> int:
        """The revision of the last compaction (0 when none): older ones are gone."""
        ...

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None: ...

    async def range(
        self,
        prefix: str,
        *,
        start_after: str = "",
        limit: int = 0,
        revision: int = 0,
    ) -> RangeResult:
        """Keys starting with `prefix`, in key order, strictly after `start_after`.

        `revision` 0 reads the current state; an older one reads the state as of that
        revision (Compacted if it is gone, FutureRevision if it has not happened).
        """
        ...

    async def create(self, key: str, value: bytes) -> int:
        """Write `key` only if absent. Returns the new revision. Raises KeyExists."""
        ...

    async def update(self, key: str, value: bytes, *, mod_revision: int = 0) -> int:
        """Replace `key` if its mod revision equals `mod_revision` (0: unguarded).

        Returns the new revision. Raises KeyNotFound or RevisionMismatch.
        """
        ...

    async def delete(self, key: str, *, mod_revision: int = 0) -> tuple[int, KeyValue]:
        """Delete `key` (guarded like update). Returns (revision, deleted KeyValue)."""
        ...

    def watch(self, prefix: str, *, start_revision: int = 0) -> AsyncIterator[WatchEvent]:
        """Every change under `prefix` with revision >= start_revision, in order, once.

        start_revision 0 means "from the next change". Raises Compacted (on first
        iteration) when start_revision < the compacted revision. The iterator ends when
        the store closes; callers stop early by closing the iterator (`aclose`).
        """
        ...

    async def compact(self, revision: int) -> None:
        """Forget history older than `revision` (the state as of it and later is kept)."""
        ...
