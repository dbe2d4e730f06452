"""The cloud-edge Message: beehive's `model.Message` and the names it carries.

Owns the one message shape both cloudcore and edgecore modules pass around (ARCHITECTURE.md
rule 3) and the constants that fill its route: operations, groups, module names and
sources, as KubeEdge spells them (specs/kubeedge.md §1, §2, §6). Must never import
anything of ours, nor do I/O: the codec turns it into bytes, the bus moves it.

The field set and JSON names follow beehive's `model.Message` (spec §2):

    Message{header, route, content}
    header: msg_id, parent_msg_id, timestamp, resourceversion, sync, type
    route:  source, destination, group, operation, resource

Python attribute names say what each field is (`resource_version`, `msg_type`); the wire
names are the renames on the structs.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

import msgspec

# --- operations (spec §2 "Operations") -------------------------------------------------

# beehive model operations
OP_INSERT = "insert"
OP_DELETE = "delete"
OP_QUERY = "query"
OP_UPDATE = "update"
OP_PATCH = "patch"
OP_UPLOAD = "upload"
OP_RESPONSE = "response"
OP_ERROR = "error"
OP_UNHOLD_UPGRADE = "unhold-upgrade"

# edge-side operations (edge/pkg/common/message)
OP_KEEPALIVE = "keepalive"
OP_CONNECT = "connect"
OP_SUBSCRIBE = "subscribe"
OP_UNSUBSCRIBE = "unsubscribe"
OP_MESSAGE = "message"
OP_PUBLISH = "publish"
OP_GET_RESULT = "get_result"
OP_START = "start"
OP_STOP = "stop"

# CloudHub and DeviceTwin operations (cloudhub/common/model)
OP_GET = "get"
OP_LIST = "list"
OP_DETAIL = "detail"
OP_DELTA = "delta"
OP_DOCUMENT = "document"
OP_UPDATED = "updated"
OP_DELETED = "deleted"
OP_CONNECTED = "connected"
OP_DISCONNECTED = "disconnected"

# CSI operations (common/constants)
OP_CREATE_VOLUME = "createvolume"
OP_DELETE_VOLUME = "deletevolume"
OP_CONTROLLER_PUBLISH_VOLUME = "controllerpublishvolume"
OP_CONTROLLER_UNPUBLISH_VOLUME = "controllerunpublishvolume"

# --- groups (spec §2 "Groups", §6 module table) -----------------------------------------

# groups of cloud messages, which decide where the edge dispatches them (spec §2)
GROUP_RESOURCE = "resource"
GROUP_FUNC = "func"
GROUP_USER = "user"
# edgecore beehive groups (edge/pkg/common/modules/group.go)
GROUP_BUS = "bus"
GROUP_HUB = "hub"
GROUP_TWIN = "twin"
GROUP_META = "meta"
GROUP_EDGED = "edged"
GROUP_EDGESTREAM = "edgestream"
GROUP_TASKMANAGER = "taskmanager"

# --- module names -----------------------------------------------------------------------

# edgecore (edge/pkg/common/modules/names.go). EdgeHub really is called "websocket", and
# DeviceTwin "twin", whatever the transport (spec §1).
MODULE_EDGEHUB = "websocket"
MODULE_METAMANAGER = "metamanager"
MODULE_EDGED = "edged"
MODULE_EVENTBUS = "eventbus"
MODULE_SERVICEBUS = "servicebus"
MODULE_DEVICETWIN = "twin"
MODULE_EDGESTREAM = "edgestream"
MODULE_TASKMANAGER = "taskmanager"

# cloudcore (cloud/pkg/common/modules); each module's group is its own name.
MODULE_CLOUDHUB = "cloudhub"
MODULE_EDGECONTROLLER = "edgecontroller"
MODULE_DEVICECONTROLLER = "devicecontroller"
MODULE_SYNCCONTROLLER = "synccontroller"
MODULE_CLOUDSTREAM = "cloudStream"  # sic: KubeEdge's spelling
MODULE_ROUTER = "router"
MODULE_DYNAMICCONTROLLER = "dynamiccontroller"
MODULE_POLICYCONTROLLER = "policycontroller"
MODULE_NODEUPGRADEJOBCONTROLLER = "nodeupgradejobcontroller"

# The beehive group of each edgecore module (spec §1 EdgeCore table).
EDGE_MODULE_GROUPS: dict[str, str] = {
    MODULE_EDGEHUB: GROUP_HUB,
    MODULE_METAMANAGER: GROUP_META,
    MODULE_EDGED: GROUP_EDGED,
    MODULE_EVENTBUS: GROUP_BUS,
    MODULE_SERVICEBUS: GROUP_USER,
    MODULE_DEVICETWIN: GROUP_TWIN,
    MODULE_EDGESTREAM: GROUP_EDGESTREAM,
    MODULE_TASKMANAGER: GROUP_TASKMANAGER,
}

# --- sources and fixed contents -----------------------------------------------------------

SOURCE_EDGEHUB = "edgehub"  # source of the connection events EdgeHub broadcasts (spec §3)
SOURCE_EDGE_MANAGER = "edgemgr"
SOURCE_ROUTER_EVENTBUS = "router_eventbus"  # user-group messages for EventBus (spec §2)
SOURCE_ROUTER_SERVICEBUS = "router_servicebus"  # user-group messages for ServiceBus

# The reply content that acknowledges a message (spec §3 "ACK", §6 MetaManager).
MESSAGE_OK = "OK"
# Contents of EdgeHub's connection event on resource `node/connection`, op `connect`.
CLOUD_CONNECTED = "cloud_connected"
CLOUD_DISCONNECTED = "cloud_disconnected"
# The groups that event goes to (spec §3 "Reconnect").
CONNECT_EVENT_GROUPS: tuple[str, ...] = (GROUP_TWIN, GROUP_META, GROUP_BUS, GROUP_TASKMANAGER)

# beehive's context types, carried in header.type (empty means "channel").
MSG_TYPE_CHANNEL = "channel"
MSG_TYPE_UNIXPACKET = "unixpacket"

# Go's int64, which is what header.timestamp is on the wire.
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


def now_ms() -> int:
    """Unix time in milliseconds, as beehive stamps `header.timestamp` (spec §2)."""
    return time.time_ns() // 1_000_000


def new_uuid4() -> str:
    """A random RFC 4122 version-4 UUID string, the form beehive uses for `msg_id`.

    Built from os.urandom directly: importing `uuid` costs the edge more than this does.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Header(
    msgspec.Struct,
    kw_only=True,
    omit_defaults=True,
    gc=False,
    rename={"resource_version": "resourceversion", "msg_type": "type"},
):
    """beehive's MessageHeader. Empty optional fields are left out like Go's omitempty.

    `msg_id` and `timestamp` have no omitempty in Go, so the codec writes them even when
    empty or zero.
    """

    msg_id: str = ""
    parent_msg_id: str = ""
    timestamp: _Int64 = 0
    resource_version: str = ""
    sync: bool = False
    msg_type: str = ""


