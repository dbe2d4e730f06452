"""resourceVersion, paging, bookmarks, initial events and selector transitions, as
kube-apiserver serves them (specs/k8s-api.md §3), over HTTPS from a separate client."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.fixtures.cluster import Cloud, running_cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """These tests count every object in their namespaces, so the namespace defaults
    controller (kube-root-ca.crt, the default account; tested on its own) is off."""
    with running_cloud(tmp_path_factory.mktemp("lw"), controllers=()) as c:
        yield c


@pytest.fixture
async def api(cloud: Cloud) -> AsyncIterator[aiohttp.ClientSession]:
    async with cloud.session() as session:
        yield session


@pytest.fixture
async def ns(api: aiohttp.ClientSession) -> str:
    name = f"lw-{uuid.uuid4().hex[:6]}"
    async with api.post("/api/v1/namespaces", json={"metadata": {"name": name}}) as resp:
        assert resp.status == 201
    return name


async def _post(api: aiohttp.ClientSession, path: str, body: dict) -> dict:
    async with api.post(path, json=body) as resp:
        data = await resp.json()
        assert resp.status == 201, data
        return data


async def _get(api: aiohttp.ClientSession, path: str, **params: str) -> tuple[int, Any]:
    async with api.get(path, params=params) as resp:
        return resp.status, await resp.json()


async def _events(api: aiohttp.ClientSession, path: str, count: int,
                  **params: str) -> list[dict]:
    """The first `count` watch events (or fewer if the server ends the stream)."""
    params = {"watch": "true", "timeoutSeconds": "10", **params}
    out: list[dict] = []
    async with api.get(path, params=params) as resp:
        assert resp.status == 200, await resp.text()
        async for line in resp.content:
            if line.strip():
                out.append(json.loads(line))
                if len(out) >= count:
                    break
    return out


async def test_paged_list_is_one_consistent_snapshot(api: aiohttp.ClientSession,
                                                     ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(5):
        await _post(api, path, {"metadata": {"name": f"c{i}"}})
    status, first = await _get(api, path, limit="2")
    assert status == 200 and len(first["items"]) == 2
    assert first["metadata"]["remainingItemCount"] == 3
    # A change after the first page is not seen by the rest of the same list.
    await _post(api, path, {"metadata": {"name": "c9"}})
    names = [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        status, page = await _get(api, path, limit="2", **{"continue": token})
        assert status == 200
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue", "")
    assert names == ["c0", "c1", "c2", "c3", "c4"]


async def test_list_at_an_exact_old_revision(api: aiohttp.ClientSession, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    created = await _post(api, path, {"metadata": {"name": "a"}, "data": {"v": "1"}})
    async with api.patch(f"{path}/a", json={"data": {"v": "2"}},
                         headers={"Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.status == 200
    status, old = await _get(api, path, resourceVersion=created["metadata"]["resourceVersion"],
                             resourceVersionMatch="Exact")
    assert status == 200 and old["items"][0]["data"] == {"v": "1"}
    status, now = await _get(api, path, resourceVersion="0")
    assert now["items"][0]["data"] == {"v": "2"}


async def test_too_large_resource_version_is_a_timeout_status(api: aiohttp.ClientSession,
                                                              ns: str) -> None:
    status, body = await _get(api, f"/api/v1/namespaces/{ns}/pods",
                              resourceVersion="99999999", resourceVersionMatch="NotOlderThan")
    assert status == 504 and body["reason"] == "Timeout"


async def test_watch_without_version_starts_with_synthetic_adds(api: aiohttp.ClientSession,
                                                                ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    await _post(api, path, {"metadata": {"name": "x"}})
    events = await _events(api, path, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "x")]


async def test_send_initial_events_ends_with_a_marked_bookmark(api: aiohttp.ClientSession,
                                                              ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for name in ("p", "q"):
        await _post(api, path, {"metadata": {"name": name}})
    events = await _events(api, path, 3, sendInitialEvents="true",
                           resourceVersionMatch="NotOlderThan", allowWatchBookmarks="true")
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    bookmark = events[-1]["object"]["metadata"]
    assert bookmark["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["resourceVersion"]) >= max(
        int(e["object"]["metadata"]["resourceVersion"]) for e in events[:2])


async def test_objects_leaving_a_label_selection_are_deleted_for_the_watcher(
        api: aiohttp.ClientSession, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    created = await _post(api, path, {"metadata": {"name": "m", "labels": {"tier": "a"}}})
    rv = created["metadata"]["resourceVersion"]
    merge = {"Content-Type": "application/merge-patch+json"}
    for tier in ("b", "a"):
        async with api.patch(f"{path}/m", json={"metadata": {"labels": {"tier": tier}}},
                             headers=merge) as resp:
            assert resp.status == 200
    events = await _events(api, path, 2, resourceVersion=rv, labelSelector="tier=a")
    assert [e["type"] for e in events] == ["DELETED", "ADDED"]


async def test_field_selected_watch_on_one_name(api: aiohttp.ClientSession, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    await _post(api, path, {"metadata": {"name": "one"}})
    await _post(api, path, {"metadata": {"name": "two"}})
    events = await _events(api, path, 1, fieldSelector="metadata.name=two")
    assert events[0]["object"]["metadata"]["name"] == "two"


async def test_generation_moves_only_with_the_spec(api: aiohttp.ClientSession, ns: str) -> None:
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    deploy = {"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"app": "d"}},
        "template": {"metadata": {"labels": {"app": "d"}},
                     "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}
    created = await _post(api, path, deploy)
    assert created["metadata"]["generation"] == 1
    merge = {"Content-Type": "application/merge-patch+json"}
    async with api.patch(f"{path}/d", json={"metadata": {"labels": {"x": "y"}}},
                         headers=merge) as resp:
        assert (await resp.json())["metadata"]["generation"] == 1
    async with api.patch(f"{path}/d", json={"spec": {"replicas": 4}}, headers=merge) as resp:
        assert (await resp.json())["metadata"]["generation"] == 2
    # The main endpoint ignores status; the status subresource changes only status.
    async with api.patch(f"{path}/d", json={"status": {"replicas": 9}}, headers=merge) as resp:
        assert "replicas" not in (await resp.json()).get("status", {})
    async with api.patch(f"{path}/d/status", json={"status": {"replicas": 9},
                                                    "spec": {"replicas": 1}},
                         headers=merge) as resp:
        body = await resp.json()
        assert body["status"]["replicas"] == 9 and body["spec"]["replicas"] == 4


async def test_stale_resource_version_on_update_is_409(api: aiohttp.ClientSession,
                                                       ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    created = await _post(api, path, {"metadata": {"name": "s"}, "data": {"a": "1"}})
    async with api.put(f"{path}/s", json={**created, "data": {"a": "2"}}) as resp:
        assert resp.status == 200
    async with api.put(f"{path}/s", json={**created, "data": {"a": "3"}}) as resp:
        body = await resp.json()
        assert resp.status == 409 and body["reason"] == "Conflict"


async def test_service_cluster_ips_are_unique_and_released(api: aiohttp.ClientSession,
                                                           ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/services"
    spec = {"ports": [{"port": 80}]}
    a = await _post(api, path, {"metadata": {"name": "a"}, "spec": spec})
    b = await _post(api, path, {"metadata": {"name": "b"}, "spec": spec})
    assert a["spec"]["clusterIP"] != b["spec"]["clusterIP"]
    taken = a["spec"]["clusterIP"]
    async with api.post(path, json={"metadata": {"name": "c"},
                                    "spec": {**spec, "clusterIP": taken}}) as resp:
        assert resp.status == 422
    async with api.delete(f"{path}/a") as resp:
        assert resp.status == 200
    c = await _post(api, path, {"metadata": {"name": "c"}, "spec": {**spec, "clusterIP": taken}})
    assert c["spec"]["clusterIP"] == taken
