"""The preempt action (specs/volcano.md §2.3): a starving job takes the place of
lower-priority work in its own queue.

Preemptors are the pending tasks of admitted, valid jobs that are starving (ready +
pipelined below what they need), queue by queue in queue order, job by job in job
order, task by task in task order. For each, victims are the Running or Bound tasks of
*other* jobs of the *same* queue that the plugins let go (`JobSession.preemptable`:
priority, gang, conformance, drf, each behind its `enablePreemptable` switch), evicted
cheapest first (the reverse of job order, then of task order) on one node until the
preemptor fits that node's future idle resources (Idle + Releasing - Pipelined); then
the preemptor is pipelined there. A node that already fits (its earlier victims are
still releasing) is taken before any new victim is chosen, so a preemptor waiting for
its victims never evicts twice. Each preemptor job works in one Statement, committed
only if the job is then pipelined (gang: minMember ready or pipelined), else discarded,
victims and all. Then, queue by queue, tasks of those jobs may evict lower-priority
tasks of their own job. A pod with `preemptionPolicy: Never` evicts nobody.

Helpers shared with reclaim live here. Never does I/O: committed evictions and
pipelined tasks are written by the scheduler (volcano.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo, TaskStatus
from kubeedge.scheduler.framework.job_info import (
    JobInfo,
    PodGroupPhase,
    QueueInfo,
    task_preemptable,
)
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.resource import Resource
from kubeedge.scheduler.framework.session import CycleState
from kubeedge.scheduler.framework.statement import Statement

__all__ = [
    "evict_until_fit",
    "fits",
    "order_victims",
    "place_with_victims",
    "preempt",
    "preempt_task",
    "starving_jobs",
    "task_shape",
]

# Volcano's eviction reasons, also the end of the victim's event message.
PREEMPT = "preempt"

Filter = Callable[[TaskInfo], bool]
# Picks and evicts victims on `node` until the preemptor fits; True when it does.
Evictor = Callable[[Statement, TaskInfo, NodeInfo], bool]

# Volcano's PreemptableStatus: only pods holding their node can be preempted.
PREEMPTABLE_STATUSES = frozenset({TaskStatus.RUNNING, TaskStatus.BOUND})


def fits(request: Resource, idle: Resource) -> bool:
    """Every dimension `request` asks for is within `idle` (Volcano's LessEqual with
    zero defaults; a pod always needs one pod slot)."""
    if request.milli_cpu and request.milli_cpu > idle.milli_cpu:
        return False
    if request.memory and request.memory > idle.memory:
        return False
    if request.pods and request.pods > idle.pods:
        return False
    return all(amount <= idle.scalars.get(name, 0)
               for name, amount in request.scalars.items() if amount > 0)


def starving_jobs(ssn: JobSession) -> dict[str, list[JobInfo]]:
    """Admitted, valid, starving jobs of known queues, by queue name, in job order."""
    by_queue: dict[str, list[JobInfo]] = {}
    for job in ssn.jobs.values():
        if job.phase == PodGroupPhase.PENDING or job.queue not in ssn.queues:
            continue
        if ssn.job_valid(job) is not None or not ssn.job_starving(job):
            continue
        by_queue.setdefault(job.queue, []).append(job)
    return {name: ssn.sorted_jobs(jobs) for name, jobs in by_queue.items()}


def order_victims(ssn: JobSession, victims: list[TaskInfo]) -> list[TaskInfo]:
    """Cheapest victim first (Volcano's BuildVictimsPriorityQueue): jobs in reverse job
    order (lower priority, ready gangs first), tasks in reverse task order."""

    def compare(left: TaskInfo, right: TaskInfo) -> int:
        left_job = ssn.job_of_task.get(left.key)
        right_job = ssn.job_of_task.get(right.key)
        if left_job is not right_job:
            if left_job is None or right_job is None:
                # A task whose job left the session goes first.
                return -1 if left_job is None else 1
            answer = ssn.job_order(left_job, right_job)
            if answer:
                return -answer
        return -ssn.task_order(left, right)

    return sorted(victims, key=functools.cmp_to_key(compare))


def candidate_nodes(ssn: JobSession, task: TaskInfo, state: CycleState) -> list[NodeInfo]:
    """Nodes passing the predicates (resources aside: victims free those), best
    scored first, the pod's nominated node (an earlier preemption's) before all."""
    nodes = [node for node in ssn.nodes if ssn.predicate(state, task, node) is None]
    if len(nodes) > 1:
        scores = ssn.scores(state, task, nodes)
        ranked = sorted(zip(scores, range(len(nodes)), nodes, strict=True),
                        key=lambda item: (-item[0], item[1]))
        nodes = [node for _, _, node in ranked]
    nominated = (task.pod.get("status") or {}).get("nominatedNodeName")
    if nominated:
        nodes.sort(key=lambda node: node.name != nominated)
    return nodes


def place_with_victims(ssn: JobSession, stmt: Statement, task: TaskInfo,
                       evictor: Evictor) -> bool:
    """Pipeline `task` on a node, evicting through `evictor` only where needed: a node
    whose releasing resources already fit it comes first (Volcano's nominated-node
    check: a preemptor waiting for its victims does not evict again)."""
    state: CycleState = {}
    if ssn.pre_predicate(state, task) is not None:
        return False
    job = ssn.job_of_task.get(task.key)
    queue = ssn.queues.get(job.queue) if job is not None else None
    if queue is None:
        return False
    nodes = candidate_nodes(ssn, task, state)
    for node in nodes:
        if fits(task.resreq, ssn.cache.future_idle(node)) and ssn.allocatable(queue, task):
            stmt.pipeline(task, node)
            return True
    for node in nodes:
        node_stmt = Statement(ssn)
        if evictor(node_stmt, task, node):
            node_stmt.pipeline(task, node, evicted=node_stmt.has_evictions())
            stmt.merge(node_stmt)
            return True
        node_stmt.discard()
    return False


def evict_until_fit(ssn: JobSession, queue: QueueInfo, reason: str,
                     victims_of: Callable[[TaskInfo, list[TaskInfo]], list[TaskInfo]],
                     keep: Filter) -> Evictor:
    def evictor(stmt: Statement, task: TaskInfo, node: NodeInfo) -> bool:
        preemptees = [t for t in node.tasks.values() if keep(t)]
        if not preemptees:
            return False
        victims = victims_of(task, preemptees)
        # Volcano's ValidateVictims: all of them together must make room.
        room = ssn.cache.future_idle(node)
        for victim in victims:
            room.add(victim.resreq)
        if not victims or not fits(task.resreq, room):
            return False
        for victim in order_victims(ssn, victims):
            if fits(task.resreq, ssn.cache.future_idle(node)) and ssn.allocatable(queue, task):
                return True
            stmt.evict(victim, reason, task)
        return fits(task.resreq, ssn.cache.future_idle(node)) and ssn.allocatable(queue, task)

    return evictor


def best_effort(task: TaskInfo) -> bool:
    """Asks for no cpu, memory or other resource (a pod slot aside)."""
    request = task.resreq
    return (request.milli_cpu <= 0 and request.memory <= 0
            and not any(amount > 0 for amount in request.scalars.values()))


def _preemptable_filter(ssn: JobSession, task: TaskInfo, same_job: bool) -> Filter:
    job = ssn.job_of_task[task.key]
    preemptor_best_effort = best_effort(task)

    def keep(victim: TaskInfo) -> bool:
        if victim.status not in PREEMPTABLE_STATUSES or not task_preemptable(victim):
            return False
        victim_job = ssn.job_of_task.get(victim.key)
        if victim_job is None:
            return False
        if preemptor_best_effort and not best_effort(victim):
            # A best-effort pod never evicts one that asks for something.
            return False
        if same_job:
            return victim_job is job
        return victim_job is not job and victim_job.queue == job.queue

    return keep


def task_shape(task: TaskInfo) -> tuple[object, ...]:
    """What decides where a task can go and whom it may evict: tasks of one job with
    the same shape fare the same, so once one found no place the others are not
    tried again in that statement (Volcano's predicate error cache)."""
    request = task.resreq
    return (request.milli_cpu, request.memory, tuple(sorted(request.scalars.items())),
            tuple(sorted(task.node_selector.items())), repr(task.required_node_terms),
            repr(task.tolerations), task.affinity_terms, task.anti_affinity_terms,
            task.host_ports, task.preempt_never,
            (task.pod.get("spec") or {}).get("priority"),
            ((task.pod.get("metadata") or {}).get("annotations") or {}).get(
                "volcano.sh/task-priority"))


def preempt_task(ssn: JobSession, stmt: Statement, task: TaskInfo, *,
                 same_job: bool = False) -> bool:
    """Find `task` a place by evicting what the plugins let it evict; True when it
    was pipelined (the evictions are in `stmt`)."""
    if task.preempt_never:
        return False
    job = ssn.job_of_task.get(task.key)
    queue = ssn.queues.get(job.queue) if job is not None else None
    if queue is None:
        return False
    evictor = evict_until_fit(ssn, queue, PREEMPT, ssn.preemptable,
                               _preemptable_filter(ssn, task, same_job))
    return place_with_victims(ssn, stmt, task, evictor)


def preempt(ssn: JobSession) -> None:
    starving = starving_jobs(ssn)
    pending = {job.uid: ssn.sorted_tasks(job.pending_tasks())
               for jobs in starving.values() for job in jobs}
    for queue in ssn.sorted_queues(ssn.queues[name] for name in starving):
        # Between jobs of the queue.
        for job in starving[queue.name]:
            stmt = Statement(ssn)
            tasks = pending[job.uid]
            hopeless: set[tuple[object, ...]] = set()
            while ssn.job_starving(job) and tasks:
                task = tasks.pop(0)
                shape = task_shape(task)
                if shape not in hopeless and not preempt_task(ssn, stmt, task):
                    hopeless.add(shape)
            if ssn.job_pipelined(job):
                stmt.commit()
            else:
                stmt.discard()
        # Within each job: its pending tasks may evict its own lower-priority tasks.
        for job in starving[queue.name]:
            for task in ssn.sorted_tasks(job.pending_tasks()):
                stmt = Statement(ssn)
                if not preempt_task(ssn, stmt, task, same_job=True):
                    stmt.discard()
                    break
                stmt.commit()
