"""The `overcommit` plugin (specs/volcano.md §2.4): admit a job at enqueue only while
the minResources of admitted jobs fit in the cluster's allocatable times
`overcommit-factor` (default 1.2; below 1 means 1.2) less what is in use.

idle = total * factor - used; a job is permitted iff inqueue + minResources ≤ idle, and
each admission adds its minResources to inqueue. Refusals leave a Normal
`Unschedulable` event on the PodGroup: "resource in cluster is overused". Never does
I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge.scheduler.framework.job_info import JobInfo, less_equal, scaled
from kubeedge.scheduler.framework.job_session import ABSTAIN, PERMIT, REJECT, JobSession
from kubeedge.scheduler.framework.resource import Resource
from kubeedge.scheduler.plugins.arguments import Arguments

__all__ = ["OvercommitPlugin"]

NAME = "overcommit"
DEFAULT_FACTOR = 1.2
OVERUSED = "resource in cluster is overused"


class OvercommitPlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        factor = Arguments(arguments).get_float("overcommit-factor", DEFAULT_FACTOR)
        self.factor = factor if factor >= 1.0 else DEFAULT_FACTOR
        self.idle = Resource()
        self.inqueue = Resource()
        self._ssn: JobSession | None = None

    def on_session_open(self, ssn: JobSession) -> None:  # type: ignore[override]
        self._ssn = ssn
        used = Resource()
        for node in ssn.nodes:
            used.add(node.requested)
        self.idle = scaled(ssn.total, self.factor)
        self.idle.sub(used)
        self.inqueue = Resource()
        for job in ssn.jobs.values():
            self.inqueue.add(job.inqueue_share())
        ssn.add_job_enqueueable_fn(NAME, self.job_enqueueable)
        ssn.add_job_enqueued_fn(NAME, self.job_enqueued)

    def job_enqueueable(self, job: JobInfo) -> int:
        if job.min_resources is None:
            return ABSTAIN
        wanted = self.inqueue.copy()
        wanted.add(job.min_resources)
        if less_equal(wanted, self.idle):
            return PERMIT
        assert self._ssn is not None
        self._ssn.record_job_event(job, "Normal", "Unschedulable", OVERUSED)
        return REJECT

    def job_enqueued(self, job: JobInfo) -> None:
        if job.min_resources is not None:
            self.inqueue.add(job.min_resources)
