"""Recording core/v1 Events the way client-go's event recorder does, so
`kubectl describe` and `kubectl get events` show what controllers and the scheduler
did (specs/k8s-api.md: Event `involvedObject`, `source`, `count`, first/last times).

Recording never blocks and never raises: events go to bounded queues, each written by
one task; the same event always goes to the same queue, so its repeats are counted in
order while different events are written side by side (a scheduler binding hundreds
of pods a second records as many `Scheduled` events). A repeat of the same (object,
type, reason, message) bumps `count` and `lastTimestamp` on the existing Event
instead of creating a new one, like client-go's EventCorrelator. Events are best effort: when the
queue is full or the API refuses one, it is dropped and logged, never retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from typing import Any

from kubeedge.api import meta
from kubeedge.client.clock import Clock, RealClock
from kubeedge.client.errors import APIError
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient

log = logging.getLogger(__name__)

EVENTS = ResourceRef("", "v1", "events", True, "Event")
NORMAL = "Normal"
WARNING = "Warning"
MAX_MESSAGE = 1024  # the API server's event message limit
# client-go's EventSourceObjectSpamFilter: 25 events per object, then 1 per 5 minutes.
SPAM_BURST = 25
SPAM_REFILL_SECONDS = 300.0


def object_reference(obj: dict[str, Any], field_path: str = "") -> dict[str, Any]:
    """The ObjectReference an Event's `involvedObject` holds."""
    md = obj.get("metadata") or {}
    ref = {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": md.get("name", ""),
        "uid": md.get("uid", ""),
        "resourceVersion": md.get("resourceVersion", ""),
    }
    if md.get("namespace"):
        ref["namespace"] = md["namespace"]
    if field_path:
        ref["fieldPath"] = field_path
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    """Records Events from one component (`source.component`, optionally `source.host`)."""

    def __init__(self, client: APIClient, component: str, host: str = "", *,
                 queue_size: int = 1000, remembered: int = 4096, writers: int = 4,
                 spam_burst: int = SPAM_BURST, spam_refill_seconds: float = SPAM_REFILL_SECONDS,
                 clock: Clock | None = None) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock: Clock = clock or RealClock()
        # Per involved object: (tokens left, when last counted), oldest first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._spam_burst = spam_burst
        self._spam_refill = spam_refill_seconds
        self.filtered = 0
        self._queues: list[asyncio.Queue[tuple[dict[str, Any], str, str, str, str]]] = [
            asyncio.Queue(maxsize=queue_size) for _ in range(max(1, writers))]
        # (uid, type, reason, message) -> (event name, namespace, count), newest last.
        self._seen: OrderedDict[tuple[str, ...], tuple[str, str, int]] = OrderedDict()
        self._remembered = remembered
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0

    def event(self, obj: dict[str, Any], event_type: str, reason: str, message: str,
              field_path: str = "") -> None:
        """Queue one Event about `obj` (which must carry apiVersion and kind)."""
        self._ensure_tasks()
        uid = (obj.get("metadata") or {}).get("uid") or meta.name_of(obj)
        if not self._allow(uid):
            self.filtered += 1
            return
        queue = self._queues[hash((uid, reason)) % len(self._queues)]
        try:
            queue.put_nowait((obj, event_type, reason, message[:MAX_MESSAGE], field_path))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("%s: event queue full; %d events dropped so far", self.component,
                            self.dropped)

    def _allow(self, uid: str) -> bool:
        """client-go's per-object spam filter: a burst of 25, then one more every 5
        minutes, so a controller creating 3,000 pods of one ReplicaSet records 25."""
        now = self.clock.now()
        tokens, last = self._buckets.pop(uid, (float(self._spam_burst), now))
        tokens = min(float(self._spam_burst), tokens + (now - last) / self._spam_refill)
        allowed = tokens >= 1.0
        self._buckets[uid] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self._remembered:
            self._buckets.popitem(last=False)
        return allowed

    def eventf(self, obj: dict[str, Any], event_type: str, reason: str, fmt: str,
               *args: object) -> None:
        self.event(obj, event_type, reason, fmt % args if args else fmt)

    async def flush(self) -> None:
        """Wait until every queued event has been written (tests, shutdown)."""
        for queue in self._queues:
            await queue.join()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        if tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush(), 2.0)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _ensure_tasks(self) -> None:
        if self._tasks and not any(t.done() for t in self._tasks):
            return
        for task in self._tasks:
            task.cancel()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(queue), name=f"events {self.component}")
                       for queue in self._queues]

    async def _run(self, queue: asyncio.Queue[tuple[dict[str, Any], str, str, str, str]]
                   ) -> None:
        while True:
            obj, event_type, reason, message, field_path = await queue.get()
            try:
                await self._write(obj, event_type, reason, message, field_path)
            except (APIError, ConnectionError, TimeoutError) as exc:
                log.info("%s: could not record event %s: %s", self.component, reason, exc)
            except Exception:
                log.exception("%s: recording event %s failed", self.component, reason)
            finally:
                queue.task_done()

    async def _write(self, obj: dict[str, Any], event_type: str, reason: str, message: str,
                     field_path: str) -> None:
        involved = object_reference(obj, field_path)
        namespace = involved.get("namespace") or "default"
        key = (involved.get("uid", involved.get("name", "")), event_type, reason, message,
               field_path)
        now = meta.rfc3339(meta.now())
        known = self._seen.get(key)
        if known is not None:
            name, ns, count = known
            try:
                await self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": now},
                                        ns, patch_type="merge")
                self._remember(key, (name, ns, count + 1))
                return
            except APIError as exc:
                if not exc.is_not_found:
                    raise
                # Expired or deleted: record a fresh one.
        name = f"{involved.get('name', 'unknown')}.{secrets.token_hex(8)}"
        source = {"component": self.component}
        if self.host:
            source["host"] = self.host
        body = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host or self.component,
        }
        await self.client.create(EVENTS, body, namespace)
        self._remember(key, (name, namespace, 1))

    def _remember(self, key: tuple[str, ...], value: tuple[str, str, int]) -> None:
        self._seen[key] = value
        self._seen.move_to_end(key)
        while len(self._seen) > self._remembered:
            self._seen.popitem(last=False)
