"""`keadm manifest` (`keadm beta manifest generate`): the Kubernetes objects that run
cloudcore on an existing cluster, as one multi-document YAML for `kubectl apply -f -`.

Follows what KubeEdge's keadm renders from its cloudcore Helm chart
(manifests/charts/cloudcore): the `kubeedge` namespace, the CRDs cloudcore installs, a
ServiceAccount, ClusterRole and ClusterRoleBinding named `cloudcore`, a ConfigMap
`cloudcore` holding `cloudcore.yaml`, a Service `cloudcore` with the chart's five ports
(10000 CloudHub, 10001 QUIC over UDP, 10002 certificates, 10003 stream, 10004 tunnel)
and the `cloudcore` Deployment. Two things differ from the chart, on purpose:
- `cloudcore.yaml` is rendered from our CloudCore model (so `--set` is validated field
  by field) with the controller manager and the scheduler off: an existing cluster has
  kube-controller-manager and kube-scheduler, and cloudcore runs KubeEdge's modules only.
- The ClusterRole lists what our cloudcore's modules do with their own identity, one
  rule per need (the chart aggregates a much wider list).

The CRD objects are the ones cloudcore installs at start (`synccontroller.crds`, and
Volcano's when the config turns the scheduler or its controllers on), never copies.
Never does: talk to a cluster. Rendering needs no API server.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import yaml

from kubeedge import KUBEEDGE_RELEASE, __version__
from kubeedge.config import cloudcore as cloudcore_config
from kubeedge.config.apiserver import ConfigError
from kubeedge.config.cloudcore import CloudCoreConfig

NAMESPACE = "kubeedge"
NAME = "cloudcore"
# The chart's labels (values.yaml `cloudCore.labels`), also the Service's selector.
LABELS = {"k8s-app": "kubeedge", "kubeedge": "cloudcore"}
CONFIG_DIR = "/etc/kubeedge/config"
# Our image: kubeedge-py with its `cloudcore` entry point, not KubeEdge's Go binary.
DEFAULT_IMAGE_REPOSITORY = "kubeedge-py/cloudcore"
DEFAULT_IMAGE_TAG = f"v{__version__}"

# What cloudcore's modules do as cloudcore (specs/kubeedge.md §1, §3, §4). Edge-originated
# requests (node status, leases, pod status, events, queries) are made *as the node*
# through impersonation, so the API server's Node authorizer judges them; cloudcore
# itself needs only the rights below.
RULES: tuple[dict[str, Any], ...] = (
    # The certificate module: KubeEdge's CA, serving certificate and join token live in
    # Secrets of the kubeedge namespace, which it creates when missing.
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "create"]},
    {"apiGroups": [""], "resources": ["secrets"],
     "verbs": ["get", "list", "watch", "create", "update"]},
    # EdgeController's informers (pods bound to edges and what they reference) and
    # SyncController's reconcile, which compares ObjectSyncs with the live objects.
    {"apiGroups": [""], "resources": ["pods", "configmaps", "services", "endpoints",
                                      "persistentvolumes", "persistentvolumeclaims"],
     "verbs": ["get", "list", "watch"]},
    # Nodes: the edge-role informer, the `/node/{name}` check of the certificate
    # service, labels cloudcore reserves on registration, and deletion on reset.
    {"apiGroups": [""], "resources": ["nodes"],
     "verbs": ["get", "list", "watch", "patch", "delete"]},
    # Pods an edge reports gone are deleted (grace 0), as KubeEdge's edgecontroller does.
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
    # Impersonation of edge nodes (`Impersonate-User: system:node:<name>`,
    # `Impersonate-Group: system:nodes`). Kubernetes RBAC cannot name "users starting
    # with system:node:", so the user grant is broad; the group grant is not.
    {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]},
    {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"],
     "resourceNames": ["system:nodes"]},
    # SyncController's records of what each edge acknowledged.
    {"apiGroups": ["reliablesyncs.kubeedge.io"],
     "resources": ["objectsyncs", "clusterobjectsyncs", "objectsyncs/status",
                   "clusterobjectsyncs/status"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    # cloudcore installs (or updates) its CRDs at start and waits until Established.
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
     "verbs": ["get", "list", "watch", "create", "update"]},
)

# `--set cloudCore.*` keys of the chart that shape the objects rather than cloudcore.yaml.
CHART_KEYS = ("cloudCore.image.repository", "cloudCore.image.tag",
              "cloudCore.image.pullPolicy", "cloudCore.replicaCount",
              "cloudCore.hostNetWork", "cloudCore.service.type")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
# The chart's NodePorts for its five ports (values.yaml `cloudCore.service.*NodePort`).
NODE_PORTS = (30000, 30001, 30002, 30003, 30004)


@dataclass
class ChartValues:
    """The chart values `--set cloudCore.…` may change (KubeEdge's names and defaults,
    but our image)."""

    image_repository: str = DEFAULT_IMAGE_REPOSITORY
    image_tag: str = DEFAULT_IMAGE_TAG
    image_pull_policy: str = "IfNotPresent"
    replica_count: int = 1
    host_network: bool = True
    service_type: str = "NodePort"
    config_sets: list[str] = field(default_factory=list)


def _yaml_scalar(key: str, text: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}: {text!r} is not a YAML value") from None


def _set_chart_value(values: ChartValues, key: str, text: str) -> None:
    if key == "cloudCore.image.repository":
        values.image_repository = text.strip()
    elif key == "cloudCore.image.tag":
        values.image_tag = text.strip()
    elif key == "cloudCore.image.pullPolicy":
        if text not in PULL_POLICIES:
            raise ConfigError(f"--set {key}: {text!r} is not one of {', '.join(PULL_POLICIES)}")
        values.image_pull_policy = text
    elif key == "cloudCore.replicaCount":
        value = _yaml_scalar(key, text)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"--set {key}: {text!r} is not a positive integer")
        values.replica_count = value
    elif key == "cloudCore.hostNetWork":
        value = _yaml_scalar(key, text)
        if not isinstance(value, bool):
            raise ConfigError(f"--set {key}: {text!r} is not true or false")
        values.host_network = value
    elif key == "cloudCore.service.type":
        if text not in SERVICE_TYPES:
            raise ConfigError(f"--set {key}: {text!r} is not one of {', '.join(SERVICE_TYPES)}")
        values.service_type = text
    for what in ("image_repository", "image_tag"):
        if not getattr(values, what):
            raise ConfigError(f"--set {key}: must not be empty")


def parse_sets(sets: Iterable[str], kubeedge_version: str = "", profile: str = ""
               ) -> ChartValues:
    """Split `--set` items into chart values and CloudCore config fields.

    Accepted keys: the chart's `cloudCore.image.repository|tag|pullPolicy`,
    `cloudCore.replicaCount`, `cloudCore.hostNetWork`, `cloudCore.service.type`;
    `cloudCore.modules.<path>` (the chart's spelling of a config field) and any CloudCore
    config path (`modules.cloudHub.nodeLimit`, `logLevel`, ...). Helm's comma-separated
    form (`a=1,b=2`) is accepted too. Anything else is refused naming the key."""
    values = ChartValues()
    version = kubeedge_version
    if profile:
        key, sep, text = profile.partition("=")
        if key != "version" or not sep or not text.strip():
            raise ConfigError(f"--profile {profile!r}: expected version=vX.Y.Z (profile "
                              "files are not supported)")
        version = text.strip()
    if version:
        values.image_tag = version if version.startswith("v") else f"v{version}"
    for item in _split_helm_sets(sets):
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. "
                              "cloudCore.image.tag=v1.0.0")
        if key in CHART_KEYS:
            _set_chart_value(values, key, text)
        elif key.startswith("cloudCore.modules."):
            values.config_sets.append(f"{key.removeprefix('cloudCore.')}={text}")
        elif key.startswith("cloudCore."):
            raise ConfigError(f"--set {key}: unknown chart value; known: "
                              + ", ".join([*CHART_KEYS, "cloudCore.modules.<field>"]))
        else:
            values.config_sets.append(f"{key}={text}")
    return values


def _split_helm_sets(sets: Iterable[str]) -> list[str]:
    """Helm's `--set a=1,b=2`: a comma starts a new item when what follows looks like
    `key=`. A value holding commas (`controllers=*,-job`) stays whole."""
    items: list[str] = []
    for raw in sets:
        current = ""
        for part in raw.split(","):
            head = part.partition("=")
            starts_item = bool(head[1]) and head[0].strip() != "" and " " not in head[0] \
                and ("." in head[0] or head[0][:1].isalpha())
            if current and starts_item:
                items.append(current)
                current = part
            else:
                current = f"{current},{part}" if current else part
        items.append(current)
    return items


def pod_config(advertise_address: str, config_sets: Sequence[str]) -> CloudCoreConfig:
    """cloudcore.yaml for the pod: root `/`, in-cluster API access (KubeEdge's empty
    `kubeConfig` and `master`), KubeEdge's modules only (module docstring)."""
    from kubeedge.cloud.setup import cloudcore_config_for

    defaults = ["kubeAPIConfig.kubeConfig=''", "kubeAPIConfig.master=''",
                "modules.controllerManager.enable=false", "modules.scheduler.enable=false"]
    if advertise_address:
        # A list field takes comma-separated words (cloudcore_config_for).
        defaults.append(f"modules.cloudHub.advertiseAddress={advertise_address}")
    return cloudcore_config_for("/", [*defaults, *config_sets])


def crds(config: CloudCoreConfig) -> list[dict[str, Any]]:
    """The CRDs cloudcore installs at start with `config` (cloudcore.run's choice)."""
    from kubeedge.cloud.synccontroller import crds as reliablesyncs

    wanted = list(reliablesyncs.CRDS) if config.modules.cloud_hub.enable else []
    cm = config.modules.controller_manager
    training = cm.enable and (cm.enabled("tfjob") or cm.enabled("pytorchjob"))
    if config.modules.scheduler.enable or training or (cm.enable and (
            cm.enabled("queue") or cm.enabled("podgroup") or cm.enabled("vcjob"))):
        from kubeedge.controllers import volcano_crds

        wanted.extend(volcano_crds.CRDS)
    if training:
        from kubeedge.controllers.training import crds as training_crds

        wanted.extend(training_crds.CRDS)
    return [copy.deepcopy(crd) for crd in wanted]


def _meta(name: str, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta


def objects(config: CloudCoreConfig, values: ChartValues, *, skip_crds: bool = False
            ) -> list[dict[str, Any]]:
    """Every object of the manifest, in the order `kubectl apply` needs (namespace and
    CRDs first)."""
    hub = config.modules.cloud_hub
    stream = config.modules.cloud_stream
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    if not skip_crds:
        docs.extend(crds(config))
    docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME)})
    docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": _meta(NAME, namespaced=False),
                 "rules": copy.deepcopy(list(RULES))})
    docs.append({"apiVersion": "rbac.authorization.k8s.io/v1",
                 "kind": "ClusterRoleBinding", "metadata": _meta(NAME, namespaced=False),
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                             "kind": "ClusterRole", "name": NAME},
                 "subjects": [{"kind": "ServiceAccount", "name": NAME,
                               "namespace": NAMESPACE}]})
    docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(NAME),
                 "data": {"cloudcore.yaml": cloudcore_config.dump(config)}})
    # The chart's five ports, at the ports this config listens on.
    ports = [("cloudhub", hub.websocket.port, "TCP"),
             ("cloudhub-quic", hub.quic.port, "UDP"),
             ("cloudhub-https", hub.https.port, "TCP"),
             ("cloudstream", stream.stream_port, "TCP"),
             ("tunnelport", stream.tunnel_port, "TCP")]
    service_ports = []
    for (name, port, protocol), node_port in zip(ports, NODE_PORTS, strict=True):
        entry: dict[str, Any] = {"name": name, "port": port, "targetPort": port,
                                 "protocol": protocol}
        if values.service_type == "NodePort":
            entry["nodePort"] = node_port
        service_ports.append(entry)
    docs.append({"apiVersion": "v1", "kind": "Service", "metadata": _meta(NAME),
                 "spec": {"type": values.service_type, "ports": service_ports,
                          "selector": dict(LABELS)}})
    docs.append(_deployment(values, ports))
    return docs


