"""The type definitions: complete field sets, resolvable references, patch metadata."""

from __future__ import annotations

import kubernetes.client.models as client_models
import pytest

from kubeedge.api.schema import BUILTIN_KINDS, builtin_schema_name, patch_meta, schema_for
from kubeedge.api.schema.dsl import REGISTRY, Field, Leaf, Struct, field_schema, refs_of

# Fields the `kubernetes` client (generated from a newer Kubernetes) knows but v1.32
# does not serve; kube 1.32 refuses them as unknown, and so do we.
NEWER_THAN_1_32 = {
    "io.k8s.api.apps.v1.DeploymentStatus": {"terminatingReplicas"},
    "io.k8s.api.apps.v1.ReplicaSetStatus": {"terminatingReplicas"},
    "io.k8s.api.batch.v1.JobSpec": {"scheduling"},
    "io.k8s.api.core.v1.ClusterTrustBundleProjection": {"user"},
    "io.k8s.api.core.v1.ConfigMapVolumeSource": {"defaultUser"},
    "io.k8s.api.core.v1.Container": {"restartPolicyRules"},
    "io.k8s.api.core.v1.ContainerStatus": {"stopSignal"},
    "io.k8s.api.core.v1.DownwardAPIVolumeFile": {"user"},
    "io.k8s.api.core.v1.DownwardAPIVolumeSource": {"defaultUser"},
    "io.k8s.api.core.v1.EmptyDirVolumeSource": {"mode"},
    "io.k8s.api.core.v1.EnvVarSource": {"fileKeyRef"},
    "io.k8s.api.core.v1.EphemeralContainer": {"restartPolicyRules"},
    "io.k8s.api.core.v1.GRPCAction": {"mode"},
    "io.k8s.api.core.v1.HTTPGetAction": {"protocol"},
    "io.k8s.api.core.v1.KeyToPath": {"user"},
    "io.k8s.api.core.v1.Lifecycle": {"stopSignal"},
    "io.k8s.api.core.v1.NodeSpec": {"podPreemptionPolicy"},
    "io.k8s.api.core.v1.NodeStatus": {"declaredFeatures"},
    "io.k8s.api.core.v1.NodeSystemInfo": {"runningInUserNamespace"},
    "io.k8s.api.core.v1.PersistentVolumeClaimStatus": {"healthStatus"},
    "io.k8s.api.core.v1.PodCondition": {"observedGeneration"},
    "io.k8s.api.core.v1.PodSpec": {"evictionResponders", "hostnameOverride", "schedulingGroup"},
    "io.k8s.api.core.v1.PodStatus": {
        "allocatedResources",
        "extendedResourceClaimStatus",
        "nodeAllocatableResourceClaimStatuses",
        "observedGeneration",
        "resources",
        "volumeHealth",
    },
    "io.k8s.api.core.v1.ProjectedVolumeSource": {"defaultUser"},
    "io.k8s.api.core.v1.ResourceHealth": {"message"},
    "io.k8s.api.core.v1.SecretVolumeSource": {"defaultUser"},
    "io.k8s.api.core.v1.ServiceAccountTokenProjection": {"user"},
    "io.k8s.api.core.v1.VolumeMount": {"bindMountOptions"},
    "io.k8s.api.core.v1.VolumeMountStatus": {"volumeStatus"},
    "io.k8s.api.core.v1.VolumeProjection": {"podCertificate"},
    "io.k8s.api.discovery.v1.EndpointHints": {"forNodes"},
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionCondition": {
        "observedGeneration"
    },
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus": {
        "observedGeneration"
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta": {"shardInfo"},
}

# Client model names that do not follow "V1" + short name.
_CLIENT_NAMES = {
    "io.k8s.api.core.v1.Event": "CoreV1Event",
    "io.k8s.api.core.v1.EventList": "CoreV1EventList",
    "io.k8s.api.core.v1.EventSeries": "CoreV1EventSeries",
    "io.k8s.api.core.v1.EndpointPort": "CoreV1EndpointPort",
    "io.k8s.api.core.v1.ResourceClaim": "CoreV1ResourceClaim",
    "io.k8s.api.discovery.v1.EndpointPort": "DiscoveryV1EndpointPort",
    "io.k8s.api.rbac.v1.Subject": "RbacV1Subject",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.WebhookClientConfig": (
        "ApiextensionsV1WebhookClientConfig"
    ),
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ServiceReference": (
        "ApiextensionsV1ServiceReference"
    ),
}

STRUCTS = sorted(
    name
    for name, node in REGISTRY.items()
    if isinstance(node, Struct) and not node.preserve_unknown
)


