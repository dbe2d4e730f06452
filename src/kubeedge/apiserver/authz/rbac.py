"""Kubernetes RBAC (rbac.authorization.k8s.io/v1) evaluated over plain dicts.

Owns: PolicyRule matching exactly as kube-apiserver's `rbac.RuleAllows` (verbs, apiGroups,
resources with `*`, `resource/subresource` and `*/subresource`, resourceNames,
nonResourceURLs with a trailing `*`); which subjects a binding applies to (User, Group,
ServiceAccount as `system:serviceaccount:<ns>:<name>`); following ClusterRoleBindings and
the RoleBindings of the request's namespace to their Role or ClusterRole; ClusterRole
aggregation (`aggregate`, the same computation the aggregation controller stores into
`rules`); and `rules_for`, the rule list behind SelfSubjectRulesReview.

Objects come from an `RBACSource` (the API server backs it with its watch cache; tests
and start-up use `StaticRBACSource`). Never does: storage, HTTP, defaults (see
`bootstrap`), or explicit denies: RBAC only allows, otherwise it has no opinion.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from kubeedge.apiserver.authz.types import (
    Decision,
    RequestAttributes,
    RulesReview,
    UserInfo,
    service_account_username,
)

RBAC_GROUP = "rbac.authorization.k8s.io"
ALL = "*"
Obj = Mapping[str, Any]
Rule = Mapping[str, Any]


# --------------------------------------------------------------------------- rule matching


def verb_matches(rule: Rule, verb: str) -> bool:
    verbs = rule.get("verbs") or ()
    return ALL in verbs or verb in verbs


def api_group_matches(rule: Rule, group: str) -> bool:
    groups = rule.get("apiGroups") or ()
    return ALL in groups or group in groups


def resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    """`*` matches everything, `pods/status` one subresource, `*/scale` a subresource of any
    resource; a rule for `pods` does not cover `pods/status`."""
    combined = f"{resource}/{subresource}" if subresource else resource
    for candidate in rule.get("resources") or ():
        if candidate in (ALL, combined):
            return True
        if (
            subresource
            and len(candidate) == len(subresource) + 2
            and candidate.startswith("*/")
            and candidate.endswith(subresource)
        ):
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    """An empty resourceNames allows any name; otherwise the request must name one of them
    (so such a rule never allows create, list or deletecollection without a name)."""
    names = rule.get("resourceNames") or ()
    return not names or name in names


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or ():
        if url in (ALL, path):
            return True
        if url.endswith("*") and path.startswith(url[:-1]):
            return True
    return False


def rule_allows(attrs: RequestAttributes, rule: Rule) -> bool:
    """One PolicyRule against one request, as `rbac.RuleAllows`."""
    if attrs.resource_request:
        return (
            verb_matches(rule, attrs.verb)
            and api_group_matches(rule, attrs.api_group)
            and resource_matches(rule, attrs.resource, attrs.subresource)
            and resource_name_matches(rule, attrs.name)
        )
    return verb_matches(rule, attrs.verb) and non_resource_url_matches(rule, attrs.path)


def rules_allow(attrs: RequestAttributes, rules: Iterable[Rule]) -> bool:
    return any(rule_allows(attrs, rule) for rule in rules)


# --------------------------------------------------------------------------- subjects


def applies_to(user: UserInfo, subject: Obj, binding_namespace: str) -> bool:
    """Whether a binding subject names this user (`rbac.appliesToUser`).

    A ServiceAccount subject without a namespace takes the RoleBinding's; in a
    ClusterRoleBinding it must carry one.
    """
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == service_account_username(namespace, name)
    return False


def describe_subject(subject: Obj, binding_namespace: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} "{name}/{subject.get("namespace") or binding_namespace}"'
    return f'{kind} "{name}"'


# --------------------------------------------------------------------------- label selectors


def selector_matches(selector: Obj | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics: None matches nothing, `{}` matches everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or ()
        if op == "In":
            if key not in labels or labels[key] not in values:
                return False
        elif op == "NotIn":
            if key in labels and labels[key] in values:
                return False
        elif op == "Exists":
            if key not in labels:
                return False
        elif op == "DoesNotExist":
            if key in labels:
                return False
        else:
            return False  # an invalid selector selects nothing
    return True


# --------------------------------------------------------------------------- aggregation


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _labels(obj: Obj) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _rule_key(rule: Rule) -> tuple[tuple[str, ...], ...]:
    return tuple(
        tuple(rule.get(k) or ())
        for k in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")
    )


class _Aggregator:
    """Aggregated rules of ClusterRoles, memoised over one set of roles.

    The controller (clusterroleaggregation) fills an aggregated role with the rules of the
    roles each selector matches, in name order, skipping itself and duplicates. It uses
    the matched roles' *stored* rules and converges because it re-syncs when they change;
    here a matched role that aggregates too contributes its own aggregated rules, which is
    that fixed point (admin ⊇ edit ⊇ view through their labels). Cycles stop at stored rules.
    """

    def __init__(self, roles: Mapping[str, Obj]) -> None:
        self.roles = roles
        self.memo: dict[str, list[dict[str, Any]]] = {}
        self.visiting: set[str] = set()

    def effective_rules(self, name: str) -> list[Rule]:
        role = self.roles[name]
        if role.get("aggregationRule") is None or name in self.visiting:
            return list(role.get("rules") or [])
        return list(self.aggregated(name))

    def aggregated(self, name: str) -> list[dict[str, Any]]:
        if name in self.memo:
            return self.memo[name]
        role = self.roles[name]
        self.visiting.add(name)
        try:
            out: list[dict[str, Any]] = []
            seen: set[tuple[tuple[str, ...], ...]] = set()
            selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or ()
            for selector in selectors:
                matched = sorted(
                    n for n, r in self.roles.items() if selector_matches(selector, _labels(r))
                )
                for other in matched:
                    if other == name:
                        continue
                    for rule in self.effective_rules(other):
                        key = _rule_key(rule)
                        if key not in seen:
                            seen.add(key)
                            out.append(dict(rule))
        finally:
            self.visiting.discard(name)
        self.memo[name] = out
        return out


def aggregate(cluster_roles: Iterable[Obj]) -> dict[str, list[dict[str, Any]]]:
    """For every ClusterRole with an `aggregationRule`, the `rules` it should hold.

    This is what the clusterrole-aggregation controller writes; the authorizer can also
    apply it at evaluation time (`RBACAuthorizer(aggregate_at_evaluation=True)`).
    """
    roles = {_name(r): r for r in cluster_roles}
    agg = _Aggregator(roles)
    return {name: agg.aggregated(name) for name, r in roles.items() if r.get("aggregationRule")}


# --------------------------------------------------------------------------- the source


@runtime_checkable
class RBACSource(Protocol):
    """Where RBAC objects come from: plain dicts as the API serves them."""

    def cluster_roles(self) -> Iterable[Obj]: ...

    def cluster_role_bindings(self) -> Iterable[Obj]: ...

    def roles(self, namespace: str) -> Iterable[Obj]: ...

    def role_bindings(self, namespace: str) -> Iterable[Obj]: ...


class StaticRBACSource:
    """An in-memory `RBACSource`, filled with objects of the four RBAC kinds."""

    KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")

    def __init__(self, objects: Iterable[Obj] = ()) -> None:
        self._objects: dict[tuple[str, str, str], Obj] = {}
        for obj in objects:
            self.put(obj)

    @staticmethod
    def _key(kind: str, name: str, namespace: str) -> tuple[str, str, str]:
        if kind not in StaticRBACSource.KINDS:
            raise ValueError(f"not an RBAC kind: {kind!r}")
        cluster = kind.startswith("Cluster")
        return (kind, "" if cluster else namespace, name)

    def put(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        key = self._key(obj.get("kind", ""), meta.get("name", ""), meta.get("namespace", ""))
        self._objects[key] = obj

    def remove(self, kind: str, name: str, namespace: str = "") -> None:
        self._objects.pop(self._key(kind, name, namespace), None)

    def _of(self, kind: str, namespace: str = "") -> list[Obj]:
        return [o for (k, ns, _), o in self._objects.items() if k == kind and ns == namespace]

    def cluster_roles(self) -> list[Obj]:
        return self._of("ClusterRole")

    def cluster_role_bindings(self) -> list[Obj]:
        return self._of("ClusterRoleBinding")

    def roles(self, namespace: str) -> list[Obj]:
        return self._of("Role", namespace)

    def role_bindings(self, namespace: str) -> list[Obj]:
        return self._of("RoleBinding", namespace)


# --------------------------------------------------------------------------- the authorizer


class _ClusterRoleIndex:
    """ClusterRoles by name with their aggregations, reused while the roles are the same
    objects (the caches replace an object on every change rather than mutate it)."""

    def __init__(self, roles: list[Obj]) -> None:
        self.roles = roles  # kept alive so the ids in `key` stay unique
        self.key = tuple(id(r) for r in roles)
        self.by_name = {_name(r): r for r in roles}
        self.aggregator = _Aggregator(self.by_name)


class _Snapshot:
    """Role lookups for one evaluation, each list read from the source at most once."""

    def __init__(self, authorizer: RBACAuthorizer) -> None:
        self.authorizer = authorizer
        self._cluster_roles: _ClusterRoleIndex | None = None
        self._roles: dict[str, dict[str, Obj]] = {}

    def cluster_role_rules(self, name: str) -> Sequence[Rule] | None:
        if self._cluster_roles is None:
            self._cluster_roles = self.authorizer._cluster_role_index()
        role = self._cluster_roles.by_name.get(name)
        if role is None:
            return None
        if self.authorizer.aggregate_at_evaluation and role.get("aggregationRule") is not None:
            return self._cluster_roles.aggregator.aggregated(name)
        return role.get("rules") or []

    def role_rules(self, namespace: str, name: str) -> Sequence[Rule] | None:
        if namespace not in self._roles:
            source = self.authorizer.source
            self._roles[namespace] = {_name(r): r for r in source.roles(namespace)}
        role = self._roles[namespace].get(name)
        return None if role is None else (role.get("rules") or [])


class RBACAuthorizer:
    """Allows a request when a rule of a role bound to the user matches it.

    ClusterRoleBindings are visited first, then the RoleBindings of the request's
    namespace (a RoleBinding to a ClusterRole grants that role in its namespace only).
    `aggregate_at_evaluation` (default) computes aggregated ClusterRoles' rules from the
    labelled roles (memoised while the source returns the same role objects, so a source
    must replace a changed object, never mutate it in place); turn it off once a
    controller stores them.
    """

    def __init__(self, source: RBACSource, *, aggregate_at_evaluation: bool = True) -> None:
        self.source = source
        self.aggregate_at_evaluation = aggregate_at_evaluation
        self._index: _ClusterRoleIndex | None = None

    def _cluster_role_index(self) -> _ClusterRoleIndex:
        roles = list(self.source.cluster_roles())
        index = self._index
        if index is None or index.key != tuple(id(r) for r in roles):
            index = self._index = _ClusterRoleIndex(roles)
        return index

    def _visit(
        self, user: UserInfo, namespace: str, errors: list[str]
    ) -> Iterator[tuple[str, Sequence[Rule]]]:
        """(description, rules) of every role bound to `user` that applies in `namespace`."""
        snap = _Snapshot(self)
        for binding in self.source.cluster_role_bindings():
            subject = _first_applying(user, binding, "")
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            kind, role_name = ref.get("kind", ""), ref.get("name", "")
            if kind != "ClusterRole":
                errors.append(f'unsupported role reference kind: "{kind}"')
                continue
            rules = snap.cluster_role_rules(role_name)
            if rules is None:
                errors.append(f'clusterrole.{RBAC_GROUP} "{role_name}" not found')
                continue
            yield (
                f'ClusterRoleBinding "{_name(binding)}" of ClusterRole "{role_name}" '
                f"to {describe_subject(subject, '')}",
                rules,
            )
        if not namespace:
            return
        for binding in self.source.role_bindings(namespace):
            subject = _first_applying(user, binding, namespace)
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            kind, role_name = ref.get("kind", ""), ref.get("name", "")
            if kind == "ClusterRole":
                rules = snap.cluster_role_rules(role_name)
                missing = f'clusterrole.{RBAC_GROUP} "{role_name}" not found'
            elif kind == "Role":
                rules = snap.role_rules(namespace, role_name)
                missing = f'role.{RBAC_GROUP} "{role_name}" not found'
            else:
                errors.append(f'unsupported role reference kind: "{kind}"')
                continue
            if rules is None:
                errors.append(missing)
                continue
            yield (
                f'RoleBinding "{_name(binding)}/{namespace}" of {kind} "{role_name}" '
                f"to {describe_subject(subject, namespace)}",
                rules,
            )

    def authorize(self, attrs: RequestAttributes) -> Decision:
        errors: list[str] = []
        for description, rules in self._visit(attrs.user, attrs.namespace, errors):
            if rules_allow(attrs, rules):
                return Decision.allow(f"RBAC: allowed by {description}")
        return Decision.no_opinion(f"RBAC: {', '.join(errors)}" if errors else "")

    def rules_for(self, user: UserInfo, namespace: str) -> RulesReview:
        """Every rule granted to `user` in `namespace` (cluster-wide ones included)."""
        errors: list[str] = []
        review = RulesReview()
        for _, rules in self._visit(user, namespace, errors):
            for rule in rules:
                if rule.get("resources"):
                    review.resource_rules.append(dict(rule))
                if rule.get("nonResourceURLs"):
                    review.non_resource_rules.append(dict(rule))
        if errors:
            review.incomplete = True
            review.evaluation_error = ", ".join(errors)
        return review


def _first_applying(user: UserInfo, binding: Obj, namespace: str) -> Obj | None:
    for subject in binding.get("subjects") or ():
        if applies_to(user, subject, namespace):
            return subject
    return None
