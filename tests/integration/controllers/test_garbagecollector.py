"""The garbage collector against the real API server, run in-process: background,
foreground and orphan deletion, partial ownership, custom kinds added later, and
owner references kube treats as absent."""

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

CM = ResourceRef("", "v1", "configmaps", True, "ConfigMap")
NS = ResourceRef("", "v1", "namespaces", False, "Namespace")
CRDS = ResourceRef("apiextensions.k8s.io", "v1", "customresourcedefinitions", False,
                   "CustomResourceDefinition")
EVENTS = ResourceRef("", "v1", "events", True, "Event")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def api(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def gc(cloud: Cloud) -> AsyncIterator[GarbageCollector]:
    """The GC and the namespace controller on their own client, as cloudcore runs them."""
    client = APIClient(cloud.kubeconfig)
    factory = SharedInformerFactory(client)
    recorder = EventRecorder(client, "garbage-collector-controller")
    collector = GarbageCollector(client, factory, recorder)
    manager = ControllerManager(client, [collector, NamespaceController(client, factory,
                                                                         recorder)],
                                informers=factory, recorder=recorder)
    await manager.start()
    yield collector
    await manager.stop()
    await client.close()


@pytest_asyncio.fixture(loop_scope="module")
async def ns(api: APIClient, gc: GarbageCollector) -> str:
    name = f"gc-{uuid.uuid4().hex[:8]}"
    await api.create(NS, {"metadata": {"name": name}})
    return name


async def kubectl(cloud: Cloud, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl in a thread: the controllers share this event loop and must keep going
    while kubectl waits for them."""
    return await asyncio.to_thread(cloud.kubectl, *args)


def ref_to(owner: dict[str, Any], *, block: bool | None = None) -> dict[str, Any]:
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
           "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    if block is not None:
        ref["blockOwnerDeletion"] = block
    return ref


async def make_cm(api: APIClient, ns: str, name: str, *owners: dict[str, Any],
                  finalizers: list[str] | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name}
    if owners:
        md["ownerReferences"] = list(owners)
    if finalizers:
        md["finalizers"] = finalizers
    return await api.create(CM, {"metadata": md, "data": {"k": "v"}}, ns)


async def find(api: APIClient, ref: ResourceRef, name: str, ns: str) -> dict[str, Any] | None:
    try:
        return await api.get(ref, name, ns)
    except APIError as exc:
        if exc.is_not_found:
            return None
        raise


async def gone(api: APIClient, ref: ResourceRef, name: str, ns: str) -> bool:
    return await find(api, ref, name, ns) is None


async def test_dependents_of_a_deleted_owner_go_in_background(
        api: APIClient, cloud: Cloud, ns: str) -> None:
    owner = await make_cm(api, ns, "owner")
    await make_cm(api, ns, "child-a", ref_to(owner))
    await make_cm(api, ns, "child-b", ref_to(owner, block=True))
    unrelated = await make_cm(api, ns, "unrelated")
    await kubectl(cloud, "delete", "configmap", "owner", "-n", ns)  # --cascade=background
    for name in ("child-a", "child-b"):
        await eventually(lambda n=name: gone(api, CM, n, ns), timeout=15,
                         what=f"{name} to be collected")
    assert (await api.get(CM, "unrelated", ns))["metadata"]["uid"] == \
        unrelated["metadata"]["uid"]


async def test_foreground_owner_stays_until_blocking_dependents_are_gone(
        api: APIClient, ns: str) -> None:
    owner = await make_cm(api, ns, "owner")
    # `held` cannot go until its own finalizer is removed, so the owner must wait.
    await make_cm(api, ns, "held", ref_to(owner, block=True), finalizers=["example.com/hold"])
    await make_cm(api, ns, "quick", ref_to(owner, block=True))
    await make_cm(api, ns, "nonblocking", ref_to(owner, block=False))
    await api.delete(CM, "owner", ns, propagation_policy="Foreground")

    await eventually(lambda: gone(api, CM, "quick", ns), timeout=15, what="quick to go")
    await eventually(lambda: gone(api, CM, "nonblocking", ns), timeout=15,
                     what="the non-blocking dependent to go too")
    held = await api.get(CM, "held", ns)
    assert held["metadata"].get("deletionTimestamp")
    waiting = await api.get(CM, "owner", ns)
    assert waiting["metadata"].get("deletionTimestamp")
    assert waiting["metadata"]["finalizers"] == ["foregroundDeletion"]

    await api.patch(CM, "held", {"metadata": {"finalizers": None}}, ns)
    await eventually(lambda: gone(api, CM, "owner", ns), timeout=15,
                     what="the owner to go once its blocking dependent is gone")


async def test_kubectl_foreground_cascade_waits_and_removes_everything(
        api: APIClient, cloud: Cloud, ns: str) -> None:
    owner = await make_cm(api, ns, "owner")
    mid = await make_cm(api, ns, "mid", ref_to(owner, block=True))
    await make_cm(api, ns, "leaf", ref_to(mid, block=True))
    await kubectl(cloud, "delete", "configmap", "owner", "-n", ns, "--cascade=foreground",
                  "--timeout=30s")
    assert await gone(api, CM, "owner", ns)
    await eventually(lambda: gone(api, CM, "mid", ns), timeout=15, what="mid to go")
    await eventually(lambda: gone(api, CM, "leaf", ns), timeout=15, what="leaf to go")


async def test_orphan_cascade_keeps_dependents_without_the_reference(
        api: APIClient, cloud: Cloud, ns: str) -> None:
    owner = await make_cm(api, ns, "owner")
    other = await make_cm(api, ns, "other")
    await make_cm(api, ns, "child", ref_to(owner, block=True), ref_to(other))
    await make_cm(api, ns, "only-child", ref_to(owner))
    await kubectl(cloud, "delete", "configmap", "owner", "-n", ns, "--cascade=orphan",
                  "--timeout=30s")
    assert await gone(api, CM, "owner", ns)
    child = await api.get(CM, "child", ns)
    assert child["metadata"]["ownerReferences"] == [ref_to(other)]
    only = await api.get(CM, "only-child", ns)
    assert not only["metadata"].get("ownerReferences")


async def test_dependent_with_two_owners_loses_only_the_deleted_reference(
        api: APIClient, ns: str) -> None:
    first = await make_cm(api, ns, "first")
    second = await make_cm(api, ns, "second")
    await make_cm(api, ns, "shared", ref_to(first), ref_to(second))
    await api.delete(CM, "first", ns)

    async def trimmed() -> bool:
        shared = await find(api, CM, "shared", ns)
        assert shared is not None, "a dependent with a remaining owner was deleted"
        return shared["metadata"].get("ownerReferences") == [ref_to(second)]

    await eventually(trimmed, timeout=15, what="the reference to the deleted owner to go")
    await api.delete(CM, "second", ns)
    await eventually(lambda: gone(api, CM, "shared", ns), timeout=15,
                     what="the dependent to go with its last owner")


async def test_owner_reference_with_a_stale_uid_counts_as_absent(
        api: APIClient, ns: str) -> None:
    await make_cm(api, ns, "owner")
    stale = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
             "uid": str(uuid.uuid4())}
    await make_cm(api, ns, "child", stale)
    await eventually(lambda: gone(api, CM, "child", ns), timeout=15,
                     what="a dependent of an owner that no longer exists to go")
    assert await find(api, CM, "owner", ns) is not None


async def test_custom_kind_created_after_the_collector_started_is_covered(
        api: APIClient, ns: str, gc: GarbageCollector) -> None:
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    await api.create(CRDS, {
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {
                                   "type": "object",
                                   "x-kubernetes-preserve-unknown-fields": True}}}]}})
    widgets = ResourceRef(group, "v1", "widgets", True, "Widget")

    async def served() -> bool:
        try:
            await api.list(widgets, ns)
        except APIError:
            return False
        return True

    await eventually(served, what="the CRD to be served")
    owner = await make_cm(api, ns, "owner")
    # A custom object owned by a ConfigMap, and a ConfigMap owned by a custom object.
    await api.create(widgets, {"metadata": {"name": "w", "ownerReferences": [ref_to(owner)]},
                               "spec": {"size": 1}}, ns)
    boss = await api.create(widgets, {"metadata": {"name": "boss"}}, ns)
    await make_cm(api, ns, "minion", ref_to(boss))

    await eventually(lambda: (group, "v1", "widgets") in gc.monitors, timeout=15,
                     what="the collector to watch the new kind")
    await api.delete(CM, "owner", ns)
    await eventually(lambda: gone(api, widgets, "w", ns), timeout=15,
                     what="the custom object to be collected")
    await api.delete(widgets, "boss", ns)
    await eventually(lambda: gone(api, CM, "minion", ns), timeout=15,
                     what="the custom object's dependent to be collected")
    await api.delete(CRDS, f"widgets.{group}")


async def test_owner_in_another_namespace_is_absent_and_reported(
        api: APIClient, ns: str) -> None:
    other = f"gc-{uuid.uuid4().hex[:8]}"
    await api.create(NS, {"metadata": {"name": other}})
    owner = await make_cm(api, other, "owner")
    # Created after the owner is in the graph: kube reports it at once.
    child = await make_cm(api, ns, "child", ref_to(owner))
    await eventually(lambda: gone(api, CM, "child", ns), timeout=15,
                     what="a dependent of an owner in another namespace to be collected")
    assert await find(api, CM, "owner", other) is not None

    async def reported() -> list[dict[str, Any]]:
        events = (await api.list(EVENTS, ns,
                                 field_selector="reason=OwnerRefInvalidNamespace"))["items"]
        return [e for e in events if e["involvedObject"]["uid"] == child["metadata"]["uid"]]

    events = await eventually(reported, timeout=15, what="an OwnerRefInvalidNamespace event")
    uid = owner["metadata"]["uid"]
    assert events[0]["type"] == "Warning"
    assert events[0]["message"] == (
        f"ownerRef [v1/ConfigMap, namespace: {ns}, name: owner, uid: {uid}] "
        f'does not exist in namespace "{ns}"')
