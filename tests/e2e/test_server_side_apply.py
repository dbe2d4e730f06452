"""Server-side apply as a kubectl user meets it: field ownership in managedFields,
removal of fields an applier stops specifying, conflicts between managers and forced
takeover, on a Deployment and on a custom resource (specs/k8s-api.md §4)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster import Cloud

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, team: a}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{containerPort: 80}]
        env: [{name: MODE, value: fast}]
"""

REPLICAS_ONLY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 5}
"""

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.ssa.example.com
spec:
  group: ssa.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
"""

GADGET = """
apiVersion: ssa.example.com/v1
kind: Gadget
metadata: {name: g1}
spec:
  size: 3
  color: red
  ports: [{name: http, port: 80}, {name: admin, port: 9000}]
"""


@pytest.fixture
def ns(cloud: Cloud) -> str:
    name = f"ssa-{uuid.uuid4().hex[:8]}"
    cloud.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    return name


def apply(cloud: Cloud, ns: str, manifest: str, *flags: str, check: bool = True) -> Any:
    return cloud.kubectl("apply", "--server-side", "-n", ns, "-f", "-", *flags,
                         input=manifest, check=check)


def get(cloud: Cloud, *args: str) -> Any:
    """The object as JSON, managedFields included (kubectl hides them otherwise)."""
    return cloud.kubectl_json("get", *args, "--show-managed-fields")


