"""Authorization as pure logic: RBAC, the Node authorizer, the bootstrap policy, chaining.

`types` holds the shared vocabulary, `rbac` evaluates Kubernetes RBAC over plain dicts,
`node` narrows what node identities may touch, `bootstrap` is Kubernetes 1.32's default
policy, `chain` combines authorizers and maps HTTP to verbs (specs/k8s-api.md §7).
Nothing here does HTTP or storage; the API server supplies objects through the
`RBACSource` and `NodeGraph` protocols.
"""

from kubeedge.apiserver.authz.bootstrap import (
    bootstrap_policy,
    cluster_role_bindings,
    cluster_roles,
)
from kubeedge.apiserver.authz.chain import (
    AuthorizerChain,
    PrivilegedGroups,
    default_chain,
    forbidden_error,
    http_verb,
    name_from_field_selector,
)
from kubeedge.apiserver.authz.node import NodeAuthorizer, NodeGraph, pod_references
from kubeedge.apiserver.authz.rbac import (
    RBACAuthorizer,
    RBACSource,
    StaticRBACSource,
    aggregate,
    rule_allows,
)
from kubeedge.apiserver.authz.types import (
    Authorizer,
    Decision,
    RequestAttributes,
    RulesReview,
    UserInfo,
    Verdict,
)

__all__ = [
    "Authorizer",
    "AuthorizerChain",
    "Decision",
    "NodeAuthorizer",
    "NodeGraph",
    "PrivilegedGroups",
    "RBACAuthorizer",
    "RBACSource",
    "RequestAttributes",
    "RulesReview",
    "StaticRBACSource",
    "UserInfo",
    "Verdict",
    "aggregate",
    "bootstrap_policy",
    "cluster_role_bindings",
    "cluster_roles",
    "default_chain",
    "forbidden_error",
    "http_verb",
    "name_from_field_selector",
    "pod_references",
    "rule_allows",
]