def _client_model(name: str):
    return getattr(client_models, _CLIENT_NAMES.get(name, "V1" + name.rsplit(".", 1)[1]), None)


@pytest.mark.parametrize("name", STRUCTS)
def test_field_sets_match_the_kubernetes_api(name: str) -> None:
    """Every real field is defined (a missing one would be refused by strict validation)."""
    model = _client_model(name)
    if model is None:
        assert name.endswith("CustomResourceSubresourceStatus")  # an empty struct
        return
    theirs = set(model.attribute_map.values()) - NEWER_THAN_1_32.get(name, set())
    ours = set(struct_fields(name))
    assert theirs - ours == set(), f"{name} lacks fields"
    assert ours - theirs == set(), f"{name} has fields Kubernetes does not"


def struct_fields(name: str) -> dict[str, Field]:
    node = REGISTRY[name]
    assert isinstance(node, Struct)
    return node.fields


def test_required_fields_follow_the_api() -> None:
    assert "containers" in REGISTRY["io.k8s.api.core.v1.PodSpec"].required  # type: ignore[union-attr]
    assert set(REGISTRY["io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference"].required) == {  # type: ignore[union-attr]
        "apiVersion",
        "kind",
        "name",
        "uid",
    }


def test_every_reference_resolves() -> None:
    for name, node in REGISTRY.items():
        if isinstance(node, Struct):
            for key, f in node.fields.items():
                for ref in refs_of(f):
                    assert ref in REGISTRY, f"{name}.{key} -> {ref}"


def test_every_struct_and_kind_is_described() -> None:
    for name, node in REGISTRY.items():
        if isinstance(node, Struct):
            assert node.desc, name
            if node.gvk:
                for key in ("apiVersion", "kind", "metadata"):
                    assert node.fields[key].desc, f"{name}.{key}"
        else:
            assert isinstance(node, Leaf) and node.schema.get("description"), name


