"""Nobody grants through RBAC what they do not hold (kube's escalation prevention)."""

from __future__ import annotations

from typing import Any

from kubeedge.apiserver.authz.escalation import check_no_escalation
from kubeedge.apiserver.authz.rbac import RBACAuthorizer, StaticRBACSource
from kubeedge.apiserver.authz.types import UserInfo

DEV = UserInfo("dev", ("system:authenticated",))
RBAC = "rbac.authorization.k8s.io/v1"


def _role(kind: str, name: str, rules: list[dict[str, Any]], ns: str = "") -> dict[str, Any]:
    md = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": RBAC, "kind": kind, "metadata": md, "rules": rules}


def _binding(kind: str, name: str, role_kind: str, role: str, ns: str = "") -> dict[str, Any]:
    md = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": RBAC, "kind": kind, "metadata": md,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                        "name": role},
            "subjects": [{"kind": "User", "name": "dev"}]}


POWERS = _role("Role", "powers", [
    {"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
     "verbs": ["create", "update"]},
], "team")
SOURCE_OBJECTS = [
    POWERS, _binding("RoleBinding", "dev-powers", "Role", "powers", "team"),
    _role("ClusterRole", "admin-ish", [{"apiGroups": ["*"], "resources": ["*"],
                                        "verbs": ["*"]}]),
    _role("ClusterRole", "pod-reader", [{"apiGroups": [""], "resources": ["pods"],
                                         "verbs": ["get"]}]),
]
SOURCE = StaticRBACSource(SOURCE_OBJECTS)
AUTHZ = RBACAuthorizer(SOURCE)


def _check(resource: str, obj: dict[str, Any], ns: str = "team") -> str:
    return check_no_escalation(AUTHZ, SOURCE, DEV, resource, ns, obj)


def test_a_role_may_grant_only_what_its_writer_holds() -> None:
    held = _role("Role", "r", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
                 "team")
    assert _check("roles", held) == ""
    more = _role("Role", "r", [{"apiGroups": [""], "resources": ["pods/exec"],
                                "verbs": ["create"]}], "team")
    reason = _check("roles", more)
    assert "attempting to grant RBAC permissions not currently held" in reason
    assert '{APIGroups:[""], Resources:["pods/exec"], Verbs:["create"]}' in reason
    # A wildcard is covered only by a wildcard held.
    wild = _role("Role", "r", [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}],
                 "team")
    assert _check("roles", wild)
    # Held in "team" is not held in another namespace.
    assert _check("roles", held, ns="other")


def test_a_binding_may_name_only_a_role_whose_permissions_are_held() -> None:
    assert _check("rolebindings", _binding("RoleBinding", "b", "ClusterRole",
                                           "pod-reader", "team")) == ""
    reason = _check("rolebindings", _binding("RoleBinding", "b", "ClusterRole",
                                             "admin-ish", "team"))
    assert "not currently held" in reason
    missing = _check("rolebindings", _binding("RoleBinding", "b", "ClusterRole", "nope",
                                              "team"))
    assert "does not exist" in missing


def test_escalate_and_bind_verbs_lift_the_check() -> None:
    source = StaticRBACSource([
        *SOURCE_OBJECTS,
        _role("Role", "escalator", [{"apiGroups": ["rbac.authorization.k8s.io"],
                                     "resources": ["roles", "clusterroles"],
                                     "verbs": ["escalate", "bind"]}], "team"),
        _binding("RoleBinding", "dev-escalator", "Role", "escalator", "team"),
    ])
    authz = RBACAuthorizer(source)
    big = _role("Role", "r", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
                "team")
    assert check_no_escalation(authz, source, DEV, "roles", "team", big) == ""
    assert check_no_escalation(authz, source, DEV, "rolebindings", "team", _binding(
        "RoleBinding", "b", "ClusterRole", "admin-ish", "team")) == ""
