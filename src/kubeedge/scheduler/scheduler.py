"""The scheduler: places pending pods on nodes and binds them (ARCHITECTURE.md
"scheduler").

Reads the world through the shared Node and Pod informers into a `SchedulerCache`
(phase one, STYLE.md "Reconcile in two phases"), decides one pod at a time with the
allocate action over a long-lived `Session` (each default-scheduler pod is a one-pod
gang, placed the moment it is seen, not at the next period), then writes: POST
`pods/{name}/binding` (after patching onto the pod the annotations a plugin set for
the placement, such as deviceshare's `volcano.sh/gpu-index`), with at most
`bindConcurrency` bindings in flight; the `Scheduled` / `FailedScheduling` Events and
the `PodScheduled=False` condition in kube-scheduler's words. A pod is counted on its
node before its bind is sent, so two pods never both take a node's last slot.

Pods whose `spec.schedulerName` is one of `schedulerNames` take that fast path. Pods
for `volcanoSchedulerNames` take the Volcano path (specs/volcano.md §2): every
`schedulePeriodSeconds` a `JobSession` over the PodGroups (with the pods that name them
in `scheduling.k8s.io/group-name`) and the Queues runs the configured actions; what
its Statements commit is bound through the same binding path, and at close each
PodGroup's status (phase, counts, Unschedulable/Scheduled condition) is written when it
changed, with `FailedScheduling` events on the pods left pending. Both paths count on
the one cache, so they never take the same slot. Talks to the API only through
`kubeedge.client` (rule 1); holds no Lease itself: whoever runs it runs it under a
`LeaderElector` when there can be two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from kubeedge.api import meta
from kubeedge.client.clock import Clock
from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.events import NORMAL, WARNING, EventRecorder
from kubeedge.client.informer import HandlerRegistration, Informer, SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.scheduler import SchedulerConfig
from kubeedge.scheduler.actions.allocate import allocate_task
from kubeedge.scheduler.framework.cache import SchedulerCache
from kubeedge.scheduler.framework.info import TaskInfo, node_ready_status
from kubeedge.scheduler.framework.session import FitErrors, Session
from kubeedge.scheduler.plugins import build_plugins
from kubeedge.scheduler.queue import SchedulingQueue
from kubeedge.scheduler.volcano import PODGROUPS, PRIORITY_CLASSES, QUEUES, VolcanoPath

__all__ = ["NODES", "PODGROUPS", "PODS", "QUEUES", "Scheduler"]

log = logging.getLogger(__name__)

PODS = ResourceRef("", "v1", "pods", True, "Pod")
NODES = ResourceRef("", "v1", "nodes", False, "Node")

Obj = dict[str, Any]

DEFAULT_SCHEDULER = "default-scheduler"


def _key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    namespace = md.get("namespace") or ""
    return f"{namespace}/{md.get('name') or ''}" if namespace else str(md.get("name") or "")


def _as_pod(pod: Obj) -> Obj:
    """The pod with apiVersion and kind (list answers leave them off their items), so
    an Event's involvedObject names it."""
    if pod.get("kind") and pod.get("apiVersion"):
        return pod
    return {**pod, "apiVersion": "v1", "kind": "Pod"}


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _node_fingerprint(node: Obj) -> tuple[Any, ...]:
    """What about a node can make a parked pod fit (heartbeats cannot)."""
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    return (meta.labels_of(node), spec.get("taints"), bool(spec.get("unschedulable")),
            status.get("allocatable"), node_ready_status(node))


