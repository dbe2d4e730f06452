"""Volcano's Statement (specs/volcano.md §2.3): the ordered log of a gang's placements
in one session, applied to the session's node accounting at once, then either
committed (the placements are handed back to be bound) or discarded (undone in reverse
order). It is the all-or-nothing of gang scheduling.

Only `Allocate` exists so far (no pipelining or eviction yet). Never does I/O: the
scheduler binds what `commit` returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo

if TYPE_CHECKING:
    from kubeedge.scheduler.framework.job_session import JobSession

__all__ = ["Statement"]


class Statement:
    def __init__(self, ssn: JobSession) -> None:
        self.ssn = ssn
        self.operations: list[tuple[TaskInfo, str]] = []

    def allocate(self, task: TaskInfo, node: NodeInfo) -> None:
        """Count `task` on `node` now (the cache assumes it); plugins that keep shares
        hear of it."""
        self.ssn.cache.assume(task, node.name)
        self.operations.append((task, node.name))
        self.ssn.on_allocate(task)

    def discard(self) -> None:
        for task, _ in reversed(self.operations):
            self.ssn.cache.forget(task)
            self.ssn.on_deallocate(task)
        self.operations = []

    def commit(self) -> list[tuple[TaskInfo, str]]:
        placed, self.operations = self.operations, []
        self.ssn.committed.extend(placed)
        return placed
