"""The client against our real API server in its own process: the same behaviours the
unit tests pin against the fake (ARCHITECTURE.md rule 6)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.informer import Informer, index_by_label
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.client.workqueue import RateLimitingQueue
from tests.fixtures.cluster import eventually

CM = Resource.of("v1", "configmaps")
PODS = Resource.of("v1", "pods")
DEPLOY = Resource.of("apps/v1", "deployments")


def cm(name: str, value: str = "1", **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "data": {"v": value}}


def pod(name: str) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
    }


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    await eventually(predicate, timeout)


async def test_version_and_discovery(api: APIClient) -> None:
    version = await api.version()
    assert (version["major"], version["minor"]) == ("1", "32")
    assert await api.resource("Deployment") == DEPLOY
    assert await api.resource("cm") == CM
    crd = await api.resource("customresourcedefinitions", "apiextensions.k8s.io/v1")
    assert not crd.namespaced
    with pytest.raises(LookupError):
        await api.resource("nosuchthings")


async def test_crud_roundtrip(api: APIClient, ns: str) -> None:
    created = await api.create(CM, cm("one"), ns)
    assert created["metadata"]["namespace"] == ns and created["metadata"]["uid"]
    got = await api.get(CM, "one", ns)
    assert got["data"] == {"v": "1"}
    got["data"]["v"] = "2"
    updated = await api.update(CM, got)
    assert updated["data"] == {"v": "2"}
    assert int(updated["metadata"]["resourceVersion"]) > int(got["metadata"]["resourceVersion"])
    patched = await api.patch(CM, "one", {"data": {"w": "x"}}, ns)
    assert patched["data"] == {"v": "2", "w": "x"}
    await api.delete(CM, "one", ns)
    with pytest.raises(APIError) as err:
        await api.get(CM, "one", ns)
    assert err.value.is_not_found and err.value.message == 'configmaps "one" not found'


async def test_stale_update_is_conflict(api: APIClient, ns: str) -> None:
    first = await api.create(CM, cm("c"), ns)
    unchanged = await api.update(CM, first)
    # A no-op update writes nothing, so the old resourceVersion stays current.
    assert unchanged["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    await api.update(CM, {**first, "data": {"v": "2"}})
    with pytest.raises(APIError) as err:
        await api.update(CM, first)
    assert err.value.is_conflict and err.value.code == 409
    assert "the object has been modified" in err.value.message


async def test_duplicate_create_is_already_exists(api: APIClient, ns: str) -> None:
    await api.create(CM, cm("dup"), ns)
    with pytest.raises(APIError) as err:
        await api.create(CM, cm("dup"), ns)
    assert err.value.is_already_exists and not err.value.is_conflict


async def test_update_status_changes_only_status(api: APIClient, ns: str) -> None:
    created = await api.create(PODS, pod("p"), ns)
    created["status"] = {**created.get("status", {}), "phase": "Running"}
    after_status = await api.update_status(PODS, created)
    assert after_status["status"]["phase"] == "Running"
    after_status["status"]["phase"] = "Failed"
    after_status["metadata"].setdefault("labels", {})["touched"] = "yes"
    after_main = await api.update(PODS, after_status)
    assert after_main["status"]["phase"] == "Running"  # the main endpoint ignores status
    assert after_main["metadata"]["labels"]["touched"] == "yes"


async def test_patch_types(api: APIClient, ns: str) -> None:
    await api.create(PODS, pod("p"), ns)
    strategic = await api.patch(
        PODS,
        "p",
        {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}},
        ns,
        patch_type="strategic",
    )
    assert [c["image"] for c in strategic["spec"]["containers"]] == ["nginx:1.26"]
    rv = strategic["metadata"]["resourceVersion"]
    jsonp = await api.patch(
        PODS,
        "p",
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}},
        ],
        ns,
        patch_type="json",
    )
    assert jsonp["metadata"]["labels"] == {"a": "b"}
    with pytest.raises(APIError) as err:
        await api.patch(
            PODS,
            "p",
            [{"op": "test", "path": "/metadata/resourceVersion", "value": rv}],
            ns,
            patch_type="json",
        )
    assert err.value.is_invalid  # a failed test op is 422 (§9, kopf relies on it)
    applied = await api.patch(
        CM,
        "applied",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "applied"},
            "data": {"k": "v"},
        },
        ns,
        patch_type="apply",
        field_manager="client-test",
    )
    assert applied["data"] == {"k": "v"}


async def test_delete_options_are_honoured(api: APIClient, ns: str) -> None:
    obj = await api.create(CM, cm("d"), ns)
    with pytest.raises(APIError) as err:
        await api.delete(CM, "d", ns, preconditions={"uid": "not-the-uid"})
    assert err.value.is_conflict and "Precondition failed" in err.value.message
    result = await api.delete(
        CM,
        "d",
        ns,
        propagation_policy="Background",
        preconditions={
            "uid": obj["metadata"]["uid"],
            "resourceVersion": obj["metadata"]["resourceVersion"],
        },
    )
    assert result.get("status") == "Success" or result["metadata"]["name"] == "d"
    await api.create(PODS, pod("gone"), ns)
    await api.delete(PODS, "gone", ns, grace_period_seconds=0)
    with pytest.raises(APIError) as err:
        await api.get(PODS, "gone", ns)
    assert err.value.is_not_found


async def test_pagination_yields_every_page(api: APIClient, ns: str) -> None:
    for i in range(7):
        await api.create(CM, cm(f"c{i}"), ns)
    pages = [page async for page in api.pages(CM, ns, limit=3)]
    names = [o["metadata"]["name"] for p in pages for o in p["items"]]
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert sorted(n for n in names if n.startswith("c")) == [f"c{i}" for i in range(7)]
    assert pages[0]["metadata"]["remainingItemCount"] >= 4
    # Every page is the first page's snapshot.
    assert {p["metadata"]["resourceVersion"] for p in pages} == {
        pages[0]["metadata"]["resourceVersion"]
    }
    whole = await api.list_all(CM, ns, limit=2)
    assert sorted(o["metadata"]["name"] for o in whole["items"]) == sorted(names)


async def test_label_and_field_selectors(api: APIClient, ns: str) -> None:
    await api.create(CM, cm("web", app="web", tier="front"), ns)
    await api.create(CM, cm("db", app="db"), ns)
    web = await api.list(CM, ns, label_selector={"app": "web"})
    assert [o["metadata"]["name"] for o in web["items"]] == ["web"]
    not_web = await api.list(CM, ns, label_selector="app,app notin (web)")
    assert [o["metadata"]["name"] for o in not_web["items"]] == ["db"]
    by_name = await api.list(CM, None, field_selector=f"metadata.name=db,metadata.namespace={ns}")
    assert [o["metadata"]["name"] for o in by_name["items"]] == ["db"]


async def test_watch_receives_added_modified_deleted(api: APIClient, ns: str) -> None:
    start = await api.list(CM, ns)
    rv = start["metadata"]["resourceVersion"]
    seen: list[tuple[str, str, str]] = []

    async def watch() -> None:
        async with api.watch(CM, ns, resource_version=rv, timeout_seconds=30) as events:
            async for kind, obj in events:
                seen.append((kind, obj["metadata"]["name"], obj.get("data", {}).get("v", "")))
                if len(seen) == 3:
                    return

    watching = asyncio.ensure_future(watch())
    created = await api.create(CM, cm("w"), ns)
    created["data"]["v"] = "2"
    await api.update(CM, created)
    await api.delete(CM, "w", ns)
    await asyncio.wait_for(watching, 10)
    assert seen == [("ADDED", "w", "1"), ("MODIFIED", "w", "2"), ("DELETED", "w", "2")]


async def test_watch_without_resource_version_starts_with_synthetic_adds(
    api: APIClient, ns: str
) -> None:
    await api.create(CM, cm("pre"), ns)
    async with api.watch(CM, ns, timeout_seconds=10) as events:
        kind, obj = await asyncio.wait_for(events.__anext__(), 10)
    assert (kind, obj["metadata"]["name"]) == ("ADDED", "pre")


async def test_informer_syncs_and_sees_every_change_in_order(api: APIClient, ns: str) -> None:
    await api.create(CM, cm("a"), ns)
    await api.create(CM, cm("b", app="x"), ns)
    events: list[tuple[str, str, str]] = []
    informer = Informer(api, CM, ns)
    informer.store.add_index("app", index_by_label("app"))
    informer.add_event_handler(
        on_add=lambda o: events.append(("add", o["metadata"]["name"], o["data"]["v"])),
        on_update=lambda old, new: events.append(
            ("update", new["metadata"]["name"], f"{old['data']['v']}->{new['data']['v']}")
        ),
        on_delete=lambda o: events.append(("delete", o["metadata"]["name"], o["data"]["v"])),
    )
    async with informer:
        await informer.wait_synced(timeout=10)
        assert sorted(events) == [("add", "a", "1"), ("add", "b", "1")]
        assert [o["metadata"]["name"] for o in informer.store.by_index("app", "x")] == ["b"]
        events.clear()
        c = await api.create(CM, cm("c"), ns)
        for v in ("2", "3"):
            c["data"]["v"] = v
            c = await api.update(CM, c)
        await api.delete(CM, "a", ns)
        await until(lambda: len(events) == 4)
        assert events == [
            ("add", "c", "1"),
            ("update", "c", "1->2"),
            ("update", "c", "2->3"),
            ("delete", "a", "1"),
        ]
        assert sorted(informer.store.keys()) == [f"{ns}/b", f"{ns}/c"]
        assert informer.store.get(ns, "c") == c
        assert informer.relists == 1


async def test_informer_rewatches_after_the_server_closes_the_stream(
    api: APIClient, ns: str
) -> None:
    names: list[str] = []
    # timeoutSeconds=1: the server ends each watch after a second; the informer must
    # resume from its resourceVersion, without relisting and without missing anything.
    informer = Informer(api, CM, ns, watch_timeout_seconds=1, short_watch_seconds=0.5)
    informer.add_event_handler(on_add=lambda o: names.append(o["metadata"]["name"]))
    async with informer:
        await informer.wait_synced(timeout=10)
        await api.create(CM, cm("n0"), ns)
        await until(lambda: informer.watches >= 3)
        await api.create(CM, cm("n1"), ns)
        await until(lambda: len(names) == 2)
    assert names == ["n0", "n1"]
    assert informer.relists == 1


async def test_label_selector_informer(api: APIClient, ns: str) -> None:
    await api.create(CM, cm("web1", app="web"), ns)
    await api.create(CM, cm("db1", app="db"), ns)
    events: list[tuple[str, str]] = []
    informer = Informer(api, CM, ns, label_selector={"app": "web"})
    informer.add_event_handler(
        on_add=lambda o: events.append(("add", o["metadata"]["name"])),
        on_update=lambda old, new: events.append(("update", new["metadata"]["name"])),
        on_delete=lambda o: events.append(("delete", o["metadata"]["name"])),
    )
    async with informer:
        await informer.wait_synced(timeout=10)
        assert events == [("add", "web1")]
        db1 = await api.get(CM, "db1", ns)
        db1["metadata"]["labels"]["app"] = "web"  # enters the selection
        await api.update(CM, db1)
        web1 = await api.get(CM, "web1", ns)
        web1["metadata"]["labels"]["app"] = "db"  # leaves it
        await api.update(CM, web1)
        await api.create(CM, cm("other", app="other"), ns)
        await api.create(CM, cm("web2", app="web"), ns)
        await until(lambda: len(events) == 4)
        assert events == [("add", "web1"), ("add", "db1"), ("delete", "web1"), ("add", "web2")]
        assert sorted(informer.store.keys()) == [f"{ns}/db1", f"{ns}/web2"]


async def test_informer_feeds_a_work_queue(api: APIClient, ns: str) -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue(name="test")
    informer = Informer(api, CM, ns)
    informer.add_event_handler(
        on_add=lambda o: queue.add(o["metadata"]["name"]),
        on_update=lambda old, new: queue.add(new["metadata"]["name"]),
    )
    async with informer:
        await informer.wait_synced(timeout=10)
        obj = await api.create(CM, cm("q"), ns)
        obj["data"]["v"] = "2"
        await api.update(CM, obj)
        key = await asyncio.wait_for(queue.get(), 10)
        assert key == "q"
        queue.done(key)
    queue.shutdown()
