"""RBACAuthorizer: rule matching, subjects, bindings and aggregation as Kubernetes does."""

from __future__ import annotations

import pytest

from kubeedge.apiserver.authz import (
    RBACAuthorizer,
    StaticRBACSource,
    UserInfo,
    aggregate,
    bootstrap_policy,
    rule_allows,
)

from ._objects import (
    alice,
    binding,
    cluster_binding,
    cluster_role,
    group,
    req,
    role,
    rule,
    service_account,
    url,
    url_rule,
    user,
)


def authorizer(*objects: dict) -> RBACAuthorizer:
    return RBACAuthorizer(StaticRBACSource([*bootstrap_policy(aggregated=False), *objects]))


def allowed(authz: RBACAuthorizer, attrs) -> bool:
    return authz.authorize(attrs).allowed


# -- the default roles through real bindings


def test_cluster_admin_through_system_masters_can_do_anything() -> None:
    authz = authorizer()
    admin = UserInfo("kubernetes-admin", ("system:masters", "system:authenticated"))
    assert allowed(authz, req(admin, "delete", "secrets", "kube-system", "x"))
    assert allowed(authz, req(admin, "escalate", "clusterroles", group="rbac.authorization.k8s.io"))
    assert allowed(authz, req(admin, "create", "vcjobs", "ns", group="batch.volcano.sh"))
    assert allowed(authz, req(admin, "update", "pods", "ns", "p", subresource="status"))
    assert allowed(authz, url(admin, "/metrics", "post"))
    decision = authz.authorize(req(admin, "get", "pods", "default"))
    assert decision.reason == (
        'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" '
        'to Group "system:masters"'
    )


def test_view_reads_pods_but_not_secrets_and_writes_nothing() -> None:
    authz = authorizer(binding("team", "viewers", "view", [user("alice")]))
    assert allowed(authz, req(alice(), "get", "pods", "team", "web"))
    assert allowed(authz, req(alice(), "list", "deployments", "team", group="apps"))
    assert allowed(authz, req(alice(), "get", "pods", "team", "web", subresource="log"))
    assert not allowed(authz, req(alice(), "get", "secrets", "team", "token"))
    assert not allowed(authz, req(alice(), "list", "secrets", "team"))
    assert not allowed(authz, req(alice(), "create", "pods", "team"))
    assert not allowed(authz, req(alice(), "create", "pods", "team", "web", subresource="exec"))


def test_edit_creates_deployments_but_cannot_touch_roles_or_bindings() -> None:
    authz = authorizer(binding("team", "editors", "edit", [user("alice")]))
    assert allowed(authz, req(alice(), "create", "deployments", "team", group="apps"))
    assert allowed(authz, req(alice(), "get", "secrets", "team", "s"))
    assert allowed(authz, req(alice(), "patch", "deployments", "team", "d", "apps", "scale"))
    rbac = "rbac.authorization.k8s.io"
    assert not allowed(authz, req(alice(), "create", "roles", "team", group=rbac))
    assert not allowed(authz, req(alice(), "create", "rolebindings", "team", group=rbac))
    assert not allowed(authz, req(alice(), "update", "resourcequotas", "team", "q"))


def test_admin_adds_roles_and_bindings_to_edit() -> None:
    authz = authorizer(binding("team", "admins", "admin", [user("alice")]))
    rbac = "rbac.authorization.k8s.io"
    assert allowed(authz, req(alice(), "create", "rolebindings", "team", group=rbac))
    assert allowed(authz, req(alice(), "create", "deployments", "team", group="apps"))
    assert allowed(authz, req(alice(), "get", "pods", "team", "p"))


def test_rolebinding_to_clusterrole_grants_nothing_in_another_namespace() -> None:
    authz = authorizer(binding("a", "admins", "admin", [user("alice")]))
    assert allowed(authz, req(alice(), "delete", "pods", "a", "p"))
    assert not allowed(authz, req(alice(), "get", "pods", "b", "p"))
    assert not allowed(authz, req(alice(), "list", "pods"))  # nor cluster-wide
    assert not allowed(authz, req(alice(), "list", "nodes"))


