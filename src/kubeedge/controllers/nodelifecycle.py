"""Node lifecycle: notice nodes that stopped reporting, taint them, and evict the pods of
cloud nodes that do not tolerate the taints (kube-controller-manager's node lifecycle
controller with TaintNodesByCondition and taint-based eviction, plus its NoExecute
taint manager).

Every monitor period each node's last heartbeat is the later of two things the
controller *observed* changing, on its own clock: the Ready condition's
`lastHeartbeatTime` and the node's Lease in `kube-node-lease` (`renewTime`). Times the
node stamps are never compared with ours, so a node with a skewed clock is judged by
when we saw it, as kube does. A node silent for longer than the grace period (the
startup grace period while it never reported Ready) gets Ready, MemoryPressure,
DiskPressure and PIDPressure set to Unknown ("Kubelet stopped posting node status.").

Taints follow the conditions: Ready False is `node.kubernetes.io/not-ready`, Ready
Unknown is `node.kubernetes.io/unreachable`, each as NoSchedule and as NoExecute (with
`timeAdded`); they go away when the node is Ready again. Edge autonomy, the point of
this platform: nodes labelled `node-role.kubernetes.io/edge` get the NoSchedule taints
only, their pods are neither evicted nor marked NotReady while the edge is offline (the
edge keeps running them from its local store), unless `edgeNodeEviction` is on.

When every node of every zone is not Ready, the controller is probably the one cut off,
so it stops evicting and lifts the NoExecute taints (kube's full disruption mode); a
small zone (at most 50 nodes) with more than two and at least 55 % of its nodes not
Ready adds no new NoExecute taints (kube's partial disruption with a zero rate).

Writes go through the API client only (ARCHITECTURE.md rule 1). Never evicts a pod or
marks it NotReady because its edge node went silent, unless edge eviction is on (a
NoExecute taint someone else puts on an edge node is honoured, as in kube).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubeedge.api import meta
from kubeedge.api.placement import EDGE_ROLE_LABEL, tolerates_taint
from kubeedge.client.clock import Clock
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory, object_key
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.client.workqueue import RateLimitingQueue
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

NODES = ResourceRef("", "v1", "nodes", False, "Node")
PODS = ResourceRef("", "v1", "pods", True, "Pod")
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases", True, "Lease")
NODE_LEASE_NAMESPACE = "kube-node-lease"
POD_NODE_INDEX = "spec.nodeName"

EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_PID_PRESSURE = "node.kubernetes.io/pid-pressure"
TAINT_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"

# TaintNodesByCondition: (condition type, status) -> NoSchedule taint key.
CONDITION_TAINTS: dict[tuple[str, str], str] = {
    ("Ready", "False"): TAINT_NOT_READY,
    ("Ready", "Unknown"): TAINT_UNREACHABLE,
    ("MemoryPressure", "True"): TAINT_MEMORY_PRESSURE,
    ("DiskPressure", "True"): TAINT_DISK_PRESSURE,
    ("PIDPressure", "True"): TAINT_PID_PRESSURE,
    ("NetworkUnavailable", "True"): TAINT_NETWORK_UNAVAILABLE,
}
NO_SCHEDULE_KEYS = frozenset({*CONDITION_TAINTS.values(), TAINT_UNSCHEDULABLE})
NO_EXECUTE_KEYS = frozenset({TAINT_NOT_READY, TAINT_UNREACHABLE})

# The conditions a silent kubelet can no longer vouch for.
WATCHED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
REASON_STATUS_UNKNOWN = "NodeStatusUnknown"
MESSAGE_STATUS_UNKNOWN = "Kubelet stopped posting node status."
REASON_NEVER_UPDATED = "NodeStatusNeverUpdated"
MESSAGE_NEVER_UPDATED = "Kubelet never posted node status."

# kube's --unhealthy-zone-threshold and --large-cluster-size-threshold.
UNHEALTHY_ZONE_THRESHOLD = 0.55
LARGE_CLUSTER_SIZE = 50

EVICTION_REASON = "TaintManagerEviction"
DISRUPTION_TARGET = "DisruptionTarget"


# -- pure decisions ---------------------------------------------------------------------


def ready_status(node: Obj) -> str | None:
    """The Ready condition's status, None when the kubelet never posted one."""
    cond = meta.condition(node, "Ready")
    return str(cond.get("status") or "Unknown") if cond is not None else None


