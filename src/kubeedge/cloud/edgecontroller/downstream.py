"""Downstream: API object changes turned into messages for the edge nodes that need them.

Owns deciding, for every change the informers report, which edge nodes get a message
and which (KubeEdge's `controller/downstream.go`, specs/kubeedge.md §2):

- edge Nodes (label `node-role.kubernetes.io/edge`): added or changed → `update` with the
  Node, to that node (KubeEdge sends adds as updates too); deleted → `delete`;
- pods bound to an edge node → `insert` when the node first sees the pod, `update` when
  its metadata or spec change (status-only changes are the edge's own reports coming
  back, so they are not sent, as KubeEdge's pod event filter does), `delete` when it is
  deleted or stops being bound there. A pod already terminating when first seen is an
  `update`, as in KubeEdge;
- configmaps and secrets go only to the edge nodes with a pod that refers to them: on
  their own changes (configmap added → `insert`; secret added → `update`, KubeEdge's
  choice for old edges; changed → `update`; deleted → `delete`), when a pod bound there
  starts to refer to them (`insert`, sent before the pod so the edge has them when it
  starts it), and `delete` to a node when no pod on it refers to them any more.

Handlers are plain functions run on the informers' task; they never wait: messages go
to `outbox` (the module drains it onto the bus for CloudHub). Must never write to the
API, and never change the cached objects it is handed (they are shared).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from kubeedge.cloud.edgecontroller.locations import (
    CONFIGMAP,
    SECRET,
    LocationCache,
    Reference,
    ReferenceChange,
    references_of,
)
from kubeedge.cloud.edgecontroller.messages import delete_stub, object_message
from kubeedge.messaging.message import OP_DELETE, OP_INSERT, OP_UPDATE, Message
from kubeedge.messaging.resource import (
    NULL_NAMESPACE,
    RESOURCE_CONFIGMAP,
    RESOURCE_NODE,
    RESOURCE_POD,
    RESOURCE_SECRET,
    ResourceError,
)

__all__ = ["Downstream", "pod_key", "pod_spec_changed"]

log = logging.getLogger(__name__)


Obj = Mapping[str, Any]

_KIND_INFO = {
    CONFIGMAP: (RESOURCE_CONFIGMAP, "ConfigMap"),
    SECRET: (RESOURCE_SECRET, "Secret"),
}


class Store(Protocol):
    """The part of an informer's `ObjectCache` read here."""

    def get(self, namespace: str | None, name: str) -> Any: ...


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def pod_key(pod: Obj) -> str:
    meta = _meta(pod)
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def _node_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _rv(obj: Obj) -> str:
    return str(_meta(obj).get("resourceVersion") or "")


def pod_spec_changed(old: Obj, new: Obj) -> bool:
    """KubeEdge's isPodUpdated: metadata (ignoring resourceVersion and generation) or
    spec differ. Status alone does not count."""
    if old.get("spec") != new.get("spec"):
        return True
    ignored = ("resourceVersion", "generation", "managedFields")
    old_meta = {k: v for k, v in _meta(old).items() if k not in ignored}
    new_meta = {k: v for k, v in _meta(new).items() if k not in ignored}
    return old_meta != new_meta


