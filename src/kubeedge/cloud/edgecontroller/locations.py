"""Which edge node needs which object: EdgeController's location cache.

Owns the answer to "send this configmap/secret to which nodes?" and "may this node read
it?": the set of edge nodes, the pods bound to them, and for every configmap, secret and
service account the nodes whose pods refer to it, with counts so the last pod that stops
referring to an object removes the node (KubeEdge's `manager.LocationCache`, which never
forgets a reference; here a deleted pod takes its references with it). Pure data: no
I/O, no clock, nothing of ours imported.

The references a pod makes are the Node authorizer's (kube's `VisitPodSecretNames`,
`VisitPodConfigmapNames`): volumes and projected sources, env and envFrom of every
container (init, regular and ephemeral), imagePullSecrets, secret refs of volume plugins,
and the service account. KubeEdge's own list misses init containers, whose configmaps an
edge needs as much as any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeedge.api.podrefs import pod_references

__all__ = [
    "CONFIGMAP",
    "SECRET",
    "SERVICEACCOUNT",
    "LocationCache",
    "Reference",
    "ReferenceChange",
    "references_of",
]

Obj = Mapping[str, Any]

# Kinds of referenced objects (the edge's resource types for the first two).
CONFIGMAP = "configmap"
SECRET = "secret"
SERVICEACCOUNT = "serviceaccount"

@dataclass(frozen=True, slots=True)
class Reference:
    """One object a pod refers to: its kind (CONFIGMAP, SECRET, SERVICEACCOUNT),
    namespace and name."""

    kind: str
    namespace: str
    name: str


def references_of(pod: Obj) -> set[Reference]:
    """The configmaps, secrets and service account `pod` names, in its namespace."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "")
    refs = pod_references(pod)
    out = {Reference(CONFIGMAP, namespace, n) for n in refs.config_maps}
    out |= {Reference(SECRET, namespace, n) for n in refs.secrets}
    out |= {Reference(SERVICEACCOUNT, namespace, n) for n in refs.service_accounts}
    return out


@dataclass(frozen=True, slots=True)
class ReferenceChange:
    """What one pod change did to a node's references: objects the node needs now and
    did not before (`added`), and objects no pod on it needs any more (`removed`)."""

    node: str
    added: frozenset[Reference] = frozenset()
    removed: frozenset[Reference] = frozenset()


@dataclass(slots=True)
class _Pod:
    node: str
    refs: frozenset[Reference]


@dataclass
class LocationCache:
    """Edge nodes, the pods bound to them, and per object the nodes that need it."""

    edge_nodes: set[str] = field(default_factory=set)
    # "<ns>/<name>" of each tracked pod -> its node and references
    _pods: dict[str, _Pod] = field(default_factory=dict)
    # node -> pod keys bound to it
    _node_pods: dict[str, set[str]] = field(default_factory=dict)
    # reference -> node -> how many of the node's pods refer to it
    _users: dict[Reference, dict[str, int]] = field(default_factory=dict)

    # -- nodes

    def is_edge_node(self, node: str) -> bool:
        return bool(node) and node in self.edge_nodes

    def add_edge_node(self, node: str) -> bool:
        """Mark `node` an edge node; True if it was not one before."""
        if node in self.edge_nodes:
            return False
        self.edge_nodes.add(node)
        return True

    def remove_edge_node(self, node: str) -> list[str]:
        """Forget an edge node and every pod tracked on it; returns those pods' keys."""
        self.edge_nodes.discard(node)
        keys = sorted(self._node_pods.get(node, ()))
        for key in keys:
            self.remove_pod(key)
        return keys

    # -- pods

    def set_pod(self, key: str, node: str, refs: Iterable[Reference]) -> list[ReferenceChange]:
        """Track pod `key` as bound to `node` with `refs` (replacing what it had).

        Returns, per node whose references changed, what it gained and lost; a pod that
        moves nodes yields a change for each.
        """
        new = _Pod(node, frozenset(refs))
        old = self._pods.get(key)
        if old is not None and old.node == new.node and old.refs == new.refs:
            return []
        changes: dict[str, tuple[set[Reference], set[Reference]]] = {}
        if old is not None:
            self._drop(key, old, changes)
        self._pods[key] = new
        self._node_pods.setdefault(node, set()).add(key)
        for ref in new.refs:
            users = self._users.setdefault(ref, {})
            count = users.get(node, 0)
            users[node] = count + 1
            if count == 0:
                added, removed = changes.setdefault(node, (set(), set()))
                if ref in removed:
                    removed.discard(ref)  # dropped and re-added by the same update
                else:
                    added.add(ref)
        return _changes(changes)

    def remove_pod(self, key: str) -> list[ReferenceChange]:
        """Stop tracking pod `key`; returns the references its node lost."""
        old = self._pods.pop(key, None)
        if old is None:
            return []
        changes: dict[str, tuple[set[Reference], set[Reference]]] = {}
        self._drop(key, old, changes)
        return _changes(changes)

    def _drop(
        self, key: str, pod: _Pod, changes: dict[str, tuple[set[Reference], set[Reference]]]
    ) -> None:
        keys = self._node_pods.get(pod.node)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._node_pods[pod.node]
        for ref in pod.refs:
            users = self._users.get(ref)
            if users is None:
                continue
            count = users.get(pod.node, 0) - 1
            if count > 0:
                users[pod.node] = count
                continue
            users.pop(pod.node, None)
            if not users:
                del self._users[ref]
            changes.setdefault(pod.node, (set(), set()))[1].add(ref)

    def pod_node(self, key: str) -> str:
        """The node a tracked pod is bound to ("" if not tracked)."""
        pod = self._pods.get(key)
        return pod.node if pod is not None else ""

    def pods_on(self, node: str) -> list[str]:
        return sorted(self._node_pods.get(node, ()))

    # -- references

    def nodes_for(self, ref: Reference) -> list[str]:
        """The edge nodes with a pod that refers to `ref`."""
        return sorted(self._users.get(ref, ()))

    def node_uses(self, node: str, ref: Reference) -> bool:
        return node in self._users.get(ref, ())


def _changes(changes: dict[str, tuple[set[Reference], set[Reference]]]) -> list[ReferenceChange]:
    return [
        ReferenceChange(node, frozenset(added), frozenset(removed))
        for node, (added, removed) in sorted(changes.items())
        if added or removed
    ]
