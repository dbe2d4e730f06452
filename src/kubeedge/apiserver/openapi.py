"""Serves `/openapi/v3` (index and per group/version documents) from the schema layer.

kubectl fetches these before every `apply` with strict validation and for `explain`
(specs/k8s-api.md §2); documents are rebuilt only when the set of resources changes.
`/openapi/v2` is protobuf-only in kube, and kubectl copes with a 404 there, so it is
not served.
"""

from __future__ import annotations

import orjson

from kubeedge.api.registry import Registry
from kubeedge.api.schema import ResourceDoc, crd_openapi_documents, openapi_v3_document
from kubeedge.apiserver.crds import CRDController


class OpenAPI:
    def __init__(self, registry: Registry, crds: CRDController) -> None:
        self.registry = registry
        self.crds = crds
        self._generation = -1
        self._docs: dict[str, bytes] = {}

    def _rebuild(self) -> None:
        docs: dict[str, bytes] = {}
        for group in ["", *self.registry.groups()]:
            for version in self.registry.versions_of(group) if group else ["v1"]:
                types = [rt for rt in self.registry.in_group_version(group, version)
                         if not rt.crd]
                if not types:
                    continue
                path = f"apis/{group}/{version}" if group else f"api/{version}"
                resources = [ResourceDoc(rt.plural, rt.kind, rt.namespaced,
                                         tuple(s.name for s in rt.subresources), rt.verbs)
                             for rt in types]
                docs[path] = orjson.dumps(openapi_v3_document(group, version, resources))
        for crd in self.crds.crds.values():
            for group_version, doc in crd_openapi_documents(crd).items():
                path = f"apis/{group_version}"
                if path in docs:
                    merged = orjson.loads(docs[path])
                    merged["paths"].update(doc.get("paths", {}))
                    merged["components"]["schemas"].update(
                        doc.get("components", {}).get("schemas", {}))
                    docs[path] = orjson.dumps(merged)
                else:
                    docs[path] = orjson.dumps(doc)
        import hashlib

        index = {"paths": {
            path: {"serverRelativeURL":
                   f"/openapi/v3/{path}?hash={hashlib.sha512(body).hexdigest()[:32].upper()}"}
            for path, body in sorted(docs.items())
        }}
        docs[""] = orjson.dumps(index)
        self._docs = docs
        self._generation = self.registry.generation

    def document(self, path: str) -> bytes | None:
        if self._generation != self.registry.generation:
            self._rebuild()
        return self._docs.get(path.strip("/"))
