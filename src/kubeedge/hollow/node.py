"""What a hollow node says about itself: its Node object, status and Lease.

Owns the pure builders of the objects a kubelet writes for its node (registration,
status heartbeats, the `kube-node-lease` Lease) and the parsing of the `--label` and
`--taint` forms kubectl uses. The fields and reasons are the kubelet's, so controllers
cannot tell a hollow node from a real one by its Node object. Must never do I/O or read
a clock: callers pass the time in.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeedge.api.placement import EDGE_ROLE_LABEL

__all__ = [
    "HOLLOW_ANNOTATION",
    "KUBELET_VERSION",
    "NODE_LEASE_NAMESPACE",
    "RUNTIME_VERSION",
    "NodeProfile",
    "fake_internal_ip",
    "fake_pod_cidr",
    "lease_object",
    "lease_renewal",
    "micro_time",
    "node_conditions",
    "node_object",
    "node_status",
    "parse_label",
    "parse_taint",
    "rfc3339",
]

NODE_LEASE_NAMESPACE = "kube-node-lease"
KUBELET_VERSION = "v1.32.0-hollow"
RUNTIME_VERSION = "hollow://1.0"
# Marks Nodes a hollow cluster registered (kwok uses `kwok.x-k8s.io/node: fake`).
HOLLOW_ANNOTATION = "hollow.kubeedge.io/node"
KUBELET_PORT = 10250
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

Obj = dict[str, Any]


def rfc3339(moment: datetime) -> str:
    """metav1.Time: seconds precision, UTC, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(moment: datetime) -> str:
    """metav1.MicroTime: microseconds precision, as a Lease's renewTime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_label(text: str) -> tuple[str, str]:
    """`key=value` (or `key=` / `key` for an empty value), as `kubectl label` takes it."""
    key, _, value = text.partition("=")
    key = key.strip()
    if not key:
        raise ValueError(f"label {text!r} is invalid: expected key=value")
    return key, value.strip()


def parse_taint(text: str) -> Obj:
    """`key=value:Effect` or `key:Effect`, as `kubectl taint` takes it."""
    spec, sep, effect = text.rpartition(":")
    if not sep or effect not in TAINT_EFFECTS:
        raise ValueError(
            f"taint {text!r} is invalid: expected key[=value]:Effect with Effect one of "
            f"{', '.join(TAINT_EFFECTS)}"
        )
    key, _, value = spec.partition("=")
    if not key:
        raise ValueError(f"taint {text!r} is invalid: the key is empty")
    taint: Obj = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


@dataclass
class NodeProfile:
    """The shape of a hollow node: capacity, labels, taints and role."""

    cpu: str = "8"
    memory: str = "32Gi"
    pods: int = 110
    gpus: int = 0
    ephemeral_storage: str = "100Gi"
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[Obj] = field(default_factory=list)
    edge: bool = False

    def capacity(self) -> dict[str, str]:
        resources = {
            "cpu": str(self.cpu),
            "memory": str(self.memory),
            "pods": str(self.pods),
            "ephemeral-storage": str(self.ephemeral_storage),
        }
        if self.gpus > 0:
            resources["nvidia.com/gpu"] = str(self.gpus)
        return resources


def fake_internal_ip(index: int) -> str:
    """The InternalIP of the `index`-th node: 10.64.0.0/10 host by host (4M nodes)."""
    return str(ipaddress.IPv4Address("10.64.0.1") + index)


def fake_pod_cidr(index: int) -> str:
    """A /24 per node from 10.128.0.0/9 (32,768 nodes) when no IPAM gave one."""
    base = ipaddress.IPv4Address("10.128.0.0") + (index % 32768) * 256
    return f"{base}/24"


def _stable_id(name: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}/{name}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def node_conditions(now: datetime, ready_since: datetime) -> list[Obj]:
    """The kubelet's four conditions, healthy (reasons as kubelet's setters write them)."""
    heartbeat, since = rfc3339(now), rfc3339(ready_since)

    def condition(kind: str, status: str, reason: str, message: str) -> Obj:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": since,
        }

    return [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                  "kubelet has sufficient memory available"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                  "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID",
                  "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]


def node_status(
    name: str, profile: NodeProfile, internal_ip: str, now: datetime, ready_since: datetime
) -> Obj:
    capacity = profile.capacity()
    return {
        "capacity": capacity,
        "allocatable": dict(capacity),
        "conditions": node_conditions(now, ready_since),
        "addresses": [
            {"type": "InternalIP", "address": internal_ip},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {
            "machineID": _stable_id(name, "machine").replace("-", ""),
            "systemUUID": _stable_id(name, "system"),
            "bootID": _stable_id(name, "boot"),
            "kernelVersion": "6.1.0-hollow",
            "osImage": "Hollow Linux",
            "containerRuntimeVersion": RUNTIME_VERSION,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def node_labels(name: str, profile: NodeProfile) -> dict[str, str]:
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
    }
    if profile.edge:
        labels[EDGE_ROLE_LABEL] = ""
    labels.update(profile.labels)
    return labels


def node_object(
    name: str, profile: NodeProfile, internal_ip: str, now: datetime
) -> Obj:
    """The Node a kubelet registers, status included (nodes keep status on create)."""
    spec: Obj = {}
    if profile.taints:
        spec["taints"] = [dict(t) for t in profile.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": node_labels(name, profile),
            "annotations": {HOLLOW_ANNOTATION: "true"},
        },
        "spec": spec,
        "status": node_status(name, profile, internal_ip, now, now),
    }


def lease_object(name: str, duration_seconds: int, now: datetime) -> Obj:
    """The node's heartbeat Lease (holder = the node, as the kubelet's lease controller)."""
    stamp = micro_time(now)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": duration_seconds,
            "acquireTime": stamp,
            "renewTime": stamp,
        },
    }


def lease_renewal(name: str, duration_seconds: int, now: datetime) -> Obj:
    """The merge patch that renews a node Lease."""
    return {
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": duration_seconds,
            "renewTime": micro_time(now),
        }
    }
