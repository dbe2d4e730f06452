"""The `drf` plugin (specs/volcano.md §2.4): dominant resource fairness between jobs.
A job's share is max over resources of allocated/total (a resource the cluster lacks
counts 0 if unused, else 1); jobs with a lower share go first, and the share follows
the session's placements.

Preemptable: a running task may be evicted for a preemptor only if the preemptor's
job, with the preemptor placed, would not hold a larger share than the victim's job
without the victim (within 1e-6, Volcano's shareDelta): preemption moves resources
toward the poorer job, never away from it. Victims of one job are weighed one after
another, each against that job's allocation less the ones weighed before it.
`enableHierarchy` (HDRF) is not implemented. Never does I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge.scheduler.framework.info import TaskInfo
from kubeedge.scheduler.framework.job_info import JobInfo
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.resource import Resource
from kubeedge.scheduler.plugins.proportion import vector

__all__ = ["DrfPlugin", "dominant_share"]

NAME = "drf"
# Volcano's shareDelta: shares this close are equal.
SHARE_DELTA = 1e-6


def dominant_share(allocated: Resource, total: Resource) -> float:
    totals = vector(total)
    share = 0.0
    for name, amount in vector(allocated).items():
        cap = totals.get(name, 0.0)
        share = max(share, amount / cap if cap > 0 else 1.0)
    return share


class DrfPlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        self.arguments = dict(arguments or {})
        self.allocated: dict[str, Resource] = {}
        self.shares: dict[str, float] = {}
        self._ssn: JobSession | None = None

    def on_session_open(self, ssn: JobSession) -> None:  # type: ignore[override]
        self._ssn = ssn
        for job in ssn.jobs.values():
            self.allocated[job.uid] = job.allocated()
            self.shares[job.uid] = dominant_share(self.allocated[job.uid], ssn.total)
        ssn.add_job_order_fn(NAME, self.job_order)
        ssn.add_preemptable_fn(NAME, self.preemptable)
        ssn.add_event_handler(self._allocated, self._deallocated)

    def job_order(self, left: object, right: object) -> int:
        assert isinstance(left, JobInfo) and isinstance(right, JobInfo)
        ls, rs = self.shares.get(left.uid, 0.0), self.shares.get(right.uid, 0.0)
        return (ls > rs) - (ls < rs)

    def preemptable(self, preemptor: TaskInfo, preemptees: list[TaskInfo]
                    ) -> list[TaskInfo] | None:
        """The preemptees whose eviction keeps `share(preemptor's job + preemptor) <=
        share(victim's job - victim)`."""
        ssn = self._ssn
        assert ssn is not None
        job = ssn.job_of_task.get(preemptor.key)
        if job is None:
            return []
        mine = self.allocated.get(job.uid, Resource()).copy()
        mine.add(preemptor.resreq)
        share = dominant_share(mine, ssn.total)
        remaining: dict[str, Resource] = {}
        victims = []
        for task in preemptees:
            victim_job = ssn.job_of_task.get(task.key)
            if victim_job is None or victim_job.uid not in self.allocated:
                continue
            left = remaining.get(victim_job.uid)
            if left is None:
                left = remaining[victim_job.uid] = self.allocated[victim_job.uid].copy()
            left.sub(task.resreq)
            theirs = dominant_share(left, ssn.total)
            if share < theirs or abs(share - theirs) <= SHARE_DELTA:
                victims.append(task)
        return victims

    def _update(self, task: TaskInfo, sign: int) -> None:
        assert self._ssn is not None
        job = self._ssn.job_of_task.get(task.key)
        if job is None:
            return
        allocated = self.allocated.setdefault(job.uid, Resource())
        if sign > 0:
            allocated.add(task.resreq)
        else:
            allocated.sub(task.resreq)
        self.shares[job.uid] = dominant_share(allocated, self._ssn.total)

    def _allocated(self, task: TaskInfo) -> None:
        self._update(task, 1)

    def _deallocated(self, task: TaskInfo) -> None:
        self._update(task, -1)
