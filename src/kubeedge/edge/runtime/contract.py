"""The container runtime contract Edged drives: a `Runtime` protocol shaped like CRI.

CRI (k8s.io/cri-api, runtime/v1 `RuntimeService` and `ImageService`) is what a kubelet
speaks to containerd; shaping ours the same way means the containerd runtime of a later
issue is one new file (`remote.py`) and Edged does not change. The shapes below follow
CRI's messages with Python names: a pod sandbox (the pod's shared context), containers
created into a sandbox, statuses with CRI's four states and nanosecond timestamps,
filters by labels (kubelet finds a pod's containers after a restart by the labels it set,
`io.kubernetes.pod.uid` and `io.kubernetes.container.name`, and by metadata.attempt).

Implementations: `process.py` (containers as supervised host processes, `supervisor.py`).

Standard library only, and it must never import an implementation. Import it as
`kubeedge.edge.runtime` (the package re-exports every name).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "LABEL_CONTAINER_NAME",
    "LABEL_POD_NAME",
    "LABEL_POD_NAMESPACE",
    "LABEL_POD_UID",
    "ContainerConfig",
    "ContainerFilter",
    "ContainerMetadata",
    "ContainerNotFound",
    "ContainerResources",
    "ContainerState",
    "ContainerStats",
    "ContainerStatus",
    "CreateContainerError",
    "ExecProcess",
    "ExecSyncResult",
    "ExecTimeout",
    "ImageError",
    "ImageRef",
    "Mount",
    "PodSandboxConfig",
    "PodSandboxFilter",
    "PodSandboxMetadata",
    "PodSandboxState",
    "PodSandboxStatus",
    "Runtime",
    "RuntimeServiceError",
    "SandboxNotFound",
    "StartContainerError",
    "kubelet_container_labels",
    "kubelet_sandbox_labels",
]

# The labels kubelet puts on every sandbox and container (pkg/kubelet/types/labels.go);
# after a restart Edged lists by these to find what it already runs.
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"


def kubelet_sandbox_labels(namespace: str, name: str, uid: str) -> dict[str, str]:
    """The labels kubelet sets on a pod's sandbox."""
    return {LABEL_POD_NAMESPACE: namespace, LABEL_POD_NAME: name, LABEL_POD_UID: uid}


def kubelet_container_labels(namespace: str, name: str, uid: str,
                             container: str) -> dict[str, str]:
    """The labels kubelet sets on each of a pod's containers."""
    return {**kubelet_sandbox_labels(namespace, name, uid), LABEL_CONTAINER_NAME: container}


# --- errors -----------------------------------------------------------------------------


class RuntimeServiceError(Exception):
    """A runtime call failed in a way Edged reports on the pod, never a crash.

    `reason` is the kubelet-style reason Edged puts in the container's waiting (or
    terminated) state; `message` is the human text beside it.
    """

    reason = "RuntimeError"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class ImageError(RuntimeServiceError):
    """The image cannot be had: kubelet's `ErrImagePull` or, for a reference that does
    not parse, `InvalidImageName` (pkg/kubelet/images/types.go)."""

    reason = "ErrImagePull"


class CreateContainerError(RuntimeServiceError):
    """CreateContainer refused the config (kubelet's `CreateContainerError`)."""

    reason = "CreateContainerError"


class StartContainerError(RuntimeServiceError):
    """The container's process could not be started. containerd records such a
    container as exited with code 128 and reason `StartError`; kubelet shows both."""

    reason = "StartError"
    exit_code = 128


class ContainerNotFound(RuntimeServiceError, KeyError):
    reason = "NotFound"


class SandboxNotFound(RuntimeServiceError, KeyError):
    reason = "NotFound"


class ExecTimeout(RuntimeServiceError, TimeoutError):
    """exec_sync ran past its timeout; the command was killed (probes count a failure)."""

    reason = "DeadlineExceeded"


# --- states -----------------------------------------------------------------------------


class PodSandboxState(enum.StrEnum):
    """CRI PodSandboxState: READY from run until stop, NOTREADY after."""

    READY = "SANDBOX_READY"
    NOTREADY = "SANDBOX_NOTREADY"


class ContainerState(enum.StrEnum):
    """CRI ContainerState. Transitions: CREATED → RUNNING → EXITED, or CREATED → EXITED
    when the process cannot start; UNKNOWN when neither the process nor its supervisor
    is there and no exit was recorded (the supervisor was killed)."""

    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


# --- configs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PodSandboxMetadata:
    name: str
    namespace: str
    uid: str
    attempt: int = 0


