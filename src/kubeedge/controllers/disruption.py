"""PodDisruptionBudget status (kube's disruption controller): how many pods a budget
expects, how many are healthy, how many must stay healthy, and so how many voluntary
disruptions (evictions) are allowed right now.

The API server's eviction subresource spends the budget: it refuses with 429 when
`disruptionsAllowed` is 0, and otherwise decrements it and records the pod under
`status.disruptedPods` with a timestamp, before deleting the pod. This controller
recomputes the budget from the pods, and never counts a pod in `disruptedPods` as
healthy until that entry expires (two minutes, kube's DeletionTimeout), so a pod whose
eviction is under way is not counted twice. Every status write carries the
resourceVersion it was computed from, so a write racing an eviction is a conflict and
is redone from fresh state.

Must never touch pods; reads owners' scale from the informers (ReplicaSet, Deployment,
StatefulSet) or, for any other owner, from its scale subresource.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kubeedge.api import meta
from kubeedge.api.selectors import LabelSelector
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import NAMESPACE_INDEX, SharedInformerFactory, split_key
from kubeedge.client.informer import object_key as key_of
from kubeedge.client.resources import ResourceRef, split_api_version
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.pods import controller_ref, is_ready
from kubeedge.controllers.runtime import Controller

Obj = dict[str, Any]

PODS = ResourceRef("", "v1", "pods", True, "Pod")
PDBS = ResourceRef("policy", "v1", "poddisruptionbudgets", True, "PodDisruptionBudget")
REPLICA_SETS = ResourceRef("apps", "v1", "replicasets", True, "ReplicaSet")
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", True, "Deployment")
STATEFUL_SETS = ResourceRef("apps", "v1", "statefulsets", True, "StatefulSet")

DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"

# kube's DeletionTimeout: an evicted pod that is still not being deleted after this
# long counts again (the eviction's delete must have failed).
DELETION_TIMEOUT_SECONDS = 120.0

_APPS_GROUPS = ("apps", "extensions")


class ExpectedCountError(Exception):
    """The budget's expected pod count cannot be worked out (kube fails safe)."""


# -- decisions (pure) ------------------------------------------------------------------


def scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """An IntOrString against `total` (kube's GetScaledValueFromIntOrPercent)."""
    if isinstance(value, bool):
        raise ExpectedCountError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            raise ExpectedCountError(f"invalid value for IntOrString: invalid type: "
                                     f"string is not a percentage: {text!r}") from None
    try:
        percent = int(text[:-1])
    except ValueError:
        raise ExpectedCountError(f"invalid value {text!r}: not a percentage") from None
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def needs_scale(spec: Obj) -> bool:
    """Whether the budget is relative to the owners' scale: maxUnavailable, or a
    percentage minAvailable. An integer minAvailable counts the pods themselves."""
    if spec.get("maxUnavailable") is not None:
        return True
    min_available = spec.get("minAvailable")
    return isinstance(min_available, str) and not min_available.isdigit()


def expected_and_desired(spec: Obj, pod_count: int, scale_total: int | None
                         ) -> tuple[int, int]:
    """(expectedPods, desiredHealthy) for a budget (kube's getExpectedPodCount)."""
    max_unavailable = spec.get("maxUnavailable")
    min_available = spec.get("minAvailable")
    if max_unavailable is not None:
        assert scale_total is not None
        unavailable = scaled_value(max_unavailable, scale_total, round_up=True)
        return scale_total, max(0, scale_total - unavailable)
    if min_available is None:
        return 0, 0
    if not needs_scale(spec):
        return pod_count, scaled_value(min_available, pod_count, round_up=True)
    assert scale_total is not None
    return scale_total, scaled_value(min_available, scale_total, round_up=True)


@dataclass(frozen=True)
class DisruptedPods:
    """The live entries of `status.disruptedPods`, the pods whose entries expired (kube
    records a NotDeleted event for them), and when the next live entry expires."""

    live: dict[str, str]
    expired: list[str]
    recheck_at: datetime | None


