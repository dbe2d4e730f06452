"""What the Volcano session knows about a gang (`JobInfo`: a PodGroup and its pods)
and a queue (`QueueInfo`), and the PodGroup status rules (specs/volcano.md §1.1, §2.1).

Owns the task-status counters the gang rules read (ready, valid, scheduled), the
PodGroup phase recomputed at session close, and Volcano's resource comparisons for
enqueue (`less_equal`: only the dimensions the left side asks for count).

Never does I/O; PodGroup, Queue and Pod objects are informer-cache objects and are never
changed here (the session writes status through the API at close).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeedge.api import meta
from kubeedge.scheduler.framework.info import TaskInfo, TaskStatus
from kubeedge.scheduler.framework.resource import Resource
from kubeedge.scheduler.framework.session import FitErrors

__all__ = [
    "GROUP_NAME_ANNOTATION",
    "JobInfo",
    "PodGroupPhase",
    "QueueInfo",
    "QueueState",
    "less_equal",
    "scaled",
    "task_preemptable",
]

Obj = dict[str, Any]

GROUP_NAME_ANNOTATION = "scheduling.k8s.io/group-name"
TASK_INDEX_ANNOTATION = "volcano.sh/task-index"
# A pod (annotation first, then label) or PodGroup saying whether it may be evicted by
# preempt or reclaim; unset means it may (Volcano's GetPodPreemptable).
PREEMPTABLE_KEY = "volcano.sh/preemptable"
DEFAULT_QUEUE = "default"


class PodGroupPhase(enum.Enum):
    PENDING = "Pending"
    INQUEUE = "Inqueue"
    RUNNING = "Running"
    UNKNOWN = "Unknown"
    COMPLETED = "Completed"


class QueueState(enum.Enum):
    OPEN = "Open"
    CLOSED = "Closed"
    CLOSING = "Closing"
    UNKNOWN = "Unknown"


# Volcano's AllocatedStatus: the task holds (or is about to hold) node resources.
ALLOCATED_STATUSES = frozenset({TaskStatus.ALLOCATED, TaskStatus.BINDING, TaskStatus.BOUND,
                                TaskStatus.RUNNING})
# ReadyTaskNum: tasks that count toward minAvailable.
READY_STATUSES = ALLOCATED_STATUSES | {TaskStatus.SUCCEEDED}
# ValidTaskNum: tasks that can still count toward minAvailable.
VALID_STATUSES = READY_STATUSES | {TaskStatus.PIPELINED, TaskStatus.PENDING}
# Tasks that count as scheduled for the phase (§1.1; Allocated and Binding are
# committed placements whose binds are under way).
SCHEDULED_STATUSES = ALLOCATED_STATUSES | {TaskStatus.SUCCEEDED, TaskStatus.FAILED}


def less_equal(left: Resource, right: Resource) -> bool:
    """Every dimension `left` asks for fits in `right` (a dimension `right` lacks is 0)."""
    if left.milli_cpu > right.milli_cpu or left.memory > right.memory:
        return False
    if left.pods and left.pods > right.pods:
        return False
    return all(amount <= right.scalars.get(name, 0)
               for name, amount in left.scalars.items() if amount > 0)


def scaled(resource: Resource, factor: float) -> Resource:
    return Resource(int(resource.milli_cpu * factor), int(resource.memory * factor),
                    int(resource.pods * factor),
                    {name: int(amount * factor) for name, amount in resource.scalars.items()})


def clamp_sub(left: Resource, right: Resource) -> Resource:
    """`left - right`, no dimension below zero."""
    out = Resource(max(left.milli_cpu - right.milli_cpu, 0), max(left.memory - right.memory, 0),
                   max(left.pods - right.pods, 0))
    for name, amount in left.scalars.items():
        left_over = amount - right.scalars.get(name, 0)
        if left_over > 0:
            out.scalars[name] = left_over
    return out


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(eq=False)
class QueueInfo:
    name: str
    queue: Obj
    weight: int
    state: QueueState
    capability: Resource | None
    priority: int
    reclaimable: bool

    @classmethod
    def from_queue(cls, queue: Obj) -> QueueInfo:
        spec = queue.get("spec") or {}
        raw_state = (queue.get("status") or {}).get("state") or "Open"
        try:
            state = QueueState(raw_state)
        except ValueError:
            state = QueueState.UNKNOWN
        capability = spec.get("capability")
        return cls(
            name=meta.name_of(queue),
            queue=queue,
            weight=max(_int(spec.get("weight"), 1), 1),
            state=state,
            capability=Resource.from_list(capability) if capability else None,
            priority=_int(spec.get("priority")),
            reclaimable=spec.get("reclaimable") is not False,
        )

    @property
    def is_open(self) -> bool:
        return self.state == QueueState.OPEN


@dataclass(eq=False)
class JobInfo:
    """One PodGroup and its tasks, as the session sees them."""

    uid: str
    namespace: str
    name: str
    podgroup: Obj
    queue: str
    min_available: int
    min_resources: Resource | None
    priority: int
    phase: PodGroupPhase
    creation: str
    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    # Why each task failed to place in this session (task key -> fit errors).
    fit_errors: dict[str, FitErrors] = field(default_factory=dict)
    # Tasks placed by a committed statement this session.
    committed: int = 0
    # The gang condition the session closed with ({type, status, reason, message}).
    condition: dict[str, str] | None = None
    # Tasks per status and pending best-effort tasks, kept while a session tracks the
    # job (`track`): job order compares readiness on every comparison, so the counts
    # must not cost a pass over the tasks each time. The session clears them whenever
    # a Statement changes one of the job's tasks (JobSession.on_allocate/
    # on_deallocate) and at close; untracked, every call counts afresh.
    _tracked: bool = field(default=False, init=False, repr=False)
    # (Keyed by the status's value: an Enum member hashes through Python code.)
    _counts: dict[str, int] | None = field(default=None, init=False, repr=False)
    _best_effort: int = field(default=0, init=False, repr=False)

    @classmethod
    def from_podgroup(cls, podgroup: Obj, tasks: Iterable[TaskInfo],
                      priorities: Mapping[str, int] | None = None) -> JobInfo:
        md = podgroup.get("metadata") or {}
        spec = podgroup.get("spec") or {}
        raw_phase = (podgroup.get("status") or {}).get("phase") or "Pending"
        try:
            phase = PodGroupPhase(raw_phase)
        except ValueError:
            phase = PodGroupPhase.PENDING
        min_resources = spec.get("minResources")
        priority_class = spec.get("priorityClassName") or ""
        return cls(
            uid=str(md.get("uid") or ""),
            namespace=str(md.get("namespace") or ""),
            name=str(md.get("name") or ""),
            podgroup=podgroup,
            queue=str(spec.get("queue") or DEFAULT_QUEUE),
            min_available=max(_int(spec.get("minMember"), 1), 0),
            min_resources=(Resource.from_list(min_resources)
                           if isinstance(min_resources, dict) else None),
            priority=(priorities or {}).get(priority_class, 0),
            phase=phase,
            creation=str(md.get("creationTimestamp") or ""),
            tasks={task.key: task for task in tasks},
        )

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def track(self, on: bool) -> None:
        """Keep the status counts between calls (on) or count afresh each call (off);
        either way the next call counts."""
        self._tracked = on
        self._counts = None

    def tasks_changed(self) -> None:
        """A task of this job changed status: the kept counts are stale."""
        self._counts = None

    def _histogram(self) -> dict[str, int]:
        """Tasks per status value."""
        counts = self._counts
        if counts is not None:
            return counts
        counts = {}
        best_effort = 0
        pending = TaskStatus.PENDING
        for task in self.tasks.values():
            status = task.status
            value = status._value_
            counts[value] = counts.get(value, 0) + 1
            if status is pending and task.resreq.is_empty():
                best_effort += 1
        self._best_effort = best_effort
        if self._tracked:
            self._counts = counts
        return counts

    def status_counts(self) -> dict[TaskStatus, int]:
        """Tasks per status."""
        return {TaskStatus(value): n for value, n in self._histogram().items()}

    def count(self, statuses: frozenset[TaskStatus]) -> int:
        counts = self._histogram()
        return sum(counts.get(status._value_, 0) for status in statuses)

    def ready_count(self) -> int:
        return self.count(READY_STATUSES)

    def valid_count(self) -> int:
        return self.count(VALID_STATUSES)

    def waiting_count(self) -> int:
        """Volcano's WaitingTaskNum: tasks pipelined onto releasing resources."""
        return self._histogram().get(TaskStatus.PIPELINED._value_, 0)

    def _pending_best_effort(self) -> int:
        """Pending tasks that request nothing (counted with the histogram)."""
        self._histogram()
        return self._best_effort

    def is_pipelined(self) -> bool:
        """Volcano's IsPipelined (§2.1): ready + waiting (+ pending best-effort) reach
        minMember, so the gang will run once its victims are gone."""
        return (self.ready_count() + self.waiting_count() + self._pending_best_effort()
                >= self.min_available)

    def is_starving(self) -> bool:
        """Volcano's IsStarving (§2.1): ready + waiting fall short of minMember."""
        return self.ready_count() + self.waiting_count() < self.min_available

    def is_ready(self) -> bool:
        """Volcano's JobReady for the gang: ready tasks, plus pending best-effort ones
        (backfill places those without a gang check), reach minMember."""
        return self.ready_count() + self._pending_best_effort() >= self.min_available

    def has_pending_best_effort(self) -> bool:
        return self._pending_best_effort() > 0

    def pending_tasks(self) -> list[TaskInfo]:
        return [task for task in self.tasks.values() if task.status == TaskStatus.PENDING]

    def allocated(self) -> Resource:
        total = Resource()
        for task in self.tasks.values():
            if task.status in ALLOCATED_STATUSES:
                total.add(task.resreq)
        return total

    def inqueue_share(self) -> Resource:
        """What an admitted job still reserves for enqueue: its minResources less what
        its tasks already hold (Volcano's GetInqueueResource), nothing once done."""
        if self.min_resources is None or self.phase not in (
                PodGroupPhase.INQUEUE, PodGroupPhase.RUNNING):
            return Resource()
        return clamp_sub(self.min_resources, self.allocated())

    def next_phase(self, unschedulable: bool,
                   counts: Mapping[TaskStatus, int] | None = None) -> PodGroupPhase:
        """§1.1, recomputed at session close; `counts`: `status_counts()` if the caller
        has them."""
        if counts is None:
            counts = self.status_counts()
        running = counts.get(TaskStatus.RUNNING, 0)
        if running and unschedulable:
            return PodGroupPhase.UNKNOWN
        scheduled = sum(n for status, n in counts.items() if status in SCHEDULED_STATUSES)
        if scheduled >= self.min_available and self.tasks:
            finished = (counts.get(TaskStatus.SUCCEEDED, 0)
                        + counts.get(TaskStatus.FAILED, 0))
            return PodGroupPhase.COMPLETED if scheduled == finished else PodGroupPhase.RUNNING
        if self.phase != PodGroupPhase.INQUEUE:
            return PodGroupPhase.PENDING
        return PodGroupPhase.INQUEUE

    def histogram(self) -> str:
        """Volcano's JobInfo.FitError when no task was tried: `pod group is not ready,
        4 Pending, 4 minAvailable`."""
        counts = dict(self._histogram())
        counts["minAvailable"] = self.min_available
        parts = sorted(f"{n} {reason}" for reason, n in counts.items())
        return "pod group is not ready, " + ", ".join(parts)

    def fit_message(self) -> str:
        """Why the gang is short, in kube-scheduler's words when a task was tried and
        fit nowhere (the first such task's FitError without the preemption verdict),
        else Volcano's status histogram."""
        return self.fit_message_with(FitErrors.summary)

    def fit_message_with(self, summary: Callable[[FitErrors], str]) -> str:
        """`fit_message`, the FitErrors worded by `summary` (a session's memo: tasks
        of one shape share their FitErrors, and wording one costs a pass over the
        nodes)."""
        if self.fit_errors:
            tried = [task for task in self.tasks.values() if task.key in self.fit_errors]
            if tried:
                # The first in task order; `min` keeps the first of equals, as a
                # stable sort would.
                return summary(self.fit_errors[min(tried, key=task_order_key).key])
        return self.histogram()


def task_preemptable(task: TaskInfo) -> bool:
    """`volcano.sh/preemptable` on the pod, annotation before label; an unreadable
    value means no, unset means yes (Volcano's GetPodPreemptable)."""
    md = task.pod.get("metadata") or {}
    for where in (md.get("annotations") or {}, md.get("labels") or {}):
        value = where.get(PREEMPTABLE_KEY)
        if value is not None:
            return str(value).strip().lower() in ("1", "t", "true")
    return True


def task_order_key(task: TaskInfo) -> tuple[int, str, str]:
    """Volcano's fallback task order: `volcano.sh/task-index`, then creation time."""
    md = task.pod.get("metadata") or {}
    index = _int((md.get("annotations") or {}).get(TASK_INDEX_ANNOTATION), 0)
    return index, str(md.get("creationTimestamp") or ""), task.name
