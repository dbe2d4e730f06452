from __future__ import annotations

import json

import pytest

from kubeedge.cloud.synccontroller.protocol import (
    ack_report,
    connected_node,
    delete_message,
    parse_ack_report,
    update_message,
)
from kubeedge.messaging.codec import decode_message, encode_message
from kubeedge.messaging.message import build_message
from kubeedge.messaging.resource import ResourceError

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "ns", "uid": "u-1", "resourceVersion": "12"}}


def sent(resource: str, operation: str = "update", content: object = POD, rv: str = "12"):
    msg = build_message("resource", "", "edgecontroller", resource, operation, content)
    msg.set_resource_version(rv)
    return msg


def test_ack_report_names_node_object_and_version() -> None:
    acked = sent("node/edge-1/ns/pod/web")
    report = ack_report(acked)
    assert report.header.parent_msg_id == acked.msg_id
    assert (report.source, report.destination, report.group) == (
        "cloudhub", "synccontroller", "resource")
    ack = parse_ack_report(report)
    assert ack is not None
    assert (ack.node, ack.namespace, ack.resource_type, ack.name, ack.uid) == (
        "edge-1", "ns", "pod", "web", "u-1")
    assert (ack.resource_version, ack.deleted, ack.api_version, ack.kind) == (
        "12", False, "v1", "Pod")


def test_ack_report_survives_the_wire_codec() -> None:
    report = decode_message(encode_message(ack_report(sent("node/edge-1/ns/pod/web"))))
    ack = parse_ack_report(report)
    assert ack is not None and ack.resource_version == "12"


def test_edge_form_resource_needs_the_node() -> None:
    acked = sent("ns/pod/web")
    with pytest.raises(ResourceError):
        ack_report(acked)
    ack = parse_ack_report(ack_report(acked, node="edge-2"))
    assert ack is not None and ack.node == "edge-2"


def test_cluster_scoped_ack_has_no_namespace() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-1", "uid": "n-1"}}
    ack = parse_ack_report(ack_report(sent("node/edge-1/null/node/edge-1", content=node)))
    assert ack is not None and ack.namespace is None


def test_delete_ack_needs_only_the_uid() -> None:
    body = {"metadata": {"name": "web", "namespace": "ns", "uid": "u-1"}}
    ack = parse_ack_report(ack_report(sent("node/edge-1/ns/pod/web", "delete", body, "")))
    assert ack is not None and ack.deleted and ack.uid == "u-1"


def test_kind_falls_back_to_the_resource_type_when_content_has_no_typemeta() -> None:
    bare = {"metadata": {"name": "cfg", "namespace": "ns", "uid": "c-1"}}
    ack = parse_ack_report(ack_report(sent("node/edge-1/ns/configmap/cfg", content=bare)))
    assert ack is not None and (ack.api_version, ack.kind) == ("v1", "ConfigMap")


def test_reports_without_uid_or_version_are_not_acks() -> None:
    no_uid = {"kind": "Pod", "metadata": {"name": "web"}}
    assert parse_ack_report(ack_report(sent("node/e/ns/pod/web", content=no_uid))) is None
    no_rv = {"kind": "Pod", "metadata": {"name": "web", "uid": "u"}}
    assert parse_ack_report(ack_report(sent("node/e/ns/pod/web", content=no_rv, rv=""))) is None
    # Not from CloudHub, or not a reply to anything: not a report.
    assert parse_ack_report(sent("node/e/ns/pod/web")) is None


def test_connect_event_names_the_node() -> None:
    body = json.dumps({"event_type": "connected", "timestamp": 1, "client_id": "edge-3"})
    event = build_message("resource", "", "cloudhub", "node/edge-3", "connected", body)
    assert connected_node(event) == "edge-3"
    assert parse_ack_report(event) is None
    event.route.operation = "disconnected"
    assert connected_node(event) is None


def test_update_carries_the_object_and_its_version() -> None:
    msg = update_message("edge-1", "ns", "pod", POD)
    assert msg.resource == "node/edge-1/ns/pod/web"
    assert (msg.source, msg.group, msg.operation) == ("edgecontroller", "resource", "update")
    assert msg.header.resource_version == "12"
    assert msg.content is POD


def test_delete_carries_name_namespace_and_uid_only() -> None:
    msg = delete_message("edge-1", "ns", "pod", "web", "u-1")
    assert msg.resource == "node/edge-1/ns/pod/web"
    assert msg.operation == "delete"
    assert msg.content == {"metadata": {"name": "web", "namespace": "ns", "uid": "u-1"}}
    cluster = delete_message("edge-1", None, "node", "edge-1", "n-1")
    assert cluster.resource == "node/edge-1/null/node/edge-1"
    assert cluster.content == {"metadata": {"name": "edge-1", "uid": "n-1"}}
