"""EndpointSlices for Services (kube's endpointslice controller): for each Service with
a selector, discovery.k8s.io/v1 EndpointSlices (`<service>-<random>`, owned by the
Service, labelled with its name and this controller as manager) listing the selected
pods, one endpoint per pod with ready/serving/terminating conditions, at most
`max_endpoints_per_slice` per slice, one group of slices per address type and port set.

Slices are updated in place: endpoints that stay keep their slice, new ones fill the
free room of existing slices before a new slice is made, and a slice is deleted only
when it empties. A Service with no endpoints keeps one empty placeholder slice, as kube
does. Must never touch slices another manager labelled (mirrored or user-made ones).

Our own writes reach the informer later than we make them: until the cache shows every
slice we created, updated or deleted for a Service, that Service is not reconciled
again (kube's EndpointSliceTracker), so a stale cache never makes duplicate slices.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import (
    NAMESPACE_INDEX,
    SharedInformerFactory,
    split_key,
)
from kubeedge.client.informer import object_key as key_of
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.endpoints import (
    HEADLESS_LABEL,
    LAST_CHANGE_TRIGGER_TIME,
    PODS,
    SERVICES,
    TriggerTimeTracker,
    endpoint_port,
    find_port,
    is_headless,
    pod_ip_for,
    pod_relevance,
    selector_of,
    selects,
    service_families,
    should_be_endpoint,
    should_set_hostname,
    target_ref,
)
from kubeedge.controllers.pods import is_ready
from kubeedge.controllers.runtime import Controller

Obj = dict[str, Any]

ENDPOINT_SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices", True,
                              "EndpointSlice")
NODES = ResourceRef("", "v1", "nodes", False, "Node")

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_PER_SLICE = 100
# How soon a Service whose slices the cache has not caught up with is looked at again.
STALE_CACHE_RETRY_SECONDS = 0.05

_SERVICE_INDEX = "service-name"


# -- decisions (pure) ------------------------------------------------------------------


def endpoint_for(pod: Obj, service: Obj, address: str, zone: str | None) -> Obj:
    """One pod as an endpoint (kube's podToEndpoint): `serving` is the pod's readiness,
    `ready` is serving and not terminating (or always, with publishNotReadyAddresses)."""
    serving = is_ready(pod)
    terminating = meta.is_terminating(pod)
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoint: Obj = {
        "addresses": [address],
        "conditions": {"ready": publish or (serving and not terminating),
                       "serving": serving, "terminating": terminating},
        "targetRef": target_ref(pod),
    }
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
    if zone:
        endpoint["zone"] = zone
    if should_set_hostname(pod, service):
        endpoint["hostname"] = pod["spec"]["hostname"]
    return endpoint


def endpoint_key(endpoint: Obj) -> str:
    ref = endpoint.get("targetRef") or {}
    return str(ref.get("uid") or ref.get("name") or (endpoint.get("addresses") or [""])[0])


def ports_key(ports: Iterable[Obj] | None) -> tuple[Any, ...]:
    return tuple(sorted((p.get("name") or "", int(p.get("port") or 0),
                         p.get("protocol") or "TCP", p.get("appProtocol") or "")
                        for p in ports or []))


def pod_ports(pod: Obj, service: Obj) -> list[Obj]:
    """The ports a pod serves for the Service, as slice ports (name always set)."""
    out = []
    for service_port in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, service_port)
        if number is None:
            continue
        port = endpoint_port(service_port, number)
        port.setdefault("name", "")
        out.append(port)
    return out


Group = tuple[str, tuple[Any, ...]]


@dataclass
class Desired:
    """The endpoints of one (address type, port set) group, in a stable order."""

    address_type: str
    ports: list[Obj]
    endpoints: dict[str, Obj] = field(default_factory=dict)


def desired_groups(service: Obj, pods: Iterable[Obj], zones: dict[str, str]
                   ) -> dict[Group, Desired]:
    groups: dict[Group, Desired] = {}
    families = service_families(service)
    for pod in sorted(pods, key=meta.name_of):
        if not should_be_endpoint(pod, include_terminating=True):
            continue
        ports = pod_ports(pod, service)
        if (service.get("spec") or {}).get("ports") and not ports:
            continue  # serves none of the Service's ports
        node = (pod.get("spec") or {}).get("nodeName") or ""
        for family in families:
            address = pod_ip_for(pod, family)
            if address is None:
                continue
            group = (family, ports_key(ports))
            desired = groups.setdefault(group, Desired(family, ports))
            endpoint = endpoint_for(pod, service, address, zones.get(node))
            desired.endpoints[endpoint_key(endpoint)] = endpoint
    return groups


def slice_labels(service: Obj) -> dict[str, str]:
    """The Service's labels (but never ours to set), the service name, the manager,
    and the headless mark (kube's setEndpointSliceLabels)."""
    labels = {k: v for k, v in meta.labels_of(service).items()
              if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)}
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = meta.name_of(service)
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return labels


def owner_ref(service: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "name": meta.name_of(service),
            "uid": meta.metadata(service).get("uid", ""), "controller": True,
            "blockOwnerDeletion": True}


def owned_by(slice_: Obj, service: Obj) -> bool:
    uid = meta.metadata(service).get("uid")
    return any(ref.get("uid") == uid and ref.get("kind") == "Service"
               for ref in meta.metadata(slice_).get("ownerReferences") or [])


@dataclass
class Plan:
    """What to write for one Service: slices to create (bodies), to update (the
    cached slice and its new endpoints and ports), and to delete (cached slices)."""

    create: list[Obj] = field(default_factory=list)
    update: list[tuple[Obj, Obj]] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def plan_slices(service: Obj, existing: list[Obj], groups: dict[Group, Desired],
                max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> Plan:
    """Place the desired endpoints into slices, changing as few as possible (kube's
    reconciler): endpoints stay in the slice that has them, then new ones fill free
    room in slices of their group, then new slices hold the rest; emptied slices go."""
    plan = Plan()
    labels = slice_labels(service)
    by_group: dict[Group, list[Obj]] = {}
    for slice_ in sorted(existing, key=meta.name_of):
        group = (str(slice_.get("addressType")), ports_key(slice_.get("ports")))
        if not owned_by(slice_, service) or group not in groups:
            plan.delete.append(slice_)
            continue
        by_group.setdefault(group, []).append(slice_)

    kept: list[tuple[Obj, list[Obj], Desired]] = []
    for group, desired in groups.items():
        remaining = dict(desired.endpoints)
        placed: list[tuple[Obj, list[Obj]]] = []
        for slice_ in by_group.get(group, []):
            endpoints = []
            for endpoint in slice_.get("endpoints") or []:
                key = endpoint_key(endpoint)
                if key in remaining and len(endpoints) < max_per_slice:
                    endpoints.append(remaining.pop(key))
            placed.append((slice_, endpoints))
        # Fill the fullest slices first, so partly empty ones drain and go.
        for _, endpoints in sorted(placed, key=lambda p: -len(p[1])):
            while remaining and len(endpoints) < max_per_slice:
                endpoints.append(remaining.pop(next(iter(remaining))))
        for slice_, endpoints in placed:
            if endpoints:
                kept.append((slice_, endpoints, desired))
            else:
                plan.delete.append(slice_)
        rest = list(remaining.values())
        for start in range(0, len(rest), max_per_slice):
            plan.create.append(new_slice(service, labels, desired.address_type,
                                         desired.ports, rest[start:start + max_per_slice]))

    for slice_, endpoints, desired in kept:
        body = slice_body(slice_, service, labels, desired.ports, endpoints)
        if body is not None:
            plan.update.append((slice_, body))

    if not plan.create and not kept:
        # No endpoints at all: one empty placeholder slice says the Service was seen.
        family = service_families(service)[0]
        reusable = next((s for s in plan.delete if owned_by(s, service)), None)
        if reusable is not None:
            plan.delete.remove(reusable)
            reusable_body = slice_body(reusable, service, labels, [], [], family)
            if reusable_body is not None:
                plan.update.append((reusable, reusable_body))
        else:
            plan.create.append(new_slice(service, labels, family, [], []))
    return plan


def new_slice(service: Obj, labels: dict[str, str], address_type: str, ports: list[Obj],
              endpoints: list[Obj]) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": f"{meta.name_of(service)[:57]}-",
                     "namespace": meta.namespace_of(service), "labels": dict(labels),
                     "ownerReferences": [owner_ref(service)]},
        "addressType": address_type,
        "endpoints": list(endpoints),
        "ports": copy.deepcopy(ports),
    }


