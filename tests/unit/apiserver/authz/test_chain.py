"""AuthorizerChain and the translations around it: verbs, field selectors, 403s."""

from __future__ import annotations

import pytest

from kubeedge.apiserver.authz import (
    AuthorizerChain,
    Decision,
    NodeAuthorizer,
    RBACAuthorizer,
    StaticRBACSource,
    UserInfo,
    bootstrap_policy,
    default_chain,
    forbidden_error,
    http_verb,
    name_from_field_selector,
)

from ._objects import alice, binding, req, url, user


class Fixed:
    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.calls = 0

    def authorize(self, attrs) -> Decision:
        self.calls += 1
        return self.decision


class NoPods:
    def pods_on_node(self, node_name: str) -> list:
        return []


def test_first_allow_wins_and_later_authorizers_are_not_asked() -> None:
    later = Fixed(Decision.deny("never"))
    chain = AuthorizerChain([Fixed(Decision.no_opinion("a")), Fixed(Decision.allow("ok")), later])
    assert chain.authorize(req(alice(), "get", "pods")) == Decision.allow("ok")
    assert later.calls == 0


def test_explicit_deny_stops_the_chain() -> None:
    rbac = Fixed(Decision.allow())
    chain = AuthorizerChain([Fixed(Decision.deny("no")), rbac])
    decision = chain.authorize(req(alice(), "get", "pods"))
    assert decision.denied and not decision.allowed and rbac.calls == 0


def test_no_opinion_everywhere_is_not_allowed_and_keeps_every_reason() -> None:
    chain = AuthorizerChain(
        [
            Fixed(Decision.no_opinion("one")),
            Fixed(Decision.no_opinion("")),
            Fixed(Decision.no_opinion("two")),
        ]
    )
    decision = chain.authorize(req(alice(), "get", "pods"))
    assert not decision.allowed and not decision.denied
    assert decision.reason == "one\ntwo"


def test_node_then_rbac_chain_serves_nodes_and_people() -> None:
    source = StaticRBACSource([*bootstrap_policy(), binding("ns", "v", "view", [user("alice")])])
    chain = AuthorizerChain([NodeAuthorizer(NoPods()), RBACAuthorizer(source)])
    node = UserInfo.node("edge-1")
    assert chain.authorize(req(node, "update", "nodes", "", "edge-1")).allowed
    assert chain.authorize(req(node, "update", "nodes", "", "edge-2")).denied
    # The system:node binding has no subjects, so RBAC adds nothing for nodes.
    assert not chain.authorize(req(node, "get", "secrets", "ns", "s")).allowed
    assert chain.authorize(req(alice(), "get", "pods", "ns", "p")).allowed
    # Nodes are authenticated users too: discovery comes from RBAC.
    assert chain.authorize(url(node, "/apis")).allowed


def test_system_masters_bypass_survives_a_deleted_cluster_admin_binding() -> None:
    source = StaticRBACSource(bootstrap_policy())
    source.remove("ClusterRoleBinding", "cluster-admin")
    chain = default_chain(source, NoPods())
    admin = UserInfo("admin", ("system:masters", "system:authenticated"))
    assert chain.authorize(req(admin, "delete", "nodes", "", "x")).allowed
    review = chain.rules_for(admin, "default")
    assert {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]} in review.resource_rules


def test_chain_rules_for_merges_and_marks_nodes_incomplete() -> None:
    chain = default_chain(StaticRBACSource(bootstrap_policy()), NoPods())
    review = chain.rules_for(UserInfo.node("edge-1"), "default")
    assert review.incomplete
    assert "node authorizer does not support" in review.evaluation_error
    assert review.resource_rules  # basic-user and discovery still listed


@pytest.mark.parametrize(
    ("method", "has_name", "watch", "verb"),
    [
        ("GET", False, None, "list"),
        ("GET", False, "true", "watch"),
        ("GET", False, "True", "watch"),  # the Python client
        ("GET", False, "1", "watch"),
        ("GET", False, "false", "list"),
        ("GET", True, None, "get"),
        ("GET", True, "true", "get"),  # a named GET is never a watch upstream
        ("HEAD", True, None, "get"),
        ("POST", False, None, "create"),
        ("PUT", True, None, "update"),
        ("PATCH", True, None, "patch"),
        ("DELETE", True, None, "delete"),
        ("DELETE", False, None, "deletecollection"),
        ("OPTIONS", False, None, "options"),
    ],
)
def test_http_verb(method: str, has_name: bool, watch: str | None, verb: str) -> None:
    assert http_verb(method, has_name, watch) == verb


@pytest.mark.parametrize(
    ("selector", "name"),
    [
        ("metadata.name=web", "web"),
        ("metadata.name==web", "web"),
        ("spec.nodeName=edge-1,metadata.name=web", "web"),
        ("metadata.name!=web", ""),
        ("spec.nodeName=edge-1", ""),
        ("metadata.name=a,metadata.name=b", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_name_from_field_selector(selector: str | None, name: str) -> None:
    assert name_from_field_selector(selector) == name


def test_forbidden_error_reads_like_kube_apiserver() -> None:
    bob = UserInfo("bob")
    plain = forbidden_error(req(bob, "list", "pods", "default"))
    assert plain.code == 403 and plain.reason == "Forbidden"
    assert plain.message == (
        'pods is forbidden: User "bob" cannot list resource "pods" in API group "" '
        'in the namespace "default"'
    )
    status = forbidden_error(
        req(bob, "update", "deployments", "ns", "web", "apps", "scale"), "RBAC: nope"
    )
    assert status.message == (
        'deployments.apps "web" is forbidden: User "bob" cannot update resource '
        '"deployments/scale" in API group "apps" in the namespace "ns": RBAC: nope'
    )
    assert status.details == {"name": "web", "kind": "deployments", "group": "apps"}
    cluster = forbidden_error(req(bob, "get", "nodes", "", "n1"))
    assert cluster.message.endswith('in API group "" at the cluster scope')
    path = forbidden_error(url(bob, "/metrics"))
    assert path.message == 'forbidden: User "bob" cannot get path "/metrics"'
    assert path.to_status()["code"] == 403
