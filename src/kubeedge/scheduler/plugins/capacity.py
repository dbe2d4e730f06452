"""The `capacity` plugin (specs/volcano.md §2.4): queues get the quota an administrator
wrote on them instead of a weighted split. It replaces `proportion`; the two must not
be configured together (Volcano's user guide: "they cannot be used together").

Per queue (Volcano's pkg/scheduler/plugins/capacity, flat mode):
- `deserved` is `spec.deserved`, cut to the real capability and raised to the
  guarantee, dimension by dimension. A queue may *borrow* beyond it (up to its real
  capability) while others leave resources idle; reclaim takes the excess back.
- `realCapability = (total - Σ guarantees of all queues) + own guarantee`, capped by
  `spec.capability` where it names a dimension (cpu or memory ≤ 0 there: no cap).
- share = max over deserved's dimensions of allocated/deserved; a queue without
  `deserved` is best effort (share 1) and goes after every queue still under its share.

Callbacks: QueueOrder (spec.priority first, then lower share, then a queue with
deserved before a best-effort one); Allocatable ⇔ Open and allocated + request ≤
realCapability on the dimensions the task asks for; JobEnqueueable (Reject when the
queue is not Open; else Permit unless minResources + allocated + inqueue - elastic
exceeds realCapability, which leaves the Normal `Unschedulable` event
"queue resource quota insufficient: insufficient <resource>, …" on the PodGroup);
JobEnqueued books minResources as inqueue; Preemptive (may the queue reclaim for a
task: the task fits its realCapability and some dimension it asks for stays within
deserved); Reclaimable (victims from queues above deserved on a dimension the victim
uses, never below the victim queue's guarantee).

Volcano registers no Overused callback here (queues borrow idle resources; only
Allocatable caps them), and neither do we. `enableHierarchy` (parent/child queue
trees) is not implemented: the configuration refuses the switch. Never does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeedge.scheduler.framework.info import TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import (
    ALLOCATED_STATUSES,
    JobInfo,
    PodGroupPhase,
    QueueInfo,
)
from kubeedge.scheduler.framework.job_session import PERMIT, REJECT, JobSession
from kubeedge.scheduler.framework.resource import CPU, MEMORY, PODS, Resource

__all__ = ["CapacityPlugin", "QueueCapacity", "quota_message"]

NAME = "capacity"
QUOTA_INSUFFICIENT = "queue resource quota insufficient"
INFINITY = math.inf

# A vector of resource amounts in the units `Resource` counts (cpu in millicores,
# memory in bytes, extended resources in units). A scalar key that is present with 0
# is not the same as an absent one (an absent capability dimension does not cap; a
# deserved dimension present at 0 makes that resource reclaimable), as in Volcano.
# `pods` is never a dimension here (Volcano ignores it for quotas).
Vector = dict[str, float]


def parse_list(resources: Mapping[str, Any] | None) -> Vector:
    """A ResourceList (`spec.deserved`, `spec.capability`, `guarantee.resource`)."""
    out: Vector = {}
    for name, value in (resources or {}).items():
        if name == PODS:
            continue
        out[name] = float(Resource.from_list({name: value}).get(name))
    return out


def request_of(resource: Resource) -> Vector:
    """The dimensions a request asks for (non-zero ones, no pods)."""
    out: Vector = {}
    if resource.milli_cpu > 0:
        out[CPU] = float(resource.milli_cpu)
    if resource.memory > 0:
        out[MEMORY] = float(resource.memory)
    for name, amount in resource.scalars.items():
        if amount > 0:
            out[name] = float(amount)
    return out


def _add(into: Vector, other: Mapping[str, float], sign: float = 1.0) -> None:
    for name, amount in other.items():
        into[name] = into.get(name, 0.0) + sign * amount


def _plus(*vectors: Mapping[str, float]) -> Vector:
    out: Vector = {}
    for vector in vectors:
        _add(out, vector)
    return out


def _exceeded(left: Mapping[str, float], right: Mapping[str, float]) -> Vector:
    """`left - right` per dimension of `left`, none below zero (Volcano's ExceededPart)."""
    return {name: max(amount - right.get(name, 0.0), 0.0) for name, amount in left.items()}


def over(used: Mapping[str, float], limit: Mapping[str, float],
         dims: Iterable[str]) -> list[str]:
    """The dimensions among `dims` where `used` exceeds `limit` (a dimension `limit`
    lacks is 0): Volcano's LessEqualWithDimensionAndResourcesName, in its order
    (cpu, memory, then extended resources)."""
    names = sorted(dims, key=lambda n: (n != CPU, n != MEMORY, n))
    return [n for n in names if used.get(n, 0.0) > limit.get(n, 0.0)]


def quota_message(resources: list[str]) -> str:
    """Volcano's FormatResourceNames("queue resource quota insufficient", "insufficient",
    names)."""
    if not resources:
        return QUOTA_INSUFFICIENT
    return QUOTA_INSUFFICIENT + ": " + ", ".join(f"insufficient {n}" for n in resources)


def _present(vector: Mapping[str, float]) -> set[str]:
    """Volcano's ResourceNames: dimensions with an amount."""
    return {name for name, amount in vector.items() if amount > 0}


@dataclass
class QueueCapacity:
    """One queue's quota and usage in this session."""

    name: str
    deserved: Vector = field(default_factory=dict)
    guarantee: Vector = field(default_factory=dict)
    # spec.capability with unset cpu/memory as infinite; None when the queue has none.
    capability: Vector | None = None
    real_capability: Vector = field(default_factory=dict)
    allocated: Vector = field(default_factory=dict)
    request: Vector = field(default_factory=dict)
    inqueue: Vector = field(default_factory=dict)
    # Σ over jobs of what they hold beyond their minResources (Volcano's elastic).
    elastic: Vector = field(default_factory=dict)
    share: float = 0.0

    def update_share(self) -> None:
        dims = _present(self.deserved)
        if not dims:
            self.share = 1.0  # best effort: after every queue still under its share
            return
        share = 0.0
        for name in dims:
            share = max(share, self.allocated.get(name, 0.0) / self.deserved[name])
        self.share = share


def compare_share(left: QueueCapacity | None, right: QueueCapacity | None) -> int:
    """Lower share first; on a tie a queue with deserved before a best-effort one."""
    ls = left.share if left is not None else 1.0
    rs = right.share if right is not None else 1.0
    if ls != rs:
        return -1 if ls < rs else 1
    left_deserved = left is not None and bool(_present(left.deserved))
    right_deserved = right is not None and bool(_present(right.deserved))
    if left_deserved == right_deserved:
        return 0
    return -1 if left_deserved else 1


class CapacityPlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        self.arguments = dict(arguments or {})
        self.queues: dict[str, QueueCapacity] = {}
        self._ssn: JobSession | None = None

    # -- session open -----------------------------------------------------------------

    def on_session_open(self, ssn: JobSession) -> None:  # type: ignore[override]
        self._ssn = ssn
        self.queues = {}
        total = request_of(ssn.total)
        guarantees: Vector = {}
        for queue in ssn.queues.values():
            _add(guarantees, _guarantee(queue))
        free = _exceeded(total, guarantees)
        for job in ssn.jobs.values():
            queue = ssn.queues.get(job.queue)
            if queue is None:
                continue
            attr = self.queues.get(queue.name)
            if attr is None:
                attr = self.queues[queue.name] = _queue_capacity(queue, free)
            self._count(attr, job)
        for attr in self.queues.values():
            # deserved never above the real capability, never below the guarantee.
            for name, amount in list(attr.deserved.items()):
                if name in attr.real_capability or name in (CPU, MEMORY):
                    attr.deserved[name] = min(amount, attr.real_capability.get(name, 0.0))
            for name, amount in attr.guarantee.items():
                attr.deserved[name] = max(attr.deserved.get(name, 0.0), amount)
            attr.update_share()
        ssn.add_queue_order_fn(NAME, self.queue_order)
        ssn.add_allocatable_fn(NAME, self.allocatable)
        ssn.add_job_enqueueable_fn(NAME, self.job_enqueueable)
        ssn.add_job_enqueued_fn(NAME, self.job_enqueued)
        ssn.add_preemptive_fn(NAME, self.preemptive)
        ssn.add_reclaimable_fn(NAME, self.reclaimable)
        ssn.add_event_handler(self._allocated, self._deallocated)

    @staticmethod
    def _count(attr: QueueCapacity, job: JobInfo) -> None:
        allocated = Resource()
        for task in job.tasks.values():
            if task.status in ALLOCATED_STATUSES:
                allocated.add(task.resreq)
                _add(attr.request, request_of(task.resreq))
            elif task.status == TaskStatus.PENDING:
                _add(attr.request, request_of(task.resreq))
        held = request_of(allocated)
        _add(attr.allocated, held)
        minimum = parse_list((job.podgroup.get("spec") or {}).get("minResources"))
        if job.min_resources is not None:
            # What an admitted job still reserves: an Inqueue job always, a Running one
            # only once minMember tasks hold resources (a finished driver must not
            # reserve its share again, Volcano's comment on Spark jobs).
            placed = job.count(ALLOCATED_STATUSES)
            if job.phase == PodGroupPhase.INQUEUE or (
                    job.phase == PodGroupPhase.RUNNING and placed >= job.min_available):
                _add(attr.inqueue, _exceeded(minimum, held))
        _add(attr.elastic, _exceeded(held, minimum))

    # -- callbacks --------------------------------------------------------------------

    def queue_order(self, left: object, right: object) -> int:
        assert isinstance(left, QueueInfo) and isinstance(right, QueueInfo)
        if left.priority != right.priority:
            return -1 if left.priority > right.priority else 1
        return compare_share(self.queues.get(left.name), self.queues.get(right.name))

    def allocatable(self, queue: QueueInfo, task: TaskInfo) -> bool:
        if not queue.is_open:
            return False
        attr = self.queues.get(queue.name)
        if attr is None:
            return True
        request = request_of(task.resreq)
        return not over(_plus(attr.allocated, request), attr.real_capability, request)

    def job_enqueueable(self, job: JobInfo) -> int:
        ssn = self._ssn
        assert ssn is not None
        queue = ssn.queues.get(job.queue)
        if queue is None or not queue.is_open:
            return REJECT
        attr = self.queues.get(queue.name)
        if attr is None or job.min_resources is None:
            return PERMIT
        minimum = request_of(job.min_resources)
        wanted = _plus(minimum, attr.allocated, attr.inqueue)
        _add(wanted, attr.elastic, -1.0)
        short = over(wanted, attr.real_capability, minimum)
        if not short:
            return PERMIT
        ssn.record_job_event(job, "Normal", "Unschedulable", quota_message(short))
        return REJECT

    def job_enqueued(self, job: JobInfo) -> None:
        attr = self.queues.get(job.queue)
        if attr is not None and job.min_resources is not None:
            _add(attr.inqueue, request_of(job.min_resources))

    def preemptive(self, queue: QueueInfo, task: TaskInfo) -> bool:
        """Whether `queue` may reclaim from other queues for `task`: only within its
        real capability, and only while some dimension the task asks for stays within
        deserved once it runs (the opposite of proportion's Overused)."""
        if not queue.is_open:
            return False
        attr = self.queues.get(queue.name)
        if attr is None:
            return False
        request = request_of(task.resreq)
        future = _plus(attr.allocated, request)
        if over(future, attr.real_capability, request):
            return False
        return any(future.get(n, 0.0) <= attr.deserved.get(n, 0.0) for n in request)

    def reclaimable(self, reclaimer: TaskInfo, reclaimees: list[TaskInfo]
                    ) -> list[TaskInfo] | None:
        """The reclaimees a reclaim for `reclaimer` may evict, in the order given: a
        victim must use a resource the reclaimer asks for, its queue must keep its
        guarantee without it, and its queue must be above deserved on a dimension the
        victim uses (or have no deserved on any of them). Each victim taken lowers its
        queue's usage for the next decision."""
        ssn = self._ssn
        assert ssn is not None
        reclaimer_job = ssn.job_of_task.get(reclaimer.key)
        if reclaimer_job is None or reclaimer_job.queue not in self.queues:
            return []
        wanted = _present(request_of(reclaimer.resreq))
        usage: dict[str, Vector] = {}
        victims: list[TaskInfo] = []
        for task in reclaimees:
            job = ssn.job_of_task.get(task.key)
            attr = self.queues.get(job.queue) if job is not None else None
            if attr is None:
                continue
            request = request_of(task.resreq)
            if not _present(request) & wanted:
                continue
            allocated = usage.setdefault(attr.name, dict(attr.allocated))
            remaining = _plus(allocated)
            _add(remaining, request, -1.0)
            if over(attr.guarantee, remaining, {*attr.guarantee, CPU, MEMORY}):
                continue
            relevant = [n for n in request
                        if (attr.deserved.get(n, 0.0) > 0 if n in (CPU, MEMORY)
                            else n in attr.deserved)]
            immediate = not (_present(request) & _present(attr.deserved))
            if not immediate and not any(
                    allocated.get(n, 0.0) > attr.deserved.get(n, 0.0) for n in relevant):
                continue
            _add(allocated, request, -1.0)
            victims.append(task)
        return victims

    # -- statement events -------------------------------------------------------------

    def _attr_of(self, task: TaskInfo) -> QueueCapacity | None:
        assert self._ssn is not None
        job = self._ssn.job_of_task.get(task.key)
        return None if job is None else self.queues.get(job.queue)

    def _allocated(self, task: TaskInfo) -> None:
        attr = self._attr_of(task)
        if attr is not None:
            _add(attr.allocated, request_of(task.resreq))
            attr.update_share()

    def _deallocated(self, task: TaskInfo) -> None:
        attr = self._attr_of(task)
        if attr is not None:
            _add(attr.allocated, request_of(task.resreq), -1.0)
            attr.update_share()


def _guarantee(queue: QueueInfo) -> Vector:
    spec = queue.queue.get("spec") or {}
    return parse_list((spec.get("guarantee") or {}).get("resource"))


def _queue_capacity(queue: QueueInfo, free: Vector) -> QueueCapacity:
    spec = queue.queue.get("spec") or {}
    attr = QueueCapacity(name=queue.name, deserved=parse_list(spec.get("deserved")),
                         guarantee=_guarantee(queue))
    real = _plus(free, attr.guarantee)
    capability = spec.get("capability")
    if capability:
        cap = parse_list(capability)
        for name in (CPU, MEMORY):
            if cap.get(name, 0.0) <= 0:
                cap[name] = INFINITY
        attr.capability = cap
        # A dimension the capability does not name is not capped.
        for name in {*real, CPU, MEMORY}:
            if name in cap:
                real[name] = min(real.get(name, 0.0), cap[name])
    attr.real_capability = real
    return attr
