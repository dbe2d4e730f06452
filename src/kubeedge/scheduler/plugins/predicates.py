"""The `predicates` plugin: kube-scheduler's filters, in its order and its words.

NodeUnschedulable, TaintToleration (with a node whose Ready condition is not True
treated as carrying the not-ready/unreachable NoSchedule taint the node lifecycle
controller would put on it), NodeAffinity (nodeSelector and required node affinity),
NodePorts and InterPodAffinity (required affinity and anti-affinity, any topology key).
Arguments as Volcano's (specs/volcano.md §2.4): `predicate.NodeAffinityEnable`,
`predicate.NodePortsEnable`, `predicate.TaintTolerationEnable`,
`predicate.PodAffinityEnable`, all true by default. Resource fit is the allocate
action's own check, as in Volcano.

Never does I/O; reads only the session's cache.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from kubeedge.api.placement import node_selector_term_matches, tolerates
from kubeedge.scheduler.framework.info import (
    NO_SCHEDULE,
    AffinityTerm,
    NodeInfo,
    TaskInfo,
)
from kubeedge.scheduler.framework.session import CycleState, Session, Status
from kubeedge.scheduler.plugins.arguments import Arguments

__all__ = [
    "PredicatesPlugin",
    "match_node_selector_term",
]

NAME = "predicates"

ERR_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_NOT_READY = "node(s) were not ready"
ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
ERR_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"
ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"

_STATE_KEY = "predicates/interpod"

_UNSCHEDULABLE = Status.of(ERR_UNSCHEDULABLE, unresolvable=True)
_NOT_READY = Status.of(ERR_NOT_READY, unresolvable=True)
_NODE_AFFINITY = Status.of(ERR_NODE_AFFINITY, unresolvable=True)
_NODE_PORTS = Status.of(ERR_NODE_PORTS)
_EXISTING_ANTI_AFFINITY = Status.of(ERR_EXISTING_ANTI_AFFINITY)
_AFFINITY = Status.of(ERR_AFFINITY, unresolvable=True)
_ANTI_AFFINITY = Status.of(ERR_ANTI_AFFINITY)


def _tolerated(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    key = str(taint.get("key") or "")
    value = str(taint.get("value") or "")
    effect = str(taint.get("effect") or "")
    return any(tolerates(t, key, value, effect) for t in tolerations)


def match_node_selector_term(term: Mapping[str, Any], node: NodeInfo) -> bool:
    return node_selector_term_matches(term, node.labels, node.name)


def _node_affinity_fits(task: TaskInfo, node: NodeInfo) -> bool:
    labels = node.labels
    for key, value in task.node_selector.items():
        if labels.get(key) != value:
            return False
    terms = task.required_node_terms
    if terms is None:
        return True
    return any(match_node_selector_term(term, node) for term in terms)


def _pair(node: NodeInfo, term: AffinityTerm) -> tuple[str, str] | None:
    value = node.labels.get(term.topology_key)
    return None if value is None else (term.topology_key, value)


class PredicatesPlugin:
    name = NAME

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        args = Arguments(arguments)
        self.node_affinity = args.get_bool("predicate.NodeAffinityEnable", True)
        self.node_ports = args.get_bool("predicate.NodePortsEnable", True)
        self.taint_toleration = args.get_bool("predicate.TaintTolerationEnable", True)
        self.pod_affinity = args.get_bool("predicate.PodAffinityEnable", True)
        self._ssn: Session | None = None

    def on_session_open(self, ssn: Session) -> None:
        self._ssn = ssn
        if self.pod_affinity:
            ssn.add_pre_predicate_fn(NAME, self.pre_predicate)
        ssn.add_predicate_fn(NAME, self.predicate, shape=self.shape)

    # -- per pod (kube's PreFilter) ---------------------------------------------------

    def pre_predicate(self, state: CycleState, task: TaskInfo) -> Status | None:
        """Count, per topology domain, the placed pods the incoming pod's terms match
        and the placed pods whose anti-affinity the incoming pod would break."""
        assert self._ssn is not None
        cache = self._ssn.cache
        if not (task.affinity_terms or task.anti_affinity_terms or cache.anti_affinity_tasks):
            return None
        existing: dict[tuple[str, str], int] = {}
        for other in cache.anti_affinity_tasks.values():
            node = cache.nodes.get(other.node_name)
            if node is None or other.key == task.key:
                continue
            for term in other.anti_affinity_terms:
                pair = _pair(node, term)
                if pair is not None and term.matches(task):
                    existing[pair] = existing.get(pair, 0) + 1
        affinity: dict[tuple[str, str], int] = {}
        anti: dict[tuple[str, str], int] = {}
        if task.affinity_terms or task.anti_affinity_terms:
            for other in cache.tasks.values():
                if other.key == task.key:
                    continue
                node = cache.nodes.get(other.node_name)
                if node is None:
                    continue
                if task.affinity_terms and all(t.matches(other) for t in task.affinity_terms):
                    for term in task.affinity_terms:
                        pair = _pair(node, term)
                        if pair is not None:
                            affinity[pair] = affinity.get(pair, 0) + 1
                for term in task.anti_affinity_terms:
                    pair = _pair(node, term)
                    if pair is not None and term.matches(other):
                        anti[pair] = anti.get(pair, 0) + 1
        state[_STATE_KEY] = (existing, affinity, anti)
        return None

    @staticmethod
    def shape(state: CycleState, task: TaskInfo) -> Hashable | None:
        """What `predicate` reads of the task, for the session's memo: tolerations,
        node selector and required node affinity (their reprs: equal reprs of decoded
        JSON are equal values), host ports. Not pure once inter-pod terms are in play
        (the counts in `state` depend on other nodes' pods)."""
        if _STATE_KEY in state:
            return None
        if not (task.tolerations or task.node_selector or task.required_node_terms
                or task.host_ports):
            return (task.required_node_terms is None,)
        return (repr(task.tolerations), repr(task.node_selector),
                repr(task.required_node_terms), task.host_ports)

    # -- per node (kube's Filter) -----------------------------------------------------

    def predicate(self, state: CycleState, task: TaskInfo, node: NodeInfo) -> Status | None:
        if node.unschedulable and not any(
                tolerates(t, UNSCHEDULABLE_TAINT, "", NO_SCHEDULE) for t in task.tolerations):
            return _UNSCHEDULABLE
        if self.taint_toleration:
            for taint in node.hard_taints:
                if not _tolerated(task.tolerations, taint):
                    return Status.of(
                        f"node(s) had untolerated taint {{{taint.get('key') or ''}: "
                        f"{taint.get('value') or ''}}}", unresolvable=True)
        if node.ready != "True":
            key = NOT_READY_TAINT if node.ready == "False" else UNREACHABLE_TAINT
            if not any(tolerates(t, key, "", NO_SCHEDULE) for t in task.tolerations):
                return _NOT_READY
        if (self.node_affinity and (task.node_selector or task.required_node_terms is not None)
                and not _node_affinity_fits(task, node)):
            return _NODE_AFFINITY
        if self.node_ports and task.host_ports:
            for ip, protocol, port in task.host_ports:
                if node.port_conflict(ip, protocol, port):
                    return _NODE_PORTS
        interpod = state.get(_STATE_KEY)
        if interpod is not None:
            return self._interpod(interpod, task, node)
        return None

    @staticmethod
    def _interpod(counts: tuple[dict[tuple[str, str], int], ...], task: TaskInfo,
                  node: NodeInfo) -> Status | None:
        existing, affinity, anti = counts
        if existing:
            for pair in node.labels.items():
                if existing.get(pair, 0) > 0:
                    return _EXISTING_ANTI_AFFINITY
        if task.affinity_terms:
            pods_exist = True
            for term in task.affinity_terms:
                pair = _pair(node, term)
                if pair is None:
                    return _AFFINITY
                if affinity.get(pair, 0) <= 0:
                    pods_exist = False
            # The first pod of a group that is affine to itself may go anywhere the
            # topology labels exist (kube's satisfyPodAffinity).
            if not pods_exist and not (
                    not affinity and all(t.matches(task) for t in task.affinity_terms)):
                return _AFFINITY
        for term in task.anti_affinity_terms:
            pair = _pair(node, term)
            if pair is not None and anti.get(pair, 0) > 0:
                return _ANTI_AFFINITY
        return None
