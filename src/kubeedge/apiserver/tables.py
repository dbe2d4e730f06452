"""Server-side Table output (`as=Table;v=v1;g=meta.k8s.io`), as kube-apiserver 1.32 prints.

Owns the column definitions (name, type, format, description, priority: kube's own set,
descriptions being the k8s.io/api SwaggerDoc strings) and the cells of every row, built
the way `pkg/printers/internalversion/printers.go` builds them with `Wide: true` (the
server always sends the priority-1 cells; kubectl shows them only with `-o wide`), the
default convertor's `Name`/`Created At` for kinds without a printer (roles, CRDs), and
the CRD convertor for custom resources (`additionalPrinterColumns`, else `Age`), plus
`human_duration`, kube's `duration.HumanDuration` (specs/k8s-api.md §5).

Never does: list/watch/paging (the caller sets `metadata.resourceVersion`/`continue`),
content negotiation, I/O or reading a clock (`now` is passed in, so tests pin time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kubeedge.api.jsonpath import find as jsonpath_find
from kubeedge.api.jsonpath import format_cell
from kubeedge.api.meta import parse_time

__all__ = [
    "TableRenderer",
    "columns_for",
    "crd_columns",
    "crd_table",
    "human_duration",
    "table_for",
    "table_row_event",
]

Obj = dict[str, Any]
Cell = Any

TABLE_API_VERSION = "meta.k8s.io/v1"

# SwaggerDoc descriptions from k8s.io/api v0.32 (types_swagger_doc_generated.go).
_DOCS: dict[str, str] = {
    "ObjectMeta.name": (
        "Name must be unique within a namespace. Is required when creating resources,"
        " although some resources may allow a client to request the generation of an"
        " appropriate name automatically. Name is primarily intended for creation"
        " idempotence and configuration definition. Cannot be updated. More info:"
        " https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    ),
    "ObjectMeta.creationTimestamp": (
        "CreationTimestamp is a timestamp representing the server time when this object"
        " was created. It is not guaranteed to be set in happens-before order across"
        " separate operations. Clients may not set this value. It is represented in"
        " RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for"
        " lists. More info:"
        " https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
    ),
    "PodStatus.podIP": (
        "podIP address allocated to the pod. Routable at least within the cluster."
        " Empty if not yet allocated."
    ),
    "PodStatus.nominatedNodeName": (
        "nominatedNodeName is set only when this pod preempts other pods on the node,"
        " but it cannot be scheduled right away as preemption victims receive their"
        " graceful termination periods. This field does not guarantee that the pod will"
        " be scheduled on this node. Scheduler may decide to place the pod elsewhere if"
        " other nodes become available sooner. Scheduler may also decide to give the"
        " resources on this node to a higher priority pod that is created after"
        " preemption. As a result, this field may be different than PodSpec.nodeName"
        " when the pod is scheduled."
    ),
    "PodSpec.nodeName": (
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is"
        " a candidate for scheduling by the scheduler defined in schedulerName. Once"
        " this field is set, the kubelet for this node becomes responsible for the"
        " lifecycle of this pod. This field should not be used to express a desire for"
        " the pod to be scheduled on a specific node."
        " https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"
    ),
    "PodSpec.readinessGates": (
        "If specified, all readiness gates will be evaluated for pod readiness. A pod"
        " is ready when all its containers are ready AND all conditions specified in"
        ' the readiness gates have status equal to "True" More info:'
        " https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"
    ),
    "PodSpec.nodeSelector": (
        "NodeSelector is a selector which must be true for the pod to fit on a node."
        " Selector which must match a node's labels for the pod to be scheduled on that"
        " node. More info:"
        " https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"
    ),
    "ServiceSpec.type": (
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid"
        ' options are ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP"'
        " allocates a cluster-internal IP address for load-balancing to endpoints."
        " Endpoints are determined by the selector or if that is not specified, by"
        " manual construction of an Endpoints object or EndpointSlice objects. If"
        ' clusterIP is "None", no virtual IP is allocated and the endpoints are'
        ' published as a set of endpoints rather than a virtual IP. "NodePort" builds'
        " on ClusterIP and allocates a port on every node which routes to the same"
        ' endpoints as the clusterIP. "LoadBalancer" builds on NodePort and creates an'
        " external load-balancer (if supported in the current cloud) which routes to"
        ' the same endpoints as the clusterIP. "ExternalName" aliases this service to'
        " the specified externalName. Several other fields do not apply to ExternalName"
        " services. More info:"
        " https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types"
    ),
    "ServiceSpec.clusterIP": (
        "clusterIP is the IP address of the service and is usually assigned randomly."
        " If an address is specified manually, is in-range (as per system"
        " configuration), and is not in use, it will be allocated to the service;"
        " otherwise creation of the service will fail. This field may not be changed"
        " through updates unless the type field is also being changed to ExternalName"
        " (which requires this field to be blank) or the type field is being changed"
        " from ExternalName (in which case this field may optionally be specified, as"
        ' describe above).  Valid values are "None", empty string (""), or a valid IP'
        ' address. Setting this to "None" makes a "headless service" (no virtual IP),'
        " which is useful when direct endpoint connections are preferred and proxying"
        " is not required.  Only applies to types ClusterIP, NodePort, and"
        " LoadBalancer. If this field is specified when creating a Service of type"
        " ExternalName, creation will fail. This field will be wiped when updating a"
        " Service to type ExternalName. More info:"
        " https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "ServiceSpec.externalIPs": (
        "externalIPs is a list of IP addresses for which nodes in the cluster will also"
        " accept traffic for this service.  These IPs are not managed by Kubernetes. "
        " The user is responsible for ensuring that traffic arrives at a node with this"
        " IP.  A common example is external load-balancers that are not part of the"
        " Kubernetes system."
    ),
    "ServiceSpec.ports": (
        "The list of ports that are exposed by this service. More info:"
        " https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "ServiceSpec.selector": (
        "Route service traffic to pods with label keys and values matching this"
        " selector. If empty or not present, the service is assumed to have an external"
        " process managing its endpoints, which Kubernetes will not modify. Only"
        " applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is"
        " ExternalName. More info:"
        " https://kubernetes.io/docs/concepts/services-networking/service/"
    ),
    "Endpoints.subsets": (
        "The set of all endpoints is the union of all subsets. Addresses are placed"
        " into subsets according to the IPs they share. A single address with multiple"
        " ports, some of which are ready and some of which are not (because they come"
        " from different containers) will result in the address being displayed in"
        " different subsets for the different ports. No address will appear in both"
        " Addresses and NotReadyAddresses in the same subset. Sets of addresses and"
        " ports that comprise a service."
    ),
    "NodeSystemInfo.kubeletVersion": ("Kubelet Version reported by the node."),
    "NodeSystemInfo.osImage": (
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."
    ),
    "NodeSystemInfo.kernelVersion": (
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."
    ),
    "NodeSystemInfo.containerRuntimeVersion": (
        "ContainerRuntime Version reported by the node through runtime remote API (e.g."
        " containerd://1.4.2)."
    ),
    "NodeStatus.addresses": (
        "List of addresses reachable to the node. Queried from cloud provider, if"
        " available. More info:"
        " https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This"
        " field is declared as mergeable, but the merge key is not sufficiently unique,"
        " which can cause data corruption when it is merged. Callers should instead use"
        " a full-replacement patch. See https://pr.k8s.io/79391 for an example."
        " Consumers should assume that addresses can change during the lifetime of a"
        " Node. However, there are some exceptions where this may not be possible, such"
        " as Pods that inherit a Node's address in its own status or consumers of the"
        " downward API (status.hostIP)."
    ),
    "Event.lastTimestamp": (
        "The time at which the most recent occurrence of this event was recorded."
    ),
    "Event.type": ("Type of this event (Normal, Warning), new types could be added in the future"),
    "Event.reason": (
        "This should be a short, machine understandable string that gives the reason"
        " for the transition into the object's current status."
    ),
    "Event.involvedObject": ("The object that this event is about."),
    "Event.source": (
        "The component reporting this event. Should be a short machine understandable string."
    ),
    "Event.message": ("A human-readable description of the status of this operation."),
    "Event.firstTimestamp": (
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"
    ),
    "Event.count": ("The number of times this event has occurred."),
    "ObjectReference.fieldPath": (
        "If referring to a piece of an object instead of an entire object, this string"
        " should contain a valid JSON/Go field access statement, such as"
        " desiredState.manifest.containers[2]. For example, if the object reference is"
        " to a container within a pod, this would take on a value like:"
        ' "spec.containers{name}" (where "name" refers to the name of the container'
        " that triggered the event) or if no container name is specified"
        ' "spec.containers[2]" (container with index 2 in this pod). This syntax is'
        " chosen only to have some well-defined way of referencing a part of an object."
    ),
    "PersistentVolumeSpec.capacity": (
        "capacity is the description of the persistent volume's resources and capacity."
        " More info:"
        " https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity"
    ),
    "PersistentVolumeSpec.accessModes": (
        "accessModes contains all ways the volume can be mounted. More info:"
        " https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes"
    ),
    "PersistentVolumeSpec.persistentVolumeReclaimPolicy": (
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when"
        " released from its claim. Valid options are Retain (default for manually"
        " created PersistentVolumes), Delete (default for dynamically provisioned"
        " PersistentVolumes), and Recycle (deprecated). Recycle must be supported by"
        " the volume plugin underlying this PersistentVolume. More info:"
        " https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming"
    ),
    "PersistentVolumeSpec.claimRef": (
        "claimRef is part of a bi-directional binding between PersistentVolume and"
        " PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is"
        " the authoritative bind between PV and PVC. More info:"
        " https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding"
    ),
    "PersistentVolumeSpec.volumeMode": (
        "volumeMode defines if a volume is intended to be used with a formatted"
        " filesystem or to remain in raw block state. Value of Filesystem is implied"
        " when not included in spec."
    ),
    "PersistentVolumeStatus.phase": (
        "phase indicates if a volume is available, bound to a claim, or released by a"
        " claim. More info:"
        " https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase"
    ),
    "PersistentVolumeStatus.reason": (
        "reason is a brief CamelCase string that describes any failure and is meant for"
        " machine parsing and tidy display in the CLI."
    ),
    "PersistentVolumeClaimStatus.phase": (
        "phase represents the current phase of PersistentVolumeClaim."
    ),
    "PersistentVolumeClaimStatus.capacity": (
        "capacity represents the actual resources of the underlying volume."
    ),
    "PersistentVolumeClaimStatus.accessModes": (
        "accessModes contains the actual access modes the volume backing the PVC has."
        " More info:"
        " https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1"
    ),
    "PersistentVolumeClaimSpec.volumeName": (
        "volumeName is the binding reference to the PersistentVolume backing this claim."
    ),
    "PersistentVolumeClaimSpec.volumeMode": (
        "volumeMode defines what type of volume is required by the claim. Value of"
        " Filesystem is implied when not included in claim spec."
    ),
    "Secret.type": (
        "Used to facilitate programmatic handling of secret data. More info:"
        " https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"
    ),
    "Secret.data": (
        "Data contains the secret data. Each key must consist of alphanumeric"
        " characters, '-', '_' or '.'. The serialized form of the secret data is a"
        " base64 encoded string, representing the arbitrary (possibly non-string) data"
        " value here. Described in https://tools.ietf.org/html/rfc4648#section-4"
    ),
    "ServiceAccount.secrets": (
        "Secrets is a list of the secrets in the same namespace that pods running using"
        " this ServiceAccount are allowed to use. Pods are only limited to this list if"
        ' this service account has a "kubernetes.io/enforce-mountable-secrets"'
        ' annotation set to "true". The "kubernetes.io/enforce-mountable-secrets"'
        " annotation is deprecated since v1.32. Prefer separate namespaces to isolate"
        " access to mounted secrets. This field should not be used to find"
        " auto-generated service account token secrets for use outside of pods."
        " Instead, tokens can be requested directly using the TokenRequest API, or"
        " service account token secrets can be manually created. More info:"
        " https://kubernetes.io/docs/concepts/configuration/secret"
    ),
    "ConfigMap.data": (
        "Data contains the configuration data. Each key must consist of alphanumeric"
        " characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use"
        " the BinaryData field. The keys stored in Data must not overlap with the keys"
        " in the BinaryData field, this is enforced during validation process."
    ),
    "ReplicaSetSpec.replicas": (
        "Replicas is the number of desired replicas. This is a pointer to distinguish"
        " between explicit zero and unspecified. Defaults to 1. More info:"
        " https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller"
    ),
    "ReplicaSetSpec.selector": (
        "Selector is a label query over pods that should match the replica count. If"
        " the selector is empty, it is defaulted to the labels present on the pod"
        " template. Label keys and values that must match in order to be controlled by"
        " this replica set. More info:"
        " https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
    "ReplicaSetStatus.replicas": (
        "Replicas is the most recently observed number of replicas. More info:"
        " https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller"
    ),
    "ReplicaSetStatus.readyReplicas": ("The number of ready replicas for this replica set."),
    "DaemonSetStatus.desiredNumberScheduled": (
        "The total number of nodes that should be running the daemon pod (including"
        " nodes correctly running the daemon pod). More info:"
        " https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"
    ),
    "DaemonSetStatus.currentNumberScheduled": (
        "The number of nodes that are running at least 1 daemon pod and are supposed to"
        " run the daemon pod. More info:"
        " https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"
    ),
    "DaemonSetStatus.numberReady": (
        "The number of nodes that should be running the daemon pod and have one or more"
        " of the daemon pod running and ready."
    ),
    "DaemonSetStatus.updatedNumberScheduled": (
        "The total number of nodes that are running updated daemon pod"
    ),
    "DaemonSetStatus.numberAvailable": (
        "The number of nodes that should be running the daemon pod and have one or more"
        " of the daemon pod running and available (ready for at least"
        " spec.minReadySeconds)"
    ),
    "DaemonSetSpec.selector": (
        "A label query over pods that are managed by the daemon set. Must match in"
        " order to be controlled. If empty, defaulted to labels on Pod template. More"
        " info:"
        " https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
    "DeploymentStatus.updatedReplicas": (
        "Total number of non-terminated pods targeted by this deployment that have the"
        " desired template spec."
    ),
    "DeploymentStatus.availableReplicas": (
        "Total number of available pods (ready for at least minReadySeconds) targeted"
        " by this deployment."
    ),
    "DeploymentSpec.selector": (
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this"
        " will be the ones affected by this deployment."
    ),
    "JobStatus.succeeded": (
        "The number of pods which reached phase Succeeded. The value increases"
        " monotonically for a given spec. However, it may decrease in reaction to scale"
        " down of elastic indexed jobs."
    ),
    "JobSpec.selector": (
        "A label query over pods that should match the pod count. Normally, the system"
        " sets this field for you. More info:"
        " https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
    "CronJobSpec.schedule": (
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."
    ),
    "CronJobSpec.timeZone": (
        "The time zone name for the given schedule, see"
        " https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not"
        " specified, this will default to the time zone of the kube-controller-manager"
        " process. The set of valid time zone names and the time zone offset is loaded"
        " from the system-wide time zone database by the API server during CronJob"
        " validation and the controller manager during execution. If no system-wide"
        " time zone database can be found a bundled version of the database is used"
        " instead. If the time zone name becomes invalid during the lifetime of a"
        " CronJob or due to a change in host configuration, the controller will stop"
        " creating new new Jobs and will create a system event with the reason"
        " UnknownTimeZone. More information can be found in"
        " https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones"
    ),
    "CronJobSpec.suspend": (
        "This flag tells the controller to suspend subsequent executions, it does not"
        " apply to already started executions.  Defaults to false."
    ),
    "CronJobStatus.active": ("A list of pointers to currently running jobs."),
    "CronJobStatus.lastScheduleTime": (
        "Information when was the last time the job was successfully scheduled."
    ),
    "RoleBinding.roleRef": (
        "RoleRef can reference a Role in the current namespace or a ClusterRole in the"
        " global namespace. If the RoleRef cannot be resolved, the Authorizer must"
        " return an error."
    ),
    "ClusterRoleBinding.roleRef": (
        "RoleRef can only reference a ClusterRole in the global namespace. If the"
        " RoleRef cannot be resolved, the Authorizer must return an error."
    ),
    "LeaseSpec.holderIdentity": (
        "holderIdentity contains the identity of the holder of a current lease. If"
        " Coordinated Leader Election is used, the holder identity must be equal to the"
        " elected LeaseCandidate.metadata.name field."
    ),
    "PriorityClass.value": (
        "value represents the integer value of this priority class. This is the actual"
        " priority that pods receive when they have the name of this class in their pod"
        " spec."
    ),
    "PriorityClass.globalDefault": (
        "globalDefault specifies whether this PriorityClass should be considered as the"
        " default priority for pods that do not have any priority class. Only one"
        " PriorityClass can be marked as `globalDefault`. However, if more than one"
        " PriorityClasses exists with their `globalDefault` field set to true, the"
        " smallest value of such global default PriorityClasses will be used as the"
        " default priority."
    ),
    "PriorityClass.preemptionPolicy": (
        "preemptionPolicy is the Policy for preempting pods with lower priority. One of"
        " Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset."
    ),
    "EndpointSlice.addressType": (
        "addressType specifies the type of address carried by this EndpointSlice. All"
        " addresses in this slice must be the same type. This field is immutable after"
        " creation. The following address types are currently supported: * IPv4:"
        " Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN:"
        " Represents a Fully Qualified Domain Name."
    ),
    "EndpointSlice.ports": (
        "ports specifies the list of network ports exposed by each endpoint in this"
        " slice. Each port must have a unique name. When ports is empty, it indicates"
        " that there are no defined ports. When a port is defined with a nil port"
        ' value, it indicates "all ports". Each slice may include a maximum of 100'
        " ports."
    ),
    "EndpointSlice.endpoints": (
        "endpoints is a list of unique endpoints in this slice. Each slice may include"
        " a maximum of 1000 endpoints."
    ),
}


def _doc(key: str) -> str:
    return _DOCS[key]


NAME_DOC = _DOCS["ObjectMeta.name"]
AGE_DOC = _DOCS["ObjectMeta.creationTimestamp"]
CONTAINERS_DOC = "Names of each container in the template."
IMAGES_DOC = "Images referenced by each container in the template."


# --------------------------------------------------------------------------- durations


def human_duration(delta: timedelta) -> str:
    """duration.HumanDuration: ~2-3 significant figures (`5s`, `3m2s`, `45h`, `3y120d`)."""
    total = delta / timedelta(seconds=1)
    seconds = int(total)  # Go's int() truncates toward zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def _since(value: Any, now: datetime) -> str:
    """translateTimestampSince: `<unknown>` for an unset time."""
    moment = parse_time(value)
    if moment is None:
        return "<unknown>"
    return human_duration(_aware(now) - moment)


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


# ----------------------------------------------------------------------------- columns


def _col(name: str, type_: str, description: str, *, priority: int = 0, fmt: str = "") -> Obj:
    return {
        "name": name,
        "type": type_,
        "format": fmt,
        "description": description,
        "priority": priority,
    }


def _name_col(priority: int = 0) -> Obj:
    return _col("Name", "string", NAME_DOC, fmt="name", priority=priority)


def _age_col() -> Obj:
    return _col("Age", "string", AGE_DOC)


def _template_cols(selector_doc: str | None) -> list[Obj]:
    cols = [
        _col("Containers", "string", CONTAINERS_DOC, priority=1),
        _col("Images", "string", IMAGES_DOC, priority=1),
    ]
    if selector_doc is not None:
        cols.append(_col("Selector", "string", selector_doc, priority=1))
    return cols


# ----------------------------------------------------------------------------- helpers


def _get(obj: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(key)
    return default if obj is None else obj


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[Obj]:
    return [item for item in _list(value) if isinstance(item, dict)]


def _format_labels(labels: Any) -> str:
    """labels.FormatLabels: sorted `k=v` joined by commas, `<none>` when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _selector_string(selector: Any) -> str | None:
    """metav1.LabelSelectorAsSelector(...).String(); None when the selector is invalid."""
    if not isinstance(selector, dict):
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append((key, f"{key}={value}"))
    for expr in _list(selector.get("matchExpressions")):
        if not isinstance(expr, dict):
            return None
        key = str(expr.get("key") or "")
        values = sorted(str(v) for v in _list(expr.get("values")))
        op = expr.get("operator")
        if op == "In":
            requirements.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            requirements.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            requirements.append((key, key))
        elif op == "DoesNotExist":
            requirements.append((key, f"!{key}"))
        else:
            return None
    requirements.sort(key=lambda r: r[0])
    return ",".join(text for _, text in requirements)


