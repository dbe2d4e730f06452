"""The CloudCore sections of the cloud-edge modules: KubeEdge's v1alpha1 names and
defaults, the nodeLimit-sized workers, root-relative paths and refusals naming the
field."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from kubeedge.cloud.setup import cloudcore_config_for
from kubeedge.config import cloudcore
from kubeedge.config.checks import ConfigError, primary_ip


def _at(tree: Any, path: str) -> Any:
    for key in path.split("/"):
        tree = tree[key]
    return tree


KUBEEDGE_DEFAULTS = [
    ("commonConfig/tunnelPort", 10350),
    ("commonConfig/monitorServer/bindAddress", "127.0.0.1:9091"),
    ("modules/cloudHub/enable", True),
    ("modules/cloudHub/keepaliveInterval", 30),
    ("modules/cloudHub/nodeLimit", 500),
    ("modules/cloudHub/writeTimeout", 30),
    ("modules/cloudHub/tlsCAFile", "etc/kubeedge/ca/rootCA.crt"),
    ("modules/cloudHub/tlsCAKeyFile", "etc/kubeedge/ca/rootCA.key"),
    ("modules/cloudHub/tlsCertFile", "etc/kubeedge/certs/server.crt"),
    ("modules/cloudHub/tlsPrivateKeyFile", "etc/kubeedge/certs/server.key"),
    ("modules/cloudHub/edgeCertSigningDuration", 365),
    ("modules/cloudHub/tokenRefreshDuration", 12),
    ("modules/cloudHub/websocket", {"enable": True, "address": "0.0.0.0", "port": 10000}),
    ("modules/cloudHub/https", {"enable": True, "address": "0.0.0.0", "port": 10002}),
    ("modules/cloudHub/quic", {"enable": False, "address": "0.0.0.0", "port": 10001,
                               "maxIncomingStreams": 10000}),
    ("modules/cloudHub/unixsocket/enable", True),
    ("modules/cloudHub/authorization/modes", [{"node": {"enable": True}}]),
    ("modules/cloudHub/messageResendInterval", 5),
    ("modules/cloudHub/messageResendRetries", 4),
    ("modules/cloudHub/messageQueueBackoffBase", 0.005),
    ("modules/cloudHub/messageQueueBackoffMax", 1000),
    ("modules/cloudHub/messageQueueQPS", 10),
    ("modules/cloudHub/messageQueueBurst", 100),
    ("modules/edgeController/enable", True),
    ("modules/edgeController/nodeUpdateFrequency", 10),
    ("modules/edgeController/buffer/updatePodStatus", 1024),
    ("modules/edgeController/buffer/podEvent", 1),
    ("modules/edgeController/buffer/queryNode", 1524),
    ("modules/edgeController/buffer/patchNode", 1274),
    ("modules/edgeController/buffer/createLease", 1524),
    ("modules/edgeController/load/processEventWorkers", 4),
    ("modules/edgeController/load/queryNodeWorkers", 500),
    ("modules/edgeController/load/patchNodeWorkers", 110),
    ("modules/edgeController/load/createLeaseWorkers", 500),
    ("modules/edgeController/load/UpdateRuleStatusWorkers", 4),
    ("modules/edgeController/load/ServiceAccountTokenWorkers", 100),
    ("modules/edgeController/load/CreatePodWorks", 4),
    ("modules/deviceController/enable", True),
    ("modules/deviceController/buffer/updateDeviceStatus", 1024),
    ("modules/syncController/enable", True),
    ("modules/syncController/reconcilePeriod", 5),
    ("modules/dynamicController/enable", False),
    ("modules/cloudStream/enable", False),
    ("modules/cloudStream/streamPort", 10003),
    ("modules/cloudStream/tunnelPort", 10004),
    ("modules/cloudStream/tlsStreamCAFile", "etc/kubeedge/ca/streamCA.crt"),
    ("modules/cloudStream/tlsStreamCertFile", "etc/kubeedge/certs/stream.crt"),
    ("modules/cloudStream/tlsTunnelCAFile", "etc/kubeedge/ca/rootCA.crt"),
    ("modules/router", {"enable": False, "address": "0.0.0.0", "port": 9443,
                        "restTimeout": 60}),
    ("modules/iptablesManager", {"enable": True, "mode": "internal"}),
    ("modules/taskManager/enable", False),
    # Ours: node authorization enforced (KubeEdge ships enable false, debug true).
    ("modules/cloudHub/authorization/enable", True),
    ("modules/cloudHub/authorization/debug", False),
]


@pytest.mark.parametrize(("path", "value"), KUBEEDGE_DEFAULTS)
def test_defaults_are_kubeedges(path: str, value: Any) -> None:
    got = _at(msgspec.to_builtins(cloudcore.CloudCoreConfig()), path)
    assert got == value
    assert type(got) is type(value)


def test_advertise_address_defaults_to_this_hosts_address() -> None:
    assert cloudcore.CloudCoreConfig().modules.cloud_hub.advertise_address == [primary_ip()]


def test_the_existing_modules_keep_their_place() -> None:
    modules = msgspec.to_builtins(cloudcore.CloudCoreConfig())["modules"]
    assert modules["controllerManager"]["enable"] is True
    assert modules["scheduler"]["enable"] is True


def _load(tmp_path: Path, doc: dict[str, Any]) -> cloudcore.CloudCoreConfig:
    path = tmp_path / "cloudcore.yaml"
    path.write_text(yaml.safe_dump(doc))
    return cloudcore.load(path)


def test_a_large_node_limit_grows_the_node_sized_workers_and_buffers(tmp_path: Path) -> None:
    config = _load(tmp_path, {"modules": {
        "cloudHub": {"nodeLimit": 30000},
        "edgeController": {"load": {"createLeaseWorkers": 50000}}}})
    ec = config.modules.edge_controller
    assert ec.load.query_node_workers == 30000
    assert ec.load.patch_node_workers == 100 + 30000 // 50
    assert ec.buffer.query_node == 1024 + 30000
    assert ec.buffer.patch_node == 1024 + 15000
    assert ec.buffer.create_lease == 1024 + 30000
    # Larger values a user set are kept.
    assert ec.load.create_lease_workers == 50000
    # The rest stay at KubeEdge's fixed defaults.
    assert ec.load.patch_pod_workers == 100


def test_a_small_node_limit_keeps_the_defaults(tmp_path: Path) -> None:
    config = _load(tmp_path, {"modules": {"cloudHub": {"nodeLimit": 10}}})
    assert config.modules.edge_controller.load.query_node_workers == 500


def test_a_kubeedge_cloudcore_file_loads(tmp_path: Path) -> None:
    # Shaped like `cloudcore --minconfig` of KubeEdge: absolute paths, the hub's
    # sections, the modules we do not run yet.
    config = _load(tmp_path, {
        "apiVersion": "cloudcore.config.kubeedge.io/v1alpha1", "kind": "CloudCore",
        "kubeAPIConfig": {"kubeConfig": "/root/.kube/config"},
        "modules": {
            "cloudHub": {
                "advertiseAddress": ["192.168.1.10"], "nodeLimit": 1000,
                "tlsCAFile": "/etc/kubeedge/ca/rootCA.crt",
                "tlsCertFile": "/etc/kubeedge/certs/edge.crt",
                "tlsPrivateKeyFile": "/etc/kubeedge/certs/edge.key",
                "unixsocket": {"address": "unix:///var/lib/kubeedge/kubeedge.sock",
                               "enable": True},
                "websocket": {"address": "0.0.0.0", "enable": True, "port": 10000},
                "https": {"address": "0.0.0.0", "enable": True, "port": 10002}},
            "router": {"address": "0.0.0.0", "enable": False, "port": 9443,
                       "restTimeout": 60},
            "iptablesManager": {"enable": True, "mode": "external"},
            "cloudStream": {"enable": True, "streamPort": 10003, "tunnelPort": 10004}}})
    hub = config.modules.cloud_hub
    assert hub.advertise_address == ["192.168.1.10"]
    assert config.path(hub.tls_ca_file) == Path("/etc/kubeedge/ca/rootCA.crt")
    assert hub.socket_path(config.root) == Path("/var/lib/kubeedge/kubeedge.sock")
    assert config.modules.iptables_manager.mode == "external"


def test_paths_hang_off_the_root(tmp_path: Path) -> None:
    root = tmp_path / "cloud1"
    config = _load(tmp_path, {"root": str(root)})
    hub = config.modules.cloud_hub
    assert config.path(hub.tls_ca_key_file) == root / "etc/kubeedge/ca/rootCA.key"
    assert config.path(hub.tls_private_key_file) == root / "etc/kubeedge/certs/server.key"
    assert hub.socket_path(config.root) == root / "var/lib/kubeedge/kubeedge.sock"
    stream = config.modules.cloud_stream
    assert config.path(stream.tls_stream_cert_file) == root / "etc/kubeedge/certs/stream.crt"


def test_timings_can_be_shortened_for_tests(tmp_path: Path) -> None:
    config = _load(tmp_path, {"modules": {
        "cloudHub": {"keepaliveInterval": 0.5, "messageResendInterval": 0.05,
                     "tokenRefreshDuration": 0.001},
        "syncController": {"reconcilePeriod": 0.1, "objectSyncFlushInterval": 0.01}}})
    assert config.modules.cloud_hub.keepalive_interval == 0.5
    assert config.modules.cloud_hub.message_resend_interval == 0.05
    assert config.modules.sync_controller.reconcile_period == 0.1


BAD = [
    ({"modules": {"cloudHub": {"websocket": {"port": 70000}}}},
     "modules.cloudHub.websocket.port"),
    ({"modules": {"cloudHub": {"https": {"port": -1}}}}, "modules.cloudHub.https.port"),
    ({"modules": {"cloudHub": {"websocket": {"address": "any"}}}},
     "modules.cloudHub.websocket.address"),
    ({"modules": {"cloudHub": {"advertiseAddress": ["10.0.0.1", "cloud.example"]}}},
     "modules.cloudHub.advertiseAddress[1]"),
    ({"modules": {"cloudHub": {"nodeLimit": 0}}}, "modules.cloudHub.nodeLimit"),
    ({"modules": {"cloudHub": {"keepaliveInterval": -1}}},
     "modules.cloudHub.keepaliveInterval"),
    ({"modules": {"cloudHub": {"tokenRefreshDuration": 0}}},
     "modules.cloudHub.tokenRefreshDuration"),
    ({"modules": {"cloudHub": {"edgeCertSigningDuration": 0}}},
     "modules.cloudHub.edgeCertSigningDuration"),
    ({"modules": {"cloudHub": {"messageResendInterval": 0}}},
     "modules.cloudHub.messageResendInterval"),
    ({"modules": {"cloudHub": {"messageQueueBackoffBase": 2000}}},
     "modules.cloudHub.messageQueueBackoffBase"),
    ({"modules": {"cloudHub": {"unixsocket": {"address": "/var/lib/kubeedge/k.sock"}}}},
     "modules.cloudHub.unixsocket.address"),
    ({"modules": {"cloudHub": {"bogus": 1}}}, "modules.cloudHub.bogus: unknown field"),
    ({"modules": {"cloudHub": {"websocket": {"listen": 1}}}},
     "modules.cloudHub.websocket.listen: unknown field"),
    ({"modules": {"cloudHub": {"nodeLimit": "many"}}}, "modules.cloudHub.nodeLimit"),
    ({"modules": {"edgeController": {"nodeUpdateFrequency": 0}}},
     "modules.edgeController.nodeUpdateFrequency"),
    ({"modules": {"edgeController": {"buffer": {"queryConfigMap": 0}}}},
     "modules.edgeController.buffer.queryConfigMap"),
    ({"modules": {"edgeController": {"load": {"CreatePodWorks": 0}}}},
     "modules.edgeController.load.CreatePodWorks"),
    ({"modules": {"syncController": {"reconcilePeriod": 0}}},
     "modules.syncController.reconcilePeriod"),
    ({"modules": {"syncController": {"objectSyncFlushInterval": -1}}},
     "modules.syncController.objectSyncFlushInterval"),
    ({"modules": {"cloudStream": {"enable": True, "streamPort": 99999}}},
     "modules.cloudStream.streamPort"),
    ({"modules": {"router": {"enable": True, "restTimeout": 0}}},
     "modules.router.restTimeout"),
    ({"modules": {"iptablesManager": {"mode": "nat"}}}, "modules.iptablesManager.mode"),
    ({"commonConfig": {"monitorServer": {"bindAddress": "9091"}}},
     "commonConfig.monitorServer.bindAddress"),
]


@pytest.mark.parametrize(("doc", "field"), BAD)
def test_bad_values_are_refused_naming_the_field(
        tmp_path: Path, doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"cloudcore.yaml: {field}")):
        _load(tmp_path, doc)


def test_a_disabled_module_is_not_checked(tmp_path: Path) -> None:
    config = _load(tmp_path, {"modules": {
        "cloudStream": {"enable": False, "streamPort": 99999},
        "syncController": {"enable": False, "reconcilePeriod": 0}}})
    assert config.modules.cloud_stream.stream_port == 99999


def test_set_reaches_the_hub_sections() -> None:
    config = cloudcore_config_for("/r", ["modules.cloudHub.advertiseAddress=10.0.0.7",
                                         "modules.cloudHub.websocket.port=20000",
                                         "modules.syncController.reconcilePeriod=0.5"])
    assert config.modules.cloud_hub.advertise_address == ["10.0.0.7"]
    assert config.modules.cloud_hub.websocket.port == 20000
    assert config.modules.sync_controller.reconcile_period == 0.5


def test_printed_configs_load_back_to_the_defaults(tmp_path: Path) -> None:
    for flag in ("--defaultconfig", "--minconfig"):
        out = subprocess.run([sys.executable, "-m", "kubeedge.cli.cloudcore", flag],
                             capture_output=True, text=True, check=True).stdout
        path = tmp_path / "cloudcore.yaml"
        path.write_text(out)
        config = cloudcore.load(path)
        hub = config.modules.cloud_hub
        if flag == "--minconfig":
            # KubeEdge's --minconfig prints nodeLimit 1000 (spec §3).
            assert hub.node_limit == 1000
            assert yaml.safe_load(out)["modules"]["cloudHub"]["websocket"]["port"] == 10000
        else:
            assert config == cloudcore.CloudCoreConfig().validate()
