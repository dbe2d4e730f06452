"""The reclaim action (specs/volcano.md §2.3): a queue below its fair share takes
resources back from queues that lent them.

Queues go in queue order (re-sorted after each job, so they interleave by share),
skipping overused ones. In each, starving admitted jobs go in job order; each pending
task (not `preemptionPolicy: Never`) that its queue may still take
(`JobSession.preemptive`: proportion's Open and allocated + request ≤ deserved) looks
for a node where Running tasks of *other* queues — queues with `spec.reclaimable` not
false — that the plugins let go (`JobSession.reclaimable`: gang, conformance,
proportion, behind their `enableReclaimable` switches) make room; they are evicted
cheapest first until the task fits the node's future idle resources, and the task is
pipelined there. A node whose releasing resources already fit the task comes first, so
a task waiting for its victims does not evict twice. Each job's Statement is committed
only if the job is then pipelined, else discarded.

Never does I/O.
"""

from __future__ import annotations

from kubeedge.scheduler.actions.preempt import (
    evict_until_fit,
    place_with_victims,
    starving_jobs,
    task_shape,
)
from kubeedge.scheduler.framework.info import TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import JobInfo, QueueInfo, task_preemptable
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.statement import Statement

__all__ = ["reclaim", "reclaim_task"]

RECLAIM = "reclaim"


def reclaim_task(ssn: JobSession, stmt: Statement, task: TaskInfo, job: JobInfo,
                 queue: QueueInfo) -> bool:
    """Find `task` a place by evicting other queues' tasks; True when pipelined."""

    def keep(victim: TaskInfo) -> bool:
        if victim.status != TaskStatus.RUNNING or not task_preemptable(victim):
            return False
        victim_job = ssn.job_of_task.get(victim.key)
        if victim_job is None or victim_job.queue == job.queue:
            return False
        victim_queue = ssn.queues.get(victim_job.queue)
        return victim_queue is not None and victim_queue.reclaimable

    evictor = evict_until_fit(ssn, queue, RECLAIM, ssn.reclaimable, keep)
    return place_with_victims(ssn, stmt, task, evictor)


def reclaim(ssn: JobSession) -> None:
    starving = starving_jobs(ssn)
    pending = {job.uid: ssn.sorted_tasks(job.pending_tasks())
               for jobs in starving.values() for job in jobs}
    queues = ssn.sorted_queues(ssn.queues[name] for name in starving)
    while queues:
        queue = queues.pop(0)
        if ssn.overused(queue):
            continue
        jobs = starving[queue.name]
        job = jobs.pop(0)
        stmt = Statement(ssn)
        tasks = pending[job.uid]
        hopeless: set[tuple[object, ...]] = set()
        while ssn.job_starving(job) and tasks:
            task = tasks.pop(0)
            if task.preempt_never or not ssn.preemptive(queue, task):
                continue
            shape = task_shape(task)
            if shape not in hopeless and not reclaim_task(ssn, stmt, task, job, queue):
                hopeless.add(shape)
        if ssn.job_pipelined(job):
            stmt.commit()
        else:
            stmt.discard()
        if jobs:
            queues = ssn.sorted_queues([*queues, queue])
