"""The backfill action (specs/volcano.md §2.3): place best-effort tasks (pods that
request nothing) of admitted, valid jobs in known queues on the best node. A job's
backfilled tasks go into one Statement that is committed only if the job is then
ready, as Volcano's Session.Allocate dispatches binds only once JobReady holds: a
best-effort member never runs alone ahead of a gang that cannot be completed.
Never does I/O: the scheduler binds what the session committed."""

from __future__ import annotations

from kubeedge.scheduler.actions.allocate import allocate_task
from kubeedge.scheduler.framework.job_info import PodGroupPhase
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.session import FitErrors
from kubeedge.scheduler.framework.statement import Statement

__all__ = ["backfill"]


def backfill(ssn: JobSession) -> None:
    # Only admitted jobs of known queues with a pending best-effort task are
    # candidates, and nothing backfill does to one job changes whether another is one:
    # choose them before sorting (job order is a total order, so they keep the order
    # the whole sort would give them), as most sessions have none.
    candidates = [job for job in ssn.jobs.values()
                  if job.phase != PodGroupPhase.PENDING and job.queue in ssn.queues
                  and job.has_pending_best_effort()]
    for job in ssn.sorted_jobs(candidates):
        if ssn.job_valid(job) is not None:
            continue
        stmt = Statement(ssn)
        for task in ssn.sorted_tasks(job.pending_tasks()):
            if not task.resreq.is_empty():
                continue
            result = allocate_task(ssn, task)
            if isinstance(result, FitErrors):
                job.fit_errors[task.key] = result
                continue
            stmt.allocate(task, result)
        if ssn.job_ready(job):
            job.committed += len(stmt.commit())
        else:
            stmt.discard()