class Downstream:
    """Informer handlers that fill `outbox` with messages for CloudHub."""

    def __init__(
        self,
        locations: LocationCache,
        outbox: Callable[[Message], None],
        *,
        pods: Callable[[str], list[Obj]] | None = None,
        config_maps: Store | None = None,
        secrets: Store | None = None,
    ) -> None:
        self.locations = locations
        self.outbox = outbox
        # The pods bound to a node (from the shared pod cache), to catch up a node that
        # becomes an edge node after its pods were bound.
        self.pods_on_node = pods or (lambda node: [])
        self.stores: dict[str, Store | None] = {CONFIGMAP: config_maps, SECRET: secrets}

    def _send(self, msg: Message) -> None:
        self.outbox(msg)

    def _object(self, node: str, resource_type: str, obj: Obj, operation: str,
                namespace: str | None = None) -> None:
        try:
            self._send(object_message(node, resource_type, obj, operation, namespace=namespace))
        except ResourceError as exc:  # a name no resource string can carry
            log.warning("edgecontroller: not sending %s %s to %s: %s", operation,
                        resource_type, node, exc)

    # -- nodes ---------------------------------------------------------------------

    def on_node_add(self, node: Obj) -> None:
        name = str(_meta(node).get("name") or "")
        if not name:
            return
        new = self.locations.add_edge_node(name)
        self._object(name, RESOURCE_NODE, node, OP_UPDATE, namespace=NULL_NAMESPACE)
        if new:
            for pod in self.pods_on_node(name):
                self.on_pod_add(pod)

    def on_node_update(self, old: Obj, new: Obj) -> None:
        if _rv(old) == _rv(new):
            return  # a resync: nothing changed
        self.on_node_add(new)

    def on_node_delete(self, node: Obj) -> None:
        name = str(_meta(node).get("name") or "")
        if not name:
            return
        self._object(name, RESOURCE_NODE, node, OP_DELETE, namespace=NULL_NAMESPACE)
        # Its pods stay in the API until the pod GC removes them; nothing more goes to a
        # node that is gone.
        self.locations.remove_edge_node(name)

    # -- pods ----------------------------------------------------------------------

    def on_pod_add(self, pod: Obj) -> None:
        self._pod(None, pod)

    def on_pod_update(self, old: Obj, new: Obj) -> None:
        self._pod(old, new)

    def on_pod_delete(self, pod: Obj) -> None:
        key = pod_key(pod)
        node = self.locations.pod_node(key)
        if not node:
            return
        self._object(node, RESOURCE_POD, pod, OP_DELETE)
        self._references(self.locations.remove_pod(key))

    def _pod(self, old: Obj | None, pod: Obj) -> None:
        key = pod_key(pod)
        was = self.locations.pod_node(key)
        node = _node_of(pod)
        if not self.locations.is_edge_node(node):
            if was:
                # No longer bound to that edge node (or the node left the edge): the
                # node drops its copy.
                self._object(was, RESOURCE_POD, old or pod, OP_DELETE)
                self._references(self.locations.remove_pod(key))
            return
        if was and was != node:
            self._object(was, RESOURCE_POD, old or pod, OP_DELETE)
        changes = self.locations.set_pod(key, node, references_of(pod))
        self._references(changes, added_only=True)
        if was != node:
            terminating = bool(_meta(pod).get("deletionTimestamp"))
            self._object(node, RESOURCE_POD, pod, OP_UPDATE if terminating else OP_INSERT)
        elif old is None or pod_spec_changed(old, pod):
            self._object(node, RESOURCE_POD, pod, OP_UPDATE)
        self._references(changes, removed_only=True)

    def _references(self, changes: list[ReferenceChange], *, added_only: bool = False,
                    removed_only: bool = False) -> None:
        for change in changes:
            if not removed_only:
                for ref in sorted(change.added, key=_ref_order):
                    self._send_reference(change.node, ref)
            if not added_only:
                for ref in sorted(change.removed, key=_ref_order):
                    self._drop_reference(change.node, ref)

    def _send_reference(self, node: str, ref: Reference) -> None:
        store = self.stores.get(ref.kind)
        if store is None:
            return  # service accounts: tokens are asked for, not pushed
        obj = store.get(ref.namespace, ref.name)
        if obj is not None:  # not there yet: its own add event sends it
            self._object(node, _KIND_INFO[ref.kind][0], obj, OP_INSERT)

    def _drop_reference(self, node: str, ref: Reference) -> None:
        store = self.stores.get(ref.kind)
        if store is None:
            return
        resource_type, kind = _KIND_INFO[ref.kind]
        obj = store.get(ref.namespace, ref.name)
        if obj is None:
            obj = {"metadata": {"name": ref.name, "namespace": ref.namespace}}
        self._object(node, resource_type, delete_stub(obj, "v1", kind), OP_DELETE)

    # -- configmaps and secrets ----------------------------------------------------

    def on_configmap_add(self, obj: Obj) -> None:
        self._referenced(CONFIGMAP, obj, OP_INSERT)

    def on_configmap_update(self, old: Obj, new: Obj) -> None:
        if _rv(old) != _rv(new):
            self._referenced(CONFIGMAP, new, OP_UPDATE)

    def on_configmap_delete(self, obj: Obj) -> None:
        self._referenced(CONFIGMAP, obj, OP_DELETE)

    def on_secret_add(self, obj: Obj) -> None:
        # KubeEdge sends an added secret as an update (kept for edges before 1.x that
        # ignored inserts of secrets); MetaManager stores both alike (spec §6).
        self._referenced(SECRET, obj, OP_UPDATE)

    def on_secret_update(self, old: Obj, new: Obj) -> None:
        if _rv(old) != _rv(new):
            self._referenced(SECRET, new, OP_UPDATE)

    def on_secret_delete(self, obj: Obj) -> None:
        self._referenced(SECRET, obj, OP_DELETE)

    def _referenced(self, kind: str, obj: Obj, operation: str) -> None:
        meta = _meta(obj)
        ref = Reference(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        for node in self.locations.nodes_for(ref):
            self._object(node, _KIND_INFO[kind][0], obj, operation)


def _ref_order(ref: Reference) -> tuple[str, str, str]:
    return (ref.kind, ref.namespace, ref.name)
