"""EdgeHub: the edge's connection to CloudHub (specs/kubeedge.md §3, §4, §6).

`EdgeHub(config, bus, store, root)` with `start()`/`stop()`; see `hub.py` for what it
owns. Light on purpose (ARCHITECTURE.md rule 9): importing this package loads neither
`websockets` (loaded on the first dial) nor `cryptography` (loaded only to bootstrap or
rotate the certificate).
"""

from kubeedge.edge.hub.certificates import CertificateManager, RotationBackoff
from kubeedge.edge.hub.hub import EdgeHub, EdgeStore, HubSettings, keepalive_message
from kubeedge.edge.hub.transport import (
    Connection,
    ConnectionLost,
    DialError,
    DialSettings,
    Transport,
    WebSocketTransport,
)

__all__ = [
    "CertificateManager",
    "Connection",
    "ConnectionLost",
    "DialError",
    "DialSettings",
    "EdgeHub",
    "EdgeStore",
    "HubSettings",
    "RotationBackoff",
    "Transport",
    "WebSocketTransport",
    "keepalive_message",
]
