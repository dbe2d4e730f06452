"""`keadm init --kube-config` (issue 6): cloudcore alone, against another Kubernetes API.

The "external" cluster is a `running_cloud`; a second root runs `keadm init
--kube-config <its admin kubeconfig>` on free CloudHub and certificate ports. No API
server starts under that root; `keadm gettoken --root` finds the token through the
kubeconfig; an edge joins through the second cloudcore and is a Ready node in the
external API; `keadm reset` stops that cloudcore and leaves the external API running.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeedge.cloud import setup
from tests.fixtures.cluster import Cloud, free_ports, keadm, running_cloud, wait_until

pytestmark = pytest.mark.kubectl

FAST = ("modules.edgeHub.heartbeat=1",
        "modules.edgeHub.reconnectInterval=0.5",
        "modules.edgeHub.connectRetryInterval=0.2",
        "modules.edged.tailoredKubeletConfig.nodeStatusUpdateFrequency=1s",
        "modules.edged.tailoredKubeletConfig.nodeLeaseDurationSeconds=4",
        "modules.edged.detectNvidiaGPUs=false")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("external"), controllers=()) as c:
        yield c


def _ready(cloud: Cloud, name: str) -> bool:
    proc = cloud.kubectl("get", "node", name, "-o", "json", check=False)
    if proc.returncode != 0:
        return False
    conditions = json.loads(proc.stdout).get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_cloudcore_on_another_api_joins_an_edge_and_resets_alone(
        cloud: Cloud, tmp_path: Path) -> None:
    root, edge_root = tmp_path / "cloud2", tmp_path / "edge"
    hub_port, cert_port = free_ports(2)
    sets = [f"modules.cloudHub.websocket.port={hub_port}",
            "modules.cloudHub.websocket.address=127.0.0.1",
            f"modules.cloudHub.https.port={cert_port}",
            "modules.cloudHub.https.address=127.0.0.1"]
    try:
        init = keadm("init", "--kube-config", str(cloud.kubeconfig), "--root", str(root),
                     "--advertise-address", "127.0.0.1",
                     *[a for s in sets for a in ("--set", s)])
        assert "no API server started here" in init.stdout, init.stdout
        layout = setup.Layout(root)
        assert not layout.apiserver_config.exists() and not layout.pki.exists()
        assert setup.pid_alive(layout.apiserver_pid) is None
        core_pid = setup.pid_alive(layout.cloudcore_pid, setup.CLOUDCORE_MARK)
        assert core_pid is not None
        assert str(cloud.kubeconfig) in layout.cloudcore_config.read_text()

        # The token lives in the external API: the same Secret either root reads.
        token = keadm("gettoken", "--root", str(root)).stdout.strip()
        assert token == keadm("gettoken", "--root", str(cloud.root)).stdout.strip()

        joined = keadm("join", f"--cloudcore-ipport=127.0.0.1:{hub_port}",
                       f"--certport={cert_port}", f"--token={token}",
                       "--edgenode-name=edge-ext", "--root", str(edge_root),
                       *[a for s in FAST for a in ("--set", s)], "--timeout", "30",
                       check=False, timeout=60)
        assert joined.returncode == 0, joined.stdout + joined.stderr
        wait_until(lambda: _ready(cloud, "edge-ext"), 15, "edge-ext Ready in the "
                   "external API")
        keadm("reset", "edge", "--root", str(edge_root), "--force")

        reset = keadm("reset", "--root", str(root), "--force")
        assert "stopped cloudcore" in reset.stdout
        assert "left the Kubernetes API" in reset.stdout, reset.stdout
        assert not setup.process_running(core_pid)
        assert not layout.etc.exists()
        # The external API server still runs, with what cloudcore made there.
        assert cloud.kubectl("get", "secret", "tokensecret", "-n", "kubeedge").returncode == 0
        assert setup.pid_alive(setup.Layout(cloud.root).apiserver_pid) is not None
    finally:
        keadm("reset", "edge", "--root", str(edge_root), "--force", check=False)
        keadm("reset", "--root", str(root), "--force", check=False)


def test_an_unreachable_kube_config_is_refused_before_anything_starts(
        cloud: Cloud, tmp_path: Path) -> None:
    import yaml

    config = yaml.safe_load(cloud.kubeconfig.read_text())
    [port] = free_ports(1)
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp_path / "dead.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    proc = keadm("init", "--kube-config", str(path), "--root", str(tmp_path / "r"),
                 check=False)
    assert proc.returncode == 1
    assert "did not answer /version" in proc.stderr, proc.stderr
    assert not (tmp_path / "r/etc/kubeedge/config/cloudcore.yaml").exists()
