"""The StatefulSet controller against the real API server; the test plays the kubelet
(marks pods Running and Ready) and records what happened, in order, through a watch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.api import meta
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.controllers.runtime import Controller
from kubeedge.controllers.statefulset import StatefulSetController
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.controllers import running

pytestmark = pytest.mark.kubectl

NAMESPACES = Resource.of("v1", "namespaces")
PODS = Resource.of("v1", "pods")
STATEFULSETS = Resource.of("apps/v1", "statefulsets")


@pytest.fixture
async def controller(api: APIClient) -> AsyncIterator[Controller]:
    async with running(api, lambda f: StatefulSetController(api, f)) as (sts_controller,):
        yield sts_controller


def statefulset(name: str, replicas: int = 3, image: str = "web:v1", **spec: Any) -> dict:
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas,
        "serviceName": name,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "web", "image": image}]}},
        **spec,
    }}


async def mark_ready(api: APIClient, pod: dict) -> dict:
    stamp = meta.rfc3339(meta.now())
    return await api.patch(PODS, meta.name_of(pod), {"status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}],
    }}, meta.namespace_of(pod), subresource="status")


@contextlib.asynccontextmanager
async def kubelet(api: APIClient, ns: str, log: list[tuple[str, str, int]],
                  ready: bool = True) -> AsyncIterator[None]:
    """Records ("created"|"ready"|"deleted", pod, resourceVersion) for the namespace's
    pods in watch order; with `ready`, makes each new pod Running and Ready."""

    rv = (await api.list(PODS, ns))["metadata"]["resourceVersion"]

    async def run() -> None:
        async with api.watch(PODS, ns, resource_version=rv) as stream:
            async for kind, pod in stream:
                name = meta.name_of(pod)
                at = int(pod["metadata"]["resourceVersion"])
                if kind == "ADDED":
                    log.append(("created", name, at))
                    if ready:
                        marked = await mark_ready(api, pod)
                        log.append(("ready", name, int(marked["metadata"]["resourceVersion"])))
                elif kind == "DELETED":
                    log.append(("deleted", name, at))

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def pods_of(api: APIClient, ns: str) -> dict[str, dict]:
    return {meta.name_of(p): p for p in (await api.list(PODS, ns))["items"]
            if not meta.is_terminating(p)}


async def set_status(api: APIClient, ns: str, name: str) -> dict:
    return (await api.get(STATEFULSETS, name, ns)).get("status") or {}


async def test_ordered_ready_creates_one_ordinal_after_the_previous_is_ready(
        api: APIClient, ns: str, controller: StatefulSetController, cloud: Cloud) -> None:
    log: list[tuple[str, str, int]] = []
    async with kubelet(api, ns, log):
        await api.create(STATEFULSETS, statefulset("web"), ns)

        async def all_ready() -> bool:
            st = await set_status(api, ns, "web")
            return st.get("readyReplicas") == 3 and st.get("currentReplicas") == 3

        await eventually(all_ready, what="three ready replicas")
    created = [(name, rv) for what, name, rv in log if what == "created"]
    assert [name for name, _ in created] == ["web-0", "web-1", "web-2"]
    ready_at = {name: rv for what, name, rv in log if what == "ready"}
    # Resource versions are one global order: web-1 was written after web-0 became
    # Ready, web-2 after web-1.
    assert created[1][1] > ready_at["web-0"]
    assert created[2][1] > ready_at["web-1"]

    pods = await pods_of(api, ns)
    web1 = pods["web-1"]
    assert web1["spec"]["hostname"] == "web-1" and web1["spec"]["subdomain"] == "web"
    labels = web1["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "web-1"
    assert labels["apps.kubernetes.io/pod-index"] == "1"
    status = await set_status(api, ns, "web")
    assert labels["controller-revision-hash"] == status["updateRevision"] \
        == status["currentRevision"]
    assert status["replicas"] == status["availableReplicas"] == status["updatedReplicas"] == 3

    out = cloud.kubectl("rollout", "status", "sts/web", "-n", ns, "--timeout=20s").stdout
    # The API defaults rollingUpdate.partition to 0, so kubectl reports it as a
    # partitioned roll out, as it does against kube.
    assert "partitioned roll out complete: 3 new pods have been updated" in out
    described = cloud.kubectl("describe", "sts", "web", "-n", ns).stdout
    assert "create Pod web-0 in StatefulSet web successful" in described

    # Scale down removes the highest ordinals, one at a time.
    log.clear()
    async with kubelet(api, ns, log):
        await api.patch(STATEFULSETS, "web", {"spec": {"replicas": 1}}, ns)
        await eventually(lambda: _names_are(api, ns, ["web-0"]), what="scaled to one")
    assert [name for what, name, _ in log if what == "deleted"] == ["web-2", "web-1"]


async def _names_are(api: APIClient, ns: str, names: list[str]) -> bool:
    return sorted(meta.name_of(p) for p in (await api.list(PODS, ns))["items"]) == names


async def test_parallel_creates_every_pod_without_waiting(
        api: APIClient, ns: str, controller: StatefulSetController) -> None:
    await api.create(STATEFULSETS, statefulset("par", podManagementPolicy="Parallel"), ns)
    # Nobody marks these pods ready: all three exist anyway.
    await eventually(lambda: _names_are(api, ns, ["par-0", "par-1", "par-2"]),
                     what="all pods created at once")

    async def counted() -> bool:
        st = await set_status(api, ns, "par")
        return st.get("replicas") == 3 and st.get("readyReplicas") == 0

    await eventually(counted, what="status counts three pods, none ready")


async def test_partitioned_rolling_update_touches_only_ordinals_at_or_above_partition(
        api: APIClient, ns: str, controller: StatefulSetController, cloud: Cloud) -> None:
    log: list[tuple[str, str, int]] = []
    sts = statefulset("db", replicas=4, updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    async with kubelet(api, ns, log):
        await api.create(STATEFULSETS, sts, ns)

        async def ready(n: int) -> bool:
            return (await set_status(api, ns, "db")).get("readyReplicas") == n

        await eventually(lambda: ready(4), what="four ready replicas")
        before = {n: p["metadata"]["uid"] for n, p in (await pods_of(api, ns)).items()}
        old_revision = (await set_status(api, ns, "db"))["currentRevision"]
        log.clear()
        await api.patch(STATEFULSETS, "db", {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "web:v2"}]}}}}, ns, patch_type="strategic")

        async def partitioned() -> dict | None:
            st = await set_status(api, ns, "db")
            return st if st.get("updatedReplicas") == 2 and st.get("readyReplicas") == 4 \
                else None

        status = await eventually(partitioned, what="ordinals 2 and 3 updated")
    assert status["updateRevision"] != old_revision
    assert status["currentRevision"] == old_revision  # not all pods run the update
    pods = await pods_of(api, ns)
    for name in ("db-0", "db-1"):
        assert pods[name]["metadata"]["uid"] == before[name]
        assert pods[name]["metadata"]["labels"]["controller-revision-hash"] == old_revision
        assert pods[name]["spec"]["containers"][0]["image"] == "web:v1"
    for name in ("db-2", "db-3"):
        assert pods[name]["metadata"]["uid"] != before[name]
        assert pods[name]["metadata"]["labels"]["controller-revision-hash"] \
            == status["updateRevision"]
        assert pods[name]["spec"]["containers"][0]["image"] == "web:v2"
    # Highest ordinal first, and the next one only after the replacement was Ready.
    steps = [(what, name) for what, name, _ in log]
    assert steps == [("deleted", "db-3"), ("created", "db-3"), ("ready", "db-3"),
                     ("deleted", "db-2"), ("created", "db-2"), ("ready", "db-2")]
    out = cloud.kubectl("rollout", "status", "sts/db", "-n", ns, "--timeout=20s").stdout
    assert "partitioned roll out complete: 2 new pods have been updated" in out

    # `kubectl rollout undo` patches the previous revision's template back in: the old
    # revision becomes the update revision again and the top ordinals go back to v1.
    async with kubelet(api, ns, log):
        undo = cloud.kubectl("rollout", "undo", "sts/db", "-n", ns)
        assert "rolled back" in undo.stdout

        async def undone() -> bool:
            st = await set_status(api, ns, "db")
            pods = await pods_of(api, ns)
            return (st.get("updateRevision") == old_revision
                    and st.get("currentRevision") == old_revision
                    and st.get("readyReplicas") == 4 and len(pods) == 4
                    and all(p["spec"]["containers"][0]["image"] == "web:v1"
                            for p in pods.values()))

        await eventually(undone, what="rolled back to v1")


async def test_volume_claim_templates_are_referenced_but_not_created(
        api: APIClient, ns: str, controller: StatefulSetController, cloud: Cloud) -> None:
    sts = statefulset("data", replicas=1, podManagementPolicy="Parallel",
                      volumeClaimTemplates=[{"metadata": {"name": "store"}, "spec": {
                          "accessModes": ["ReadWriteOnce"],
                          "resources": {"requests": {"storage": "1Gi"}}}}])
    await api.create(STATEFULSETS, sts, ns)
    await eventually(lambda: _names_are(api, ns, ["data-0"]), what="pod created")
    pod = (await pods_of(api, ns))["data-0"]
    assert {"name": "store", "persistentVolumeClaim": {"claimName": "store-data-0"}} \
        in pod["spec"]["volumes"]

    async def warned() -> bool:
        out = cloud.kubectl("describe", "sts", "data", "-n", ns).stdout
        return "persistentvolumeclaims" in out and "not created" in out

    await eventually(warned, what="a Warning event about the claims")
