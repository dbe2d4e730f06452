"""The scheduler cache: nodes and the pods placed on them, fed by the Node and Pod
informers, plus the pods this scheduler has placed but not yet seen bound.

Owns the accounting rule that keeps two pods from both taking a node's last slot: a
pod is counted on its node the moment it is *assumed* (placed by us, bind not yet
confirmed by the watch), and stays counted until the watch shows it bound (then the
API's copy replaces ours), it is deleted or finishes, or its bind fails (`forget`).
Terminal pods (Succeeded, Failed) hold nothing (specs/volcano.md §2.1).

Preemption (specs/volcano.md §2.1, §2.3) adds two kinds of entries. A pod whose
eviction we sent is *Releasing* from then on, even before the watch shows its
deletionTimestamp, so no later session picks it as a victim again or forgets that its
resources are on their way back; its resources stay counted on the node until the pod
is gone (`future_idle` = what is idle + what is releasing). A *pipelined* task is a
session's reservation on resources still being released: counted on the node like a
placement (so nothing else in that session takes them) but never bound, and taken off
again when the session ends (`unpipeline`).

Every change to a node or to the pods counted on it gives the node a new generation
(framework/info.py); sessions memoize feasibility and scores per generation.

Never talks to the API (the informers feed it, `Scheduler` writes), never changes the
objects it is handed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge.scheduler.framework.info import (
    NodeInfo,
    TaskInfo,
    TaskStatus,
    holds_resources,
    next_generation,
    task_status,
)
from kubeedge.scheduler.framework.resource import Resource

__all__ = ["SchedulerCache"]

Obj = dict[str, Any]


def _key(obj: Mapping[str, Any]) -> str:
    md = obj.get("metadata") or {}
    namespace = md.get("namespace") or ""
    name = md.get("name") or ""
    return f"{namespace}/{name}" if namespace else str(name)


class SchedulerCache:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        # Every pod counted on some node, by key.
        self.tasks: dict[str, TaskInfo] = {}
        # Keys of pods placed by us whose binding the watch has not shown yet.
        self.assumed: set[str] = set()
        # Placed pods with required anti-affinity terms: every placement must respect
        # them (kube keeps the same list, HavePodsWithRequiredAntiAffinityList).
        self.anti_affinity_tasks: dict[str, TaskInfo] = {}
        # Keys of pods whose eviction was sent and whose deletion the watch has not
        # shown yet: they stay Releasing.
        self.evicting: set[str] = set()
        self._schedulable: list[NodeInfo] | None = None

    # -- nodes ------------------------------------------------------------------------

    def set_node(self, node: Obj) -> NodeInfo:
        name = _key(node)
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
            self._schedulable = None
        elif info.node is None:
            self._schedulable = None
        info.set_node(node)
        return info

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None:
            return
        self._schedulable = None
        if info.tasks:
            # Its pods still exist (they are deleted by the node lifecycle controller or
            # the garbage collector); keep counting them on a node nobody can pick.
            info.node = None
            info.generation = next_generation()
        else:
            del self.nodes[name]

    def node_list(self) -> list[NodeInfo]:
        """The nodes that exist (pods on deleted nodes stay counted off the list), in a
        stable order for round-robin sampling."""
        if self._schedulable is None:
            self._schedulable = sorted(
                (n for n in self.nodes.values() if n.node is not None), key=lambda n: n.name)
        return self._schedulable

    # -- pods seen through the watch --------------------------------------------------

    def update_pod(self, pod: Obj) -> TaskInfo | None:
        """Account for the API's current pod; returns the task it replaced on a node
        (the pod left or changed its node, or finished), if any."""
        key = _key(pod)
        spec = pod.get("spec") or {}
        node_name = spec.get("nodeName") or ""
        if not node_name:
            # Unbound: nothing to count, unless we placed it and the bind is under way.
            if key in self.assumed:
                return None
            return self._unplace(key)
        task = self._reuse(key, pod, node_name) or TaskInfo.from_pod(pod)
        if key in self.evicting:
            if task.status in (TaskStatus.RUNNING, TaskStatus.BOUND):
                task.status = TaskStatus.RELEASING
            else:
                # The deletion (or the end of the pod) is visible now.
                self.evicting.discard(key)
        if not holds_resources(task.status):
            self.assumed.discard(key)
            return self._unplace(key)
        self.assumed.discard(key)
        old = self._unplace(key)
        self._place(task)
        return old

    def delete_pod(self, pod: Obj) -> TaskInfo | None:
        key = _key(pod)
        self.assumed.discard(key)
        self.evicting.discard(key)
        return self._unplace(key)

    # -- pods placed by the scheduler -------------------------------------------------

    def assume(self, task: TaskInfo, node_name: str) -> None:
        """Count `task` on `node_name` now, before the bind is sent."""
        task.node_name = node_name
        task.status = TaskStatus.ALLOCATED
        self._unplace(task.key)
        self._place(task)
        self.assumed.add(task.key)

    def binding(self, task: TaskInfo) -> None:
        if task.key in self.assumed:
            task.status = TaskStatus.BINDING

    def forget(self, task: TaskInfo) -> None:
        """The bind failed: give the place back, unless the watch has since shown the
        pod bound (then the API's placement stands)."""
        if task.key in self.assumed:
            self.assumed.discard(task.key)
            self._unplace(task.key)
        task.node_name = ""
        task.status = TaskStatus.PENDING

    def is_assumed(self, key: str) -> bool:
        return key in self.assumed

    # -- preemption -------------------------------------------------------------------

    def pipeline(self, task: TaskInfo, node_name: str) -> None:
        """Reserve `node_name`'s releasing resources for `task` in this session: it
        counts on the node, but is neither assumed nor bound."""
        task.node_name = node_name
        task.status = TaskStatus.PIPELINED
        self._unplace(task.key)
        self._place(task)

    def unpipeline(self, task: TaskInfo) -> None:
        """Give a pipelined reservation back; the task is pending again."""
        placed = self.tasks.get(task.key)
        if placed is task and task.status == TaskStatus.PIPELINED:
            self._unplace(task.key)
        task.node_name = ""
        task.status = TaskStatus.PENDING

    def evicted(self, task: TaskInfo) -> None:
        """The eviction of `task` is being sent: it stays Releasing until the watch
        shows the pod deleting or gone."""
        task.status = TaskStatus.RELEASING
        self.evicting.add(task.key)

    def eviction_failed(self, task: TaskInfo) -> None:
        """The eviction was refused: the pod holds its place as the API says."""
        self.evicting.discard(task.key)
        if self.tasks.get(task.key) is task and task.status == TaskStatus.RELEASING:
            task.status = task_status(task.pod)

    @staticmethod
    def releasing(node: NodeInfo) -> Resource:
        """What the Releasing pods on `node` hold (specs/volcano.md §2.1)."""
        total = Resource()
        for task in node.tasks.values():
            if task.status == TaskStatus.RELEASING:
                total.add(task.resreq)
        return total

    def future_idle(self, node: NodeInfo) -> Resource:
        """Volcano's FutureIdle = Idle + Releasing - Pipelined. Pipelined tasks are
        counted in `requested` here, so it is allocatable - requested + releasing."""
        idle = node.allocatable.copy()
        idle.sub(node.requested)
        idle.add(self.releasing(node))
        return idle

    # -- internals --------------------------------------------------------------------

    def _reuse(self, key: str, pod: Obj, node_name: str) -> TaskInfo | None:
        """The task already counted for this pod, brought up to date, when nothing it
        was parsed from has changed (the watch confirming our own bind, a status
        update): parsing a pod costs more than comparing it."""
        task = self.tasks.get(key)
        if task is None or task.node_name != node_name:
            return None
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        old_spec = task.pod.get("spec") or {}
        if (task.uid != (md.get("uid") or "") or task.labels != (md.get("labels") or {})
                or old_spec.get("containers") != spec.get("containers")
                or old_spec.get("initContainers") != spec.get("initContainers")
                or old_spec.get("overhead") != spec.get("overhead")
                or old_spec.get("affinity") != spec.get("affinity")):
            return None
        task.pod = pod
        task.status = task_status(pod)
        return task

    def _place(self, task: TaskInfo) -> None:
        info = self.nodes.get(task.node_name)
        if info is None:
            # Bound to a node we have not seen (yet): count it there anyway.
            info = self.nodes[task.node_name] = NodeInfo(task.node_name)
        info.add_task(task)
        self.tasks[task.key] = task
        if task.anti_affinity_terms:
            self.anti_affinity_tasks[task.key] = task

    def _unplace(self, key: str) -> TaskInfo | None:
        task = self.tasks.pop(key, None)
        if task is None:
            return None
        self.anti_affinity_tasks.pop(key, None)
        info = self.nodes.get(task.node_name)
        if info is not None:
            info.remove_task(key)
            if info.node is None and not info.tasks:
                del self.nodes[task.node_name]
        return task
