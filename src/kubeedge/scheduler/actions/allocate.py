"""The allocate action (specs/volcano.md §2.3): `allocate_task` finds the node for
one task (the default-scheduler fast path's whole decision, a gang of one), and
`allocate` runs Volcano's action over a session's jobs, gang by gang inside
Statements.

Feasibility is the session's predicates and then the resource check (request ≤ what
the node has left, in kube's words: "Insufficient cpu", "Too many pods"). Like
kube-scheduler, the search stops once it has `feasible_nodes_to_find` candidates
(percentageOfNodesToScore) and resumes where it stopped for the next pod, so a big
cluster costs a bounded number of node checks per pod; only a pod that fits nowhere
visits every node, which is what its FailedScheduling message reports on.

`allocate_task` never changes the cache: the caller assumes the pod on the node.
`allocate` places a job's pending tasks in task order through a `Statement` and
commits only once the job is ready (gang: minMember placed), else discards it; a job
made ready with tasks left goes back in line so its queue's other jobs interleave.
Never does I/O.
"""

from __future__ import annotations

from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo
from kubeedge.scheduler.framework.job_info import JobInfo, PodGroupPhase
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.resource import CPU, MEMORY
from kubeedge.scheduler.framework.session import CycleState, FitErrors, Session, Status
from kubeedge.scheduler.framework.statement import Statement

__all__ = ["allocate", "allocate_task", "feasible_nodes_to_find", "resource_fit"]

# kube-scheduler's minFeasibleNodesToFind and minFeasibleNodesPercentageToFind.
MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5

_TOO_MANY_PODS = "Too many pods"


def feasible_nodes_to_find(nodes: int, percentage: int) -> int:
    """kube's numFeasibleNodesToFind: all of a small cluster; else `percentage` of it
    (0: adaptive, 50 - nodes/125, at least 5), and never fewer than 100."""
    if nodes < MIN_FEASIBLE_NODES:
        return nodes
    if percentage <= 0:
        percentage = max(50 - nodes // 125, MIN_FEASIBLE_PERCENTAGE)
    return max(nodes * percentage // 100, MIN_FEASIBLE_NODES)


def resource_fit(task: TaskInfo, node: NodeInfo) -> Status | None:
    """kube's NodeResourcesFit: every shortfall is a reason."""
    request = task.resreq
    alloc = node.allocatable
    used = node.requested
    reasons: list[str] = []
    if used.pods + 1 > alloc.pods:
        reasons.append(_TOO_MANY_PODS)
    if request.milli_cpu and request.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        reasons.append(f"Insufficient {CPU}")
    if request.memory and request.memory > alloc.memory - used.memory:
        reasons.append(f"Insufficient {MEMORY}")
    for name, amount in request.scalars.items():
        if amount > alloc.scalars.get(name, 0) - used.scalars.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return Status(tuple(reasons)) if reasons else None


def allocate_task(ssn: Session, task: TaskInfo, percentage_of_nodes_to_score: int = 0
                  ) -> NodeInfo | FitErrors:
    """The node to place `task` on, or why there is none."""
    nodes = ssn.nodes
    total = len(nodes)
    errors = FitErrors(total)
    if total == 0:
        return errors
    state: CycleState = {}
    status = ssn.pre_predicate(state, task)
    if status is not None:
        errors.pre_filter = ", ".join(status.reasons)
        return errors
    want = feasible_nodes_to_find(total, percentage_of_nodes_to_score)
    start = ssn.next_start_index % total
    feasible: list[NodeInfo] = []
    visited = 0
    predicate = ssn.predicate
    for i in range(total):
        node = nodes[(start + i) % total]
        visited += 1
        status = predicate(state, task, node) or resource_fit(task, node)
        if status is None:
            feasible.append(node)
            if len(feasible) >= want:
                break
        else:
            errors.statuses[node.name] = status
    ssn.next_start_index = (start + visited) % total
    if not feasible:
        return errors
    if len(feasible) == 1:
        return feasible[0]
    scores = ssn.scores(state, task, feasible)
    best = max(scores)
    top = [node for node, score in zip(feasible, scores, strict=True) if score == best]
    return top[0] if len(top) == 1 else ssn.rng.choice(top)


def _need_continue(job: JobInfo) -> bool:
    """Volcano's NeedContinueAllocating: when every task is needed (minMember equals
    the number of tasks), one task that fits nowhere sinks the gang."""
    return job.min_available < len(job.tasks)


def allocate(ssn: JobSession, *, enqueue_configured: bool = True,
             percentage_of_nodes_to_score: int = 0) -> None:
    jobs_of: dict[str, list[JobInfo]] = {}
    for job in ssn.jobs.values():
        if job.phase == PodGroupPhase.PENDING:
            if enqueue_configured:
                continue
            # Without an enqueue action, allocate admits (§2.3).
            job.phase = PodGroupPhase.INQUEUE
        if job.queue not in ssn.queues or ssn.job_valid(job) is not None:
            continue
        jobs_of.setdefault(job.queue, []).append(job)
    jobs_of = {name: ssn.sorted_jobs(jobs) for name, jobs in jobs_of.items()}
    queues = ssn.sorted_queues(ssn.queues[name] for name in jobs_of)
    while queues:
        queue = queues.pop(0)
        if ssn.overused(queue):
            continue
        jobs = jobs_of[queue.name]
        if not jobs:
            continue
        job = jobs.pop(0)
        tasks = ssn.sorted_tasks(t for t in job.pending_tasks() if not t.resreq.is_empty())
        stmt = Statement(ssn)
        more = False
        for i, task in enumerate(tasks):
            if not ssn.allocatable(queue, task):
                continue
            result = allocate_task(ssn, task, percentage_of_nodes_to_score)
            if isinstance(result, FitErrors):
                job.fit_errors[task.key] = result
                if not _need_continue(job):
                    break
                continue
            stmt.allocate(task, result)
            if ssn.job_ready(job) and i + 1 < len(tasks):
                more = True
                break
        if ssn.job_ready(job):
            job.committed += len(stmt.commit())
        else:
            stmt.discard()
        if more:
            jobs.append(job)
            jobs_of[queue.name] = ssn.sorted_jobs(jobs)
        if jobs_of[queue.name]:
            queues = ssn.sorted_queues([*queues, queue])
    _explain_untried(ssn, percentage_of_nodes_to_score)


def _explain_untried(ssn: JobSession, percentage: int) -> None:
    """An admitted gang left unready without a task that fit nowhere (its queue was
    overused, or a task was not allocatable in it) is placed once more for the record,
    ignoring the queue, and discarded: the first task that fits nowhere then says what
    the cluster lacks, instead of a bare count of tasks."""
    for job in ssn.jobs.values():
        if (job.phase == PodGroupPhase.PENDING or job.fit_errors or ssn.job_ready(job)
                or job.queue not in ssn.queues):
            continue
        stmt = Statement(ssn)
        try:
            for task in ssn.sorted_tasks(
                    t for t in job.pending_tasks() if not t.resreq.is_empty()):
                result = allocate_task(ssn, task, percentage)
                if isinstance(result, FitErrors):
                    job.fit_errors[task.key] = result
                    break
                stmt.allocate(task, result)
        finally:
            stmt.discard()
