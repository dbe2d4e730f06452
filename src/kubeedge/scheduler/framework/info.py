"""What the scheduler knows about one pod (`TaskInfo`) and one node (`NodeInfo`).

Owns the parsing of a pod into what predicates and scores need, done once per pod
rather than once per node (requests, host ports, tolerations, node and pod affinity),
and the per-node accounting: requested resources of the non-terminal pods on the node,
the host ports they hold, and which of them carry required anti-affinity
(specs/volcano.md §2.1: Succeeded and Failed pods hold no node resources). Also the
legacy GPU-sharing accounting of Volcano's gpushare devices (specs/volcano.md §4): a
node's `volcano.sh/gpu-memory` capacity split over its `volcano.sh/gpu-number` cards,
and what each card holds, from the pods' `volcano.sh/gpu-index` annotation or, for a
pod placed by this scheduler and not yet bound, the cards the `deviceshare` plugin chose
for it on that node (then written to the pod before its binding).

Never does I/O; objects handed in are informer-cache objects and are never changed.
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeedge.api.errors import StatusError
from kubeedge.api.selectors import LabelSelector
from kubeedge.scheduler.framework.resource import Resource, non_zero_requests, pod_requests

__all__ = [
    "GPU_INDEX_ANNOTATION",
    "GPU_MEMORY",
    "GPU_NUMBER",
    "PREDICATE_TIME_ANNOTATION",
    "AffinityTerm",
    "NodeInfo",
    "TaskInfo",
    "TaskStatus",
    "next_generation",
    "node_ready_status",
]

Obj = dict[str, Any]

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
DEFAULT_HOST_IP = "0.0.0.0"

# Volcano's legacy GPU sharing (gpushare, specs/volcano.md §4).
GPU_MEMORY = "volcano.sh/gpu-memory"
GPU_NUMBER = "volcano.sh/gpu-number"
GPU_INDEX_ANNOTATION = "volcano.sh/gpu-index"
PREDICATE_TIME_ANNOTATION = "volcano.sh/predicate-time"
GPU_UNHEALTHY_ANNOTATION = "volcano.sh/gpu-unhealthy-ids"


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


# A placement this scheduler made that the API has not shown bound yet.
_SESSION_PLACED = frozenset({TaskStatus.ALLOCATED, TaskStatus.PIPELINED, TaskStatus.BINDING})


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


# Node generations come from one counter for the whole process, so a generation names
# one state of one NodeInfo: a node deleted and created again, or two NodeInfos of one
# name, never share one, and a session's memo keyed by generation cannot go stale.
_GENERATIONS = itertools.count(1)


def next_generation() -> int:
    return next(_GENERATIONS)


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
    # Legacy GPU sharing: MiB of `volcano.sh/gpu-memory` and cards of
    # `volcano.sh/gpu-number` the pod asks for (limits, else requests).
    gpu_memory: int = 0
    gpu_number: int = 0
    # The cards the deviceshare predicate found on each node in the current decision
    # (node name -> indexes); the node the pod is placed on applies its entry.
    gpu_choice: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # The cards counted for the pod on its node.
    gpu_ids: tuple[int, ...] = ()
    # Annotations a plugin set for this placement: the bind path writes them to the
    # pod before the binding (as Volcano's binder does).
    bind_annotations: dict[str, str] = field(default_factory=dict)

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
            gpu_memory=_device_request(spec, GPU_MEMORY),
            gpu_number=_device_request(spec, GPU_NUMBER),
        )

    def annotated_gpu_ids(self) -> tuple[int, ...]:
        """The cards the pod's `volcano.sh/gpu-index` annotation names ("0,1"); none
        when it is absent or not a list of integers (Volcano's GetGPUIndex)."""
        annotations = (self.pod.get("metadata") or {}).get("annotations") or {}
        value = annotations.get(GPU_INDEX_ANNOTATION)
        if not isinstance(value, str) or not value:
            return ()
        try:
            return tuple(int(part) for part in value.split(","))
        except ValueError:
            return ()


def _device_request(spec: Mapping[str, Any], name: str) -> int:
    """A whole-unit device amount the pod asks for: containers summed, init containers
    as a maximum (Volcano's getGPUMemoryOfPod / getGPUNumberOfPod). Volcano reads
    limits; a container that names only a request counts with it."""

    def amount(container: Obj) -> int:
        resources = container.get("resources") or {}
        for kind in ("limits", "requests"):
            values = resources.get(kind) or {}
            if name in values:
                return Resource.from_list({name: values[name]}).get(name)
        return 0

    total = sum(amount(c) for c in _dicts(spec.get("containers")))
    init = max((amount(c) for c in _dicts(spec.get("initContainers"))), default=0)
    return max(total, init)


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
    # A new value (`next_generation`) on every change to anything a predicate or a
    # score reads (the node object, the pods counted on it, their ports and GPU cards),
    # so a session can tell a node moved under it and memoize per generation.
    generation: int = field(default_factory=next_generation)
    # Legacy GPU sharing: healthy card index -> MiB (empty: the node has no such
    # devices), and per card index the MiB and the number of pods it holds.
    gpus: dict[int, int] = field(default_factory=dict)
    gpu_used: dict[int, int] = field(default_factory=dict)
    gpu_holders: dict[int, int] = field(default_factory=dict)

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
        self.gpus = _gpu_cards(node)
        self.generation = next(_GENERATIONS)

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
        if task.gpu_memory or task.gpu_number:
            self._hold_gpus(task)
        self.generation = next(_GENERATIONS)

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
        if task.gpu_ids:
            for index in task.gpu_ids:
                self.gpu_used[index] = self.gpu_used.get(index, 0) - task.gpu_memory
                self.gpu_holders[index] = self.gpu_holders.get(index, 0) - 1
            task.gpu_ids = ()
        # A choice made for this placement goes with it; the next placement makes its
        # own.
        task.bind_annotations.pop(GPU_INDEX_ANNOTATION, None)
        task.bind_annotations.pop(PREDICATE_TIME_ANNOTATION, None)
        self.generation = next(_GENERATIONS)
        return task

    # -- legacy GPU sharing (specs/volcano.md §4) --------------------------------------

    def gpu_free(self, index: int) -> int:
        return max(self.gpus.get(index, 0) - self.gpu_used.get(index, 0), 0)

    def gpus_for_memory(self, memory: int, policy: str = "") -> tuple[int, ...] | None:
        """The card for a pod asking `memory` MiB: Volcano's rule is the lowest index
        with that much free; `binpack` takes the fullest card that fits and `spread`
        the emptiest (ties to the lower index). None when no single card fits."""
        fitting = [i for i in sorted(self.gpus) if self.gpu_free(i) >= memory]
        if not fitting:
            return None
        if policy == "binpack":
            return (min(fitting, key=lambda i: (self.gpu_free(i), i)),)
        if policy == "spread":
            return (max(fitting, key=lambda i: (self.gpu_free(i), -i)),)
        return (fitting[0],)

    def gpus_for_number(self, number: int) -> tuple[int, ...] | None:
        """`number` whole cards no pod holds, lowest indexes first; None when fewer
        are idle."""
        idle = [i for i in sorted(self.gpus) if not self.gpu_holders.get(i, 0)]
        return tuple(idle[:number]) if len(idle) >= number else None

    def choose_gpus(self, task: TaskInfo, policy: str = "") -> tuple[int, ...] | None:
        if task.gpu_memory:
            return self.gpus_for_memory(task.gpu_memory, policy)
        return self.gpus_for_number(task.gpu_number)

    def _hold_gpus(self, task: TaskInfo) -> None:
        """Count the pod on its cards. A placement made here and not yet bound uses
        the deviceshare plugin's choice for this node (checked again, in case the node
        moved since), and records it for the bind path; anything else (bound pods,
        placements by others) holds what its annotation names."""
        ids: tuple[int, ...] | None = ()
        choice = task.gpu_choice.get(self.name)
        if choice is not None and task.status in _SESSION_PLACED:
            ids = choice if self._still_fits(task, choice) else self.choose_gpus(task)
            if ids:
                task.bind_annotations[GPU_INDEX_ANNOTATION] = ",".join(map(str, ids))
                task.bind_annotations[PREDICATE_TIME_ANNOTATION] = str(time.time_ns())
        else:
            ids = task.annotated_gpu_ids()
        task.gpu_ids = ids or ()
        for index in task.gpu_ids:
            self.gpu_used[index] = self.gpu_used.get(index, 0) + task.gpu_memory
            self.gpu_holders[index] = self.gpu_holders.get(index, 0) + 1

    def _still_fits(self, task: TaskInfo, ids: tuple[int, ...]) -> bool:
        if not all(i in self.gpus for i in ids):
            return False
        if task.gpu_memory:
            return all(self.gpu_free(i) >= task.gpu_memory for i in ids)
        return all(not self.gpu_holders.get(i, 0) for i in ids)

    def port_conflict(self, ip: str, protocol: str, port: int) -> bool:
        """kube's HostPortInfo.CheckConflict: 0.0.0.0 clashes with every IP."""
        ips = self.used_ports.get((protocol, port))
        if not ips:
            return False
        if ip == DEFAULT_HOST_IP:
            return True
        return ip in ips or DEFAULT_HOST_IP in ips


def _gpu_cards(node: Mapping[str, Any]) -> dict[int, int]:
    """Volcano's NewGPUDevices: `volcano.sh/gpu-number` cards of `volcano.sh/gpu-memory`
    / number MiB each (from the node's capacity), less the cards the node's
    `volcano.sh/gpu-unhealthy-ids` annotation lists. No cards unless both are there."""
    status = node.get("status") or {}
    capacity = status.get("capacity") or status.get("allocatable") or {}
    resources = Resource.from_list({k: v for k, v in capacity.items()
                                    if k in (GPU_MEMORY, GPU_NUMBER)})
    number = resources.get(GPU_NUMBER)
    memory = resources.get(GPU_MEMORY)
    if number <= 0 or GPU_MEMORY not in capacity:
        return {}
    cards = dict.fromkeys(range(number), memory // number)
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    for part in str(annotations.get(GPU_UNHEALTHY_ANNOTATION) or "").split(","):
        if part.strip().lstrip("-").isdigit():
            cards.pop(int(part), None)
    return cards
