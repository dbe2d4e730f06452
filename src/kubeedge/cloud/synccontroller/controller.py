"""SyncController: the cloudcore module that keeps ObjectSyncs true and repairs what an
edge missed (specs/kubeedge.md §3 "ACK", "SyncController", "Offline edge").

Owns three loops over one `AckLedger`:
- receive: ACK reports from CloudHub go into the ledger, and so do drop reports (a
  message the node's full queue refused: its sync is created at version "0" if missing,
  so the reconcile sends the object); a node's `connected` event reconciles that node
  at once (protocol.py says what these messages are);
- flush: every `objectSyncFlushInterval` (1 s) the ledger writes the newest acknowledged
  version per object to its (Cluster)ObjectSync, or deletes it after a delete ACK;
- reconcile: at start and every `reconcilePeriod` (5 s), each sync is compared with the
  live object from an informer: gone (or recreated with another uid) → a `delete` to
  CloudHub for that node, the sync removed when the delete is acknowledged, as in
  KubeEdge; newer than acknowledged → an `update` with the live object; syncs of nodes
  that no longer exist are deleted (KubeEdge's startup and node-delete collection).
Must never read the store or reach an edge directly: the API through `kubeedge.client`,
the edges through CloudHub on the module bus.

Differences from KubeEdge, on purpose: ACKs are recorded coalesced rather than one API
write each; a sync with an empty status is resent rather than skipped (that is what a
crash between creating a sync and recording its version leaves behind); a connect event
triggers the node's reconcile rather than waiting for the next period.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass
from typing import Any

from kubeedge.api import meta
from kubeedge.client.clock import Clock
from kubeedge.client.errors import APIError
from kubeedge.client.informer import Informer, SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.cloudcore import SyncController as SyncControllerConfig
from kubeedge.messaging.bus import BusError, ModuleBus, ModuleClosedError
from kubeedge.messaging.message import Message

from . import crds
from .ledger import AckLedger, SyncKey, status_version
from .objectsync import node_of, resource_type_of_kind, uid_of
from .protocol import (
    DOWNSTREAM_MODULE,
    SYNC_MODULE,
    connected_node,
    delete_message,
    parse_object_report,
    update_message,
)
from .reconcile import Action, decide

__all__ = ["PassReport", "SyncController"]

log = logging.getLogger(__name__)

NODES = ResourceRef("", "v1", "nodes", False, "Node")
NODE_INDEX = "synccontroller/node"
# How long a pass waits for a new informer of live objects to list before it skips the
# syncs of that kind for this pass (they are retried next pass, never judged "gone").
LIVE_SYNC_TIMEOUT = 10.0


@dataclass(slots=True)
class PassReport:
    """What one reconcile pass did (for logs and tests)."""

    syncs: int = 0
    updates: int = 0
    deletes: int = 0
    collected: int = 0  # syncs deleted because their node is gone
    skipped: int = 0


class SyncController:
    """The `synccontroller` module: `start`/`stop` as every cloudcore module.

    informers: the process's shared factory (started informers are shared; this module
        starts the ones it asks for); None makes a private one, stopped with the module.
    install_crds: create the reliablesyncs CRDs at start (cloudcore does; tests of other
        modules that install them first may skip it).
    """

    def __init__(self, client: APIClient, bus: ModuleBus,
                 config: SyncControllerConfig | None = None, *,
                 informers: SharedInformerFactory | None = None, clock: Clock | None = None,
                 install_crds: bool = True, write_concurrency: int = 16) -> None:
        self.client = client
        self.bus = bus
        self.config = config or SyncControllerConfig()
        self.clock: Clock = clock or client.clock
        self.install_crds = install_crds
        self._owns_informers = informers is None
        self.informers = informers or SharedInformerFactory(client)
        self.syncs: Informer | None = None
        self.cluster_syncs: Informer | None = None
        self.nodes: Informer | None = None
        self.ledger = AckLedger(client, cached=self._cached_sync, node_exists=self._node_exists,
                                clock=self.clock, concurrency=write_concurrency)
        self._live: dict[tuple[str, str], Informer | None] = {}
        self._urgent: set[str] = set()
        self._wake = asyncio.Event()
        self._pass_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._registered = False
        self.passes = 0

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        if self.install_crds:
            await crds.install(self.client)
        if SYNC_MODULE not in self.bus.modules():
            self.bus.add_module(SYNC_MODULE, SYNC_MODULE)
            self._registered = True
        self.syncs = self.informers.informer(crds.OBJECT_SYNCS)
        self.cluster_syncs = self.informers.informer(crds.CLUSTER_OBJECT_SYNCS)
        self.nodes = self.informers.informer(NODES)
        for informer in (self.syncs, self.cluster_syncs):
            with contextlib.suppress(ValueError):  # already indexed by an earlier term
                informer.store.add_index(NODE_INDEX, lambda obj: [node_of(meta.name_of(obj))])
            informer.add_event_handler(on_delete=self._on_sync_deleted)
        self.nodes.add_event_handler(on_delete=self._on_node_deleted)
        for informer in (self.syncs, self.cluster_syncs, self.nodes):
            informer.start()
        for informer in (self.syncs, self.cluster_syncs, self.nodes):
            await informer.wait_synced()
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name="synccontroller receive"),
            asyncio.create_task(self._flush_loop(), name="synccontroller flush"),
            asyncio.create_task(self._periodic_loop(), name="synccontroller reconcile"),
            asyncio.create_task(self._urgent_loop(), name="synccontroller node reconcile"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # What was acknowledged but not yet written: one last flush, bounded (the
        # reconcile resends whatever a failed flush leaves unrecorded).
        try:
            await asyncio.wait_for(self.ledger.flush(), timeout=5.0)
        except Exception as exc:  # stopping must not fail on an API outage
            log.warning("final ObjectSync flush failed: %s", exc)
        if self._registered:
            self.bus.cleanup(SYNC_MODULE)
            self._registered = False
        if self._owns_informers:
            await self.informers.stop()

    # -- messages from CloudHub -----------------------------------------------------

    def handle(self, msg: Message) -> None:
        """One message from the bus: an object report or a connect event (protocol.py)."""
        ack = parse_object_report(msg)
        if ack is not None:
            if ack.dropped:
                self.ledger.record_dropped(ack)
            else:
                self.ledger.record(ack)
            return
        node = connected_node(msg)
        if node is not None:
            log.info("node %s connected: reconciling its objects now", node)
            self.trigger(node)
            return
        log.debug("synccontroller ignores message %s", msg)

    def trigger(self, node: str) -> None:
        """Reconcile `node`'s syncs as soon as possible."""
        self._urgent.add(node)
        self._wake.set()

    async def _receive_loop(self) -> None:
        while True:
            try:
                msg = await self.bus.receive(SYNC_MODULE)
            except ModuleClosedError:
                return
            try:
                self.handle(msg)
            except Exception:
                log.exception("synccontroller: handling %s failed", msg)

    # -- loops -----------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await self.clock.sleep(self.config.object_sync_flush_interval)
            try:
                await self.ledger.flush()
            except Exception:
                log.exception("synccontroller: flushing ObjectSyncs failed")

    async def _periodic_loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("synccontroller: reconcile failed")
            await self.clock.sleep(self.config.reconcile_period)

    async def _urgent_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            nodes, self._urgent = self._urgent, set()
            try:
                await self.reconcile(nodes)
            except Exception:
                log.exception("synccontroller: reconcile of %s failed", ", ".join(nodes))

    # -- informer events -------------------------------------------------------------

    def _on_sync_deleted(self, obj: dict[str, Any]) -> None:
        self.ledger.forget(_key(obj))

    def _on_node_deleted(self, obj: dict[str, Any]) -> None:
        # KubeEdge collects the syncs of a deleted node right away.
        self.trigger(meta.name_of(obj))

    def _cached_sync(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        informer = self.syncs if namespace else self.cluster_syncs
        return None if informer is None else informer.store.get(namespace, name)

    def _node_exists(self, node: str) -> bool | None:
        if self.nodes is None or not self.nodes.has_synced:
            return None
        return self.nodes.store.get(None, node) is not None

    # -- reconcile -------------------------------------------------------------------

    async def reconcile(self, nodes: set[str] | None = None) -> PassReport:
        """One pass over every sync (or those of `nodes`): collect, update, delete."""
        async with self._pass_lock:
            report = PassReport()
            for sync in self._syncs_of(nodes):
                report.syncs += 1
                try:
                    await self._reconcile_one(sync, report)
                except BusError as exc:
                    log.warning("synccontroller: cannot reach %s: %s; retrying next pass",
                                DOWNSTREAM_MODULE, exc)
                    break
                except Exception:
                    log.exception("synccontroller: reconciling %s failed", meta.name_of(sync))
            self.passes += 1
            if report.updates or report.deletes or report.collected:
                log.info("synccontroller pass: %s", report)
            return report

    def _syncs_of(self, nodes: set[str] | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for informer in (self.syncs, self.cluster_syncs):
            if informer is None:
                continue
            if nodes is None:
                found.extend(informer.store.list())
            else:
                for node in sorted(nodes):
                    found.extend(informer.store.by_index(NODE_INDEX, node))
        return found

    async def _reconcile_one(self, sync: dict[str, Any], report: PassReport) -> None:
        key = _key(sync)
        namespace, name = key
        node, uid = node_of(name), uid_of(name)
        if self.ledger.is_deleted(key):
            report.skipped += 1  # the node already acknowledged the deletion
            return
        if self._node_exists(node) is False:
            await self._collect(key)
            report.collected += 1
            return
        spec = sync.get("spec") or {}
        kind = str(spec.get("objectKind") or "")
        object_name = str(spec.get("objectName") or "")
        informer = await self._live_informer(str(spec.get("objectAPIVersion") or ""), kind)
        if informer is None or not object_name:
            report.skipped += 1
            return
        live = informer.store.get(namespace, object_name)
        acknowledged = max(status_version(sync), self.ledger.pending_version(key))
        try:
            decision = decide(uid, acknowledged, live)
        except ValueError as exc:
            log.warning("synccontroller: %s %s skipped: %s", kind, object_name, exc)
            report.skipped += 1
            return
        resource_type = resource_type_of_kind(kind)
        if decision.action is Action.UPDATE and live is not None:
            obj = copy.deepcopy(live)
            obj.setdefault("apiVersion", spec.get("objectAPIVersion"))
            obj.setdefault("kind", kind)
            log.debug("sync %s: %s: sending update", name, decision.reason)
            await self.bus.send(update_message(node, namespace, resource_type, obj),
                                DOWNSTREAM_MODULE)
            report.updates += 1
        elif decision.action is Action.DELETE:
            log.debug("sync %s: %s: sending delete", name, decision.reason)
            await self.bus.send(delete_message(node, namespace, resource_type, object_name, uid),
                                DOWNSTREAM_MODULE)
            report.deletes += 1

    async def _collect(self, key: SyncKey) -> None:
        namespace, name = key
        ref = crds.OBJECT_SYNCS if namespace else crds.CLUSTER_OBJECT_SYNCS
        log.info("%s %s deleted: node %s no longer exists", ref.kind, name, node_of(name))
        try:
            await self.client.delete(ref, name, namespace, grace_period_seconds=0)
        except APIError as exc:
            if not exc.is_not_found:
                raise

    async def _live_informer(self, api_version: str, kind: str) -> Informer | None:
        """The informer of the synced objects' kind, started and listed; None when the
        kind is unknown to the API or has not listed yet (the syncs wait a pass)."""
        lookup = (api_version, kind)
        if lookup not in self._live:
            ref: ResourceRef | None = None
            try:
                try:
                    ref = ResourceRef.of(api_version, kind)
                except LookupError:
                    ref = await self.client.resource(kind, api_version)
            except Exception as exc:
                log.warning("synccontroller: no resource for %s %s: %s", api_version, kind, exc)
                return None  # asked again next pass: a CRD may appear
            self._live[lookup] = self.informers.informer(ref)
        informer = self._live[lookup]
        if informer is None:
            return None
        informer.start()
        if not informer.has_synced:
            try:
                await informer.wait_synced(timeout=LIVE_SYNC_TIMEOUT)
            except (TimeoutError, RuntimeError) as exc:
                log.warning("synccontroller: %s not listed yet: %s", informer.name, exc)
                return None
        return informer


def _key(sync: dict[str, Any]) -> SyncKey:
    return (meta.namespace_of(sync) or None, meta.name_of(sync))
