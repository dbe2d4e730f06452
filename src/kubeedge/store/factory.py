"""Open the configured storage backend: the one place that maps a name to a `Store`.

Owns the choice between backends and their required settings. Must never import a
backend before it is chosen: aiohttp costs about 9 MB (ARCHITECTURE.md) and the default
SQLite store does not need it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

from kubeedge.store.contract import Store, WatchOverflow

__all__ = ["StoreKind", "WatchOverflow", "open_store"]

StoreKind = Literal["sqlite", "etcd"]


def open_store(
    kind: StoreKind,
    *,
    path: str | os.PathLike[str] | None = None,
    endpoints: Sequence[str] = (),
    key_prefix: str = "",
    prefix: str = "",
    **options: Any,
) -> Store:
    """A new, not yet started store (call `await store.start()`).

    `sqlite` needs `path` (the database file; `<path>.lock` sits beside it); `etcd` needs
    `endpoints` (`http://127.0.0.1:2379`) and takes an optional `key_prefix` so several
    clusters can share one etcd (`prefix` is accepted as another name for it, as the API
    server's `etcd_prefix` setting passes it). Other keyword arguments go to the backend's
    constructor (timeouts, batch and queue bounds).
    """
    if prefix and key_prefix and prefix != key_prefix:
        raise ValueError("storage: give key_prefix or prefix, not two different values")
    key_prefix = key_prefix or prefix
    if kind == "sqlite":
        if path is None or not str(path):
            raise ValueError("storage sqlite: path is required (the database file)")
        if endpoints:
            raise ValueError("storage sqlite: endpoints apply to etcd only")
        if key_prefix:
            raise ValueError("storage sqlite: key_prefix applies to etcd only")
        from kubeedge.store.sqlite import SqliteStore

        return SqliteStore(path, **options)
    if kind == "etcd":
        if not endpoints or isinstance(endpoints, str):
            raise ValueError(
                "storage etcd: endpoints is required, a list like ['http://127.0.0.1:2379']"
            )
        if path is not None:
            raise ValueError("storage etcd: path applies to sqlite only")
        from kubeedge.store.etcd import EtcdStore

        return EtcdStore(endpoints, key_prefix=key_prefix, **options)
    raise ValueError(f"storage kind {kind!r} is not supported: use 'sqlite' or 'etcd'")
