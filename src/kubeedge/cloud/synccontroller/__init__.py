"""Reliable sync: ObjectSync/ClusterObjectSync bookkeeping and repair (specs/kubeedge.md
§3). `SyncController` is the cloudcore module; `protocol` describes the bus messages it
exchanges with CloudHub; `crds.install` puts the reliablesyncs CRDs in place."""

from .controller import PassReport, SyncController
from .crds import CLUSTER_OBJECT_SYNCS, OBJECT_SYNCS, install
from .protocol import Ack, ack_report, parse_ack_report

__all__ = [
    "CLUSTER_OBJECT_SYNCS",
    "OBJECT_SYNCS",
    "Ack",
    "PassReport",
    "SyncController",
    "ack_report",
    "install",
    "parse_ack_report",
]
