"""The ReplicaSet controller (kube's replicaset controller): keeps `spec.replicas`
active pods for each ReplicaSet, adopts matching orphans and releases pods whose
labels stop matching, and reports replicas / fullyLabeledReplicas / readyReplicas /
availableReplicas / observedGeneration and the ReplicaFailure condition.

Creates go out in slow-start batches (1, 2, 4, ...) so a failing create (quota,
admission) costs one request, not hundreds; every create and delete is recorded as an
expectation first, and a ReplicaSet is not acted on again until the watch has shown
all of them (kube's ControllerExpectations), so it never double-creates.

Pods are found through an index by controller uid (plus an index of orphans per
namespace), never by scanning every pod. Writes status only through `/status`; never
touches pods another controller owns.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubeedge.api import meta
from kubeedge.api.selectors import LabelSelector
from kubeedge.client.clock import Clock, RealClock
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import (
    NAMESPACE_INDEX,
    ObjectCache,
    SharedInformerFactory,
    object_key,
    split_key,
)
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers import ownership, pods
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PODS = ResourceRef("", "v1", "pods", True, "Pod")
REPLICA_SETS = ResourceRef("apps", "v1", "replicasets", True, "ReplicaSet")

# kube's limits: at most this many creates or deletes per sync, the first create batch
# size, and how long an unmet expectation blocks a ReplicaSet before it syncs anyway.
BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH = 1
EXPECTATIONS_TIMEOUT_SECONDS = 300.0
# Tries per pod when a generated name is already taken.
GENERATE_NAME_ATTEMPTS = 3

# Cache indexes (names private to these controllers: the informers are shared).
POD_OWNER_INDEX = "workloads/pod-controller-uid"
ORPHAN_PREFIX = "orphan/"


def pod_owner_index(pod: Obj) -> list[str]:
    """The controller's uid, or `orphan/<namespace>` for pods with no controller (kube's
    PodControllerUIDIndex)."""
    ref = pods.controller_ref(pod)
    if ref is not None:
        uid = ref.get("uid")
        return [str(uid)] if uid else []
    return [ORPHAN_PREFIX + meta.namespace_of(pod)]


def ensure_index(store: ObjectCache, name: str, fn: Callable[[Obj], list[str]]) -> None:
    """Add an index unless a controller sharing this informer already did."""
    try:
        store.add_index(name, fn)
    except ValueError:
        pass


def owned_pods(store: ObjectCache, owner_uid: str) -> list[Obj]:
    """Pods whose controller is `owner_uid`, in no particular order."""
    found = []
    for key in store.index_keys(POD_OWNER_INDEX, owner_uid):
        pod = store.get_by_key(key)
        if pod is not None:
            found.append(pod)
    return found


def orphan_pods(store: ObjectCache, namespace: str) -> list[Obj]:
    return owned_pods(store, ORPHAN_PREFIX + namespace)


# -- expectations ------------------------------------------------------------------------


@dataclass
class _Expected:
    creates: int = 0
    deletes: set[str] = field(default_factory=set)
    since: float = 0.0


class Expectations:
    """What a controller has asked for and not yet seen through the watch, per key
    (kube's UIDTrackingControllerExpectations: deletions are tracked by pod key so a
    deletion seen twice counts once). A key with no record, or with everything seen,
    or whose record is older than `timeout`, is satisfied."""

    def __init__(self, clock: Clock | None = None,
                 timeout: float = EXPECTATIONS_TIMEOUT_SECONDS) -> None:
        self.clock: Clock = clock or RealClock()
        self.timeout = timeout
        self._records: dict[str, _Expected] = {}

    def satisfied(self, key: str) -> bool:
        record = self._records.get(key)
        if record is None:
            return True
        if record.creates <= 0 and not record.deletes:
            return True
        return self.clock.now() - record.since > self.timeout

    def expect_creations(self, key: str, count: int) -> None:
        self._records[key] = _Expected(creates=count, since=self.clock.now())

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        self._records[key] = _Expected(deletes=set(pod_keys), since=self.clock.now())

    def creation_observed(self, key: str) -> None:
        record = self._records.get(key)
        if record is not None and record.creates > 0:
            record.creates -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        record = self._records.get(key)
        if record is not None:
            record.deletes.discard(pod_key)

    def pending(self, key: str) -> tuple[int, int]:
        record = self._records.get(key)
        return (0, 0) if record is None else (max(record.creates, 0), len(record.deletes))

    def forget(self, key: str) -> None:
        self._records.pop(key, None)


async def slow_start_batch(count: int, initial: int,
                           fn: Callable[[], Awaitable[None]]) -> tuple[int, BaseException | None]:
    """Call `fn` `count` times in batches of 1, 2, 4, ... (starting at `initial`),
    concurrently within a batch; stop after the first batch with a failure. Returns
    (successes, first error) (kube's slowStartBatch)."""
    remaining = count
    successes = 0
    batch = min(remaining, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# -- status ------------------------------------------------------------------------------


def calculate_status(rs: Obj, active: list[Obj], manage_error: APIError | None,
                     now: datetime) -> Obj:
    """The status `rs` should report for its active pods (kube's calculateStatus); the
    ReplicaFailure condition appears when creating or deleting failed and goes when a
    sync succeeds."""
    spec = rs.get("spec") or {}
    status = copy.deepcopy(rs.get("status") or {})
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    fully = ready = available = 0
    for pod in active:
        labels = meta.labels_of(pod)
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully += 1
        if pods.is_ready(pod):
            ready += 1
            if pods.is_available(pod, min_ready, now):
                available += 1
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
    if manage_error is not None and failure is None:
        diff = len(active) - int(spec.get("replicas", 1))
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append({"type": "ReplicaFailure", "status": "True",
                           "lastTransitionTime": meta.rfc3339(now), "reason": reason,
                           "message": manage_error.message})
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    status["replicas"] = len(active)
    status["fullyLabeledReplicas"] = fully
    status["readyReplicas"] = ready
    status["availableReplicas"] = available
    return status


def status_changed(rs: Obj, new: Obj) -> bool:
    old = rs.get("status") or {}
    fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
    if any(int(old.get(f) or 0) != int(new.get(f) or 0) for f in fields):
        return True
    if old.get("observedGeneration") != (rs.get("metadata") or {}).get("generation"):
        return True
    return (old.get("conditions") or []) != (new.get("conditions") or [])


def next_availability(active: list[Obj], min_ready: int, now: datetime) -> float | None:
    """Seconds until the next ready pod has been ready for `minReadySeconds`."""
    if min_ready <= 0:
        return None
    soonest: float | None = None
    for pod in active:
        since = pods.ready_since(pod)
        if since is None:
            continue
        left = min_ready - (now - since).total_seconds()
        if left > 0 and (soonest is None or left < soonest):
            soonest = left
    return soonest


# -- the controller ------------------------------------------------------------------------


class ReplicaSetController(Controller):
    name = "replicaset"
    component = "replicaset-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 burst_replicas: int = BURST_REPLICAS,
                 now: Callable[[], datetime] = meta.now) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.concurrent_replicaset_syncs
        self.burst_replicas = burst_replicas
        self.now = now
        self.expectations = Expectations(client.clock)

    def setup(self) -> None:
        self.replicasets = self.informer(REPLICA_SETS)
        self.replicasets.add_event_handler(
            on_add=lambda rs: self.queue.add(object_key(rs)),
            on_update=lambda _old, rs: self.queue.add(object_key(rs)),
            on_delete=self._rs_deleted)
        self.pods = self.informer(PODS)
        ensure_index(self.pods.store, POD_OWNER_INDEX, pod_owner_index)
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)

    # -- event handlers (kube's addPod / updatePod / deletePod) -------------------------

    def _rs_deleted(self, rs: Obj) -> None:
        key = object_key(rs)
        self.expectations.forget(key)
        self.queue.add(key)

    def _owner_key(self, pod: Obj, ref: Obj | None) -> str | None:
        """The key of the ReplicaSet `ref` names, if it is one we know (same uid)."""
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        rs = self.replicasets.store.get(meta.namespace_of(pod), str(ref.get("name") or ""))
        if rs is None or (rs.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return object_key(rs)

    def _matching_replica_sets(self, pod: Obj) -> list[str]:
        labels = meta.labels_of(pod)
        if not labels:
            return []
        keys = []
        for rs in self.replicasets.store.by_index(NAMESPACE_INDEX, meta.namespace_of(pod)):
            try:
                selector = LabelSelector.from_dict((rs.get("spec") or {}).get("selector"))
            except Exception:
                continue
            if not selector.empty and selector.matches(labels):
                keys.append(object_key(rs))
        return keys

    def _pod_added(self, pod: Obj) -> None:
        if meta.is_terminating(pod):
            # A pod that shows up already being deleted (after a relist) is a deletion.
            self._pod_deleted(pod)
            return
        ref = pods.controller_ref(pod)
        if ref is not None:
            key = self._owner_key(pod, ref)
            if key is not None:
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        for key in self._matching_replica_sets(pod):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, pod: Obj) -> None:
        old_md, md = old.get("metadata") or {}, pod.get("metadata") or {}
        if old_md.get("resourceVersion") == md.get("resourceVersion"):
            return  # a resync; nothing moved
        labels_changed = old_md.get("labels") != md.get("labels")
        if meta.is_terminating(pod):
            # Graceful deletion: the ReplicaSet may replace the pod now, not when the
            # node has confirmed (kube does the same).
            self._pod_deleted(pod)
            if labels_changed:
                self._pod_deleted(old)
            return
        ref, old_ref = pods.controller_ref(pod), pods.controller_ref(old)
        ref_changed = (ref or {}).get("uid") != (old_ref or {}).get("uid")
        if ref_changed and old_ref is not None:
            key = self._owner_key(old, old_ref)
            if key is not None:
                self.queue.add(key)
        if ref is not None:
            key = self._owner_key(pod, ref)
            if key is not None:
                self.queue.add(key)
                rs = self.replicasets.store.get_by_key(key) or {}
                min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
                if min_ready > 0 and pods.is_ready(pod) and not pods.is_ready(old):
                    # Check availability again once the pod has been ready long enough.
                    self.queue.add_after(key, float(min_ready))
            return
        if labels_changed or ref_changed:
            for key in self._matching_replica_sets(pod):
                self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod, pods.controller_ref(pod))
        if key is None:
            return
        self.expectations.deletion_observed(key, object_key(pod))
        self.queue.add(key)

    # -- reconcile -------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        cached = self.replicasets.store.get(namespace, name)
        if cached is None:
            self.expectations.forget(key)
            return
        rs = copy.deepcopy(cached)
        needs_sync = self.expectations.satisfied(key)
        spec = rs.get("spec") or {}
        try:
            selector = LabelSelector.from_dict(spec.get("selector"))
        except Exception as exc:
            log.warning("%s: ReplicaSet %s has an invalid selector: %s", self.name, key, exc)
            return
        uid = str((rs.get("metadata") or {}).get("uid") or "")
        candidates = [p for p in owned_pods(self.pods.store, uid) + orphan_pods(
            self.pods.store, namespace) if pods.is_active(p)]
        active = await ownership.claim(
            self.client, PODS, rs, candidates,
            lambda pod: not selector.empty and selector.matches(meta.labels_of(pod)))

        manage_error: APIError | None = None
        if needs_sync and not meta.is_terminating(rs):
            try:
                await self._manage_replicas(key, rs, active)
            except APIError as exc:
                manage_error = exc

        now = self.now()
        status = calculate_status(rs, active, manage_error, now)
        if status_changed(rs, status):
            await self._write_status(rs, status)
        min_ready = int(spec.get("minReadySeconds") or 0)
        if manage_error is None:
            wait = next_availability(active, min_ready, now)
            if wait is not None:
                self.queue.add_after(key, wait + 0.05)
        if manage_error is not None:
            raise manage_error

    async def _write_status(self, rs: Obj, status: Obj) -> None:
        status["observedGeneration"] = (rs.get("metadata") or {}).get("generation")
        try:
            await self.client.update_status(REPLICA_SETS, {**rs, "status": status})
        except APIError as exc:
            # Gone, or written meanwhile: that write's watch event queues the key again,
            # and the next sync reports from the newer object.
            if not (exc.is_not_found or exc.is_conflict):
                raise
            log.debug("%s: status of %s not written: %s", self.name, object_key(rs), exc)

    async def _manage_replicas(self, key: str, rs: Obj, active: list[Obj]) -> None:
        """Create or delete pods so `rs` has `spec.replicas` active ones (kube's
        manageReplicas). Raises the first APIError after recording what it did."""
        wanted = int((rs.get("spec") or {}).get("replicas", 1))
        diff = len(active) - wanted
        if diff < 0:
            count = min(-diff, self.burst_replicas)
            self.expectations.expect_creations(key, count)
            created, error = await slow_start_batch(
                count, SLOW_START_INITIAL_BATCH, lambda: self._create_pod(key, rs))
            # Creates that were never sent (or failed) will never be observed.
            for _ in range(count - created):
                self.expectations.creation_observed(key)
            if error is not None:
                if isinstance(error, APIError) and _namespace_terminating(error):
                    return  # the namespace is going away: nothing to report
                raise error
        elif diff > 0:
            count = min(diff, self.burst_replicas)
            victims = self._pods_to_delete(rs, active, count)
            self.expectations.expect_deletions(key, [object_key(p) for p in victims])
            results = await asyncio.gather(*(self._delete_pod(key, rs, p) for p in victims),
                                           return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def _create_pod(self, key: str, rs: Obj) -> None:
        spec = rs.get("spec") or {}
        pod = pods.pod_from_template(spec.get("template") or {}, rs,
                                     generate_name=f"{meta.name_of(rs)}-")
        try:
            for attempt in range(GENERATE_NAME_ATTEMPTS):
                try:
                    created = await self.client.create(PODS, pod, meta.namespace_of(rs))
                    break
                except APIError as exc:
                    # Five random characters collide now and then among thousands of
                    # pods; another draw is all it takes.
                    if not exc.is_already_exists or attempt == GENERATE_NAME_ATTEMPTS - 1:
                        raise
        except APIError as exc:
            if not _namespace_terminating(exc):
                self.recorder.event(rs, "Warning", "FailedCreate",
                                    f"Error creating: {exc.message}")
            raise
        self.recorder.event(rs, "Normal", "SuccessfulCreate",
                            f"Created pod: {meta.name_of(created)}")

    async def _delete_pod(self, key: str, rs: Obj, pod: Obj) -> None:
        name = meta.name_of(pod)
        try:
            await self.client.delete(PODS, name, meta.namespace_of(pod),
                                     preconditions={"uid": str(meta.metadata(pod).get("uid"))})
        except APIError as exc:
            # The watch will never show this deletion: stop waiting for it.
            self.expectations.deletion_observed(key, object_key(pod))
            if exc.is_not_found or exc.is_conflict:
                return
            self.recorder.event(rs, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            raise
        self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    def _pods_to_delete(self, rs: Obj, active: list[Obj], count: int) -> list[Obj]:
        """The `count` pods to delete first: ranked by kube's ActivePodsWithRanks, with
        the pods of sibling ReplicaSets (same controller) counted per node so doubled-up
        nodes lose pods first."""
        if count >= len(active):
            return list(active)
        on_node: dict[str, int] = {}
        for pod in self._related_pods(rs, active):
            node = (pod.get("spec") or {}).get("nodeName")
            if node and pods.is_active(pod):
                on_node[node] = on_node.get(node, 0) + 1
        ranked = sorted(active, key=lambda p: pods.deletion_rank(p, on_node))
        return ranked[:count]

    def _related_pods(self, rs: Obj, active: list[Obj]) -> list[Obj]:
        owner = pods.controller_ref(rs)
        if owner is None:
            return active
        related: list[Obj] = []
        for sibling in self.replicasets.store.by_index(NAMESPACE_INDEX, meta.namespace_of(rs)):
            sib_owner = pods.controller_ref(sibling)
            if sib_owner is not None and sib_owner.get("uid") == owner.get("uid"):
                related.extend(owned_pods(self.pods.store,
                                          str(meta.metadata(sibling).get("uid") or "")))
        return related


def _namespace_terminating(exc: APIError) -> bool:
    causes = exc.details.get("causes") or []
    return any(isinstance(c, dict) and c.get("reason") == "NamespaceTerminating"
               for c in causes)
