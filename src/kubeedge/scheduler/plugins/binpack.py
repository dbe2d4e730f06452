"""The `binpack` plugin: prefer the fullest node that still fits (Volcano's binpack,
specs/volcano.md §2.4), so large pods later find whole empty nodes.

Arguments: `binpack.weight` (1), `binpack.cpu` (1), `binpack.memory` (1),
`binpack.resources` (extra resources, e.g. `nvidia.com/gpu`) with
`binpack.resources.<name>` (1). For each resource the pod requests that has a weight:
`w_r * (used_r + request_r) / allocatable_r`; a node the request would overflow scores
0; the node's score is `100 * binpack.weight * Σ / Σ w_r`. Never does I/O.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from kubeedge.scheduler.framework.info import NodeInfo, TaskInfo
from kubeedge.scheduler.framework.resource import CPU, MEMORY
from kubeedge.scheduler.framework.session import CycleState, Session
from kubeedge.scheduler.plugins.arguments import Arguments

__all__ = ["BinpackPlugin"]

NAME = "binpack"
MAX_NODE_SCORE = 100
_STATE_KEY = "binpack/requests"


class BinpackPlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        args = Arguments(arguments)
        self.weight = args.get_float("binpack.weight", 1)
        self.resource_weights: dict[str, float] = {
            CPU: args.get_float("binpack.cpu", 1),
            MEMORY: args.get_float("binpack.memory", 1),
        }
        for name in args.get_list("binpack.resources"):
            self.resource_weights[name] = args.get_float(f"binpack.resources.{name}", 1)

    def on_session_open(self, ssn: Session) -> None:
        if self.weight:
            ssn.add_node_order_fn(NAME, self.node_order, shape=self.shape)

    def _requests(self, state: CycleState, task: TaskInfo) -> tuple[tuple[str, float, int], ...]:
        """(resource, weight, request) for each weighted resource the task asks for,
        in `Resource.names` order: worked out once per decision and kept in `state`,
        so the per-node loop is arithmetic only."""
        kept = state.get(_STATE_KEY)
        if kept is not None and kept[0] is task:
            return kept[1]
        resreq = task.resreq
        requests = tuple((name, weight, resreq.get(name)) for name in resreq.names()
                         if (weight := self.resource_weights.get(name)))
        state[_STATE_KEY] = (task, requests)
        return requests

    def shape(self, state: CycleState, task: TaskInfo) -> Hashable:
        """What `node_order` reads of the task, for the session's memo."""
        return self._requests(state, task)

    def node_order(self, state: CycleState, task: TaskInfo, node: NodeInfo) -> float:
        score = weights = 0.0
        alloc = node.allocatable
        requested = node.requested
        for name, weight, request in self._requests(state, task):
            if name == CPU:
                capacity = alloc.milli_cpu
                used = requested.milli_cpu
            elif name == MEMORY:
                capacity = alloc.memory
                used = requested.memory
            else:
                capacity = alloc.get(name)
                used = requested.get(name)
            if capacity <= 0:
                weights += weight
                continue
            if used + request > capacity:
                return 0.0
            score += weight * (used + request) / capacity
            weights += weight
        if weights:
            score /= weights
        return score * MAX_NODE_SCORE * self.weight
