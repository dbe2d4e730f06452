"""A scheduling session: the nodes a decision looks at and the plugins' callbacks.

Owns Volcano's plugin dispatch (specs/volcano.md §2.2): plugins register callbacks
when the session opens; predicates AND together (the first failure is the node's
reason), node-order scores sum, batch node-order scores (those normalised across the
candidate nodes) sum as well. Also owns why a pod fits nowhere (`FitErrors`), worded
as kube-scheduler's FitError so `kubectl describe pod` reads the same.

The fast path for default-scheduler pods keeps one long-lived session over the live
cache (each pod is a one-pod gang decided alone, so the cache *is* the snapshot); the
Volcano path opens a `JobSession` (job_session.py) per period. Never does I/O.

Memo. A predicate or node-order function registered with a *shape* function declares
that its answer for a node is a pure function of the shape (a hashable summary of what
it reads from the task; None: not pure for this task, e.g. inter-pod terms in play)
and of the node's state, which the node's generation names (framework/info.py). When
every function of a kind declares a shape for the task, the session remembers each
node's answer per shape and generation, so replicas of one template re-check only the
nodes that changed since. Batch node-order functions (normalised over the candidates)
always run, on the memoized per-node totals. Answers are the very values the functions
return, summed in the same order, so decisions and ties are unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo

__all__ = [
    "CycleState",
    "FitErrors",
    "Plugin",
    "Session",
    "ShapeFn",
    "Status",
    "requests_shape",
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
# What a predicate or node-order function reads from the task, hashable; None when its
# answer for this task is not a function of the task and the node alone.
ShapeFn = Callable[[CycleState, TaskInfo], "Hashable | None"]
ResourceFitFn = Callable[[TaskInfo, NodeInfo], "Status | None"]
FitFn = Callable[[NodeInfo], "Status | None"]

# How many task shapes a session remembers answers for (least recently used go first),
# and how far past the node count one shape's entries may grow (stale generations)
# before they are dropped.
MEMO_SHAPES = 64
MEMO_SLACK = 256
_MISS = object()


def requests_shape(task: TaskInfo) -> tuple[int, int, int, tuple[tuple[str, int], ...]]:
    """The task's requests (`resreq`) as a hashable key."""
    r = task.resreq
    return r.milli_cpu, r.memory, r.pods, tuple(sorted(r.scalars.items()))


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
        # The shape function of each predicate / node-order function (None: none
        # declared), and per memo key {node generation: answer}.
        self._predicate_shapes: list[ShapeFn | None] = []
        self._node_order_shapes: list[ShapeFn | None] = []
        self._fit_memo: dict[Hashable, dict[int, Status | None]] = {}
        self._score_memo: dict[Hashable, dict[int, float]] = {}
        for plugin in self.plugins:
            plugin.on_session_open(self)

    # -- registration (Volcano's ssn.Add*Fn) -----------------------------------------

    def add_pre_predicate_fn(self, name: str, fn: PreFn) -> None:
        self.pre_predicate_fns.append((name, fn))

    def add_predicate_fn(self, name: str, fn: PredicateFn,
                         shape: ShapeFn | None = None) -> None:
        """`shape`: declares `fn` pure in (shape, node state); see the memo above."""
        self.predicate_fns.append((name, fn))
        self._predicate_shapes.append(shape)

    def add_node_order_fn(self, name: str, fn: NodeOrderFn,
                          shape: ShapeFn | None = None) -> None:
        """`shape`: declares `fn` pure in (shape, node state); see the memo above."""
        self.node_order_fns.append((name, fn))
        self._node_order_shapes.append(shape)

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

    def fit_check(self, state: CycleState, task: TaskInfo, resource_fit: ResourceFitFn
                  ) -> FitFn:
        """Feasibility of `task` on a node: the predicates, then `resource_fit` (which
        must read nothing of the task but its requests). Call after `pre_predicate`,
        with the same `state`; memoized when every predicate declares a shape."""
        predicate = self.predicate
        memo = self._memo(self._fit_memo, self._predicate_shapes, state, task,
                          (resource_fit, requests_shape(task)))
        if memo is None:
            return lambda node: predicate(state, task, node) or resource_fit(task, node)

        def fits(node: NodeInfo) -> Status | None:
            status = memo.get(node.generation, _MISS)
            if status is _MISS:
                status = predicate(state, task, node) or resource_fit(task, node)
                memo[node.generation] = status
            return status  # type: ignore[return-value]

        return fits

    def scores(self, state: CycleState, task: TaskInfo, nodes: list[NodeInfo]) -> list[float]:
        memo = (self._memo(self._score_memo, self._node_order_shapes, state, task, None)
                if self.node_order_fns else None)
        if memo is None:
            totals = [0.0] * len(nodes)
            for _, fn in self.node_order_fns:
                for i, node in enumerate(nodes):
                    totals[i] += fn(state, task, node)
        else:
            known = memo.get
            remembered = [known(node.generation) for node in nodes]
            if None in remembered:
                fns = [fn for _, fn in self.node_order_fns]
                for i, node in enumerate(nodes):
                    if remembered[i] is None:
                        # The same sum, in the same order, as the loop above.
                        total = 0.0
                        for fn in fns:
                            total += fn(state, task, node)
                        remembered[i] = memo[node.generation] = total
            totals = remembered  # type: ignore[assignment]
        for _, batch in self.batch_node_order_fns:
            extra = batch(state, task, nodes)
            if any(extra):
                # Adding zeros would change no total (the usual case: no preferred
                # affinity, no PreferNoSchedule taints).
                totals = [total + score for total, score in zip(totals, extra, strict=True)]
        return totals

    def _memo(self, memos: dict[Hashable, dict[int, Any]], shapes: list[ShapeFn | None],
              state: CycleState, task: TaskInfo, extra: Hashable) -> dict[int, Any] | None:
        """The {generation: answer} memo for `task`'s shape under `shapes`, or None
        when some function declares none (then nothing is memoized)."""
        parts = []
        for shape in shapes:
            if shape is None:
                return None
            part = shape(state, task)
            if part is None:
                return None
            parts.append(part)
        key = (tuple(parts), extra)
        memo = memos.pop(key, None)
        if memo is None:
            memo = {}
            while len(memos) >= MEMO_SHAPES:
                del memos[next(iter(memos))]
        elif len(memo) > len(self.cache.nodes) + MEMO_SLACK:
            # Generations of nodes that changed since: drop them all, the live ones
            # come back on the next visits.
            memo.clear()
        memos[key] = memo
        return memo
