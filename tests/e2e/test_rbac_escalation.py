"""kubectl against RBAC escalation prevention: a user who may write roles and bindings
still cannot grant what they do not hold, and neither can cloudcore's broad identity."""

from __future__ import annotations

import json
import uuid

from tests.fixtures.cluster import Cloud


def _apply(cloud: Cloud, obj: dict, **kwargs: object):
    return cloud.kubectl("apply", "-f", "-", input=json.dumps(obj), **kwargs)


def test_roles_and_bindings_grant_only_what_the_writer_holds(cloud: Cloud) -> None:
    ns = f"esc-{uuid.uuid4().hex[:6]}"
    cloud.kubectl("create", "namespace", ns)
    cloud.kubectl("create", "role", "powers", "-n", ns, "--verb=get,list",
                  "--resource=pods,configmaps")
    cloud.kubectl("create", "role", "rbac-writer", "-n", ns, "--verb=create,get,update,patch",
                  "--resource=roles.rbac.authorization.k8s.io,"
                  "rolebindings.rbac.authorization.k8s.io")
    for role in ("powers", "rbac-writer"):
        cloud.kubectl("create", "rolebinding", f"dev-{role}", "-n", ns, f"--role={role}",
                      "--user=dev")
    dev = cloud.user_kubeconfig("dev", token=f"tok-{uuid.uuid4().hex}")

    # What dev holds, dev may grant.
    cloud.kubectl("create", "role", "reader", "-n", ns, "--verb=get", "--resource=pods",
                  kubeconfig=dev)
    # More than dev holds: refused with what is missing.
    refused = cloud.kubectl("create", "role", "execer", "-n", ns, "--verb=create",
                            "--resource=pods/exec", kubeconfig=dev, check=False)
    assert refused.returncode == 1
    assert "attempting to grant RBAC permissions not currently held" in refused.stderr
    assert 'Resources:["pods/exec"]' in refused.stderr
    # Binding oneself to a bigger role is refused too.
    bound = cloud.kubectl("create", "rolebinding", "grab", "-n", ns, "--clusterrole=admin",
                          "--user=dev", kubeconfig=dev, check=False)
    assert bound.returncode == 1 and "not currently held" in bound.stderr
    assert cloud.kubectl("auth", "can-i", "create", "pods/exec", "-n", ns, "--as=dev",
                         check=False).stdout.strip() == "no"


def test_cloudcore_cannot_make_itself_cluster_admin(cloud: Cloud) -> None:
    """cloudcore's role reaches every resource (its garbage collector needs it) but not
    the `*` verbs of cluster-admin, so it cannot bind that role to anyone."""
    cloudcore = cloud.root / "etc/kubeedge/cloudcore.kubeconfig"
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": f"grab-{uuid.uuid4().hex[:6]}"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "cluster-admin"},
               "subjects": [{"kind": "User", "name": "system:kubeedge:cloudcore"}]}
    refused = _apply(cloud, binding, kubeconfig=cloudcore, check=False)
    assert refused.returncode == 1
    assert "not currently held" in refused.stderr


def test_cloudcore_may_act_as_an_edge_node_and_as_no_one_else(cloud: Cloud) -> None:
    """EdgeController makes an edge's requests as that node, so the node authorizer
    judges them; cloudcore may not take any other identity that way."""
    cloudcore = cloud.root / "etc/kubeedge/cloudcore.kubeconfig"
    as_node = cloud.kubectl("auth", "whoami", "-o", "json", "--as=system:node:edge-x",
                            "--as-group=system:nodes", kubeconfig=cloudcore)
    info = json.loads(as_node.stdout)["status"]["userInfo"]
    assert info["username"] == "system:node:edge-x"
    assert "system:nodes" in info["groups"]
    # As that node, only what the node authorizer allows: not another node's secrets.
    denied = cloud.kubectl("get", "secrets", "-n", "kube-system", "--as=system:node:edge-x",
                           "--as-group=system:nodes", kubeconfig=cloudcore, check=False)
    assert denied.returncode == 1 and "forbidden" in denied.stderr.lower()
    for args in (["--as=admin"], ["--as=system:node:edge-x", "--as-group=system:masters"],
                 ["--as=system:node:"]):
        refused = cloud.kubectl("get", "pods", *args, kubeconfig=cloudcore, check=False)
        assert refused.returncode == 1, args
        assert "cannot impersonate" in refused.stderr, (args, refused.stderr)
