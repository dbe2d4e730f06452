"""The vocabulary every authorizer shares: who asks, what they ask, and the answer.

Owns `UserInfo`, `RequestAttributes`, `Decision`, `RulesReview`, the `Authorizer`
protocol and Kubernetes' well-known user and group names. Mirrors k8s.io/apiserver's
`user.Info`, `authorizer.Attributes` and `authorizer.Decision` (specs/k8s-api.md §7).

Never does: HTTP, path parsing (apiserver/request.py does that), or any decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

# Well-known names (k8s.io/apiserver/pkg/authentication/user and serviceaccount).
SYSTEM_MASTERS = "system:masters"
ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
MONITORING_GROUP = "system:monitoring"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:"
KUBE_SCHEDULER = "system:kube-scheduler"
KUBE_CONTROLLER_MANAGER = "system:kube-controller-manager"
KUBE_PROXY = "system:kube-proxy"

# Kubernetes' authorization verbs (resource requests); non-resource requests use the
# lower-cased HTTP method ("get", "post", ...).
VERBS = (
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "impersonate",
    "escalate",
    "bind",
    "use",
    "approve",
    "sign",
    "proxy",
)


def service_account_username(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}")


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) user: name, groups, uid and extra attributes."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __hash__(self) -> int:  # `extra` is a dict; the identity is enough to hash
        return hash((self.name, self.groups, self.uid))

    @classmethod
    def service_account(cls, namespace: str, name: str, uid: str = "") -> UserInfo:
        """The user a service account token authenticates as, with its implied groups."""
        return cls(
            service_account_username(namespace, name),
            (*service_account_groups(namespace), ALL_AUTHENTICATED),
            uid,
        )

    @classmethod
    def node(cls, node_name: str) -> UserInfo:
        """The user a kubelet's (or edgecore's) client certificate authenticates as."""
        return cls(f"{NODE_USER_PREFIX}{node_name}", (NODES_GROUP, ALL_AUTHENTICATED))

    @classmethod
    def anonymous(cls) -> UserInfo:
        return cls(ANONYMOUS, (ALL_UNAUTHENTICATED,))


@dataclass(frozen=True)
class RequestAttributes:
    """What a request wants to do, as the authorizers see it (authorizer.Attributes).

    Resource requests carry verb, api_group, resource, subresource, namespace and name;
    a request for a namespace object itself (`/api/v1/namespaces/foo`) carries
    namespace == name == "foo", as kube-apiserver's RequestInfo does, so a RoleBinding in
    "foo" can grant reading "foo". List and watch carry the name when the field selector
    pins `metadata.name` (see `chain.name_from_field_selector`). Non-resource requests set
    `resource_request=False`, `path`, and the lower-cased HTTP method as verb.
    """

    user: UserInfo
    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    resource_request: bool = True
    path: str = ""
    api_version: str = ""


class Verdict(Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


@dataclass(frozen=True)
class Decision:
    """An authorizer's answer. `allowed` is what the API server acts on; `denied` marks an
    explicit deny that stops a chain; neither means no opinion (the chain goes on)."""

    allowed: bool
    reason: str = ""
    denied: bool = False

    @classmethod
    def allow(cls, reason: str = "") -> Decision:
        return cls(True, reason)

    @classmethod
    def deny(cls, reason: str = "") -> Decision:
        return cls(False, reason, denied=True)

    @classmethod
    def no_opinion(cls, reason: str = "") -> Decision:
        return cls(False, reason)

    @property
    def verdict(self) -> Verdict:
        if self.allowed:
            return Verdict.ALLOW
        return Verdict.DENY if self.denied else Verdict.NO_OPINION


@dataclass
class RulesReview:
    """What a user may do in a namespace: the body of a SelfSubjectRulesReview's status.

    `resource_rules` and `non_resource_rules` are PolicyRule-shaped dicts. `incomplete`
    says some rules could not be resolved (a missing role, an authorizer that cannot
    enumerate), with the reasons in `evaluation_error`.
    """

    resource_rules: list[dict[str, Any]] = field(default_factory=list)
    non_resource_rules: list[dict[str, Any]] = field(default_factory=list)
    incomplete: bool = False
    evaluation_error: str = ""

    def merge(self, other: RulesReview) -> RulesReview:
        errors = [e for e in (self.evaluation_error, other.evaluation_error) if e]
        return RulesReview(
            self.resource_rules + other.resource_rules,
            self.non_resource_rules + other.non_resource_rules,
            self.incomplete or other.incomplete,
            ", ".join(errors),
        )

    def to_status(self) -> dict[str, Any]:
        """`SubjectRulesReviewStatus` JSON (authorization.k8s.io/v1), omitempty as in Go."""
        resource_rules = []
        for rule in self.resource_rules:
            out: dict[str, Any] = {"verbs": list(rule.get("verbs") or [])}
            for key in ("apiGroups", "resources", "resourceNames"):
                if rule.get(key):
                    out[key] = list(rule[key])
            resource_rules.append(out)
        non_resource_rules = [
            {"verbs": list(r.get("verbs") or []), "nonResourceURLs": list(r["nonResourceURLs"])}
            if r.get("nonResourceURLs")
            else {"verbs": list(r.get("verbs") or [])}
            for r in self.non_resource_rules
        ]
        status: dict[str, Any] = {
            "resourceRules": resource_rules,
            "nonResourceRules": non_resource_rules,
            "incomplete": self.incomplete,
        }
        if self.evaluation_error:
            status["evaluationError"] = self.evaluation_error
        return status


@runtime_checkable
class Authorizer(Protocol):
    def authorize(self, attrs: RequestAttributes) -> Decision: ...


@runtime_checkable
class RuleResolver(Protocol):
    def rules_for(self, user: UserInfo, namespace: str) -> RulesReview: ...
