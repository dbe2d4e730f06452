"""`keadm join` flag checks and the EdgeCore config it writes (specs/kubeedge.md §8), and
`keadm gettoken`/`reset edge` without a cloud: clear errors, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kubeedge.cli.keadm import main as keadm
from kubeedge.cloud.setup_edge import JoinFlags, join_config, parse_labels, remove_edge
from kubeedge.config.checks import ConfigError
from kubeedge.config.edgecore import load

TOKEN = "ab" * 32 + ".eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln"


def _flags(tmp_path: Path, **values: object) -> JoinFlags:
    base: dict[str, object] = {"cloudcore_ipport": "192.0.2.1:10000", "token": TOKEN,
                               "root": str(tmp_path / "edge")}
    base.update(values)
    return JoinFlags(**base)  # type: ignore[arg-type]


def test_join_config_carries_every_flag(tmp_path: Path) -> None:
    config = join_config(_flags(
        tmp_path, edgenode_name="edge-7", certport=20002, labels="site=lab, tier=edge",
        remote_runtime_endpoint="unix:///run/containerd/containerd.sock",
        cgroupdriver="systemd", sets=("modules.edgeHub.heartbeat=3",)))
    hub, edged = config.modules.edge_hub, config.modules.edged
    assert hub.websocket.server == "192.0.2.1:10000"
    assert hub.http_server == "https://192.0.2.1:20002"
    assert hub.token == TOKEN and hub.heartbeat == 3
    assert config.modules.edge_stream.server == "192.0.2.1:10004"
    assert edged.hostname_override == "edge-7"
    assert edged.node_labels == {"site": "lab", "tier": "edge"}
    assert edged.runtime_type == "remote"
    kubelet = edged.tailored_kubelet_config
    assert kubelet.container_runtime_endpoint == "unix:///run/containerd/containerd.sock"
    assert kubelet.cgroup_driver == "systemd"
    assert config.root == str(tmp_path / "edge")


@pytest.mark.parametrize(("values", "field"), [
    ({"token": ""}, "--token"),
    ({"token": "abc.def.ghi"}, "--token"),
    ({"token": "nothex." + TOKEN.split(".", 1)[1]}, "--token"),
    ({"cloudcore_ipport": ""}, "--cloudcore-ipport"),
    ({"cloudcore_ipport": "192.0.2.1"}, "--cloudcore-ipport"),
    ({"cloudcore_ipport": "192.0.2.1:99999"}, "--cloudcore-ipport"),
    ({"certport": 0}, "--certport"),
    ({"labels": "novalue"}, "--labels"),
    ({"labels": "bad key=v"}, "--labels"),
    ({"hub_protocol": "quic"}, "--hub-protocol"),
    ({"cgroupdriver": "none"}, "--cgroupdriver"),
    ({"edgenode_name": "Not_A_Node"}, "--edgenode-name"),
    ({"remote_runtime_endpoint": "/run/containerd.sock"}, "containerRuntimeEndpoint"),
    ({"sets": ("modules.edgeHub.nope=1",)}, "--set modules.edgeHub.nope"),
    ({"sets": ("modules.edgeHub.heartbeat=-1",)}, "modules.edgeHub.heartbeat"),
])
def test_bad_flags_are_refused_naming_the_flag(tmp_path: Path, values: dict[str, object],
                                               field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace("[", r"\[")):
        join_config(_flags(tmp_path, **values))


def test_labels_parse_as_key_value_pairs() -> None:
    assert parse_labels("") == {}
    assert parse_labels("a=1,example.com/b=,c=x") == {"a": "1", "example.com/b": "",
                                                       "c": "x"}


def test_join_with_a_bad_token_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "edge"
    result = CliRunner().invoke(keadm, ["join", "--cloudcore-ipport=192.0.2.1:10000",
                                        "--token=abc", "--root", str(root)])
    assert result.exit_code == 1
    assert "--token" in result.stderr and "4 dot-separated parts" in result.stderr
    assert not root.exists()


def test_join_refuses_a_root_that_already_has_an_edge(tmp_path: Path) -> None:
    root = tmp_path / "edge"
    config = root / "etc/kubeedge/config/edgecore.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("kept: true\n")
    result = CliRunner().invoke(keadm, ["join", "--cloudcore-ipport=192.0.2.1:10000",
                                        f"--token={TOKEN}", "--root", str(root)])
    assert result.exit_code == 1
    assert "keadm reset edge" in result.stderr
    assert config.read_text() == "kept: true\n"


def test_gettoken_without_a_cloud_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(keadm, ["gettoken", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert "keadm init" in result.stderr


def test_reset_edge_removes_the_edges_files_only(tmp_path: Path) -> None:
    root = tmp_path / "edge"
    config = join_config(_flags(tmp_path))
    from kubeedge.cloud.setup_edge import write_config

    path = write_config(config)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load(path).modules.edge_hub.token == TOKEN
    for name in ("etc/kubeedge/certs/server.key", "var/lib/kubeedge/edgecore.db",
                 "var/log/kubeedge/edgecore.log"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (root / "home").mkdir()
    (root / "home/keep.txt").write_text("mine")
    result = CliRunner().invoke(keadm, ["reset", "--root", str(root), "--force"])
    assert result.exit_code == 0, result.output
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert left == ["home", "home/keep.txt"]
    assert remove_edge(root) == []  # nothing left to do
