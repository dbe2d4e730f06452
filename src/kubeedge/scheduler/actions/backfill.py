"""The backfill action (specs/volcano.md §2.3): place best-effort tasks (pods that
request nothing) of admitted, valid jobs on the best node, without the gang check.
Never does I/O: the scheduler binds what the session committed."""

from __future__ import annotations

from kubeedge.scheduler.actions.allocate import allocate_task
from kubeedge.scheduler.framework.job_info import PodGroupPhase
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.session import FitErrors
from kubeedge.scheduler.framework.statement import Statement

__all__ = ["backfill"]


def backfill(ssn: JobSession) -> None:
    for job in ssn.sorted_jobs(ssn.jobs.values()):
        if job.phase == PodGroupPhase.PENDING or ssn.job_valid(job) is not None:
            continue
        for task in ssn.sorted_tasks(job.pending_tasks()):
            if not task.resreq.is_empty():
                continue
            result = allocate_task(ssn, task)
            if isinstance(result, FitErrors):
                job.fit_errors[task.key] = result
                continue
            stmt = Statement(ssn)
            stmt.allocate(task, result)
            stmt.commit()
