"""Routes between edges: each connected edge told the pod networks of the other edges.

Ours; KubeEdge has no such message (its edges reach each other's pods through
EdgeMesh or a CNI such as Calico/Flannel that reads Nodes itself). Our process runtime
puts every pod on a bridge with an IP from its node's `spec.podCIDR` (given by the
node-ipam controller), so a pod on edge A reaches a pod on edge B once A routes B's
podCIDR via B's InternalIP. An edge cannot list Nodes for that: the node authorizer
lets a node read only its own Node, and that rule stays. So cloudcore, which reads them
anyway, summarises them: for every edge node connected to this cloudcore, the podCIDR
and InternalIP of every *other* edge node that has both, and nothing else of them.

The message (the edge side reads it in edge/node.py `PodNetworkSync`, and MetaManager
forwards it; `RESOURCE_NODEROUTES` there is the same string):

- route: source `edgecontroller`, group `resource`, operation `update`, resource
  `node/<edge>/null/noderoutes/<edge>`;
- header.resourceversion: the API revision the summary reflects (the node informer's
  newest, which only grows and is the same for every cloudcore replica at one revision),
  so the edge's database keeps the newest summary when an older one is resent;
- content: `{"apiVersion": "v1", "kind": "NodeRoutes", "metadata": {"name": <edge>,
  "resourceVersion": <rv>}, "routes": [{"nodeName", "podCIDR", "podCIDRs", "nodeIP"},
  ...]}`, sorted by node name. No `metadata.uid`: it is not an API object, so CloudHub
  reports no ObjectSync for it (SyncController could not repair it), and its ACK key
  is the message id.

When it goes: to an edge when it connects (CloudHub's `connected` event), and to every
connected edge whose summary changed when an edge Node's podCIDR or InternalIP changes,
appears or goes. Several changes in a row (an informer relist) are coalesced: the
summaries are computed once the informer's handlers have run. A node heartbeat changes
nothing here, so it sends nothing. An edge that is not connected gets nothing (it gets
the current summary when it connects), so nothing piles up for an edge that is away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kubeedge.cloud.edgecontroller.messages import object_message
from kubeedge.messaging.message import OP_UPDATE, Message
from kubeedge.messaging.resource import NULL_NAMESPACE, RESOURCE_NODEROUTES, ResourceError

__all__ = ["KIND_NODE_ROUTES", "RESOURCE_NODEROUTES", "NodeRoutes", "node_route"]

log = logging.getLogger(__name__)

KIND_NODE_ROUTES = "NodeRoutes"

Obj = Mapping[str, Any]


def _rv(value: Any) -> int:
    try:
        return int(str(value or "0"))
    except ValueError:
        return 0


def node_route(node: Obj) -> dict[str, Any] | None:
    """What other edges need of this Node: its pod CIDRs and InternalIP; None without
    either."""
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    cidrs = [str(c) for c in spec.get("podCIDRs") or [] if c]
    cidr = str(spec.get("podCIDR") or (cidrs[0] if cidrs else ""))
    ip = ""
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP" and address.get("address"):
            ip = str(address["address"])
            break
    if not cidr or not ip or not meta.get("name"):
        return None
    return {"nodeName": str(meta["name"]), "podCIDR": cidr, "podCIDRs": cidrs or [cidr],
            "nodeIP": ip}


class NodeRoutes:
    """Node informer handlers plus CloudHub's connect events in, `noderoutes` messages
    out through `outbox`. `version()` is the node informer's resourceVersion. Run
    `run()` as a task; `flush()` sends what changed now (tests)."""

    def __init__(self, outbox: Callable[[Message], None],
                 version: Callable[[], str] = lambda: "") -> None:
        self.outbox = outbox
        self.version = version
        self.peers: dict[str, dict[str, Any]] = {}
        self.connected: set[str] = set()
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self._newest = 0
        self._dirty = asyncio.Event()
        self.messages = 0

    # -- inputs --

    def on_node_add(self, node: Obj) -> None:
        self._newest = max(self._newest, _rv((node.get("metadata") or {}).get(
            "resourceVersion")))
        name = str((node.get("metadata") or {}).get("name") or "")
        if not name:
            return
        entry = node_route(node)
        if entry is None:
            changed = self.peers.pop(name, None) is not None
        else:
            changed = self.peers.get(name) != entry
            self.peers[name] = entry
        if changed:
            self._dirty.set()

    def on_node_update(self, old: Obj, new: Obj) -> None:
        self.on_node_add(new)

    def on_node_delete(self, node: Obj) -> None:
        self._newest = max(self._newest, _rv((node.get("metadata") or {}).get(
            "resourceVersion")))
        name = str((node.get("metadata") or {}).get("name") or "")
        if self.peers.pop(name, None) is not None:
            self._dirty.set()
        self.connected.discard(name)
        self.sent.pop(name, None)

    def on_connected(self, node: str) -> None:
        self.connected.add(node)
        self.sent.pop(node, None)  # whatever it had, it gets the summary again
        self._dirty.set()

    def on_disconnected(self, node: str) -> None:
        self.connected.discard(node)
        self.sent.pop(node, None)

    # -- output --

    def routes_for(self, node: str) -> list[dict[str, Any]]:
        return [dict(self.peers[n]) for n in sorted(self.peers) if n != node]

    def flush(self) -> int:
        """Send every connected edge whose summary changed its new one; how many."""
        version = str(max(_rv(self.version()), self._newest))
        count = 0
        for node in sorted(self.connected):
            routes = self.routes_for(node)
            if self.sent.get(node) == routes:
                continue
            body = {"apiVersion": "v1", "kind": KIND_NODE_ROUTES,
                    "metadata": {"name": node, "resourceVersion": version},
                    "routes": routes}
            try:
                msg = object_message(node, RESOURCE_NODEROUTES, body, OP_UPDATE,
                                     namespace=NULL_NAMESPACE)
            except ResourceError as exc:
                log.warning("edgecontroller: no routes message for node %s: %s", node, exc)
                continue
            self.outbox(msg)
            self.sent[node] = routes
            self.messages += 1
            count += 1
        return count

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            # Let the informer finish the handlers of a relist or a burst of events.
            await asyncio.sleep(0)
            self._dirty.clear()
            try:
                self.flush()
            except Exception:
                log.exception("edgecontroller: routes between edges not sent")
