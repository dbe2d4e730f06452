"""The default ClusterRoles and ClusterRoleBindings a Kubernetes 1.32 API server creates.

Owns the data of kube-apiserver's bootstrap policy (plugin/pkg/auth/authorizer/rbac/
bootstrappolicy): cluster-admin, the aggregated admin/edit/view with their
`system:aggregate-to-*` parts, discovery, basic-user, public-info-viewer, monitoring,
the node, scheduler, controller-manager, proxier and a few other system roles, and the
bindings that go with them. Every object is a plain dict labelled
`kubernetes.io/bootstrapping: rbac-defaults` and annotated
`rbac.authorization.kubernetes.io/autoupdate: "true"`, as kube-apiserver writes them.

Never does: write them anywhere (the API server's start-up creates the missing ones) or
evaluate them (`rbac`). `aggregate` is re-exported from `rbac` for the controller.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from kubeedge.apiserver.authz.rbac import RBAC_GROUP, aggregate
from kubeedge.apiserver.authz.types import (
    ALL_AUTHENTICATED,
    ALL_UNAUTHENTICATED,
    KUBE_CONTROLLER_MANAGER,
    KUBE_PROXY,
    KUBE_SCHEDULER,
    MONITORING_GROUP,
    SERVICE_ACCOUNTS_GROUP,
    SYSTEM_MASTERS,
)

__all__ = [
    "AGGREGATE_TO_ADMIN",
    "AGGREGATE_TO_EDIT",
    "AGGREGATE_TO_VIEW",
    "AUTOUPDATE_ANNOTATION",
    "BOOTSTRAP_LABEL",
    "aggregate",
    "bootstrap_policy",
    "cluster_role_bindings",
    "cluster_roles",
    "node_rules",
]

BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE_ANNOTATION = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
AGGREGATE_TO_ADMIN = "rbac.authorization.k8s.io/aggregate-to-admin"
AGGREGATE_TO_EDIT = "rbac.authorization.k8s.io/aggregate-to-edit"
AGGREGATE_TO_VIEW = "rbac.authorization.k8s.io/aggregate-to-view"

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
READ_WRITE = READ + WRITE
EVENT_WRITE = ("create", "update", "patch")

CORE = ""
APPS = "apps"
AUTHENTICATION = "authentication.k8s.io"
AUTHORIZATION = "authorization.k8s.io"
AUTOSCALING = "autoscaling"
BATCH = "batch"
CERTIFICATES = "certificates.k8s.io"
COORDINATION = "coordination.k8s.io"
DISCOVERY = "discovery.k8s.io"
EVENTS = "events.k8s.io"
EXTENSIONS = "extensions"
METRICS = "metrics.k8s.io"
NETWORKING = "networking.k8s.io"
NODE = "node.k8s.io"
POLICY = "policy"
STORAGE = "storage.k8s.io"


def _rule(
    verbs: Sequence[str],
    groups: Sequence[str],
    resources: Sequence[str],
    names: Sequence[str] = (),
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "verbs": list(verbs),
        "apiGroups": list(groups),
        "resources": list(resources),
    }
    if names:
        rule["resourceNames"] = list(names)
    return rule


def _urls(verbs: Sequence[str], urls: Sequence[str]) -> dict[str, Any]:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def _meta(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {**(labels or {}), **BOOTSTRAP_LABEL},
        "annotations": dict(AUTOUPDATE_ANNOTATION),
    }


def _role(
    name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name, labels),
        "rules": rules,
    }


def _aggregated(
    name: str, selector_label: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    role = _role(name, [], labels)
    role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {selector_label: "true"}}]}
    return role


def _binding(name: str, subjects: list[dict[str, str]], role: str = "") -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role or name},
        "subjects": subjects,
    }


def _groups(*names: str) -> list[dict[str, str]]:
    return [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": n} for n in names]


def _users(*names: str) -> list[dict[str, str]]:
    return [{"apiGroup": RBAC_GROUP, "kind": "User", "name": n} for n in names]


def _node_rules() -> list[dict[str, Any]]:
    # bootstrappolicy.NodeRules: what a kubelet needs. Bound to no one by default: the
    # Node authorizer (node.py) grants these, narrowed to the node's own objects.
    return [
        _rule(["create"], [AUTHENTICATION], ["tokenreviews"]),
        _rule(["create"], [AUTHORIZATION], ["localsubjectaccessreviews", "subjectaccessreviews"]),
        _rule(READ, [CORE], ["services"]),
        _rule(["create", "get", "list", "watch"], [CORE], ["nodes"]),
        _rule(["patch", "update"], [CORE], ["nodes/status"]),
        _rule(["patch", "update"], [CORE], ["nodes"]),
        _rule(EVENT_WRITE, [CORE], ["events"]),
        _rule(READ, [CORE], ["pods"]),
        _rule(["create", "delete"], [CORE], ["pods"]),
        _rule(["patch", "update"], [CORE], ["pods/status"]),
        _rule(["create"], [CORE], ["pods/eviction"]),
        _rule(READ, [CORE], ["configmaps", "secrets"]),
        _rule(["get"], [CORE], ["persistentvolumeclaims", "persistentvolumes"]),
        _rule(["get"], [CORE], ["endpoints"]),
        _rule(["create", "get", "list", "watch"], [CERTIFICATES], ["certificatesigningrequests"]),
        _rule(["create", "delete", "get", "patch", "update"], [COORDINATION], ["leases"]),
        _rule(["get"], [STORAGE], ["volumeattachments"]),
        _rule(["create"], [CORE], ["serviceaccounts/token"]),
        _rule(["get", "patch", "update"], [CORE], ["persistentvolumeclaims/status"]),
        _rule(READ, [STORAGE], ["csidrivers"]),
        _rule(["create", "delete", "get", "patch", "update"], [STORAGE], ["csinodes"]),
        _rule(READ, [NODE], ["runtimeclasses"]),
    ]


def node_rules() -> list[dict[str, Any]]:
    """The static rules of ClusterRole `system:node` (a fresh copy)."""
    return _node_rules()


def _aggregate_to_edit_rules() -> list[dict[str, Any]]:
    return [
        # Read of escalating resources: exec/attach/portforward/proxy and secrets.
        _rule(
            READ,
            [CORE],
            [
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
        ),
        _rule(["impersonate"], [CORE], ["serviceaccounts"]),
        _rule(
            WRITE,
            [CORE],
            ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"],
        ),
        _rule(["create"], [CORE], ["pods/eviction"]),
        _rule(
            WRITE,
            [CORE],
            [
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
        ),
        _rule(["create"], [CORE], ["serviceaccounts/token"]),
        _rule(
            WRITE,
            [APPS],
            [
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
        ),
        _rule(WRITE, [AUTOSCALING], ["horizontalpodautoscalers"]),
        _rule(WRITE, [BATCH], ["cronjobs", "jobs"]),
        _rule(
            WRITE,
            [EXTENSIONS],
            [
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "ingresses",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
            ],
        ),
        _rule(WRITE, [POLICY], ["poddisruptionbudgets"]),
        _rule(WRITE, [NETWORKING], ["ingresses", "networkpolicies"]),
        _rule(READ_WRITE, [COORDINATION], ["leases"]),
    ]


def _aggregate_to_view_rules() -> list[dict[str, Any]]:
    # No secrets here, nor anything that reveals them (exec, attach, proxy).
    return [
        _rule(
            READ,
            [CORE],
            [
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ],
        ),
        _rule(
            READ,
            [CORE],
            [
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
        ),
        # Read of namespaces through a RoleBinding means reading *this* namespace.
        _rule(READ, [CORE], ["namespaces"]),
        _rule(READ, [DISCOVERY], ["endpointslices"]),
        _rule(
            READ,
            [APPS],
            [
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
        ),
        _rule(READ, [AUTOSCALING], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        _rule(READ, [BATCH], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        _rule(
            READ,
            [EXTENSIONS],
            [
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
            ],
        ),
        _rule(READ, [POLICY], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        _rule(READ, [NETWORKING], ["ingresses", "ingresses/status", "networkpolicies"]),
    ]


def _kube_scheduler_rules() -> list[dict[str, Any]]:
    return [
        _rule(EVENT_WRITE, [CORE, EVENTS], ["events"]),
        _rule(["create"], [COORDINATION], ["leases"]),
        _rule(["get", "update"], [COORDINATION], ["leases"], ["kube-scheduler"]),
        _rule(READ, [CORE], ["nodes"]),
        _rule(["delete", "get", "list", "watch"], [CORE], ["pods"]),
        _rule(["create"], [CORE], ["bindings", "pods/binding"]),
        _rule(["patch", "update"], [CORE], ["pods/status"]),
        _rule(READ, [CORE], ["replicationcontrollers", "services"]),
        _rule(READ, [APPS, EXTENSIONS], ["replicasets"]),
        _rule(READ, [APPS], ["statefulsets"]),
        _rule(READ, [POLICY], ["poddisruptionbudgets"]),
        _rule(READ, [CORE], ["persistentvolumeclaims", "persistentvolumes"]),
        _rule(["create"], [AUTHENTICATION], ["tokenreviews"]),
        _rule(["create"], [AUTHORIZATION], ["subjectaccessreviews"]),
        _rule(READ, [STORAGE], ["csinodes"]),
        _rule(READ, [CORE], ["namespaces"]),
        _rule(READ, [STORAGE], ["csidrivers"]),
        _rule(READ, [STORAGE], ["csistoragecapacities"]),
    ]


def _kube_controller_manager_rules() -> list[dict[str, Any]]:
    return [
        _rule(EVENT_WRITE, [CORE, EVENTS], ["events"]),
        _rule(["create"], [COORDINATION], ["leases"]),
        _rule(["get", "update"], [COORDINATION], ["leases"], ["kube-controller-manager"]),
        _rule(["create"], [CORE], ["secrets", "serviceaccounts"]),
        _rule(["delete"], [CORE], ["secrets"]),
        _rule(["get"], [CORE], ["configmaps", "namespaces", "secrets", "serviceaccounts"]),
        _rule(["update"], [CORE], ["secrets", "serviceaccounts"]),
        _rule(["create"], [AUTHENTICATION], ["tokenreviews"]),
        _rule(["create"], [AUTHORIZATION], ["subjectaccessreviews"]),
        # The shared informers list and watch everything.
        _rule(["list", "watch"], ["*"], ["*"]),
        _rule(["create"], [CORE], ["serviceaccounts/token"]),
    ]


def _approver(signer: str) -> list[dict[str, Any]]:
    return [_rule(["approve"], [CERTIFICATES], ["signers"], [signer])]


def _build_cluster_roles() -> list[dict[str, Any]]:
    return [
        _aggregated("admin", AGGREGATE_TO_ADMIN),
        # The root role: everything, resources and URLs alike.
        _role(
            "cluster-admin",
            [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])],
        ),
        _aggregated("edit", AGGREGATE_TO_EDIT, {AGGREGATE_TO_ADMIN: "true"}),
        _role(
            "system:aggregate-to-admin",
            [
                _rule(["create"], [AUTHORIZATION], ["localsubjectaccessreviews"]),
                _rule(READ_WRITE, [RBAC_GROUP], ["rolebindings", "roles"]),
            ],
            {AGGREGATE_TO_ADMIN: "true"},
        ),
        _role("system:aggregate-to-edit", _aggregate_to_edit_rules(), {AGGREGATE_TO_EDIT: "true"}),
        _role("system:aggregate-to-view", _aggregate_to_view_rules(), {AGGREGATE_TO_VIEW: "true"}),
        _role(
            "system:auth-delegator",
            [
                _rule(["create"], [AUTHENTICATION], ["tokenreviews"]),
                _rule(["create"], [AUTHORIZATION], ["subjectaccessreviews"]),
            ],
        ),
        _role(
            "system:basic-user",
            [
                _rule(
                    ["create"],
                    [AUTHORIZATION],
                    ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                _rule(["create"], [AUTHENTICATION], ["selfsubjectreviews"]),
            ],
        ),
        _role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            [_rule(["create"], [CERTIFICATES], ["certificatesigningrequests/nodeclient"])],
        ),
        _role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            [_rule(["create"], [CERTIFICATES], ["certificatesigningrequests/selfnodeclient"])],
        ),
        _role(
            "system:certificates.k8s.io:kube-apiserver-client-approver",
            _approver("kubernetes.io/kube-apiserver-client"),
        ),
        _role(
            "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
            _approver("kubernetes.io/kube-apiserver-client-kubelet"),
        ),
        _role(
            "system:certificates.k8s.io:kubelet-serving-approver",
            _approver("kubernetes.io/kubelet-serving"),
        ),
        _role(
            "system:certificates.k8s.io:legacy-unknown-approver",
            _approver("kubernetes.io/legacy-unknown"),
        ),
        _role(
            "system:discovery",
            [
                _urls(
                    ["get"],
                    [
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                        "/healthz",
                        "/livez",
                        "/openapi",
                        "/openapi/*",
                        "/readyz",
                        "/version",
                        "/version/",
                    ],
                )
            ],
        ),
        _role(
            "system:heapster",
            [
                _rule(READ, [CORE], ["events", "namespaces", "nodes", "pods"]),
                _rule(READ, [EXTENSIONS], ["deployments"]),
            ],
        ),
        _role("system:kube-aggregator", [_rule(READ, [CORE], ["endpoints", "services"])]),
        _role("system:kube-controller-manager", _kube_controller_manager_rules()),
        _role("system:kube-dns", [_rule(["list", "watch"], [CORE], ["endpoints", "services"])]),
        _role("system:kube-scheduler", _kube_scheduler_rules()),
        _role(
            "system:kubelet-api-admin",
            [
                _rule(READ, [CORE], ["nodes"]),
                _rule(["proxy"], [CORE], ["nodes"]),
                _rule(["*"], [CORE], ["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"]),
            ],
        ),
        _role(
            "system:monitoring",
            [
                _urls(
                    ["get"],
                    [
                        "/healthz",
                        "/healthz/*",
                        "/livez",
                        "/livez/*",
                        "/metrics",
                        "/metrics/slis",
                        "/readyz",
                        "/readyz/*",
                    ],
                )
            ],
        ),
        _role("system:node", _node_rules()),
        _role(
            "system:node-bootstrapper",
            [
                _rule(
                    ["create", "get", "list", "watch"],
                    [CERTIFICATES],
                    ["certificatesigningrequests"],
                )
            ],
        ),
        _role(
            "system:node-problem-detector",
            [
                _rule(["get"], [CORE], ["nodes"]),
                _rule(["patch"], [CORE], ["nodes/status"]),
                _rule(EVENT_WRITE, [CORE, EVENTS], ["events"]),
            ],
        ),
        _role(
            "system:node-proxier",
            [
                _rule(["list", "watch"], [CORE], ["endpoints", "services"]),
                _rule(READ, [CORE], ["nodes"]),
                _rule(EVENT_WRITE, [CORE, EVENTS], ["events"]),
                _rule(["list", "watch"], [DISCOVERY], ["endpointslices"]),
            ],
        ),
        _role(
            "system:persistent-volume-provisioner",
            [
                _rule(["create", "delete", "get", "list", "watch"], [CORE], ["persistentvolumes"]),
                _rule(["get", "list", "update", "watch"], [CORE], ["persistentvolumeclaims"]),
                _rule(READ, [STORAGE], ["storageclasses"]),
                _rule(["watch"], [CORE], ["events"]),
                _rule(EVENT_WRITE, [CORE, EVENTS], ["events"]),
            ],
        ),
        _role(
            "system:public-info-viewer",
            [_urls(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])],
        ),
        _role(
            "system:service-account-issuer-discovery",
            [_urls(["get"], ["/.well-known/openid-configuration", "/openid/v1/jwks"])],
        ),
        _role(
            "system:volume-scheduler",
            [
                _rule(["get", "list", "patch", "update", "watch"], [CORE], ["persistentvolumes"]),
                _rule(READ, [STORAGE], ["storageclasses"]),
                _rule(
                    ["get", "list", "patch", "update", "watch"], [CORE], ["persistentvolumeclaims"]
                ),
            ],
        ),
        _aggregated("view", AGGREGATE_TO_VIEW, {AGGREGATE_TO_EDIT: "true"}),
        # metrics-server's role for its API, which the API server serves itself
        # (apiserver/metrics.py): folded into view, edit and admin by its labels, so
        # whoever may view pods may `kubectl top` them.
        _role(
            "system:aggregated-metrics-reader",
            [_rule(READ, [METRICS], ["pods", "nodes"])],
            {AGGREGATE_TO_VIEW: "true", AGGREGATE_TO_EDIT: "true", AGGREGATE_TO_ADMIN: "true",
             "k8s-app": "metrics-server"},
        ),
    ]


def _build_cluster_role_bindings() -> list[dict[str, Any]]:
    return [
        _binding("cluster-admin", _groups(SYSTEM_MASTERS)),
        _binding("system:basic-user", _groups(ALL_AUTHENTICATED)),
        _binding("system:discovery", _groups(ALL_AUTHENTICATED)),
        _binding("system:kube-controller-manager", _users(KUBE_CONTROLLER_MANAGER)),
        _binding(
            "system:kube-dns",
            [{"kind": "ServiceAccount", "name": "kube-dns", "namespace": "kube-system"}],
        ),
        _binding("system:kube-scheduler", _users(KUBE_SCHEDULER)),
        _binding("system:monitoring", _groups(MONITORING_GROUP)),
        # Kept with no subjects since the Node authorizer took over (Kubernetes 1.8).
        _binding("system:node", []),
        _binding("system:node-proxier", _users(KUBE_PROXY)),
        _binding("system:public-info-viewer", _groups(ALL_AUTHENTICATED, ALL_UNAUTHENTICATED)),
        _binding("system:service-account-issuer-discovery", _groups(SERVICE_ACCOUNTS_GROUP)),
        _binding("system:volume-scheduler", _users(KUBE_SCHEDULER), role="system:volume-scheduler"),
    ]


_CLUSTER_ROLES = _build_cluster_roles()
_CLUSTER_ROLE_BINDINGS = _build_cluster_role_bindings()


def cluster_roles(*, aggregated: bool = False) -> list[dict[str, Any]]:
    """Fresh copies of the bootstrap ClusterRoles.

    As kube-apiserver creates them, aggregated roles (admin, edit, view) have empty
    `rules`; `aggregated=True` fills them as the aggregation controller would.
    """
    roles = copy.deepcopy(_CLUSTER_ROLES)
    if aggregated:
        filled = aggregate(roles)
        for role in roles:
            if role["metadata"]["name"] in filled:
                role["rules"] = filled[role["metadata"]["name"]]
    return roles


def cluster_role_bindings() -> list[dict[str, Any]]:
    """Fresh copies of the bootstrap ClusterRoleBindings."""
    return copy.deepcopy(_CLUSTER_ROLE_BINDINGS)


def bootstrap_policy(*, aggregated: bool = True) -> list[dict[str, Any]]:
    """Every bootstrap object, ClusterRoles first, for the API server to create if missing.

    Aggregated roles come filled by default (what a cluster shows once its aggregation
    controller has run; the authorizer recomputes them anyway, so roles labelled later
    still count).
    """
    return cluster_roles(aggregated=aggregated) + cluster_role_bindings()
