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

import asyncio
import copy
from typing import Any

from kubeedge.api import meta
from kubeedge.client.errors import APIError
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
CUSTOM_RESOURCE_DEFINITIONS = ResourceRef(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", False, "CustomResourceDefinition"
)

POLL_INTERVAL = 0.05


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


def _contains(actual: Any, wanted: Any) -> bool:
    """Whether `actual` holds everything `wanted` says (the server may add defaults)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and _contains(actual[key], value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (isinstance(actual, list) and len(actual) == len(wanted)
                and all(_contains(a, w) for a, w in zip(actual, wanted, strict=True)))
    return bool(actual == wanted and type(actual) is type(wanted))


def _established(crd: dict[str, Any]) -> bool:
    cond = meta.condition(crd, "Established")
    return bool(cond and cond.get("status") == "True")


async def _apply(client: APIClient, wanted: dict[str, Any]) -> None:
    name = meta.name_of(wanted)
    while True:
        try:
            current = await client.get(CUSTOM_RESOURCE_DEFINITIONS, name)
        except APIError as err:
            if not err.is_not_found:
                raise
            try:
                await client.create(CUSTOM_RESOURCE_DEFINITIONS, wanted)
                return
            except APIError as create_err:
                if create_err.is_already_exists:
                    continue  # another cloudcore made it meanwhile: compare with theirs
                raise
        if _contains(current.get("spec"), wanted["spec"]):
            return
        updated = copy.deepcopy(current)
        updated["spec"] = copy.deepcopy(wanted["spec"])
        try:
            await client.update(CUSTOM_RESOURCE_DEFINITIONS, updated)
            return
        except APIError as err:
            if not err.is_conflict:
                raise


async def install(client: APIClient, timeout: float = 30.0) -> None:
    """Create or update both CRDs, then wait until each is Established.

    Installing CRDs that are already current writes nothing. Raises `TimeoutError`
    naming the CRDs still not Established after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for crd in CRDS:
        await _apply(client, crd)
    waiting = [meta.name_of(crd) for crd in CRDS]
    while True:
        still = [name for name in waiting
                 if not _established(await client.get(CUSTOM_RESOURCE_DEFINITIONS, name))]
        if not still:
            client.forget_discovery()
            return
        if loop.time() >= deadline:
            raise TimeoutError(f"CustomResourceDefinitions not Established after "
                               f"{timeout:g}s: {', '.join(still)}")
        waiting = still
        await asyncio.sleep(POLL_INTERVAL)
