"""The Deployment controller (kube's deployment controller): rolls a Deployment's pod
template out through ReplicaSets named `<deployment>-<pod-template-hash>`, RollingUpdate
(maxSurge / maxUnavailable) or Recreate; keeps `revisionHistoryLimit` old ReplicaSets
for `kubectl rollout undo|history`; honours `spec.paused`; spreads a mid-rollout scale
over the ReplicaSets in proportion; reports status, the Progressing and Available
conditions kubectl's `rollout status` reads, and progressDeadlineSeconds.

Decisions count pods, not just ReplicaSet sizes: a ReplicaSet counts as many pods as
the larger of its size and the active pods the cache still shows for it, and as
available the smallest of its size, its reported availableReplicas and the available
pods the cache shows, so a rollout never exceeds `replicas + maxSurge` pods or drops
below `replicas - maxUnavailable` available ones while deletions and status updates
are still on their way.

Writes ReplicaSets (create, scale, annotate, delete old ones) and the Deployment's
status (through `/status`) and revision annotation; never touches pods.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from kubeedge.api import meta
from kubeedge.api.selectors import LabelSelector
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import NAMESPACE_INDEX, SharedInformerFactory, object_key, split_key
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers import ownership, pods, rollout
from kubeedge.controllers.replicaset import (
    POD_OWNER_INDEX,
    PODS,
    REPLICA_SETS,
    ensure_index,
    owned_pods,
    pod_owner_index,
)
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", True, "Deployment")

# Condition types and reasons (kube's deployment/util), as kubectl reads them.
PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
RS_CREATE_ERROR = "ReplicaSetCreateError"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

# Status counts serialise with omitempty in kube: zero is absent.
_COUNTS = ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
           "availableReplicas", "unavailableReplicas")


# -- pure helpers over ReplicaSets --------------------------------------------------------


def created_key(obj: Obj) -> tuple[str, str]:
    """Oldest first, by name among equals (kube's ReplicaSetsByCreationTimestamp)."""
    md = obj.get("metadata") or {}
    return (str(md.get("creationTimestamp") or ""), str(md.get("name") or ""))


def is_active_rs(rs: Obj | None) -> bool:
    return rs is not None and rollout.spec_replicas(rs) > 0


def find_new_replica_set(deploy: Obj, replica_sets: Iterable[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template is the Deployment's (kube's
    FindNewReplicaSet): after a rollback that is the old ReplicaSet, reused."""
    template = (deploy.get("spec") or {}).get("template")
    for rs in sorted(replica_sets, key=created_key):
        if rollout.equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def find_active_or_latest(new: Obj | None, old: list[Obj]) -> Obj | None:
    """The one ReplicaSet with pods, or the newest when none has any; None when several
    have pods (kube's FindActiveOrLatest)."""
    if new is None and not old:
        return None
    newest_first = sorted(old, key=created_key, reverse=True)
    active = [rs for rs in [*newest_first, new] if is_active_rs(rs)]
    if not active:
        return new if new is not None else newest_first[0]
    if len(active) == 1:
        return active[0]
    return None


def is_saturated(deploy: Obj, rs: Obj | None) -> bool:
    """The new ReplicaSet is at full size with every pod available."""
    if rs is None:
        return False
    replicas = rollout.spec_replicas(deploy)
    desired = rollout.int_annotation(rs, rollout.DESIRED_REPLICAS)
    return (rollout.spec_replicas(rs) == replicas and desired == replicas
            and _status_int(rs, "availableReplicas") == replicas)


def deployment_complete(deploy: Obj, status: Obj) -> bool:
    replicas = rollout.spec_replicas(deploy)
    generation = int((deploy.get("metadata") or {}).get("generation") or 0)
    return (int(status.get("updatedReplicas") or 0) == replicas
            and int(status.get("replicas") or 0) == replicas
            and int(status.get("availableReplicas") or 0) == replicas
            and int(status.get("observedGeneration") or 0) >= generation)


def deployment_progressing(deploy: Obj, status: Obj) -> bool:
    old = deploy.get("status") or {}

    def get(s: Obj, f: str) -> int:
        return int(s.get(f) or 0)

    old_old = get(old, "replicas") - get(old, "updatedReplicas")
    new_old = get(status, "replicas") - get(status, "updatedReplicas")
    return (get(status, "updatedReplicas") > get(old, "updatedReplicas")
            or new_old < old_old
            or get(status, "readyReplicas") > get(old, "readyReplicas")
            or get(status, "availableReplicas") > get(old, "availableReplicas"))


def deployment_timed_out(deploy: Obj, status: Obj, now: datetime) -> bool:
    deadline = rollout.progress_deadline(deploy)
    if deadline is None:
        return False
    cond = _condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = meta.parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + timedelta(seconds=deadline) < now


def _status_int(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def _condition(status: Obj, ctype: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def _remove_condition(status: Obj, ctype: str) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != ctype]
    status["conditions"] = conds


def new_condition(ctype: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    stamp = meta.rfc3339(now)
    return {"type": ctype, "status": status, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def set_condition(status: Obj, cond: Obj) -> None:
    """kube's SetDeploymentCondition: the same status and reason is no change; the
    transition time stays while the status does; the condition moves to the end."""
    current = _condition(status, cond["type"])
    if current is not None and (current.get("status"), current.get("reason")) == (
            cond["status"], cond["reason"]):
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    _remove_condition(status, cond["type"])
    status["conditions"].append(cond)


def _compact(status: Obj) -> Obj:
    out = {k: v for k, v in status.items() if not (k in _COUNTS and not v)}
    if not out.get("conditions"):
        out.pop("conditions", None)
    if out.get("collisionCount") is None:
        out.pop("collisionCount", None)
    return out


# -- the controller ------------------------------------------------------------------------


class DeploymentController(Controller):
    name = "deployment"
    component = "deployment-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 now: Callable[[], datetime] = meta.now) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.concurrent_deployment_syncs
        self.now = now

    def setup(self) -> None:
        self.deployments = self.informer(DEPLOYMENTS)
        self.deployments.add_event_handler(**self.enqueue_by(object_key))
        self.replicasets = self.informer(REPLICA_SETS)
        self.replicasets.add_event_handler(on_add=self._rs_added, on_update=self._rs_updated,
                                           on_delete=self._rs_deleted)
        self.pods = self.informer(PODS)
        ensure_index(self.pods.store, POD_OWNER_INDEX, pod_owner_index)
        self.pods.add_event_handler(on_delete=self._pod_deleted)

    # -- event handlers ----------------------------------------------------------------

    def _deployment_key(self, obj: Obj, ref: Obj | None) -> str | None:
        if ref is None or ref.get("kind") != "Deployment":
            return None
        deploy = self.deployments.store.get(meta.namespace_of(obj), str(ref.get("name") or ""))
        if deploy is None or (deploy.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return object_key(deploy)

    def _matching_deployments(self, rs: Obj) -> list[str]:
        labels = meta.labels_of(rs)
        keys = []
        for deploy in self.deployments.store.by_index(NAMESPACE_INDEX, meta.namespace_of(rs)):
            try:
                selector = LabelSelector.from_dict((deploy.get("spec") or {}).get("selector"))
            except Exception:
                continue
            if not selector.empty and selector.matches(labels):
                keys.append(object_key(deploy))
        return keys

    def _enqueue(self, key: str | None) -> None:
        if key:
            self.queue.add(key)

    def _rs_added(self, rs: Obj) -> None:
        ref = pods.controller_ref(rs)
        if ref is not None:
            self._enqueue(self._deployment_key(rs, ref))
            return
        if meta.is_terminating(rs):
            return
        for key in self._matching_deployments(rs):
            self.queue.add(key)

    def _rs_updated(self, old: Obj, rs: Obj) -> None:
        old_md, md = old.get("metadata") or {}, rs.get("metadata") or {}
        if old_md.get("resourceVersion") == md.get("resourceVersion"):
            return
        ref, old_ref = pods.controller_ref(rs), pods.controller_ref(old)
        ref_changed = (ref or {}).get("uid") != (old_ref or {}).get("uid")
        if ref_changed and old_ref is not None:
            self._enqueue(self._deployment_key(old, old_ref))
        if ref is not None:
            self._enqueue(self._deployment_key(rs, ref))
            return
        if ref_changed or old_md.get("labels") != md.get("labels"):
            for key in self._matching_deployments(rs):
                self.queue.add(key)

    def _rs_deleted(self, rs: Obj) -> None:
        self._enqueue(self._deployment_key(rs, pods.controller_ref(rs)))

    def _pod_deleted(self, pod: Obj) -> None:
        """A pod gone frees room for the rollout (and Recreate waits for it)."""
        ref = pods.controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.store.get(meta.namespace_of(pod), str(ref.get("name") or ""))
        if rs is not None and (rs.get("metadata") or {}).get("uid") == ref.get("uid"):
            self._enqueue(self._deployment_key(rs, pods.controller_ref(rs)))

    # -- reconcile -------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        cached = self.deployments.store.get(namespace, name)
        if cached is None:
            return
        deploy = copy.deepcopy(cached)
        try:
            await self._sync(key, deploy)
        except APIError as exc:
            if not exc.is_conflict:
                raise
            # Someone wrote first; the watch brings the new version. Try again soon.
            log.debug("%s: %s changed under us: %s", self.name, key, exc)
            self.queue.add_rate_limited(key)

    async def _sync(self, key: str, d: Obj) -> None:
        spec = d.get("spec") or {}
        try:
            selector = LabelSelector.from_dict(spec.get("selector"))
        except Exception as exc:
            log.warning("%s: Deployment %s has an invalid selector: %s", self.name, key, exc)
            return
        if selector.empty:
            self.recorder.event(d, "Warning", "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector "
                                "is required.")
            generation = (d.get("metadata") or {}).get("generation")
            if (d.get("status") or {}).get("observedGeneration") != generation:
                d.setdefault("status", {})["observedGeneration"] = generation
                await self._write_status(d)
            return

        rs_list = await self._claim_replica_sets(d, selector)
        new, old = await self._new_and_old(d, rs_list)

        if meta.is_terminating(d):
            await self._sync_deployment_status(d, self._all(new, old), new)
            return
        await self._check_paused_conditions(d)
        if spec.get("paused") or self._is_scaling_event(d, new, old):
            await self._scale(d, new, old)
            if spec.get("paused"):
                await self._cleanup(d, old)
            await self._sync_deployment_status(d, self._all(new, old), new)
            return
        if rollout.is_rolling_update(d):
            await self._rollout_rolling(key, d, new, old)
        else:
            await self._rollout_recreate(key, d, new, old)

    @staticmethod
    def _all(new: Obj | None, old: list[Obj]) -> list[Obj]:
        return [*old, new] if new is not None else list(old)

    async def _claim_replica_sets(self, d: Obj, selector: LabelSelector) -> list[Obj]:
        candidates = self.replicasets.store.by_index(NAMESPACE_INDEX, meta.namespace_of(d))
        claimed = await ownership.claim(
            self.client, REPLICA_SETS, d, candidates,
            lambda rs: selector.matches(meta.labels_of(rs)))
        # Working copies: scaling updates them in place so every list stays current.
        return [copy.deepcopy(rs) for rs in claimed]

    # -- the new ReplicaSet and revisions ------------------------------------------------------

    async def _new_and_old(self, d: Obj, rs_list: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        """The new ReplicaSet (if one exists) with its revision and annotations synced,
        and the others (kube's getAllReplicaSetsAndSyncRevision without creating)."""
        existing = find_new_replica_set(d, rs_list)
        old = [rs for rs in rs_list if rs is not existing]
        if existing is None:
            return None, old
        new_revision = rollout.max_revision(old) + 1
        surge = rollout.max_surge(d)
        work = copy.deepcopy(existing)
        annotated = rollout.set_new_replica_set_annotations(d, work, new_revision, True, surge)
        d_min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
        rs_spec = work.setdefault("spec", {})
        min_ready_changed = int(rs_spec.get("minReadySeconds") or 0) != d_min_ready
        if annotated or min_ready_changed:
            rs_spec["minReadySeconds"] = d_min_ready
            updated = await self.client.update(REPLICA_SETS, work)
            existing.clear()
            existing.update(updated)
        await self._set_revision(d, rollout.annotations_of(existing).get(rollout.REVISION, ""))
        if rollout.progress_deadline(d) is not None and meta.condition(d, PROGRESSING) is None:
            status = d.setdefault("status", {})
            status.setdefault("conditions", [])
            set_condition(status, new_condition(
                PROGRESSING, "True", FOUND_NEW_RS,
                f'Found new replica set "{meta.name_of(existing)}"', self.now()))
            await self._write_status(d)
        return existing, old

    async def _create_new_replica_set(self, d: Obj, old: list[Obj]) -> Obj:
        """Create the ReplicaSet for the Deployment's current template, already scaled as
        far as the strategy allows (kube's getNewReplicaSet with createIfNotExisted)."""
        spec = d.get("spec") or {}
        status = d.setdefault("status", {})
        template = copy.deepcopy(spec.get("template") or {})
        collisions = int(status.get("collisionCount") or 0)
        pod_hash = pods.template_hash(rollout.normalized(template), collisions)
        tmpl_md = template.setdefault("metadata", {})
        labels = {**(tmpl_md.get("labels") or {}), pods.POD_TEMPLATE_HASH: pod_hash}
        tmpl_md["labels"] = labels
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}),
                                   pods.POD_TEMPLATE_HASH: pod_hash}
        name = f"{meta.name_of(d)}-{pod_hash}"
        rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": meta.namespace_of(d),
                         "labels": dict(labels),
                         "ownerReferences": [pods.new_controller_ref(d)]},
            "spec": {"replicas": 0, "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                     "selector": selector, "template": template},
        }
        replicas = rollout.spec_replicas(d)
        if rollout.is_rolling_update(d):
            surge_value = rollout.scaled_value(
                ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%"),
                replicas, True)
            current = sum(self._counted_pods(rs_) for rs_ in old)
            size = rollout.new_rs_target_rolling(replicas, surge_value, current, 0)
        else:
            size = replicas
        rs["spec"]["replicas"] = size
        new_revision = rollout.max_revision(old) + 1
        rollout.set_new_replica_set_annotations(d, rs, new_revision, False,
                                                rollout.max_surge(d))
        already = False
        try:
            created = await self.client.create(REPLICA_SETS, rs, meta.namespace_of(d))
        except APIError as exc:
            if exc.is_already_exists:
                found = await self.client.get(REPLICA_SETS, name, meta.namespace_of(d))
                ref = pods.controller_ref(found)
                if (ref is not None and ref.get("uid") == meta.metadata(d).get("uid")
                        and rollout.equal_ignore_hash((found.get("spec") or {}).get("template"),
                                                      spec.get("template"))):
                    created, already = found, True
                else:
                    # A hash collision: the next try hashes with a new collisionCount.
                    status["collisionCount"] = collisions + 1
                    await self._write_status(d)
                    raise
            else:
                if rollout.progress_deadline(d) is not None and not exc.is_conflict:
                    message = f'Failed to create new replica set "{name}": {exc.message}'
                    status.setdefault("conditions", [])
                    set_condition(status, new_condition(PROGRESSING, "False", RS_CREATE_ERROR,
                                                        message, self.now()))
                    await self._write_status(d)
                    self.recorder.event(d, "Warning", RS_CREATE_ERROR, message)
                raise
        if not already and size > 0:
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled up replica set {name} to {size}")
        await self._set_revision(d, str(new_revision))
        if not already and rollout.progress_deadline(d) is not None:
            status = d.setdefault("status", {})
            status.setdefault("conditions", [])
            set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_CREATED,
                                                f'Created new replica set "{name}"',
                                                self.now()))
            await self._write_status(d)
        return created

    async def _set_revision(self, d: Obj, revision: str) -> None:
        if not revision or rollout.annotations_of(d).get(rollout.REVISION) == revision:
            return
        patched = await self.client.patch(
            DEPLOYMENTS, meta.name_of(d),
            {"metadata": {"annotations": {rollout.REVISION: revision}}},
            meta.namespace_of(d), patch_type="merge")
        d["metadata"] = patched.get("metadata") or d["metadata"]

    # -- pods as the cache shows them --------------------------------------------------------

    def _pod_counts(self, rs: Obj) -> tuple[int, int]:
        """(active, available) pods of `rs` in the cache."""
        uid = str(meta.metadata(rs).get("uid") or "")
        if not uid:
            return 0, 0
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        now = self.now()
        active = available = 0
        for pod in owned_pods(self.pods.store, uid):
            if pods.is_active(pod):
                active += 1
                if pods.is_available(pod, min_ready, now):
                    available += 1
        return active, available

    def _counted_pods(self, rs: Obj) -> int:
        """At most this many pods of `rs` exist or will: its size, or more while the
        cache still shows pods it is deleting."""
        active, _ = self._pod_counts(rs)
        return max(rollout.spec_replicas(rs), active)

    def _counted_available(self, rs: Obj) -> int:
        """At least this many pods of `rs` are available and will stay."""
        _, available = self._pod_counts(rs)
        return max(min(rollout.spec_replicas(rs), _status_int(rs, "availableReplicas"),
                       available), 0)

    # -- scaling -----------------------------------------------------------------------------

    async def _scale_rs(self, rs: Obj, size: int, d: Obj, operation: str = "") -> bool:
        """Set `rs` to `size` and stamp the desired/max replicas annotations; record
        ScalingReplicaSet when the size moved. Updates `rs` in place."""
        current = rollout.spec_replicas(rs)
        replicas = rollout.spec_replicas(d)
        maximum = replicas + rollout.max_surge(d)
        resize = current != size
        if not resize and not rollout.replicas_annotations_need_update(rs, replicas, maximum):
            return False
        work = copy.deepcopy(rs)
        work.setdefault("spec", {})["replicas"] = size
        rollout.set_replicas_annotations(work, replicas, maximum)
        updated = await self.client.update(REPLICA_SETS, work)
        rs.clear()
        rs.update(updated)
        if resize:
            operation = operation or ("down" if current > size else "up")
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {operation} replica set {meta.name_of(rs)} to {size} "
                                f"from {current}")
        return resize

    def _is_scaling_event(self, d: Obj, new: Obj | None, old: list[Obj]) -> bool:
        replicas = rollout.spec_replicas(d)
        for rs in self._all(new, old):
            if not is_active_rs(rs):
                continue
            desired = rollout.int_annotation(rs, rollout.DESIRED_REPLICAS)
            if desired is not None and desired != replicas:
                return True
        return False

    async def _scale(self, d: Obj, new: Obj | None, old: list[Obj]) -> None:
        """Scale without rolling (kube's DeploymentController.scale): the one active
        ReplicaSet takes the new size; with several, the difference is spread in
        proportion to their sizes."""
        replicas = rollout.spec_replicas(d)
        target = find_active_or_latest(new, old)
        if target is not None:
            if rollout.spec_replicas(target) != replicas:
                await self._scale_rs(target, replicas, d)
            return
        if is_saturated(d, new):
            for rs in old:
                if is_active_rs(rs):
                    await self._scale_rs(rs, 0, d)
            return
        if not rollout.is_rolling_update(d):
            return
        active = [rs for rs in self._all(new, old) if is_active_rs(rs)]
        sized = [rollout.Sized(meta.name_of(rs), rollout.spec_replicas(rs),
                               created_key(rs)[0],
                               rollout.int_annotation(rs, rollout.MAX_REPLICAS))
                 for rs in active]
        sizes, operation = rollout.proportional_sizes(
            sized, replicas, rollout.max_surge(d), _status_int(d, "replicas"))
        for rs in active:
            await self._scale_rs(rs, sizes[meta.name_of(rs)], d, operation)

    # -- RollingUpdate -------------------------------------------------------------------------

    async def _rollout_rolling(self, key: str, d: Obj, new: Obj | None, old: list[Obj]) -> None:
        if new is None:
            new = await self._create_new_replica_set(d, old)
        all_rs = self._all(new, old)
        if await self._reconcile_new(d, all_rs, new):
            await self._sync_rollout_status(key, d, all_rs, new)
            return
        if await self._reconcile_old(d, all_rs, [rs for rs in old if is_active_rs(rs)], new):
            await self._sync_rollout_status(key, d, all_rs, new)
            return
        if deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        await self._sync_rollout_status(key, d, all_rs, new)

    async def _reconcile_new(self, d: Obj, all_rs: list[Obj], new: Obj) -> bool:
        replicas = rollout.spec_replicas(d)
        current = rollout.spec_replicas(new)
        if current == replicas:
            return False
        if current > replicas:
            return await self._scale_rs(new, replicas, d)
        rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
        surge = rollout.scaled_value(rolling.get("maxSurge", "25%"), replicas, True)
        pods_now = sum(self._counted_pods(rs) for rs in all_rs)
        target = rollout.new_rs_target_rolling(replicas, surge, pods_now, current)
        return await self._scale_rs(new, target, d)

    async def _reconcile_old(self, d: Obj, all_rs: list[Obj], old_active: list[Obj],
                             new: Obj) -> bool:
        if sum(rollout.spec_replicas(rs) for rs in old_active) == 0:
            return False
        replicas = rollout.spec_replicas(d)
        unavailable = rollout.max_unavailable(d)
        all_pods = sum(rollout.spec_replicas(rs) for rs in all_rs)
        budget = rollout.old_scale_down_budget(all_pods, replicas, unavailable,
                                               rollout.spec_replicas(new),
                                               self._counted_available(new))
        if budget <= 0:
            return False
        cleaned = await self._cleanup_unhealthy(old_active, d, budget)
        scaled = await self._scale_down_old_rolling(all_rs, old_active, d)
        return cleaned + scaled > 0

    async def _cleanup_unhealthy(self, old: list[Obj], d: Obj, budget: int) -> int:
        """Scale old ReplicaSets down by their unavailable pods first: removing those
        costs no availability (kube's cleanupUnhealthyReplicas)."""
        total = 0
        for rs in sorted(old, key=created_key):
            if total >= budget:
                break
            size = rollout.spec_replicas(rs)
            healthy = self._counted_available(rs)
            if size == 0 or size == healthy:
                continue
            count = min(budget - total, size - healthy)
            await self._scale_rs(rs, size - count, d)
            total += count
        return total

    async def _scale_down_old_rolling(self, all_rs: list[Obj], old: list[Obj], d: Obj) -> int:
        replicas = rollout.spec_replicas(d)
        available = sum(self._counted_available(rs) for rs in all_rs)
        budget = rollout.available_scale_down_budget(available, replicas,
                                                     rollout.max_unavailable(d))
        total = 0
        for rs in sorted(old, key=created_key):
            if total >= budget:
                break
            size = rollout.spec_replicas(rs)
            if size == 0:
                continue
            count = min(size, budget - total)
            await self._scale_rs(rs, size - count, d)
            total += count
        return total

    # -- Recreate ---------------------------------------------------------------------------------

    async def _rollout_recreate(self, key: str, d: Obj, new: Obj | None, old: list[Obj]
                                ) -> None:
        all_rs = self._all(new, old)
        scaled = False
        for rs in old:
            if is_active_rs(rs):
                scaled = await self._scale_rs(rs, 0, d) or scaled
        if scaled:
            await self._sync_rollout_status(key, d, all_rs, new)
            return
        if self._old_pods_running(new, old):
            await self._sync_rollout_status(key, d, all_rs, new)
            return
        if new is None:
            new = await self._create_new_replica_set(d, old)
            all_rs = self._all(new, old)
        await self._scale_rs(new, rollout.spec_replicas(d), d)
        if deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        await self._sync_rollout_status(key, d, all_rs, new)

    def _old_pods_running(self, new: Obj | None, old: list[Obj]) -> bool:
        """Old pods still exist, terminating ones included: Recreate waits for them."""
        if sum(_status_int(rs, "replicas") for rs in old) > 0:
            return True
        for rs in old:
            for pod in owned_pods(self.pods.store, str(meta.metadata(rs).get("uid") or "")):
                if not pods.is_terminal(pod):
                    return True
        return False

    # -- history -----------------------------------------------------------------------------------

    async def _cleanup(self, d: Obj, old: list[Obj]) -> None:
        """Delete the oldest empty ReplicaSets beyond revisionHistoryLimit."""
        limit = rollout.revision_history_limit(d)
        if limit is None:
            return
        alive = [rs for rs in old if not meta.is_terminating(rs)]
        extra = len(alive) - limit
        if extra <= 0:
            return
        alive.sort(key=lambda rs: (rollout.revision_of(rs), created_key(rs)))
        for rs in alive[:extra]:
            md = rs.get("metadata") or {}
            if (_status_int(rs, "replicas") != 0 or rollout.spec_replicas(rs) != 0
                    or int(md.get("generation") or 0) > _status_int(rs, "observedGeneration")):
                continue
            try:
                await self.client.delete(REPLICA_SETS, meta.name_of(rs), meta.namespace_of(rs),
                                         preconditions={"uid": str(md.get("uid") or "")})
            except APIError as exc:
                if not (exc.is_not_found or exc.is_conflict):
                    raise

    # -- status ------------------------------------------------------------------------------------

    async def _check_paused_conditions(self, d: Obj) -> None:
        if rollout.progress_deadline(d) is None:
            return
        cond = meta.condition(d, PROGRESSING)
        if cond is not None and cond.get("reason") == TIMED_OUT:
            return
        paused = bool((d.get("spec") or {}).get("paused"))
        paused_cond = cond is not None and cond.get("reason") == PAUSED
        if paused == paused_cond:
            return
        status = d.setdefault("status", {})
        status.setdefault("conditions", [])
        if paused:
            set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED,
                                                "Deployment is paused", self.now()))
        else:
            set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED,
                                                "Deployment is resumed", self.now()))
        await self._write_status(d)

    def _calculate_status(self, all_rs: list[Obj], new: Obj | None, d: Obj) -> Obj:
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rs)
        total = sum(rollout.spec_replicas(rs) for rs in all_rs)
        old_status = d.get("status") or {}
        status: Obj = {
            "observedGeneration": (d.get("metadata") or {}).get("generation"),
            "replicas": sum(_status_int(rs, "replicas") for rs in all_rs),
            "updatedReplicas": _status_int(new, "replicas") if new is not None else 0,
            "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(total - available, 0),
            "collisionCount": old_status.get("collisionCount"),
            "conditions": copy.deepcopy(old_status.get("conditions") or []),
        }
        if available >= rollout.spec_replicas(d) - rollout.max_unavailable(d):
            set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE,
                                                "Deployment has minimum availability.",
                                                self.now()))
        else:
            set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                                "Deployment does not have minimum "
                                                "availability.", self.now()))
        return status

    async def _sync_deployment_status(self, d: Obj, all_rs: list[Obj], new: Obj | None) -> None:
        status = self._calculate_status(all_rs, new, d)
        if _compact(status) == _compact(d.get("status") or {}):
            return
        d["status"] = _compact(status)
        await self._write_status(d)

    async def _sync_rollout_status(self, key: str, d: Obj, all_rs: list[Obj],
                                   new: Obj | None) -> None:
        """Status plus the Progressing condition (kube's syncRolloutStatus)."""
        now = self.now()
        status = self._calculate_status(all_rs, new, d)
        deadline = rollout.progress_deadline(d)
        if deadline is None:
            _remove_condition(status, PROGRESSING)
        current = meta.condition(d, PROGRESSING)
        complete = (status["replicas"] == status["updatedReplicas"] and current is not None
                    and current.get("reason") == NEW_RS_AVAILABLE)
        if deadline is not None and not complete:
            rs_name = f'ReplicaSet "{meta.name_of(new)}"' if new is not None else (
                f'Deployment "{meta.name_of(d)}"')
            if deployment_complete(d, status):
                set_condition(status, new_condition(
                    PROGRESSING, "True", NEW_RS_AVAILABLE,
                    f"{rs_name} has successfully progressed.", now))
            elif deployment_progressing(d, status):
                cond = new_condition(PROGRESSING, "True", RS_UPDATED,
                                     f"{rs_name} is progressing.", now)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    _remove_condition(status, PROGRESSING)
                set_condition(status, cond)
            elif deployment_timed_out(d, status, now):
                set_condition(status, new_condition(
                    PROGRESSING, "False", TIMED_OUT, f"{rs_name} has timed out progressing.",
                    now))
        failures = self._replica_failures(all_rs, new)
        if failures:
            set_condition(status, failures[0])
        else:
            _remove_condition(status, REPLICA_FAILURE)
        if _compact(status) == _compact(d.get("status") or {}):
            self._requeue_stuck(key, d, status, now)
            return
        d["status"] = _compact(status)
        await self._write_status(d)

    @staticmethod
    def _replica_failures(all_rs: list[Obj], new: Obj | None) -> list[Obj]:
        def of(rs: Obj) -> list[Obj]:
            found = []
            for c in (rs.get("status") or {}).get("conditions") or []:
                if c.get("type") == REPLICA_FAILURE:
                    found.append({"type": REPLICA_FAILURE, "status": c.get("status"),
                                  "lastUpdateTime": c.get("lastTransitionTime"),
                                  "lastTransitionTime": c.get("lastTransitionTime"),
                                  "reason": c.get("reason"), "message": c.get("message")})
            return found

        if new is not None and (failures := of(new)):
            return failures
        return [f for rs in all_rs for f in of(rs)]

    def _requeue_stuck(self, key: str, d: Obj, status: Obj, now: datetime) -> None:
        """Come back when the progress deadline passes, to report it."""
        deadline = rollout.progress_deadline(d)
        cond = _condition(status, PROGRESSING)
        if deadline is None or cond is None:
            return
        if deployment_complete(d, status) or cond.get("reason") == TIMED_OUT:
            return
        since = meta.parse_time(cond.get("lastUpdateTime"))
        if since is None:
            return
        after = (since + timedelta(seconds=deadline) - now).total_seconds()
        # Times have second precision: come back just after the deadline has passed.
        self.queue.add_after(key, max(after, 0.0) + 1.0)

    async def _write_status(self, d: Obj) -> None:
        updated = await self.client.update_status(DEPLOYMENTS, d)
        d.clear()
        d.update(updated)