def test_namespace_read_through_a_rolebinding_means_that_namespace() -> None:
    authz = authorizer(binding("a", "viewers", "view", [user("alice")]))
    assert allowed(authz, req(alice(), "get", "namespaces", "a", "a"))
    assert not allowed(authz, req(alice(), "get", "namespaces", "", "b"))


def test_everyone_authenticated_gets_discovery_and_self_reviews_only() -> None:
    authz = authorizer()
    bob = UserInfo("bob", ("system:authenticated",))
    assert allowed(authz, url(bob, "/apis/apps/v1"))
    assert allowed(authz, url(bob, "/version"))
    assert allowed(
        authz, req(bob, "create", "selfsubjectaccessreviews", group="authorization.k8s.io")
    )
    assert allowed(
        authz, req(bob, "create", "selfsubjectrulesreviews", group="authorization.k8s.io")
    )
    assert not allowed(authz, req(bob, "list", "pods", "default"))
    assert not allowed(authz, url(bob, "/metrics"))


def test_anonymous_sees_only_public_info() -> None:
    authz = authorizer()
    anon = UserInfo.anonymous()
    for path in ("/healthz", "/livez", "/readyz", "/version", "/version/"):
        assert allowed(authz, url(anon, path))
    assert not allowed(authz, url(anon, "/api"))
    assert not allowed(authz, url(anon, "/healthz", "post"))


def test_monitoring_group_reads_metrics() -> None:
    authz = authorizer()
    prometheus = UserInfo("prom", ("system:monitoring", "system:authenticated"))
    assert allowed(authz, url(prometheus, "/metrics"))
    assert allowed(authz, url(prometheus, "/readyz/etcd"))


# -- rule matching


@pytest.mark.parametrize(
    ("rule_resources", "resource", "subresource", "expected"),
    [
        (["pods"], "pods", "", True),
        (["pods"], "pods", "status", False),
        (["pods/status"], "pods", "status", True),
        (["pods/status"], "pods", "", False),
        (["*/scale"], "deployments", "scale", True),
        (["*/scale"], "deployments", "status", False),
        (["*/scale"], "deployments", "", False),
        (["*"], "pods", "exec", True),
    ],
)
def test_resource_forms(
    rule_resources: list[str], resource: str, subresource: str, expected: bool
) -> None:
    attrs = req(alice(), "get", resource, "ns", "x", subresource=subresource)
    assert rule_allows(attrs, rule(["get"], rule_resources)) is expected


def test_star_verbs_and_groups_match_anything() -> None:
    anything = rule(["*"], ["widgets"], ["*"])
    assert rule_allows(req(alice(), "frobnicate", "widgets", group="example.com"), anything)
    assert not rule_allows(req(alice(), "get", "gadgets", group="example.com"), anything)
    assert not rule_allows(req(alice(), "get", "pods", group="apps"), rule(["get"], ["pods"]))


def test_resource_names_restrict_to_named_objects() -> None:
    authz = authorizer(
        role("ns", "one-config", [rule(["get", "update", "list"], ["configmaps"], names=["app"])]),
        binding("ns", "b", "one-config", [user("alice")], kind="Role"),
    )
    assert allowed(authz, req(alice(), "get", "configmaps", "ns", "app"))
    assert allowed(authz, req(alice(), "update", "configmaps", "ns", "app"))
    assert not allowed(authz, req(alice(), "get", "configmaps", "ns", "other"))
    # Without a name (list, create) a resourceNames rule never matches.
    assert not allowed(authz, req(alice(), "list", "configmaps", "ns"))