def is_edge(node: Obj) -> bool:
    return EDGE_ROLE_LABEL in meta.labels_of(node)


def _later(new: str | None, old: str | None) -> bool:
    """Is timestamp `new` after `old`? Unreadable stamps count as later when they differ."""
    if not new:
        return False
    if not old:
        return True
    new_at, old_at = meta.parse_time(new), meta.parse_time(old)
    if new_at is None or old_at is None:
        return new != old
    return new_at > old_at


@dataclass
class NodeHealth:
    """What the controller last saw of a node, and when (its clock, not the node's)."""

    probe_time: float
    heartbeat: str | None
    renew_time: str | None


class HealthTracker:
    """Observed heartbeats per node (kube's nodeHealthMap). A node seen for the first
    time, as after a controller restart, starts a fresh grace period."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.nodes: dict[str, NodeHealth] = {}

    def observe(self, node: Obj, lease: Obj | None) -> tuple[NodeHealth, bool]:
        """Record what `node` and its `lease` say now; returns the health and whether
        the node is new to the tracker."""
        name = meta.name_of(node)
        ready = meta.condition(node, "Ready") or {}
        heartbeat = ready.get("lastHeartbeatTime")
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        now = self.clock.now()
        health = self.nodes.get(name)
        if health is None:
            health = NodeHealth(now, heartbeat, renew)
            self.nodes[name] = health
            return health, True
        if heartbeat != health.heartbeat:
            health.heartbeat = heartbeat
            health.probe_time = now
        if _later(renew, health.renew_time):
            health.renew_time = renew
            health.probe_time = now
        return health, False

    def is_stale(self, node: Obj, grace: float, startup_grace: float) -> bool:
        health = self.nodes.get(meta.name_of(node))
        if health is None:
            return False
        limit = startup_grace if ready_status(node) is None else grace
        return self.clock.now() - health.probe_time > limit

    def remember_own_write(self, node: Obj) -> None:
        """Take in a status this controller wrote: it is no sign of life, even where it
        filled in a heartbeat the kubelet never posted."""
        health = self.nodes.get(meta.name_of(node))
        if health is not None:
            health.heartbeat = (meta.condition(node, "Ready") or {}).get("lastHeartbeatTime")

    def forget(self, name: str) -> None:
        self.nodes.pop(name, None)


def unknown_conditions(node: Obj, stamp: str) -> list[Obj] | None:
    """The node's conditions with the kubelet's four set to Unknown, or None when they
    already are. Missing ones are added as never updated, their heartbeat the node's
    creation (kube's tryUpdateNodeHealth)."""
    conditions = copy.deepcopy(((node.get("status") or {}).get("conditions")) or [])
    by_type = {c.get("type"): c for c in conditions if isinstance(c, dict)}
    changed = False
    for ctype in WATCHED_CONDITIONS:
        cond = by_type.get(ctype)
        if cond is None:
            conditions.append({
                "type": ctype, "status": "Unknown", "reason": REASON_NEVER_UPDATED,
                "message": MESSAGE_NEVER_UPDATED,
                "lastHeartbeatTime": (node.get("metadata") or {}).get("creationTimestamp")
                or stamp,
                "lastTransitionTime": stamp,
            })
            changed = True
        elif cond.get("status") != "Unknown":
            cond.update(status="Unknown", reason=REASON_STATUS_UNKNOWN,
                        message=MESSAGE_STATUS_UNKNOWN, lastTransitionTime=stamp)
            changed = True
    return conditions if changed else None


class NoExecutePolicy(enum.Enum):
    """What the controller does with a node's not-ready/unreachable NoExecute taints."""

    APPLY = "apply"    # add and swap them as the Ready condition says
    HOLD = "hold"      # keep (and swap) existing ones, add none (partial disruption)
    REMOVE = "remove"  # none at all (edge autonomy, full disruption)


def wanted_taints(node: Obj, policy: NoExecutePolicy) -> set[tuple[str, str]]:
    """The (key, effect) pairs this controller manages that `node` should carry."""
    wanted: set[tuple[str, str]] = set()
    for cond in (node.get("status") or {}).get("conditions") or []:
        if not isinstance(cond, dict):
            continue
        key = CONDITION_TAINTS.get((str(cond.get("type")), str(cond.get("status"))))
        if key is not None:
            wanted.add((key, NO_SCHEDULE))
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.add((TAINT_UNSCHEDULABLE, NO_SCHEDULE))
    ready = ready_status(node)
    key = {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE}.get(ready or "")
    if key is None or policy is NoExecutePolicy.REMOVE:
        return wanted
    has_no_execute = any(
        t.get("effect") == NO_EXECUTE and t.get("key") in NO_EXECUTE_KEYS
        for t in taints_of(node))
    if policy is NoExecutePolicy.APPLY or has_no_execute:
        wanted.add((key, NO_EXECUTE))
    return wanted


def taints_of(node: Obj) -> list[Obj]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]