REQUIRED_KINDS = [
    ("", "v1", "Pod"),
    ("", "v1", "Namespace"),
    ("", "v1", "Node"),
    ("", "v1", "ConfigMap"),
    ("", "v1", "Secret"),
    ("", "v1", "Service"),
    ("", "v1", "Endpoints"),
    ("", "v1", "Event"),
    ("", "v1", "ServiceAccount"),
    ("", "v1", "Binding"),
    ("", "v1", "PersistentVolumeClaim"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "ReplicaSet"),
    ("apps", "v1", "DaemonSet"),
    ("apps", "v1", "StatefulSet"),
    ("apps", "v1", "ControllerRevision"),
    ("autoscaling", "v1", "Scale"),
    ("batch", "v1", "Job"),
    ("batch", "v1", "CronJob"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("policy", "v1", "Eviction"),
    ("coordination.k8s.io", "v1", "Lease"),
    ("scheduling.k8s.io", "v1", "PriorityClass"),
    ("discovery.k8s.io", "v1", "EndpointSlice"),
    ("rbac.authorization.k8s.io", "v1", "Role"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "v1", "SubjectAccessReview"),
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview"),
    ("authentication.k8s.io", "v1", "TokenReview"),
    ("authentication.k8s.io", "v1", "SelfSubjectReview"),
]


@pytest.mark.parametrize("gvk", REQUIRED_KINDS)
def test_builtin_kinds_are_registered(gvk: tuple[str, str, str]) -> None:
    name = schema_for(*gvk)
    assert name is not None
    assert BUILTIN_KINDS[gvk] == name
    assert builtin_schema_name(*gvk) == name
    assert REGISTRY[name].gvk == gvk  # type: ignore[union-attr]


def test_list_kinds_are_implied() -> None:
    assert schema_for("", "v1", "PodList") == "io.k8s.api.core.v1.PodList"
    assert schema_for("apps", "v1", "DeploymentList") == "io.k8s.api.apps.v1.DeploymentList"
    assert schema_for("authorization.k8s.io", "v1", "SelfSubjectAccessReviewList") is None
    items = struct_fields("io.k8s.api.core.v1.PodList")["items"]
    assert items.item is not None and items.item.ref == "io.k8s.api.core.v1.Pod"


DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
POD_SPEC = ("spec", "template", "spec")


@pytest.mark.parametrize(
    ("schema", "path", "key", "strategy"),
    [
        (DEPLOYMENT, (*POD_SPEC, "containers"), "name", "merge"),
        (DEPLOYMENT, (*POD_SPEC, "initContainers"), "name", "merge"),
        (DEPLOYMENT, (*POD_SPEC, "volumes"), "name", "merge,retainKeys"),
        (DEPLOYMENT, (*POD_SPEC, "imagePullSecrets"), "name", "merge"),
        (DEPLOYMENT, (*POD_SPEC, "hostAliases"), "ip", "merge"),
        (DEPLOYMENT, (*POD_SPEC, "containers", "env"), "name", "merge"),
        (DEPLOYMENT, (*POD_SPEC, "containers", "ports"), "containerPort", "merge"),
        (DEPLOYMENT, (*POD_SPEC, "containers", "volumeMounts"), "mountPath", "merge"),
        (DEPLOYMENT, (*POD_SPEC, "containers", "volumeDevices"), "devicePath", "merge"),
        (DEPLOYMENT, (*POD_SPEC, "topologySpreadConstraints"), "topologyKey", "merge"),
        (DEPLOYMENT, ("status", "conditions"), "type", "merge"),
        (DEPLOYMENT, ("metadata", "ownerReferences"), "uid", "merge"),
        ("io.k8s.api.core.v1.Pod", ("spec", "ephemeralContainers"), "name", "merge"),
        ("io.k8s.api.core.v1.Pod", ("status", "conditions"), "type", "merge"),
        ("io.k8s.api.core.v1.Pod", ("status", "podIPs"), "ip", "merge"),
        ("io.k8s.api.core.v1.Service", ("spec", "ports"), "port", "merge"),
        ("io.k8s.api.core.v1.Node", ("status", "addresses"), "type", "merge"),
        ("io.k8s.api.core.v1.Node", ("status", "conditions"), "type", "merge"),
        ("io.k8s.api.core.v1.ServiceAccount", ("secrets",), "name", "merge"),
        ("io.k8s.api.batch.v1.Job", ("status", "conditions"), "type", "merge"),
    ],
)
def test_patch_merge_keys(schema: str, path: tuple[str, ...], key: str, strategy: str) -> None:
    f = patch_meta(schema, path)
    assert f is not None and f.kind == "list"
    assert (f.merge_key, f.strategy) == (key, strategy)
    rendered = field_schema(f)
    assert rendered["x-kubernetes-patch-merge-key"] == key
    assert rendered["x-kubernetes-patch-strategy"] == strategy


def test_list_types_and_other_patch_metadata() -> None:
    ports = field_schema(patch_meta(DEPLOYMENT, (*POD_SPEC, "containers", "ports")))  # type: ignore[arg-type]
    assert ports["x-kubernetes-list-type"] == "map"
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    svc_ports = field_schema(patch_meta("io.k8s.api.core.v1.Service", ("spec", "ports")))  # type: ignore[arg-type]
    assert svc_ports["x-kubernetes-list-map-keys"] == ["port", "protocol"]
    finalizers = field_schema(patch_meta(DEPLOYMENT, ("metadata", "finalizers")))  # type: ignore[arg-type]
    assert finalizers["x-kubernetes-patch-strategy"] == "merge"
    assert finalizers["x-kubernetes-list-type"] == "set"
    tolerations = field_schema(patch_meta(DEPLOYMENT, (*POD_SPEC, "tolerations")))  # type: ignore[arg-type]
    assert tolerations["x-kubernetes-list-type"] == "atomic"
    assert "x-kubernetes-patch-merge-key" not in tolerations
    strategy = field_schema(patch_meta(DEPLOYMENT, ("spec", "strategy")))  # type: ignore[arg-type]
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    assert patch_meta(DEPLOYMENT, ("spec", "nope")) is None


def test_leaf_types() -> None:
    int_or_string = REGISTRY["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert isinstance(int_or_string, Leaf)
    assert int_or_string.schema["x-kubernetes-int-or-string"] is True
    time = REGISTRY["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]
    assert isinstance(time, Leaf)
    assert (time.schema["type"], time.schema["format"]) == ("string", "date-time")
    probe_port = patch_meta("io.k8s.api.core.v1.Pod", ("spec", "containers", "livenessProbe"))
    assert probe_port is not None and probe_port.ref == "io.k8s.api.core.v1.Probe"
    limits = patch_meta("io.k8s.api.core.v1.Pod", ("spec", "containers", "resources", "limits"))
    assert limits is not None and limits.item is not None
    assert limits.item.ref == "io.k8s.apimachinery.pkg.api.resource.Quantity"


def test_crd_schema_is_free_form() -> None:
    props = REGISTRY["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"]
    assert isinstance(props, Struct) and props.preserve_unknown
