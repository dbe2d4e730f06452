"""The DaemonSet controller against the real API server: the test creates Node objects
and plays the kubelet (marks pods Running and Ready) where readiness matters."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.api import meta
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.controllers.daemonset import DaemonSetController, target_node
from kubeedge.controllers.runtime import Controller
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.controllers import running

pytestmark = pytest.mark.kubectl

NAMESPACES = Resource.of("v1", "namespaces")
NODES = Resource.of("v1", "nodes")
PODS = Resource.of("v1", "pods")
DAEMONSETS = Resource.of("apps/v1", "daemonsets")
REVISIONS = Resource.of("apps/v1", "controllerrevisions")


@pytest.fixture
async def controller(api: APIClient) -> AsyncIterator[Controller]:
    async with running(api, lambda f: DaemonSetController(api, f)) as (ds_controller,):
        yield ds_controller


async def make_node(api: APIClient, made: list[str], name: str, labels: dict[str, str],
                    taints: list[dict[str, str]] | None = None) -> str:
    body: dict[str, Any] = {"metadata": {"name": name, "labels": labels}}
    if taints:
        body["spec"] = {"taints": taints}
    await api.create(NODES, body)
    made.append(name)
    return name


def daemonset(name: str, pool: str, image: str = "nginx:1.25", **strategy: Any) -> dict:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"nodeSelector": {"pool": pool},
                     "containers": [{"name": "agent", "image": image}]},
        },
    }
    if strategy:
        spec["updateStrategy"] = strategy
    return {"metadata": {"name": name}, "spec": spec}


async def pods_by_node(api: APIClient, ns: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for pod in (await api.list(PODS, ns))["items"]:
        if not meta.is_terminating(pod):
            out.setdefault(target_node(pod), []).append(pod)
    return out


async def mark_ready(api: APIClient, pod: dict) -> None:
    stamp = meta.rfc3339(meta.now())
    await api.patch(PODS, meta.name_of(pod), {"status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}],
    }}, meta.namespace_of(pod), subresource="status")


@contextlib.asynccontextmanager
async def kubelet(api: APIClient, ns: str) -> AsyncIterator[None]:
    """Plays every node's kubelet for the namespace: each new pod becomes Running and
    Ready."""

    async def run() -> None:
        listing = await api.list(PODS, ns)
        for pod in listing["items"]:
            await mark_ready(api, pod)
        rv = listing["metadata"]["resourceVersion"]
        async with api.watch(PODS, ns, resource_version=rv) as stream:
            async for kind, pod in stream:
                if kind == "ADDED" and not meta.is_terminating(pod):
                    with contextlib.suppress(Exception):
                        await mark_ready(api, pod)

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_one_pod_per_matching_node_follows_nodes_and_taints(
        api: APIClient, ns: str, controller: DaemonSetController, nodes: list[str],
        cloud: Cloud) -> None:
    pool = uuid.uuid4().hex[:8]
    a = await make_node(api, nodes, f"a-{pool}", {"pool": pool})
    edge = await make_node(api, nodes, f"edge-{pool}",
                           {"pool": pool, "node-role.kubernetes.io/edge": ""})
    await make_node(api, nodes, f"other-{pool}", {"pool": "elsewhere"})
    await make_node(api, nodes, f"tainted-{pool}", {"pool": pool},
                    taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    await api.create(DAEMONSETS, daemonset("agent", pool), ns)

    async def on_nodes(*wanted: str) -> bool:
        placed = await pods_by_node(api, ns)
        return sorted(placed) == sorted(wanted) and all(len(p) == 1 for p in placed.values())

    await eventually(lambda: on_nodes(a, edge), what="a pod on each matching node")
    for node_name, (pod,) in (await pods_by_node(api, ns)).items():
        affinity = pod["spec"]["affinity"]["nodeAffinity"]
        assert affinity["requiredDuringSchedulingIgnoredDuringExecution"] == {
            "nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
        assert "nodeName" not in pod["spec"]  # the scheduler binds it
        assert {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                "effect": "NoExecute"} in pod["spec"]["tolerations"]
        assert pod["metadata"]["labels"]["controller-revision-hash"]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"

    async def status(**wanted: int) -> bool:
        got = (await api.get(DAEMONSETS, "agent", ns)).get("status") or {}
        return all(got.get(k) == v for k, v in wanted.items())

    await eventually(lambda: status(desiredNumberScheduled=2, currentNumberScheduled=2,
                                    numberMisscheduled=0, numberReady=0,
                                    numberUnavailable=2, updatedNumberScheduled=2),
                     what="status counts")

    # A node that joins gets a pod; a node that leaves loses it.
    late = await make_node(api, nodes, f"late-{pool}", {"pool": pool})
    await eventually(lambda: on_nodes(a, edge, late), what="a pod on the new node")
    await api.delete(NODES, a)
    await eventually(lambda: on_nodes(edge, late), what="the gone node's pod deleted")

    # A NoExecute taint the pod does not tolerate evicts the daemon pod.
    await api.patch(NODES, late, {"spec": {"taints": [
        {"key": "maintenance", "value": "yes", "effect": "NoExecute"}]}})
    await eventually(lambda: on_nodes(edge), what="the NoExecute-tainted node's pod deleted")

    described = cloud.kubectl("describe", "ds", "agent", "-n", ns).stdout
    assert "SuccessfulCreate" in described and "Created pod: agent-" in described
    assert "SuccessfulDelete" in described
    table = cloud.kubectl("get", "ds", "agent", "-n", ns).stdout.split("\n")
    assert table[1].split()[:3] == ["agent", "1", "1"], table


async def test_rolling_update_replaces_one_pod_at_a_time_and_rolls_back(
        api: APIClient, ns: str, controller: DaemonSetController, nodes: list[str],
        cloud: Cloud) -> None:
    pool = uuid.uuid4().hex[:8]
    for i in range(3):
        await make_node(api, nodes, f"n{i}-{pool}", {"pool": pool})
    await api.create(DAEMONSETS, daemonset("agent", pool, "agent:v1"), ns)

    async def rolled_out(image: str) -> bool:
        ds = await api.get(DAEMONSETS, "agent", ns)
        st = ds.get("status") or {}
        placed = await pods_by_node(api, ns)
        return (st.get("observedGeneration") == ds["metadata"]["generation"]
                and st.get("numberAvailable") == 3 and st.get("updatedNumberScheduled") == 3
                and len(placed) == 3
                and all(p["spec"]["containers"][0]["image"] == image
                        for pods in placed.values() for p in pods))

    async with kubelet(api, ns):
        await eventually(lambda: rolled_out("agent:v1"), what="v1 available everywhere")
        cloud.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=20s")

        # Watch every pod change while v2 rolls out: with maxUnavailable 1, no more
        # than one node is ever without an available pod.
        rv = (await api.list(PODS, ns))["metadata"]["resourceVersion"]
        available: dict[str, set[str]] = {}  # node -> names of ready, live pods
        low = [3]
        done = asyncio.Event()

        async def observe() -> None:
            async with api.watch(PODS, ns, resource_version=rv) as stream:
                async for kind, pod in stream:
                    node = target_node(pod)
                    names = available.setdefault(node, set())
                    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                                for c in (pod.get("status") or {}).get("conditions") or [])
                    if kind == "DELETED" or meta.is_terminating(pod) or not ready:
                        names.discard(meta.name_of(pod))
                    else:
                        names.add(meta.name_of(pod))
                    low[0] = min(low[0], sum(1 for n in available.values() if n))
                    if done.is_set():
                        return

        for node_name, pods in (await pods_by_node(api, ns)).items():
            available[node_name] = {meta.name_of(p) for p in pods}
        watcher = asyncio.create_task(observe())
        await api.patch(DAEMONSETS, "agent", {"spec": {"template": {"spec": {
            "containers": [{"name": "agent", "image": "agent:v2"}]}}}}, ns,
            patch_type="strategic")
        await eventually(lambda: rolled_out("agent:v2"), what="v2 rolled out")
        done.set()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        assert low[0] == 2, f"{3 - low[0]} nodes were without an available pod at once"
        status = cloud.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=20s")
        assert 'daemon set "agent" successfully rolled out' in status.stdout

        revisions = (await api.list(REVISIONS, ns))["items"]
        assert sorted(r["revision"] for r in revisions) == [1, 2]
        assert all(r["metadata"]["name"].startswith("agent-") for r in revisions)
        history = cloud.kubectl("rollout", "history", "ds/agent", "-n", ns).stdout
        assert "REVISION" in history and "1 " in history and "2 " in history
        detail = cloud.kubectl("rollout", "history", "ds/agent", "-n", ns,
                               "--revision=1").stdout
        assert "agent:v1" in detail

        # kubectl 1.32 undoes a DaemonSet by patching in the previous revision's data.
        undo = cloud.kubectl("rollout", "undo", "ds/agent", "-n", ns)
        assert "rolled back" in undo.stdout
        await eventually(lambda: rolled_out("agent:v1"), what="rolled back to v1")
        revisions = (await api.list(REVISIONS, ns))["items"]
        by_number = {r["revision"]: r for r in revisions}
        assert sorted(by_number) == [2, 3]  # v1's revision moved to the head
        assert "agent:v1" in str(by_number[3]["data"])


async def test_revision_history_limit_truncates_old_revisions(
        api: APIClient, ns: str, controller: DaemonSetController, nodes: list[str]) -> None:
    pool = uuid.uuid4().hex[:8]
    ds = daemonset("agent", pool, "agent:v0")
    ds["spec"]["revisionHistoryLimit"] = 1
    await api.create(DAEMONSETS, ds, ns)  # no nodes match: revisions only
    for version in range(1, 4):
        await eventually(lambda v=version - 1: _has_revision_for(api, ns, f"agent:v{v}"),
                         what=f"revision for v{version - 1}")
        await api.patch(DAEMONSETS, "agent", {"spec": {"template": {"spec": {
            "containers": [{"name": "agent", "image": f"agent:v{version}"}]}}}}, ns,
            patch_type="strategic")

    async def kept() -> bool:
        revisions = (await api.list(REVISIONS, ns))["items"]
        return sorted(r["revision"] for r in revisions) == [3, 4]

    await eventually(kept, what="the current revision and one old one")


async def _has_revision_for(api: APIClient, ns: str, image: str) -> bool:
    return any(image in str(r["data"]) for r in (await api.list(REVISIONS, ns))["items"])
