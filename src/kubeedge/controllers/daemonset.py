"""The DaemonSet controller (kube's daemon controller): one pod per node that the
daemon's pod may run on, placed by required node affinity on `metadata.name` so the
scheduler binds it; rolling updates bounded by maxUnavailable / maxSurge, or OnDelete;
template history in ControllerRevisions (`<ds>-<hash>`, which `kubectl rollout undo`
reads); status counts for `kubectl get ds` and `kubectl rollout status`.

Edge nodes (`node-role.kubernetes.io/edge`) are nodes like any other. Pods bound to a
node that is gone are left to pod GC, as in kube; unbound ones are deleted here.

Never binds pods itself (spec.nodeName is the scheduler's) and never writes nodes.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubeedge.api import meta
from kubeedge.api.placement import fits_node_selection, untolerated_taints
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
    template_hash,
)
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DAEMONSETS = ResourceRef("apps", "v1", "daemonsets", True, "DaemonSet")
PODS = ResourceRef("", "v1", "pods", True, "Pod")
NODES = ResourceRef("", "v1", "nodes", False, "Node")

# kube's DaemonSet pod labels and the annotation the API server keeps on the DaemonSet.
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

# Tolerations every daemon pod gets (kube's AddOrUpdateDaemonPodTolerations): daemons
# keep running through the node conditions that would evict or block other pods.
DAEMON_TOLERATIONS: tuple[Obj, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
HOST_NETWORK_TOLERATION: Obj = {"key": "node.kubernetes.io/network-unavailable",
                                "operator": "Exists", "effect": "NoSchedule"}

# kube's failed-daemon-pod back-off (1 s doubling to 15 min per node).
FAILED_POD_BACKOFF_INITIAL = 1.0
FAILED_POD_BACKOFF_MAX = 900.0
# kube's slow start: create in batches of 1, 2, 4, ... so a broken template fails once.
SLOW_START_INITIAL_BATCH = 1


# ------------------------------------------------------------------ placement (pure)


def with_daemon_tolerations(spec: Obj) -> Obj:
    """`spec` (a pod spec, changed in place and returned) with the daemon tolerations;
    one that matches on key, operator, value and effect is replaced, as kube does."""
    wanted = list(DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(HOST_NETWORK_TOLERATION)
    tolerations = [t for t in spec.get("tolerations") or [] if isinstance(t, dict)]
    for toleration in wanted:
        same = ("key", "operator", "value", "effect")
        for i, existing in enumerate(tolerations):
            if all((existing.get(k) or "") == (toleration.get(k) or "") for k in same):
                tolerations[i] = dict(toleration)
                break
        else:
            tolerations.append(dict(toleration))
    spec["tolerations"] = tolerations
    return spec


def with_node_name_affinity(spec: Obj, node_name: str) -> Obj:
    """`spec` (changed in place) requiring node `node_name` through required node
    affinity: every term's matchFields become `metadata.name In [node]` and its
    matchExpressions stay (kube's ReplaceDaemonSetPodNodeNameNodeAffinity)."""
    fields = [{"key": "metadata.name", "operator": "In", "values": [node_name]}]
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, dict)]
    if not terms:
        terms = [{"matchFields": fields}]
    else:
        terms = [{**t, "matchFields": copy.deepcopy(fields)} for t in terms]
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        **required, "nodeSelectorTerms": terms}
    return spec


def fits_node(spec: Obj, node: Obj) -> bool:
    """nodeName, nodeSelector and required node affinity of a pod spec against a node."""
    return fits_node_selection(spec, meta.labels_of(node), meta.name_of(node))