def _deployment(values: ChartValues, ports: list[tuple[str, int, str]]) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "serviceAccountName": NAME,
        "restartPolicy": "Always",
        # As the chart: never on an edge node.
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "node-role.kubernetes.io/edge", "operator": "DoesNotExist"}]}]}}},
        "containers": [{
            "name": NAME,
            "image": f"{values.image_repository}:{values.image_tag}",
            "imagePullPolicy": values.image_pull_policy,
            # Our cloudcore's entry point (kubeedge-py), whatever the image's default.
            "command": ["cloudcore", "--config", f"{CONFIG_DIR}/cloudcore.yaml"],
            "ports": [{"name": name, "containerPort": port, "protocol": protocol}
                      for name, port, protocol in ports],
            "volumeMounts": [{"name": "conf", "mountPath": CONFIG_DIR}],
            # The chart's requests and limits.
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"},
                          "limits": {"cpu": "200m", "memory": "1Gi"}},
        }],
        "volumes": [{"name": "conf", "configMap": {"name": NAME}}],
    }
    if values.host_network:
        pod_spec["hostNetwork"] = True
        pod_spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(NAME),
            "spec": {"replicas": values.replica_count,
                     "selector": {"matchLabels": dict(LABELS)},
                     "template": {"metadata": {"labels": dict(LABELS)}, "spec": pod_spec}}}