class Route(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """beehive's MessageRoute; every field is omitempty on the wire."""

    source: str = ""
    destination: str = ""
    group: str = ""
    operation: str = ""
    resource: str = ""


class Message(msgspec.Struct, kw_only=True):
    """One beehive message: header, route and any JSON content.

    `content` is whatever JSON value the message carries: a dict (a Kubernetes object),
    a str (`"OK"`), a list (MetaManager query replies), or bytes, which go on the wire
    base64-encoded as Go marshals a `[]byte` (and so arrive as a str). On the wire the
    key `route` is always present (Go's omitempty does not drop a struct) and `content`
    is `null` when empty.

    The builder methods return the message itself so calls chain as in KubeEdge:
    `new_message().build_router(...).fill_body(...)`.
    """

    header: Header = msgspec.field(default_factory=Header)
    route: Route = msgspec.field(default_factory=Route)
    content: Any = None

    # -- builders (beehive's BuildRouter, SetRoute, FillBody ...) --

    def build_router(self, source: str, group: str, resource: str, operation: str) -> Message:
        self.route.source = source
        self.route.group = group
        self.route.resource = resource
        self.route.operation = operation
        return self

    def set_route(self, source: str, group: str) -> Message:
        self.route.source = source
        self.route.group = group
        return self

    def set_resource_operation(self, resource: str, operation: str) -> Message:
        self.route.resource = resource
        self.route.operation = operation
        return self

    def set_destination(self, destination: str) -> Message:
        self.route.destination = destination
        return self

    def set_resource_version(self, resource_version: str) -> Message:
        self.header.resource_version = resource_version
        return self

    def set_type(self, msg_type: str) -> Message:
        self.header.msg_type = msg_type
        return self

    def build_header(self, msg_id: str, parent_msg_id: str, timestamp: int) -> Message:
        self.header.msg_id = msg_id
        self.header.parent_msg_id = parent_msg_id
        self.header.timestamp = timestamp
        return self

    def fill_body(self, content: Any) -> Message:
        self.content = content
        return self

    def update_id(self) -> Message:
        self.header.msg_id = new_uuid4()
        return self

    # -- readers --

    @property
    def msg_id(self) -> str:
        return self.header.msg_id

    @property
    def parent_msg_id(self) -> str:
        return self.header.parent_msg_id

    @property
    def resource(self) -> str:
        return self.route.resource

    @property
    def operation(self) -> str:
        return self.route.operation

    @property
    def source(self) -> str:
        return self.route.source

    @property
    def group(self) -> str:
        return self.route.group

    @property
    def destination(self) -> str:
        return self.route.destination

    @property
    def is_sync(self) -> bool:
        return self.header.sync

    @property
    def is_response(self) -> bool:
        """True for a reply to another message (beehive routes these by parent id)."""
        return self.header.parent_msg_id != ""

    def content_data(self) -> bytes:
        """The content as bytes, as beehive's GetContentData gives it.

        bytes stay as they are, a str is its UTF-8 text, and anything else is its
        compact JSON (what MetaManager stores as a `meta` row's value, spec §6).
        """
        content = self.content
        if isinstance(content, bytes | bytearray | memoryview):
            return bytes(content)
        if isinstance(content, str):
            return content.encode()
        try:
            return msgspec.json.encode(content)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"message {self.header.msg_id}: content: {exc}") from exc

    def copy(self) -> Message:
        """A copy with its own header and route; the content object is shared.

        That is what passing a Go `model.Message` by value does, so a module that edits
        the route of a message it received does not change another module's copy.
        """
        return Message(
            header=msgspec.structs.replace(self.header),
            route=msgspec.structs.replace(self.route),
            content=self.content,
        )

    def clone(self) -> Message:
        """beehive's Clone: a new msg_id; parent id, timestamp, source, group, resource,
        operation and content copied. Destination, resource version, sync and type are
        not, as in KubeEdge."""
        return Message(
            header=Header(
                msg_id=new_uuid4(),
                parent_msg_id=self.header.parent_msg_id,
                timestamp=self.header.timestamp,
            ),
            route=Route(
                source=self.route.source,
                group=self.route.group,
                resource=self.route.resource,
                operation=self.route.operation,
            ),
            content=self.content,
        )

    def __str__(self) -> str:
        h, r = self.header, self.route
        return (
            f"MessageID: {h.msg_id} ParentID: {h.parent_msg_id} Group: {r.group} "
            f"Source: {r.source} Destination: {r.destination} Resource: {r.resource} "
            f"Operation: {r.operation}"
        )