def _managed(taint: Obj) -> bool:
    key, effect = taint.get("key"), taint.get("effect")
    return (effect == NO_SCHEDULE and key in NO_SCHEDULE_KEYS) or (
        effect == NO_EXECUTE and key in NO_EXECUTE_KEYS)


def merge_taints(current: list[Obj], wanted: set[tuple[str, str]], stamp: str
                 ) -> list[Obj] | None:
    """`current` with the managed taints made equal to `wanted` (others untouched, kept
    ones keep their timeAdded); None when nothing changes. NoExecute taints carry
    `timeAdded` (the API documents it for NoExecute only)."""
    result: list[Obj] = []
    have: set[tuple[str, str]] = set()
    for taint in current:
        pair = (str(taint.get("key")), str(taint.get("effect")))
        if _managed(taint) and pair not in wanted:
            continue
        if pair in have:
            continue
        have.add(pair)
        result.append(taint)
    missing = sorted(wanted - have)
    for key, effect in missing:
        taint: Obj = {"key": key, "effect": effect}
        if effect == NO_EXECUTE:
            taint["timeAdded"] = stamp
        result.append(taint)
    return result if len(result) != len(current) or missing else None


def eviction_delay(taints: Iterable[Obj], tolerations: Iterable[Obj]) -> float | None:
    """Seconds until a pod must go from a node with these NoExecute taints: 0 when one
    taint is not tolerated, the smallest tolerationSeconds of the tolerations used, or
    None when they tolerate it forever (kube's getMinTolerationTime)."""
    tolerations = [t for t in tolerations if isinstance(t, dict)]
    used: list[Obj] = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates_taint(t, taint)), None)
        if match is None:
            return 0.0
        used.append(match)
    if not used:
        return None
    seconds = [t["tolerationSeconds"] for t in used if t.get("tolerationSeconds") is not None]
    if not seconds:
        return None
    return max(0.0, float(min(seconds)))


class ZoneState(enum.Enum):
    NORMAL = "Normal"
    PARTIAL_DISRUPTION = "PartialDisruption"
    FULL_DISRUPTION = "FullDisruption"


def zone_of(node: Obj) -> str:
    labels = meta.labels_of(node)
    return f"{labels.get(REGION_LABEL, '')}:\x00:{labels.get(ZONE_LABEL, '')}"