@dataclass(frozen=True)
class PodSandboxConfig:
    """CRI PodSandboxConfig, the parts a runtime acts on.

    `log_directory` is where the pod's container logs go (kubelet passes
    `/var/log/pods/<namespace>_<name>_<uid>`); empty means the runtime's default under
    its root. `host_network` is `spec.hostNetwork`.

    For the pod's /etc/hosts (kubelet writes it; with its own network a pod gets one):
    `hostname` is spec.hostname or the pod's name, `subdomain` spec.subdomain (adds
    `<hostname>.<subdomain>.<namespace>.svc.<cluster domain>`), `hosts_entries` extra
    (IP, names) lines: spec.hostAliases, the cluster's pod hostnames and headless
    Service names the edge knows.
    """

    metadata: PodSandboxMetadata
    hostname: str = ""
    log_directory: str = ""
    host_network: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    subdomain: str = ""
    hosts_entries: Sequence[tuple[str, Sequence[str]]] = ()


@dataclass(frozen=True)
class ContainerMetadata:
    name: str
    attempt: int = 0


@dataclass(frozen=True)
class Mount:
    """A host path offered at a container path (CRI Mount)."""

    container_path: str
    host_path: str
    readonly: bool = False


@dataclass(frozen=True)
class ContainerResources:
    """CRI LinuxContainerResources, the fields kubelet derives from requests/limits.

    cpu_quota/cpu_period are CFS microseconds (limits.cpu 500m → 50000/100000);
    cpu_shares from requests.cpu (1 CPU → 1024); 0 means unset.
    """

    memory_limit_in_bytes: int = 0
    cpu_quota: int = 0
    cpu_period: int = 100_000
    cpu_shares: int = 0

    @property
    def limited(self) -> bool:
        return self.memory_limit_in_bytes > 0 or self.cpu_quota > 0


@dataclass(frozen=True)
class ContainerConfig:
    """CRI ContainerConfig.

    `command`/`args` are the pod's (Kubernetes semantics against the image's entrypoint
    and cmd); `log_path` is relative to the sandbox's log directory (kubelet:
    `<container>/<attempt>.log`). `run_as_user`/`run_as_group` come from the
    securityContext and apply only when the runtime runs as root.
    """

    metadata: ContainerMetadata
    image: str
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    working_dir: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    mounts: Sequence[Mount] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    log_path: str = ""
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    resources: ContainerResources = field(default_factory=ContainerResources)
    run_as_user: int | None = None
    run_as_group: int | None = None


@dataclass(frozen=True)
class PodSandboxFilter:
    id: str = ""
    state: PodSandboxState | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerFilter:
    """CRI ContainerFilter (exact label match) plus `name`/`attempt` on the metadata,
    which Edged uses to tell a pod's restarts apart."""

    id: str = ""
    sandbox_id: str = ""
    state: ContainerState | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    attempt: int | None = None


# --- statuses ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRef:
    """What pulling an image gave: the normalised name and what it resolves to."""

    image: str
    ref: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()


@dataclass(frozen=True)
class PodSandboxStatus:
    """CRI PodSandboxStatus. `ip` is the pod's IP (CRI PodSandboxNetworkStatus.ip):
    its own when it has a pod network, "" when it uses the host's (Edged then reports
    the node's address, as kubelet does for hostNetwork pods) or after the sandbox was
    stopped (its network is torn down then)."""

    id: str
    metadata: PodSandboxMetadata
    state: PodSandboxState
    created_at: int  # ns since the epoch, as CRI
    network: str  # "host" or a namespace path
    network_reason: str  # why this network (hostNetwork, not root, ...)
    log_directory: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    ip: str = ""


@dataclass(frozen=True)
class ContainerStatus:
    """CRI ContainerStatus. Timestamps are ns since the epoch, 0 when not reached.

    `limits_enforced` is False with `limits_reason` set when the config asked for
    resource limits that this runtime could not apply (no writable cgroup); Edged
    surfaces it as an event.
    """

    id: str
    sandbox_id: str
    metadata: ContainerMetadata
    state: ContainerState
    image: str
    created_at: int
    started_at: int = 0
    finished_at: int = 0
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    pid: int | None = None
    log_path: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    limits_enforced: bool = True
    limits_reason: str = ""


@dataclass(frozen=True)
class ContainerStats:
    """CRI ContainerStats: cumulative CPU in ns and the memory working set (usage minus
    inactive file cache, what kubelet evicts on), with where they were read from."""

    container_id: str
    timestamp: int
    cpu_usage_core_ns: int
    memory_working_set_bytes: int
    source: str  # "cgroup" or "proc"


@dataclass(frozen=True)
class ExecSyncResult:
    stdout: bytes
    stderr: bytes
    exit_code: int


