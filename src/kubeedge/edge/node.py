"""The edge's Node: built from the host and the config, registered, kept Ready and leased.

Owns what KubeEdge's edged does for its own Node before any pod runs (specs/kubeedge.md
§2, §6 "Edged"; kubelet's node status setters and node lease controller):
- `build_node`: the Node object as edged registers it: the name from
  `modules.edged.hostnameOverride`; kubelet's well-known labels, the edge role label
  `node-role.kubernetes.io/edge: ""` (and `agent`, KubeEdge's second role) plus
  `nodeLabels`; capacity and allocatable from the host (`/proc`, `os`), `maxPods`,
  `extraCapacity` and NVIDIA GPUs from `nvidia-smi`; addresses (InternalIP = `nodeIP`, or
  the address this host reaches the cloud from; Hostname); nodeInfo with KubeEdge's
  `v1.32.x-kubeedge-v1.yy` kubelet version and `containerRuntimeVersion`
  `<runtime>://<version>`; `daemonEndpoints.kubeletEndpoint.Port` (readOnlyPort, 10350);
  the kubelet's four conditions: Ready true, MemoryPressure/DiskPressure/PIDPressure from
  the host's eviction signals (MemAvailable, the root directory's free space and inodes,
  pid_max less running processes) against `evictionHard`;
  `registerWithTaints`; `registerSchedulable`.
- `NodeModule`: on every new session with the cloud, a `nodestatus` insert (register;
  an existing Node is fine) and then a status `update`, then an update every
  `nodeStatusUpdateFrequency` (kubelet default 10 s) and a Lease renewal every
  `nodeLeaseDurationSeconds` x 0.25 (kubelet's renew interval fraction; 10 s of 40 s),
  each through EdgeHub as a request whose reply (`response` "OK" / ObjectResp, or
  operation `error`) it waits for. Resource strings are `<registerNodeNamespace>/
  nodestatus/<node>` and `<ns>/lease/<node>` (spec §2); the cloud puts node leases in
  `kube-node-lease` whatever the namespace. As kubelet's lease controller does, the
  Lease is owned by the Node (an ownerReference with the Node's UID, asked of the cloud
  with a `node` query after registering), so deleting the Node deletes it; it is renewed
  with an update of the Lease the cloud last returned (its resourceVersion), which also
  adds the owner to a Lease made before the Node's UID was known.
- `NodeModule.deregister`: what `keadm reset edge` asks of a running edge (issue 6: a
  reset leaves no API object of the node behind). The periodic reports stop once the
  one in flight is answered (so no renewal can land after the deletes and bring the
  Lease back), then a Lease `delete` and a Node `delete` for itself (`<ns>/lease/<node>`,
  `<ns>/node/<node>`), each waiting for the cloud's reply, all within
  `deregister_timeout`. KubeEdge's own reset leaves both in the API (its edge sends no
  such request); the resource strings and replies follow the shapes above.

- the pod network condition: when the container runtime cannot give pods a network of
  their own (`network_status()` False: not root, no podCIDR yet, no CNI plugins,
  networking off) its pods run in the host's network. kubelet 1.32 turns a runtime
  whose NetworkReady is false into Ready=False ("container runtime network not ready:
  NetworkReady=false reason:NetworkPluginNotReady message:..."), which would keep every
  pod off the node; this edge still runs pods, on the host network, so Ready stays True
  and its message carries kubelet's words with the runtime's reason (which names the
  host-network fallback). NetworkUnavailable is not set: it belongs to the cloud's
  route controller or the CNI daemon, and True would taint the node unschedulable.
- `PodNetworkSync` (bus module `nodenetwork`): the node's podCIDR, from its own Node as
  the cloud sends it down (the node-ipam controller sets `spec.podCIDR` after
  registration), given to the runtime (`update_runtime_config`, which keeps it on disk
  for a restart without the cloud), and the routes to the other edges' pod networks
  (`noderoutes`, ours: see `metamanager.manager.RESOURCE_NODEROUTES`) programmed with
  `program_routes` whenever they change. Both arrive from MetaManager as stored in the
  edge database; at start the stored rows are applied first.

Psutil is not a runtime dependency: the host is read from `/proc` and `os` only. Must
never import anything from cloud/, apiserver/, store/ or controllers/ (rule 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import platform
import shutil
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeedge import KUBEEDGE_RELEASE, KUBERNETES_RELEASE
from kubeedge.api.placement import EDGE_ROLE_LABEL
from kubeedge.client.clock import Clock, RealClock
from kubeedge.config.edgecore import EdgeCoreConfig
from kubeedge.messaging.bus import BusError, ModuleBus, ModuleClosedError
from kubeedge.messaging.message import (
    GROUP_RESOURCE,
    MESSAGE_OK,
    MODULE_EDGEHUB,
    OP_DELETE,
    OP_ERROR,
    OP_INSERT,
    OP_QUERY,
    OP_UPDATE,
    Message,
    build_message,
)
from kubeedge.messaging.resource import RESOURCE_LEASE, RESOURCE_NODE, RESOURCE_NODESTATUS

__all__ = [
    "DEREGISTER_TIMEOUT",
    "EDGE_ROLE_LABEL",
    "GPU_RESOURCE",
    "KUBELET_VERSION",
    "HostInfo",
    "NodeModule",
    "NodeSettings",
    "PodNetworkSync",
    "RequestFailed",
    "build_lease",
    "build_node",
    "detect_nvidia_gpus",
    "parse_quantity",
    "pressures",
    "read_host",
    "runtime_version",
]

log = logging.getLogger(__name__)

AGENT_ROLE_LABEL = "node-role.kubernetes.io/agent"
GPU_RESOURCE = "nvidia.com/gpu"
# edged's version string is `<kubernetes version>-kubeedge-<kubeedge version>` (spec §6);
# ours names the Kubernetes version our API server speaks and the KubeEdge release we
# follow.
KUBELET_VERSION = f"{KUBERNETES_RELEASE}-kubeedge-{KUBEEDGE_RELEASE}"
# The beehive source edged's requests carry (KubeEdge's modules.EdgedModuleName).
SOURCE_EDGED = "edged"
# kubelet's nodelease renewIntervalFraction: renew at a quarter of the lease duration.
LEASE_RENEW_FRACTION = 0.25
NODE_LEASE_NAMESPACE = "kube-node-lease"
# How long `deregister` may take in all (waiting for a report in flight, then the Lease
# and Node deletes). KubeEdge has no such step, so no default to follow; 10 s lets a
# reachable cloud answer two requests with room, and bounds `keadm reset` when it is not.
DEREGISTER_TIMEOUT = 10.0
# Go's architecture names, as kubelet reports them.
_GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
            "armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}

Obj = dict[str, Any]


# --------------------------------------------------------------------------- the host


@dataclass(frozen=True)
class HostInfo:
    """What the host says about itself (read once per status report)."""

    cpus: int
    memory_bytes: int
    storage_bytes: int
    hostname: str
    kernel_version: str
    os_image: str
    architecture: str
    machine_id: str = ""
    boot_id: str = ""
    system_uuid: str = ""
    gpus: list[str] = field(default_factory=list)
    # What the eviction signals read (kubelet's memory.available, nodefs.available,
    # nodefs.inodesFree, pid.available); -1 when unknown (no pressure is reported then).
    memory_available_bytes: int = -1
    storage_available_bytes: int = -1
    inodes_total: int = -1
    inodes_free: int = -1
    pids_max: int = -1
    pids_used: int = -1


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _memory_bytes() -> int:
    """MemTotal from /proc/meminfo (kubelet's cAdvisor reads the same)."""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            return int(parts[1]) * 1024
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return 0


def _mem_available_bytes() -> int:
    """MemAvailable from /proc/meminfo (kubelet's memory.available signal, as the
    cgroup-less approximation)."""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return -1


def _pids() -> tuple[int, int]:
    """(pid_max, processes now): kubelet's pid.available signal."""
    try:
        limit = int(_read("/proc/sys/kernel/pid_max") or "-1")
    except ValueError:
        limit = -1
    try:
        used = sum(1 for name in os.listdir("/proc") if name.isdigit())
    except OSError:
        used = -1
    return limit, used


def _cpus() -> int:
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip().strip('"')
    return platform.system()


def detect_nvidia_gpus(run: Callable[[list[str]], str] | None = None) -> list[str]:
    """The NVIDIA GPUs `nvidia-smi -L` lists (`GPU 0: <model> (UUID: …)`), as names
    `gpu0`…; empty when nvidia-smi is missing or fails."""
    if run is None:
        if shutil.which("nvidia-smi") is None:
            return []

        def run(argv: list[str]) -> str:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10,
                                  check=True).stdout

    try:
        out = run(["nvidia-smi", "-L"])
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi failed, reporting no GPUs: %s", exc)
        return []
    gpus = []
    for line in out.splitlines():
        head = line.strip().split(":", 1)[0]
        if head.startswith("GPU ") and head[4:].strip().isdigit():
            gpus.append(f"gpu{head[4:].strip()}")
    return gpus


