"""What EtcdStore promises beyond the shared contract: key prefixes, endpoint failover,
and etcd being down surfacing as StoreUnavailable (never a hang or a raw aiohttp error).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeedge.store.contract import EventType, StoreUnavailable
from kubeedge.store.etcd import EtcdStore
from tests.fixtures.etcd import EtcdProcess, free_port, running_etcd
from tests.unit.store.conftest import DEADLINE_SECONDS, next_event

pytestmark = pytest.mark.etcd


def prefix() -> str:
    return f"/test-{uuid.uuid4().hex}"


@pytest.fixture
def private_etcd(tmp_path: Path) -> Iterator[EtcdProcess]:
    """An etcd of this test's own, for tests that stop it."""
    with running_etcd(tmp_path) as server:
        yield server


async def test_key_prefixes_keep_clusters_apart(etcd_server: EtcdProcess) -> None:
    one = EtcdStore([etcd_server.endpoint], key_prefix=prefix())
    two = EtcdStore([etcd_server.endpoint], key_prefix=prefix())
    await one.start()
    await two.start()
    try:
        watch = two.watch("/", start_revision=await two.current_revision() + 1)
        await one.create("/registry/a", b"one")
        await two.create("/registry/a", b"two")
        assert [kv.value for kv in (await one.range("/")).kvs] == [b"one"]
        assert [kv.value for kv in (await two.range("/")).kvs] == [b"two"]
        event = await next_event(watch)  # two's watch sees only two's key, unprefixed
        assert (event.key, event.value) == ("/registry/a", b"two")
        await watch.aclose()
    finally:
        await one.close()
        await two.close()


async def test_a_dead_endpoint_is_skipped(etcd_server: EtcdProcess) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    store = EtcdStore([dead, etcd_server.endpoint.removeprefix("http://")], key_prefix=prefix())
    await store.start()
    try:
        revision = await store.create("/a", b"x")
        assert (await store.get("/a")).mod_revision == revision  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_no_etcd_at_start_is_store_unavailable() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    store = EtcdStore([dead])
    with pytest.raises(StoreUnavailable, match=dead):
        await store.start()


async def test_etcd_going_away_is_store_unavailable(private_etcd: EtcdProcess) -> None:
    store = EtcdStore([private_etcd.endpoint], key_prefix=prefix(), request_timeout_seconds=5.0)
    await store.start()
    try:
        watch = store.watch("/", start_revision=await store.current_revision() + 1)
        await store.create("/a", b"x")
        assert (await next_event(watch)).type is EventType.PUT
        pending = asyncio.ensure_future(next_event(watch))
        private_etcd.stop()
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(pending, DEADLINE_SECONDS)
        with pytest.raises(StoreUnavailable):
            await store.create("/b", b"y")
    finally:
        await store.close()


async def test_without_a_key_prefix_the_whole_keyspace_is_readable(
    etcd_server: EtcdProcess,
) -> None:
    store = EtcdStore([etcd_server.endpoint])
    await store.start()
    try:
        key = f"/no-prefix-{uuid.uuid4().hex}"
        revision = await store.create(key, b"x")
        everything = await store.range("", revision=revision)
        assert key in {kv.key for kv in everything.kvs}
        watch = store.watch("", start_revision=revision)
        assert (await next_event(watch)).key == key
        await watch.aclose()
    finally:
        await store.close()


def test_endpoints_are_required() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        EtcdStore([])
