"""The container runtime contract Edged drives: a `Runtime` protocol shaped like CRI.

The definitions live in `contract.py` and are re-exported here lazily: the per-container
supervisor (`python -m kubeedge.edge.runtime.supervisor`) imports this package on every
container start and must not pay for dataclasses/typing (measured: about 3 MB of
resident memory per supervisor, ARCHITECTURE.md rule 9). `from kubeedge.edge.runtime
import Runtime, ContainerConfig, ...` works as usual.

Implementations: `process.py` (containers as supervised host processes, `supervisor.py`);
the containerd/CRI runtime of a later issue is one more file beside it.
"""

from __future__ import annotations

# Not `typing.TYPE_CHECKING`: importing typing is part of what the laziness saves.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from kubeedge.edge.runtime.contract import (
        LABEL_CONTAINER_NAME,
        LABEL_POD_NAME,
        LABEL_POD_NAMESPACE,
        LABEL_POD_UID,
        ContainerConfig,
        ContainerFilter,
        ContainerMetadata,
        ContainerNotFound,
        ContainerResources,
        ContainerState,
        ContainerStats,
        ContainerStatus,
        CreateContainerError,
        ExecProcess,
        ExecSyncResult,
        ExecTimeout,
        ImageError,
        ImageRef,
        Mount,
        PodSandboxConfig,
        PodSandboxFilter,
        PodSandboxMetadata,
        PodSandboxState,
        PodSandboxStatus,
        Runtime,
        RuntimeServiceError,
        SandboxNotFound,
        StartContainerError,
        kubelet_container_labels,
        kubelet_sandbox_labels,
    )

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


def __getattr__(name: str) -> object:
    if name in __all__:
        from kubeedge.edge.runtime import contract

        return getattr(contract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
