"""OpenAPI v3 documents: what kubectl's validation, apply and explain read from them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeedge.api.schema import (
    DEFAULT_RESOURCES,
    ResourceDoc,
    cr_schema_name,
    crd_openapi_document,
    crd_openapi_documents,
    document_hash,
    document_json,
    openapi_v3_document,
    openapi_v3_index,
    openapi_v3_path,
)
from kubeedge.api.schema.openapi import SMP

MANIFESTS = [d for d in yaml.safe_load_all(Path(__file__).with_name("manifests.yaml").read_text())]
WIDGET_CRD: dict[str, Any] = next(
    d for d in MANIFESTS if d and d["kind"] == "CustomResourceDefinition"
)
PATCH_TYPES = {
    "application/strategic-merge-patch+json",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
}


def _patch_ops(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [item["patch"] for item in doc["paths"].values() if "patch" in item]


def _supports_field_validation(doc: dict[str, Any], gvk: dict[str, str]) -> bool:
    """cli-runtime's query_param_verifier_v3: the first PATCH op of the GVK decides."""
    for item in doc["paths"].values():
        op = item.get("patch")
        if not op or op.get("x-kubernetes-group-version-kind") != gvk:
            continue
        return any(
            p["name"] == "fieldValidation" and p["in"] == "query" for p in op.get("parameters", [])
        )
    return False


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for v in node.values():
            out |= _refs(v)
        return out
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


@pytest.mark.parametrize("gv", sorted(DEFAULT_RESOURCES))
def test_every_resource_has_a_patch_op_kubectl_accepts(gv: str) -> None:
    doc = openapi_v3_document(gv)
    assert doc["openapi"].startswith("3.")
    group, _, version = gv.rpartition("/")
    for res in DEFAULT_RESOURCES[gv]:
        gvk = {"group": group, "version": version, "kind": res.kind}
        assert _supports_field_validation(doc, gvk), res.kind
    for op in _patch_ops(doc):
        gvk = op["x-kubernetes-group-version-kind"]
        assert isinstance(gvk, dict) and set(gvk) == {"group", "version", "kind"}
        assert set(op["requestBody"]["content"]) == PATCH_TYPES
        assert op["x-kubernetes-action"] == "patch"
        assert "fieldValidation" in {p["name"] for p in op["parameters"]}


@pytest.mark.parametrize("gv", sorted(DEFAULT_RESOURCES))
def test_documents_are_self_contained_and_json(gv: str) -> None:
    doc = openapi_v3_document(gv)
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    assert json.loads(document_json(doc)) == json.loads(json.dumps(doc))


def test_kind_schemas_carry_gvk_lists_and_descriptions() -> None:
    doc = openapi_v3_document("apps/v1")
    schemas = doc["components"]["schemas"]
    deploy = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deploy["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    assert deploy["description"]
    assert deploy["properties"]["spec"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}
    ]
    assert deploy["properties"]["spec"]["description"]
    listing = schemas["io.k8s.api.apps.v1.DeploymentList"]
    assert listing["x-kubernetes-group-version-kind"][0]["kind"] == "DeploymentList"
    # Subresource kinds come along: deployments/scale is an autoscaling/v1 Scale.
    assert "io.k8s.api.autoscaling.v1.Scale" in schemas
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    meta = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    assert meta["properties"]["creationTimestamp"]["allOf"][0]["$ref"].endswith("meta.v1.Time")
    int_or_string = schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert int_or_string["x-kubernetes-int-or-string"] is True


def test_paths_for_namespaced_cluster_and_subresources() -> None:
    doc = openapi_v3_document("v1")
    paths = doc["paths"]
    pod = "/api/v1/namespaces/{namespace}/pods/{name}"
    assert {"get", "put", "patch", "delete"} <= set(paths[pod])
    assert {"get", "post", "delete"} <= set(paths["/api/v1/namespaces/{namespace}/pods"])
    assert "get" in paths["/api/v1/pods"]
    assert "patch" in paths["/api/v1/nodes/{name}"]
    assert "/api/v1/namespaces/{namespace}/nodes/{name}" not in paths
    status = paths[pod + "/status"]["patch"]
    assert status["x-kubernetes-group-version-kind"] == {
        "group": "",
        "version": "v1",
        "kind": "Pod",
    }
    eviction = paths[pod + "/eviction"]["post"]
    assert eviction["x-kubernetes-group-version-kind"]["kind"] == "Eviction"
    assert "patch" not in paths[pod + "/exec"]
    scale = openapi_v3_document("apps/v1")["paths"][
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"
    ]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
    }
    assert scale["operationId"] == "patchAppsV1NamespacedDeploymentScale"
    assert paths[pod]["patch"]["operationId"] == "patchCoreV1NamespacedPod"


def test_documents_are_cached_and_inputs_drive_content() -> None:
    assert openapi_v3_document("apps/v1") is openapi_v3_document("apps/v1")
    custom = (ResourceDoc("deployments", "Deployment", True, ("status",)),)
    doc = openapi_v3_document("apps/v1", custom)
    assert doc is openapi_v3_document("apps/v1", list(custom))
    assert "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale" not in doc["paths"]
    assert "io.k8s.api.apps.v1.StatefulSet" not in doc["components"]["schemas"]


