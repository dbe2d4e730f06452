"""Edges of the API where a careless server loses data, leaks or lets users through:
namespace paths, CRD lifecycles, ClusterIPs, disruption budgets, impersonation,
bookmarks and watch hygiene."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.fixtures.cluster import Cloud, eventually, running_cloud

MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """A control plane with a short bookmark interval, and without the namespace
    defaults controller, whose objects would show up in these tests' watches."""
    with running_cloud(tmp_path_factory.mktemp("edges"), bookmark_interval_seconds=0.3,
                       controllers=()) as c:
        yield c


@pytest.fixture
async def api(cloud: Cloud) -> AsyncIterator[aiohttp.ClientSession]:
    async with cloud.session() as session:
        yield session


@pytest.fixture
async def ns(api: aiohttp.ClientSession) -> str:
    name = f"e-{uuid.uuid4().hex[:6]}"
    await _call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": name}}, 201)
    return name


async def _call(api: aiohttp.ClientSession, method: str, path: str, body: Any = None,
                expect: int | None = None, headers: dict[str, str] | None = None,
                **params: str) -> Any:
    async with api.request(method, path, json=body, params=params, headers=headers) as resp:
        data = await resp.json()
        if expect is not None:
            assert resp.status == expect, data
        return data


def _user_session(cloud: Cloud, name: str) -> aiohttp.ClientSession:
    token = uuid.uuid4().hex
    cloud.user_kubeconfig(name, token=token)
    return aiohttp.ClientSession(
        base_url=cloud.server, headers={"Authorization": f"Bearer {token}"},
        connector=aiohttp.TCPConnector(ssl=False), timeout=aiohttp.ClientTimeout(total=20))


