"""What SyncController hears on the module bus, and what it says (specs/kubeedge.md §2, §3).

Owns the messages CloudHub sends to group `synccontroller` and the two this module sends
to `cloudhub`. This is the one definition of the ACK/drop report: CloudHub builds it with
`object_report`, SyncController reads it with `parse_object_report`, and neither defines
its own. In KubeEdge, CloudHub writes ObjectSync itself on every ACK (saveSuccessPoint);
here it only reports the ACK and SyncController writes the newest acknowledged version
per object coalesced (`objectSyncFlushInterval`), so ACK traffic never becomes API write
traffic. Must never do I/O or import from `cloud/hub` (the hub imports this module).

1. Object reports, CloudHub → group `synccontroller` (build with `object_report`):
   - route.source `cloudhub`, route.group `resource`, route.destination
     `synccontroller`, route.operation `acked` (`OP_OBJECT_ACKED`: the edge answered the
     message) or `dropped` (`OP_OBJECT_DROPPED`: the message needed an ACK but the node's
     ack queue was full, so it never went out), route.resource the cloud-internal
     resource `node/<node>/<namespace>/<type>/<name>` (namespace `null` when
     cluster-scoped), header.resourceversion the message's resourceversion;
   - content: `ObjectAck` as a dict (camelCase keys): node, namespace, resourceType,
     name, uid, resourceVersion, operation (the reported message's: `insert`, `update`,
     `patch`, `delete`, `response`...), apiVersion and kind (from the object, else from
     the resource type for the few types the cloud sends), msgId, latency (seconds from
     the first write to the ACK).
   Only messages of group `resource` whose object carries `metadata.uid` are reported,
   as KubeEdge's saveSuccessPoint records only those.
   An `acked` delete removes the (Cluster)ObjectSync at the next flush (KubeEdge's
   deleteSuccessPoint); any other `acked` operation records resourceVersion as the
   node's acknowledged version. A `dropped` non-delete creates the sync with
   `objectResourceVersion: "0"` if it does not exist (what KubeEdge's dispatcher does at
   enqueue), so the reconcile sends the object later; a `dropped` delete needs nothing
   (an existing sync already drives the delete).
2. Connect event, CloudHub → `synccontroller`: KubeEdge's internal connect message
   (spec §2): source `cloudhub`, group `resource`, resource `node/<node>`, operation
   `connected` (or `disconnected`), content `{"event_type", "timestamp", "client_id"}`
   (a dict, or its JSON as str/bytes). `connected` reconciles that node's syncs at once.
3. Update / delete, `synccontroller` → `cloudhub` (SyncController's repairs, built as
   KubeEdge's buildEdgeControllerMessage): source `edgecontroller`, group `resource`,
   resource `node/<node>/<namespace>/<type>/<name>`, operation `update` with the live
   object as content and header.resourceversion its resourceVersion, or operation
   `delete` with content `{"metadata": {"name", "namespace", "uid"}}` (no namespace when
   cluster-scoped) and no resourceversion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec

from kubeedge.messaging.message import (
    GROUP_RESOURCE,
    MODULE_CLOUDHUB,
    MODULE_EDGECONTROLLER,
    MODULE_SYNCCONTROLLER,
    OP_CONNECTED,
    OP_DELETE,
    OP_DISCONNECTED,
    OP_UPDATE,
    Message,
    new_message,
)
from kubeedge.messaging.resource import (
    NULL_NAMESPACE,
    RESOURCE_NODE,
    SEP,
    ResourceError,
    build_resource,
    parse_node_resource,
)

from .objectsync import api_version_of_type

__all__ = [
    "ACK_SOURCE",
    "CONNECT_OPERATIONS",
    "DOWNSTREAM_MODULE",
    "OP_OBJECT_ACKED",
    "OP_OBJECT_DROPPED",
    "REPAIR_SOURCE",
    "SYNC_MODULE",
    "Ack",
    "ObjectAck",
    "connected_node",
    "delete_message",
    "object_report",
    "parse_object_report",
    "update_message",
]

SYNC_MODULE = MODULE_SYNCCONTROLLER  # where CloudHub sends reports and connect events
DOWNSTREAM_MODULE = MODULE_CLOUDHUB  # where repairs go, as KubeEdge's sync loop sends them
ACK_SOURCE = MODULE_CLOUDHUB  # route.source of reports and connect events
REPAIR_SOURCE = MODULE_EDGECONTROLLER  # route.source of repairs, as in KubeEdge
CONNECT_OPERATIONS = (OP_CONNECTED, OP_DISCONNECTED)

# Bus operations of the object reports (module docstring, item 1).
OP_OBJECT_ACKED = "acked"
OP_OBJECT_DROPPED = "dropped"
REPORT_OPERATIONS = (OP_OBJECT_ACKED, OP_OBJECT_DROPPED)


class ObjectAck(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """Content of an object report (module docstring, item 1). `namespace` is the
    message's: `null` for a cluster-scoped object."""

    node: str
    namespace: str
    resource_type: str
    name: str
    uid: str
    resource_version: str
    operation: str
    api_version: str = ""
    kind: str = ""
    msg_id: str = ""
    latency: float = 0.0


