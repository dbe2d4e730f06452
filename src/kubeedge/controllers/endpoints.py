"""Endpoints for Services (kube's endpoints controller): for each Service with a
selector, an Endpoints object of the same name listing the selected pods' IPs, ready
ones under `addresses` and the others under `notReadyAddresses`, grouped into subsets
by the ports they serve (named target ports resolved per pod).

Also the pod-to-endpoint rules the EndpointSlice controller shares: which pods are
endpoints, which port a service port reaches on a pod, when a pod's hostname is
published, and the `last-change-trigger-time` bookkeeping.

Must never touch the Endpoints of a Service without a selector (their owner writes
them), nor `default/kubernetes` (the API server's own); writes only when the result
differs from what is stored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from kubeedge.api import meta
from kubeedge.api.selectors import LabelSelector
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import NAMESPACE_INDEX, SharedInformerFactory, split_key
from kubeedge.client.informer import object_key as key_of
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.pods import is_ready, is_terminal
from kubeedge.controllers.runtime import Controller

Obj = dict[str, Any]

PODS = ResourceRef("", "v1", "pods", True, "Pod")
SERVICES = ResourceRef("", "v1", "services", True, "Service")
ENDPOINTS = ResourceRef("", "v1", "endpoints", True, "Endpoints")

LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
HEADLESS_LABEL = "service.kubernetes.io/headless"
# The label kube (1.33+) puts on the Endpoints its controller writes; here it also
# tells ours apart from user-managed ones when a Service loses its selector.
ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"
ENDPOINTS_CONTROLLER = "endpoint-controller"
# kube truncates an Endpoints object beyond this many addresses.
MAX_CAPACITY = 1000
# The API server owns these (its own address as the `kubernetes` service).
API_SERVER_ENDPOINTS = "default/kubernetes"


# -- pod-to-endpoint rules (shared with the EndpointSlice controller) -------------------


def selector_of(service: Obj) -> LabelSelector | None:
    """The pods a Service selects; None when it selects none through this controller
    (no selector, or ExternalName)."""
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None
    selector = spec.get("selector")
    if selector is None or not isinstance(selector, dict):
        return None
    return LabelSelector.from_dict({"matchLabels": selector})


def selects(service: Obj, labels: dict[str, str]) -> bool:
    """Whether the Service selects a pod with these labels: `selector_of(...).matches`
    without building a LabelSelector. A Service's selector is a plain map (equality
    only, validated on write), and every pod event asks this of every Service in its
    namespace: parsing each selector each time was most of cloudcore's CPU with a few
    hundred Services (benchmarks/training.py)."""
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return False
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        return False
    return all(labels.get(k) == v for k, v in selector.items())


def is_headless(service: Obj) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


def pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(entry.get("ip")) for entry in status.get("podIPs") or []
           if isinstance(entry, dict) and entry.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


def should_be_endpoint(pod: Obj, include_terminating: bool) -> bool:
    """kube's ShouldPodBeInEndpoints: a pod that has an IP and has not finished;
    terminating pods only when asked for."""
    if is_terminal(pod):
        return False
    if not pod_ips(pod):
        return False
    return include_terminating or not meta.is_terminating(pod)


def ip_family(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return ""


def service_families(service: Obj) -> list[str]:
    """The IP families a Service's endpoints use: spec.ipFamilies, else the cluster IP's
    family, else IPv4."""
    spec = service.get("spec") or {}
    families = [str(f) for f in spec.get("ipFamilies") or [] if f in ("IPv4", "IPv6")]
    if families:
        return families
    family = ip_family(str(spec.get("clusterIP") or ""))
    return [family or "IPv4"]


def pod_ip_for(pod: Obj, family: str) -> str | None:
    return next((ip for ip in pod_ips(pod) if ip_family(ip) == family), None)


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    """A pod's hostname is published when it names this headless Service as its
    subdomain (kube's ShouldSetHostname)."""
    spec = pod.get("spec") or {}
    return (bool(spec.get("hostname")) and spec.get("subdomain") == meta.name_of(service)
            and meta.namespace_of(pod) == meta.namespace_of(service) and is_headless(service))


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod port a service port reaches (kube's FindPort): a named targetPort is
    looked up among the pod's container ports of the same protocol (sidecar init
    containers included); a number is taken as is."""
    target = service_port.get("targetPort")
    protocol = service_port.get("protocol") or "TCP"
    if target is None or target == "" or target == 0:
        target = service_port.get("port")
    if isinstance(target, int):
        return target
    text = str(target)
    if text.isdigit():
        return int(text)
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or []) + [
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in container.get("ports") or []:
            if port.get("name") == text and (port.get("protocol") or "TCP") == protocol:
                return int(port.get("containerPort") or 0) or None
    return None


def endpoint_port(service_port: Obj, number: int) -> Obj:
    port: Obj = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


def target_ref(pod: Obj) -> Obj:
    md = meta.metadata(pod)
    return {"kind": "Pod", "namespace": md.get("namespace", ""), "name": md.get("name", ""),
            "uid": md.get("uid", "")}


class TriggerTimeTracker:
    """The `last-change-trigger-time` of a service's endpoints: the earliest change
    (a pod's Ready transition, the service's creation) not yet reflected in what was
    written (kube's TriggerTimeTracker)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[dict[str, datetime], datetime | None]] = {}
        self._pending: dict[str, tuple[dict[str, datetime], datetime | None]] = {}

    def compute(self, key: str, service: Obj, pods: Iterable[Obj]) -> datetime | None:
        """The trigger time for the sync under way; what it saw counts as reflected only
        once `written(key)` says the sync's write went through (a write that failed is
        retried with the same trigger time, not without one)."""
        last_pods, last_service = self._seen.get(key, ({}, None))
        earliest: datetime | None = None
        pod_times: dict[str, datetime] = {}
        for pod in pods:
            cond = meta.condition(pod, "Ready")
            moment = meta.parse_time((cond or {}).get("lastTransitionTime"))
            if moment is None:
                continue
            name = meta.name_of(pod)
            pod_times[name] = moment
            before = last_pods.get(name)
            if before is None or moment > before:
                earliest = moment if earliest is None else min(earliest, moment)
        created = meta.parse_time(meta.metadata(service).get("creationTimestamp"))
        if created is not None and (last_service is None or created > last_service):
            earliest = created if earliest is None else min(earliest, created)
        self._pending[key] = (pod_times, created)
        return earliest

    def written(self, key: str) -> None:
        if key in self._pending:
            self._seen[key] = self._pending.pop(key)

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)
        self._pending.pop(key, None)


def pod_relevance(pod: Obj) -> tuple[Any, ...]:
    """What of a pod the endpoints depend on: an update that changes none of it is
    not worth a sync (kube's podEndpointsChanged)."""
    spec = pod.get("spec") or {}
    ready = meta.condition(pod, "Ready") or {}
    ports = [(c.get("name"), c.get("ports")) for c in spec.get("containers") or []]
    return (meta.labels_of(pod), pod_ips(pod), ready.get("status"),
            ready.get("lastTransitionTime"), meta.is_terminating(pod),
            (pod.get("status") or {}).get("phase"), spec.get("nodeName"),
            spec.get("hostname"), spec.get("subdomain"), ports)


# -- Endpoints (pure) -------------------------------------------------------------------


def _address_key(addr: Obj) -> tuple[str, str]:
    return (str(addr.get("ip")), str((addr.get("targetRef") or {}).get("uid") or ""))


def _port_key(port: Obj | None) -> tuple[Any, ...]:
    if port is None:
        return ()
    return (port.get("name") or "", int(port.get("port") or 0), port.get("protocol") or "TCP",
            port.get("appProtocol") or "")


def repack_subsets(entries: Iterable[tuple[Obj, Obj | None, bool]]) -> list[Obj]:
    """Subsets from (address, port or None, ready) entries: one subset per set of
    addresses sharing the same ports (kube's RepackSubsets); an address not ready for
    a port is not ready for it, whatever another entry says."""
    addresses: dict[tuple[str, str], Obj] = {}
    ports: dict[tuple[Any, ...], Obj | None] = {}
    by_port: dict[tuple[Any, ...], dict[tuple[str, str], bool]] = {}
    for addr, port, ready in entries:
        akey = _address_key(addr)
        addresses.setdefault(akey, addr)
        pkey = _port_key(port)
        ports.setdefault(pkey, port)
        slot = by_port.setdefault(pkey, {})
        slot[akey] = slot.get(akey, True) and ready
    groups: dict[frozenset[tuple[tuple[str, str], bool]], list[tuple[Any, ...]]] = {}
    for pkey, slot in by_port.items():
        groups.setdefault(frozenset(slot.items()), []).append(pkey)
    subsets = []
    for members, pkeys in groups.items():
        ready = sorted((k for k, r in members if r))
        not_ready = sorted((k for k, r in members if not r))
        subset: Obj = {}
        if ready:
            subset["addresses"] = [addresses[k] for k in ready]
        if not_ready:
            subset["notReadyAddresses"] = [addresses[k] for k in not_ready]
        real = sorted(k for k in pkeys if k)
        if real:
            subset["ports"] = [ports[k] for k in real]
        subsets.append(subset)
    subsets.sort(key=_subset_order)
    return subsets


def _subset_order(subset: Obj) -> tuple[Any, ...]:
    addrs = [a["ip"] for a in subset.get("addresses") or []] + \
        [a["ip"] for a in subset.get("notReadyAddresses") or []]
    return (addrs, [_port_key(p) for p in subset.get("ports") or []])


def endpoint_entries(service: Obj, pods: Iterable[Obj]
                     ) -> list[tuple[Obj, Obj | None, bool]]:
    """(address, port, ready) for every selected pod and service port."""
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    family = service_families(service)[0]
    service_ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    entries: list[tuple[Obj, Obj | None, bool]] = []
    for pod in pods:
        if not should_be_endpoint(pod, include_terminating=publish_not_ready):
            continue
        ip = pod_ip_for(pod, family)
        if ip is None and (spec.get("ipFamilies") or ip_family(str(spec.get("clusterIP")))):
            continue  # no address of the service's family
        ip = ip or pod_ips(pod)[0]
        addr: Obj = {"ip": ip, "targetRef": target_ref(pod)}
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            addr["nodeName"] = node
        if should_set_hostname(pod, service):
            addr["hostname"] = pod["spec"]["hostname"]
        ready = publish_not_ready or is_ready(pod)
        if not service_ports:
            if is_headless(service):
                entries.append((addr, None, ready))
            continue
        for service_port in service_ports:
            number = find_port(pod, service_port)
            if number is None:
                continue
            entries.append((addr, endpoint_port(service_port, number), ready))
    return entries


def truncate(entries: list[tuple[Obj, Obj | None, bool]], capacity: int = MAX_CAPACITY
             ) -> tuple[list[tuple[Obj, Obj | None, bool]], bool]:
    """At most `capacity` distinct addresses, ready ones first (kube truncates an
    over-full Endpoints and marks it over capacity)."""
    keys = {_address_key(a) for a, _, _ in entries}
    if len(keys) <= capacity:
        return entries, False
    ready_keys = sorted({_address_key(a) for a, _, r in entries if r})
    others = sorted(keys - set(ready_keys))
    kept = set((ready_keys + others)[:capacity])
    return [e for e in entries if _address_key(e[0]) in kept], True


def endpoints_labels(service: Obj) -> dict[str, str]:
    labels = {k: v for k, v in meta.labels_of(service).items() if k != HEADLESS_LABEL}
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    labels[ENDPOINTS_MANAGED_BY] = ENDPOINTS_CONTROLLER
    return labels


# -- the controller --------------------------------------------------------------------


class EndpointsController(Controller):
    name = "endpoint-controller"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None) -> None:
        super().__init__(client, informers, recorder, config)
        self.workers = self.config.concurrent_endpoint_syncs
        self.trigger_times = TriggerTimeTracker()

    def setup(self) -> None:
        self.services = self.informer(SERVICES)
        self.services.add_event_handler(on_add=self._service_added,
                                        on_update=self._service_updated,
                                        on_delete=self._service_added)
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        self.endpoints = self.informer(ENDPOINTS)
        self.endpoints.add_event_handler(on_add=self._endpoints_seen,
                                         on_delete=self._endpoints_deleted)

    # -- events -------------------------------------------------------------------------

    def _service_added(self, service: Obj) -> None:
        self.queue.add(key_of(service))

    def _service_updated(self, old: Obj, new: Obj) -> None:
        self.queue.add(key_of(new))

    def services_for(self, pod: Obj) -> list[str]:
        keys = []
        labels = meta.labels_of(pod)
        for service in self.services.store.by_index(NAMESPACE_INDEX, meta.namespace_of(pod)):
            if selects(service, labels):
                keys.append(key_of(service))
        return keys

    def _pod_changed(self, pod: Obj) -> None:
        for key in self.services_for(pod):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if pod_relevance(old) == pod_relevance(new):
            return
        keys = set(self.services_for(new))
        if meta.labels_of(old) != meta.labels_of(new):
            keys.update(self.services_for(old))
        for key in keys:
            self.queue.add(key)

    def _endpoints_seen(self, endpoints: Obj) -> None:
        # Ours with no Service behind them (left over from before a restart) go.
        key = key_of(endpoints)
        if meta.labels_of(endpoints).get(ENDPOINTS_MANAGED_BY) == ENDPOINTS_CONTROLLER and \
                self.services.store.get_by_key(key) is None:
            self.queue.add(key)

    def _endpoints_deleted(self, endpoints: Obj) -> None:
        key = key_of(endpoints)
        if self.services.store.get_by_key(key) is not None:
            self.queue.add(key)  # deleted under a live Service: write it again

    # -- reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        if key == API_SERVER_ENDPOINTS:
            return
        namespace, name = split_key(key)
        service = self.services.store.get(namespace, name)
        current = self.endpoints.store.get(namespace, name)
        if service is None:
            self.trigger_times.forget(key)
            await self._delete(namespace, name)
            return
        selector = selector_of(service)
        if selector is None:
            # No selector: its Endpoints are the user's, unless we wrote them while it
            # had one.
            if current is not None and meta.labels_of(current).get(
                    ENDPOINTS_MANAGED_BY) == ENDPOINTS_CONTROLLER:
                await self._delete(namespace, name)
            return
        pods = [pod for pod in self.pods.store.by_index(NAMESPACE_INDEX, namespace)
                if selector.matches(meta.labels_of(pod))]
        trigger = self.trigger_times.compute(key, service, pods)
        entries, over = truncate(endpoint_entries(service, pods))
        subsets = repack_subsets(entries)
        labels = endpoints_labels(service)
        if current is not None and meta.metadata(current).get("resourceVersion"):
            annotations = meta.metadata(current).get("annotations") or {}
            if (_canonical(current.get("subsets")) == _canonical(subsets)
                    and meta.labels_of(current) == labels
                    and (annotations.get(OVER_CAPACITY) == "truncated") == over):
                self.trigger_times.written(key)
                return
        annotations = dict((meta.metadata(current).get("annotations") or {})
                           if current is not None else {})
        if trigger is not None:
            annotations[LAST_CHANGE_TRIGGER_TIME] = meta.rfc3339(trigger)
        else:
            annotations.pop(LAST_CHANGE_TRIGGER_TIME, None)
        if over:
            annotations[OVER_CAPACITY] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY, None)
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": name, "namespace": namespace, "labels": labels,
                                  "annotations": annotations},
                     "subsets": subsets}
        if current is None:
            try:
                await self.client.create(ENDPOINTS, body, namespace)
            except APIError as exc:
                # A namespace going away (or gone) takes no new objects: nothing to do.
                if exc.is_forbidden or exc.is_not_found:
                    return
                raise  # already exists: our cache is behind; retried
            self.trigger_times.written(key)
            return
        md = dict(meta.metadata(current))
        md.update(labels=labels, annotations=annotations)
        body["metadata"] = md  # carries resourceVersion: a stale cache is a conflict
        await self.client.update(ENDPOINTS, body, namespace)
        self.trigger_times.written(key)

    async def _delete(self, namespace: str, name: str) -> None:
        try:
            await self.client.delete(ENDPOINTS, name, namespace)
        except APIError as exc:
            if not exc.is_not_found:
                raise


def _canonical(subsets: Any) -> list[Obj]:
    """Subsets compared as sets: order of addresses and ports does not matter."""
    out = []
    for subset in subsets or []:
        out.append({
            "addresses": sorted((a for a in subset.get("addresses") or []), key=_address_key),
            "notReadyAddresses": sorted((a for a in subset.get("notReadyAddresses") or []),
                                        key=_address_key),
            "ports": sorted((p for p in subset.get("ports") or []), key=_port_key),
        })
    out.sort(key=_subset_order)
    return out