def daemon_pod_spec(ds: Obj, node_name: str) -> Obj:
    """The pod spec the daemon pod for `node_name` gets."""
    spec = copy.deepcopy(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    with_daemon_tolerations(spec)
    with_node_name_affinity(spec, node_name)
    return spec


def node_should_run(node: Obj, ds: Obj) -> tuple[bool, bool]:
    """(should run, should keep running) a daemon pod on `node` (kube's
    NodeShouldRunDaemonPod): the pod must fit the node; an untolerated NoSchedule taint
    stops new pods but keeps a running one; an untolerated NoExecute taint stops both."""
    spec = daemon_pod_spec(ds, meta.name_of(node))
    if not fits_node(spec, node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = spec.get("tolerations") or []
    if untolerated_taints(tolerations, taints, ("NoExecute",)):
        return False, False
    if untolerated_taints(tolerations, taints, ("NoSchedule",)):
        return False, True
    return True, True


def target_node(pod: Obj) -> str:
    """The node a daemon pod is for: its nodeName, or the node its required affinity
    names while it is not yet bound (kube's GetTargetNodeName)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for req in (term or {}).get("matchFields") or []:
            values = req.get("values") or []
            if (req.get("key") == "metadata.name" and req.get("operator") == "In"
                    and len(values) == 1):
                return str(values[0])
    return ""


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """An IntOrString (`3` or `"25%"`) against `total` (kube's
    GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            percent = int(value[:-1])
        except ValueError:
            return 0
        exact = percent * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def rolling_limits(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts; both zero means one unavailable."""
    rolling = (((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate")
               or {})
    surge = scaled_value(rolling.get("maxSurge", 0), desired, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", 1), desired, True)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_updated(pod: Obj, hash_: str, generation: str | None) -> bool:
    """kube's IsPodUpdated: the pod carries the current hash (or template generation)."""
    labels = meta.labels_of(pod)
    if hash_ and labels.get(history.CONTROLLER_REVISION_HASH) == hash_:
        return True
    return generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == generation


def _scheduled_then_oldest(pod: Obj) -> tuple[int, str, str]:
    md = pod.get("metadata") or {}
    bound = 0 if (pod.get("spec") or {}).get("nodeName") else 1
    return bound, md.get("creationTimestamp") or "", md.get("name") or ""


@dataclass
class NodePlan:
    """What a sync decided: nodes to create a pod on, pods to delete, and warnings."""

    create_on: list[str] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    failed: list[tuple[Obj, str]] = field(default_factory=list)
    requeue_after: float | None = None


def updated_pair(pods: list[Obj], hash_: str, generation: str | None
                 ) -> tuple[Obj | None, Obj | None, bool]:
    """(new pod, old pod, ok) on one node, ignoring terminating pods; not ok when there
    are two of one kind (kube's findUpdatedPodsOnNode)."""
    new = old = None
    for pod in pods:
        if meta.is_terminating(pod):
            continue
        if is_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def plan_rolling_update(ds: Obj, nodes: dict[str, Obj], by_node: dict[str, list[Obj]],
                        hash_: str, now: datetime) -> NodePlan:
    """Old pods to replace this pass (kube's rollingUpdate), within maxUnavailable or,
    when surging, maxSurge extra new pods."""
    spec = ds.get("spec") or {}
    min_ready = float(spec.get("minReadySeconds") or 0)
    generation = _template_generation(ds)
    desired = sum(1 for n in nodes.values() if node_should_run(n, ds)[0])
    max_surge, max_unavailable = rolling_limits(ds, desired)
    plan = NodePlan()

    def available(pod: Obj) -> bool:
        return is_available(pod, min_ready, now)

    if max_surge == 0:
        unavailable = 0
        replace_now: list[Obj] = []
        candidates: list[Obj] = []
        # Every node that should run a daemon pod counts, with or without pods (kube
        # walks the node list): one whose pod was just deleted and whose replacement
        # is not in the cache yet is unavailable too.
        should_run = {name for name, node in nodes.items() if node_should_run(node, ds)[0]}
        for node_name in sorted(should_run | set(by_node)):
            new, old, ok = updated_pair(by_node.get(node_name, []), hash_, generation)
            if not ok or (new is None) == (old is None):
                unavailable += 1  # the manage loop sorts this node out
            elif new is not None:
                if not available(new):
                    unavailable += 1
            elif old is not None and not available(old):
                replace_now.append(old)
            elif unavailable < max_unavailable and old is not None:
                candidates.append(old)
        room = min(max(max_unavailable - unavailable, 0), len(candidates))
        plan.delete = replace_now + candidates[:room]
        return plan

    surge = 0
    allowed: list[str] = []
    candidates_new: list[str] = []
    for node_name in sorted(by_node):
        new, old, ok = updated_pair(by_node[node_name], hash_, generation)
        if not ok:
            surge += 1
            continue
        if old is None:
            continue
        node = nodes.get(node_name)
        should_run = node is not None and node_should_run(node, ds)[0]
        if new is None:
            if not should_run:
                if not available(old):
                    plan.delete.append(old)
                continue
            if not available(old):
                allowed.append(node_name)
            elif surge < max_surge:
                candidates_new.append(node_name)
        elif not available(new):
            surge += 1
        else:
            plan.delete.append(old)
    room = min(max(max_surge - surge, 0), len(candidates_new))
    plan.create_on = allowed + candidates_new[:room]
    return plan


def _template_generation(ds: Obj) -> str | None:
    annotations = (ds.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(TEMPLATE_GENERATION_ANNOTATION)
    return str(value) if value is not None else None


# ------------------------------------------------------------------ expectations


@dataclass
class _Expected:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    since: float = 0.0


class Expectations:
    """Creates and deletes a controller made but has not yet seen in its informer
    (kube's ControllerExpectations): until they arrive (or `timeout` passes) a sync
    must not act on the cache, or it would create the same pods twice."""

    def __init__(self, clock_now: Any, timeout: float) -> None:
        self._now = clock_now
        self.timeout = timeout
        self._by_key: dict[str, _Expected] = {}

    def expect(self, key: str, adds: int = 0, deletes: Iterable[str] = ()) -> None:
        entry = self._by_key.setdefault(key, _Expected())
        entry.adds += adds
        entry.deletes.update(deletes)
        entry.since = self._now()

    def created(self, key: str) -> None:
        entry = self._by_key.get(key)
        if entry is not None and entry.adds > 0:
            entry.adds -= 1

    def deleted(self, key: str, name: str) -> None:
        entry = self._by_key.get(key)
        if entry is not None:
            entry.deletes.discard(name)

    def satisfied(self, key: str) -> bool:
        entry = self._by_key.get(key)
        if entry is None or (entry.adds <= 0 and not entry.deletes):
            return True
        return self._now() - entry.since > self.timeout

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)


# ------------------------------------------------------------------ the controller


class DaemonSetController(Controller):
    name = "daemonset-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 expectations_timeout_seconds: float = 300.0) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.concurrent_daemonset_syncs
        self.expectations = Expectations(client.clock.now, expectations_timeout_seconds)
        # (ds key, node) -> (delay, retry not before): kube's failedPodsBackoff.
        self._failed_backoff: dict[tuple[str, str], tuple[float, float]] = {}

    # -- informers and handlers ------------------------------------------------------

    def setup(self) -> None:
        self.sets = self.informer(DAEMONSETS)
        self.sets.add_event_handler(**self.enqueue_by(object_key))
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)
        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(on_add=lambda _n: self._enqueue_all(),
                                     on_update=self._node_updated,
                                     on_delete=lambda _n: self._enqueue_all())
        self.revisions = self.informer(history.CONTROLLER_REVISIONS)
        self.revisions.add_event_handler(**self.enqueue_by(self._owner_key))

    @staticmethod
    def _owner_key(obj: Obj) -> str | None:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != "DaemonSet":
            return None
        return f"{meta.namespace_of(obj)}/{ref.get('name')}"

    def _enqueue_all(self) -> None:
        for ds in self.sets.store.list():
            self.queue.add(object_key(ds))

    def _node_updated(self, old: Obj, new: Obj) -> None:
        def placement(node: Obj) -> Any:
            spec = node.get("spec") or {}
            return (meta.labels_of(node), spec.get("taints"), spec.get("unschedulable"))

        if placement(old) != placement(new):
            self._enqueue_all()

    def _enqueue_matching(self, pod: Obj) -> None:
        labels = meta.labels_of(pod)
        for ds in self.sets.store.by_index(NAMESPACE_INDEX, meta.namespace_of(pod)):
            if LabelSelector.from_dict((ds.get("spec") or {}).get("selector")).matches(labels):
                self.queue.add(object_key(ds))

    def _pod_added(self, pod: Obj) -> None:
        if meta.is_terminating(pod):
            self._pod_deleted(pod)
            return
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.created(key)
            self.queue.add(key)
        elif controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        old_key, key = self._owner_key(old), self._owner_key(new)
        if meta.is_terminating(new) and not meta.is_terminating(old) and key is not None:
            self.expectations.deleted(key, meta.name_of(new))
        if old_key is not None and old_key != key:
            self.queue.add(old_key)
        if key is not None:
            self.queue.add(key)
        elif controller_ref(new) is None and (
                meta.labels_of(old) != meta.labels_of(new) or old_key is not None):
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deleted(key, meta.name_of(pod))
            self.queue.add(key)

    # -- reconcile ---------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        ds = self.sets.store.get(namespace, name)
        if ds is None:
            self.expectations.forget(key)
            for backoff_key in [k for k in self._failed_backoff if k[0] == key]:
                del self._failed_backoff[backoff_key]
            return
        if meta.is_terminating(ds):
            return  # the garbage collector removes the pods
        nodes = {meta.name_of(n): n for n in self.nodes.store.list()}
        pods = await self._claim_pods(ds)
        try:
            revisions, current = await self._construct_history(ds)
        except history.HashCollision:
            count = int((ds.get("status") or {}).get("collisionCount") or 0) + 1
            await self.client.patch(DAEMONSETS, name, {"status": {"collisionCount": count}},
                                    namespace, patch_type="merge", subresource="status")
            raise
        hash_ = meta.labels_of(current)[history.CONTROLLER_REVISION_HASH]
        by_node = self._by_node(pods)
        if self.expectations.satisfied(key):
            plan = self._plan_nodes(key, ds, nodes, by_node, hash_)
            await self._sync_nodes(key, ds, plan, hash_)
            strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type")
            if self.expectations.satisfied(key) and strategy != "OnDelete":
                update = plan_rolling_update(ds, nodes, by_node, hash_, meta.now())
                await self._sync_nodes(key, ds, update, hash_)
            await self._cleanup_history(ds, pods, revisions, current)
            if plan.requeue_after is not None:
                self.queue.add_after(key, plan.requeue_after)
        await self._update_status(ds, nodes, self._by_node(await self._claim_pods(ds)), hash_)
        min_ready = float((ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0:
            # Pods become available with time alone: look again when they may have.
            self.queue.add_after(key, min_ready)

    async def _claim_pods(self, ds: Obj) -> list[Obj]:
        selector = LabelSelector.from_dict((ds.get("spec") or {}).get("selector"))
        candidates = self.pods.store.by_index(NAMESPACE_INDEX, meta.namespace_of(ds))
        pods = await claim(self.client, PODS, ds, candidates,
                           lambda p: selector.matches(meta.labels_of(p)))
        # Finished pods on their way out count for nothing (kube skips them).
        return [p for p in pods
                if not (meta.is_terminating(p) and phase_of(p) in ("Succeeded", "Failed"))]

    @staticmethod
    def _by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            by_node.setdefault(target_node(pod), []).append(pod)
        return by_node

    def _plan_nodes(self, key: str, ds: Obj, nodes: dict[str, Obj],
                    by_node: dict[str, list[Obj]], hash_: str) -> NodePlan:
        """kube's podsShouldBeOnNode over every node, plus unbound pods whose node is
        gone."""
        plan = NodePlan()
        surge = rolling_limits(ds, len(nodes))[0] > 0 and (
            ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type") != "OnDelete")
        min_ready = float((ds.get("spec") or {}).get("minReadySeconds") or 0)
        now = self.client.clock.now()
        for node_name, node in sorted(nodes.items()):
            should_run, should_continue = node_should_run(node, ds)
            pods = by_node.get(node_name, [])
            if should_run and not pods:
                plan.create_on.append(node_name)
            elif should_run:
                running: list[Obj] = []
                for pod in pods:
                    if meta.is_terminating(pod):
                        continue
                    if phase_of(pod) in ("Failed", "Succeeded"):
                        delay = self._failed_pod_delay(key, node_name, now)
                        if delay > 0:
                            plan.requeue_after = min(plan.requeue_after or delay, delay)
                            continue
                        if phase_of(pod) == "Failed":
                            plan.failed.append((pod, node_name))
                        plan.delete.append(pod)
                    else:
                        running.append(pod)
                running.sort(key=_scheduled_then_oldest)
                if not surge:
                    plan.delete.extend(running[1:])
                    continue
                if not running:
                    plan.create_on.append(node_name)
                    continue
                oldest_new = oldest_old = None
                for pod in running:
                    if is_updated(pod, hash_, _template_generation(ds)):
                        if oldest_new is None:
                            oldest_new = pod
                            continue
                    elif oldest_old is None:
                        oldest_old = pod
                        continue
                    plan.delete.append(pod)
                if oldest_new is not None and oldest_old is not None and (
                        not is_ready(oldest_old)
                        or is_available(oldest_new, min_ready, meta.now())):
                    plan.delete.append(oldest_old)
            elif not should_continue:
                plan.delete.extend(p for p in pods if not meta.is_terminating(p))
        for node_name, pods in by_node.items():
            if node_name in nodes:
                continue
            plan.delete.extend(p for p in pods if not meta.is_terminating(p)
                               and not (p.get("spec") or {}).get("nodeName"))
        return plan

    def _failed_pod_delay(self, key: str, node_name: str, now: float) -> float:
        """Seconds until a failed pod on this node may be replaced again; 0 means now
        (and starts the next, doubled, back-off)."""
        delay, not_before = self._failed_backoff.get((key, node_name), (0.0, 0.0))
        if now < not_before:
            return not_before - now
        delay = min(max(delay * 2, FAILED_POD_BACKOFF_INITIAL), FAILED_POD_BACKOFF_MAX)
        self._failed_backoff[(key, node_name)] = (delay, now + delay)
        return 0.0

    async def _sync_nodes(self, key: str, ds: Obj, plan: NodePlan, hash_: str) -> None:
        """Create the planned pods in slow-start batches and delete the planned ones,
        recording kube's events; raise after recording when any write failed."""
        for pod, node_name in plan.failed:
            self.recorder.event(
                ds, "Warning", "FailedDaemonPod",
                f"Found failed daemon pod {meta.namespace_of(pod)}/{meta.name_of(pod)} on "
                f"node {node_name}, will try to kill it")
        deletes = list({meta.name_of(p): p for p in plan.delete}.values())
        self.expectations.expect(key, adds=len(plan.create_on),
                                 deletes=[meta.name_of(p) for p in deletes])
        errors: list[BaseException] = []
        pending = list(plan.create_on)
        batch = SLOW_START_INITIAL_BATCH
        skipped = False
        while pending:
            now_batch, pending = pending[:batch], pending[batch:]
            results = await asyncio.gather(
                *(self._create_pod(key, ds, node_name, hash_) for node_name in now_batch),
                return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            errors.extend(failures)
            if failures:
                skipped = True
                break
            batch *= 2
        if skipped:
            for _ in pending:
                self.expectations.created(key)
        results = await asyncio.gather(*(self._delete_pod(key, ds, p) for p in deletes),
                                       return_exceptions=True)
        errors.extend(r for r in results if isinstance(r, BaseException))
        if errors:
            raise errors[0]

    async def _create_pod(self, key: str, ds: Obj, node_name: str, hash_: str) -> None:
        template = (ds.get("spec") or {}).get("template") or {}
        labels = {history.CONTROLLER_REVISION_HASH: hash_}
        generation = _template_generation(ds)
        if generation is not None:
            labels[TEMPLATE_GENERATION_LABEL] = generation
        pod = pod_from_template(template, ds, generate_name=f"{meta.name_of(ds)}-",
                                extra_labels=labels)
        pod["spec"] = daemon_pod_spec(ds, node_name)
        try:
            created = await self.client.create(PODS, pod, meta.namespace_of(ds))
        except APIError as exc:
            self.expectations.created(key)
            if exc.is_forbidden and "being terminated" in str(exc):
                return  # the namespace is going away; nothing to do
            self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            raise
        except BaseException:
            self.expectations.created(key)
            raise
        self.recorder.event(ds, "Normal", "SuccessfulCreate",
                            f"Created pod: {meta.name_of(created)}")

    async def _delete_pod(self, key: str, ds: Obj, pod: Obj) -> None:
        name = meta.name_of(pod)
        try:
            await self.client.delete(PODS, name, meta.namespace_of(pod),
                                     preconditions={"uid": meta.metadata(pod).get("uid", "")})
        except APIError as exc:
            self.expectations.deleted(key, name)
            if exc.is_not_found or exc.is_conflict:
                return  # already gone (or replaced by another pod of that name)
            self.recorder.event(ds, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            raise
        except BaseException:
            self.expectations.deleted(key, name)
            raise
        self.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    # -- history -----------------------------------------------------------------------

    async def _construct_history(self, ds: Obj) -> tuple[list[Obj], Obj]:
        """The DaemonSet's revisions and the one for its current template, created or
        moved to the head of the history as needed (kube's constructHistory)."""
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        selector = LabelSelector.from_dict(spec.get("selector"))
        candidates = self.revisions.store.by_index(NAMESPACE_INDEX, meta.namespace_of(ds))
        revisions = await claim(self.client, history.CONTROLLER_REVISIONS, ds, candidates,
                                lambda r: selector.matches(meta.labels_of(r)))
        collision = int((ds.get("status") or {}).get("collisionCount") or 0)
        hash_ = template_hash(template, collision)
        data = history.template_patch(template)
        wanted = history.new_revision(
            ds, data, 0, hash_, template_labels=(template.get("metadata") or {}).get("labels"),
            extra_labels={history.CONTROLLER_REVISION_HASH: hash_},
            annotations=(ds.get("metadata") or {}).get("annotations"))
        matching = [r for r in revisions if history.equal_data(r, wanted)]
        others = [r for r in revisions if not history.equal_data(r, wanted)]
        head = history.max_revision(others) + 1
        if not matching:
            wanted["revision"] = head
            current = await history.create(self.client, wanted)
            return [*others, current], current
        # Duplicates (same data): keep the newest, drop the rest.
        matching = history.sort_revisions(matching)
        current = matching[-1]
        for dup in matching[:-1]:
            await history.truncate(self.client, [dup], set(), 0)
        if history.revision_number(current) < head:
            current = await history.renumber(self.client, current, head)
        if history.CONTROLLER_REVISION_HASH not in meta.labels_of(current):
            hash_ = meta.name_of(current).rpartition("-")[2]
            current = await self.client.patch(
                history.CONTROLLER_REVISIONS, meta.name_of(current),
                {"metadata": {"labels": {history.CONTROLLER_REVISION_HASH: hash_}}},
                meta.namespace_of(current), patch_type="merge")
        return [*others, current], current

    async def _cleanup_history(self, ds: Obj, pods: list[Obj], revisions: list[Obj],
                               current: Obj) -> None:
        limit = (ds.get("spec") or {}).get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        live_hashes = {meta.labels_of(p).get(history.CONTROLLER_REVISION_HASH) for p in pods}
        live = {meta.name_of(current)} | {
            meta.name_of(r) for r in revisions
            if meta.labels_of(r).get(history.CONTROLLER_REVISION_HASH) in live_hashes}
        await history.truncate(self.client, revisions, live, limit)

    # -- status ------------------------------------------------------------------------

    def compute_status(self, ds: Obj, nodes: dict[str, Obj], by_node: dict[str, list[Obj]],
                       hash_: str, now: datetime) -> Obj:
        spec = ds.get("spec") or {}
        min_ready = float(spec.get("minReadySeconds") or 0)
        generation = _template_generation(ds)
        desired = current = misscheduled = ready = available = updated = 0
        for node_name, node in nodes.items():
            should_run, _ = node_should_run(node, ds)
            pods = sorted((p for p in by_node.get(node_name, [])
                           if not meta.is_terminating(p)), key=_scheduled_then_oldest)
            if should_run:
                desired += 1
                if pods:
                    current += 1
                    pod = pods[0]
                    if is_ready(pod):
                        ready += 1
                        if is_available(pod, min_ready, now):
                            available += 1
                    if is_updated(pod, hash_, generation):
                        updated += 1
            elif pods:
                misscheduled += 1
        status = dict(ds.get("status") or {})
        status.update({
            "observedGeneration": int((ds.get("metadata") or {}).get("generation") or 0),
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": current,
            "numberMisscheduled": misscheduled,
            "numberReady": ready,
            "numberAvailable": available,
            "updatedNumberScheduled": updated,
            "numberUnavailable": desired - available,
        })
        return status

    async def _update_status(self, ds: Obj, nodes: dict[str, Obj],
                             by_node: dict[str, list[Obj]], hash_: str) -> None:
        status = self.compute_status(ds, nodes, by_node, hash_, meta.now())
        if status == (ds.get("status") or {}):
            return
        try:
            await self.client.patch(DAEMONSETS, meta.name_of(ds), {"status": status},
                                    meta.namespace_of(ds), patch_type="merge",
                                    subresource="status")
        except APIError as exc:
            if not exc.is_not_found:
                raise
