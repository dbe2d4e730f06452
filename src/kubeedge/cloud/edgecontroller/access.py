"""What an edge node may ask EdgeController to do: the node authorizer's rule, here.

Owns the decision, for each upstream request, whether the sending node (the `<node>` of
the `node/<node>/...` resource CloudHub put on it, spec §2) may make it:

- a node touches only its own Node (status, patches, registration) and its own Lease;
- it writes status of, deletes, and reads only pods bound to it (`spec.nodeName`);
- it reads only the configmaps and secrets, and gets tokens only for the service
  accounts, that a pod bound to it refers to.

This is kube's Node authorizer and NodeRestriction rule (KubeEdge's
`cloudHub.authorization` applies the same one). EdgeController also makes every call as
the node (`Impersonate-User: system:node:<node>`, group `system:nodes`), so the API
server enforces it too; this check gives the edge a clear refusal before any call and
keeps the rule when the API server is one without a node authorizer.

Pure: answers from the `LocationCache` and the pod the caller looked up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge.cloud.edgecontroller.locations import (
    CONFIGMAP,
    SECRET,
    SERVICEACCOUNT,
    LocationCache,
    Reference,
)

__all__ = [
    "NODES_GROUP",
    "NODE_LEASE_NAMESPACE",
    "NODE_USER_PREFIX",
    "EdgeAccess",
    "node_user",
]

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
NODE_LEASE_NAMESPACE = "kube-node-lease"

# The API resource (plural) of each referenced kind, for kube's refusal text.
_PLURALS = {CONFIGMAP: "configmaps", SECRET: "secrets", SERVICEACCOUNT: "serviceaccounts"}


def node_user(node: str) -> str:
    return NODE_USER_PREFIX + node


class EdgeAccess:
    """Decisions for requests from edge nodes. Each method returns None when allowed,
    else the reason, worded as kube words the same refusal."""

    def __init__(self, locations: LocationCache) -> None:
        self.locations = locations

    def own_node(self, sender: str, name: str, verb: str = "modify") -> str | None:
        if name == sender:
            return None
        return f'node "{sender}" is not allowed to {verb} node "{name}"'

    def own_lease(self, sender: str, namespace: str, name: str) -> str | None:
        if namespace != NODE_LEASE_NAMESPACE:
            return f'node "{sender}" can only access leases in the "{NODE_LEASE_NAMESPACE}" ' \
                   f"system namespace"
        if name != sender:
            return (f'node "{sender}" can only access node lease with the same name as the '
                    f"requesting node")
        return None

    def bound_pod(self, sender: str, pod: Mapping[str, Any] | None, namespace: str, name: str,
                  what: str = "update pod status for") -> str | None:
        """The pod must exist (the caller looked it up) and be bound to `sender`."""
        node = str(((pod or {}).get("spec") or {}).get("nodeName") or "")
        if pod is not None and node == sender:
            return None
        return (f'node "{sender}" can only {what} pods with spec.nodeName set to itself '
                f'(pod "{namespace}/{name}")')

    def referenced(self, sender: str, kind: str, namespace: str, name: str,
                   verb: str = "get") -> str | None:
        """A configmap, secret or service account must be used by a pod on `sender`."""
        if self.locations.node_uses(sender, Reference(kind, namespace, name)):
            return None
        plural = _PLURALS.get(kind, kind)
        return (f'{plural} "{name}" is forbidden: User "{node_user(sender)}" cannot {verb} '
                f'resource "{plural}" in API group "" in the namespace "{namespace}": '
                f'no relationship found between node "{sender}" and this object')