@dataclass(frozen=True, slots=True)
class Ack:
    """What a report means to SyncController: node `node` holds object `uid` at
    `resource_version` (or deleted it); `dropped` when the message never reached it.

    namespace is None for a cluster-scoped object (a ClusterObjectSync).
    """

    node: str
    namespace: str | None
    resource_type: str
    name: str
    uid: str
    resource_version: str
    deleted: bool = False
    api_version: str = ""
    kind: str = ""
    dropped: bool = False


def _object_meta(content: Any) -> dict[str, Any]:
    if isinstance(content, dict):
        metadata = content.get("metadata")
        if isinstance(metadata, dict):
            return metadata
    return {}


def object_report(report: str, node: str, msg: Message, latency: float = 0.0
                  ) -> Message | None:
    """The report (`OP_OBJECT_ACKED` or `OP_OBJECT_DROPPED`) about `msg`, a message
    CloudHub queued for `node`; None when it is not an object SyncController tracks
    (not group `resource`, no `metadata.uid`, or no object resource).

    `msg.route.resource` may be cloud-internal or already stripped to the edge form.
    """
    if report not in REPORT_OPERATIONS:
        raise ValueError(f"report operation {report!r} is not one of {REPORT_OPERATIONS}")
    if msg.route.group != GROUP_RESOURCE:
        return None
    metadata = _object_meta(msg.content)
    uid = metadata.get("uid")
    if not isinstance(uid, str) or not uid:
        return None
    resource = msg.route.resource
    if not resource.startswith(RESOURCE_NODE + SEP):
        resource = f"{RESOURCE_NODE}{SEP}{node}{SEP}{resource}"
    try:
        resource_node, key = parse_node_resource(resource)
    except ResourceError:
        return None
    if not key.name:
        return None
    content = msg.content if isinstance(msg.content, dict) else {}
    api_version = str(content.get("apiVersion") or "")
    kind = str(content.get("kind") or "")
    if not kind:
        known = api_version_of_type(key.resource_type)
        if known is not None:
            api_version, kind = known
    ack = ObjectAck(
        node=node or resource_node, namespace=key.namespace,
        resource_type=key.resource_type, name=key.name, uid=uid,
        resource_version=msg.header.resource_version, operation=msg.route.operation,
        api_version=api_version, kind=kind, msg_id=msg.header.msg_id,
        latency=round(latency, 6))
    out = new_message().build_router(ACK_SOURCE, GROUP_RESOURCE, resource, report)
    out.set_destination(SYNC_MODULE)
    out.set_resource_version(ack.resource_version)
    return out.fill_body(msgspec.to_builtins(ack))


def parse_object_report(msg: Message) -> Ack | None:
    """The ACK or drop a report carries, or None when `msg` is not a report or names no
    object this module can record (no uid, no resourceVersion on a non-delete)."""
    route = msg.route
    if route.source != ACK_SOURCE or route.operation not in REPORT_OPERATIONS:
        return None
    body: Any = msg.content
    if isinstance(body, bytes | bytearray | str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    try:
        report = msgspec.convert(body, ObjectAck)
    except msgspec.ValidationError:
        return None
    if not (report.node and report.uid and report.name and report.resource_type):
        return None
    deleted = report.operation == OP_DELETE
    if not deleted and not report.resource_version:
        return None
    namespace = None if report.namespace in ("", NULL_NAMESPACE) else report.namespace
    return Ack(node=report.node, namespace=namespace, resource_type=report.resource_type,
               name=report.name, uid=report.uid, resource_version=report.resource_version,
               deleted=deleted, api_version=report.api_version, kind=report.kind,
               dropped=route.operation == OP_OBJECT_DROPPED)


def connected_node(msg: Message) -> str | None:
    """The node of a `connected` event (spec §2), else None (`disconnected` included)."""
    route = msg.route
    if route.operation != OP_CONNECTED:
        return None
    parts = route.resource.split(SEP)
    if len(parts) == 2 and parts[0] == RESOURCE_NODE and parts[1]:
        return parts[1]
    body: Any = msg.content
    if isinstance(body, bytes | bytearray | str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if isinstance(body, dict) and body.get("client_id"):
        return str(body["client_id"])
    return None


def _namespace_segment(namespace: str | None) -> str:
    return namespace or NULL_NAMESPACE


def update_message(node: str, namespace: str | None, resource_type: str,
                   obj: dict[str, Any]) -> Message:
    """SyncController's update: the live object for a node that acknowledged an older
    version (spec §3 "SyncController")."""
    metadata = obj.get("metadata") or {}
    resource = build_resource(node, _namespace_segment(namespace), resource_type,
                              str(metadata.get("name", "")))
    msg = new_message().build_router(REPAIR_SOURCE, GROUP_RESOURCE, resource, OP_UPDATE)
    msg.set_resource_version(str(metadata.get("resourceVersion") or ""))
    return msg.fill_body(obj)


def delete_message(node: str, namespace: str | None, resource_type: str, name: str,
                   uid: str) -> Message:
    """SyncController's delete: an object the node holds is gone (or was replaced by one
    with another uid). The body is the bare object KubeEdge builds: name, namespace, uid."""
    resource = build_resource(node, _namespace_segment(namespace), resource_type, name)
    metadata: dict[str, Any] = {"name": name, "uid": uid}
    if namespace:
        metadata["namespace"] = namespace
    msg = new_message().build_router(REPAIR_SOURCE, GROUP_RESOURCE, resource, OP_DELETE)
    return msg.fill_body({"metadata": metadata})