def test_non_resource_urls_match_exactly_or_by_trailing_star() -> None:
    authz = authorizer(
        cluster_role("probe", [url_rule(["get"], ["/healthz", "/logs/*"])]),
        cluster_binding("probe", "probe", [user("alice")]),
    )
    assert allowed(authz, url(alice(), "/healthz"))
    assert not allowed(authz, url(alice(), "/healthz/etcd"))
    assert allowed(authz, url(alice(), "/logs/kube.log"))
    assert allowed(authz, url(alice(), "/logs/"))
    assert not allowed(authz, url(alice(), "/logs"))
    assert not allowed(authz, url(alice(), "/healthz", "post"))
    # A resource rule never matches a URL and a URL rule never matches a resource.
    assert not allowed(authz, req(alice(), "get", "healthz"))


# -- subjects


def test_service_account_subject_matches_its_username() -> None:
    robot = UserInfo.service_account("ci", "deployer")
    assert robot.name == "system:serviceaccount:ci:deployer"
    authz = authorizer(
        # In a RoleBinding the namespace defaults to the binding's.
        binding("ci", "deployers", "edit", [service_account("deployer")]),
        binding("prod", "deployers", "view", [service_account("deployer", "ci")]),
    )
    assert allowed(authz, req(robot, "create", "deployments", "ci", group="apps"))
    assert allowed(authz, req(robot, "get", "pods", "prod", "p"))
    assert not allowed(authz, req(robot, "create", "pods", "prod"))
    other = UserInfo.service_account("other", "deployer")
    assert not allowed(authz, req(other, "get", "pods", "ci", "p"))


def test_service_account_groups_bind_all_or_one_namespace() -> None:
    authz = authorizer(
        cluster_binding("all-sas", "view", [group("system:serviceaccounts")]),
        binding("ci", "ci-sas", "edit", [group("system:serviceaccounts:ci")]),
    )
    robot = UserInfo.service_account("ci", "builder")
    stranger = UserInfo.service_account("web", "builder")
    assert allowed(authz, req(stranger, "get", "pods", "anywhere", "p"))
    assert allowed(authz, req(robot, "create", "pods", "ci"))
    assert not allowed(authz, req(stranger, "create", "pods", "ci"))


def test_cluster_binding_service_account_needs_a_namespace() -> None:
    authz = authorizer(cluster_binding("b", "view", [service_account("deployer")]))
    robot = UserInfo.service_account("ci", "deployer")
    assert not allowed(authz, req(robot, "get", "pods", "ci", "p"))


def test_user_subject_does_not_match_a_group_of_the_same_name() -> None:
    authz = authorizer(cluster_binding("b", "view", [user("devs")]))
    assert not allowed(authz, req(alice("devs"), "get", "pods", "ns", "p"))


# -- missing roles and reasons


def test_binding_to_a_missing_role_allows_nothing_and_says_why() -> None:
    authz = authorizer(binding("ns", "b", "ghost", [user("alice")], kind="Role"))
    decision = authz.authorize(req(alice(), "get", "pods", "ns", "p"))
    assert not decision.allowed and not decision.denied
    assert decision.reason == 'RBAC: role.rbac.authorization.k8s.io "ghost" not found'


def test_rolebinding_reason_names_binding_namespace_and_subject() -> None:
    authz = authorizer(binding("ns", "robots", "view", [service_account("bot")]))
    decision = authz.authorize(req(UserInfo.service_account("ns", "bot"), "get", "pods", "ns"))
    assert decision.reason == (
        'RBAC: allowed by RoleBinding "robots/ns" of ClusterRole "view" to ServiceAccount "bot/ns"'
    )


# -- aggregation


