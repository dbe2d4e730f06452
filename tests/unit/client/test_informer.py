"""Informer logic against the in-process fake API: sync, ordered handlers, re-watch
from the last resourceVersion, relist with a diff after 410, resync, back-off, indexes
(specs/k8s-api.md §3 Watch)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.client.informer import Informer, ObjectCache, index_by_label, object_key
from kubeedge.client.ratelimit import Backoff
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from tests.unit.client.fakeapi import FakeAPI

CM = Resource.of("v1", "configmaps")
NS = Resource.of("v1", "namespaces")
LIST_PATH = "/api/v1/namespaces/default/configmaps"


def cm(name: str, value: str = "1", namespace: str = "default", **labels: str) -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"v": value},
    }


class Recorder:
    """Handlers that log `(event, name, data.v)` and let tests wait for a count."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.updates: list[tuple[dict, dict]] = []
        self._changed = asyncio.Event()

    def _log(self, kind: str, obj: dict) -> None:
        self.events.append((kind, obj["metadata"]["name"], (obj.get("data") or {}).get("v", "")))
        self._changed.set()

    def on_add(self, obj: dict) -> None:
        self._log("add", obj)

    async def on_update(self, old: dict, new: dict) -> None:
        self.updates.append((old, new))
        self._log("update", new)

    def on_delete(self, obj: dict) -> None:
        self._log("delete", obj)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, str, str]]:
        async def enough() -> None:
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.events


def informer_for(client: APIClient, clock: FakeClock, **kwargs: Any) -> Informer:
    kwargs.setdefault("short_watch_seconds", 0.0)
    kwargs.setdefault("backoff", Backoff(initial=1.0, factor=2.0, maximum=8.0))
    return Informer(client, CM, "default", clock=clock, **kwargs)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def informer(
    client: APIClient, clock: FakeClock, recorder: Recorder
) -> AsyncIterator[Informer]:
    inf = informer_for(client, clock)
    inf.add_event_handler(recorder.on_add, recorder.on_update, recorder.on_delete)
    yield inf
    await inf.stop()


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout)


async def test_initial_list_fills_the_cache_and_calls_on_add(
    fake: FakeAPI, informer: Informer, recorder: Recorder
) -> None:
    for name in ("a", "b", "c"):
        fake.put("v1", "configmaps", cm(name))
    assert not informer.has_synced
    informer.start()
    await informer.wait_synced(timeout=5)
    assert sorted(recorder.events) == [("add", "a", "1"), ("add", "b", "1"), ("add", "c", "1")]
    a = informer.store.get("default", "a")
    assert a is not None and a["kind"] == "ConfigMap" and a["apiVersion"] == "v1"
    assert len(informer.store) == 3 and informer.resource_version == str(fake.revision)
    await until(lambda: fake.watchers)
    watch = fake.requests_to("GET", LIST_PATH)[-1]
    assert watch["watch"] == "true" and watch["allowWatchBookmarks"] == "true"
    assert watch["resourceVersion"] == str(fake.revision)


async def test_watch_events_reach_handlers_in_order(
    fake: FakeAPI, informer: Informer, recorder: Recorder
) -> None:
    informer.start()
    await informer.wait_synced(timeout=5)
    await until(lambda: fake.watchers)
    fake.put("v1", "configmaps", cm("a", "1"))
    fake.put("v1", "configmaps", cm("a", "2"))
    fake.put("v1", "configmaps", cm("b", "1"))
    fake.remove("v1", "configmaps", "default", "a")
    assert await recorder.wait_for(4) == [
        ("add", "a", "1"),
        ("update", "a", "2"),
        ("add", "b", "1"),
        ("delete", "a", "2"),
    ]
    old, new = recorder.updates[0]
    assert (old["data"]["v"], new["data"]["v"]) == ("1", "2")
    assert informer.store.get("default", "a") is None
    assert informer.store.keys() == ["default/b"]


