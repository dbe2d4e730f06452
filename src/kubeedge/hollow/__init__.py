"""Hollow nodes: fake kubelets for tests and benchmarks (KubeEdge's edgemark, kwok).

`HollowCluster` registers N Nodes and plays kubelet for the pods bound to them through
the API, as each node's own identity; `python -m kubeedge.hollow` wraps it. Modules:
`node` (Node, status and Lease objects), `pod` (pod statuses, scripted exits, pod IPs),
`identity` (node clients: certificates or impersonation), `cluster` (the running fleet).
Imports `client/` only (plus the CA code, lazily, in certificate mode).
"""

from __future__ import annotations

from kubeedge.hollow.cluster import HollowCluster, HollowNode, HollowTimings, PodWorker
from kubeedge.hollow.identity import AuthMode, ClusterCredentials
from kubeedge.hollow.node import NodeProfile, parse_label, parse_taint
from kubeedge.hollow.pod import EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION

__all__ = [
    "EXIT_CODE_ANNOTATION",
    "RUN_SECONDS_ANNOTATION",
    "AuthMode",
    "ClusterCredentials",
    "HollowCluster",
    "HollowNode",
    "HollowTimings",
    "NodeProfile",
    "PodWorker",
    "parse_label",
    "parse_taint",
]
