"""The PodGroup controller (Volcano's pg-controller, specs/volcano.md §1.4): every pod
for the Volcano scheduler that names no PodGroup gets one of its own, so the scheduler
can treat it as a gang.

For such a pod it creates PodGroup `podgroup-<uid of the pod's controller, else of the
pod>` (so the replicas of one ReplicaSet share one group): minMember 1, or the
controller's annotation `scheduling.volcano.sh/group-min-member`; minResources = the
pod's requests x minMember; queue from the pod's annotation
`scheduling.volcano.sh/queue-name`, else `default`; the pod's priorityClassName; owned
by the pod's controller (or the pod). Then it writes the group's name into the pod's
`scheduling.k8s.io/group-name` annotation. Pods that name a group are never touched;
groups are never deleted here (their owners' garbage collection does that).
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction
from typing import Any

from kubeedge.api import meta
from kubeedge.api.defaults import parse_quantity
from kubeedge.client.errors import APIConnectionError, APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory, object_key
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.pods import controller_ref
from kubeedge.controllers.runtime import Controller
from kubeedge.controllers.volcano_crds import PODGROUPS

__all__ = [
    "GROUP_MIN_MEMBER_ANNOTATION",
    "GROUP_NAME_ANNOTATION",
    "PODGROUPS",
    "QUEUE_NAME_ANNOTATION",
    "PodGroupController",
    "podgroup_for",
    "podgroup_name",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PODS = ResourceRef("", "v1", "pods", True, "Pod")

GROUP_NAME_ANNOTATION = "scheduling.k8s.io/group-name"
GROUP_MIN_MEMBER_ANNOTATION = "scheduling.volcano.sh/group-min-member"
QUEUE_NAME_ANNOTATION = "scheduling.volcano.sh/queue-name"
DEFAULT_QUEUE = "default"
VOLCANO = "volcano"


def needs_group(pod: Obj, scheduler_names: frozenset[str]) -> bool:
    md = pod.get("metadata") or {}
    return ((pod.get("spec") or {}).get("schedulerName") in scheduler_names
            and not (md.get("annotations") or {}).get(GROUP_NAME_ANNOTATION)
            and not meta.is_terminating(pod))


def podgroup_name(pod: Obj) -> str:
    owner = controller_ref(pod)
    uid = (owner or {}).get("uid") or (pod.get("metadata") or {}).get("uid") or ""
    return f"podgroup-{uid}"


def _format(name: str, value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    if name == "cpu" or value < 1:
        return f"{math.ceil(value * 1000)}m"
    return str(math.ceil(value))


def _container_requests(container: Obj) -> dict[str, object]:
    """A container's requests as the API server defaults them: a resource with a limit
    and no request requests its limit. A vcjob's or a controller's pod template has
    not been through pod defaulting, so a GPU given only under limits still counts."""
    resources = container.get("resources") or {}
    return {**(resources.get("limits") or {}), **(resources.get("requests") or {})}


def pod_requests(pod: Obj) -> dict[str, Fraction]:
    """The pod's requests: containers summed, the largest init container when more
    (kube's PodRequests without sidecars and overhead, enough for minResources)."""
    spec = pod.get("spec") or {}
    total: dict[str, Fraction] = {}
    for container in spec.get("containers") or []:
        for name, value in _container_requests(container).items():
            amount = parse_quantity(value)
            if amount is not None:
                total[name] = total.get(name, Fraction(0)) + amount
    for container in spec.get("initContainers") or []:
        for name, value in _container_requests(container).items():
            amount = parse_quantity(value)
            if amount is not None and amount > total.get(name, Fraction(0)):
                total[name] = amount
    return total


def podgroup_for(pod: Obj, min_member: int = 1) -> Obj:
    """The PodGroup the controller creates for `pod` (pure)."""
    md = pod.get("metadata") or {}
    owner = controller_ref(pod)
    if owner is None:
        owner = {"apiVersion": "v1", "kind": "Pod", "name": md.get("name") or "",
                 "uid": md.get("uid") or "", "controller": True}
    annotations = md.get("annotations") or {}
    spec: Obj = {
        "minMember": min_member,
        "queue": annotations.get(QUEUE_NAME_ANNOTATION) or DEFAULT_QUEUE,
        "minResources": {name: _format(name, amount * min_member)
                         for name, amount in sorted(pod_requests(pod).items())},
    }
    priority_class = (pod.get("spec") or {}).get("priorityClassName")
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {
        "apiVersion": PODGROUPS.api_version,
        "kind": PODGROUPS.kind,
        "metadata": {"name": podgroup_name(pod), "namespace": md.get("namespace") or "",
                     "ownerReferences": [dict(owner)]},
        "spec": spec,
        "status": {"phase": "Pending"},
    }


def _min_member(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return number if number > 0 else 1


class PodGroupController(Controller):
    """Keys: `namespace/name` of pods that need a group.

    `scheduler_names`: the Volcano scheduler's names (its `--scheduler-name`,
    default `volcano`)."""

    name = "podgroup"
    component = "pg-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 scheduler_names: tuple[str, ...] = (VOLCANO,), workers: int = 5) -> None:
        super().__init__(client, informers, recorder, config)
        self.scheduler_names = frozenset(scheduler_names)
        self.workers = workers

    def setup(self) -> None:
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(on_add=self._pod_changed,
                                    on_update=lambda _old, new: self._pod_changed(new))

    def _pod_changed(self, pod: Obj) -> None:
        if needs_group(pod, self.scheduler_names):
            self.queue.add(object_key(pod))

    async def reconcile(self, key: str) -> None:
        pod = self.pods.store.get_by_key(key)
        if pod is None or not needs_group(pod, self.scheduler_names):
            return
        namespace = meta.namespace_of(pod)
        group = podgroup_for(pod, await self._min_member(pod))
        try:
            await self.client.create(PODGROUPS, group, namespace)
        except APIError as exc:
            if not exc.is_already_exists:
                raise
        patch = {"metadata": {"annotations": {GROUP_NAME_ANNOTATION: meta.name_of(group)}}}
        try:
            await self.client.patch(PODS, meta.name_of(pod), patch, namespace)
        except APIError as exc:
            if exc.is_not_found:
                return
            raise

    async def _min_member(self, pod: Obj) -> int:
        """The controller's `scheduling.volcano.sh/group-min-member` (Volcano reads
        the upper resource's annotations), else 1."""
        owner = controller_ref(pod)
        if owner is None:
            return 1
        try:
            ref = await self.client.resource(str(owner.get("kind") or ""),
                                             str(owner.get("apiVersion") or ""))
            obj = await self.client.get(ref, str(owner.get("name") or ""),
                                        meta.namespace_of(pod) if ref.namespaced else None)
        except (APIError, APIConnectionError, LookupError, ValueError) as exc:
            log.debug("podgroup: owner of %s: %s", object_key(pod), exc)
            return 1
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        return _min_member(annotations.get(GROUP_MIN_MEMBER_ANNOTATION, 1))
