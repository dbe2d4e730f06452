"""The namespace controller against the real API server, run in-process: a deleted
namespace is emptied and then goes; while it terminates, nothing new gets in, and its
status says what is left."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.controllers.garbagecollector import GarbageCollector
from kubeedge.controllers.namespace import NamespaceController
from kubeedge.controllers.runtime import ControllerManager
from tests.fixtures.cluster import Cloud, eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

NS = ResourceRef("", "v1", "namespaces", False, "Namespace")
CM = ResourceRef("", "v1", "configmaps", True, "ConfigMap")
SECRETS = ResourceRef("", "v1", "secrets", True, "Secret")
SERVICES = ResourceRef("", "v1", "services", True, "Service")
PODS = ResourceRef("", "v1", "pods", True, "Pod")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
CRDS = ResourceRef("apiextensions.k8s.io", "v1", "customresourcedefinitions", False,
                   "CustomResourceDefinition")
GROUP = f"ns{uuid.uuid4().hex[:6]}.example.com"
GADGETS = ResourceRef(GROUP, "v1", "gadgets", True, "Gadget")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def api(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def controllers(cloud: Cloud, api: APIClient) -> AsyncIterator[NamespaceController]:
    await api.create(CRDS, {
        "metadata": {"name": f"gadgets.{GROUP}"},
        "spec": {"group": GROUP, "scope": "Namespaced",
                 "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {
                                   "type": "object",
                                   "x-kubernetes-preserve-unknown-fields": True}}}]}})

    async def served() -> bool:
        try:
            await api.list(GADGETS, "default")
        except APIError:
            return False
        return True

    await eventually(served, what="the CRD to be served")
    client = APIClient(cloud.kubeconfig)
    factory = SharedInformerFactory(client)
    recorder = EventRecorder(client, "namespace-controller")
    namespaces = NamespaceController(client, factory, recorder)
    manager = ControllerManager(client, [GarbageCollector(client, factory, recorder),
                                         namespaces], informers=factory, recorder=recorder)
    await manager.start()
    yield namespaces
    await manager.stop()
    await client.close()


async def kubectl(cloud: Cloud, *args: str, check: bool = True, input: str | None = None
                  ) -> subprocess.CompletedProcess[str]:
    """kubectl in a thread: the controllers share this event loop."""
    return await asyncio.to_thread(cloud.kubectl, *args, check=check, input=input)


async def new_namespace(api: APIClient) -> str:
    name = f"ns-{uuid.uuid4().hex[:8]}"
    await api.create(NS, {"metadata": {"name": name}})
    return name


def pod(name: str, node: str = "", grace: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.25"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": {"name": name}, "spec": spec}


async def namespace_gone(api: APIClient, name: str) -> bool:
    try:
        await api.get(NS, name)
    except APIError as exc:
        if exc.is_not_found:
            return True
        raise
    return False


async def test_deleting_a_namespace_removes_all_content_and_then_the_namespace(
        api: APIClient, cloud: Cloud, controllers: NamespaceController) -> None:
    ns = await new_namespace(api)
    owner = None
    for i in range(10):
        cm = await api.create(CM, {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}}, ns)
        owner = owner or cm
        await api.create(SECRETS, {"metadata": {"name": f"secret-{i}"},
                                   "stringData": {"k": "v"}}, ns)
        await api.create(SERVICES, {"metadata": {"name": f"svc-{i}"},
                                    "spec": {"ports": [{"port": 80 + i}]}}, ns)
        await api.create(PODS, pod(f"pod-{i}"), ns)
        # Custom objects, some owned by a ConfigMap (the collector may get there first).
        md: dict[str, Any] = {"name": f"gadget-{i}"}
        if i % 2 and owner is not None:
            md["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap",
                                      "name": owner["metadata"]["name"],
                                      "uid": owner["metadata"]["uid"]}]
        await api.create(GADGETS, {"metadata": md, "spec": {"n": i}}, ns)

    # kubectl waits for the namespace to be gone, as it does against kube.
    await kubectl(cloud, "delete", "namespace", ns, "--timeout=60s")
    got = await kubectl(cloud, "get", "namespace", ns, check=False)
    assert got.returncode == 1
    assert f'namespaces "{ns}" not found' in got.stderr
    for ref in (CM, SECRETS, SERVICES, PODS, GADGETS):
        assert (await api.list(ref, ns))["items"] == [], ref.plural


async def test_terminating_namespace_refuses_new_content_and_waits_for_pods_on_nodes(
        api: APIClient, cloud: Cloud, controllers: NamespaceController) -> None:
    ns = await new_namespace(api)
    node = f"node-{uuid.uuid4().hex[:6]}"
    await api.create(NODES, {"metadata": {"name": node}})
    await api.create(PODS, pod("bound", node, grace=1), ns)
    await api.create(CM, {"metadata": {"name": "plain"}}, ns)
    await api.delete(NS, ns)

    async def waiting_for_pod() -> dict[str, Any] | None:
        current = await api.get(NS, ns)
        conds = {c["type"]: c for c in (current.get("status") or {}).get("conditions") or []}
        remaining = conds.get("NamespaceContentRemaining")
        if remaining and remaining["status"] == "True":
            return conds
        return None

    conds = await eventually(waiting_for_pod, timeout=15,
                             what="the namespace to report the pod left on its node")
    assert conds["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
    assert conds["NamespaceContentRemaining"]["message"] == (
        "Some resources are remaining: pods. has 1 resource instances")
    assert conds["NamespaceDeletionDiscoveryFailure"] == {
        **conds["NamespaceDeletionDiscoveryFailure"], "status": "False",
        "reason": "ResourcesDiscovered", "message": "All resources successfully discovered"}
    assert conds["NamespaceDeletionContentFailure"]["status"] == "False"
    assert conds["NamespaceFinalizersRemaining"]["reason"] == "ContentHasNoFinalizers"
    current = await api.get(NS, ns)
    assert current["status"]["phase"] == "Terminating"
    assert current["spec"]["finalizers"] == ["kubernetes"]
    with pytest.raises(APIError) as refused:
        await api.get(CM, "plain", ns)
    assert refused.value.is_not_found

    # Nothing new gets into a terminating namespace (kube's NamespaceLifecycle).
    with pytest.raises(APIError) as created:
        await api.create(CM, {"metadata": {"name": "late"}}, ns)
    assert created.value.code == 403 and created.value.is_forbidden
    assert created.value.message == (
        f'configmaps "late" is forbidden: unable to create new content in namespace {ns} '
        "because it is being terminated")
    manifest = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}}'
    made = await kubectl(cloud, "create", "-n", ns, "-f", "-", check=False, input=manifest)
    assert made.returncode == 1
    assert (f'Error from server (Forbidden): error when creating "STDIN": configmaps "late" is '
            f"forbidden: unable to create new content in namespace {ns} because it is being "
            "terminated") in made.stderr

    # The node confirms the pod stopped; then the namespace goes.
    await api.delete(PODS, "bound", ns, grace_period_seconds=0)
    await eventually(lambda: namespace_gone(api, ns), timeout=15,
                     what="the namespace to go once its last pod is gone")
    got = await kubectl(cloud, "get", "namespace", ns, check=False)
    assert f'namespaces "{ns}" not found' in got.stderr
    await api.delete(NODES, node)


async def test_content_with_finalizers_is_reported_and_waited_for(
        api: APIClient, controllers: NamespaceController) -> None:
    ns = await new_namespace(api)
    await api.create(CM, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}, ns)
    await api.delete(NS, ns)

    async def reported() -> dict[str, Any] | None:
        current = await api.get(NS, ns)
        conds = {c["type"]: c for c in (current.get("status") or {}).get("conditions") or []}
        fin = conds.get("NamespaceFinalizersRemaining")
        return conds if fin and fin["status"] == "True" else None

    conds = await eventually(reported, timeout=15, what="the finalizer to be reported")
    assert conds["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizersRemain"
    assert conds["NamespaceFinalizersRemaining"]["message"] == (
        "Some content in the namespace has finalizers remaining: "
        "example.com/hold in 1 resource instances")
    assert conds["NamespaceContentRemaining"]["message"] == (
        "Some resources are remaining: configmaps. has 1 resource instances")
    await api.patch(CM, "held", {"metadata": {"finalizers": None}}, ns)
    await eventually(lambda: namespace_gone(api, ns), timeout=15,
                     what="the namespace to go once the finalizer is released")
