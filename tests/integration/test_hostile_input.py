"""Bad client input gets a 4xx Status, never a 5xx, a hang or a dead server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.cluster import Cloud

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(
        ["metadata", "spec", "status", "name", "namespace", "labels", "containers",
         "image", "replicas", "selector", "template", "ports", "data", "kind",
         "apiVersion", "finalizers", "resourceVersion", "generateName", "x"]), children,
        max_size=5),
    max_leaves=25,
)
PATHS = [
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/configmaps",
    "/api/v1/namespaces/default/services",
    "/apis/apps/v1/namespaces/default/deployments",
    "/api/v1/namespaces",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
]


class Client:
    """A synchronous face over one aiohttp session, for hypothesis' sync tests."""

    def __init__(self, cloud: Cloud) -> None:
        self.loop = asyncio.new_event_loop()

        async def make() -> aiohttp.ClientSession:
            return cloud.session(timeout=20)

        self.session = self.loop.run_until_complete(make())

    def request(self, method: str, path: str, *, data: bytes | None = None,
                content_type: str = "application/json",
                params: dict[str, str] | None = None) -> tuple[int, Any]:
        async def go() -> tuple[int, Any]:
            async with self.session.request(
                method, path, data=data, params=params,
                headers={"Content-Type": content_type},
            ) as resp:
                body = await resp.read()
                try:
                    return resp.status, json.loads(body)
                except ValueError:
                    return resp.status, body
        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        self.loop.close()


@pytest.fixture(scope="module")
def api(cloud: Cloud) -> Iterator[Client]:
    c = Client(cloud)
    yield c
    c.close()


def _assert_client_error_or_success(status: int, body: Any) -> None:
    assert status < 500, body
    if status >= 400:
        assert isinstance(body, dict) and body.get("kind") == "Status", body
        assert body["code"] == status


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(PATHS), body=JSON_VALUES)
def test_random_json_bodies_never_give_5xx(api: Client, path: str, body: Any) -> None:
    status, answer = api.request("POST", path, data=json.dumps(body).encode())
    _assert_client_error_or_success(status, answer)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=200),
       content_type=st.sampled_from(["application/json", "application/yaml",
                                     "application/merge-patch+json",
                                     "application/json-patch+json",
                                     "application/strategic-merge-patch+json",
                                     "application/vnd.kubernetes.protobuf", "text/plain"]))
def test_random_bytes_as_any_content_type(api: Client, raw: bytes, content_type: str) -> None:
    status, answer = api.request("POST", "/api/v1/namespaces/default/configmaps", data=raw,
                                 content_type=content_type)
    _assert_client_error_or_success(status, answer)
    api.request("PUT", "/api/v1/namespaces/default/configmaps", data=raw,
                content_type=content_type)
    status, answer = api.request("PATCH", "/api/v1/namespaces/default/configmaps/target",
                                 data=raw, content_type=content_type)
    _assert_client_error_or_success(status, answer)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(params=st.dictionaries(
    st.sampled_from(["limit", "continue", "resourceVersion", "resourceVersionMatch",
                     "labelSelector", "fieldSelector", "watch", "timeoutSeconds",
                     "allowWatchBookmarks", "sendInitialEvents", "includeObject"]),
    st.text(max_size=12), max_size=4))
def test_random_query_strings_on_lists(api: Client, params: dict[str, str]) -> None:
    if params.get("watch"):
        params["timeoutSeconds"] = "1"
    status, answer = api.request("GET", "/api/v1/namespaces/default/pods", params=params)
    _assert_client_error_or_success(status, answer if status >= 400 else {})


def test_server_is_alive_and_consistent_afterwards(api: Client, tmp_path: Path) -> None:
    status, _ = api.request("GET", "/readyz")
    assert status == 200
    status, listing = api.request("GET", "/api/v1/namespaces/default/configmaps")
    assert status == 200
    for item in listing["items"]:
        status, one = api.request(
            "GET", f"/api/v1/namespaces/default/configmaps/{item['metadata']['name']}")
        assert status == 200 and one == item


