"""The control plane as a kubectl user meets it: real kubectl, fresh HOME, a real
`keadm init` in a temp root (issue: embedded control plane, "Must show")."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.fixtures.cluster import Cloud


@pytest.fixture
def ns(cloud: Cloud) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    # `kubectl create namespace` sends protobuf, which is a later issue's; apply is JSON.
    cloud.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    return name


POD = """
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: nginx
    image: nginx:1.25
    ports:
    - containerPort: 80
"""


def test_version_reports_minor_32(cloud: Cloud) -> None:
    out = cloud.kubectl("version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "32")


def test_api_resources_lists_core_and_groups(cloud: Cloud) -> None:
    out = cloud.kubectl("api-resources").stdout
    for line in ("pods", "deployments", "customresourcedefinitions", "leases"):
        assert re.search(rf"^{line}\s", out, re.M), out
    assert re.search(r"^pods\s+po\s+v1\s+true\s+Pod", out, re.M), out


def test_get_namespaces_shows_the_four_standard_ones(cloud: Cloud) -> None:
    out = cloud.kubectl("get", "ns").stdout
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert re.search(rf"^{name}\s+Active\s", out, re.M), out
    assert out.splitlines()[0].split() == ["NAME", "STATUS", "AGE"]


def test_apply_create_then_configure_keeps_ports(cloud: Cloud, ns: str) -> None:
    out = cloud.kubectl("apply", "-n", ns, "-f", "-", input=POD).stdout
    assert out.strip() == "pod/web created"
    out = cloud.kubectl("apply", "-n", ns, "-f", "-",
                        input=POD.replace("nginx:1.25", "nginx:1.26")).stdout
    assert out.strip() == "pod/web configured"
    pod = cloud.kubectl_json("get", "pod", "web", "-n", ns)
    container = pod["spec"]["containers"][0]
    assert container["image"] == "nginx:1.26"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_get_pods_prints_kubectl_columns(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=POD)
    lines = cloud.kubectl("get", "pods", "-n", ns).stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[1].split()[:4] == ["web", "0/1", "Pending", "0"]


def test_get_yaml_shows_server_defaults(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=POD)
    pod = yaml.safe_load(cloud.kubectl("get", "pod", "web", "-n", ns, "-o", "yaml").stdout)
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
    tolerations = {t["key"]: t for t in spec["tolerations"]}
    assert tolerations["node.kubernetes.io/not-ready"]["tolerationSeconds"] == 300
    assert tolerations["node.kubernetes.io/unreachable"]["effect"] == "NoExecute"
    assert pod["status"]["phase"] == "Pending"
    assert pod["metadata"]["uid"] and pod["metadata"]["creationTimestamp"]


def test_create_twice_is_already_exists(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("create", "-n", ns, "-f", "-", input=POD)
    proc = cloud.kubectl("create", "-n", ns, "-f", "-", input=POD, check=False)
    assert proc.returncode != 0
    assert 'pods "web" already exists' in proc.stderr
    assert "AlreadyExists" in proc.stderr


def test_get_missing_pod_is_not_found(cloud: Cloud, ns: str) -> None:
    proc = cloud.kubectl("get", "pod", "nope", "-n", ns, check=False)
    assert proc.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in proc.stderr


def test_watch_sees_a_label_change(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=POD)
    watcher = cloud.popen_kubectl("get", "pods", "-n", ns, "-w", "-o",
                                  "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier",
                                  "--no-headers")
    assert watcher.stdout is not None
    first = watcher.stdout.readline()
    assert first.split() == ["web", "<none>"]
    cloud.kubectl("label", "pod", "web", "-n", ns, "tier=front")
    second = watcher.stdout.readline()
    assert second.split() == ["web", "front"]
    watcher.kill()


def test_watch_in_table_form_prints_rows(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=POD)
    watcher = cloud.popen_kubectl("get", "pods", "-n", ns, "-w")
    assert watcher.stdout is not None
    assert watcher.stdout.readline().split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert watcher.stdout.readline().split()[:3] == ["web", "0/1", "Pending"]
    cloud.kubectl("delete", "pod", "web", "-n", ns)
    # kubectl prints the deletion as one more row for the pod.
    assert watcher.stdout.readline().split()[0] == "web"
    watcher.kill()


def test_wait_for_condition_set_after_wait_started(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=POD)
    waiter = cloud.popen_kubectl("wait", "pod/web", "-n", ns, "--for=condition=Ready",
                                 "--timeout=60s", "-v=6")
    # kubectl logs each request at -v=6; once its watch request is answered, the wait is
    # really waiting and the condition below is set after it started.
    assert waiter.stderr is not None
    for line in waiter.stderr:
        if "watch=true" in line:
            break
    else:
        raise AssertionError("kubectl wait never started watching")
    status = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    cloud.kubectl("patch", "pod", "web", "-n", ns, "--subresource=status", "--type=merge",
                  "-p", json.dumps(status))
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    assert "pod/web condition met" in out


def test_delete_of_unscheduled_pod_returns_at_once(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=POD)
    out = cloud.kubectl("delete", "pod", "web", "-n", ns, timeout=20).stdout
    assert 'pod "web" deleted' in out
    assert cloud.kubectl("get", "pod", "web", "-n", ns, check=False).returncode == 1


def test_finalizer_holds_delete_until_removed(cloud: Cloud, ns: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
          "data": {"a": "1"}}
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(cm))
    cloud.kubectl("delete", "configmap", "held", "-n", ns, "--wait=false")
    obj = cloud.kubectl_json("get", "configmap", "held", "-n", ns)
    assert obj["metadata"]["deletionTimestamp"]
    cloud.kubectl("patch", "configmap", "held", "-n", ns, "--type=json",
                  "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    proc = cloud.kubectl("get", "configmap", "held", "-n", ns, check=False)
    assert proc.returncode == 1 and "NotFound" in proc.stderr


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
              color: {type: string, default: blue}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"""


