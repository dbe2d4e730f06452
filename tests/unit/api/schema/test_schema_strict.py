"""Strict decoding of built-in kinds: unknown fields, pruning, type errors, messages."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes.client.models as m
import pytest
import yaml
from kubernetes.client import ApiClient

from kubeedge.api.errors import StatusError
from kubeedge.api.schema import (
    decode_error,
    prune_unknown,
    schema_for,
    strict_decoding_message,
    strict_error,
    type_errors,
    unknown_field_warnings,
    unknown_fields,
)

MANIFESTS: list[dict[str, Any]] = [
    d for d in yaml.safe_load_all(Path(__file__).with_name("manifests.yaml").read_text()) if d
]
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
POD = "io.k8s.api.core.v1.Pod"


def _schema(obj: dict[str, Any]) -> str:
    group, _, version = obj["apiVersion"].rpartition("/")
    name = schema_for(group, version, obj["kind"])
    assert name is not None, obj["kind"]
    return name


def _by_kind(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for d in MANIFESTS if d["kind"] == kind))


@pytest.mark.parametrize(
    "obj",
    MANIFESTS,
    ids=[f"{d['kind']}-{d.get('metadata', {}).get('name', '')}" for d in MANIFESTS],
)
def test_realistic_manifests_have_no_unknown_fields(obj: dict[str, Any]) -> None:
    assert unknown_fields(_schema(obj), obj) == []
    assert type_errors(_schema(obj), obj) == []


def test_manifest_fixture_covers_the_brief() -> None:
    kinds = {d["kind"] for d in MANIFESTS}
    assert {
        "Deployment",
        "StatefulSet",
        "CronJob",
        "Service",
        "CustomResourceDefinition",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
    } <= kinds


def test_objects_built_with_the_python_client_are_clean() -> None:
    api = ApiClient()
    pod = m.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=m.V1ObjectMeta(name="p", labels={"a": "b"}),
        spec=m.V1PodSpec(
            containers=[
                m.V1Container(
                    name="c",
                    image="busybox",
                    ports=[m.V1ContainerPort(container_port=80)],
                    env=[m.V1EnvVar(name="A", value="1")],
                    resources=m.V1ResourceRequirements(limits={"cpu": "1"}),
                )
            ],
            volumes=[m.V1Volume(name="v", empty_dir=m.V1EmptyDirVolumeSource())],
        ),
    )
    body = api.sanitize_for_serialization(pod)
    assert unknown_fields(POD, body) == []
    assert type_errors(POD, body) == []


def test_unknown_fields_are_found_at_depth_in_document_order() -> None:
    obj = _by_kind("Deployment")
    spec = obj["spec"]
    spec["contianers"] = []
    pod_spec = spec["template"]["spec"]
    pod_spec["containers"][0]["imagee"] = "x"
    pod_spec["containers"][0]["ports"][1]["hostport"] = 1
    pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]["matchExpressions"][0]["operater"] = "In"
    pod_spec["volumes"][5]["projected"]["sources"][0]["serviceAccountToken"]["aud"] = "x"
    obj["metadata"]["labelz"] = {}
    obj["bogus"] = 1
    assert unknown_fields(DEPLOYMENT, obj) == [
        "metadata.labelz",
        "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0].operater",
        "spec.template.spec.containers[0].ports[1].hostport",
        "spec.template.spec.containers[0].imagee",
        "spec.template.spec.volumes[5].projected.sources[0].serviceAccountToken.aud",
        "spec.contianers",
        "bogus",
    ]


def test_maps_of_structs_use_dotted_keys_and_free_form_values_are_skipped() -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": "jane", "extra": {"scopes": ["a"]}},
    }
    assert unknown_fields("io.k8s.api.authorization.v1.SubjectAccessReview", review) == []
    crd = _by_kind("CustomResourceDefinition")
    # openAPIV3Schema is free-form: arbitrary schema keywords are not "unknown".
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-custom"] = {"any": "thing"}
    crd["spec"]["versions"][0]["subresources"]["status"] = {"extra": 1}
    name = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
    assert unknown_fields(name, crd) == ["spec.versions[0].subresources.status.extra"]
    revision = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "r", "managedFields": [{"fieldsV1": {"f:spec": {"f:x": {}}}}]},
        "revision": 1,
        "data": {"spec": {"anything": True}},
    }
    assert unknown_fields("io.k8s.api.apps.v1.ControllerRevision", revision) == []


def test_fields_are_case_sensitive() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": {"Containers": []}}
    assert unknown_fields(POD, pod) == ["spec.Containers"]


def test_prune_unknown_removes_only_unknown_fields() -> None:
    obj = _by_kind("Deployment")
    clean = copy.deepcopy(obj)
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    obj["spec"]["foo"] = {"bar": 1}
    obj["metadata"]["extra"] = "x"
    assert prune_unknown(DEPLOYMENT, obj) == [
        "metadata.extra",
        "spec.template.spec.containers[0].imagee",
        "spec.foo",
    ]
    assert obj == clean
    assert prune_unknown(DEPLOYMENT, obj) == []


def test_prefix_for_sub_objects() -> None:
    meta = {"name": "x", "nmae": "y"}
    assert unknown_fields("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", meta, "metadata") == [
        "metadata.nmae"
    ]


def test_strict_error_matches_kube_apiserver_wording() -> None:
    paths = ["spec.contianers", "spec.template.spec.foo"]
    err = strict_error("Deployment", "web", paths, "apps/v1")
    assert isinstance(err, StatusError)
    assert err.code == 400 and err.reason == "BadRequest"
    assert err.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.contianers", unknown field "spec.template.spec.foo"'
    )
    status = err.to_status()
    assert status["reason"] == "BadRequest" and status["code"] == 400
    core = strict_error("Pod", "p", ["spec.x"], "v1")
    assert core.message.startswith('Pod in version "v1" cannot be handled as a Pod:')
    assert strict_error("Pod", "p", ["spec.x"]).message == core.message
    assert strict_decoding_message(["a"] * 150).count("unknown field") == 100
    assert unknown_field_warnings(["spec.foo"]) == ['unknown field "spec.foo"']


def test_type_errors_read_like_go_json() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "nginx"}}
    assert type_errors(POD, pod) == [
        "json: cannot unmarshal string into Go struct field PodSpec.spec.containers "
        "of type []v1.Container"
    ]
    pod = {
        "metadata": {"labels": {"a": 1}},
        "spec": {
            "containers": [
                {"name": "c", "ports": [{"containerPort": "80"}], "tty": "yes"},
                "not-a-container",
            ],
            "terminationGracePeriodSeconds": 1.5,
            "securityContext": [],
        },
    }
    assert type_errors(POD, pod) == [
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels "
        "of type string",
        "json: cannot unmarshal string into Go struct field ContainerPort"
        ".spec.containers.ports.containerPort of type int32",
        "json: cannot unmarshal string into Go struct field Container.spec.containers.tty "
        "of type bool",
        "json: cannot unmarshal string into Go struct field PodSpec.spec.containers "
        "of type v1.Container",
        "json: cannot unmarshal number 1.5 into Go struct field PodSpec"
        ".spec.terminationGracePeriodSeconds of type int64",
        "json: cannot unmarshal array into Go struct field PodSpec.spec.securityContext "
        "of type v1.PodSecurityContext",
    ]
    assert type_errors(POD, []) == ["json: cannot unmarshal array into Go value of type v1.Pod"]
    big = {"spec": {"replicas": 2**40}}
    assert type_errors(DEPLOYMENT, big) == [
        f"json: cannot unmarshal number {2**40} into Go struct field DeploymentSpec.spec.replicas"
        " of type int32"
    ]


def test_leaf_type_errors() -> None:
    def pod_with(resources: Any = None, port: Any = 80, when: Any = None) -> dict[str, Any]:
        container: dict[str, Any] = {"name": "c", "livenessProbe": {"httpGet": {"port": port}}}
        if resources is not None:
            container["resources"] = {"limits": {"memory": resources}}
        pod: dict[str, Any] = {"spec": {"containers": [container]}}
        if when is not None:
            pod["metadata"] = {"creationTimestamp": when}
        return pod

    quantity_msg = (
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    assert type_errors(POD, pod_with("1 GB")) == [quantity_msg]
    assert type_errors(POD, pod_with({"a": 1})) == [quantity_msg]
    assert type_errors(POD, pod_with("1Gii")) == ["unable to parse quantity's suffix"]
    for ok in ("1Gi", "500m", "1.5", "1e3", 2, 0.5, "128974848", "129e6", "123Mi"):
        assert type_errors(POD, pod_with(ok)) == [], ok
    assert type_errors(POD, pod_with(port="http")) == []
    assert type_errors(POD, pod_with(port=True)) == [
        "json: cannot unmarshal bool into Go value of type int32"
    ]
    assert type_errors(POD, pod_with(when="2025-01-01T00:00:00Z")) == []
    assert type_errors(POD, pod_with(when="yesterday"))[0].startswith('parsing time "yesterday"')
    secret = {"data": {"k": "not base64!"}}
    assert type_errors("io.k8s.api.core.v1.Secret", secret) == [
        "illegal base64 data at input byte 3"
    ]


def test_decode_error_wraps_any_detail() -> None:
    err = decode_error("Pod", "v1", "json: cannot unmarshal string into Go value of type v1.Pod")
    assert err.code == 400
    assert err.message.startswith('Pod in version "v1" cannot be handled as a Pod: json:')
