"""APIClient against the in-process fake API: URLs, verbs, errors, paging, watch
parsing, retries and throttling (specs/k8s-api.md §3-4)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import orjson
import pytest
import yaml

from kubeedge.client.clock import FakeClock
from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.kubeconfig import ClusterAccess
from kubeedge.client.ratelimit import Backoff, TokenBucket
from kubeedge.client.resources import Resource, ResourceRef
from kubeedge.client.rest import APIClient, RetryPolicy
from tests.unit.client.drive import drive
from tests.unit.client.fakeapi import FakeAPI

CM = Resource.of("v1", "configmaps")
PODS = Resource.of("v1", "Pod")
WIDGETS = ResourceRef("example.com", "v1", "widgets", True, "Widget")


def cm(name: str, namespace: str = "default", **labels: str) -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"k": "v"},
    }


# -- resource refs ------------------------------------------------------------------


def test_builtin_table_gives_scope_and_paths() -> None:
    deploy = Resource.of("apps/v1", "deployments")
    assert deploy == Resource.of("apps/v1", "Deployment")
    assert deploy.path("ns", "web") == "/apis/apps/v1/namespaces/ns/deployments/web"
    assert deploy.path(None) == "/apis/apps/v1/deployments"
    assert PODS.path("ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    nodes = Resource.of("v1", "nodes")
    assert not nodes.namespaced
    assert nodes.path("ignored", "n1") == "/api/v1/nodes/n1"
    assert deploy.qualified == "deployments.apps" and deploy.api_version == "apps/v1"


def test_unknown_resource_needs_scope_or_discovery() -> None:
    with pytest.raises(LookupError, match="discovery"):
        Resource.of("example.com/v1", "widgets")
    ref = Resource.of("example.com/v1", "widgets", namespaced=True)
    assert ref.path("a", "w") == "/apis/example.com/v1/namespaces/a/widgets/w"
    with pytest.raises(ValueError, match="cluster-scoped"):
        Resource.of("v1", "nodes", namespaced=True)


async def test_discovery_finds_kinds_not_in_the_table(client: APIClient, fake: FakeAPI) -> None:
    assert await client.resource("Widget", "example.com/v1") == WIDGETS
    assert await client.resource("widgets") == WIDGETS
    assert await client.resource("widget") == WIDGETS
    with pytest.raises(LookupError, match="doesn't have a resource type"):
        await client.resource("gadgets")
    before = len(fake.requests)
    assert await client.resource("Deployment", "apps/v1") == Resource.of("apps/v1", "deployments")
    assert len(fake.requests) == before  # the built-in table needs no round trip


# -- verbs ----------------------------------------------------------------------------


async def test_crud_roundtrip(client: APIClient, fake: FakeAPI) -> None:
    created = await client.create(CM, cm("one"))
    assert created["kind"] == "ConfigMap" and created["metadata"]["resourceVersion"]
    assert fake.headers[-1]["Authorization"] == "Bearer t0k"
    assert fake.requests[-1][4] == "application/json"
    got = await client.get(CM, "one", "default")
    assert got == created
    got["data"]["k"] = "v2"
    updated = await client.update(CM, got)
    assert updated["data"]["k"] == "v2"
    assert int(updated["metadata"]["resourceVersion"]) > int(got["metadata"]["resourceVersion"])
    patched = await client.patch(CM, "one", {"data": {"extra": "x"}}, "default")
    assert patched["data"] == {"k": "v2", "extra": "x"}
    await client.delete(CM, "one", "default")
    with pytest.raises(APIError) as err:
        await client.get(CM, "one", "default")
    assert err.value.is_not_found and err.value.code == 404 and not err.value.is_conflict


async def test_namespace_comes_from_the_object_then_the_kubeconfig(
    client: APIClient, fake: FakeAPI
) -> None:
    await client.create(CM, {"metadata": {"name": "a", "namespace": "team"}})
    assert fake.requests[-1][1] == "/api/v1/namespaces/team/configmaps"
    await client.create(CM, {"metadata": {"name": "b"}})
    assert fake.requests[-1][1] == "/api/v1/namespaces/default/configmaps"
    await client.list(CM)
    assert fake.requests[-1][1] == "/api/v1/configmaps"


async def test_stale_update_is_conflict(client: APIClient) -> None:
    first = await client.create(CM, cm("c"))
    unchanged = await client.update(CM, first)
    # A no-op update writes nothing, so the old resourceVersion stays current.
    assert unchanged["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    await client.update(CM, {**first, "data": {"v": "2"}})
    with pytest.raises(APIError) as err:
        await client.update(CM, first)
    assert err.value.is_conflict and err.value.code == 409 and err.value.reason == "Conflict"


async def test_duplicate_create_is_already_exists_not_conflict(client: APIClient) -> None:
    await client.create(CM, cm("dup"))
    with pytest.raises(APIError) as err:
        await client.create(CM, cm("dup"))
    assert err.value.is_already_exists and not err.value.is_conflict
    assert str(err.value) == '(AlreadyExists) configmaps "dup" already exists'


async def test_update_status_puts_to_the_status_subresource(
    client: APIClient, fake: FakeAPI
) -> None:
    pod = await client.create(PODS, {"metadata": {"name": "p"}, "spec": {}})
    pod["status"] = {"phase": "Running"}
    out = await client.update_status(PODS, pod)
    assert fake.requests[-1][:2] == ("PUT", "/api/v1/namespaces/default/pods/p/status")
    assert out["status"] == {"phase": "Running"}


@pytest.mark.parametrize(
    ("patch_type", "body", "content_type"),
    [
        ("merge", {"data": {"a": "1"}}, "application/merge-patch+json"),
        ("strategic", {"data": {"a": "1"}}, "application/strategic-merge-patch+json"),
        ("json", [{"op": "add", "path": "/data/a", "value": "1"}], "application/json-patch+json"),
        ("apply", {"data": {"a": "1"}}, "application/apply-patch+yaml"),
    ],
)
async def test_patch_sends_the_content_type_of_its_kind(
    client: APIClient, fake: FakeAPI, patch_type: str, body: object, content_type: str
) -> None:
    await client.create(CM, cm("p"))
    await client.patch(
        CM,
        "p",
        body,
        patch_type=patch_type,  # type: ignore[arg-type]
        field_manager="test",
        force=True if patch_type == "apply" else None,
    )
    method, path, query, raw, sent_type = fake.requests[-1]
    assert (method, path, sent_type) == (
        "PATCH",
        "/api/v1/namespaces/default/configmaps/p",
        content_type,
    )
    assert orjson.loads(raw) == body
    assert query["fieldManager"] == "test"


async def test_patch_refuses_malformed_requests_before_sending(client: APIClient) -> None:
    with pytest.raises(ValueError, match="list of operations"):
        await client.patch(CM, "p", {"a": 1}, patch_type="json")
    with pytest.raises(ValueError, match="field_manager"):
        await client.patch(CM, "p", {"a": 1}, patch_type="apply")
    with pytest.raises(ValueError, match="not one of"):
        await client.patch(CM, "p", {"a": 1}, patch_type="yaml")  # type: ignore[arg-type]


async def test_delete_sends_delete_options(client: APIClient, fake: FakeAPI) -> None:
    obj = await client.create(CM, cm("d"))
    with pytest.raises(APIError) as err:
        await client.delete(CM, "d", preconditions={"resourceVersion": "1"})
    assert err.value.is_conflict
    await client.delete(
        CM,
        "d",
        propagation_policy="Foreground",
        grace_period_seconds=0,
        preconditions={"resourceVersion": obj["metadata"]["resourceVersion"]},
    )
    body = orjson.loads(fake.requests[-1][3])
    assert body == {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0,
        "preconditions": {"resourceVersion": obj["metadata"]["resourceVersion"]},
    }


async def test_selectors_accept_strings_and_mappings(client: APIClient, fake: FakeAPI) -> None:
    await client.create(CM, cm("web", app="web"))
    await client.create(CM, cm("db", app="db"))
    listing = await client.list(CM, "default", label_selector={"app": "web"})
    assert [o["metadata"]["name"] for o in listing["items"]] == ["web"]
    assert fake.requests[-1][2]["labelSelector"] == "app=web"
    await client.list(CM, field_selector="metadata.name=db", label_selector="app in (db)")
    assert fake.requests[-1][2] == {
        "labelSelector": "app in (db)",
        "fieldSelector": "metadata.name=db",
    }


# -- paging ---------------------------------------------------------------------------


async def test_pages_follow_continue_until_the_end(client: APIClient, fake: FakeAPI) -> None:
    for i in range(7):
        await client.create(CM, cm(f"c{i}"))
    pages = [page async for page in client.pages(CM, "default", limit=3)]
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    queries = fake.requests_to("GET", "/api/v1/namespaces/default/configmaps")
    assert "continue" not in queries[0] and queries[1]["continue"] and queries[2]["continue"]
    assert all(q["limit"] == "3" for q in queries)
    whole = await client.list_all(CM, "default", limit=3)
    assert [o["metadata"]["name"] for o in whole["items"]] == [f"c{i}" for i in range(7)]
    assert whole["kind"] == "ConfigMapList" and "continue" not in whole["metadata"]


async def test_list_all_reads_again_when_the_continue_token_expires(
    client: APIClient, fake: FakeAPI
) -> None:
    for i in range(5):
        await client.create(CM, cm(f"c{i}"))
    fake.compacted = 10**9  # every continue token is now too old
    whole = await client.list_all(CM, "default", limit=2)
    assert len(whole["items"]) == 5
    queries = fake.requests_to("GET", "/api/v1/namespaces/default/configmaps")
    assert [("limit" in q, "continue" in q) for q in queries] == [
        (True, False),
        (True, True),
        (False, False),
    ]


# -- watch ----------------------------------------------------------------------------


async def test_watch_reassembles_events_split_across_chunks(
    client: APIClient, fake: FakeAPI
) -> None:
    fake.chunk_size = 7
    start = await client.list(CM, "default")
    rv = start["metadata"]["resourceVersion"]
    big = "x" * 200_000  # larger than aiohttp's line limit
    fake.put("v1", "configmaps", {"metadata": {"name": "a", "namespace": "default"}})
    fake.put(
        "v1",
        "configmaps",
        {"metadata": {"name": "a", "namespace": "default"}, "data": {"big": big}},
    )
    fake.remove("v1", "configmaps", "default", "a")
    seen = []
    async with client.watch(CM, "default", resource_version=rv) as events:
        async for kind, obj in events:
            seen.append((kind, obj["metadata"]["name"], len(obj.get("data", {}).get("big", ""))))
            if len(seen) == 3:
                break
        assert events.resource_version == str(fake.revision)
    assert seen == [("ADDED", "a", 0), ("MODIFIED", "a", 200_000), ("DELETED", "a", 200_000)]
    assert fake.requests[-1][2]["watch"] == "true"


async def test_watch_ends_when_the_server_closes_the_stream(
    client: APIClient, fake: FakeAPI
) -> None:
    stream = client.watch(
        CM, resource_version=str(fake.revision), timeout_seconds=5, allow_watch_bookmarks=True
    )
    next_event = asyncio.ensure_future(stream.__anext__())
    await asyncio.wait_for(_until(lambda: fake.watchers), 5)
    fake.bookmark()
    event = await asyncio.wait_for(next_event, 5)
    assert event.type == "BOOKMARK" and stream.resource_version == str(fake.revision)
    fake.close_watches()
    assert [e async for e in stream] == []
    query = fake.requests[-1][2]
    assert query["allowWatchBookmarks"] == "true" and query["timeoutSeconds"] == "5"


@pytest.mark.parametrize("mode", ["event", "http"])
async def test_watch_from_a_compacted_revision_raises_expired(
    client: APIClient, fake: FakeAPI, mode: str
) -> None:
    fake.expiry_mode = mode
    old = str(fake.revision)
    fake.put("v1", "configmaps", cm("a"))
    fake.put("v1", "configmaps", cm("b"))
    fake.compact()
    with pytest.raises(APIError) as err:
        async with client.watch(CM, resource_version=old) as events:
            async for _ in events:
                pass
    assert err.value.is_expired and err.value.code == 410 and err.value.reason == "Expired"


# -- errors, retries, throttling ------------------------------------------------------


def test_error_without_a_status_body_gets_the_codes_reason() -> None:
    err = APIError.from_response(404, "<html>404 page not found</html>", method="GET", path="/x")
    assert err.is_not_found and err.reason == "NotFound"
    assert err.message == "<html>404 page not found</html>"
    err = APIError.from_response(410, None)
    assert err.is_expired and err.message == "the server responded with HTTP 410"


async def test_429_is_retried_after_the_servers_retry_after(
    client: APIClient, fake: FakeAPI, clock: FakeClock
) -> None:
    fake.fail_next("POST", 429, "TooManyRequests", {"Retry-After": "2"})
    created, slept = await drive(clock, client.create(CM, cm("r")))
    assert created["metadata"]["name"] == "r"
    assert slept == [2.0]
    assert len(fake.requests_to("POST", "/api/v1/namespaces/default/configmaps")) == 2


async def test_5xx_without_retry_after_is_not_retried(client: APIClient, fake: FakeAPI) -> None:
    fake.fail_next("POST", 500)
    with pytest.raises(APIError) as err:
        await client.create(CM, cm("r"))
    assert err.value.code == 500
    assert len(fake.requests_to("POST", "/api/v1/namespaces/default/configmaps")) == 1


async def test_refused_connection_is_retried_with_backoff_then_raised(clock: FakeClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    retry = RetryPolicy(attempts=3, backoff=Backoff(initial=0.5, factor=2, maximum=1.5))
    async with APIClient(
        ClusterAccess(server=f"http://127.0.0.1:{port}"), qps=0, clock=clock, retry=retry
    ) as api:
        with pytest.raises(APIConnectionError, match="cannot reach the API server"):
            await drive(clock, api.create(CM, cm("x")))
    assert clock.now() == pytest.approx(0.5 + 1.0 + 1.5)


async def test_client_throttles_to_qps_after_the_burst(fake: FakeAPI, clock: FakeClock) -> None:
    async with APIClient(ClusterAccess(server=fake.url), qps=2, burst=2, clock=clock) as api:

        async def three_gets() -> None:
            for _ in range(3):
                await api.list(CM)

        _, slept = await drive(clock, three_gets())
    assert slept == [0.5]


def test_token_bucket_refills_at_qps_up_to_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=1, burst=2, clock=clock)
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 1.0, 2.0]
    clock._now = 10.0  # long idle: refilled only up to the burst
    assert bucket.try_acquire() and bucket.try_acquire() and not bucket.try_acquire()
    assert TokenBucket(qps=0, burst=0, clock=clock).reserve() == 0.0


async def test_client_from_a_kubeconfig_file(tmp_path: Path, fake: FakeAPI) -> None:
    path = tmp_path / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "k", "cluster": {"server": fake.url}}],
                "users": [{"name": "u", "user": {"token": "abc"}}],
                "contexts": [
                    {"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team"}}
                ],
            }
        )
    )
    async with APIClient(path, qps=0) as api:
        await api.create(CM, {"metadata": {"name": "x"}})
    assert fake.requests[-1][1] == "/api/v1/namespaces/team/configmaps"
    assert fake.headers[-1]["Authorization"] == "Bearer abc"


async def _until(predicate) -> None:  # type: ignore[no-untyped-def]
    while not predicate():
        await asyncio.sleep(0)
