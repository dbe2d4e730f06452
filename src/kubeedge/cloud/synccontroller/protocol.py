"""What SyncController hears on the module bus, and what it says (specs/kubeedge.md §2, §3).

Owns the two messages CloudHub sends to module `synccontroller` and the two this module
sends to `cloudhub`. In KubeEdge, CloudHub writes ObjectSync itself on every ACK; here it
only reports the ACK and SyncController writes the newest acknowledged version per object
coalesced (`objectSyncFlushInterval`), so ACK traffic never becomes API write traffic.
Must never do I/O: it builds and reads `Message`s.

1. ACK report, CloudHub → `synccontroller` (one per acknowledged message of group
   `resource` taken off a node's ack queue; build it with `ack_report`):
   - header.msg_id: new; header.parent_msg_id: the acknowledged message's msg_id;
     header.resourceversion: the acknowledged message's resourceversion (may be empty
     for a delete);
   - route.source `cloudhub`, route.destination `synccontroller`, route.group
     `resource`, route.operation: the acknowledged operation (`insert`, `update`,
     `patch`, `delete`, `response`...), route.resource: the cloud-internal form
     `node/<node>/<namespace>/<type>/<name>` (namespace `null` when cluster-scoped);
   - content: the acknowledged message's content, the object sent (shared, not
     copied). It must carry `metadata.uid`; `apiVersion` and `kind` name the
     ObjectSync's spec when it has to be created (known types fall back to a table).
   Operation `delete` means the edge removed the object: its (Cluster)ObjectSync is
   deleted at the next flush (KubeEdge's deleteSuccessPoint). Any other operation records
   header.resourceversion as the node's acknowledged version of that object.
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
    "REPAIR_SOURCE",
    "SYNC_MODULE",
    "Ack",
    "ack_report",
    "connected_node",
    "delete_message",
    "parse_ack_report",
    "update_message",
]

SYNC_MODULE = MODULE_SYNCCONTROLLER  # where CloudHub sends ACK reports and connect events
DOWNSTREAM_MODULE = MODULE_CLOUDHUB  # where repairs go, as KubeEdge's sync loop sends them
ACK_SOURCE = MODULE_CLOUDHUB  # route.source of ACK reports and connect events
REPAIR_SOURCE = MODULE_EDGECONTROLLER  # route.source of repairs, as in KubeEdge
CONNECT_OPERATIONS = (OP_CONNECTED, OP_DISCONNECTED)


@dataclass(frozen=True, slots=True)
class Ack:
    """Node `node` holds object `uid` at `resource_version` (or deleted it).

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


def ack_report(acked: Message, node: str = "") -> Message:
    """The ACK report CloudHub sends to `synccontroller` when the edge acknowledged
    `acked` (a message of group `resource` from the node's ack queue).

    `acked.route.resource` may be in the cloud-internal form (then `node` may be empty)
    or already stripped to the edge form (then `node` is required).
    """
    resource = acked.route.resource
    if not resource.startswith(RESOURCE_NODE + SEP) or resource.count(SEP) < 4:
        if not node:
            raise ResourceError(resource, "an edge-form resource needs the node it came from")
        resource = f"{RESOURCE_NODE}{SEP}{node}{SEP}{resource}"
    report = new_message(acked.header.msg_id)
    report.header.resource_version = acked.header.resource_version
    report.build_router(ACK_SOURCE, GROUP_RESOURCE, resource, acked.route.operation)
    report.set_destination(SYNC_MODULE)
    report.content = acked.content
    return report


def parse_ack_report(msg: Message) -> Ack | None:
    """The ACK a report carries, or None when `msg` is not an ACK report or names no
    object this module can record (no uid, no resourceVersion on a non-delete)."""
    route = msg.route
    if route.source != ACK_SOURCE or route.operation in CONNECT_OPERATIONS:
        return None
    if not msg.header.parent_msg_id:
        return None
    try:
        node, key = parse_node_resource(route.resource)
    except ResourceError:
        return None
    if not key.name:
        return None
    content = msg.content if isinstance(msg.content, dict) else {}
    metadata = content.get("metadata") if isinstance(content.get("metadata"), dict) else {}
    uid = str(metadata.get("uid") or "")
    if not uid:
        return None
    deleted = route.operation == OP_DELETE
    rv = msg.header.resource_version or str(metadata.get("resourceVersion") or "")
    if not deleted and not rv:
        return None
    api_version = str(content.get("apiVersion") or "")
    kind = str(content.get("kind") or "")
    if not kind:
        known = api_version_of_type(key.resource_type)
        if known is not None:
            api_version, kind = known
    namespace = None if key.namespace == NULL_NAMESPACE else key.namespace
    return Ack(node=node, namespace=namespace, resource_type=key.resource_type,
               name=key.name, uid=uid, resource_version=rv, deleted=deleted,
               api_version=api_version, kind=kind)


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