async def test_closed_stream_is_rewatched_from_the_last_resource_version(
    fake: FakeAPI, informer: Informer, recorder: Recorder
) -> None:
    informer.start()
    await informer.wait_synced(timeout=5)
    await until(lambda: fake.watchers)
    fake.put("v1", "configmaps", cm("a"))
    await recorder.wait_for(1)
    last = str(fake.revision)
    fake.close_watches()
    await until(lambda: len(fake.requests_to("GET", LIST_PATH)) == 3 and fake.watchers)
    fake.put("v1", "configmaps", cm("b"))
    assert await recorder.wait_for(2) == [("add", "a", "1"), ("add", "b", "1")]
    lists = [q for q in fake.requests_to("GET", LIST_PATH) if "watch" not in q]
    watches = [q for q in fake.requests_to("GET", LIST_PATH) if "watch" in q]
    assert len(lists) == 1 and informer.relists == 1
    assert watches[1]["resourceVersion"] == last


@pytest.mark.parametrize("mode", ["event", "http"])
async def test_expired_watch_relists_and_delivers_the_difference(
    fake: FakeAPI, informer: Informer, recorder: Recorder, mode: str
) -> None:
    fake.expiry_mode = mode
    for name in ("keep", "change", "gone"):
        fake.put("v1", "configmaps", cm(name))
    informer.start()
    await informer.wait_synced(timeout=5)
    await until(lambda: fake.watchers)
    recorder.events.clear()
    # Changes the informer never sees as events, then their history is compacted away.
    fake.quiet = True
    fake.put("v1", "configmaps", cm("change", "2"))
    fake.remove("v1", "configmaps", "default", "gone")
    fake.put("v1", "configmaps", cm("new", "1"))
    fake.quiet = False
    fake.compact()
    fake.close_watches()
    events = await recorder.wait_for(3)
    assert events == [("delete", "gone", "1"), ("update", "change", "2"), ("add", "new", "1")]
    assert informer.relists == 2
    assert sorted(informer.store.keys()) == ["default/change", "default/keep", "default/new"]
    await until(lambda: fake.watchers)
    assert fake.requests_to("GET", LIST_PATH)[-1]["resourceVersion"] == str(fake.revision)


async def test_resync_redelivers_every_cached_object_each_period(
    fake: FakeAPI, client: APIClient, clock: FakeClock, recorder: Recorder
) -> None:
    fake.put("v1", "configmaps", cm("a"))
    fake.put("v1", "configmaps", cm("b"))
    async with informer_for(client, clock, resync_seconds=30) as inf:
        inf.add_event_handler(recorder.on_add, recorder.on_update, recorder.on_delete)
        await inf.wait_synced(timeout=5)
        await recorder.wait_for(2)
        await clock.advance(29)
        assert len(recorder.events) == 2
        await clock.advance(1)
        assert sorted(recorder.events[2:]) == [("update", "a", "1"), ("update", "b", "1")]
        assert all(old is new for old, new in recorder.updates)
        await clock.advance(30)
        assert len(recorder.events) == 6


async def test_server_errors_back_off_on_the_clock_then_relist(
    fake: FakeAPI, informer: Informer, recorder: Recorder, clock: FakeClock
) -> None:
    fake.put("v1", "configmaps", cm("a"))
    fake.fail_next("GET", 500)
    informer.start()
    await clock.wait_for_sleepers(1)
    assert clock.next_deadline() == 1.0 and not informer.has_synced
    fake.fail_next("GET", 503)
    await clock.advance(1.0)
    await clock.wait_for_sleepers(1)
    assert clock.next_deadline() == 3.0  # doubled
    await clock.advance(2.0)
    await informer.wait_synced(timeout=5)
    assert recorder.events == [("add", "a", "1")]
    # A successful list resets the back-off.
    await until(lambda: fake.watchers)
    fake.fail_next("GET", 500)
    fake.close_watches()
    await clock.wait_for_sleepers(1)
    assert clock.next_deadline() == clock.now() + 1.0
    await clock.advance(1.0)
    await until(lambda: fake.watchers)
    assert recorder.events == [("add", "a", "1")]  # the relist found nothing new


async def test_a_watch_closed_at_once_is_retried_after_a_back_off(
    fake: FakeAPI, client: APIClient, clock: FakeClock
) -> None:
    async with informer_for(client, clock, short_watch_seconds=1.0) as inf:
        await inf.wait_synced(timeout=5)
        await until(lambda: fake.watchers)
        fake.close_watches()
        await clock.wait_for_sleepers(1)
        watches = len(fake.requests_to("GET", LIST_PATH))
        await clock.advance(1.0)
        await until(lambda: len(fake.requests_to("GET", LIST_PATH)) == watches + 1)


