"""open_store maps a storage name and its settings to a backend, refusing bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeedge.store.contract import Store
from kubeedge.store.etcd import EtcdStore
from kubeedge.store.factory import open_store
from kubeedge.store.sqlite import SqliteStore


def test_sqlite_by_path(tmp_path: Path) -> None:
    store = open_store("sqlite", path=tmp_path / "kine.db", watch_queue_limit=5)
    assert isinstance(store, SqliteStore) and isinstance(store, Store)
    assert store.watch_queue_limit == 5


def test_etcd_by_endpoints() -> None:
    store = open_store("etcd", endpoints=["127.0.0.1:2379"], key_prefix="/c1")
    assert isinstance(store, EtcdStore) and isinstance(store, Store)
    assert (store.endpoints, store.key_prefix) == (["http://127.0.0.1:2379"], "/c1")


def test_prefix_is_another_name_for_key_prefix() -> None:
    store = open_store("etcd", endpoints=["http://h:2379"], prefix="/registry-a")
    assert isinstance(store, EtcdStore) and store.key_prefix == "/registry-a"


@pytest.mark.parametrize(
    ("kind", "settings", "message"),
    [
        ("sqlite", {}, "path is required"),
        ("sqlite", {"path": "x.db", "endpoints": ["h:1"]}, "etcd only"),
        ("etcd", {}, "endpoints is required"),
        ("etcd", {"endpoints": "http://h:1"}, "a list"),
        ("etcd", {"endpoints": ["h:1"], "path": "x.db"}, "sqlite only"),
        ("etcd", {"endpoints": ["h:1"], "prefix": "/a", "key_prefix": "/b"}, "not two"),
        ("mysql", {}, "'sqlite' or 'etcd'"),
    ],
)
def test_bad_settings_are_refused_with_the_field(kind: str, settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(kind, **settings)  # type: ignore[arg-type]
