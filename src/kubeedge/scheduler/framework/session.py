"""A scheduling session: the nodes a decision looks at and the plugins' callbacks.

Owns Volcano's plugin dispatch (specs/volcano.md §2.2): plugins register callbacks
when the session opens; predicates AND together (the first failure is the node's
reason), node-order scores sum, batch node-order scores (those normalised across the
candidate nodes) sum as well. Also owns why a pod fits nowhere (`FitErrors`), worded
as kube-scheduler's FitError so `kubectl describe pod` reads the same.

The fast path for default-scheduler pods keeps one long-lived session over the live
cache (each pod is a one-pod gang decided alone, so the cache *is* the snapshot); the
Volcano path opens a `JobSession` (job_session.py) per period. Never does I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo

__all__ = [
    "CycleState",
    "FitErrors",
    "Plugin",
    "Session",
    "Status",
]

# State one plugin computes once per pod (kube's CycleState), read by its per-node
# callbacks.
CycleState = dict[str, Any]

NO_NODES_AVAILABLE = "no nodes available to schedule pods"


@dataclass(frozen=True, slots=True)
class Status:
    """Why a node cannot take a pod. `unresolvable`: evicting pods would not help
    (kube's UnschedulableAndUnresolvable), so preemption does not try the node."""

    reasons: tuple[str, ...]
    unresolvable: bool = False

    @classmethod
    def of(cls, reason: str, unresolvable: bool = False) -> Status:
        return cls((reason,), unresolvable)


PreFn = Callable[[CycleState, TaskInfo], "Status | None"]
PredicateFn = Callable[[CycleState, TaskInfo, NodeInfo], "Status | None"]
NodeOrderFn = Callable[[CycleState, TaskInfo, NodeInfo], float]
BatchNodeOrderFn = Callable[[CycleState, TaskInfo, list[NodeInfo]], list[float]]


class Plugin(Protocol):
    name: str

    def on_session_open(self, ssn: Session) -> None: ...


@dataclass
class FitErrors:
    """Per-node reasons a pod was placed nowhere (kube's FitError/Diagnosis)."""

    total: int
    statuses: dict[str, Status] = field(default_factory=dict)
    pre_filter: str = ""

    def message(self, preempt_never: bool = False) -> str:
        """`0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint
        {dedicated: gpu}. preemption: ...`: counts per reason, sorted as strings, as
        kube's FitError.Error, then its default preemption's verdict."""
        if self.total == 0:
            return NO_NODES_AVAILABLE
        text = f"0/{self.total} nodes are available:"
        if self.pre_filter:
            text += f" {self.pre_filter}."
        else:
            counts: dict[str, int] = {}
            for status in self.statuses.values():
                for reason in status.reasons:
                    counts[reason] = counts.get(reason, 0) + 1
            histogram = sorted(f"{n} {reason}" for reason, n in counts.items())
            if histogram:
                text += f" {', '.join(histogram)}."
        return f"{text} preemption: {self._preemption(preempt_never)}"

    def summary(self) -> str:
        """The node histogram alone, for a PodGroup condition (`0/3 nodes are
        available: 3 Insufficient nvidia.com/gpu`)."""
        text = self.message()
        return text.split(" preemption: ", 1)[0].rstrip(".")

    def _preemption(self, preempt_never: bool) -> str:
        # The verdict kube gives when no victims exist, for pods that no preemption
        # placed: the default-scheduler fast path does not preempt, and the Volcano
        # path's preempt/reclaim actions nominate a node instead of leaving this
        # message. kube nests a second FitError here and ends the sentence twice
        # ("pod.."); we end it once.
        if preempt_never:
            return "not eligible due to preemptionPolicy=Never."
        unhelpful = sum(1 for s in self.statuses.values() if s.unresolvable)
        if self.pre_filter:
            unhelpful = self.total
        counts = []
        if unhelpful:
            counts.append(f"{unhelpful} Preemption is not helpful for scheduling")
        if self.total - unhelpful:
            counts.append(f"{self.total - unhelpful} No preemption victims found for "
                          "incoming pod")
        return f"0/{self.total} nodes are available: {', '.join(sorted(counts))}."


class Session:
    """Plugins and their callbacks over the nodes of a `SchedulerCache`."""

    def __init__(self, cache: SchedulerCache, plugins: Iterable[Plugin],
                 rng: random.Random | None = None) -> None:
        self.cache = cache
        self.rng = rng or random.Random()
        self.plugins = list(plugins)
        self.pre_predicate_fns: list[tuple[str, PreFn]] = []
        self.predicate_fns: list[tuple[str, PredicateFn]] = []
        self.node_order_fns: list[tuple[str, NodeOrderFn]] = []
        self.batch_node_order_fns: list[tuple[str, BatchNodeOrderFn]] = []
        # Where the next feasibility search starts (kube's nextStartNodeIndex), so
        # sampled searches visit every node in turn.
        self.next_start_index = 0
        for plugin in self.plugins:
            plugin.on_session_open(self)

    # -- registration (Volcano's ssn.Add*Fn) -----------------------------------------

    def add_pre_predicate_fn(self, name: str, fn: PreFn) -> None:
        self.pre_predicate_fns.append((name, fn))

    def add_predicate_fn(self, name: str, fn: PredicateFn) -> None:
        self.predicate_fns.append((name, fn))

    def add_node_order_fn(self, name: str, fn: NodeOrderFn) -> None:
        self.node_order_fns.append((name, fn))

    def add_batch_node_order_fn(self, name: str, fn: BatchNodeOrderFn) -> None:
        self.batch_node_order_fns.append((name, fn))

    # -- dispatch ---------------------------------------------------------------------

    @property
    def nodes(self) -> list[NodeInfo]:
        return self.cache.node_list()

    def pre_predicate(self, state: CycleState, task: TaskInfo) -> Status | None:
        for _, fn in self.pre_predicate_fns:
            status = fn(state, task)
            if status is not None:
                return status
        return None

    def predicate(self, state: CycleState, task: TaskInfo, node: NodeInfo) -> Status | None:
        for _, fn in self.predicate_fns:
            status = fn(state, task, node)
            if status is not None:
                return status
        return None

    def scores(self, state: CycleState, task: TaskInfo, nodes: list[NodeInfo]) -> list[float]:
        totals = [0.0] * len(nodes)
        for _, fn in self.node_order_fns:
            for i, node in enumerate(nodes):
                totals[i] += fn(state, task, node)
        for _, batch in self.batch_node_order_fns:
            for i, score in enumerate(batch(state, task, nodes)):
                totals[i] += score
        return totals