def disrupted_pods(pods: Iterable[Obj], recorded: dict[str, str] | None, now: datetime,
                   timeout: float = DELETION_TIMEOUT_SECONDS) -> DisruptedPods:
    """Entries for pods that still exist and are not yet being deleted, and younger
    than `timeout` (kube's buildDisruptedPodMap). Pods already gone or terminating
    drop out: their deletion is under way and shows in the pod itself."""
    live: dict[str, str] = {}
    expired: list[str] = []
    recheck: datetime | None = None
    recorded = recorded or {}
    for pod in pods:
        if meta.is_terminating(pod):
            continue
        name = meta.name_of(pod)
        if name not in recorded:
            continue
        since = meta.parse_time(recorded[name])
        if since is None:
            continue
        deadline = since + timedelta(seconds=timeout)
        if deadline < now:
            expired.append(name)
            continue
        live[name] = recorded[name]
        if recheck is None or deadline < recheck:
            recheck = deadline
    return DisruptedPods(live, expired, recheck)


def count_healthy(pods: Iterable[Obj], disrupted: dict[str, str]) -> int:
    """Ready pods not being deleted and not already spent by an eviction."""
    return sum(1 for pod in pods
               if not meta.is_terminating(pod) and meta.name_of(pod) not in disrupted
               and is_ready(pod))


def disruptions_allowed(current_healthy: int, desired_healthy: int, expected: int) -> int:
    """No disruption while the budget matches no pods: a budget whose first pods have
    just appeared must be safe before the controller has looked at them."""
    if expected <= 0:
        return 0
    return max(0, current_healthy - desired_healthy)


def _same_condition(old: Obj | None, status: str, reason: str, message: str,
                    generation: int) -> bool:
    return old is not None and (old.get("status"), old.get("reason"),
                                old.get("message") or "", old.get("observedGeneration")) == (
        status, reason, message, generation)


def with_condition(conditions: list[Obj] | None, status: str, reason: str, message: str,
                   generation: int, now: datetime) -> list[Obj]:
    """The conditions with DisruptionAllowed set (metav1 SetStatusCondition: the
    transition time moves only when the status does)."""
    out = [dict(c) for c in conditions or [] if isinstance(c, dict)]
    for cond in out:
        if cond.get("type") == DISRUPTION_ALLOWED:
            if cond.get("status") != status or not cond.get("lastTransitionTime"):
                cond["lastTransitionTime"] = meta.rfc3339(now)
            cond.update(status=status, reason=reason, message=message,
                        observedGeneration=generation)
            return out
    out.append({"type": DISRUPTION_ALLOWED, "status": status, "reason": reason,
                "message": message, "observedGeneration": generation,
                "lastTransitionTime": meta.rfc3339(now)})
    return out


def budget_status(old: Obj, *, generation: int, expected: int, desired_healthy: int,
                  current_healthy: int, disrupted: dict[str, str], now: datetime) -> Obj:
    """The status the controller writes (kube's updatePdbStatus)."""
    allowed = disruptions_allowed(current_healthy, desired_healthy, expected)
    status: Obj = {
        "observedGeneration": generation,
        "disruptionsAllowed": allowed,
        "currentHealthy": current_healthy,
        "desiredHealthy": desired_healthy,
        "expectedPods": expected,
    }
    if disrupted:
        status["disruptedPods"] = dict(disrupted)
    old_conditions = old.get("conditions")
    cond_status, reason = (("True", SUFFICIENT_PODS) if allowed > 0
                           else ("False", INSUFFICIENT_PODS))
    current = next((c for c in old_conditions or []
                    if isinstance(c, dict) and c.get("type") == DISRUPTION_ALLOWED), None)
    if _same_condition(current, cond_status, reason, "", generation):
        status["conditions"] = old_conditions
    else:
        status["conditions"] = with_condition(old_conditions, cond_status, reason, "",
                                              generation, now)
    return status


def fail_safe_status(old: Obj, message: str, now: datetime) -> Obj:
    """No disruptions while the budget cannot be computed (kube's failSafe)."""
    status = copy.deepcopy(old)
    status["disruptionsAllowed"] = 0
    generation = int(old.get("observedGeneration") or 0)
    current = next((c for c in old.get("conditions") or []
                    if isinstance(c, dict) and c.get("type") == DISRUPTION_ALLOWED), None)
    if not _same_condition(current, "False", SYNC_FAILED, message, generation):
        status["conditions"] = with_condition(old.get("conditions"), "False", SYNC_FAILED,
                                              message, generation, now)
    return status


