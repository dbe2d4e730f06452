"""The JSON codec against KubeEdge's wire shape (specs/kubeedge.md §2 "Wire encoding").

The golden frames under golden/ are written as KubeEdge's Go code marshals them (gorilla
WriteJSON of beehive's model.Message): compact, keys in struct order, omitempty applied.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeedge.messaging import (
    Header,
    Message,
    MessageDecodeError,
    MessageEncodeError,
    Route,
    decode_message,
    encode_message,
    message_from_builtins,
    message_to_builtins,
    new_message,
)

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_FILES = sorted(GOLDEN.glob("*.json"))


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes().strip()


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_frames_decode_and_encode_back_byte_for_byte(path: Path) -> None:
    frame = path.read_bytes().strip()
    msg = decode_message(frame)
    assert encode_message(msg) == frame


def test_golden_pod_insert_fields() -> None:
    msg = decode_message(golden("pod_insert_downstream.json"))
    assert msg.header == Header(
        msg_id="8a1c3f0e-6f0b-4b8e-9d55-2b7f4c1e9a01",
        timestamp=1718000000000,
        resource_version="4711",
    )
    assert msg.route == Route(
        source="edgecontroller", group="resource", operation="insert", resource="default/pod/nginx"
    )
    # objects arrive as JSON objects, not as base64 or escaped strings
    assert msg.content["kind"] == "Pod"
    assert msg.content["spec"]["nodeName"] == "edge-1"


def test_golden_ack_is_a_response_to_its_parent() -> None:
    msg = decode_message(golden("ack_response_upstream.json"))
    assert msg.parent_msg_id == "8a1c3f0e-6f0b-4b8e-9d55-2b7f4c1e9a01"
    assert msg.operation == "response"
    assert msg.content == "OK"
    assert msg.is_response


def test_golden_sync_flag_and_list_content() -> None:
    lease = decode_message(golden("lease_update_sync_upstream.json"))
    assert lease.header.sync is True
    reply = decode_message(golden("query_reply_list.json"))
    assert [json.loads(item)["metadata"]["name"] for item in reply.content] == ["nginx", "redis"]


def test_golden_error_reply_has_no_source_or_group() -> None:
    msg = decode_message(golden("error_reply.json"))
    assert msg.route == Route(operation="error", resource="default/configmap/app-config")


def test_go_omitempty_rules() -> None:
    # msg_id and timestamp have no omitempty; route is a struct so it is never dropped;
    # content has no omitempty, so null is written.
    assert (
        encode_message(Message())
        == b'{"header":{"msg_id":"","timestamp":0},"route":{},"content":null}'
    )
    msg = Message(header=Header(msg_id="x", timestamp=0))
    assert json.loads(encode_message(msg))["header"] == {"msg_id": "x", "timestamp": 0}
    msg = Message(header=Header(msg_id="", timestamp=5))
    assert json.loads(encode_message(msg))["header"] == {"msg_id": "", "timestamp": 5}
    full = Message(
        header=Header(
            msg_id="a",
            parent_msg_id="p",
            timestamp=1,
            resource_version="7",
            sync=True,
            msg_type="channel",
        ),
        route=Route(source="s", destination="d", group="g", operation="o", resource="r"),
        content={"k": 1},
    )
    assert encode_message(full) == (
        b'{"header":{"msg_id":"a","parent_msg_id":"p","timestamp":1,"resourceversion":"7",'
        b'"sync":true,"type":"channel"},"route":{"source":"s","destination":"d","group":"g",'
        b'"operation":"o","resource":"r"},"content":{"k":1}}'
    )
    # The slow path (empty msg_id) keeps the same key order.
    full.header.msg_id = ""
    assert encode_message(full).startswith(b'{"header":{"msg_id":"","parent_msg_id":"p",')


def test_bytes_content_is_base64_like_go_byte_slices() -> None:
    msg = new_message(timestamp=1).fill_body(b'{"event_type":"connected"}')
    wire = json.loads(encode_message(msg))
    assert wire["content"] == base64.b64encode(b'{"event_type":"connected"}').decode()
    # A Go receiver decoding into interface{} gets the base64 text; so do we.
    assert decode_message(encode_message(msg)).content == wire["content"]


def test_decode_accepts_str_trailing_newline_and_unknown_keys() -> None:
    frame = golden("keepalive.json")
    assert decode_message(frame.decode() + "\n") == decode_message(frame)
    extra = (
        b'{"header":{"msg_id":"a","timestamp":1,"future":1},"route":{"x":"y"},"content":1,"z":2}'
    )
    msg = decode_message(extra)
    assert msg.header.msg_id == "a" and msg.content == 1


def test_missing_keys_decode_as_empty_like_go() -> None:
    msg = decode_message(b"{}")
    assert msg == Message()
    msg = decode_message(b'{"header":{"msg_id":"a"}}')
    assert msg.header.timestamp == 0 and msg.route == Route() and msg.content is None


@pytest.mark.parametrize(
    ("frame", "field", "reason"),
    [
        (b'{"header":{"msg_id":1}}', "header.msg_id", "expected str, got int"),
        (b'{"header":{"timestamp":"1718000000000"}}', "header.timestamp", "expected int"),
        (b'{"header":{"timestamp":1.5}}', "header.timestamp", "expected int"),
        (b'{"header":{"timestamp":9223372036854775808}}', "header.timestamp", "<="),
        (b'{"header":{"sync":"true"}}', "header.sync", "expected bool"),
        (b'{"header":{"resourceversion":42}}', "header.resourceversion", "expected str"),
        (b'{"route":{"resource":["a"]}}', "route.resource", "expected str, got array"),
        (b'{"route":"node"}', "route", "expected object"),
        (b"[1,2]", "", "expected object, got array"),
        (b'"hello"', "", "expected object"),
        (b'{"header":', "", "malformed JSON"),
        (b"", "", "malformed JSON"),
        (b"\xff\xfe", "", "malformed JSON"),
    ],
)
def test_bad_frames_name_the_field(frame: bytes, field: str, reason: str) -> None:
    with pytest.raises(MessageDecodeError) as info:
        decode_message(frame)
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value).startswith("invalid message: ")
    if field:
        assert f"{field}: " in str(info.value)


def test_decode_refuses_non_text_input_with_a_decode_error() -> None:
    with pytest.raises(MessageDecodeError, match="expected bytes or str, got dict"):
        decode_message({"header": {}})  # type: ignore[arg-type]


def test_deeply_nested_content_is_a_decode_error_not_a_crash() -> None:
    frame = b'{"content":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    try:
        msg = decode_message(frame)
    except MessageDecodeError as exc:
        assert exc.field in ("", "content")
    else:
        assert isinstance(msg.content, list)


def test_unencodable_content_is_an_encode_error() -> None:
    msg = new_message(timestamp=1).fill_body({"when": object()})
    with pytest.raises(MessageEncodeError) as info:
        encode_message(msg)
    assert info.value.msg_id == msg.msg_id
    assert info.value.field == "content"


def test_builtins_round_trip_matches_the_wire() -> None:
    msg = decode_message(golden("lease_update_sync_upstream.json"))
    as_dict = message_to_builtins(msg)
    assert as_dict == json.loads(golden("lease_update_sync_upstream.json"))
    assert message_from_builtins(as_dict) == msg
    with pytest.raises(MessageDecodeError) as info:
        message_from_builtins({"header": {"sync": 1}})
    assert info.value.field == "header.sync"


# --- properties ----------------------------------------------------------------------

_text = st.text(max_size=20)
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_json = st.recursive(
    st.none() | st.booleans() | _int64 | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=12,
)
messages = st.builds(
    Message,
    header=st.builds(
        Header,
        msg_id=_text,
        parent_msg_id=_text,
        timestamp=_int64,
        resource_version=_text,
        sync=st.booleans(),
        msg_type=_text,
    ),
    route=st.builds(
        Route,
        source=_text,
        destination=_text,
        group=_text,
        operation=_text,
        resource=_text,
    ),
    content=_json,
)


@given(messages)
def test_round_trip(msg: Message) -> None:
    assert decode_message(encode_message(msg)) == msg


@given(messages)
def test_wire_keys_follow_go_omitempty(msg: Message) -> None:
    wire: dict[str, Any] = json.loads(encode_message(msg))
    assert list(wire) == ["header", "route", "content"]
    header = msg.header
    expected_header = {
        "msg_id": header.msg_id,
        "parent_msg_id": header.parent_msg_id,
        "timestamp": header.timestamp,
        "resourceversion": header.resource_version,
        "sync": header.sync,
        "type": header.msg_type,
    }
    always = {"msg_id", "timestamp"}
    assert wire["header"] == {k: v for k, v in expected_header.items() if k in always or v}
    assert list(wire["header"]) == [k for k in expected_header if k in wire["header"]]
    route = {
        k: getattr(msg.route, k)
        for k in ("source", "destination", "group", "operation", "resource")
    }
    assert wire["route"] == {k: v for k, v in route.items() if v}


@given(st.binary(max_size=200) | _json.map(lambda v: json.dumps(v).encode()))
def test_any_input_decodes_or_raises_a_decode_error(frame: bytes) -> None:
    try:
        msg = decode_message(frame)
    except MessageDecodeError:
        return
    assert isinstance(msg, Message)


@given(
    st.dictionaries(
        st.sampled_from(["header", "route", "content", "other"]),
        st.dictionaries(
            st.sampled_from(
                [
                    "msg_id",
                    "parent_msg_id",
                    "timestamp",
                    "sync",
                    "resourceversion",
                    "type",
                    "source",
                    "group",
                    "resource",
                ]
            ),
            _json,
            max_size=4,
        )
        | _json,
    )
)
def test_wrong_typed_fields_decode_or_raise_a_decode_error(frame: dict[str, Any]) -> None:
    try:
        msg = decode_message(json.dumps(frame))
    except MessageDecodeError as exc:
        assert exc.field.split(".")[0] in ("", "header", "route")
        return
    assert isinstance(msg, Message)
