"""Serves `/openapi/v3` (index and per group/version documents) from the schema layer.

kubectl fetches these before every `apply` with strict validation and for `explain`
(specs/k8s-api.md §2); documents are rebuilt only when the set of resources changes.
`/openapi/v2` is protobuf-only in kube, and kubectl copes with a 404 there, so it is
not served.
"""

from __future__ import annotations

from typing import Any

from kubeedge.api.registry import Registry
from kubeedge.api.schema import (
    ResourceDoc,
    crd_openapi_documents,
    document_json,
    merge_documents,
    openapi_v3_document,
    openapi_v3_index,
    openapi_v3_path,
)
from kubeedge.apiserver.crds import CRDController


class OpenAPI:
    def __init__(self, registry: Registry, crds: CRDController) -> None:
        self.registry = registry
        self.crds = crds
        self._generation = -1
        self._docs: dict[str, bytes] = {}

    def _rebuild(self) -> None:
        by_gv: dict[str, list[dict[str, Any]]] = {}
        for group in ["", *self.registry.groups()]:
            for version in self.registry.versions_of(group):
                types = [rt for rt in self.registry.in_group_version(group, version)
                         if not rt.crd]
                if not types:
                    continue
                resources = [ResourceDoc(rt.plural, rt.kind, rt.namespaced,
                                         tuple(s.name for s in rt.subresources), rt.verbs)
                             for rt in types]
                gv = f"{group}/{version}" if group else version
                by_gv.setdefault(gv, []).append(openapi_v3_document(gv, resources))
        crds = list(self.crds.crds.values())
        if crds:
            for gv, doc in crd_openapi_documents(crds).items():
                by_gv.setdefault(gv, []).append(doc)
        merged = {gv: docs[0] if len(docs) == 1 else merge_documents(docs)
                  for gv, docs in by_gv.items()}
        self._docs = {openapi_v3_path(gv): document_json(doc) for gv, doc in merged.items()}
        self._docs[""] = document_json(openapi_v3_index(merged))
        self._generation = self.registry.generation

    def document(self, path: str) -> bytes | None:
        if self._generation != self.registry.generation:
            self._rebuild()
        return self._docs.get(path.strip("/"))
