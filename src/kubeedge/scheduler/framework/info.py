"""What the scheduler knows about one pod (`TaskInfo`) and one node (`NodeInfo`).

Owns the parsing of a pod into what predicates and scores need, done once per pod
rather than once per node (requests, host ports, tolerations, node and pod affinity),
and the per-node accounting: requested resources of the non-terminal pods on the node,
the host ports they hold, and which of them carry required anti-affinity
(specs/volcano.md §2.1: Succeeded and Failed pods hold no node resources).

Never does I/O; objects handed in are informer-cache objects and are never changed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeedge.api.errors import StatusError
from kubeedge.api.selectors import LabelSelector
from kubeedge.scheduler.framework.resource import Resource, non_zero_requests, pod_requests

__all__ = [
    "AffinityTerm",
    "NodeInfo",
    "TaskInfo",
    "TaskStatus",
    "node_ready_status",
]

Obj = dict[str, Any]

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
DEFAULT_HOST_IP = "0.0.0.0"


class TaskStatus(enum.Enum):
    """Volcano's task statuses (specs/volcano.md §2.1). The fast path moves a task
    Pending -> Allocated (placed in the session) -> Binding (bind sent) -> Bound (seen
    bound by the watch), or back to Pending when the bind fails."""

    PENDING = "Pending"
    ALLOCATED = "Allocated"
    PIPELINED = "Pipelined"
    BINDING = "Binding"
    BOUND = "Bound"
    RUNNING = "Running"
    RELEASING = "Releasing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


def task_status(pod: Mapping[str, Any]) -> TaskStatus:
    """Volcano's getTaskStatus: the phase, refined by binding and deletion."""
    md = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    if phase == "Succeeded":
        return TaskStatus.SUCCEEDED
    if phase == "Failed":
        return TaskStatus.FAILED
    if md.get("deletionTimestamp"):
        return TaskStatus.RELEASING
    if phase == "Running":
        return TaskStatus.RUNNING
    if (pod.get("spec") or {}).get("nodeName"):
        return TaskStatus.BOUND
    if phase == "Pending":
        return TaskStatus.PENDING
    return TaskStatus.UNKNOWN


def holds_resources(status: TaskStatus) -> bool:
    return status not in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.PENDING)


def _dicts(value: Any) -> list[Obj]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """One required (anti-)affinity term: pods in `namespaces` (None: every namespace)
    matching `selector`, in the same `topology_key` domain."""

    namespaces: frozenset[str] | None
    selector: LabelSelector
    topology_key: str

    @classmethod
    def parse(cls, term: Mapping[str, Any], own_namespace: str) -> AffinityTerm:
        try:
            selector = (LabelSelector.from_dict(term["labelSelector"])
                        if term.get("labelSelector") is not None
                        else LabelSelector(nothing=True))
        except StatusError:
            selector = LabelSelector(nothing=True)
        names = [str(n) for n in term.get("namespaces") or []]
        namespace_selector = term.get("namespaceSelector")
        namespaces: frozenset[str] | None
        if namespace_selector is not None and not (
                namespace_selector.get("matchLabels") or
                namespace_selector.get("matchExpressions")):
            # An empty namespaceSelector selects every namespace (kube's
            # GetNamespacesFromPodAffinityTerm). A non-empty one needs namespace labels,
            # which this scheduler does not watch yet: only the listed names count.
            namespaces = None
        else:
            namespaces = frozenset(names or [own_namespace])
        return cls(namespaces, selector, str(term.get("topologyKey") or ""))

    def matches(self, task: TaskInfo) -> bool:
        if self.namespaces is not None and task.namespace not in self.namespaces:
            return False
        return self.selector.matches(task.labels)


def _terms(affinity: Mapping[str, Any], kind: str, namespace: str
           ) -> tuple[AffinityTerm, ...]:
    block = affinity.get(kind) or {}
    required = _dicts(block.get("requiredDuringSchedulingIgnoredDuringExecution"))
    return tuple(AffinityTerm.parse(term, namespace) for term in required)


