"""API defaulting: the fields kube-apiserver 1.32 fills in before it stores an object.

Owns what `SetDefaults_*` in `pkg/apis/<group>/<version>/defaults.go` and the declarative
`+default=` markers do, plus the create-time work of the pod strategy (`status.phase`,
`status.qosClass`) and of the admission plugins that always run on a real cluster
(ServiceAccount's default account, Priority, DefaultTolerationSeconds), and the Job
selector that the job strategy generates (`job_selector_defaults`, which needs the uid).
Without these `kubectl describe` shows `Port: 80/` and `-o yaml` differs from kube
(specs/k8s-api.md §3 "Apply API defaults").

Never does: validation (see `validation`), name/uid/resourceVersion assignment,
ClusterIP or NodePort allocation, I/O. Objects are plain dicts and are mutated in place;
calling `apply_defaults` twice changes nothing the second time.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

__all__ = [
    "apply_defaults",
    "apply_pod_template_defaults",
    "job_selector_defaults",
    "parse_quantity",
    "pod_qos_class",
]

Obj = dict[str, Any]

# pkg/apis/core/v1 defaults and the k8s.io/api/core/v1 constants they use.
DEFAULT_TERMINATION_GRACE_PERIOD = 30
DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_VOLUME_MODE = 0o644  # 420: secret, configMap, downwardAPI and projected volumes
DEFAULT_TOLERATION_SECONDS = 300  # DefaultTolerationSeconds admission plugin
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"

# Labels the job strategy puts on a Job's pod template (pkg/apis/batch/types.go).
JOB_CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"

RBAC_GROUP = "rbac.authorization.k8s.io"


def apply_defaults(
    group: str, version: str, kind: str, obj: Obj, *, create: bool | None = None
) -> None:
    """Fill in kube's defaults for one object of `group/version, Kind=kind`, in place.

    Defaulting runs on every write, as decoding does in kube; on updates it skips what
    only the create path does (a new pod's status, the namespace's `kubernetes`
    finalizer, the pod's default service account). `create=None` infers the path: an
    object still without `metadata.resourceVersion` is being created. Unknown kinds,
    custom resources included, are left alone: CRD schema defaults are the
    custom-resource handler's business.
    """
    if create is None:
        metadata = obj.get("metadata")
        create = not (isinstance(metadata, dict) and metadata.get("resourceVersion"))
    handler = _HANDLERS.get((group, kind))
    if handler is not None:
        handler(obj, create)


# --------------------------------------------------------------------------- helpers


def _sub(obj: Obj, key: str) -> Obj:
    """`obj[key]` as a dict, created when missing or null."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = {}
        obj[key] = value
    return value


def _items(obj: Obj, key: str) -> list[Obj]:
    """The dict entries of the list `obj[key]`, or nothing."""
    value = obj.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _unset(obj: Obj, key: str) -> bool:
    """True where Go would see the zero value: missing, null or empty string."""
    return obj.get(key) in (None, "")


# ----------------------------------------------------------------------- quantities

_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}


