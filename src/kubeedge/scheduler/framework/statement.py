"""Volcano's Statement (specs/volcano.md §2.3): the ordered log of one job's
operations in a session — Allocate, Pipeline, Evict — each applied to the session's
state at once (node accounting, task status, the plugins' share bookkeeping through the
session's allocate/deallocate events), then either committed or discarded (undone in
reverse order). It is the all-or-nothing of gang scheduling and of preemption.

- Allocate: the task is assumed on its node (the scheduler binds it after commit).
- Pipeline: the task is reserved on a node whose resources are still being released
  (FutureIdle = Idle + Releasing - Pipelined); never bound, the reservation lasts only
  for the session (`JobSession.close` gives it back; the next session decides again).
- Evict: the victim is Releasing for the rest of the session, its resources count as
  releasing on its node; the scheduler deletes the pod after commit.

Never does I/O: `commit` hands back what the scheduler must write.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo, TaskStatus

if TYPE_CHECKING:
    from kubeedge.scheduler.framework.job_session import JobSession

__all__ = ["Commit", "Eviction", "Operation", "Statement"]


class Operation(enum.Enum):
    ALLOCATE = "Allocate"
    PIPELINE = "Pipeline"
    EVICT = "Evict"


@dataclass(frozen=True, slots=True)
class Eviction:
    """A victim to delete and why (Volcano's reasons: "preempt", "reclaim"), for the
    task that needed its place."""

    task: TaskInfo
    reason: str
    preemptor: TaskInfo | None = None


@dataclass(slots=True)
class _Op:
    kind: Operation
    task: TaskInfo
    node_name: str = ""
    reason: str = ""
    # Evict: the status to restore on discard, and the task it made room for.
    previous: TaskStatus = TaskStatus.PENDING
    preemptor: TaskInfo | None = None
    evicted: bool = False


class Commit(list[tuple[TaskInfo, str]]):
    """What a committed statement asks the scheduler to do: the binds (the list
    itself, (task, node) pairs), the evictions, and the pipelined reservations
    ((task, node) pairs, never bound), of which `nominated` made room by evicting."""

    def __init__(self, binds: list[tuple[TaskInfo, str]], evictions: list[Eviction],
                 pipelined: list[tuple[TaskInfo, str]],
                 nominated: list[tuple[TaskInfo, str]]) -> None:
        super().__init__(binds)
        self.evictions = evictions
        self.pipelined = pipelined
        self.nominated = nominated

    @property
    def binds(self) -> list[tuple[TaskInfo, str]]:
        return list(self)


class Statement:
    def __init__(self, ssn: JobSession) -> None:
        self.ssn = ssn
        self._ops: list[_Op] = []

    @property
    def operations(self) -> list[tuple[Operation, TaskInfo]]:
        return [(op.kind, op.task) for op in self._ops]

    def has_evictions(self) -> bool:
        return any(op.kind == Operation.EVICT for op in self._ops)

    def allocate(self, task: TaskInfo, node: NodeInfo) -> None:
        """Count `task` on `node` now (the cache assumes it); plugins that keep shares
        hear of it."""
        self.ssn.cache.assume(task, node.name)
        self._ops.append(_Op(Operation.ALLOCATE, task, node.name))
        self.ssn.on_allocate(task)

    def pipeline(self, task: TaskInfo, node: NodeInfo, *, evicted: bool = False) -> None:
        """Reserve `node`'s future idle resources for `task` (not bound). `evicted`:
        victims were evicted for it, so the pod is nominated to the node."""
        self.ssn.cache.pipeline(task, node.name)
        self._ops.append(_Op(Operation.PIPELINE, task, node.name, evicted=evicted))
        self.ssn.on_allocate(task)

    def evict(self, task: TaskInfo, reason: str, preemptor: TaskInfo | None = None
              ) -> None:
        """Make `task` Releasing in the session; deleted once committed."""
        previous = task.status
        task.status = TaskStatus.RELEASING
        self._ops.append(_Op(Operation.EVICT, task, task.node_name, reason, previous,
                             preemptor))
        self.ssn.on_deallocate(task)

    def merge(self, other: Statement) -> None:
        """Take over `other`'s operations (already applied to the session), so they are
        committed or discarded with this statement."""
        self._ops.extend(other._ops)
        other._ops = []

    def discard(self) -> None:
        for op in reversed(self._ops):
            if op.kind == Operation.ALLOCATE:
                self.ssn.cache.forget(op.task)
                self.ssn.on_deallocate(op.task)
            elif op.kind == Operation.PIPELINE:
                self.ssn.cache.unpipeline(op.task)
                self.ssn.on_deallocate(op.task)
            else:
                op.task.status = op.previous
                self.ssn.on_allocate(op.task)
        self._ops = []

    def commit(self) -> Commit:
        binds: list[tuple[TaskInfo, str]] = []
        evictions: list[Eviction] = []
        pipelined: list[tuple[TaskInfo, str]] = []
        nominated: list[tuple[TaskInfo, str]] = []
        for op in self._ops:
            if op.kind == Operation.ALLOCATE:
                binds.append((op.task, op.node_name))
            elif op.kind == Operation.PIPELINE:
                pipelined.append((op.task, op.node_name))
                if op.evicted:
                    nominated.append((op.task, op.node_name))
            else:
                self.ssn.cache.evicted(op.task)
                evictions.append(Eviction(op.task, op.reason, op.preemptor))
        self._ops = []
        self.ssn.committed.extend(binds)
        self.ssn.evictions.extend(evictions)
        self.ssn.pipelined.extend(pipelined)
        self.ssn.nominated.extend(nominated)
        return Commit(binds, evictions, pipelined, nominated)
