"""A node's identity through the `kubernetes` client: the node authorizer,
NodeRestriction, pod binding and graceful pod deletion confirmed by the node."""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.fixtures.cluster import Cloud


def _core(kubeconfig: str) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))


@pytest.fixture(scope="module")
def admin(cloud: Cloud) -> client.CoreV1Api:
    return _core(str(cloud.kubeconfig))


@pytest.fixture(scope="module")
def node(cloud: Cloud) -> client.CoreV1Api:
    path = cloud.user_kubeconfig("system:node:edge-1", groups=("system:nodes",))
    return _core(str(path))


@pytest.fixture(scope="module")
def ns(admin: client.CoreV1Api) -> str:
    name = f"n-{uuid.uuid4().hex[:6]}"
    admin.create_namespace({"metadata": {"name": name}})
    return name


def _bind(api: client.CoreV1Api, ns: str, pod: str, node: str = "edge-1") -> None:
    # kube answers a binding with a Status, which the generated client cannot parse
    # into V1Binding (a known client limitation), so read the raw response.
    resp = api.create_namespaced_pod_binding(
        pod, ns, {"metadata": {"name": pod}, "target": {"kind": "Node", "name": node}},
        _preload_content=False)
    assert resp.status == 201


def _pod(name: str, secret: str) -> dict:
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "envFrom": [{"secretRef": {"name": secret}}]}]}}


def test_node_registers_itself_but_no_other(node: client.CoreV1Api) -> None:
    node.create_node({"metadata": {"name": "edge-1", "labels": {
        "node-role.kubernetes.io/edge": ""}}})
    node.patch_node_status("edge-1", {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "EdgeReady", "message": "ok"}]}})
    with pytest.raises(ApiException) as err:
        node.create_node({"metadata": {"name": "edge-2"}})
    assert err.value.status == 403


def test_node_reads_only_secrets_of_its_pods(admin: client.CoreV1Api, node: client.CoreV1Api,
                                             ns: str) -> None:
    for name in ("mine", "theirs"):
        admin.create_namespaced_secret(ns, {"metadata": {"name": name},
                                            "string_data": {"k": name}})
    admin.create_namespaced_pod(ns, _pod("p-mine", "mine"))
    admin.create_namespaced_pod(ns, _pod("p-theirs", "theirs"))
    _bind(admin, ns, "p-mine")
    assert node.read_namespaced_secret("mine", ns).metadata.name == "mine"
    with pytest.raises(ApiException) as err:
        node.read_namespaced_secret("theirs", ns)
    assert err.value.status == 403
    node.patch_namespaced_pod_status("p-mine", ns, {"status": {"phase": "Running"}})
    with pytest.raises(ApiException) as err:
        node.patch_namespaced_pod_status("p-theirs", ns, {"status": {"phase": "Running"}})
    assert err.value.status == 403


def test_binding_twice_is_conflict(admin: client.CoreV1Api, ns: str) -> None:
    admin.create_namespaced_pod(ns, _pod("bound", "mine"))
    _bind(admin, ns, "bound")
    assert admin.read_namespaced_pod("bound", ns).spec.node_name == "edge-1"
    with pytest.raises(ApiException) as err:
        _bind(admin, ns, "bound", "edge-2")
    assert err.value.status == 409


def test_graceful_delete_waits_for_the_node(admin: client.CoreV1Api, node: client.CoreV1Api,
                                            ns: str) -> None:
    admin.create_namespaced_pod(ns, _pod("graceful", "mine"))
    _bind(admin, ns, "graceful")
    admin.delete_namespaced_pod("graceful", ns)
    pod = admin.read_namespaced_pod("graceful", ns)
    assert pod.metadata.deletion_timestamp is not None
    assert pod.metadata.deletion_grace_period_seconds == 30
    # The node confirms the containers are gone with a zero grace period.
    node.delete_namespaced_pod("graceful", ns, grace_period_seconds=0)
    with pytest.raises(ApiException) as err:
        admin.read_namespaced_pod("graceful", ns)
    assert err.value.status == 404
