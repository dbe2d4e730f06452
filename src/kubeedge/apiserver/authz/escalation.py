"""RBAC escalation prevention (kube's rbac/validation ConfirmNoEscalation and the
`escalate` and `bind` verbs): nobody can grant, through a Role, ClusterRole or binding,
a permission they do not hold themselves.

- Writing a Role or ClusterRole: every permission its rules grant must already be
  allowed to the writer (checked through the authorizer, so `*` in a rule is covered
  only by `*` the writer holds), unless the writer may `escalate` that role.
- Writing a RoleBinding or ClusterRoleBinding: the writer must hold every permission of
  the role it names, unless the writer may `bind` that role.

Never does: I/O. The roles a binding names come from the `RBACSource`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kubeedge.apiserver.authz.rbac import RBAC_GROUP, RBACSource
from kubeedge.apiserver.authz.types import Authorizer, RequestAttributes, UserInfo

Obj = Mapping[str, Any]
RBAC_RESOURCES = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")


def check_no_escalation(authorizer: Authorizer, source: RBACSource, user: UserInfo,
                        resource: str, namespace: str, obj: Obj) -> str:
    """Empty when `user` may write `obj` (a `resource` of the RBAC group in `namespace`),
    else kube's reason naming what would be granted without being held."""
    md = obj.get("metadata") or {}
    name = str(md.get("name") or "")
    if resource in ("roles", "clusterroles"):
        if _allowed(authorizer, user, "escalate", RBAC_GROUP, resource, "", namespace, name):
            return ""
        rules = [r for r in obj.get("rules") or [] if isinstance(r, Mapping)]
        scope = namespace if resource == "roles" else ""
    else:
        ref = obj.get("roleRef") or {}
        role_kind = str(ref.get("kind") or "")
        role_name = str(ref.get("name") or "")
        role_resource = "roles" if role_kind == "Role" else "clusterroles"
        # kube asks about `bind` in the binding's namespace, whatever the role's kind.
        if _allowed(authorizer, user, "bind", RBAC_GROUP, role_resource, "", namespace,
                    role_name):
            return ""
        rules = _role_rules(source, role_kind, role_name, namespace)
        if rules is None:
            return (f'user "{user.name}" (groups={list(user.groups)}) is attempting to '
                    f'bind to {role_kind} "{role_name}", which does not exist')
        scope = namespace if resource == "rolebindings" else ""
    missing = [rule for rule in rules if not _rule_held(authorizer, user, rule, scope)]
    if not missing:
        return ""
    return (f'user "{user.name}" (groups={list(user.groups)}) is attempting to grant RBAC '
            "permissions not currently held:\n" + "\n".join(_describe(r) for r in missing))


def _role_rules(source: RBACSource, kind: str, name: str, namespace: str
                ) -> list[Obj] | None:
    roles = source.roles(namespace) if kind == "Role" else source.cluster_roles()
    for role in roles:
        if (role.get("metadata") or {}).get("name") == name:
            return [r for r in role.get("rules") or [] if isinstance(r, Mapping)]
    return None


def _rule_held(authorizer: Authorizer, user: UserInfo, rule: Obj, namespace: str) -> bool:
    return all(authorizer.authorize(attrs).allowed
               for attrs in _requests(user, rule, namespace))


def _requests(user: UserInfo, rule: Obj, namespace: str) -> Iterator[RequestAttributes]:
    """Every request a rule allows, as attributes: one per verb, group, resource (and
    resource name); a `*` stays a `*`, which only a `*` held covers."""
    verbs = [str(v) for v in rule.get("verbs") or []]
    urls = [str(u) for u in rule.get("nonResourceURLs") or []]
    for url in urls:
        for verb in verbs:
            yield RequestAttributes(user=user, verb=verb, resource_request=False, path=url)
    if urls and not rule.get("resources"):
        return
    names = [str(n) for n in rule.get("resourceNames") or []] or [""]
    for verb in verbs:
        for group in [str(g) for g in rule.get("apiGroups") or []]:
            for combined in [str(r) for r in rule.get("resources") or []]:
                resource, _, subresource = combined.partition("/")
                for name in names:
                    yield RequestAttributes(user=user, verb=verb, api_group=group,
                                            resource=resource, subresource=subresource,
                                            namespace=namespace, name=name)


def _allowed(authorizer: Authorizer, user: UserInfo, verb: str, group: str, resource: str,
             subresource: str, namespace: str, name: str) -> bool:
    return authorizer.authorize(RequestAttributes(
        user=user, verb=verb, api_group=group, resource=resource, subresource=subresource,
        namespace=namespace, name=name)).allowed


def _describe(rule: Obj) -> str:
    """kube's PolicyRule rendering in the escalation message."""
    parts = []
    for field, label in (("apiGroups", "APIGroups"), ("resources", "Resources"),
                         ("resourceNames", "ResourceNames"),
                         ("nonResourceURLs", "NonResourceURLs"), ("verbs", "Verbs")):
        values = rule.get(field) or []
        if values:
            parts.append(f"{label}:[" + " ".join(f'"{v}"' for v in values) + "]")
    return "{" + ", ".join(parts) + "}"
