"""Revisioned key-value storage with etcd semantics (see `contract`)."""

from kubeedge.store.contract import (
    Compacted,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RangeResult,
    RevisionMismatch,
    Store,
    StoreError,
    StoreUnavailable,
    WatchEvent,
    WatchOverflow,
)

__all__ = [
    "Compacted",
    "EventType",
    "FutureRevision",
    "KeyExists",
    "KeyNotFound",
    "KeyValue",
    "RangeResult",
    "RevisionMismatch",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "WatchEvent",
    "WatchOverflow",
]
