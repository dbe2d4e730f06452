"""The allocate action for one task: find the nodes that can take it, score them, pick
the best (specs/volcano.md §2.3 allocate, for a gang of one).

Feasibility is the session's predicates and then the resource check (request ≤ what
the node has left, in kube's words: "Insufficient cpu", "Too many pods"). Like
kube-scheduler, the search stops once it has `feasible_nodes_to_find` candidates
(percentageOfNodesToScore) and resumes where it stopped for the next pod, so a big
cluster costs a bounded number of node checks per pod; only a pod that fits nowhere
visits every node, which is what its FailedScheduling message reports on.

Never does I/O and never changes the cache: the caller assumes the pod on the node.
"""

from __future__ import annotations

from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo
from kubeedge.scheduler.framework.resource import CPU, MEMORY
from kubeedge.scheduler.framework.session import CycleState, FitErrors, Session, Status

__all__ = ["allocate_task", "feasible_nodes_to_find", "resource_fit"]

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
