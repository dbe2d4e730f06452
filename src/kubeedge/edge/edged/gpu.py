"""GPU assignment for pods on this edge (the part of NVIDIA's device plugin a process
runtime needs): which GPU indices a pod's containers see through
`NVIDIA_VISIBLE_DEVICES` and `CUDA_VISIBLE_DEVICES`.

- A container asking for `nvidia.com/gpu` (limits, else requests) gets that many whole
  GPUs no other pod holds; too few free is kubelet's admission refusal
  (`UnexpectedAdmissionError`, the pod Failed).
- A pod with the `volcano.sh/gpu-index` annotation (Volcano's GPU share: the scheduler
  chose the card) gets those indices in every container, shared as Volcano intends.
- Assignments are written to a JSON file under the edge's root before a container
  starts with them, so an edgecore restart keeps each pod's GPUs; they are released
  when the pod is removed or finishes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubeedge.durable import atomic_write

__all__ = ["GPU_INDEX_ANNOTATION", "GPU_RESOURCE", "GPUAllocator", "GPUUnavailable",
           "gpu_env", "requested_gpus"]

GPU_RESOURCE = "nvidia.com/gpu"
GPU_INDEX_ANNOTATION = "volcano.sh/gpu-index"


class GPUUnavailable(Exception):
    reason = "UnexpectedAdmissionError"


def requested_gpus(container: Mapping[str, Any]) -> int:
    res = container.get("resources") or {}
    raw = (res.get("limits") or {}).get(GPU_RESOURCE, (res.get("requests") or {}).get(
        GPU_RESOURCE, 0))
    try:
        return int(str(raw))
    except ValueError:
        return 0


def _annotation_indices(pod: Mapping[str, Any]) -> list[int] | None:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(GPU_INDEX_ANNOTATION)
    if raw is None:
        return None
    out = []
    for part in str(raw).split(","):
        part = part.strip()
        if part.isdigit():
            out.append(int(part))
    return out


def gpu_env(indices: Sequence[int]) -> dict[str, str]:
    value = ",".join(str(i) for i in indices)
    return {"NVIDIA_VISIBLE_DEVICES": value, "CUDA_VISIBLE_DEVICES": value}


class GPUAllocator:
    """`gpus`: the node's GPU indices; `path`: the assignments file."""

    def __init__(self, gpus: Sequence[int], path: Path) -> None:
        self.gpus = list(gpus)
        self.path = path
        self._pods: dict[str, dict[str, list[int]]] = {}
        self._shared: set[str] = set()
        try:
            data = json.loads(path.read_text())
            self._pods = {uid: {c: [int(i) for i in v] for c, v in cs.items()}
                          for uid, cs in (data.get("pods") or {}).items()}
            self._shared = set(data.get("shared") or [])
        except (OSError, ValueError, AttributeError):
            pass

    def _save(self) -> None:
        os.makedirs(self.path.parent, exist_ok=True)
        atomic_write(self.path, json.dumps({"pods": self._pods,
                                            "shared": sorted(self._shared)}).encode())

    def assignment(self, uid: str) -> dict[str, list[int]]:
        return dict(self._pods.get(uid, {}))

    def allocate(self, pod: Mapping[str, Any]) -> dict[str, list[int]]:
        """The pod's GPUs by container name (assigned now, or as recorded)."""
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        if uid in self._pods:
            return dict(self._pods[uid])
        spec = pod.get("spec") or {}
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        shared = _annotation_indices(pod)
        out: dict[str, list[int]] = {}
        if shared is not None:
            out = {c["name"]: list(shared) for c in containers}
            self._shared.add(uid)
        else:
            held = {i for owner, cs in self._pods.items() if owner not in self._shared
                    for v in cs.values() for i in v}
            free = [i for i in self.gpus if i not in held]
            # Init containers run one at a time before the app containers: they may
            # reuse the GPUs of the app containers (kubelet's device manager does so).
            app_total = sum(requested_gpus(c) for c in spec.get("containers") or [])
            init_max = max([requested_gpus(c) for c in spec.get("initContainers") or []],
                           default=0)
            need = max(app_total, init_max)
            if need == 0:
                return {}
            if need > len(free):
                raise GPUUnavailable(
                    f"Allocate failed due to requested number of devices unavailable for "
                    f"{GPU_RESOURCE}. Requested: {need}, Available: {len(free)}, which is "
                    "unexpected")
            pos = 0
            for c in spec.get("containers") or []:
                n = requested_gpus(c)
                if n:
                    out[c["name"]] = free[pos:pos + n]
                    pos += n
            for c in spec.get("initContainers") or []:
                n = requested_gpus(c)
                if n:
                    out[c["name"]] = free[:n]
        self._pods[uid] = out
        self._save()
        return dict(out)

    def release(self, uid: str) -> None:
        if uid in self._pods:
            del self._pods[uid]
            self._shared.discard(uid)
            self._save()
