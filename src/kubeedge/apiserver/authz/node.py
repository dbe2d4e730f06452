"""The Node authorizer and NodeRestriction: what a node's identity may touch.

Owns, for users named `system:node:<node>` in group `system:nodes` (a kubelet, or an
edgecore with its CloudCore-signed certificate, specs/kubeedge.md §4):

- the Node authorizer's graph rule: secrets, configmaps, persistentvolumeclaims (and
  their status), persistentvolumes and service account tokens only when a pod bound to
  the node refers to them (volumes, projected sources, env and envFrom of every
  container, imagePullSecrets, PVCs and generic ephemeral volumes, the service account);
- the node's own objects: its Node (and `nodes/status`), its Lease in `kube-node-lease`,
  its CSINode; the status, eviction and deletion of pods bound to it;
- the static rules of ClusterRole `system:node` for everything else (read nodes, pods,
  services, endpoints; write events; create token and access reviews; CSRs; CSI drivers);
- `admit`, the NodeRestriction checks that need the object (a node creates only mirror
  pods bound to itself, only its own Node and Lease, tokens only for its pods).

Decisions: allow; an explicit deny where NodeRestriction would refuse the write (another
node's Node, Lease or pods); no opinion otherwise, so a chain falls through to RBAC for
non-nodes and for anything an administrator chose to grant nodes there. Never does: fetch
objects itself (a `NodeGraph` and an optional PVC lookup supply them) or HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

from kubeedge.api.defaults import MIRROR_POD_ANNOTATION
from kubeedge.api.podrefs import pod_references
from kubeedge.apiserver.authz.bootstrap import (
    AUTHENTICATION,
    AUTHORIZATION,
    CERTIFICATES,
    COORDINATION,
    CORE,
    DISCOVERY,
    EVENTS,
    NODE,
    READ,
    STORAGE,
)
from kubeedge.apiserver.authz.rbac import rules_allow
from kubeedge.apiserver.authz.types import (
    NODE_USER_PREFIX,
    NODES_GROUP,
    Decision,
    RequestAttributes,
    RulesReview,
    UserInfo,
)

NODE_LEASE_NAMESPACE = "kube-node-lease"

Obj = Mapping[str, Any]
PVCLookup = Callable[[str, str], Obj | None]


@runtime_checkable
class NodeGraph(Protocol):
    """The pods bound to a node (`spec.nodeName == node`), as plain dicts."""

    def pods_on_node(self, node_name: str) -> Iterable[Obj]: ...


def node_identity(user: UserInfo) -> tuple[str, bool]:
    """(node name, is a node) as `nodeidentifier`: name prefix `system:node:` *and* group
    `system:nodes`; a node user whose name is just the prefix has an empty node name."""
    if not user.name.startswith(NODE_USER_PREFIX) or NODES_GROUP not in user.groups:
        return "", False
    return user.name[len(NODE_USER_PREFIX) :], True


# --------------------------------------------------------------------------- pod references


# --------------------------------------------------------------------------- static rules


def _rule(verbs: Iterable[str], group: str, resources: Iterable[str]) -> dict[str, Any]:
    return {"verbs": list(verbs), "apiGroups": [group], "resources": list(resources)}


# `system:node`'s rules for the resources the graph does not subdivide. Reading endpoints
# in full and endpointslices is a KubeEdge addition: the edge serves service discovery.
STATIC_NODE_RULES: tuple[dict[str, Any], ...] = (
    _rule(["create"], AUTHENTICATION, ["tokenreviews"]),
    _rule(["create"], AUTHORIZATION, ["localsubjectaccessreviews", "subjectaccessreviews"]),
    _rule(READ, CORE, ["services", "endpoints"]),
    _rule(READ, DISCOVERY, ["endpointslices"]),
    _rule(["create", "update", "patch"], CORE, ["events"]),
    _rule(["create", "update", "patch"], EVENTS, ["events"]),
    _rule(["create", "get", "list", "watch"], CERTIFICATES, ["certificatesigningrequests"]),
    _rule(READ, STORAGE, ["csidrivers"]),
    _rule(READ, NODE, ["runtimeclasses"]),
)


# --------------------------------------------------------------------------- the authorizer

# Resources the graph or the node's identity subdivides, and the method deciding each.
_HANDLERS: dict[tuple[str, str], str] = {
    (CORE, "secrets"): "_secret_or_configmap",
    (CORE, "configmaps"): "_secret_or_configmap",
    (CORE, "persistentvolumeclaims"): "_pvc",
    (CORE, "persistentvolumes"): "_pv",
    (CORE, "serviceaccounts"): "_service_account",
    (CORE, "nodes"): "_nodes",
    (CORE, "pods"): "_pods_resource",
    (COORDINATION, "leases"): "_lease",
    (STORAGE, "csinodes"): "_csinode",
}


class NodeAuthorizer:
    """Authorizes node identities against the pods bound to them (see module docstring)."""

    def __init__(self, graph: NodeGraph, *, pvc_lookup: PVCLookup | None = None) -> None:
        self.graph = graph
        self.pvc_lookup = pvc_lookup

    # -- graph questions

    def _pods(self, node: str, namespace: str) -> Iterator[Obj]:
        for pod in self.graph.pods_on_node(node):
            meta = pod.get("metadata") or {}
            if meta.get("namespace", "") == namespace:
                yield pod

    def pod_bound(self, node: str, namespace: str, name: str) -> bool:
        return any(
            (p.get("metadata") or {}).get("name") == name for p in self._pods(node, namespace)
        )

    def _referenced(self, node: str, kind: str, namespace: str, name: str) -> bool:
        for pod in self._pods(node, namespace):
            refs = pod_references(pod)
            if name in getattr(refs, kind):
                return True
        return False

    def _pv_referenced(self, node: str, name: str) -> bool:
        if self.pvc_lookup is None:
            return False
        for pod in self.graph.pods_on_node(node):
            namespace = (pod.get("metadata") or {}).get("namespace", "")
            for claim in pod_references(pod).persistent_volume_claims:
                pvc = self.pvc_lookup(namespace, claim)
                if pvc is not None and (pvc.get("spec") or {}).get("volumeName") == name:
                    return True
        return False

    # -- the decision

    def authorize(self, attrs: RequestAttributes) -> Decision:
        node, is_node = node_identity(attrs.user)
        if not is_node:
            return Decision.no_opinion()
        if not node:
            return Decision.no_opinion(f'unknown node for user "{attrs.user.name}"')
        if attrs.resource_request:
            handler = _HANDLERS.get((attrs.api_group, attrs.resource))
            if handler is not None:
                decision: Decision = getattr(self, handler)(node, attrs)
                return decision
        if rules_allow(attrs, STATIC_NODE_RULES):
            return Decision.allow()
        return Decision.no_opinion()

    def _no_relationship(self, node: str) -> Decision:
        return Decision.no_opinion(f'no relationship found between node "{node}" and this object')

    def _secret_or_configmap(self, node: str, attrs: RequestAttributes) -> Decision:
        kind = "secrets" if attrs.resource == "secrets" else "config_maps"
        if attrs.verb not in ("get", "list", "watch"):
            return Decision.no_opinion("can only read resources of this type")
        if attrs.subresource:
            return Decision.no_opinion("cannot read subresource")
        if not attrs.namespace:
            return Decision.no_opinion("can only read namespaced object of this type")
        if not attrs.name:
            return Decision.no_opinion("No Object name found")
        if self._referenced(node, kind, attrs.namespace, attrs.name):
            return Decision.allow()
        return self._no_relationship(node)

    def _pvc(self, node: str, attrs: RequestAttributes) -> Decision:
        if attrs.subresource == "status":
            if attrs.verb not in ("get", "update", "patch"):
                return Decision.no_opinion("can only get/update/patch this type")
        elif attrs.subresource:
            return Decision.no_opinion("cannot get subresource")
        elif attrs.verb != "get":
            return Decision.no_opinion("can only get individual resources of this type")
        if not attrs.name:
            return Decision.no_opinion("No Object name found")
        if self._referenced(node, "persistent_volume_claims", attrs.namespace, attrs.name):
            return Decision.allow()
        return self._no_relationship(node)

    def _pv(self, node: str, attrs: RequestAttributes) -> Decision:
        if attrs.verb != "get":
            return Decision.no_opinion("can only get individual resources of this type")
        if attrs.subresource:
            return Decision.no_opinion("cannot get subresource")
        if not attrs.name:
            return Decision.no_opinion("No Object name found")
        if self._pv_referenced(node, attrs.name):
            return Decision.allow()
        return self._no_relationship(node)

    def _service_account(self, node: str, attrs: RequestAttributes) -> Decision:
        if attrs.verb != "create" or not attrs.name:
            return Decision.no_opinion("can only create tokens for individual service accounts")
        if attrs.subresource != "token":
            return Decision.no_opinion("can only create token subresource of serviceaccount")
        if self._referenced(node, "service_accounts", attrs.namespace, attrs.name):
            return Decision.allow()
        return self._no_relationship(node)

    def _own_object(
        self, node: str, attrs: RequestAttributes, what: str, namespace: str | None
    ) -> Decision:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return Decision.no_opinion(f"can only get, create, update, patch, or delete a {what}")
        if attrs.subresource:
            return Decision.no_opinion(f"cannot authorize {what} subresources")
        if namespace is not None and attrs.namespace != namespace:
            return Decision.no_opinion(
                f'can only access leases in the "{namespace}" system namespace'
            )
        # A create carries no name here (upstream too); `admit` checks the object's name.
        if attrs.name != node and not (attrs.verb == "create" and not attrs.name):
            return Decision.deny(
                f"can only access {what} with the same name as the requesting node"
            )
        return Decision.allow()

    def _lease(self, node: str, attrs: RequestAttributes) -> Decision:
        return self._own_object(node, attrs, "node lease", NODE_LEASE_NAMESPACE)

    def _csinode(self, node: str, attrs: RequestAttributes) -> Decision:
        return self._own_object(node, attrs, "CSINode", None)

    def _nodes(self, node: str, attrs: RequestAttributes) -> Decision:
        sub, verb = attrs.subresource, attrs.verb
        if sub == "" and verb in ("get", "list", "watch"):
            return Decision.allow()
        if sub == "" and verb == "create":
            if attrs.name and attrs.name != node:
                return Decision.deny(f'node "{node}" is not allowed to modify node "{attrs.name}"')
            return Decision.allow()
        if sub in ("", "status") and verb in ("update", "patch"):
            if attrs.name != node:
                return Decision.deny(f'node "{node}" is not allowed to modify node "{attrs.name}"')
            return Decision.allow()
        return Decision.no_opinion()

    def _pods_resource(self, node: str, attrs: RequestAttributes) -> Decision:
        sub, verb = attrs.subresource, attrs.verb
        if sub == "" and verb in ("get", "list", "watch"):
            # Kubelets read all pods (list/watch narrowed by field selector client-side).
            return Decision.allow()
        if sub == "" and verb == "create":
            return Decision.allow()  # mirror pods; `admit` checks the object
        bound_write = (sub == "" and verb == "delete") or (
            (sub == "status" and verb in ("update", "patch"))
            or (sub == "eviction" and verb == "create")
        )
        if not bound_write:
            return Decision.no_opinion()
        if attrs.name and self.pod_bound(node, attrs.namespace, attrs.name):
            return Decision.allow()
        what = {"": "delete", "status": "update status of", "eviction": "evict"}[sub]
        return Decision.deny(f'node "{node}" can only {what} pods with spec.nodeName set to itself')

    # -- NodeRestriction

    def admit(self, attrs: RequestAttributes, obj: Obj | None, old: Obj | None = None) -> Decision:
        """NodeRestriction's checks on the object a node writes (after authorization).

        Allows everything a non-node does. For a node: a created pod must be a mirror pod
        (annotation `kubernetes.io/config.mirror`) bound to the node that refers to no
        secret, configmap, PVC or service account; a created or updated Node or created
        Lease must carry the node's name; updated pod status must belong to a pod bound
        to the node; a requested token must be bound to a pod on the node.
        """
        node, is_node = node_identity(attrs.user)
        if not is_node:
            return Decision.allow()
        if not node:
            return Decision.deny(f'could not determine node from user "{attrs.user.name}"')
        obj = obj or {}
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        group_resource = (attrs.api_group, attrs.resource)
        if group_resource == (CORE, "pods"):
            if attrs.subresource == "" and attrs.verb == "create":
                return self._admit_mirror_pod(node, obj)
            if attrs.subresource == "status" and attrs.verb in ("update", "patch"):
                bound_to = ((old or obj).get("spec") or {}).get("nodeName")
                if bound_to != node:
                    return Decision.deny(
                        f'node "{node}" can only update pod status for pods with '
                        f"spec.nodeName set to itself"
                    )
            return Decision.allow()
        if group_resource == (CORE, "nodes") and attrs.verb in ("create", "update", "patch"):
            name = meta.get("name") or attrs.name
            if name != node:
                return Decision.deny(f'node "{node}" is not allowed to modify node "{name}"')
            return Decision.allow()
        if group_resource == (COORDINATION, "leases") and attrs.verb == "create":
            if meta.get("name") != node:
                return Decision.deny(
                    f'node "{node}" is not allowed to create lease "{meta.get("name", "")}"'
                )
            return Decision.allow()
        if group_resource == (CORE, "serviceaccounts") and attrs.subresource == "token":
            ref = spec.get("boundObjectRef") or {}
            if ref.get("kind") != "Pod" or not self.pod_bound(
                node, attrs.namespace, ref.get("name", "")
            ):
                return Decision.deny(
                    f'node requested token not bound to a pod scheduled on node "{node}"'
                )
            return Decision.allow()
        return Decision.allow()

    def _admit_mirror_pod(self, node: str, pod: Obj) -> Decision:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        if MIRROR_POD_ANNOTATION not in (meta.get("annotations") or {}):
            return Decision.deny(
                f'pod does not have "{MIRROR_POD_ANNOTATION}" annotation, '
                f'node "{node}" can only create mirror pods'
            )
        if spec.get("nodeName") != node:
            return Decision.deny(
                f'node "{node}" can only create pods with spec.nodeName set to itself'
            )
        refs = pod_references(pod)
        if spec.get("serviceAccountName") or spec.get("serviceAccount"):
            return Decision.deny(
                f'node "{node}" can not create pods that reference a serviceaccount'
            )
        for what, names in (
            ("secrets", refs.secrets),
            ("configmaps", refs.config_maps),
            ("persistentvolumeclaims", refs.persistent_volume_claims),
        ):
            if names:
                return Decision.deny(f'node "{node}" can not create pods that reference {what}')
        return Decision.allow()

    def rules_for(self, user: UserInfo, namespace: str) -> RulesReview:
        """Nodes' permissions depend on the graph, so they cannot be listed (as upstream)."""
        if node_identity(user)[1]:
            return RulesReview(
                incomplete=True,
                evaluation_error="node authorizer does not support user rule resolution",
            )
        return RulesReview()
