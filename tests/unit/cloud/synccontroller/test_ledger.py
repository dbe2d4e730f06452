"""Coalesced ACK bookkeeping: many ACKs, one write; never backwards; deletes; retries."""

from __future__ import annotations

import asyncio

from kubeedge.client.clock import FakeClock
from kubeedge.client.errors import APIError
from kubeedge.cloud.synccontroller.controller import SyncController
from kubeedge.cloud.synccontroller.crds import CLUSTER_OBJECT_SYNCS, OBJECT_SYNCS
from kubeedge.cloud.synccontroller.ledger import AckLedger
from kubeedge.cloud.synccontroller.protocol import Ack
from kubeedge.config.cloudcore import SyncController as SyncControllerConfig
from kubeedge.messaging.bus import ModuleBus

from .fakes import FakeSyncAPI

SYNC = "edge-1.u-1"


def ack(rv: int | str, *, uid: str = "u-1", deleted: bool = False, node: str = "edge-1",
        namespace: str | None = "ns") -> Ack:
    return Ack(node=node, namespace=namespace, resource_type="pod", name="web", uid=uid,
               resource_version=str(rv), deleted=deleted, api_version="v1", kind="Pod")


def status(api: FakeSyncAPI, name: str = SYNC, namespace: str | None = "ns") -> str | None:
    obj = api.stored(OBJECT_SYNCS if namespace else CLUSTER_OBJECT_SYNCS, name, namespace)
    return None if obj is None else (obj.get("status") or {}).get("objectResourceVersion")


async def test_a_thousand_acks_of_one_object_cost_one_status_write() -> None:
    api = FakeSyncAPI()
    ledger = AckLedger(api)
    ledger.record(ack(1))
    await ledger.flush()
    assert api.writes == [("create", SYNC), ("update_status", SYNC)]
    created = api.stored(OBJECT_SYNCS, SYNC, "ns")
    assert created is not None
    assert created["spec"] == {"objectAPIVersion": "v1", "objectKind": "Pod",
                               "objectName": "web"}
    api.calls.clear()
    for rv in range(2, 1002):
        ledger.record(ack(rv))
    assert ledger.pending == 1
    assert await ledger.flush() == 1
    assert api.writes == [("update_status", SYNC)]
    assert status(api) == "1001"


async def test_recorded_version_never_moves_backwards() -> None:
    api = FakeSyncAPI()
    ledger = AckLedger(api)
    for rv in (5, 9, 7, 3):  # ACKs arrive out of order
        ledger.record(ack(rv))
    await ledger.flush()
    assert status(api) == "9"
    api.calls.clear()
    ledger.record(ack(8))  # older than recorded: not even pending
    assert ledger.pending == 0
    assert await ledger.flush() == 0
    assert api.calls == []


async def test_a_newer_version_written_by_someone_else_is_kept() -> None:
    api = FakeSyncAPI()
    stale = api.put(OBJECT_SYNCS, {
        "apiVersion": "reliablesyncs.kubeedge.io/v1alpha1", "kind": "ObjectSync",
        "metadata": {"name": SYNC, "namespace": "ns"},
        "spec": {"objectAPIVersion": "v1", "objectKind": "Pod", "objectName": "web"},
        "status": {"objectResourceVersion": "50"}})
    # Another writer records 70; our cache still shows the copy at 50.
    fresh = api.stored(OBJECT_SYNCS, SYNC, "ns")
    assert fresh is not None
    fresh["status"] = {"objectResourceVersion": "70"}
    api._bump(fresh)
    ledger = AckLedger(api, cached=lambda ns, name: stale if name == SYNC else None)
    ledger.record(ack(60))
    assert await ledger.flush() == 0  # the conflict re-read shows 70 >= 60
    assert ("update_status", SYNC) in api.calls
    assert status(api) == "70"


async def test_delete_ack_removes_the_sync_and_outranks_later_updates() -> None:
    api = FakeSyncAPI()
    ledger = AckLedger(api)
    ledger.record(ack(3))
    await ledger.flush()
    ledger.record(ack(4))
    ledger.record(ack("", deleted=True))
    ledger.record(ack(5))  # a late update ACK of the deleted object
    assert ledger.is_deleted(("ns", SYNC))
    await ledger.flush()
    assert status(api) is None and api.stored(OBJECT_SYNCS, SYNC, "ns") is None
    ledger.record(ack(6))
    assert ledger.pending == 0  # tombstoned: the deleted object is not recreated


async def test_cluster_scoped_ack_writes_a_cluster_object_sync() -> None:
    api = FakeSyncAPI()
    ledger = AckLedger(api)
    ledger.record(ack(4, namespace=None))
    await ledger.flush()
    assert status(api, namespace=None) == "4"


async def test_failed_write_is_retried_at_the_next_flush_with_the_newest_version() -> None:
    api = FakeSyncAPI()
    ledger = AckLedger(api)
    api.fail_next.append(APIError({"code": 500, "message": "etcd timeout"}))
    ledger.record(ack(2))
    await ledger.flush()
    assert ledger.pending == 1 and status(api) is None
    ledger.record(ack(3))
    await ledger.flush()
    assert status(api) == "3" and ledger.pending == 0


async def test_acks_of_a_deleted_node_are_dropped() -> None:
    api = FakeSyncAPI()
    ledger = AckLedger(api, node_exists=lambda node: node != "gone")
    ledger.record(ack(2, node="gone"))
    await ledger.flush()
    assert api.calls == []


async def test_flush_happens_every_flush_interval_not_per_ack() -> None:
    api = FakeSyncAPI()
    clock = FakeClock()
    controller = SyncController(api, ModuleBus(clock=clock),  # type: ignore[arg-type]
                                SyncControllerConfig(object_sync_flush_interval=1),
                                clock=clock)
    task = asyncio.create_task(controller._flush_loop())
    try:
        await clock.wait_for_sleepers()
        for rv in range(1, 501):
            controller.ledger.record(ack(rv))
        await clock.advance(0.5)
        assert api.calls == []  # nothing written before the interval
        await clock.advance(0.5)
        assert status(api) == "500"
        assert api.writes == [("create", SYNC), ("update_status", SYNC)]
        for rv in range(501, 1001):
            controller.ledger.record(ack(rv))
        await clock.advance(1)
        assert status(api) == "1000"
        assert api.writes[2:] == [("update_status", SYNC)]
    finally:
        task.cancel()


async def test_ack_into_a_vanished_namespace_is_dropped_not_retried_forever() -> None:
    api = FakeSyncAPI()
    ledger = AckLedger(api)
    api.fail_next.append(APIError({"code": 404, "reason": "NotFound",
                                   "message": 'namespaces "ns" not found'}))
    ledger.record(ack(2))
    await ledger.flush()
    assert ledger.pending == 0 and status(api) is None