class ExecProcess(Protocol):
    """A streaming exec or attach session (CRI Exec/Attach, served by edged's kubelet-style
    server). It has the shape of `streaming.remotecommand.RemoteProcess` without the
    runtime importing it (duck typing keeps the runtime below the streaming layer).

    Every output stream is read until b"": a stream the client did not ask for must
    still be drained or not requested at all (`stdout=False`/`stderr=False`), else the
    command blocks once the stream's buffer is full.
    """

    async def write_stdin(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    async def read_stdout(self) -> bytes:
        """The next chunk of output; b"" at the end."""
        ...
    async def read_stderr(self) -> bytes:
        """Like read_stdout; b"" at once under a tty (everything is on stdout)."""
        ...
    def resize(self, width: int, height: int) -> None: ...
    async def wait(self) -> int:
        """The exit code (128+n for death by signal n)."""
        ...
    async def kill(self) -> None:
        """The client went away: exec kills the command, attach only detaches."""
        ...


# --- the protocol -----------------------------------------------------------------------


@runtime_checkable
class Runtime(Protocol):
    """What Edged needs from a container runtime (CRI RuntimeService + ImageService).

    Every method is idempotent where CRI's is (stopping a stopped container, removing a
    removed one succeed). All state lives in the runtime, not in the object: a new
    instance over the same root sees the containers an earlier one started (edgecore
    restarts without restarting its pods).
    """

    name: str  # nodeInfo.containerRuntimeVersion is "<name>://<version>"
    version: str

    # RuntimeService Status (its NetworkReady condition) and UpdateRuntimeConfig
    def network_status(self) -> tuple[bool, str]:
        """(True, "") when new non-hostNetwork sandboxes get their own network; else
        (False, why): they then share the host's network. Edged shows the reason in the
        node's conditions; unlike kubelet's NetworkReady it is no reason for NotReady,
        since the pods still run."""
        ...

    async def update_runtime_config(self, pod_cidr: str) -> None:
        """The node's podCIDR (from Node.spec.podCIDR), kept across restarts."""
        ...

    async def update_pod_hosts(self, sandbox_id: str,
                               hosts_entries: Sequence[tuple[str, Sequence[str]]]) -> bool:
        """Rewrite a running sandbox's /etc/hosts extra entries (the cluster's names
        changed); False when the sandbox uses the host's file (host network)."""
        ...

    # ImageService
    async def pull_image(self, image: str) -> ImageRef: ...

    # sandboxes
    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str: ...
    async def stop_pod_sandbox(self, sandbox_id: str, timeout: float = 30.0) -> None: ...
    async def remove_pod_sandbox(self, sandbox_id: str) -> None: ...
    async def pod_sandbox_status(self, sandbox_id: str) -> PodSandboxStatus: ...
    async def list_pod_sandboxes(
        self, filter: PodSandboxFilter | None = None) -> list[PodSandboxStatus]: ...

    # containers
    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str: ...
    async def start_container(self, container_id: str) -> None: ...
    async def stop_container(self, container_id: str, timeout: float) -> None: ...
    async def remove_container(self, container_id: str) -> None: ...
    async def container_status(self, container_id: str) -> ContainerStatus: ...
    async def list_containers(
        self, filter: ContainerFilter | None = None) -> list[ContainerStatus]: ...

    # logs, stdin, exec, stats
    async def reopen_container_log(self, container_id: str) -> None: ...
    def container_log_path(self, container_id: str) -> str: ...
    async def write_stdin(self, container_id: str, data: bytes) -> None: ...
    async def close_stdin(self, container_id: str) -> None: ...
    async def exec_sync(self, container_id: str, cmd: Sequence[str],
                        timeout: float) -> ExecSyncResult: ...
    async def exec(self, container_id: str, cmd: Sequence[str], *, tty: bool = False,
                   stdin: bool = False, stdout: bool = True, stderr: bool = True,
                   size: tuple[int, int] | None = None) -> ExecProcess:
        """Runs `cmd` in the running container's namespaces, environment and working
        directory (kubelet's streaming Exec); RuntimeServiceError when the container
        is not running or the command cannot start."""
        ...

    async def attach(self, container_id: str, *, tty: bool = False, stdin: bool = False,
                     stdout: bool = True, stderr: bool = True) -> ExecProcess:
        """The running container's own streams (kubelet's Attach); RuntimeServiceError
        when stdin is asked of a container created without stdin."""
        ...

    async def port_forward(self, sandbox_id: str, port: int
                           ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to localhost:`port` in the sandbox's network namespace (the
        host's for a hostNetwork pod); RuntimeServiceError with the OS's reason when
        nothing accepts it."""
        ...

    async def container_stats(self, container_id: str) -> ContainerStats: ...
