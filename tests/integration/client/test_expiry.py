"""410 Expired against our real API server with aggressive compaction: a watch from a
compacted revision fails with Expired, and an informer that missed changes across a
server restart relists and delivers exactly the difference (specs/k8s-api.md §3 Watch).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.informer import Informer
from kubeedge.client.ratelimit import Backoff
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from tests.fixtures.cluster import Cloud, eventually, running_cloud

CM = Resource.of("v1", "configmaps")


def cm(name: str, value: str = "1") -> dict:
    return {"metadata": {"name": name}, "data": {"v": value}}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """Compaction every 0.2 s keeping 5 revisions, so old revisions expire quickly."""
    with running_cloud(tmp_path_factory.mktemp("compacting"),
                       storage__compaction_interval_seconds=0.2,
                       storage__compaction_retain_revisions=5) as c:
        yield c


async def expired_error(
    api: APIClient, namespace: str, resource_version: str, timeout: float = 15.0
) -> APIError:
    """Watch from `resource_version` until the server answers 410 (the compactor runs
    on its own schedule), within `timeout`."""

    async def probe() -> APIError | None:
        try:
            async with api.watch(
                CM, namespace, resource_version=resource_version, timeout_seconds=1
            ) as events:
                await asyncio.wait_for(events.__anext__(), 1)
        except APIError as exc:
            if exc.is_expired:
                return exc
            raise
        except (StopAsyncIteration, TimeoutError):
            pass
        return None

    return await eventually(probe, timeout, what="a watch from a compacted revision to expire")


async def test_watch_from_a_compacted_revision_raises_expired(api: APIClient, ns: str) -> None:
    first = await api.create(CM, cm("c0"), ns)
    for i in range(1, 9):
        await api.create(CM, cm(f"c{i}"), ns)
    err = await expired_error(api, ns, first["metadata"]["resourceVersion"])
    assert err.code == 410 and err.reason == "Expired" and err.is_expired
    assert (await expired_error(api, ns, "1")).is_expired


async def test_informer_relists_after_410_and_delivers_what_it_missed(
    cloud: Cloud, api: APIClient, ns: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kubeedge.client.informer")
    for name in ("keep", "change", "gone"):
        await api.create(CM, cm(name), ns)
    events: list[tuple[str, str, str]] = []
    in_gate = asyncio.Event()
    release = asyncio.Event()

    def record(kind: str, obj: dict[str, Any]) -> None:
        events.append((kind, obj["metadata"]["name"], obj["data"]["v"]))

    async def on_add(obj: dict[str, Any]) -> None:
        record("add", obj)
        if obj["metadata"]["name"] == "gate":
            # Hold the informer here (handlers run on its task) while the world moves on.
            in_gate.set()
            await release.wait()

    informer = Informer(api, CM, ns, backoff=Backoff(initial=0.05, factor=2, maximum=1))
    informer.add_event_handler(
        on_add, lambda old, new: record("update", new), lambda obj: record("delete", obj)
    )
    async with informer:
        await informer.wait_synced(timeout=15)
        assert sorted(events) == [
            ("add", "change", "1"),
            ("add", "gone", "1"),
            ("add", "keep", "1"),
        ]
        gate = await api.create(CM, cm("gate"), ns)
        await asyncio.wait_for(in_gate.wait(), 15)
        # The informer's stream dies with the server; what follows it never sees as events.
        await asyncio.to_thread(cloud.restart_with)
        async with APIClient(cloud.kubeconfig) as writer:
            change = await writer.get(CM, "change", ns)
            await writer.update(CM, {**change, "data": {"v": "2"}})
            await writer.delete(CM, "gone", ns)
            for i in range(8):
                await writer.create(CM, cm(f"new{i}"), ns)
            await expired_error(writer, ns, gate["metadata"]["resourceVersion"])
        del events[:]
        release.set()
        await eventually(lambda: len(events) >= 10)
        assert events == [("delete", "gone", "1"), ("update", "change", "2")] + [
            ("add", f"new{i}", "1") for i in range(8)
        ]
        assert informer.relists == 2
        assert any(
            "too old resource version" in r.getMessage() and "relisting" in r.getMessage()
            for r in caplog.records
        )
        listing = await api.list(CM, ns)
        assert sorted(informer.store.keys()) == sorted(
            f"{ns}/{o['metadata']['name']}" for o in listing["items"]
        )
        # And it keeps watching after the relist.
        await api.delete(CM, "keep", ns)
        await eventually(lambda: events[-1] == ("delete", "keep", "1"))
