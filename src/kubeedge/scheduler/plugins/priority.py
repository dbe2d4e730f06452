"""The `priority` plugin (specs/volcano.md §2.4): jobs by their PriorityClass value,
tasks by their pod's priority, higher first. For preempt: a task may evict tasks of
jobs with a lower priority than its own job, and within its own job tasks of a lower
task priority; a job starves while fewer than all its tasks are ready or pipelined.
Never does I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge.scheduler.framework.info import TaskInfo
from kubeedge.scheduler.framework.job_info import JobInfo
from kubeedge.scheduler.framework.job_session import JobSession

__all__ = ["PriorityPlugin", "task_priority"]

NAME = "priority"
TASK_PRIORITY_ANNOTATION = "volcano.sh/task-priority"


def task_priority(task: TaskInfo) -> int:
    md = task.pod.get("metadata") or {}
    override = (md.get("annotations") or {}).get(TASK_PRIORITY_ANNOTATION)
    value = override if override is not None else (task.pod.get("spec") or {}).get("priority")
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class PriorityPlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        self.arguments = dict(arguments or {})
        # Task priorities read this session, by task key: task order compares them on
        # every comparison of a sort, and a pod does not change within a session.
        self._priorities: dict[str, int] = {}

    def on_session_open(self, ssn: JobSession) -> None:  # type: ignore[override]
        self._priorities = {}
        ssn.add_job_order_fn(NAME, self.job_order)
        ssn.add_task_order_fn(NAME, self.task_order)

        def preemptable(preemptor: TaskInfo, preemptees: list[TaskInfo]
                        ) -> list[TaskInfo] | None:
            return self.preemptable(ssn, preemptor, preemptees)

        ssn.add_preemptable_fn(NAME, preemptable)
        ssn.add_job_starving_fn(NAME, self.job_starving)

    @staticmethod
    def preemptable(ssn: JobSession, preemptor: TaskInfo, preemptees: list[TaskInfo]
                    ) -> list[TaskInfo] | None:
        job = ssn.job_of_task.get(preemptor.key)
        if job is None:
            return None
        victims = []
        for task in preemptees:
            victim_job = ssn.job_of_task.get(task.key)
            if victim_job is None:
                continue
            if victim_job is not job:
                if victim_job.priority < job.priority:
                    victims.append(task)
            elif task_priority(task) < task_priority(preemptor):
                victims.append(task)
        return victims

    @staticmethod
    def job_starving(job: JobInfo) -> bool:
        return job.ready_count() + job.waiting_count() < len(job.tasks)

    @staticmethod
    def job_order(left: object, right: object) -> int:
        assert isinstance(left, JobInfo) and isinstance(right, JobInfo)
        return (left.priority < right.priority) - (left.priority > right.priority)

    def task_order(self, left: object, right: object) -> int:
        assert isinstance(left, TaskInfo) and isinstance(right, TaskInfo)
        lp, rp = self._priority(left), self._priority(right)
        return (lp < rp) - (lp > rp)

    def _priority(self, task: TaskInfo) -> int:
        priority = self._priorities.get(task.key)
        if priority is None:
            priority = self._priorities[task.key] = task_priority(task)
        return priority
