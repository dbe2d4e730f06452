"""The StatefulSet controller (kube's stateful set controller): pods with stable names
`<set>-<ordinal>`, hostnames and subdomain; OrderedReady (one ordinal at a time, up in
order and down from the top) or Parallel pod management; RollingUpdate with a
partition (from the highest ordinal down, one pod at a time, waiting for Ready) or
OnDelete; template history in ControllerRevisions; status for `kubectl rollout status`.

volumeClaimTemplates: pods get kube's volumes naming the claims `<claim>-<set>-<ordinal>`;
the claims themselves are created only when the API serves persistentvolumeclaims (ours
does not yet: the set then gets one Warning event saying so, and no claims are made).

Never binds pods, never deletes claims.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubeedge.api import meta
from kubeedge.api.selectors import LabelSelector
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import NAMESPACE_INDEX, SharedInformerFactory, object_key
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers import history
from kubeedge.controllers.ownership import claim
from kubeedge.controllers.pods import (
    controller_ref,
    is_available,
    is_ready,
    phase_of,
    pod_from_template,
)
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

STATEFULSETS = ResourceRef("apps", "v1", "statefulsets", True, "StatefulSet")
PODS = ResourceRef("", "v1", "pods", True, "Pod")
PVCS = ResourceRef("", "v1", "persistentvolumeclaims", True, "PersistentVolumeClaim")

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


# ------------------------------------------------------------------ identity (pure)


def ordinal_of(set_name: str, pod: Obj) -> int | None:
    """The pod's ordinal when its name is `<set>-<n>`, else None (not a member)."""
    match = re.fullmatch(rf"{re.escape(set_name)}-(0|[1-9][0-9]*)", meta.name_of(pod))
    return int(match.group(1)) if match else None


def revision_of(pod: Obj) -> str:
    return meta.labels_of(pod).get(history.CONTROLLER_REVISION_HASH, "")


def is_running_and_ready(pod: Obj) -> bool:
    return phase_of(pod) == "Running" and is_ready(pod)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not meta.is_terminating(pod)


def claim_name(claim_template: Obj, set_name: str, ordinal: int) -> str:
    return f"{meta.name_of(claim_template)}-{set_name}-{ordinal}"


def new_pod(sts: Obj, template: Obj, ordinal: int, revision: str) -> Obj:
    """Pod `<set>-<ordinal>` from `template` at `revision` (kube's newVersionedStatefulSetPod):
    identity labels, hostname and subdomain, and the claim volumes."""
    set_name = meta.name_of(sts)
    name = f"{set_name}-{ordinal}"
    pod = pod_from_template(template, sts, name=name, extra_labels={
        POD_NAME_LABEL: name,
        POD_INDEX_LABEL: str(ordinal),
        history.CONTROLLER_REVISION_HASH: revision,
    })
    spec = pod["spec"]
    spec["hostname"] = name
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        spec["subdomain"] = service
    claims = (sts.get("spec") or {}).get("volumeClaimTemplates") or []
    if claims:
        volumes = [v for v in spec.get("volumes") or []
                   if v.get("name") not in {meta.name_of(c) for c in claims}]
        for claim_template in claims:
            volumes.append({"name": meta.name_of(claim_template), "persistentVolumeClaim": {
                "claimName": claim_name(claim_template, set_name, ordinal)}})
        spec["volumes"] = volumes
    return pod


def partition_of(sts: Obj) -> int:
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    return int((strategy.get("rollingUpdate") or {}).get("partition") or 0)


@dataclass
class SetPlan:
    """One pass of kube's updateStatefulSet: what to create and delete now."""

    create: list[tuple[int, str]] = field(default_factory=list)  # (ordinal, revision)
    delete: list[Obj] = field(default_factory=list)
    recreate_failed: list[Obj] = field(default_factory=list)
    requeue_after: float | None = None


