"""The bootstrap policy: the objects Kubernetes 1.32 creates, shaped as it creates them."""

from __future__ import annotations

from kubeedge.apiserver.authz import (
    RBACAuthorizer,
    StaticRBACSource,
    UserInfo,
    bootstrap_policy,
    cluster_role_bindings,
    cluster_roles,
)

from ._objects import req, url

REQUIRED_ROLES = {
    "cluster-admin",
    "admin",
    "edit",
    "view",
    "system:aggregate-to-admin",
    "system:aggregate-to-edit",
    "system:aggregate-to-view",
    "system:discovery",
    "system:basic-user",
    "system:public-info-viewer",
    "system:node",
    "system:kube-scheduler",
    "system:kube-controller-manager",
    "system:monitoring",
}


def _by_name(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects}


def test_every_required_cluster_role_is_there_labelled_and_annotated() -> None:
    roles = _by_name(cluster_roles())
    assert set(roles) >= REQUIRED_ROLES
    for obj in [*roles.values(), *cluster_role_bindings()]:
        meta = obj["metadata"]
        assert meta["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        assert meta["annotations"] == {"rbac.authorization.kubernetes.io/autoupdate": "true"}
        assert obj["apiVersion"] == "rbac.authorization.k8s.io/v1"


def test_admin_edit_view_aggregate_by_label_and_nest() -> None:
    roles = _by_name(cluster_roles())
    for name in ("admin", "edit", "view"):
        selectors = roles[name]["aggregationRule"]["clusterRoleSelectors"]
        assert selectors == [
            {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{name}": "true"}}
        ]
        assert roles[name]["rules"] == []  # as created; the controller fills them
    assert roles["edit"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"]
    assert roles["view"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"]
    filled = _by_name(cluster_roles(aggregated=True))
    assert filled["view"]["rules"] and filled["admin"]["rules"]


def test_view_never_mentions_secrets() -> None:
    view = _by_name(cluster_roles(aggregated=True))["view"]
    for rule in view["rules"]:
        assert "secrets" not in rule.get("resources", [])
        assert "*" not in rule.get("resources", [])


def test_bindings_are_the_upstream_defaults() -> None:
    bindings = _by_name(cluster_role_bindings())
    subjects = {
        name: sorted((s["kind"], s["name"]) for s in b["subjects"]) for name, b in bindings.items()
    }
    assert subjects["cluster-admin"] == [("Group", "system:masters")]
    assert subjects["system:discovery"] == [("Group", "system:authenticated")]
    assert subjects["system:basic-user"] == [("Group", "system:authenticated")]
    assert subjects["system:public-info-viewer"] == [
        ("Group", "system:authenticated"),
        ("Group", "system:unauthenticated"),
    ]
    assert subjects["system:node"] == []  # the Node authorizer took over
    assert subjects["system:kube-scheduler"] == [("User", "system:kube-scheduler")]
    assert subjects["system:monitoring"] == [("Group", "system:monitoring")]
    for b in bindings.values():
        assert b["roleRef"]["kind"] == "ClusterRole"


def test_copies_are_independent() -> None:
    first = cluster_roles()
    first[0]["rules"].append({"verbs": ["*"]})
    assert cluster_roles()[0]["rules"] != first[0]["rules"]


def test_policy_lists_roles_before_bindings() -> None:
    kinds = [o["kind"] for o in bootstrap_policy()]
    assert kinds == sorted(kinds, key=lambda k: k != "ClusterRole")


def test_scheduler_binds_pods_and_controller_manager_watches_everything() -> None:
    authz = RBACAuthorizer(StaticRBACSource(bootstrap_policy()))
    scheduler = UserInfo("system:kube-scheduler", ("system:authenticated",))
    kcm = UserInfo("system:kube-controller-manager", ("system:authenticated",))
    assert authz.authorize(
        req(scheduler, "create", "pods", "ns", "p", subresource="binding")
    ).allowed
    assert authz.authorize(
        req(scheduler, "update", "leases", "kube-system", "kube-scheduler", "coordination.k8s.io")
    ).allowed
    assert not authz.authorize(
        req(scheduler, "update", "leases", "kube-system", "other", "coordination.k8s.io")
    ).allowed
    assert authz.authorize(req(kcm, "watch", "vcjobs", group="batch.volcano.sh")).allowed
    assert not authz.authorize(req(kcm, "delete", "pods", "ns", "p")).allowed
    assert not authz.authorize(url(scheduler, "/metrics")).allowed
