"""NodeAuthorizer: a node reaches only what the pods bound to it need, and its own objects."""

from __future__ import annotations

from typing import Any

import pytest

from kubeedge.apiserver.authz import NodeAuthorizer, UserInfo, pod_references
from kubeedge.apiserver.authz.node import node_identity

from ._objects import alice, req, url


def pod(name: str, node: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}], **spec},
    }


class Graph:
    def __init__(self, *pods: dict[str, Any]) -> None:
        self.pods = list(pods)

    def pods_on_node(self, node_name: str) -> list[dict[str, Any]]:
        return [p for p in self.pods if p["spec"].get("nodeName") == node_name]


WEB = pod(
    "web",
    "edge-1",
    volumes=[
        {"name": "tls", "secret": {"secretName": "web-tls"}},
        {"name": "conf", "configMap": {"name": "web-conf"}},
        {
            "name": "token",
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt"}},
                    {"secret": {"name": "projected-secret"}},
                ]
            },
        },
        {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
    ],
    imagePullSecrets=[{"name": "registry"}],
    serviceAccountName="web-sa",
    initContainers=[
        {
            "name": "init",
            "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db-pass", "key": "p"}}}],
        }
    ],
)
WEB["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "env-conf"}}]
OTHER = pod("db", "edge-2", volumes=[{"name": "s", "secret": {"secretName": "db-secret"}}])
NODE = UserInfo.node("edge-1")


@pytest.fixture
def authz() -> NodeAuthorizer:
    pvcs = {("default", "web-data"): {"spec": {"volumeName": "pv-1"}}}
    return NodeAuthorizer(Graph(WEB, OTHER), pvc_lookup=lambda ns, n: pvcs.get((ns, n)))


def verdict(authz: NodeAuthorizer, attrs) -> str:
    return authz.authorize(attrs).verdict.value


def test_node_identity_needs_prefix_and_group() -> None:
    assert node_identity(NODE) == ("edge-1", True)
    assert node_identity(UserInfo("system:node:edge-1", ())) == ("", False)
    assert node_identity(UserInfo("edge-1", ("system:nodes",))) == ("", False)
    assert node_identity(UserInfo("system:node:", ("system:nodes",))) == ("", True)


def test_pod_references_cover_volumes_projections_env_and_pull_secrets() -> None:
    refs = pod_references(WEB)
    assert refs.secrets == {"web-tls", "projected-secret", "registry", "db-pass"}
    assert refs.config_maps == {"web-conf", "kube-root-ca.crt", "env-conf"}
    assert refs.persistent_volume_claims == {"web-data", "web-scratch"}
    assert refs.service_accounts == {"web-sa"}
    assert pod_references(OTHER).service_accounts == {"default"}


def test_node_reads_a_secret_mounted_by_its_pod_but_not_another(authz: NodeAuthorizer) -> None:
    assert verdict(authz, req(NODE, "get", "secrets", "default", "web-tls")) == "allow"
    # The kubelet watches one secret: list/watch pinned by fieldSelector metadata.name.
    assert verdict(authz, req(NODE, "watch", "secrets", "default", "db-pass")) == "allow"
    decision = authz.authorize(req(NODE, "get", "secrets", "default", "db-secret"))
    assert not decision.allowed
    assert decision.reason == 'no relationship found between node "edge-1" and this object'
    # Same name in another namespace is another secret.
    assert verdict(authz, req(NODE, "get", "secrets", "prod", "web-tls")) == "no-opinion"
    # No listing every secret, no writing them.
    assert verdict(authz, req(NODE, "list", "secrets", "default")) == "no-opinion"
    assert verdict(authz, req(NODE, "update", "secrets", "default", "web-tls")) == "no-opinion"


def test_node_reads_configmaps_pvcs_and_pvs_of_its_pods(authz: NodeAuthorizer) -> None:
    assert verdict(authz, req(NODE, "get", "configmaps", "default", "kube-root-ca.crt")) == "allow"
    assert verdict(authz, req(NODE, "get", "configmaps", "default", "other")) == "no-opinion"
    assert verdict(authz, req(NODE, "get", "persistentvolumeclaims", "default", "web-data")) == (
        "allow"
    )
    pvc_status = req(NODE, "patch", "persistentvolumeclaims", "default", "web-data", "", "status")
    assert verdict(authz, pvc_status) == "allow"
    assert verdict(authz, req(NODE, "get", "persistentvolumes", "", "pv-1")) == "allow"
    assert verdict(authz, req(NODE, "get", "persistentvolumes", "", "pv-2")) == "no-opinion"


def test_node_creates_tokens_only_for_service_accounts_of_its_pods(
    authz: NodeAuthorizer,
) -> None:
    token = req(NODE, "create", "serviceaccounts", "default", "web-sa", subresource="token")
    assert verdict(authz, token) == "allow"
    other = req(NODE, "create", "serviceaccounts", "default", "admin", subresource="token")
    assert verdict(authz, other) == "no-opinion"
    assert verdict(authz, req(NODE, "get", "serviceaccounts", "default", "web-sa")) == (
        "no-opinion"
    )


def test_node_updates_status_of_its_own_pod_but_not_others(authz: NodeAuthorizer) -> None:
    mine = req(NODE, "patch", "pods", "default", "web", subresource="status")
    theirs = req(NODE, "patch", "pods", "default", "db", subresource="status")
    assert verdict(authz, mine) == "allow"
    assert verdict(authz, theirs) == "deny"
    assert verdict(authz, req(NODE, "delete", "pods", "default", "web")) == "allow"
    assert verdict(authz, req(NODE, "delete", "pods", "default", "db")) == "deny"
    assert verdict(authz, req(NODE, "create", "pods", "default", "web", "", "eviction")) == "allow"
    # Reading pods is not narrowed; changing a spec is not a node's business.
    assert verdict(authz, req(NODE, "list", "pods")) == "allow"
    assert verdict(authz, req(NODE, "get", "pods", "default", "db")) == "allow"
    assert verdict(authz, req(NODE, "update", "pods", "default", "web")) == "no-opinion"


def test_node_updates_its_own_node_but_not_another(authz: NodeAuthorizer) -> None:
    assert verdict(authz, req(NODE, "update", "nodes", "", "edge-1")) == "allow"
    assert verdict(authz, req(NODE, "patch", "nodes", "", "edge-1", subresource="status")) == (
        "allow"
    )
    assert verdict(authz, req(NODE, "update", "nodes", "", "edge-2")) == "deny"
    assert verdict(authz, req(NODE, "patch", "nodes", "", "edge-2", subresource="status")) == (
        "deny"
    )
    assert verdict(authz, req(NODE, "create", "nodes")) == "allow"  # admit checks the name
    assert verdict(authz, req(NODE, "list", "nodes")) == "allow"
    assert verdict(authz, req(NODE, "delete", "nodes", "", "edge-1")) == "no-opinion"


def test_node_owns_only_its_lease_in_kube_node_lease(authz: NodeAuthorizer) -> None:
    lease = "coordination.k8s.io"
    assert verdict(authz, req(NODE, "update", "leases", "kube-node-lease", "edge-1", lease)) == (
        "allow"
    )
    assert verdict(authz, req(NODE, "create", "leases", "kube-node-lease", "", lease)) == "allow"
    assert verdict(authz, req(NODE, "update", "leases", "kube-node-lease", "edge-2", lease)) == (
        "deny"
    )
    assert verdict(authz, req(NODE, "get", "leases", "default", "edge-1", lease)) == "no-opinion"
    assert verdict(authz, req(NODE, "list", "leases", "kube-node-lease", "", lease)) == (
        "no-opinion"
    )


def test_node_static_rules_cover_events_reviews_and_service_discovery(
    authz: NodeAuthorizer,
) -> None:
    for attrs in (
        req(NODE, "create", "events", "default"),
        req(NODE, "patch", "events", "default", "e"),
        req(NODE, "create", "tokenreviews", group="authentication.k8s.io"),
        req(NODE, "create", "subjectaccessreviews", group="authorization.k8s.io"),
        req(NODE, "watch", "services"),
        req(NODE, "list", "endpoints"),
        req(NODE, "get", "endpoints", "default", "kubernetes"),
    ):
        assert verdict(authz, attrs) == "allow", attrs
    assert verdict(authz, req(NODE, "delete", "services", "default", "s")) == "no-opinion"
    assert verdict(authz, url(NODE, "/metrics")) == "no-opinion"


def test_non_nodes_get_no_opinion(authz: NodeAuthorizer) -> None:
    assert authz.authorize(req(alice(), "get", "secrets", "default", "web-tls")).reason == ""
    assert verdict(authz, req(alice(), "update", "nodes", "", "edge-2")) == "no-opinion"
    impostor = UserInfo("system:node:edge-1", ("system:authenticated",))
    assert verdict(authz, req(impostor, "get", "secrets", "default", "web-tls")) == "no-opinion"


def test_admit_lets_a_node_create_only_mirror_pods_bound_to_itself(
    authz: NodeAuthorizer,
) -> None:
    create = req(NODE, "create", "pods", "kube-system")
    mirror = pod("static", "edge-1", "kube-system")
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    assert authz.admit(create, mirror).allowed
    assert authz.admit(create, pod("plain", "edge-1", "kube-system")).denied
    elsewhere = {**mirror, "spec": {**mirror["spec"], "nodeName": "edge-2"}}
    assert authz.admit(create, elsewhere).denied
    with_secret = {
        **mirror,
        "spec": {**mirror["spec"], "volumes": [{"name": "s", "secret": {"secretName": "x"}}]},
    }
    assert authz.admit(create, with_secret).denied


def test_admit_checks_names_of_created_nodes_and_leases(authz: NodeAuthorizer) -> None:
    node_create = req(NODE, "create", "nodes")
    assert authz.admit(node_create, {"metadata": {"name": "edge-1"}}).allowed
    assert authz.admit(node_create, {"metadata": {"name": "edge-2"}}).denied
    lease_create = req(NODE, "create", "leases", "kube-node-lease", group="coordination.k8s.io")
    assert authz.admit(lease_create, {"metadata": {"name": "edge-2"}}).denied
    token = req(NODE, "create", "serviceaccounts", "default", "web-sa", subresource="token")
    bound = {"spec": {"boundObjectRef": {"kind": "Pod", "name": "web"}}}
    assert authz.admit(token, bound).allowed
    assert authz.admit(token, {"spec": {}}).denied
    assert authz.admit(req(alice(), "create", "pods", "ns"), {"metadata": {}}).allowed


def test_node_rules_cannot_be_enumerated(authz: NodeAuthorizer) -> None:
    assert authz.rules_for(NODE, "default").incomplete
    assert not authz.rules_for(alice(), "default").incomplete