class Scheduler:
    """`Scheduler(client, informers, recorder, config)`; `await start()` once the
    informers may start, `await stop()` to end. Informers belong to the factory's owner.

    `client` should allow a high QPS (Volcano's default is 2000): every placement is a
    bind plus an Event.
    """

    def __init__(self, client: APIClient, informers: SharedInformerFactory,
                 recorder: EventRecorder, config: SchedulerConfig | None = None, *,
                 clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.client = client
        self.factory = informers
        self.recorder = recorder
        self.config = (config or SchedulerConfig()).validate()
        self.clock: Clock = clock or client.clock
        self.rng = rng
        self.cache, self.session, self.queue = self._fresh_state()
        self.names = frozenset(self.config.scheduler_names)
        self.pods: Informer | None = None
        self.nodes: Informer | None = None
        # Counters for tests and metrics.
        self.scheduled = 0
        self.unschedulable = 0
        self.bind_errors = 0
        self._slots = asyncio.Semaphore(self.config.bind_concurrency)
        self._writes: set[asyncio.Task[None]] = set()
        self._registrations: list[tuple[Informer, HandlerRegistration]] = []
        self._task: asyncio.Task[None] | None = None
        self._session_task: asyncio.Task[None] | None = None
        self.volcano = VolcanoPath(self) if self.config.volcano_scheduler_names else None

    # -- lifecycle --------------------------------------------------------------------

    def _fresh_state(self) -> tuple[SchedulerCache, Session, SchedulingQueue]:
        cache = SchedulerCache()
        session = Session(cache, build_plugins(self.config.tiers), self.rng)
        queue = SchedulingQueue(
            self.clock, initial_backoff=self.config.pod_initial_backoff_seconds,
            max_backoff=self.config.pod_max_backoff_seconds)
        return cache, session, queue

    async def start(self) -> None:
        """Fill the cache from the informers, then place pods. A stopped scheduler may
        start again (leadership regained): it starts from what the informers hold."""
        self.cache, self.session, self.queue = self._fresh_state()
        self.nodes = self.factory.informer(NODES)
        self.pods = self.factory.informer(PODS)
        self._registrations = [
            (self.nodes, self.nodes.add_event_handler(
                self._node_added, self._node_updated, self._node_deleted)),
            (self.pods, self.pods.add_event_handler(
                self._pod_added, self._pod_updated, self._pod_deleted)),
        ]
        for informer, _ in self._registrations:
            informer.start()
        for informer, registration in self._registrations:
            await informer.wait_synced()
            await registration.wait_synced()
        self._task = asyncio.create_task(self._run(), name="scheduler")
        if self.volcano is not None:
            # PodGroups and Queues are CRDs that may not be installed yet: their
            # informers retry until they are, and sessions wait for them.
            self.volcano.start(self.factory.informer(PODGROUPS),
                               self.factory.informer(QUEUES),
                               self.factory.informer(PRIORITY_CLASSES))
            self._session_task = asyncio.create_task(self.volcano.run(),
                                                     name="scheduler-sessions")

    async def stop(self) -> None:
        self.queue.close()
        for task in (self._task, self._session_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._session_task = None
        for informer, registration in self._registrations:
            informer.remove_event_handler(registration)
        self._registrations = []
        if self._writes:
            # Bindings under way finish (they are short); nothing new starts.
            await asyncio.wait(set(self._writes), timeout=10)
        for write in list(self._writes):
            write.cancel()

    def responsible_for(self, pod: Obj) -> bool:
        return ((pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER) in self.names

    # -- phase one: the informers' view into the cache and the queue ------------------

    def _node_added(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.queue.move_all_to_active()

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.set_node(new)
        if _node_fingerprint(old) != _node_fingerprint(new):
            self.queue.move_all_to_active()

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(meta.name_of(node))

    def _pod_added(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            self.cache.update_pod(pod)
        elif self._pending(pod):
            self.queue.add(_key(pod))
        if self.volcano is not None:
            self.volcano.pod_changed(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = _key(new)
        if self.volcano is not None:
            self.volcano.pod_changed(new)
        if (new.get("spec") or {}).get("nodeName"):
            replaced = self.cache.update_pod(new)
            if not (old.get("spec") or {}).get("nodeName"):
                self.queue.delete(key)
            if replaced is not None and (key not in self.cache.tasks
                                         or meta.labels_of(old) != meta.labels_of(new)):
                # It finished (its resources are free) or its labels moved (affinity).
                self.queue.move_all_to_active()
            return
        if not self._pending(new):
            self.queue.delete(key)
        elif (old.get("spec") != new.get("spec")
              or meta.labels_of(old) != meta.labels_of(new)):
            self.queue.activate(key)
            self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = _key(pod)
        if self.volcano is not None:
            self.volcano.pod_deleted(pod)
        self.queue.delete(key)
        if self.cache.delete_pod(pod) is not None:
            self.queue.move_all_to_active()

    def _pending(self, pod: Obj) -> bool:
        return (self.responsible_for(pod) and not _terminal(pod)
                and not meta.is_terminating(pod))

    # -- phase two: decide ------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            # A bind slot first, so each decision sees every earlier placement.
            await self._slots.acquire()
            item = await self.queue.pop()
            if item is None:
                self._slots.release()
                return
            key, cycle = item
            try:
                bound = self._schedule_one(key, cycle)
            except Exception:
                log.exception("scheduler: scheduling %s failed", key)
                self.queue.add_backoff(key)
                bound = False
            if not bound:
                self._slots.release()
            # Let the informers and bindings run between decisions.
            await asyncio.sleep(0)

    def _schedule_one(self, key: str, cycle: int) -> bool:
        """Decide for one pod; True when a bind was started (it owns the slot)."""
        assert self.pods is not None
        pod = self.pods.store.get_by_key(key)
        if (pod is None or (pod.get("spec") or {}).get("nodeName")
                or not self._pending(pod) or self.cache.is_assumed(key)):
            return False
        task = TaskInfo.from_pod(pod)
        result = allocate_task(self.session, task, self.config.percentage_of_nodes_to_score)
        if isinstance(result, FitErrors):
            self._fit_failed(task, result, cycle)
            return False
        self.cache.assume(task, result.name)
        self._spawn(self._bind(task, result.name))
        return True

    # -- phase three: write -----------------------------------------------------------

    async def bind_committed(self, task: TaskInfo, node_name: str) -> None:
        """Bind a placement a Volcano session committed (already assumed)."""
        await self._slots.acquire()
        await self._bind(task, node_name)

    def _spawn(self, coro: Any) -> None:
        write = asyncio.create_task(coro)
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)

    async def _bind(self, task: TaskInfo, node_name: str) -> None:
        try:
            self.cache.binding(task)
            if task.bind_annotations:
                # What a plugin decided for this placement (deviceshare's GPU index)
                # is on the pod before it is bound, so the node sees it when it starts
                # the pod (Volcano's binder patches the pod the same way).
                await self.client.patch(
                    PODS, task.name,
                    {"metadata": {"annotations": dict(task.bind_annotations)}},
                    task.namespace)
            body = {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": task.name, "namespace": task.namespace, "uid": task.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
            }
            await self.client.request(
                "POST", PODS.path(task.namespace, task.name, "binding"), body=body)
        except APIError as exc:
            self.cache.forget(task)
            self.bind_errors += 1
            if exc.is_not_found or (exc.is_conflict and "already assigned" in exc.message):
                # Gone, or bound by someone else: nothing left to do for it.
                log.info("scheduler: binding %s to %s: %s", task.key, node_name, exc)
                return
            log.warning("scheduler: binding %s to %s failed: %s", task.key, node_name, exc)
            self.recorder.event(_as_pod(task.pod), WARNING, "FailedScheduling",
                                f"Binding rejected: {exc.message}")
            self.queue.add_backoff(task.key)
        except (APIConnectionError, TimeoutError, OSError) as exc:
            # The bind may or may not have landed; try again, the API will say.
            self.cache.forget(task)
            self.bind_errors += 1
            log.warning("scheduler: binding %s to %s failed: %s", task.key, node_name, exc)
            self.queue.add_backoff(task.key)
        else:
            self.scheduled += 1
            self.queue.forget(task.key)
            self.recorder.event(_as_pod(task.pod), NORMAL, "Scheduled",
                                f"Successfully assigned {task.namespace}/{task.name} to "
                                f"{node_name}")
        finally:
            self._slots.release()

    def _fit_failed(self, task: TaskInfo, errors: FitErrors, cycle: int) -> None:
        self.unschedulable += 1
        self.queue.add_unschedulable(task.key, cycle)
        message = errors.message(task.preempt_never)
        self.recorder.event(_as_pod(task.pod), WARNING, "FailedScheduling", message)
        current = meta.condition(task.pod, "PodScheduled") or {}
        if (current.get("status"), current.get("reason"), current.get("message")) != (
                "False", "Unschedulable", message):
            self._spawn(self._mark_unschedulable(task, current, message))

    async def _mark_unschedulable(self, task: TaskInfo, current: Obj, message: str) -> None:
        """PodScheduled=False, reason Unschedulable (kube's updatePod after a failed
        cycle); lastTransitionTime moves only when the status does."""
        now = meta.rfc3339(meta.now())
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": (current.get("lastTransitionTime") or now
                                   if current.get("status") == "False" else now),
        }
        try:
            await self.client.patch(PODS, task.name, {"status": {"conditions": [condition]}},
                                    task.namespace, patch_type="strategic",
                                    subresource="status")
        except (APIError, APIConnectionError, TimeoutError, OSError) as exc:
            log.info("scheduler: recording %s unschedulable: %s", task.key, exc)

    # -- configuration ----------------------------------------------------------------

    def reconfigure(self, config: SchedulerConfig) -> None:
        """Put `config`'s actions, tiers and configurations in force (a reloaded
        volcano-scheduler.conf, scheduler/conf.py): the fast path decides its next pod
        with plugins built from the new tiers, the Volcano path reads them at its next
        session. Names, periods and concurrency stay as started. Synchronous, as
        decisions and sessions are, so the swap always falls between two of them."""
        from msgspec import structs

        new = structs.replace(self.config, actions=config.actions, tiers=config.tiers,
                              configurations=config.configurations)
        session = Session(self.cache, build_plugins(new.tiers), self.rng)
        # Keep the sampled search's rotation over the nodes going.
        session.next_start_index = self.session.next_start_index
        self.config, self.session = new, session