def plan_set(sts: Obj, pods: list[Obj], current_revision: str, update_revision: str,
             now: datetime) -> SetPlan:
    """Decide the next step for a set from its member pods (pure): OrderedReady stops at
    the first pod that is missing, terminating or not Running and Ready; Parallel does
    everything at once; the rolling update deletes one out-of-date pod (highest ordinal
    first, down to the partition) once every pod is healthy."""
    spec = sts.get("spec") or {}
    set_name = meta.name_of(sts)
    replicas = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
    ordered = (spec.get("podManagementPolicy") or "OrderedReady") == "OrderedReady"
    min_ready = float(spec.get("minReadySeconds") or 0)
    strategy = (spec.get("updateStrategy") or {}).get("type") or "RollingUpdate"
    partition = partition_of(sts)
    plan = SetPlan()

    slots: list[Obj | None] = [None] * replicas
    condemned: list[Obj] = []
    for pod in pods:
        ordinal = ordinal_of(set_name, pod)
        if ordinal is None:
            continue
        if ordinal < replicas:
            slots[ordinal] = pod
        else:
            condemned.append(pod)
    # Highest ordinal first: scale-down removes from the top.
    condemned.sort(key=lambda p: ordinal_of(set_name, p) or 0, reverse=True)

    def revision_for(ordinal: int) -> str:
        if strategy == "RollingUpdate" and ordinal < partition:
            return current_revision
        return update_revision

    first_unhealthy: Obj | None = None
    for pod in [*(p for p in slots if p is not None), *condemned]:
        if not is_healthy(pod):
            first_unhealthy = pod
            break

    for ordinal, pod in enumerate(slots):
        if pod is not None and phase_of(pod) in ("Failed", "Succeeded") \
                and not meta.is_terminating(pod):
            # A finished member is replaced: delete now, create on the next pass.
            plan.recreate_failed.append(pod)
            if ordered:
                return plan
            continue
        if pod is None:
            plan.create.append((ordinal, revision_for(ordinal)))
            if ordered:
                return plan
            continue
        if meta.is_terminating(pod):
            if ordered:
                return plan
            continue
        if not is_running_and_ready(pod):
            if ordered:
                return plan
            continue
        if not is_available(pod, min_ready, now) and ordered:
            plan.requeue_after = min_ready
            return plan

    for pod in condemned:
        if meta.is_terminating(pod):
            if ordered:
                return plan
            continue
        if ordered and first_unhealthy is not None and first_unhealthy is not pod:
            return plan  # scale down only when all else is healthy
        plan.delete.append(pod)
        if ordered:
            return plan

    if strategy != "RollingUpdate" or plan.create or plan.delete or plan.recreate_failed:
        return plan
    for ordinal in range(replicas - 1, partition - 1, -1):
        pod = slots[ordinal]
        if pod is None:
            return plan
        if revision_of(pod) != update_revision and not meta.is_terminating(pod):
            plan.delete.append(pod)
            return plan
        if not is_healthy(pod):
            return plan
    return plan


def compute_status(sts: Obj, pods: list[Obj], current_revision: str, update_revision: str,
                   now: datetime) -> Obj:
    """kube's status counts; the update becomes current once every pod runs it and is
    ready (RollingUpdate)."""
    spec = sts.get("spec") or {}
    min_ready = float(spec.get("minReadySeconds") or 0)
    replicas = ready = available = current = updated = 0
    for pod in pods:
        replicas += 1
        if is_running_and_ready(pod):
            ready += 1
            if is_available(pod, min_ready, now):
                available += 1
        if not meta.is_terminating(pod):
            revision = revision_of(pod)
            if revision == current_revision:
                current += 1
            if revision == update_revision:
                updated += 1
    status = dict(sts.get("status") or {})
    status.update({
        "observedGeneration": int((sts.get("metadata") or {}).get("generation") or 0),
        "replicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": available,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
    })
    strategy = (spec.get("updateStrategy") or {}).get("type") or "RollingUpdate"
    if strategy == "RollingUpdate" and updated == replicas and ready == replicas:
        status["currentReplicas"] = updated
        status["currentRevision"] = update_revision
    status.setdefault("collisionCount", 0)
    return status


# ------------------------------------------------------------------ the controller