def parse_quantity(value: Any) -> Fraction | None:
    """A resource.Quantity (`500m`, `1Gi`, `2e3`, `1.5`) as an exact number; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if match is None:
        return None
    number, exponent, suffix = match.groups()
    amount = Fraction(number)
    if exponent:
        return amount * Fraction(10) ** int(exponent[1:])
    suffix = suffix or ""
    return amount * (_BINARY.get(suffix) or _DECIMAL[suffix])


# ------------------------------------------------------------------------- pod specs


def _image_tag(image: str) -> str:
    """The tag pkg/util/parsers.ParseImageName reports: `latest` when none and no digest.

    An unparsable reference (empty, spaces, upper-case repository) gives "" as in kube,
    which ignores the parse error there.
    """
    name, _, digest = image.partition("@")
    head, _, last = name.rpartition("/")
    repo_last, colon, tag = last.partition(":")
    path = [*head.split("/"), repo_last] if head else [repo_last]
    if "." in path[0] or ":" in path[0] or path[0] == "localhost":
        path = path[1:] if len(path) > 1 else path  # a registry host may use upper case
    if not repo_last or any(not part or part != part.lower() or " " in part for part in path):
        return ""
    if colon and not tag:
        return ""
    if not tag and not digest:
        return "latest"
    return tag


def _probe_defaults(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        if not probe.get(key):
            probe[key] = value
    _handler_defaults(probe)
    grpc = probe.get("grpc")
    if isinstance(grpc, dict) and grpc.get("service") is None:
        grpc["service"] = ""  # +default="" on GRPCAction.Service


def _handler_defaults(handler: Any) -> None:
    """SetDefaults_HTTPGetAction wherever an httpGet appears (probes, lifecycle hooks)."""
    if not isinstance(handler, dict):
        return
    http = handler.get("httpGet")
    if isinstance(http, dict):
        if _unset(http, "path"):
            http["path"] = "/"
        if _unset(http, "scheme"):
            http["scheme"] = "HTTP"


def _field_ref_defaults(holder: Any) -> None:
    """SetDefaults_ObjectFieldSelector: `fieldRef.apiVersion` is `v1`."""
    if isinstance(holder, dict):
        ref = holder.get("fieldRef")
        if isinstance(ref, dict) and _unset(ref, "apiVersion"):
            ref["apiVersion"] = "v1"


def _container_defaults(container: Obj, host_network: bool) -> None:
    """SetDefaults_Container plus the declarative port protocol default."""
    if _unset(container, "imagePullPolicy"):
        image = container.get("image")
        tag = _image_tag(image if isinstance(image, str) else "")
        container["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    if _unset(container, "terminationMessagePath"):
        container["terminationMessagePath"] = "/dev/termination-log"
    if _unset(container, "terminationMessagePolicy"):
        container["terminationMessagePolicy"] = "File"
    # ResourceRequirements is a struct, never a pointer: kube always shows `resources: {}`.
    if not isinstance(container.get("resources"), dict):
        container["resources"] = {}
    for port in _items(container, "ports"):
        if _unset(port, "protocol"):
            port["protocol"] = "TCP"
        if host_network and not port.get("hostPort"):
            port["hostPort"] = port.get("containerPort")  # defaultHostNetworkPorts (pods only)
    for env in _items(container, "env"):
        _field_ref_defaults(env.get("valueFrom"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe_defaults(container.get(key))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        _handler_defaults(lifecycle.get("postStart"))
        _handler_defaults(lifecycle.get("preStop"))


_VOLUME_SOURCES = (
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
)


def _volume_defaults(volume: Obj) -> None:
    """SetDefaults_Volume and the per-source defaults (modes 420, hostPath type "")."""
    if not any(volume.get(source) is not None for source in _VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(key)
        if isinstance(source, dict) and source.get("defaultMode") is None:
            source["defaultMode"] = DEFAULT_VOLUME_MODE
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    downward = volume.get("downwardAPI")
    if isinstance(downward, dict):
        for item in _items(downward, "items"):
            _field_ref_defaults(item)
    projected = volume.get("projected")
    if isinstance(projected, dict):
        for source in _items(projected, "sources"):
            token = source.get("serviceAccountToken")
            if isinstance(token, dict) and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600
            down = source.get("downwardAPI")
            if isinstance(down, dict):
                for item in _items(down, "items"):
                    _field_ref_defaults(item)
    ephemeral = volume.get("ephemeral")
    if isinstance(ephemeral, dict):
        template = ephemeral.get("volumeClaimTemplate")
        if isinstance(template, dict):
            _pvc_spec_defaults(_sub(template, "spec"))


def _pvc_spec_defaults(spec: Obj) -> None:
    if _unset(spec, "volumeMode"):
        spec["volumeMode"] = "Filesystem"


def _pod_spec_defaults(spec: Obj, *, pod: bool) -> None:
    """SetDefaults_PodSpec and everything nested, for pods and pod templates alike.

    `pod=True` adds what only materialises on Pods (SetDefaults_Pod: requests from
    limits, enableServiceLinks, host-network ports).
    """
    if _unset(spec, "dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if _unset(spec, "restartPolicy"):
        spec["restartPolicy"] = "Always"
    if not isinstance(spec.get("securityContext"), dict):
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = DEFAULT_TERMINATION_GRACE_PERIOD
    if _unset(spec, "schedulerName"):
        spec["schedulerName"] = DEFAULT_SCHEDULER
    # v1 conversion keeps the deprecated `serviceAccount` and `serviceAccountName` equal.
    if _unset(spec, "serviceAccountName") and not _unset(spec, "serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    elif not _unset(spec, "serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    host_network = bool(spec.get("hostNetwork")) and pod
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _items(spec, key):
            _container_defaults(container, host_network and key != "ephemeralContainers")
    for volume in _items(spec, "volumes"):
        _volume_defaults(volume)
    if pod:
        for key in ("containers", "initContainers"):
            for container in _items(spec, key):
                resources = _sub(container, "resources")
                limits = resources.get("limits")
                if isinstance(limits, dict) and limits:
                    requests = _sub(resources, "requests")
                    for name, value in limits.items():
                        requests.setdefault(name, value)
        if spec.get("enableServiceLinks") is None:
            spec["enableServiceLinks"] = True


def _embedded_meta(holder: Obj) -> None:
    """An embedded ObjectMeta serialises its zero creationTimestamp as null in kube 1.32."""
    meta = _sub(holder, "metadata")
    meta.setdefault("creationTimestamp", None)


def apply_pod_template_defaults(template: Any) -> None:
    """Defaults for a PodTemplateSpec inside a workload: no pod-only or admission bits."""
    if isinstance(template, dict):
        _embedded_meta(template)
        _pod_spec_defaults(_sub(template, "spec"), pod=False)


def pod_qos_class(pod: Obj) -> str:
    """qos.GetPodQOS: Guaranteed, Burstable or BestEffort from cpu/memory requests and limits."""
    spec = pod.get("spec") or {}
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for container in _items(spec, "containers") + _items(spec, "initContainers"):
        resources = container.get("resources") or {}
        for name, raw in (resources.get("requests") or {}).items():
            quantity = parse_quantity(raw)
            if name in ("cpu", "memory") and quantity is not None and quantity > 0:
                requests[name] = requests.get(name, Fraction(0)) + quantity
        found = set()
        for name, raw in (resources.get("limits") or {}).items():
            quantity = parse_quantity(raw)
            if name in ("cpu", "memory") and quantity is not None and quantity > 0:
                found.add(name)
                limits[name] = limits.get(name, Fraction(0)) + quantity
        if not {"cpu", "memory"} <= found:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    matched = all(limits.get(name) == value for name, value in requests.items())
    if guaranteed and matched and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def _tolerates(tolerations: list[Obj], key: str) -> bool:
    """Does an existing NoExecute-or-any-effect toleration already cover `key`?"""
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect not in ("", "NoExecute"):
            continue
        operator = toleration.get("operator") or "Equal"
        toleration_key = toleration.get("key") or ""
        if toleration_key == "" and operator == "Exists":
            return True  # tolerates everything
        if toleration_key == key:
            return True
    return False


# The annotation marking a mirror pod (kube's kubetypes.ConfigMirrorAnnotationKey).
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


def _pod_defaults(pod: Obj, create: bool = True) -> None:
    spec = _sub(pod, "spec")
    _pod_spec_defaults(spec, pod=True)
    # ServiceAccount admission (create only): every pod runs as some account. The
    # projected token volume it also adds is left to the server. Mirror pods (a
    # node's static pods, annotation kubernetes.io/config.mirror) are left alone, as
    # kube's admission does: a node may not create pods that reference an account.
    mirror = MIRROR_POD_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})
    if create and not mirror and _unset(spec, "serviceAccountName"):
        spec["serviceAccountName"] = "default"
        spec["serviceAccount"] = "default"
    # Priority admission: no class named means the default priority 0.
    if _unset(spec, "priorityClassName"):
        if spec.get("priority") is None:
            spec["priority"] = 0
        if spec.get("preemptionPolicy") is None:
            spec["preemptionPolicy"] = "PreemptLowerPriority"
    # DefaultTolerationSeconds admission: 300s for not-ready and unreachable nodes.
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    existing = [t for t in tolerations if isinstance(t, dict)]
    added = [
        {
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
        }
        for key in (NOT_READY_TAINT, UNREACHABLE_TAINT)
        if not _tolerates(existing, key)
    ]
    if added:
        spec["tolerations"] = [*tolerations, *added]
    # Pod strategy PrepareForCreate: a new pod is Pending with its QoS class computed.
    if not create:
        return
    status = _sub(pod, "status")
    if _unset(status, "phase"):
        status["phase"] = "Pending"
    if _unset(status, "qosClass"):
        status["qosClass"] = pod_qos_class(pod)


# -------------------------------------------------------------------- core resources


def _service_defaults(svc: Obj, create: bool = True) -> None:
    spec = _sub(svc, "spec")
    if _unset(spec, "sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = _sub(spec, "sessionAffinityConfig")
        client_ip = _sub(config, "clientIP")
        if client_ip.get("timeoutSeconds") is None:
            client_ip["timeoutSeconds"] = 10800
    if _unset(spec, "type"):
        spec["type"] = "ClusterIP"
    svc_type = spec["type"]
    for port in _items(spec, "ports"):
        if _unset(port, "protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    externally_accessible = svc_type in ("LoadBalancer", "NodePort") or (
        svc_type == "ClusterIP" and bool(spec.get("externalIPs"))
    )
    if externally_accessible and _unset(spec, "externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and svc_type in (
        "ClusterIP",
        "NodePort",
        "LoadBalancer",
    ):
        spec["internalTrafficPolicy"] = "Cluster"
    if svc_type == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    # The service REST storage settles the IP families (single-stack IPv4 cluster).
    if svc_type != "ExternalName":
        headless = spec.get("clusterIP") == "None"
        if spec.get("ipFamilyPolicy") is None:
            selectorless_headless = headless and not spec.get("selector")
            spec["ipFamilyPolicy"] = "RequireDualStack" if selectorless_headless else "SingleStack"
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]


def _namespace_defaults(ns: Obj, create: bool = True) -> None:
    meta = _sub(ns, "metadata")
    name = meta.get("name")
    if name:
        _sub(meta, "labels")["kubernetes.io/metadata.name"] = name
    if not create:
        return  # the finalizer may be removed over the namespace's life
    # Namespace strategy PrepareForCreate: Active, and the `kubernetes` finalizer present.
    spec = _sub(ns, "spec")
    finalizers = spec.get("finalizers")
    if not isinstance(finalizers, list):
        spec["finalizers"] = ["kubernetes"]
    elif "kubernetes" not in finalizers:
        finalizers.append("kubernetes")
    status = _sub(ns, "status")
    if _unset(status, "phase"):
        status["phase"] = "Active"


def _secret_defaults(secret: Obj, create: bool = True) -> None:
    if _unset(secret, "type"):
        secret["type"] = "Opaque"


def _endpoints_defaults(endpoints: Obj, create: bool = True) -> None:
    for subset in _items(endpoints, "subsets"):
        for port in _items(subset, "ports"):
            if _unset(port, "protocol"):
                port["protocol"] = "TCP"


def _pvc_defaults(pvc: Obj, create: bool = True) -> None:
    _pvc_spec_defaults(_sub(pvc, "spec"))
    status = _sub(pvc, "status")
    if _unset(status, "phase"):
        status["phase"] = "Pending"


def _pv_defaults(pv: Obj, create: bool = True) -> None:
    spec = _sub(pv, "spec")
    if _unset(spec, "persistentVolumeReclaimPolicy"):
        spec["persistentVolumeReclaimPolicy"] = "Retain"
    if _unset(spec, "volumeMode"):
        spec["volumeMode"] = "Filesystem"
    status = _sub(pv, "status")
    if _unset(status, "phase"):
        status["phase"] = "Pending"


def _node_defaults(node: Obj, create: bool = True) -> None:
    status = node.get("status")
    if (
        isinstance(status, dict)
        and status.get("allocatable") is None
        and isinstance(status.get("capacity"), dict)
    ):
        status["allocatable"] = dict(status["capacity"])
    spec = node.get("spec")
    if isinstance(spec, dict):
        # kube keeps the two fields in step: podCIDR is podCIDRs[0].
        if spec.get("podCIDR") and not spec.get("podCIDRs"):
            spec["podCIDRs"] = [spec["podCIDR"]]
        elif spec.get("podCIDRs") and not spec.get("podCIDR") and isinstance(
                spec["podCIDRs"], list):
            spec["podCIDR"] = spec["podCIDRs"][0]


def _pod_template_defaults(obj: Obj, create: bool = True) -> None:
    apply_pod_template_defaults(obj.get("template"))


def _replication_controller_defaults(rc: Obj, create: bool = True) -> None:
    spec = _sub(rc, "spec")
    template = spec.get("template")
    labels = template.get("metadata", {}).get("labels") if isinstance(template, dict) else None
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _sub(rc, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    apply_pod_template_defaults(template)


# ------------------------------------------------------------------------------ apps


def _deployment_defaults(deploy: Obj, create: bool = True) -> None:
    spec = _sub(deploy, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = _sub(spec, "strategy")
    if _unset(strategy, "type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = "25%"
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    apply_pod_template_defaults(spec.get("template"))


def _replicaset_defaults(rs: Obj, create: bool = True) -> None:
    spec = _sub(rs, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    apply_pod_template_defaults(spec.get("template"))


def _daemonset_defaults(ds: Obj, create: bool = True) -> None:
    spec = _sub(ds, "spec")
    strategy = _sub(spec, "updateStrategy")
    if _unset(strategy, "type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = 1
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = 0
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    apply_pod_template_defaults(spec.get("template"))


def _statefulset_defaults(sts: Obj, create: bool = True) -> None:
    spec = _sub(sts, "spec")
    if _unset(spec, "podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = _sub(spec, "updateStrategy")
    if _unset(strategy, "type"):
        strategy["type"] = "RollingUpdate"
        if not isinstance(strategy.get("rollingUpdate"), dict):
            strategy["rollingUpdate"] = {}
    rolling = strategy.get("rollingUpdate")
    rolling_update = strategy["type"] == "RollingUpdate" and isinstance(rolling, dict)
    if rolling_update and rolling.get("partition") is None:
        rolling["partition"] = 0
    retention = _sub(spec, "persistentVolumeClaimRetentionPolicy")
    for key in ("whenDeleted", "whenScaled"):
        if _unset(retention, key):
            retention[key] = "Retain"
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    apply_pod_template_defaults(spec.get("template"))
    for claim in _items(spec, "volumeClaimTemplates"):
        _embedded_meta(claim)
        _pvc_spec_defaults(_sub(claim, "spec"))
        status = _sub(claim, "status")
        if _unset(status, "phase"):
            status["phase"] = "Pending"


# ----------------------------------------------------------------------------- batch


def _job_spec_defaults(spec: Obj) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    if spec.get("completionMode") is None:
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("podReplacementPolicy") is None:
        failure_policy = spec.get("podFailurePolicy") is not None
        spec["podReplacementPolicy"] = "Failed" if failure_policy else "TerminatingOrFailed"
    # The template's restartPolicy gets the PodSpec default (Always) like any template;
    # job validation then insists on OnFailure or Never.
    apply_pod_template_defaults(spec.get("template"))


def _job_defaults(job: Obj, create: bool = True) -> None:
    spec = _sub(job, "spec")
    template = spec.get("template")
    labels = None
    if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
        labels = template["metadata"].get("labels")
    meta = _sub(job, "metadata")
    if isinstance(labels, dict) and not meta.get("labels"):
        meta["labels"] = dict(labels)
    _job_spec_defaults(spec)


def job_selector_defaults(job: Obj, uid: str) -> None:
    """The job strategy's generated selector, once the server has given the Job its uid.

    Unless `spec.manualSelector` is true the pod template gets `controller-uid`,
    `batch.kubernetes.io/controller-uid`, `job-name` and `batch.kubernetes.io/job-name`
    (user-set values win) and the selector matches on the new-style uid label. As in kube,
    where the Job's labels were copied from the template they carry the same labels.
    """
    spec = _sub(job, "spec")
    if spec.get("manualSelector") is True:
        return
    meta = _sub(job, "metadata")
    name = meta.get("name") or ""
    template_meta = _sub(_sub(spec, "template"), "metadata")
    labels = template_meta.get("labels")
    job_labels = meta.get("labels")
    # Go defaulting hands the template's label map itself to the Job, so what is added
    # to the template shows on the Job too; mirror that when they started out equal.
    mirrored = isinstance(labels, dict) and isinstance(job_labels, dict) and labels == job_labels
    if not isinstance(labels, dict):
        labels = {}
        template_meta["labels"] = labels
    for key, value in (
        (LEGACY_JOB_NAME_LABEL, name),
        (JOB_NAME_LABEL, name),
        (LEGACY_JOB_CONTROLLER_UID_LABEL, uid),
        (JOB_CONTROLLER_UID_LABEL, uid),
    ):
        labels.setdefault(key, value)
        if mirrored:
            job_labels.setdefault(key, value)
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        selector = {}
        spec["selector"] = selector
    match_labels = _sub(selector, "matchLabels")
    match_labels.setdefault(JOB_CONTROLLER_UID_LABEL, uid)


def _cronjob_defaults(cron: Obj, create: bool = True) -> None:
    spec = _sub(cron, "spec")
    if _unset(spec, "concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = 3
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = 1
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        _embedded_meta(job_template)
        _job_spec_defaults(_sub(job_template, "spec"))


# ----------------------------------------------------------------------- other groups


def _priority_class_defaults(pc: Obj, create: bool = True) -> None:
    if pc.get("preemptionPolicy") is None:
        pc["preemptionPolicy"] = "PreemptLowerPriority"


def _endpoint_slice_defaults(slice_: Obj, create: bool = True) -> None:
    for port in _items(slice_, "ports"):
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def _binding_defaults(binding: Obj, create: bool = True) -> None:
    role_ref = _sub(binding, "roleRef")
    if _unset(role_ref, "apiGroup"):
        role_ref["apiGroup"] = RBAC_GROUP
    for subject in _items(binding, "subjects"):
        if _unset(subject, "apiGroup"):
            kind = subject.get("kind")
            if kind in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP
            elif kind == "ServiceAccount":
                subject["apiGroup"] = ""


_HANDLERS = {
    ("", "Pod"): _pod_defaults,
    ("", "PodTemplate"): _pod_template_defaults,
    ("", "ReplicationController"): _replication_controller_defaults,
    ("", "Service"): _service_defaults,
    ("", "Namespace"): _namespace_defaults,
    ("", "Secret"): _secret_defaults,
    ("", "Endpoints"): _endpoints_defaults,
    ("", "PersistentVolumeClaim"): _pvc_defaults,
    ("", "PersistentVolume"): _pv_defaults,
    ("", "Node"): _node_defaults,
    ("apps", "Deployment"): _deployment_defaults,
    ("apps", "ReplicaSet"): _replicaset_defaults,
    ("apps", "DaemonSet"): _daemonset_defaults,
    ("apps", "StatefulSet"): _statefulset_defaults,
    ("batch", "Job"): _job_defaults,
    ("batch", "CronJob"): _cronjob_defaults,
    ("scheduling.k8s.io", "PriorityClass"): _priority_class_defaults,
    ("discovery.k8s.io", "EndpointSlice"): _endpoint_slice_defaults,
    ("rbac.authorization.k8s.io", "RoleBinding"): _binding_defaults,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _binding_defaults,
}