@dataclass(eq=False, slots=True)
class TaskInfo:
    """One pod, parsed once. `pod` is the informer's object (read-only)."""

    key: str
    uid: str
    namespace: str
    name: str
    pod: Obj
    node_name: str
    status: TaskStatus
    resreq: Resource
    non_zero_cpu: int
    non_zero_memory: int
    labels: Mapping[str, str]
    host_ports: tuple[tuple[str, str, int], ...]
    node_selector: Mapping[str, str]
    required_node_terms: tuple[Obj, ...] | None
    preferred_node_terms: tuple[tuple[int, Obj], ...]
    tolerations: tuple[Obj, ...]
    affinity_terms: tuple[AffinityTerm, ...]
    anti_affinity_terms: tuple[AffinityTerm, ...]
    preempt_never: bool
    scheduler_name: str

    @classmethod
    def from_pod(cls, pod: Obj) -> TaskInfo:
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        namespace = str(md.get("namespace") or "")
        name = str(md.get("name") or "")
        ports = []
        for container in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
            for port in _dicts(container.get("ports")):
                host_port = port.get("hostPort")
                if isinstance(host_port, int) and host_port > 0:
                    ports.append((str(port.get("hostIP") or DEFAULT_HOST_IP),
                                  str(port.get("protocol") or "TCP"), host_port))
        affinity = spec.get("affinity") or {}
        node_affinity = affinity.get("nodeAffinity") or {}
        required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        required_terms = (tuple(_dicts(required.get("nodeSelectorTerms")))
                          if isinstance(required, dict) else None)
        preferred = tuple(
            (int(p.get("weight") or 0), p.get("preference") or {})
            for p in _dicts(node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution")))
        cpu, memory = non_zero_requests(spec)
        return cls(
            key=f"{namespace}/{name}" if namespace else name,
            uid=str(md.get("uid") or ""),
            namespace=namespace,
            name=name,
            pod=pod,
            node_name=str(spec.get("nodeName") or ""),
            status=task_status(pod),
            resreq=pod_requests(spec),
            non_zero_cpu=cpu,
            non_zero_memory=memory,
            labels=md.get("labels") or {},
            host_ports=tuple(ports),
            node_selector=spec.get("nodeSelector") or {},
            required_node_terms=required_terms,
            preferred_node_terms=preferred,
            tolerations=tuple(_dicts(spec.get("tolerations"))),
            affinity_terms=_terms(affinity, "podAffinity", namespace),
            anti_affinity_terms=_terms(affinity, "podAntiAffinity", namespace),
            preempt_never=spec.get("preemptionPolicy") == "Never",
            scheduler_name=str(spec.get("schedulerName") or "default-scheduler"),
        )


def node_ready_status(node: Mapping[str, Any]) -> str:
    """The Ready condition's status: "True", "False" or "Unknown" (no condition)."""
    for cond in _dicts((node.get("status") or {}).get("conditions")):
        if cond.get("type") == "Ready":
            return str(cond.get("status") or "Unknown")
    return "Unknown"


@dataclass(eq=False, slots=True)
class NodeInfo:
    """One node and the pods placed on it (bound, binding or assumed by us)."""

    name: str
    node: Obj | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # Taints with effect NoSchedule or NoExecute (the filter's), and PreferNoSchedule
    # ones (the score's).
    hard_taints: tuple[Obj, ...] = ()
    soft_taints: tuple[Obj, ...] = ()
    unschedulable: bool = False
    ready: str = "Unknown"
    allocatable: Resource = field(default_factory=Resource)
    requested: Resource = field(default_factory=Resource)
    non_zero_cpu: int = 0
    non_zero_memory: int = 0
    # (protocol, port) -> {host IP: how many pods hold it}
    used_ports: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    # Bumped on every change, so a session can tell a node moved under it.
    generation: int = 0

    def set_node(self, node: Obj) -> None:
        md = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        self.node = node
        self.labels = md.get("labels") or {}
        taints = _dicts(spec.get("taints"))
        self.hard_taints = tuple(t for t in taints if t.get("effect") in (NO_SCHEDULE, NO_EXECUTE))
        self.soft_taints = tuple(t for t in taints if t.get("effect") == PREFER_NO_SCHEDULE)
        self.unschedulable = bool(spec.get("unschedulable"))
        self.ready = node_ready_status(node)
        allocatable = status.get("allocatable")
        if allocatable is None:
            allocatable = status.get("capacity")
        self.allocatable = Resource.from_list(allocatable)
        self.generation += 1

    def add_task(self, task: TaskInfo) -> None:
        if task.key in self.tasks:
            self.remove_task(task.key)
        self.tasks[task.key] = task
        self.requested.add(task.resreq)
        self.non_zero_cpu += task.non_zero_cpu
        self.non_zero_memory += task.non_zero_memory
        for ip, protocol, port in task.host_ports:
            ips = self.used_ports.setdefault((protocol, port), {})
            ips[ip] = ips.get(ip, 0) + 1
        self.generation += 1

    def remove_task(self, key: str) -> TaskInfo | None:
        task = self.tasks.pop(key, None)
        if task is None:
            return None
        self.requested.sub(task.resreq)
        self.non_zero_cpu -= task.non_zero_cpu
        self.non_zero_memory -= task.non_zero_memory
        for ip, protocol, port in task.host_ports:
            ips = self.used_ports.get((protocol, port))
            if ips is not None:
                left = ips.get(ip, 0) - 1
                if left > 0:
                    ips[ip] = left
                else:
                    ips.pop(ip, None)
                if not ips:
                    del self.used_ports[(protocol, port)]
        self.generation += 1
        return task

    def port_conflict(self, ip: str, protocol: str, port: int) -> bool:
        """kube's HostPortInfo.CheckConflict: 0.0.0.0 clashes with every IP."""
        ips = self.used_ports.get((protocol, port))
        if not ips:
            return False
        if ip == DEFAULT_HOST_IP:
            return True
        return ip in ips or DEFAULT_HOST_IP in ips