def test_crd_then_custom_resource_with_printer_columns(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("apply", "-f", "-", input=CRD)
    cloud.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com",
                  "--timeout=30s")
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n"
    out = cloud.kubectl("apply", "-n", ns, "-f", "-", input=widget).stdout
    assert out.strip() == "widget.example.com/w1 created"
    lines = cloud.kubectl("get", "wd", "-n", ns).stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "COLOR", "AGE"]
    assert lines[1].split()[:3] == ["w1", "3", "blue"]
    bad = widget.replace("size: 3", "size: 0")
    proc = cloud.kubectl("apply", "-n", ns, "-f", "-", input=bad.replace("w1", "w2"),
                         check=False)
    assert proc.returncode != 0 and "spec.size" in proc.stderr


def test_failing_json_patch_test_is_422(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=POD)
    proc = cloud.kubectl(
        "patch", "pod", "web", "-n", ns, "--type=json",
        "-p", '[{"op":"test","path":"/metadata/labels/app","value":"other"}]', check=False,
    )
    assert proc.returncode != 0
    assert "Invalid" in proc.stderr or "422" in proc.stderr or "test" in proc.stderr


def test_misspelt_field_is_strict_decoding_error(cloud: Cloud, ns: str) -> None:
    bad = POD.replace("containers:", "contianers:")
    proc = cloud.kubectl("apply", "-n", ns, "-f", "-", input=bad, check=False)
    assert proc.returncode != 0
    assert 'strict decoding error: unknown field "spec.contianers"' in proc.stderr


def test_selectors_with_all_namespaces_and_chunking(cloud: Cloud, ns: str) -> None:
    for i, tier in enumerate(["front", "back", "front"]):
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": f"c{i}", "labels": {"tier": tier, "suite": ns}}}
        cloud.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(cm))
    out = cloud.kubectl("get", "cm", "-A", "--chunk-size=1", "-l", f"suite={ns},tier=front",
                        "--no-headers").stdout
    assert sorted(line.split()[1] for line in out.splitlines()) == ["c0", "c2"]
    out = cloud.kubectl("get", "cm", "-A", "--chunk-size=1", "--field-selector",
                        f"metadata.namespace={ns},metadata.name!=c1", "-l", f"suite={ns}",
                        "--no-headers").stdout
    assert sorted(line.split()[1] for line in out.splitlines()) == ["c0", "c2"]
    out = cloud.kubectl("get", "cm", "-n", ns, "-l", "tier in (back)", "--no-headers").stdout
    assert [line.split()[0] for line in out.splitlines()] == ["c1"]


def test_bad_token_is_unauthorized(cloud: Cloud) -> None:
    proc = cloud.kubectl("get", "pods", "--token=not-a-token", check=False)
    assert proc.returncode != 0
    assert "Unauthorized" in proc.stderr


