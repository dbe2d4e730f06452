"""The sync loop's decisions end to end on the bus, with informer caches filled by hand:
gone → delete, newer → update, equal → nothing, node gone → sync collected, a delete
ACK → sync removed and no further deletes, a connect event → that node at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeedge.client.clock import FakeClock
from kubeedge.client.informer import ObjectCache
from kubeedge.cloud.synccontroller.controller import NODE_INDEX, SyncController
from kubeedge.cloud.synccontroller.crds import OBJECT_SYNCS
from kubeedge.cloud.synccontroller.objectsync import node_of
from kubeedge.cloud.synccontroller.protocol import (
    OP_OBJECT_ACKED,
    OP_OBJECT_DROPPED,
    object_report,
)
from kubeedge.messaging.bus import ModuleBus
from kubeedge.messaging.message import Message, build_message

from .fakes import FakeSyncAPI


def acked(msg: Message) -> Message:
    report = object_report(OP_OBJECT_ACKED, "edge-1", msg)
    assert report is not None
    return report


class StubInformer:
    def __init__(self, name: str, index: bool = False) -> None:
        self.name = name
        self.store = ObjectCache()
        self.has_synced = True
        if index:
            self.store.add_index(NODE_INDEX, lambda obj: [node_of(obj["metadata"]["name"])])

    def start(self) -> None:
        pass


def pod(name: str, uid: str, rv: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "namespace": "ns", "uid": uid, "resourceVersion": str(rv)}}


def sync(node: str, uid: str, obj_name: str, rv: int | None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "reliablesyncs.kubeedge.io/v1alpha1", "kind": "ObjectSync",
        "metadata": {"name": f"{node}.{uid}", "namespace": "ns", "resourceVersion": "1"},
        "spec": {"objectAPIVersion": "v1", "objectKind": "Pod", "objectName": obj_name}}
    if rv is not None:
        obj["status"] = {"objectResourceVersion": str(rv)}
    return obj


@pytest.fixture
def world() -> tuple[SyncController, FakeSyncAPI, ModuleBus]:
    api = FakeSyncAPI()
    bus = ModuleBus()
    bus.add_module("cloudhub")
    controller = SyncController(api, bus, clock=FakeClock())  # type: ignore[arg-type]
    controller.syncs = StubInformer("objectsyncs", index=True)  # type: ignore[assignment]
    controller.cluster_syncs = StubInformer("clusterobjectsyncs", index=True)  # type: ignore[assignment]
    controller.nodes = StubInformer("nodes")  # type: ignore[assignment]
    controller._live[("v1", "Pod")] = StubInformer("pods")  # type: ignore[assignment]
    for node in ("edge-1", "edge-2"):
        controller.nodes.store.put({"metadata": {"name": node}})
    return controller, api, bus


def drain(bus: ModuleBus) -> list[Message]:
    out: list[Message] = []
    channel = bus._channel("cloudhub")
    while (msg := channel.get_nowait()) is not None:
        out.append(msg)
    return out


async def test_pass_sends_update_for_newer_delete_for_gone_and_nothing_for_current(
        world: tuple[SyncController, FakeSyncAPI, ModuleBus]) -> None:
    controller, _, bus = world
    pods = controller._live[("v1", "Pod")].store  # type: ignore[union-attr]
    pods.put(pod("newer", "u-1", 7))
    pods.put(pod("same", "u-2", 5))
    pods.put(pod("recreated", "u-new", 9))
    for s in (sync("edge-1", "u-1", "newer", 5), sync("edge-1", "u-2", "same", 5),
              sync("edge-1", "u-3", "gone", 5), sync("edge-1", "u-old", "recreated", 5)):
        controller.syncs.store.put(s)  # type: ignore[union-attr]
    report = await controller.reconcile()
    assert (report.updates, report.deletes) == (1, 2)
    messages = {m.resource: m for m in drain(bus)}
    update = messages["node/edge-1/ns/pod/newer"]
    assert update.operation == "update" and update.header.resource_version == "7"
    assert update.content["metadata"]["uid"] == "u-1"
    assert messages["node/edge-1/ns/pod/gone"].operation == "delete"
    assert messages["node/edge-1/ns/pod/gone"].content["metadata"]["uid"] == "u-3"
    recreated = messages["node/edge-1/ns/pod/recreated"]
    assert recreated.operation == "delete" and recreated.content["metadata"]["uid"] == "u-old"


async def test_empty_status_is_resent(world: tuple[SyncController, FakeSyncAPI, ModuleBus]) -> None:
    controller, _, bus = world
    controller._live[("v1", "Pod")].store.put(pod("web", "u-1", 3))  # type: ignore[union-attr]
    controller.syncs.store.put(sync("edge-1", "u-1", "web", None))  # type: ignore[union-attr]
    await controller.reconcile()
    assert [m.operation for m in drain(bus)] == ["update"]


async def test_pending_ack_counts_as_acknowledged(
        world: tuple[SyncController, FakeSyncAPI, ModuleBus]) -> None:
    controller, _, bus = world
    live = pod("web", "u-1", 8)
    controller._live[("v1", "Pod")].store.put(live)  # type: ignore[union-attr]
    controller.syncs.store.put(sync("edge-1", "u-1", "web", 5))  # type: ignore[union-attr]
    sent = build_message("resource", "", "edgecontroller", "node/edge-1/ns/pod/web", "update",
                         live).set_resource_version("8")
    controller.handle(acked(sent))
    await controller.reconcile()
    assert drain(bus) == []


async def test_delete_ack_removes_sync_and_stops_resending_the_delete(
        world: tuple[SyncController, FakeSyncAPI, ModuleBus]) -> None:
    controller, api, bus = world
    gone = sync("edge-1", "u-3", "gone", 5)
    api.put(OBJECT_SYNCS, gone)
    controller.syncs.store.put(api.stored(OBJECT_SYNCS, "edge-1.u-3", "ns"))  # type: ignore[union-attr,arg-type]
    await controller.reconcile()
    [delete] = drain(bus)
    controller.handle(acked(delete))  # the edge acknowledged the delete
    await controller.reconcile()
    assert drain(bus) == []  # the sync is still cached, but its deletion is acknowledged
    await controller.ledger.flush()
    assert api.stored(OBJECT_SYNCS, "edge-1.u-3", "ns") is None


async def test_syncs_of_a_deleted_node_are_collected(
        world: tuple[SyncController, FakeSyncAPI, ModuleBus]) -> None:
    controller, api, bus = world
    orphan = sync("edge-9", "u-1", "web", 5)
    api.put(OBJECT_SYNCS, orphan)
    controller.syncs.store.put(orphan)  # type: ignore[union-attr]
    report = await controller.reconcile()
    assert report.collected == 1
    assert api.stored(OBJECT_SYNCS, "edge-9.u-1", "ns") is None
    assert drain(bus) == []


async def test_connect_event_reconciles_only_that_node_at_once(
        world: tuple[SyncController, FakeSyncAPI, ModuleBus]) -> None:
    controller, _, bus = world
    pods = controller._live[("v1", "Pod")].store  # type: ignore[union-attr]
    pods.put(pod("a", "u-a", 9))
    pods.put(pod("b", "u-b", 9))
    controller.syncs.store.put(sync("edge-1", "u-a", "a", 1))  # type: ignore[union-attr]
    controller.syncs.store.put(sync("edge-2", "u-b", "b", 1))  # type: ignore[union-attr]
    task = asyncio.create_task(controller._urgent_loop())
    try:
        controller.handle(build_message("resource", "", "cloudhub", "node/edge-2", "connected",
                                        '{"event_type":"connected","client_id":"edge-2"}'))
        message = await asyncio.wait_for(bus.receive("cloudhub"), 5)
        assert message.resource == "node/edge-2/ns/pod/b"
        assert bus.pending("cloudhub") == 0
    finally:
        task.cancel()


async def test_dropped_message_creates_the_sync_at_zero_so_the_reconcile_resends(
        world: tuple[SyncController, FakeSyncAPI, ModuleBus]) -> None:
    controller, api, bus = world
    live = pod("web", "u-7", 12)
    controller._live[("v1", "Pod")].store.put(live)  # type: ignore[union-attr]
    dropped = build_message("resource", "", "edgecontroller", "node/edge-1/ns/pod/web",
                            "insert", live).set_resource_version("12")
    report = object_report(OP_OBJECT_DROPPED, "edge-1", dropped)
    assert report is not None
    controller.handle(report)
    await controller.ledger.flush()
    created = api.stored(OBJECT_SYNCS, "edge-1.u-7", "ns")
    assert created is not None
    assert created["status"] == {"objectResourceVersion": "0"}
    assert created["spec"] == {"objectAPIVersion": "v1", "objectKind": "Pod",
                               "objectName": "web"}
    controller.syncs.store.put(created)  # type: ignore[union-attr]
    await controller.reconcile()
    [update] = drain(bus)
    assert (update.operation, update.resource, update.header.resource_version) == (
        "update", "node/edge-1/ns/pod/web", "12")


async def test_dropped_message_leaves_an_existing_sync_alone(
        world: tuple[SyncController, FakeSyncAPI, ModuleBus]) -> None:
    controller, api, _ = world
    live = pod("web", "u-1", 9)
    existing = sync("edge-1", "u-1", "web", 5)
    api.put(OBJECT_SYNCS, existing)
    controller.syncs.store.put(api.stored(OBJECT_SYNCS, "edge-1.u-1", "ns"))  # type: ignore[union-attr,arg-type]
    dropped = build_message("resource", "", "edgecontroller", "node/edge-1/ns/pod/web",
                            "update", live).set_resource_version("9")
    delete = build_message("resource", "", "edgecontroller", "node/edge-1/ns/pod/web",
                           "delete", live)
    for msg in (dropped, delete):
        report = object_report(OP_OBJECT_DROPPED, "edge-1", msg)
        assert report is not None
        controller.handle(report)
    assert await controller.ledger.flush() == 0
    assert api.stored(OBJECT_SYNCS, "edge-1.u-1", "ns")["status"] == {  # type: ignore[index]
        "objectResourceVersion": "5"}
