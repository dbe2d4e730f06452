"""`keadm gettoken`, `keadm join` and `keadm reset edge` against a real cloud on loopback
(issue 6's workflow, specs/kubeedge.md §4, §8): the edgecore process bootstraps its
certificate with the token, connects to CloudHub, registers its Node with the edge role
and keeps it Ready and its Lease renewed; a wrong token is refused with the cloud's
words and leaves nothing behind; reset removes the process and every file.

The cloud is `running_cloud`. Most tests run the certificate module, EdgeController and
CloudHub in the test process against the cloud's API as the admin (same KubeEdge CA and
token as cloudcore's, from the Secrets); `test_join_through_cloudcore` joins cloudcore's
own channel (`cloud.hub_port`/`cloud.cert_port`), which needs cloudcore's ClusterRole to
allow the node impersonation EdgeController registers nodes with.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge.cloud import setup_edge
from kubeedge.cloud.setup import process_running
from kubeedge.edge.core import EdgeLayout
from tests.fixtures.cluster import Cloud, eventually, keadm, running_cloud

# Shortened timings (config fields with KubeEdge's defaults otherwise).
FAST = ("modules.edgeHub.heartbeat=1",
        "modules.edgeHub.reconnectInterval=0.5",
        "modules.edgeHub.connectRetryInterval=0.2",
        "modules.edged.tailoredKubeletConfig.nodeStatusUpdateFrequency=1s",
        "modules.edged.tailoredKubeletConfig.nodeLeaseDurationSeconds=4",
        "modules.edged.detectNvidiaGPUs=false")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("edgecore"), controllers=()) as c:
        yield c


def _listening(port: int) -> bool:
    if not port:
        return False
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.asynccontextmanager
async def _channel(cloud: Cloud, *, cloudcores: bool = False
                   ) -> AsyncIterator[tuple[int, int]]:
    """(hub port, cert port) of a running cloud-edge channel for `cloud`: cloudcore's
    when asked for, else one in this process."""
    if cloudcores:
        hub_port, cert_port = cloud.hub_port, cloud.cert_port
        assert _listening(hub_port) and _listening(cert_port), (
            f"cloudcore serves no CloudHub on {hub_port} or certificates on {cert_port}; "
            f"see {cloud.root}/var/log/kubeedge/cloudcore.log")
        yield hub_port, cert_port
        return
    from kubeedge.client.rest import APIClient
    from kubeedge.cloud.certs.server import CertModule, CertServiceSettings
    from kubeedge.cloud.edgecontroller import EdgeController, EdgeControllerSettings
    from kubeedge.cloud.hub import CloudHub
    from kubeedge.config.cloudcore import CloudHub as CloudHubConfig
    from kubeedge.config.cloudcore import CloudHubWebSocket
    from kubeedge.messaging.bus import ModuleBus

    admin = APIClient(cloud.kubeconfig)
    certs = CertModule(admin, CertServiceSettings(address="127.0.0.1", port=0,
                                                  advertise_address=("127.0.0.1",)))
    await certs.start()
    bus = ModuleBus()
    bus.add_module("synccontroller", "synccontroller")
    controller = EdgeController(admin, bus, settings=EdgeControllerSettings(
        cloudcore_address="127.0.0.1", sync_timeout=20))
    await controller.start()
    assert certs.certs is not None
    hub = CloudHub(bus, CloudHubConfig(websocket=CloudHubWebSocket(address="127.0.0.1",
                                                                   port=0),
                                       advertise_address=["127.0.0.1"]), certs.certs)
    drain = asyncio.create_task(_drain(bus))
    try:
        yield await hub.start(), certs.port
    finally:
        await hub.stop()
        await controller.stop()
        await certs.stop()
        drain.cancel()
        await admin.close()


async def _drain(bus: Any) -> None:
    # SyncController's channel, so CloudHub's ACK reports have somewhere to go.
    with contextlib.suppress(Exception):
        while True:
            await bus.receive("synccontroller")


def _join(*args: str) -> Any:
    return keadm("join", *args, check=False, timeout=120)


def _node(cloud: Cloud, name: str) -> dict[str, Any] | None:
    proc = cloud.kubectl("get", "node", name, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _ready(node: dict[str, Any] | None) -> bool:
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _lease_renew_time(cloud: Cloud, name: str) -> str:
    proc = cloud.kubectl("get", "lease", name, "-n", "kube-node-lease", "-o", "json",
                         check=False)
    return json.loads(proc.stdout)["spec"]["renewTime"] if proc.returncode == 0 else ""


def _object_syncs(cloud: Cloud, node: str) -> list[str]:
    """The ObjectSyncs and ClusterObjectSyncs SyncController keeps for `node`
    (`<node>.<uid>`), as `<kind>/<name>`."""
    names = []
    for kind in ("objectsyncs", "clusterobjectsyncs"):
        proc = cloud.kubectl("get", kind, "-A", "-o", "json", check=False)
        assert proc.returncode == 0, proc.stderr
        names += [f"{kind}/{item['metadata']['name']}"
                  for item in json.loads(proc.stdout)["items"]
                  if item["metadata"]["name"].startswith(f"{node}.")]
    return names


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def _nothing_left(cloud: Cloud, root: Path, node: str) -> None:
    """After a refused join (issue 6): no file under the root, no Node, Lease or
    ObjectSync of the node."""
    assert not root.exists() or _files(root) == []
    assert await asyncio.to_thread(_node, cloud, node) is None
    assert await asyncio.to_thread(_lease_renew_time, cloud, node) == ""
    assert await asyncio.to_thread(_object_syncs, cloud, node) == []


async def test_gettoken_join_ready_lease_renewed_then_reset(cloud: Cloud, tmp_path: Path
                                                            ) -> None:
    async with _channel(cloud) as (hub_port, cert_port):
        token = await eventually(
            lambda: (lambda p: p.returncode == 0 and p.stdout.strip())(
                keadm("gettoken", "--root", str(cloud.root), check=False)),
            timeout=30, what="keadm gettoken")
        assert len(token.split(".")) == 4

        root = tmp_path / "edge1"
        try:
            joined = await asyncio.to_thread(
                _join, f"--cloudcore-ipport=127.0.0.1:{hub_port}", f"--token={token}",
                "--edgenode-name=edge-one", f"--certport={cert_port}",
                "--labels=site=lab,tier=edge", "--root", str(root),
                *[a for s in FAST for a in ("--set", s)], "--timeout", "60")
            assert joined.returncode == 0, joined.stdout + joined.stderr
            assert "joined" in joined.stdout

            node = await asyncio.to_thread(_node, cloud, "edge-one")
            assert node is not None
            labels = node["metadata"]["labels"]
            assert labels["node-role.kubernetes.io/edge"] == ""
            assert labels["site"] == "lab" and labels["tier"] == "edge"
            assert _ready(node)
            assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
            assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.32")
            assert int(node["status"]["capacity"]["cpu"]) >= 1
            wide = await asyncio.to_thread(cloud.kubectl, "get", "nodes", "-o", "wide")
            line = next(row for row in wide.stdout.splitlines() if row.startswith("edge-one"))
            assert "Ready" in line and "edge" in line

            # The Lease is renewed (every 4 s x 0.25 here).
            first = await asyncio.to_thread(_lease_renew_time, cloud, "edge-one")
            assert first
            await eventually(lambda: _lease_renew_time(cloud, "edge-one") not in ("", first),
                             timeout=15, what="a lease renewal")

            # The certificate is 0600, the token is gone from edgecore.yaml, the pid lives.
            layout = EdgeLayout(root)
            assert (root / "etc/kubeedge/certs/server.key").stat().st_mode & 0o777 == 0o600
            assert "token: ''" in layout.config.read_text() or token not in \
                layout.config.read_text()
            pid = setup_edge.edgecore_pid(root)
            assert pid is not None

            # A second join on the same root is refused.
            again = await asyncio.to_thread(
                _join, f"--cloudcore-ipport=127.0.0.1:{hub_port}", f"--token={token}",
                "--root", str(root))
            assert again.returncode != 0 and "already" in again.stderr

            reset = await asyncio.to_thread(keadm, "reset", "edge", "--root", str(root),
                                            "--force")
            assert "stopped edgecore" in reset.stdout and "left the cluster" in reset.stdout
            assert not process_running(pid)
            assert _files(root) == [] if root.exists() else True
            assert await asyncio.to_thread(_node, cloud, "edge-one") is None
            assert await asyncio.to_thread(_lease_renew_time, cloud, "edge-one") == ""
        finally:
            # Whatever failed above, no edgecore outlives the test.
            await asyncio.to_thread(keadm, "reset", "edge", "--root", str(root),
                                    "--force", check=False)


async def test_wrong_token_is_refused_and_leaves_nothing(cloud: Cloud, tmp_path: Path
                                                         ) -> None:
    async with _channel(cloud) as (hub_port, cert_port):
        token = await eventually(
            lambda: (lambda p: p.returncode == 0 and p.stdout.strip())(
                keadm("gettoken", "--root", str(cloud.root), check=False)),
            timeout=30, what="keadm gettoken")
        ca_hash, header, payload, _signature = token.split(".")
        forged = ".".join([ca_hash, header, payload, "AAAA" + _signature[4:]])
        root = tmp_path / "edge-bad"
        refused = await asyncio.to_thread(
            _join, f"--cloudcore-ipport=127.0.0.1:{hub_port}", f"--token={forged}",
            "--edgenode-name=edge-bad", f"--certport={cert_port}", "--root", str(root),
            *[a for s in FAST for a in ("--set", s)], "--timeout", "60")
        assert refused.returncode != 0
        assert "token validation failure" in refused.stderr
        await _nothing_left(cloud, root, "edge-bad")

        # A token for another CA: the edge refuses the cloud's CA.
        wrong_ca = ".".join(["0" * 64, header, payload, _signature])
        refused = await asyncio.to_thread(
            _join, f"--cloudcore-ipport=127.0.0.1:{hub_port}", f"--token={wrong_ca}",
            "--edgenode-name=edge-bad", f"--certport={cert_port}", "--root", str(root),
            "--timeout", "60")
        assert refused.returncode != 0
        assert "failed to validate CA certificate" in refused.stderr
        await _nothing_left(cloud, root, "edge-bad")


async def test_join_to_a_closed_port_names_the_failure(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = ".".join(["a" * 64, "x", "y", "z"])
    root = tmp_path / "edge-nowhere"
    started = dt.datetime.now()
    refused = await asyncio.to_thread(
        _join, f"--cloudcore-ipport=127.0.0.1:{port}", f"--token={token}",
        f"--certport={port}", "--edgenode-name=nowhere", "--root", str(root))
    assert refused.returncode != 0
    assert "Connection refused" in refused.stderr or "refused" in refused.stderr
    assert not root.exists() or _files(root) == []
    assert dt.datetime.now() - started < dt.timedelta(seconds=60)


async def test_join_through_cloudcore(cloud: Cloud, tmp_path: Path) -> None:
    async with _channel(cloud, cloudcores=True) as (hub_port, cert_port):
        token = (await asyncio.to_thread(keadm, "gettoken", "--root", str(cloud.root))
                 ).stdout.strip()
        root = tmp_path / "edge-cc"
        joined = await asyncio.to_thread(
            _join, f"--cloudcore-ipport=127.0.0.1:{hub_port}", f"--token={token}",
            "--edgenode-name=edge-cc", f"--certport={cert_port}", "--root", str(root),
            *[a for s in FAST for a in ("--set", s)], "--timeout", "15")
        try:
            assert joined.returncode == 0, joined.stdout + joined.stderr
            assert _ready(await asyncio.to_thread(_node, cloud, "edge-cc"))
            assert await asyncio.to_thread(_lease_renew_time, cloud, "edge-cc")
            # A pod bound to the edge goes down to it; once the edge has acknowledged it,
            # SyncController keeps an ObjectSync for it.
            await asyncio.to_thread(cloud.kubectl, "apply", "-f", "-", input=json.dumps(
                {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "on-edge-cc", "namespace": "default"},
                 "spec": {"nodeName": "edge-cc",
                          "containers": [{"name": "c", "image": "busybox"}]}}))
            await eventually(
                lambda: any(n.startswith("objectsyncs/")
                            for n in _object_syncs(cloud, "edge-cc")),
                timeout=15, what="an ObjectSync of edge-cc")
            pid = setup_edge.edgecore_pid(root)
            assert pid is not None

            # Issue 6: the reset leaves no process, file or API object of the node.
            reset = await asyncio.to_thread(keadm, "reset", "edge", "--root", str(root),
                                            "--force")
            assert "left the cluster" in reset.stdout, reset.stdout + reset.stderr
            assert "WARNING" not in reset.stderr
            assert not process_running(pid)
            assert not root.exists() or _files(root) == []
            await eventually(lambda: _node(cloud, "edge-cc") is None, timeout=5,
                             what="edge-cc's Node deleted")
            assert await asyncio.to_thread(_lease_renew_time, cloud, "edge-cc") == ""
            await eventually(lambda: not _object_syncs(cloud, "edge-cc"), timeout=10,
                             what="edge-cc's ObjectSyncs deleted")
        finally:
            await asyncio.to_thread(keadm, "reset", "edge", "--root", str(root), "--force")
            await asyncio.to_thread(cloud.kubectl, "delete", "pod", "on-edge-cc",
                                    "--grace-period=0", "--force", "--ignore-not-found",
                                    check=False)


async def test_reset_with_the_cloud_gone_still_resets_and_names_what_remains(
        cloud: Cloud, tmp_path: Path) -> None:
    root = tmp_path / "edge-offline"
    async with _channel(cloud) as (hub_port, cert_port):
        token = (await asyncio.to_thread(keadm, "gettoken", "--root", str(cloud.root))
                 ).stdout.strip()
        joined = await asyncio.to_thread(
            _join, f"--cloudcore-ipport=127.0.0.1:{hub_port}", f"--token={token}",
            "--edgenode-name=edge-offline", f"--certport={cert_port}", "--root", str(root),
            *[a for s in FAST for a in ("--set", s)], "--timeout", "60")
        assert joined.returncode == 0, joined.stdout + joined.stderr
    # The channel is gone: the edge cannot reach the cloud any more.
    pid = setup_edge.edgecore_pid(root)
    assert pid is not None
    try:
        reset = await asyncio.to_thread(keadm, "reset", "edge", "--root", str(root),
                                        "--force", check=False)
        assert reset.returncode == 0, reset.stdout + reset.stderr
        assert "stopped edgecore" in reset.stdout
        assert not process_running(pid)
        assert not root.exists() or _files(root) == []
        assert "WARNING: node edge-offline's Node and Lease remain" in reset.stderr
        assert "kubectl delete node edge-offline" in reset.stderr
        assert "kubectl delete lease edge-offline -n kube-node-lease" in reset.stderr
        assert await asyncio.to_thread(_node, cloud, "edge-offline") is not None
    finally:
        await asyncio.to_thread(cloud.kubectl, "delete", "node", "edge-offline",
                                "--ignore-not-found", check=False)
        await asyncio.to_thread(cloud.kubectl, "delete", "lease", "edge-offline", "-n",
                                "kube-node-lease", "--ignore-not-found", check=False)
