"""Resource strings, as KubeEdge builds and splits them (spec §2 "Resource strings")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeedge.messaging import resource as r
from kubeedge.messaging.resource import ResourceError, ResourceKey


def test_build_cloud_resource() -> None:
    assert r.build_resource("edge-1", "default", "pod", "nginx") == "node/edge-1/default/pod/nginx"
    assert r.build_resource("edge-1", "default", "pod") == "node/edge-1/default/pod"
    assert (
        r.build_resource("edge-1", r.NULL_NAMESPACE, r.RESOURCE_NODE, "edge-1")
        == "node/edge-1/null/node/edge-1"
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("", "default", "pod", "x"), "node required"),
        (("e", "", "pod", "x"), "namespace required"),
        (("e", "default", "", "x"), "type required"),
        (("e/1", "default", "pod", "x"), "node must not contain '/'"),
        (("e", "default", "pod", "a/b"), "name must not contain '/'"),
    ],
)
def test_build_resource_refuses_missing_or_slashed_parts(
    args: tuple[str, str, str, str], needle: str
) -> None:
    with pytest.raises(ResourceError, match=needle):
        r.build_resource(*args)


def test_parse_node_resource() -> None:
    assert r.parse_node_resource("node/edge-1/default/pod/nginx") == (
        "edge-1",
        ResourceKey("default", "pod", "nginx"),
    )
    node, key = r.parse_node_resource("node/edge-1/default/pod")
    assert node == "edge-1" and key == ResourceKey("default", "pod") and key.name == ""


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "default/pod/nginx",
        "nodes/edge-1/default/pod/nginx",
        "node/edge-1/default",
        "node/edge-1/default/pod/nginx/extra",
        "node//default/pod/nginx",
        "node/edge-1//pod/nginx",
        "node/edge-1/default//nginx",
        "node/edge-1/default/pod/",
        "node/edge-1/device/default/sensor/twin/edge_updated",
    ],
)
def test_parse_node_resource_refuses_other_forms(bad: str) -> None:
    with pytest.raises(ResourceError) as info:
        r.parse_node_resource(bad)
    assert info.value.resource == bad
    assert "node/<node>/<namespace>/<type>[/<name>]" in str(info.value)


def test_parse_edge_resource_like_parse_resource_edge() -> None:
    assert r.parse_edge_resource("default/pod/nginx", "insert") == ResourceKey(
        "default", "pod", "nginx"
    )
    assert r.parse_edge_resource("default/pod", "query") == ResourceKey("default", "pod")
    assert r.parse_edge_resource("default/pod", "response") == ResourceKey("default", "pod")
    with pytest.raises(ResourceError, match="only valid for query or response"):
        r.parse_edge_resource("default/pod", "insert")
    for bad in ("default", "a/b/c/d", "default//nginx", "/pod", "", "node/e1/default/pod/x"):
        with pytest.raises(ResourceError):
            r.parse_edge_resource(bad, "query")


def test_resource_key_forms() -> None:
    key = ResourceKey("kube-system", "configmap", "coredns")
    assert key.edge == "kube-system/configmap/coredns"
    assert key.for_node("e1") == "node/e1/kube-system/configmap/coredns"
    assert ResourceKey("default", "pod").edge == "default/pod"


def test_strip_and_add_node_prefix_like_cloudhub() -> None:
    assert r.strip_node_prefix("node/edge-1/default/pod/nginx") == "default/pod/nginx"
    assert r.strip_node_prefix("node/edge-1/membership") == "membership"
    assert r.strip_node_prefix("node/edge-1/twin") == "twin"
    # Shorter or foreign resources pass through unchanged, as TrimMessage leaves them.
    assert r.strip_node_prefix("node") == "node"
    assert r.strip_node_prefix("node/edge-1") == "node/edge-1"
    assert r.strip_node_prefix("k8s/ca.crt") == "k8s/ca.crt"
    assert r.add_node_prefix("edge-1", "default/lease/edge-1") == "node/edge-1/default/lease/edge-1"
    assert r.add_node_prefix("edge-1", r.RESOURCE_K8S_CA) == "node/edge-1/k8s/ca.crt"
    with pytest.raises(ResourceError, match="node required"):
        r.add_node_prefix("", "default/pod/x")


@given(
    st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True),
    st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True),
    st.sampled_from([r.RESOURCE_POD, r.RESOURCE_CONFIGMAP, r.RESOURCE_SECRET, r.RESOURCE_LEASE]),
    st.from_regex(r"([a-z0-9][a-z0-9.-]{0,20})?", fullmatch=True),
)
def test_build_parse_strip_round_trip(node: str, namespace: str, kind: str, name: str) -> None:
    resource = r.build_resource(node, namespace, kind, name)
    assert r.parse_node_resource(resource) == (node, ResourceKey(namespace, kind, name))
    edge = r.strip_node_prefix(resource)
    assert edge == ResourceKey(namespace, kind, name).edge
    assert r.parse_edge_resource(edge, "query") == ResourceKey(namespace, kind, name)
    assert r.add_node_prefix(node, edge) == resource
    assert r.node_id_of(resource) == node


def test_node_id_of_like_dispatcher_get_node_id() -> None:
    assert r.node_id_of("node/edge-1/default/pod/x") == "edge-1"
    assert r.node_id_of("node/edge-1/membership") == "edge-1"
    assert r.node_id_of("node/edge-1") == "edge-1"
    for bad in ("node", "default/pod/x", "node//x"):
        with pytest.raises(ResourceError, match="no node id"):
            r.node_id_of(bad)


def test_device_resources() -> None:
    assert r.build_device_resource("edge-1", r.RESOURCE_MEMBERSHIP) == "node/edge-1/membership"
    assert r.build_device_resource("edge-1", r.RESOURCE_TWIN) == "node/edge-1/twin"
    assert (
        r.build_device_resource("edge-1", "device", "default/s1") == "node/edge-1/device/default/s1"
    )
    with pytest.raises(ResourceError):
        r.build_device_resource("", r.RESOURCE_TWIN)
    upstream = "node/edge-1/device/default/sensor-1/twin/edge_updated"
    assert r.device_id_of(upstream) == "default/sensor-1"
    assert r.device_id_of("device/default/sensor-1/state/update") == "default/sensor-1"
    assert r.device_resource_type(upstream) == r.RESOURCE_TWIN_EDGE_UPDATED
    assert (
        r.device_resource_type("node/edge-1/device/default/s/state/update")
        == r.RESOURCE_DEVICE_STATE_UPDATE
    )
    assert r.device_resource_type("node/edge-1/membership/detail") == r.RESOURCE_MEMBERSHIP_DETAIL
    with pytest.raises(ResourceError, match="no device id"):
        r.device_id_of("node/edge-1/membership")
    with pytest.raises(ResourceError, match="not a device resource"):
        r.device_resource_type("node/edge-1/default/pod/x")


def test_resource_type_constants_match_kubeedge() -> None:
    assert [
        r.RESOURCE_POD,
        r.RESOURCE_PODLIST,
        r.RESOURCE_PODSTATUS,
        r.RESOURCE_PODPATCH,
        r.RESOURCE_NODE,
        r.RESOURCE_NODESTATUS,
        r.RESOURCE_NODEPATCH,
        r.RESOURCE_CONFIGMAP,
        r.RESOURCE_SECRET,
        r.RESOURCE_SERVICEACCOUNTTOKEN,
        r.RESOURCE_EVENT,
        r.RESOURCE_LEASE,
        r.RESOURCE_CSR,
        r.RESOURCE_K8S_CA,
        r.RESOURCE_VOLUMEATTACHMENT,
        r.RESOURCE_DEVICEMODEL,
        r.RESOURCE_NODE_CONNECTION,
    ] == [
        "pod",
        "podlist",
        "podstatus",
        "podpatch",
        "node",
        "nodestatus",
        "nodepatch",
        "configmap",
        "secret",
        "serviceaccounttoken",
        "event",
        "lease",
        "certificatesigningrequest",
        "k8s/ca.crt",
        "volumeattachment",
        "devicemodel",
        "node/connection",
    ]
