"""The `proportion` plugin (specs/volcano.md §2.4): queues share the cluster by weight.

Each queue's `deserved` comes from water-filling the cluster's total over the queues
by weight, never above what the queue asks for (allocated + pending) or its real
capability (`spec.capability`, dimension by dimension), never below its guarantee
(`spec.guarantee.resource`). A queue is overused once allocated ≥ deserved; a task is
allocatable only in an Open queue that stays within deserved; queues go lower share
first (after `spec.priority`). For reclaim: a queue may take back (`preemptive`) on the
same terms as it may allocate, and a queue gives up victims only while its allocated
is not within its deserved (counting down as victims are chosen). At enqueue a
non-Open queue rejects, and a queue with a capability admits a job only while
minResources + allocated + inqueue ≤ capability (else the PodGroup gets "queue
resource quota insufficient").

Vectors are dicts of cpu, memory and extended resources (pods are not shared). Never
does I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeedge.scheduler.framework.info import TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import JobInfo, QueueInfo
from kubeedge.scheduler.framework.job_session import PERMIT, REJECT, JobSession
from kubeedge.scheduler.framework.resource import CPU, MEMORY, Resource
from kubeedge.scheduler.plugins.capacity import quota_message

__all__ = ["ProportionPlugin", "water_fill"]

NAME = "proportion"
_EPSILON = 1e-9

Vector = dict[str, float]

# Values of the task statuses whose requests count as the queue's allocation.
_HOLDING = frozenset(status.value for status in (
    TaskStatus.ALLOCATED, TaskStatus.BINDING, TaskStatus.BOUND, TaskStatus.RUNNING))
_PENDING = TaskStatus.PENDING.value


def vector(resource: Resource | None) -> Vector:
    if resource is None:
        return {}
    out: Vector = {}
    if resource.milli_cpu:
        out[CPU] = float(resource.milli_cpu)
    if resource.memory:
        out[MEMORY] = float(resource.memory)
    for name, amount in resource.scalars.items():
        if amount:
            out[name] = float(amount)
    return out


def _add(a: Vector, b: Vector) -> Vector:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + v
    return out


def _le(a: Vector, b: Vector, dims: Any = None) -> bool:
    keys = a.keys() if dims is None else dims
    return all(a.get(k, 0.0) <= b.get(k, 0.0) + _EPSILON for k in keys)


@dataclass
class QueueAttr:
    name: str
    weight: int
    allocated: Vector = field(default_factory=dict)
    request: Vector = field(default_factory=dict)
    inqueue: Vector = field(default_factory=dict)
    guarantee: Vector = field(default_factory=dict)
    capability: Vector | None = None
    real_capability: Vector = field(default_factory=dict)
    deserved: Vector = field(default_factory=dict)

    def share(self) -> float:
        share = 0.0
        for k, v in self.allocated.items():
            d = self.deserved.get(k, 0.0)
            share = max(share, v / d if d > 0 else (1.0 if v > 0 else 0.0))
        return share


def water_fill(total: Vector, attrs: list[QueueAttr]) -> None:
    """Fill `deserved` of every queue (§2.4 proportion)."""
    dims = set(total)
    for attr in attrs:
        dims |= set(attr.request) | set(attr.guarantee)
        attr.deserved = {}
    remaining = dict(total)
    met: set[str] = set()
    while True:
        weights = sum(a.weight for a in attrs if a.name not in met)
        if weights == 0:
            break
        before = dict(remaining)
        increased: Vector = {}
        decreased: Vector = {}
        for attr in attrs:
            if attr.name in met:
                continue
            old = dict(attr.deserved)
            new: Vector = {}
            for k in dims:
                value = old.get(k, 0.0) + remaining.get(k, 0.0) * attr.weight / weights
                value = min(value, attr.real_capability.get(k, 0.0), attr.request.get(k, 0.0))
                new[k] = max(value, attr.guarantee.get(k, 0.0))
            attr.deserved = new
            if _le(attr.request, new, dims) or all(
                    abs(new.get(k, 0.0) - old.get(k, 0.0)) <= _EPSILON for k in dims):
                met.add(attr.name)
            for k in dims:
                delta = new.get(k, 0.0) - old.get(k, 0.0)
                if delta > 0:
                    increased[k] = increased.get(k, 0.0) + delta
                elif delta < 0:
                    decreased[k] = decreased.get(k, 0.0) - delta
        for k in dims:
            remaining[k] = remaining.get(k, 0.0) - increased.get(k, 0.0) + decreased.get(k, 0.0)
        if all(v <= _EPSILON for v in remaining.values()) or all(
                abs(remaining.get(k, 0.0) - before.get(k, 0.0)) <= _EPSILON for k in dims):
            break


class ProportionPlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        self.arguments = dict(arguments or {})
        self.attrs: dict[str, QueueAttr] = {}
        self._ssn: JobSession | None = None

    def on_session_open(self, ssn: JobSession) -> None:  # type: ignore[override]
        self._ssn = ssn
        total = vector(ssn.total)
        self.attrs = {}
        for job in ssn.jobs.values():
            queue = ssn.queues.get(job.queue)
            if queue is None:
                continue
            attr = self.attrs.get(queue.name)
            if attr is None:
                attr = self.attrs[queue.name] = self._attr(queue)
            # Summed in place, task by task in the same order as `_add` would: the
            # same floats, without a copy of the vector per task.
            allocated, request = attr.allocated, attr.request
            for task in job.tasks.values():
                status = task.status._value_
                if status in _HOLDING:
                    for k, v in vector(task.resreq).items():
                        allocated[k] = allocated.get(k, 0.0) + v
                        request[k] = request.get(k, 0.0) + v
                elif status == _PENDING:
                    for k, v in vector(task.resreq).items():
                        request[k] = request.get(k, 0.0) + v
            attr.inqueue = _add(attr.inqueue, vector(job.inqueue_share()))
        guarantees: Vector = {}
        for attr in self.attrs.values():
            guarantees = _add(guarantees, attr.guarantee)
        for attr in self.attrs.values():
            real = {k: max(v - guarantees.get(k, 0.0), 0.0) + attr.guarantee.get(k, 0.0)
                    for k, v in total.items()}
            if attr.capability is not None:
                for k, cap in attr.capability.items():
                    real[k] = min(real.get(k, 0.0), cap)
            attr.real_capability = real
        water_fill(total, list(self.attrs.values()))
        ssn.add_queue_order_fn(NAME, self.queue_order)
        ssn.add_overused_fn(NAME, self.overused)
        ssn.add_allocatable_fn(NAME, self.allocatable)
        ssn.add_preemptive_fn(NAME, self.allocatable)
        ssn.add_reclaimable_fn(NAME, self.reclaimable)
        ssn.add_job_enqueueable_fn(NAME, self.job_enqueueable)
        ssn.add_event_handler(self._allocated, self._deallocated)

    @staticmethod
    def _attr(queue: QueueInfo) -> QueueAttr:
        spec = queue.queue.get("spec") or {}
        guarantee = (spec.get("guarantee") or {}).get("resource")
        return QueueAttr(
            name=queue.name, weight=queue.weight,
            guarantee=vector(Resource.from_list(guarantee)) if guarantee else {},
            capability=vector(queue.capability) if queue.capability is not None else None)

    # -- callbacks --------------------------------------------------------------------

    def queue_order(self, left: object, right: object) -> int:
        assert isinstance(left, QueueInfo) and isinstance(right, QueueInfo)
        if left.priority != right.priority:
            return -1 if left.priority > right.priority else 1
        ls = self.attrs[left.name].share() if left.name in self.attrs else 0.0
        rs = self.attrs[right.name].share() if right.name in self.attrs else 0.0
        return (ls > rs) - (ls < rs)

    def overused(self, queue: QueueInfo) -> bool:
        attr = self.attrs.get(queue.name)
        if attr is None:
            return False
        dims = set(attr.deserved) | set(attr.allocated)
        return _le(attr.deserved, attr.allocated, dims)

    def allocatable(self, queue: QueueInfo, task: TaskInfo) -> bool:
        if not queue.is_open:
            return False
        attr = self.attrs.get(queue.name)
        if attr is None:
            return True
        request = vector(task.resreq)
        return _le(_add(attr.allocated, request), attr.deserved, request.keys())

    def reclaimable(self, reclaimer: TaskInfo, reclaimees: list[TaskInfo]) -> list[TaskInfo]:
        """Victims from queues above their deserved share, each victim lowering its
        queue's allocated until the queue is back within deserved."""
        assert self._ssn is not None
        allocations: dict[str, Vector] = {}
        victims = []
        for task in reclaimees:
            job = self._ssn.job_of_task.get(task.key)
            attr = self.attrs.get(job.queue) if job is not None else None
            if attr is None:
                continue
            allocated = allocations.setdefault(attr.name, dict(attr.allocated))
            if not _le(allocated, attr.deserved):
                for k, v in vector(task.resreq).items():
                    allocated[k] = allocated.get(k, 0.0) - v
                victims.append(task)
        return victims

    def job_enqueueable(self, job: JobInfo) -> int:
        assert self._ssn is not None
        queue = self._ssn.queues.get(job.queue)
        if queue is None or not queue.is_open:
            return REJECT
        attr = self.attrs.get(queue.name)
        if attr is None or attr.capability is None or job.min_resources is None:
            return PERMIT
        wanted = vector(job.min_resources)
        total = _add(_add(wanted, attr.allocated), attr.inqueue)
        if _le(total, attr.real_capability, wanted.keys()):
            attr.inqueue = _add(attr.inqueue, wanted)
            return PERMIT
        short = sorted(k for k in wanted
                       if total.get(k, 0.0) > attr.real_capability.get(k, 0.0))
        self._ssn.record_job_event(job, "Normal", "Unschedulable", quota_message(short))
        return REJECT

    # -- statement events -------------------------------------------------------------

    def _attr_of(self, task: TaskInfo) -> QueueAttr | None:
        assert self._ssn is not None
        job = self._ssn.job_of_task.get(task.key)
        return None if job is None else self.attrs.get(job.queue)

    def _allocated(self, task: TaskInfo) -> None:
        attr = self._attr_of(task)
        if attr is not None:
            attr.allocated = _add(attr.allocated, vector(task.resreq))

    def _deallocated(self, task: TaskInfo) -> None:
        attr = self._attr_of(task)
        if attr is not None:
            attr.allocated = _add(attr.allocated, {k: -v for k, v in vector(task.resreq).items()})
