"""What CloudHub says on the wire and on the module bus: names, close codes, event shapes.

Owns the constants other modules need to talk to CloudHub (specs/kubeedge.md §2-3): the
handshake headers, the bus module and groups it uses, the close codes it ends a session
with, the connect/disconnect event EdgeController and SyncController receive, and the
ACK and drop reports SyncController turns into ObjectSync writes (defined by
SyncController's protocol, re-exported). Must never do I/O.

Bus messages CloudHub sends (all with `route.source = "cloudhub"`):

1. Connection events, to every module of the `edgecontroller` and `synccontroller`
   groups (KubeEdge's `ConstructConnectMessage`, published to EdgeController's group):
   group `resource`, resource `node/<node>`, operation `connected` | `disconnected`,
   content `{"event_type": <operation>, "timestamp": <unix s>, "client_id": <node>,
   "session_id": <id>, "project_id": <project>, "reason": <why it ended, disconnect
   only>}`. `session_id` tells a replaced session's `disconnected` from the new one's
   `connected`: CloudHub always sends the old session's `disconnected` first.

2. ACK reports (`OP_OBJECT_ACKED`) and drop reports (`OP_OBJECT_DROPPED`), to the
   `synccontroller` group: one per acknowledged message of group `resource` whose object
   carries a `metadata.uid` (KubeEdge's `saveSuccessPoint`), and one per such message
   not queued because the node's ack store was full (`nodeMessageQueueSize`). Their
   shape, constants and builder are SyncController's (`kubeedge.cloud.synccontroller.
   protocol`, re-exported here): one definition both sides use.
"""

from __future__ import annotations

from typing import Any

from kubeedge.cloud.synccontroller.protocol import (
    OP_OBJECT_ACKED,
    OP_OBJECT_DROPPED,
    ObjectAck,
    object_report,
)
from kubeedge.messaging.message import (
    GROUP_RESOURCE,
    MODULE_CLOUDHUB,
    MODULE_DEVICECONTROLLER,
    MODULE_DYNAMICCONTROLLER,
    MODULE_EDGECONTROLLER,
    MODULE_SYNCCONTROLLER,
    OP_CONNECTED,
    OP_DISCONNECTED,
    Message,
    new_message,
)

__all__ = [
    "CLOSE_KEEPALIVE_TIMEOUT",
    "CLOSE_NODE_DELETED",
    "CLOSE_REPLACED",
    "CLOSE_SHUTDOWN",
    "CLOSE_WRITE_FAILED",
    "DEFAULT_PROJECT_ID",
    "HEADER_NODE_ID",
    "HEADER_PROJECT_ID",
    "OP_OBJECT_ACKED",
    "OP_OBJECT_DROPPED",
    "ObjectAck",
    "connect_event",
    "object_report",
]

# The bus module and group CloudHub registers (cloud/pkg/common/modules).
MODULE = MODULE_CLOUDHUB
GROUP = MODULE_CLOUDHUB
# Groups CloudHub publishes to (KubeEdge's dispatcher `Publish` and `PubToController`).
GROUP_EDGECONTROLLER = MODULE_EDGECONTROLLER
GROUP_SYNCCONTROLLER = MODULE_SYNCCONTROLLER
GROUP_DEVICECONTROLLER = MODULE_DEVICECONTROLLER
GROUP_DYNAMICCONTROLLER = MODULE_DYNAMICCONTROLLER
GROUP_TASKMANAGER = "taskmanager"
MODULE_ROUTER = "router"

# Handshake headers the edge sends (edgehub wsclient; spec §3 "Connection"). KubeEdge's
# EdgeHub sends exactly these two; the path `/<project>/<node>/events` is ignored.
HEADER_NODE_ID = "node_id"
HEADER_PROJECT_ID = "project_id"
DEFAULT_PROJECT_ID = "e632aba927ea4ac2b575ec1603d56f10"

# Upstream sources that name a cloud module (cloudhub/common/model `cloudModuleArray`):
# an edge message claiming one of them is dropped, as KubeEdge's `IsFromEdge` does.
CLOUD_MODULE_SOURCES = frozenset(
    {MODULE_CLOUDHUB, "cloudStream", MODULE_DEVICECONTROLLER, MODULE_EDGECONTROLLER,
     MODULE_SYNCCONTROLLER}
)
# Special upstream sources and operations KubeEdge routes elsewhere (dispatcher
# `DispatchUpstream`, `Publish`).
SOURCE_METASERVER = "metaserver"
SOURCE_TWIN = "twin"
TASK_OPERATIONS = frozenset({"prepull", "upgrade", "UpdateNodeActionStatus"})
OP_APPLICATION_RESPONSE = "applicationResponse"
SOURCE_TASKMANAGER = "taskmanager"
SOURCE_NODEUPGRADEJOBCONTROLLER = "nodeupgradejobcontroller"

# WebSocket close codes (private range 4000-4999) and reasons a session ends with. The
# edge reconnects after any of them (spec §3 "Reconnect").
CLOSE_SHUTDOWN = 1001  # going away: cloudcore stops
CLOSE_REPLACED = 4000  # a newer connection for the same node took over
CLOSE_KEEPALIVE_TIMEOUT = 4001  # nothing heard within keepaliveInterval
CLOSE_NODE_DELETED = 4002  # the Node object was deleted
CLOSE_WRITE_FAILED = 4003  # a write did not complete within writeTimeout

REASON_CLOSED_BY_EDGE = "connection closed by the edge"


def connect_event(node: str, connected: bool, *, session_id: str, project_id: str,
                  timestamp: int, reason: str = "") -> Message:
    """KubeEdge's `ConstructConnectMessage` (spec §2 "Internal connect event")."""
    operation = OP_CONNECTED if connected else OP_DISCONNECTED
    body: dict[str, Any] = {"event_type": operation, "timestamp": timestamp,
                            "client_id": node, "session_id": session_id,
                            "project_id": project_id}
    if reason:
        body["reason"] = reason
    return (new_message().build_router(MODULE, GROUP_RESOURCE, f"node/{node}", operation)
            .fill_body(body))
