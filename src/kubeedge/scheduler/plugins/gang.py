"""The `gang` plugin (specs/volcano.md §2.4): a job is valid only while it can still
reach minMember tasks, ready only once minMember tasks are placed, and not-ready jobs
go first. For preempt and reclaim: a job is pipelined once ready + pipelined tasks reach
minMember, starving while they fall short, and a victim may be taken from a job only
while it keeps more than minMember ready tasks (never below: its gang would break).
At session close it words the PodGroup condition (the scheduler writes it):
`Unschedulable`/`NotEnoughResources` with `"<short>/<tasks> tasks in gang
unschedulable: <why>"`, or `Scheduled`. Never does I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge.scheduler.framework.info import TaskInfo
from kubeedge.scheduler.framework.job_info import JobInfo
from kubeedge.scheduler.framework.job_session import PERMIT, REJECT, JobSession, ValidateResult
from kubeedge.scheduler.framework.session import FitErrors

__all__ = ["GangPlugin"]

NAME = "gang"
NOT_ENOUGH_TASKS = "NotEnoughTasks"
NOT_ENOUGH_RESOURCES = "NotEnoughResources"
# Volcano's reason for the Scheduled condition.
READY_REASON = "tasks in gang are ready to be scheduled"


class GangPlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        self.arguments = dict(arguments or {})

    def on_session_open(self, ssn: JobSession) -> None:  # type: ignore[override]
        ssn.add_job_valid_fn(NAME, self.job_valid)
        ssn.add_job_order_fn(NAME, self.job_order)
        ssn.add_job_ready_fn(NAME, JobInfo.is_ready)
        ssn.add_job_pipelined_fn(NAME, self.job_pipelined)
        ssn.add_job_starving_fn(NAME, JobInfo.is_starving)

        def victims(preemptor: TaskInfo, preemptees: list[TaskInfo]) -> list[TaskInfo]:
            return self.victims(ssn, preemptees)

        ssn.add_preemptable_fn(NAME, victims)
        ssn.add_reclaimable_fn(NAME, victims)
        ssn.add_close_fn(self.on_session_close)

    @staticmethod
    def job_pipelined(job: JobInfo) -> int:
        return PERMIT if job.is_pipelined() else REJECT

    @staticmethod
    def victims(ssn: JobSession, preemptees: list[TaskInfo]) -> list[TaskInfo]:
        """The preemptees whose job keeps more than minMember ready tasks after
        losing them, counted one by one in the order given."""
        left: dict[str, int] = {}
        out = []
        for task in preemptees:
            job = ssn.job_of_task.get(task.key)
            if job is None:
                continue
            ready = left.setdefault(job.uid, job.ready_count())
            if ready > job.min_available:
                left[job.uid] = ready - 1
                out.append(task)
        return out

    @staticmethod
    def on_session_close(ssn: JobSession) -> None:
        # Tasks of one shape share their FitErrors (allocate's predicate error cache):
        # word each once.
        summaries: dict[int, str] = {}

        def summary(errors: FitErrors) -> str:
            text = summaries.get(id(errors))
            if text is None:
                text = summaries[id(errors)] = errors.summary()
            return text

        for job in ssn.jobs.values():
            if job.is_ready():
                job.condition = {"type": "Scheduled", "status": "True",
                                 "reason": READY_REASON, "message": ""}
                continue
            short = job.min_available - job.ready_count()
            job.condition = {
                "type": "Unschedulable", "status": "True", "reason": NOT_ENOUGH_RESOURCES,
                "message": f"{short}/{len(job.tasks)} tasks in gang unschedulable: "
                           f"{job.fit_message_with(summary)}"}

    @staticmethod
    def job_valid(job: JobInfo) -> ValidateResult | None:
        valid = job.valid_count()
        if valid < job.min_available:
            return ValidateResult(
                False, NOT_ENOUGH_TASKS,
                f"Not enough valid tasks for gang-scheduling, valid: {valid}, "
                f"min: {job.min_available}")
        return None

    @staticmethod
    def job_order(left: object, right: object) -> int:
        assert isinstance(left, JobInfo) and isinstance(right, JobInfo)
        left_ready, right_ready = left.is_ready(), right.is_ready()
        if left_ready == right_ready:
            return 0
        return 1 if left_ready else -1