def zone_states(nodes: Iterable[Obj]) -> dict[str, ZoneState]:
    """kube's ComputeZoneState per zone: full disruption when no node is Ready, partial
    when more than two and at least 55 % are not."""
    counts: dict[str, list[int]] = {}
    for node in nodes:
        if EXCLUDE_DISRUPTION_LABEL in meta.labels_of(node):
            continue
        tally = counts.setdefault(zone_of(node), [0, 0])
        tally[0 if ready_status(node) == "True" else 1] += 1
    states = {}
    for zone, (ready, not_ready) in counts.items():
        if ready == 0 and not_ready > 0:
            states[zone] = ZoneState.FULL_DISRUPTION
        elif not_ready > 2 and not_ready / (ready + not_ready) >= UNHEALTHY_ZONE_THRESHOLD:
            states[zone] = ZoneState.PARTIAL_DISRUPTION
        else:
            states[zone] = ZoneState.NORMAL
    return states


def no_execute_policy(node: Obj, states: dict[str, ZoneState], sizes: dict[str, int],
                      edge_eviction: bool) -> NoExecutePolicy:
    if is_edge(node) and not edge_eviction:
        return NoExecutePolicy.REMOVE
    if _all_full(states):
        return NoExecutePolicy.REMOVE
    zone = zone_of(node)
    if (states.get(zone) is ZoneState.PARTIAL_DISRUPTION
            and sizes.get(zone, 0) <= LARGE_CLUSTER_SIZE):
        return NoExecutePolicy.HOLD
    return NoExecutePolicy.APPLY


def _all_full(states: dict[str, ZoneState]) -> bool:
    return bool(states) and all(s is ZoneState.FULL_DISRUPTION for s in states.values())


def pod_ready_true(pod: Obj) -> bool:
    cond = meta.condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def _stamp() -> str:
    return meta.rfc3339(meta.now())


def _no_execute(node: Obj | None) -> list[Obj]:
    return [t for t in taints_of(node or {}) if t.get("effect") == NO_EXECUTE]


# -- the controller ---------------------------------------------------------------------