def test_view_user_cannot_read_secrets_or_create_pods(cloud: Cloud, ns: str) -> None:
    token = uuid.uuid4().hex
    kubeconfig = cloud.user_kubeconfig("viewer", token=token)
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "viewer-view"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "view"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                             "name": "viewer"}]}
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(binding))
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "stringData": {"a": "b"}}
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(secret))
    cloud.kubectl("get", "configmaps", "-n", ns, kubeconfig=kubeconfig)
    proc = cloud.kubectl("get", "secrets", "-n", ns, kubeconfig=kubeconfig, check=False)
    assert proc.returncode != 0 and "Forbidden" in proc.stderr
    proc = cloud.kubectl("apply", "-n", ns, "-f", "-", input=POD, kubeconfig=kubeconfig,
                         check=False)
    assert proc.returncode != 0 and "forbidden" in proc.stderr.lower()
    can = cloud.kubectl("auth", "can-i", "get", "secrets", "-n", ns, kubeconfig=kubeconfig,
                        check=False)
    assert can.stdout.strip() == "no"
    can = cloud.kubectl("auth", "can-i", "list", "pods", "-n", ns, kubeconfig=kubeconfig)
    assert can.stdout.strip() == "yes"
    can = cloud.kubectl("auth", "can-i", "create", "pods", "-n", ns, "--as=viewer",
                        check=False)
    assert can.stdout.strip() == "no"


def test_python_client_watch_yields_added_then_modified(cloud: Cloud, ns: str) -> None:
    from kubernetes import client, config, watch

    api_client = config.new_client_from_config(config_file=str(cloud.kubeconfig))
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "w"}, "data": {"a": "1"}})
    w = watch.Watch()
    seen: list[tuple[str, str]] = []
    for event in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=20,
                          field_selector="metadata.name=w"):
        seen.append((event["type"], event["object"].data["a"]))
        if len(seen) == 1:
            core.patch_namespaced_config_map("w", ns, {"data": {"a": "2"}})
        if len(seen) == 2:
            w.stop()
    assert seen == [("ADDED", "1"), ("MODIFIED", "2")]
    api_client.close()


def test_keadm_init_refuses_a_busy_port(cloud: Cloud, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kubeedge.cli.keadm", "init", "--root", str(tmp_path / "r2"),
         "--bind-address", "127.0.0.1", "--apiserver-port", str(cloud.port)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "already in use" in proc.stderr


def test_imperative_creates_send_protobuf_and_land_as_asked(cloud: Cloud, ns: str) -> None:
    n = ["-n", ns]
    cloud.kubectl("create", "configmap", "cfg", "--from-literal=a=b", *n)
    cloud.kubectl("create", "secret", "generic", "sec", "--from-literal=k=v", *n)
    cloud.kubectl("create", "serviceaccount", "robot", *n)
    cloud.kubectl("create", "deployment", "web", "--image=nginx:1.25", "--replicas=2", *n)
    cloud.kubectl("create", "job", "once", "--image=busybox", *n)
    cloud.kubectl("create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", *n)
    cloud.kubectl("create", "role", "reader", "--verb=get,list", "--resource=pods", *n)
    cloud.kubectl("create", "rolebinding", "rb", "--role=reader", "--user=someone", *n)
    cloud.kubectl("create", "quota", "q", "--hard=pods=10", *n)
    cloud.kubectl("create", "namespace", f"{ns}-x")
    cloud.kubectl("create", "priorityclass", f"{ns}-pc", "--value=1000")
    cloud.kubectl("create", "clusterrole", f"{ns}-cr", "--verb=get", "--resource=nodes")
    cloud.kubectl("create", "clusterrolebinding", f"{ns}-crb", f"--clusterrole={ns}-cr",
                  "--group=ops")

    assert cloud.kubectl_json("get", "cm", "cfg", *n)["data"] == {"a": "b"}
    assert cloud.kubectl_json("get", "secret", "sec", *n)["data"] == {"k": "dg=="}
    deploy = cloud.kubectl_json("get", "deploy", "web", *n)
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    job = cloud.kubectl_json("get", "job", "once", *n)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert cloud.kubectl_json("get", "cronjob", "tick", *n)["spec"]["schedule"] == "*/5 * * * *"
    role = cloud.kubectl_json("get", "role", "reader", *n)
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                              "verbs": ["get", "list"]}]
    assert cloud.kubectl_json("get", "rolebinding", "rb", *n)["subjects"][0]["name"] == "someone"
    assert cloud.kubectl_json("get", "quota", "q", *n)["spec"]["hard"] == {"pods": "10"}
    assert cloud.kubectl_json("get", "ns", f"{ns}-x")["status"]["phase"] == "Active"
    assert cloud.kubectl_json("get", "priorityclass", f"{ns}-pc")["value"] == 1000
    crb = cloud.kubectl_json("get", "clusterrolebinding", f"{ns}-crb")
    assert crb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                "name": "ops"}]


def test_auth_whoami_names_the_admin(cloud: Cloud) -> None:
    out = cloud.kubectl("auth", "whoami", "-o", "json").stdout
    user = json.loads(out)["status"]["userInfo"]
    assert user["username"] == "kubernetes-admin"
    assert "system:masters" in user["groups"]
