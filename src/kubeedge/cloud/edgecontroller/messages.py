"""The messages EdgeController sends: downstream object changes and upstream replies.

Owns the route, header and content of every message this module puts on the bus for
CloudHub, as KubeEdge's edgecontroller builds them (specs/kubeedge.md §2;
`cloud/pkg/edgecontroller/controller/{downstream,upstream}.go`):

- object changes: source `edgecontroller`, group `resource`, resource
  `node/<node>/<ns>/<type>/<name>` (cluster-scoped objects use namespace `null`),
  header `resourceversion` = the object's, content = the object itself with its
  apiVersion and kind (a delete carries the last state, so the edge can match the uid);
- replies to an edge's request: `parent_msg_id` = the request's msg_id, operation
  `response`, content `"OK"`, the object asked for, or KubeEdge's `ObjectResp`
  (`{"Object": ..., "Err": null | {"ErrStatus": <Status>}}`, what the edge's metaclient
  decodes for node, lease, nodepatch and podpatch writes);
- refusals and failures of requests whose KubeEdge reply is "OK" or an object: operation
  `error` (beehive's error reply, spec §2) with the error text as content, so an edge
  never caches an error as if it were the object it asked for.

Pure functions: no I/O, no bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge.messaging.message import (
    GROUP_RESOURCE,
    MESSAGE_OK,
    MODULE_EDGECONTROLLER,
    OP_DELETE,
    OP_ERROR,
    OP_RESPONSE,
    Message,
    new_message,
)
from kubeedge.messaging.resource import NULL_NAMESPACE, build_resource

__all__ = [
    "delete_stub",
    "error_reply",
    "forbidden_status",
    "is_delete",
    "object_message",
    "object_response",
    "ok_reply",
    "status_of",
    "value_reply",
]

Obj = Mapping[str, Any]


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def object_message(
    node: str, resource_type: str, obj: Obj, operation: str, *, namespace: str | None = None
) -> Message:
    """A downstream change of `obj` for `node` (spec §2 resource strings).

    `namespace` overrides the object's (KubeEdge writes `null` for Nodes).
    """
    meta = _meta(obj)
    ns = namespace if namespace is not None else str(meta.get("namespace") or NULL_NAMESPACE)
    resource = build_resource(node, ns, resource_type, str(meta.get("name") or ""))
    msg = new_message().build_router(MODULE_EDGECONTROLLER, GROUP_RESOURCE, resource, operation)
    msg.set_resource_version(str(meta.get("resourceVersion") or ""))
    return msg.fill_body(obj)


def delete_stub(obj: Obj, api_version: str, kind: str) -> dict[str, Any]:
    """The smallest body a delete needs at the edge: what it is, where, and its uid."""
    meta = _meta(obj)
    stub_meta = {k: meta[k] for k in ("name", "namespace", "uid") if meta.get(k)}
    return {"apiVersion": api_version, "kind": kind, "metadata": stub_meta}


def _reply(request: Message, resource: str, operation: str, content: Any) -> Message:
    msg = new_message(request.header.msg_id)
    msg.build_router(MODULE_EDGECONTROLLER, GROUP_RESOURCE, resource, operation)
    return msg.fill_body(content)


def ok_reply(request: Message, resource: str = "", resource_version: str = "") -> Message:
    """`response "OK"`: the request was carried out."""
    msg = _reply(request, resource or request.route.resource, OP_RESPONSE, MESSAGE_OK)
    return msg.set_resource_version(resource_version)


def value_reply(request: Message, obj: Obj, resource: str = "") -> Message:
    """`response` with the object asked for, stamped with its resourceVersion."""
    msg = _reply(request, resource or request.route.resource, OP_RESPONSE, obj)
    return msg.set_resource_version(str(_meta(obj).get("resourceVersion") or ""))


def object_response(
    request: Message, obj: Obj | None, error: Mapping[str, Any] | None
) -> Message:
    """KubeEdge's `ObjectResp` reply: the object written, or the Status that refused it."""
    content = {"Object": obj, "Err": None if error is None else {"ErrStatus": dict(error)}}
    msg = _reply(request, request.route.resource, OP_RESPONSE, content)
    if obj is not None:
        msg.set_resource_version(str(_meta(obj).get("resourceVersion") or ""))
    return msg


def error_reply(request: Message, text: str) -> Message:
    """Operation `error` on the request's resource, the reason as content."""
    return _reply(request, request.route.resource, OP_ERROR, text)


def status_of(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
              ) -> dict[str, Any]:
    """A metav1.Status, the body of `ErrStatus`."""
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        status["details"] = dict(details)
    return status


def forbidden_status(message: str) -> dict[str, Any]:
    return status_of(403, "Forbidden", message)


def is_delete(msg: Message) -> bool:
    return msg.route.operation == OP_DELETE