async def test_namespaces_are_not_reachable_under_a_namespace(
        cloud: Cloud, api: aiohttp.ClientSession, ns: str) -> None:
    await _call(api, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
                {"metadata": {"name": "alice-admin"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": "admin"},
                 "subjects": [{"kind": "User", "name": "alice",
                               "apiGroup": "rbac.authorization.k8s.io"}]}, 201)
    async with _user_session(cloud, "alice") as alice:
        # Authorization runs before routing, as in kube: a verb alice may use in her
        # namespace reaches the router (404), any other stops at 403.
        for method, path, code in (
                ("GET", f"/api/v1/namespaces/{ns}/namespaces", 404),
                ("GET", f"/api/v1/namespaces/{ns}/namespaces/kube-system", 404),
                ("DELETE", f"/api/v1/namespaces/{ns}/namespaces/default", 403)):
            async with alice.request(method, path) as resp:
                assert resp.status == code, await resp.text()
        async with api.get("/api/v1/namespaces/default") as resp:
            assert resp.status == 200
        async with alice.get(f"/api/v1/namespaces/{ns}/configmaps") as resp:
            assert resp.status == 200


async def test_impersonating_a_user_named_like_a_service_account_adds_no_groups(
        cloud: Cloud, api: aiohttp.ClientSession) -> None:
    name = f"imp-{uuid.uuid4().hex[:6]}"
    await _call(api, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                {"metadata": {"name": name},
                 "rules": [{"apiGroups": [""], "resources": ["users"],
                            "verbs": ["impersonate"]}]}, 201)
    await _call(api, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                {"metadata": {"name": name},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": name},
                 "subjects": [{"kind": "User", "name": name,
                               "apiGroup": "rbac.authorization.k8s.io"}]}, 201)
    async with _user_session(cloud, name) as user, user.post(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews", json={},
        headers={"Impersonate-User": "system:serviceaccount:kube-system:x:y"},
    ) as resp:
        review = await resp.json()
    assert resp.status == 201, review
    assert review["status"]["userInfo"]["username"] == "system:serviceaccount:kube-system:x:y"
    assert "system:serviceaccounts" not in review["status"]["userInfo"]["groups"]


def _crd(group: str, plural: str = "things") -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": plural[:-1],
                               "kind": plural[:-1].capitalize()},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {
                                       "type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}}}]}}


async def test_crd_cannot_take_over_a_builtin_group(api: aiohttp.ClientSession) -> None:
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for group in ("core", "apps"):
        await _call(api, "POST", crds, _crd(group, "configmaps"), 422)
    await _call(api, "POST", crds, _crd("rbac.authorization.k8s.io", "roles"), 422)


async def test_crd_delete_removes_its_objects_and_refuses_new_ones(
        api: aiohttp.ClientSession, ns: str) -> None:
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    await _call(api, "POST", crds, _crd(group), 201)
    path = f"/apis/{group}/v1/namespaces/{ns}/things"

    async def established() -> bool:
        async with api.get(path) as resp:
            return resp.status == 200

    await eventually(established, what="the CRD to be served")
    await _call(api, "POST", path, {"metadata": {"name": "plain"}}, 201)
    await _call(api, "POST", path, {"metadata": {"name": "held",
                                                 "finalizers": ["example.com/hold"]}}, 201)
    await _call(api, "DELETE", f"{crds}/things.{group}", expect=200)
    # While its objects are going, the CRD is terminating and takes no new objects.
    created = await _call(api, "POST", path, {"metadata": {"name": "late"}})
    assert created["code"] == 405, created
    await _call(api, "PATCH", f"{path}/held", {"metadata": {"finalizers": None}}, 200,
                headers=MERGE)

    async def gone() -> bool:
        async with api.get(f"{crds}/things.{group}") as resp:
            return resp.status == 404

    await eventually(gone, what="the CRD to be removed once its objects are gone")
    # Recreating the CRD brings none of the old objects back.
    await _call(api, "POST", crds, _crd(group), 201)
    await eventually(established, what="the CRD to be served again")
    assert (await _call(api, "GET", path, expect=200))["items"] == []


async def test_cluster_ips_follow_externalname_changes(api: aiohttp.ClientSession,
                                                       ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/services"
    real = await _call(api, "POST", path, {"metadata": {"name": "real"},
                                           "spec": {"ports": [{"port": 80}]}}, 201)
    ip = real["spec"]["clusterIP"]
    # An ExternalName service may not name a ClusterIP, least of all someone else's.
    await _call(api, "POST", path, {"metadata": {"name": "ext"}, "spec": {
        "type": "ExternalName", "externalName": "example.com", "clusterIP": ip}}, 422)
    ext = await _call(api, "POST", path, {"metadata": {"name": "ext"}, "spec": {
        "type": "ExternalName", "externalName": "example.com"}}, 201)
    assert "clusterIP" not in ext["spec"]
    await _call(api, "DELETE", f"{path}/ext", expect=200)
    # Deleting it released nothing: the address is still taken.
    await _call(api, "POST", path, {"metadata": {"name": "dup"},
                                    "spec": {"ports": [{"port": 80}], "clusterIP": ip}}, 422)
    # A dry run sees the address is taken too.
    await _call(api, "POST", path, {"metadata": {"name": "dup"},
                                    "spec": {"ports": [{"port": 80}], "clusterIP": ip}}, 422,
                dryRun="All")
    ext = await _call(api, "POST", path, {"metadata": {"name": "ext2"}, "spec": {
        "type": "ExternalName", "externalName": "example.com"}}, 201)
    moved = await _call(api, "PATCH", f"{path}/ext2", {"spec": {
        "type": "ClusterIP", "externalName": None, "ports": [{"port": 81}]}}, 200,
        headers=MERGE)
    assert moved["spec"]["clusterIP"] not in ("", None, ip)


RUNNING_READY = {"status": {"phase": "Running", "conditions": [
    {"type": "Ready", "status": "True"}]}}


async def _running_pods(api: aiohttp.ClientSession, ns: str, names: list[str],
                        ready: bool = True) -> None:
    for name in names:
        await _call(api, "POST", f"/api/v1/namespaces/{ns}/pods", {
            "metadata": {"name": name, "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}, 201)
        status = copy.deepcopy(RUNNING_READY)
        status["status"]["conditions"][0]["status"] = "True" if ready else "False"
        await _call(api, "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", status,
                    200, headers=MERGE)


async def _budget(api: aiohttp.ClientSession, ns: str, spec: dict, status: dict) -> str:
    pdbs = f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"
    await _call(api, "POST", pdbs, {"metadata": {"name": "b"}, "spec": {
        "selector": {"matchLabels": {"app": "x"}}, **spec}}, 201)
    await _call(api, "PATCH", f"{pdbs}/b/status", {"status": status}, 200, headers=MERGE)
    return f"{pdbs}/b"


async def _evict(api: aiohttp.ClientSession, ns: str, name: str) -> Any:
    answer = await _call(api, "POST", f"/api/v1/namespaces/{ns}/pods/{name}/eviction",
                         {"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": name}})
    return answer.get("code")


async def test_eviction_spends_the_disruption_budget(api: aiohttp.ClientSession,
                                                     ns: str) -> None:
    await _running_pods(api, ns, ["p0", "p1", "p2"])
    pdb_path = await _budget(api, ns, {"minAvailable": 2}, {
        "disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2,
        "expectedPods": 3, "observedGeneration": 1})
    results = [await _evict(api, ns, f"p{i}") for i in range(3)]
    assert results == [201, 429, 429]
    pdb = await _call(api, "GET", pdb_path, expect=200)
    assert pdb["status"]["disruptionsAllowed"] == 0
    assert list(pdb["status"]["disruptedPods"]) == ["p0"]
    # The last allowed disruption also flips the condition, as kube's handler does.
    allowed = next(c for c in pdb["status"]["conditions"] if c["type"] == "DisruptionAllowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "InsufficientPods")


async def test_eviction_of_pending_or_unready_pods_costs_no_budget(
        api: aiohttp.ClientSession, ns: str) -> None:
    await _call(api, "POST", f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": "pending", "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}, 201)
    await _running_pods(api, ns, ["sick"], ready=False)
    await _running_pods(api, ns, ["well"])
    pdb_path = await _budget(api, ns, {"minAvailable": 1,
                                       "unhealthyPodEvictionPolicy": "AlwaysAllow"}, {
        "disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1,
        "expectedPods": 1, "observedGeneration": 1})
    assert [await _evict(api, ns, name) for name in ("pending", "sick", "well")] == [
        201, 201, 429]
    pdb = await _call(api, "GET", pdb_path, expect=200)
    assert pdb["status"]["disruptionsAllowed"] == 0
    assert not pdb["status"].get("disruptedPods")


async def test_eviction_waits_for_a_budget_the_controller_has_not_seen(
        api: aiohttp.ClientSession, ns: str) -> None:
    await _running_pods(api, ns, ["p0"])
    await _budget(api, ns, {"maxUnavailable": 1}, {
        "disruptionsAllowed": 1, "currentHealthy": 1, "desiredHealthy": 0,
        "expectedPods": 1, "observedGeneration": 0})
    answer = await _call(api, "POST", f"/api/v1/namespaces/{ns}/pods/p0/eviction",
                         {"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": "p0"}})
    assert answer["code"] == 429
    assert "still being processed" in json.dumps(answer)


async def _watch(api: aiohttp.ClientSession, path: str, seconds: float,
                 **params: str) -> tuple[list[dict], float]:
    events: list[dict] = []
    started = time.monotonic()
    async with api.get(path, params={"watch": "true", **params}) as resp:
        assert resp.status == 200
        async for line in resp.content:
            if line.strip():
                events.append(json.loads(line))
            if time.monotonic() - started > seconds + 5:
                break
    return events, time.monotonic() - started


async def test_bookmarks_keep_the_watch_open_until_its_timeout(api: aiohttp.ClientSession,
                                                               ns: str) -> None:
    rv = (await _call(api, "GET", f"/api/v1/namespaces/{ns}/configmaps"))["metadata"][
        "resourceVersion"]
    events, elapsed = await _watch(api, f"/api/v1/namespaces/{ns}/configmaps", 2,
                                   resourceVersion=rv, allowWatchBookmarks="true",
                                   timeoutSeconds="2")
    assert elapsed >= 1.9
    assert len(events) >= 3 and {e["type"] for e in events} == {"BOOKMARK"}


async def test_watch_from_a_future_revision_is_refused(api: aiohttp.ClientSession,
                                                       ns: str) -> None:
    rv = int((await _call(api, "GET", f"/api/v1/namespaces/{ns}/pods"))["metadata"][
        "resourceVersion"])
    answer = await _call(api, "GET", f"/api/v1/namespaces/{ns}/pods", watch="true",
                         resourceVersion=str(rv + 100000))
    assert answer["code"] == 504 and answer["reason"] == "Timeout"


async def test_leaving_a_selection_reports_the_last_matching_state(
        api: aiohttp.ClientSession, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    created = await _call(api, "POST", path, {"metadata": {"name": "m",
                                                           "labels": {"tier": "a"}}}, 201)
    await _call(api, "PATCH", f"{path}/m", {"metadata": {"labels": {"tier": "b"}}}, 200,
                headers=MERGE)
    events, _ = await _watch(api, path, 1, resourceVersion=created["metadata"][
        "resourceVersion"], labelSelector="tier=a", timeoutSeconds="1")
    assert [e["type"] for e in events] == ["DELETED"]
    assert events[0]["object"]["metadata"]["labels"] == {"tier": "a"}


async def test_yaml_aliases_are_refused(api: aiohttp.ClientSession, ns: str) -> None:
    bomb = b"a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
    async with api.post(f"/api/v1/namespaces/{ns}/configmaps", data=bomb,
                        headers={"Content-Type": "application/yaml"}) as resp:
        assert resp.status == 400
        assert "aliases" in (await resp.json())["message"]


async def test_status_writes_keep_label_and_annotation_changes_but_not_spec(
        api: aiohttp.ClientSession, ns: str) -> None:
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    await _call(api, "POST", path, {
        "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}}, 201)
    current = await _call(api, "GET", f"{path}/d", expect=200)
    current["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
    current["metadata"].setdefault("labels", {})["seen"] = "yes"
    current["spec"]["replicas"] = 9
    current["status"] = {"observedGeneration": 1, "replicas": 0}
    stored = await _call(api, "PUT", f"{path}/d/status", current, 200)
    assert stored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert stored["metadata"]["labels"]["seen"] == "yes"
    assert stored["spec"]["replicas"] == 1  # spec belongs to the main resource
    assert stored["status"]["observedGeneration"] == 1
