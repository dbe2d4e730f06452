"""Resource strings: the `route.resource` of a message, built and parsed.

Owns every form KubeEdge writes into `route.resource` (specs/kubeedge.md §2 "Resource
strings"), so no module splits on "/" by hand. Must never import anything of ours.

The forms:
- cloud-internal: `node/<node>/<namespace>/<type>[/<name>]`; cluster-scoped objects use
  the namespace `null`;
- on the wire to and from the edge: `<namespace>/<type>/<name>`, and `<namespace>/<type>`
  for a list query (CloudHub strips `node/<node>/` going down and adds it going up);
- node-level and device forms: `node/<node>/membership`, `node/<node>/twin`,
  `node/<node>/device/<ns>/<name>/twin/edge_updated` (or `.../state/update`);
- bare forms: `node/connection` (EdgeHub's connection event), `node` (keepalive),
  `k8s/ca.crt`, and `node/<node>` (CloudHub's connect event).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ResourceError",
    "ResourceKey",
    "add_node_prefix",
    "build_device_resource",
    "build_resource",
    "device_id_of",
    "device_resource_type",
    "node_id_of",
    "parse_edge_resource",
    "parse_node_resource",
    "strip_node_prefix",
]

SEP = "/"

# --- resource types (beehive model, common/constants, devicecontroller; spec §2) ---------
RESOURCE_POD = "pod"
RESOURCE_PODLIST = "podlist"
RESOURCE_PODSTATUS = "podstatus"
RESOURCE_PODPATCH = "podpatch"
RESOURCE_NODE = "node"
RESOURCE_NODESTATUS = "nodestatus"
RESOURCE_NODEPATCH = "nodepatch"
RESOURCE_CONFIGMAP = "configmap"
RESOURCE_SECRET = "secret"
RESOURCE_SERVICEACCOUNTTOKEN = "serviceaccounttoken"
RESOURCE_SERVICEACCOUNTACCESS = "serviceaccountaccess"
RESOURCE_EVENT = "event"
RESOURCE_LEASE = "lease"
RESOURCE_RULE = "rule"
RESOURCE_RULEENDPOINT = "ruleendpoint"
RESOURCE_RULESTATUS = "rulestatus"
RESOURCE_CSR = "certificatesigningrequest"
RESOURCE_K8S_CA = "k8s/ca.crt"
RESOURCE_SERVICE = "service"
RESOURCE_ENDPOINTS = "endpoints"
RESOURCE_PERSISTENTVOLUME = "persistentvolume"
RESOURCE_PERSISTENTVOLUMECLAIM = "persistentvolumeclaim"
RESOURCE_VOLUMEATTACHMENT = "volumeattachment"
RESOURCE_VOLUME = "volume"  # CSI
RESOURCE_DEVICE = "device"
RESOURCE_DEVICEMODEL = "devicemodel"
RESOURCE_MEMBERSHIP = "membership"
RESOURCE_TWIN = "twin"
RESOURCE_AUTH_INFO = "auth_info"
RESOURCE_NODE_CONNECTION = "node/connection"  # EdgeHub's connect event (spec §3)
# Ours, no KubeEdge counterpart: summaries cloudcore's EdgeController sends each edge
# (cloud/edgecontroller/routes.py, hosts.py): the other edges' podCIDRs and addresses,
# and the cluster's headless Service and pod host names.
RESOURCE_NODEROUTES = "noderoutes"
RESOURCE_CLUSTERHOSTS = "clusterhosts"
# The `kind` of the clusterhosts summary's content.
KIND_CLUSTER_HOSTS = "ClusterHosts"
# Upstream device resource suffixes the cloud recognises (cloud/pkg/common/messagelayer).
RESOURCE_TWIN_EDGE_UPDATED = "twin/edge_updated"
RESOURCE_TWIN_CLOUD_UPDATED = "twin/cloud_updated"
RESOURCE_MEMBERSHIP_DETAIL = "membership/detail"
RESOURCE_DEVICE_STATE_UPDATE = "state/update"

# The namespace segment of cluster-scoped objects (MetaManager's NullNamespace).
NULL_NAMESPACE = "null"
# edged's `registerNodeNamespace` default, used for node, nodepatch and lease (spec §2).
DEFAULT_REGISTER_NODE_NAMESPACE = "default"

_NODE_PREFIX = RESOURCE_NODE + SEP
_NODE_FORM = "node/<node>/<namespace>/<type>[/<name>]"
_EDGE_FORM = "<namespace>/<type>/<name>, or <namespace>/<type> for a query"


class ResourceError(ValueError):
    """A resource string that is not of the form the caller expects."""

    def __init__(self, resource: str, reason: str) -> None:
        self.resource = resource
        self.reason = reason
        super().__init__(f"resource {resource!r}: {reason}")


@dataclass(frozen=True, slots=True)
class ResourceKey:
    """What a resource string names: namespace, type and (empty for a list) name."""

    namespace: str
    resource_type: str
    name: str = ""

    @property
    def edge(self) -> str:
        """The edge form `<namespace>/<type>[/<name>]`, also MetaManager's `meta.key`."""
        if self.name:
            return f"{self.namespace}{SEP}{self.resource_type}{SEP}{self.name}"
        return f"{self.namespace}{SEP}{self.resource_type}"

    def for_node(self, node: str) -> str:
        """The cloud-internal form `node/<node>/<namespace>/<type>[/<name>]`."""
        return build_resource(node, self.namespace, self.resource_type, self.name)


