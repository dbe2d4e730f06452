"""The Message model and its constructors, as beehive's model.Message behaves (spec §2)."""

from __future__ import annotations

import time
import uuid

from kubeedge.messaging import (
    Header,
    Message,
    Route,
    build_message,
    new_error_message,
    new_message,
    new_respond_message,
)
from kubeedge.messaging import message as m


def test_new_message_has_a_uuid4_id_and_the_time_in_ms() -> None:
    before = time.time_ns() // 1_000_000
    msg = new_message("parent-1")
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(msg.msg_id)
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert str(parsed) == msg.msg_id
    assert msg.parent_msg_id == "parent-1"
    assert before <= msg.header.timestamp <= after
    assert new_message().msg_id != msg.msg_id
    assert new_message(timestamp=42).header.timestamp == 42


def test_builders_chain_like_kubeedge() -> None:
    msg = (
        new_message()
        .build_router("edgecontroller", "resource", "node/e1/default/pod/web", "insert")
        .set_resource_version("12")
        .set_destination("cloudhub")
        .set_type("channel")
        .fill_body({"kind": "Pod"})
    )
    assert msg.route == Route(
        source="edgecontroller",
        destination="cloudhub",
        group="resource",
        operation="insert",
        resource="node/e1/default/pod/web",
    )
    assert msg.header.resource_version == "12"
    assert msg.header.msg_type == "channel"
    assert (msg.source, msg.group, msg.resource, msg.operation, msg.destination) == (
        "edgecontroller",
        "resource",
        "node/e1/default/pod/web",
        "insert",
        "cloudhub",
    )
    msg.set_route("a", "b").set_resource_operation("r", "o")
    assert (msg.source, msg.group, msg.resource, msg.operation) == ("a", "b", "r", "o")
    old = msg.msg_id
    assert msg.update_id().msg_id != old
    msg.build_header("id", "pid", 7)
    assert msg.header == Header(
        msg_id="id", parent_msg_id="pid", timestamp=7, resource_version="12", msg_type="channel"
    )


def test_respond_message_keeps_source_and_group_and_points_to_the_request() -> None:
    request = build_message("resource", "", "edgecontroller", "default/pod/web", "insert", {})
    request.set_type("channel").set_resource_version("9")
    reply = new_respond_message(request, "OK")
    assert reply.parent_msg_id == request.msg_id
    assert reply.msg_id not in ("", request.msg_id)
    # copied, not swapped (spec §2 NewRespByMessage)
    assert reply.route == Route(
        source="edgecontroller", group="resource", operation="response", resource="default/pod/web"
    )
    assert reply.header.msg_type == "channel"
    assert reply.header.resource_version == ""
    assert reply.content == "OK"


def test_error_message_sets_only_resource_and_operation() -> None:
    request = build_message("meta", "", "edged", "default/configmap/cfg", "query")
    reply = new_error_message(request, "not found")
    assert reply.parent_msg_id == request.msg_id
    assert reply.route == Route(operation="error", resource="default/configmap/cfg")
    assert reply.content == "not found"


def test_clone_gets_a_new_id_and_drops_what_beehive_drops() -> None:
    msg = build_message("resource", "p", "s", "r", "update", {"a": 1})
    msg.set_destination("d").set_resource_version("5").set_type("channel")
    msg.header.sync = True
    clone = msg.clone()
    assert clone.msg_id != msg.msg_id
    assert clone.header == Header(
        msg_id=clone.msg_id, parent_msg_id="p", timestamp=msg.header.timestamp
    )
    assert clone.route == Route(source="s", group="resource", resource="r", operation="update")
    assert clone.content is msg.content


def test_copy_gives_an_independent_header_and_route_with_shared_content() -> None:
    msg = build_message("resource", "", "s", "r", "insert", {"a": 1})
    copy = msg.copy()
    assert copy == msg
    copy.route.resource = "other"
    copy.header.sync = True
    assert msg.resource == "r" and not msg.is_sync
    assert copy.content is msg.content


def test_content_data_like_get_content_data() -> None:
    assert new_message().fill_body(b"\x00raw").content_data() == b"\x00raw"
    assert new_message().fill_body("OK").content_data() == b"OK"
    assert new_message().fill_body({"b": 1, "a": [1, None]}).content_data() == (
        b'{"b":1,"a":[1,null]}'
    )
    assert new_message().content_data() == b"null"


def test_str_is_beehive_string_form() -> None:
    msg = Message(
        header=Header(msg_id="i", parent_msg_id="p"),
        route=Route(source="s", destination="d", group="g", operation="o", resource="r"),
    )
    assert str(msg) == (
        "MessageID: i ParentID: p Group: g Source: s Destination: d Resource: r Operation: o"
    )


def test_edge_module_groups_follow_the_spec_table() -> None:
    # specs/kubeedge.md §1 EdgeCore modules: name / group
    assert m.EDGE_MODULE_GROUPS == {
        "websocket": "hub",
        "metamanager": "meta",
        "edged": "edged",
        "eventbus": "bus",
        "servicebus": "user",
        "twin": "twin",
        "edgestream": "edgestream",
        "taskmanager": "taskmanager",
    }
    assert m.CONNECT_EVENT_GROUPS == ("twin", "meta", "bus", "taskmanager")
    assert m.MODULE_CLOUDSTREAM == "cloudStream"
    assert (m.OP_RESPONSE, m.OP_ERROR, m.OP_KEEPALIVE, m.OP_UNHOLD_UPGRADE) == (
        "response",
        "error",
        "keepalive",
        "unhold-upgrade",
    )
