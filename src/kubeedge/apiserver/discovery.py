"""API discovery in both forms kubectl and the Python clients use (specs/k8s-api.md §1).

Legacy: `/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`. Aggregated
(`apidiscovery.k8s.io/v2`): `/api` and `/apis` answered whole when the client asks for
it in Accept. Documents are rebuilt only when the registry changes (a CRD came or went),
so a new CRD shows up on the very next request.
"""

from __future__ import annotations

from typing import Any

from kubeedge.api.registry import Registry, ResourceType

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> bool:
    for part in accept.split(","):
        params = dict(
            p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p
        )
        if (params.get("g") == "apidiscovery.k8s.io" and params.get("v") == "v2"
                and params.get("as") == "APIGroupDiscoveryList"):
            return True
        if part.strip().split(";")[0] == "application/json" and not params:
            return False
    return False


class Discovery:
    def __init__(self, registry: Registry, server_address: str) -> None:
        self.registry = registry
        self.server_address = server_address
        self._cache: dict[str, Any] = {}
        self._generation = -1

    def _cached(self, key: str, build: Any) -> Any:
        if self._generation != self.registry.generation:
            self._cache.clear()
            self._generation = self.registry.generation
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # -- legacy -------------------------------------------------------------------

    def api_versions(self) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}
            ],
        }

    def _group_entry(self, group: str) -> dict[str, Any]:
        versions = [
            {"groupVersion": f"{group}/{v}", "version": v}
            for v in self.registry.versions_of(group)
        ]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def api_group_list(self) -> dict[str, Any]:
        return self._cached("groups", lambda: {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self._group_entry(g) for g in self.registry.groups()],
        })

    def api_group(self, group: str) -> dict[str, Any] | None:
        if group not in self.registry.groups():
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group_entry(group)}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        def build() -> dict[str, Any] | None:
            types = self.registry.in_group_version(group, version)
            if not types:
                return None
            resources: list[dict[str, Any]] = []
            for rt in types:
                entry: dict[str, Any] = {
                    "name": rt.plural,
                    "singularName": rt.singular,
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": list(rt.verbs),
                }
                if rt.short_names:
                    entry["shortNames"] = list(rt.short_names)
                if rt.categories:
                    entry["categories"] = list(rt.categories)
                resources.append(entry)
                for sub in rt.subresources:
                    sub_entry: dict[str, Any] = {
                        "name": f"{rt.plural}/{sub.name}",
                        "singularName": "",
                        "namespaced": rt.namespaced,
                        "kind": sub.kind,
                        "verbs": list(sub.verbs),
                    }
                    if sub.group is not None:
                        sub_entry["group"] = sub.group
                        sub_entry["version"] = sub.version
                    resources.append(sub_entry)
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources,
            }

        return self._cached(f"rl/{group}/{version}", build)

    # -- aggregated (apidiscovery.k8s.io/v2) ------------------------------------------

    @staticmethod
    def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "resource": rt.plural,
            "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "scope": "Namespaced" if rt.namespaced else "Cluster",
            "singularResource": rt.singular,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        if rt.subresources:
            entry["subresources"] = [
                {
                    "subresource": sub.name,
                    "responseKind": {
                        "group": rt.group if sub.group is None else sub.group,
                        "version": rt.version if sub.version is None else sub.version,
                        "kind": sub.kind,
                    },
                    "verbs": list(sub.verbs),
                }
                for sub in rt.subresources
            ]
        return entry

    def _aggregated_group(self, group: str) -> dict[str, Any]:
        return {
            "metadata": {"name": group, "creationTimestamp": None},
            "versions": [
                {
                    "version": version,
                    "freshness": "Current",
                    "resources": [
                        self._aggregated_resource(rt)
                        for rt in self.registry.in_group_version(group, version)
                    ],
                }
                for version in self.registry.versions_of(group)
            ],
        }

    def aggregated(self, legacy_core: bool) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            groups = [""] if legacy_core else self.registry.groups()
            return {
                "kind": "APIGroupDiscoveryList",
                "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {},
                "items": [self._aggregated_group(g) for g in groups],
            }

        return self._cached(f"agg/{legacy_core}", build)
