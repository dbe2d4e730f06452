"""Queue `status.allocated` (specs/volcano.md §1.2, §2.1): what the tasks of each
queue's jobs hold on nodes when a Volcano session closes, written to the Queue's
status subresource only when it changed.

`queue_allocated` sums, per queue of the session, the requests of its jobs' tasks
that hold node resources (Allocated, Binding, Bound, Running; Volcano's
AllocatedStatus) and, when a `root` queue exists, adds each queue's sum to its
ancestors (`spec.parent`, else `root`), as Volcano's updateQueueStatus does. The
ResourceList is written as Volcano writes it: cpu and memory always (`"1500m"`, `"2"`,
`"1536Mi"`, `"0"`), `pods` and extended resources when non-zero, each as the
canonical kube quantity.

`QueueStatusWriter.update(ssn)` decides at session close (the session's tasks change
under later binds, so the decision cannot wait) and hands back the write to run, or
None. The write is a JSON merge patch of `status.allocated` alone on
`queues/<name>/status`: the queue controller writes the PodGroup counts and `state` in
the same status, and a patch of our one field never undoes theirs. A resource that is
no longer held is patched to null, so it leaves the map.

Never imports the store or the API server; talks to the API only through
`kubeedge.client`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from kubeedge.api.defaults import parse_quantity
from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.scheduler.framework.job_info import QueueInfo
from kubeedge.scheduler.framework.job_session import JobSession
from kubeedge.scheduler.framework.resource import CPU, MEMORY, PODS, Resource

__all__ = [
    "QUEUES",
    "QueueStatusWriter",
    "allocated_patch",
    "format_quantity",
    "queue_allocated",
    "resource_list",
]

log = logging.getLogger(__name__)

QUEUES = ResourceRef("scheduling.volcano.sh", "v1beta1", "queues", False, "Queue")
ROOT_QUEUE = "root"

Obj = dict[str, Any]

_DECIMAL_SUFFIXES = ("", "k", "M", "G", "T", "P", "E")
_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def format_quantity(value: int, *, milli: bool = False, binary: bool = False) -> str:
    """resource.Quantity's canonical text: `value` (in thousandths when `milli`) in
    DecimalSI (`1500m`, `2`, `1k`), or BinarySI for memory (`1536Mi`, `1Gi`, and plain
    bytes when not a multiple of 1024; below 1024 kube writes decimal)."""
    if binary and not milli and abs(value) >= 1024:
        exponent = 0
        while value % 1024 == 0 and exponent < len(_BINARY_SUFFIXES) - 1:
            value //= 1024
            exponent += 1
        return f"{value}{_BINARY_SUFFIXES[exponent]}"
    if value == 0:
        return "0"
    if milli:
        if value % 1000:
            return f"{value}m"
        value //= 1000
    exponent = 0
    while value % 1000 == 0 and exponent < len(_DECIMAL_SUFFIXES) - 1:
        value //= 1000
        exponent += 1
    return f"{value}{_DECIMAL_SUFFIXES[exponent]}"


def resource_list(resource: Resource) -> dict[str, str]:
    """A Resource as the ResourceList Volcano writes (ConvertRes2ResList)."""
    out = {CPU: format_quantity(resource.milli_cpu, milli=True),
           MEMORY: format_quantity(resource.memory, binary=True)}
    if resource.pods > 0:
        out[PODS] = format_quantity(resource.pods)
    for name, amount in sorted(resource.scalars.items()):
        if amount > 0:
            out[name] = format_quantity(amount)
    return out


def queue_allocated(ssn: JobSession) -> dict[str, Resource]:
    """Per queue of the session, what its jobs' tasks hold (with every descendant's
    share added to its ancestors when the `root` queue exists)."""
    allocated = {name: Resource() for name in ssn.queues}
    for job in ssn.jobs.values():
        if job.queue not in allocated:
            continue
        held = job.allocated()
        if held.is_empty() and not held.pods:
            continue
        for name in _lineage(ssn.queues, job.queue):
            allocated[name].add(held)
    return allocated


def _lineage(queues: Mapping[str, QueueInfo], name: str) -> list[str]:
    """`name` and, when `root` exists, its ancestors up to `root` (a parent that does
    not exist, or a cycle, ends the walk)."""
    chain = [name]
    if ROOT_QUEUE not in queues:
        return chain
    seen = {name}
    while name != ROOT_QUEUE:
        spec = queues[name].queue.get("spec") or {}
        parent = str(spec.get("parent") or ROOT_QUEUE)
        if parent not in queues or parent in seen:
            break
        chain.append(parent)
        seen.add(parent)
        name = parent
    return chain


def _same(left: Any, right: Any) -> bool:
    a, b = parse_quantity(left), parse_quantity(right)
    return a is not None and a == b


def allocated_patch(current: Mapping[str, Any] | None, wanted: Mapping[str, str]
                    ) -> dict[str, str | None] | None:
    """The merge patch of `status.allocated` from `current` to `wanted`, or None when
    they are the same quantities (`"2"` and `"2000m"` are the same)."""
    current = current if isinstance(current, Mapping) else {}
    patch: dict[str, str | None] = {
        name: value for name, value in wanted.items()
        if not _same(current.get(name), value)}
    for name in current:
        if name not in wanted:
            patch[name] = None
    return patch or None


class QueueStatusWriter:
    """Writes `status.allocated` of the session's queues through `client`. Remembers
    what it last wrote per queue, with the resourceVersion it was computed from, so
    sessions that run before the watch shows the write do not write it again."""

    def __init__(self, client: APIClient) -> None:
        self.client = client
        self._written: dict[str, tuple[str, dict[str, str]]] = {}
        self.writes = 0

    def changes(self, ssn: JobSession) -> dict[str, dict[str, str | None]]:
        """Queue name -> the merge patch of its `status.allocated`, for the queues
        whose allocation changed. Pure: reads the session and the Queue objects."""
        out: dict[str, dict[str, str | None]] = {}
        for name, resource in queue_allocated(ssn).items():
            queue = ssn.queues[name].queue
            wanted = resource_list(resource)
            version = str((queue.get("metadata") or {}).get("resourceVersion") or "")
            current = (queue.get("status") or {}).get("allocated")
            written = self._written.get(name)
            if written is not None:
                if written[0] == version:
                    # The watch has not brought our last write yet: compare with it.
                    current = written[1]
                else:
                    del self._written[name]
            patch = allocated_patch(current, wanted)
            if patch is not None:
                self._written[name] = (version, wanted)
                out[name] = patch
        for name in [name for name in self._written if name not in ssn.queues]:
            del self._written[name]
        return out

    def update(self, ssn: JobSession) -> Awaitable[None] | None:
        """At session close: the write to run (e.g. with the scheduler's `_spawn`), or
        None when no queue's allocation changed."""
        changes = self.changes(ssn)
        if not changes:
            return None
        return self.write(changes)

    async def write(self, changes: Mapping[str, Mapping[str, str | None]]) -> None:
        for name, patch in changes.items():
            try:
                await self.client.patch(QUEUES, name, {"status": {"allocated": dict(patch)}},
                                        subresource="status")
                self.writes += 1
            except APIError as exc:
                self._written.pop(name, None)
                if not exc.is_not_found:
                    log.info("scheduler: Queue %s status: %s", name, exc)
            except (APIConnectionError, TimeoutError, OSError) as exc:
                self._written.pop(name, None)
                log.info("scheduler: Queue %s status: %s", name, exc)
            await asyncio.sleep(0)