class NodeLifecycleController(Controller):
    """Keys: `node/<name>` (health, conditions, taints, pods NotReady) and
    `pod/<namespace>/<name>` (the NoExecute taint manager)."""

    name = "node-lifecycle"
    component = "node-controller"
    workers = 4

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 clock: Clock | None = None) -> None:
        super().__init__(client, informers, recorder, config)
        self.clock: Clock = clock or client.clock
        if clock is not None:
            self.queue = RateLimitingQueue(name=self.name, clock=clock)
        self.health = HealthTracker(self.clock)
        self.zone_states: dict[str, ZoneState] = {}
        self.zone_sizes: dict[str, int] = {}
        # Pods waiting out their tolerationSeconds: key -> when the wait started.
        self.evictions: dict[str, float] = {}
        self._last_ready: dict[str, str | None] = {}
        self._monitor_task: asyncio.Task[None] | None = None

    # -- wiring -------------------------------------------------------------------------

    def setup(self) -> None:
        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(on_add=self._node_added, on_update=self._node_updated,
                                     on_delete=self._node_deleted)
        self.leases = self.informer(LEASES, namespace=NODE_LEASE_NAMESPACE)
        self.leases.add_event_handler(**self.enqueue_by(lambda o: "node/" + meta.name_of(o)))
        self.pods = self.informer(PODS)
        with contextlib.suppress(ValueError):  # another controller made the same index
            self.pods.store.add_index(POD_NODE_INDEX, _indexed_node)
        self.pods.add_event_handler(on_add=self._pod_changed,
                                    on_update=lambda _old, new: self._pod_changed(new),
                                    on_delete=self._pod_changed)

    async def start(self) -> None:
        await super().start()
        self._monitor_task = asyncio.create_task(self._monitor(), name=f"{self.name} monitor")

    async def stop(self) -> None:
        task, self._monitor_task = self._monitor_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().stop()

    def _node_added(self, node: Obj) -> None:
        self.queue.add("node/" + meta.name_of(node))
        self._enqueue_pods_of(meta.name_of(node))

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.queue.add("node/" + meta.name_of(new))
        if _no_execute(old) != _no_execute(new):
            self._enqueue_pods_of(meta.name_of(new))

    def _node_deleted(self, node: Obj) -> None:
        name = meta.name_of(node)
        self.health.forget(name)
        self._last_ready.pop(name, None)
        self.recorder.event(node, "Normal", "RemovingNode",
                            f"Node {name} event: Removing Node {name} from Controller")
        self._enqueue_pods_of(name)

    def _pod_changed(self, pod: Obj) -> None:
        if _pod_node(pod):
            self.queue.add("pod/" + object_key(pod))
        else:
            self.evictions.pop(object_key(pod), None)

    def _enqueue_pods_of(self, node_name: str) -> None:
        for key in self.pods.store.index_keys(POD_NODE_INDEX, node_name):
            self.queue.add("pod/" + key)

    async def _monitor(self) -> None:
        while True:
            try:
                await self.monitor_pass()
            except Exception:
                log.exception("node-lifecycle: monitor pass failed")
            await self.clock.sleep(self.config.node_monitor_period_seconds)

    async def monitor_pass(self) -> None:
        """kube's monitorNodeHealth: bring every node's conditions up to date, judge the
        zones from the result, then have the workers retaint every node. Zones are
        judged after all updates, so nodes that fall silent together count together."""
        nodes: list[Obj] = []
        for node in self.nodes.store.list():
            self._observe(node)
            try:
                updated = await self._update_health(node)
            except (APIError, ConnectionError, TimeoutError) as exc:
                log.warning("node-lifecycle: updating node %s failed: %s",
                            meta.name_of(node), exc)
                updated = node
            if updated is not None:
                nodes.append(updated)
        self._judge_zones(nodes)
        for node in nodes:
            self.queue.add("node/" + meta.name_of(node))

    def _judge_zones(self, nodes: list[Obj]) -> None:
        before = self.zone_states
        self.zone_states = zone_states(nodes)
        self.zone_sizes = {}
        for node in nodes:
            zone = zone_of(node)
            self.zone_sizes[zone] = self.zone_sizes.get(zone, 0) + 1
        full, was_full = _all_full(self.zone_states), _all_full(before)
        if full and not was_full:
            log.warning("node-lifecycle: no node is Ready; entering full disruption mode: "
                        "NoExecute taints are lifted and no pod is evicted")
        elif was_full and not full:
            log.info("node-lifecycle: a node is Ready again; leaving full disruption mode")
            # Every node gets a fresh grace period, as kube resets its probe timestamps.
            now = self.clock.now()
            for health in self.health.nodes.values():
                health.probe_time = max(health.probe_time, now)

    def _observe(self, node: Obj) -> None:
        name = meta.name_of(node)
        _, new = self.health.observe(node, self.leases.store.get(NODE_LEASE_NAMESPACE, name))
        if new:
            self.recorder.event(node, "Normal", "RegisteredNode",
                                f"Node {name} event: Registered Node {name} in Controller")

    # -- reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        kind, _, rest = key.partition("/")
        if kind == "node":
            await self.sync_node(rest)
        elif kind == "pod":
            await self.sync_pod(rest)

    async def sync_node(self, name: str) -> None:
        node = self.nodes.store.get("", name)
        if node is None:
            self.health.forget(name)
            return
        self._observe(node)
        ready = ready_status(node)
        previous = self._last_ready.get(name, ready)
        if previous == "True" and ready != "True":
            self.recorder.event(node, "Normal", "NodeNotReady",
                                f"Node {name} status is now: NodeNotReady")
        self._last_ready[name] = ready
        evicting = not is_edge(node) or self.config.edge_node_eviction
        if ready != "True" and evicting:
            await self._mark_pods_not_ready(name)
        await self._update_taints(node)

    async def _update_health(self, node: Obj) -> Obj | None:
        """Set the conditions Unknown when the node has been silent too long; returns the
        node as now stored (None when it is gone)."""
        cfg = self.config
        for _ in range(5):
            if not self.health.is_stale(node, cfg.node_monitor_grace_period_seconds,
                                        cfg.node_startup_grace_period_seconds):
                return node
            conditions = unknown_conditions(node, _stamp())
            if conditions is None:
                return node
            updated = copy.deepcopy(node)
            updated.setdefault("status", {})["conditions"] = conditions
            try:
                node = await self.client.update_status(NODES, updated)
            except APIError as exc:
                if exc.is_not_found:
                    return None
                if not exc.is_conflict:
                    raise
                # The kubelet wrote meanwhile: look again, it may have come back.
                node = await self.client.get(NODES, meta.name_of(node))
                lease = self.leases.store.get(NODE_LEASE_NAMESPACE, meta.name_of(node))
                self.health.observe(node, lease)
                continue
            self.health.remember_own_write(node)
            log.info("node-lifecycle: node %s stopped posting status; conditions now Unknown",
                     meta.name_of(node))
            return node
        raise RuntimeError(f"node {meta.name_of(node)}: status kept changing under us")

    async def _update_taints(self, node: Obj) -> None:
        # The resourceVersion makes each write a compare-and-swap; on a conflict the
        # node is read afresh and the taints decided again (kube's
        # AddOrUpdateTaintOnNode does the same).
        for attempt in range(5):
            policy = no_execute_policy(node, self.zone_states, self.zone_sizes,
                                       self.config.edge_node_eviction)
            taints = merge_taints(taints_of(node), wanted_taints(node, policy), _stamp())
            if taints is None:
                return
            updated = copy.deepcopy(node)
            updated.setdefault("spec", {})["taints"] = taints
            try:
                await self.client.update(NODES, updated)
                return
            except APIError as exc:
                if exc.is_not_found:
                    return
                if not exc.is_conflict or attempt == 4:
                    raise
            try:
                node = await self.client.get(NODES, meta.name_of(node))
            except APIError as exc:
                if exc.is_not_found:
                    return
                raise

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        """kube's MarkPodsNotReady: the node cannot vouch for its pods any more."""
        for pod in self.pods.store.by_index(POD_NODE_INDEX, node_name):
            if not pod_ready_true(pod) or meta.is_terminating(pod):
                continue
            patch = {"status": {"conditions": [{
                "type": "Ready", "status": "False", "lastTransitionTime": _stamp()}]}}
            try:
                await self.client.patch(PODS, meta.name_of(pod), patch, meta.namespace_of(pod),
                                        patch_type="strategic", subresource="status")
            except APIError as exc:
                if exc.is_not_found:
                    continue
                raise
            self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")

    # -- the NoExecute taint manager ----------------------------------------------------

    async def sync_pod(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        pod = self.pods.store.get(namespace, name)
        if pod is None or meta.is_terminating(pod):
            self.evictions.pop(key, None)
            return
        node = self.nodes.store.get("", _pod_node(pod))
        taints = _no_execute(node)
        delay = eviction_delay(taints, (pod.get("spec") or {}).get("tolerations") or []
                               ) if taints else None
        if delay is None:
            if self.evictions.pop(key, None) is not None:
                self.recorder.event(pod, "Normal", EVICTION_REASON,
                                    f"Cancelling deletion of Pod {key}")
            return
        now = self.clock.now()
        started = self.evictions.setdefault(key, now)
        remaining = started + delay - now
        if remaining > 0:
            self.queue.add_after("pod/" + key, remaining)
            return
        await self._evict(pod, key)

    async def _evict(self, pod: Obj, key: str) -> None:
        self.recorder.event(pod, "Normal", EVICTION_REASON, f"Marking for deletion Pod {key}")
        namespace, name = meta.namespace_of(pod), meta.name_of(pod)
        patch = {"status": {"conditions": [{
            "type": DISRUPTION_TARGET, "status": "True", "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": _stamp()}]}}
        try:
            await self.client.patch(PODS, name, patch, namespace, patch_type="strategic",
                                    subresource="status")
            await self.client.delete(PODS, name, namespace,
                                     preconditions={"uid": pod["metadata"]["uid"]})
        except APIError as exc:
            if not (exc.is_not_found or exc.is_conflict):
                raise
        self.evictions.pop(key, None)


def _pod_node(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _indexed_node(pod: Obj) -> list[str]:
    node = _pod_node(pod)
    return [node] if node else []