def build_resource(node: str, namespace: str, resource_type: str, name: str = "") -> str:
    """KubeEdge's messagelayer.BuildResource: `node/<node>/<namespace>/<type>[/<name>]`."""
    missing = [
        label
        for label, value in (("node", node), ("namespace", namespace), ("type", resource_type))
        if not value
    ]
    if missing:
        raise ResourceError(
            f"node/{node}/{namespace}/{resource_type}", f"{', '.join(missing)} required"
        )
    _check_segment(node, "node")
    _check_segment(namespace, "namespace")
    _check_segment(name, "name")
    resource = f"{_NODE_PREFIX}{node}{SEP}{namespace}{SEP}{resource_type}"
    return f"{resource}{SEP}{name}" if name else resource


def parse_node_resource(resource: str) -> tuple[str, ResourceKey]:
    """Split `node/<node>/<namespace>/<type>[/<name>]` into the node and what it names.

    Raises `ResourceError` for anything else: the device and bare forms have their own
    functions here, and k8s object names never contain "/".
    """
    parts = resource.split(SEP)
    if len(parts) not in (4, 5) or parts[0] != RESOURCE_NODE:
        raise ResourceError(resource, f"expected {_NODE_FORM}")
    _, node, namespace, resource_type, *rest = parts
    for label, value in (("node", node), ("namespace", namespace), ("type", resource_type)):
        if not value:
            raise ResourceError(resource, f"empty {label} segment; expected {_NODE_FORM}")
    name = rest[0] if rest else ""
    if rest and not name:
        raise ResourceError(resource, f"empty name segment; expected {_NODE_FORM}")
    return node, ResourceKey(namespace, resource_type, name)


def parse_edge_resource(resource: str, operation: str = "") -> ResourceKey:
    """KubeEdge's ParseResourceEdge: `<namespace>/<type>/<name>` on the edge side.

    A two-part `<namespace>/<type>` is accepted only for a `query` or `response` (a list,
    spec §2: edged queries `default/pod` at start).
    """
    parts = resource.split(SEP)
    if len(parts) == 3:
        namespace, resource_type, name = parts
        if namespace and resource_type and name:
            return ResourceKey(namespace, resource_type, name)
        raise ResourceError(resource, f"empty segment; expected {_EDGE_FORM}")
    if len(parts) == 2:
        namespace, resource_type = parts
        if operation not in ("query", "response"):
            raise ResourceError(
                resource,
                f"a <namespace>/<type> list is only valid for query or response, "
                f"not operation {operation!r}",
            )
        if namespace and resource_type:
            return ResourceKey(namespace, resource_type)
        raise ResourceError(resource, f"empty segment; expected {_EDGE_FORM}")
    raise ResourceError(resource, f"expected {_EDGE_FORM}")


def strip_node_prefix(resource: str) -> str:
    """CloudHub's TrimMessage: drop `node/<node>/` before a message goes to the edge.

    Resources that do not start with `node/<node>/` pass through unchanged, as in KubeEdge
    (`node`, `k8s/ca.crt`, a user topic).
    """
    if not resource.startswith(_NODE_PREFIX):
        return resource
    parts = resource.split(SEP, 2)
    if len(parts) < 3:
        return resource
    return parts[2]


def add_node_prefix(node: str, resource: str) -> str:
    """What CloudHub does to every resource coming up from an edge: `node/<node>/...`."""
    if not node:
        raise ResourceError(resource, "node required to prefix an edge resource")
    _check_segment(node, "node")
    return f"{_NODE_PREFIX}{node}{SEP}{resource}"


def node_id_of(resource: str) -> str:
    """CloudHub's GetNodeID: the segment after the first `node` segment that has one."""
    parts = resource.split(SEP)
    for i, part in enumerate(parts[:-1]):
        if part == RESOURCE_NODE and parts[i + 1]:
            return parts[i + 1]
    raise ResourceError(resource, "no node id (expected a node/<node>/... segment pair)")


def build_device_resource(node: str, resource_type: str, resource_id: str = "") -> str:
    """KubeEdge's BuildResourceForDevice: `node/<node>/<type>[/<id>]`, e.g.
    `node/edge-1/membership` or `node/edge-1/twin`."""
    if not node or not resource_type:
        raise ResourceError(f"node/{node}/{resource_type}", "node and type required")
    _check_segment(node, "node")
    resource = f"{_NODE_PREFIX}{node}{SEP}{resource_type}"
    return f"{resource}{SEP}{resource_id}" if resource_id else resource


def device_id_of(resource: str) -> str:
    """The device ID `<namespace>/<name>` from `.../device/<namespace>/<name>/...`.

    Accepts the upstream cloud form `node/<n>/device/<ns>/<name>/twin/edge_updated` (as
    KubeEdge's GetDeviceID does, with `device` as the third segment) and the edge form
    `device/<ns>/<name>/...` a message has before CloudHub prefixes it.
    """
    parts = resource.split(SEP)
    for start in (2, 0):
        if len(parts) >= start + 3 and parts[start] == RESOURCE_DEVICE:
            namespace, name = parts[start + 1], parts[start + 2]
            if namespace and name:
                return f"{namespace}{SEP}{name}"
    raise ResourceError(resource, "no device id (expected .../device/<namespace>/<name>/...)")


def device_resource_type(resource: str) -> str:
    """KubeEdge's GetResourceTypeForDevice: which upstream device message this is."""
    for kind in (
        RESOURCE_TWIN_EDGE_UPDATED,
        RESOURCE_MEMBERSHIP_DETAIL,
        RESOURCE_DEVICE_STATE_UPDATE,
    ):
        if kind in resource:
            return kind
    raise ResourceError(
        resource, "not a device resource (twin/edge_updated, membership/detail, state/update)"
    )


def _check_segment(value: str, label: str) -> None:
    if SEP in value:
        raise ResourceError(value, f"{label} must not contain {SEP!r}")
