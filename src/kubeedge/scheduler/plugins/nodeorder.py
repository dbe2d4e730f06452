"""The `nodeorder` plugin: kube-scheduler's scores, 0-100 each, weighted and summed.

LeastAllocated and MostAllocated (cpu and memory, with kube's non-zero defaults for
pods that request nothing), BalancedAllocation, preferred NodeAffinity and
TaintToleration (PreferNoSchedule), the last two normalised across the candidate nodes
as kube does. Weights are Volcano's arguments and defaults (specs/volcano.md §2.4):
`leastrequested.weight` 1, `mostrequested.weight` 0, `balancedresource.weight` 1,
`nodeaffinity.weight` 2, `tainttoleration.weight` 3.

Never does I/O; integer arithmetic follows kube so equal nodes tie exactly (ties are
broken at random by the allocate action, which is what spreads replicas).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from operator import attrgetter
from typing import Any

from kubeedge.api.placement import tolerates
from kubeedge.scheduler.framework.info import PREFER_NO_SCHEDULE, NodeInfo, TaskInfo
from kubeedge.scheduler.framework.session import CycleState, Session
from kubeedge.scheduler.plugins.arguments import Arguments
from kubeedge.scheduler.plugins.predicates import match_node_selector_term

__all__ = [
    "MAX_NODE_SCORE",
    "NodeOrderPlugin",
    "balanced_allocation_score",
    "least_allocated_score",
    "most_allocated_score",
]

NAME = "nodeorder"
MAX_NODE_SCORE = 100
_soft_taints = attrgetter("soft_taints")


def _least(requested: int, capacity: int) -> int:
    if capacity <= 0 or requested > capacity:
        return 0
    return ((capacity - requested) * MAX_NODE_SCORE) // capacity


def _most(requested: int, capacity: int) -> int:
    if capacity <= 0:
        return 0
    return (min(requested, capacity) * MAX_NODE_SCORE) // capacity


def least_allocated_score(task: TaskInfo, node: NodeInfo) -> int:
    """kube's LeastAllocated over cpu and memory (weight 1 each), non-zero requests."""
    alloc = node.allocatable
    total = weights = 0
    if alloc.milli_cpu > 0:
        total += _least(node.non_zero_cpu + task.non_zero_cpu, alloc.milli_cpu)
        weights += 1
    if alloc.memory > 0:
        total += _least(node.non_zero_memory + task.non_zero_memory, alloc.memory)
        weights += 1
    return total // weights if weights else 0


def most_allocated_score(task: TaskInfo, node: NodeInfo) -> int:
    alloc = node.allocatable
    total = weights = 0
    if alloc.milli_cpu > 0:
        total += _most(node.non_zero_cpu + task.non_zero_cpu, alloc.milli_cpu)
        weights += 1
    if alloc.memory > 0:
        total += _most(node.non_zero_memory + task.non_zero_memory, alloc.memory)
        weights += 1
    return total // weights if weights else 0


def balanced_allocation_score(task: TaskInfo, node: NodeInfo) -> int:
    """kube's BalancedAllocation: 100 * (1 - the spread of the cpu and memory
    fractions the node would have with the pod), actual requests."""
    alloc = node.allocatable
    fractions = []
    if alloc.milli_cpu > 0:
        fractions.append(min(
            (node.requested.milli_cpu + task.resreq.milli_cpu) / alloc.milli_cpu, 1.0))
    if alloc.memory > 0:
        fractions.append(min((node.requested.memory + task.resreq.memory) / alloc.memory, 1.0))
    std = abs(fractions[0] - fractions[1]) / 2 if len(fractions) == 2 else 0.0
    return int((1 - std) * MAX_NODE_SCORE)


def _normalize(scores: list[int], reverse: bool) -> list[float]:
    """kube's DefaultNormalizeScore."""
    top = max(scores, default=0)
    if top == 0:
        return [float(MAX_NODE_SCORE) if reverse else 0.0 for _ in scores]
    out = []
    for score in scores:
        value = MAX_NODE_SCORE * score // top
        out.append(float(MAX_NODE_SCORE - value if reverse else value))
    return out


class NodeOrderPlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        args = Arguments(arguments)
        self.least_weight = args.get_float("leastrequested.weight", 1)
        self.most_weight = args.get_float("mostrequested.weight", 0)
        self.balanced_weight = args.get_float("balancedresource.weight", 1)
        self.node_affinity_weight = args.get_float("nodeaffinity.weight", 2)
        self.taint_weight = args.get_float("tainttoleration.weight", 3)

    def on_session_open(self, ssn: Session) -> None:
        ssn.add_node_order_fn(NAME, self.node_order, shape=self.shape)
        ssn.add_batch_node_order_fn(NAME, self.batch_node_order)

    @staticmethod
    def shape(state: CycleState, task: TaskInfo) -> Hashable:
        """What `node_order` reads of the task, for the session's memo (the batch
        scores, normalised over the candidates, are never memoized)."""
        return (task.non_zero_cpu, task.non_zero_memory, task.resreq.milli_cpu,
                task.resreq.memory)

    def node_order(self, state: CycleState, task: TaskInfo, node: NodeInfo) -> float:
        if self.most_weight:
            return (self.least_weight * least_allocated_score(task, node)
                    + self.most_weight * most_allocated_score(task, node)
                    + self.balanced_weight * balanced_allocation_score(task, node))
        # The default weights, inlined: this runs for every candidate node of every pod.
        alloc = node.allocatable
        cpu_cap = alloc.milli_cpu
        mem_cap = alloc.memory
        least = weights = 0
        fractions: list[float] = []
        if cpu_cap > 0:
            used = node.non_zero_cpu + task.non_zero_cpu
            least += ((cpu_cap - used) * MAX_NODE_SCORE) // cpu_cap if used <= cpu_cap else 0
            weights += 1
            fractions.append(min((node.requested.milli_cpu + task.resreq.milli_cpu) / cpu_cap,
                                 1.0))
        if mem_cap > 0:
            used = node.non_zero_memory + task.non_zero_memory
            least += ((mem_cap - used) * MAX_NODE_SCORE) // mem_cap if used <= mem_cap else 0
            weights += 1
            fractions.append(min((node.requested.memory + task.resreq.memory) / mem_cap, 1.0))
        std = abs(fractions[0] - fractions[1]) / 2 if len(fractions) == 2 else 0.0
        score = 0.0
        if weights and self.least_weight:
            score += self.least_weight * (least // weights)
        if self.balanced_weight:
            score += self.balanced_weight * int((1 - std) * MAX_NODE_SCORE)
        return score

    def batch_node_order(self, state: CycleState, task: TaskInfo,
                         nodes: list[NodeInfo]) -> list[float]:
        totals = [0.0] * len(nodes)
        if self.node_affinity_weight and task.preferred_node_terms:
            raw = [sum(weight for weight, term in task.preferred_node_terms
                       if weight and match_node_selector_term(term, node)) for node in nodes]
            for i, score in enumerate(_normalize(raw, reverse=False)):
                totals[i] += self.node_affinity_weight * score
        if self.taint_weight and any(map(_soft_taints, nodes)):
            prefer = [t for t in task.tolerations
                      if (t.get("effect") or "") in ("", PREFER_NO_SCHEDULE)]
            raw = [sum(1 for taint in node.soft_taints
                       if not any(tolerates(t, str(taint.get("key") or ""),
                                            str(taint.get("value") or ""),
                                            PREFER_NO_SCHEDULE) for t in prefer))
                   for node in nodes]
            for i, score in enumerate(_normalize(raw, reverse=True)):
                totals[i] += self.taint_weight * score
        return totals
