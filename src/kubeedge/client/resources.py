"""Which URL a resource lives at: group, version, plural and scope.

Owns `ResourceRef` (a group/version/resource plus whether it is namespaced), its URL
paths (specs/k8s-api.md §3 URLs) and a small built-in table of the kinds our components
use, so the common cases need no discovery round trip. Anything else is found through
discovery by `APIClient.resource`. Must never import the server's registry: the client
has to work against a real kube-apiserver, which only tells us what discovery says.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["BUILTIN", "Resource", "ResourceRef", "split_api_version"]


def split_api_version(api_version: str) -> tuple[str, str]:
    """`"apps/v1"` → `("apps", "v1")`, `"v1"` → `("", "v1")`."""
    group, _, version = api_version.rpartition("/")
    if not version:
        raise ValueError(f"apiVersion {api_version!r} has no version")
    return group, version


@dataclass(frozen=True)
class ResourceRef:
    """One resource of one API group version, e.g. `apps/v1 deployments`."""

    group: str
    version: str
    plural: str
    namespaced: bool = True
    kind: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`deployments.apps`, the name kubectl and error messages use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str | None = None, name: str = "", subresource: str = "") -> str:
        """The URL path; `namespace=None` on a namespaced resource means all namespaces."""
        parts = [self.prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        elif subresource:
            raise ValueError(f"subresource {subresource!r} needs an object name")
        return "/".join(parts)

    @classmethod
    def of(cls, api_version: str, resource: str, namespaced: bool | None = None) -> ResourceRef:
        """A ref from an apiVersion and a plural or kind: `ResourceRef.of("apps/v1",
        "deployments")` or `ResourceRef.of("v1", "Pod")`.

        Known resources come from the built-in table; for others give `namespaced`
        (the plural is then taken as given), or ask the server with
        `APIClient.resource`.
        """
        group, version = split_api_version(api_version)
        known = _BY_NAME.get((group, version, resource)) or _BY_NAME.get(
            (group, version, resource.lower())
        )
        if known is not None:
            if namespaced is not None and namespaced != known.namespaced:
                raise ValueError(
                    f"{known.qualified} is {'namespaced' if known.namespaced else 'cluster-scoped'}"
                )
            return known
        if namespaced is None:
            raise LookupError(
                f"{resource!r} in {api_version} is not in the built-in table: pass "
                "namespaced=... or resolve it through discovery with APIClient.resource()"
            )
        if resource[:1].isupper():
            raise ValueError(
                f"{resource!r} looks like a kind; give the plural resource name or use "
                "APIClient.resource() to look it up"
            )
        return cls(group, version, resource, namespaced)


# The spelling the brief and callers use most: `Resource.of("apps/v1", "deployments")`.
Resource = ResourceRef


def _table() -> list[ResourceRef]:
    rows: list[tuple[str, str, bool, str]] = [
        # (apiVersion, plural, namespaced, kind)
        ("v1", "pods", True, "Pod"),
        ("v1", "services", True, "Service"),
        ("v1", "endpoints", True, "Endpoints"),
        ("v1", "configmaps", True, "ConfigMap"),
        ("v1", "secrets", True, "Secret"),
        ("v1", "serviceaccounts", True, "ServiceAccount"),
        ("v1", "events", True, "Event"),
        ("v1", "persistentvolumeclaims", True, "PersistentVolumeClaim"),
        ("v1", "replicationcontrollers", True, "ReplicationController"),
        ("v1", "resourcequotas", True, "ResourceQuota"),
        ("v1", "limitranges", True, "LimitRange"),
        ("v1", "namespaces", False, "Namespace"),
        ("v1", "nodes", False, "Node"),
        ("v1", "persistentvolumes", False, "PersistentVolume"),
        ("apps/v1", "deployments", True, "Deployment"),
        ("apps/v1", "replicasets", True, "ReplicaSet"),
        ("apps/v1", "statefulsets", True, "StatefulSet"),
        ("apps/v1", "daemonsets", True, "DaemonSet"),
        ("apps/v1", "controllerrevisions", True, "ControllerRevision"),
        ("batch/v1", "jobs", True, "Job"),
        ("batch/v1", "cronjobs", True, "CronJob"),
        ("coordination.k8s.io/v1", "leases", True, "Lease"),
        ("events.k8s.io/v1", "events", True, "Event"),
        ("policy/v1", "poddisruptionbudgets", True, "PodDisruptionBudget"),
        ("rbac.authorization.k8s.io/v1", "roles", True, "Role"),
        ("rbac.authorization.k8s.io/v1", "rolebindings", True, "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "clusterroles", False, "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "clusterrolebindings", False, "ClusterRoleBinding"),
        ("apiextensions.k8s.io/v1", "customresourcedefinitions", False, "CustomResourceDefinition"),
        ("scheduling.k8s.io/v1", "priorityclasses", False, "PriorityClass"),
    ]
    return [ResourceRef(*split_api_version(av), plural, ns, kind) for av, plural, ns, kind in rows]


BUILTIN: tuple[ResourceRef, ...] = tuple(_table())
_BY_NAME: dict[tuple[str, str, str], ResourceRef] = {}
for _ref in BUILTIN:
    _BY_NAME[(_ref.group, _ref.version, _ref.plural)] = _ref
    _BY_NAME[(_ref.group, _ref.version, _ref.kind)] = _ref
    _BY_NAME[(_ref.group, _ref.version, _ref.kind.lower())] = _ref
