"""The PodGroup controller against the real API server (specs/volcano.md §1.4): a
volcano pod that names no group gets `podgroup-<uid>` of its own (or its controller's,
with the controller's min-member annotation), and the pod is annotated with it; pods
that name a group or belong to another scheduler are left alone. With the scheduler
running, such a pod is placed through its implicit gang."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import Resource, ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.scheduler import SchedulerConfig
from kubeedge.controllers.podgroup import PodGroupController
from kubeedge.controllers.volcano_crds import PODGROUPS, QUEUES
from kubeedge.scheduler.scheduler import Scheduler
from tests.fixtures.cluster import Cloud, eventually
from tests.fixtures.controllers import running

pytestmark = pytest.mark.usefixtures("crds")

PODS = Resource.of("v1", "pods")
NODES = Resource.of("v1", "nodes")
RS = ResourceRef("apps", "v1", "replicasets", True, "ReplicaSet")
GROUP = "scheduling.k8s.io/group-name"

Obj = dict[str, Any]


@pytest.fixture
async def controller(api: APIClient) -> AsyncIterator[PodGroupController]:
    async with running(api, lambda f: PodGroupController(api, f)) as [pg]:
        assert isinstance(pg, PodGroupController)
        yield pg


@pytest.fixture(autouse=True)
async def cleanup(api: APIClient, ns: str) -> AsyncIterator[None]:
    """Pods and groups of a test go with it: a later test's scheduler would place them."""
    yield
    await api.delete_collection(PODS, ns, grace_period_seconds=0)
    await api.delete_collection(PODGROUPS, ns)


def _pod(name: str, *, scheduler: str = "volcano", cpu: str = "500m",
         annotations: dict[str, str] | None = None, owner: Obj | None = None) -> Obj:
    md: Obj = {"name": name, "annotations": annotations or {}}
    if owner is not None:
        md["ownerReferences"] = [owner]
    return {"metadata": md, "spec": {
        "schedulerName": scheduler,
        "containers": [{"name": "c", "image": "busybox",
                        "resources": {"requests": {"cpu": cpu}}}]}}


async def _annotation(api: APIClient, ns: str, name: str) -> str:
    pod = await api.get(PODS, name, ns)
    return str(((pod.get("metadata") or {}).get("annotations") or {}).get(GROUP) or "")


async def test_lone_volcano_pod_gets_its_own_group(api: APIClient, ns: str,
                                                    controller: PodGroupController) -> None:
    # Admission lets a PodGroup name only an existing queue.
    queue = f"research-{ns}"
    await api.create(QUEUES, {"metadata": {"name": queue}, "spec": {"weight": 1}})
    created = await api.create(PODS, _pod("solo", annotations={
        "scheduling.volcano.sh/queue-name": queue}), ns)
    uid = created["metadata"]["uid"]
    group = await eventually(lambda: _annotation(api, ns, "solo"), timeout=10,
                             what="pod annotated with its group")
    assert group == f"podgroup-{uid}"
    pg = await api.get(PODGROUPS, group, ns)
    assert pg["spec"]["minMember"] == 1
    assert pg["spec"]["queue"] == queue
    assert pg["spec"]["minResources"] == {"cpu": "500m"}
    [owner] = pg["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Pod", "solo", uid)


async def test_replicas_share_their_controllers_group(api: APIClient, ns: str,
                                                      controller: PodGroupController) -> None:
    labels = {"app": "web"}
    rs = await api.create(RS, {
        "metadata": {"name": "web", "annotations": {
            "scheduling.volcano.sh/group-min-member": "2"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }, ns)
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
             "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    for name in ("web-a", "web-b"):
        await api.create(PODS, _pod(name, owner=owner), ns)
    expected = f"podgroup-{rs['metadata']['uid']}"
    for name in ("web-a", "web-b"):
        assert await eventually(lambda n=name: _annotation(api, ns, n), timeout=10) == expected
    pg = await api.get(PODGROUPS, expected, ns)
    assert pg["spec"]["minMember"] == 2
    assert pg["spec"]["minResources"] == {"cpu": "1"}
    assert pg["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
    assert pg["spec"]["queue"] == "default"


async def test_pods_naming_a_group_or_another_scheduler_are_left_alone(
        api: APIClient, ns: str, controller: PodGroupController) -> None:
    await api.create(PODS, _pod("named", annotations={GROUP: "mine"}), ns)
    await api.create(PODS, _pod("plain", scheduler="default-scheduler"), ns)
    await api.create(PODS, _pod("marker"), ns)
    await eventually(lambda: _annotation(api, ns, "marker"), timeout=10)
    assert await _annotation(api, ns, "named") == "mine"
    assert await _annotation(api, ns, "plain") == ""
    groups = (await api.list(PODGROUPS, ns)).get("items") or []
    assert len(groups) == 1


async def test_implicit_group_is_scheduled(cloud: Cloud, api: APIClient, ns: str,
                                           controller: PodGroupController) -> None:
    try:
        await api.create(QUEUES, {"metadata": {"name": "default"}, "spec": {"weight": 1}})
    except APIError as exc:
        if not exc.is_already_exists:
            raise
    node = f"{ns}-n1"
    status = {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "10"},
              "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"},
              "conditions": [{"type": "Ready", "status": "True"}]}
    created = await api.create(NODES, {"metadata": {"name": node}, "status": status})
    if not (created.get("status") or {}).get("conditions"):
        created["status"] = status
        await api.update_status(NODES, created)
    client = APIClient(cloud.kubeconfig, qps=0)
    factory = SharedInformerFactory(client)
    recorder = EventRecorder(client, "volcano")
    sched = Scheduler(client, factory, recorder, SchedulerConfig(schedule_period_seconds=0.1))
    await sched.start()
    try:
        await api.create(PODS, _pod("worker"), ns)

        async def bound() -> str:
            pod = await api.get(PODS, "worker", ns)
            return str((pod.get("spec") or {}).get("nodeName") or "")

        assert await eventually(bound, timeout=10, what="implicit gang bound") == node
        group = await _annotation(api, ns, "worker")

        async def running_phase() -> bool:
            pg = await api.get(PODGROUPS, group, ns)
            return (pg.get("status") or {}).get("phase") == "Running"

        await eventually(running_phase, timeout=10, what="PodGroup Running")
    finally:
        await sched.stop()
        await factory.stop()
        await recorder.stop()
        await client.close()
        await api.delete_collection(PODS, ns, grace_period_seconds=0)
        await api.delete(NODES, node)
