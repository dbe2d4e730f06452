"""Resource vectors: what a pod requests and what a node offers, in integers.

Owns the conversion from resource.Quantity strings (parsed by `kubeedge.api.defaults.
parse_quantity`, the one quantity parser) to the units kube-scheduler counts in: cpu in
millicores, memory and other resources in whole units, both rounded up like
`Quantity.MilliValue()` / `Value()`. Also owns the pod request rule of
`k8s.io/component-helpers/resource.PodRequests` (containers summed, init containers
as a maximum, restartable init containers as sidecars, plus overhead) and the
"non-zero" requests scoring uses for pods that ask for nothing.

Never does I/O and never looks at anything but the object it is handed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeedge.api.defaults import parse_quantity

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "Resource",
    "non_zero_requests",
    "pod_requests",
]

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"

# pkg/scheduler/util: what scoring assumes for a container without requests.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def _ceil(value: Any, scale: int = 1) -> int:
    if isinstance(value, str):
        return _ceil_text(value, scale)
    return _ceil_exact(value, scale)


@functools.lru_cache(maxsize=4096)
def _ceil_text(value: str, scale: int) -> int:
    # Pods of one workload repeat the same few quantity strings; exact parsing is
    # Fraction arithmetic, so remember the answers.
    return _ceil_exact(value, scale)


def _ceil_exact(value: Any, scale: int) -> int:
    quantity = parse_quantity(value)
    if quantity is None or quantity <= 0:
        return 0
    return math.ceil(quantity * scale)


@dataclass(slots=True)
class Resource:
    """cpu (millicores), memory (bytes), pods (count) and named scalar resources
    (extended resources such as `nvidia.com/gpu`, `ephemeral-storage`, hugepages)."""

    milli_cpu: int = 0
    memory: int = 0
    pods: int = 0
    scalars: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_list(cls, resources: Mapping[str, Any] | None) -> Resource:
        """A ResourceList (`{"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"}`)."""
        out = cls()
        for name, value in (resources or {}).items():
            out.set(name, value)
        return out

    def set(self, name: str, value: Any) -> None:
        if name == CPU:
            self.milli_cpu = _ceil(value, 1000)
        elif name == MEMORY:
            self.memory = _ceil(value)
        elif name == PODS:
            self.pods = _ceil(value)
        else:
            amount = _ceil(value)
            if amount:
                self.scalars[name] = amount

    def copy(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.pods, dict(self.scalars))

    def add(self, other: Resource) -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.pods += other.pods
        for name, amount in other.scalars.items():
            self.scalars[name] = self.scalars.get(name, 0) + amount

    def sub(self, other: Resource) -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.pods -= other.pods
        for name, amount in other.scalars.items():
            left = self.scalars.get(name, 0) - amount
            if left:
                self.scalars[name] = left
            else:
                self.scalars.pop(name, None)

    def set_max(self, other: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.pods = max(self.pods, other.pods)
        for name, amount in other.scalars.items():
            self.scalars[name] = max(self.scalars.get(name, 0), amount)

    def get(self, name: str) -> int:
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == PODS:
            return self.pods
        return self.scalars.get(name, 0)

    def names(self) -> Iterable[str]:
        """Every resource with a non-zero amount."""
        if self.milli_cpu:
            yield CPU
        if self.memory:
            yield MEMORY
        if self.pods:
            yield PODS
        yield from (name for name, amount in self.scalars.items() if amount)

    def is_empty(self) -> bool:
        return not (self.milli_cpu or self.memory or any(self.scalars.values()))


def _container_requests(container: Mapping[str, Any]) -> Resource:
    return Resource.from_list((container.get("resources") or {}).get("requests"))


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def pod_requests(spec: Mapping[str, Any]) -> Resource:
    """What the pod asks of a node (PodRequests): the sum over containers and sidecars,
    or the largest init container (plus the sidecars started before it) when that is
    more, plus `spec.overhead`. `pods` is always 1."""
    total = Resource()
    for container in _dicts(spec.get("containers")):
        total.add(_container_requests(container))
    sidecars = Resource()
    init_peak = Resource()
    for container in _dicts(spec.get("initContainers")):
        requests = _container_requests(container)
        if container.get("restartPolicy") == "Always":
            sidecars.add(requests)
            init_peak.set_max(sidecars)
        else:
            step = sidecars.copy()
            step.add(requests)
            init_peak.set_max(step)
    total.add(sidecars)
    total.set_max(init_peak)
    overhead = spec.get("overhead")
    if isinstance(overhead, Mapping):
        total.add(Resource.from_list(overhead))
    total.pods = 1
    return total


def non_zero_requests(spec: Mapping[str, Any]) -> tuple[int, int]:
    """(milli cpu, memory) for scoring: a container that names no cpu or memory
    request counts as 100m / 200Mi (schedutil.GetNonzeroRequests), so pods that ask for
    nothing still spread."""
    milli_cpu = memory = 0
    for container in _dicts(spec.get("containers")):
        requests = (container.get("resources") or {}).get("requests") or {}
        milli_cpu += (_ceil(requests[CPU], 1000) if CPU in requests
                      else DEFAULT_MILLI_CPU_REQUEST)
        memory += _ceil(requests[MEMORY]) if MEMORY in requests else DEFAULT_MEMORY_REQUEST
    return milli_cpu, memory