def managers(obj: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(manager, operation, subresource) -> fieldsV1."""
    return {(e["manager"], e["operation"], e.get("subresource", "")): e["fieldsV1"]
            for e in obj["metadata"].get("managedFields", [])}


def test_apply_creates_and_records_one_apply_entry(cloud: Cloud, ns: str) -> None:
    out = apply(cloud, ns, DEPLOY).stdout
    assert out.strip() == "deployment.apps/web serverside-applied"
    deploy = get(cloud, "deploy", "web", "-n", ns)
    [entry] = deploy["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == (
        "kubectl", "Apply", "apps/v1")
    assert entry["fieldsType"] == "FieldsV1" and entry["time"].endswith("Z")
    fields = entry["fieldsV1"]
    assert fields["f:spec"]["f:replicas"] == {}
    assert fields["f:spec"]["f:selector"] == {}  # LabelSelector is an atomic map
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert container["."] == {} and container["f:image"] == {}
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in container["f:ports"]
    assert 'k:{"name":"MODE"}' in container["f:env"]
    # defaults the server filled in belong to nobody
    assert "f:progressDeadlineSeconds" not in fields["f:spec"]


def test_reapply_without_a_field_removes_it(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, DEPLOY)
    trimmed = DEPLOY.replace("        env: [{name: MODE, value: fast}]\n", "").replace(
        ", team: a", "")
    out = apply(cloud, ns, trimmed).stdout
    assert out.strip() == "deployment.apps/web serverside-applied"
    deploy = get(cloud, "deploy", "web", "-n", ns)
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert "env" not in container
    assert deploy["metadata"]["labels"] == {"app": "web"}
    assert container["image"] == "nginx:1.25"


def test_reapplying_the_same_config_changes_nothing(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, DEPLOY)
    before = get(cloud, "deploy", "web", "-n", ns)
    apply(cloud, ns, DEPLOY)
    after = get(cloud, "deploy", "web", "-n", ns)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["managedFields"] == before["metadata"]["managedFields"]


def test_second_manager_conflicts_then_forces(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, DEPLOY)
    proc = apply(cloud, ns, REPLICAS_ONLY, "--field-manager=other", check=False)
    assert proc.returncode != 0
    assert ('Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
            in proc.stderr), proc.stderr
    assert "--force-conflicts" in proc.stderr
    assert get(cloud, "deploy", "web", "-n", ns)["spec"]["replicas"] == 2

    out = apply(cloud, ns, REPLICAS_ONLY, "--field-manager=other", "--force-conflicts").stdout
    assert out.strip() == "deployment.apps/web serverside-applied"
    deploy = get(cloud, "deploy", "web", "-n", ns)
    assert deploy["spec"]["replicas"] == 5
    owners = managers(deploy)
    assert owners[("other", "Apply", "")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owners[("kubectl", "Apply", "")]["f:spec"]
    # the first applier still owns the rest, and its next apply conflicts the other way
    proc = apply(cloud, ns, DEPLOY, check=False)
    assert 'conflict with "other": .spec.replicas' in proc.stderr, proc.stderr


def test_agreeing_on_a_value_shares_the_field(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, DEPLOY)
    apply(cloud, ns, REPLICAS_ONLY.replace("replicas: 5", "replicas: 2"),
          "--field-manager=other")
    owners = managers(get(cloud, "deploy", "web", "-n", ns))
    assert "f:replicas" in owners[("kubectl", "Apply", "")]["f:spec"]
    assert "f:replicas" in owners[("other", "Apply", "")]["f:spec"]
    # kubectl stops specifying replicas: "other" still owns it, so the value stays
    apply(cloud, ns, DEPLOY.replace("  replicas: 2\n", ""))
    assert get(cloud, "deploy", "web", "-n", ns)["spec"]["replicas"] == 2


def test_get_yaml_shows_managed_fields_only_when_asked(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, DEPLOY)
    apply(cloud, ns, REPLICAS_ONLY, "--field-manager=other", "--force-conflicts")
    plain = yaml.safe_load(cloud.kubectl("get", "deploy", "web", "-n", ns, "-o", "yaml").stdout)
    assert "managedFields" not in plain["metadata"]
    shown = yaml.safe_load(cloud.kubectl("get", "deploy", "web", "-n", ns, "-o", "yaml",
                                         "--show-managed-fields").stdout)
    assert [(e["manager"], e["operation"]) for e in shown["metadata"]["managedFields"]] == [
        ("kubectl", "Apply"), ("other", "Apply")]


def test_scale_and_label_after_apply_record_update_entries(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, DEPLOY)
    cloud.kubectl("scale", "deploy", "web", "-n", ns, "--replicas=4")
    cloud.kubectl("label", "deploy", "web", "-n", ns, "tier=frontend")
    deploy = get(cloud, "deploy", "web", "-n", ns)
    owners = managers(deploy)
    # kubectl scale sends no fieldManager: kube names it after the User-Agent, "kubectl"
    assert owners[("kubectl", "Update", "scale")] == {"f:spec": {"f:replicas": {}}}
    assert owners[("kubectl-label", "Update", "")] == {
        "f:metadata": {"f:labels": {"f:tier": {}}}}
    applied = owners[("kubectl", "Apply", "")]
    assert "f:replicas" not in applied["f:spec"]  # an update takes it without conflict
    assert deploy["spec"]["replicas"] == 4
    # the applier's next apply with its old replicas conflicts with the scaler
    proc = apply(cloud, ns, DEPLOY, check=False)
    assert ('conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas'
            in proc.stderr), proc.stderr


def test_client_side_apply_then_server_side_apply_takes_over(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=DEPLOY)
    created = managers(get(cloud, "deploy", "web", "-n", ns))
    assert list(created) == [("kubectl-client-side-apply", "Update", "")]
    spec = created[("kubectl-client-side-apply", "Update", "")]["f:spec"]
    assert "." not in spec and "f:progressDeadlineSeconds" in spec  # defaults, like kube
    # kubectl's first server-side apply may change what client-side apply set
    apply(cloud, ns, DEPLOY.replace("replicas: 2", "replicas: 3"))
    deploy = get(cloud, "deploy", "web", "-n", ns)
    assert deploy["spec"]["replicas"] == 3
    assert ("kubectl", "Apply", "") in managers(deploy)
    last = json.loads(deploy["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["replicas"] == 3


def test_custom_resource_apply_removal_and_conflict(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("apply", "-f", "-", input=CRD)
    cloud.kubectl("wait", "--for=condition=Established", "crd/gadgets.ssa.example.com",
                  "--timeout=30s")
    out = apply(cloud, ns, GADGET).stdout
    assert out.strip() == "gadget.ssa.example.com/g1 serverside-applied"
    gadget = get(cloud, "gadget", "g1", "-n", ns)
    fields = managers(gadget)[("kubectl", "Apply", "")]
    assert set(fields["f:spec"]) == {"f:size", "f:color", "f:ports"}
    assert set(fields["f:spec"]["f:ports"]) == {'k:{"name":"http"}', 'k:{"name":"admin"}'}

    # drop a field and a list item: both go
    trimmed = GADGET.replace("  color: red\n", "").replace(", {name: admin, port: 9000}", "")
    apply(cloud, ns, trimmed)
    spec = get(cloud, "gadget", "g1", "-n", ns)["spec"]
    assert spec == {"size": 3, "ports": [{"name": "http", "port": 80}]}

    other = "apiVersion: ssa.example.com/v1\nkind: Gadget\nmetadata: {name: g1}\nspec: {size: 7}\n"
    proc = apply(cloud, ns, other, "--field-manager=other", check=False)
    assert proc.returncode != 0
    assert 'conflict with "kubectl": .spec.size' in proc.stderr, proc.stderr
    apply(cloud, ns, other, "--field-manager=other", "--force-conflicts")
    cloud.kubectl("label", "gadget", "g1", "-n", ns, "tier=x")
    gadget = get(cloud, "gadget", "g1", "-n", ns)
    assert gadget["spec"]["size"] == 7
    owners = managers(gadget)
    assert owners[("other", "Apply", "")] == {"f:spec": {"f:size": {}}}
    assert owners[("kubectl-label", "Update", "")] == {
        "f:metadata": {"f:labels": {".": {}, "f:tier": {}}}}


def test_patch_and_replace_record_their_managers(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("create", "-n", ns, "-f", "-", input=DEPLOY)
    cloud.kubectl("patch", "deploy", "web", "-n", ns, "-p",
                  '{"spec":{"template":{"spec":{"containers":[{"name":"nginx",'
                  '"image":"nginx:1.26"}]}}}}')
    deploy = get(cloud, "deploy", "web", "-n", ns)
    owners = managers(deploy)
    assert ("kubectl-create", "Update", "") in owners
    patched = owners[("kubectl-patch", "Update", "")]
    container = patched["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert container == {"f:image": {}}
    created = owners[("kubectl-create", "Update", "")]
    assert "f:image" not in (created["f:spec"]["f:template"]["f:spec"]["f:containers"]
                             ['k:{"name":"nginx"}'])

    # a client that sends managedFields: [] resets ownership
    deploy["metadata"]["managedFields"] = []
    deploy["metadata"]["labels"]["reset"] = "yes"
    cloud.kubectl("replace", "-f", "-", input=json.dumps(deploy))
    after = managers(get(cloud, "deploy", "web", "-n", ns))
    assert list(after) == [("kubectl-replace", "Update", "")]
    assert after[("kubectl-replace", "Update", "")] == {
        "f:metadata": {"f:labels": {"f:reset": {}}}}
