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

from collections.abc import Hashable

from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo
from kubeedge.scheduler.framework.job_info import JobInfo, PodGroupPhase
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.resource import CPU, MEMORY
from kubeedge.scheduler.framework.session import CycleState, FitErrors, Session, Status
from kubeedge.scheduler.framework.statement import Statement

__all__ = [
    "PredicateErrorCache",
    "allocate",
    "allocate_task",
    "feasible_nodes_to_find",
    "fit_shape",
    "resource_fit",
]

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
    # The predicates, then the resource check; memoized per node generation.
    fits = ssn.fit_check(state, task, resource_fit)
    for i in range(total):
        node = nodes[(start + i) % total]
        visited += 1
        status = fits(node)
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


def fit_shape(ssn: Session, task: TaskInfo) -> Hashable:
    """Everything of `task` that feasibility reads (pre-predicates, predicates, the
    resource check): requests, node selector and required node affinity,
    tolerations, host ports, pod (anti-)affinity terms, GPU-sharing requests and the
    namespace; and the labels too whenever inter-pod rules are in play (the task's own
    terms, or placed pods' anti-affinity terms that may match it). Two tasks of one
    shape get the same verdict from every node in the same node state."""
    request = task.resreq
    interpod = bool(task.affinity_terms or task.anti_affinity_terms
                    or ssn.cache.anti_affinity_tasks)
    return (request.milli_cpu, request.memory, request.pods,
            tuple(sorted(request.scalars.items())), repr(task.node_selector),
            repr(task.required_node_terms), repr(task.tolerations), task.host_ports,
            task.affinity_terms, task.anti_affinity_terms, task.gpu_memory,
            task.gpu_number, task.namespace,
            repr(sorted(task.labels.items())) if interpod else None)


class PredicateErrorCache:
    """Volcano's predicate error cache (`configurations: [{name: allocate, arguments:
    {enablePredicateErrorCache: true}}]`, on by default; specs/volcano.md §2.3): within
    a session, once a task fit no node, a task of the same shape (`fit_shape`: the
    other replicas of its role, or of the same template in other jobs) is not tried
    again; it gets the same FitErrors, so its FailedScheduling message says the same.

    The verdicts hold only for the node state they were found in: any Statement
    operation (an allocation, a pipeline, an eviction, or a discard giving resources
    back; JobSession.changes) forgets them all. A failed search visits every node and
    so leaves the round-robin start where it was, and draws no random number: skipping
    it changes nothing else."""

    def __init__(self, ssn: JobSession, enabled: bool = True) -> None:
        self.ssn = ssn
        self.enabled = enabled
        self._changes = ssn.changes
        self._failed: dict[Hashable, FitErrors] = {}

    def allocate_task(self, task: TaskInfo, percentage_of_nodes_to_score: int = 0
                      ) -> NodeInfo | FitErrors:
        ssn = self.ssn
        if not self.enabled:
            return allocate_task(ssn, task, percentage_of_nodes_to_score)
        if ssn.changes != self._changes:
            self._failed.clear()
            self._changes = ssn.changes
        shape = fit_shape(ssn, task)
        errors = self._failed.get(shape)
        if errors is not None:
            return errors
        result = allocate_task(ssn, task, percentage_of_nodes_to_score)
        if isinstance(result, FitErrors) and ssn.changes == self._changes:
            self._failed[shape] = result
        return result


def _need_continue(job: JobInfo) -> bool:
    """Volcano's NeedContinueAllocating: when every task is needed (minMember equals
    the number of tasks), one task that fits nowhere sinks the gang."""
    return job.min_available < len(job.tasks)


def allocate(ssn: JobSession, *, enqueue_configured: bool = True,
             percentage_of_nodes_to_score: int = 0,
             predicate_error_cache: bool = True) -> None:
    errors_cache = PredicateErrorCache(ssn, predicate_error_cache)
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
            result = errors_cache.allocate_task(task, percentage_of_nodes_to_score)
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
    _explain_untried(ssn, percentage_of_nodes_to_score, errors_cache)


def _explain_untried(ssn: JobSession, percentage: int,
                     errors_cache: PredicateErrorCache) -> None:
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
                result = errors_cache.allocate_task(task, percentage)
                if isinstance(result, FitErrors):
                    job.fit_errors[task.key] = result
                    break
                stmt.allocate(task, result)
        finally:
            stmt.discard()
