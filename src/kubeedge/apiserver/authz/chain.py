"""Putting authorizers together, and the small translations around them.

Owns: `AuthorizerChain`, kube-apiserver's union authorizer (the first allow or explicit
deny wins; otherwise no opinion with every reason, which the server answers with 403);
`PrivilegedGroups`, the short-circuit kube-apiserver puts first so `system:masters` keeps
working even if the cluster-admin binding is deleted; `default_chain`; `http_verb`, an
HTTP request's Kubernetes verb; `name_from_field_selector`, the name a list or watch pins
(which the Node authorizer needs); and `forbidden_error`, the 403 Status kube-apiserver
writes (specs/k8s-api.md §7).

Never does: parse paths (apiserver/request.py), authenticate, or touch HTTP objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from kubeedge.api.errors import StatusError, forbidden
from kubeedge.apiserver.authz.node import NodeAuthorizer, NodeGraph, PVCLookup
from kubeedge.apiserver.authz.rbac import RBACAuthorizer, RBACSource
from kubeedge.apiserver.authz.types import (
    SYSTEM_MASTERS,
    Authorizer,
    Decision,
    RequestAttributes,
    RuleResolver,
    RulesReview,
    UserInfo,
)


class AuthorizerChain:
    """Asks each authorizer in turn: the first allow or explicit deny decides.

    With no decision the answer is no opinion (so not allowed) carrying every reason
    given, joined by newlines as kube-apiserver's union authorizer does.
    """

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = list(authorizers)

    def authorize(self, attrs: RequestAttributes) -> Decision:
        reasons: list[str] = []
        for authorizer in self.authorizers:
            decision = authorizer.authorize(attrs)
            if decision.allowed or decision.denied:
                return decision
            if decision.reason:
                reasons.append(decision.reason)
        return Decision.no_opinion("\n".join(reasons))

    def rules_for(self, user: UserInfo, namespace: str) -> RulesReview:
        """The union of what every authorizer that can enumerate rules grants."""
        review = RulesReview()
        for authorizer in self.authorizers:
            if isinstance(authorizer, RuleResolver):
                review = review.merge(authorizer.rules_for(user, namespace))
        return review


class PrivilegedGroups:
    """Allows everything to members of the given groups (default `system:masters`)."""

    def __init__(self, groups: Iterable[str] = (SYSTEM_MASTERS,)) -> None:
        self.groups = frozenset(groups)

    def authorize(self, attrs: RequestAttributes) -> Decision:
        if self.groups.intersection(attrs.user.groups):
            return Decision.allow()
        return Decision.no_opinion()

    def rules_for(self, user: UserInfo, namespace: str) -> RulesReview:
        if self.groups.intersection(user.groups):
            return RulesReview(
                [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            )
        return RulesReview()


def default_chain(
    rbac_source: RBACSource,
    node_graph: NodeGraph,
    *,
    pvc_lookup: PVCLookup | None = None,
) -> AuthorizerChain:
    """kube-apiserver's `--authorization-mode=Node,RBAC` with the system:masters bypass."""
    return AuthorizerChain(
        [
            PrivilegedGroups(),
            NodeAuthorizer(node_graph, pvc_lookup=pvc_lookup),
            RBACAuthorizer(rbac_source),
        ]
    )


# --------------------------------------------------------------------------- translations

_TRUE = frozenset({"1", "t", "true"})  # Go's strconv.ParseBool, case-insensitively


def _is_true(value: bool | str | None) -> bool:
    if isinstance(value, bool):
        return value
    return value is not None and value.strip().lower() in _TRUE


def http_verb(method: str, has_name: bool, watch: bool | str | None = None) -> str:
    """The Kubernetes verb of a resource request (kube-apiserver's RequestInfoFactory).

    GET/HEAD with a name is `get`; without one `list`, or `watch` when the `watch`
    parameter is true (`true`, `True`, `1`: the Python client sends `True`). A name in
    the path keeps `get` even with `watch=true`, as upstream: watching one object is a
    list-watch with `fieldSelector=metadata.name=<name>`. POST `create`, PUT `update`,
    PATCH `patch`, DELETE `delete` with a name and `deletecollection` without. Other
    methods come back lower-cased (the verb of non-resource requests).
    """
    method = method.upper()
    if method in ("GET", "HEAD"):
        if has_name:
            return "get"
        return "watch" if _is_true(watch) else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return method.lower()


def name_from_field_selector(selector: str | None) -> str:
    """The name a field selector requires exactly (`metadata.name=x` or `==x`), else "".

    kube-apiserver puts it into the attributes of list and watch, so an authorizer can
    allow watching one object (a kubelet watching the secrets its pods mount).
    """
    name = ""
    for term in (selector or "").split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            key = term.split("!=", 1)[0]
            if key.strip() == "metadata.name":
                return ""  # not an exact match
            continue
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if sep and key.strip() == "metadata.name":
            value = value.strip()
            if name and value != name:
                return ""  # contradictory terms pin nothing
            name = value
    return name


def forbidden_error(attrs: RequestAttributes, reason: str = "") -> StatusError:
    """The 403 kube-apiserver answers a request no authorizer allowed.

    `pods "web" is forbidden: User "bob" cannot update resource "pods/status" in API
    group "" in the namespace "default"`, then `: <reason>` when there is one; for
    non-resource URLs `forbidden: User "bob" cannot get path "/metrics"`.
    """
    user = attrs.user.name
    suffix = f": {reason}" if reason else ""
    if not attrs.resource_request:
        return StatusError(
            403,
            "Forbidden",
            f'forbidden: User "{user}" cannot {attrs.verb} path "{attrs.path}"' + suffix,
        )
    base = forbidden(user, attrs.verb, attrs.resource, attrs.api_group, attrs.name, attrs.namespace)
    if not attrs.subresource and not suffix:
        return base
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    what = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    if attrs.name:
        what = f'{what} "{attrs.name}"'
    where = f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    message = (
        f'{what} is forbidden: User "{user}" cannot {attrs.verb} resource "{resource}" '
        f'in API group "{attrs.api_group}"{where}{suffix}'
    )
    return dataclasses.replace(base, message=message)
