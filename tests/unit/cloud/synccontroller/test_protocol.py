from __future__ import annotations

import json

import pytest

from kubeedge.cloud.hub import protocol as hub_protocol
from kubeedge.cloud.synccontroller.protocol import (
    OP_OBJECT_ACKED,
    OP_OBJECT_DROPPED,
    connected_node,
    delete_message,
    object_report,
    parse_object_report,
    update_message,
)
from kubeedge.messaging.codec import decode_message, encode_message
from kubeedge.messaging.message import Message, build_message

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "ns", "uid": "u-1", "resourceVersion": "12"}}


def sent(resource: str, operation: str = "update", content: object = POD, rv: str = "12"):
    msg = build_message("resource", "", "edgecontroller", resource, operation, content)
    msg.set_resource_version(rv)
    return msg


def report(msg: Message, node: str = "edge-1", op: str = OP_OBJECT_ACKED) -> Message:
    out = object_report(op, node, msg, 0.25)
    assert out is not None
    return out


def test_hub_and_synccontroller_share_one_definition() -> None:
    assert hub_protocol.OP_OBJECT_ACKED is OP_OBJECT_ACKED
    assert hub_protocol.OP_OBJECT_DROPPED is OP_OBJECT_DROPPED
    assert hub_protocol.object_report is object_report


def test_ack_report_names_node_object_and_version() -> None:
    acked = sent("node/edge-1/ns/pod/web")
    msg = report(acked)
    assert (msg.source, msg.destination, msg.group, msg.operation, msg.resource) == (
        "cloudhub", "synccontroller", "resource", "acked", "node/edge-1/ns/pod/web")
    assert msg.header.resource_version == "12"
    assert msg.content == {
        "node": "edge-1", "namespace": "ns", "resourceType": "pod", "name": "web",
        "uid": "u-1", "resourceVersion": "12", "operation": "update", "apiVersion": "v1",
        "kind": "Pod", "msgId": acked.msg_id, "latency": 0.25}
    ack = parse_object_report(msg)
    assert ack is not None
    assert (ack.node, ack.namespace, ack.resource_type, ack.name, ack.uid) == (
        "edge-1", "ns", "pod", "web", "u-1")
    assert (ack.resource_version, ack.deleted, ack.dropped, ack.api_version, ack.kind) == (
        "12", False, False, "v1", "Pod")


def test_drop_report_is_marked_dropped() -> None:
    ack = parse_object_report(report(sent("node/edge-1/ns/pod/web"), op=OP_OBJECT_DROPPED))
    assert ack is not None and ack.dropped and ack.resource_version == "12"


def test_report_survives_the_wire_codec() -> None:
    msg = decode_message(encode_message(report(sent("node/edge-1/ns/pod/web"))))
    ack = parse_object_report(msg)
    assert ack is not None and ack.resource_version == "12"


def test_edge_form_resource_takes_the_node_given() -> None:
    ack = parse_object_report(report(sent("ns/pod/web"), node="edge-2"))
    assert ack is not None and ack.node == "edge-2"


def test_cluster_scoped_ack_has_no_namespace() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-1", "uid": "n-1"}}
    msg = report(sent("node/edge-1/null/node/edge-1", content=node))
    assert msg.content["namespace"] == "null"
    ack = parse_object_report(msg)
    assert ack is not None and ack.namespace is None


def test_delete_ack_needs_only_the_uid() -> None:
    body = {"metadata": {"name": "web", "namespace": "ns", "uid": "u-1"}}
    ack = parse_object_report(report(sent("node/edge-1/ns/pod/web", "delete", body, "")))
    assert ack is not None and ack.deleted and ack.uid == "u-1"


def test_kind_falls_back_to_the_resource_type_when_content_has_no_typemeta() -> None:
    bare = {"metadata": {"name": "cfg", "namespace": "ns", "uid": "c-1"}}
    ack = parse_object_report(report(sent("node/edge-1/ns/configmap/cfg", content=bare)))
    assert ack is not None and (ack.api_version, ack.kind) == ("v1", "ConfigMap")


def test_untracked_messages_give_no_report_and_bad_reports_no_ack() -> None:
    no_uid = {"kind": "Pod", "metadata": {"name": "web"}}
    assert object_report(OP_OBJECT_ACKED, "e", sent("node/e/ns/pod/web", content=no_uid)) \
        is None
    twin = build_message("twin", "", "devicecontroller", "node/e/membership", "update",
                         {"metadata": {"uid": "x"}})
    assert object_report(OP_OBJECT_ACKED, "e", twin) is None
    with pytest.raises(ValueError):
        object_report("response", "e", sent("node/e/ns/pod/web"))
    no_rv = {"kind": "Pod", "metadata": {"name": "web", "uid": "u"}}
    assert parse_object_report(report(sent("node/e/ns/pod/web", content=no_rv, rv=""))) \
        is None
    # Not from CloudHub, not a report operation, or not an ObjectAck: no ACK.
    assert parse_object_report(sent("node/e/ns/pod/web")) is None
    forged = report(sent("node/e/ns/pod/web"))
    forged.route.source = "edgecontroller"
    assert parse_object_report(forged) is None
    garbled = report(sent("node/e/ns/pod/web"))
    garbled.content = {"node": "e"}
    assert parse_object_report(garbled) is None


def test_connect_event_names_the_node() -> None:
    body = json.dumps({"event_type": "connected", "timestamp": 1, "client_id": "edge-3"})
    event = build_message("resource", "", "cloudhub", "node/edge-3", "connected", body)
    assert connected_node(event) == "edge-3"
    assert parse_object_report(event) is None
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