def test_aggregation_picks_up_a_new_labelled_cluster_role() -> None:
    crd_viewer = cluster_role(
        "widgets-view",
        [rule(["get", "list", "watch"], ["widgets"], ["example.com"])],
        {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
    )
    source = StaticRBACSource([*bootstrap_policy(), binding("ns", "b", "admin", [user("alice")])])
    authz = RBACAuthorizer(source)
    widget = req(alice(), "list", "widgets", "ns", group="example.com")
    assert not allowed(authz, widget)

    source.put(crd_viewer)

    # view aggregates it; edit aggregates view; admin aggregates edit.
    assert allowed(authz, widget)


def test_aggregation_follows_a_replaced_labelled_role() -> None:
    labels = {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}
    source = StaticRBACSource(
        [
            *bootstrap_policy(),
            cluster_role("widgets-edit", [rule(["create"], ["widgets"], ["example.com"])], labels),
            binding("ns", "b", "edit", [user("alice")]),
        ]
    )
    authz = RBACAuthorizer(source)
    delete = req(alice(), "delete", "widgets", "ns", "w", "example.com")
    assert not allowed(authz, delete)

    source.put(
        cluster_role("widgets-edit", [rule(["delete"], ["widgets"], ["example.com"])], labels)
    )
    assert allowed(authz, delete)

    source.remove("ClusterRole", "widgets-edit")
    assert not allowed(authz, delete)


def test_aggregate_fills_admin_edit_view_as_the_controller_would() -> None:
    filled = aggregate(bootstrap_policy(aggregated=False))
    assert set(filled) == {"admin", "edit", "view"}

    def grants(rules, verb, resource, group=""):
        return any(rule_allows(req(alice(), verb, resource, "ns", "x", group), r) for r in rules)

    assert grants(filled["view"], "get", "pods")
    assert not grants(filled["view"], "get", "secrets")
    assert grants(filled["edit"], "get", "pods") and grants(filled["edit"], "get", "secrets")
    assert not grants(filled["edit"], "create", "roles", "rbac.authorization.k8s.io")
    assert grants(filled["admin"], "create", "roles", "rbac.authorization.k8s.io")
    assert len(filled["admin"]) == len({repr(r) for r in filled["admin"]})  # no duplicates


def test_aggregation_supports_match_expressions_and_survives_cycles() -> None:
    a = cluster_role("a", [rule(["get"], ["pods"])], {"team": "x"})
    b = {
        **cluster_role("b", [], {"team": "x"}),
        "aggregationRule": {
            "clusterRoleSelectors": [
                {"matchExpressions": [{"key": "team", "operator": "In", "values": ["x"]}]}
            ]
        },
    }
    filled = aggregate([a, b])
    assert filled["b"] == [rule(["get"], ["pods"])]  # b matches itself too: skipped


def test_stored_rules_are_used_when_evaluation_time_aggregation_is_off() -> None:
    source = StaticRBACSource(
        [*bootstrap_policy(aggregated=False), binding("ns", "b", "view", [user("alice")])]
    )
    lazy = RBACAuthorizer(source, aggregate_at_evaluation=False)
    assert not allowed(lazy, req(alice(), "get", "pods", "ns", "p"))  # rules not filled yet
    assert allowed(RBACAuthorizer(source), req(alice(), "get", "pods", "ns", "p"))


# -- rules_for


def test_rules_for_lists_cluster_and_namespace_rules() -> None:
    authz = authorizer(binding("team", "viewers", "view", [user("alice")]))
    in_team = authz.rules_for(alice(), "team")
    elsewhere = authz.rules_for(alice(), "other")
    assert not in_team.incomplete
    assert any("pods" in r["resources"] for r in in_team.resource_rules)
    assert not any("pods" in r["resources"] for r in elsewhere.resource_rules)
    # system:basic-user and system:discovery come from cluster bindings everywhere.
    assert any("selfsubjectrulesreviews" in r["resources"] for r in elsewhere.resource_rules)
    assert any("/api" in r["nonResourceURLs"] for r in elsewhere.non_resource_rules)
    status = in_team.to_status()
    assert status["incomplete"] is False
    assert all("nonResourceURLs" not in r for r in status["resourceRules"])


def test_rules_for_reports_missing_roles_as_incomplete() -> None:
    authz = authorizer(binding("ns", "b", "ghost", [user("alice")]))
    review = authz.rules_for(alice(), "ns")
    assert review.incomplete
    assert review.to_status()["evaluationError"] == (
        'clusterrole.rbac.authorization.k8s.io "ghost" not found'
    )
