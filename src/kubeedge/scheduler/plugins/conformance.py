"""The `conformance` plugin (specs/volcano.md §2.4): preempt and reclaim never evict
critical pods (PriorityClass `system-cluster-critical` or `system-node-critical`) nor
anything in `kube-system`. Never does I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge.scheduler.framework.info import TaskInfo
from kubeedge.scheduler.framework.job_session import JobSession

__all__ = ["ConformancePlugin", "evictable"]

NAME = "conformance"
CRITICAL_CLASSES = frozenset({"system-cluster-critical", "system-node-critical"})
SYSTEM_NAMESPACE = "kube-system"


def evictable(preemptor: TaskInfo, preemptees: list[TaskInfo]) -> list[TaskInfo]:
    return [task for task in preemptees
            if task.namespace != SYSTEM_NAMESPACE
            and (task.pod.get("spec") or {}).get("priorityClassName") not in CRITICAL_CLASSES]


class ConformancePlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        self.arguments = dict(arguments or {})

    def on_session_open(self, ssn: JobSession) -> None:  # type: ignore[override]
        ssn.add_preemptable_fn(NAME, evictable)
        ssn.add_reclaimable_fn(NAME, evictable)