def _format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: `<none>` when empty, `<error>` when invalid."""
    text = _selector_string(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def _containers(template_spec: Any) -> tuple[str, str]:
    """layoutContainerCells: container names and images, comma-joined."""
    containers = _dicts(_get(template_spec, "containers"))
    names = ",".join(str(c.get("name") or "") for c in containers)
    images = ",".join(str(c.get("image") or "") for c in containers)
    return names, images


def _int_or_string(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# -------------------------------------------------------------------------------- pods


def _is_restartable_init(container: Any) -> bool:
    return isinstance(container, dict) and container.get("restartPolicy") == "Always"


def _condition_true(conditions: Any, type_: str) -> bool:
    for condition in _dicts(conditions):
        if condition.get("type") == type_:
            return condition.get("status") == "True"
    return False


_POD_SUCCEEDED_CONDITIONS = [
    {
        "type": "Completed",
        "status": "True",
        "reason": "Succeeded",
        "message": "The pod has completed successfully.",
    }
]
_POD_FAILED_CONDITIONS = [
    {"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}
]


def _later(current: datetime | None, candidate: Any) -> datetime | None:
    moment = parse_time(candidate)
    if moment is not None and (current is None or current < moment):
        return moment
    return current


def _pod_row(pod: Obj, now: datetime) -> tuple[list[Cell], list[Obj] | None]:
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    status = pod.get("status") if isinstance(pod.get("status"), dict) else {}
    restarts = 0
    sidecar_restarts = 0
    total = len(_dicts(spec.get("containers")))
    ready = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for condition in _dicts(status.get("conditions")):
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    conditions = None
    if phase == "Succeeded":
        conditions = _POD_SUCCEEDED_CONDITIONS
    elif phase == "Failed":
        conditions = _POD_FAILED_CONDITIONS

    init_specs = {c.get("name"): c for c in _dicts(spec.get("initContainers"))}
    total += sum(1 for c in init_specs.values() if _is_restartable_init(c))
    init_statuses = _dicts(status.get("initContainerStatuses"))
    initializing = False
    for i, container in enumerate(init_statuses):
        restarts += _int(container.get("restartCount"))
        finished = _get(container, "lastState", "terminated", "finishedAt")
        last_restart = _later(last_restart, finished)
        sidecar = _is_restartable_init(init_specs.get(container.get("name")))
        if sidecar:
            sidecar_restarts += _int(container.get("restartCount"))
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        state = container.get("state") if isinstance(container.get("state"), dict) else {}
        terminated = state.get("terminated") if isinstance(state.get("terminated"), dict) else None
        waiting = state.get("waiting") if isinstance(state.get("waiting"), dict) else None
        if terminated is not None and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and container.get("started") is True:
            if container.get("ready") is True:
                ready += 1
            continue
        if terminated is not None:
            if not terminated.get("reason"):
                if _int(terminated.get("signal")):
                    reason = f"Init:Signal:{_int(terminated.get('signal'))}"
                else:
                    reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
            else:
                reason = "Init:" + str(terminated["reason"])
        elif (
            waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing"
        ):
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{i}/{len(_dicts(spec.get('initContainers')))}"
        initializing = True
        break

    if not initializing or _condition_true(status.get("conditions"), "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for container in reversed(_dicts(status.get("containerStatuses"))):
            restarts += _int(container.get("restartCount"))
            last_restart = _later(
                last_restart, _get(container, "lastState", "terminated", "finishedAt")
            )
            state = container.get("state") if isinstance(container.get("state"), dict) else {}
            waiting = state.get("waiting") if isinstance(state.get("waiting"), dict) else None
            terminated = (
                state.get("terminated") if isinstance(state.get("terminated"), dict) else None
            )
            if waiting is not None and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated is not None and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif terminated is not None:
                if _int(terminated.get("signal")):
                    reason = f"Signal:{_int(terminated.get('signal'))}"
                else:
                    reason = f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif container.get("ready") is True and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status.get("conditions"), "Ready") else "NotReady"

    deleting = bool(_get(pod, "metadata", "deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(_aware(now) - last_restart)} ago)"

    pod_ips = _dicts(status.get("podIPs"))
    pod_ip = (pod_ips[0].get("ip") if pod_ips else "") or "<none>"
    gates = _dicts(spec.get("readinessGates"))
    readiness = "<none>"
    if gates:
        true_count = 0
        for gate in gates:
            for condition in _dicts(status.get("conditions")):
                if condition.get("type") == gate.get("conditionType"):
                    if condition.get("status") == "True":
                        true_count += 1
                    break
        readiness = f"{true_count}/{len(gates)}"
    cells = [
        _get(pod, "metadata", "name", default=""),
        f"{ready}/{total}",
        reason,
        restarts_text,
        _since(_get(pod, "metadata", "creationTimestamp"), now),
        pod_ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        readiness,
    ]
    return cells, conditions


# ------------------------------------------------------------------------------- nodes


def _node_row(node: Obj, now: datetime) -> list[Cell]:
    conditions = {c.get("type"): c for c in _dicts(_get(node, "status", "conditions"))}
    status: list[str] = []
    ready = conditions.get("Ready")
    if ready is not None:
        status.append("Ready" if ready.get("status") == "True" else "NotReady")
    if not status:
        status.append("Unknown")
    if _get(node, "spec", "unschedulable") is True:
        status.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in (_get(node, "metadata", "labels", default={}) or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key[len("node-role.kubernetes.io/") :]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    info = _get(node, "status", "nodeInfo", default={})

    def address(kind: str) -> str:
        for entry in _dicts(_get(node, "status", "addresses")):
            if entry.get("type") == kind:
                return str(entry.get("address") or "")
        return "<none>"

    return [
        _get(node, "metadata", "name", default=""),
        ",".join(status),
        ",".join(sorted(roles)) or "<none>",
        _since(_get(node, "metadata", "creationTimestamp"), now),
        info.get("kubeletVersion") or "",
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


# ---------------------------------------------------------------------------- workloads


def _age(obj: Obj, now: datetime) -> str:
    return _since(_get(obj, "metadata", "creationTimestamp"), now)


def _name(obj: Obj) -> str:
    return str(_get(obj, "metadata", "name", default=""))


def _replicas(spec: Any) -> int:
    value = _get(spec, "replicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _deployment_row(obj: Obj, now: datetime) -> list[Cell]:
    spec, status = _get(obj, "spec", default={}), _get(obj, "status", default={})
    names, images = _containers(_get(spec, "template", "spec"))
    selector = _selector_string(spec.get("selector"))
    return [
        _name(obj),
        f"{_int(status.get('readyReplicas'))}/{_replicas(spec)}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        _age(obj, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


def _replicaset_row(obj: Obj, now: datetime) -> list[Cell]:
    spec, status = _get(obj, "spec", default={}), _get(obj, "status", default={})
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        _replicas(spec),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        _age(obj, now),
        names,
        images,
        _format_label_selector(spec.get("selector")),
    ]


def _daemonset_row(obj: Obj, now: datetime) -> list[Cell]:
    spec, status = _get(obj, "spec", default={}), _get(obj, "status", default={})
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        _int(status.get("desiredNumberScheduled")),
        _int(status.get("currentNumberScheduled")),
        _int(status.get("numberReady")),
        _int(status.get("updatedNumberScheduled")),
        _int(status.get("numberAvailable")),
        _format_labels(_get(spec, "template", "spec", "nodeSelector")),
        _age(obj, now),
        names,
        images,
        _format_label_selector(spec.get("selector")),
    ]


def _statefulset_row(obj: Obj, now: datetime) -> list[Cell]:
    spec, status = _get(obj, "spec", default={}), _get(obj, "status", default={})
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        f"{_int(status.get('readyReplicas'))}/{_replicas(spec)}",
        _age(obj, now),
        names,
        images,
    ]


def _job_status(job: Obj) -> str:
    conditions = _get(job, "status", "conditions")
    if _condition_true(conditions, "Complete"):
        return "Complete"
    if _condition_true(conditions, "Failed"):
        return "Failed"
    if _get(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    if _condition_true(conditions, "Suspended"):
        return "Suspended"
    if _condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_row(obj: Obj, now: datetime) -> list[Cell]:
    spec, status = _get(obj, "spec", default={}), _get(obj, "status", default={})
    succeeded = _int(status.get("succeeded"))
    completions = spec.get("completions")
    if isinstance(completions, int) and not isinstance(completions, bool):
        progress = f"{succeeded}/{completions}"
    else:
        parallelism = _int(spec.get("parallelism"))
        progress = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    start = parse_time(status.get("startTime"))
    end = parse_time(status.get("completionTime"))
    duration = ""
    if start is not None:
        duration = human_duration((end or _aware(now)) - start)
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        _job_status(obj),
        progress,
        duration,
        _age(obj, now),
        names,
        images,
        _format_label_selector(spec.get("selector")),
    ]


def _cronjob_row(obj: Obj, now: datetime) -> list[Cell]:
    spec, status = _get(obj, "spec", default={}), _get(obj, "status", default={})
    last = status.get("lastScheduleTime")
    suspend = spec.get("suspend")
    job_spec = _get(spec, "jobTemplate", "spec", default={})
    names, images = _containers(_get(job_spec, "template", "spec"))
    return [
        _name(obj),
        str(spec.get("schedule") or ""),
        spec.get("timeZone") if spec.get("timeZone") is not None else "<none>",
        "<unset>" if not isinstance(suspend, bool) else ("True" if suspend else "False"),
        len(_list(status.get("active"))),
        _since(last, now) if last else "<none>",
        _age(obj, now),
        names,
        images,
        _format_label_selector(job_spec.get("selector")),
    ]


# ---------------------------------------------------------------------------- services


def _service_external_ip(spec: Obj, status: Obj) -> str:
    svc_type = spec.get("type") or ""
    external = [str(ip) for ip in _list(spec.get("externalIPs"))]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if svc_type == "LoadBalancer":
        ingress = set()
        for entry in _dicts(_get(status, "loadBalancer", "ingress")):
            if entry.get("ip"):
                ingress.add(str(entry["ip"]))
            elif entry.get("hostname"):
                ingress.add(str(entry["hostname"]))
        lb = ",".join(sorted(ingress))  # wide: never clipped to 16 characters
        if external:
            return ",".join([*(lb.split(",") if lb else []), *external])
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def _port_string(ports: Any) -> str:
    pieces = []
    for port in _dicts(ports):
        protocol = port.get("protocol") or ""
        if _int(port.get("nodePort")) > 0:
            pieces.append(f"{_int(port.get('port'))}:{port['nodePort']}/{protocol}")
        else:
            pieces.append(f"{_int(port.get('port'))}/{protocol}")
    return ",".join(pieces)


def _service_row(obj: Obj, now: datetime) -> list[Cell]:
    spec, status = _get(obj, "spec", default={}), _get(obj, "status", default={})
    cluster_ips = _list(spec.get("clusterIPs")) or (
        [spec["clusterIP"]] if spec.get("clusterIP") else []
    )
    return [
        _name(obj),
        str(spec.get("type") or ""),
        str(cluster_ips[0]) if cluster_ips else "<none>",
        _service_external_ip(spec, status),
        _port_string(spec.get("ports")) or "<none>",
        _age(obj, now),
        _format_labels(spec.get("selector")),
    ]


def _endpoints_text(endpoints: Obj) -> str:
    """formatEndpoints: up to three `ip:port`, then ` + N more...`."""
    subsets = _dicts(endpoints.get("subsets"))
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit, count, more = 3, 0, False
    for subset in subsets:
        addresses = _dicts(subset.get("addresses"))
        ports = _dicts(subset.get("ports"))
        if not ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(str(address.get("ip") or ""))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                ip = str(address.get("ip") or "")
                host = f"[{ip}]" if ":" in ip else ip
                shown.append(f"{host}:{_int(port.get('port'))}")
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def _endpoints_row(obj: Obj, now: datetime) -> list[Cell]:
    return [_name(obj), _endpoints_text(obj), _age(obj, now)]


def _list_with_more(shown: list[str], more: bool, count: int, limit: int) -> str:
    text = ",".join(shown)
    if more:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def _endpoint_slice_row(obj: Obj, now: datetime) -> list[Cell]:
    limit = 3
    ports: list[str] = []
    more, count = False, 0
    for port in _dicts(obj.get("ports")):
        if len(ports) < limit:
            if port.get("port") is not None:
                ports.append(str(port["port"]))
            elif port.get("name") is not None:
                ports.append(str(port["name"]))
            else:
                ports.append("*")
        elif len(ports) == limit:
            more = True
        count += 1
    addresses: list[str] = []
    more_addresses, address_count = False, 0
    for endpoint in _dicts(obj.get("endpoints")):
        for address in _list(endpoint.get("addresses")):
            if len(addresses) < limit:
                addresses.append(str(address))
            elif len(addresses) == limit:
                more_addresses = True
            address_count += 1
    return [
        _name(obj),
        str(obj.get("addressType") or ""),
        _list_with_more(ports, more, count, limit),
        _list_with_more(addresses, more_addresses, address_count, limit),
        _age(obj, now),
    ]


# ------------------------------------------------------------------ config and others


def _namespace_row(obj: Obj, now: datetime) -> list[Cell]:
    return [_name(obj), str(_get(obj, "status", "phase", default="")), _age(obj, now)]


def _configmap_row(obj: Obj, now: datetime) -> list[Cell]:
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    binary = obj.get("binaryData") if isinstance(obj.get("binaryData"), dict) else {}
    return [_name(obj), len(data) + len(binary), _age(obj, now)]


def _secret_row(obj: Obj, now: datetime) -> list[Cell]:
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    return [_name(obj), str(obj.get("type") or ""), len(data), _age(obj, now)]


def _serviceaccount_row(obj: Obj, now: datetime) -> list[Cell]:
    return [_name(obj), len(_list(obj.get("secrets"))), _age(obj, now)]


def _lease_row(obj: Obj, now: datetime) -> list[Cell]:
    return [_name(obj), str(_get(obj, "spec", "holderIdentity", default="")), _age(obj, now)]


def _priority_class_row(obj: Obj, now: datetime) -> list[Cell]:
    return [
        _name(obj),
        _int(obj.get("value")),
        obj.get("globalDefault") is True,
        _age(obj, now),
        str(obj.get("preemptionPolicy") or ""),
    ]


def _pdb_row(obj: Obj, now: datetime) -> list[Cell]:
    spec = _get(obj, "spec", default={})
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    return [
        _name(obj),
        "N/A" if min_available is None else _int_or_string(min_available),
        "N/A" if max_unavailable is None else _int_or_string(max_unavailable),
        _int(_get(obj, "status", "disruptionsAllowed")),
        _age(obj, now),
    ]


def _subjects(binding: Obj) -> tuple[str, str, str]:
    users, groups, accounts = [], [], []
    for subject in _dicts(binding.get("subjects")):
        kind = subject.get("kind")
        name = str(subject.get("name") or "")
        if kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace') or ''}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
    return ", ".join(users), ", ".join(groups), ", ".join(accounts)


def _binding_row(obj: Obj, now: datetime) -> list[Cell]:
    ref = _get(obj, "roleRef", default={})
    users, groups, accounts = _subjects(obj)
    return [
        _name(obj),
        f"{ref.get('kind') or ''}/{ref.get('name') or ''}",
        _age(obj, now),
        users,
        groups,
        accounts,
    ]


_ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)


def _access_modes(modes: Any) -> str:
    present = set(_list(modes))
    return ",".join(short for mode, short in _ACCESS_MODES if mode in present)


def _storage_class(obj: Obj) -> str:
    annotation = _get(obj, "metadata", "annotations", "volume.beta.kubernetes.io/storage-class")
    if annotation is not None:
        return str(annotation)
    return str(_get(obj, "spec", "storageClassName", default=""))


def _pvc_row(obj: Obj, now: datetime) -> list[Cell]:
    spec, status = _get(obj, "spec", default={}), _get(obj, "status", default={})
    phase = "Terminating" if _get(obj, "metadata", "deletionTimestamp") else status.get("phase")
    capacity = access = ""
    if spec.get("volumeName"):
        access = _access_modes(status.get("accessModes"))
        capacity = str(_get(status, "capacity", "storage", default="0"))
    return [
        _name(obj),
        str(phase or ""),
        str(spec.get("volumeName") or ""),
        capacity,
        access,
        _storage_class(obj),
        str(spec.get("volumeAttributesClassName") or "<unset>"),
        _age(obj, now),
        str(spec.get("volumeMode") or "<unset>"),
    ]


def _pv_row(obj: Obj, now: datetime) -> list[Cell]:
    spec, status = _get(obj, "spec", default={}), _get(obj, "status", default={})
    claim = spec.get("claimRef")
    claim_text = (
        f"{claim.get('namespace') or ''}/{claim.get('name') or ''}"
        if isinstance(claim, dict)
        else ""
    )
    phase = "Terminating" if _get(obj, "metadata", "deletionTimestamp") else status.get("phase")
    return [
        _name(obj),
        str(_get(spec, "capacity", "storage", default="0")),
        _access_modes(spec.get("accessModes")),
        str(spec.get("persistentVolumeReclaimPolicy") or ""),
        str(phase or ""),
        claim_text,
        _storage_class(obj),
        str(spec.get("volumeAttributesClassName") or "<unset>"),
        str(status.get("reason") or ""),
        _age(obj, now),
        str(spec.get("volumeMode") or "<unset>"),
    ]


# ------------------------------------------------------------------------------ events


def _event_source(event: Obj) -> str:
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    component = source.get("component") or event.get("reportingComponent") or ""
    host = source.get("host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else str(component)


def _core_event(event: Obj) -> Obj:
    """events.k8s.io/v1 Events in core/v1 field names, as kube converts before printing."""
    if "regarding" not in event and "note" not in event and "deprecatedCount" not in event:
        return event
    return {
        "metadata": event.get("metadata") or {},
        "involvedObject": event.get("regarding") or {},
        "reason": event.get("reason"),
        "message": event.get("note"),
        "type": event.get("type"),
        "source": event.get("deprecatedSource") or {},
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount"),
        "eventTime": event.get("eventTime"),
        "series": event.get("series"),
        "reportingComponent": event.get("reportingController"),
        "reportingInstance": event.get("reportingInstance"),
    }


def _event_row(obj: Obj, now: datetime) -> list[Cell]:
    event = _core_event(obj)
    first = _since(event.get("firstTimestamp"), now)
    if not event.get("firstTimestamp"):
        first = _since(event.get("eventTime"), now)
    last = _since(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first
    count = _int(event.get("count"))
    series = event.get("series")
    if isinstance(series, dict):
        last = _since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1
    involved = event.get("involvedObject") if isinstance(event.get("involvedObject"), dict) else {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [
        last,
        str(event.get("type") or ""),
        str(event.get("reason") or ""),
        target,
        str(involved.get("fieldPath") or ""),
        _event_source(event),
        str(event.get("message") or "").strip(),
        first,
        count,
        _name(event),
    ]


# ----------------------------------------------------------------- default convertor


def _created_at(obj: Obj) -> str:
    moment = parse_time(_get(obj, "metadata", "creationTimestamp"))
    if moment is None:
        return "0001-01-01T00:00:00Z"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _default_row(obj: Obj, now: datetime) -> list[Cell]:
    return [_name(obj), _created_at(obj)]


DEFAULT_COLUMNS = [_name_col(), _col("Created At", "date", AGE_DOC)]


# -------------------------------------------------------------------------- registry

RowFn = Callable[[Obj, datetime], list[Cell]]


class _Printer:
    def __init__(self, columns: list[Obj], row: RowFn) -> None:
        self.columns = columns
        self.row = row


_PRINTERS: dict[tuple[str, str], _Printer] = {
    ("pods", ""): _Printer(
        [
            _name_col(),
            _col(
                "Ready",
                "string",
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            _col("Status", "string", "The aggregate status of the containers in this pod."),
            _col(
                "Restarts",
                "string",
                "The number of times the containers in this pod have been restarted and "
                "when the last container in this pod has restarted.",
            ),
            _age_col(),
            _col("IP", "string", _doc("PodStatus.podIP"), priority=1),
            _col("Node", "string", _doc("PodSpec.nodeName"), priority=1),
            _col("Nominated Node", "string", _doc("PodStatus.nominatedNodeName"), priority=1),
            _col("Readiness Gates", "string", _doc("PodSpec.readinessGates"), priority=1),
        ],
        lambda obj, now: _pod_row(obj, now)[0],
    ),
    ("nodes", ""): _Printer(
        [
            _name_col(),
            _col("Status", "string", "The status of the node"),
            _col("Roles", "string", "The roles of the node"),
            _age_col(),
            _col("Version", "string", _doc("NodeSystemInfo.kubeletVersion")),
            _col("Internal-IP", "string", _doc("NodeStatus.addresses"), priority=1),
            _col("External-IP", "string", _doc("NodeStatus.addresses"), priority=1),
            _col("OS-Image", "string", _doc("NodeSystemInfo.osImage"), priority=1),
            _col("Kernel-Version", "string", _doc("NodeSystemInfo.kernelVersion"), priority=1),
            _col(
                "Container-Runtime",
                "string",
                _doc("NodeSystemInfo.containerRuntimeVersion"),
                priority=1,
            ),
        ],
        _node_row,
    ),
    ("namespaces", ""): _Printer(
        [_name_col(), _col("Status", "string", "The status of the namespace"), _age_col()],
        _namespace_row,
    ),
    ("deployments", "apps"): _Printer(
        [
            _name_col(),
            _col("Ready", "string", "Number of the pod with ready state"),
            _col("Up-to-date", "string", _doc("DeploymentStatus.updatedReplicas")),
            _col("Available", "string", _doc("DeploymentStatus.availableReplicas")),
            _age_col(),
            *_template_cols(_doc("DeploymentSpec.selector")),
        ],
        _deployment_row,
    ),
    ("replicasets", "apps"): _Printer(
        [
            _name_col(),
            _col("Desired", "integer", _doc("ReplicaSetSpec.replicas")),
            _col("Current", "integer", _doc("ReplicaSetStatus.replicas")),
            _col("Ready", "integer", _doc("ReplicaSetStatus.readyReplicas")),
            _age_col(),
            *_template_cols(_doc("ReplicaSetSpec.selector")),
        ],
        _replicaset_row,
    ),
    ("daemonsets", "apps"): _Printer(
        [
            _name_col(),
            _col("Desired", "integer", _doc("DaemonSetStatus.desiredNumberScheduled")),
            _col("Current", "integer", _doc("DaemonSetStatus.currentNumberScheduled")),
            _col("Ready", "integer", _doc("DaemonSetStatus.numberReady")),
            _col("Up-to-date", "integer", _doc("DaemonSetStatus.updatedNumberScheduled")),
            _col("Available", "integer", _doc("DaemonSetStatus.numberAvailable")),
            _col("Node Selector", "string", _doc("PodSpec.nodeSelector")),
            _age_col(),
            *_template_cols(_doc("DaemonSetSpec.selector")),
        ],
        _daemonset_row,
    ),
    ("statefulsets", "apps"): _Printer(
        [
            _name_col(),
            _col("Ready", "string", "Number of the pod with ready state"),
            _age_col(),
            *_template_cols(None),
        ],
        _statefulset_row,
    ),
    ("jobs", "batch"): _Printer(
        [
            _name_col(),
            _col("Status", "string", "Status of the job."),
            _col("Completions", "string", _doc("JobStatus.succeeded")),
            _col("Duration", "string", "Time required to complete the job."),
            _age_col(),
            *_template_cols(_doc("JobSpec.selector")),
        ],
        _job_row,
    ),
    ("cronjobs", "batch"): _Printer(
        [
            _name_col(),
            _col("Schedule", "string", _doc("CronJobSpec.schedule")),
            _col("Timezone", "string", _doc("CronJobSpec.timeZone")),
            _col("Suspend", "boolean", _doc("CronJobSpec.suspend")),
            _col("Active", "integer", _doc("CronJobStatus.active")),
            _col("Last Schedule", "string", _doc("CronJobStatus.lastScheduleTime")),
            _age_col(),
            *_template_cols(_doc("JobSpec.selector")),
        ],
        _cronjob_row,
    ),
    ("services", ""): _Printer(
        [
            _name_col(),
            _col("Type", "string", _doc("ServiceSpec.type")),
            _col("Cluster-IP", "string", _doc("ServiceSpec.clusterIP")),
            _col("External-IP", "string", _doc("ServiceSpec.externalIPs")),
            _col("Port(s)", "string", _doc("ServiceSpec.ports")),
            _age_col(),
            _col("Selector", "string", _doc("ServiceSpec.selector"), priority=1),
        ],
        _service_row,
    ),
    ("endpoints", ""): _Printer(
        [_name_col(), _col("Endpoints", "string", _doc("Endpoints.subsets")), _age_col()],
        _endpoints_row,
    ),
    ("endpointslices", "discovery.k8s.io"): _Printer(
        [
            _name_col(),
            _col("AddressType", "string", _doc("EndpointSlice.addressType")),
            _col("Ports", "string", _doc("EndpointSlice.ports")),
            _col("Endpoints", "string", _doc("EndpointSlice.endpoints")),
            _age_col(),
        ],
        _endpoint_slice_row,
    ),
    ("configmaps", ""): _Printer(
        [_name_col(), _col("Data", "string", _doc("ConfigMap.data")), _age_col()],
        _configmap_row,
    ),
    ("secrets", ""): _Printer(
        [
            _name_col(),
            _col("Type", "string", _doc("Secret.type")),
            _col("Data", "string", _doc("Secret.data")),
            _age_col(),
        ],
        _secret_row,
    ),
    ("serviceaccounts", ""): _Printer(
        [_name_col(), _col("Secrets", "string", _doc("ServiceAccount.secrets")), _age_col()],
        _serviceaccount_row,
    ),
    ("leases", "coordination.k8s.io"): _Printer(
        [_name_col(), _col("Holder", "string", _doc("LeaseSpec.holderIdentity")), _age_col()],
        _lease_row,
    ),
    ("priorityclasses", "scheduling.k8s.io"): _Printer(
        [
            _name_col(),
            _col("Value", "integer", _doc("PriorityClass.value")),
            _col("Global-Default", "boolean", _doc("PriorityClass.globalDefault")),
            _age_col(),
            _col("PreemptionPolicy", "string", _doc("PriorityClass.preemptionPolicy")),
        ],
        _priority_class_row,
    ),
    ("poddisruptionbudgets", "policy"): _Printer(
        [
            _name_col(),
            _col("Min Available", "string", "The minimum number of pods that must be available."),
            _col(
                "Max Unavailable", "string", "The maximum number of pods that may be unavailable."
            ),
            _col(
                "Allowed Disruptions",
                "integer",
                "Calculated number of pods that may be disrupted at this time.",
            ),
            _age_col(),
        ],
        _pdb_row,
    ),
    ("persistentvolumeclaims", ""): _Printer(
        [
            _name_col(),
            _col("Status", "string", _doc("PersistentVolumeClaimStatus.phase")),
            _col("Volume", "string", _doc("PersistentVolumeClaimSpec.volumeName")),
            _col("Capacity", "string", _doc("PersistentVolumeClaimStatus.capacity")),
            _col("Access Modes", "string", _doc("PersistentVolumeClaimStatus.accessModes")),
            _col("StorageClass", "string", "StorageClass of the pvc"),
            _col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
            _age_col(),
            _col("VolumeMode", "string", _doc("PersistentVolumeClaimSpec.volumeMode"), priority=1),
        ],
        _pvc_row,
    ),
    ("persistentvolumes", ""): _Printer(
        [
            _name_col(),
            _col("Capacity", "string", _doc("PersistentVolumeSpec.capacity")),
            _col("Access Modes", "string", _doc("PersistentVolumeSpec.accessModes")),
            _col(
                "Reclaim Policy",
                "string",
                _doc("PersistentVolumeSpec.persistentVolumeReclaimPolicy"),
            ),
            _col("Status", "string", _doc("PersistentVolumeStatus.phase")),
            _col("Claim", "string", _doc("PersistentVolumeSpec.claimRef")),
            _col("StorageClass", "string", "StorageClass of the pv"),
            _col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
            _col("Reason", "string", _doc("PersistentVolumeStatus.reason")),
            _age_col(),
            _col("VolumeMode", "string", _doc("PersistentVolumeSpec.volumeMode"), priority=1),
        ],
        _pv_row,
    ),
}

_EVENT_PRINTER = _Printer(
    [
        _col("Last Seen", "string", _doc("Event.lastTimestamp")),
        _col("Type", "string", _doc("Event.type")),
        _col("Reason", "string", _doc("Event.reason")),
        _col("Object", "string", _doc("Event.involvedObject")),
        _col("Subobject", "string", _doc("ObjectReference.fieldPath"), priority=1),
        _col("Source", "string", _doc("Event.source"), priority=1),
        _col("Message", "string", _doc("Event.message")),
        _col("First Seen", "string", _doc("Event.firstTimestamp"), priority=1),
        _col("Count", "string", _doc("Event.count"), priority=1),
        _name_col(priority=1),
    ],
    _event_row,
)
_PRINTERS[("events", "")] = _EVENT_PRINTER
_PRINTERS[("events", "events.k8s.io")] = _EVENT_PRINTER

for _plural, _doc_key in (
    ("rolebindings", "RoleBinding.roleRef"),
    ("clusterrolebindings", "ClusterRoleBinding.roleRef"),
):
    _what = "roleBinding" if _plural == "rolebindings" else "clusterRoleBinding"
    _PRINTERS[(_plural, "rbac.authorization.k8s.io")] = _Printer(
        [
            _name_col(),
            _col("Role", "string", _doc(_doc_key)),
            _age_col(),
            _col("Users", "string", f"Users in the {_what}", priority=1),
            _col("Groups", "string", f"Groups in the {_what}", priority=1),
            _col("ServiceAccounts", "string", f"ServiceAccounts in the {_what}", priority=1),
        ],
        _binding_row,
    )

# Roles, ClusterRoles and CRDs have no printer in kube: the default convertor serves them.
_DEFAULT_PRINTER = _Printer(DEFAULT_COLUMNS, _default_row)


# ----------------------------------------------------------------------------- tables


def _row_object(obj: Obj, include_object: str) -> Obj | None:
    """includeObject: Metadata (PartialObjectMetadata, the default), Object or None."""
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": TABLE_API_VERSION,
        "metadata": obj.get("metadata") or {},
    }


def _table(columns: list[Obj], rows: list[Obj], with_headers: bool) -> Obj:
    return {
        "kind": "Table",
        "apiVersion": TABLE_API_VERSION,
        "metadata": {},
        "columnDefinitions": [dict(c) for c in columns] if with_headers else [],
        "rows": rows,
    }


def _row(
    cells: list[Cell], obj: Obj, include_object: str, conditions: list[Obj] | None = None
) -> Obj:
    row: Obj = {"cells": cells}
    if conditions:
        row["conditions"] = [dict(c) for c in conditions]
    embedded = _row_object(obj, include_object)
    if embedded is not None:
        row["object"] = embedded
    return row


def columns_for(resource: str, group: str) -> list[Obj]:
    """The column definitions kube sends for `resource.group` (default ones if unknown)."""
    return [dict(c) for c in _PRINTERS.get((resource, group), _DEFAULT_PRINTER).columns]


def table_for(
    resource: str,
    group: str,
    objs: Iterable[Obj],
    now: datetime,
    *,
    include_object: str = "Metadata",
    with_headers: bool = True,
) -> Obj:
    """A `meta.k8s.io/v1` Table of built-in objects; `metadata` is left for the caller."""
    printer = _PRINTERS.get((resource, group), _DEFAULT_PRINTER)
    rows = []
    for obj in objs:
        if (resource, group) == ("pods", ""):
            cells, conditions = _pod_row(obj, now)
            rows.append(_row(cells, obj, include_object, conditions))
        else:
            rows.append(_row(printer.row(obj, now), obj, include_object))
    return _table(printer.columns, rows, with_headers)


def crd_columns(crd: Obj, version: str) -> list[Obj]:
    """The CRD's printer columns for `version`, kube's `Age` column when it has none."""
    spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
    columns = None
    for entry in _dicts(spec.get("versions")):
        if entry.get("name") == version:
            columns = entry.get("additionalPrinterColumns")
            break
    if columns is None:
        columns = spec.get("additionalPrinterColumns")  # pre-v1 CRDs kept them at the top
    columns = _dicts(columns)
    if not columns:
        columns = [
            {
                "name": "Age",
                "type": "date",
                "description": AGE_DOC,
                "jsonPath": ".metadata.creationTimestamp",
            }
        ]
    return columns


def crd_table(
    crd: Obj,
    version: str,
    objs: Iterable[Obj],
    now: datetime,
    include_object: str = "Metadata",
    *,
    with_headers: bool = True,
) -> Obj:
    """A Table of custom resources as apiextensions-apiserver's table convertor builds it."""
    columns = crd_columns(crd, version)
    definitions = [_name_col()]
    for column in columns:
        json_path = str(column.get("jsonPath") or "")
        definitions.append(
            _col(
                str(column.get("name") or ""),
                str(column.get("type") or ""),
                str(
                    column.get("description")
                    or f"Custom resource definition column (in JSONPath format): {json_path}"
                ),
                priority=_int(column.get("priority")),
                fmt=str(column.get("format") or ""),
            )
        )
    rows = []
    for obj in objs:
        cells: list[Cell] = [_name(obj)]
        for column in columns:
            cells.append(_custom_cell(obj, column, now))
        rows.append(_row(cells, obj, include_object))
    return _table(definitions, rows, with_headers)


