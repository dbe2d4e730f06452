"""CloudHub: the cloud end of the cloud-edge channel (specs/kubeedge.md §3).

`CloudHub` (server.py) serves edges on :10000 over WebSocket + mutual TLS and moves
messages between them and the cloud modules on the ModuleBus; `session.py` holds one
session per node with its ACKs, resends and keepalive; `pool.py` the per-node queues;
`protocol.py` the names, close codes and bus message shapes other modules rely on (read
its docstring for the connect events and the ACK reports SyncController consumes).
Never imported by the edge (ARCHITECTURE.md rule 9).
"""

from kubeedge.cloud.hub.protocol import (
    CLOSE_KEEPALIVE_TIMEOUT,
    CLOSE_NODE_DELETED,
    CLOSE_REPLACED,
    CLOSE_SHUTDOWN,
    CLOSE_WRITE_FAILED,
    DEFAULT_PROJECT_ID,
    HEADER_NODE_ID,
    HEADER_PROJECT_ID,
    OP_OBJECT_ACKED,
    OP_OBJECT_DROPPED,
    ObjectAck,
)
from kubeedge.cloud.hub.server import CloudHub, limit_tls_read_buffer
from kubeedge.cloud.hub.session import HubMetrics, HubTimings

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
    "CloudHub",
    "HubMetrics",
    "HubTimings",
    "ObjectAck",
    "limit_tls_read_buffer",
]