@pytest.mark.parametrize(("method", "path", "body", "content_type", "code"), [
    ("POST", "/api/v1/namespaces/default/pods", b"{", "application/json", 400),
    ("POST", "/api/v1/namespaces/default/pods", b"a: [", "application/yaml", 400),
    ("POST", "/api/v1/namespaces/default/pods", b'{"metadata": "x"}', "application/json", 400),
    ("POST", "/api/v1/namespaces/default/pods", b'{"spec": {"containers": 5}}',
     "application/json", 400),
    ("POST", "/api/v1/namespaces/default/pods", b'{"metadata": {"name": "UPPER"}, "spec": '
     b'{"containers": [{"name": "c", "image": "i"}]}}', "application/json", 422),
    ("POST", "/api/v1/namespaces/nope/configmaps", b'{"metadata": {"name": "a"}}',
     "application/json", 404),
    ("POST", "/api/v1/namespaces/default/configmaps", b'{"kind": "Pod"}', "application/json",
     400),
    ("PATCH", "/api/v1/namespaces/default/configmaps/missing", b"{}",
     "application/merge-patch+json", 404),
    ("PATCH", "/api/v1/namespaces/default/configmaps/missing", b"{}", "text/plain", 415),
    ("GET", "/api/v1/namespaces/default/pods?limit=abc", None, "application/json", 400),
    ("GET", "/api/v1/namespaces/default/pods?labelSelector=a+in+(", None,
     "application/json", 400),
    ("GET", "/api/v1/namespaces/default/pods?fieldSelector=spec.foo%3Dx", None,
     "application/json", 400),
    ("GET", "/api/v1/namespaces/default/pods?continue=garbage&limit=1", None,
     "application/json", 400),
    ("GET", "/api/v1/namespaces/default/pods?resourceVersion=-1", None, "application/json",
     400),
    ("GET", "/api/v1/nosuchthings", None, "application/json", 404),
    ("GET", "/apis/nosuch.group/v1/things", None, "application/json", 404),
    ("DELETE", "/api/v1/namespaces/default/pods/missing", None, "application/json", 404),
    ("POST", "/api/v1/namespaces/default/pods/x/log", None, "application/json", 405),
])
def test_bad_requests_get_the_right_status(api: Client, method: str, path: str,
                                           body: bytes | None, content_type: str,
                                           code: int) -> None:
    status, answer = api.request(method, path, data=body, content_type=content_type)
    assert status == code, answer
    assert answer["kind"] == "Status" and answer["code"] == code


PATCH_OPS = st.lists(st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
     "path": st.sampled_from(["/data/a", "/metadata/labels/x", "/metadata", "/", "",
                              "/data/-", "/nope/deeper", "/metadata/finalizers/0",
                              "/metadata/resourceVersion", "~1bad"])},
    optional={"value": JSON_VALUES, "from": st.sampled_from(["/data/a", "/metadata/name"])}),
    max_size=4)


@pytest.fixture(scope="module")
def target(api: Client) -> str:
    status, _ = api.request("POST", "/api/v1/namespaces/default/configmaps",
                            data=json.dumps({"metadata": {"name": "patch-target"},
                                             "data": {"a": "1"}}).encode())
    assert status in (201, 409)
    return "/api/v1/namespaces/default/configmaps/patch-target"


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=JSON_VALUES, content_type=st.sampled_from([
    "application/merge-patch+json", "application/strategic-merge-patch+json",
    "application/apply-patch+yaml"]))
def test_random_merge_and_apply_patches(api: Client, target: str, body: Any,
                                        content_type: str) -> None:
    path = target + ("?fieldManager=fuzz" if content_type.startswith("application/apply")
                     else "")
    status, answer = api.request("PATCH", path, data=json.dumps(body).encode(),
                                 content_type=content_type)
    _assert_client_error_or_success(status, answer)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=PATCH_OPS)
def test_random_json_patches(api: Client, target: str, ops: list[dict]) -> None:
    status, answer = api.request("PATCH", target, data=json.dumps(ops).encode(),
                                 content_type="application/json-patch+json")
    _assert_client_error_or_success(status, answer)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.text(max_size=70), rv=st.one_of(st.none(), st.text(max_size=12)))
def test_random_names_and_resource_versions(api: Client, name: str, rv: str | None) -> None:
    body: dict[str, Any] = {"metadata": {"name": name}}
    if rv is not None:
        body["metadata"]["resourceVersion"] = rv
    status, answer = api.request("POST", "/api/v1/namespaces/default/configmaps",
                                 data=json.dumps(body).encode())
    _assert_client_error_or_success(status, answer)
    status, answer = api.request("PUT", "/api/v1/namespaces/default/configmaps/patch-target",
                                 data=json.dumps({"metadata": {"name": "patch-target",
                                                               "resourceVersion": rv},
                                                  "data": {"a": "2"}}).encode())
    _assert_client_error_or_success(status, answer)


def test_store_is_consistent_after_fuzzing(api: Client) -> None:
    """Every object lists the same as it reads, and the list's revision covers all."""
    status, listing = api.request("GET", "/api/v1/namespaces/default/configmaps")
    assert status == 200
    top = int(listing["metadata"]["resourceVersion"])
    for item in listing["items"]:
        assert int(item["metadata"]["resourceVersion"]) <= top
        status, one = api.request(
            "GET", f"/api/v1/namespaces/default/configmaps/{item['metadata']['name']}")
        assert status == 200 and one == item