def status_equal(a: Obj, b: Obj) -> bool:
    """Equal as kube compares them: an empty disruptedPods map is no map."""
    def norm(status: Obj) -> Obj:
        out = {k: v for k, v in status.items() if v not in (None, {}, [])}
        for field in ("disruptionsAllowed", "currentHealthy", "desiredHealthy",
                      "expectedPods", "observedGeneration"):
            out[field] = int(status.get(field) or 0)
        return out
    return norm(a) == norm(b)


# -- the controller --------------------------------------------------------------------


class DisruptionController(Controller):
    name = "disruption-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 deletion_timeout_seconds: float = DELETION_TIMEOUT_SECONDS,
                 now: Callable[[], datetime] = meta.now) -> None:
        super().__init__(client, informers, recorder, config)
        self.deletion_timeout_seconds = deletion_timeout_seconds
        self.now = now

    def setup(self) -> None:
        self.pdbs = self.informer(PDBS)
        self.pdbs.add_event_handler(**self.enqueue_by(key_of))
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(on_add=self._pod_changed,
                                    on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        self.replica_sets = self.informer(REPLICA_SETS)
        self.deployments = self.informer(DEPLOYMENTS)
        self.stateful_sets = self.informer(STATEFUL_SETS)
        for informer in (self.replica_sets, self.deployments, self.stateful_sets):
            informer.add_event_handler(on_add=self._owner_changed,
                                       on_update=self._owner_updated,
                                       on_delete=self._owner_changed)

    # -- events -------------------------------------------------------------------------

    def _budgets_for(self, namespace: str, labels: dict[str, str]) -> list[Obj]:
        budgets = []
        for pdb in self.pdbs.store.by_index(NAMESPACE_INDEX, namespace):
            selector = _selector(pdb)
            if selector is not None and selector.matches(labels):
                budgets.append(pdb)
        return budgets

    def _pod_changed(self, pod: Obj) -> None:
        for pdb in self._budgets_for(meta.namespace_of(pod), meta.labels_of(pod)):
            self.queue.add(key_of(pdb))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._pod_changed(new)
        if meta.labels_of(old) != meta.labels_of(new):
            self._pod_changed(old)

    def _owner_changed(self, owner: Obj) -> None:
        # A new scale changes the expected count of every budget over its pods.
        for pdb in self.pdbs.store.by_index(NAMESPACE_INDEX, meta.namespace_of(owner)):
            self.queue.add(key_of(pdb))

    def _owner_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("spec") or {}).get("replicas") != (new.get("spec") or {}).get("replicas"):
            self._owner_changed(new)

    # -- reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        pdb = self.pdbs.store.get(namespace, name)
        if pdb is None:
            return
        selector = _selector(pdb)
        pods = [] if selector is None else [
            pod for pod in self.pods.store.by_index(NAMESPACE_INDEX, namespace)
            if selector.matches(meta.labels_of(pod))]
        now = self.now()
        spec = pdb.get("spec") or {}
        if not pods:
            self.recorder.event(pdb, "Normal", "NoPods", "No matching pods found")
        try:
            scale_total: int | None = None
            if needs_scale(spec):
                scale_total, unmanaged = await self._expected_scale(pods)
                if unmanaged:
                    self.recorder.event(
                        pdb, "Warning", "UnmanagedPods",
                        "Pods selected by this PodDisruptionBudget (selector: "
                        f"{_selector_text(spec)}) were found to be unmanaged. As a result, "
                        "the status of the PDB cannot be calculated correctly, which may "
                        "result in undefined behavior. To account for these pods please set "
                        "\".spec.minAvailable\" field of the PDB to an integer value.")
            expected, desired = expected_and_desired(spec, len(pods), scale_total)
        except ExpectedCountError as exc:
            self.recorder.event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                                f"Failed to calculate the number of expected pods: {exc}")
            await self._write(pdb, fail_safe_status(pdb.get("status") or {}, str(exc), now))
            return

        old_status = pdb.get("status") or {}
        disrupted = disrupted_pods(pods, old_status.get("disruptedPods"), now,
                                   self.deletion_timeout_seconds)
        for pod_name in disrupted.expired:
            pod = next(p for p in pods if meta.name_of(p) == pod_name)
            self.recorder.event(pod, "Warning", "NotDeleted",
                                f"Pod was expected by PDB {namespace}/{name} to be deleted "
                                "but it wasn't")
        status = budget_status(
            old_status, generation=int(meta.metadata(pdb).get("generation") or 0),
            expected=expected, desired_healthy=desired,
            current_healthy=count_healthy(pods, disrupted.live),
            disrupted=disrupted.live, now=now)
        await self._write(pdb, status)
        if disrupted.recheck_at is not None:
            self.queue.add_after(key, max(0.0, (disrupted.recheck_at - now).total_seconds()))

    async def _write(self, pdb: Obj, status: Obj) -> None:
        if status_equal(pdb.get("status") or {}, status):
            return
        updated = {k: v for k, v in pdb.items() if k != "status"}
        updated["metadata"] = dict(pdb["metadata"])  # carries resourceVersion: CAS
        updated["status"] = status
        try:
            await self.client.update_status(PDBS, updated)
        except APIError as exc:
            if exc.is_not_found:
                return
            raise  # a conflict: an eviction got there first; retried from fresh state

    # -- expected scale -----------------------------------------------------------------

    async def _expected_scale(self, pods: list[Obj]) -> tuple[int, list[str]]:
        """The sum of the scales of the pods' controllers, and the pods with none
        (kube's getExpectedScale)."""
        scales: dict[str, int] = {}
        unmanaged: list[str] = []
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None:
                unmanaged.append(meta.name_of(pod))
                continue
            if ref.get("uid") in scales:
                continue
            found = await self._controller_scale(ref, meta.namespace_of(pod))
            if found is None:
                raise ExpectedCountError(f'found no controllers for pod "{meta.name_of(pod)}"')
            uid, replicas = found
            scales[uid] = replicas
        return sum(scales.values()), unmanaged

    async def _controller_scale(self, ref: Obj, namespace: str) -> tuple[str, int] | None:
        kind = str(ref.get("kind") or "")
        name = str(ref.get("name") or "")
        uid = str(ref.get("uid") or "")
        try:
            group, _ = split_api_version(str(ref.get("apiVersion") or ""))
        except ValueError:
            return None
        if group in _APPS_GROUPS and kind == "ReplicaSet":
            rs = self.replica_sets.store.get(namespace, name)
            if rs is not None and meta.metadata(rs).get("uid") == uid:
                owner = controller_ref(rs)
                if owner is None or owner.get("kind") != "Deployment":
                    return uid, _replicas(rs)
                deployment = self.deployments.store.get(namespace, str(owner.get("name")))
                if deployment is not None and \
                        meta.metadata(deployment).get("uid") == owner.get("uid"):
                    return str(owner.get("uid")), _replicas(deployment)
        elif group in _APPS_GROUPS and kind == "StatefulSet":
            sts = self.stateful_sets.store.get(namespace, name)
            if sts is not None and meta.metadata(sts).get("uid") == uid:
                return uid, _replicas(sts)
        return await self._scale_subresource(ref, namespace)

    async def _scale_subresource(self, ref: Obj, namespace: str) -> tuple[str, int] | None:
        """Any other owner, through its scale subresource (kube's getScaleController)."""
        api_version = str(ref.get("apiVersion") or "")
        kind = str(ref.get("kind") or "")
        try:
            resource = await self.client.resource(kind, api_version)
        except LookupError as exc:
            raise ExpectedCountError(str(exc)) from None
        try:
            scale = await self.client.get(resource, str(ref.get("name")), namespace,
                                          subresource="scale")
        except APIError as exc:
            if not exc.is_not_found:
                raise
            entries = await self.client.api_resources(api_version)
            if not any(e.get("name") == f"{resource.plural}/scale" for e in entries):
                raise ExpectedCountError(
                    f"{resource.qualified} does not implement the scale subresource") from None
            return None
        if meta.metadata(scale).get("uid") != ref.get("uid"):
            return None
        return str(ref.get("uid")), int((scale.get("spec") or {}).get("replicas") or 0)


def _replicas(obj: Obj) -> int:
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def _selector(pdb: Obj) -> LabelSelector | None:
    """policy/v1: a null selector matches no pods, an empty one every pod."""
    raw = (pdb.get("spec") or {}).get("selector")
    if raw is None:
        return None
    try:
        return LabelSelector.from_dict(raw)
    except Exception:
        return None


def _selector_text(spec: Obj) -> str:
    selector = _selector({"spec": spec})
    return selector.to_string() if selector is not None else "<none>"
