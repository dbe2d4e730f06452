"""The CloudCore config: KubeEdge's structure, `--set` overrides, and refusals that
name the field."""

from __future__ import annotations

import subprocess
import sys

import msgspec
import pytest
import yaml

from kubeedge.cloud.setup import cloudcore_config_for
from kubeedge.config import cloudcore
from kubeedge.config.apiserver import ConfigError


def test_set_overrides_nested_fields_with_yaml_values() -> None:
    config = cloudcore_config_for("/r", [
        "modules.controllerManager.edgeNodeEviction=true",
        "modules.controllerManager.nodeMonitorGracePeriodSeconds=2.5",
        "modules.controllerManager.controllers=*,-job",
        "modules.scheduler.enable=false",
    ])
    cm = config.modules.controller_manager
    assert cm.edge_node_eviction is True
    assert cm.node_monitor_grace_period_seconds == 2.5
    assert cm.controllers == ["*", "-job"]
    assert cm.enabled("replicaset") and not cm.enabled("job")
    assert config.modules.scheduler.enable is False
    assert config.root == "/r"


@pytest.mark.parametrize(("item", "fragment"), [
    ("modules.controllerManager.nodeMonitorGracePeriodSecondz=1", "unknown field"),
    ("modules.nope.enable=true", "modules.nope is not a section"),
    ("modules.controllerManager.controllers=deployment,frobnicator", "frobnicator"),
    ("modules.controllerManager.clusterCIDR=10.0.0.0/33", "clusterCIDR"),
    ("modules.controllerManager.leaderElection.renewDeadlineSeconds=99",
     "renewDeadlineSeconds"),
    ("modules.controllerManager.nodeMonitorPeriodSeconds=0", "nodeMonitorPeriodSeconds"),
    ("justakey", "expected key=value"),
])
def test_bad_values_are_refused_naming_the_field(item: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        cloudcore_config_for("/r", [item])


def test_unknown_fields_in_a_file_are_refused(tmp_path) -> None:
    path = tmp_path / "cloudcore.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": cloudcore.API_VERSION, "kind": "CloudCore",
                                    "modules": {"controllerManager": {"bogus": 1}}}))
    with pytest.raises(ConfigError, match="bogus"):
        cloudcore.load(path)


def test_printed_configs_load_back() -> None:
    for flag in ("--defaultconfig", "--minconfig"):
        out = subprocess.run([sys.executable, "-m", "kubeedge.cli.cloudcore", flag],
                             capture_output=True, text=True, check=True).stdout
        assert out.startswith("#")
        raw = yaml.safe_load(out)
        assert "kubeAPIConfig" in raw
        config = msgspec.convert(raw, cloudcore.CloudCoreConfig).validate()
        assert config.kind == "CloudCore"


def test_a_bad_config_file_stops_cloudcore_with_the_reason(tmp_path) -> None:
    path = tmp_path / "cloudcore.yaml"
    path.write_text("kind: CloudCore\nmodules:\n  scheduler:\n    schedulePeriodSeconds: -1\n")
    proc = subprocess.run([sys.executable, "-m", "kubeedge.cli.cloudcore", "--config",
                           str(path)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "schedulePeriodSeconds" in proc.stderr