def slice_body(slice_: Obj, service: Obj, labels: dict[str, str], ports: list[Obj],
               endpoints: list[Obj], address_type: str | None = None) -> Obj | None:
    """The slice updated in place, or None when it already says all this."""
    address_type = address_type or str(slice_.get("addressType"))
    unchanged = (
        list(slice_.get("endpoints") or []) == endpoints
        and ports_key(slice_.get("ports")) == ports_key(ports)
        and slice_.get("addressType") == address_type
        and meta.labels_of(slice_) == labels
    )
    if unchanged:
        return None
    body = copy.deepcopy(slice_)
    md = body["metadata"]
    md["labels"] = dict(labels)
    refs = [r for r in md.get("ownerReferences") or [] if r.get("uid") != owner_ref(service)["uid"]]
    md["ownerReferences"] = [*refs, owner_ref(service)]
    body["addressType"] = address_type
    body["endpoints"] = list(endpoints)
    body["ports"] = copy.deepcopy(ports)
    return body


# -- the controller --------------------------------------------------------------------


class EndpointSliceController(Controller):
    name = "endpointslice-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *,
                 max_endpoints_per_slice: int | None = None) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.concurrent_endpoint_syncs
        self.max_endpoints_per_slice = (max_endpoints_per_slice
                                        or self.config.max_endpoints_per_slice)
        self.trigger_times = TriggerTimeTracker()
        # Per Service key: slice name -> the resourceVersion we wrote (None: deleted).
        self._expected: dict[str, dict[str, str | None]] = {}

    def setup(self) -> None:
        self.services = self.informer(SERVICES)
        self.services.add_event_handler(**self.enqueue_by(key_of))
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        self.slices = self.informer(ENDPOINT_SLICES)
        try:
            self.slices.store.add_index(_SERVICE_INDEX, _managed_service_key)
        except ValueError:
            pass  # a shared informer another of us already indexed
        self.slices.add_event_handler(**self.enqueue_by(_slice_service_key))
        self.nodes = self.informer(NODES)

    # -- events -------------------------------------------------------------------------

    def _services_for(self, pod: Obj) -> set[str]:
        keys = set()
        labels = meta.labels_of(pod)
        for service in self.services.store.by_index(NAMESPACE_INDEX, meta.namespace_of(pod)):
            if selects(service, labels):
                keys.add(key_of(service))
        return keys

    def _pod_changed(self, pod: Obj) -> None:
        for key in self._services_for(pod):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if pod_relevance(old) == pod_relevance(new):
            return
        keys = self._services_for(new)
        if meta.labels_of(old) != meta.labels_of(new):
            keys |= self._services_for(old)
        for key in keys:
            self.queue.add(key)

    # -- reconcile ----------------------------------------------------------------------

    def _cache_is_behind(self, key: str) -> bool:
        expected = self._expected.get(key)
        if not expected:
            return False
        namespace, _ = split_key(key)
        for name, version in list(expected.items()):
            cached = self.slices.store.get(namespace, name)
            if version is None:
                if cached is None:
                    del expected[name]
                    continue
                return True
            if cached is None or not _at_least(
                    str(meta.metadata(cached).get("resourceVersion") or ""), version):
                return True
            del expected[name]
        if not expected:
            del self._expected[key]
        return False

    async def reconcile(self, key: str) -> None:
        if self._cache_is_behind(key):
            self.queue.add_after(key, STALE_CACHE_RETRY_SECONDS)
            return
        namespace, name = split_key(key)
        service = self.services.store.get(namespace, name)
        existing = self.slices.store.by_index(_SERVICE_INDEX, key)
        selector = selector_of(service) if service is not None else None
        if service is None or selector is None:
            # Gone, or no longer selecting pods: our slices go (the garbage collector
            # would remove them for a deleted Service too; deleting twice is harmless).
            self.trigger_times.forget(key)
            for slice_ in existing:
                await self._delete(key, slice_)
            return
        pods = [pod for pod in self.pods.store.by_index(NAMESPACE_INDEX, namespace)
                if selector.matches(meta.labels_of(pod))]
        zones = {meta.name_of(node): meta.labels_of(node)[ZONE_LABEL]
                 for node in self.nodes.store.list() if ZONE_LABEL in meta.labels_of(node)}
        trigger = self.trigger_times.compute(key, service, pods)
        plan = plan_slices(service, existing, desired_groups(service, pods, zones),
                           self.max_endpoints_per_slice)
        stamp = meta.rfc3339(trigger) if trigger is not None else None
        for slice_ in plan.delete:
            await self._delete(key, slice_)
        for _, body in plan.update:
            _stamp(body, stamp)
            try:
                written = await self.client.update(ENDPOINT_SLICES, body, namespace)
            except APIError as exc:
                if exc.is_not_found:
                    continue  # deleted under us: its slice event brings us back
                raise
            self._expect(key, meta.name_of(written),
                         str(meta.metadata(written).get("resourceVersion")))
        for body in plan.create:
            _stamp(body, stamp)
            try:
                written = await self.client.create(ENDPOINT_SLICES, body, namespace)
            except APIError as exc:
                if exc.is_forbidden or exc.is_not_found:
                    return  # the namespace is going away
                raise
            self._expect(key, meta.name_of(written),
                         str(meta.metadata(written).get("resourceVersion")))

    def _expect(self, key: str, name: str, version: str | None) -> None:
        self._expected.setdefault(key, {})[name] = version

    async def _delete(self, key: str, slice_: Obj) -> None:
        md = meta.metadata(slice_)
        try:
            await self.client.delete(ENDPOINT_SLICES, md["name"], md.get("namespace"),
                                     preconditions={"uid": md.get("uid", "")})
        except APIError as exc:
            if not (exc.is_not_found or exc.is_conflict):
                raise
            return
        self._expect(key, md["name"], None)


def _managed_service_key(slice_: Obj) -> list[str]:
    labels = meta.labels_of(slice_)
    if labels.get(MANAGED_BY_LABEL) != CONTROLLER_NAME or SERVICE_NAME_LABEL not in labels:
        return []
    return [f"{meta.namespace_of(slice_)}/{labels[SERVICE_NAME_LABEL]}"]


def _slice_service_key(slice_: Obj) -> str | None:
    keys = _managed_service_key(slice_)
    return keys[0] if keys else None


def _stamp(body: Obj, stamp: str | None) -> None:
    annotations = dict(meta.metadata(body).get("annotations") or {})
    if stamp is not None:
        annotations[LAST_CHANGE_TRIGGER_TIME] = stamp
    else:
        annotations.pop(LAST_CHANGE_TRIGGER_TIME, None)
    if annotations:
        body["metadata"]["annotations"] = annotations
    else:
        body["metadata"].pop("annotations", None)


def _at_least(version: str, wanted: str) -> bool:
    """resourceVersions are opaque, but ours (and etcd's) are increasing integers."""
    if version.isdigit() and wanted.isdigit():
        return int(version) >= int(wanted)
    return version == wanted