def _custom_cell(obj: Obj, column: Obj, now: datetime) -> Cell:
    type_ = str(column.get("type") or "")
    try:
        matches = jsonpath_find(str(column.get("jsonPath") or ""), obj)
    except Exception:  # a malformed path prints as an empty cell, never fails the list
        return None
    cell = format_cell(matches, type_)
    if type_ == "date" and cell is not None:
        moment = parse_time(cell)
        return "<invalid>" if moment is None else human_duration(_aware(now) - moment)
    return cell


def table_row_event(
    resource: str,
    group: str,
    obj: Obj,
    now: datetime,
    *,
    include_object: str = "Metadata",
    with_headers: bool = False,
    crd: Obj | None = None,
    version: str = "",
) -> Obj:
    """One watch event's object: a one-row Table (headers only on the first event)."""
    if crd is not None:
        return crd_table(crd, version, [obj], now, include_object, with_headers=with_headers)
    return table_for(
        resource, group, [obj], now, include_object=include_object, with_headers=with_headers
    )


class ResourceLike(Protocol):
    """What `TableRenderer` reads of a registry resource type."""

    plural: str
    group: str
    version: str
    crd: str | None


class TableRenderer:
    """The handlers' entry point: render objects of a resource type as a Table.

    `crd_lookup(name)` returns the CRD object a custom resource type belongs to (kept in
    memory by whoever serves CRDs); `clock` gives "now" for ages.
    """

    def __init__(
        self,
        crd_lookup: Callable[[str], Obj | None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._crd_lookup = crd_lookup
        self._clock = clock or (lambda: datetime.now(UTC))

    def render(
        self,
        rt: ResourceLike,
        objs: Iterable[Obj],
        include_object: str = "Metadata",
        *,
        with_headers: bool = True,
    ) -> Obj:
        now = self._clock()
        crd_name = getattr(rt, "crd", None)
        if crd_name:
            crd = self._crd_lookup(crd_name) if self._crd_lookup else None
            return crd_table(
                crd or {}, rt.version, objs, now, include_object, with_headers=with_headers
            )
        return table_for(
            rt.plural, rt.group, objs, now, include_object=include_object, with_headers=with_headers
        )
