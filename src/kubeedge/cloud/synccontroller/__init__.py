"""Reliable sync: ObjectSync/ClusterObjectSync bookkeeping and repair (specs/kubeedge.md
§3). `SyncController` is the cloudcore module; `protocol` describes the bus messages it
exchanges with CloudHub; `crds.install` puts the reliablesyncs CRDs in place."""

from .controller import PassReport, SyncController
from .crds import CLUSTER_OBJECT_SYNCS, OBJECT_SYNCS, install
from .protocol import (
    OP_OBJECT_ACKED,
    OP_OBJECT_DROPPED,
    Ack,
    ObjectAck,
    object_report,
    parse_object_report,
)

__all__ = [
    "CLUSTER_OBJECT_SYNCS",
    "OBJECT_SYNCS",
    "OP_OBJECT_ACKED",
    "OP_OBJECT_DROPPED",
    "Ack",
    "ObjectAck",
    "PassReport",
    "SyncController",
    "install",
    "object_report",
    "parse_object_report",
]
