"""What kubectl gets from our OpenAPI documents: `explain`, field validation modes, and
`-o wide` tables."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.e2e.test_kubectl import CRD, POD
from tests.fixtures.cluster import Cloud


@pytest.fixture
def ns(cloud: Cloud) -> str:
    name = f"s-{uuid.uuid4().hex[:6]}"
    cloud.kubectl("create", "namespace", name)
    return name


def test_explain_a_builtin_field(cloud: Cloud) -> None:
    out = cloud.kubectl("explain", "deployment.spec.replicas").stdout
    assert "KIND:       Deployment" in out
    assert re.search(r"FIELD:\s+replicas <integer>", out)
    assert "DESCRIPTION:" in out


def test_explain_lists_fields_of_a_struct(cloud: Cloud) -> None:
    out = cloud.kubectl("explain", "pod.spec.containers").stdout
    assert "FIELDS:" in out
    for field in ("image\t<string>", "name\t<string> -required-", "ports\t<[]ContainerPort>"):
        assert field.split("\t")[0] in out, out


def test_explain_a_custom_resource(cloud: Cloud) -> None:
    cloud.kubectl("apply", "-f", "-", input=CRD)
    cloud.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com",
                  "--timeout=30s")
    out = cloud.kubectl("explain", "widget.spec").stdout
    assert "KIND:       Widget" in out
    assert re.search(r"size\s+<integer>", out) and re.search(r"color\s+<string>", out)


def test_warn_mode_stores_and_warns(cloud: Cloud, ns: str) -> None:
    bad = POD.replace("    image: nginx:1.25", "    image: nginx:1.25\n    imagee: typo")
    proc = cloud.kubectl("apply", "-n", ns, "--validate=warn", "-f", "-", input=bad)
    assert 'Warning: unknown field "spec.containers[0].imagee"' in proc.stderr
    pod = cloud.kubectl_json("get", "pod", "web", "-n", ns)
    assert "imagee" not in pod["spec"]["containers"][0]


def test_ignore_mode_drops_unknown_fields_silently(cloud: Cloud, ns: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
          "data": {"a": "1"}, "extra": {"x": 1}}
    proc = cloud.kubectl("apply", "-n", ns, "--validate=false", "-f", "-",
                         input=json.dumps(cm))
    assert "Warning" not in proc.stderr
    assert "extra" not in cloud.kubectl_json("get", "cm", "c", "-n", ns)


@pytest.mark.parametrize(("resource", "wide_columns"), [
    ("pods", ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]),
    ("deployments", ["CONTAINERS", "IMAGES", "SELECTOR"]),
    ("services", ["SELECTOR"]),
    ("jobs", ["CONTAINERS", "IMAGES", "SELECTOR"]),
])
def test_wide_output_adds_kubectls_columns(cloud: Cloud, ns: str, resource: str,
                                           wide_columns: list[str]) -> None:
    cloud.kubectl("apply", "-n", ns, "-f", "-", input=POD)
    cloud.kubectl("create", "deployment", "d", "--image=nginx", "-n", ns)
    cloud.kubectl("create", "job", "j", "--image=busybox", "-n", ns)
    cloud.kubectl("create", "service", "clusterip", "s", "--tcp=80:80", "-n", ns)
    header = cloud.kubectl("get", resource, "-n", ns, "-o", "wide").stdout.splitlines()[0]
    for column in wide_columns:
        assert column in header, header