def read_host(storage_path: str | Path = "/", *, detect_gpus: bool = False) -> HostInfo:
    """The host's resources and identity from `/proc` and `os`; ephemeral storage is
    the size of the file system holding `storage_path` (kubelet's root directory)."""
    path = Path(storage_path)
    while not path.exists() and path != path.parent:
        path = path.parent
    avail = inodes = inodes_free = -1
    try:
        st = os.statvfs(path)
        storage = st.f_blocks * st.f_frsize
        avail = st.f_bavail * st.f_frsize
        inodes, inodes_free = st.f_files, st.f_favail
    except OSError:
        storage = 0
    pids_max, pids_used = _pids()
    machine = platform.machine().lower()
    return HostInfo(
        cpus=_cpus(),
        memory_bytes=_memory_bytes(),
        storage_bytes=storage,
        hostname=socket.gethostname(),
        kernel_version=platform.release(),
        os_image=_os_image(),
        architecture=_GO_ARCH.get(machine, machine),
        machine_id=_read("/etc/machine-id"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
        system_uuid=_read("/sys/class/dmi/id/product_uuid"),
        gpus=detect_nvidia_gpus() if detect_gpus else [],
        memory_available_bytes=_mem_available_bytes(),
        storage_available_bytes=avail,
        inodes_total=inodes,
        inodes_free=inodes_free,
        pids_max=pids_max,
        pids_used=pids_used,
    )


def route_address(host: str) -> str:
    """The local address this host reaches `host` from (a UDP connect only picks the
    route; nothing is sent), 127.0.0.1 when there is no route."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class NodeSettings:
    """What the Node is built from: `modules.edged` resolved."""

    name: str
    namespace: str = "default"
    node_ip: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    extra_capacity: dict[str, str] = field(default_factory=dict)
    detect_gpus: bool = True
    max_pods: int = 110
    system_reserved: dict[str, str] = field(default_factory=dict)
    kube_reserved: dict[str, str] = field(default_factory=dict)
    taints: list[Obj] = field(default_factory=list)
    schedulable: bool = True
    read_only_port: int = 10350
    runtime_type: str = "process"
    # nodeInfo.containerRuntimeVersion, "<runtime name>://<version>" as CRI's Version
    # answers; empty: derived from runtime_type.
    runtime_version: str = ""
    # kubelet's evictionHard thresholds; crossing one sets the pressure condition.
    eviction_hard: dict[str, str] = field(default_factory=dict)
    status_update_frequency: float = 10.0
    lease_duration: int = 40
    request_timeout: float = 30.0
    deregister_timeout: float = DEREGISTER_TIMEOUT
    storage_path: str = "/"

    @classmethod
    def from_config(cls, config: EdgeCoreConfig) -> NodeSettings:
        edged = config.modules.edged
        kc = edged.tailored_kubelet_config
        server_host = config.modules.edge_hub.websocket.server.rpartition(":")[0].strip("[]")
        node_ip = edged.node_ip or route_address(server_host or "127.0.0.1")
        return cls(
            name=config.node_name,
            namespace=edged.register_node_namespace,
            node_ip=node_ip,
            labels=dict(edged.node_labels),
            extra_capacity={k: str(v) for k, v in edged.extra_capacity.items()},
            detect_gpus=edged.detect_nvidia_gpus,
            max_pods=kc.max_pods,
            system_reserved=dict(kc.system_reserved),
            kube_reserved=dict(kc.kube_reserved),
            taints=[{"key": t.key, "value": t.value, "effect": t.effect} if t.value
                    else {"key": t.key, "effect": t.effect} for t in kc.register_with_taints],
            schedulable=edged.register_schedulable,
            read_only_port=kc.read_only_port,
            runtime_type=edged.runtime_type,
            eviction_hard=dict(kc.eviction_hard),
            status_update_frequency=kc.seconds("node_status_update_frequency"),
            lease_duration=kc.node_lease_duration_seconds,
            # A request waits for its reply as long as a remote query may (spec §6).
            request_timeout=float(config.modules.meta_manager.remote_query_timeout),
            deregister_timeout=float(edged.deregister_timeout),
            storage_path=str(config.path(edged.root_directory)),
        )

    @property
    def lease_renew_interval(self) -> float:
        return self.lease_duration * LEASE_RENEW_FRACTION


# --------------------------------------------------------------------------- building


_BINARY_SUFFIXES = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
                    "Pi": 1 << 50, "Ei": 1 << 60}
_DECIMAL_SUFFIXES = {"m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                     "P": 1e15, "E": 1e18}


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity as a number (validated at config load)."""
    text = text.strip()
    for suffix, factor in _BINARY_SUFFIXES.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    for suffix, factor in sorted(_DECIMAL_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if suffix and text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


_quantity = parse_quantity


def _allocatable(capacity: dict[str, str], settings: NodeSettings) -> dict[str, str]:
    """kubelet's allocatable: capacity less systemReserved and kubeReserved for cpu and
    memory (hard eviction thresholds are not subtracted: this edge does not evict)."""
    allocatable = dict(capacity)
    reserved: dict[str, float] = {}
    for table in (settings.system_reserved, settings.kube_reserved):
        for name, value in table.items():
            reserved[name] = reserved.get(name, 0.0) + _quantity(value)
    if "cpu" in reserved:
        millis = max(int(_quantity(capacity["cpu"]) * 1000 - reserved["cpu"] * 1000), 0)
        allocatable["cpu"] = str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"
    if "memory" in reserved:
        kib = max(int((_quantity(capacity["memory"]) - reserved["memory"]) // 1024), 0)
        allocatable["memory"] = f"{kib}Ki"
    return allocatable


def _capacity(settings: NodeSettings, host: HostInfo) -> dict[str, str]:
    capacity = {
        "cpu": str(host.cpus),
        "memory": f"{host.memory_bytes // 1024}Ki",
        "ephemeral-storage": f"{host.storage_bytes // 1024}Ki",
        "pods": str(settings.max_pods),
        # kubelet reports hugepages of each size it knows, usually zero.
        "hugepages-2Mi": "0",
        "hugepages-1Gi": "0",
    }
    if host.gpus:
        capacity[GPU_RESOURCE] = str(len(host.gpus))
    # extraCapacity wins over what was detected (config/edgecore.py Edged).
    capacity.update(settings.extra_capacity)
    return capacity


def _micro_time(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_labels(settings: NodeSettings, host: HostInfo) -> dict[str, str]:
    """kubelet's well-known labels, KubeEdge's roles, then `nodeLabels` (which win)."""
    labels = {
        "kubernetes.io/hostname": settings.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": host.architecture,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": host.architecture,
        AGENT_ROLE_LABEL: "",
        EDGE_ROLE_LABEL: "",
    }
    labels.update(settings.labels)
    return labels


def _below(threshold: str | None, available: int, total: int) -> bool:
    """Whether an eviction signal crossed its threshold ("100Mi" or "10%")."""
    if not threshold or available < 0:
        return False
    threshold = threshold.strip()
    if threshold.endswith("%"):
        if total <= 0:
            return False
        return available < total * float(threshold[:-1]) / 100.0
    return available < parse_quantity(threshold)


def pressures(settings: NodeSettings, host: HostInfo) -> dict[str, bool]:
    """kubelet's eviction manager signals against evictionHard: memory.available,
    nodefs.available / nodefs.inodesFree, pid.available (no default threshold, as
    kubelet)."""
    hard = settings.eviction_hard
    return {
        "MemoryPressure": _below(hard.get("memory.available"), host.memory_available_bytes,
                                 host.memory_bytes),
        "DiskPressure": _below(hard.get("nodefs.available"), host.storage_available_bytes,
                               host.storage_bytes)
        or _below(hard.get("nodefs.inodesFree"), host.inodes_free, host.inodes_total),
        "PIDPressure": host.pids_max > 0 and host.pids_used >= 0 and _below(
            hard.get("pid.available"), host.pids_max - host.pids_used, host.pids_max),
    }


# (type, status) -> (reason, message), kubelet's condition setters' wording.
_CONDITION_TEXT = {
    ("MemoryPressure", "False"): ("KubeletHasSufficientMemory",
                                  "kubelet has sufficient memory available"),
    ("MemoryPressure", "True"): ("KubeletHasInsufficientMemory",
                                 "kubelet has insufficient memory available"),
    ("DiskPressure", "False"): ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("DiskPressure", "True"): ("KubeletHasDiskPressure", "kubelet has disk pressure"),
    ("PIDPressure", "False"): ("KubeletHasSufficientPID",
                               "kubelet has sufficient PID available"),
    ("PIDPressure", "True"): ("KubeletHasInsufficientPID",
                              "kubelet has insufficient PID available"),
    ("Ready", "True"): ("KubeletReady", "kubelet is posting ready status"),
}


def network_message(network: tuple[bool, str] | None) -> str:
    """What the Ready condition adds when pods cannot have their own network (see the
    module docstring): kubelet's NetworkPluginNotReady words with the runtime's reason."""
    if network is None or network[0]:
        return ""
    return ("container runtime network not ready: NetworkReady=false "
            f"reason:NetworkPluginNotReady message:{network[1]}")


def _conditions(now: dt.datetime, since: dt.datetime,
                pressure: dict[str, bool] | None = None,
                transitions: dict[str, tuple[str, dt.datetime]] | None = None,
                network: tuple[bool, str] | None = None) -> list[Obj]:
    """kubelet's condition setters (reasons and messages as kubelet writes them).
    `transitions` (type -> (status, when)) keeps each condition's lastTransitionTime
    across reports and is updated in place when a status changes. `network` is the
    runtime's network_status() (None: not known)."""
    pressure = pressure or {}
    beat = _time(now)
    out = []
    for kind in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready"):
        status = "True" if (kind == "Ready" or pressure.get(kind)) else "False"
        moved = since
        if transitions is not None:
            prev = transitions.get(kind)
            if prev is None or prev[0] != status:
                transitions[kind] = (status, since if prev is None else now)
            moved = transitions[kind][1]
        reason, message = _CONDITION_TEXT[(kind, status)]
        if kind == "Ready" and network_message(network):
            message = f"{message}; {network_message(network)}"
        out.append({"type": kind, "status": status, "lastHeartbeatTime": beat,
                    "lastTransitionTime": _time(moved), "reason": reason,
                    "message": message})
    return out


def runtime_version(settings: NodeSettings) -> str:
    """nodeInfo.containerRuntimeVersion: `<runtime>://<version>` (kubelet prints CRI's
    RuntimeName://RuntimeVersion, e.g. containerd://1.7.24)."""
    if settings.runtime_version:
        return settings.runtime_version
    if settings.runtime_type == "process":
        from kubeedge import __version__

        return f"process://{__version__}"
    return "remote://cri"


def node_status(settings: NodeSettings, host: HostInfo, now: dt.datetime,
                since: dt.datetime | None = None,
                transitions: dict[str, tuple[str, dt.datetime]] | None = None,
                network: tuple[bool, str] | None = None) -> Obj:
    """The Node's status as edged reports it (`network`: the runtime's
    network_status(), shown in the Ready condition's message when False)."""
    capacity = _capacity(settings, host)
    runtime = runtime_version(settings)
    addresses = []
    if settings.node_ip:
        addresses.append({"type": "InternalIP", "address": settings.node_ip})
    addresses.append({"type": "Hostname", "address": settings.name})
    return {
        "capacity": capacity,
        "allocatable": _allocatable(capacity, settings),
        "conditions": _conditions(now, since or now, pressures(settings, host),
                                  transitions, network),
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": settings.read_only_port}},
        "nodeInfo": {
            "machineID": host.machine_id,
            "systemUUID": host.system_uuid,
            "bootID": host.boot_id,
            "kernelVersion": host.kernel_version,
            "osImage": host.os_image,
            "containerRuntimeVersion": runtime,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": host.architecture,
        },
    }


def build_node(settings: NodeSettings, host: HostInfo, now: dt.datetime | None = None) -> Obj:
    """The Node edged registers (see the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    spec: Obj = {}
    if settings.taints:
        spec["taints"] = [dict(t) for t in settings.taints]
    if not settings.schedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": settings.name,
            "labels": node_labels(settings, host),
            # kubelet's controller-managed-attach-detach annotation.
            "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": spec,
        "status": node_status(settings, host, now),
    }


def extend_resources(host: HostInfo) -> Obj:
    """KubeEdge's NodeStatusRequest.ExtendResources: each GPU by name (the cloud keeps
    them as Node annotations)."""
    if not host.gpus:
        return {}
    return {GPU_RESOURCE: [{"name": gpu, "type": "nvidia", "capacity": "1"}
                           for gpu in host.gpus]}


def build_lease(settings: NodeSettings, now: dt.datetime, *, node_uid: str = "",
                last: Obj | None = None) -> Obj:
    """The node Lease kubelet renews (coordination.k8s.io/v1): `last` (the Lease the
    cloud last returned) renewed, or a new one; owned by the Node once its UID is known
    (kubelet's nodelease `setNodeOwnerFunc`)."""
    lease: Obj = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": settings.name, "namespace": NODE_LEASE_NAMESPACE},
    }
    if last is not None:
        meta = last.get("metadata") or {}
        lease["metadata"].update({k: meta[k] for k in ("resourceVersion", "uid",
                                                       "ownerReferences") if k in meta})
    lease["spec"] = {"holderIdentity": settings.name,
                     "leaseDurationSeconds": settings.lease_duration,
                     "renewTime": _micro_time(now)}
    if node_uid and not lease["metadata"].get("ownerReferences"):
        lease["metadata"]["ownerReferences"] = [{
            "apiVersion": "v1", "kind": "Node", "name": settings.name, "uid": node_uid}]
    return lease


# --------------------------------------------------------------------------- the module


class RequestFailed(Exception):
    """The cloud answered a node request with an error, or did not answer in time."""


def _reply_error(reply: Message) -> str | None:
    """None when the reply says the request was carried out; else why not."""
    if reply.route.operation == OP_ERROR:
        return str(reply.content)
    content = reply.content
    if isinstance(content, dict) and "Err" in content:
        err = content.get("Err")
        if err:
            status = err.get("ErrStatus") if isinstance(err, dict) else None
            if isinstance(status, dict):
                return str(status.get("message") or status)
            return str(err)
        return None
    if isinstance(content, str) and content != MESSAGE_OK:
        return content
    return None


class NodeModule:
    """Registers the Node and keeps its status and Lease fresh through EdgeHub.

    `hub` needs `connected` (an asyncio.Event set while a session is open); requests go
    to module `websocket` with `bus.send_sync`. `on_change(state)` is told of every
    acknowledged report and every failure (edgecore's state file). The periods run on
    `clock` (a FakeClock in tests); the Node's timestamps come from `wall`. Counters are
    plain attributes for tests.
    """

    def __init__(self, settings: NodeSettings, bus: ModuleBus, hub: Any, *,
                 host: Callable[[], HostInfo] | None = None,
                 wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 clock: Clock | None = None,
                 on_change: Callable[[dict[str, Any]], None] | None = None,
                 network: Callable[[], tuple[bool, str]] | None = None) -> None:
        self.settings = settings
        # The runtime's network_status (module docstring, "the pod network condition").
        self._network = network
        self._bus = bus
        self._hub = hub
        self._host = host or (lambda: read_host(settings.storage_path,
                                                detect_gpus=settings.detect_gpus))
        self._gpus: list[str] | None = None
        self._wall = wall
        self._clock: Clock = clock or RealClock()
        # The Node's UID (the Lease's owner) and the Lease as the cloud last returned it.
        self._node_uid = ""
        self._lease: Obj | None = None
        self._on_change = on_change
        self._since = wall()
        self._transitions: dict[str, tuple[str, dt.datetime]] = {}
        self._task: asyncio.Task[None] | None = None
        # Held for each request's whole exchange, so `deregister` can wait for the one in
        # flight to be answered before the deletes go out.
        self._lock = asyncio.Lock()
        self.registered = False
        self.status_acks = 0
        self.lease_acks = 0
        self.last_error = ""

    def _read_host(self) -> HostInfo:
        # nvidia-smi is asked once: GPUs do not come and go while edgecore runs.
        host = self._host()
        if self._gpus is None:
            self._gpus = list(host.gpus)
        if host.gpus != self._gpus:
            host = HostInfo(**{**host.__dict__, "gpus": list(self._gpus)})
        return host

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="edged-node-status")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change({"registered": self.registered, "statusAcks": self.status_acks,
                             "leaseAcks": self.lease_acks, "nodeError": self.last_error})

    async def _request(self, resource_type: str, operation: str, content: Any) -> Message:
        async with self._lock:
            return await self._send(resource_type, operation, content,
                                    self.settings.request_timeout)

    async def _send(self, resource_type: str, operation: str, content: Any,
                    timeout: float) -> Message:
        s = self.settings
        msg = build_message(GROUP_RESOURCE, "", SOURCE_EDGED,
                            f"{s.namespace}/{resource_type}/{s.name}", operation, content)
        try:
            reply = await self._bus.send_sync(MODULE_EDGEHUB, msg, timeout)
        except BusError as exc:
            raise RequestFailed(f"{resource_type} {operation}: {exc}") from None
        error = _reply_error(reply)
        if error is not None:
            raise RequestFailed(f"{resource_type} {operation} refused by the cloud: {error}")
        return reply

    async def register(self) -> None:
        """kubelet's registerWithAPIServer through the cloud (nodestatus insert)."""
        host = await asyncio.to_thread(self._read_host)
        await self._request(RESOURCE_NODESTATUS, OP_INSERT,
                            build_node(self.settings, host, self._wall()))
        self.registered = True
        log.info("node %s registered", self.settings.name)
        await self._learn_node_uid()

    async def _learn_node_uid(self) -> None:
        """The Node's UID for the Lease's owner. Without it the Lease is still renewed,
        unowned, and asked again at the next registration (kubelet's lease controller
        likewise renews without an owner until it can read the Node)."""
        try:
            reply = await self._request(RESOURCE_NODE, OP_QUERY, None)
        except RequestFailed as exc:
            log.warning("node %s: cannot read its Node for the Lease owner: %s",
                        self.settings.name, exc)
            return
        node = reply.content if isinstance(reply.content, dict) else {}
        uid = str((node.get("metadata") or {}).get("uid") or "")
        if uid != self._node_uid:
            # A new Node (deleted and registered again): the old Lease's owner is gone.
            self._node_uid, self._lease = uid, None

    async def report_status(self) -> None:
        host = await asyncio.to_thread(self._read_host)
        network = self._network() if self._network is not None else None
        request: Obj = {"UID": "", "Status": node_status(self.settings, host, self._wall(),
                                                         self._since, self._transitions,
                                                         network)}
        extended = extend_resources(host)
        if extended:
            request["ExtendResources"] = extended
        await self._request(RESOURCE_NODESTATUS, OP_UPDATE, request)
        self.status_acks += 1

    async def renew_lease(self, first: bool) -> None:
        """Create the Lease (`first`, or after a refused update), else update the one
        the cloud last returned; a conflict or refusal makes the next renewal a create
        (which the cloud turns into a renewal of the Lease it has)."""
        last = None if first else self._lease
        lease = build_lease(self.settings, self._wall(), node_uid=self._node_uid, last=last)
        try:
            reply = await self._request(RESOURCE_LEASE,
                                        OP_UPDATE if last is not None else OP_INSERT, lease)
        except RequestFailed:
            self._lease = None
            raise
        content = reply.content if isinstance(reply.content, dict) else {}
        returned = content.get("Object")
        self._lease = returned if isinstance(returned, dict) else None
        self.lease_acks += 1

    async def deregister(self, timeout: float | None = None) -> None:
        """Delete this node's Lease, then its Node, through the cloud (see the module
        docstring), within `timeout` (default `settings.deregister_timeout`) in all.
        The periodic reports are stopped first and stay stopped. `RequestFailed` says
        what was not done: no answer in time (no session with the cloud, or a slow one)
        or the cloud's refusal."""
        timeout = self.settings.deregister_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        step = "waiting for the report in flight"
        try:
            async with asyncio.timeout_at(deadline):
                async with self._lock:
                    # A renewal answered before this point cannot land after the delete.
                    await self.stop()
                    # The Lease first: deleting the Node makes CloudHub close the
                    # session, so nothing after it would get through.
                    step = "lease delete"
                    await self._send(RESOURCE_LEASE, OP_DELETE, None,
                                     max(deadline - loop.time(), 0.001))
                    step = "node delete"
                    await self._send(RESOURCE_NODE, OP_DELETE, None,
                                     max(deadline - loop.time(), 0.001))
        except TimeoutError:
            failure = f"{step}: no answer from the cloud within {timeout:g}s"
        except RequestFailed as exc:
            failure = str(exc)
        else:
            failure = ""
        if failure:
            if not self._hub.connected.is_set():
                why = getattr(self._hub, "last_error", "")
                failure += " (not connected to cloudcore" + (f": {why})" if why else ")")
            raise RequestFailed(failure)
        self.registered = False
        log.info("node %s deregistered: its Lease and Node were deleted", self.settings.name)

    async def _run(self) -> None:
        while True:
            await self._hub.connected.wait()
            try:
                await self._session()
            except RequestFailed as exc:
                self.last_error = str(exc)
                log.error("node %s: %s", self.settings.name, exc)
                self._changed()
                # Try again after one status interval (kubelet retries registration
                # with back-off; the session may also have ended meanwhile).
                await self._clock.sleep(self.settings.status_update_frequency)

    async def _session(self) -> None:
        """One connected period: register, then report and renew on their periods
        until the session ends (a request then fails or the hub clears `connected`)."""
        s = self.settings
        await self.register()
        await self.report_status()
        await self.renew_lease(first=True)
        self.last_error = ""
        self._changed()
        clock = self._clock
        next_status = clock.now() + s.status_update_frequency
        next_lease = clock.now() + s.lease_renew_interval
        while self._hub.connected.is_set():
            await clock.sleep(min(next_status, next_lease) - clock.now())
            if not self._hub.connected.is_set():
                break
            now = clock.now()
            if now >= next_status:
                await self.report_status()
                next_status = now + s.status_update_frequency
            if now >= next_lease:
                await self.renew_lease(first=False)
                next_lease = now + s.lease_renew_interval
            self._changed()


# --------------------------------------------------------------------------- pod network


def _pod_cidr(node: Obj) -> str:
    """The node's IPv4 pod CIDR (`spec.podCIDRs`, else `spec.podCIDR`; the process
    runtime's network is IPv4 only)."""
    spec = node.get("spec") or {}
    cidrs = [str(c) for c in spec.get("podCIDRs") or [] if c]
    if spec.get("podCIDR"):
        cidrs.append(str(spec["podCIDR"]))
    for cidr in cidrs:
        if ":" not in cidr:
            return cidr
    return ""


def routes_of(noderoutes: Obj, own_name: str) -> list[tuple[str, str]]:
    """(podCIDR, node IP) of every other edge in a `noderoutes` summary, sorted."""
    out: set[tuple[str, str]] = set()
    for entry in noderoutes.get("routes") or []:
        if not isinstance(entry, dict) or entry.get("nodeName") == own_name:
            continue
        via = str(entry.get("nodeIP") or "")
        cidr = _pod_cidr({"spec": entry})
        if cidr and via and ":" not in via:
            out.add((cidr, via))
    return sorted(out)


class PodNetworkSync:
    """Bus module `nodenetwork`: the node's podCIDR and the routes to the other edges'
    pods, from what the cloud sends, given to the container runtime (see the module
    docstring).

    `runtime` needs `update_runtime_config(pod_cidr)` and `program_routes(routes)`.
    `initial` are the stored objects to apply at start (the edge's Node and its
    noderoutes, as the edge database holds them). Routes that fail to program (an `ip`
    error) are tried again after `retry` seconds on `clock`. Routes are only programmed
    when `routes` is True (edgecore: pod networking on and running as root; the
    routes live in the host's network namespace, which needs root).
    """

    def __init__(self, bus: ModuleBus, runtime: Any, node_name: str, *,
                 initial: Sequence[Obj] = (),
                 routes: bool = True, clock: Clock | None = None,
                 retry: float = 10.0) -> None:
        self._bus = bus
        self._runtime = runtime
        self.node_name = node_name
        self._initial = list(initial)
        self._program = routes
        self._clock: Clock = clock or RealClock()
        self._retry = retry
        self._task: asyncio.Task[None] | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._registered = False
        self.pod_cidr = ""
        self.wanted_routes: list[tuple[str, str]] | None = None
        self.programmed: list[tuple[str, str]] | None = None
        self.route_errors = 0
        self.last_error = ""
        self.changed = asyncio.Event()  # set after every applied change (tests)

    async def start(self) -> None:
        from kubeedge.edge.metamanager.manager import MODULE_NODE_NETWORK

        self._bus.add_module(MODULE_NODE_NETWORK, MODULE_NODE_NETWORK)
        self._registered = True
        for obj in self._initial:
            await self.apply(obj)
        self._task = asyncio.create_task(self._run(), name="nodenetwork")

    async def stop(self) -> None:
        from kubeedge.edge.metamanager.manager import MODULE_NODE_NETWORK

        for task in (self._task, self._retry_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._retry_task = None
        if self._registered:
            self._bus.cleanup(MODULE_NODE_NETWORK)
            self._registered = False

    async def _run(self) -> None:
        from kubeedge.edge.metamanager.manager import MODULE_NODE_NETWORK

        while True:
            try:
                msg = await self._bus.receive(MODULE_NODE_NETWORK)
            except (ModuleClosedError, BusError):
                return
            if msg.route.operation == OP_DELETE or not isinstance(msg.content, dict):
                continue  # the Node is gone: what was set stays until edgecore leaves
            try:
                await self.apply(msg.content)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("nodenetwork: %s not applied", msg.route.resource)

    async def apply(self, obj: Obj) -> None:
        """One stored object: the edge's Node or its noderoutes (kind `NodeRoutes`)."""
        kind = str(obj.get("kind") or "")
        name = str((obj.get("metadata") or {}).get("name") or "")
        if name and name != self.node_name:
            return
        if kind == "Node":
            cidr = _pod_cidr(obj)
            if cidr and cidr != self.pod_cidr:
                await self._runtime.update_runtime_config(cidr)
                log.info("node %s: podCIDR %s given to the runtime", self.node_name, cidr)
                self.pod_cidr = cidr
                if self.wanted_routes:
                    # Routes overlapping the own podCIDR are left out by the runtime.
                    await self._program_routes(self.wanted_routes)
                self.changed.set()
        elif kind == "NodeRoutes":
            routes = routes_of(obj, self.node_name)
            if routes != self.wanted_routes:
                self.wanted_routes = routes
                await self._program_routes(routes)
                self.changed.set()

    async def _program_routes(self, routes: list[tuple[str, str]]) -> None:
        if not self._program:
            return
        try:
            self.programmed = list(await self._runtime.program_routes(routes))
            self.last_error = ""
            log.info("node %s: routes to other edges' pods: %s", self.node_name,
                     ", ".join(f"{c} via {v}" for c, v in self.programmed) or "none")
        except Exception as exc:  # NetworkError (an `ip` failure), OSError
            self.route_errors += 1
            self.last_error = str(exc)
            log.warning("node %s: routes not programmed (retry in %gs): %s", self.node_name,
                        self._retry, exc)
            if self._retry_task is None or self._retry_task.done():
                self._retry_task = asyncio.create_task(self._retry_later(),
                                                       name="nodenetwork-retry")

    async def _retry_later(self) -> None:
        await self._clock.sleep(self._retry)
        if self.wanted_routes is not None:
            await self._program_routes(self.wanted_routes)