class StatefulSetController(Controller):
    name = "statefulset-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.concurrent_statefulset_syncs
        self._claims_served: bool | None = None
        self._warned_no_claims: set[str] = set()

    def setup(self) -> None:
        self.sets = self.informer(STATEFULSETS)
        self.sets.add_event_handler(**self.enqueue_by(object_key))
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(on_add=self._pod_changed,
                                    on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        self.revisions = self.informer(history.CONTROLLER_REVISIONS)
        self.revisions.add_event_handler(**self.enqueue_by(self._owner_key))

    @staticmethod
    def _owner_key(obj: Obj) -> str | None:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != "StatefulSet":
            return None
        return f"{meta.namespace_of(obj)}/{ref.get('name')}"

    def _pod_changed(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.queue.add(key)
        elif controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        old_key = self._owner_key(old)
        if old_key is not None and old_key != self._owner_key(new):
            self.queue.add(old_key)
        self._pod_changed(new)

    def _enqueue_matching(self, pod: Obj) -> None:
        labels = meta.labels_of(pod)
        for sts in self.sets.store.by_index(NAMESPACE_INDEX, meta.namespace_of(pod)):
            if LabelSelector.from_dict((sts.get("spec") or {}).get("selector")).matches(labels):
                self.queue.add(object_key(sts))

    # -- reconcile ---------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        sts = self.sets.store.get(namespace, name)
        if sts is None:
            self._warned_no_claims.discard(key)
            return
        if meta.is_terminating(sts):
            return
        pods = await self._claim_pods(sts)
        try:
            revisions, current, update = await self._revisions(sts)
        except history.HashCollision:
            count = int((sts.get("status") or {}).get("collisionCount") or 0) + 1
            await self.client.patch(STATEFULSETS, name, {"status": {"collisionCount": count}},
                                    namespace, patch_type="merge", subresource="status")
            raise
        current_name, update_name = meta.name_of(current), meta.name_of(update)
        plan = plan_set(sts, pods, current_name, update_name, meta.now())
        templates = {current_name: history.template_of(current),
                     update_name: history.template_of(update)}
        await self._apply(sts, plan, templates)
        if plan.requeue_after:
            self.queue.add_after(key, plan.requeue_after)
        pods = await self._claim_pods(sts)
        status = compute_status(sts, pods, current_name, update_name, meta.now())
        if status != (sts.get("status") or {}):
            try:
                await self.client.patch(STATEFULSETS, name, {"status": status}, namespace,
                                        patch_type="merge", subresource="status")
            except APIError as exc:
                if not exc.is_not_found:
                    raise
        min_ready = float((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and status["availableReplicas"] < status["readyReplicas"]:
            # Ready pods become available with time alone: look again then.
            self.queue.add_after(key, min_ready)
        live = {current_name, update_name} | {revision_of(p) for p in pods}
        limit = (sts.get("spec") or {}).get("revisionHistoryLimit")
        await history.truncate(self.client, revisions, live, 10 if limit is None else int(limit))

    async def _claim_pods(self, sts: Obj) -> list[Obj]:
        selector = LabelSelector.from_dict((sts.get("spec") or {}).get("selector"))
        set_name = meta.name_of(sts)
        candidates = self.pods.store.by_index(NAMESPACE_INDEX, meta.namespace_of(sts))
        # kube adopts only pods whose name makes them members of the set.
        return await claim(self.client, PODS, sts, candidates,
                           lambda p: selector.matches(meta.labels_of(p))
                           and ordinal_of(set_name, p) is not None)

    async def _revisions(self, sts: Obj) -> tuple[list[Obj], Obj, Obj]:
        """(all revisions, current, update) (kube's getStatefulSetRevisions): the
        update revision is the one whose data equals the template's, created or moved
        to the head of the history; the current one is what status names, else the
        update revision."""
        spec = sts.get("spec") or {}
        template = spec.get("template") or {}
        selector = LabelSelector.from_dict(spec.get("selector"))
        candidates = self.revisions.store.by_index(NAMESPACE_INDEX, meta.namespace_of(sts))
        revisions = history.sort_revisions(await claim(
            self.client, history.CONTROLLER_REVISIONS, sts, candidates,
            lambda r: selector.matches(meta.labels_of(r))))
        collision = int((sts.get("status") or {}).get("collisionCount") or 0)
        data = history.template_patch(template)
        hash_ = history.data_hash(data, collision)
        head = history.max_revision(revisions) + 1
        wanted = history.new_revision(
            sts, data, head, hash_,
            template_labels=(template.get("metadata") or {}).get("labels"),
            extra_labels={history.REVISION_HASH_LABEL: hash_})
        equal = [r for r in revisions if history.equal_data(r, wanted)]
        if equal and equal[-1] is revisions[-1]:
            update = equal[-1]
        elif equal:
            update = await history.renumber(self.client, equal[-1], head)
            revisions = [r for r in revisions if r is not equal[-1]] + [update]
        else:
            update = await history.create(self.client, wanted)
            revisions.append(update)
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if meta.name_of(r) == current_name), update)
        return revisions, current, update

    async def _apply(self, sts: Obj, plan: SetPlan, templates: dict[str, Obj]) -> None:
        namespace = meta.namespace_of(sts)
        set_name = meta.name_of(sts)
        for pod in plan.recreate_failed:
            self.recorder.event(
                sts, "Warning", "RecreatingFailedPod" if phase_of(pod) == "Failed"
                else "RecreatingTerminatedPod",
                f"StatefulSet {namespace}/{set_name} is recreating "
                f"{'failed' if phase_of(pod) == 'Failed' else 'terminated'} Pod "
                f"{meta.name_of(pod)}")
            await self._delete(sts, pod)
        for ordinal, revision in plan.create:
            template = templates.get(revision) or (sts.get("spec") or {}).get("template") or {}
            pod = new_pod(sts, template, ordinal, revision)
            await self._ensure_claims(sts, ordinal, pod)
            try:
                created = await self.client.create(PODS, pod, namespace)
            except APIError as exc:
                if exc.is_already_exists:
                    continue  # ours, not yet in the cache: its event brings us back
                if exc.is_forbidden and "being terminated" in str(exc):
                    return
                self.recorder.event(
                    sts, "Warning", "FailedCreate",
                    f"create Pod {meta.name_of(pod)} in StatefulSet {set_name} failed "
                    f"error: {exc.message}")
                raise
            self.recorder.event(
                sts, "Normal", "SuccessfulCreate",
                f"create Pod {meta.name_of(created)} in StatefulSet {set_name} successful")
        for pod in plan.delete:
            await self._delete(sts, pod)

    async def _delete(self, sts: Obj, pod: Obj) -> None:
        set_name = meta.name_of(sts)
        try:
            await self.client.delete(PODS, meta.name_of(pod), meta.namespace_of(pod),
                                     preconditions={"uid": meta.metadata(pod).get("uid", "")})
        except APIError as exc:
            if exc.is_not_found or exc.is_conflict:
                return
            self.recorder.event(
                sts, "Warning", "FailedDelete",
                f"delete Pod {meta.name_of(pod)} in StatefulSet {set_name} failed error: "
                f"{exc.message}")
            raise
        self.recorder.event(
            sts, "Normal", "SuccessfulDelete",
            f"delete Pod {meta.name_of(pod)} in StatefulSet {set_name} successful")

    async def _ensure_claims(self, sts: Obj, ordinal: int, pod: Obj) -> None:
        """Create the pod's PersistentVolumeClaims when the API serves them (kube's
        createPersistentVolumeClaims); otherwise say once that they are not made."""
        claims = (sts.get("spec") or {}).get("volumeClaimTemplates") or []
        if not claims:
            return
        if self._claims_served is None:
            # Ask discovery itself: the client's built-in table knows the name whether
            # or not this server serves it.
            try:
                served = await self.client.api_resources("v1", refresh=True)
            except APIError:
                served = []
            self._claims_served = any(r.get("name") == PVCS.plural for r in served)
        set_name = meta.name_of(sts)
        namespace = meta.namespace_of(sts)
        if not self._claims_served:
            key = object_key(sts)
            if key not in self._warned_no_claims:
                self._warned_no_claims.add(key)
                self.recorder.event(
                    sts, "Warning", "FailedCreate",
                    "volumeClaimTemplates ignored: this API server does not serve "
                    "persistentvolumeclaims, so claims "
                    + ", ".join(claim_name(c, set_name, ordinal) for c in claims)
                    + " and their siblings were not created")
            return
        match_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        for claim_template in claims:
            name = claim_name(claim_template, set_name, ordinal)
            body = copy.deepcopy(claim_template)
            body.pop("status", None)
            md = body.setdefault("metadata", {})
            md["name"] = name
            md["labels"] = {**match_labels, **(md.get("labels") or {})}
            md.pop("namespace", None)
            try:
                await self.client.create(PVCS, {"apiVersion": "v1",
                                                "kind": "PersistentVolumeClaim", **body},
                                         namespace)
            except APIError as exc:
                if exc.is_already_exists:
                    continue
                self.recorder.event(
                    sts, "Warning", "FailedCreate",
                    f"create Claim {name} for Pod {meta.name_of(pod)} in StatefulSet "
                    f"{set_name} failed error: {exc.message}")
                raise
            self.recorder.event(
                sts, "Normal", "SuccessfulCreate",
                f"create Claim {name} Pod {meta.name_of(pod)} in StatefulSet {set_name} "
                "success")
