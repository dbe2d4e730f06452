"""Node IPAM: give every Node a pod CIDR of its own (kube-controller-manager's node-ipam
controller with the range allocator).

The cluster CIDR (`clusterCIDR`) is cut into blocks of `nodeCidrMaskSize`; each Node
without `spec.podCIDR` gets the next free block as `spec.podCIDR` and `spec.podCIDRs`.
A block is never handed out twice: on start the used set is rebuilt from the CIDRs
existing nodes already carry, and a node's block is released when the node is deleted.
When no block is left the node gets a `CIDRNotAvailable` event and waits until a
block is released (kube retries with back-off, which cannot help sooner). Does nothing
when `allocateNodeCidrs` is off; never changes a CIDR a node already has (kube forbids
that).
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import logging
from typing import Any

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.runtime import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

NODES = ResourceRef("", "v1", "nodes", False, "Node")


class CIDRExhausted(Exception):
    pass


class CIDRSet:
    """The blocks of one cluster CIDR, by index, with the used ones marked (kube's
    cidrset). Allocation goes round from the block after the last one handed out, so a
    released block is not reused at once."""

    def __init__(self, cluster_cidr: str, mask_size: int) -> None:
        self.cluster: Network = ipaddress.ip_network(cluster_cidr, strict=True)
        if not self.cluster.prefixlen <= mask_size <= self.cluster.max_prefixlen:
            raise ValueError(f"mask size /{mask_size} does not fit in {cluster_cidr}")
        self.mask_size = mask_size
        self.size = 1 << (mask_size - self.cluster.prefixlen)
        self._step = 1 << (self.cluster.max_prefixlen - mask_size)
        self.used: set[int] = set()
        self._next = 0

    def block(self, index: int) -> str:
        base = int(self.cluster.network_address) + index * self._step
        address = ipaddress.ip_address(base)
        return f"{address}/{self.mask_size}"

    def index_of(self, cidr: str) -> int | None:
        """The block index of `cidr`, None when it is not one of our blocks."""
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None
        if (net.version != self.cluster.version or net.prefixlen != self.mask_size
                or not net.subnet_of(self.cluster)):  # type: ignore[arg-type]
            return None
        return (int(net.network_address) - int(self.cluster.network_address)) // self._step

    def occupy(self, cidr: str) -> bool:
        index = self.index_of(cidr)
        if index is None:
            return False
        self.used.add(index)
        return True

    def release(self, cidr: str) -> None:
        index = self.index_of(cidr)
        if index is not None:
            self.used.discard(index)

    def allocate(self) -> str:
        if len(self.used) >= self.size:
            raise CIDRExhausted(f"no free /{self.mask_size} block left in {self.cluster}")
        for step in range(self.size):
            index = (self._next + step) % self.size
            if index not in self.used:
                self.used.add(index)
                self._next = (index + 1) % self.size
                return self.block(index)
        raise CIDRExhausted(f"no free /{self.mask_size} block left in {self.cluster}")


def pod_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = [c for c in spec.get("podCIDRs") or [] if isinstance(c, str) and c]
    if not cidrs and spec.get("podCIDR"):
        cidrs = [str(spec["podCIDR"])]
    return cidrs


class NodeIPAMController(Controller):
    name = "node-ipam"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None) -> None:
        super().__init__(client, informers, recorder, config)
        self.cidrs = CIDRSet(self.config.cluster_cidr, self.config.node_cidr_mask_size)
        self._lock = asyncio.Lock()
        self._rebuilt = False
        # Nodes that found no free block: retried at once when one is released.
        self.waiting: set[str] = set()

    def setup(self) -> None:
        self.nodes = self.informer(NODES)
        if not self.config.allocate_node_cidrs:
            return
        self.nodes.add_event_handler(
            on_add=lambda node: self.queue.add(meta.name_of(node)),
            on_update=lambda _old, node: self.queue.add(meta.name_of(node)),
            on_delete=self._node_deleted)

    def _node_deleted(self, node: Obj) -> None:
        if not self._rebuilt:
            return  # the rebuild from the cache will not see it
        self.waiting.discard(meta.name_of(node))
        for cidr in pod_cidrs(node):
            self._release(cidr)

    def _release(self, cidr: str) -> None:
        self.cidrs.release(cidr)
        for name in self.waiting:
            self.queue.add(name)

    def _rebuild(self) -> None:
        """Mark every block existing nodes hold, before the first allocation (workers
        start only after the informer synced, so the cache holds every node)."""
        for node in self.nodes.store.list():
            for cidr in pod_cidrs(node):
                if not self.cidrs.occupy(cidr):
                    log.warning("node-ipam: node %s has pod CIDR %s outside %s/%d blocks",
                                meta.name_of(node), cidr, self.cidrs.cluster,
                                self.cidrs.mask_size)
        self._rebuilt = True

    async def reconcile(self, name: str) -> None:
        async with self._lock:
            if not self._rebuilt:
                self._rebuild()
            node = self.nodes.store.get("", name)
            if node is None or meta.is_terminating(node):
                self.waiting.discard(name)
                return
            existing = pod_cidrs(node)
            if existing:
                self.waiting.discard(name)
                for cidr in existing:
                    self.cidrs.occupy(cidr)
                return
            try:
                cidr = self.cidrs.allocate()
            except CIDRExhausted:
                self.waiting.add(name)
                # Retrying cannot help until a block is released; the release wakes it.
                log.warning("node-ipam: no pod CIDR left in %s for node %s",
                            self.cidrs.cluster, name)
                self.recorder.event(node, "Normal", "CIDRNotAvailable",
                                    f"Node {name} status is now: CIDRNotAvailable")
                return
            try:
                await self._assign(name, cidr)
            except BaseException:
                self._release(cidr)
                raise

    async def _assign(self, name: str, cidr: str) -> None:
        """Write `cidr` to the node read fresh from the API, unless it got one meanwhile
        (then keep that and give ours back)."""
        try:
            node = await self.client.get(NODES, name)
        except APIError as exc:
            if exc.is_not_found:
                self.cidrs.release(cidr)
                return
            raise
        current = pod_cidrs(node)
        if current:
            self.cidrs.release(cidr)
            for other in current:
                self.cidrs.occupy(other)
            return
        updated = copy.deepcopy(node)
        spec = updated.setdefault("spec", {})
        spec["podCIDR"] = cidr
        spec["podCIDRs"] = [cidr]
        await self.client.update(NODES, updated)
        log.info("node-ipam: node %s gets pod CIDR %s", name, cidr)