def extra_documents(paths: Iterable[str]) -> list[dict[str, Any]]:
    """`--files a.yaml,b.yaml`: more manifests appended, each parsed (a file that is not
    YAML objects is refused naming it)."""
    docs: list[dict[str, Any]] = []
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            loaded = list(yaml.safe_load_all(path.read_text()))
        except OSError as exc:
            raise ConfigError(f"--files {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--files {path}: not YAML: {exc}") from None
        for i, doc in enumerate(loaded):
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                raise ConfigError(f"--files {path}: document {i + 1} is not a Kubernetes "
                                  "object (apiVersion and kind)")
            docs.append(doc)
    return docs


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (cloudcore.yaml in the ConfigMap) as `|` blocks, readable as
    the chart's template is."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(docs: Iterable[dict[str, Any]]) -> str:
    """Multi-document YAML, each document opened by `---` as Helm prints them."""
    parts = [f"---\n{yaml.dump(doc, Dumper=_Dumper, sort_keys=False)}" for doc in docs]
    header = (f"# kubeedge-py cloudcore for an existing Kubernetes cluster (KubeEdge "
              f"{KUBEEDGE_RELEASE} chart layout). Apply with: kubectl apply -f -\n")
    return header + "".join(parts)


def generate(*, advertise_address: str = "", sets: Sequence[str] = (),
             kubeedge_version: str = "", profile: str = "", skip_crds: bool = False,
             files: Sequence[str] = ()) -> str:
    """The whole manifest; `ConfigError` (naming the flag and field) on bad input."""
    values = parse_sets(sets, kubeedge_version, profile)
    try:
        config = pod_config(advertise_address, values.config_sets)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"--set: {exc}") from None
    return render([*objects(config, values, skip_crds=skip_crds), *extra_documents(files)])
