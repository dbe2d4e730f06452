"""ClusterIP allocation for Services from the configured service range.

Each allocated address is a bookkeeping key claimed with create-if-absent and holding
its owner (`namespace/name`), so two API servers sharing one etcd never hand out the
same address, and an address is only ever released by the Service that holds it.
ExternalName Services have no ClusterIP; headless ones (`clusterIP: None`) claim none.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kubeedge.api import errors, meta
from kubeedge.apiserver.objects import ObjectStore

HEADLESS = "None"


class ServiceIPAllocator:
    """Which addresses of the range to try, in order, starting after the last one."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr)
        self._next = 0

    def key(self, ip: str) -> str:
        return f"ranges/serviceips/{ip}"

    def contains(self, ip: str) -> bool:
        try:
            return ipaddress.ip_address(ip) in self.network
        except ValueError:
            return False

    def candidates(self) -> Iterator[str]:
        """The network and broadcast addresses are never handed out, as kube does."""
        usable = self.network.num_addresses - 2
        base = int(self.network.network_address)
        for step in range(usable):
            offset = 1 + (self._next + step) % usable
            yield str(ipaddress.ip_address(base + offset))

    def advance(self, ip: str) -> None:
        self._next = int(ipaddress.ip_address(ip)) - int(self.network.network_address)

    def first(self) -> str:
        """The address of the `kubernetes` Service."""
        return str(self.network.network_address + 1)


def _owner(svc: dict[str, Any]) -> bytes:
    return f"{meta.namespace_of(svc)}/{meta.name_of(svc)}".encode()


def cluster_ip(svc: dict[str, Any]) -> str:
    """The real address a Service holds ("" for none, headless or ExternalName)."""
    ip = (svc.get("spec") or {}).get("clusterIP") or ""
    return "" if ip == HEADLESS else str(ip)


def _invalid(svc: dict[str, Any], field_path: str, message: str) -> errors.StatusError:
    return errors.invalid("Service", meta.name_of(svc), [errors.Cause(field_path, message)])


@dataclass
class IPChange:
    """What one write did to the range: undo `claimed` if the write fails, and drop
    `released` once it succeeds."""

    claimed: str = ""
    released: list[str] = field(default_factory=list)


class ServiceIPs:
    def __init__(self, objects: ObjectStore, allocator: ServiceIPAllocator) -> None:
        self.objects = objects
        self.allocator = allocator

    async def assign(self, svc: dict[str, Any], change: IPChange, dry_run: bool) -> None:
        """Give a new (or newly non-ExternalName) Service its address."""
        spec = svc.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            if cluster_ip(svc):
                raise _invalid(svc, "spec.clusterIP", f'Invalid value: "{spec["clusterIP"]}": '
                               "may not be set for ExternalName services")
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            return
        wanted = spec.get("clusterIP")
        if wanted == HEADLESS:
            spec["clusterIPs"] = [HEADLESS]
            return
        if change.claimed:  # an earlier attempt of this same write already claimed one
            spec["clusterIP"] = change.claimed
            spec["clusterIPs"] = [change.claimed]
            return
        if wanted:
            if not self.allocator.contains(wanted):
                raise _invalid(svc, "spec.clusterIPs", f'Invalid value: ["{wanted}"]: failed to '
                               f"allocate IP {wanted}: the provided IP ({wanted}) is not in the "
                               f"valid range. The range of valid IPs is {self.allocator.network}")
            if not await self._take(wanted, svc, dry_run):
                raise _invalid(svc, "spec.clusterIPs", f'Invalid value: ["{wanted}"]: failed to '
                               f"allocate IP {wanted}: provided IP is already allocated")
            spec["clusterIPs"] = [wanted]
            change.claimed = "" if dry_run else wanted
            return
        for ip in self.allocator.candidates():
            if await self._take(ip, svc, dry_run):
                self.allocator.advance(ip)
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
                change.claimed = "" if dry_run else ip
                return
        raise errors.internal("failed to allocate a serviceIP: range is full")

    async def _take(self, ip: str, svc: dict[str, Any], dry_run: bool) -> bool:
        key = self.allocator.key(ip)
        if dry_run:
            return await self.objects.claim_owner(key) is None
        return await self.objects.claim(key, _owner(svc))

    async def update(self, new: dict[str, Any], old: dict[str, Any], change: IPChange,
                     dry_run: bool) -> None:
        """Keep the address across updates; follow changes to and from ExternalName."""
        old_ip = cluster_ip(old)
        spec = new.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            await self.assign(new, change, dry_run)
            if old_ip:
                change.released.append(old_ip)
            return
        if old_ip or (old.get("spec") or {}).get("clusterIP") == HEADLESS:
            previous = (old.get("spec") or {}).get("clusterIP")
            if not spec.get("clusterIP"):
                spec["clusterIP"] = previous
                spec["clusterIPs"] = (old.get("spec") or {}).get("clusterIPs") or [previous]
            elif spec["clusterIP"] != previous:
                raise _invalid(new, "spec.clusterIPs[0]", f'Invalid value: ["{spec["clusterIP"]}"'
                               "]: may not change once set")
            return
        await self.assign(new, change, dry_run)

    async def release(self, svc: dict[str, Any], ip: str = "") -> None:
        ip = ip or cluster_ip(svc)
        if ip:
            await self.objects.release(self.allocator.key(ip), _owner(svc))

    async def undo(self, svc: dict[str, Any], change: IPChange) -> None:
        if change.claimed:
            await self.objects.release(self.allocator.key(change.claimed), _owner(svc))
            change.claimed = ""

    async def finish(self, svc: dict[str, Any], change: IPChange) -> None:
        """After a successful write: free what it gave up, and a claim that a retried
        attempt ended up not using."""
        for ip in change.released:
            await self.release(svc, ip)
        if change.claimed and change.claimed != cluster_ip(svc):
            await self.undo(svc, change)