async def test_bookmarks_advance_the_resource_version_without_events(
    fake: FakeAPI, informer: Informer, recorder: Recorder
) -> None:
    informer.start()
    await informer.wait_synced(timeout=5)
    await until(lambda: fake.watchers)
    fake.put("v1", "pods", {"metadata": {"name": "p", "namespace": "default"}})
    fake.bookmark()
    await until(lambda: informer.resource_version == str(fake.revision))
    assert recorder.events == []


async def test_label_selector_informer_sees_objects_enter_and_leave(
    fake: FakeAPI, client: APIClient, clock: FakeClock, recorder: Recorder
) -> None:
    fake.put("v1", "configmaps", cm("web1", app="web"))
    fake.put("v1", "configmaps", cm("db1", app="db"))
    async with informer_for(client, clock, label_selector={"app": "web"}) as inf:
        inf.add_event_handler(recorder.on_add, recorder.on_update, recorder.on_delete)
        await inf.wait_synced(timeout=5)
        await until(lambda: fake.watchers)
        fake.put("v1", "configmaps", cm("db1", "2", app="web"))
        fake.put("v1", "configmaps", cm("web1", "2", app="db"))
        assert await recorder.wait_for(3) == [
            ("add", "web1", "1"),
            ("add", "db1", "2"),
            ("delete", "web1", "2"),
        ]
    assert all(q.get("labelSelector") == "app=web" for q in fake.requests_to("GET", LIST_PATH))


async def test_handlers_added_late_get_the_cache_first_then_live_events(
    fake: FakeAPI, informer: Informer
) -> None:
    fake.put("v1", "configmaps", cm("a"))
    informer.start()
    await informer.wait_synced(timeout=5)
    late = Recorder()
    registration = informer.add_event_handler(late.on_add, late.on_update, late.on_delete)
    await asyncio.wait_for(registration.wait_synced(), 5)
    await until(lambda: fake.watchers)
    fake.put("v1", "configmaps", cm("b"))
    assert await late.wait_for(2) == [("add", "a", "1"), ("add", "b", "1")]


async def test_a_failing_handler_does_not_stop_the_informer(
    fake: FakeAPI, informer: Informer, recorder: Recorder
) -> None:
    def broken(obj: dict) -> None:
        raise RuntimeError("handler bug")

    informer.add_event_handler(on_add=broken)
    informer.start()
    await informer.wait_synced(timeout=5)
    await until(lambda: fake.watchers)
    fake.put("v1", "configmaps", cm("a"))
    fake.put("v1", "configmaps", cm("a", "2"))
    assert await recorder.wait_for(2) == [("add", "a", "1"), ("update", "a", "2")]


async def test_wait_synced_times_out_when_the_informer_never_synced(
    client: APIClient, clock: FakeClock
) -> None:
    inf = Informer(client, NS, clock=clock)
    inf.start()
    await inf.stop()
    with pytest.raises(TimeoutError):
        await inf.wait_synced(timeout=0.01)


async def test_cluster_scoped_objects_are_keyed_by_name(
    fake: FakeAPI, client: APIClient, clock: FakeClock
) -> None:
    fake.put("v1", "namespaces", {"metadata": {"name": "team"}})
    async with Informer(client, NS, clock=clock) as inf:
        await inf.wait_synced(timeout=5)
        assert inf.store.keys() == ["team"]
        assert inf.store.get(None, "team") is inf.store.get_by_key("team")


def test_cache_indexes_follow_changes() -> None:
    cache = ObjectCache()
    cache.put(cm("a", app="web"))
    cache.add_index("app", index_by_label("app"))
    cache.put(cm("b", app="web"))
    cache.put(cm("c", namespace="other", app="db"))
    assert [object_key(o) for o in cache.by_index("app", "web")] == ["default/a", "default/b"]
    cache.put(cm("a", app="db"))
    assert [object_key(o) for o in cache.by_index("app", "web")] == ["default/b"]
    assert {object_key(o) for o in cache.by_index("app", "db")} == {"default/a", "other/c"}
    cache.remove("other/c")
    assert [object_key(o) for o in cache.by_index("app", "db")] == ["default/a"]
    assert [object_key(o) for o in cache.by_index("namespace", "default")] == [
        "default/a",
        "default/b",
    ]
    assert cache.by_index("app", "none") == []
    with pytest.raises(KeyError):
        cache.by_index("missing", "x")
    with pytest.raises(ValueError):
        cache.add_index("app", index_by_label("app"))
