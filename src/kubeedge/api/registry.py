"""The resource registry: which group/version/resource exists, its kind, scope and names.

Discovery, routing, RBAC, tables and storage keys all read this one table, so a resource
is declared once (specs/k8s-api.md §1). Custom resources are added and removed at run
time as their CustomResourceDefinitions become Established or go away.
This module only describes resources; it never stores or serves them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")
# A proxy subresource takes every method; kube lists these verbs for it.
PROXY_VERBS = ("create", "delete", "get", "patch", "update")
# metrics-server's API, which the API server serves itself (apiserver/metrics.py).
METRICS_GROUP = "metrics.k8s.io"


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...] = SUBRESOURCE_VERBS
    group: str | None = None  # response kind's group when it differs (scale → autoscaling)
    version: str | None = None


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Built-in kinds accept strategic merge patches; custom resources do not (§4).
    strategic_merge: bool = True
    # Stored in the shared store (False for virtual, create-only review kinds).
    persisted: bool = True
    # Set for custom resources: the owning CRD's name.
    crd: str | None = None

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """`pods` for core, `deployments.apps` otherwise (as kubectl and messages say)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    def has_status(self) -> bool:
        return self.subresource("status") is not None


def _status(kind: str) -> Subresource:
    return Subresource("status", kind)


def _scale() -> Subresource:
    return Subresource("scale", "Scale", group="autoscaling", version="v1")


def _builtin() -> list[ResourceType]:
    core: list[ResourceType] = [
        ResourceType("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",),
                     subresources=(_status("Namespace"), Subresource("finalize", "Namespace",
                                                                     ("update",)))),
        # nodes/proxy reaches the node's kubelet-style server (apiserver/nodeproxy.py).
        ResourceType("", "v1", "nodes", "node", "Node", False, ("no",),
                     subresources=(_status("Node"),
                                   Subresource("proxy", "NodeProxyOptions", PROXY_VERBS))),
        ResourceType("", "v1", "pods", "pod", "Pod", True, ("po",), ("all",),
                     subresources=(
                         _status("Pod"),
                         Subresource("binding", "Binding", ("create",)),
                         Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
                         Subresource("log", "Pod", ("get",)),
                         Subresource("exec", "PodExecOptions", ("create", "get")),
                         Subresource("attach", "PodAttachOptions", ("create", "get")),
                         Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
                     )),
        ResourceType("", "v1", "bindings", "binding", "Binding", True, verbs=("create",),
                     persisted=False),
        ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
        ResourceType("", "v1", "secrets", "secret", "Secret", True),
        ResourceType("", "v1", "services", "service", "Service", True, ("svc",), ("all",),
                     subresources=(_status("Service"),)),
        ResourceType("", "v1", "endpoints", "endpoints", "Endpoints", True, ("ep",)),
        ResourceType("", "v1", "events", "event", "Event", True, ("ev",)),
        ResourceType("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True,
                     ("sa",), subresources=(Subresource("token", "TokenRequest", ("create",),
                                                        "authentication.k8s.io", "v1"),)),
        # Stored and served; usage is not enforced at admission yet.
        ResourceType("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", True,
                     ("quota",), subresources=(_status("ResourceQuota"),)),
    ]
    apps = [
        ResourceType("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",),
                     ("all",), (_status("Deployment"), _scale())),
        ResourceType("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",),
                     ("all",), (_status("ReplicaSet"), _scale())),
        ResourceType("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",),
                     ("all",), (_status("DaemonSet"),)),
        ResourceType("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, ("sts",),
                     ("all",), (_status("StatefulSet"), _scale())),
        ResourceType("apps", "v1", "controllerrevisions", "controllerrevision",
                     "ControllerRevision", True),
    ]
    batch = [
        ResourceType("batch", "v1", "jobs", "job", "Job", True, categories=("all",),
                     subresources=(_status("Job"),)),
        ResourceType("batch", "v1", "cronjobs", "cronjob", "CronJob", True, ("cj",), ("all",),
                     (_status("CronJob"),)),
    ]
    others = [
        ResourceType("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget",
                     "PodDisruptionBudget", True, ("pdb",),
                     subresources=(_status("PodDisruptionBudget"),)),
        ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
        ResourceType("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass",
                     "PriorityClass", False, ("pc",)),
        ResourceType("discovery.k8s.io", "v1", "endpointslices", "endpointslice",
                     "EndpointSlice", True),
        ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                     "customresourcedefinition", "CustomResourceDefinition", False,
                     ("crd", "crds"), ("api-extensions",),
                     (_status("CustomResourceDefinition"),)),
        ResourceType("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True),
        ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding",
                     "RoleBinding", True),
        ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole",
                     "ClusterRole", False),
        ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                     "clusterrolebinding", "ClusterRoleBinding", False),
        # Review kinds: create-only, answered from the request, never stored.
        ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews",
                     "selfsubjectaccessreview", "SelfSubjectAccessReview", False,
                     verbs=("create",), persisted=False),
        ResourceType("authorization.k8s.io", "v1", "selfsubjectrulesreviews",
                     "selfsubjectrulesreview", "SelfSubjectRulesReview", False,
                     verbs=("create",), persisted=False),
        ResourceType("authorization.k8s.io", "v1", "subjectaccessreviews",
                     "subjectaccessreview", "SubjectAccessReview", False,
                     verbs=("create",), persisted=False),
        ResourceType("authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview",
                     "SelfSubjectReview", False, verbs=("create",), persisted=False),
        ResourceType("authentication.k8s.io", "v1", "tokenreviews", "tokenreview",
                     "TokenReview", False, verbs=("create",), persisted=False),
    ]
    # Read-only and computed on request from the nodes' kubelet stats, never stored;
    # names and verbs as metrics-server registers them.
    metrics = [
        ResourceType(METRICS_GROUP, "v1beta1", "nodes", "", "NodeMetrics", False,
                     verbs=("get", "list"), strategic_merge=False, persisted=False),
        ResourceType(METRICS_GROUP, "v1beta1", "pods", "", "PodMetrics", True,
                     verbs=("get", "list"), strategic_merge=False, persisted=False),
    ]
    return core + apps + batch + others + metrics


@dataclass
class Registry:
    """Every served resource, in discovery order, with lookups by URL and by kind."""

    _types: list[ResourceType] = field(default_factory=_builtin)
    # Bumped on every change so caches (discovery, OpenAPI) know to rebuild.
    generation: int = 0

    def all(self) -> list[ResourceType]:
        return list(self._types)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self._types:
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def by_kind(self, group: str, version: str, kind: str) -> ResourceType | None:
        for rt in self._types:
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def versions_of(self, group: str) -> list[str]:
        seen: list[str] = []
        for rt in self._types:
            if rt.group == group and rt.version not in seen:
                seen.append(rt.version)
        return seen

    def groups(self) -> list[str]:
        """Non-core groups in discovery order."""
        seen: list[str] = []
        for rt in self._types:
            if rt.group and rt.group not in seen:
                seen.append(rt.group)
        return seen

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._types if rt.group == group and rt.version == version]

    def replace_crd(self, crd_name: str, types: Iterable[ResourceType]) -> None:
        """Swap the resources a CRD serves (empty to remove them)."""
        self._types = [rt for rt in self._types if rt.crd != crd_name] + list(types)
        self.generation += 1

    def storage_group_resource(self, rt: ResourceType) -> str:
        """Key segment shared by every version of one group/resource."""
        return f"{rt.group or 'core'}/{rt.plural}"
