"""Routes between edges: each connected edge told the pod networks of the other edges.

Ours; KubeEdge has no such message (its edges reach each other's pods through
EdgeMesh or a CNI such as Calico/Flannel that reads Nodes itself). Our process runtime
puts every pod on a bridge with an IP from its node's `spec.podCIDR` (given by the
node-ipam controller), so a pod on edge A reaches a pod on edge B once A routes B's
podCIDR via B's InternalIP. An edge cannot list Nodes for that: the node authorizer
lets a node read only its own Node, and that rule stays. So cloudcore, which reads them
anyway, summarises them: for every edge node connected to this cloudcore, the podCIDR
and InternalIP of every *other* edge node that has both, and nothing else of them.

The message goes as every edge summary does (`summary.py`; the edge side reads it in
edge/node.py `PodNetworkSync`, MetaManager forwards it): resource
`node/<edge>/null/noderoutes/<edge>`, content `{"kind": "NodeRoutes", ..., "routes":
[{"nodeName", "podCIDR", "podCIDRs", "nodeIP"}, ...]}` sorted by node name, the
revision the node informer's. It changes when an edge Node's podCIDR or InternalIP
changes, appears or goes; a node heartbeat changes nothing here, so it sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubeedge.cloud.edgecontroller.summary import EdgeSummary
from kubeedge.messaging.message import Message
from kubeedge.messaging.resource import RESOURCE_NODEROUTES

__all__ = ["KIND_NODE_ROUTES", "RESOURCE_NODEROUTES", "NodeRoutes", "node_route"]

KIND_NODE_ROUTES = "NodeRoutes"

Obj = Mapping[str, Any]


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


class NodeRoutes(EdgeSummary):
    """Node informer handlers in, `noderoutes` messages out (`EdgeSummary`); the
    summaries are computed once the informer's handlers of a burst have run."""

    kind = KIND_NODE_ROUTES
    resource_type = RESOURCE_NODEROUTES
    field = "routes"

    def __init__(self, outbox: Callable[[Message], None],
                 version: Callable[[], str] = lambda: "") -> None:
        super().__init__(outbox, version)
        self.peers: dict[str, dict[str, Any]] = {}

    def on_node_add(self, node: Obj) -> None:
        self.saw(node)
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
            self.changed()

    def on_node_update(self, old: Obj, new: Obj) -> None:
        self.on_node_add(new)

    def on_node_delete(self, node: Obj) -> None:
        self.saw(node)
        name = str((node.get("metadata") or {}).get("name") or "")
        if self.peers.pop(name, None) is not None:
            self.changed()
        self.connected.discard(name)
        self.sent.pop(name, None)

    def routes_for(self, node: str) -> list[dict[str, Any]]:
        return [dict(self.peers[n]) for n in sorted(self.peers) if n != node]

    def content_for(self, node: str, prepared: Any) -> tuple[Any, dict[str, Any]]:
        return self.routes_for(node), {}
