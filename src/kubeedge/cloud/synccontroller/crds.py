"""The `reliablesyncs.kubeedge.io/v1alpha1` CRDs, installed through the API
(specs/kubeedge.md §3 "ACK").

Owns ObjectSync (namespaced) and ClusterObjectSync (cluster-scoped) as plain dicts, with
the schema of KubeEdge's generated CRDs (build/crds/reliablesyncs): `spec{objectAPIVersion,
objectKind, objectName}`, `status{objectResourceVersion}`, the status subresource, and no
short names or extra printer columns (KubeEdge defines none, so `kubectl get objectsyncs`
shows NAME and AGE). `install()` creates each CRD (or updates it when its spec differs)
and waits until the API server reports it Established, as KubeEdge's Helm chart does
before cloudcore starts. Must never talk to storage: it is an API client like any other.
"""

from __future__ import annotations

from typing import Any

from kubeedge.client.crds import CUSTOM_RESOURCE_DEFINITIONS, install_crds
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient

__all__ = [
    "CLUSTER_OBJECT_SYNCS",
    "CRDS",
    "CUSTOM_RESOURCE_DEFINITIONS",
    "GROUP",
    "OBJECT_SYNCS",
    "VERSION",
    "install",
]

GROUP = "reliablesyncs.kubeedge.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
OBJECT_SYNCS = ResourceRef(GROUP, VERSION, "objectsyncs", True, "ObjectSync")
CLUSTER_OBJECT_SYNCS = ResourceRef(GROUP, VERSION, "clusterobjectsyncs", False,
                                   "ClusterObjectSync")



def _schema(description: str) -> dict[str, Any]:
    def text(what: str) -> dict[str, Any]:
        return {"type": "string", "description": what}

    return {
        "type": "object",
        "description": description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "description": "The object on the edge node this sync records.",
                "properties": {
                    "objectAPIVersion": text("APIVersion of the object persisted on the edge."),
                    "objectKind": text("Kind of the object persisted on the edge."),
                    "objectName": text("Name of the object persisted on the edge."),
                },
            },
            "status": {
                "type": "object",
                "description": "The version of the object the edge acknowledged.",
                "properties": {
                    "objectResourceVersion": text(
                        "resourceVersion of the object the edge node persisted."
                    ),
                },
            },
        },
    }


def _crd(kind: str, plural: str, *, namespaced: bool, description: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
            },
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": _schema(description)},
                "subresources": {"status": {}},
            }],
        },
    }


def object_sync_crd() -> dict[str, Any]:
    return _crd("ObjectSync", "objectsyncs", namespaced=True, description=(
        "ObjectSync records the version of a namespaced object an edge node persisted; "
        "its name is <nodeName>.<objectUID>."))


def cluster_object_sync_crd() -> dict[str, Any]:
    return _crd("ClusterObjectSync", "clusterobjectsyncs", namespaced=False, description=(
        "ClusterObjectSync records the version of a cluster-scoped object an edge node "
        "persisted; its name is <nodeName>.<objectUID>."))


CRDS: tuple[dict[str, Any], ...] = (object_sync_crd(), cluster_object_sync_crd())


async def install(client: APIClient, timeout: float = 30.0) -> None:
    """Create or update both CRDs, then wait until each is Established.

    Installing CRDs that are already current writes nothing. Raises `TimeoutError`
    naming the CRDs still not Established after `timeout` seconds."""
    await install_crds(client, CRDS, timeout)
