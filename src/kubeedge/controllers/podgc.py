"""Pod garbage collection (kube-controller-manager's podgc controller).

Every period it force-deletes (grace period 0):
- terminated pods (Succeeded or Failed) beyond `terminatedPodGcThreshold`, oldest first;
- pods bound to a node that no longer exists, once the node has been missing for the
  quarantine time (40 s) and the API confirms it is gone (the cache may lag);
- terminating pods on a node that is not Ready and carries the
  `node.kubernetes.io/out-of-service` taint (the admin declared it dead);
- terminating pods that were never scheduled.
Pods it deletes that had not finished are first marked Failed with a `DisruptionTarget`
condition, so their controllers see why. Never deletes a pod on a node that exists and
is not out of service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from kubeedge.api import meta
from kubeedge.client.clock import Clock
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory, object_key
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.client.workqueue import RateLimitingQueue
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

NODES = ResourceRef("", "v1", "nodes", False, "Node")
PODS = ResourceRef("", "v1", "pods", True, "Pod")
TAINT_OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
GC_KEY = "gc"
# kube's gcCheckPeriod and quarantineTime.
_EPOCH = datetime.min.replace(tzinfo=UTC)


def is_terminated(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _node_ready(node: Obj) -> bool:
    cond = meta.condition(node, "Ready")
    return cond is not None and cond.get("status") == "True"


def _out_of_service(node: Obj) -> bool:
    return any(isinstance(t, dict) and t.get("key") == TAINT_OUT_OF_SERVICE
               for t in (node.get("spec") or {}).get("taints") or [])


def terminated_to_delete(pods: list[Obj], threshold: int) -> list[Obj]:
    """The terminated pods beyond `threshold`, oldest first (0 turns this off)."""
    if threshold <= 0:
        return []
    terminated = [p for p in pods if is_terminated(p) and not meta.is_terminating(p)]
    excess = len(terminated) - threshold
    if excess <= 0:
        return []
    terminated.sort(key=lambda p: (
        meta.parse_time((p.get("metadata") or {}).get("creationTimestamp")) or _EPOCH,
        object_key(p)))
    return terminated[:excess]


class PodGCController(Controller):
    """One key, `gc`: each pass looks at every pod. Node deletions bring a pass forward
    to the end of their quarantine."""

    name = "podgc"
    component = "pod-garbage-collector"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 clock: Clock | None = None, gc_period_seconds: float | None = None,
                 quarantine_seconds: float | None = None) -> None:
        super().__init__(client, informers, recorder, config)
        self.clock: Clock = clock or client.clock
        if clock is not None:
            self.queue = RateLimitingQueue(name=self.name, clock=clock)
        self.gc_period_seconds = (gc_period_seconds if gc_period_seconds is not None
                                  else self.config.pod_gc_period_seconds)
        self.quarantine_seconds = (quarantine_seconds if quarantine_seconds is not None
                                   else self.config.pod_gc_quarantine_seconds)
        # Nodes pods are bound to that the cache does not have: when first seen missing.
        self.missing_since: dict[str, float] = {}
        self._ticker: asyncio.Task[None] | None = None

    def setup(self) -> None:
        self.pods = self.informer(PODS)
        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(on_delete=self._node_deleted)

    def _node_deleted(self, node: Obj) -> None:
        self.missing_since.setdefault(meta.name_of(node), self.clock.now())
        self.queue.add_after(GC_KEY, self.quarantine_seconds)

    async def start(self) -> None:
        await super().start()
        self._ticker = asyncio.create_task(self._tick(), name=f"{self.name} ticker")

    async def stop(self) -> None:
        task, self._ticker = self._ticker, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().stop()

    async def _tick(self) -> None:
        while True:
            self.queue.add(GC_KEY)
            await self.clock.sleep(self.gc_period_seconds)

    async def reconcile(self, key: str) -> None:
        pods = self.pods.store.list()
        await self.gc_terminated(pods)
        await self.gc_orphaned(pods)
        await self.gc_terminating(pods)

    async def gc_terminated(self, pods: list[Obj]) -> None:
        victims = terminated_to_delete(pods, self.config.terminated_pod_gc_threshold)
        if victims:
            log.info("podgc: deleting %d terminated pods beyond the threshold of %d",
                     len(victims), self.config.terminated_pod_gc_threshold)
        for pod in victims:
            await self._force_delete(pod)

    async def gc_orphaned(self, pods: list[Obj]) -> None:
        now = self.clock.now()
        bound: dict[str, list[Obj]] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node and self.nodes.store.get("", node) is None:
                bound.setdefault(str(node), []).append(pod)
        for name in list(self.missing_since):
            if name not in bound:
                del self.missing_since[name]
        for name, orphans in bound.items():
            since = self.missing_since.setdefault(name, now)
            waited = now - since
            if waited < self.quarantine_seconds:
                self.queue.add_after(GC_KEY, self.quarantine_seconds - waited)
                continue
            # The cache may lag: only the API's word that the node is gone counts.
            try:
                await self.client.get(NODES, name)
                continue
            except APIError as exc:
                if not exc.is_not_found:
                    raise
            for pod in orphans:
                log.info("podgc: deleting pod %s bound to node %s, which no longer exists",
                         object_key(pod), name)
                await self._force_delete(pod, "DeletionByPodGC", "PodGC: node no longer exists")

    async def gc_terminating(self, pods: list[Obj]) -> None:
        for pod in pods:
            if not meta.is_terminating(pod):
                continue
            node_name = (pod.get("spec") or {}).get("nodeName")
            if not node_name:
                await self._force_delete(pod)
                continue
            node = self.nodes.store.get("", str(node_name))
            if node is not None and not _node_ready(node) and _out_of_service(node):
                log.info("podgc: deleting terminating pod %s on out-of-service node %s",
                         object_key(pod), node_name)
                await self._force_delete(pod)

    async def _force_delete(self, pod: Obj, reason: str = "", message: str = "") -> None:
        """Mark an unfinished pod Failed (with a DisruptionTarget condition when a reason
        is given), then delete it with grace period 0."""
        name, namespace = meta.name_of(pod), meta.namespace_of(pod)
        try:
            if not is_terminated(pod):
                status: Obj = {"phase": "Failed"}
                if reason:
                    status["conditions"] = [{
                        "type": "DisruptionTarget", "status": "True", "reason": reason,
                        "message": message, "lastTransitionTime": meta.rfc3339(meta.now())}]
                await self.client.patch(PODS, name, {"status": status}, namespace,
                                        patch_type="strategic", subresource="status")
            await self.client.delete(PODS, name, namespace, grace_period_seconds=0,
                                     preconditions={"uid": pod["metadata"]["uid"]})
        except APIError as exc:
            if not (exc.is_not_found or exc.is_conflict):
                raise
