"""The EdgeCore config: KubeEdge's v1alpha2 structure and defaults, root-relative paths,
refusals that name the field, and the `edgecore` flags."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from click.testing import CliRunner

from kubeedge.cli.edgecore import main as edgecore_main
from kubeedge.config import edgecore
from kubeedge.config.checks import ConfigError, go_duration_seconds, host_name, primary_ip


def _at(tree: Any, dotted: str) -> Any:
    for key in dotted.split("/"):
        tree = tree[key]
    return tree


# Paths use "/" because KubeEdge's keys contain dots (memory.available).
KUBEEDGE_DEFAULTS = [
    ("apiVersion", "edgecore.config.kubeedge.io/v1alpha2"),
    ("kind", "EdgeCore"),
    ("database/driverName", "sqlite3"),
    ("database/aliasName", "default"),
    ("database/dataSource", "var/lib/kubeedge/edgecore.db"),
    ("modules/edgeHub/enable", True),
    ("modules/edgeHub/heartbeat", 15),
    ("modules/edgeHub/messageQPS", 30),
    ("modules/edgeHub/messageBurst", 60),
    ("modules/edgeHub/projectID", "e632aba927ea4ac2b575ec1603d56f10"),
    ("modules/edgeHub/tlsCaFile", "etc/kubeedge/ca/rootCA.crt"),
    ("modules/edgeHub/tlsCertFile", "etc/kubeedge/certs/server.crt"),
    ("modules/edgeHub/tlsPrivateKeyFile", "etc/kubeedge/certs/server.key"),
    ("modules/edgeHub/rotateCertificates", True),
    ("modules/edgeHub/token", ""),
    ("modules/edgeHub/websocket/enable", True),
    ("modules/edgeHub/websocket/handshakeTimeout", 30),
    ("modules/edgeHub/websocket/readDeadline", 15),
    ("modules/edgeHub/websocket/writeDeadline", 15),
    ("modules/edgeHub/quic/enable", False),
    ("modules/edgeHub/quic/handshakeTimeout", 30),
    ("modules/edgeHub/connectRetries", 5),
    ("modules/edgeHub/connectRetryInterval", 5),
    ("modules/edgeHub/certRotationBackoffBase", 2),
    ("modules/edgeHub/certRotationBackoffCap", 32),
    ("modules/metaManager/enable", True),
    ("modules/metaManager/contextSendGroup", "hub"),
    ("modules/metaManager/contextSendModule", "websocket"),
    ("modules/metaManager/remoteQueryTimeout", 60),
    ("modules/metaManager/metaServer/enable", False),
    ("modules/metaManager/metaServer/server", "127.0.0.1:10550"),
    ("modules/metaManager/metaServer/dummyServer", "169.254.30.10:10550"),
    ("modules/metaManager/metaServer/serviceAccountIssuers",
     ["https://kubernetes.default.svc.cluster.local"]),
    ("modules/edged/enable", True),
    ("modules/edged/registerNodeNamespace", "default"),
    ("modules/edged/podSandboxImage", "kubeedge/pause:3.6"),
    ("modules/edged/rootDirectory", "var/lib/kubelet"),
    ("modules/edged/maxContainerCount", -1),
    ("modules/edged/maxPerPodContainerCount", 1),
    ("modules/edged/registerSchedulable", True),
    ("modules/edged/nodeIP", ""),
    ("modules/edged/tailoredKubeletConfig/nodeStatusUpdateFrequency", "10s"),
    ("modules/edged/tailoredKubeletConfig/nodeStatusReportFrequency", "5m0s"),
    ("modules/edged/tailoredKubeletConfig/nodeLeaseDurationSeconds", 40),
    ("modules/edged/tailoredKubeletConfig/address", "127.0.0.1"),
    ("modules/edged/tailoredKubeletConfig/readOnlyPort", 10350),
    ("modules/edged/tailoredKubeletConfig/maxPods", 110),
    ("modules/edged/tailoredKubeletConfig/cgroupDriver", "cgroupfs"),
    ("modules/edged/tailoredKubeletConfig/registerNode", True),
    ("modules/edged/tailoredKubeletConfig/containerRuntimeEndpoint",
     "unix:///run/containerd/containerd.sock"),
    ("modules/edged/tailoredKubeletConfig/imageServiceEndpoint",
     "unix:///run/containerd/containerd.sock"),
    ("modules/edged/tailoredKubeletConfig/staticPodPath", "etc/kubeedge/manifests"),
    ("modules/edged/tailoredKubeletConfig/evictionHard/memory.available", "100Mi"),
    ("modules/edged/tailoredKubeletConfig/evictionHard/nodefs.available", "10%"),
    ("modules/edged/tailoredKubeletConfig/imageGCHighThresholdPercent", 85),
    ("modules/edged/tailoredKubeletConfig/imageGCLowThresholdPercent", 80),
    ("modules/edged/tailoredKubeletConfig/syncFrequency", "1m0s"),
    ("modules/edged/tailoredKubeletConfig/runtimeRequestTimeout", "2m0s"),
    ("modules/eventBus/enable", True),
    ("modules/eventBus/mqttQOS", 0),
    ("modules/eventBus/mqttRetain", False),
    ("modules/eventBus/mqttSessionQueueSize", 100),
    ("modules/eventBus/mqttServerInternal", "tcp://127.0.0.1:1884"),
    ("modules/eventBus/mqttServerExternal", "tcp://127.0.0.1:1883"),
    ("modules/eventBus/eventBusTLS/enable", False),
    ("modules/serviceBus/enable", False),
    ("modules/serviceBus/server", "127.0.0.1"),
    ("modules/serviceBus/port", 9060),
    ("modules/serviceBus/timeout", 60),
    ("modules/deviceTwin/enable", True),
    ("modules/deviceTwin/dmiSockPath", "etc/kubeedge/"),
    ("modules/dbTest/enable", False),
    ("modules/edgeStream/enable", False),
    ("modules/edgeStream/server", "127.0.0.1:10004"),
    ("modules/edgeStream/handshakeTimeout", 30),
    ("modules/edgeStream/readDeadline", 15),
    ("modules/edgeStream/writeDeadline", 15),
    ("modules/taskManager/enable", False),
    # Ours.
    ("root", "/"),
    ("modules/edged/runtimeType", "process"),
    ("modules/edged/extraCapacity", {}),
    ("modules/edged/deregisterTimeout", 10.0),
    ("modules/eventBus/mqttMode", 0),
]


@pytest.mark.parametrize(("path", "value"), KUBEEDGE_DEFAULTS)
def test_defaults_are_kubeedges(path: str, value: Any) -> None:
    got = _at(msgspec.to_builtins(edgecore.EdgeCoreConfig()), path)
    assert got == value
    assert type(got) is type(value)  # 15 stays 15, not 15.0


def test_host_dependent_defaults_follow_kubeedge() -> None:
    config = edgecore.EdgeCoreConfig()
    assert config.node_name == host_name()
    ip = primary_ip()
    assert config.modules.edge_hub.websocket.server == f"{ip}:10000"
    assert config.modules.edge_hub.quic.server == f"{ip}:10001"
    assert config.modules.edge_hub.http_server == f"https://{ip}:10002"


@pytest.mark.parametrize(("hostname", "expected"), [
    ("Edge-Node-1", "edge-node-1"),
    ("edge.example.com", "edge.example.com"),
    ("under_score", "default-edge-node"),
])
def test_node_name_defaults_to_the_hostname_or_kubeedges_fallback(
        monkeypatch: pytest.MonkeyPatch, hostname: str, expected: str) -> None:
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: hostname)
    assert host_name() == expected


def test_reconnect_waits_twice_the_heartbeat_unless_set() -> None:
    hub = edgecore.EdgeHub(heartbeat=0.5)
    assert hub.reconnect_seconds == 1.0
    assert edgecore.EdgeHub(heartbeat=0.5, reconnect_interval=3).reconnect_seconds == 3


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "edgecore.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_partial_section_keeps_the_defaults_of_the_fields_it_leaves_out(
        tmp_path: Path) -> None:
    config = edgecore.load(_write(tmp_path, {"modules": {
        "edgeHub": {"websocket": {"readDeadline": 3}}}}))
    websocket = config.modules.edge_hub.websocket
    assert websocket.read_deadline == 3
    assert websocket.server == f"{primary_ip()}:10000"
    assert websocket.handshake_timeout == 30


def test_extra_capacity_takes_numbers_and_quantities(tmp_path: Path) -> None:
    config = edgecore.load(_write(tmp_path, {"modules": {"edged": {
        "extraCapacity": {"nvidia.com/gpu": 2, "example.com/fpga": "500m"}}}}))
    assert config.modules.edged.extra_capacity == {"nvidia.com/gpu": 2,
                                                   "example.com/fpga": "500m"}


def test_a_timing_can_be_shortened_for_tests(tmp_path: Path) -> None:
    config = edgecore.load(_write(tmp_path, {"modules": {
        "edgeHub": {"heartbeat": 0.2, "websocket": {"server": "127.0.0.1:1"}},
        "edged": {"tailoredKubeletConfig": {"nodeStatusUpdateFrequency": "250ms"}}}}))
    assert config.modules.edge_hub.heartbeat == 0.2
    kubelet = config.modules.edged.tailored_kubelet_config
    assert kubelet.seconds("node_status_update_frequency") == 0.25
    assert kubelet.seconds("sync_frequency") == 60


def test_defaultconfig_output_loads_back_through_config(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(edgecore_main, ["--defaultconfig"])
    assert printed.exit_code == 0
    assert printed.output.startswith("#")
    path = tmp_path / "edgecore.yaml"
    path.write_text(printed.output)

    assert edgecore.load(path) == edgecore.EdgeCoreConfig()
    checked = runner.invoke(edgecore_main, ["--config", str(path)])
    assert "edgecore configuration is valid" in checked.stdout
    assert "no certificate for node" in checked.stderr
    assert checked.exit_code == 1


def test_minconfig_is_minimal_and_loads_to_the_defaults(tmp_path: Path) -> None:
    runner = CliRunner()
    minimal = runner.invoke(edgecore_main, ["--minconfig"]).output
    full = runner.invoke(edgecore_main, ["--defaultconfig"]).output
    assert minimal.startswith("#")
    assert len(minimal.splitlines()) * 3 < len(full.splitlines())
    raw = yaml.safe_load(minimal)
    assert set(raw["modules"]) == {"edged", "edgeHub", "eventBus"}
    assert "token" in raw["modules"]["edgeHub"]
    path = tmp_path / "edgecore.yaml"
    path.write_text(minimal)
    assert edgecore.load(path) == edgecore.EdgeCoreConfig()


def test_paths_hang_off_the_root(tmp_path: Path) -> None:
    config = edgecore.load(_write(tmp_path, {"root": str(tmp_path / "edge1"), "modules": {
        "edgeHub": {"tlsCertFile": "/opt/certs/edge.crt"}}}))
    assert config.path(config.database.data_source) == (
        tmp_path / "edge1" / "var/lib/kubeedge/edgecore.db")
    hub = config.modules.edge_hub
    assert config.path(hub.tls_ca_file) == tmp_path / "edge1" / "etc/kubeedge/ca/rootCA.crt"
    assert config.path(hub.tls_private_key_file) == (
        tmp_path / "edge1" / "etc/kubeedge/certs/server.key")
    # An absolute path is taken as it is.
    assert config.path(hub.tls_cert_file) == Path("/opt/certs/edge.crt")


def test_a_kubeedge_file_with_kubelet_settings_we_ignore_loads_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, {
        "apiVersion": "edgecore.config.kubeedge.io/v1alpha2", "kind": "EdgeCore",
        "modules": {"edged": {
            "hostnameOverride": "edge-1", "windowsPriorityClass": "",
            "tailoredKubeletConfig": {
                "cpuManagerPolicy": "none", "cgroupDriver": "systemd",
                "logging": {"format": "text", "flushFrequency": "5s"}}}}})
    with caplog.at_level(logging.WARNING):
        config = edgecore.load(path)
    assert config.node_name == "edge-1"
    assert config.modules.edged.tailored_kubelet_config.cgroup_driver == "systemd"
    assert "tailoredKubeletConfig.cpuManagerPolicy" in caplog.text
    assert "tailoredKubeletConfig.logging" in caplog.text


@pytest.mark.parametrize(("doc", "fragment"), [
    ({"bogus": 1}, "bogus: unknown field"),
    ({"modules": {"edgeHub": {"heartbeet": 15}}}, "modules.edgeHub.heartbeet: unknown field"),
    ({"modules": {"edgeHub": {"websocket": {"srv": "x"}}}},
     "modules.edgeHub.websocket.srv: unknown field"),
    ({"modules": {"edged": {"tailoredKubeletConfig": {"noSuchKnob": 1}}}},
     "modules.edged.tailoredKubeletConfig.noSuchKnob: unknown field"),
    ({"database": {"path": "x"}}, "database.path: unknown field"),
])
def test_unknown_fields_are_refused_with_their_path(
        tmp_path: Path, doc: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=_literal(fragment)):
        edgecore.load(_write(tmp_path, doc))


def _literal(text: str) -> str:
    import re

    return re.escape(text)


BAD_VALUES = [
    ({"kind": "CloudCore"}, "kind"),
    ({"apiVersion": "edgecore.config.kubeedge.io/v1alpha1"}, "apiVersion"),
    ({"database": {"driverName": "mysql"}}, "database.driverName"),
    ({"modules": {"edgeHub": {"heartbeat": 0}}}, "modules.edgeHub.heartbeat"),
    ({"modules": {"edgeHub": {"heartbeat": "fast"}}}, "modules.edgeHub.heartbeat"),
    ({"modules": {"edgeHub": {"messageQPS": -1}}}, "modules.edgeHub.messageQPS"),
    ({"modules": {"edgeHub": {"websocket": {"server": "10.0.0.1"}}}},
     "modules.edgeHub.websocket.server"),
    ({"modules": {"edgeHub": {"websocket": {"server": "10.0.0.1:70000"}}}},
     "modules.edgeHub.websocket.server"),
    ({"modules": {"edgeHub": {"websocket": {"readDeadline": -1}}}},
     "modules.edgeHub.websocket.readDeadline"),
    ({"modules": {"edgeHub": {"quic": {"enable": True}}}},
     "modules.edgeHub.websocket.enable and modules.edgeHub.quic.enable"),
    ({"modules": {"edgeHub": {"websocket": {"enable": False}}}},
     "modules.edgeHub.websocket.enable and modules.edgeHub.quic.enable"),
    ({"modules": {"edgeHub": {"httpServer": "http://10.0.0.1:10002"}}},
     "modules.edgeHub.httpServer"),
    ({"modules": {"edgeHub": {"httpServer": "https://:10002"}}}, "modules.edgeHub.httpServer"),
    ({"modules": {"edgeHub": {"projectID": ""}}}, "modules.edgeHub.projectID"),
    ({"modules": {"edged": {"hostnameOverride": "Edge_1"}}}, "modules.edged.hostnameOverride"),
    ({"modules": {"edged": {"hostnameOverride": "a" * 254}}},
     "modules.edged.hostnameOverride"),
    ({"modules": {"edged": {"nodeIP": "10.0.0"}}}, "modules.edged.nodeIP"),
    ({"modules": {"edged": {"registerNodeNamespace": "a.b"}}},
     "modules.edged.registerNodeNamespace"),
    ({"modules": {"edged": {"runtimeType": "docker"}}}, "modules.edged.runtimeType"),
    ({"modules": {"edged": {"deregisterTimeout": 0}}}, "modules.edged.deregisterTimeout"),
    ({"modules": {"edged": {"nodeLabels": {"bad key!": "x"}}}}, "modules.edged.nodeLabels"),
    ({"modules": {"edged": {"extraCapacity": {"nvidia.com/gpu": "lots"}}}},
     "modules.edged.extraCapacity[nvidia.com/gpu]"),
    ({"modules": {"edged": {"tailoredKubeletConfig": {"cgroupDriver": "cgroupfs2"}}}},
     "modules.edged.tailoredKubeletConfig.cgroupDriver"),
    ({"modules": {"edged": {"tailoredKubeletConfig": {"nodeStatusUpdateFrequency": "10"}}}},
     "modules.edged.tailoredKubeletConfig.nodeStatusUpdateFrequency"),
    ({"modules": {"edged": {"tailoredKubeletConfig": {"nodeStatusUpdateFrequency": "0s"}}}},
     "modules.edged.tailoredKubeletConfig.nodeStatusUpdateFrequency"),
    ({"modules": {"edged": {"tailoredKubeletConfig": {"readOnlyPort": 65536}}}},
     "modules.edged.tailoredKubeletConfig.readOnlyPort"),
    ({"modules": {"edged": {"tailoredKubeletConfig": {"maxPods": 0}}}},
     "modules.edged.tailoredKubeletConfig.maxPods"),
    ({"modules": {"edged": {"runtimeType": "remote", "tailoredKubeletConfig": {
        "containerRuntimeEndpoint": "/run/containerd/containerd.sock"}}}},
     "modules.edged.tailoredKubeletConfig.containerRuntimeEndpoint"),
    ({"modules": {"eventBus": {"mqttMode": 3}}}, "modules.eventBus.mqttMode"),
    ({"modules": {"eventBus": {"mqttQOS": 5}}}, "modules.eventBus.mqttQOS"),
    ({"modules": {"eventBus": {"mqttServerInternal": "127.0.0.1:1884"}}},
     "modules.eventBus.mqttServerInternal"),
    ({"modules": {"metaManager": {"remoteQueryTimeout": 0}}},
     "modules.metaManager.remoteQueryTimeout"),
    ({"modules": {"metaManager": {"metaServer": {"enable": True, "server": "nowhere"}}}},
     "modules.metaManager.metaServer.server"),
    ({"modules": {"serviceBus": {"enable": True, "port": 0}}}, "modules.serviceBus.port"),
    ({"modules": {"edgeStream": {"enable": True, "server": "cloud"}}},
     "modules.edgeStream.server"),
    ({"modules": {"edgeStream": {"enable": True, "handshakeTimeout": 0}}},
     "modules.edgeStream.handshakeTimeout"),
]


@pytest.mark.parametrize(("doc", "field"), BAD_VALUES)
def test_bad_values_are_refused_naming_the_field(
        tmp_path: Path, doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        edgecore.load(_write(tmp_path, doc))
    message = str(caught.value)
    assert f"{tmp_path / 'edgecore.yaml'}: {field}" in message
    # A reason follows the field.
    assert len(message.split(f"{field}", 1)[1].strip(" :")) > 5


def test_a_disabled_module_is_not_checked(tmp_path: Path) -> None:
    config = edgecore.load(_write(tmp_path, {"modules": {
        "edgeStream": {"enable": False, "server": "cloud"},
        "serviceBus": {"enable": False, "port": 0}}}))
    assert config.modules.edge_stream.server == "cloud"


@pytest.mark.parametrize(("text", "seconds"), [
    ("10s", 10), ("5m0s", 300), ("1h30m", 5400), ("100ms", 0.1), ("1.5s", 1.5),
    ("0", 0), ("2m", 120), ("10", None), ("", None), ("s", None), ("5x", None),
    ("1s junk", None),
])
def test_go_durations_are_read_as_go_reads_them(text: str, seconds: float | None) -> None:
    got = go_duration_seconds(text)
    assert got == (pytest.approx(seconds) if seconds is not None else None)


def test_edgecore_config_flag_reports_a_missing_file_as_kubeedge_does(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "kubeedge.cli.edgecore", "--config",
                           str(tmp_path / "nope.yaml")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "not exist" in proc.stderr and "--minconfig" in proc.stderr


def test_edgecore_config_flag_names_the_bad_field(tmp_path: Path) -> None:
    path = _write(tmp_path, {"modules": {"edgeHub": {"heartbeat": -1}}})
    result = CliRunner().invoke(edgecore_main, ["--config", str(path)])
    assert result.exit_code == 1
    assert "modules.edgeHub.heartbeat" in result.stderr
    assert "valid" not in result.stdout


def test_the_edge_config_imports_nothing_heavy() -> None:
    # ARCHITECTURE.md rule 9: the edge loads only msgspec and PyYAML for its config.
    code = ("import sys, kubeedge.config.edgecore\n"
            "print(' '.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                text=True, check=True).stdout.split())
    ours = {m for m in loaded if m.startswith("kubeedge.")}
    assert ours <= {"kubeedge.config", "kubeedge.config.apiserver", "kubeedge.config.checks",
                    "kubeedge.config.edgecore"}
    for heavy in ("cryptography", "aiohttp", "websockets", "asyncio", "orjson", "click",
                  "jwt", "sqlite3", "ssl"):
        assert heavy not in loaded, heavy


def test_edged_pod_fields_have_kubelets_defaults_and_show_in_defaultconfig() -> None:
    edged = edgecore.EdgeCoreConfig().validate().modules.edged
    assert edged.seconds("crash_loop_back_off_initial") == 10
    assert edged.seconds("crash_loop_back_off_max") == 300
    assert edged.seconds("pleg_relist_period") == 1
    assert edged.allowed_host_paths == ["/"]
    kc = edged.tailored_kubelet_config
    assert kc.log_max_size_bytes() == 10 * 1024 * 1024 and kc.container_log_max_files == 5
    printed = yaml.safe_load(edgecore.default_yaml())["modules"]["edged"]
    for key in ("crashLoopBackOffInitial", "crashLoopBackOffMax", "plegRelistPeriod",
                "allowedHostPaths", "imageTable"):
        assert key in printed
    assert printed["tailoredKubeletConfig"]["staticPodPath"] == "etc/kubeedge/manifests"


@pytest.mark.parametrize(("edged", "field"), [
    ({"tailoredKubeletConfig": {"containerLogMaxFiles": 1}}, "containerLogMaxFiles"),
    ({"tailoredKubeletConfig": {"containerLogMaxSize": "lots"}}, "containerLogMaxSize"),
    ({"crashLoopBackOffInitial": "10m", "crashLoopBackOffMax": "5m"},
     "crashLoopBackOffInitial"),
    ({"crashLoopBackOffMax": "soon"}, "crashLoopBackOffMax"),
    ({"allowedHostPaths": ["data"]}, "allowedHostPaths[0]"),
    ({"imageTable": {"myapp": {"env": {"A": "1"}}}}, "imageTable[myapp]"),
    ({"imageTable": {"Bad Name": {"cmd": ["x"]}}}, "imageTable[Bad Name]"),
])
def test_edged_pod_fields_are_validated(edged: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=f"modules.edged.*{re.escape(field)}"):
        edgecore.from_builtins({"modules": {"edged": edged}})


def test_image_table_entries_load() -> None:
    config = edgecore.from_builtins({"modules": {"edged": {"imageTable": {
        "registry.local/tools:1": {"entrypoint": ["/opt/tools/run"],
                                   "env": {"MODE": "edge"}}}}}})
    spec = config.modules.edged.image_table["registry.local/tools:1"]
    assert spec.entrypoint == ["/opt/tools/run"] and spec.env == {"MODE": "edge"}


def test_pod_network_fields_default_and_show_in_defaultconfig() -> None:
    edged = edgecore.EdgeCoreConfig().validate().modules.edged
    assert edged.network_plugin_name == "cni"
    assert edged.cni_bin_dir == "/usr/lib/cni"  # Debian's containernetworking-plugins
    assert edged.network_plugin_mtu == 0
    assert edged.tailored_kubelet_config.cluster_domain == "cluster.local"
    printed = yaml.safe_load(edgecore.default_yaml())["modules"]["edged"]
    assert (printed["networkPluginName"], printed["cniBinDir"],
            printed["networkPluginMTU"]) == ("cni", "/usr/lib/cni", 0)
    assert printed["tailoredKubeletConfig"]["clusterDomain"] == "cluster.local"


def test_pod_network_fields_load_kubeedges_names(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        config = edgecore.from_builtins({"modules": {"edged": {
            "networkPluginName": "", "cniBinDir": "/opt/cni/bin", "networkPluginMTU": 1450,
            # KubeEdge's, which this edge has no use for (it writes its own conflist).
            "cniConfDir": "/etc/cni/net.d", "cniCacheDirs": "/var/lib/cni/cache"}}})
    edged = config.modules.edged
    assert (edged.network_plugin_name, edged.cni_bin_dir, edged.network_plugin_mtu) == (
        "", "/opt/cni/bin", 1450)
    assert "modules.edged.cniConfDir" in caplog.text


@pytest.mark.parametrize(("edged", "field"), [
    ({"networkPluginName": "calico"}, "networkPluginName"),
    ({"networkPluginMTU": 40}, "networkPluginMTU"),
    ({"cniBinDir": ""}, "cniBinDir"),
    ({"tailoredKubeletConfig": {"clusterDomain": "Not A Domain"}}, "clusterDomain"),
    ({"tailoredKubeletConfig": {"clusterDNS": ["dns"]}}, "clusterDNS[0]"),
])
def test_pod_network_fields_are_validated(edged: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)):
        edgecore.from_builtins({"modules": {"edged": edged}})