def test_group_and_version_may_be_passed_separately_and_verbs_limit_operations() -> None:
    assert openapi_v3_document("apps", "v1", None) is openapi_v3_document("apps/v1")
    assert openapi_v3_document("", "v1", None) is openapi_v3_document("v1")
    review = ResourceDoc(
        "selfsubjectaccessreviews", "SelfSubjectAccessReview", False, [], ["create"]
    )
    doc = openapi_v3_document("authorization.k8s.io", "v1", [review])
    base = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    assert set(doc["paths"][base]) == {"post", "parameters"}
    assert set(doc["paths"][base + "/{name}"]) == {"patch", "parameters"}
    gvk = {"group": "authorization.k8s.io", "version": "v1", "kind": "SelfSubjectAccessReview"}
    assert _supports_field_validation(doc, gvk)


def test_unknown_kinds_still_get_a_patch_operation() -> None:
    doc = openapi_v3_document("v1", [ResourceDoc("widgets", "Gadget", True)])
    assert _supports_field_validation(doc, {"group": "", "version": "v1", "kind": "Gadget"})


def test_index_points_at_each_document_with_a_content_hash() -> None:
    docs = {gv: openapi_v3_document(gv) for gv in ("v1", "apps/v1")}
    docs.update(crd_openapi_document(WIDGET_CRD))
    index = openapi_v3_index(docs)
    assert set(index["paths"]) == {
        "api/v1",
        "apis/apps/v1",
        "apis/example.com/v1",
        "apis/example.com/v1beta1",
    }
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url == f"/openapi/v3/apis/apps/v1?hash={document_hash(docs['apps/v1'])}"
    assert openapi_v3_path("v1") == "api/v1"
    assert openapi_v3_path("batch/v1") == "apis/batch/v1"


def test_hash_changes_when_content_changes() -> None:
    before = document_hash(crd_openapi_document(WIDGET_CRD)["example.com/v1"])
    assert document_hash(crd_openapi_document(copy.deepcopy(WIDGET_CRD))["example.com/v1"]) == (
        before
    )
    changed = copy.deepcopy(WIDGET_CRD)
    changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "extra"
    ] = {"type": "string"}
    assert document_hash(crd_openapi_document(changed)["example.com/v1"]) != before
    a = openapi_v3_document("batch/v1")
    b = openapi_v3_document("batch/v1", [ResourceDoc("jobs", "Job", True)])
    assert document_hash(a) != document_hash(b)


def test_crd_documents() -> None:
    docs = crd_openapi_document(WIDGET_CRD)
    assert set(docs) == {"example.com/v1", "example.com/v1beta1"}
    doc = docs["example.com/v1"]
    schemas = doc["components"]["schemas"]
    name = cr_schema_name("example.com", "v1", "Widget")
    assert name == "com.example.v1.Widget"
    widget = schemas[name]
    assert widget["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Widget", "version": "v1"}
    ]
    assert widget["description"] == "Widget is the Schema for the widgets API."
    assert widget["properties"]["metadata"]["allOf"][0]["$ref"].endswith("meta.v1.ObjectMeta")
    assert widget["properties"]["spec"]["properties"]["port"]["anyOf"] == [
        {"type": "integer"},
        {"type": "string"},
    ]
    assert schemas["com.example.v1.WidgetList"]["x-kubernetes-group-version-kind"][0]["kind"] == (
        "WidgetList"
    )
    item = "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"
    patch = doc["paths"][item]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "example.com",
        "version": "v1",
        "kind": "Widget",
    }
    assert SMP not in patch["requestBody"]["content"]
    assert set(patch["requestBody"]["content"]) == PATCH_TYPES - {SMP}
    assert _supports_field_validation(doc, patch["x-kubernetes-group-version-kind"])
    assert "patch" in doc["paths"][item + "/status"]
    scale = doc["paths"][item + "/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    assert "io.k8s.api.autoscaling.v1.Scale" in schemas
    for ref in _refs(doc):
        assert ref.removeprefix("#/components/schemas/") in schemas
    # v1beta1 preserves unknown fields and has no subresources.
    beta = docs["example.com/v1beta1"]
    beta_widget = beta["components"]["schemas"]["com.example.v1beta1.Widget"]
    assert beta_widget["x-kubernetes-preserve-unknown-fields"] is True
    assert not any(p.endswith("/status") for p in beta["paths"])
    # The input is untouched.
    assert (
        "apiVersion" in WIDGET_CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    )
    assert (
        "x-kubernetes-group-version-kind"
        not in (WIDGET_CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    )


def test_cluster_scoped_crd_and_unserved_versions() -> None:
    crd = copy.deepcopy(WIDGET_CRD)
    crd["spec"]["scope"] = "Cluster"
    crd["spec"]["versions"][1]["served"] = False
    docs = crd_openapi_document(crd)
    assert set(docs) == {"example.com/v1"}
    assert "/apis/example.com/v1/widgets/{name}" in docs["example.com/v1"]["paths"]


def test_crds_of_one_group_version_are_merged() -> None:
    gadget = copy.deepcopy(WIDGET_CRD)
    gadget["metadata"]["name"] = "gadgets.example.com"
    gadget["spec"]["names"] = {"kind": "Gadget", "plural": "gadgets"}
    assert crd_openapi_documents(WIDGET_CRD) is crd_openapi_document(WIDGET_CRD)
    merged = crd_openapi_documents([WIDGET_CRD, gadget])
    doc = merged["example.com/v1"]
    assert {"com.example.v1.Widget", "com.example.v1.Gadget"} <= set(doc["components"]["schemas"])
    for kind in ("Widget", "Gadget"):
        gvk = {"group": "example.com", "version": "v1", "kind": kind}
        assert _supports_field_validation(doc, gvk)