def new_message(parent_msg_id: str = "", *, timestamp: int | None = None) -> Message:
    """beehive's NewMessage: a fresh UUIDv4 msg_id and the time now in ms (spec §2).

    `timestamp` pins the time (tests, or replaying a recorded message).
    """
    return Message(
        header=Header(
            msg_id=new_uuid4(),
            parent_msg_id=parent_msg_id,
            timestamp=now_ms() if timestamp is None else timestamp,
        )
    )


def build_message(
    group: str,
    parent_msg_id: str,
    source: str,
    resource: str,
    operation: str,
    content: Any = None,
) -> Message:
    """The edge's BuildMsg: a new message with its route and content in one call."""
    return (
        new_message(parent_msg_id)
        .build_router(source, group, resource, operation)
        .fill_body(content)
    )


def new_respond_message(request: Message, content: Any) -> Message:
    """beehive's NewRespByMessage: the reply that answers `request` (spec §2).

    A new msg_id with `parent_msg_id` = the request's id; source and group are copied
    from the request, not swapped; same resource; operation `response`; the request's
    header type is kept.
    """
    reply = new_message(request.header.msg_id)
    reply.route.source = request.route.source
    reply.route.group = request.route.group
    reply.route.resource = request.route.resource
    reply.route.operation = OP_RESPONSE
    reply.header.msg_type = request.header.msg_type
    reply.content = content
    return reply


def new_error_message(request: Message, error: str) -> Message:
    """beehive's NewErrorMessage: operation `error` on the request's resource.

    As in KubeEdge only the resource and operation are set in the route (no source or
    group); the content is the error text.
    """
    reply = new_message(request.header.msg_id)
    reply.route.resource = request.route.resource
    reply.route.operation = OP_ERROR
    reply.content = error
    return reply
