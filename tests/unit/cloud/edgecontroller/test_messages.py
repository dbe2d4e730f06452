"""The messages EdgeController sends: resource strings, headers, reply shapes
(specs/kubeedge.md §2; KubeEdge's ObjectResp)."""

from __future__ import annotations

import pytest

from kubeedge.cloud.edgecontroller.messages import (
    error_reply,
    forbidden_status,
    object_message,
    object_response,
    ok_reply,
    value_reply,
)
from kubeedge.messaging.codec import decode_message, encode_message
from kubeedge.messaging.message import build_message
from kubeedge.messaging.resource import ResourceError


def _request() -> object:
    return build_message("resource", "", "edged", "node/a/ns/secret/s", "query")


def test_object_message_resource_string_version_and_content() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "cfg", "namespace": "ns", "resourceVersion": "42"}}
    msg = object_message("edge-a", "configmap", cm, "insert")
    assert msg.route.resource == "node/edge-a/ns/configmap/cfg"
    assert (msg.route.source, msg.route.group, msg.route.operation) == (
        "edgecontroller", "resource", "insert")
    assert msg.header.resource_version == "42"
    assert msg.content is cm
    node = {"metadata": {"name": "edge-a", "resourceVersion": "7"}}
    assert object_message("edge-a", "node", node, "update").route.resource == \
        "node/edge-a/null/node/edge-a"
    with pytest.raises(ResourceError):
        object_message("edge/a", "pod", cm, "insert")


def test_replies_point_at_the_request() -> None:
    req = _request()
    ok = ok_reply(req, resource_version="9")
    assert ok.header.parent_msg_id == req.header.msg_id
    assert (ok.route.operation, ok.content, ok.header.resource_version) == ("response", "OK", "9")
    value = value_reply(req, {"metadata": {"name": "s", "resourceVersion": "3"}})
    assert value.route.resource == "node/a/ns/secret/s"
    assert value.header.resource_version == "3"
    err = error_reply(req, "nope")
    assert (err.route.operation, err.content, err.header.parent_msg_id) == (
        "error", "nope", req.header.msg_id)


def test_object_response_is_kubeedges_object_resp() -> None:
    req = _request()
    good = decode_message(encode_message(object_response(
        req, {"metadata": {"name": "a", "resourceVersion": "5"}}, None)))
    assert good.content == {"Object": {"metadata": {"name": "a", "resourceVersion": "5"}},
                            "Err": None}
    bad = decode_message(encode_message(object_response(req, None, forbidden_status("no"))))
    assert bad.content["Object"] is None
    assert bad.content["Err"]["ErrStatus"]["code"] == 403
    assert bad.content["Err"]["ErrStatus"]["reason"] == "Forbidden"
    assert bad.content["Err"]["ErrStatus"]["message"] == "no"
