"""ObjectSync names and resourceVersions (specs/kubeedge.md §3 "ACK", "SyncController").

Owns the facts every part of the reliable sync agrees on: a (Cluster)ObjectSync is named
`<nodeName>.<objectUID>` (the node name may itself contain dots, the UID never does), a
namespaced object's sync lives in the object's namespace and a cluster-scoped one's is a
ClusterObjectSync (the message namespace `null`), and resourceVersions compare as
unsigned integers, as KubeEdge's CompareResourceVersion does. Pure functions: no I/O.
"""

from __future__ import annotations

from typing import Any

from kubeedge.messaging.resource import NULL_NAMESPACE

__all__ = [
    "api_version_of_type",
    "compare_resource_version",
    "kind_to_resource",
    "node_of",
    "object_sync_name",
    "parse_resource_version",
    "resource_type_of_kind",
    "uid_of",
]


def object_sync_name(node: str, uid: str) -> str:
    """KubeEdge's BuildObjectSyncName: `<node>.<uid>`."""
    return f"{node}.{uid}"


def node_of(sync_name: str) -> str:
    """The node part of `<node>.<uid>`: everything before the last dot."""
    return sync_name.rpartition(".")[0]


def uid_of(sync_name: str) -> str:
    """The object UID part of `<node>.<uid>`: everything after the last dot."""
    return sync_name.rpartition(".")[2]


def parse_resource_version(value: Any) -> int:
    """A resourceVersion as the unsigned integer KubeEdge compares (ParseUint base 10).

    Raises ValueError naming the value when it is not one; KubeEdge panics there, we let
    the caller skip the one object instead.
    """
    text = str(value)
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"resourceVersion {value!r} is not an unsigned integer")
    number = int(text)
    if number >= 2**64:
        raise ValueError(f"resourceVersion {value!r} does not fit in uint64")
    return number


def compare_resource_version(a: Any, b: Any) -> int:
    """1 when a > b, 0 when equal, -1 when a < b (KubeEdge's CompareResourceVersion)."""
    x, y = parse_resource_version(a), parse_resource_version(b)
    return (x > y) - (x < y)


def resource_type_of_kind(kind: str) -> str:
    """The message resource type of an ObjectSync's kind: `strings.ToLower(kind)`
    (`Pod` → `pod`, `ConfigMap` → `configmap`), as the sync loop builds it."""
    return kind.lower()


# Kinds whose plural KubeEdge's UnsafeKindToResource does not guess by suffix.
_UNUSUAL_PLURALS = {
    "Endpoints": "endpoints",
    "PodStatus": "podstatus",
    "NodeStatus": "nodestatus",
    "CustomResourceDefinition": "customresourcedefinitions",
    "Leases": "leases",
}


def kind_to_resource(kind: str) -> str:
    """The plural resource of a kind, by KubeEdge's suffix rules (UnsafeKindToResource):
    `Pod` → `pods`, `Status`-like `…s` → `…ses`, `Policy` → `policies`."""
    if not kind:
        return kind
    if kind in _UNUSUAL_PLURALS:
        return _UNUSUAL_PLURALS[kind]
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


# apiVersion and kind of the message resource types the cloud sends reliably, for an
# acknowledged object whose content carries no TypeMeta (KubeEdge refuses to record
# those: "ObjectKind is empty"; we know these few for sure).
_TYPES: dict[str, tuple[str, str]] = {
    "pod": ("v1", "Pod"),
    "configmap": ("v1", "ConfigMap"),
    "secret": ("v1", "Secret"),
    "node": ("v1", "Node"),
    "service": ("v1", "Service"),
    "endpoints": ("v1", "Endpoints"),
    "persistentvolume": ("v1", "PersistentVolume"),
    "persistentvolumeclaim": ("v1", "PersistentVolumeClaim"),
    "volumeattachment": ("storage.k8s.io/v1", "VolumeAttachment"),
}


def api_version_of_type(resource_type: str) -> tuple[str, str] | None:
    """(apiVersion, kind) for a known message resource type, else None."""
    return _TYPES.get(resource_type)


def is_cluster_scoped(namespace: str | None) -> bool:
    """Whether a message namespace names a cluster-scoped object (ClusterObjectSync)."""
    return not namespace or namespace == NULL_NAMESPACE
