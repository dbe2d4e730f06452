"""Cluster names for the pods of the edges: headless Services and their pods' hostnames.

Ours; KubeEdge leaves names to EdgeMesh (a DNS server on every edge that watches
Services and Endpoints through the edge's MetaServer). Our edges have no DNS server: the
issue asks that each pod's /etc/hosts resolve "the cluster's pod hostnames and headless
Service names". An edge cannot list Services or Endpoints (the node authorizer lets a
node read only what its own pods refer to, and that rule stays), so cloudcore, which
reads them anyway, summarises what cluster DNS would answer for them and sends it to
every connected edge. What kube DNS serves for a headless Service (clusterIP `None`)
with ready Endpoints (the DNS spec for Kubernetes, "Records for a Headless Service"):

- `<svc>.<ns>.svc.<cluster domain>` → every ready endpoint address;
- `<hostname>.<svc>.<ns>.svc.<cluster domain>` → the address of an endpoint that has a
  hostname (the Endpoints controller sets it for a pod whose `spec.hostname` is set and
  whose `spec.subdomain` names this Service: kube's ShouldSetHostname; a StatefulSet's
  pods get both).

The edge turns this into hosts lines (with the short forms the pods' DNS search path
would reach: `<svc>.<ns>.svc`, `<svc>.<ns>`, and `<svc>` for pods of the same
namespace) under its own `clusterDomain` (edge/edged/edged.py `cluster_hosts_entries`).
Every namespace is sent, as DNS answers any pod about any namespace.

The message goes as every edge summary does (`summary.py`; the edge stores it as any
object and MetaManager forwards it to edged): resource
`node/<edge>/null/clusterhosts/<edge>`, content `{"kind": "ClusterHosts", ...,
"services": [{"namespace", "name", "addresses": [{"ip", "hostname"}]}]}`, services
sorted by namespace and name, addresses by IP, with `"truncated": <n>` when n addresses
were left out by the cap; the revision the Service and Endpoints informers' newest.

Size: every address is one line in every pod's /etc/hosts, which the C library reads
from the top on every lookup, so the summary carries at most `MAX_ADDRESSES` (1,000)
addresses, whole Services first in name order; what is left out is counted in
`truncated` and logged. The edge caps a pod's extra lines the same way.

It changes when a headless Service appears or goes, or its ready addresses or their
hostnames change; changes that do not touch it (a ClusterIP Service, an Endpoints
annotation) send nothing. A burst (a rollout, a relist) is coalesced over `delay`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from kubeedge.cloud.edgecontroller.summary import EdgeSummary
from kubeedge.messaging.message import Message
from kubeedge.messaging.resource import KIND_CLUSTER_HOSTS, RESOURCE_CLUSTERHOSTS

__all__ = ["KIND_CLUSTER_HOSTS", "MAX_ADDRESSES", "RESOURCE_CLUSTERHOSTS", "ClusterHosts",
           "endpoint_addresses", "is_headless"]

log = logging.getLogger(__name__)

# Addresses in one summary (each one hosts line per pod; see the module docstring).
MAX_ADDRESSES = 1000
# Seconds to let a burst of Service and Endpoints events settle before sending.
COALESCE_DELAY = 0.05

Obj = Mapping[str, Any]
Key = tuple[str, str]


def _key(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def is_headless(service: Obj) -> bool:
    """clusterIP `None` (and not an ExternalName, which DNS answers with a CNAME)."""
    spec = service.get("spec") or {}
    return spec.get("clusterIP") == "None" and spec.get("type") != "ExternalName"


def endpoint_addresses(endpoints: Obj) -> list[dict[str, str]]:
    """The ready addresses of an Endpoints object, `{"ip", "hostname"}` each (hostname ""
    when the endpoint has none), one per IP, sorted. Not-ready addresses get no DNS
    records (publishNotReadyAddresses already puts them among the ready ones)."""
    found: dict[str, str] = {}
    for subset in endpoints.get("subsets") or []:
        for address in (subset or {}).get("addresses") or []:
            ip = str((address or {}).get("ip") or "")
            if not ip:
                continue
            hostname = str(address.get("hostname") or "")
            if hostname or ip not in found:
                found[ip] = hostname
    return [{"ip": ip, "hostname": found[ip]} for ip in sorted(found, key=_ip_order)]


def _ip_order(ip: str) -> tuple[int, ...] | tuple[int, str]:
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return (1 << 9, ip)


class ClusterHosts(EdgeSummary):
    """Service and Endpoints informer handlers in, `clusterhosts` messages out
    (`EdgeSummary`)."""

    kind = KIND_CLUSTER_HOSTS
    resource_type = RESOURCE_CLUSTERHOSTS
    field = "services"

    def __init__(self, outbox: Callable[[Message], None],
                 version: Callable[[], str] = lambda: "", *,
                 max_addresses: int = MAX_ADDRESSES,
                 delay: float = COALESCE_DELAY) -> None:
        super().__init__(outbox, version, delay=delay)
        self.max_addresses = max_addresses
        self.headless: set[Key] = set()
        self.addresses: dict[Key, list[dict[str, str]]] = {}
        self._warned_truncated = 0

    # -- inputs --

    def on_service_add(self, service: Obj) -> None:
        self.saw(service)
        key = _key(service)
        before = key in self.headless
        if is_headless(service):
            self.headless.add(key)
        else:
            self.headless.discard(key)
        if before != (key in self.headless) and self.addresses.get(key):
            self.changed()

    def on_service_update(self, old: Obj, new: Obj) -> None:
        self.on_service_add(new)

    def on_service_delete(self, service: Obj) -> None:
        self.saw(service)
        key = _key(service)
        if key in self.headless:
            self.headless.discard(key)
            if self.addresses.get(key):
                self.changed()

    def on_endpoints_add(self, endpoints: Obj) -> None:
        self.saw(endpoints)
        key = _key(endpoints)
        before = self.addresses.get(key)
        now = endpoint_addresses(endpoints)
        if now:
            self.addresses[key] = now
        else:
            self.addresses.pop(key, None)
        if key in self.headless and before != self.addresses.get(key):
            self.changed()

    def on_endpoints_update(self, old: Obj, new: Obj) -> None:
        self.on_endpoints_add(new)

    def on_endpoints_delete(self, endpoints: Obj) -> None:
        self.saw(endpoints)
        key = _key(endpoints)
        if self.addresses.pop(key, None) is not None and key in self.headless:
            self.changed()

    # -- output --

    def services(self) -> tuple[list[dict[str, Any]], int]:
        """(the summary's services, how many addresses the cap left out)."""
        out: list[dict[str, Any]] = []
        room = self.max_addresses
        left_out = 0
        for key in sorted(self.headless):
            addresses = self.addresses.get(key)
            if not addresses:
                continue
            kept = addresses[:max(room, 0)]
            left_out += len(addresses) - len(kept)
            room -= len(kept)
            if kept:
                out.append({"namespace": key[0], "name": key[1],
                            "addresses": [dict(a) for a in kept]})
        return out, left_out

    def prepare(self) -> tuple[list[dict[str, Any]], int]:
        services, left_out = self.services()
        if left_out and left_out != self._warned_truncated:
            log.warning("edgecontroller: the cluster hosts summary is capped at %d "
                        "addresses; %d headless Service addresses left out",
                        self.max_addresses, left_out)
        self._warned_truncated = left_out
        return services, left_out

    def content_for(self, node: str, prepared: Any) -> tuple[Any, dict[str, Any]]:
        services, left_out = prepared
        return services, ({"truncated": left_out} if left_out else {})
