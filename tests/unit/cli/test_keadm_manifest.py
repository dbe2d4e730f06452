"""`keadm manifest` without a cluster: flags reach the right objects, and bad input
exits non-zero naming the flag and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubeedge.cli.keadm import main as keadm


def _docs(*args: str) -> list[dict]:
    result = CliRunner().invoke(keadm, ["manifest", "--advertise-address=10.1.2.3", *args])
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.output) if d is not None]


def _by_kind(docs: list[dict], kind: str) -> dict:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


@pytest.mark.parametrize(("item", "named"), [
    ("modules.cloudHub.nodeLimit=many", "modules.cloudHub.nodeLimit"),
    ("cloudCore.modules.cloudHub.nodLimit=3", "nodLimit"),
    ("cloudCore.image.colour=red", "cloudCore.image.colour"),
    ("cloudCore.replicaCount=0", "cloudCore.replicaCount"),
    ("modules.cloudHub.websocket.port=70000", "modules.cloudHub.websocket.port"),
    ("nonsense", "key=value"),
])
def test_a_bad_set_exits_non_zero_naming_the_field(item: str, named: str) -> None:
    result = CliRunner().invoke(keadm, ["manifest", "--set", item])
    assert result.exit_code == 1
    assert named in result.output
    assert "apiVersion" not in result.output  # nothing half-printed


def test_sets_reach_the_image_the_config_and_the_service() -> None:
    docs = _docs("--set", "cloudCore.image.repository=reg.local/cc,cloudCore.image.tag=v2",
                 "--set", "cloudCore.modules.cloudHub.websocket.port=11000",
                 "--set", "cloudCore.service.type=ClusterIP",
                 "--set", "cloudCore.replicaCount=2")
    deployment = _by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.local/cc:v2"
    config = yaml.safe_load(_by_kind(docs, "ConfigMap")["data"]["cloudcore.yaml"])
    assert config["modules"]["cloudHub"]["websocket"]["port"] == 11000
    assert config["modules"]["cloudHub"]["advertiseAddress"] == ["10.1.2.3"]
    service = _by_kind(docs, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0] == {"name": "cloudhub", "port": 11000,
                                           "targetPort": 11000, "protocol": "TCP"}


def test_a_list_value_keeps_its_commas() -> None:
    docs = _docs("--set", "modules.controllerManager.controllers=*,-job")
    config = yaml.safe_load(_by_kind(docs, "ConfigMap")["data"]["cloudcore.yaml"])
    assert config["modules"]["controllerManager"]["controllers"] == ["*", "-job"]


def test_the_scheduler_brings_volcanos_crds() -> None:
    names = [d["metadata"]["name"] for d in _docs("--set", "modules.scheduler.enable=true")
             if d["kind"] == "CustomResourceDefinition"]
    assert "objectsyncs.reliablesyncs.kubeedge.io" in names
    assert "queues.scheduling.volcano.sh" in names


def test_profile_and_version_set_the_tag_and_bad_ones_are_refused() -> None:
    image = _by_kind(_docs("--profile", "version=v1.2.3"), "Deployment")[
        "spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(":v1.2.3")
    result = CliRunner().invoke(keadm, ["manifest", "--profile", "/tmp/values.yaml"])
    assert result.exit_code == 1 and "--profile" in result.output


def test_files_are_appended_and_checked(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: "
                     "kubeedge}\n")
    assert _docs("-f", str(extra))[-1]["metadata"]["name"] == "x"
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    result = CliRunner().invoke(keadm, ["manifest", "--files", str(bad)])
    assert result.exit_code == 1 and "bad.yaml" in result.output


def test_beta_manifest_generate_is_the_same_command() -> None:
    runner = CliRunner()
    a = runner.invoke(keadm, ["manifest", "--advertise-address=10.0.0.1"]).output
    b = runner.invoke(keadm, ["beta", "manifest", "generate",
                              "--advertise-address=10.0.0.1"]).output
    assert a == b and "kind: Deployment" in a
