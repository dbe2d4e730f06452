"""SyncController against a real API server process (specs/kubeedge.md §3): the
reliablesyncs CRDs served to kubectl; ACK reports recorded coalesced into ObjectSync
status; a newer live object resent as an update; a deleted object sent as a delete and
its ObjectSync removed once the delete is acknowledged; syncs of a deleted node collected.
CloudHub is played by the test: it owns the `cloudhub` module on the bus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from kubeedge.client.errors import APIError
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.cloud.synccontroller import crds
from kubeedge.cloud.synccontroller.controller import SyncController
from kubeedge.cloud.synccontroller.protocol import OP_OBJECT_ACKED, object_report
from kubeedge.config.cloudcore import SyncController as SyncControllerConfig
from kubeedge.messaging.bus import ModuleBus
from kubeedge.messaging.message import Message, build_message
from tests.fixtures.cluster import Cloud, eventually, running_cloud

CONFIGMAPS = Resource.of("v1", "configmaps")
NAMESPACES = Resource.of("v1", "namespaces")
NODES = Resource.of("v1", "nodes")
FLUSH = 0.2
PERIOD = 0.5


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("sync"), controllers=()) as c:
        yield c


@pytest.fixture
async def admin(cloud: Cloud) -> AsyncIterator[APIClient]:
    async with APIClient(cloud.kubeconfig) as client:
        yield client


class Hub:
    """The test's CloudHub: what SyncController sends it, and ACKs back."""

    def __init__(self, bus: ModuleBus) -> None:
        self.bus = bus
        bus.add_module("cloudhub")

    async def expect(self, match: Callable[[Message], bool], timeout: float = 10.0,
                     what: str = "message") -> Message:
        async def wait() -> Message:
            while True:
                msg = await self.bus.receive("cloudhub")
                if match(msg):
                    return msg
        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {what} reached cloudhub within {timeout}s") from None

    def drain(self) -> list[Message]:
        out: list[Message] = []
        channel = self.bus._channel("cloudhub")
        while (msg := channel.get_nowait()) is not None:
            out.append(msg)
        return out

    async def ack(self, msg: Message) -> None:
        report = object_report(OP_OBJECT_ACKED, "", msg)
        assert report is not None, f"{msg} is not an object SyncController tracks"
        await self.bus.send(report, "synccontroller")


@pytest.fixture
async def sync(admin: APIClient) -> AsyncIterator[tuple[SyncController, Hub]]:
    bus = ModuleBus()
    hub = Hub(bus)
    controller = SyncController(admin, bus, SyncControllerConfig(
        reconcile_period=PERIOD, object_sync_flush_interval=FLUSH))
    await controller.start()
    try:
        yield controller, hub
    finally:
        await controller.stop()


@pytest.fixture
async def ns(admin: APIClient) -> AsyncIterator[str]:
    name = f"sync-{uuid.uuid4().hex[:8]}"
    await admin.create(NAMESPACES, {"metadata": {"name": name}})
    yield name
    await admin.delete(NAMESPACES, name)


async def make_node(admin: APIClient, name: str) -> None:
    try:
        await admin.create(NODES, {"metadata": {"name": name,
                                                "labels": {"node-role.kubernetes.io/edge": ""}}})
    except APIError as exc:
        if not exc.is_already_exists:
            raise


def downstream(obj: dict[str, Any], node: str, operation: str) -> Message:
    """The message EdgeController would have sent for `obj`, as CloudHub queued it."""
    meta = obj["metadata"]
    return build_message("resource", "", "edgecontroller",
                         f"node/{node}/{meta['namespace']}/configmap/{meta['name']}",
                         operation, obj).set_resource_version(meta["resourceVersion"])


async def sync_status(admin: APIClient, ns: str, name: str) -> str | None:
    try:
        obj = await admin.get(crds.OBJECT_SYNCS, name, ns)
    except APIError as exc:
        if exc.is_not_found:
            return None
        raise
    return (obj.get("status") or {}).get("objectResourceVersion")


async def test_crds_are_established_idempotent_and_served_to_kubectl(
        cloud: Cloud, admin: APIClient) -> None:
    await crds.install(admin)
    before = {c["metadata"]["name"]: c["metadata"]["resourceVersion"]
              for c in [await admin.get(crds.CUSTOM_RESOURCE_DEFINITIONS, n)
                        for n in ("objectsyncs.reliablesyncs.kubeedge.io",
                                  "clusterobjectsyncs.reliablesyncs.kubeedge.io")]}
    await crds.install(admin)  # a second cloudcore start writes nothing
    for name, rv in before.items():
        assert (await admin.get(crds.CUSTOM_RESOURCE_DEFINITIONS, name))["metadata"][
            "resourceVersion"] == rv
    out = cloud.kubectl("get", "objectsyncs", "-A")
    assert "No resources found" in out.stderr + out.stdout
    cloud.kubectl("get", "clusterobjectsyncs.reliablesyncs.kubeedge.io")
    resources = cloud.kubectl("api-resources", "--api-group=reliablesyncs.kubeedge.io").stdout
    assert "objectsyncs" in resources and "ObjectSync" in resources
    assert "ClusterObjectSync" in resources


