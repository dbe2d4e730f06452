"""Small builders for RBAC objects and requests used by the authz tests."""

from __future__ import annotations

from typing import Any

from kubeedge.apiserver.authz import RequestAttributes, UserInfo

RBAC = "rbac.authorization.k8s.io"


def rule(
    verbs: list[str],
    resources: list[str],
    groups: list[str] | None = None,
    names: list[str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": verbs, "apiGroups": groups or [""], "resources": resources}
    if names:
        out["resourceNames"] = names
    return out


def url_rule(verbs: list[str], urls: list[str]) -> dict[str, Any]:
    return {"verbs": verbs, "nonResourceURLs": urls}


def cluster_role(
    name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels or {}},
        "rules": rules,
    }


def role(namespace: str, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": rules,
    }


def user(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": "User", "name": name}


def group(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": "Group", "name": name}


def service_account(name: str, namespace: str = "") -> dict[str, str]:
    out = {"kind": "ServiceAccount", "name": name}
    if namespace:
        out["namespace"] = namespace
    return out


def cluster_binding(name: str, role_name: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name},
        "subjects": subjects,
    }


def binding(
    namespace: str,
    name: str,
    role_name: str,
    subjects: list[dict[str, str]],
    kind: str = "ClusterRole",
) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role_name},
        "subjects": subjects,
    }


def alice(*groups: str) -> UserInfo:
    return UserInfo("alice", (*groups, "system:authenticated"))


def req(
    who: UserInfo,
    verb: str,
    resource: str,
    namespace: str = "",
    name: str = "",
    group: str = "",
    subresource: str = "",
) -> RequestAttributes:
    return RequestAttributes(
        user=who,
        verb=verb,
        api_group=group,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def url(who: UserInfo, path: str, verb: str = "get") -> RequestAttributes:
    return RequestAttributes(user=who, verb=verb, resource_request=False, path=path)
