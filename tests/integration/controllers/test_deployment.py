"""The Deployment and ReplicaSet controllers against the real API server, driven with
the real kubectl (`create deployment`, `set image`, `rollout status|undo|history|pause|
resume`, `scale`). The test plays the node: it marks new pods Running and Ready, and
records from a watch how many pods were active and available after every change."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.api import meta
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.controllers import pods as podutil
from kubeedge.controllers.deployment import DeploymentController
from kubeedge.controllers.replicaset import ReplicaSetController
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.controllers import running

pytestmark = pytest.mark.kubectl

NAMESPACES = Resource.of("v1", "namespaces")
PODS = Resource.of("v1", "pods")
DEPLOYMENTS = Resource.of("apps/v1", "deployments")
REPLICA_SETS = Resource.of("apps/v1", "replicasets")

# cloudcore keeps only the namespace defaults: the controllers under test run here.

@pytest.fixture
async def controllers(api: APIClient) -> AsyncIterator[None]:
    async with running(api, lambda f: ReplicaSetController(api, f),
                       lambda f: DeploymentController(api, f)):
        yield


async def kubectl(cloud: Cloud, *args: str, check: bool = True) -> Any:
    """kubectl off the event loop: the controllers under test run on it."""
    return await asyncio.to_thread(cloud.kubectl, *args, check=check)


async def mark_ready(api: APIClient, pod: dict) -> None:
    stamp = meta.rfc3339(meta.now())
    with contextlib.suppress(Exception):  # deleted meanwhile
        await api.patch(PODS, meta.name_of(pod), {"status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}],
        }}, meta.namespace_of(pod), subresource="status")


def is_available(pod: dict) -> bool:
    return podutil.is_active(pod) and podutil.is_ready(pod)


class Node:
    """Watches a namespace's pods: marks new ones Running and Ready while `ready` is
    set, and samples (active, available, {hash: active}) after every event."""

    def __init__(self, api: APIClient, ns: str, ready: bool = True) -> None:
        self.api, self.ns, self.ready = api, ns, ready
        self.pods: dict[str, dict] = {}
        self.samples: list[tuple[int, int, dict[str, int]]] = []
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        active = [p for p in self.pods.values() if podutil.is_active(p)]
        by_hash: dict[str, int] = {}
        for pod in active:
            h = meta.labels_of(pod).get("pod-template-hash", "")
            by_hash[h] = by_hash.get(h, 0) + 1
        self.samples.append((len(active), sum(map(is_available, active)), by_hash))

    async def __aenter__(self) -> Node:
        listing = await self.api.list(PODS, self.ns)
        for pod in listing["items"]:
            self.pods[meta.name_of(pod)] = pod
            if self.ready and not podutil.is_ready(pod):
                await mark_ready(self.api, pod)
        self.sample()
        rv = listing["metadata"]["resourceVersion"]

        async def run() -> None:
            async with self.api.watch(PODS, self.ns, resource_version=rv) as stream:
                async for kind, pod in stream:
                    name = meta.name_of(pod)
                    if kind == "DELETED":
                        self.pods.pop(name, None)
                    elif kind in ("ADDED", "MODIFIED"):
                        self.pods[name] = pod
                    self.sample()
                    if (kind == "ADDED" and self.ready and podutil.is_active(pod)
                            and not podutil.is_ready(pod)):
                        await mark_ready(self.api, pod)

        self._task = asyncio.create_task(run())
        return self

    async def make_all_ready(self) -> None:
        self.ready = True
        for pod in list(self.pods.values()):
            if podutil.is_active(pod) and not podutil.is_ready(pod):
                await mark_ready(self.api, pod)

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def active_pods(api: APIClient, ns: str) -> list[dict]:
    return [p for p in (await api.list(PODS, ns))["items"] if podutil.is_active(p)]


async def replica_sets(api: APIClient, ns: str) -> list[dict]:
    return (await api.list(REPLICA_SETS, ns))["items"]


async def create_ready_deployment(cloud: Cloud, api: APIClient, ns: str, replicas: int = 3,
                                  name: str = "web") -> dict:
    """`kubectl create deployment`, wait for the pods, make them Ready, and wait for
    `kubectl rollout status` to report success."""
    await kubectl(cloud, "create", "deployment", name, "--image=nginx",
                  f"--replicas={replicas}", "-n", ns)

    async def all_there() -> list[dict] | None:
        found = await active_pods(api, ns)
        return found if len(found) == replicas else None

    for pod in await eventually(all_there, timeout=15, what=f"{replicas} pods"):
        await mark_ready(api, pod)
    out = await kubectl(cloud, "rollout", "status", f"deployment/{name}", "-n", ns,
                        "--timeout=30s")
    assert f'deployment "{name}" successfully rolled out' in out.stdout
    return await api.get(DEPLOYMENTS, name, ns)


def condition(obj: dict, ctype: str) -> dict:
    found = meta.condition(obj, ctype)
    assert found is not None, f"no {ctype} condition in {obj.get('status')}"
    return found


async def test_create_deployment_rolls_out(cloud: Cloud, api: APIClient, ns: str,
                                           controllers: None) -> None:
    deploy = await create_ready_deployment(cloud, api, ns)
    [rs] = await replica_sets(api, ns)
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert meta.name_of(rs) == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == pod_hash
    ann = rs["metadata"]["annotations"]
    assert ann["deployment.kubernetes.io/revision"] == "1"
    assert ann["deployment.kubernetes.io/desired-replicas"] == "3"
    assert ann["deployment.kubernetes.io/max-replicas"] == "4"
    assert podutil.controller_ref(rs)["uid"] == deploy["metadata"]["uid"]  # type: ignore[index]

    status = deploy["status"]
    assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert status["observedGeneration"] == deploy["metadata"]["generation"]
    for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
        assert status[key] == 3, key
    assert "unavailableReplicas" not in status
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]
    assert condition(deploy, "Available")["reason"] == "MinimumReplicasAvailable"
    progressing = condition(deploy, "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    assert progressing["message"] == f'ReplicaSet "web-{pod_hash}" has successfully progressed.'

    table = (await kubectl(cloud, "get", "deploy", "web", "-n", ns)).stdout.split("\n")[1]
    assert table.split()[:4] == ["web", "3/3", "3", "3"]
    described = (await kubectl(cloud, "describe", "deploy", "web", "-n", ns)).stdout
    assert f"Scaled up replica set web-{pod_hash} to 3" in described
    assert f"NewReplicaSet:   web-{pod_hash} (3/3 replicas created)" in described


async def test_rolling_update_respects_surge_and_availability_then_undo(
        cloud: Cloud, api: APIClient, ns: str, controllers: None) -> None:
    await create_ready_deployment(cloud, api, ns)
    [first] = await replica_sets(api, ns)
    async with Node(api, ns) as node:
        await kubectl(cloud, "set", "image", "deployment/web", "nginx=nginx:1.27", "-n", ns)
        out = await kubectl(cloud, "rollout", "status", "deployment/web", "-n", ns,
                            "--timeout=30s")
        assert 'deployment "web" successfully rolled out' in out.stdout
    # replicas 3 with 25%/25%: at most 4 pods, never fewer than 3 available.
    assert max(s[0] for s in node.samples) <= 4, node.samples
    assert min(s[1] for s in node.samples) >= 3, node.samples
    assert max(s[0] for s in node.samples) == 4  # the surge was used

    deploy = await api.get(DEPLOYMENTS, "web", ns)
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    sets = {meta.name_of(rs): rs for rs in await replica_sets(api, ns)}
    assert len(sets) == 2
    assert sets[meta.name_of(first)]["spec"]["replicas"] == 0
    pods = await active_pods(api, ns)
    assert len(pods) == 3
    assert all(p["spec"]["containers"][0]["image"] == "nginx:1.27" for p in pods)
    described = (await kubectl(cloud, "describe", "deploy", "web", "-n", ns)).stdout
    assert f"Scaled down replica set {meta.name_of(first)} to 2 from 3" in described

    history = (await kubectl(cloud, "rollout", "history", "deployment/web", "-n", ns)).stdout
    assert [line.split()[0] for line in history.strip().split("\n")[2:]] == ["1", "2"]

    async with Node(api, ns) as node:
        out = await kubectl(cloud, "rollout", "undo", "deployment/web", "-n", ns)
        assert "rolled back" in out.stdout
        await kubectl(cloud, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    assert max(s[0] for s in node.samples) <= 4, node.samples
    assert min(s[1] for s in node.samples) >= 3, node.samples

    deploy = await api.get(DEPLOYMENTS, "web", ns)
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    # The first ReplicaSet is reused under revision 3; revision 1 is gone from history.
    reused = await api.get(REPLICA_SETS, meta.name_of(first), ns)
    assert reused["spec"]["replicas"] == 3
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    history = (await kubectl(cloud, "rollout", "history", "deployment/web", "-n", ns)).stdout
    assert [line.split()[0] for line in history.strip().split("\n")[2:]] == ["2", "3"]
    assert len(await replica_sets(api, ns)) == 2


async def test_wider_bounds_rolling_update(cloud: Cloud, api: APIClient, ns: str,
                                           controllers: None) -> None:
    await create_ready_deployment(cloud, api, ns, replicas=5)
    await api.patch(DEPLOYMENTS, "web", {"spec": {"strategy": {"rollingUpdate": {
        "maxSurge": 2, "maxUnavailable": "20%"}}}}, ns)
    async with Node(api, ns) as node:
        await kubectl(cloud, "set", "image", "deployment/web", "nginx=nginx:1.27", "-n", ns)
        await kubectl(cloud, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    assert max(s[0] for s in node.samples) <= 7, node.samples
    assert min(s[1] for s in node.samples) >= 4, node.samples
    assert len(await active_pods(api, ns)) == 5


async def test_scale_through_the_scale_subresource(cloud: Cloud, api: APIClient, ns: str,
                                                   controllers: None) -> None:
    await create_ready_deployment(cloud, api, ns)
    out = await kubectl(cloud, "scale", "deployment/web", "--replicas=5", "-n", ns)
    assert "deployment.apps/web scaled" in out.stdout

    async def five() -> list[dict] | None:
        found = await active_pods(api, ns)
        return found if len(found) == 5 else None

    for pod in await eventually(five, timeout=15, what="5 pods"):
        await mark_ready(api, pod)
    await kubectl(cloud, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    [rs] = await replica_sets(api, ns)
    assert rs["spec"]["replicas"] == 5
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"

    await kubectl(cloud, "scale", "deployment/web", "--replicas=2", "-n", ns)
    await eventually(lambda: _has_active(api, ns, 2), timeout=15, what="2 pods")
    await kubectl(cloud, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")


async def _has_active(api: APIClient, ns: str, n: int) -> bool:
    return len(await active_pods(api, ns)) == n


async def test_scaling_mid_rollout_is_proportional(cloud: Cloud, api: APIClient, ns: str,
                                                   controllers: None) -> None:
    await create_ready_deployment(cloud, api, ns, replicas=4)
    [first] = await replica_sets(api, ns)
    # 25% of 4 is one pod of surge and one unavailable. New pods never become ready,
    # so the rollout stops at old 3 + new 2.
    await kubectl(cloud, "set", "image", "deployment/web", "nginx=nginx:1.27", "-n", ns)

    async def sizes() -> dict[str, int] | None:
        got = {meta.name_of(rs): rs["spec"]["replicas"] for rs in await replica_sets(api, ns)}
        return got if sorted(got.values()) == [2, 3] else None

    stuck = await eventually(sizes, timeout=15, what="a stuck rollout at 3 + 2")
    assert stuck[meta.name_of(first)] == 3

    await kubectl(cloud, "scale", "deployment/web", "--replicas=8", "-n", ns)

    async def spread() -> dict[str, int] | None:
        got = {meta.name_of(rs): rs["spec"]["replicas"] for rs in await replica_sets(api, ns)}
        return got if sum(got.values()) == 10 else None

    # 8 replicas + 25% surge = 10, split 3:2 as before.
    after = await eventually(spread, timeout=15, what="10 pods over both ReplicaSets")
    assert after[meta.name_of(first)] == 6
    assert sorted(after.values()) == [4, 6]


async def test_pause_and_resume(cloud: Cloud, api: APIClient, ns: str,
                                controllers: None) -> None:
    await create_ready_deployment(cloud, api, ns)
    await kubectl(cloud, "rollout", "pause", "deployment/web", "-n", ns)

    async def progressing(reason: str) -> dict | None:
        got = await api.get(DEPLOYMENTS, "web", ns)
        cond = meta.condition(got, "Progressing") or {}
        return got if cond.get("reason") == reason else None

    paused = await eventually(lambda: progressing("DeploymentPaused"), timeout=10,
                              what="Progressing DeploymentPaused")
    assert condition(paused, "Progressing")["status"] == "Unknown"

    await kubectl(cloud, "set", "image", "deployment/web", "nginx=nginx:1.27", "-n", ns)

    async def observed() -> bool:
        got = await api.get(DEPLOYMENTS, "web", ns)
        return got["status"].get("observedGeneration") == got["metadata"]["generation"]

    await eventually(observed, timeout=10, what="the paused change observed")
    assert len(await replica_sets(api, ns)) == 1  # nothing rolled out while paused

    async with Node(api, ns):
        await kubectl(cloud, "rollout", "resume", "deployment/web", "-n", ns)
        await kubectl(cloud, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    assert len(await replica_sets(api, ns)) == 2
    pods = await active_pods(api, ns)
    assert [p["spec"]["containers"][0]["image"] for p in pods] == ["nginx:1.27"] * 3

    # `rollout restart` stamps the template: a new ReplicaSet, rolled out the same way.
    async with Node(api, ns):
        await kubectl(cloud, "rollout", "restart", "deployment/web", "-n", ns)
        await kubectl(cloud, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    assert len(await replica_sets(api, ns)) == 3
    shown = (await kubectl(cloud, "rollout", "history", "deployment/web", "-n", ns,
                           "--revision=3")).stdout
    assert "kubectl.kubernetes.io/restartedAt" in shown


async def test_recreate_never_runs_old_and_new_together(cloud: Cloud, api: APIClient, ns: str,
                                                        controllers: None) -> None:
    await create_ready_deployment(cloud, api, ns)
    await api.patch(DEPLOYMENTS, "web", [
        {"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}}], ns,
        patch_type="json")
    async with Node(api, ns) as node:
        await kubectl(cloud, "set", "image", "deployment/web", "nginx=nginx:1.27", "-n", ns)
        await kubectl(cloud, "rollout", "status", "deployment/web", "-n", ns, "--timeout=30s")
    assert all(len(s[2]) <= 1 for s in node.samples), node.samples
    assert min(s[0] for s in node.samples) == 0  # all old pods went first


async def test_progress_deadline_exceeded(cloud: Cloud, api: APIClient, ns: str,
                                          controllers: None) -> None:
    await create_ready_deployment(cloud, api, ns, replicas=1)
    await api.patch(DEPLOYMENTS, "web", {"spec": {"progressDeadlineSeconds": 1}}, ns)
    await kubectl(cloud, "set", "image", "deployment/web", "nginx=nginx:1.27", "-n", ns)

    async def timed_out() -> dict | None:
        got = await api.get(DEPLOYMENTS, "web", ns)
        cond = meta.condition(got, "Progressing") or {}
        return got if cond.get("reason") == "ProgressDeadlineExceeded" else None

    got = await eventually(timed_out, timeout=15, what="ProgressDeadlineExceeded")
    cond = condition(got, "Progressing")
    assert cond["status"] == "False"
    assert cond["message"].endswith("has timed out progressing.")
    out = await kubectl(cloud, "rollout", "status", "deployment/web", "-n", ns,
                        "--timeout=10s", check=False)
    assert out.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in out.stderr


async def test_revision_history_limit_cleans_old_replica_sets(
        cloud: Cloud, api: APIClient, ns: str, controllers: None) -> None:
    await create_ready_deployment(cloud, api, ns, replicas=1)
    await api.patch(DEPLOYMENTS, "web", {"spec": {"revisionHistoryLimit": 1}}, ns)
    async with Node(api, ns):
        for tag in ("1.25", "1.26", "1.27"):
            await kubectl(cloud, "set", "image", "deployment/web", f"nginx=nginx:{tag}",
                          "-n", ns)
            await kubectl(cloud, "rollout", "status", "deployment/web", "-n", ns,
                          "--timeout=30s")

    async def two_left() -> list[dict] | None:
        found = await replica_sets(api, ns)
        return found if len(found) == 2 else None

    left = await eventually(two_left, timeout=15, what="one old ReplicaSet kept")
    revisions = sorted(int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
                       for rs in left)
    assert revisions == [3, 4]