async def test_acks_are_recorded_with_the_newest_version_within_the_flush_interval(
        cloud: Cloud, admin: APIClient, sync: tuple[SyncController, Hub], ns: str) -> None:
    controller, hub = sync
    await make_node(admin, "edge-ack")
    cm = await admin.create(CONFIGMAPS, {"metadata": {"name": "cfg", "namespace": ns},
                                         "data": {"v": "0"}})
    versions = [cm]
    for i in range(1, 6):
        cm = await admin.update(CONFIGMAPS, {**cm, "data": {"v": str(i)}})
        versions.append(cm)
    writes_before = controller.ledger.writes
    # Many ACKs, out of order, between two flushes.
    for obj in [*reversed(versions), *versions] * 20:
        await hub.ack(downstream(obj, "edge-ack", "update"))
    name = f"edge-ack.{cm['metadata']['uid']}"
    newest = cm["metadata"]["resourceVersion"]

    async def recorded() -> bool:
        return await sync_status(admin, ns, name) == newest

    await eventually(recorded, timeout=FLUSH * 10, what="ObjectSync status at the newest RV")
    assert controller.ledger.writes - writes_before == 2  # create + one status update
    obj = await admin.get(crds.OBJECT_SYNCS, name, ns)
    assert obj["spec"] == {"objectAPIVersion": "v1", "objectKind": "ConfigMap",
                           "objectName": "cfg"}
    assert name in cloud.kubectl("get", "objectsyncs", "-n", ns).stdout
    # An old ACK later does not move it back.
    await hub.ack(downstream(versions[0], "edge-ack", "update"))
    await controller.ledger.flush()
    assert await sync_status(admin, ns, name) == newest


async def test_object_changed_behind_the_recorded_version_is_sent_as_an_update(
        admin: APIClient, sync: tuple[SyncController, Hub], ns: str) -> None:
    _, hub = sync
    await make_node(admin, "edge-upd")
    cm = await admin.create(CONFIGMAPS, {"metadata": {"name": "cfg", "namespace": ns},
                                         "data": {"v": "old"}})
    await hub.ack(downstream(cm, "edge-upd", "insert"))
    name = f"edge-upd.{cm['metadata']['uid']}"

    async def recorded() -> bool:
        return await sync_status(admin, ns, name) == cm["metadata"]["resourceVersion"]

    await eventually(recorded, timeout=5, what="first ACK recorded")
    # The edge misses this change (say it was offline): the sync loop resends it.
    changed = await admin.update(CONFIGMAPS, {**cm, "data": {"v": "new"}})
    resource = f"node/edge-upd/{ns}/configmap/cfg"
    update = await hub.expect(lambda m: m.resource == resource and m.operation == "update",
                              timeout=PERIOD * 10, what="update")
    assert update.header.resource_version == changed["metadata"]["resourceVersion"]
    assert update.content["data"] == {"v": "new"}
    assert (update.source, update.group) == ("edgecontroller", "resource")
    await hub.ack(update)

    async def caught_up() -> bool:
        return await sync_status(admin, ns, name) == changed["metadata"]["resourceVersion"]

    await eventually(caught_up, timeout=5, what="update ACK recorded")


async def test_deleted_object_is_sent_as_delete_and_its_sync_removed_after_the_ack(
        admin: APIClient, sync: tuple[SyncController, Hub], ns: str) -> None:
    controller, hub = sync
    await make_node(admin, "edge-del")
    cm = await admin.create(CONFIGMAPS, {"metadata": {"name": "doomed", "namespace": ns}})
    uid = cm["metadata"]["uid"]
    await hub.ack(downstream(cm, "edge-del", "insert"))
    name = f"edge-del.{uid}"

    async def exists() -> bool:
        return await sync_status(admin, ns, name) is not None

    await eventually(exists, timeout=5, what="ObjectSync created")
    await admin.delete(CONFIGMAPS, "doomed", ns)
    resource = f"node/edge-del/{ns}/configmap/doomed"
    delete = await hub.expect(lambda m: m.resource == resource and m.operation == "delete",
                              timeout=PERIOD * 10, what="delete")
    assert delete.content == {"metadata": {"name": "doomed", "namespace": ns, "uid": uid}}
    # Not acknowledged yet: the ObjectSync stays, and the delete is sent again.
    await hub.expect(lambda m: m.resource == resource and m.operation == "delete",
                     timeout=PERIOD * 10, what="resent delete")
    assert await sync_status(admin, ns, name) is not None
    await hub.ack(delete)

    async def removed() -> bool:
        return await sync_status(admin, ns, name) is None

    await eventually(removed, timeout=5, what="ObjectSync removed after the delete ACK")
    hub.drain()
    passes = controller.passes
    await eventually(lambda: controller.passes >= passes + 2, timeout=PERIOD * 10,
                     what="two more reconcile passes")
    assert [m for m in hub.drain() if m.resource == resource] == []  # no more deletes


async def test_syncs_of_a_deleted_node_are_collected(
        admin: APIClient, sync: tuple[SyncController, Hub], ns: str) -> None:
    _, hub = sync
    await make_node(admin, "edge-gone")
    cm = await admin.create(CONFIGMAPS, {"metadata": {"name": "cfg", "namespace": ns}})
    await hub.ack(downstream(cm, "edge-gone", "insert"))
    name = f"edge-gone.{cm['metadata']['uid']}"

    async def exists() -> bool:
        return await sync_status(admin, ns, name) is not None

    await eventually(exists, timeout=5, what="ObjectSync created")
    await admin.delete(NODES, "edge-gone")

    async def collected() -> bool:
        return await sync_status(admin, ns, name) is None

    await eventually(collected, timeout=5, what="ObjectSync of the deleted node collected")
