"""The enqueue action (specs/volcano.md §2.3): admit Pending jobs to Inqueue, queue
by queue in queue order, one job per queue per turn in job order, when they have no
minResources or the plugins vote them enqueueable (overcommit, proportion). Jobs of
unknown or non-Open queues wait (Volcano lets a job without minResources into a closed
queue and only refuses its tasks at allocate; here the queue refuses it outright).
Never does I/O: the phase is written at session close."""

from __future__ import annotations

from kubeedge.scheduler.framework.job_info import JobInfo, PodGroupPhase
from kubeedge.scheduler.framework.job_session import JobSession

__all__ = ["enqueue"]


def enqueue(ssn: JobSession) -> None:
    by_queue: dict[str, list[JobInfo]] = {}
    for job in ssn.jobs.values():
        queue = ssn.queues.get(job.queue)
        if job.phase == PodGroupPhase.PENDING and queue is not None and queue.is_open:
            by_queue.setdefault(job.queue, []).append(job)
    pending = {name: ssn.sorted_jobs(jobs) for name, jobs in by_queue.items()}
    queues = ssn.sorted_queues(ssn.queues[name] for name in pending)
    while queues:
        # Round robin: one job from each queue in turn (the order is re-read each
        # round, since admissions change the queues' shares).
        for queue in list(queues):
            jobs = pending[queue.name]
            job = jobs.pop(0)
            if job.min_resources is None or ssn.job_enqueueable(job):
                ssn.job_enqueued(job)
                job.phase = PodGroupPhase.INQUEUE
            if not jobs:
                queues.remove(queue)
        queues = ssn.sorted_queues(queues)
