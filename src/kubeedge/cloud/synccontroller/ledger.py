"""Acknowledged versions, coalesced into (Cluster)ObjectSync writes (specs/kubeedge.md §3
"ACK"; issue 6 `cloud/synccontroller`).

Owns the in-memory record of what each node acknowledged since the last flush: per
(node, object) only the newest resourceVersion, or the fact that the node deleted the
object. `flush()` turns it into API writes: create the sync if missing, then one status
update to the newest version, or delete the sync once a delete was acknowledged. So a
thousand ACKs of one object between two flushes cost one write.

Invariants:
- a recorded version never moves backwards: a write happens only when the version on the
  server (read from the informer cache, re-read on conflict) is lower, and the status
  update carries the sync's metadata.resourceVersion, so a racing writer makes it retry;
- what is lost in a crash is only the unflushed part, which leaves the syncs behind the
  edge, never ahead of it: the reconcile then resends the object, the edge acknowledges
  again, and the version is recorded then (ARCHITECTURE.md rule 5).
Must never read the store: it writes through `kubeedge.client` like any other client.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kubeedge.client.clock import Clock, RealClock
from kubeedge.client.errors import APIError
from kubeedge.client.resources import ResourceRef

from .crds import API_VERSION, CLUSTER_OBJECT_SYNCS, OBJECT_SYNCS
from .objectsync import object_sync_name, parse_resource_version
from .protocol import Ack

__all__ = ["AckLedger", "SyncKey", "SyncWriter", "status_version"]

log = logging.getLogger(__name__)

# (namespace or None for a ClusterObjectSync, sync name)
SyncKey = tuple[str | None, str]
CachedSync = Callable[[str | None, str], Mapping[str, Any] | None]

# Tries per sync and flush (a stale cache costs one conflict, a racing delete one more).
MAX_ATTEMPTS = 4
# How long a sync deleted by a flush stays known as deleted, so the reconcile does not
# resend a delete while the informer has not yet seen the sync go.
TOMBSTONE_SECONDS = 60.0


class SyncWriter(Protocol):
    """The part of `APIClient` the ledger writes through."""

    async def get(self, ref: ResourceRef, name: str, namespace: str | None = None
                  ) -> dict[str, Any]: ...

    async def create(self, ref: ResourceRef, obj: Mapping[str, Any],
                     namespace: str | None = None) -> dict[str, Any]: ...

    async def update_status(self, ref: ResourceRef, obj: Mapping[str, Any],
                            namespace: str | None = None) -> dict[str, Any]: ...

    async def delete(self, ref: ResourceRef, name: str, namespace: str | None = None, *,
                     grace_period_seconds: int | None = None) -> dict[str, Any]: ...


@dataclass(slots=True)
class _Pending:
    ack: Ack
    version: int  # -1 for a delete


def status_version(sync: Mapping[str, Any] | None) -> int:
    """status.objectResourceVersion as an integer; -1 when absent or not a number (a sync
    whose status was never written: its object is resent, which records it)."""
    if not sync:
        return -1
    value = (sync.get("status") or {}).get("objectResourceVersion") or ""
    try:
        return parse_resource_version(value)
    except ValueError:
        return -1


def _ref(namespace: str | None) -> ResourceRef:
    return OBJECT_SYNCS if namespace else CLUSTER_OBJECT_SYNCS


class _RetryLater(Exception):
    pass


class AckLedger:
    """Newest acknowledged version per (node, object), flushed to the API on demand.

    cached: reads a sync from the controller's informer (None if not cached), so a
        flush reads nothing from the API in the common case.
    node_exists: False for a node known to be gone (its ACKs are dropped, not recorded:
        its syncs are being collected); None/True when unknown or present.
    """

    def __init__(self, client: SyncWriter, *, cached: CachedSync | None = None,
                 node_exists: Callable[[str], bool | None] | None = None,
                 clock: Clock | None = None, concurrency: int = 16) -> None:
        self.client = client
        self._cached = cached or (lambda namespace, name: None)
        self._node_exists = node_exists or (lambda node: None)
        self.clock: Clock = clock or RealClock()
        self.concurrency = max(1, concurrency)
        self._pending: dict[SyncKey, _Pending] = {}
        # Versions this process wrote or saw on the server, so repeated ACKs of an
        # already recorded version never reach the pending set.
        self._recorded: dict[SyncKey, int] = {}
        self._tombstones: dict[SyncKey, float] = {}
        # The copy each of our writes returned, until the informer cache catches up with
        # it, so the next write of a sync needs no read and meets no conflict.
        self._written: dict[SyncKey, dict[str, Any]] = {}
        self._flush_lock = asyncio.Lock()
        # Counters for tests and metrics.
        self.acks = 0
        self.writes = 0

    # -- recording (cheap: called for every ACK) ------------------------------------

    def record(self, ack: Ack) -> bool:
        """Note an ACK; True when it changed what the next flush writes."""
        self.acks += 1
        key: SyncKey = (ack.namespace, object_sync_name(ack.node, ack.uid))
        if ack.deleted:
            self._pending[key] = _Pending(ack, -1)
            return True
        try:
            version = parse_resource_version(ack.resource_version)
        except ValueError as exc:
            log.warning("ACK from node %s for %s/%s ignored: %s", ack.node,
                        ack.resource_type, ack.name, exc)
            return False
        current = self._pending.get(key)
        if current is not None and (current.version < 0 or current.version >= version):
            return False  # a newer version, or the object's deletion, is already pending
        if self._recorded.get(key, -1) >= version or key in self._tombstones:
            return False
        self._pending[key] = _Pending(ack, version)
        return True

    def record_dropped(self, ack: Ack) -> bool:
        """A message for the node was dropped before it went out (its ack queue was
        full): make sure the sync exists, at objectResourceVersion "0" when this creates
        it, so the reconcile sends the object (KubeEdge's dispatcher creates it so at
        enqueue, spec §3 "Enqueue rule" 3). A dropped delete needs nothing: an existing
        sync already drives it. True when the next flush may write."""
        if ack.deleted:
            return False
        return self.record(dataclasses.replace(ack, resource_version="0", dropped=False))

    def pending_version(self, key: SyncKey) -> int:
        """The newest unflushed acknowledged version of a sync, -1 if none."""
        entry = self._pending.get(key)
        return entry.version if entry is not None else -1

    def is_deleted(self, key: SyncKey) -> bool:
        """Whether the node acknowledged the object's deletion (flushed or not)."""
        entry = self._pending.get(key)
        return (entry is not None and entry.version < 0) or key in self._tombstones

    def forget(self, key: SyncKey) -> None:
        """The sync is gone from the server (informer delete): drop what we knew."""
        self._recorded.pop(key, None)
        self._tombstones.pop(key, None)
        self._written.pop(key, None)

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- flushing --------------------------------------------------------------------

    async def flush(self) -> int:
        """Write everything pending; return how many API writes that took. What fails
        goes back into the pending set (unless something newer arrived meanwhile)."""
        async with self._flush_lock:
            self._prune_tombstones()
            batch, self._pending = self._pending, {}
            if not batch:
                return 0
            before = self.writes
            gate = asyncio.Semaphore(self.concurrency)

            async def one(key: SyncKey, entry: _Pending) -> None:
                async with gate:
                    try:
                        await self._write(key, entry)
                    except Exception as exc:  # API refusals, connection errors, timeouts
                        log.warning("recording %s %s failed, retrying next flush: %s",
                                    _ref(key[0]).kind, _describe(key), exc)
                        self._requeue(key, entry)

            await asyncio.gather(*(one(key, entry) for key, entry in batch.items()))
            return self.writes - before

    def _requeue(self, key: SyncKey, entry: _Pending) -> None:
        newer = self._pending.get(key)
        if entry.version < 0 or newer is None:
            self._pending[key] = entry  # a failed delete wins over later versions
        elif newer.version >= 0 and newer.version < entry.version:
            self._pending[key] = entry

    def _prune_tombstones(self) -> None:
        horizon = self.clock.now() - TOMBSTONE_SECONDS
        for key in [k for k, when in self._tombstones.items() if when < horizon]:
            del self._tombstones[key]

    async def _write(self, key: SyncKey, entry: _Pending) -> None:
        ack = entry.ack
        if self._node_exists(ack.node) is False:
            log.info("dropping ACK of %s %s: node %s no longer exists", ack.resource_type,
                     ack.name, ack.node)
            return
        if entry.version < 0:
            await self._delete(key)
        else:
            await self._record_version(key, entry)

    async def _delete(self, key: SyncKey) -> None:
        namespace, name = key
        try:
            # KubeEdge deletes with a zero grace period (deleteSuccessPoint).
            await self.client.delete(_ref(namespace), name, namespace, grace_period_seconds=0)
            self.writes += 1
        except APIError as exc:
            if not exc.is_not_found:
                raise
        self._recorded.pop(key, None)
        self._written.pop(key, None)
        self._tombstones[key] = self.clock.now()

    async def _record_version(self, key: SyncKey, entry: _Pending) -> None:
        namespace, name = key
        ref = _ref(namespace)
        ack = entry.ack
        current = self._newest_known(key)
        for _ in range(MAX_ATTEMPTS):
            if current is None:
                if not ack.kind:
                    # KubeEdge refuses too ("ObjectKind is empty"): the sync loop could
                    # never find the object again.
                    log.warning("cannot record %s %s for node %s: the ACK names no kind",
                                ack.resource_type, ack.name, ack.node)
                    return
                try:
                    current = await self.client.create(ref, _new_sync(key, ack), namespace)
                    self.writes += 1
                    self._written[key] = current
                except APIError as exc:
                    if exc.is_not_found or exc.is_forbidden:
                        # The namespace is gone or terminating: nothing left to record.
                        log.info("not recording %s %s for node %s: %s", ack.resource_type,
                                 ack.name, ack.node, exc)
                        return
                    if not exc.is_already_exists:
                        raise
                    current = await self._get(ref, name, namespace)
                    if current is None:
                        continue
            have = status_version(current)
            if have >= entry.version:
                self._recorded[key] = max(have, self._recorded.get(key, -1))
                return
            body = copy.deepcopy(dict(current))
            body["status"] = {**(body.get("status") or {}),
                              "objectResourceVersion": str(entry.version)}
            try:
                self._written[key] = await self.client.update_status(ref, body, namespace)
                self.writes += 1
                self._recorded[key] = entry.version
                return
            except APIError as exc:
                if exc.is_not_found:
                    current = None  # deleted meanwhile (not by a delete ACK): recreate
                elif exc.is_conflict:
                    current = await self._get(ref, name, namespace)
                else:
                    raise
        raise _RetryLater(f"{name}: still conflicting after {MAX_ATTEMPTS} attempts")

    def _newest_known(self, key: SyncKey) -> Mapping[str, Any] | None:
        """The newer of the informer's copy and the one our last write returned."""
        cached = self._cached(*key)
        written = self._written.get(key)
        if written is None:
            return cached
        if cached is not None and _revision(cached) >= _revision(written):
            del self._written[key]  # the cache has caught up
            return cached
        return written

    async def _get(self, ref: ResourceRef, name: str, namespace: str | None
                   ) -> dict[str, Any] | None:
        try:
            return await self.client.get(ref, name, namespace)
        except APIError as exc:
            if exc.is_not_found:
                return None
            raise


def _revision(obj: Mapping[str, Any]) -> int:
    try:
        return parse_resource_version((obj.get("metadata") or {}).get("resourceVersion", ""))
    except ValueError:
        return -1


def _new_sync(key: SyncKey, ack: Ack) -> dict[str, Any]:
    namespace, name = key
    ref = _ref(namespace)
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": API_VERSION,
        "kind": ref.kind,
        "metadata": metadata,
        "spec": {"objectAPIVersion": ack.api_version, "objectKind": ack.kind,
                 "objectName": ack.name},
    }


def _describe(key: SyncKey) -> str:
    namespace, name = key
    return f"{namespace}/{name}" if namespace else name
